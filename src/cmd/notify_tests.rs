//! Harness tests of keyspace notifications across families: which classes publish,
//! the two channel kinds, runtime CONFIG SET, transactions and cross-shard commands.
//! Per-command event names are tested next to each family's commands.

use super::harness::{Harness, Reply};
use crate::shard::shard_of;

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(c, m)| (c.to_string(), m.to_string())).collect()
}

/// Three key names, on three different shards when there are at least three.
fn spread(n: usize) -> [String; 3] {
    let mut out: Vec<String> = Vec::new();
    for i in 0.. {
        let k = format!("k{i}");
        if n < 3 || out.iter().all(|o| shard_of(o.as_bytes(), n) != shard_of(k.as_bytes(), n)) {
            out.push(k);
        }
        if out.len() == 3 {
            break;
        }
    }
    out.try_into().expect("three keys")
}

#[test]
fn nothing_is_published_when_off_or_without_k_or_e() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.listen_events();
        h.run(&["set", "k", "v"]);
        h.run(&["del", "k"]);
        assert!(h.raw_events().is_empty());
        for flags in ["A", "g$lshzxetdn", ""] {
            let mut h = Harness::with_events(n, flags);
            h.run(&["set", "k", "v", "ex", "10"]);
            h.run(&["lpush", "l", "a"]);
            assert!(h.raw_events().is_empty(), "{flags:?}: no K or E, no events");
        }
    }
}

#[test]
fn classes_filter_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "El");
        h.run(&["set", "s", "v", "ex", "100"]);
        h.run(&["lpush", "l", "a"]);
        h.run(&["rpop", "l"]);
        assert_eq!(h.events(), ["lpush l", "rpop l"], "{n} shards: del is class g");
        let mut h = Harness::with_events(n, "E$");
        h.run(&["set", "s", "v", "ex", "100"]);
        h.run(&["del", "s"]);
        assert_eq!(h.events(), ["set s"], "expire and del are class g");
        let mut h = Harness::with_events(n, "Eg");
        h.run(&["set", "s", "v", "ex", "100"]);
        h.run(&["sadd", "t", "a"]);
        h.run(&["srem", "t", "a"]);
        h.run(&["hset", "h", "f", "v"]);
        h.run(&["zadd", "z", "1", "m"]);
        assert_eq!(h.events(), ["expire s", "del t"]);
        let mut h = Harness::with_events(n, "Eshz");
        h.run(&["sadd", "t", "a"]);
        h.run(&["hset", "h", "f", "v"]);
        h.run(&["zadd", "z", "1", "m"]);
        h.run(&["set", "x", "1", "px", "10"]);
        h.advance_ms(20);
        h.run(&["get", "x"]);
        assert_eq!(h.events(), ["sadd t", "hset h", "zadd z"], "expired is class x");
    }
}

#[test]
fn keyspace_and_keyevent_channels() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "K$");
        h.run(&["set", "k", "v"]);
        assert_eq!(h.raw_events(), pairs(&[("__keyspace@0__:k", "set")]), "{n} shards");
        let mut h = Harness::with_events(n, "E$");
        h.run(&["set", "k", "v"]);
        assert_eq!(h.raw_events(), pairs(&[("__keyevent@0__:set", "k")]));
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["select", "7"]);
        h.run(&["append", "key with spaces", "v"]);
        assert_eq!(
            h.raw_events(),
            pairs(&[("__keyspace@7__:key with spaces", "append"), ("__keyevent@7__:append", "key with spaces")])
        );
        // An ordinary channel subscriber of one key's keyspace channel.
        h.shards[0].pubsub.subscribe(77, b"__keyspace@7__:mine");
        h.run(&["set", "mine", "1"]);
        h.run(&["set", "other", "1"]);
        let mine: Vec<_> = h.shards[0].pubsub.pushes.iter().filter(|(c, _)| *c == 77).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].1, b"*3\r\n$7\r\nmessage\r\n$19\r\n__keyspace@7__:mine\r\n$3\r\nset\r\n".to_vec());
    }
}

#[test]
fn config_set_switches_notifications_at_runtime() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.listen_events();
        h.run(&["set", "k", "1"]);
        assert!(h.events().is_empty());
        assert_eq!(h.run(&["config", "set", "notify-keyspace-events", "KEA"]), Reply::Simple("OK".into()));
        assert_eq!(
            h.run(&["config", "get", "notify-keyspace-events"]),
            Reply::Array(vec![Reply::bulk("notify-keyspace-events"), Reply::bulk("AKE")])
        );
        h.run(&["incr", "k"]);
        assert_eq!(h.events(), ["incrby k"], "{n} shards");
        assert!(matches!(
            h.run(&["config", "set", "notify-keyspace-events", "KEQ"]),
            Reply::Error(e) if e.contains("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        ));
        h.run(&["incr", "k"]);
        assert_eq!(h.events(), ["incrby k"], "a rejected value changes nothing");
        h.run(&["config", "set", "notify-keyspace-events", "AKEn"]);
        assert_eq!(
            h.run(&["config", "get", "notify-keyspace-events"]),
            Reply::Array(vec![Reply::bulk("notify-keyspace-events"), Reply::bulk("AKE")])
        );
        h.run(&["set", "fresh", "1"]);
        assert_eq!(h.events(), ["new fresh", "set fresh"], "n stays on behind A");
        h.run(&["config", "set", "notify-keyspace-events", ""]);
        h.run(&["incr", "k"]);
        assert!(h.events().is_empty());
    }
}

#[test]
fn cross_shard_commands_and_transactions_publish_once() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        let [a, b, c] = &spread(n);
        h.run(&["mset", a, "1", b, "2", c, "3"]);
        assert_eq!(h.events(), [format!("set {a}"), format!("set {b}"), format!("set {c}")], "{n} shards");
        h.run(&["del", a, b, c]);
        h.events();
        h.run(&["multi"]);
        h.run(&["set", a, "1"]);
        h.run(&["incr", a]);
        h.run(&["mset", b, "x", c, "y"]);
        h.run(&["get", b]);
        h.run(&["rename", b, "renamed"]);
        h.run(&["del", c]);
        assert!(matches!(h.run(&["exec"]), Reply::Array(items) if items.len() == 6));
        assert_eq!(
            h.events(),
            [
                format!("set {a}"),
                format!("incrby {a}"),
                format!("set {b}"),
                format!("set {c}"),
                format!("rename_from {b}"),
                "rename_to renamed".to_string(),
                format!("del {c}"),
            ]
        );
        // A failed transaction publishes nothing.
        h.run(&["multi"]);
        h.run(&["set", a, "2"]);
        h.run(&["nosuchcommand"]);
        h.run(&["exec"]);
        assert!(h.events().is_empty());
    }
}

#[test]
fn keymiss_events_for_read_lookups_only_with_m() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["get", "nosuch"]);
        assert!(h.events().is_empty(), "A does not include m");
        let mut h = Harness::with_events(n, "Em");
        h.run(&["set", "k", "v"]);
        h.run(&["get", "k"]);
        h.run(&["get", "nosuch"]);
        h.run(&["hget", "h", "f"]);
        h.run(&["lrange", "l", "0", "-1"]);
        h.run(&["smembers", "s"]);
        h.run(&["zscore", "z", "m"]);
        h.run(&["incr", "counter"]);
        assert_eq!(h.events(), ["keymiss nosuch", "keymiss h", "keymiss l", "keymiss s", "keymiss z"], "{n} shards");
        h.run(&["mget", "k", "a", "b"]);
        assert_eq!(h.events(), ["keymiss a", "keymiss b"]);
        let mut h = Harness::with_events(n, "E$mn");
        h.run(&["set", "k", "v", "get"]);
        assert_eq!(h.events(), ["keymiss k", "new k", "set k"], "in the order Redis raises them");
        h.run(&["set", "x", "1", "px", "10"]);
        h.events();
        h.advance_ms(20);
        h.run(&["get", "x"]);
        assert_eq!(h.events(), ["keymiss x"], "x not enabled: no expired");
    }
}

#[test]
fn bitmap_hll_and_restore_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "E$g");
        h.run(&["setbit", "{b}1", "7", "1"]);
        h.run(&["setbit", "{b}1", "7", "1"]); // no change: no event
        h.run(&["bitfield", "{b}2", "set", "u8", "0", "255"]);
        h.run(&["bitop", "and", "{b}3", "{b}1", "{b}2"]);
        h.run(&["bitop", "or", "{b}3", "{b}none"]);
        h.run(&["pfadd", "hll", "a", "b"]);
        h.run(&["pfadd", "hll", "a"]); // no register raised: no event
        h.run(&["pfmerge", "hll2", "hll"]);
        assert_eq!(
            h.events(),
            ["setbit {b}1", "setbit {b}2", "set {b}3", "del {b}3", "pfadd hll", "pfadd hll2"],
            "{n} shards"
        );
        let Reply::Bulk(payload) = h.run(&["dump", "hll"]) else { panic!("DUMP returns a bulk") };
        h.run_raw(&[b"restore", b"copy", b"0", &payload]);
        assert_eq!(h.events(), ["restore copy"], "{n} shards");
    }
}
