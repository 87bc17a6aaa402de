//! # shardis
//!
//! A Redis-compatible in-memory data store for Linux: one keyspace shard per pinned
//! core, each shard running its own io_uring loop. Clients speak RESP2/RESP3 to any
//! shard; keys belong to shards by hash slot (`CRC16(key or {tag}) % 16384`, then
//! `slot % shards`), so `{hash tags}` keep related keys together.
//!
//! ## Threads
//!
//! ```text
//!                 main thread: parse config, open listeners, spawn, join
//!                                        |
//!        +-------------------------------+-------------------------------+
//!        v                               v                               v
//!   shard-0 (core 0)                shard-1 (core 1)       ...      shard-N (core N)
//!   +----------------------+        +----------------------+
//!   | io_uring ring        |        | io_uring ring        |   each thread owns:
//!   |  multishot accept    |        |  ...                 |   - a listener per address (SO_REUSEPORT)
//!   |  multishot recv  <---+ bufs   |                      |   - its connections
//!   |  send, MSG_RING      |  ring  |                      |   - its keyspace share (Db x16)
//!   +----------------------+        +----------------------+   - intent locks, outboxes
//!   | ShardState           |        | ShardState           |
//!   +----------+-----------+        +----------+-----------+
//!              |   inbox: SegQueue<Vec<Msg>> (one batch per sender per turn),
//!              |   bounded: past INBOX_LIMIT bytes queued, senders stop parsing
//!              +<------------------------------+   wake: MSG_RING if the target is parked
//!              +------------------------------>+
//! ```
//!
//! **The inbox bound** (`shard::msg`): each inbox counts the bytes its messages hold.
//! While any inbox holds more than `INBOX_LIMIT` (4 MiB), every thread stops parsing
//! new client requests; the input waits in the read buffers and, past 128 KiB per
//! connection, in the sockets (the receive is cancelled), so TCP pushes back on the
//! clients. Only parsing waits: each shard still drains its whole inbox every turn and
//! sends replies, lock grants, releases, commit hops, hop results and Pub/Sub messages
//! whatever the bound says, so an over-full inbox empties at its owner's next turn
//! without needing anything from another shard, and no cycle of waits can form (A
//! waiting for B's replies while B waits for A). Everything else in an inbox is caused
//! by an admitted request, so bounding requests bounds the rest. INFO stats reports
//! `shardis_inbox_bytes`, `shardis_inbox_peak_bytes` and `shardis_input_stalls`
//! (and `shardis_inbox_batches`, `shardis_inbox_wakeups`: batches taken, wake-ups sent).
//!
//! **Start-up** (`persist::startload`): the shard threads pin themselves first and
//! build their rings; once all have, the main thread takes `used_memory_startup`
//! (before any data, as Redis does). Then they load their own keys before anyone is
//! served, so every key's memory is first touched on its own core (and NUMA node).
//! The main thread decodes the RDB file and routes each key to its shard's channel;
//! with the AOF, each shard thread replays its own files through the same loader and
//! dispatch (the main thread replays them all when the shard count changed, or
//! FUNCTION history lies outside shard 0's files). All meet at a barrier where the
//! main thread checks every outcome.
//!
//! **Replication** (`repl`): one more thread, started by the first PSYNC/SYNC, owns
//! the one replication stream. Every shard's propagation (the same feed as its AOF)
//! also goes, per turn, as segments into a queue the replication thread drains; it
//! merges them (a cross-shard transaction's parts become one MULTI/EXEC, its commands
//! in the client's queued order, a command that spans shards, inside MULTI or not,
//! sent as the command itself while each owner's AOF keeps its shard-local part, a
//! whole-keyspace FLUSHALL/SWAPDB the command itself, SELECT where the merged db
//! changes), appends them to the backlog and counts `master_repl_offset`. While
//! writes stream to replicas it wakes at most every millisecond (or per 64 KiB), so
//! whatever reports the offset to a client (INFO, ROLE) first queues a mark behind
//! the shards' segments and takes the offset the thread gives it there. A
//! connection that sends PSYNC/SYNC leaves its shard and is served from there:
//! `+CONTINUE` from the backlog, or a full sync from a cut whose leader marks the
//! stream's position and forks the snapshot child (disk-backed or `$EOF:` diskless).
//! Stream bytes go to replicas from the backlog blocks themselves, with io_uring
//! `SEND_ZC` for large sends (`io::zc` holds a block until the kernel's notification).
//! FAILOVER (`repl::failover`) pauses client writes, cuts the stream across shards,
//! waits for the target's ACK of all of it, then follows the target with
//! `PSYNC … FAILOVER`. SHUTDOWN (or SIGTERM/SIGINT) on a master with replicas
//! (`repl::shutdown`) pauses writes and cuts the stream the same way, sends GETACK and
//! waits for every replica's ACK of all of it (at most `shutdown-timeout`); then shard
//! 0 saves if asked and raises the shutdown flag. A master restarting from its RDB continues the history the
//! file records (`repl-id`/`repl-offset` become its second id and offset), and before
//! serving feeds the keys its load dropped as expired to the stream as DELs
//! (`persist::startload`), as Redis does.
//!
//! **Client-side caching** (`cmd::tracking`, `shard::tracking`): a tracking client's
//! home shard records the keys of its tracked reads on their owner shards (a hop queued
//! ahead of the read); the first write to such a key, on its owner, sends each reader's
//! home shard the invalidation, which is written on the shard of its target (the client,
//! or its REDIRECT). **MONITOR** lines are made on the client's shard and sent to every
//! shard that has monitors (`Msg::Monitor`).
//!
//! Nothing is shared on the hot path: a shard's data, connections and ring are touched
//! only by its own thread. The one exception is a *consistent cut* (`persist::cut`, for
//! SAVE, BGSAVE and the AOF rewrite): every shard locks itself whole, then all
//! shard threads stop at a rendezvous between two inbox messages while one of them
//! reads every shard's databases or `fork()`s; the BGSAVE child writes the snapshot
//! (the rewrite child, one AOF base per shard) from copy-on-write memory with plain
//! blocking I/O and `_exit`s, never touching a ring. Shard 0's cron reaps it, checks
//! the save points and the auto-rewrite sizes, and installs a rewrite's manifest. Threads talk only through the inboxes; the one global lock,
//! `Shared::tx_order`, is taken only to order cross-shard transactions.
//!
//! ## One turn of a shard's loop (`server::worker`)
//!
//! 1. Reap completions: accepted sockets, received bytes (copied from the provided
//!    buffer ring into the connection's read buffer, buffer returned at once),
//!    finished sends, wakeups, log writes and syncs (releasing the output they
//!    cleared; under buffered `always`, a batch that waited for the sync just reaped
//!    is written at once, before the turn's input). A receive or send notes its time
//!    on the connection; the client's `ClientMeta` (CLIENT LIST, the limits) gets it
//!    with the output sizes once per parsed batch and per finished send.
//! 2. Parse every connection with new bytes and dispatch each request (pipelining: all
//!    complete requests in the buffer, up to 512 per connection per turn, stopping at
//!    an output high-water mark, and while some shard's inbox is over its bound). In
//!    a large database the keys of the next 16 requests are looked up together first,
//!    so their cache misses overlap (`net::lookahead`); across connections too, when
//!    each brings one request (`-P 1`): their connection state, `ClientMeta`s and keys
//!    start loading together before the first runs (`server::worker::overlap`, which
//!    also does so for the reap's completions before step 1 handles them).
//! 3. Drain the inbox, always whole: run requests from other shards, take lock
//!    requests, apply releases, collect replies for our own connections.
//! 4. Put replies that came back into their connections' slots, in request order.
//! 5. Eviction (`shard::evict`): while the server is over `maxmemory` (the
//!    allocator's exact count, `io::alloc`), a time-bounded slice of this shard's
//!    keys goes (a slice also runs before each command, which gets `OOM` only if
//!    nothing could be freed). Active expiry in slices of at most 1 ms within a 25%
//!    time share (`shard::turns`; expired keys are published as `expired` keyspace
//!    events when enabled), visiting only the databases that have keys with a TTL
//!    (`shard::dbwatch`, which also keeps the turn's clock tick of every database
//!    to once a second). Timers (`hz`): idle
//!    timeouts, client eviction (`maxmemory-clients`), snapshot cron (publish
//!    the change counter; on shard 0: reap a BGSAVE or rewrite child, due save points,
//!    scheduled and automatic AOF rewrites).
//! 6. AOF (`persist`): hand the turn's log bytes to the ring as one write (linked to
//!    an fdatasync under `appendfsync always`; when O_DIRECT (`appendonly-direct`,
//!    by default under `always`) a write of whole blocks, RWF_DSYNC under `always`,
//!    plus preallocation ahead of it), ahead of the sends; after a rewrite's cut, switch to the new
//!    incremental file once the old one has its last bytes.
//! 7. Take the listeners a CONFIG SET port/bind moved, if any (`io::listen`), so its
//!    fan-out is answered only once every shard has switched. Push the turn's
//!    replication segments (`repl::feed`), then flush outboxes: one batch per
//!    destination shard (in a vector a handled inbox batch left, `Outbox::
//!    recycle_batch`, so batches go back and forth, not allocated by one thread and
//!    freed by another); MSG_RING the parked ones.
//! 8. Queue one send per connection with output (double-buffered). A send up to
//!    1 MB goes quiet (`io::ring::Ring::send_quiet`): it never waits in the kernel and
//!    posts a completion only when it could not send everything, so the next turn
//!    settles it from the absence of one (`settle_quiet_sends`, right after the
//!    reap) instead of a second enter and turn per batch reaping the sends. Output produced
//!    while the log has bytes not yet cleared (written; fsynced under `always`) is
//!    held until they are, and so are result messages to other shards. A connection
//!    whose next request waits for replies owed by another shard (`cmd::order`) keeps
//!    its output back until they land, so a pipeline over shards leaves in one send.
//! 9. One `io_uring_enter` (naming the ring by its registered index): submit
//!    everything and wait, bounded by the next timer.
//!
//! ## The life of a command
//!
//! `GET foo` arrives on shard A's socket. The recv completion's bytes are appended to
//! the connection's read buffer; the connection's `resp::RequestParser` yields argument
//! ranges into that buffer (no copy), resuming where the last read stopped when a
//! request spans many reads (a big request's parsed arguments move out of the read
//! buffer into a `resp::ArgStore` as they come, as Redis builds `argv`).
//! `cmd::dispatch` looks `get` up in the command table (`cmd::table`),
//! checks arity (and a container's subcommand and its arity, as Redis's lookup does),
//! auth and the ACL (`acl`: one generation load and one flag for a user
//! allowed everything, else the user's command, key and channel rules), and computes
//! the owner of `foo`:
//!
//! - **Owner is A** (always, with one shard): `cmd::dispatch::call` runs the handler
//!   against A's `Db`, writing the reply straight into the connection's output buffer.
//!   `call` is the choke point every keyed command passes: command stats (timed by
//!   `cmd::cmdtime`, one clock reading per group of fast commands in a pipelined
//!   batch), dirty
//!   counting, keyspace notifications (events the handler raised with
//!   `ExecCtx::notify`, published through Pub/Sub to every thread's subscribers), and
//!   the AOF feed (`persist::propagate`, deterministic forms of the command appended
//!   to the shard's log and, while a replica is attached, to its replication feed).
//!   One exception: a pipelined run of one plain command (GET, SET, INCR ...) on this
//!   shard's keys runs in `cmd::fastrun` with these checks taken once per run, only
//!   while none of them has anything to do (no AOF or replica for writes, no
//!   notifications, tracking, MONITOR, WATCH, ...).
//! - **Owner is B**: the arguments are copied as a record into the packed buffer of
//!   requests at the end of A's outbox for B (`shard::hopbatch`: one buffer carries
//!   the turn's hops to B), and the connection reserves a reply slot. At the end of
//!   the turn the batch goes to B's inbox (waking B if parked). B warms the keys of
//!   16 records at a time (A's read-ahead warmed only A's keys; all of an MSET's
//!   keys, as `net::lookahead` does for a pipeline), runs each record
//!   through `call` and packs its reply into one buffer of replies for A; A splices
//!   each into its slot, and the ready prefix of slots goes out. Emptied buffers carry
//!   the next records back, so a steady load allocates nothing per hop. Replies
//!   therefore leave in request order even when pipelined requests alternate between
//!   shards. Execution keeps that order too (`cmd::order`): while a connection owes
//!   replies from one shard, its next command joins them only if it goes to the same
//!   shard; a command for any other shard (A included) waits until they are in, so
//!   no client sees a later command's effect before an earlier one's (the setting
//!   `pipeline-order per-shard` turns the waiting off; SELECT and the like never wait).
//!   While a request waits, the replies before it are kept back, not sent at every
//!   change of shard.
//! - **Keys on several shards** (`MSET a 1 b 2`): `cmd::coord` runs a transaction. It
//!   takes a global id and, under `tx_order`, queues `Lock` on every shard involved, so
//!   every shard sees lock requests in one global order (no deadlock). Each shard
//!   grants in order and hands over the locked keys' values (moved, not copied, expired
//!   or not: the run expires only the keys the command reads, and their owners delete
//!   and log them, `Msg::ExpireHeld`); the
//!   coordinator runs the ordinary handler on a scratch keyspace holding them, then
//!   sends each shard a `Release` moving the keys' final state back (`Return` when
//!   nothing was written). Locked keys defer other commands on
//!   them, so no client observes half of a multi-key command. The handler runs through
//!   `call` on the coordinator, so its keyspace events are published from there, once.
//!   The client's later commands wait (a barrier) until the transaction replies. With
//!   the AOF on (or a replica attached), each shard whose keys changed first logs its
//!   part (shard-local commands such as LPOP + RPUSH for LMOVE, else the keys' final
//!   state) as a tagged MULTI/EXEC block (a commit hop) and the locks go and the reply
//!   leaves only once all parts are logged (and queued for the replication stream).
//!   MSET, MGET, DEL, UNLINK, EXISTS and TOUCH need no gathering (`cmd::coord_split`):
//!   each shard gets its part in one `LockRun` message, runs it in place once its locks
//!   are granted (in the same global order) and keeps them until every part has run
//!   (over two shards, one the coordinator's, the other part releases as it runs while
//!   the coordinator's own part holds: one round trip, no `Release`);
//!   the connection is not held, so pipelined ones batch into one message per shard.
//!   The coordinator's own part, its answer and its release skip its inbox (entered in
//!   its lock table when the turn's lock requests go out, if no earlier one waits in
//!   its inbox; its answer is handled as soon as the turn's own parts have run, not
//!   queued to itself). The parts a shard runs in one go (a peer's batch, its own parts at
//!   the flush) warm their keys a few parts at a time, so their misses overlap; the
//!   read-ahead leaves a split request's keys alone (its part runs only at the flush).
//!   A write is accepted once for all parts, so no part is refused alone;
//!   DEL and UNLINK log only the parts that deleted something.
//!   With keyspace events on (Redis publishes them in key order) and on a replica's
//!   master link, they take the gathered path above.
//! - **Keyless commands over all shards** (DBSIZE, KEYS, INFO, FLUSHALL): a fan-out
//!   runs a closure on every shard and combines the results; commands that must be
//!   atomic (FLUSHALL, SWAPDB) lock every shard whole first. With the AOF on, each
//!   shard logs what such a write did to its own keys as a tagged block too.
//! - **EXEC** (`cmd::multi_exec`) locks every key its queued commands name (and the
//!   WATCHed ones; every shard whole if one of them is a fan-out) as above, checks the
//!   WATCHes, then runs the commands in queued order. A run of consecutive commands
//!   whose keys each live on one shard goes out at once: the coordinator's own ones run
//!   in place, every other shard gets one message with its commands in order, and the
//!   replies are put back in queued order once all parts answered (one round trip per
//!   run, not per command; the keys are locked, so no client can see the shards' order
//!   inside a run). A command over several shards or a fan-out runs alone between runs.
//!
//! **Scripts** (`script`, `cmd::script`, `cmd::function`): EVAL and FCALL are keyed
//! commands whose keys are the declared ones, so they route like any multi-key
//! command (one owner, or a keyed transaction locking every owner); one that may touch
//! undeclared keys (`lua-undeclared-keys lock-all`) locks and stops every shard at a cut
//! led by its client's shard (`cmd::script_all`). Each shard thread
//! keeps two Lua states, EVAL's and the functions' (`script::func_engine`), as Redis
//! keeps two, whose globals, libraries and string metatable scripts see
//! read-only (proxies, `script::sandbox`), as in Redis 7.0, so no script changes
//! what later ones on that shard see; `redis.call` runs the command table's handler
//! on the keys in reach, and the script's writes propagate as the commands it ran (effects), never
//! the script, each in its db (a script's SELECT changes only the script's db). The script cache and function libraries are server-wide
//! (`Shared::script`), compiled lazily on each thread; libraries are saved as RDB
//! function opcodes (`rdb::function`) and logged as FUNCTION commands by shard 0. A script past
//! `busy-reply-threshold` holds its thread: other shards answer `-BUSY`
//! (`cmd::script::busy_refusal`), and the busy thread's instruction hook serves the
//! connections waiting on its own listeners and the Unix socket, and its idle ones (`server::busy_door`), so SCRIPT KILL,
//! FUNCTION KILL and SHUTDOWN NOSAVE reach it even with one shard (and AUTH, whose
//! login the worker gives the connection's session once the script ended).
//!
//! ## A replica (`repl::replica`, `repl::link`)
//!
//! `REPLICAOF host port` (or the `replicaof` directive) only records the target; shard
//! 0 sees it and starts a link thread, which does everything that blocks: connect,
//! the PSYNC handshake, receiving the master's RDB (to a temp file, or memory under
//! `repl-diskless-load`) and decoding it, while each shard thread inserts its own keys
//! into fresh databases beside the ones it keeps serving (`repl::load`, in bounded
//! slices between its other work, as start-up loading routes keys). Shard 0 then swaps every shard's databases at one
//! consistent cut (the old ones are freed on a helper thread) and adopts the master's
//! socket as a connection of its own: the master's stream runs through `dispatch` like
//! a client's requests (replies discarded, `REPLCONF ACK` sent back), its bytes count
//! in the replica's offset and are forwarded verbatim to its own replicas. Across
//! shards it keeps only each shard's order, unless `replica-apply-order strict`:
//! then each run of single-shard keyed commands of the stream (up to a turn's input,
//! SELECTs folded in) runs as one batch (`repl::batch`): over several shards, an
//! implicit transaction on EXEC's coordinator, its keys locked on every shard it
//! touches until all its parts ran; on one shard, one message there, without locks
//! unless that shard's lock table is busy. So readers see all of a batch or none of
//! it and batches follow each other (`repl::apply` rule 4); whatever else the stream
//! holds is a barrier between batches. A cut on a
//! replica (BGSAVE, a sub-replica's full sync) records the offset of exactly what it
//! holds: shard 0 grants a whole-shard lock only once the link's hops to other shards
//! have answered, and the stream's cross-shard commands count when they finish
//! (`repl::apply`). On a replica, client writes get READONLY, active expiry is off and the master's commands
//! see no expiry (a clock at 0), so keys go only when the master's DELs arrive.
//! REPLICAOF (NO ONE or another master) clears the link's client id at once: the old
//! link dispatches nothing more of what it had read (`net::conn` checks per request),
//! and shard 0 closes it at its next turn. Sub-replicas are refused (`-NOMASTERLINK`)
//! until the link is up, as in Redis, so none syncs a dataset that is being replaced.
//!
//! **ACL** (`acl`): users and their selectors live in `Shared` behind one lock that
//! only ACL commands, AUTH and start-up take; each connection keeps an `Arc` snapshot
//! of its user and re-reads it when the users' generation moves. Categories and key
//! specs of every command are Redis 7.0's own, generated from redis-server's COMMAND
//! INFO (`scripts/acl-table.py`).
//!
//! ## Layers
//!
//! `util`, `config`, `resp`, `io`, `storage` are leaves; `shard` and `rdb` (the RDB
//! format) sit on storage; `cmd` on shard and resp; `persist` beside cmd (its `log` is
//! owned by each `ShardState`; its `load` replays through `cmd`); `repl` beside
//! persist (each shard's `ShardLog` carries its replication feed); `cluster` (the
//! Redis Cluster protocol: slot map, nodes.conf, MOVED/ASK checked by one hook in
//! `cmd::dispatch`, MIGRATE on helper threads; no gossip bus) beside cmd; `pool` (the
//! `shardis-pool` tool: NUMA topology, instances, forming and rebalancing a cluster)
//! on cluster and config, used only by its binary; `net` on cmd; `server` on top. `resp` and `io` know nothing
//! of commands; `storage` knows nothing of sockets or RESP. `unsafe` lives in `io`
//! (`io::proc` for fork/waitpid/_exit, `io::alloc` for the counting allocator,
//! `io::numa` for set_mempolicy/sched_setaffinity, `io::pages` for `madvise` on big
//! request buffers,
//! `io::poll` for the replication thread's poll/eventfd/pipe, `io::zc` for its
//! zero-copy sends, `io::ring` for its entries' buffers and its hand-made
//! `io_uring_enter` and ring-fd registration), in `persist::dbview`,
//! the one place shard databases cross threads (a cut's pointers, start-up's loaded
//! databases), and `persist::cut`, which reads them through those pointers while the
//! other shards wait, in the forks at a cut (`persist::bgsave`, `persist::rewrite`,
//! `repl::fullsync`), in `server::worker`'s ring sends of a connection's pending
//! output, in `util::stopwatch` (the TSC read), in `util::longdouble` (the calls into
//! `csrc/longdouble.c`, INCRBYFLOAT's C `long double`), and in `storage::table` (heap keys,
//! and the cache prefetch hints: `Table::warm`'s, eviction's sampling, and the write
//! hint `prefetch_write` for split parts).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod acl;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod io;
pub mod net;
pub mod persist;
pub mod pool;
pub mod rdb;
pub mod repl;
pub mod resp;
pub mod script;
pub mod server;
pub mod shard;
pub mod storage;
pub mod util;

/// mimalloc, counting the bytes it holds for `used_memory` (see `io::alloc`).
#[global_allocator]
static GLOBAL: io::alloc::CountingMiMalloc = io::alloc::CountingMiMalloc;
