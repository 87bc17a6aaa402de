//! PUBLISH and SPUBLISH run by a script (`redis.call('publish', ch, msg)`).
//!
//! A client's PUBLISH fans out to every thread, each delivering to its subscribers and
//! counting them (`cmd::pubsub`). A script holds its thread until it returns, so it
//! can neither wait for the others nor let them run into its keys: its PUBLISH counts
//! the receivers in the server-wide census of subscriptions (`shard::pubsub::Census`)
//! and the message is delivered as soon as the script's command returns
//! (`script::settle`): to this thread's subscribers at once, to the other threads'
//! through their inboxes, the way keyspace events travel. The script's thread keeps
//! its subscribers still until then; a client of another thread that subscribes or
//! leaves in between is counted as the census saw it.
//!
//! Redis 7.0 propagates it to the replication stream only (`PROPAGATE_REPL`), among
//! the script's effects and inside their MULTI/EXEC (`script::run_script`), so a
//! replica's subscribers get it too; the AOF never holds it.

use crate::shard::{Msg, ShardState, Shared};
use std::sync::Arc;

/// One message a script published: SPUBLISH or PUBLISH, channel, message.
pub(super) type Published = (bool, Vec<u8>, Vec<u8>);

/// The reply of the script's PUBLISH / SPUBLISH (`shard` true) on `channel`: how many
/// subscribers, on every thread, the message is for.
pub(super) fn receivers(shared: &Shared, shard: bool, channel: &[u8]) -> usize {
    if shard { shared.pubsub_census.shard_receivers(channel) } else { shared.pubsub_census.receivers(channel) }
}

/// Delivers what a script published, in order: here now, on the other threads when
/// they drain their inboxes.
pub(super) fn deliver(st: &mut ShardState, published: Vec<Published>) {
    let mut plain = Vec::new();
    let mut sharded = Vec::new();
    for (shard, ch, m) in published {
        if shard {
            st.spublish_local(&ch, &m);
            sharded.push((ch, m));
        } else {
            st.publish_local(&ch, &m);
            plain.push((ch, m));
        }
    }
    if st.nshards == 1 {
        return;
    }
    let (plain, sharded) = (Arc::new(plain), Arc::new(sharded));
    for s in (0..st.nshards).filter(|&s| s != st.id) {
        if !plain.is_empty() {
            st.outbox.push(s, Msg::Publish(plain.clone()));
        }
        if !sharded.is_empty() {
            st.outbox.push(s, Msg::SPublish(sharded.clone()));
        }
    }
}
