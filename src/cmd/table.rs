//! The declarative command table: name, arity, flags, key positions and handler for
//! every command. Routing (which shard runs it), COMMAND INFO/DOCS/GETKEYS, the write
//! choke point and arity checks all read this one table.
//!
//! Each family file ends with its `COMMANDS` slice; `TABLE` concatenates them.

use super::ctx::{ConnCtx, ConnOutcome, ExecCtx};
use super::{Args, CmdError};
use foldhash::HashMap;
use foldhash::HashMapExt;
use std::sync::LazyLock;

/// Command flags, with the names COMMAND INFO reports.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const SKIP_SLOWLOG: u32 = 1 << 12;
    pub const ALLOW_BUSY: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_MULTI, "no_multi"),
    ];
}

/// Where a command's keys are.
#[derive(Clone, Copy)]
pub enum KeySpec {
    /// No keys: runs on the connection's thread.
    None,
    /// Keys at `first`, `first+step`, ... up to `last` (negative counts from the end),
    /// as in Redis's legacy (first, last, step) triple.
    Range { first: i32, last: i32, step: i32 },
    /// Keys found by a function (numkeys arguments, options naming other dbs). The
    /// triple is what COMMAND INFO reports. The function returns (db, arg index) pairs.
    Custom { first: i32, last: i32, step: i32, find: FindKeys },
}

/// Finds a command's keys as (db, argument index) pairs, given the client's db.
pub type FindKeys = fn(&Args, u16) -> Result<Vec<(u16, usize)>, CmdError>;

pub type KeyedFn = fn(&mut ExecCtx, &Args) -> Result<(), CmdError>;
pub type ConnFn = fn(&mut ConnCtx, &Args) -> Result<ConnOutcome, CmdError>;

#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs on the shard that owns the keys (or, across shards, on gathered copies).
    Keyed(KeyedFn),
    /// Runs on the connection's thread with the session; may fan out to all shards.
    Conn(ConnFn),
}

pub struct CommandSpec {
    /// Lower case, as COMMAND reports it.
    pub name: &'static str,
    /// Redis arity: positive = exact argument count, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub handler: Handler,
    /// ACL category / docs group ("string", "generic", "server", "connection").
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags & flag::WRITE != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 { argc == a as usize } else { argc >= (-a) as usize }
    }

    /// The (first, last, step) triple for COMMAND INFO.
    pub fn key_triple(&self) -> (i32, i32, i32) {
        match self.keys {
            KeySpec::None => (0, 0, 0),
            KeySpec::Range { first, last, step } | KeySpec::Custom { first, last, step, .. } => (first, last, step),
        }
    }

    /// Does this write command only read the key at argument `i`? The sources of COPY
    /// and of the STORE commands are read, never changed, so Redis signals only the
    /// destination: a WATCH on a source survives them, and client tracking does not
    /// invalidate it. (The keys Redis's key specs mark `RO`.)
    pub fn only_reads_key(&self, i: usize) -> bool {
        match self.name {
            "copy" | "sort" | "georadius" | "georadiusbymember" => i == 1,
            "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore" | "zdiffstore"
            | "zrangestore" | "geosearchstore" | "pfmerge" => i >= 2,
            "bitop" => i >= 3,
            _ => false,
        }
    }

    /// The (db, arg index) of every key in this request.
    pub fn key_positions(&self, args: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
        match self.keys {
            KeySpec::None => Ok(Vec::new()),
            KeySpec::Range { .. } => {
                let positions = self.range_key_positions(args.len()).expect("a range spec");
                // Sized at once: grown push by push, a 10-key MSET's list was allocated
                // once and reallocated twice.
                let mut v = Vec::with_capacity(positions.len());
                v.extend(positions.map(|i| (db, i)));
                Ok(v)
            }
            KeySpec::Custom { find, .. } => find(args, db),
        }
    }

    /// The argument index of every key of a request of `nargs` arguments, when the
    /// spec is a range (MSET, MGET, DEL ...; None for the others), computed without
    /// building a list: routing asks for a multi-key command's owners twice (its lane,
    /// `cmd::order::target`, and its route), and a list each time was an allocation
    /// and a free per command.
    pub fn range_key_positions(&self, nargs: usize) -> Option<std::iter::StepBy<std::ops::Range<usize>>> {
        let KeySpec::Range { first, last, step } = self.keys else { return None };
        let n = nargs as i32;
        let last = if last < 0 { n + last } else { last.min(n - 1) };
        // An empty range when no key is in reach (a first of 0: no keys).
        let (from, end) = if last >= first && first > 0 { (first as usize, last as usize + 1) } else { (1, 1) };
        Some((from..end).step_by(step.max(1) as usize))
    }
}

/// The assembled table: specs by index, and a name index.
pub struct Table {
    pub specs: Vec<&'static CommandSpec>,
    by_name: HashMap<&'static [u8], u16>,
    /// The fast path for names up to `name_index::MAX_LEN` bytes (all of them today).
    short_names: super::name_index::NameIndex,
    /// The indexes of MSET and MSETNX, and of MGET: the multi-key commands whose keys
    /// a hopped batch warms (`key_stride`), found by index rather than by name.
    pairs_of_keys: [u16; 2],
    all_keys: u16,
}

impl Table {
    /// Finds a command by name, case-insensitively, without allocating.
    #[inline]
    pub fn lookup(&self, name: &[u8]) -> Option<u16> {
        if name.len() <= super::name_index::MAX_LEN {
            return self.short_names.get(name);
        }
        let mut lower = [0u8; 32];
        if name.len() > lower.len() {
            return None;
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&lower[..name.len()]).copied()
    }

    pub fn get(&self, idx: u16) -> &'static CommandSpec {
        self.specs[idx as usize]
    }

    /// Every how many arguments command `idx` names a key, for the commands whose
    /// keys are warmed together (`dispatch::warm_hops`): 2 for MSET and MSETNX, 1 for
    /// MGET; None for the others (their first argument is the key warmed).
    #[inline]
    pub fn key_stride(&self, idx: u16) -> Option<usize> {
        if self.pairs_of_keys.contains(&idx) {
            Some(2)
        } else if idx == self.all_keys {
            Some(1)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

pub static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let families: &[&'static [CommandSpec]] = &[
        super::connection::COMMANDS,
        super::repl::COMMANDS,
        super::string::COMMANDS,
        super::hash::COMMANDS,
        super::set::COMMANDS,
        super::list::COMMANDS,
        super::zset::COMMANDS,
        super::geo::COMMANDS,
        super::sort::COMMANDS,
        super::stream::COMMANDS,
        super::stream_read::COMMANDS,
        super::stream_group::COMMANDS,
        super::bitmap::COMMANDS,
        super::hll::COMMANDS,
        super::keys::COMMANDS,
        super::memory::COMMANDS,
        super::dump::COMMANDS,
        super::server::COMMANDS,
        super::save::COMMANDS,
        super::multi::COMMANDS,
        super::pubsub::COMMANDS,
        super::slowlog::COMMANDS,
        super::latency::COMMANDS,
        super::client::COMMANDS,
        super::info::COMMANDS,
        super::config_cmd::COMMANDS,
        super::introspect::COMMANDS,
        super::debug::COMMANDS,
        super::module::COMMANDS,
        super::replicaof::COMMANDS,
        super::failover::COMMANDS,
        super::monitor::COMMANDS,
        super::acl::COMMANDS,
        crate::cluster::cmd::COMMANDS,
        super::script::COMMANDS,
        super::function::COMMANDS,
    ];
    let mut specs = Vec::new();
    let mut by_name = HashMap::new();
    for fam in families {
        for spec in fam.iter() {
            let prev = by_name.insert(spec.name.as_bytes(), specs.len() as u16);
            assert!(prev.is_none(), "command {} registered twice", spec.name);
            specs.push(spec);
        }
    }
    let short_names = super::name_index::NameIndex::new(specs.iter().map(|s| s.name));
    let index = |name: &str| by_name[name.as_bytes()];
    let (pairs_of_keys, all_keys) = ([index("mset"), index("msetnx")], index("mget"));
    Table { specs, by_name, short_names, pairs_of_keys, all_keys }
});

#[cfg(test)]
mod tests {
    use super::{KeySpec, TABLE};

    /// Walked in place, a range spec names the same keys as the list routing built
    /// before (the loop below), for every command and argument count.
    #[test]
    fn range_key_positions_name_the_keys_the_listing_loop_did() {
        let listed = |first: i32, last: i32, step: i32, nargs: usize| {
            let n = nargs as i32;
            let last = if last < 0 { n + last } else { last.min(n - 1) };
            let (mut v, mut i) = (Vec::new(), first);
            while i <= last && i > 0 {
                v.push(i as usize);
                i += step.max(1);
            }
            v
        };
        let mut ranges = 0;
        for spec in &TABLE.specs {
            let KeySpec::Range { first, last, step } = spec.keys else {
                assert!(spec.range_key_positions(3).is_none(), "{}", spec.name);
                continue;
            };
            ranges += 1;
            for nargs in 1..14 {
                let walked: Vec<usize> = spec.range_key_positions(nargs).expect("a range").collect();
                assert_eq!(walked, listed(first, last, step, nargs), "{} with {nargs} arguments", spec.name);
            }
        }
        assert!(ranges > 100, "the table's range specs were checked ({ranges})");
    }

    #[test]
    fn key_stride_names_the_multi_key_commands_by_index() {
        let stride = |name: &str| TABLE.key_stride(TABLE.lookup(name.as_bytes()).expect(name));
        assert_eq!(stride("mset"), Some(2));
        assert_eq!(stride("msetnx"), Some(2));
        assert_eq!(stride("mget"), Some(1));
        assert_eq!(stride("get"), None);
        assert_eq!(stride("del"), None);
    }
}
