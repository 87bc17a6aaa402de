//! `enable-debug-command`: `no` by default, as in Redis 7.0, refusing DEBUG with
//! Redis's exact error; `local` allows loopback clients; `yes` allows everyone.

use crate::common;
use common::*;

const REFUSED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

#[test]
fn debug_is_refused_by_default() {
    let s = Server::start_without_debug(2, &[]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "enable-debug-command"]),
        Resp::Array(vec![Resp::bulk("enable-debug-command"), Resp::bulk("no")])
    );
    for args in [&["DEBUG", "DIGEST"][..], &["DEBUG", "SLEEP", "0"], &["DEBUG", "RELOAD"], &["DEBUG", "HELP"]] {
        assert_eq!(c.cmd(args), Resp::err(REFUSED), "{args:?}");
    }
    // Arity is checked first, as in Redis.
    assert_eq!(c.cmd(&["DEBUG"]), Resp::err("ERR wrong number of arguments for 'debug' command"));
    // It is immutable at runtime, as in Redis.
    assert!(matches!(c.cmd(&["CONFIG", "SET", "enable-debug-command", "yes"]), Resp::Error(_)));
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), Resp::err(REFUSED));
}

#[test]
fn debug_local_allows_loopback_and_yes_allows_all() {
    for mode in ["local", "yes"] {
        let s = Server::start(1, &["--enable-debug-command", mode]);
        let mut c = s.raw();
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "enable-debug-command"]),
            Resp::Array(vec![Resp::bulk("enable-debug-command"), Resp::bulk(mode)])
        );
        assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), Resp::simple(&"0".repeat(40)), "{mode}");
        assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]), Resp::simple("OK"), "{mode}");
    }
}
