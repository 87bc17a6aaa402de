//! Keyspace notifications against the real server: subscribers on their own
//! connections (and so, with several shards, on other threads than the writes), keys
//! on every shard, RESP2 and RESP3 subscribers, runtime CONFIG SET, and `expired`
//! events from active expiry.

use crate::common;

use common::{SHARD_COUNTS, Server};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Reads one RESP value as flat text items (enough for pub/sub messages).
fn read_reply(r: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).expect("a reply before the read timeout");
    let line = line.trim_end().to_string();
    match line.as_bytes()[0] {
        b'*' | b'>' => {
            let n: usize = line[1..].parse().unwrap();
            let mut items = Vec::new();
            for _ in 0..n {
                items.extend(read_reply(r));
            }
            items
        }
        b'$' => {
            let n: i64 = line[1..].parse().unwrap();
            if n < 0 {
                return vec!["(nil)".into()];
            }
            let mut buf = vec![0u8; n as usize + 2];
            r.read_exact(&mut buf).unwrap();
            vec![String::from_utf8_lossy(&buf[..n as usize]).into_owned()]
        }
        b'%' => {
            let n: usize = line[1..].parse().unwrap();
            (0..2 * n).flat_map(|_| read_reply(r)).collect()
        }
        _ => vec![line[1..].to_string()],
    }
}

/// A connection subscribed to every keyevent channel of db 0 (by pattern) and to the
/// keyspace channels of `keys`. With `resp3` it speaks RESP3 and gets push messages.
fn subscriber(s: &Server, keys: &[String], resp3: bool) -> BufReader<TcpStream> {
    let mut r = BufReader::new(s.tcp());
    if resp3 {
        r.get_mut().write_all(b"HELLO 3\r\n").unwrap();
        read_reply(&mut r);
    }
    r.get_mut().write_all(b"PSUBSCRIBE __keyevent@0__:*\r\n").unwrap();
    assert_eq!(read_reply(&mut r)[0], "psubscribe");
    for k in keys {
        r.get_mut().write_all(format!("SUBSCRIBE __keyspace@0__:{k}\r\n").as_bytes()).unwrap();
        assert_eq!(read_reply(&mut r)[0], "subscribe");
    }
    r
}

/// Reads `n` messages: keyevent ones as `"event key"`, keyspace ones as
/// `"event key (space)"`, grouped by key in arrival order. Events of one key come from
/// the key's shard in order; events of different keys may interleave differently.
fn collect(r: &mut BufReader<TcpStream>, n: usize) -> HashMap<String, Vec<String>> {
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for _ in 0..n {
        let m = read_reply(r);
        match m[0].as_str() {
            "pmessage" => {
                let event = m[2].strip_prefix("__keyevent@0__:").expect("keyevent channel");
                by_key.entry(m[3].clone()).or_default().push(event.to_string());
            }
            "message" => {
                let key = m[1].strip_prefix("__keyspace@0__:").expect("keyspace channel");
                by_key.entry(key.to_string()).or_default().push(format!("{} (space)", m[2]));
            }
            other => panic!("unexpected {other}: {m:?}"),
        }
    }
    by_key
}

/// Keys whose owners cover every shard.
fn keys_on_every_shard(shards: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut seen = vec![false; shards];
    for i in 0.. {
        let k = format!("key:{i}");
        let s = shardis::util::hash::shard_of(k.as_bytes(), shards);
        if !seen[s] {
            seen[s] = true;
            keys.push(k);
        }
        if seen.iter().all(|&x| x) {
            return keys;
        }
    }
    unreachable!()
}

#[test]
fn writes_on_every_shard_reach_subscribers_on_other_connections() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--notify-keyspace-events", "KEA"]);
        let keys = keys_on_every_shard(shards);
        // Several subscribers, so that with SO_REUSEPORT they land on several threads.
        let mut subs: Vec<_> = (0..4).map(|i| subscriber(&s, &keys, i % 2 == 1)).collect();
        let mut c = s.conn();
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("1").query(&mut c).unwrap();
            let _: i64 = redis::cmd("INCRBY").arg(k).arg("2").query(&mut c).unwrap();
            let _: i64 = redis::cmd("EXPIRE").arg(k).arg("100").query(&mut c).unwrap();
        }
        // A cross-shard command and a read (which raises nothing).
        let mut mset = redis::cmd("MSET");
        for k in &keys {
            mset.arg(k).arg("x");
        }
        let _: () = mset.query(&mut c).unwrap();
        let _: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        let n: i64 = redis::cmd("DEL").arg(&keys).query(&mut c).unwrap();
        assert_eq!(n as usize, keys.len());
        let per_key = ["set", "incrby", "expire", "set", "del"];
        for (i, r) in subs.iter_mut().enumerate() {
            let got = collect(r, keys.len() * per_key.len() * 2);
            for k in &keys {
                let events: Vec<String> = got[k].iter().filter(|e| !e.ends_with("(space)")).cloned().collect();
                let space: Vec<String> =
                    got[k].iter().filter_map(|e| e.strip_suffix(" (space)")).map(String::from).collect();
                assert_eq!(events, per_key, "{shards} shards, subscriber {i}, key {k}");
                assert_eq!(space, per_key, "{shards} shards, subscriber {i}, key {k}");
            }
        }
    }
}

#[test]
fn config_set_turns_notifications_on_and_off_at_runtime() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = keys_on_every_shard(shards);
        let mut sub = subscriber(&s, &[], false);
        let mut c = s.conn();
        let get = |c: &mut redis::Connection| -> Vec<String> {
            redis::cmd("CONFIG").arg("GET").arg("notify-keyspace-events").query(c).unwrap()
        };
        assert_eq!(get(&mut c), ["notify-keyspace-events", ""]);
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("before").query(&mut c).unwrap();
        }
        let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("El").query(&mut c).unwrap();
        assert_eq!(get(&mut c), ["notify-keyspace-events", "lE"]);
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("string events are off").query(&mut c).unwrap();
            let _: i64 = redis::cmd("DEL").arg(k).query(&mut c).unwrap();
            let _: i64 = redis::cmd("RPUSH").arg(k).arg("a").query(&mut c).unwrap();
        }
        let got = collect(&mut sub, keys.len());
        for k in &keys {
            assert_eq!(got[k], ["rpush"], "{shards} shards: only list events, only after CONFIG SET");
        }
        let e = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("KEZ").query::<()>(&mut c);
        assert!(e.unwrap_err().to_string().contains("Invalid event class character"));
        let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("").query(&mut c).unwrap();
        for k in &keys {
            let _: Option<String> = redis::cmd("LPOP").arg(k).query(&mut c).unwrap();
        }
        // Back on, for one marker event: nothing from the LPOPs may come before it.
        let _: () = redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("E$").query(&mut c).unwrap();
        let _: () = redis::cmd("SET").arg("marker").arg("1").query(&mut c).unwrap();
        assert_eq!(read_reply(&mut sub), ["pmessage", "__keyevent@0__:*", "__keyevent@0__:set", "marker"]);
    }
}

#[test]
fn active_expiry_publishes_expired_events() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--notify-keyspace-events", "Ex", "--hz", "100"]);
        let keys = keys_on_every_shard(shards);
        let mut sub = subscriber(&s, &[], false);
        let mut c = s.conn();
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg("v").arg("PX").arg(50).query(&mut c).unwrap();
        }
        // Nobody reads the keys again: only the active cycle can expire them.
        let got = collect(&mut sub, keys.len());
        for k in &keys {
            assert_eq!(got[k], ["expired"], "{shards} shards");
        }
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, 0);
    }
}
