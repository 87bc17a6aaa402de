//! ACL users, rules, AUTH/HELLO, NOPERM, ACL LOG and the ACL file, each sequence run
//! on shardis and on a real redis-server in one test and the replies compared.

use crate::common;

use common::{Resp, RespReader, SHARD_COUNTS, Server, encode_cmd, spawn_redis_server, temp_dir, wait_until};
use std::io::Write;
use std::net::TcpStream;
use std::process::Child;
use std::time::Duration;

struct Conn {
    w: TcpStream,
    r: RespReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = s.try_clone().unwrap();
        Conn { w: s, r: RespReader::new(r) }
    }

    fn cmd(&mut self, args: &[&str]) -> Resp {
        self.w.write_all(&encode_cmd(args)).expect("write");
        self.r.read().expect("reply")
    }

    /// True once the server closed this connection.
    fn closed(&mut self) -> bool {
        let _ = self.w.write_all(&encode_cmd(&["PING"]));
        self.r.read().is_err()
    }
}

struct RealServer {
    child: Child,
    port: u16,
}

impl RealServer {
    fn start(extra: &[&str]) -> RealServer {
        let ready = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
        let (child, port) = spawn_redis_server(extra, ready).expect("redis-server starts");
        RealServer { child, port }
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One connection to each server; `both` sends a command to both and asserts the
/// replies are equal.
struct Pair {
    ours: Conn,
    theirs: Conn,
}

impl Pair {
    fn new(ours: u16, theirs: u16) -> Pair {
        Pair { ours: Conn::open(ours), theirs: Conn::open(theirs) }
    }

    fn both(&mut self, args: &[&str]) -> Resp {
        let a = self.ours.cmd(args);
        let b = self.theirs.cmd(args);
        assert_eq!(a, b, "replies differ for {args:?}");
        a
    }

    /// Both replies, for the caller to compare in part.
    fn each(&mut self, args: &[&str]) -> (Resp, Resp) {
        (self.ours.cmd(args), self.theirs.cmd(args))
    }
}

fn sorted(r: Resp) -> Vec<Resp> {
    let Resp::Array(mut v) = r else { panic!("expected an array, got {r:?}") };
    v.sort_by_key(|x| format!("{x:?}"));
    v
}

#[test]
fn acl_rules_lists_and_errors_match_redis() {
    let real = RealServer::start(&[]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = Pair::new(s.port, real.port);
        p.both(&["ACL", "SETUSER", "a"]);
        p.both(&["ACL", "SETUSER", "b", "on", ">pw", "+@read", "+set", "~foo*", "%R~bar", "%W~baz", "%RW~qux", "&ch*"]);
        p.both(&["ACL", "SETUSER", "c", "+@all", "-@dangerous", "allkeys", "(~x* +set)", "(+get", "%R~y)"]);
        p.both(&["ACL", "SETUSER", "d", "+get", "+get", "-set", "+set", "+@read", "-@read", "+@read"]);
        p.both(&[
            "ACL",
            "SETUSER",
            "f",
            ">p1",
            ">p2",
            "<p1",
            "#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4",
        ]);
        p.both(&["ACL", "SETUSER", "g", "~a", "reset"]);
        p.both(&["ACL", "LIST"]);
        p.both(&["ACL", "USERS"]);
        for u in ["a", "b", "c", "d", "f", "g", "default", "nobody"] {
            p.both(&["ACL", "GETUSER", u]);
        }
        // Single commands come in Redis's hash table order, which is random: compare
        // their sets.
        p.both(&["ACL", "SETUSER", "e", "+@hash", "-hset", "+config|get", "+select|0", "nopass", "on"]);
        let tokens = |r: Resp| -> Vec<String> {
            let Resp::Array(lines) = r else { panic!("{r:?}") };
            let mut t: Vec<String> = lines
                .iter()
                .flat_map(|l| match l {
                    Resp::Bulk(b) => String::from_utf8_lossy(b).split(' ').map(str::to_string).collect(),
                    other => vec![format!("{other:?}")],
                })
                .collect();
            t.sort();
            t
        };
        let (a, b) = p.each(&["ACL", "LIST"]);
        assert_eq!(tokens(a), tokens(b));
        let (a, b) = p.each(&["ACL", "GETUSER", "e"]);
        assert_eq!(tokens(a), tokens(b));
        // Refused modifiers, and nothing applied from a refused SETUSER.
        for bad in [
            &["ACL", "SETUSER", "a", "on", "~*", "~b"][..],
            &["ACL", "SETUSER", "a", "&*", "&x"],
            &["ACL", "SETUSER", "a", "#zz"],
            &["ACL", "SETUSER", "a", "<nothere"],
            &["ACL", "SETUSER", "a", "+nosuch"],
            &["ACL", "SETUSER", "a", "+@nosuch"],
            &["ACL", "SETUSER", "a", "bogus"],
            &["ACL", "SETUSER", "a", "%X~a"],
            &["ACL", "SETUSER", "a", "+config|nosuch"],
            &["ACL", "SETUSER", "a", "+config|get|x"],
            &["ACL", "SETUSER", "a", "-select|0"],
            &["ACL", "SETUSER", "a", "(+get"],
        ] {
            let r = p.both(bad);
            assert!(matches!(r, Resp::Error(_)), "{bad:?}: {r:?}");
        }
        p.both(&["ACL", "GETUSER", "a"]);
        // DRYRUN: commands, keys, channels, errors.
        for args in [
            &["ACL", "DRYRUN", "b", "get", "foo1"][..],
            &["ACL", "DRYRUN", "b", "get", "zz"],
            &["ACL", "DRYRUN", "b", "set", "baz", "1"],
            &["ACL", "DRYRUN", "b", "set", "bar", "1"],
            &["ACL", "DRYRUN", "b", "set", "qux", "1", "GET"],
            &["ACL", "DRYRUN", "b", "hset", "h", "f", "v"],
            &["ACL", "DRYRUN", "b", "publish", "chan", "m"],
            &["ACL", "DRYRUN", "c", "publish", "chan", "m"],
            &["ACL", "DRYRUN", "c", "flushall"],
            &["ACL", "DRYRUN", "c", "set", "x1", "v"],
            &["ACL", "DRYRUN", "c", "get", "y"],
            &["ACL", "DRYRUN", "c", "get", "x1"],
            &["ACL", "DRYRUN", "e", "config", "get", "maxmemory"],
            &["ACL", "DRYRUN", "e", "config", "set", "maxmemory", "1"],
            &["ACL", "DRYRUN", "e", "select", "0"],
            &["ACL", "DRYRUN", "e", "select", "1"],
            &["ACL", "DRYRUN", "default", "get", "k"],
            &["ACL", "DRYRUN", "nosuch", "get", "a"],
            &["ACL", "DRYRUN", "b", "nosuchcmd"],
            &["ACL", "DRYRUN", "b", "get"],
            &["ACL", "DRYRUN", "b", "lmove", "foo1", "baz", "left", "right"],
            &["ACL", "DRYRUN", "b", "zunionstore", "baz", "2", "qux", "bar"],
        ] {
            p.both(args);
        }
        p.both(&["ACL", "CAT"]);
        for cat in ["string", "hash", "list", "set", "sortedset", "hyperloglog", "bitmap"] {
            // shardis lists the commands it has (others land with their families).
            let (a, b) = p.each(&["ACL", "CAT", cat]);
            let mut known = |c: &Resp| {
                let Resp::Bulk(name) = c else { return false };
                let name = String::from_utf8_lossy(name);
                let parent = name.split('|').next().unwrap().to_string();
                let info = p.ours.cmd(&["COMMAND", "INFO", &parent]);
                !matches!(info, Resp::Array(ref v) if matches!(v[..], [Resp::NilArray] | [Resp::NilBulk]))
            };
            let b: Vec<Resp> = sorted(b).into_iter().filter(|c| known(c)).collect();
            assert_eq!(sorted(a), b, "ACL CAT {cat}");
        }
        p.both(&["ACL", "CAT", "nosuch"]);
        p.both(&["ACL", "WHOAMI"]);
        p.both(&["ACL", "WHOAMI", "x"]);
        p.both(&["ACL", "NOSUCH"]);
        p.both(&["ACL", "GENPASS", "0"]);
        let (Resp::Bulk(a), Resp::Bulk(b)) = p.each(&["ACL", "GENPASS", "5"]) else { panic!("GENPASS") };
        assert_eq!((a.len(), b.len()), (2, 2));
        let (Resp::Bulk(a), Resp::Bulk(_)) = p.each(&["ACL", "GENPASS"]) else { panic!("GENPASS") };
        assert!(a.len() == 64 && a.iter().all(u8::is_ascii_hexdigit));
        p.both(&["ACL", "SAVE"]);
        p.both(&["ACL", "LOAD"]);
        p.both(&["ACL", "DELUSER", "default"]);
        p.both(&["ACL", "DELUSER", "a", "b", "nobody"]);
        p.both(&["ACL", "USERS"]);
        p.both(&["ACL", "HELP"]);
        // Leave the real server as we found it for the next shard count.
        p.both(&["ACL", "DELUSER", "c", "d", "e", "f", "g"]);
    }
}

/// A user's refusals: the NOPERM texts, MULTI, Pub/Sub channels and the ACL LOG.
#[test]
fn noperm_and_acl_log_match_redis() {
    let real = RealServer::start(&[]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = Pair::new(s.port, real.port);
        admin.both(&["ACL", "LOG", "RESET"]);
        admin.both(&["ACL", "SETUSER", "k", "on", ">pw", "+@all", "-flushall", "~a*", "%R~r*", "&c*"]);
        let mut p = Pair::new(s.port, real.port);
        p.both(&["AUTH", "k", "pw"]);
        p.both(&["ACL", "WHOAMI"]);
        for args in [
            &["SET", "a1", "v"][..],
            &["GET", "b"],
            &["SET", "r1", "v"],
            &["GET", "r1"],
            &["MSET", "a1", "1", "a2", "2", "b", "3"],
            &["FLUSHALL"],
            &["PUBLISH", "zz", "m"],
            &["PUBLISH", "c1", "m"],
            &["MULTI"],
            &["GET", "b"],
            &["GET", "a1"],
            &["EXEC"],
            &["MULTI"],
            &["GET", "a1"],
            &["EXEC"],
            &["AUTH", "k", "bad"],
            &["AUTH", "nouser", "x"],
        ] {
            p.both(args);
        }
        // PSUBSCRIBE patterns must be listed literally; channels match as globs.
        let mut sub = Pair::new(s.port, real.port);
        sub.both(&["AUTH", "k", "pw"]);
        sub.both(&["SUBSCRIBE", "c1", "zz"]);
        sub.both(&["PSUBSCRIBE", "c*x"]);
        sub.both(&["SUBSCRIBE", "c1"]);
        sub.both(&["PSUBSCRIBE", "c*"]);
        // The log, newest first; age and client details differ by nature.
        let (ours, theirs) = admin.each(&["ACL", "LOG"]);
        let strip = |r: Resp| -> Vec<Vec<Resp>> {
            let Resp::Array(entries) = r else { panic!("ACL LOG: {r:?}") };
            entries
                .into_iter()
                .map(|e| {
                    let Resp::Array(kv) = e else { panic!("entry: {e:?}") };
                    let mut out = Vec::new();
                    for pair in kv.chunks(2) {
                        match &pair[0] {
                            Resp::Bulk(k) if k == b"age-seconds" => out.push(pair[0].clone()),
                            Resp::Bulk(k) if k == b"client-info" => {
                                let Resp::Bulk(info) = &pair[1] else { panic!("client-info") };
                                let info = String::from_utf8_lossy(info).into_owned();
                                let user = info.split(' ').find(|f| f.starts_with("user=")).map(str::to_string);
                                out.push(Resp::Bulk(user.unwrap_or_default().into_bytes()));
                            }
                            _ => out.extend(pair.iter().cloned()),
                        }
                    }
                    out
                })
                .collect()
        };
        assert_eq!(strip(ours), strip(theirs));
        admin.both(&["ACL", "LOG", "0"]);
        let (a, b) = admin.each(&["ACL", "LOG", "1"]);
        assert_eq!(strip(a).len(), strip(b).len());
        admin.both(&["ACL", "LOG", "x"]);
        admin.both(&["ACL", "LOG", "1", "2"]);
        admin.both(&["ACL", "LOG", "RESET"]);
        admin.both(&["ACL", "LOG"]);
        admin.both(&["CONFIG", "SET", "acllog-max-len", "1"]);
        p.both(&["GET", "b"]);
        p.both(&["GET", "c"]);
        let (a, b) = admin.each(&["ACL", "LOG"]);
        assert_eq!(strip(a), strip(b));
        admin.both(&["CONFIG", "SET", "acllog-max-len", "128"]);
        // CLIENT LIST shows the user; CLIENT KILL USER finds it.
        let Resp::Bulk(info) = p.ours.cmd(&["CLIENT", "INFO"]) else { panic!("CLIENT INFO") };
        assert!(String::from_utf8_lossy(&info).contains(" user=k "), "{}", String::from_utf8_lossy(&info));
        admin.both(&["CLIENT", "KILL", "USER", "nosuch"]);
        // Deleting the user disconnects its clients, as in Redis.
        admin.both(&["ACL", "DELUSER", "k"]);
        assert!(p.ours.closed() && p.theirs.closed());
        assert!(sub.ours.closed() && sub.theirs.closed());
        admin.both(&["ACL", "LOG", "RESET"]);
    }
}

/// `requirepass` is the default user's password; AUTH and HELLO AUTH log in.
#[test]
fn auth_hello_and_requirepass_match_redis() {
    let real = RealServer::start(&["--requirepass", "secret"]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--requirepass", "secret"]);
        let mut p = Pair::new(s.port, real.port);
        p.both(&["GET", "x"]);
        p.both(&["AUTH", "wrong"]);
        p.both(&["HELLO", "3", "AUTH", "default", "wrong"]);
        p.both(&["AUTH", "default", "secret"]);
        p.both(&["ACL", "WHOAMI"]);
        p.both(&["ACL", "GETUSER", "default"]);
        p.both(&["ACL", "SETUSER", "h", "on", ">hp", "+@all", "~*", "&*"]);
        p.both(&["ACL", "LOG", "RESET"]);
        let mut q = Pair::new(s.port, real.port);
        q.both(&["ACL", "WHOAMI"]);
        let (a, b) = q.each(&["HELLO", "2", "AUTH", "h", "hp", "SETNAME", "conn-h"]);
        assert!(matches!((&a, &b), (Resp::Array(x), Resp::Array(y)) if x.len() == y.len()), "{a:?} vs {b:?}");
        q.both(&["ACL", "WHOAMI"]);
        q.both(&["CLIENT", "GETNAME"]);
        q.both(&["AUTH", "h", "nope"]);
        q.both(&["ACL", "WHOAMI"]);
        // RESET goes back to the default user, not authenticated while it has a password.
        q.both(&["RESET"]);
        q.both(&["GET", "x"]);
        // CONFIG SET requirepass changes the default user's password.
        p.both(&["CONFIG", "SET", "requirepass", ""]);
        let mut r = Pair::new(s.port, real.port);
        r.both(&["ACL", "WHOAMI"]);
        r.both(&["AUTH", "x"]);
        p.both(&["CONFIG", "SET", "requirepass", "secret"]);
        p.both(&["ACL", "DELUSER", "h"]);
        p.both(&["ACL", "LOG", "RESET"]);
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The ACL file: loaded at start, ACL SAVE writes ACL LIST, ACL LOAD replaces the
/// users (or changes nothing on an error) and closes other users' connections.
#[test]
fn aclfile_save_load_round_trip_matches_redis() {
    let dir = temp_dir("aclfile");
    let initial = "user default on nopass ~* &* +@all\nuser x on >p ~* +@all\n";
    let (ours_file, theirs_file) = (dir.join("ours.acl"), dir.join("theirs.acl"));
    write(&ours_file, initial);
    write(&theirs_file, initial);
    let real = RealServer::start(&["--aclfile", theirs_file.to_str().unwrap()]);
    let s = Server::start(1, &["--aclfile", ours_file.to_str().unwrap()]);
    let mut p = Pair::new(s.port, real.port);
    p.both(&["ACL", "LIST"]);
    p.both(&["ACL", "SETUSER", "q", "on", "+get", "%R~k*"]);
    p.both(&["ACL", "SAVE"]);
    assert_eq!(std::fs::read_to_string(&ours_file).unwrap(), std::fs::read_to_string(&theirs_file).unwrap());
    let mut xs = Pair::new(s.port, real.port);
    xs.both(&["AUTH", "x", "p"]);
    let bad = "user default on nopass ~* &* +@all\nuser x on >p ~* +bogus\nfoo bar\nuser y on\nuser y off\n";
    write(&ours_file, bad);
    write(&theirs_file, bad);
    let (a, b) = p.each(&["ACL", "LOAD"]);
    let fix = |r: Resp, f: &std::path::Path| match r {
        Resp::Error(e) => e.replace(f.to_str().unwrap(), "FILE"),
        other => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(fix(a, &ours_file), fix(b, &theirs_file));
    p.both(&["ACL", "USERS"]);
    xs.both(&["ACL", "WHOAMI"]);
    let good = "user x on >p2 ~* +@all\n";
    write(&ours_file, good);
    write(&theirs_file, good);
    p.both(&["ACL", "LOAD"]);
    p.both(&["ACL", "LIST"]);
    // x's connection was closed with its old user; default's stays.
    assert!(wait_until(Duration::from_secs(10), || xs.ours.closed()));
    assert!(xs.theirs.closed());
    p.both(&["ACL", "WHOAMI"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// ACL LOAD narrowing channels: Redis 7.0.15 closes every connection of the users
/// it replaces (they were freed), while the default user's subscribers stay even on
/// channels the new file takes away (its rules are copied in place; checked against
/// redis-server). ACL DELUSER closes every connection of the deleted user.
#[test]
fn acl_load_and_deluser_close_subscribers_as_redis() {
    let dir = temp_dir("aclload");
    let before = "user default on nopass ~* &* +@all\nuser u on nopass ~* &* +@all\nuser v on nopass ~* &* +@all\n";
    let after = "user default on nopass ~* &abc +@all\nuser u on nopass ~* &* +@all\nuser v on nopass ~* &* +@all\n";
    // One transcript per server: Bool(closed) per connection, in a fixed order.
    let run = |port: u16, file: &std::path::Path| -> Vec<bool> {
        write(file, before);
        let mut admin = Conn::open(port);
        assert_eq!(admin.cmd(&["ACL", "LOAD"]), Resp::Simple("OK".into()));
        let client = |user: Option<&str>, subscribe: &[&str]| {
            let mut c = Conn::open(port);
            if let Some(u) = user {
                assert_eq!(c.cmd(&["AUTH", u, "x"]), Resp::Simple("OK".into()));
            }
            if !subscribe.is_empty() {
                c.w.write_all(&encode_cmd(subscribe)).unwrap();
                c.r.read().expect("subscribe confirmation");
            }
            c
        };
        let mut conns = [
            client(None, &["SUBSCRIBE", "abc"]),
            client(None, &["SUBSCRIBE", "zzz"]),
            client(None, &["PSUBSCRIBE", "a*"]),
            client(None, &["SSUBSCRIBE", "zzz"]),
            client(None, &[]),
            client(Some("u"), &["SUBSCRIBE", "abc"]),
            client(Some("u"), &[]),
        ];
        let mut vs = [client(Some("v"), &["SUBSCRIBE", "q"]), client(Some("v"), &[])];
        write(file, after);
        assert_eq!(admin.cmd(&["ACL", "LOAD"]), Resp::Simple("OK".into()));
        let mut closed: Vec<bool> = conns.iter_mut().map(|c| c.closed()).collect();
        assert_eq!(admin.cmd(&["ACL", "DELUSER", "v"]), Resp::Int(1));
        closed.extend(vs.iter_mut().map(|c| c.closed()));
        closed
    };
    let theirs_file = dir.join("theirs.acl");
    write(&theirs_file, before);
    let real = RealServer::start(&["--aclfile", theirs_file.to_str().unwrap()]);
    let want = run(real.port, &theirs_file);
    assert_eq!(want, [false, false, false, false, false, true, true, true, true]);
    for n in SHARD_COUNTS {
        let ours_file = dir.join(format!("ours{n}.acl"));
        write(&ours_file, before);
        let s = Server::start(n, &["--aclfile", ours_file.to_str().unwrap()]);
        assert_eq!(run(s.port, &ours_file), want, "{n} shards");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `user` directives in the config file define users at start; with `aclfile` too,
/// start-up fails as in Redis.
#[test]
fn user_directives_in_the_config_file() {
    let dir = temp_dir("acl-userconf");
    let conf = dir.join("shardis.conf");
    write(&conf, "user alice on >apw ~a* +@read\nuser default on nopass ~* &* +@all -flushall\n");
    let s = Server::start_with_config_file(&conf, 1, &[]);
    let mut c = Conn::open(s.port);
    let Resp::Array(lines) = c.cmd(&["ACL", "LIST"]) else { panic!("ACL LIST") };
    let text: Vec<String> = lines
        .iter()
        .map(|l| if let Resp::Bulk(b) = l { String::from_utf8_lossy(b).into_owned() } else { panic!() })
        .collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0].starts_with("user alice on #") && text[0].ends_with(" ~a* resetchannels -@all +@read"), "{text:?}");
    assert_eq!(text[1], "user default on nopass ~* &* +@all -flushall");
    assert_eq!(c.cmd(&["FLUSHALL"]), Resp::err("NOPERM this user has no permissions to run the 'flushall' command"));
    assert_eq!(c.cmd(&["AUTH", "alice", "apw"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["GET", "a1"]), Resp::NilBulk);
    assert_eq!(
        c.cmd(&["GET", "b1"]),
        Resp::err("NOPERM this user has no permissions to access one of the keys used as arguments")
    );
    drop(s);
    // Users in the config file and an ACL file at once: refused at start.
    write(&conf, &format!("user alice on\naclfile {}\n", dir.join("u.acl").display()));
    write(&dir.join("u.acl"), "user default on nopass ~* &* +@all\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .arg(&conf)
        .args(["--port", "0", "--save", ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("users defined in redis.conf and at the same setting an ACL file")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// COMMAND INFO's ACL categories are Redis's own, for every command shardis has.
#[test]
fn command_info_categories_match_redis() {
    let real = RealServer::start(&[]);
    let s = Server::start(1, &[]);
    let mut p = Pair::new(s.port, real.port);
    let Resp::Array(names) = p.ours.cmd(&["COMMAND", "LIST"]) else { panic!("COMMAND LIST") };
    assert!(names.len() > 150);
    for n in names {
        let Resp::Bulk(name) = n else { panic!() };
        let name = String::from_utf8_lossy(&name).into_owned();
        let (Resp::Array(a), Resp::Array(b)) = p.each(&["COMMAND", "INFO", &name]) else { panic!("{name}") };
        let (Resp::Array(a), Resp::Array(b)) = (&a[0], &b[0]) else { panic!("{name}: {a:?} {b:?}") };
        assert_eq!(a[6], b[6], "ACL categories of {name}");
    }
    let (a, b) = p.each(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "hyperloglog"]);
    assert_eq!(sorted(a), sorted(b));
}

/// EXEC checks queued commands again (rules may have changed since they were queued):
/// each refused one answers Redis 7.0's NOPERM text in its slot, and ACL LOG's
/// client-info names the command being refused (`cmd=exec` at EXEC).
#[test]
fn exec_rechecks_queued_commands_like_redis() {
    let real = RealServer::start(&[]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = Pair::new(s.port, real.port);
        admin.both(&["ACL", "LOG", "RESET"]);
        admin.both(&["ACL", "SETUSER", "u1", "reset", "on", "nopass", "+@all", "~*", "&*"]);
        let mut p = Pair::new(s.port, real.port);
        p.both(&["AUTH", "u1", "x"]);
        p.both(&["MULTI"]);
        for args in [&["SET", "a", "1"][..], &["SET", "b", "1"], &["GET", "a"], &["PUBLISH", "ch", "x"], &["PING"]] {
            p.both(args);
        }
        admin.both(&["ACL", "SETUSER", "u1", "-get", "resetkeys", "~b*", "resetchannels"]);
        p.both(&["EXEC"]);
        p.both(&["GET", "b"]);
        let (ours, theirs) = admin.each(&["ACL", "LOG"]);
        let fields = |r: Resp| -> Vec<(String, String, String)> {
            let Resp::Array(entries) = r else { panic!("ACL LOG: {r:?}") };
            entries
                .into_iter()
                .map(|e| {
                    let Resp::Array(kv) = e else { panic!() };
                    let get = |name: &str| {
                        let i = kv.iter().position(|x| *x == Resp::Bulk(name.as_bytes().to_vec())).unwrap();
                        match &kv[i + 1] {
                            Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                            other => format!("{other:?}"),
                        }
                    };
                    let info = get("client-info");
                    let cmd = info.split(' ').find(|f| f.starts_with("cmd=")).unwrap_or("").to_string();
                    (get("reason"), get("context"), format!("{} {cmd}", get("object")))
                })
                .collect()
        };
        let ours = fields(ours);
        assert_eq!(ours, fields(theirs));
        assert!(ours.iter().any(|(_, ctx, o)| ctx == "multi" && o.ends_with("cmd=exec")), "{ours:?}");
        assert!(ours.iter().any(|(_, ctx, o)| ctx == "toplevel" && o == "get cmd=get"), "{ours:?}");
        admin.both(&["ACL", "DELUSER", "u1"]);
        admin.both(&["ACL", "LOG", "RESET"]);
    }
}
