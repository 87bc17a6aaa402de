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
    leader: Option<LeaderFn<R>>,
}

struct Rendezvous<R> {
    state: Mutex<State<R>>,
    cv: Condvar,
}

impl<R: Send + 'static> Rendezvous<R> {
    /// Stops this shard at the cut. Returns the leader's result on the leader's shard.
    fn arrive(&self, st: &mut ShardState, each: Option<&Each>) -> Option<R> {
        let n = st.nshards;
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
        let mut result = None;
        if g.arrived == n {
            g.phase = Phase::Leading;
            let slots = std::mem::take(&mut g.slots);
            let leader = g.leader.take().expect("the leader runs once");
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
            while g.phase == Phase::Gathering || g.phase == Phase::Leading {
                let (ng, _) = self.cv.wait_timeout(g, Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner());
                g = ng;
                // A shutdown may stop a shard before it reaches the cut: give up
                // rather than wait forever (only before the leader started).
                if g.phase == Phase::Gathering && st.shared.shutdown.load(Ordering::SeqCst) {
                    g.phase = Phase::Aborted;
                    self.cv.notify_all();
                }
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
    let rv = Arc::new(Rendezvous {
        state: Mutex::new(State {
            phase: Phase::Gathering,
            slots: Vec::new(),
            arrived: 0,
            started: None,
            leader: Some(Box::new(leader)),
        }),
        cv: Condvar::new(),
    });
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
