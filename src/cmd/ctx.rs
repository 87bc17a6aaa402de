//! What a handler sees: `ExecCtx` for keyed commands (a shard's databases), `ConnCtx`
//! for connection-level commands (the session and the whole thread), and `Session`,
//! the per-connection state that commands read and change.

use crate::config::Config;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::{Hop, HopResult, ShardState, ShardStats};
use crate::storage::Db;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skipping,
}

/// Per-connection state that commands read and change.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: u64,
    pub db: u16,
    pub proto: Proto,
    pub authenticated: bool,
    pub reply: ReplyMode,
    /// Commands queued since MULTI.
    pub multi: Option<super::multi::MultiQueue>,
    /// Pub/Sub channels and patterns this client is subscribed to.
    pub subs: std::collections::HashSet<Vec<u8>>,
    pub psubs: std::collections::HashSet<Vec<u8>>,
}

impl Session {
    pub fn new(id: u64, needs_auth: bool) -> Session {
        Session {
            id,
            db: 0,
            proto: Proto::Resp2,
            authenticated: !needs_auth,
            reply: ReplyMode::On,
            multi: None,
            subs: Default::default(),
            psubs: Default::default(),
        }
    }
}

/// Context of a keyed command: the databases of the shard that owns its keys (or the
/// gathered copies, for a cross-shard command), the clock and the reply buffer.
pub struct ExecCtx<'a> {
    pub dbs: &'a mut [Db],
    pub db: usize,
    pub now_ms: u64,
    pub out: ReplyWriter<'a>,
    pub stats: &'a mut ShardStats,
    /// Number of changes the command made, for save points; > 0 also marks the command
    /// for propagation at the write choke point.
    pub dirty: u64,
    pub config: &'a Config,
    pub client_id: u64,
    /// Set by a blocking command that found nothing to do: park it instead of replying.
    pub block: Option<crate::shard::block::BlockReq>,
    /// "Propagate as ...": what the AOF (and replicas) get instead of the command's
    /// own arguments, for handlers that made a choice replay cannot repeat.
    pub prop: crate::persist::Prop,
}

impl<'a> ExecCtx<'a> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.dbs[self.db]
    }

    /// The selected database and the reply writer at once, so a handler can write a
    /// value it borrows from the database without copying it.
    #[inline]
    pub fn parts(&mut self) -> (&mut Db, &mut ReplyWriter<'a>, &mut ShardStats) {
        (&mut self.dbs[self.db], &mut self.out, &mut *self.stats)
    }
}

/// Combines fan-out results on the coordinating thread into the reply.
pub type Finish = Box<dyn FnOnce(&mut ShardState, Vec<(u16, HopResult)>, &mut ReplyWriter)>;

/// A keyless command that needs every shard: run `hop` on each, then `finish`.
pub struct FanOut {
    pub hop: Hop,
    /// Lock every shard whole first (FLUSHALL, SWAPDB): the command is atomic.
    pub lock_whole: bool,
    pub finish: Finish,
}

/// Combines the one result of a single-shard fan-out into the reply.
pub type FinishOne = Box<dyn FnOnce(&mut ShardState, HopResult, &mut ReplyWriter)>;

impl FanOut {
    /// A fan-out whose work runs on shard `shard` only (SCAN walks one shard per call).
    ///
    /// The other shards are still sent the hop but do nothing in it: a dedicated
    /// "target" field would have to be added to every `FanOut` literal across the
    /// command families, so the targeting lives in the hop instead. `finish` sees only
    /// the target's result.
    pub fn single(shard: usize, hop: Hop, finish: FinishOne) -> FanOut {
        FanOut {
            hop: std::sync::Arc::new(move |st: &mut ShardState| -> HopResult {
                if st.id == shard { hop(st) } else { Box::new(()) }
            }),
            lock_whole: false,
            finish: Box::new(move |st, results, out| {
                let r = results.into_iter().find(|(s, _)| *s as usize == shard).map(|(_, r)| r);
                finish(st, r.expect("the target shard answers"), out)
            }),
        }
    }
}

pub enum ConnOutcome {
    Done,
    /// Close the connection once the reply is sent (QUIT).
    Close,
    FanOut(FanOut),
    /// EXEC: run the queued transaction.
    Exec(Box<super::multi::ExecPlan>),
}

/// Context of a connection-level command.
pub struct ConnCtx<'a> {
    pub sess: &'a mut Session,
    pub st: &'a mut ShardState,
    pub out: ReplyWriter<'a>,
}
