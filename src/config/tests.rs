use super::*;

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn get1(cfg: &Config, name: &str) -> String {
    cfg.value(name).unwrap()
}

/// A unique scratch directory under the system temp dir.
fn scratch_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "shardis-config-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn defaults_match_table() {
    let def = Config::default();
    for p in PARAMS {
        let mut c = Config::default();
        c.apply_directive(p.name, &[p.default.to_string()]).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(c.value_of(p), def.value_of(p), "default of {}", p.name);
        // Field parameters and compat parameters are kept apart.
        assert_eq!(def.field_value(p.name).is_some(), p.store == Store::Field, "{}", p.name);
        assert_eq!(def.compat.contains_key(p.name), p.store == Store::Compat, "{}", p.name);
    }
    assert_eq!(get1(&def, "save"), "3600 1 300 100 60 10000");
    assert_eq!(get1(&def, "proto-max-bulk-len"), "536870912");
    assert_eq!(get1(&def, "bind"), "127.0.0.1");
    assert_eq!(def.shards, params::online_cpus());
    assert!(def.active_expire_enabled);
}

#[test]
fn every_parameter_round_trips_through_get_and_set() {
    let mut cfg = Config::default();
    let all = cfg.get(&["*"]);
    // Aliases are listed too, hidden parameters are not.
    let want: usize = PARAMS.iter().filter(|p| !params::HIDDEN.contains(&p.name)).map(|p| 1 + p.aliases.len()).sum();
    assert_eq!(all.len(), want, "CONFIG GET * lists every name once");
    for p in PARAMS {
        let got = cfg.get(&[p.name]);
        assert_eq!(got.len(), 1, "{}", p.name);
        assert_eq!(got[0].0, p.name);
        if p.is_mutable() {
            let before = cfg.value_of(p);
            let changed = cfg
                .set(&pairs(&[(p.name, &got[0].1)]))
                .unwrap_or_else(|e| panic!("CONFIG SET {} {:?}: {e}", p.name, got[0].1));
            assert!(changed.is_empty(), "{} changed on round trip", p.name);
            assert_eq!(cfg.value_of(p), before);
        } else {
            assert!(cfg.set(&pairs(&[(p.name, &got[0].1)])).is_err(), "{} is immutable", p.name);
        }
    }
    // No internal field name leaks out (Redis's own names with '_', such as
    // `bgsave_cpulist`, are parameters).
    assert!(all.iter().all(|(n, _)| n != "active-expire-enabled" && (!n.contains('_') || params::find(n).is_some())));
}

#[test]
fn get_patterns_and_aliases() {
    let cfg = Config::default();
    let names = |pats: &[&str]| -> Vec<String> { cfg.get(pats).into_iter().map(|(n, _)| n).collect() };
    assert_eq!(cfg.get(&["PORT"]), vec![("port".to_string(), "6379".to_string())]);
    assert_eq!(names(&["lazyfree-*"]).len(), 5);
    assert_eq!(
        names(&["maxmemory*"]),
        vec!["maxmemory", "maxmemory-policy", "maxmemory-samples", "maxmemory-clients", "maxmemory-eviction-tenacity"]
    );
    assert_eq!(names(&["h?"]), vec!["hz"]);
    assert_eq!(names(&["[pd]ort"]), vec!["port"]);
    assert_eq!(names(&["[^p]ort"]), Vec::<String>::new());
    assert_eq!(names(&["port", "port", "p*rt"]), vec!["port"]);
    assert!(names(&["nonexistent"]).is_empty());
    // An exact alias is answered under the alias; `*` lists aliases too, as Redis 7.0 does.
    assert_eq!(
        cfg.get(&["hash-max-ziplist-entries"]),
        vec![("hash-max-ziplist-entries".to_string(), "512".to_string())]
    );
    assert_eq!(names(&["slaveof"]), vec!["slaveof"]);
    let all = names(&["*"]);
    assert!(all.contains(&"hash-max-listpack-entries".to_string()));
    assert!(all.contains(&"hash-max-ziplist-entries".to_string()));
    assert!(!all.contains(&"key-load-delay".to_string()), "hidden");
    assert_eq!(names(&["key-load-delay"]), vec!["key-load-delay"]);
    // A pattern that matches only an alias reports the alias.
    assert_eq!(names(&["*ziplist-entries"]), vec!["hash-max-ziplist-entries", "zset-max-ziplist-entries"]);
    assert_eq!(names(&["*max-*-entries"]).len(), 5, "aliases are listed beside their parameter");
    assert_eq!(
        get1(&cfg, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
}

#[test]
fn glob_matcher() {
    let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
    assert!(m("*", ""));
    assert!(m("a*b*c", "axxbyyc"));
    assert!(!m("a*b*c", "axxbyy"));
    assert!(m("a\\*", "a*"));
    assert!(!m("a\\*", "ab"));
    assert!(m("[a-c]x", "bx"));
    assert!(m("[c-a]x", "bx"));
    assert!(m("[\\]]", "]"));
    assert!(!m("?", ""));
    assert!(m("[abc", "a"));
}

#[test]
fn set_is_all_or_nothing() {
    let mut cfg = Config::default();
    let err = cfg.set(&pairs(&[("proto-max-bulk-len", "100mb"), ("hz", "abc"), ("appendonly", "yes")])).unwrap_err();
    assert_eq!(
        err,
        "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    );
    assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
    assert!(!cfg.appendonly);

    let err = cfg.set(&pairs(&[("appendonly", "maybe")])).unwrap_err();
    assert_eq!(
        err,
        "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
    );
    let err = cfg.set(&pairs(&[("proto-max-bulk-len", "1mb"), ("nosuch", "1")])).unwrap_err();
    assert_eq!(err, "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'");
    assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
    let err = cfg.set(&pairs(&[("hz", "20"), ("HZ", "30")])).unwrap_err();
    assert_eq!(err, "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter");
    let err = cfg.set(&pairs(&[("hash-max-listpack-entries", "1"), ("hash-max-ziplist-entries", "2")])).unwrap_err();
    assert!(err.ends_with("duplicate parameter"), "{err}");
    assert_eq!(cfg.hz, 10);

    let changed = cfg
        .set(&pairs(&[("proto-max-bulk-len", "100mb"), ("hz", "10"), ("save", "900 1"), ("SLAVE-read-only", "no")]))
        .unwrap();
    assert_eq!(changed, vec!["proto-max-bulk-len", "save", "replica-read-only"]);
    assert_eq!(cfg.proto_max_bulk_len, 100 << 20);
    assert_eq!(cfg.save, vec![(900, 1)]);
    assert_eq!(get1(&cfg, "replica-read-only"), "no");
    cfg.set(&pairs(&[("save", "")])).unwrap();
    assert!(cfg.save.is_empty());
    cfg.set(&pairs(&[("requirepass", "s3cret pass")])).unwrap();
    assert_eq!(cfg.requirepass.as_deref(), Some("s3cret pass"));
    cfg.set(&pairs(&[("requirepass", "")])).unwrap();
    assert_eq!(cfg.requirepass, None);
    assert_eq!(cfg.output_buffer_limit("pubsub"), Some((32 << 20, 8 << 20, 60)));
    assert_eq!(cfg.output_buffer_limit("replica"), Some((256 << 20, 64 << 20, 60)));
}

#[test]
fn set_refuses_values_needing_missing_features() {
    let mut cfg = Config::default();
    let refused = |cfg: &mut Config, name: &str, value: &str| {
        let err = cfg.set(&pairs(&[("hz", "20"), (name, value)])).unwrap_err();
        let why = params::refusal(params::find(name).unwrap().1.name, &{
            let mut c = cfg.clone();
            c.apply_directive(name, &args(&[value])).unwrap();
            c.value(name).unwrap()
        })
        .unwrap();
        assert_eq!(err, format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
    };
    refused(&mut cfg, "activedefrag", "yes");
    assert_eq!(cfg.hz, 10, "all or nothing");
    // The values with no effect are accepted.
    for (name, value) in [
        ("maxmemory", "0"),
        ("lazyfree-lazy-eviction", "yes"),
        ("lazyfree-lazy-user-flush", "yes"),
        ("client-output-buffer-limit", "pubsub 1mb 0 0"),
        ("client-output-buffer-limit", "normal 0 0 0"),
        ("client-output-buffer-limit", "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"),
        ("maxmemory-clients", "0%"),
        ("maxmemory-policy", "allkeys-lru"),
        ("replica-lazy-flush", "yes"),
        ("masterauth", "secret"),
        ("hash-max-listpack-entries", "7"),
    ] {
        cfg.set(&pairs(&[(name, value)])).unwrap_or_else(|e| panic!("{name} {value}: {e}"));
    }
}

#[test]
fn startup_refuses_final_values_needing_missing_features() {
    let dir = scratch_dir("restricted");
    let path = dir.join("redis.conf");
    // A stock redis.conf's lines: daemonize yes (overridden by a flag below) and
    // the output buffer limits one class per line.
    std::fs::write(
        &path,
        "daemonize yes\nclient-output-buffer-limit normal 0 0 0\n\
         client-output-buffer-limit replica 256mb 64mb 60\nclient-output-buffer-limit pubsub 32mb 8mb 60\n\
         lazyfree-lazy-user-del no\nreplicaof no one\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let cfg = Config::from_args(&args(&[file, "--daemonize", "no"])).unwrap();
    assert_eq!(cfg.client_output_buffer_limit, params::COB_DEFAULT);

    let e = Config::from_args(&args(&[file])).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the configuration file {file}, at line 1\n\
             >>> 'daemonize yes'\ndaemonize yes is not supported; run shardis under a service manager \
             (see deploy/shardis.service)"
        )
    );
    let cfg = Config::from_args(&args(&[file, "--daemonize", "no", "--slaveof", "10.0.0.1", "6379"])).unwrap();
    assert_eq!(cfg.compat_value("replicaof"), Some("10.0.0.1 6379"));
    // A later line setting the accepted value wins over an earlier refused one.
    std::fs::write(&path, "maxmemory 1gb\nhz 20\nmaxmemory 0\n").unwrap();
    assert_eq!(Config::from_args(&args(&[file])).unwrap().hz, 20);
    std::fs::write(&path, "hz 20\nactivedefrag yes\n").unwrap();
    let e = Config::from_args(&args(&[file])).unwrap_err();
    assert!(e.message.contains("at line 2\n>>> 'activedefrag yes'"), "{e}");
    std::fs::write(&path, "client-output-buffer-limit pubsub 64mb 16mb 90\n").unwrap();
    let cfg = Config::from_args(&args(&[file])).unwrap();
    assert_eq!(cfg.output_buffer_limit("pubsub"), Some((64 << 20, 16 << 20, 90)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn immutable_parameters() {
    let mut cfg = Config::default();
    for name in [
        "databases",
        "daemonize",
        "shards",
        "cpus",
        "unixsocket",
        "appenddirname",
        "appendfilename",
        "io-threads",
        "cluster-enabled",
    ] {
        let err = cfg.set(&pairs(&[(name, "1")])).unwrap_err();
        assert_eq!(
            err,
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")
        );
    }
    // Immutable ones are still settable from files and flags.
    cfg.apply_directive("databases", &args(&["7"])).unwrap();
    assert_eq!(cfg.databases, 7);
    // port and bind move the listeners at run time, as in Redis 7.0.
    assert_eq!(cfg.set(&pairs(&[("port", "7001"), ("bind", "127.0.0.1 ::1")])).unwrap(), vec!["port", "bind"]);
    assert_eq!((cfg.port, cfg.bind.len()), (7001, 2));
    cfg.apply_directive("unixsocketperm", &args(&["0770"])).unwrap();
    assert_eq!((cfg.unixsocketperm, cfg.value("unixsocketperm").unwrap()), (0o770, "770".to_string()));
}

#[test]
fn text_parsing_quoting_units_and_aliases() {
    let mut cfg = Config::default();
    let text = "# comment\n\n  PORT 7001  \r\nrequirepass \"pa ss\\\"word\"\nbind 127.0.0.1 ::1\n\
                dir '/var/lib/shardis'\nproto-max-bulk-len 1GB\nmaxmemory 100k\n\
                save 900 1\nsave 300 10\nslaveof 10.0.0.1 6380\nhash-max-ziplist-entries 256\n\
                appendfsync always\ncpus 0-1,4\nlist-max-ziplist-entries 5\n";
    cfg.apply_text(text, "test.conf").unwrap();
    assert_eq!(cfg.port, 7001);
    assert_eq!(cfg.requirepass.as_deref(), Some("pa ss\"word"));
    assert_eq!(cfg.bind, args(&["127.0.0.1", "::1"]));
    assert_eq!(cfg.dir, "/var/lib/shardis");
    assert_eq!(cfg.proto_max_bulk_len, 1 << 30);
    assert_eq!(cfg.maxmemory, 100_000);
    assert_eq!(cfg.save, vec![(900, 1), (300, 10)]);
    assert_eq!(get1(&cfg, "replicaof"), "10.0.0.1 6380");
    assert_eq!(cfg.encoding.hash_max_listpack_entries, 256);
    assert_eq!(cfg.appendfsync, Fsync::Always);
    assert_eq!(cfg.cpus, vec![0, 1, 4]);

    let mut cfg = Config::default();
    cfg.apply_text("save \"\"\n", "").unwrap();
    assert!(cfg.save.is_empty());
}

#[test]
fn errors_name_the_line() {
    let mut cfg = Config::default();
    let e = cfg.apply_text("port 7000\n\nport \"abc\"\n", "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the configuration file, at line 3\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer"
    );
    let e = cfg.apply_text("# x\nfrobnicate 1\n", "my.conf").unwrap_err();
    assert!(e.message.contains("Reading the configuration file my.conf, at line 2"), "{e}");
    assert!(e.message.contains(">>> 'frobnicate 1'"), "{e}");
    assert!(e.message.ends_with("Bad directive or wrong number of arguments"), "{e}");
    let e = cfg.apply_text("port 1 2\n", "").unwrap_err();
    assert!(e.message.ends_with("wrong number of arguments"), "{e}");
    let e = cfg.apply_text("requirepass \"open\n", "").unwrap_err();
    assert!(e.message.ends_with("Unbalanced quotes in configuration line"), "{e}");
    let e = Config::from_args(&args(&["--daemonize", "yes"])).unwrap_err();
    assert!(
        e.message.ends_with(
            "daemonize yes is not supported; run shardis under a service manager (see deploy/shardis.service)"
        ),
        "{e}"
    );
    let e = cfg.apply_text("tls-port 6380\n", "").unwrap_err();
    assert!(e.message.ends_with("TLS is not supported by shardis; put a TLS-terminating proxy in front"), "{e}");
    let e = cfg.apply_text("rename-command FLUSHALL \"\"\n", "").unwrap_err();
    assert!(e.message.contains("not supported"), "{e}");
    let e = Config::from_args(&args(&["--maxmemory", "lots"])).unwrap_err();
    assert_eq!(
        e.message,
        "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the command line flags\n>>> '--maxmemory lots'\nargument must be a memory value"
    );
    let e = Config::from_args(&args(&["/nonexistent/shardis.conf"])).unwrap_err();
    assert!(e.message.starts_with("Fatal error, can't open config file '/nonexistent/shardis.conf'"), "{e}");
}

#[test]
fn file_then_flags_flags_win() {
    let dir = scratch_dir("precedence");
    let path = dir.join("shardis.conf");
    std::fs::write(&path, "port 7000\nslowlog-max-len 7\nsave 900 1\nsave 300 10\nappendonly yes\n").unwrap();
    let cfg = Config::from_args(&args(&[path.to_str().unwrap(), "--port", "7001", "--save", "60", "5", "--hz", "20"]))
        .unwrap();
    assert_eq!(cfg.port, 7001, "flag beats file");
    assert_eq!(cfg.slowlog_max_len, 7, "file value kept");
    assert!(cfg.appendonly);
    assert_eq!(cfg.save, vec![(60, 5)], "flags replace the file's save points");
    assert_eq!(cfg.hz, 20);

    let cfg = Config::from_args(&args(&[path.to_str().unwrap(), "--save", "--appendonly", "no"])).unwrap();
    assert!(cfg.save.is_empty());
    assert!(!cfg.appendonly);

    let cfg = Config::from_args(&args(&["--save", "900 1 300 10", "--bind", "0.0.0.0", "::"])).unwrap();
    assert_eq!(cfg.save, vec![(900, 1), (300, 10)]);
    assert_eq!(cfg.bind, args(&["0.0.0.0", "::"]));
    assert_eq!(cfg.port, 6379);
    // As in Redis, several arguments are taken one token each.
    assert!(Config::from_args(&args(&["--save", "900 1", "300 10"])).is_err());

    let cfg = Config::from_args(&[]).unwrap();
    assert_eq!(get1(&cfg, "save"), "3600 1 300 100 60 10000");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cpus_imply_shards_unless_given() {
    let cfg = Config::from_args(&args(&["--cpus", "0-3,8"])).unwrap();
    assert_eq!(cfg.cpus, vec![0, 1, 2, 3, 8]);
    assert_eq!(cfg.shards, 5);
    assert_eq!(cfg.shard_cpus(), vec![0, 1, 2, 3, 8]);
    let cfg = Config::from_args(&args(&["--cpus", "2,3", "--shards", "4"])).unwrap();
    assert_eq!(cfg.shards, 4);
    assert_eq!(cfg.shard_cpus(), vec![2, 3, 2, 3]);
    let cfg = Config::from_args(&args(&["--shards", "3"])).unwrap();
    assert_eq!(cfg.shard_cpus(), vec![0, 1, 2]);
    assert!(Config::from_args(&args(&["--cpus", "1-x"])).is_err());
}

#[test]
fn include_directive() {
    let dir = scratch_dir("include");
    let inner = dir.join("inner.conf");
    let outer = dir.join("outer.conf");
    std::fs::write(&inner, "slowlog-max-len 2\nport 7100\n").unwrap();
    std::fs::write(&outer, format!("port 7000\ninclude {}\nhz 50\n", parse::quote_arg(inner.to_str().unwrap())))
        .unwrap();
    let cfg = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap();
    assert_eq!(cfg.slowlog_max_len, 2);
    assert_eq!(cfg.port, 7100, "later lines win, included ones included");
    assert_eq!(cfg.hz, 50);

    // Errors inside an included file name that file.
    std::fs::write(&inner, "\nhz -1\n").unwrap();
    let e = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap_err();
    assert!(e.message.contains(&format!("{}, at line 2", inner.display())), "{e}");

    // An include loop is reported, not followed forever.
    std::fs::write(&inner, format!("include {}\n", outer.display())).unwrap();
    let e = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap_err();
    assert!(e.message.contains("include"), "{e}");

    let e = Config::from_args(&args(&["--include", dir.join("missing.conf").to_str().unwrap()])).unwrap_err();
    assert!(e.message.contains("can't open config file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
