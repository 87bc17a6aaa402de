//! Messages between shards, and the per-destination outboxes that batch them.
//!
//! Every message travels in a `Vec<Msg>` batch: a thread appends to the outbox of each
//! destination during its loop turn and pushes one batch per destination at the end of
//! the turn, so a pipelined burst costs one queue operation and at most one wakeup per
//! destination shard. Hopped single-key requests and replies go one step further: the
//! turn's run of them for one peer is one message, records packed in one recycled
//! buffer (`hopbatch`).
//!
//! ## The inbox bound (backpressure)
//!
//! Each message has a [`Msg::cost`]: its payload bytes plus a fixed overhead. A
//! shard's inbox counts the cost queued in it (`shared::Inbox`), and the outbox adds
//! what this thread has queued for each destination this turn. Once a destination is
//! over [`INBOX_LIMIT`], the outbox reports itself [`Outbox::full`] and the connection
//! layer stops *parsing client input* on this thread: the bytes stay in the read
//! buffer and, past a small amount, in the socket, so TCP pushes back on the clients.
//! Nothing else ever waits on the bound: draining the inbox, replies, lock requests,
//! releases, commit hops, hop results, blocking-wait parts and Pub/Sub deliveries are
//! produced and delivered regardless. That is why it cannot deadlock: a shard over the
//! bound needs nothing from anyone to get under it, only its own next turn, which
//! drains its whole inbox; every message that is not a parsed client request is a
//! consequence of one (a reply, a lock grant, a hop's result), so gating requests at
//! the source bounds the rest too, to a small multiple.
//!
//! The gate is per sending thread, not per destination: while any inbox is over the
//! bound, every thread stops taking new requests. That costs isolation only under
//! overload (a flooded shard slows the whole server down to its pace, as one Redis
//! would be), and it keeps the check one flag read per request. The bound is soft by
//! at most one request per sending thread (the one that crossed it), plus the
//! consequences of requests already admitted.

use super::hopbatch::{self, ExecHead, Packed};
use super::lock::LockPlan;
use crate::resp::Proto;
use crate::storage::Entry;
use std::any::Any;
use std::sync::Arc;

/// Where a reply must go: a connection slot on a shard, and the request's sequence
/// number on that connection (replies are put back in request order by the owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub shard: u16,
    pub slot: u32,
    pub generation: u32,
    pub seq: u64,
}

/// A request's arguments copied out of a connection's read buffer, so they can travel
/// to another thread or wait in a deferral queue.
#[derive(Clone, Debug, Default)]
pub struct OwnedArgs {
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
}

impl OwnedArgs {
    pub fn from_slices<'a>(args: impl Iterator<Item = &'a [u8]>) -> OwnedArgs {
        let mut o = OwnedArgs::default();
        for a in args {
            o.data.extend_from_slice(a);
            o.ends.push(o.data.len() as u32);
        }
        o
    }

    /// Like `from_slices`, sized exactly up front: two allocations instead of the
    /// growth steps, which a hop to another shard pays for every request (and the
    /// receiving thread frees each one).
    pub fn from_slices_exact<'a>(args: impl Iterator<Item = &'a [u8]> + Clone) -> OwnedArgs {
        let (n, bytes) = args.clone().fold((0, 0), |(n, b), a| (n + 1, b + a.len()));
        let mut o = OwnedArgs { data: Vec::with_capacity(bytes), ends: Vec::with_capacity(n) };
        for a in args {
            o.data.extend_from_slice(a);
            o.ends.push(o.data.len() as u32);
        }
        o
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }
}

/// A keyed command to run on the shard that owns its keys.
pub struct ExecReq {
    pub to: ReplyTo,
    pub client_id: u64,
    pub db: u16,
    pub proto: Proto,
    /// Index into the command table.
    pub cmd: u16,
    pub args: OwnedArgs,
}

/// The result a hop sends back to its coordinator.
pub type HopResult = Box<dyn Any + Send>;
/// Work run on every shard of a fan-out (DBSIZE, KEYS, INFO, CLIENT LIST ...).
pub type Hop = Arc<dyn Fn(&mut super::ShardState) -> HopResult + Send + Sync>;

/// Keys gathered from (or scattered back to) a shard by a cross-shard command:
/// (db, key, the entry or None when the key is absent). A keyed transaction's entries
/// are moved, not copied: the owner hands the values over (`cmd::coord::answer_granted`)
/// and gets them back, final or unchanged, with the release.
pub type KeyEntries = Vec<(u16, Vec<u8>, Option<Entry>)>;

/// Identifies a coordinator: the shard running it and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordRef {
    pub shard: u16,
    pub id: u64,
}

pub enum Msg {
    /// Run a keyed command here.
    Exec(Box<ExecReq>),
    /// A finished reply for one of this shard's connections.
    Reply {
        to: ReplyTo,
        bytes: Vec<u8>,
    },
    /// Take intent locks for transaction `tx` (in global tx order). When granted, answer
    /// `Locked`, carrying the locked keys' entries if `gather` (moved out: the keys stay
    /// in the table, locked, their values away until `Release` or `Return`).
    Lock {
        tx: u64,
        coord: CoordRef,
        plan: LockPlan,
        gather: bool,
    },
    /// Take intent locks for transaction `tx` like `Lock` on the part's keys, and when
    /// granted run the part here in place (`cmd::coord_split`), answering `Ran` with
    /// its reply; the locks stay until `Release` (or until it ran:
    /// `SplitPart::release_at_run`).
    LockRun {
        tx: u64,
        coord: CoordRef,
        part: Box<super::lock::SplitPart>,
    },
    Locked {
        coord: u64,
        shard: u16,
        entries: KeyEntries,
    },
    /// Run a hop here and answer `Ran`.
    Run {
        coord: CoordRef,
        hop: Hop,
    },
    Ran {
        coord: u64,
        shard: u16,
        result: HopResult,
    },
    /// Park one part of a blocking wait whose keys span shards.
    Park(Box<super::block::Waiter>),
    /// Apply the final state of gathered keys (if any), put back the `kept` ones the
    /// command only read (as `Return` does: no signals), and release `tx`'s locks.
    Release {
        tx: u64,
        writes: KeyEntries,
        kept: KeyEntries,
        /// The client whose command wrote `writes` (0 for none): tracking's NOLOOP
        /// spares it its own invalidations.
        writer: u64,
    },
    /// Delete these held keys as expired: the cross-shard command that held them
    /// judged them so when it read them (`ShardState::expire_held`). Sent ahead of the
    /// keys' release or commit hop, so their DELs precede the command's part.
    ExpireHeld(Vec<(u16, Vec<u8>)>),
    /// A SLOWLOG entry recorded here for a command of client `.1`, whose connection
    /// lives on this shard: filed here with the client's address and name.
    SlowEntry(Box<(super::slowlog::SlowEntry, u64)>),
    /// Put gathered values back unchanged (a read, a failed or blocked command) and
    /// release `tx`'s locks: nothing is written, so nothing is touched or woken.
    Return {
        tx: u64,
        entries: KeyEntries,
    },
    /// Keyspace notifications raised on another shard (or a script's PUBLISHes):
    /// (channel, message) pairs to deliver to this thread's subscribers, in order.
    Publish(Arc<Vec<(Vec<u8>, Vec<u8>)>>),
    /// A script's SPUBLISHes, for this thread's shard channel subscribers.
    SPublish(Arc<Vec<(Vec<u8>, Vec<u8>)>>),
    /// A MONITOR line for this thread's monitors (`cmd::monitor`).
    Monitor(Arc<Vec<u8>>),
    /// Keyed requests to run here, packed (`hopbatch`): each as `Exec` would.
    Hops(Packed),
    /// Finished replies for this shard's connections, packed (`hopbatch`).
    Replies(Packed),
}

/// The cost, summed over what waits in one shard's inbox (`Msg::cost`), past which
/// threads stop parsing client input until it drains. 4 MiB is hundreds of turns' worth
/// of ordinary pipelined cross-shard traffic, and little memory per shard.
pub const INBOX_LIMIT: usize = 4 << 20;

/// What a message costs besides its payload: the enum, its boxes and vector headers.
const MSG_OVERHEAD: usize = 64;

impl Msg {
    /// Approximate bytes this message holds, for the inbox bound (see the module docs).
    pub fn cost(&self) -> usize {
        // A gathered value is handed over, not copied: the memory it holds was already
        // counted in its shard's keyspace, so only the key and the slot count here (and
        // a big value costs no walk over its elements to weigh).
        let entries = |e: &KeyEntries| -> usize { e.iter().map(|(_, k, _)| 32 + k.len()).sum() };
        MSG_OVERHEAD
            + match self {
                Msg::Exec(r) => r.args.data.len() + 4 * r.args.ends.len(),
                Msg::Reply { bytes, .. } => bytes.len(),
                Msg::Lock { plan: LockPlan::Keys(keys), .. } => keys.iter().map(|(_, k)| 8 + k.len()).sum(),
                Msg::Lock { plan: LockPlan::Whole, .. } => 0,
                Msg::Lock { plan: LockPlan::Hashes(h), .. } => 8 * h.len(),
                Msg::LockRun { part, .. } => part.req.args.data.len() + 12 * part.req.args.ends.len(),
                Msg::Locked { entries: e, .. } | Msg::Return { entries: e, .. } => entries(e),
                Msg::Release { writes, kept, .. } => entries(writes) + entries(kept),
                Msg::Run { .. } | Msg::Ran { .. } => 0,
                Msg::ExpireHeld(keys) => keys.iter().map(|(_, k)| 8 + k.len()).sum(),
                Msg::SlowEntry(e) => e.0.args.iter().map(|a| 16 + a.len()).sum(),
                Msg::Park(w) => w.args.data.len() + 4 * w.args.ends.len(),
                Msg::Publish(m) | Msg::SPublish(m) => m.iter().map(|(c, p)| 16 + c.len() + p.len()).sum(),
                Msg::Monitor(line) => line.len(),
                Msg::Hops(p) | Msg::Replies(p) => p.cost(),
            }
    }

    /// Is this a lock request? Those reach every shard in one global order.
    pub fn is_lock_request(&self) -> bool {
        matches!(self, Msg::Lock { .. } | Msg::LockRun { .. })
    }

    /// Does this message carry results that may reflect writes not yet logged? Those
    /// wait for the sender's log; requests and lock traffic never do (lock requests
    /// must reach every shard in global order).
    pub fn reveals_state(&self) -> bool {
        matches!(self, Msg::Reply { .. } | Msg::Replies(_) | Msg::Locked { .. } | Msg::Ran { .. })
    }
}

/// Messages waiting to leave this thread, one vector per destination shard.
pub struct Outbox {
    /// This thread's shard: the sender named in packed buffers.
    me: u16,
    pub per_dest: Vec<Vec<Msg>>,
    pub dirty: Vec<u16>,
    /// Cost queued per destination since the last flush.
    pending: Vec<usize>,
    /// Messages in each destination's last batch: the next one starts at that
    /// capacity instead of growing from empty every turn (`take`).
    last_len: Vec<usize>,
    /// Each destination inbox's queued cost, as last read (`refresh`).
    seen: Vec<usize>,
    /// Some destination is over `INBOX_LIMIT`: stop parsing client input.
    full: bool,
    /// Emptied packed buffers that came from each peer, to carry the next records to
    /// it (`hopbatch`: no thread frees another's buffers).
    spare: Vec<Vec<Vec<u8>>>,
    /// Emptied message vectors (`recycle_batch`): the peers' batches once handled, and
    /// our own messages once taken out (`cmd::coord_split::take_own`). The next turn's
    /// batches start in them, so a batch goes back and forth between two threads
    /// instead of being allocated by one and freed by the other every turn.
    spare_batches: Vec<Vec<Msg>>,
}

/// Emptied message vectors kept at most (`Outbox::spare_batches`), and the biggest kept
/// (in messages).
const SPARE_BATCHES: usize = 16;
const SPARE_BATCH_CAPACITY: usize = 4096;

impl Outbox {
    pub fn new(me: usize, nshards: usize) -> Outbox {
        Outbox {
            me: me as u16,
            spare: (0..nshards).map(|_| Vec::new()).collect(),
            per_dest: (0..nshards).map(|_| Vec::new()).collect(),
            spare_batches: Vec::new(),
            dirty: Vec::new(),
            pending: vec![0; nshards],
            last_len: vec![0; nshards],
            seen: vec![0; nshards],
            full: false,
        }
    }

    pub fn push(&mut self, dest: usize, msg: Msg) {
        let cost = msg.cost();
        let v = &mut self.per_dest[dest];
        if v.is_empty() {
            self.dirty.push(dest as u16);
            if v.capacity() == 0 {
                if let Some(spare) = self.spare_batches.pop() {
                    *v = spare;
                }
                v.reserve(self.last_len[dest]);
            }
        }
        v.push(msg);
        self.add_pending(dest, cost);
    }

    /// Queues a keyed request for `dest` as a record of the packed buffer at the end of
    /// its queue (a new one if the last message is something else). False: too big
    /// for a record (`hopbatch::MAX_RECORD`); the caller sends it as `Msg::Exec`.
    pub fn push_exec<'a, I>(&mut self, dest: usize, head: &ExecHead, args: I) -> bool
    where
        I: ExactSizeIterator<Item = &'a [u8]> + Clone,
    {
        let Some(len) = hopbatch::exec_record_len(args.clone()) else { return false };
        self.packed_tail(dest, true).push_exec(head, args);
        self.add_pending(dest, len + hopbatch::RECORD_OVERHEAD);
        true
    }

    /// Queues a reply for a connection of shard `to.shard`, packed like `push_exec`.
    /// False: too big for a record; the caller sends it as `Msg::Reply`.
    pub fn push_reply(&mut self, to: ReplyTo, bytes: &[u8]) -> bool {
        if bytes.len() > hopbatch::MAX_RECORD {
            return false;
        }
        let dest = to.shard as usize;
        let len = self.packed_tail(dest, false).push_reply(to, bytes);
        self.add_pending(dest, len + hopbatch::RECORD_OVERHEAD);
        true
    }

    /// Keeps a packed buffer that came from `from`, emptied, to carry the next records
    /// back there (a few per peer, none too big: the rest are dropped).
    pub fn recycle(&mut self, from: u16, mut buf: Vec<u8>) {
        let Some(spare) = self.spare.get_mut(from as usize) else { return };
        if spare.len() < hopbatch::SPARES_PER_PEER && buf.capacity() <= hopbatch::SPARE_MAX_CAPACITY {
            buf.clear();
            spare.push(buf);
        }
    }

    /// Keeps an emptied batch vector for the next batch `push` starts (a few, none too
    /// big: the rest are dropped).
    pub fn recycle_batch(&mut self, mut batch: Vec<Msg>) {
        if batch.capacity() > 0 && batch.capacity() <= SPARE_BATCH_CAPACITY && self.spare_batches.len() < SPARE_BATCHES
        {
            batch.clear();
            self.spare_batches.push(batch);
        }
    }

    /// The packed buffer of requests (`hops`) or replies at the end of `dest`'s
    /// queue, opened if the last message is anything else (or is full), so records
    /// keep their order with every other message.
    fn packed_tail(&mut self, dest: usize, hops: bool) -> &mut Packed {
        let open = match self.per_dest[dest].last() {
            Some(Msg::Hops(p)) => hops && p.buf.len() < hopbatch::MAX_BATCH,
            Some(Msg::Replies(p)) => !hops && p.buf.len() < hopbatch::MAX_BATCH,
            _ => false,
        };
        if !open {
            let buf = self.spare[dest].pop().unwrap_or_else(|| Vec::with_capacity(hopbatch::FRESH_CAPACITY));
            let p = Packed::new(self.me, buf);
            self.push(dest, if hops { Msg::Hops(p) } else { Msg::Replies(p) });
        }
        match self.per_dest[dest].last_mut() {
            Some(Msg::Hops(p) | Msg::Replies(p)) => p,
            _ => unreachable!("a packed buffer was just queued"),
        }
    }

    fn add_pending(&mut self, dest: usize, cost: usize) {
        self.pending[dest] += cost;
        if self.pending[dest] + self.seen[dest] > INBOX_LIMIT {
            self.full = true;
        }
    }

    /// Is some destination's inbox over the bound, counting what we queued for it?
    /// Client input must wait (see the module docs).
    #[inline]
    pub fn full(&self) -> bool {
        self.full
    }

    /// Re-reads the destination inboxes' queued cost (`queued` per shard).
    pub fn refresh(&mut self, queued: impl Fn(usize) -> usize) {
        self.full = false;
        for d in 0..self.seen.len() {
            self.seen[d] = queued(d);
            if self.seen[d] + self.pending[d] > INBOX_LIMIT {
                self.full = true;
            }
        }
    }

    /// Takes `dest`'s batch to deliver it (its cost is then the inbox's to count).
    pub fn take(&mut self, dest: usize) -> Vec<Msg> {
        let batch = std::mem::take(&mut self.per_dest[dest]);
        self.last_len[dest] = batch.len().min(4096);
        self.flushed(dest);
        batch
    }

    /// `dest`'s batch has left: its cost is now counted by the inbox.
    pub fn flushed(&mut self, dest: usize) {
        self.pending[dest] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_reports_full_past_the_limit_and_refresh_clears_it() {
        let mut o = Outbox::new(0, 2);
        let big = |n: usize| Msg::Reply { to: ReplyTo { shard: 0, slot: 0, generation: 0, seq: 0 }, bytes: vec![0; n] };
        o.push(1, big(INBOX_LIMIT / 2));
        assert!(!o.full());
        o.push(1, big(INBOX_LIMIT / 2));
        assert!(o.full(), "pending cost past the limit");
        // Delivered: the inbox now holds it, still full until the receiver drains.
        o.flushed(1);
        o.refresh(|d| if d == 1 { INBOX_LIMIT + 128 } else { 0 });
        assert!(o.full());
        o.refresh(|_| 0);
        assert!(!o.full());
        // Another destination near the bound counts too.
        o.refresh(|d| if d == 0 { INBOX_LIMIT - 10 } else { 0 });
        assert!(!o.full());
        o.push(0, big(100));
        assert!(o.full());
    }

    #[test]
    fn packed_records_keep_their_order_with_other_messages_and_buffers_come_back() {
        let mut o = Outbox::new(0, 2);
        let head = |seq| ExecHead {
            seq,
            client_id: 9,
            slot: 1,
            generation: 2,
            db: 0,
            cmd: 3,
            proto: crate::resp::Proto::Resp2,
        };
        let args = [&b"get"[..], b"k"];
        assert!(o.push_exec(1, &head(0), args.iter().copied()));
        assert!(o.push_exec(1, &head(1), args.iter().copied()));
        o.push(1, Msg::Monitor(Arc::new(b"between".to_vec())));
        assert!(o.push_exec(1, &head(2), args.iter().copied()));
        let to = ReplyTo { shard: 1, slot: 4, generation: 5, seq: 6 };
        assert!(o.push_reply(to, b"+OK\r\n"));
        assert!(!o.push_reply(to, &vec![b'x'; hopbatch::MAX_RECORD + 1]), "a big reply travels on its own");
        let big = vec![b'v'; hopbatch::MAX_RECORD];
        assert!(!o.push_exec(1, &head(3), [&b"set"[..], b"k", &big].into_iter()));
        assert_eq!(o.dirty, vec![1]);
        let batch = o.take(1);
        let seqs = |p: &Packed| {
            let (mut pos, mut r, mut v) = (0, Vec::new(), Vec::new());
            while let Some(h) = p.next_exec(&mut pos, &mut r) {
                v.push(h.seq);
            }
            v
        };
        match &batch[..] {
            [Msg::Hops(a), Msg::Monitor(_), Msg::Hops(b), Msg::Replies(r)] => {
                assert_eq!((a.from, seqs(a), seqs(b)), (0, vec![0, 1], vec![2]));
                let mut pos = 0;
                assert_eq!(r.next_reply(&mut pos), Some((ReplyTo { shard: 0, ..to }, &b"+OK\r\n"[..])));
            }
            other => panic!("{} messages", other.len()),
        }
        // A buffer read here goes back to its sender as the next record's carrier.
        let Some(Msg::Hops(p)) = batch.into_iter().next() else { unreachable!() };
        let ptr = p.buf.as_ptr();
        o.recycle(1, p.buf);
        assert!(o.push_exec(1, &head(7), args.iter().copied()));
        let Some(Msg::Hops(p)) = o.take(1).pop() else { panic!("packed") };
        assert_eq!(p.buf.as_ptr(), ptr, "the spare carried it");
    }

    #[test]
    fn owned_args_round_trip() {
        let a = OwnedArgs::from_slices([&b"set"[..], b"", b"value"].into_iter());
        assert_eq!(a.len(), 3);
        assert_eq!(a.get(0), b"set");
        assert_eq!(a.get(1), b"");
        assert_eq!(a.get(2), b"value");
    }
}
