//! DEBUG POPULATE and DEBUG CHANGE-REPL-ID (the rest of DEBUG is `cmd::debug`).
//!
//! POPULATE creates `count` string keys `<prefix>:<n>` (prefix `key`) holding
//! `value:<n>`, or that text cut or zero-padded to `size` bytes, in the selected
//! database, skipping names that exist, as Redis's does. Each shard creates the keys
//! it owns (a fan-out), so the command is not atomic across shards. Like Redis it
//! neither counts the keys as changes nor propagates them.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::{Args, CmdError};
use crate::shard::{HopResult, ShardState, shard_of};
use crate::storage::Value;
use std::sync::Arc;

/// Redis's `getPositiveLongFromObjectOrReply` (zero allowed; one error for both a
/// negative number and no number at all).
fn positive(a: &Args, i: usize) -> Result<u64, CmdError> {
    match a.i64(i) {
        Ok(v) if v >= 0 => Ok(v as u64),
        _ => Err(CmdError::msg("ERR value is out of range, must be positive")),
    }
}

pub fn populate(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let count = positive(a, 2)?;
    let size = if a.len() == 5 { positive(a, 4)? as usize } else { 0 };
    let prefix = if a.len() >= 4 { a.get(3).to_vec() } else { b"key".to_vec() };
    let db = c.sess.db as usize;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            let now = st.now_ms;
            let mut key = Vec::new();
            for j in 0..count {
                key.clear();
                key.extend_from_slice(&prefix);
                key.extend_from_slice(format!(":{j}").as_bytes());
                if shard_of(&key, st.nshards) != st.id || st.dbs[db].get(&key, now).is_some() {
                    continue;
                }
                let mut val = format!("value:{j}").into_bytes();
                if size > 0 {
                    val.resize(size, 0);
                }
                st.dbs[db].set(&key, Value::Str(val.into()), 0);
                st.watch.touch(db as u16, &key);
            }
            st.account_expired();
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

/// A new replication id, and no previous one (Redis's changeReplicationId +
/// clearReplicationId2): replicas must resync in full.
pub fn change_repl_id(c: &mut ConnCtx) -> Result<ConnOutcome, CmdError> {
    c.st.shared.repl.reset_ids(crate::repl::state::random_replid(), "0".repeat(40), -1);
    c.out.ok();
    Ok(ConnOutcome::Done)
}
