//! Behaviour that used to differ from Redis 7.0 (issue 12's list): each case runs the
//! same raw exchange on shardis (1 and 4 shards) and on a real redis-server in one
//! test, and the replies must be equal.

use crate::common;

use common::*;
use std::time::Duration;

/// A raw RESP connection to `port` (either server).
fn raw_at(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = s.try_clone().expect("clone socket");
    Raw { w: s, r: RespReader::new(r) }
}

/// Runs `scenario` against redis-server, then against shardis with each shard count,
/// and asserts every shardis transcript equals Redis's.
fn compare(extra: &[&str], scenario: impl Fn(u16) -> Vec<Resp>) {
    let real = RealRedis::start(&temp_dir("redis"));
    let want = scenario(real.port);
    for n in SHARD_COUNTS {
        let srv = Server::start(n, extra);
        let got = scenario(srv.port);
        assert_eq!(got, want, "shardis with {n} shards differs from redis-server");
    }
}

fn info_field(c: &mut Raw, section: &str, field: &str) -> String {
    let Resp::Bulk(b) = c.cmd(&["info", section]) else { panic!("INFO reply") };
    let text = String::from_utf8(b).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// Waits until the server counts `n` blocked clients.
fn wait_blocked(c: &mut Raw, n: usize) {
    assert!(
        wait_until(Duration::from_secs(10), || info_field(c, "clients", "blocked_clients") == n.to_string()),
        "{n} clients never blocked"
    );
}

#[test]
fn blocked_clients_are_served_from_the_transactions_final_state() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut b = raw_at(port);
        let mut z = raw_at(port);
        let mut m = raw_at(port);
        let mut t = Vec::new();
        b.send(&encode_cmd(&["blpop", "k", "0"]));
        z.send(&encode_cmd(&["bzpopmin", "zk", "0"]));
        m.send(&encode_cmd(&["blmpop", "0", "1", "mk", "left"]));
        wait_blocked(&mut c, 3);
        // Pushed and deleted inside one transaction: nobody is woken.
        for cmd in [
            &["multi"][..],
            &["lpush", "k", "x"],
            &["del", "k"],
            &["zadd", "zk", "1", "a"],
            &["zrem", "zk", "a"],
            &["rpush", "mk", "1"],
            &["del", "mk"],
        ] {
            t.push(c.cmd(cmd));
        }
        t.push(c.cmd(&["exec"]));
        t.push(Resp::Int(info_field(&mut c, "clients", "blocked_clients").parse().unwrap()));
        // The next pushes are what they get.
        t.push(c.cmd(&["lpush", "k", "y"]));
        t.push(b.read());
        t.push(c.cmd(&["zadd", "zk", "2", "b"]));
        t.push(z.read());
        // A transaction's final state wakes them: only "last" is left in the list.
        t.push(c.cmd(&["multi"]));
        t.push(c.cmd(&["rpush", "mk", "first", "last"]));
        t.push(c.cmd(&["lpop", "mk"]));
        t.push(c.cmd(&["exec"]));
        t.push(m.read());
        t
    });
}

#[test]
fn swapdb_move_and_rename_wake_blocked_clients() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = Vec::new();
        let mut b1 = raw_at(port);
        t.push(b1.cmd(&["select", "1"]));
        b1.send(&encode_cmd(&["blpop", "q", "0"]));
        let mut b2 = raw_at(port);
        t.push(b2.cmd(&["select", "1"]));
        b2.send(&encode_cmd(&["blpop", "mv", "0"]));
        let mut b3 = raw_at(port);
        b3.send(&encode_cmd(&["blpop", "rn", "0"]));
        wait_blocked(&mut c, 3);
        t.push(c.cmd(&["rpush", "q", "z"]));
        t.push(c.cmd(&["swapdb", "0", "1"]));
        t.push(b1.read());
        // db 0 is now the former db 1: put "mv" there, and move it to db 1.
        t.push(c.cmd(&["rpush", "mv", "1"]));
        t.push(c.cmd(&["move", "mv", "1"]));
        t.push(b2.read());
        t.push(c.cmd(&["rpush", "src{rn}", "r"]));
        t.push(c.cmd(&["rename", "src{rn}", "rn"]));
        t.push(b3.read());
        // A tiny timeout still times out.
        for keys in [&["blpop", "none", "0.001"][..], &["blpop", "n1", "n2", "n3", "0.001"]] {
            t.push(c.cmd(keys));
        }
        t
    });
}

#[test]
fn client_reply_off_and_skip_still_deliver_pubsub() {
    compare(&[], |port| {
        let mut t = Vec::new();
        // A channel per mode: the first subscriber's close may not have reached the
        // server when the second PUBLISH runs, and would be counted as a receiver.
        for mode in ["off", "skip"] {
            let channel = format!("ch-{mode}");
            let mut sub = raw_at(port);
            let mut p = raw_at(port);
            sub.send(&encode_cmd(&["client", "reply", mode]));
            sub.send(&encode_cmd(&["subscribe", &channel]));
            t.push(sub.read());
            t.push(p.cmd(&["publish", &channel, mode]));
            t.push(sub.read());
        }
        t
    });
}

#[test]
fn client_list_fields_of_subscribers_and_transactions() {
    // The field names in order, and the values that do not depend on the server's
    // internals (ids, addresses, memory and buffer sizes do).
    const COMPARED: &[&str] = &["name", "db", "sub", "psub", "ssub", "multi", "flags", "cmd", "user", "redir", "resp"];
    compare(&[], |port| {
        let mut t = Vec::new();
        let mut sub = raw_at(port);
        sub.send(&encode_cmd(&["subscribe", "a", "b"]));
        sub.read();
        t.push(sub.read());
        sub.send(&encode_cmd(&["psubscribe", "p*"]));
        t.push(sub.read());
        let mut tx = raw_at(port);
        t.push(tx.cmd(&["multi"]));
        t.push(tx.cmd(&["set", "a", "b"]));
        let mut me = raw_at(port);
        t.push(me.cmd(&["client", "setname", "observer"]));
        let Resp::Bulk(list) = me.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
        for line in String::from_utf8(list).unwrap().lines() {
            let mut names = Vec::new();
            let mut kept = Vec::new();
            for kv in line.split(' ') {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                // 7.2's lib-name/lib-ver come last; 7.0 has none.
                if k == "lib-name" || k == "lib-ver" {
                    continue;
                }
                names.push(Resp::bulk(k));
                if COMPARED.contains(&k) {
                    kept.push(Resp::bulk(&format!("{k}={v}")));
                }
            }
            t.push(Resp::Array(names));
            t.push(Resp::Array(kept));
        }
        let Resp::Bulk(info) = me.cmd(&["client", "info"]) else { panic!("CLIENT INFO") };
        let info = String::from_utf8(info).unwrap();
        t.push(Resp::Bool(info.contains(" argv-mem=10 ")));
        t.push(Resp::Bool(info.contains(" cmd=client|info ")));
        t
    });
}

#[test]
fn scan_returns_a_small_keyspace_whole() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = Vec::new();
        t.push(c.cmd(&["mset", "k1", "1", "k2", "2", "k3", "3"]));
        t.push(c.cmd(&["sadd", "s1", "x"]));
        for args in [&["scan", "0"][..], &["scan", "0", "match", "k*"], &["scan", "0", "type", "set"]] {
            let Resp::Array(mut r) = c.cmd(args) else { panic!("SCAN reply") };
            if let Resp::Array(keys) = &mut r[1] {
                keys.sort_by_key(|k| format!("{k:?}"));
            }
            t.push(Resp::Array(r));
        }
        t
    });
}

#[test]
fn slowlog_holds_a_command_after_it_ran() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = Vec::new();
        t.push(c.cmd(&["config", "set", "slowlog-log-slower-than", "0"]));
        t.push(c.cmd(&["slowlog", "reset"]));
        let Resp::Array(entries) = c.cmd(&["slowlog", "get"]) else { panic!("SLOWLOG GET") };
        // The arguments of each entry (ids, times and addresses differ).
        t.extend(entries.into_iter().map(|e| match e {
            Resp::Array(f) => f[3].clone(),
            other => other,
        }));
        t.push(c.cmd(&["slowlog", "len"]));
        t
    });
}

#[test]
fn resp3_pubsub_numsub_is_flat_and_object_encoding_is_7_0s() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut sub = raw_at(port);
        let mut t = Vec::new();
        sub.send(&encode_cmd(&["subscribe", "news"]));
        sub.read();
        // HELLO's reply names the server: not compared.
        c.cmd(&["hello", "3"]);
        t.push(c.cmd(&["pubsub", "numsub", "news", "none"]));
        t.push(c.cmd(&["sadd", "strs", "a", "b"]));
        t.push(c.cmd(&["object", "encoding", "strs"]));
        t.push(c.cmd(&["sadd", "ints", "1", "2"]));
        t.push(c.cmd(&["object", "encoding", "ints"]));
        t
    });
}

#[test]
fn smove_signals_the_destination_only_when_added() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut w = raw_at(port);
        let mut t = vec![c.cmd(&["sadd", "{s}src", "m", "n"]), c.cmd(&["sadd", "{s}dst", "m"])];
        // The member is already there: WATCH on the destination sees no change.
        t.push(w.cmd(&["watch", "{s}dst"]));
        t.push(c.cmd(&["smove", "{s}src", "{s}dst", "m"]));
        t.push(w.cmd(&["multi"]));
        t.push(w.cmd(&["ping"]));
        t.push(w.cmd(&["exec"]));
        // Added this time: the transaction aborts.
        t.push(w.cmd(&["watch", "{s}dst"]));
        t.push(c.cmd(&["smove", "{s}src", "{s}dst", "n"]));
        t.push(w.cmd(&["multi"]));
        t.push(w.cmd(&["ping"]));
        t.push(w.cmd(&["exec"]));
        t
    });
}

#[test]
fn flushes_and_swapdb_abort_only_watches_on_keys_that_existed() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut w = raw_at(port);
        let mut t = Vec::new();
        let mut attempt = |w: &mut Raw, c: &mut Raw, watched: &str, change: &[&str]| {
            t.push(w.cmd(&["watch", watched]));
            t.push(c.cmd(change));
            t.push(w.cmd(&["multi"]));
            t.push(w.cmd(&["ping"]));
            t.push(w.cmd(&["exec"]));
        };
        attempt(&mut w, &mut c, "missing", &["flushall"]);
        attempt(&mut w, &mut c, "missing", &["flushdb"]);
        c.cmd(&["set", "there", "1"]);
        attempt(&mut w, &mut c, "there", &["flushall"]);
        c.cmd(&["set", "there", "1"]);
        attempt(&mut w, &mut c, "there", &["flushdb"]);
        attempt(&mut w, &mut c, "missing", &["swapdb", "0", "1"]);
        c.cmd(&["select", "1"]);
        c.cmd(&["set", "incoming", "1"]);
        attempt(&mut w, &mut c, "incoming", &["swapdb", "0", "1"]);
        t
    });
}

#[test]
fn info_errorstats_counts_errors_by_code() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = vec![c.cmd(&["config", "resetstat"])];
        t.push(c.cmd(&["set", "s", "v"]));
        t.push(c.cmd(&["lpush", "s", "x"]));
        t.push(c.cmd(&["nosuch"]));
        t.push(c.cmd(&["get"]));
        t.push(c.cmd(&["incr", "s"]));
        let Resp::Bulk(info) = c.cmd(&["info", "errorstats"]) else { panic!("INFO errorstats") };
        t.push(Resp::Bulk(info));
        let Resp::Bulk(all) = c.cmd(&["info"]) else { panic!("INFO") };
        t.push(Resp::Bool(String::from_utf8(all).unwrap().contains("# Errorstats\r\nerrorstat_")));
        t
    });
}

#[test]
fn object_encoding_follows_in_place_edits_and_7_0s_thresholds() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = Vec::new();
        fn enc(t: &mut Vec<Resp>, c: &mut Raw, setup: &[&[&str]], key: &str) {
            for cmd in setup {
                t.push(c.cmd(cmd));
            }
            t.push(c.cmd(&["object", "encoding", key]));
        }
        let long = "x".repeat(45);
        let embstr_max = "x".repeat(44);
        // Strings: int / embstr / raw by SET, raw after any in-place edit.
        enc(&mut t, &mut c, &[&["set", "i", "12345"]], "i");
        enc(&mut t, &mut c, &[&["set", "e44", &embstr_max]], "e44");
        enc(&mut t, &mut c, &[&["set", "r45", &long]], "r45");
        enc(&mut t, &mut c, &[&["append", "i", "6"]], "i");
        enc(&mut t, &mut c, &[&["append", "newi", "123"]], "newi");
        enc(&mut t, &mut c, &[&["append", "news", "abc"]], "news");
        enc(&mut t, &mut c, &[&["set", "e", "abc"], &["append", "e", "d"]], "e");
        enc(&mut t, &mut c, &[&["setrange", "sr", "0", "abc"]], "sr");
        enc(&mut t, &mut c, &[&["set", "x", "abc"], &["setrange", "x", "0", ""]], "x");
        enc(&mut t, &mut c, &[&["setrange", "x", "1", "z"]], "x");
        enc(&mut t, &mut c, &[&["setbit", "b", "1", "1"]], "b");
        enc(&mut t, &mut c, &[&["set", "sb", "abc"], &["setbit", "sb", "1", "1"]], "sb");
        enc(&mut t, &mut c, &[&["bitfield", "bf", "set", "u8", "0", "1"]], "bf");
        enc(&mut t, &mut c, &[&["bitop", "or", "{b}d", "{b}1", "{b}2"]], "{b}d");
        enc(&mut t, &mut c, &[&["set", "{b}1", "a"], &["bitop", "or", "{b}d", "{b}1", "{b}2"]], "{b}d");
        enc(&mut t, &mut c, &[&["pfadd", "h", "a"]], "h");
        enc(&mut t, &mut c, &[&["copy", "sr", "sr2"]], "sr2");
        enc(&mut t, &mut c, &[&["getex", "sr"], &["getrange", "sr", "0", "1"]], "sr");
        // A whole rewrite drops `raw`.
        enc(&mut t, &mut c, &[&["set", "n", "5"], &["append", "n", "1"], &["incr", "n"]], "n");
        enc(&mut t, &mut c, &[&["set", "sr", "abc"]], "sr");
        // INCRBYFLOAT's text is never `int`; a refused command changes no encoding.
        enc(&mut t, &mut c, &[&["set", "f", "1"], &["incrbyfloat", "f", "1"]], "f");
        enc(&mut t, &mut c, &[&["incrbyfloat", "nf", "2"]], "nf");
        enc(&mut t, &mut c, &[&["incr", "f"]], "f");
        enc(&mut t, &mut c, &[&["set", "f2", "5"], &["incrbyfloat", "f2", "abc"]], "f2");
        enc(&mut t, &mut c, &[&["set", "n2", "abc"], &["append", "n2", "d"], &["incr", "n2"]], "n2");
        enc(&mut t, &mut c, &[&["set", "h2", "abc"], &["pfadd", "h2", "a"]], "h2");
        // Hashes: listpack up to 7.0's built-in 512 fields.
        let mut fields = vec!["hset".to_string(), "hh".to_string()];
        for i in 0..512 {
            fields.push(format!("f{i}"));
            fields.push(format!("v{i}"));
        }
        t.push(c.cmd(&fields));
        enc(&mut t, &mut c, &[], "hh");
        enc(&mut t, &mut c, &[&["hset", "hh", "f512", "v"]], "hh");
        enc(&mut t, &mut c, &[&["hdel", "hh", "f512", "f511"]], "hh");
        enc(&mut t, &mut c, &[&["hset", "hv", "a", &"v".repeat(65)]], "hv");
        // Sets: intset up to 512, strings in a hashtable; never back.
        let mut members = vec!["sadd".to_string(), "si".to_string()];
        members.extend((0..512).map(|i| i.to_string()));
        t.push(c.cmd(&members));
        enc(&mut t, &mut c, &[], "si");
        enc(&mut t, &mut c, &[&["sadd", "si", "512"]], "si");
        enc(&mut t, &mut c, &[&["sadd", "ss", "1", "2"], &["sadd", "ss", "a"], &["srem", "ss", "a"]], "ss");
        // Sorted sets: listpack up to 128 members of up to 64 bytes.
        let mut zm = vec!["zadd".to_string(), "z".to_string()];
        for i in 0..128 {
            zm.push(i.to_string());
            zm.push(format!("m{i}"));
        }
        t.push(c.cmd(&zm));
        enc(&mut t, &mut c, &[], "z");
        enc(&mut t, &mut c, &[&["zadd", "z", "1", "m128"]], "z");
        enc(&mut t, &mut c, &[&["zadd", "zl", "1", &"m".repeat(65)]], "zl");
        enc(&mut t, &mut c, &[&["rpush", "l", "a"]], "l");
        // The parameters behind the thresholds, as a redis-server without a config file
        // has them; 7.2's set-max-listpack-* do not exist in 7.0.
        for name in [
            "hash-max-listpack-entries",
            "hash-max-ziplist-entries",
            "set-max-intset-entries",
            "zset-max-listpack-entries",
        ] {
            t.push(c.cmd(&["config", "get", name]));
        }
        t.push(c.cmd(&["config", "get", "set-max-listpack-*"]));
        t.push(c.cmd(&["config", "set", "set-max-listpack-entries", "1"]));
        t
    });
}

#[test]
fn multi_refuses_save_and_shutdown_and_a_failing_config_set_aborts_nothing() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = Vec::new();
        // SAVE and SHUTDOWN are refused while queuing, and EXEC then aborts.
        for refused in [&["save"][..], &["shutdown"], &["shutdown", "nosave"]] {
            t.push(c.cmd(&["multi"]));
            t.push(c.cmd(&["set", "a", "1"]));
            t.push(c.cmd(refused));
            t.push(c.cmd(&["exec"]));
            t.push(c.cmd(&["get", "a"]));
        }
        // A wrong-arity SAVE is an arity error first, as in Redis.
        t.push(c.cmd(&["multi"]));
        t.push(c.cmd(&["save", "x"]));
        t.push(c.cmd(&["discard"]));
        // CONFIG SET errors at run time: the other commands still run, and a
        // multi-parameter CONFIG SET that fails changes none of its parameters.
        t.push(c.cmd(&["multi"]));
        t.push(c.cmd(&["config", "set", "hz", "20"]));
        t.push(c.cmd(&["config", "set", "maxmemory", "abc"]));
        t.push(c.cmd(&["config", "set", "nosuch", "1"]));
        t.push(c.cmd(&["config", "set", "hz", "30", "maxmemory-policy", "bogus"]));
        t.push(c.cmd(&["set", "b", "1"]));
        t.push(c.cmd(&["exec"]));
        t.push(c.cmd(&["get", "b"]));
        t.push(c.cmd(&["config", "get", "hz"]));
        t.push(c.cmd(&["config", "get", "maxmemory-policy"]));
        t.push(c.cmd(&["ping"]));
        t
    });
}

#[test]
fn client_info_shows_the_running_request_and_sharded_subscribers() {
    compare(&[], |port| {
        let mut t = Vec::new();
        let mut me = raw_at(port);
        // Alone in its read, CLIENT INFO's request is the whole query buffer: 26 bytes.
        let Resp::Bulk(info) = me.cmd(&["client", "info"]) else { panic!("CLIENT INFO") };
        let info = String::from_utf8(info).unwrap();
        let field = |line: &str, k: &str| -> String {
            line.split(' ').find_map(|kv| kv.strip_prefix(&format!("{k}="))).unwrap_or("(none)").trim().to_string()
        };
        for k in ["qbuf", "argv-mem", "cmd", "ssub"] {
            t.push(Resp::bulk(&format!("{k}={}", field(&info, k))));
        }
        t.push(Resp::Bool(field(&info, "qbuf-free").parse::<u64>().is_ok()));
        // The last field is 7.0's `resp`: no 7.2 lib-name/lib-ver, and no CLIENT SETINFO.
        t.push(Resp::Bool(info.trim_end().ends_with(" resp=2")));
        t.push(me.cmd(&["client", "setinfo", "lib-name", "x"]));
        // A sharded subscriber is a pub/sub client.
        let mut ssub = raw_at(port);
        ssub.send(&encode_cmd(&["ssubscribe", "sch"]));
        t.push(ssub.read());
        let Resp::Bulk(list) = me.cmd(&["client", "list", "type", "pubsub"]) else { panic!("CLIENT LIST") };
        let list = String::from_utf8(list).unwrap();
        for line in list.lines() {
            for k in ["flags", "sub", "psub", "ssub", "cmd"] {
                t.push(Resp::bulk(&format!("{k}={}", field(line, k))));
            }
        }
        t
    });
}

#[test]
fn acl_setuser_disconnects_subscribers_whose_channels_it_takes_away() {
    compare(&[], |port| {
        let mut t = Vec::new();
        let mut admin = raw_at(port);
        t.push(admin.cmd(&["acl", "setuser", "u", "on", "nopass", "~*", "&*", "+@all"]));
        let client = |subscribe: &[&str]| {
            let mut c = raw_at(port);
            assert_eq!(c.cmd(&["auth", "u", "x"]), Resp::simple("OK"));
            if !subscribe.is_empty() {
                c.send(&encode_cmd(subscribe));
                c.read();
            }
            c
        };
        let mut kept_channel = client(&["subscribe", "abc"]);
        let mut lost_pattern = client(&["psubscribe", "a*"]);
        let mut lost_channel = client(&["subscribe", "zzz"]);
        let mut lost_sharded = client(&["ssubscribe", "zzz"]);
        let mut kept_sharded = client(&["ssubscribe", "abc"]);
        let mut not_subscribed = client(&[]);
        t.push(admin.cmd(&["acl", "setuser", "u", "resetchannels", "&abc", "&a*"]));
        t.push(admin.cmd(&["acl", "setuser", "u", "resetchannels", "&abc"]));
        // Closed: the read sees the end of the stream (Redis frees them after the reply).
        for c in [&mut lost_pattern, &mut lost_channel, &mut lost_sharded] {
            c.send(&encode_cmd(&["ping"]));
            t.push(Resp::Bool(c.r.read().is_err()));
        }
        for c in [&mut kept_channel, &mut kept_sharded, &mut not_subscribed] {
            t.push(c.cmd(&["ping"]));
        }
        // Turning the user off, or widening its channels, closes nobody.
        t.push(admin.cmd(&["acl", "setuser", "u", "off", "allchannels"]));
        t.push(kept_channel.cmd(&["ping"]));
        // A pattern subscription survives only if the pattern is allowed literally.
        t.push(admin.cmd(&["acl", "setuser", "u", "on"]));
        let mut literal = client(&["psubscribe", "ab*"]);
        t.push(admin.cmd(&["acl", "setuser", "u", "resetchannels", "&ab*", "&abc"]));
        t.push(literal.cmd(&["ping"]));
        t.push(kept_channel.cmd(&["ping"]));
        // DELUSER closes every connection of the user.
        t.push(admin.cmd(&["acl", "deluser", "u"]));
        for c in [&mut kept_channel, &mut not_subscribed] {
            c.send(&encode_cmd(&["ping"]));
            t.push(Resp::Bool(c.r.read().is_err()));
        }
        t
    });
}

#[test]
fn monitor_inside_multi_is_queued_and_refused_at_exec() {
    compare(&[], |port| {
        let mut t = Vec::new();
        let mut c = raw_at(port);
        let mut watcher = raw_at(port);
        t.push(watcher.cmd(&["monitor"]));
        // Queued like any command; EXEC answers its error in its slot and runs the rest.
        t.push(c.cmd(&["multi"]));
        t.push(c.cmd(&["monitor"]));
        t.push(c.cmd(&["set", "a", "1"]));
        t.push(c.cmd(&["exec"]));
        t.push(c.cmd(&["multi"]));
        t.push(c.cmd(&["monitor"]));
        t.push(c.cmd(&["exec"]));
        // The client did not become a monitor: it still gets one reply per command.
        t.push(c.cmd(&["get", "a"]));
        let Resp::Bulk(info) = c.cmd(&["client", "info"]) else { panic!("CLIENT INFO") };
        let info = String::from_utf8(info).unwrap();
        t.push(Resp::Bool(info.contains(" flags=N ")));
        // The real monitor saw the transaction's commands but not the refused MONITOR.
        for _ in 0..7 {
            let Resp::Simple(line) = watcher.read() else { panic!("monitor line") };
            let shown = line.split_once("] ").map(|(_, cmd)| cmd.to_string()).expect("monitor line format");
            t.push(Resp::Simple(shown));
        }
        t
    });
}

/// A CLIENT LIST line's fields by name.
fn client_fields(line: &str) -> std::collections::HashMap<String, String> {
    line.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

/// The query-buffer fields of the client named `name`, once two readings agree
/// (the half-sent bytes may still be arriving).
fn settled_query_buffer(admin: &mut Raw, name: &str) -> String {
    let mut read = || {
        let Resp::Bulk(list) = admin.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
        let list = String::from_utf8(list).unwrap();
        let line = list.lines().find(|l| l.contains(&format!(" name={name} "))).expect("the named client");
        let f = client_fields(line);
        // A big argument's buffer is sized by how its bytes arrived in Redis (read
        // sizes vary): only that it has room left is compared.
        let free = if name == "big" { (f["qbuf-free"] != "0").to_string() } else { f["qbuf-free"].clone() };
        format!("qbuf={} qbuf-free={free} argv-mem={}", f["qbuf"], f["argv-mem"])
    };
    let mut last = read();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let now = read();
            std::mem::replace(&mut last, now.clone()) == now && !now.starts_with("qbuf=0 ")
        }),
        "{name}'s query buffer never settled"
    );
    last
}

#[test]
fn client_list_query_buffer_fields_follow_redis() {
    // Requests cut short: in a bulk's payload, in a `$` header, in a big argument
    // (read straight into a buffer of its size), and an inline one without its newline.
    let halves: [(&str, Vec<u8>); 4] = [
        ("bulk", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n01234".to_vec()),
        ("header", b"*3\r\n$3\r\nSET\r\n$5\r\nkk".to_vec()),
        ("big", [&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n"[..], &[b'x'; 50000][..]].concat()),
        ("inline", b"SET k".to_vec()),
    ];
    let real = RealRedis::start(&temp_dir("redis"));
    let servers: Vec<Server> = SHARD_COUNTS.iter().map(|&n| Server::start(n, &[])).collect();
    let ports: Vec<u16> = std::iter::once(real.port).chain(servers.iter().map(|s| s.port)).collect();
    let mut transcripts = Vec::new();
    let mut kept = Vec::new();
    for &port in &ports {
        let mut t = Vec::new();
        let mut admin = raw_at(port);
        let mut idle = raw_at(port);
        t.push(idle.cmd(&["client", "setname", "idle"]));
        for (name, bytes) in &halves {
            let mut c = raw_at(port);
            t.push(c.cmd(&["client", "setname", name]));
            c.send(bytes);
            kept.push(c);
        }
        for (name, _) in &halves {
            t.push(Resp::bulk(&format!("{name} {}", settled_query_buffer(&mut admin, name))));
        }
        // The caller's own line shows its running request: 26 bytes of CLIENT LIST.
        let Resp::Bulk(list) = admin.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
        let list = String::from_utf8(list).unwrap();
        let mine = list.lines().find(|l| l.contains(" cmd=client|list ")).map(client_fields).expect("own line");
        t.push(Resp::bulk(&format!(
            "qbuf={} qbuf-free={} argv-mem={}",
            mine["qbuf"], mine["qbuf-free"], mine["argv-mem"]
        )));
        // Pipelined in one read: Redis's query buffer holds the whole read until every
        // request in it ran, so CLIENT INFO counts the requests before it (34 bytes).
        let mut piped = raw_at(port);
        piped.send(b"PING\r\nSET a 1\r\nCLIENT INFO\r\nPING\r\n");
        t.push(piped.read());
        t.push(piped.read());
        let Resp::Bulk(info) = piped.read() else { panic!("CLIENT INFO") };
        let f = client_fields(&String::from_utf8(info).unwrap());
        t.push(Resp::bulk(&format!("qbuf={} qbuf-free={} argv-mem={}", f["qbuf"], f["qbuf-free"], f["argv-mem"])));
        t.push(piped.read());
        kept.push(idle);
        transcripts.push((t, admin));
    }
    // After 2 s idle, Redis's cron gives the free space back: 0 everywhere (all three
    // servers' clients have been idle since the loop above, so this waits once).
    for (t, admin) in transcripts.iter_mut() {
        for name in ["idle", "bulk", "big"] {
            let freed = wait_until(Duration::from_secs(10), || {
                let Resp::Bulk(list) = admin.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
                let list = String::from_utf8(list).unwrap();
                let line = list.lines().find(|l| l.contains(&format!(" name={name} "))).expect("named client");
                client_fields(line)["qbuf-free"] == "0"
            });
            t.push(Resp::Bool(freed));
        }
    }
    let want = &transcripts[0].0;
    for (i, (got, _)) in transcripts.iter().enumerate().skip(1) {
        assert_eq!(got, want, "shardis with {} shards differs from redis-server", SHARD_COUNTS[i - 1]);
    }
}

/// (`rbs`, `rbp`) of the client named `name` in CLIENT LIST.
fn reply_buffer_of(admin: &mut Raw, name: &str) -> (usize, usize) {
    let Resp::Bulk(list) = admin.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
    let list = String::from_utf8(list).unwrap();
    let line = list.lines().find(|l| l.contains(&format!(" name={name} "))).expect("the named client");
    let f = client_fields(line);
    (f["rbs"].parse().unwrap(), f["rbp"].parse().unwrap())
}

#[test]
fn client_list_reply_buffer_size_and_peak_follow_redis() {
    compare(&[], |port| {
        let mut t = Vec::new();
        let mut admin = raw_at(port);
        let mut tc = raw_at(port);
        let settles = |admin: &mut Raw, want: (usize, usize), mut poke: Box<dyn FnMut() + '_>| {
            let ok = wait_until(Duration::from_secs(10), || {
                poke();
                reply_buffer_of(admin, "tc") == want
            });
            Resp::bulk(&format!("{want:?} {}", if ok { "reached" } else { "never reached" }))
        };
        t.push(tc.cmd(&["client", "setname", "tc"]));
        t.push(admin.cmd(&["debug", "replybuffer", "peak-reset-time", "100"]));
        // Idle: the peak is reset to 0 and the 16 KiB buffer shrinks to 1 KiB.
        t.push(settles(&mut admin, (1024, 0), Box::new(|| {})));
        t.push(admin.cmd(&["set", "bigval", &"x".repeat(32768)]));
        t.push(admin.cmd(&["debug", "replybuffer", "peak-reset-time", "never"]));
        // Each big reply fills the buffer: the cron doubles it, up to 16 KiB.
        t.push(settles(
            &mut admin,
            (16384, 16384),
            Box::new(|| {
                tc.cmd(&["get", "bigval"]);
            }),
        ));
        // Resizing off: the cron leaves the buffer alone, peak included; on again, the
        // peak resets and the buffer shrinks.
        t.push(admin.cmd(&["debug", "replybuffer", "resizing", "0"]));
        t.push(admin.cmd(&["debug", "replybuffer", "peak-reset-time", "100"]));
        tc.cmd(&["ping"]);
        t.push(Resp::bulk(&format!("{:?}", reply_buffer_of(&mut admin, "tc"))));
        t.push(admin.cmd(&["debug", "replybuffer", "resizing", "1"]));
        t.push(settles(&mut admin, (1024, 0), Box::new(|| {})));
        t.push(admin.cmd(&["debug", "replybuffer", "peak-reset-time", "reset"]));
        t.push(admin.cmd(&["debug", "replybuffer", "peak-reset-time", "soon"]));
        t.push(admin.cmd(&["debug", "replybuffer", "sizing", "1"]));
        t
    });
}

/// INFO commandstats counts a container's subcommands apart (`cmdstat_config|get`),
/// an unknown subcommand nowhere, a subcommand's wrong arity as its rejected call, and
/// INFO not itself; the last two also abort a transaction. (Times are left out.)
#[test]
fn commandstats_count_subcommands_apart_and_refuse_them_as_redis_does() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = vec![c.cmd(&["config", "resetstat"])];
        for cmd in [
            &["config", "get", "maxmemory"][..],
            &["client", "id"],
            &["client", "getname"],
            &["config", "foo"],
            &["config"],
            &["config", "get"],
            &["object", "encoding", "nokey"],
            &["object"],
            &["object", "foo", "x"],
            &["multi"],
            &["config", "Foo"],
            &["exec"],
            &["multi"],
            &["client", "setname"],
            &["exec"],
        ] {
            let reply = c.cmd(cmd);
            // CLIENT ID differs between servers; its type does not.
            t.push(if cmd == ["client", "id"] { Resp::Bool(matches!(reply, Resp::Int(_))) } else { reply });
        }
        let Resp::Bulk(info) = c.cmd(&["info", "commandstats"]) else { panic!("INFO commandstats") };
        let mut lines: Vec<String> = String::from_utf8(info)
            .unwrap()
            .lines()
            .map(|l| l.split(',').filter(|f| !f.contains("usec")).collect::<Vec<_>>().join(","))
            .collect();
        lines.sort();
        t.push(Resp::Bulk(lines.join("\n").into_bytes()));
        t
    });
}

/// Found by redis-py's own test suite run against shardis (its connection tests
/// simulate LOADING, READONLY and OOM with DEBUG ERROR; its stream tests set
/// ENTRIESREAD past the entries added).
#[test]
fn debug_error_and_a_negative_consumer_group_lag_as_redis() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut t = vec![c.cmd(&["config", "resetstat"])];
        t.push(c.cmd(&["debug", "error", "LOADING fake message"]));
        t.push(c.cmd(&["debug", "error", "-FOO keeps its dash"]));
        t.push(c.cmd(&["debug", "error", "two\r\nlines"]));
        t.push(c.cmd(&["debug", "error", ""]));
        t.push(c.cmd(&["debug", "error"]));
        // Replies written as they are, not counted as errors.
        t.push(c.cmd(&["info", "errorstats"]));
        t.push(c.cmd(&["xadd", "s", "1-1", "f", "v"]));
        t.push(c.cmd(&["xgroup", "create", "s", "g", "0"]));
        t.push(c.cmd(&["xgroup", "setid", "s", "g", "1-1", "entriesread", "2"]));
        t.push(c.cmd(&["xinfo", "groups", "s"]));
        t.push(c.cmd(&["xgroup", "setid", "s", "g", "0", "entriesread", "7"]));
        t.push(c.cmd(&["xinfo", "groups", "s"]));
        t.push(c.cmd(&["xgroup", "create", "s", "h", "$", "entriesread", "9"]));
        t.push(c.cmd(&["xinfo", "stream", "s", "full"]));
        t
    });
}

/// A write signals only the keys it changes, as Redis's `signalModifiedKey` calls do:
/// the sources of COPY and of the STORE commands are read, so a WATCH on one survives
/// them, and an SMOVE that finds no member changes nothing. shardis aborted these
/// transactions (found by `diff_random_keys`, seeds 3070 and 3075, with 4 shards).
#[test]
fn watched_sources_of_copy_and_stores_survive_as_in_redis() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut w = raw_at(port);
        let cases: &[(&[&str], &str)] = &[
            (&["copy", "b", "c"], "b"),
            (&["copy", "b", "c", "replace"], "b"),
            (&["sunionstore", "u", "s1"], "s1"),
            (&["sinterstore", "u", "s1", "s9"], "s1"),
            (&["bitop", "or", "bb", "b2"], "b2"),
            (&["pfmerge", "h", "h2"], "h2"),
            (&["zunionstore", "zu", "1", "z1"], "z1"),
            (&["zrangestore", "zr", "z1", "0", "-1"], "z1"),
            (&["smove", "s1", "s2", "absent"], "s1"),
            (&["smove", "s1", "s2", "absent"], "s2"),
            // Changed keys still abort.
            (&["sunionstore", "s1", "s1", "s2"], "s1"),
            (&["lmove", "l1", "l2", "left", "left"], "l2"),
        ];
        let mut t = Vec::new();
        for (cmd, watched) in cases {
            c.cmd(&["flushall"]);
            c.cmd(&["rpush", "b", "x"]);
            c.cmd(&["sadd", "s1", "m"]);
            c.cmd(&["sadd", "s2", "n"]);
            c.cmd(&["setbit", "b2", "1", "1"]);
            c.cmd(&["pfadd", "h2", "a"]);
            c.cmd(&["zadd", "z1", "1", "a"]);
            c.cmd(&["rpush", "l1", "a"]);
            t.push(w.cmd(&["watch", watched]));
            t.push(c.cmd(cmd));
            t.push(w.cmd(&["multi"]));
            t.push(w.cmd(&["ping"]));
            t.push(w.cmd(&["exec"]));
        }
        t
    });
}

/// A pop that names several keys changes only the one it popped from, and signals only
/// that one (Redis's `signalModifiedKey`): a WATCH on another of its keys survives.
/// shardis signalled every key the command named, so these transactions aborted. The
/// key pairs sit on different shards with 4 shards (l1/l2, z1/z2), and on one
/// ({t}1/{t}2).
#[test]
fn pops_signal_only_the_key_they_popped_from_as_in_redis() {
    compare(&[], |port| {
        let mut c = raw_at(port);
        let mut w = raw_at(port);
        let cases: &[(&[&str], &str)] = &[
            (&["lmpop", "2", "l1", "l2", "left"], "l2"),
            (&["lmpop", "2", "l1", "l2", "right", "count", "5"], "l2"),
            (&["lmpop", "2", "l9", "l1", "left"], "l9"),
            (&["blpop", "l1", "l2", "0"], "l2"),
            (&["brpop", "l9", "l1", "l2", "0"], "l2"),
            (&["blmpop", "0", "2", "l1", "l2", "left"], "l2"),
            (&["lmpop", "2", "{t}1", "{t}2", "left"], "{t}2"),
            (&["zmpop", "2", "z1", "z2", "min"], "z2"),
            (&["bzpopmin", "z1", "z2", "0"], "z2"),
            (&["bzpopmax", "z9", "z1", "z2", "0"], "z9"),
            (&["bzmpop", "0", "2", "z1", "z2", "max", "count", "2"], "z2"),
            // The key popped from still aborts.
            (&["lmpop", "2", "l1", "l2", "left"], "l1"),
            (&["blpop", "l9", "l2", "0"], "l2"),
            (&["zmpop", "2", "z9", "z2", "min"], "z2"),
        ];
        let mut t = Vec::new();
        for (cmd, watched) in cases {
            c.cmd(&["flushall"]);
            c.cmd(&["rpush", "l1", "a", "b"]);
            c.cmd(&["rpush", "l2", "c"]);
            c.cmd(&["rpush", "{t}1", "a"]);
            c.cmd(&["rpush", "{t}2", "b"]);
            c.cmd(&["zadd", "z1", "1", "a", "2", "b"]);
            c.cmd(&["zadd", "z2", "3", "c"]);
            t.push(w.cmd(&["watch", watched]));
            t.push(c.cmd(cmd));
            t.push(w.cmd(&["multi"]));
            t.push(w.cmd(&["ping"]));
            t.push(w.cmd(&["exec"]));
        }
        t
    });
}

/// One parser reads the SCAN family's arguments: its errors are Redis's for SCAN and
/// for a key's HSCAN/SSCAN/ZSCAN (where TYPE is no option).
#[test]
fn scan_family_argument_errors_match_redis() {
    common::compare::each_pair("scan-args", |p| {
        p.same(&["hset", "h", "f", "v"]);
        p.same(&["sadd", "s", "m"]);
        p.same(&["zadd", "z", "1", "m"]);
        for (cmd, key) in [("scan", None), ("hscan", Some("h")), ("sscan", Some("s")), ("zscan", Some("z"))] {
            let head: Vec<&str> = std::iter::once(cmd).chain(key).collect();
            for tail in [
                &["abc"][..],
                &["-"],
                &["99999999999999999999"],
                &["0", "count", "0"],
                &["0", "count", "-1"],
                &["0", "count", "x"],
                &["0", "count"],
                &["0", "match"],
                &["0", "type", "hash"],
                &["0", "type"],
                &["0", "novalue", "x"],
                &["0", "count", "5", "match", "m*", "count", "50"],
            ] {
                let args: Vec<&str> = head.iter().chain(tail).copied().collect();
                let r = p.same(&args);
                // A reply that is not an error has a cursor 0 (all fit in one call).
                if let Resp::Array(v) = &r {
                    assert_eq!(v[0], Resp::bulk("0"), "{args:?}");
                }
            }
        }
    });
}

/// SCAN expires only the keys its MATCH lets through, as Redis 7.0 does (it filters by
/// pattern before it looks a key up or expires it); with TYPE, a matching expired key
/// goes whatever its type. Active expiry is off so only the commands decide.
#[test]
fn scan_expires_only_what_its_pattern_lets_through() {
    common::compare::each_pair("scan-expiry", |p| {
        p.same(&["debug", "set-active-expire", "0"]);
        // SET with a time already gone keeps the key (Redis 7.0) until it is expired.
        for k in ["n", "zx", "zy", "hx", "ax", "bx"] {
            p.same(&["set", k, "v", "pxat", "1"]);
        }
        p.same(&["set", "live", "v"]);
        p.same(&["hset", "hhx", "f", "v"]);
        p.same(&["dbsize"]);
        for scan in [
            &["scan", "0", "match", "zx"][..],
            &["scan", "0", "match", "*x", "type", "hash"],
            &["scan", "0", "type", "string"],
            &["scan", "0"],
        ] {
            p.same_unordered(&["keys", "*"]);
            let (ours, theirs) = p.both(scan);
            let sorted = |r: Resp| match r {
                Resp::Array(mut v) => {
                    if let Resp::Array(keys) = &mut v[1] {
                        keys.sort_by_key(|k| format!("{k:?}"));
                    }
                    Resp::Array(v)
                }
                other => other,
            };
            assert_eq!(sorted(ours), sorted(theirs), "{scan:?}");
            p.same(&["dbsize"]);
        }
        p.same(&["debug", "set-active-expire", "1"]);
    });
}

/// DEL and UNLINK signal only the keys they deleted, as Redis does: a WATCH on a key
/// they named but did not find survives, whether the deleted key is on its shard or
/// on another one (found by the generators, seed 3177).
#[test]
fn del_signals_only_the_keys_it_deleted() {
    common::compare::each_pair("del-watch", |p| {
        for del in ["del", "unlink"] {
            for other in ["y", "zz", "{x}y", "k1", "k2", "k3"] {
                p.same(&["zadd", other, "1", "m"]);
                p.same(&["watch", "x"]);
                p.same(&[del, "x", other]);
                p.same(&["multi"]);
                p.same(&["exec"]);
                // A key it did delete is a change for whoever watched it.
                p.same(&["set", "x", "1"]);
                p.same(&["watch", "x"]);
                p.same(&[del, other, "x"]);
                p.same(&["multi"]);
                p.same(&["exec"]);
            }
        }
    });
}

/// Distances are written as Redis's `fixedpoint_d2string` writes them (scaled by 10^4
/// and rounded half to even); these two points are 10684726.5262 m apart for Redis,
/// where rounding the exact binary value gives ...5261 (found by the generators, seed
/// 181, with another pair).
#[test]
fn geo_distances_round_as_redis() {
    common::compare::each_pair("geo-round", |p| {
        p.same(&["geoadd", "gt", "-173.6893", "8.66", "a", "69.8491", "58.016", "b"]);
        p.same(&["geodist", "gt", "a", "b"]);
        p.same(&["geodist", "gt", "b", "a", "m"]);
        p.same(&["geosearch", "gt", "frommember", "a", "byradius", "20000", "km", "asc", "withdist"]);
        p.same(&["georadiusbymember", "gt", "a", "20000", "km", "asc", "withdist"]);
    });
}

/// DEBUG DIGEST is of what the keyspace holds: a key whose time has passed but that
/// nothing has expired yet counts, as in Redis (found by the generators, seed 1187).
#[test]
fn digest_counts_expired_keys_still_held() {
    common::compare::each_pair("digest-expired", |p| {
        p.same(&["debug", "set-active-expire", "0"]);
        p.same(&["set", "live", "v"]);
        p.same(&["debug", "digest"]);
        p.same(&["set", "gone", "v", "pxat", "1"]);
        p.same(&["hset", "h", "f", "v"]);
        p.same(&["select", "3"]);
        // A database holding only an expired key is in the digest too.
        p.same(&["set", "only", "v", "pxat", "1"]);
        p.same(&["debug", "digest"]);
        p.same(&["debug", "digest-value", "only"]);
        p.same(&["select", "0"]);
        p.same(&["debug", "set-active-expire", "1"]);
    });
}

/// A BLMOVE or BRPOPLPUSH whose timeout passes answers a null array, as every timed-out
/// wait in Redis does, where inside MULTI (where it cannot wait) it answers a null
/// bulk; BLMPOP and BZMPOP read their timeout after the rest of their arguments, so a
/// bad `numkeys` is the error a bad pair gets (found by the generators, seed 1).
#[test]
fn blocking_moves_and_mpops_answer_as_redis() {
    common::compare::each_pair("blocking-replies", |p| {
        p.same(&["blmove", "bm-empty", "bm-dst", "right", "left", "0.01"]);
        p.same(&["brpoplpush", "bm-empty", "bm-dst", "0.01"]);
        p.same(&["blpop", "bm-empty", "0.01"]);
        p.same(&["multi"]);
        p.same(&["blmove", "bm-empty", "bm-dst", "right", "left", "0"]);
        p.same(&["brpoplpush", "bm-empty", "bm-dst", "0"]);
        p.same(&["blpop", "bm-empty", "0"]);
        p.same(&["exec"]);
        p.same(&["blmpop", "x", "0", "bm-empty", "left"]);
        p.same(&["blmpop", "x", "1", "bm-empty", "middle"]);
        p.same(&["blmpop", "x", "1", "bm-empty", "left", "count", "0"]);
        p.same(&["bzmpop", "x", "0", "bm-empty", "min"]);
        p.same(&["bzmpop", "x", "1", "bm-empty", "left"]);
        p.same(&["bzmpop", "-1", "1", "bm-empty", "min"]);
    });
}
