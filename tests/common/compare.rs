//! Runs the same commands on shardis and on a real redis-server and compares the
//! replies byte for byte (as parsed RESP values, types included).

use super::{Raw, RealRedis, Resp, SHARD_COUNTS, Server, raw_to, temp_dir};

/// A raw connection to each server, both speaking `proto` (2 or 3).
pub struct Pair {
    pub ours: Raw,
    pub theirs: Raw,
}

impl Pair {
    pub fn new(s: &Server, real: &RealRedis, proto: u8) -> Pair {
        let mut p = Pair { ours: s.raw(), theirs: raw_to(real.port) };
        if proto == 3 {
            // HELLO's reply names the client id, which differs: only check it worked.
            assert!(matches!(p.ours.cmd(&["hello", "3"]), Resp::Map(_)));
            assert!(matches!(p.theirs.cmd(&["hello", "3"]), Resp::Map(_)));
        }
        p
    }

    /// Runs `args` on both servers, asserts the replies are equal and returns ours.
    pub fn same<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Resp {
        let ours = self.ours.cmd(args);
        let theirs = self.theirs.cmd(args);
        if ours != theirs {
            let shown: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).collect();
            panic!("replies differ for {shown:?}:\n shardis: {ours:?}\n   redis: {theirs:?}");
        }
        ours
    }

    /// As `same`, for replies whose array order is a hash order on Redis's side
    /// (PUBSUB CHANNELS and the like): the elements are compared as sets.
    pub fn same_unordered<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let sorted = |r: Resp| match r {
            Resp::Array(mut v) => {
                v.sort_by_key(|e| format!("{e:?}"));
                Resp::Array(v)
            }
            other => other,
        };
        let ours = sorted(self.ours.cmd(args));
        let theirs = sorted(self.theirs.cmd(args));
        if ours != theirs {
            let shown: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a.as_ref()).into_owned()).collect();
            panic!("replies differ for {shown:?} (as sets):\n shardis: {ours:?}\n   redis: {theirs:?}");
        }
    }

    /// Runs a command on both servers without comparing (set-up whose reply differs).
    pub fn both<A: AsRef<[u8]>>(&mut self, args: &[A]) -> (Resp, Resp) {
        (self.ours.cmd(args), self.theirs.cmd(args))
    }
}

/// Runs `body` on a pair of a fresh redis-server and shardis with each of
/// [`SHARD_COUNTS`], in RESP2 and in RESP3, each time after a FLUSHALL on both.
pub fn each_pair(tag: &str, mut body: impl FnMut(&mut Pair)) {
    let real = real_redis(tag);
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            body(&mut p);
        }
    }
}

/// A real redis-server in a fresh directory.
pub fn real_redis(tag: &str) -> RealRedis {
    RealRedis::start(&temp_dir(tag))
}
