//! The replication stream's two ends: what each shard contributes (`ShardFeed`, owned
//! by the shard's `persist::log::ShardLog`) and the single `Assembler` that merges the
//! shards' segments into one stream.
//!
//! ## Shard side
//!
//! The shard's propagation (every write the AOF would log: `cmd::dispatch::call_inner`,
//! expiry DELs, cross-shard final states, flush/swap parts, EXEC staging) goes through
//! `ShardLog::with_stream`, which also appends to this feed while `on` (a backlog
//! exists). Plain commands accumulate in one open segment that starts in the db of its
//! first command and carries a SELECT inside only where its own db changes. A
//! cross-shard part (a commit of transaction `tx` with `parts` parts) first closes the
//! open segment (the shard's order is kept), then becomes a `TxPart` of its own, with no
//! MULTI/EXEC and no tag. The worker pushes the turn's segments to `ReplState::feed`
//! before it flushes its outboxes (so a transaction's parts are queued before the
//! commit acknowledgements can release its locks), and a cut's hop pushes them before
//! the rendezvous.
//!
//! ## Assembler
//!
//! Plain segments go out as they come, after a SELECT when the merged stream's db is
//! not the segment's. A transaction's parts wait until all `parts` arrived, then go out
//! as one `MULTI` ... `EXEC` (just the command when the whole transaction is a single
//! command: a FLUSHALL / SWAPDB fan-out, whose command only one shard contributes).
//! Inside it the parts' commands go in the order the client queued them in its
//! MULTI (each staged command carries its position, `ShardFeed::seq`), as Redis sends
//! a transaction: a replica's keyspace events and MONITOR see that order. Commands of
//! one position (a fan-out's parts, a script's effects) keep the parts' order.
//! Between a transaction's first and last part, other segments (even later ones of the
//! same shard) may go out first: they ran while the transaction held its keys' locks,
//! so they touch none of its keys and commute with it. Whole-keyspace writes need every
//! shard locked whole, so none can overtake a pending transaction. That holds only if
//! every write respects the locks: active expiry and eviction, which no client orders,
//! therefore leave keys a transaction holds, and a shard held whole, alone until they
//! are released (`shard::turns::expire_slice`, `shard::evict`; before, a key expiring
//! right after its shard's part of a SWAPDB went out as a DEL ahead of the SWAPDB, and
//! replicas deleted the live key of that name in the other db: `tests/repl_expiry_order.rs`).

use super::state::Segment;
use crate::persist::resp::encode;
use std::collections::HashMap;

/// One shard's side of the stream.
#[derive(Default)]
pub struct ShardFeed {
    /// A backlog exists: propagate into the stream too.
    pub on: bool,
    /// This shard's id (fan-out parts: only shard 0 contributes the command itself).
    pub shard: u16,
    /// The position, in the client's MULTI, of the transaction command being staged now
    /// (`cmd::multi_exec`); 0 outside EXEC, where the parts' order is kept.
    pub seq: u32,
    open: Open,
    staged: HashMap<u64, Open>,
    /// Closed segments of this turn, in order.
    out: Vec<Segment>,
}

/// Where one staged command lies in its part's bytes, and its place in the transaction.
#[derive(Clone, Copy, Debug)]
pub struct Piece {
    /// `ShardFeed::seq` when it was staged.
    seq: u32,
    db: u16,
    /// Where the SELECT before it (if any) starts, and where the command starts.
    select_at: u32,
    cmd_at: u32,
}

/// A segment being filled.
#[derive(Default)]
struct Open {
    bytes: Vec<u8>,
    db: u16,
    cur: u16,
    cmds: u32,
    /// A staged part's commands (empty for a plain segment).
    pieces: Vec<Piece>,
}

impl Open {
    fn begin(&mut self, db: u16) {
        if self.cmds == 0 {
            self.db = db;
            self.cur = db;
        } else if self.cur != db {
            encode(&mut self.bytes, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            self.cur = db;
        }
        self.cmds += 1;
    }
}

impl ShardFeed {
    /// The buffer the next command for `db` goes to (the staged part of `stage`, or
    /// the open segment), after any SELECT it needs.
    pub fn target(&mut self, db: u16, stage: Option<u64>) -> &mut Vec<u8> {
        let o = match stage {
            Some(tx) => {
                let o = self.staged.entry(tx).or_default();
                let select_at = o.bytes.len() as u32;
                o.begin(db);
                o.pieces.push(Piece { seq: self.seq, db, select_at, cmd_at: o.bytes.len() as u32 });
                return &mut o.bytes;
            }
            None => &mut self.open,
        };
        o.begin(db);
        &mut o.bytes
    }

    /// Appends one already encoded command executed in `db`.
    pub fn append(&mut self, db: u16, stage: Option<u64>, cmd: &[u8]) {
        self.target(db, stage).extend_from_slice(cmd);
    }

    /// Transaction `tx`'s part here is complete: it becomes a segment of its own,
    /// after whatever this shard fed before it.
    pub fn commit(&mut self, tx: u64, parts: u32) {
        self.close_open();
        let p = self.staged.remove(&tx).unwrap_or_default();
        self.out.push(Segment::TxPart {
            tx,
            parts,
            db: p.db,
            end_db: p.cur,
            cmds: p.cmds,
            bytes: p.bytes,
            pieces: p.pieces,
        });
    }

    /// Has transaction `tx` staged a command here?
    pub fn has_staged(&self, tx: u64) -> bool {
        self.staged.get(&tx).is_some_and(|o| o.cmds > 0)
    }

    /// Drops a staged part that will not be committed.
    pub fn discard(&mut self, tx: u64) {
        self.staged.remove(&tx);
    }

    fn close_open(&mut self) {
        if self.open.cmds > 0 {
            let o = std::mem::take(&mut self.open);
            self.out.push(Segment::Stream { db: o.db, end_db: o.cur, bytes: o.bytes });
        }
    }

    /// Closes the open segment and hands this turn's segments to the stream.
    pub fn flush(&mut self, repl: &super::ReplState) {
        self.close_open();
        if self.out.is_empty() {
            return;
        }
        let mut bytes = 0;
        for s in self.out.drain(..) {
            bytes += s.stream_bytes() as u64;
            repl.feed.push(s);
        }
        repl.wake_lazy(bytes);
    }

    /// Segments closed so far (unit tests).
    #[cfg(test)]
    pub fn take(&mut self) -> Vec<Segment> {
        self.close_open();
        std::mem::take(&mut self.out)
    }
}

struct PendingTx {
    parts: u32,
    /// Each arrived part: its commands' count, bytes and pieces.
    got: Vec<(u32, Vec<u8>, Vec<Piece>)>,
}

/// Merges segments into the stream's bytes.
#[derive(Default)]
pub struct Assembler {
    /// The db the merged stream last selected (None: the next command selects).
    cur_db: Option<u16>,
    pending: HashMap<u64, PendingTx>,
}

impl Assembler {
    /// The next command must select its db (a new backlog, a stream reset).
    pub fn reselect(&mut self) {
        self.cur_db = None;
    }

    /// Transactions still waiting for parts.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn select(&mut self, out: &mut Vec<u8>, db: u16) {
        if self.cur_db != Some(db) {
            encode(out, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            self.cur_db = Some(db);
        }
    }

    /// Appends what `seg` contributes to the stream now (maybe nothing yet).
    pub fn push(&mut self, seg: Segment, out: &mut Vec<u8>) {
        match seg {
            Segment::Stream { db, end_db, bytes } => {
                self.select(out, db);
                out.extend_from_slice(&bytes);
                self.cur_db = Some(end_db);
            }
            Segment::TxPart { tx, parts, cmds, bytes, pieces, .. } => {
                let p = self.pending.entry(tx).or_insert_with(|| PendingTx { parts, got: Vec::new() });
                p.got.push((cmds, bytes, pieces));
                if (p.got.len() as u32) < p.parts {
                    return;
                }
                let p = self.pending.remove(&tx).expect("present");
                let total: u32 = p.got.iter().map(|g| g.0).sum();
                if total == 0 {
                    return;
                }
                // Every command, as (part, piece), in the transaction's order; the
                // sort is stable, so one position keeps the parts' order.
                let mut order: Vec<(usize, usize)> =
                    p.got.iter().enumerate().flat_map(|(g, part)| (0..part.2.len()).map(move |k| (g, k))).collect();
                order.sort_by_key(|&(g, k)| p.got[g].2[k].seq);
                let wrap = total > 1;
                if wrap {
                    // The first command's SELECT comes before MULTI, as Redis sends it.
                    if let Some(&(g, k)) = order.first() {
                        self.select(out, p.got[g].2[k].db);
                    }
                    encode(out, &[&b"MULTI"[..]]);
                }
                for (g, k) in order {
                    let (_, bytes, pieces) = &p.got[g];
                    let piece = pieces[k];
                    let end = pieces.get(k + 1).map_or(bytes.len(), |next| next.select_at as usize);
                    self.select(out, piece.db);
                    out.extend_from_slice(&bytes[piece.cmd_at as usize..end]);
                }
                if wrap {
                    encode(out, &[&b"EXEC"[..]]);
                }
            }
            Segment::Verbatim(bytes) => {
                out.extend_from_slice(&bytes);
                // The master's stream selects its own dbs: after a promotion, our first
                // own command must SELECT again (Redis resets `slaveseldb` too).
                self.cur_db = None;
            }
            // Handled by the replication thread before they reach here.
            Segment::Reset { .. } | Segment::Mark(_) | Segment::Wait(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::resp::{Decoded, decode};

    fn cmds(b: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Decoded::Cmd { args, len } = decode(&b[pos..]) {
            let a: Vec<String> =
                args.iter().map(|&(s, e)| String::from_utf8_lossy(&b[pos + s..pos + e]).into()).collect();
            out.push(a.join(" "));
            pos += len;
        }
        assert_eq!(pos, b.len());
        out
    }

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(&mut b, args);
        b
    }

    #[test]
    fn selects_only_when_the_merged_db_changes() {
        let mut a = ShardFeed::default();
        let mut b = ShardFeed::default();
        a.append(0, None, &cmd(&["SET", "a", "1"]));
        a.append(2, None, &cmd(&["SET", "b", "1"]));
        b.append(2, None, &cmd(&["SET", "c", "1"]));
        b.append(0, None, &cmd(&["SET", "d", "1"]));
        let mut asm = Assembler::default();
        let mut out = Vec::new();
        for s in a.take().into_iter().chain(b.take()) {
            asm.push(s, &mut out);
        }
        assert_eq!(cmds(&out), ["SELECT 0", "SET a 1", "SELECT 2", "SET b 1", "SET c 1", "SELECT 0", "SET d 1"]);
    }

    #[test]
    fn transaction_parts_become_one_multi_exec_after_the_last_part() {
        let (mut a, mut b, mut c) = (ShardFeed::default(), ShardFeed::default(), ShardFeed::default());
        a.append(0, None, &cmd(&["SET", "before", "1"]));
        a.append(1, Some(7), &cmd(&["SET", "x", "1"]));
        a.commit(7, 2);
        a.append(0, None, &cmd(&["SET", "after", "1"]));
        c.append(0, None, &cmd(&["SET", "other", "1"]));
        b.append(0, Some(7), &cmd(&["SET", "y", "1"]));
        b.commit(7, 2);
        let mut asm = Assembler::default();
        let mut out = Vec::new();
        let sa = a.take();
        assert_eq!(sa.len(), 3, "the part keeps its place between the shard's own segments");
        for s in sa.into_iter().chain(c.take()).chain(b.take()) {
            asm.push(s, &mut out);
        }
        assert_eq!(asm.pending(), 0);
        assert_eq!(
            cmds(&out),
            [
                "SELECT 0",
                "SET before 1",
                "SET after 1",
                "SET other 1",
                "SELECT 1",
                "MULTI",
                "SET x 1",
                "SELECT 0",
                "SET y 1",
                "EXEC"
            ]
        );
    }

    #[test]
    fn a_single_command_transaction_is_the_command_and_empty_parts_vanish() {
        let mut asm = Assembler::default();
        let mut out = Vec::new();
        for shard in 0..4u16 {
            let mut f = ShardFeed { shard, ..Default::default() };
            if shard == 0 {
                f.append(3, Some(9), &cmd(&["FLUSHDB"]));
            }
            f.commit(9, 4);
            for s in f.take() {
                asm.push(s, &mut out);
            }
        }
        let mut f = ShardFeed::default();
        f.commit(10, 1);
        for s in f.take() {
            asm.push(s, &mut out);
        }
        assert_eq!(cmds(&out), ["SELECT 3", "FLUSHDB"]);
        assert_eq!(asm.pending(), 0);
    }
}

/// The whole shard side through the real command paths: a multi-shard harness whose
/// shards feed only the stream (AOF off), its segments assembled in command order and
/// replayed into one keyspace, ends with the same data.
#[cfg(test)]
mod stream_tests {
    use super::Assembler;
    use crate::cmd::harness::{Harness, Reply};
    use crate::persist::resp::{Decoded, decode};

    fn drain(h: &mut Harness, asm: &mut Assembler, out: &mut Vec<u8>) {
        for s in &mut h.shards {
            for seg in s.aof.repl.take() {
                asm.push(seg, out);
            }
        }
    }

    fn replay(stream: &[u8]) -> Harness {
        let mut r = Harness::new(1);
        let mut pos = 0;
        while let Decoded::Cmd { args, len } = decode(&stream[pos..]) {
            let a: Vec<&[u8]> = args.iter().map(|&(s, e)| &stream[pos + s..pos + e]).collect();
            let text = String::from_utf8_lossy(a[0]).to_ascii_lowercase();
            assert!(!text.contains("echo"), "no internal tags in the stream");
            let out = r.run_raw(&a);
            assert!(!out.starts_with(b"-"), "{text}: {}", String::from_utf8_lossy(&out));
            pos += len;
        }
        assert_eq!(pos, stream.len());
        r
    }

    #[test]
    fn the_stream_of_four_shards_rebuilds_the_dataset_in_one_keyspace() {
        let mut h = Harness::new(4);
        for s in &mut h.shards {
            s.aof.repl.on = true;
        }
        let (mut asm, mut out) = (Assembler::default(), Vec::new());
        let script: Vec<Vec<&str>> = vec![
            vec!["set", "a", "1"],
            vec!["mset", "k1", "1", "k2", "2", "k3", "3", "k4", "4"],
            vec!["set", "ttl", "v", "ex", "1000"],
            vec!["select", "2"],
            vec!["rpush", "l", "a", "b"],
            vec!["select", "0"],
            vec!["multi"],
            vec!["set", "k1", "x"],
            vec!["del", "k2", "k3"],
            vec!["flushdb"],
            vec!["set", "after-flush-in-tx", "1"],
            vec!["exec"],
            vec!["mset", "m1", "1", "m2", "2", "m3", "3"],
            vec!["swapdb", "0", "2"],
            vec!["rename", "l", "moved"],
            vec!["incrbyfloat", "f", "1.5"],
            vec!["flushall"],
            vec!["mset", "z1", "1", "z2", "2"],
            vec!["select", "5"],
            vec!["set", "five", "5"],
            vec!["select", "0"],
        ];
        for cmd in &script {
            let r = h.run(cmd);
            assert!(!matches!(r, Reply::Error(_)), "{cmd:?}: {r:?}");
            drain(&mut h, &mut asm, &mut out);
        }
        assert_eq!(asm.pending(), 0, "every transaction complete");
        let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
        assert!(text.contains("flushall") && text.contains("swapdb"), "the commands themselves: {text}");
        let mut r = replay(&out);
        assert_eq!(r.run(&["debug", "digest"]), h.run(&["debug", "digest"]));
    }
}
