//! Harness tests of blocking pops: wake-ups from pushes on any shard, FIFO order,
//! timeouts, cross-shard waits and CLIENT UNBLOCK.

use super::ctx::Session;
use super::harness::{Harness, Reply};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

/// Runs `args` as another client, then switches back.
fn as_other(h: &mut Harness, other: &mut Session, args: &[&str]) -> Reply {
    std::mem::swap(&mut h.sess, other);
    let r = h.run(args);
    std::mem::swap(&mut h.sess, other);
    r
}

fn start_as(h: &mut Harness, who: &mut Session, args: &[&str]) -> u64 {
    std::mem::swap(&mut h.sess, who);
    let seq = h.start(args);
    std::mem::swap(&mut h.sess, who);
    seq
}

#[test]
fn push_wakes_the_blocked_client_and_the_element_goes_to_it() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let mut pusher = Session::new(2, false);
        let seq = h.start(&["blpop", "q", "0"]);
        assert_eq!(h.reply_for(seq), None, "blocked");
        assert_eq!(as_other(&mut h, &mut pusher, &["rpush", "q", "a", "b"]), Reply::Int(2));
        assert_eq!(h.reply_for(seq), Some(Reply::Array(vec![b("q"), b("a")])));
        assert_eq!(h.run(&["lrange", "q", "0", "-1"]), Reply::Array(vec![b("b")]));
    }
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let mut h = Harness::new(2);
    let mut second = Session::new(2, false);
    let mut pusher = Session::new(3, false);
    let first = h.start(&["brpop", "fifo", "0"]);
    let later = start_as(&mut h, &mut second, &["brpop", "fifo", "0"]);
    as_other(&mut h, &mut pusher, &["lpush", "fifo", "x"]);
    assert_eq!(h.reply_for(first), Some(Reply::Array(vec![b("fifo"), b("x")])));
    assert_eq!(h.reply_for(later), None);
    as_other(&mut h, &mut pusher, &["lpush", "fifo", "y"]);
    assert_eq!(h.reply_for(later), Some(Reply::Array(vec![b("fifo"), b("y")])));
}

#[test]
fn timeout_answers_null_and_immediate_data_needs_no_wait() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let seq = h.start(&["blpop", "none", "0.1"]);
        h.tick();
        assert_eq!(h.reply_for(seq), None);
        h.advance_ms(150);
        h.tick();
        assert_eq!(h.reply_for(seq), Some(Reply::Nil));
        h.run(&["rpush", "ready", "v"]);
        assert_eq!(h.run(&["blpop", "ready", "1"]), Reply::Array(vec![b("ready"), b("v")]));
        assert!(matches!(h.run(&["blpop", "x", "-1"]), Reply::Error(e) if e == "ERR timeout is negative"));
        assert!(matches!(h.run(&["blpop", "x", "abc"]), Reply::Error(e) if e.contains("not a float")));
    }
}

#[test]
fn a_wait_on_keys_of_several_shards_is_served_once() {
    let mut h = Harness::new(4);
    let mut pusher = Session::new(2, false);
    // Keys on different shards (hash tags pick the slots).
    let (k1, k2) = ("{a}list", "{b}list");
    let seq = h.start(&["blpop", k1, k2, "0"]);
    assert_eq!(h.reply_for(seq), None);
    as_other(&mut h, &mut pusher, &["rpush", k2, "from-b"]);
    assert_eq!(h.reply_for(seq), Some(Reply::Array(vec![b(k2), b("from-b")])));
    // The part parked on the other shard is gone: a later push there stays put.
    as_other(&mut h, &mut pusher, &["rpush", k1, "stays"]);
    h.tick();
    assert_eq!(h.run(&["llen", k1]), Reply::Int(1));
}

#[test]
fn blmove_to_another_shard_moves_the_element_when_it_arrives() {
    let mut h = Harness::new(4);
    let mut pusher = Session::new(2, false);
    let seq = h.start(&["blmove", "{a}src", "{b}dst", "LEFT", "RIGHT", "0"]);
    assert_eq!(h.reply_for(seq), None);
    as_other(&mut h, &mut pusher, &["rpush", "{a}src", "item"]);
    assert_eq!(h.reply_for(seq), Some(b("item")));
    assert_eq!(h.run(&["lrange", "{b}dst", "0", "-1"]), Reply::Array(vec![b("item")]));
    assert_eq!(h.run(&["exists", "{a}src"]), Reply::Int(0));
}

#[test]
fn client_unblock_and_multi_never_block() {
    let mut h = Harness::new(2);
    let mut admin = Session::new(2, false);
    let seq = h.start(&["blmpop", "0", "1", "k", "LEFT"]);
    assert_eq!(as_other(&mut h, &mut admin, &["client", "unblock", "1", "error"]), Reply::Int(1));
    assert_eq!(h.reply_for(seq), Some(Reply::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())));
    assert_eq!(as_other(&mut h, &mut admin, &["client", "unblock", "1"]), Reply::Int(0));
    h.run(&["multi"]);
    h.run(&["blpop", "empty", "0"]);
    assert_eq!(h.run(&["exec"]), Reply::Array(vec![Reply::Nil]));
}
