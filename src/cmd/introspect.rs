//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS,
//! HELP): what the server knows about its commands. The set of commands comes from the
//! command table, so it can never disagree with how commands are routed; each command
//! Redis also has is described by Redis 7.0's own entry (`redis_info`: flags, key
//! specs, tips, ACL categories, subcommands nested), the others from the table.
//!
//! Also home to the helpers every container command (CLIENT, CONFIG, COMMAND, DEBUG)
//! uses for Redis 7's subcommand errors and HELP replies.

use super::ctx::{ConnCtx, ConnOutcome};
use super::redis_info;
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::resp::ReplyWriter;
use crate::shard::OwnedArgs;
use crate::util::glob::glob_match;

/// `ERR unknown subcommand 'x'. Try CONTAINER HELP.`, as Redis 7 words it.
pub fn unknown_subcommand(a: &Args) -> CmdError {
    let sub: String = a.str(1).chars().take(128).collect();
    CmdError::msg(format!("ERR unknown subcommand '{sub}'. Try {} HELP.", a.str(0).to_ascii_uppercase()))
}

/// Redis 7.0 subcommands shardis does not have (README's "Not supported yet"): they
/// answer as unknown whatever their arguments.
const UNSUPPORTED_SUBCOMMANDS: &[&str] = &["script|debug"];

/// Why a container's subcommand is refused before it runs, as Redis 7.0's command
/// lookup and arity check refuse it: a subcommand Redis does not know, or the wrong
/// number of arguments for one it knows (by Redis's own COMMAND INFO arity).
pub fn subcommand_refusal(container: &str, a: &Args) -> Option<String> {
    let full = format!("{container}|{}", a.str(1).to_ascii_lowercase());
    let known = redis_info::info(&full).filter(|_| !UNSUPPORTED_SUBCOMMANDS.contains(&full.as_str()));
    let Some(redis_info::Value::Arr(fields)) = known else {
        return Some(unknown_subcommand(a).message());
    };
    let Some(&redis_info::Value::Int(arity)) = fields.get(1) else { return None };
    sub_arity(a, &full, arity as i32).err().map(|e| e.message())
}

/// Checks a subcommand's Redis arity (counted from the container name, so
/// `CLIENT SETNAME x` is 3). The error names it `container|sub`, as Redis 7 does.
pub fn sub_arity(a: &Args, fullname: &str, arity: i32) -> Result<(), CmdError> {
    let n = a.len() as i32;
    let ok = if arity >= 0 { n == arity } else { n >= -arity };
    if ok { Ok(()) } else { Err(CmdError::msg(super::error::wrong_arity(fullname))) }
}

/// Redis 7.0's commands that are containers of subcommands.
pub const CONTAINERS: &[&str] = &[
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module", "object", "pubsub",
    "script", "slowlog", "xgroup", "xinfo",
];

/// The name Redis's errors use for a command: `container|sub` for a container's
/// subcommand (`client|reply`), else the command's own name.
pub fn full_name(name: &str, a: &Args) -> String {
    if a.len() > 1 && CONTAINERS.contains(&name) {
        format!("{name}|{}", a.str(1).to_ascii_lowercase())
    } else {
        name.to_string()
    }
}

/// A HELP reply: the usage header, the given lines, then HELP's own entry, each as a
/// status reply (Redis's addReplyHelp).
pub fn help_reply(out: &mut ReplyWriter, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// Commands Redis puts in the @dangerous ACL category beyond the ones implied by the
/// `admin` flag.
const DANGEROUS: &[&str] = &["flushall", "flushdb", "keys", "swapdb", "info", "sort", "migrate", "restore", "lastsave"];

/// Commands of the `server` group that Redis also files under @keyspace.
const SERVER_KEYSPACE: &[&str] = &["flushall", "flushdb", "swapdb", "dbsize"];

/// The ACL categories of a command, Redis 7.0's own (`acl::cmdacl`, generated from
/// redis-server's COMMAND INFO), in Redis's order.
pub fn acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    match crate::acl::cmdacl::by_name(spec.name) {
        Some(id) => crate::acl::cats::at_names(crate::acl::cmdacl::get(id).cats),
        None => derived_acl_categories(spec),
    }
}

/// For a command Redis lacks: the categories Redis derives from flags (write, read,
/// admin, pubsub, fast/slow, blocking) plus the data-type category of its group.
fn derived_acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mut cats = Vec::new();
    let group_cat = match spec.group {
        "string" => Some("@string"),
        "list" => Some("@list"),
        "hash" => Some("@hash"),
        "set" => Some("@set"),
        "sorted_set" | "sorted-set" | "zset" => Some("@sortedset"),
        "stream" => Some("@stream"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "geo" => Some("@geo"),
        "pubsub" => Some("@pubsub"),
        "generic" => Some("@keyspace"),
        "connection" => Some("@connection"),
        "transactions" => Some("@transaction"),
        "scripting" => Some("@scripting"),
        "server" if SERVER_KEYSPACE.contains(&spec.name) => Some("@keyspace"),
        // Redis files COMMAND with the connection commands for ACL purposes.
        "server" if spec.name == "command" => Some("@connection"),
        _ => None,
    };
    cats.extend(group_cat);
    let f = spec.flags;
    if f & flag::WRITE != 0 {
        cats.push("@write");
    }
    if f & flag::READONLY != 0 && spec.group != "scripting" {
        cats.push("@read");
    }
    // LASTSAVE is @admin in Redis without carrying the admin flag.
    if f & flag::ADMIN != 0 || spec.name == "lastsave" {
        cats.push("@admin");
    }
    if f & flag::ADMIN != 0 || DANGEROUS.contains(&spec.name) {
        cats.push("@dangerous");
    }
    if f & flag::PUBSUB != 0 && group_cat != Some("@pubsub") {
        cats.push("@pubsub");
    }
    if f & flag::FAST != 0 {
        cats.push("@fast");
    } else {
        cats.push("@slow");
    }
    if f & flag::BLOCKING != 0 {
        cats.push("@blocking");
    }
    // Redis lists categories in the order of its category table.
    cats.sort_by_key(|c| crate::acl::cats::AT_NAMES.iter().position(|o| o == c).unwrap_or(usize::MAX));
    cats
}

/// One command's COMMAND INFO entry (Redis 7: ten fields).
fn write_info(out: &mut ReplyWriter, spec: &CommandSpec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(spec.arity as i64);
    // Redis hides `may_replicate` from COMMAND INFO (on purpose, says its table).
    let names: Vec<&str> =
        flag::NAMES.iter().filter(|(f, _)| spec.flags & f != 0 && *f != flag::MAY_REPLICATE).map(|(_, n)| *n).collect();
    out.set(names.len());
    for n in names {
        out.simple(n);
    }
    let (first, last, step) = spec.key_triple();
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = acl_categories(spec);
    out.set(cats.len());
    for c in cats {
        out.simple(c);
    }
    // Tips, key specifications and subcommands: the table does not describe them; the
    // legacy (first, last, step) triple above is what key extraction relies on.
    out.set(0);
    out.array(0);
    out.array(0);
}

/// One command's COMMAND DOCS entry: name, then a map of what the table documents.
fn write_docs(out: &mut ReplyWriter, spec: &CommandSpec) {
    out.bulk(spec.name.as_bytes());
    out.map(3);
    out.bulk(b"summary");
    out.bulk(spec.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(spec.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
}

/// Which commands COMMAND LIST keeps, by full name (`parent|sub` for a subcommand).
type ListFilter = Box<dyn Fn(&str) -> bool>;

/// A command's or subcommand's ACL categories, by full name.
fn categories_of(name: &str) -> Vec<&'static str> {
    match crate::acl::cmdacl::by_name(name) {
        Some(id) => crate::acl::cats::at_names(crate::acl::cmdacl::get(id).cats),
        None => TABLE.lookup(name.as_bytes()).map(|i| acl_categories(TABLE.get(i))).unwrap_or_default(),
    }
}

fn list_filter(a: &Args) -> Result<ListFilter, CmdError> {
    if a.len() == 2 {
        return Ok(Box::new(|_| true));
    }
    if a.len() != 5 || !a.is(2, "FILTERBY") {
        return Err(CmdError::Syntax);
    }
    let value = a.get(4).to_vec();
    if a.is(3, "MODULE") {
        // No modules: no command belongs to one.
        Ok(Box::new(|_| false))
    } else if a.is(3, "ACLCAT") {
        let cat = format!("@{}", String::from_utf8_lossy(&value).to_ascii_lowercase());
        Ok(Box::new(move |n| categories_of(n).contains(&cat.as_str())))
    } else if a.is(3, "PATTERN") {
        Ok(Box::new(move |n| glob_match(&value, n.as_bytes(), true)))
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis 7.0 subcommands of containers we have that shardis does not implement
/// (README, Not supported yet): COMMAND LIST leaves them out.
const MISSING_SUBCOMMANDS: &[&str] = &["script|debug"];

/// Every command's full name, each container followed by its subcommands, as COMMAND
/// LIST gives them.
fn all_names() -> Vec<&'static str> {
    let mut names = Vec::with_capacity(TABLE.len() * 2);
    for spec in &TABLE.specs {
        names.push(spec.name);
        if let Some(entry) = redis_info::info(spec.name) {
            names.extend(redis_info::subcommands(entry).map(|(n, _)| n).filter(|n| !MISSING_SUBCOMMANDS.contains(n)));
        }
    }
    names
}

/// A command's COMMAND INFO entry: Redis's own where Redis has the command, else one
/// made from the command table.
fn write_entry(out: &mut ReplyWriter, spec: &CommandSpec) {
    match redis_info::info(spec.name) {
        Some(v) => redis_info::write(out, v),
        None => write_info(out, spec),
    }
}

/// The entry COMMAND INFO gives for a name a client asked about: a command of ours, or
/// a subcommand (`config|get`) of one.
fn lookup_info(name: &[u8]) -> Option<Result<&'static redis_info::Value, &'static CommandSpec>> {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some((parent, _)) = name.split_once('|') {
        TABLE.lookup(parent.as_bytes())?;
        return redis_info::info(&name).map(Ok);
    }
    let spec = TABLE.get(TABLE.lookup(name.as_bytes())?);
    Some(redis_info::info(spec.name).ok_or(spec))
}

fn write_docs_of(out: &mut ReplyWriter, name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let parent = name.split('|').next().unwrap_or(&name);
    let Some(idx) = TABLE.lookup(parent.as_bytes()) else { return false };
    match redis_info::docs(&name) {
        Some(v) => {
            let full = if name.contains('|') { name.as_str() } else { TABLE.get(idx).name };
            out.bulk(full.as_bytes());
            redis_info::write(out, v);
            true
        }
        None if !name.contains('|') => {
            write_docs(out, TABLE.get(idx));
            true
        }
        None => false,
    }
}

/// The key flags Redis's own key functions give SET and BITFIELD, whose specs carry
/// `variable_flags`: they depend on GET / a write subcommand.
fn fallback_key_flags(name: &str, args: &Args) -> Option<&'static [redis_info::Value]> {
    use redis_info::Value::Simple;
    const RW: &[redis_info::Value] = &[Simple("RW"), Simple("access"), Simple("update")];
    const OW: &[redis_info::Value] = &[Simple("OW"), Simple("update")];
    const RO: &[redis_info::Value] = &[Simple("RO"), Simple("access")];
    let any = |from: usize, words: &[&[u8]]| {
        (from..args.len()).any(|i| words.iter().any(|w| args.get(i).eq_ignore_ascii_case(w)))
    };
    match name {
        "set" => Some(if any(3, &[b"GET"]) { RW } else { OW }),
        "bitfield" => Some(if any(2, &[b"SET", b"INCRBY"]) { RW } else { RO }),
        _ => None,
    }
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS (`with_flags`): the keys of a full command,
/// found as Redis finds them (its key specs, `acl::cmdacl`), and each one's key-spec
/// flags.
fn getkeys(c: &mut ConnCtx, a: &Args, with_flags: bool) -> Result<ConnOutcome, CmdError> {
    let sub_name = if with_flags { "command|getkeysandflags" } else { "command|getkeys" };
    sub_arity(a, sub_name, -4)?;
    let sub = OwnedArgs::from_slices(a.iter().skip(2));
    let sub = Args::Owned(&sub);
    let Some(idx) = TABLE.lookup(sub.get(0)) else {
        return Err(CmdError::msg("ERR Invalid command specified"));
    };
    let spec = TABLE.get(idx);
    // Redis's own specs where it has the command (they include the keys a movable
    // command finds by keyword); else the command table's positions.
    let acl_id = crate::acl::cmdacl::request_id(idx, &sub);
    let has_keys = match acl_id {
        Some(id) => !matches!(crate::acl::cmdacl::get(id).keys, crate::acl::cmdacl::Keys::Specs(&[])),
        None => !matches!(spec.keys, KeySpec::None),
    };
    if !has_keys {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(sub.len()) {
        return Err(CmdError::msg("ERR Invalid number of arguments specified for command"));
    }
    let keys: Vec<(usize, usize)> = match acl_id {
        Some(id) => crate::acl::cmdacl::keys_with_specs(id, &sub),
        None => spec.key_positions(&sub, c.sess.db).unwrap_or_default().into_iter().map(|(_, i)| (i, 0)).collect(),
    };
    let full = acl_id.map(|id| crate::acl::cmdacl::get(id).name).unwrap_or(spec.name);
    if keys.is_empty() {
        // EVAL with no keys and the like answer an empty list (no_mandatory_keys).
        if redis_info::has_flag(full, "no_mandatory_keys") {
            c.out.array(0);
            return Ok(ConnOutcome::Done);
        }
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    c.out.array(keys.len());
    for (i, n) in keys {
        if with_flags {
            c.out.array(2);
            c.out.bulk(sub.get(i));
            let flags = fallback_key_flags(full, &sub).unwrap_or_else(|| redis_info::key_spec_flags(full, n));
            // An incomplete spec makes Redis ask the command's own key function
            // (MIGRATE, SORT...), whose keys carry the spec's other flags only.
            let flags: Vec<&redis_info::Value> =
                flags.iter().filter(|f| !matches!(f, redis_info::Value::Simple("incomplete"))).collect();
            c.out.set(flags.len());
            for f in flags {
                redis_info::write(&mut c.out, f);
            }
        } else {
            c.out.bulk(sub.get(i));
        }
    }
    Ok(ConnOutcome::Done)
}

const HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

fn command(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() == 1 {
        c.out.array(TABLE.len());
        for spec in &TABLE.specs {
            write_entry(&mut c.out, spec);
        }
        return Ok(ConnOutcome::Done);
    }
    if a.is(1, "COUNT") {
        sub_arity(a, "command|count", 2)?;
        c.out.int(TABLE.len() as i64);
    } else if a.is(1, "INFO") {
        if a.len() == 2 {
            c.out.array(TABLE.len());
            for spec in &TABLE.specs {
                write_entry(&mut c.out, spec);
            }
        } else {
            c.out.array(a.len() - 2);
            for i in 2..a.len() {
                match lookup_info(a.get(i)) {
                    Some(Ok(v)) => redis_info::write(&mut c.out, v),
                    Some(Err(spec)) => write_info(&mut c.out, spec),
                    None => c.out.null(),
                }
            }
        }
    } else if a.is(1, "DOCS") {
        if a.len() == 2 {
            c.out.map(TABLE.len());
            for spec in &TABLE.specs {
                write_docs_of(&mut c.out, spec.name.as_bytes());
            }
        } else {
            // The map's length first: count the names that have docs, then write them.
            let mut scratch = Vec::new();
            let mut n = 0;
            {
                let mut w = ReplyWriter::new(&mut scratch, c.sess.proto);
                for i in 2..a.len() {
                    n += write_docs_of(&mut w, a.get(i)) as usize;
                }
            }
            c.out.map(n);
            c.out.raw(&scratch);
        }
    } else if a.is(1, "LIST") {
        let keep = list_filter(a)?;
        let names: Vec<&str> = all_names().into_iter().filter(|n| keep(n)).collect();
        c.out.array(names.len());
        for n in names {
            c.out.bulk(n.as_bytes());
        }
    } else if a.is(1, "GETKEYS") {
        return getkeys(c, a, false);
    } else if a.is(1, "GETKEYSANDFLAGS") {
        return getkeys(c, a, true);
    } else if a.is(1, "HELP") {
        sub_arity(a, "command|help", 2)?;
        help_reply(&mut c.out, "COMMAND", HELP);
    } else {
        return Err(unknown_subcommand(a));
    }
    Ok(ConnOutcome::Done)
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    arity: -1,
    flags: flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(command),
    group: "server",
    summary: "Returns detailed information about all commands.",
    since: "2.8.13",
}];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};
    use crate::cmd::table::TABLE;

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    #[test]
    fn count_matches_listing() {
        let mut h = Harness::new(1);
        let Reply::Int(n) = h.run(&["command", "count"]) else { panic!() };
        let Reply::Array(all) = h.run(&["command"]) else { panic!() };
        assert_eq!(n as usize, all.len());
        assert_eq!(n as usize, TABLE.len());
        let Reply::Array(names) = h.run(&["command", "list"]) else { panic!() };
        // LIST names subcommands too (`config|get`), as Redis 7.0 does.
        assert!(names.len() > all.len() && names.contains(&Reply::bulk("config|get")));
        assert_eq!(h.run(&["command", "count", "x"]), err("ERR wrong number of arguments for 'command|count' command"));
    }

    #[test]
    fn info_of_get() {
        let mut h = Harness::new(2);
        let Reply::Array(v) = h.run(&["command", "info", "GET", "nosuch"]) else { panic!() };
        assert_eq!(v.len(), 2);
        assert_eq!(v[1], Reply::Nil);
        let Reply::Array(get) = &v[0] else { panic!() };
        assert_eq!(get.len(), 10);
        assert_eq!(get[0], Reply::bulk("get"));
        assert_eq!(get[1], Reply::Int(2));
        let Reply::Array(flags) = &get[2] else { panic!() };
        assert!(flags.contains(&Reply::Simple("readonly".into())));
        assert!(flags.contains(&Reply::Simple("fast".into())));
        assert_eq!(&get[3..6], &[Reply::Int(1), Reply::Int(1), Reply::Int(1)]);
        let Reply::Array(cats) = &get[6] else { panic!() };
        for c in ["@read", "@string", "@fast"] {
            assert!(cats.contains(&Reply::Simple(c.into())), "{c} in {cats:?}");
        }
        assert_eq!(cats, &["@read", "@string", "@fast"].map(|c| Reply::Simple(c.into())));
        // Same categories, same order as Redis 7.0.
        for (name, want) in [
            ("swapdb", &["@keyspace", "@write", "@fast", "@dangerous"][..]),
            ("flushall", &["@keyspace", "@write", "@slow", "@dangerous"]),
            ("lastsave", &["@admin", "@fast", "@dangerous"]),
            ("debug", &["@admin", "@slow", "@dangerous"]),
            ("info", &["@slow", "@dangerous"]),
            ("command", &["@slow", "@connection"]),
        ] {
            let spec = TABLE.get(TABLE.lookup(name.as_bytes()).unwrap());
            assert_eq!(super::acl_categories(spec), want, "{name}");
        }
    }

    #[test]
    fn docs_and_list_filters() {
        let mut h = Harness::new(1);
        h.resp3();
        let Reply::Map(docs) = h.run(&["command", "docs", "get", "nosuch"]) else { panic!() };
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].0, Reply::bulk("get"));
        let Reply::Map(fields) = &docs[0].1 else { panic!() };
        assert!(fields.contains(&(Reply::bulk("group"), Reply::bulk("string"))));
        assert!(fields.contains(&(Reply::bulk("since"), Reply::bulk("1.0.0"))));
        let Reply::Array(v) = h.run(&["command", "list", "filterby", "pattern", "g*"]) else { panic!() };
        assert!(v.contains(&Reply::bulk("get")));
        assert!(v.iter().all(|r| matches!(r, Reply::Bulk(b) if b[0] == b'g')));
        let Reply::Array(v) = h.run(&["command", "list", "filterby", "aclcat", "string"]) else { panic!() };
        assert!(v.contains(&Reply::bulk("set")) && !v.contains(&Reply::bulk("dbsize")));
        assert_eq!(h.run(&["command", "list", "filterby", "module", "x"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["command", "list", "filterby", "nope", "x"]), err("ERR syntax error"));
        assert_eq!(h.run(&["command", "list", "x"]), err("ERR syntax error"));
    }

    #[test]
    fn getkeys() {
        let mut h = Harness::new(4);
        assert_eq!(
            h.run(&["command", "getkeys", "mset", "a", "1", "b", "2"]),
            Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
        );
        assert_eq!(h.run(&["command", "getkeys", "get", "k"]), Reply::Array(vec![Reply::bulk("k")]));
        assert_eq!(h.run(&["command", "getkeys", "nosuch", "k"]), err("ERR Invalid command specified"));
        assert_eq!(h.run(&["command", "getkeys", "ping", "x"]), err("ERR The command has no key arguments"));
        assert_eq!(
            h.run(&["command", "getkeys", "ping"]),
            err("ERR wrong number of arguments for 'command|getkeys' command")
        );
        assert_eq!(
            h.run(&["command", "getkeys", "get", "a", "b"]),
            err("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(h.run(&["command", "getkeys"]), err("ERR wrong number of arguments for 'command|getkeys' command"));
    }

    #[test]
    fn help_and_unknown() {
        let mut h = Harness::new(1);
        let Reply::Array(v) = h.run(&["command", "help"]) else { panic!() };
        assert!(matches!(&v[0], Reply::Simple(s) if s.starts_with("COMMAND <subcommand>")));
        assert_eq!(h.run(&["command", "frob"]), err("ERR unknown subcommand 'frob'. Try COMMAND HELP."));
    }
}
