//! Per-command ACL facts: Redis 7.0's categories and key specs for every command and
//! subcommand (the generated `cmdtable`), the mapping from shardis's command table to
//! them, and the keys (with read/write access) a request names, found as Redis's
//! `getKeysFromCommandWithSpecs` finds them.

use super::cmdtable::COMMANDS;
use crate::cmd::Args;
use crate::cmd::table::TABLE;
use std::sync::LazyLock;

/// The key is read (`access` in Redis's key spec flags).
pub const READ: u8 = 1;
/// The key is written (`insert`, `delete` or `update`).
pub const WRITE: u8 = 2;

/// Where a key spec's search begins.
pub enum Begin {
    Index(i32),
    /// After the first `word` found from `from` (negative: searching backwards from the
    /// end).
    Keyword {
        word: &'static str,
        from: i32,
    },
}

/// How a key spec's keys follow its beginning.
pub enum Find {
    Range { last: i32, step: i32, limit: i32 },
    Keynum { idx: i32, first: i32, step: i32 },
}

pub struct KeyRule {
    pub access: u8,
    pub begin: Begin,
    pub find: Find,
}

pub enum Keys {
    Specs(&'static [KeyRule]),
    /// Redis uses the command's own key function (incomplete or variable specs):
    /// SET, BITFIELD, SORT, SORT_RO, MIGRATE; see `fallback_keys`.
    Fallback,
}

/// One row of the generated table.
pub struct CmdAcl {
    pub name: &'static str,
    pub cats: u32,
    pub keys: Keys,
}

/// A command's ACL id: its row in `COMMANDS`. Ids stay below `MAX_IDS`.
pub type AclId = u16;
pub const MAX_IDS: usize = 512;

/// Lookups computed once from the generated table and the command table.
pub struct Index {
    /// By `TABLE` index: the command's ACL id (None for a command Redis lacks).
    pub by_table: Vec<Option<AclId>>,
    /// By ACL id: the ids of its subcommands (empty for plain commands).
    pub subs: Vec<Vec<AclId>>,
    /// By ACL id: the parent container, for a subcommand.
    pub parent: Vec<Option<AclId>>,
}

pub static INDEX: LazyLock<Index> = LazyLock::new(|| {
    assert!(COMMANDS.len() <= MAX_IDS);
    let mut subs = vec![Vec::new(); COMMANDS.len()];
    let mut parent = vec![None; COMMANDS.len()];
    for (i, c) in COMMANDS.iter().enumerate() {
        if let Some((p, _)) = c.name.split_once('|')
            && let Some(pid) = by_name(p)
        {
            subs[pid as usize].push(i as AclId);
            parent[i] = Some(pid);
        }
    }
    let by_table = TABLE.specs.iter().map(|s| by_name(s.name)).collect();
    Index { by_table, subs, parent }
});

/// The ACL id of `name` ("get", "config|get"), case-insensitively.
pub fn by_name(name: &str) -> Option<AclId> {
    let lower = name.to_ascii_lowercase();
    COMMANDS.binary_search_by(|c| c.name.cmp(lower.as_str())).ok().map(|i| i as AclId)
}

pub fn get(id: AclId) -> &'static CmdAcl {
    &COMMANDS[id as usize]
}

pub fn len() -> usize {
    COMMANDS.len()
}

/// The ACL id a request runs as: the subcommand's when the command is a container and
/// `args[1]` names one of its subcommands, else the command's own.
pub fn request_id(table_idx: u16, args: &Args) -> Option<AclId> {
    let idx = &*INDEX;
    let id = idx.by_table.get(table_idx as usize).copied().flatten()?;
    if idx.subs[id as usize].is_empty() || args.len() < 2 {
        return Some(id);
    }
    let full = format!("{}|{}", COMMANDS[id as usize].name, String::from_utf8_lossy(args.get(1)));
    Some(by_name(&full).unwrap_or(id))
}

/// The (arg index, access) of every key a request names, or None when its specs do not
/// apply (Redis then reports no keys to check).
pub fn keys_of(id: AclId, args: &Args) -> Vec<(usize, u8)> {
    let c = &COMMANDS[id as usize];
    match c.keys {
        Keys::Specs(rules) => {
            let mut out = Vec::new();
            for r in rules {
                if !spec_keys(r, args, &mut out) {
                    // An invalid spec (a bad numkeys): Redis's key function then
                    // finds the same keys or none; the command fails on its own.
                    return Vec::new();
                }
            }
            out
        }
        Keys::Fallback => fallback_keys(c.name, args),
    }
}

/// Like `keys_of`, with the index of the key spec each key came from (COMMAND
/// GETKEYSANDFLAGS reports that spec's flags). A key found by a command's own key
/// function is credited to its spec in order, the last spec taking the rest.
pub fn keys_with_specs(id: AclId, args: &Args) -> Vec<(usize, usize)> {
    let c = &COMMANDS[id as usize];
    match c.keys {
        Keys::Specs(rules) => {
            let mut out = Vec::new();
            for (n, r) in rules.iter().enumerate() {
                let mut found = Vec::new();
                if !spec_keys(r, args, &mut found) {
                    return Vec::new();
                }
                out.extend(found.into_iter().map(|(i, _)| (i, n)));
            }
            out
        }
        // SORT's STORE key is its third spec's (the second is BY/GET's).
        Keys::Fallback => fallback_keys(c.name, args)
            .into_iter()
            .enumerate()
            .map(|(n, (i, _))| (i, if c.name == "sort" && n == 1 { 2 } else { n }))
            .collect(),
    }
}

/// Redis's `getKeysUsingKeySpecs` for one spec; false when the spec is invalid.
fn spec_keys(r: &KeyRule, args: &Args, out: &mut Vec<(usize, u8)>) -> bool {
    let argc = args.len() as i64;
    let mut first: i64 = match r.begin {
        Begin::Index(i) => i as i64,
        Begin::Keyword { word, from } => {
            let (start, end) = if from > 0 { (from as i64, argc - 1) } else { (argc + from as i64, 1) };
            let mut found = 0;
            let mut i = start;
            // Redis's loop stops before `end`: a key must follow the keyword.
            while i != end {
                if i >= argc || i < 1 {
                    break;
                }
                if args.get(i as usize).eq_ignore_ascii_case(word.as_bytes()) {
                    found = i + 1;
                    break;
                }
                i = if start <= end { i + 1 } else { i - 1 };
            }
            if found == 0 {
                return true;
            }
            found
        }
    };
    let (last, step) = match r.find {
        Find::Range { last, step, limit } => {
            let l = if last >= 0 {
                first + last as i64
            } else if limit == 0 {
                argc + last as i64
            } else {
                first + ((argc - first) / limit as i64 + last as i64)
            };
            (l, step as i64)
        }
        Find::Keynum { idx, first: f, step } => {
            let at = first + idx as i64;
            if at >= argc {
                return false;
            }
            let Some(n) = std::str::from_utf8(args.get(at as usize)).ok().and_then(|s| s.parse::<i64>().ok()) else {
                return false;
            };
            if n < 0 || n > argc {
                return false;
            }
            first += f as i64;
            (first + n - 1, step as i64)
        }
    };
    let mut i = first;
    while i <= last {
        if i >= argc || i < first {
            // Too few arguments: no key here, the command reports its own error.
            break;
        }
        out.push((i as usize, r.access));
        i += step.max(1);
    }
    true
}

/// The key functions Redis uses where the specs are incomplete or vary.
fn fallback_keys(name: &str, args: &Args) -> Vec<(usize, u8)> {
    let n = args.len();
    match name {
        "set" => {
            // With GET the old value is read.
            let get = (3..n).any(|i| args.get(i).eq_ignore_ascii_case(b"GET"));
            vec![(1, if get { READ | WRITE } else { WRITE })]
        }
        "bitfield" => {
            let writes = (2..n).any(|i| {
                let a = args.get(i);
                a.eq_ignore_ascii_case(b"SET") || a.eq_ignore_ascii_case(b"INCRBY")
            });
            vec![(1, if writes { READ | WRITE } else { READ })]
        }
        "sort" | "sort_ro" => {
            let mut keys = vec![(1, READ)];
            if name == "sort" {
                let mut store = None;
                let mut i = 2;
                while i < n {
                    let a = args.get(i);
                    if a.eq_ignore_ascii_case(b"LIMIT") {
                        i += 2;
                    } else if a.eq_ignore_ascii_case(b"GET") || a.eq_ignore_ascii_case(b"BY") {
                        i += 1;
                    } else if a.eq_ignore_ascii_case(b"STORE") && i + 1 < n {
                        store = Some(i + 1);
                        i += 1;
                    }
                    i += 1;
                }
                keys.extend(store.map(|s| (s, WRITE)));
            }
            keys
        }
        "migrate" => {
            if n > 3 && !args.get(3).is_empty() {
                return vec![(3, READ | WRITE)];
            }
            match (6..n).find(|&i| args.get(i).eq_ignore_ascii_case(b"KEYS")) {
                Some(k) => (k + 1..n).map(|i| (i, READ | WRITE)).collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// Channel arguments Redis checks: (arg index, is a pattern). PUBLISH/SPUBLISH name
/// one channel; SUBSCRIBE/SSUBSCRIBE/PSUBSCRIBE all their arguments.
pub fn channels_of(name: &str, args: &Args) -> Option<(std::ops::Range<usize>, bool)> {
    match name {
        "publish" | "spublish" => Some((1..2.min(args.len()), false)),
        "subscribe" | "ssubscribe" => Some((1..args.len(), false)),
        "psubscribe" => Some((1..args.len(), true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(a: &[&str]) -> Vec<(usize, u8)> {
        let v = crate::shard::OwnedArgs::from_slices(a.iter().map(|s| s.as_bytes()));
        let args = Args::Owned(&v);
        keys_of(by_name(a[0]).unwrap(), &args)
    }

    #[test]
    fn key_specs_find_keys_as_redis_does() {
        assert_eq!(keys(&["get", "k"]), vec![(1, READ)]);
        assert_eq!(keys(&["mset", "a", "1", "b", "2"]), vec![(1, WRITE), (3, WRITE)]);
        assert_eq!(keys(&["lmove", "a", "b", "left", "right"]), vec![(1, READ | WRITE), (2, WRITE)]);
        assert_eq!(keys(&["zunionstore", "d", "2", "a", "b"]), vec![(1, WRITE), (3, READ), (4, READ)]);
        assert_eq!(keys(&["zunionstore", "d", "x", "a"]), vec![]);
        assert_eq!(keys(&["set", "k", "v"]), vec![(1, WRITE)]);
        assert_eq!(keys(&["set", "k", "v", "get"]), vec![(1, READ | WRITE)]);
        assert_eq!(keys(&["sort", "k", "by", "x", "store", "d"]), vec![(1, READ), (5, WRITE)]);
        assert_eq!(keys(&["blpop", "a", "b", "0"]), vec![(1, READ | WRITE), (2, READ | WRITE)]);
    }

    #[test]
    fn every_table_command_is_known() {
        let missing: Vec<&str> =
            TABLE.specs.iter().zip(&INDEX.by_table).filter(|(_, id)| id.is_none()).map(|(s, _)| s.name).collect();
        assert!(missing.is_empty(), "commands without Redis ACL facts: {missing:?}");
    }
}
