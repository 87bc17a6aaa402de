//! Limits and hostile input: oversized bulk headers, `maxclients`, `proto-max-bulk-len`,
//! `client-query-buffer-limit`, and random garbage. In every case the offending
//! connection is refused or closed, and the server goes on serving everyone else with
//! its data intact.

use crate::common;

use common::{Resp, Rng, SHARD_COUNTS, Server, encode_cmd};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Seeds a few keys (on every shard) and returns a checker that they are intact and
/// the server answers.
fn seed(s: &Server) -> impl Fn(&Server) + use<> {
    let mut c = s.conn();
    let keys: Vec<String> = (0..16).map(|i| format!("seed{i}")).collect();
    for k in &keys {
        let _: () = redis::cmd("SET").arg(k).arg(format!("{k}!")).query(&mut c).unwrap();
    }
    move |s: &Server| {
        let mut c = s.conn();
        let vals: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        let want: Vec<String> = keys.iter().map(|k| format!("{k}!")).collect();
        assert_eq!(vals, want, "seeded data changed");
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[test]
fn three_gigabyte_bulk_header_is_refused_at_once() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &[]);
        let check = seed(&s);
        for req in [&b"*1\r\n$3000000000\r\n"[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000000\r\n"] {
            let mut raw = s.raw();
            // Only the header is sent: the reply must not wait for 3 GB of payload.
            raw.send(req);
            assert_eq!(raw.read(), Resp::err("ERR Protocol error: invalid bulk length"));
            raw.r.expect_closed();
            check(&s);
        }
        assert!(s.is_running());
    }
}

/// Reads one line (up to CRLF) byte by byte, so nothing after it is consumed.
fn read_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b)? {
            0 => return Ok(String::from_utf8_lossy(&line).into_owned()),
            _ => {
                line.push(b[0]);
                if line.ends_with(b"\r\n") {
                    return Ok(String::from_utf8_lossy(&line).into_owned());
                }
            }
        }
    }
}

/// Connects, retrying briefly if the listen backlog is momentarily full.
fn connect(port: u16) -> TcpStream {
    let mut last = None;
    for _ in 0..200 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                return s;
            }
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    panic!("connect to {port}: {last:?}");
}

/// `maxclients 50`: fill the 50 slots with verified clients, then make 9,950 more
/// connection attempts from 4 threads at once; every one of them must read exactly
/// `-ERR max number of clients reached` followed by EOF. Once clients leave, new
/// ones are accepted again.
#[test]
fn maxclients_refuses_extra_connections_then_recovers() {
    const MAX: usize = 50;
    const ATTEMPTS: usize = 10_000;
    const THREADS: usize = 4;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--maxclients", &MAX.to_string()]);
        // Phase 1: exactly MAX clients, each verified with a round trip, so we know
        // every slot is taken by us (and nothing else is connected).
        let mut held = Vec::new();
        for _ in 0..MAX {
            let mut c = connect(s.port);
            c.write_all(b"PING\r\n").unwrap();
            assert_eq!(read_line(&mut c).unwrap(), "+PONG\r\n");
            held.push(c);
        }
        // Phase 2: concurrent attempts over the limit. They send nothing, so the
        // server's close can't turn into a reset that loses the error line.
        let refused = Arc::new(AtomicUsize::new(0));
        let port = s.port;
        let per_thread = (ATTEMPTS - MAX) / THREADS;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let refused = refused.clone();
                let n = if t == THREADS - 1 { ATTEMPTS - MAX - per_thread * (THREADS - 1) } else { per_thread };
                std::thread::spawn(move || {
                    for i in 0..n {
                        let mut c = connect(port);
                        let mut all = Vec::new();
                        c.read_to_end(&mut all).unwrap_or_else(|e| panic!("attempt {i} of thread {t}: {e}"));
                        assert_eq!(
                            String::from_utf8_lossy(&all),
                            "-ERR max number of clients reached\r\n",
                            "attempt {i} of thread {t}"
                        );
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(refused.load(Ordering::Relaxed) + MAX, ATTEMPTS);
        // The held clients still work.
        for c in held.iter_mut() {
            c.write_all(b"PING\r\n").unwrap();
            assert_eq!(read_line(c).unwrap(), "+PONG\r\n");
        }
        // Phase 3: all but one leave; the remaining one watches the client count
        // drop (closing is asynchronous on the server), then a new client is accepted.
        let mut watcher = held.pop().unwrap();
        drop(held);
        let mut r = common::RespReader::new(watcher.try_clone().unwrap());
        let gone = common::wait_until(Duration::from_secs(20), || {
            watcher.write_all(&encode_cmd(&["CLIENT", "LIST"])).unwrap();
            match r.read().unwrap() {
                Resp::Bulk(b) => String::from_utf8_lossy(&b).lines().count() == 1,
                other => panic!("CLIENT LIST gave {other:?}"),
            }
        });
        assert!(gone, "closed clients were not released ({shards} shards)");
        let mut fresh = connect(s.port);
        fresh.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_line(&mut fresh).unwrap(), "+PONG\r\n");
        let mut c = s.conn();
        let v: String = redis::cmd("ECHO").arg("back").query(&mut c).unwrap();
        assert_eq!(v, "back");
        // INFO accounts for every refusal and for exactly the clients now connected.
        let info: String = redis::cmd("INFO").arg("all").query(&mut c).unwrap();
        let field = |name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .unwrap_or_else(|| panic!("INFO has no {name}"))
                .trim()
                .parse()
                .unwrap()
        };
        assert_eq!(field("rejected_connections"), (ATTEMPTS - MAX) as u64, "{shards} shards");
        assert_eq!(field("connected_clients"), 3, "watcher, fresh and this client ({shards} shards)");
        drop((watcher, fresh));
    }
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &["--proto-max-bulk-len", "1mb"]);
        let check = seed(&s);
        // Exactly the limit is fine.
        let mut raw = s.raw();
        let big = vec![b'x'; 1 << 20];
        assert_eq!(raw.cmd(&[&b"SET"[..], b"big", &big]), Resp::simple("OK"));
        // One byte more is refused from the header alone.
        raw.send(format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", (1 << 20) + 1).as_bytes());
        assert_eq!(raw.read(), Resp::err("ERR Protocol error: invalid bulk length"));
        raw.r.expect_closed();
        check(&s);
        let mut c = s.conn();
        let len: usize = redis::cmd("GET").arg("big").query::<Vec<u8>>(&mut c).unwrap().len();
        assert_eq!(len, 1 << 20);
        assert!(s.is_running());
    }
}

/// A client whose unparsed input exceeds `client-query-buffer-limit` is closed
/// (without a reply, as in Redis); other clients are not affected.
#[test]
fn client_query_buffer_limit_closes_only_the_offender() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &["--client-query-buffer-limit", "1mb"]);
        let check = seed(&s);
        // A value below the limit is fine.
        let mut ok = s.raw();
        let v = vec![b'y'; 900 << 10];
        assert_eq!(ok.cmd(&[&b"SET"[..], b"fits", &v]), Resp::simple("OK"));

        // The offender announces a 4 MB value and sends 2 MB of it: the request can't
        // complete, and its buffered input passes 1 MB.
        let mut bad = s.raw();
        let mut req = b"*3\r\n$3\r\nSET\r\n$3\r\nbad\r\n$4194304\r\n".to_vec();
        req.extend(std::iter::repeat_n(b'z', 2 << 20));
        // The server may close (and reset) mid-write; a failed write is expected then.
        let _ = bad.w.write_all(&req);
        let mut rest = Vec::new();
        match bad.r.get_mut().read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "offender got {:?}", String::from_utf8_lossy(&rest)),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "offender read: {e}"),
        }
        check(&s);
        assert_eq!(ok.cmd(&["PING"]), Resp::simple("PONG"));
        let mut c = s.conn();
        let fits: Vec<u8> = redis::cmd("GET").arg("fits").query(&mut c).unwrap();
        assert_eq!(fits.len(), 900 << 10);
        let badv: Option<Vec<u8>> = redis::cmd("GET").arg("bad").query(&mut c).unwrap();
        assert!(badv.is_none());
        assert!(s.is_running());
    }
}

/// Seeded random bytes on many connections, some after a valid prefix: the server
/// must neither crash nor corrupt data; each garbage connection is simply dropped.
#[test]
fn random_garbage_does_not_crash_the_server() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &[]);
        let check = seed(&s);
        let mut rng = Rng::new(0x5eed_0000 + shards as u64);
        let prefixes: &[&[u8]] =
            &[b"", b"*", b"*2\r\n", b"*2\r\n$3\r\nGET\r\n", b"*2\r\n$3\r\nGET\r\n$", b"$", b"\"", b"SET k "];
        for round in 0..300 {
            let mut c = s.tcp();
            let mut payload = prefixes[round % prefixes.len()].to_vec();
            let n = 1 + rng.below(8192) as usize;
            let start = payload.len();
            payload.resize(start + n, 0);
            rng.fill(&mut payload[start..]);
            // Write in a few random-sized chunks to vary how the server sees it.
            let mut off = 0;
            while off < payload.len() {
                let k = (1 + rng.below(2048) as usize).min(payload.len() - off);
                if c.write_all(&payload[off..off + k]).is_err() {
                    break; // the server already closed it (protocol error)
                }
                off += k;
            }
            let _ = c.shutdown(Shutdown::Write);
            // Drain whatever the server answers, until it closes the connection; a
            // request cut short by our EOF is discarded by the server.
            let mut sink = Vec::new();
            match c.read_to_end(&mut sink) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "round {round}: {e}"),
            }
            if round % 50 == 0 {
                check(&s);
            }
        }
        assert!(s.is_running(), "server died on garbage ({shards} shards)");
        check(&s);
    }
}

/// Clients that write a pipeline of remote and cross-shard requests and vanish before
/// the replies come back: the replies must be dropped (the connection slot may already
/// serve someone else) without crashing the server or leaking into other clients.
#[test]
fn clients_vanishing_mid_pipeline() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &[]);
        let check = seed(&s);
        let mut rng = Rng::new(77 + shards as u64);
        for round in 0..300 {
            let mut c = s.tcp();
            let mut req = Vec::new();
            for j in 0..(1 + rng.below(300)) {
                let k = format!("v{}", rng.below(64));
                let k2 = format!("v{}", rng.below(64));
                match j % 4 {
                    0 => common::encode_cmd_into(&mut req, &["SET", &k, &format!("{round}")]),
                    1 => common::encode_cmd_into(&mut req, &["GET", &k]),
                    2 => common::encode_cmd_into(&mut req, &["MSET", &k, "1", &k2, "2"]),
                    _ => common::encode_cmd_into(&mut req, &["MGET", &k, &k2, "seed1"]),
                }
            }
            let _ = c.write_all(&req);
            // Half shut both directions down first, half just close; either way the
            // replies still on their way find the connection gone.
            if round % 2 == 0 {
                let _ = c.shutdown(Shutdown::Both);
            }
            drop(c);
            // A well-behaved client in between must get exactly its own replies.
            if round % 25 == 0 {
                let mut good = s.raw();
                for _ in 0..20 {
                    assert_eq!(good.cmd(&["ECHO", "mine"]), Resp::bulk("mine"));
                    assert_eq!(good.cmd(&["GET", "seed3"]), Resp::bulk("seed3!"));
                }
            }
        }
        assert!(s.is_running(), "server died ({shards} shards)");
        check(&s);
    }
}
