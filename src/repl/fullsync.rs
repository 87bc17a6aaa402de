//! The snapshot of a full sync: a cut (`persist::cut`) whose leader pushes the cut
//! mark, waits for the replication thread to give the stream position there, and forks
//! a child that writes the RDB (aux `repl-id`, `repl-offset`, `repl-stream-db`, as
//! Redis 7 writes them) to a temp file the replication thread then sends.

use super::master::{CutMark, Sink};
use super::state::Segment;
use crate::cmd::ctx::FanOut;
use crate::io::proc::{self, Forked};
use crate::persist::cut::{self, World};
use crate::persist::rdbfile;
use crate::rdb::ReplPosition;
use crate::shard::{ShardState, Shared};
use crate::util::log;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Shard 0's turn: start the cut the replication thread asked for, if any.
pub fn cron(st: &mut ShardState) {
    let p = &st.shared.repl.pub_info;
    if p.cut_wanted.load(Ordering::Relaxed) && !p.cut_started.swap(true, Ordering::SeqCst) {
        crate::cmd::coord::start_fanout_detached(st, fanout());
    }
}

fn fanout() -> FanOut {
    cut::cut(leader, None, |st: &mut ShardState, _r: Option<()>, _out| {
        st.shared.repl.pub_info.cut_started.store(false, Ordering::SeqCst);
    })
}

/// At a cut (any: SAVE, BGSAVE, shutdown): the (replid, offset, stream db) the
/// snapshot holds, for its `repl-id` / `repl-offset` / `repl-stream-db` aux fields.
/// While a stream is being assembled the replication thread gives the exact position
/// through a mark; otherwise the offset does not move. A master's stream db is 0: the
/// stream selects its db again after a cut for a full sync and after a restart.
pub fn position_at_cut(shared: &Shared) -> Option<ReplPosition> {
    if shared.repl.is_replica() {
        return replica_position(shared);
    }
    if shared.repl.master.get().is_some() && shared.repl.streaming.load(Ordering::SeqCst) {
        let mark = Arc::new(CutMark::default());
        shared.repl.push(Segment::Mark(mark.clone()));
        return mark.wait_position(shared).map(|(id, off)| (id, off, 0));
    }
    Some((shared.repl.ids().replid, shared.repl.offset.load(Ordering::Acquire), 0))
}

/// A replica's snapshot records its master's history: the master's replid, the
/// offset applied so far (what PSYNC would ask for, minus one) and the db the master's
/// stream has selected there, so that a replica restarted from this file continues
/// partially in the right db (Redis 7 writes the same and caches the master from it
/// at start-up; here `replica::follow` does, from the ids `server` restores). At a cut
/// no command of the master is half applied.
fn replica_position(shared: &Shared) -> Option<ReplPosition> {
    let r = &shared.replica;
    if !r.has_history.load(Ordering::Acquire) {
        return None;
    }
    let id = r.master_replid();
    (id.len() == 40).then(|| (id, r.processed.load(Ordering::Acquire), r.master_db.load(Ordering::Relaxed)))
}

fn leader(w: &mut World) {
    let mark = Arc::new(CutMark::for_sync());
    w.shared.repl.push(Segment::Mark(mark.clone()));
    let Some((replid, offset)) = mark.wait_position(w.shared) else {
        mark.set_child(Err("shutting down".into()));
        return;
    };
    let cfg = w.shared.config();
    let now = Shared::now_unix_ms();
    let diskless = w.shared.repl.pub_info.cut_diskless.load(Ordering::SeqCst);
    let mut opts = rdbfile::write_options(&cfg, now);
    // A master's stream selects its db again after the mark (`master`); a replica
    // forwards its master's stream verbatim, which goes on in the db selected now.
    let stream_db = if w.shared.repl.is_replica() { w.shared.replica.master_db.load(Ordering::Relaxed) } else { 0 };
    opts.repl = Some((replid, offset, stream_db));
    opts.functions = w.function_codes();
    let (sink, path, pipe_w) = if diskless {
        match crate::io::poll::pipe() {
            Ok((r, wr)) => (Sink::Pipe(Arc::new(r)), None, Some(wr)),
            Err(e) => {
                mark.set_child(Err(format!("pipe: {e}")));
                return;
            }
        }
    } else {
        let path = PathBuf::from(&cfg.dir).join(format!(
            "temp-repl-{}-{}.rdb",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        (Sink::File(path.clone()), Some(path), None)
    };
    // SAFETY: this is a cut's leader: every other shard thread waits at the rendezvous,
    // the replication thread touches no shard data; the child uses no ring, takes no
    // lock (it logs only on failure) and ends with `exit_now`.
    let forked_at = std::time::Instant::now();
    match unsafe { proc::fork() } {
        Err(e) => {
            log::warning(&format!("Can't save in background: fork: {e}"));
            mark.set_child(Err(format!("fork: {e}")));
        }
        Ok(Forked::Child) => {
            crate::persist::bgsave::place_child(&cfg, "bgsave_cpulist");
            let r = match (path, pipe_w) {
                (Some(path), _) => std::fs::File::create(&path).map_err(|e| e.to_string()).and_then(|f| {
                    crate::rdb::write_snapshot(&w.views(), f, &opts).map(|_| ()).map_err(|e| e.to_string())
                }),
                (None, Some(pipe)) => stream_eof(&w.views(), pipe, &opts),
                (None, None) => Err("no sink".into()),
            };
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    log::warning(&format!("Write error saving DB on disk: {e}"));
                    1
                }
            };
            proc::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => {
            drop(pipe_w);
            // Counted as BGSAVE's forks are (INFO `latest_fork_usec`, `total_forks`,
            // LATENCY's `fork` event), as Redis counts a full sync's fork.
            let fork_us = forked_at.elapsed().as_micros() as u64;
            w.shared.rdb.latest_fork_usec.store(fork_us, Ordering::Relaxed);
            w.shared.rdb.total_forks.fetch_add(1, Ordering::Relaxed);
            crate::cmd::latency::add_shared_sample_if_needed(w.shared, "fork", fork_us / 1000);
            if diskless {
                log::notice(&format!("Background RDB transfer started by pid {pid}"));
            } else {
                log::notice(&format!("Background saving started by pid {pid}"));
            }
            mark.set_child(Ok((pid, sink)));
        }
    }
}

/// The diskless payload: `$EOF:<40 random chars>\r\n`, the RDB, the same 40 chars.
fn stream_eof(
    views: &[&[crate::storage::Db]],
    mut pipe: std::fs::File,
    opts: &crate::rdb::WriteOptions,
) -> Result<(), String> {
    use std::io::Write;
    let mark = super::state::random_replid();
    pipe.write_all(format!("$EOF:{mark}\r\n").as_bytes()).map_err(|e| e.to_string())?;
    crate::rdb::write_snapshot(views, &mut pipe, opts).map_err(|e| e.to_string())?;
    pipe.write_all(mark.as_bytes()).map_err(|e| e.to_string())
}
