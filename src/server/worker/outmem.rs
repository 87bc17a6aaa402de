//! The worker's side of client memory: `client-output-buffer-limit`, the metadata
//! CLIENT LIST and the memory limits read, and giving back what bursts leave behind.
//!
//! - After a connection gains output (replies, Pub/Sub messages, output held for the
//!   AOF) or a send completes, `account_output` copies its sizes into its
//!   `ClientMeta` and checks its class's limit (`net::outlimit`); a client over it is
//!   closed at once, its output dropped, with Redis's log line.
//! - The cron re-checks clients whose soft-limit timer runs (an idle client past its
//!   soft seconds is closed, as Redis 7.0's clientsCron does), releases buffers that
//!   idle connections no longer need, and has mimalloc return freed pages.

use super::Worker;
use crate::config::Config;
use crate::net::outlimit::{OutputClass, OutputLimits};
use crate::shard::state::ClientMeta;
use crate::util::log;
use std::sync::Arc;

/// Connections idle this long give back their grown buffers.
const SHRINK_AFTER_IDLE_MS: u64 = 2000;
/// Buffers this large are given back at the next cron once empty, idle or not.
const SHRINK_BIG_BUF: usize = 1 << 20;
/// How often each shard asks the allocator to return freed pages.
const COLLECT_EVERY_MS: u64 = 1000;

/// The parsed output limits of each class, for the config they came from.
#[derive(Default)]
pub(super) struct ClassLimits {
    config: Option<Arc<Config>>,
    normal: OutputLimits,
    replica: OutputLimits,
    pubsub: OutputLimits,
}

impl ClassLimits {
    /// The limits under `config`, parsed again only when the config changed.
    fn get(&mut self, config: &Arc<Config>, class: OutputClass) -> OutputLimits {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.normal = OutputLimits::of(config, OutputClass::Normal);
            self.replica = OutputLimits::of(config, OutputClass::Replica);
            self.pubsub = OutputLimits::of(config, OutputClass::PubSub);
            self.config = Some(config.clone());
        }
        match class {
            OutputClass::Normal => self.normal,
            OutputClass::Replica => self.replica,
            OutputClass::PubSub => self.pubsub,
        }
    }
}

/// The output-limit class of a client, as Redis's `getClientType` decides it; `None`
/// for the link to our master, which is never limited.
fn output_class(m: &ClientMeta) -> Option<OutputClass> {
    if m.master {
        None
    } else if m.replica {
        Some(OutputClass::Replica)
    } else if m.sub + m.psub > 0 {
        Some(OutputClass::PubSub)
    } else {
        Some(OutputClass::Normal)
    }
}

impl Worker {
    /// `slot`'s output changed: refresh its metadata and enforce its output limit.
    /// Returns false if the connection is gone or closing.
    pub(super) fn account_output(&mut self, slot: u32) -> bool {
        let now = self.st.now_ms;
        let Some(c) = self.conns[slot as usize].as_mut() else { return false };
        if c.closing {
            return false;
        }
        let Some(m) = self.st.clients.get_mut(&c.sess.id) else { return true };
        c.sync_meta(m);
        m.reply_buf.observe(m.omem, now, self.st.reply_buffer_policy);
        let Some(class) = output_class(m) else { return true };
        let limits = self.class_limits.get(&self.st.config, class);
        if !c.out_limit.over(m.omem as u64, &limits, now) {
            return true;
        }
        log::warning(&format!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            crate::cmd::client::info_line(m, now)
        ));
        self.st.stats.output_limit_disconnections += 1;
        c.discard_output();
        c.close_after_flush = true;
        self.begin_close(slot);
        self.try_finalize(slot);
        false
    }

    /// Cron: soft output limits of quiet clients, idle buffers, freed pages.
    pub(super) fn client_memory_cron(&mut self, now: u64) {
        let mut freed = 0;
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_mut() else { continue };
            if c.closing {
                continue;
            }
            if c.out_limit.soft_pending() && !self.account_output(slot as u32) {
                continue;
            }
            let Some(c) = self.conns[slot].as_mut() else { continue };
            let idle = !self.st.clients.contains_key(&c.sess.id)
                || now.saturating_sub(c.last_interaction_ms) >= SHRINK_AFTER_IDLE_MS;
            if idle || c.memory() > SHRINK_BIG_BUF {
                let n = c.shrink_idle();
                if n > 0 {
                    freed += n;
                    if let Some(m) = self.st.clients.get_mut(&c.sess.id) {
                        c.sync_meta(m);
                    }
                }
            }
        }
        if freed > 0 || now >= self.next_collect_ms {
            self.next_collect_ms = now + COLLECT_EVERY_MS;
            crate::io::alloc::collect_thread();
        }
    }
}
