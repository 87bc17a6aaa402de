//! INFO `# Replication` (and the sync counters of `# Stats`), from `ReplState` and what
//! the replication thread publishes. The replica side adds its fields (role:slave,
//! master_host ...) in its own function; `master_fields` are Redis's fields that both
//! roles print after them.

use crate::config::Config;
use crate::shard::Shared;
use std::fmt::Write;
use std::sync::atomic::Ordering;

const R: Ordering = Ordering::Relaxed;

/// The section's body for a master: `role:master`, then the shared fields.
pub fn master_section(shared: &Shared, cfg: &Config, s: &mut String) {
    s.push_str("role:master\r\n");
    master_fields(shared, cfg, s);
}

/// connected_slaves, the slaveN lines, failover state, ids, offsets, backlog.
pub fn master_fields(shared: &Shared, cfg: &Config, s: &mut String) {
    let repl = &shared.repl;
    let p = &repl.pub_info;
    let rows = p.rows.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let _ = write!(s, "connected_slaves:{}\r\n", rows.len());
    for (i, r) in rows.iter().enumerate() {
        let _ =
            write!(s, "slave{i}:ip={},port={},state={},offset={},lag={}\r\n", r.ip, r.port, r.state, r.offset, r.lag);
    }
    let _ = write!(s, "master_failover_state:{}\r\n", super::failover::phase(shared).name());
    let ids = repl.ids();
    let active = p.backlog_active.load(R);
    let _ = write!(
        s,
        "master_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:{}\r\n",
        ids.replid,
        ids.replid2,
        super::master::answered_offset(shared),
        ids.second_offset
    );
    let size = cfg.compat_value("repl-backlog-size").and_then(crate::config::parse::parse_memory).unwrap_or(1 << 20);
    let _ = write!(
        s,
        "repl_backlog_active:{}\r\nrepl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        active as u8,
        if active { p.backlog_first_byte.load(R) } else { 0 },
        if active { p.backlog_histlen.load(R) } else { 0 },
    );
}

/// `sync_full`, `sync_partial_ok`, `sync_partial_err` for `# Stats`, then shardis's
/// own counters of how the stream left (no Redis equivalent): `repl_zc_sends`
/// (zero-copy SEND_ZC sends), `repl_zc_sends_kernel_copied` (of those, the ones the
/// kernel copied anyway, as it does over loopback) and `repl_copied_sends` (plain
/// sends: small ones, or all when zero-copy is off or refused).
pub fn sync_stats(shared: &Shared, s: &mut String) {
    let p = &shared.repl.pub_info;
    let _ = write!(
        s,
        "sync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n",
        p.sync_full.load(R),
        p.sync_partial_ok.load(R),
        p.sync_partial_err.load(R)
    );
    let _ = write!(
        s,
        "repl_zc_sends:{}\r\nrepl_zc_sends_kernel_copied:{}\r\nrepl_copied_sends:{}\r\n",
        p.zc_sends.load(R),
        p.zc_kernel_copied.load(R),
        p.copied_sends.load(R)
    );
}
