//! Redis 7.0's own COMMAND INFO and COMMAND DOCS entries (`redis_commands`, generated
//! by scripts/command-info.py), and the walk that finds a subcommand's entry inside
//! its container's.
//!
//! COMMAND answers with these for every command Redis has, so flags, key specs, tips,
//! ACL categories and nested subcommands are exactly Redis's, which is what cluster
//! clients and tools read; commands only shardis has are described from the command
//! table (`introspect`).

use crate::resp::ReplyWriter;

/// One node of a reply tree, with its RESP3 type (RESP2 writes sets and maps as
/// arrays, as Redis does). A map's children alternate key, value.
pub enum Value {
    Int(i64),
    Null,
    Simple(&'static str),
    Bulk(&'static str),
    Arr(&'static [Value]),
    Set(&'static [Value]),
    Map(&'static [Value]),
}

pub fn write(out: &mut ReplyWriter, v: &Value) {
    match v {
        Value::Int(n) => out.int(*n),
        Value::Null => out.null(),
        Value::Simple(s) => out.simple(s),
        Value::Bulk(s) => out.bulk(s.as_bytes()),
        Value::Arr(items) => {
            out.array(items.len());
            items.iter().for_each(|x| write(out, x));
        }
        Value::Set(items) => {
            out.set(items.len());
            items.iter().for_each(|x| write(out, x));
        }
        Value::Map(items) => {
            out.map(items.len() / 2);
            items.iter().for_each(|x| write(out, x));
        }
    }
}

fn top<'a>(table: &'a [(&'static str, Value)], name: &str) -> Option<&'a Value> {
    table.binary_search_by(|(n, _)| (*n).cmp(name)).ok().map(|i| &table[i].1)
}

/// A command's COMMAND INFO entry, `parent|sub` for a subcommand.
pub fn info(name: &str) -> Option<&'static Value> {
    let (parent, sub) = match name.split_once('|') {
        Some((p, s)) => (p, Some(s)),
        None => (name, None),
    };
    let entry = top(super::redis_commands::INFO, parent)?;
    let Some(_) = sub else { return Some(entry) };
    subcommands(entry).find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The (full name, entry) of each subcommand in a command's COMMAND INFO entry.
pub fn subcommands(entry: &'static Value) -> impl Iterator<Item = (&'static str, &'static Value)> {
    let subs: &'static [Value] = match entry {
        Value::Arr(fields) => match fields.get(9) {
            Some(Value::Arr(s) | Value::Set(s)) => s,
            _ => &[],
        },
        _ => &[],
    };
    subs.iter().filter_map(|s| match s {
        Value::Arr(f) => match f.first() {
            Some(Value::Bulk(n)) => Some((*n, s)),
            _ => None,
        },
        _ => None,
    })
}

/// The flags of a command's `n`th key spec (the last one past the end), as COMMAND
/// GETKEYSANDFLAGS reports them.
pub fn key_spec_flags(name: &str, n: usize) -> &'static [Value] {
    let Some(Value::Arr(fields)) = info(name) else { return &[] };
    let specs: &'static [Value] = match fields.get(8) {
        Some(Value::Arr(s) | Value::Set(s)) => s,
        _ => return &[],
    };
    let Some(Value::Map(spec)) = specs.get(n.min(specs.len().saturating_sub(1))) else { return &[] };
    match spec.chunks(2).find(|kv| matches!(kv[0], Value::Bulk("flags"))) {
        Some([_, Value::Set(f) | Value::Arr(f)]) => f,
        _ => &[],
    }
}

/// Whether Redis's entry for `name` carries the command flag `flag`.
pub fn has_flag(name: &str, flag: &str) -> bool {
    match info(name) {
        Some(Value::Arr(fields)) => match fields.get(2) {
            Some(Value::Set(f) | Value::Arr(f)) => f.iter().any(|v| matches!(v, Value::Simple(s) if *s == flag)),
            _ => false,
        },
        _ => false,
    }
}

/// A command's COMMAND DOCS map, `parent|sub` for a subcommand.
pub fn docs(name: &str) -> Option<&'static Value> {
    let (parent, sub) = match name.split_once('|') {
        Some((p, s)) => (p, Some(s)),
        None => (name, None),
    };
    let entry = top(super::redis_commands::DOCS, parent)?;
    let Some(_) = sub else { return Some(entry) };
    let Value::Map(fields) = entry else { return None };
    let subs = fields.chunks(2).find(|kv| matches!(kv[0], Value::Bulk("subcommands")))?;
    let Value::Map(subs) = &subs[1] else { return None };
    subs.chunks(2).find(|kv| matches!(kv[0], Value::Bulk(n) if n.eq_ignore_ascii_case(name))).map(|kv| &kv[1])
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_commands_and_subcommands() {
        assert!(super::info("get").is_some());
        assert!(super::info("config|get").is_some());
        assert!(super::info("config|nope").is_none());
        assert!(super::docs("config|set").is_some());
        assert!(super::docs("nosuch").is_none());
        let n = crate::cmd::redis_commands::INFO.iter().map(|(_, e)| 1 + super::subcommands(e).count()).sum::<usize>();
        assert_eq!(n, 366, "Redis 7.0 lists 366 commands and subcommands");
    }
}
