//! The snapshot of a full sync: a cut (`persist::cut`) whose leader pushes the cut
//! mark, waits for the replication thread to give the stream position there, and forks
//! a child that writes the RDB (aux `repl-id`, `repl-offset`, `repl-stream-db`, as
//! Redis 7 writes them) to a temp file the replication thread then sends.

use super::master::CutMark;
use super::state::Segment;
use crate::cmd::ctx::FanOut;
use crate::io::proc::{self, Forked};
use crate::persist::cut::{self, World};
use crate::persist::rdbfile;
use crate::shard::{ShardState, Shared};
use crate::util::log;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Shard 0's turn: start the cut the replication thread asked for, if any.
pub fn cron(st: &mut ShardState) {
    let p = &st.shared.repl.pub_info;
    if p.cut_wanted.load(Ordering::Relaxed) && !p.cut_started.swap(true, Ordering::SeqCst) {
        crate::cmd::coord::start_fanout_detached(st, fanout());
    }
}

fn fanout() -> FanOut {
    cut::cut(leader, None, |st: &mut ShardState, _r: Option<()>, _out| {
        st.shared.repl.pub_info.cut_started.store(false, Ordering::SeqCst);
    })
}

fn leader(w: &mut World) {
    let mark = Arc::new(CutMark::default());
    w.shared.repl.push(Segment::Mark(mark.clone()));
    let Some((replid, offset)) = mark.wait_position(w.shared) else {
        mark.set_child(Err("shutting down".into()));
        return;
    };
    let cfg = w.shared.config();
    let now = Shared::now_unix_ms();
    let path = PathBuf::from(&cfg.dir).join(format!(
        "temp-repl-{}-{}.rdb",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    // SAFETY: this is a cut's leader: every other shard thread waits at the rendezvous,
    // the replication thread touches no shard data and holds no lock the child takes;
    // the child uses no ring and ends with `exit_now`.
    match unsafe { proc::fork() } {
        Err(e) => {
            log::warning(&format!("Can't save in background: fork: {e}"));
            mark.set_child(Err(format!("fork: {e}")));
        }
        Ok(Forked::Child) => {
            proc::unpin();
            let mut opts = rdbfile::write_options(&cfg, now);
            opts.repl = Some((replid, offset));
            let code = match std::fs::File::create(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| crate::rdb::write_snapshot(&w.views(), f, &opts).map_err(|e| e.to_string()))
            {
                Ok(_) => 0,
                Err(e) => {
                    log::warning(&format!("Write error saving DB on disk: {e}"));
                    1
                }
            };
            proc::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => {
            log::notice(&format!("Background saving started by pid {pid}"));
            mark.set_child(Ok((pid, path)));
        }
    }
}
