//! Clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, XREAD, XREADGROUP ...), per shard.
//!
//! A waiter is parked on the shard that owns its keys, in FIFO order per key. When a
//! write touches a key with waiters, the shard re-runs the first waiter's command; if it
//! can pop now, the reply goes to the client, otherwise it stays parked. Deadlines are
//! checked by the shard's timer.
//!
//! A command whose keys live on several shards parks one waiter per shard, all sharing
//! a claim token: whichever shard first has data (or reaches the deadline) claims the
//! token and answers; the other parts then drop out when they next look.

use super::msg::{OwnedArgs, ReplyTo};
use crate::resp::Proto;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a blocking command with nothing to do answers where it cannot wait (inside
/// MULTI/EXEC or a script). At a timeout every wait answers a null array, as in Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoWaitReply {
    /// `*-1` (RESP3 `_`): BLPOP, BRPOP, BZPOPMIN/MAX, BLMPOP, BZMPOP, XREAD(GROUP).
    NullArray,
    /// `$-1` (RESP3 `_`): BLMOVE, BRPOPLPUSH.
    NullBulk,
}

/// Set by a handler that found nothing to pop and wants to wait.
#[derive(Clone, Debug)]
pub struct BlockReq {
    /// Keys whose change may let the command proceed (sources, not destinations).
    pub keys: Vec<Vec<u8>>,
    /// Unix ms; 0 waits forever.
    pub deadline_ms: u64,
    /// Where the command cannot wait (MULTI/EXEC, a script).
    pub no_wait_reply: NoWaitReply,
    /// The type a source key must hold for the command to proceed ("list", "zset").
    pub ready_type: &'static str,
    /// The non-blocking form (LMOVE for BLMOVE), used when the command's keys span
    /// shards: the shard that has data claims the wait and runs this as a cross-shard
    /// transaction instead.
    pub fallback: Option<OwnedArgs>,
    /// The arguments to re-run instead of the request's own when a key is touched
    /// (XREAD with `$` resolved to the ID it stood for when it blocked).
    pub rerun: Option<OwnedArgs>,
}

/// Shared by the parts of one wait; the first to swap it to true answers the client.
#[derive(Clone, Debug, Default)]
pub struct Claim(Arc<AtomicBool>);

impl Claim {
    pub fn try_claim(&self) -> bool {
        !self.0.swap(true, Ordering::AcqRel)
    }

    pub fn is_claimed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone, Debug)]
pub struct Waiter {
    pub id: u64,
    pub to: ReplyTo,
    pub client_id: u64,
    pub db: u16,
    pub proto: Proto,
    pub cmd: u16,
    pub args: OwnedArgs,
    pub req: BlockReq,
    pub claim: Claim,
    /// This part's keys span other shards too (serve through the fallback path).
    pub split: bool,
}

#[derive(Default)]
pub struct BlockTable {
    waiters: HashMap<u64, Waiter>,
    /// (db, key) -> waiter ids in arrival order.
    by_key: HashMap<(u16, Vec<u8>), VecDeque<u64>>,
    next_id: u64,
    /// Keys written since the last serve pass that have waiters.
    pub ready: Vec<(u16, Vec<u8>)>,
}

impl BlockTable {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn add(&mut self, mut w: Waiter) -> u64 {
        self.next_id += 1;
        w.id = self.next_id;
        for k in &w.req.keys {
            self.by_key.entry((w.db, k.clone())).or_default().push_back(w.id);
        }
        let id = w.id;
        self.waiters.insert(id, w);
        id
    }

    pub fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.req.keys {
            let key = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&key) {
                q.retain(|x| *x != id);
                if q.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        Some(w)
    }

    /// A write touched (db, key): remember it if someone waits on it.
    #[inline]
    pub fn touched(&mut self, db: u16, key: &[u8]) {
        if !self.waiters.is_empty() && self.by_key.contains_key(&(db, key.to_vec())) {
            self.ready.push((db, key.to_vec()));
        }
    }

    /// Every key someone waits on in `db` may have changed (SWAPDB brought in
    /// another database): remember them all.
    pub fn touched_db(&mut self, db: u16) {
        self.ready.extend(self.by_key.keys().filter(|(d, _)| *d == db).cloned());
    }

    /// Waiter ids parked on (db, key), oldest first.
    pub fn waiting_on(&self, db: u16, key: &[u8]) -> Vec<u64> {
        self.by_key.get(&(db, key.to_vec())).map(|q| q.iter().copied().collect()).unwrap_or_default()
    }

    pub fn get(&self, id: u64) -> Option<&Waiter> {
        self.waiters.get(&id)
    }

    /// Waiters whose deadline passed, or whose claim another part took.
    pub fn expired(&self, now_ms: u64) -> Vec<u64> {
        self.waiters
            .values()
            .filter(|w| w.claim.is_claimed() || (w.req.deadline_ms != 0 && w.req.deadline_ms <= now_ms))
            .map(|w| w.id)
            .collect()
    }

    /// The earliest deadline, for the loop's sleep bound.
    pub fn next_deadline(&self) -> Option<u64> {
        self.waiters.values().map(|w| w.req.deadline_ms).filter(|d| *d != 0).min()
    }

    /// Ids of the clients with a waiter here.
    pub fn client_ids(&self) -> Vec<u64> {
        self.waiters.values().map(|w| w.client_id).collect()
    }

    /// Waiters of a client (CLIENT UNBLOCK, disconnect).
    pub fn of_client(&self, client_id: u64) -> Vec<u64> {
        self.waiters.values().filter(|w| w.client_id == client_id).map(|w| w.id).collect()
    }
}
