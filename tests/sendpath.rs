//! How replies leave (`server::worker::queue_sends`, `on_send`): one ring send per
//! connection with output. These reach the cases besides "it all fitted": a reply
//! larger than the socket takes (a short send, the rest sent again from where it
//! stopped), a client that stops reading while it pipelines (sends that wait in the
//! kernel, parsing stopped at the output high-water mark), and peers that reset the
//! connection before their replies go.

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
