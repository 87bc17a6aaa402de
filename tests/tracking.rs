//! Client-side caching (CLIENT TRACKING): invalidations as RESP3 pushes and, for RESP2
//! clients, redirected to a subscriber of `__redis__:invalidate`; across shards, in
//! the default, BCAST/PREFIX, OPTIN, OPTOUT and NOLOOP modes. Each exchange runs on
//! redis-server and on shardis with 1 and 4 shards, and the transcripts must match.

use crate::common;

use common::*;
use std::time::Duration;

fn raw_at(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = s.try_clone().expect("clone socket");
    Raw { w: s, r: RespReader::new(r) }
}

fn compare(scenario: impl Fn(u16) -> Vec<Resp>) {
    let real = RealRedis::start(&temp_dir("redis"));
    let want = scenario(real.port);
    for n in SHARD_COUNTS {
        let srv = Server::start(n, &[]);
        assert_eq!(scenario(srv.port), want, "shardis with {n} shards differs from redis-server");
    }
}

fn resp3(port: u16) -> Raw {
    let mut c = raw_at(port);
    let Resp::Map(_) = c.cmd(&["hello", "3"]) else { panic!("HELLO 3") };
    c
}

/// Keys that land on different shards of a 4-shard server (and all on one of a 1-shard
/// server): reads and writes cross shards.
const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];

/// A marker the tracking client itself asks for: its reply comes after every push
/// that was already queued for it, so reads up to the marker see all invalidations.
fn until_pong(c: &mut Raw) -> Vec<Resp> {
    c.send(&encode_cmd(&["ping", "marker"]));
    let mut got = Vec::new();
    loop {
        match c.read() {
            Resp::Bulk(b) if b == b"marker" => return got,
            other => got.push(other),
        }
    }
}

/// Waits until the push arrives (written by another shard, it may come after the
/// writer's reply).
fn next_push(c: &mut Raw) -> Resp {
    c.read()
}

#[test]
fn default_mode_invalidates_keys_read_on_every_shard_once() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut out = vec![t.cmd(&["client", "tracking", "on"]), t.cmd(&["get", KEYS[0]])];
        out.push(t.cmd(&["mget", KEYS[1], KEYS[2], KEYS[3]]));
        out.push(w.cmd(&["set", KEYS[0], "x"]));
        out.push(next_push(&mut t));
        for k in &KEYS[1..] {
            out.push(w.cmd(&["set", k, "y"]));
            out.push(next_push(&mut t));
        }
        // Invalidated keys are forgotten until read again.
        out.push(w.cmd(&["set", KEYS[0], "again"]));
        out.extend(until_pong(&mut t));
        out.push(t.cmd(&["get", KEYS[0]]));
        out.push(w.cmd(&["del", KEYS[0]]));
        out.push(next_push(&mut t));
        // A flush invalidates everything with a null.
        out.push(t.cmd(&["get", KEYS[1]]));
        out.push(w.cmd(&["flushall"]));
        out.push(next_push(&mut t));
        out.push(t.cmd(&["client", "tracking", "off"]));
        out.push(t.cmd(&["get", KEYS[2]]));
        out.push(w.cmd(&["set", KEYS[2], "z"]));
        out.extend(until_pong(&mut t));
        out
    });
}

#[test]
fn resp2_redirect_to_an_invalidation_subscriber() {
    compare(|port| {
        let mut sub = raw_at(port);
        let Resp::Int(sub_id) = sub.cmd(&["client", "id"]) else { panic!("CLIENT ID") };
        let mut out = vec![sub.cmd(&["subscribe", "__redis__:invalidate"])];
        let mut t = raw_at(port);
        let mut w = raw_at(port);
        out.push(t.cmd(&["client", "tracking", "on", "redirect", &sub_id.to_string()]));
        out.push(Resp::Bool(t.cmd(&["client", "getredir"]) == Resp::Int(sub_id)));
        out.push(t.cmd(&["client", "tracking", "on", "redirect", "999999"]));
        out.push(t.cmd(&["mget", KEYS[0], KEYS[1]]));
        out.push(w.cmd(&["mset", KEYS[0], "1", KEYS[1], "2"]));
        let mut pushes = vec![sub.read(), sub.read()];
        pushes.sort_by_key(|p| format!("{p:?}"));
        out.extend(pushes);
        out.push(w.cmd(&["flushdb"]));
        out.push(sub.read());
        out
    });
}

#[test]
fn bcast_prefixes_and_noloop() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut out = Vec::new();
        out.push(t.cmd(&["client", "tracking", "on", "bcast", "prefix", "user:", "prefix", "obj:", "noloop"]));
        out.push(t.cmd(&["client", "trackinginfo"]));
        for k in ["user:1", "other", "obj:9", "user:2"] {
            out.push(w.cmd(&["set", k, "v"]));
        }
        out.extend(until_pong(&mut t));
        // NOLOOP: its own writes do not come back.
        out.push(t.cmd(&["set", "user:3", "v"]));
        out.extend(until_pong(&mut t));
        out.push(t.cmd(&["client", "tracking", "on", "bcast", "prefix", "us"]));
        out.push(t.cmd(&["client", "tracking", "on"]));
        out
    });
}

/// BCAST invalidations are batched as Redis batches them (once per event-loop turn):
/// an MSET of three keys is one message with the three, a MULTI writing keys under two
/// prefixes one message per prefix, each with its keys in order. shardis sent one
/// message per key, and Redis's own tracking tests read a message too few keys and
/// then stale ones.
#[test]
fn bcast_invalidations_are_batched_as_in_redis() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        // Keys read under default tracking stay in the table after it is turned off;
        // a BCAST client hears of them by prefix only, once.
        let mut out = vec![t.cmd(&["client", "tracking", "on"])];
        out.push(t.cmd(&["mget", "a{t}", "b{t}", "c{t}"]));
        out.push(t.cmd(&["client", "tracking", "off"]));
        out.push(t.cmd(&["client", "tracking", "on", "bcast"]));
        out.push(w.cmd(&["mset", "c{t}", "1", "a{t}", "2", "b{t}", "3"]));
        out.extend(until_pong(&mut t));
        out.push(t.cmd(&["client", "tracking", "off"]));
        out.push(t.cmd(&["client", "tracking", "on", "bcast", "prefix", "b:", "prefix", "a:"]));
        out.push(w.cmd(&["multi"]));
        for k in ["a:2{t}", "b:1{t}", "a:1{t}", "b:2{t}", "other{t}"] {
            out.push(w.cmd(&["incr", k]));
        }
        out.push(w.cmd(&["exec"]));
        out.extend(until_pong(&mut t));
        out
    });
}

#[test]
fn optin_and_optout_follow_client_caching() {
    compare(|port| {
        let mut out = Vec::new();
        let mut w = raw_at(port);
        let mut t = resp3(port);
        out.push(t.cmd(&["client", "caching", "yes"]));
        out.push(t.cmd(&["client", "tracking", "on", "optin"]));
        out.push(t.cmd(&["client", "caching", "no"]));
        out.push(t.cmd(&["get", KEYS[0]]));
        out.push(t.cmd(&["client", "caching", "yes"]));
        out.push(t.cmd(&["client", "trackinginfo"]));
        out.push(t.cmd(&["get", KEYS[1]]));
        out.push(w.cmd(&["set", KEYS[0], "a"]));
        out.push(w.cmd(&["set", KEYS[1], "b"]));
        out.extend(until_pong(&mut t));
        out.push(t.cmd(&["client", "tracking", "off"]));
        out.push(t.cmd(&["client", "tracking", "on", "optout"]));
        out.push(t.cmd(&["client", "caching", "no"]));
        out.push(t.cmd(&["get", KEYS[2]]));
        out.push(t.cmd(&["get", KEYS[3]]));
        out.push(w.cmd(&["set", KEYS[2], "c"]));
        out.push(w.cmd(&["set", KEYS[3], "d"]));
        out.extend(until_pong(&mut t));
        out.push(t.cmd(&["client", "tracking", "on", "optin", "optout"]));
        out.push(t.cmd(&["client", "tracking", "on", "bcast", "optin"]));
        out.push(t.cmd(&["client", "tracking", "on", "prefix", "x"]));
        out.push(t.cmd(&["client", "tracking", "maybe"]));
        out
    });
}

#[test]
fn info_counts_tracking_clients_keys_and_prefixes() {
    for n in SHARD_COUNTS {
        let srv = Server::start(n, &[]);
        let mut t = resp3(srv.port);
        let mut b = resp3(srv.port);
        let mut w = raw_at(srv.port);
        t.cmd(&["client", "tracking", "on"]);
        t.cmd(&["mget", KEYS[0], KEYS[1], KEYS[2]]);
        b.cmd(&["client", "tracking", "on", "bcast", "prefix", "a", "prefix", "b"]);
        let field = |w: &mut Raw, section: &str, name: &str| -> String {
            let Resp::Bulk(text) = w.cmd(&["info", section]) else { panic!("INFO") };
            let text = String::from_utf8(text).unwrap();
            text.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string)).expect(name)
        };
        assert!(wait_until(Duration::from_secs(10), || field(&mut w, "stats", "tracking_total_keys") == "3"));
        assert_eq!(field(&mut w, "stats", "tracking_total_items"), "3");
        assert_eq!(field(&mut w, "stats", "tracking_total_prefixes"), "2");
        assert_eq!(field(&mut w, "clients", "tracking_clients"), "2");
        w.cmd(&["set", KEYS[0], "x"]);
        assert!(matches!(t.read(), Resp::Push(_)), "the invalidation of {}", KEYS[0]);
        assert!(wait_until(Duration::from_secs(10), || field(&mut w, "stats", "tracking_total_keys") == "2"));
        drop(b);
        assert!(wait_until(Duration::from_secs(10), || field(&mut w, "clients", "tracking_clients") == "1"));
        assert_eq!(field(&mut w, "stats", "tracking_total_prefixes"), "0");
        assert_eq!(t.cmd(&["reset"]), Resp::simple("RESET"));
        assert!(wait_until(Duration::from_secs(10), || field(&mut w, "clients", "tracking_clients") == "0"));
    }
}

#[test]
fn tracking_table_max_keys_invalidates_past_the_limit() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut out = vec![w.cmd(&["config", "set", "tracking-table-max-keys", "1"])];
        out.push(t.cmd(&["client", "tracking", "on"]));
        // Pushes and replies interleave, and which keys go is random in Redis: count.
        let mut pushes: i64 = 0;
        for k in &KEYS[..3] {
            t.send(&encode_cmd(&["get", k]));
            loop {
                match t.read() {
                    Resp::Null => break,
                    Resp::Push(_) => pushes += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        pushes += until_pong(&mut t).len() as i64;
        out.push(Resp::Int(pushes));
        let Resp::Bulk(info) = w.cmd(&["info", "stats"]) else { panic!("INFO") };
        let info = String::from_utf8(info).unwrap();
        out.push(Resp::Bool(info.contains("tracking_total_keys:1\r\n")));
        out.push(w.cmd(&["config", "get", "tracking-table-max-keys"]));
        out
    });
}

/// Keys that expire (lazily on access, or by the active cycle) and keys that are
/// evicted invalidate like written ones.
#[test]
fn expired_and_evicted_keys_are_invalidated() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut out = vec![w.cmd(&["set", KEYS[0], "v", "px", "50"]), w.cmd(&["set", KEYS[1], "v", "px", "50"])];
        out.push(t.cmd(&["client", "tracking", "on"]));
        out.push(t.cmd(&["mget", KEYS[0], KEYS[1]]));
        // The active expiry cycle (or a lookup) deletes them: one push per key.
        let mut pushes = vec![next_push(&mut t), next_push(&mut t)];
        pushes.sort_by_key(|p| format!("{p:?}"));
        out.extend(pushes);
        // Eviction: every key goes once maxmemory is tiny.
        out.push(w.cmd(&["set", KEYS[2], "v"]));
        out.push(t.cmd(&["get", KEYS[2]]));
        out.push(w.cmd(&["config", "set", "maxmemory-policy", "allkeys-random"]));
        out.push(w.cmd(&["config", "set", "maxmemory", "1"]));
        // The next write triggers eviction (and fails for lack of memory).
        let _ = w.cmd(&["set", "other", "x"]);
        out.push(next_push(&mut t));
        out.push(w.cmd(&["config", "set", "maxmemory", "0"]));
        out
    });
}

/// A RESP3 tracking client whose REDIRECT target disconnected gets
/// `tracking-redir-broken` with the target's id where an invalidation would go.
#[test]
fn redirect_to_a_closed_client_sends_redir_broken() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut target = raw_at(port);
        let Resp::Int(id) = target.cmd(&["client", "id"]) else { panic!() };
        let mut out = Vec::new();
        out.push(t.cmd(&["client", "tracking", "on", "redirect", &id.to_string()]));
        out.push(t.cmd(&["get", KEYS[1]]));
        drop(target);
        // Wait until the server has seen the close.
        assert!(wait_until(Duration::from_secs(10), || {
            let Resp::Bulk(list) = w.cmd(&["client", "list"]) else { return false };
            !String::from_utf8_lossy(&list).contains(&format!("id={id} "))
        }));
        out.push(w.cmd(&["set", KEYS[1], "x"]));
        match next_push(&mut t) {
            Resp::Push(v) => {
                assert_eq!(v[0], Resp::bulk("tracking-redir-broken"));
                assert_eq!(v[1], Resp::Int(id));
                out.push(v[0].clone());
            }
            other => panic!("{other:?}"),
        }
        out.push(t.cmd(&["client", "getredir"]).into_redir_kind());
        out
    });
}

trait RedirKind {
    fn into_redir_kind(self) -> Resp;
}

/// CLIENT GETREDIR still names the (gone) id: compare only that it is positive.
impl RedirKind for Resp {
    fn into_redir_kind(self) -> Resp {
        match self {
            Resp::Int(n) if n > 0 => Resp::simple("positive"),
            other => other,
        }
    }
}

/// NOLOOP spares a client the invalidations of its own writes however they run:
/// commands over several shards (MSET, DEL, a MULTI, RENAME, a script, SORT ...
/// STORE) write back through their transaction's release or commit, which carried no
/// client, so shardis sent a NOLOOP client its own keys back (Redis's `unit/tracking`
/// with 2 shards, "Invalid keys should not be tracked for scripts in NOLOOP mode").
/// Another client's write still reaches it.
#[test]
fn noloop_spares_a_clients_own_writes_over_shards() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut out = vec![t.cmd(&["client", "tracking", "on", "noloop"])];
        let read_all = |t: &mut Raw| t.cmd(&["mget", KEYS[0], KEYS[1], KEYS[2], KEYS[3]]);
        let own_writes: [&[&str]; 6] = [
            &["mset", KEYS[0], "a", KEYS[1], "b", KEYS[2], "c"],
            &["del", KEYS[1], KEYS[3], KEYS[2]],
            &["rename", KEYS[0], KEYS[3]],
            &["eval", "redis.call('set', KEYS[1], 'x') return redis.call('set', KEYS[2], 'y')", "2", KEYS[1], KEYS[2]],
            &["rpush", KEYS[0], "b", "a"],
            &["sort", KEYS[0], "alpha", "store", KEYS[2]],
        ];
        for args in own_writes {
            out.push(read_all(&mut t));
            out.push(t.cmd(args));
            out.extend(until_pong(&mut t));
        }
        out.push(read_all(&mut t));
        out.push(t.cmd(&["multi"]));
        out.push(t.cmd(&["set", KEYS[1], "m"]));
        out.push(t.cmd(&["set", KEYS[3], "m"]));
        out.push(t.cmd(&["exec"]));
        out.extend(until_pong(&mut t));
        // Its own writes dropped the keys from its table (as in Redis): read one again
        // and let another client write it.
        out.push(t.cmd(&["get", KEYS[1]]));
        out.push(w.cmd(&["set", KEYS[1], "other"]));
        out.push(next_push(&mut t));
        out.extend(until_pong(&mut t));
        out
    });
}

/// A client that QUIT is gone for a REDIRECT as soon as its `+OK` is read: the next
/// invalidation tells the tracking client `tracking-redir-broken`, as Redis (which
/// frees the client before the reply arrives) does; shardis still had it until its
/// connection closed and sent it the invalidation (Redis's `unit/tracking`,
/// "RESP3 Client gets tracking-redir-broken push message after cached key changed
/// when rediretion client is terminated"). And tracking switches between plain mode
/// and OPTIN or OPTOUT while on, as Redis allows; only OPTIN to OPTOUT directly (or
/// back) is refused.
#[test]
fn redirect_to_a_client_that_quit_is_broken_and_optin_switches_as_in_redis() {
    compare(|port| {
        let mut t = resp3(port);
        let mut w = raw_at(port);
        let mut target = raw_at(port);
        let Resp::Int(id) = target.cmd(&["client", "id"]) else { panic!() };
        let mut out = vec![t.cmd(&["client", "tracking", "on", "redirect", &id.to_string()])];
        out.push(t.cmd(&["get", KEYS[1]]));
        out.push(target.cmd(&["quit"]));
        out.push(w.cmd(&["set", KEYS[1], "x"]));
        match next_push(&mut t) {
            Resp::Push(v) => {
                assert_eq!(v[1], Resp::Int(id));
                out.push(v[0].clone());
            }
            other => panic!("{other:?}"),
        }
        out.push(t.cmd(&["client", "tracking", "off"]));
        for mode in ["on", "optin", "on", "optout", "optin", "on", "optin", "optout"] {
            let args: &[&str] =
                if mode == "on" { &["client", "tracking", "on"] } else { &["client", "tracking", "on", mode] };
            out.push(t.cmd(args));
        }
        out
    });
}
