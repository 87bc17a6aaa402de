//! The panic hook: a panic anywhere ends the whole process, loudly.
//!
//! Job: a shard thread that panics must not leave a half-alive server behind (its
//! keys unreachable, every later SAVE, BGSAVE or FLUSHALL waiting forever for it). The
//! hook writes the message, the thread's name and a backtrace to the log and to
//! stderr, then ends the process with exit code 1 (`_exit`, at once, from the
//! panicking thread, before it unwinds).
//!
//! Why this keeps "acknowledged means logged": the panicking thread never returns to
//! its loop, so nothing it prepared is sent; the other shards keep their own ordering
//! (log write before reply) for the few milliseconds the backtrace takes, and then the
//! whole process is gone at once, so no reply can depend on the dead shard's work.
//!
//! `crash-log-enabled no` leaves the stack trace out (as Redis leaves out its crash
//! log, e.g. for cleaner core dumps): the message and the end line are still written.
//!
//! Non-goals: recovering. A panic means a broken invariant; restarting from the
//! AOF/RDB is the recovery.
//!
//! Depends on: `util::log`, `io::proc` (`_exit`).

use crate::util::log;
use std::io::Write;

/// Exit code after a panic (like a failed start-up).
pub const PANIC_EXIT_CODE: i32 = 1;

/// `crash-log-enabled`: a panic's report includes the stack trace.
static CRASH_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Follows `crash-log-enabled` (at start-up and on CONFIG SET).
pub fn set_crash_log(cfg: &crate::config::Config) {
    let on = cfg.compat_value("crash-log-enabled") != Some("no");
    CRASH_LOG.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Installs the hook for every thread of the process (and of BGSAVE/rewrite children,
/// which then just end with the same code: the parent sees a failed child).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>").to_string();
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_string()
        };
        let at = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        let head = format!("=== SHARDIS BUG REPORT START: thread '{name}' panicked{at}: {msg}");
        // The message first, on its own: symbolizing the backtrace can be slow.
        log::warning(&head);
        let _ = writeln!(std::io::stderr().lock(), "{head}");
        let end = "=== SHARDIS BUG REPORT END. The process exits. ===";
        let text = if CRASH_LOG.load(std::sync::atomic::Ordering::Relaxed) {
            let bt = std::backtrace::Backtrace::force_capture();
            format!("------ STACK TRACE ------\n{bt}\n{end}\n")
        } else {
            format!("{end}\n")
        };
        log::raw(log::Level::Warning, &text);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        crate::io::proc::exit_now(PANIC_EXIT_CODE);
    }));
}
