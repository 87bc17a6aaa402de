//! `supervised`: telling a service manager that the server is ready, and stopping.
//!
//! - `systemd` (or `auto` with `NOTIFY_SOCKET` set): the sd_notify protocol, one
//!   datagram per state change to the Unix socket named by `NOTIFY_SOCKET` (a path, or
//!   `@name` for the abstract namespace): `STATUS=...` and `READY=1` once the server
//!   accepts connections (for `Type=notify` units), `STOPPING=1` when it shuts down.
//!   Written here rather than by linking libsystemd: the protocol is one `sendto`.
//! - `upstart` (or `auto` with `UPSTART_JOB` set): the process stops itself with
//!   SIGSTOP once ready (upstart's `expect stop`); upstart answers with SIGCONT.
//!   Redis stops before loading its data; we stop once ready, which is what
//!   readiness means.
//! - `no`: nothing.
//!
//! A mode whose environment is missing (`systemd` without `NOTIFY_SOCKET`, `upstart`
//! without `UPSTART_JOB`) is logged as a warning, as Redis does, and the server runs
//! unsupervised.
//!
//! Depends on: std, `util::log`.

use crate::util::log;
use std::os::unix::net::UnixDatagram;

/// How the server reports to its supervisor.
pub enum Supervisor {
    None,
    /// sd_notify to this socket (`NOTIFY_SOCKET`'s value).
    Systemd(String),
    Upstart,
}

impl Supervisor {
    /// Decides from the `supervised` value and the environment, logging as Redis does.
    pub fn from_config(mode: &str) -> Supervisor {
        let notify = std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty());
        let upstart = std::env::var_os("UPSTART_JOB").is_some();
        let mode = match mode {
            "auto" if upstart => {
                log::verbose("Upstart supervision detected.");
                "upstart"
            }
            "auto" if notify.is_some() => {
                log::verbose("Systemd supervision detected.");
                "systemd"
            }
            m => m,
        };
        match mode {
            "systemd" => match notify {
                Some(path) => {
                    let s = Supervisor::Systemd(path);
                    s.notify("STATUS=shardis is loading...\n");
                    log::notice(
                        "Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.",
                    );
                    s
                }
                None => {
                    log::warning(
                        "systemd supervision requested or auto-detected, but NOTIFY_SOCKET environment variable not found!",
                    );
                    Supervisor::None
                }
            },
            "upstart" if upstart => Supervisor::Upstart,
            "upstart" => {
                log::warning("upstart supervision requested, but UPSTART_JOB not found!");
                Supervisor::None
            }
            _ => Supervisor::None,
        }
    }

    /// The server accepts connections.
    pub fn ready(&self) {
        match self {
            Supervisor::Systemd(_) => {
                self.notify("STATUS=Ready to accept connections\n");
                self.notify("READY=1\n");
            }
            Supervisor::Upstart => {
                log::notice("supervised by upstart, will stop to signal readiness.");
                // Upstart's readiness protocol: stop until it sends SIGCONT.
                crate::io::proc::kill(std::process::id() as i32, libc::SIGSTOP);
            }
            Supervisor::None => {}
        }
    }

    /// The server is shutting down.
    pub fn stopping(&self) {
        if let Supervisor::Systemd(_) = self {
            self.notify("STOPPING=1\n");
        }
    }

    /// Sends one sd_notify datagram; failures are logged, never fatal.
    fn notify(&self, msg: &str) {
        let Supervisor::Systemd(path) = self else { return };
        if let Err(e) = send(path, msg) {
            log::warning(&format!("Can't notify systemd at {path}: {e}"));
        }
    }
}

/// One datagram to a path or, for `@name`, an abstract socket.
fn send(path: &str, msg: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(msg.as_bytes(), &addr)?;
        }
        None => {
            sock.send_to(msg.as_bytes(), path)?;
        }
    }
    Ok(())
}
