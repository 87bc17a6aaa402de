//! systemd units instead of processes: `shardis-pool units` writes each instance's
//! shardis.conf (as `up` would) and, for the template unit `shardis@.service`
//! (`deploy/shardis@.service`), one drop-in per instance with its CPU and NUMA
//! placement, so `systemctl start shardis@NAME` runs it under systemd (Type=notify).

use super::spec::{Pool, server_config};
use crate::config::parse::format_cpus;
use std::path::Path;

/// The template unit. `%i` is the instance name; its configuration lives in
/// `<pool dir>/%i/shardis.conf`, named by the drop-in's `Environment=`.
pub fn template(server: &Path) -> String {
    format!(
        "# shardis pool instance %i (written by shardis-pool units)
[Unit]
Description=shardis pool instance %i
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={} ${{SHARDIS_CONF}} --supervised systemd --daemonize no
Restart=on-failure
LimitNOFILE=65536
KillSignal=SIGTERM
TimeoutStartSec=15min
TimeoutStopSec=15min

[Install]
WantedBy=multi-user.target
",
        server.display()
    )
}

/// One instance's drop-in: its config file, CPUs and NUMA memory policy.
pub fn drop_in(pool: &Pool, i: &super::spec::Instance) -> String {
    let mut s = format!("[Service]\nEnvironment=SHARDIS_CONF={}\n", i.dir.join("shardis.conf").display());
    if !i.cpus.is_empty() {
        s.push_str(&format!("CPUAffinity={}\n", format_cpus(&i.cpus).replace(',', " ")));
    }
    if let Some(n) = i.node {
        s.push_str(&format!(
            "NUMAPolicy={}\nNUMAMask={n}\n",
            if pool.numa_policy == "preferred" { "preferred" } else { "bind" }
        ));
    }
    s
}

/// Writes the template, the drop-ins and every instance's shardis.conf; returns the
/// report lines (what to enable).
pub fn write(pool: &Pool, out: &Path, server: &Path) -> Result<Vec<String>, String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    std::fs::create_dir_all(out).map_err(|e| err(out, e))?;
    let t = out.join("shardis@.service");
    std::fs::write(&t, template(server)).map_err(|e| err(&t, e))?;
    let mut lines = vec![format!("wrote {}", t.display())];
    for i in &pool.instances {
        std::fs::create_dir_all(&i.dir).map_err(|e| err(&i.dir, e))?;
        let conf = i.dir.join("shardis.conf");
        std::fs::write(&conf, server_config(pool, i)).map_err(|e| err(&conf, e))?;
        let d = out.join(format!("shardis@{}.service.d", i.name));
        std::fs::create_dir_all(&d).map_err(|e| err(&d, e))?;
        let f = d.join("pool.conf");
        std::fs::write(&f, drop_in(pool, i)).map_err(|e| err(&f, e))?;
        lines.push(format!("wrote {} and {}", conf.display(), f.display()));
    }
    let names: Vec<String> = pool.instances.iter().map(|i| format!("shardis@{}", i.name)).collect();
    lines.push(format!("then: systemctl daemon-reload && systemctl enable --now {}", names.join(" ")));
    if pool.cluster {
        lines.push(format!(
            "and form the cluster once they run: shardis-pool up --dir {} (it finds them running)",
            pool.dir.display()
        ));
    }
    Ok(lines)
}
