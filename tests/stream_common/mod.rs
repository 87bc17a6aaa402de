//! Shared by the stream persistence and blocking tests: a raw connection to any port,
//! a deterministic stream workload, and a comparable picture of a stream's state.
#![allow(dead_code)]

use crate::common::{Raw, Resp, RespReader};
use std::time::Duration;

pub fn raw_to(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = s.try_clone().unwrap();
    Raw { w: s, r: RespReader::new(r) }
}

/// Streams with every kind of state: many nodes, tombstones, groups with pending
/// entries owned by several consumers, NOACK reads, a consumer without pending
/// entries, an empty stream with a group, a stream emptied by XDEL, XSETID counters.
pub const KEYS: &[&str] = &["big", "{big}other", "empty", "emptied"];

pub fn workload(c: &mut Raw) {
    let ok = |r: Resp, what: &str| assert!(!matches!(r, Resp::Error(_)), "{what}: {r:?}");
    for i in 1..=300 {
        let id = format!("{i}-{}", i % 3);
        let v = i.to_string();
        ok(c.cmd(&["xadd", "big", &id, "f", &v, "g", "x"]), "xadd");
    }
    ok(c.cmd(&["xadd", "big", "301-0", "other", "fields", "here", "too"]), "xadd");
    ok(c.cmd(&["xdel", "big", "5-2", "150-0", "299-2"]), "xdel");
    ok(c.cmd(&["xgroup", "create", "big", "g1", "0"]), "create");
    ok(c.cmd(&["xgroup", "create", "big", "g2", "100-1", "entriesread", "100"]), "create");
    ok(c.cmd(&["xgroup", "create", "big", "g3", "$"]), "create");
    ok(c.cmd(&["xreadgroup", "group", "g1", "alice", "count", "40", "streams", "big", ">"]), "read");
    ok(c.cmd(&["xreadgroup", "group", "g1", "bob", "count", "30", "streams", "big", ">"]), "read");
    // Created first: a consumer that only ever reads with NOACK is not in the AOF,
    // in Redis either (XREADGROUP propagates no consumer creation).
    ok(c.cmd(&["xgroup", "createconsumer", "big", "g1", "carol"]), "createconsumer");
    ok(c.cmd(&["xreadgroup", "group", "g1", "carol", "count", "10", "noack", "streams", "big", ">"]), "read");
    ok(c.cmd(&["xack", "big", "g1", "1-1", "2-2", "3-0", "45-0"]), "ack");
    ok(
        c.cmd(&["xclaim", "big", "g1", "dave", "0", "10-1", "11-2", "time", "1700000000000", "retrycount", "4"]),
        "claim",
    );
    ok(c.cmd(&["xgroup", "createconsumer", "big", "g1", "erin"]), "createconsumer");
    ok(c.cmd(&["xreadgroup", "group", "g2", "zed", "count", "5", "streams", "big", ">"]), "read");
    ok(c.cmd(&["xadd", "{big}other", "7-7", "k", "v"]), "xadd");
    ok(c.cmd(&["xgroup", "create", "empty", "g", "$", "mkstream"]), "mkstream");
    ok(c.cmd(&["xadd", "emptied", "9-1", "a", "1"]), "xadd");
    ok(c.cmd(&["xadd", "emptied", "9-2", "a", "2"]), "xadd");
    ok(c.cmd(&["xdel", "emptied", "9-1", "9-2"]), "xdel");
    ok(c.cmd(&["xsetid", "emptied", "20-0", "entriesadded", "12", "maxdeletedid", "9-2"]), "xsetid");
    ok(c.cmd(&["xgroup", "create", "emptied", "gg", "5-0"]), "create");
}

fn mask(r: Resp, keys: &[&[u8]]) -> Resp {
    match r {
        Resp::Array(v) => {
            let mut v: Vec<Resp> = v.into_iter().map(|x| mask(x, keys)).collect();
            for i in 0..v.len().saturating_sub(1) {
                if let Resp::Bulk(k) = &v[i]
                    && keys.contains(&k.as_slice())
                {
                    v[i + 1] = Resp::Int(0);
                }
            }
            Resp::Array(v)
        }
        other => other,
    }
}

/// What a stream holds, through ordinary commands (works on Redis and shardis). With
/// `exact_times`, XINFO STREAM FULL is included with its delivery and seen times
/// (an RDB keeps them); else those times and the groups' read counters are left out
/// (the AOF keeps neither, in Redis either).
pub fn state(c: &mut Raw, key: &str, exact_times: bool) -> Vec<Resp> {
    let mut out = vec![c.cmd(&["type", key]), c.cmd(&["xrange", key, "-", "+"])];
    out.push(mask(c.cmd(&["xinfo", "stream", key]), &[b"radix-tree-nodes"]));
    let groups = c.cmd(&["xinfo", "groups", key]);
    if exact_times {
        out.push(groups.clone());
    } else {
        // The AOF does not carry a read counter that XREADGROUP moved: Redis
        // propagates each delivery as XCLAIM ... LASTID, which moves only the last
        // ID (a Redis AOF replay gives the same counters as ours).
        out.push(mask(groups.clone(), &[b"entries-read", b"lag"]));
    }
    if exact_times {
        out.push(mask(c.cmd(&["xinfo", "stream", key, "full", "count", "0"]), &[b"radix-tree-nodes"]));
    }
    let Resp::Array(groups) = groups else { panic!("groups: {groups:?}") };
    for g in groups {
        let Resp::Array(fields) = g else { panic!() };
        let Resp::Bulk(name) = &fields[1] else { panic!() };
        let name = String::from_utf8(name.clone()).unwrap();
        let pel = c.cmd(&["xpending", key, &name, "-", "+", "1000"]);
        let Resp::Array(rows) = pel else { panic!("{pel:?}") };
        // Rows without the idle time: id, consumer, delivery count.
        out.push(Resp::Array(
            rows.into_iter()
                .map(|r| match r {
                    Resp::Array(mut v) => {
                        v.remove(2);
                        Resp::Array(v)
                    }
                    other => other,
                })
                .collect(),
        ));
        out.push(mask(c.cmd(&["xinfo", "consumers", key, &name]), &[b"idle"]));
    }
    out
}

pub fn all_states(c: &mut Raw, exact_times: bool) -> Vec<Vec<Resp>> {
    KEYS.iter().map(|k| state(c, k, exact_times)).collect()
}

/// Asserts two state pictures are equal, naming the first difference (the whole
/// pictures are too big to read in a failure message).
pub fn assert_same(got: &[Vec<Resp>], want: &[Vec<Resp>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: key count");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: {}: number of parts", KEYS[k]);
        for (i, (a, b)) in g.iter().zip(w).enumerate() {
            if a != b {
                let (sa, sb) = (format!("{a:?}"), format!("{b:?}"));
                let at = sa.bytes().zip(sb.bytes()).position(|(x, y)| x != y).unwrap_or(0).saturating_sub(200);
                panic!(
                    "{what}: key {} part {i} differs:\n got: ...{}\nwant: ...{}",
                    KEYS[k],
                    &sa[at..(at + 600).min(sa.len())],
                    &sb[at..(at + 600).min(sb.len())]
                );
            }
        }
    }
}
