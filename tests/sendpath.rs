//! How replies leave (`server::worker::queue_sends`, `on_send`): one ring send per
//! connection with output. These reach the cases besides "it all fitted": a reply
//! larger than the socket takes (a short send, the rest sent again from where it
//! stopped), a client that stops reading while it pipelines (sends that wait in the
//! kernel, parsing stopped at the output high-water mark), and peers that reset the
//! connection before their replies go.
//!
//! Replies up to 1 MB go as quiet sends (`io::ring::Ring::send_quiet`: no completion
//! when all went, a completion with the count or `EAGAIN` when not); the tests with
//! 64 KB and 256 KB replies and the two below reach their short and failed cases.

use crate::common;
use common::*;
use std::time::Duration;

/// `name`'s output not yet taken by its socket (CLIENT LIST `omem`).
fn omem(c: &mut Raw, name: &str) -> u64 {
    client_fields(c, name).expect("client listed")["omem"].parse().unwrap()
}

fn connected_clients(c: &mut Raw) -> u64 {
    let Resp::Bulk(b) = c.cmd(&["INFO", "clients"]) else { panic!("INFO") };
    let text = String::from_utf8(b).unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("connected_clients:")).expect("connected_clients");
    line.trim().parse().unwrap()
}

fn random_value(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng::new(seed).fill(&mut v);
    v
}

fn set_value(c: &mut Raw, key: &str, value: &[u8]) {
    c.send(&encode_cmd(&[b"SET".as_slice(), key.as_bytes(), value]));
    assert_eq!(c.read(), Resp::simple("OK"));
}

#[test]
fn a_reply_larger_than_the_socket_takes_goes_out_whole_after_a_short_send() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    let big = random_value(7, 16 << 20);
    set_value(&mut admin, "big", &big);
    let mut slow = s.raw();
    assert_eq!(slow.cmd(&["CLIENT", "SETNAME", "slow"]), Resp::simple("OK"));
    // Not read yet: the socket buffers take a few MB of the 16, the rest waits.
    slow.send(&encode_cmd(&["GET", "big"]));
    slow.send(&encode_cmd(&["INCR", "after"]));
    assert!(
        wait_until(Duration::from_secs(20), || omem(&mut admin, "slow") > 0),
        "the reply never waited for the client"
    );
    assert_eq!(slow.read(), Resp::Bulk(big));
    assert_eq!(slow.read(), Resp::Int(1));
    // Everything went: nothing is left counted against the client.
    assert!(wait_until(Duration::from_secs(20), || omem(&mut admin, "slow") == 0));
    assert_eq!(slow.cmd(&["INCR", "after"]), Resp::Int(2));
}

#[test]
fn a_client_that_stops_reading_gets_every_pipelined_reply_in_order() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    let value = random_value(11, 64 << 10);
    set_value(&mut admin, "v", &value);
    let mut slow = s.raw();
    assert_eq!(slow.cmd(&["CLIENT", "SETNAME", "slow"]), Resp::simple("OK"));
    // 400 rounds of a 64 KB reply and a counter (26 MB of replies): the server's
    // output and the sockets fill up while nothing is read, so sends go short and
    // find the socket full, and parsing stops at the output high-water mark.
    const ROUNDS: i64 = 400;
    let mut bytes = Vec::new();
    for _ in 0..ROUNDS {
        encode_cmd_into(&mut bytes, &["GET", "v"]);
        encode_cmd_into(&mut bytes, &["INCR", "n"]);
    }
    let mut w = slow.w.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        w.write_all(&bytes).expect("write pipeline");
    });
    assert!(wait_until(Duration::from_secs(20), || omem(&mut admin, "slow") > (1 << 20)), "the output never backed up");
    for i in 1..=ROUNDS {
        assert_eq!(slow.read(), Resp::Bulk(value.clone()), "GET of round {i}");
        assert_eq!(slow.read(), Resp::Int(i), "INCR of round {i}");
    }
    writer.join().unwrap();
    assert_eq!(slow.cmd(&["GET", "n"]), Resp::bulk(&ROUNDS.to_string()));
}

#[test]
fn peers_that_reset_before_their_replies_go_are_closed() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    let value = random_value(13, 256 << 10);
    set_value(&mut admin, "v", &value);
    // Each peer asks and resets at once (SO_LINGER 0): its reply's send meets a
    // reset socket, or its receive sees the reset first. Either way the connection goes and the server serves on.
    for _ in 0..200 {
        let peer = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).unwrap();
        let mut w = &peer;
        use std::io::Write;
        w.write_all(&encode_cmd(&["GET", "v"])).unwrap();
        drop(peer);
    }
    // A peer that reads part of a pipeline's replies, then resets with output in
    // flight and more queued.
    let mut half = s.raw();
    let mut bytes = Vec::new();
    for _ in 0..100 {
        encode_cmd_into(&mut bytes, &["GET", "v"]);
    }
    half.send(&bytes);
    assert_eq!(half.read(), Resp::Bulk(value.clone()));
    socket2::SockRef::from(&half.w).set_linger(Some(Duration::ZERO)).unwrap();
    drop(half);
    assert!(
        wait_until(Duration::from_secs(20), || connected_clients(&mut admin) == 1),
        "reset peers still counted as connected"
    );
    assert_eq!(admin.cmd(&["GET", "v"]), Resp::Bulk(value));
}

/// A client whose receive buffer is a few KB, connected before it is set so the
/// window stays small.
fn small_window_client(port: u16) -> Raw {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).expect("connect");
    let w: std::net::TcpStream = sock.into();
    w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = w.try_clone().unwrap();
    Raw { w, r: RespReader::new(r) }
}

#[test]
fn quiet_sends_into_a_full_socket_send_the_rest_from_where_they_stopped() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    // 600 KB replies (quiet sends), one per turn, to a client that reads nothing:
    // the first few fit the socket, then one comes back short (or with EAGAIN)
    // and the rest goes as an ordinary send, and those behind it meet a full socket.
    let value = random_value(17, 600 << 10);
    set_value(&mut admin, "v", &value);
    let mut slow = small_window_client(s.port);
    assert_eq!(slow.cmd(&["CLIENT", "SETNAME", "slow"]), Resp::simple("OK"));
    const ROUNDS: i64 = 14;
    for i in 1..=ROUNDS {
        let mut bytes = encode_cmd(&["GET", "v"]);
        encode_cmd_into(&mut bytes, &["INCR", "n"]);
        slow.send(&bytes);
        // Parsed, so this reply's send is queued before the next request comes.
        assert!(
            wait_until(Duration::from_secs(20), || admin.cmd(&["GET", "n"]) == Resp::Bulk(i.to_string().into_bytes())),
            "request {i} never ran"
        );
    }
    assert!(omem(&mut admin, "slow") > 0, "8 MB of replies all fitted the sockets");
    for i in 1..=ROUNDS {
        assert_eq!(slow.read(), Resp::Bulk(value.clone()), "reply {i}");
        assert_eq!(slow.read(), Resp::Int(i), "reply {i}");
    }
    assert!(wait_until(Duration::from_secs(20), || omem(&mut admin, "slow") == 0));
}

#[test]
fn many_connections_interleaved_get_their_own_replies_whole_and_in_order() {
    let s = Server::start(1, &[]);
    let mut rng = Rng::new(23);
    const CONNS: usize = 120;
    const PER_CONN: usize = 12;
    let mut clients: Vec<Raw> =
        (0..CONNS).map(|i| if i % 4 == 0 { small_window_client(s.port) } else { s.raw() }).collect();
    // Every connection pipelines SETs and GETs of its own keys, from a few bytes to
    // 300 KB, written round-robin so one turn sends to many connections at once.
    let mut expected: Vec<Vec<Resp>> = vec![Vec::new(); CONNS];
    let mut pipelines: Vec<Vec<u8>> = vec![Vec::new(); CONNS];
    for (i, bytes) in pipelines.iter_mut().enumerate() {
        for j in 0..PER_CONN {
            let len = match rng.below(3) {
                0 => 1 + rng.below(64) as usize,
                1 => 1 + rng.below(16 << 10) as usize,
                _ => 1 + rng.below(300 << 10) as usize,
            };
            let value = random_value(rng.next_u64(), len);
            let key = format!("k{i}:{j}");
            encode_cmd_into(bytes, &[b"SET".as_slice(), key.as_bytes(), &value]);
            encode_cmd_into(bytes, &[b"GET".as_slice(), key.as_bytes()]);
            expected[i].push(Resp::simple("OK"));
            expected[i].push(Resp::Bulk(value));
        }
    }
    let writers: Vec<_> = clients
        .iter()
        .zip(pipelines)
        .map(|(c, bytes)| {
            let mut w = c.w.try_clone().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                for chunk in bytes.chunks(8192) {
                    w.write_all(chunk).expect("write pipeline");
                }
            })
        })
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        for (j, want) in expected[i].iter().enumerate() {
            assert_eq!(&c.read(), want, "connection {i}, reply {j}");
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["DBSIZE"]), Resp::Int((CONNS * PER_CONN) as i64));
}
