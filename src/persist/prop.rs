//! Propagation: what goes into the log for a command that changed data, made
//! deterministic so that replaying the log (or a replica applying the stream) rebuilds
//! exactly the same data whenever it runs.
//!
//! Two mechanisms, both following what Redis 7 propagates:
//! - a handler that made a choice replay cannot repeat (SPOP's random members, which
//!   key a blocking pop served) says so through `ExecCtx::prop`;
//! - commands whose only non-determinism is time are rewritten here from the key's
//!   state after the command, which is exact by construction: relative expiries become
//!   `PXAT`/`PEXPIREAT` with the absolute time the command computed, an expiry in the
//!   past becomes `DEL`, INCRBYFLOAT becomes `SET ... KEEPTTL` of the result, and so on.
//!
//! Everything else is logged verbatim.

use super::emit::int;
use super::log::ShardLog;
use crate::cmd::Args;
use crate::shard::OwnedArgs;
use crate::storage::{Db, Value};

/// A handler's "propagate as ..." instead of its own arguments.
#[derive(Default, Debug)]
pub struct Prop {
    cmds: Vec<OwnedArgs>,
    set: bool,
}

impl Prop {
    /// Propagate `args` instead of the command (may be called again to add more).
    pub fn push(&mut self, args: &[&[u8]]) {
        self.set = true;
        self.cmds.push(OwnedArgs::from_slices(args.iter().copied()));
    }

    /// Propagate these owned arguments instead of the command.
    pub fn push_owned(&mut self, args: OwnedArgs) {
        self.set = true;
        self.cmds.push(args);
    }

    pub fn is_set(&self) -> bool {
        self.set
    }
}

/// Feeds one executed write into the shard's log.
pub fn propagate(log: &mut ShardLog, dbs: &[Db], name: &str, args: &Args, db: u16, prop: Prop) {
    if !log.active() {
        return;
    }
    if prop.set {
        for c in &prop.cmds {
            let a: Vec<&[u8]> = (0..c.len()).map(|i| c.get(i)).collect();
            log.feed(db, &a);
        }
        return;
    }
    let d = &dbs[db as usize];
    let key = || args.get(1);
    match name {
        "set" if has_relative_expiry(args) => set_pxat(log, d, db, key()),
        "setex" | "psetex" => set_pxat(log, d, db, key()),
        "getex" => match d.peek(key()) {
            Some(e) if e.expire_at != 0 => log.feed(db, &[&b"PEXPIREAT"[..], key(), &int(e.expire_at as i64)]),
            Some(_) => log.feed(db, &[&b"PERSIST"[..], key()]),
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        "getdel" => log.feed(db, &[&b"DEL"[..], key()]),
        "expire" | "pexpire" | "expireat" => match d.peek(key()) {
            Some(e) if e.expire_at != 0 => log.feed(db, &[&b"PEXPIREAT"[..], key(), &int(e.expire_at as i64)]),
            Some(_) => verbatim(log, args, db),
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        "incrbyfloat" => match d.peek(key()).map(|e| &e.value) {
            Some(Value::Str(v)) => log.feed(db, &[&b"SET"[..], key(), v, b"KEEPTTL"]),
            _ => verbatim(log, args, db),
        },
        "hincrbyfloat" => match d.peek(key()).map(|e| &e.value) {
            Some(Value::Hash(h)) => match h.get(args.get(2)) {
                Some(v) => log.feed(db, &[&b"HSET"[..], key(), args.get(2), v]),
                None => verbatim(log, args, db),
            },
            _ => verbatim(log, args, db),
        },
        // A relative TTL is replayed as the absolute time it gave (ABSTTL), as Redis
        // 7 propagates RESTORE; a TTL already in the past left no key: DEL.
        "restore" => match d.peek(key()) {
            Some(e) => {
                let mut a: Vec<&[u8]> = args.iter().collect();
                let abs = int(e.expire_at as i64);
                a[2] = &abs;
                if !a[4..].iter().any(|o| o.eq_ignore_ascii_case(b"absttl")) {
                    a.push(b"ABSTTL");
                }
                log.feed(db, &a);
            }
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        _ => verbatim(log, args, db),
    }
}

fn verbatim(log: &mut ShardLog, args: &Args, db: u16) {
    let a: Vec<&[u8]> = args.iter().collect();
    log.feed(db, &a);
}

/// SET with EX/PX/EXAT (or SETEX/PSETEX) goes out as `SET key value PXAT ms`, as in
/// Redis 7; a key already gone (an expiry in the past) as DEL.
fn set_pxat(log: &mut ShardLog, d: &Db, db: u16, key: &[u8]) {
    match d.peek(key) {
        Some(e) => match &e.value {
            Value::Str(v) if e.expire_at != 0 => {
                log.feed(db, &[&b"SET"[..], key, v, b"PXAT", &int(e.expire_at as i64)])
            }
            Value::Str(v) => log.feed(db, &[&b"SET"[..], key, v]),
            _ => {}
        },
        None => log.feed(db, &[&b"DEL"[..], key]),
    }
}

fn has_relative_expiry(args: &Args) -> bool {
    (3..args.len()).any(|i| {
        let a = args.get(i);
        a.eq_ignore_ascii_case(b"ex") || a.eq_ignore_ascii_case(b"px") || a.eq_ignore_ascii_case(b"exat")
    })
}
