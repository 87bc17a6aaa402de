//! A consistent cut: every shard thread stopped at a clean point with all of its
//! keyspace settled, so one thread can see (or fork) the whole dataset as of one
//! instant. SAVE writes the snapshot right there, BGSAVE forks there, and so does the AOF
//! rewrite (BGREWRITEAOF, `persist::rewrite`).
//!
//! ## How
//!
//! A cut is a fan-out that locks every shard whole (`cmd::coord`, `lock_whole`):
//! 1. Whole-shard locks are granted in the global transaction order, so once every
//!    shard granted, every earlier cross-shard transaction has applied its writes
//!    everywhere and no later one has started: no MSET is half in the cut.
//! 2. The coordinator then sends each shard the cut's hop. Each shard runs it while
//!    draining its inbox (between two messages, never inside a command), publishes a
//!    pointer to its databases (`dbview::ShardDbs`) and waits at a rendezvous.
//! 3. The last shard to arrive is the leader: it runs the leader work with a
//!    [`World`] holding every shard's databases (shard order), while the others wait.
//!    Nothing else runs anywhere, so memory is quiescent: a `fork()` here gives the
//!    child a coherent copy of every shard.
//! 4. Everyone is released; `each` (optional) runs on every shard right after, still
//!    at the cut (e.g. "start buffering the rewrite diff from here"). The fan-out's
//!    finish gets the leader's result on the coordinating shard and the locks go.
//!
//! The stop lasts from the first arrival to the release: a few message hops plus the
//! leader work (a `fork()`: page-table copy, ~10 ms per GB). `World::started` lets the
//! leader measure it.
//!
//! A *led* cut ([`cut_led`]) names its leader instead: that shard waits for the others
//! and runs the leader work with its own `ShardState` (a script that may touch any key,
//! `cmd::script_all`), reading the other shards' keys through [`peer_entry`]. While it
//! runs, the waiting shards keep their busy door open (`script::serve_busy_door`), so
//! a long script still gets `-BUSY` answers and SCRIPT KILL from every listener.
//!
//! While the shards gather (before the leader starts), a server shutdown aborts the
//! cut: the waiters leave and the finish sees `None`. Needs one thread per shard (the
//! single-threaded test harness cannot cut with more than one shard).
//!
//! ## API (SAVE/BGSAVE, BGREWRITEAOF)
//!
//! ```ignore
//! let fan = cut::cut(
//!     |w: &mut World| { /* fork or write; w.views() is &[&[Db]] for rdb/aof writers */ },
//!     None,                                 // or Some(Arc::new(|st| ...)) per shard
//!     |st, result: Option<R>, out| { ... }, // on the coordinating shard; None = aborted
//! );
//! // from a command: Ok(ConnOutcome::FanOut(fan)); from a cron: coord::start_detached
//! ```

use super::dbview::ShardDbs;
use crate::cmd::ctx::FanOut;
use crate::resp::ReplyWriter;
use crate::shard::{HopResult, ShardState, Shared};
use crate::storage::Db;
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the leader work sees: every shard stopped.
pub struct World<'a> {
    /// Each shard's databases, in shard order.
    pub dbs: Vec<&'a mut Vec<Db>>,
    /// Each shard's `dirty` counter at the cut.
    pub dirty: Vec<u64>,
    pub shared: &'a Shared,
    /// When the first shard stopped.
    pub started: Instant,
}

impl World<'_> {
    /// Read-only views for writers (`rdb::write_snapshot`): `[shard][db]`.
    pub fn views(&self) -> Vec<&[Db]> {
        self.dbs.iter().map(|d| d.as_slice()).collect()
    }

    /// The function libraries' code, for a snapshot taken at this cut.
    pub fn function_codes(&self) -> Vec<Vec<u8>> {
        crate::cmd::function::library_codes(&self.shared.script)
    }
}

/// Work run on every shard right after the leader's.
pub type Each = Arc<dyn Fn(&mut ShardState) + Send + Sync>;

type LeaderFn<R> = Box<dyn FnOnce(&mut World) -> R + Send>;

/// The leader work of a led cut: on its shard, with that shard's own state.
type LedFn<R> = Box<dyn FnOnce(&mut ShardState) -> R + Send>;

enum Leader<R> {
    /// The last shard to arrive leads, with every shard's databases.
    Last(LeaderFn<R>),
    /// This shard leads, with its own state; the others' keys through `peer_entry`.
    Shard(usize, LedFn<R>),
}

#[derive(PartialEq, Eq)]
enum Phase {
    Gathering,
    Leading,
    Done,
    Aborted,
}

struct State<R> {
    phase: Phase,
    slots: Vec<Option<(ShardDbs, u64)>>,
    arrived: usize,
    started: Option<Instant>,
    leader: Option<Leader<R>>,
}

struct Rendezvous<R> {
    state: Mutex<State<R>>,
    cv: Condvar,
}

impl<R: Send + 'static> Rendezvous<R> {
    fn new(leader: Leader<R>) -> Arc<Rendezvous<R>> {
        Arc::new(Rendezvous {
            state: Mutex::new(State {
                phase: Phase::Gathering,
                slots: Vec::new(),
                arrived: 0,
                started: None,
                leader: Some(leader),
            }),
            cv: Condvar::new(),
        })
    }

    /// Stops this shard at the cut. Returns the leader's result on the leader's shard.
    fn arrive(&self, st: &mut ShardState, each: Option<&Each>) -> Option<R> {
        let n = st.nshards;
        // The leader may replace or load this shard's databases from its own thread.
        st.db_watch.stale();
        // A replica's master command that finished counts in the offset this cut
        // records (`repl::apply`, rule 3).
        crate::repl::apply::settle(st);
        // Everything this shard fed the replication stream before the cut is queued
        // before the leader's cut mark (`repl::master`); from here on it feeds if a
        // backlog exists.
        st.aof.repl.flush(&st.shared.repl);
        st.aof.repl.on = st.shared.repl.feeds_stream();
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if g.phase == Phase::Aborted {
            return None;
        }
        if g.slots.is_empty() {
            g.slots = (0..n).map(|_| None).collect();
        }
        g.slots[st.id] = Some((ShardDbs::of(&mut st.dbs), st.dirty));
        g.arrived += 1;
        g.started.get_or_insert_with(Instant::now);
        let led_by = match &g.leader {
            Some(Leader::Shard(l, _)) => Some(*l),
            _ => None,
        };
        // Whoever leads may be waiting for this arrival.
        self.cv.notify_all();
        let mut result = None;
        if led_by == Some(st.id) {
            while g.arrived < n && g.phase == Phase::Gathering {
                let (ng, _) = self.cv.wait_timeout(g, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner());
                g = ng;
                if g.phase == Phase::Gathering && st.shared.shutdown.load(Ordering::SeqCst) {
                    g.phase = Phase::Aborted;
                    self.cv.notify_all();
                }
            }
            if g.phase == Phase::Aborted {
                return None;
            }
            g.phase = Phase::Leading;
            let slots = std::mem::take(&mut g.slots);
            let Some(Leader::Shard(_, lead)) = g.leader.take() else { unreachable!("a led cut's leader runs once") };
            drop(g);
            let peers = slots.into_iter().enumerate().map(|(s, p)| p.filter(|_| s != st.id).map(|(d, _)| d)).collect();
            result = Some(lend(peers, || lead(st)));
            g = self.state.lock().unwrap_or_else(|e| e.into_inner());
            g.phase = Phase::Done;
            self.cv.notify_all();
        } else if g.arrived == n && led_by.is_none() {
            g.phase = Phase::Leading;
            let slots = std::mem::take(&mut g.slots);
            let Some(Leader::Last(leader)) = g.leader.take() else { unreachable!("the leader runs once") };
            let started = g.started.expect("set on arrival");
            drop(g);
            let mut dirty = Vec::with_capacity(n);
            let mut dbs = Vec::with_capacity(n);
            for (p, d) in slots.into_iter().map(|s| s.expect("every shard arrived")) {
                // SAFETY: every other shard thread is blocked below until phase Done,
                // and this thread does not use `st.dbs` while `World` lives.
                dbs.push(unsafe { p.get() });
                dirty.push(d);
            }
            let shared = st.shared.clone();
            let mut world = World { dbs, dirty, shared: &shared, started };
            result = Some(leader(&mut world));
            drop(world);
            g = self.state.lock().unwrap_or_else(|e| e.into_inner());
            g.phase = Phase::Done;
            self.cv.notify_all();
        } else {
            let wait = if led_by.is_some() { Duration::from_millis(1) } else { Duration::from_millis(50) };
            while g.phase == Phase::Gathering || g.phase == Phase::Leading {
                let (ng, _) = self.cv.wait_timeout(g, wait).unwrap_or_else(|e| e.into_inner());
                g = ng;
                // A shutdown may stop a shard before it reaches the cut: give up
                // rather than wait forever (only before the leader started).
                if g.phase == Phase::Gathering && st.shared.shutdown.load(Ordering::SeqCst) {
                    g.phase = Phase::Aborted;
                    self.cv.notify_all();
                }
                if g.phase == Phase::Leading && led_by.is_some() {
                    // A led cut's leader may run a long script: answer this shard's
                    // new connections meanwhile, as the leader's thread does.
                    drop(g);
                    crate::script::serve_busy_door(&st.shared.script);
                    g = self.state.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
            if led_by.is_some() {
                crate::script::close_busy_door();
            }
            if g.phase == Phase::Aborted {
                return None;
            }
        }
        drop(g);
        if let Some(each) = each {
            each(st);
        }
        result
    }
}

/// Builds the fan-out that takes a cut, runs `leader` there, then `each` on every
/// shard, and hands the leader's result (None if the cut was aborted) to `finish` on
/// the coordinating shard.
pub fn cut<R, L, F>(leader: L, each: Option<Each>, finish: F) -> FanOut
where
    R: Send + 'static,
    L: FnOnce(&mut World) -> R + Send + 'static,
    F: FnOnce(&mut ShardState, Option<R>, &mut ReplyWriter) + 'static,
{
    fan_out(Rendezvous::new(Leader::Last(Box::new(leader))), each, finish)
}

/// Builds the fan-out of a *led* cut: shard `leader_shard` runs `leader` with its own
/// state once every shard stopped, reading their keys through [`peer_entry`]; then
/// `each` on every shard, and `finish` on the coordinating shard (None if aborted).
pub fn cut_led<R, L, F>(leader_shard: usize, leader: L, each: Option<Each>, finish: F) -> FanOut
where
    R: Send + 'static,
    L: FnOnce(&mut ShardState) -> R + Send + 'static,
    F: FnOnce(&mut ShardState, Option<R>, &mut ReplyWriter) + 'static,
{
    fan_out(Rendezvous::new(Leader::Shard(leader_shard, Box::new(leader))), each, finish)
}

fn fan_out<R, F>(rv: Arc<Rendezvous<R>>, each: Option<Each>, finish: F) -> FanOut
where
    R: Send + 'static,
    F: FnOnce(&mut ShardState, Option<R>, &mut ReplyWriter) + 'static,
{
    FanOut {
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            let r: Option<R> = rv.arrive(st, each.as_ref());
            Box::new(r)
        }),
        lock_whole: true,
        finish: Box::new(move |st, results, out| {
            let r = results.into_iter().find_map(|(_, r)| *r.downcast::<Option<R>>().ok()?);
            finish(st, r, out)
        }),
    }
}

thread_local! {
    /// During a led cut's leader work on this thread: each shard's databases (None
    /// for a shard not lent), for [`peer_entry`].
    static LENT: RefCell<Vec<Option<ShardDbs>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `dbs` (index = shard) readable through [`peer_entry`] on this thread.
fn lend<R>(dbs: Vec<Option<ShardDbs>>, f: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            LENT.with(|l| l.borrow_mut().clear());
        }
    }
    LENT.with(|l| *l.borrow_mut() = dbs);
    let _clear = Clear;
    f()
}

/// Inside a led cut's leader work: lends the leader's own databases (moved aside while
/// its work runs on a scratch keyspace) to [`peer_entry`] for the duration of `f`.
pub fn lend_own<R>(shard: usize, dbs: &mut Vec<Db>, f: impl FnOnce() -> R) -> R {
    let own = ShardDbs::of(dbs);
    let lent = LENT.with(|l| {
        let mut l = l.borrow_mut();
        if shard < l.len() {
            l[shard] = Some(own);
            true
        } else {
            false
        }
    });
    let r = f();
    if lent {
        LENT.with(|l| l.borrow_mut()[shard] = None);
    }
    r
}

/// [`peer_entry`] asked for a shard whose keys are not lent to this thread.
#[derive(Debug)]
pub struct NotLent;

/// A copy of `key`'s live entry in database `db` of shard `shard`, read during a led
/// cut's leader work (the shard is stopped at the cut, or it is the leader's own,
/// lent with [`lend_own`]). `Err(NotLent)` when that shard's keys are not in reach here.
pub fn peer_entry(shard: usize, db: u16, key: &[u8], now_ms: u64) -> Result<Option<crate::storage::Entry>, NotLent> {
    peer_db(shard, db, |d| {
        d.and_then(|d| d.peek_entry(key)).filter(|e| !crate::storage::has_expired(e.expire_at, now_ms))
    })
}

/// Runs `f` on database `db` of shard `shard` (None if there is no such db), read
/// during a led cut's leader work as [`peer_entry`] reads it. `f` must copy what it
/// keeps: nothing it returns may borrow from the shard.
pub fn peer_db<R>(shard: usize, db: u16, f: impl FnOnce(Option<&Db>) -> R) -> Result<R, NotLent> {
    LENT.with(|l| {
        let l = l.borrow();
        let Some(Some(p)) = l.get(shard) else { return Err(NotLent) };
        // SAFETY: a pointer is in `LENT` only while its shard waits at this cut's
        // rendezvous (`lend`, cleared before the phase goes to Done) or while the
        // leader's own databases are lent (`lend_own`, which holds their `&mut`); `f`
        // only reads, and what it returns is `'static` data it copied, never a key `Rc`.
        let dbs = unsafe { p.get() };
        Ok(f(dbs.get(db as usize)))
    })
}
