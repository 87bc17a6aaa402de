//! The real Redis tools against our server: `redis-benchmark` (many connections,
//! pipelined and random-key load, MSET across shards) and `redis-cli`. These need
//! Debian's `redis-tools`; `scripts/test.sh` installs it. A missing tool is a test
//! failure, never a silent skip, so a machine without it can't pass by accident.

use crate::common;

use common::{SHARD_COUNTS, Server, tool};
use std::process::Command;

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `redis-benchmark -q` with `args` against `s` and checks that it succeeded,
/// printed nothing that looks like an error or warning, and printed a result line for
/// each of `tests`. Progress output is separated by carriage returns, so every piece
/// of it is looked at.
fn bench_clean(s: &Server, args: &[&str], tests: &[&str]) {
    let port = s.port.to_string();
    let mut cmd = Command::new(tool("redis-benchmark"));
    cmd.args(["-h", "127.0.0.1", "-p", &port, "-q"]).args(args);
    let (ok, stdout, stderr) = run(&mut cmd);
    let what = format!("redis-benchmark {args:?}, {} shards", s.shards);
    assert!(ok, "{what} failed\nstdout: {stdout}\nstderr: {stderr}");
    let lines: Vec<&str> =
        stdout.split(['\r', '\n']).chain(stderr.split(['\r', '\n'])).map(str::trim).filter(|l| !l.is_empty()).collect();
    for l in &lines {
        let lower = l.to_ascii_lowercase();
        assert!(
            !lower.contains("error") && !lower.contains("err ") && !lower.contains("warning"),
            "{what} reported a problem: {l}\nfull stdout: {stdout}\nstderr: {stderr}"
        );
    }
    for test in tests {
        assert!(
            lines.iter().any(|l| l.starts_with(test) && l.contains("requests per second")),
            "{what}: no result line for {test}\nstdout: {stdout}"
        );
    }
}

#[test]
fn redis_benchmark_runs_clean() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        // 20000 requests per test: the check is that each runs clean, not how many.
        let args = ["-t", "ping,set,get,incr,mset", "-n", "20000", "-r", "100000"];
        bench_clean(&s, &args, &["PING_INLINE: ", "PING_MBULK: ", "SET: ", "GET: ", "INCR: ", "MSET (10 keys): "]);
        // The load left the server healthy and its keyspace sensible.
        let mut c = s.conn();
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert!(dbsize > 1000, "benchmark keys missing: dbsize {dbsize}");
    }
}

/// Pipelined load (`-P 16`): many requests per read, replies from several shards
/// interleaved in every write.
#[test]
fn redis_benchmark_pipelined_runs_clean() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let args = ["-t", "set,get,incr,mset", "-n", "200000", "-r", "100000", "-P", "16"];
        bench_clean(&s, &args, &["SET: ", "GET: ", "INCR: ", "MSET (10 keys): "]);
    }
}

/// The default test list (`redis-benchmark -q -n 10000`, no `-t`): lists, sets,
/// hashes, sorted sets, LRANGE of up to 600 elements and MSET, all without errors.
#[test]
fn redis_benchmark_default_tests_run_clean() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let tests = [
            "LPUSH: ",
            "RPUSH: ",
            "LPOP: ",
            "RPOP: ",
            "SADD: ",
            "HSET: ",
            "SPOP: ",
            "ZADD: ",
            "ZPOPMIN: ",
            "LRANGE_100 ",
            "LRANGE_300 ",
            "LRANGE_500 ",
            "LRANGE_600 ",
            "MSET (10 keys): ",
        ];
        // 10000 requests per test still push 10000 elements for the LRANGE tests.
        bench_clean(&s, &["-n", "10000"], &tests);
        // LRANGE_600 read 600 elements pushed by the benchmark's own LPUSH runs.
        let mut c = s.conn();
        let len: i64 = redis::cmd("LLEN").arg("mylist").query(&mut c).unwrap();
        assert!(len >= 600, "mylist has {len} elements");
    }
}

#[test]
fn redis_cli_works() {
    let cli = tool("redis-cli");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let port = s.port.to_string();
        let cli_run = |args: &[&str]| {
            let (ok, out, err) = run(Command::new(&cli).args(["-h", "127.0.0.1", "-p", &port]).args(args));
            assert!(ok, "redis-cli {args:?} failed: {out} {err}");
            out
        };
        assert_eq!(cli_run(&["ping"]), "PONG\n");
        assert_eq!(cli_run(&["set", "x", "y"]), "OK\n");
        assert_eq!(cli_run(&["get", "x"]), "y\n");
        assert_eq!(cli_run(&["mset", "a", "1", "b", "2", "c", "3"]), "OK\n");
        assert_eq!(cli_run(&["mget", "a", "b", "c", "nope"]), "1\n2\n3\n\n");
        assert_eq!(cli_run(&["--no-raw", "mget", "a", "nope"]), "1) \"1\"\n2) (nil)\n");
        assert_eq!(cli_run(&["--no-raw", "get", "nope"]), "(nil)\n");
        assert_eq!(cli_run(&["--no-raw", "del", "a", "b", "nope"]), "(integer) 2\n");
        assert_eq!(
            cli_run(&["--no-raw", "nosuchcmd", "q"]),
            "(error) ERR unknown command 'nosuchcmd', with args beginning with: 'q' \n"
        );
        // RESP3 through redis-cli.
        assert_eq!(cli_run(&["-3", "--no-raw", "get", "nope"]), "(nil)\n");
        assert_eq!(cli_run(&["-3", "get", "x"]), "y\n");
        // Commands fed on stdin, one per line, as in `redis-cli < file`.
        let mut child = Command::new(&cli)
            .args(["-h", "127.0.0.1", "-p", &port])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(b"set piped 1\nget piped\nexists piped x nope\n").unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n1\n2\n");
    }
}
