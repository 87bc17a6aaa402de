//! The README stays true:
//! - its command table lists exactly the commands the server reports in `COMMAND
//!   LIST` (regenerate it with `scripts/command-table.py <port>`);
//! - its "Not supported yet" command list names exactly the Redis 7.0 commands and
//!   subcommands shardis lacks (computed against the real redis-server), and each of
//!   them answers `ERR unknown command` / `ERR unknown subcommand`;
//! - its compatibility-only and refused-values parameter lists, CONFIG
//!   HELP and the sample `deploy/shardis.conf` all match the parameter table
//!   (`config::params`), and no parameter the code reads is called compatibility-only;
//! - the sample config starts a server and shows every directive shardis acts on.

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir};
use shardis::config::params::{self, PARAMS, Store};
use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap()
}

/// The backticked words between `<!-- tag:start -->` and `<!-- tag:end -->`.
fn marked(text: &str, tag: &str) -> BTreeSet<String> {
    let start = format!("<!-- {tag}:start -->");
    let end = format!("<!-- {tag}:end -->");
    let from = text.find(&start).unwrap_or_else(|| panic!("README.md has no {start}")) + start.len();
    let to = from + text[from..].find(&end).unwrap_or_else(|| panic!("README.md has no {end}"));
    text[from..to].split('`').skip(1).step_by(2).map(str::to_string).collect()
}

fn command_list(c: &mut redis::Connection) -> BTreeSet<String> {
    redis::cmd("COMMAND").arg("LIST").query::<Vec<String>>(c).unwrap().into_iter().map(|n| n.to_lowercase()).collect()
}

fn restricted_names() -> BTreeSet<String> {
    params::RESTRICTED.iter().map(|r| r.name.to_string()).collect()
}

fn compat_only_names() -> BTreeSet<String> {
    params::compat_only().map(|p| p.name.to_string()).collect()
}

#[test]
fn readme_lists_exactly_the_supported_commands() {
    let readme = readme();
    let table: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.split('|').nth(2))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.strip_suffix('`').map(str::to_lowercase))
        .filter(|n| !n.is_empty() && !n.contains(' '))
        .collect();
    let s = Server::start(1, &[]);
    // Subcommands (`config|get`) are listed under their container.
    let served: BTreeSet<String> = command_list(&mut s.conn()).into_iter().filter(|n| !n.contains('|')).collect();
    let missing: Vec<_> = served.difference(&table).collect();
    let extra: Vec<_> = table.difference(&served).collect();
    assert!(missing.is_empty(), "commands missing from README.md's table: {missing:?}");
    assert!(extra.is_empty(), "README.md lists commands the server does not have: {extra:?}");
}

#[test]
fn not_supported_yet_lists_exactly_the_missing_redis_commands() {
    let listed: BTreeSet<String> =
        marked(&readme(), "unsupported-commands").iter().map(|c| c.to_lowercase().replace(' ', "|")).collect();
    let dir = temp_dir("real-redis");
    let real = command_list(&mut RealRedis::start(&dir).conn());
    let s = Server::start(1, &[]);
    let ours = command_list(&mut s.conn());
    assert!(real.len() > 200 && real.contains("xadd") && real.contains("client|tracking"), "{real:?}");

    let mut raw = s.raw();
    let mut missing = BTreeSet::new();
    for name in &real {
        match name.split_once('|') {
            None if !ours.contains(name) => {
                missing.insert(name.clone());
            }
            // A subcommand of a command we have: missing if the container says so.
            Some((container, sub)) if ours.contains(container) => {
                if let Resp::Error(e) = raw.cmd(&[container, sub])
                    && e.starts_with("ERR unknown subcommand")
                {
                    missing.insert(name.clone());
                }
            }
            _ => {}
        }
    }
    let unlisted: Vec<_> = missing.difference(&listed).collect();
    let not_missing: Vec<_> = listed.difference(&missing).collect();
    assert!(
        unlisted.is_empty(),
        "Redis 7.0 commands shardis lacks, missing from README's Not supported yet: {unlisted:?}"
    );
    assert!(not_missing.is_empty(), "README's Not supported yet lists commands that are not missing: {not_missing:?}");

    // And each one, as a client sees it.
    for name in &listed {
        let (want, args): (&str, Vec<&str>) = match name.split_once('|') {
            None => ("ERR unknown command", vec![name]),
            Some((c, sub)) => ("ERR unknown subcommand", vec![c, sub]),
        };
        match raw.cmd(&args) {
            Resp::Error(e) if e.starts_with(want) => {}
            other => panic!("{args:?}: expected {want}, got {other:?}"),
        }
    }
    drop(real);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parameter_lists_match_the_parameter_table() {
    let readme = readme();
    let compat = compat_only_names();
    // No silently ignored settings: every parameter acts or is refused.
    assert!(compat.is_empty(), "compatibility-only parameters: {compat:?}");
    assert!(!readme.contains("compat-only:start"), "README still has a compatibility-only list");
    // The restricted list also shows the accepted values in backticks; keep the names.
    let restricted: BTreeSet<String> =
        marked(&readme, "restricted").into_iter().filter(|w| params::find(w).is_some()).collect();
    assert_eq!(restricted, restricted_names(), "README's list of refused values (params::RESTRICTED)");

    // A compat-stored parameter whose name the code looks up acts, so it must not be
    // called compatibility-only (add it to params::COMPAT_STORED_BUT_USED).
    let mut sources = Vec::new();
    collect_rs(&Path::new(ROOT).join("src"), &mut sources);
    // Read only to be shown: INFO replication reports repl_backlog_size, as Redis does.
    const SHOWN_ONLY: &[&str] = &["repl-backlog-size"];
    for p in PARAMS.iter().filter(|p| p.store == Store::Compat && !SHOWN_ONLY.contains(&p.name)) {
        let quoted = format!("\"{}\"", p.name);
        if let Some((path, _)) = sources.iter().find(|(_, text)| text.contains(&quoted)) {
            assert!(!params::is_compat_only(p), "{} is read by {path} but listed as compatibility-only", p.name);
        }
    }
}

/// Every `.rs` file under `dir` except the config module (which names every
/// parameter), with its text.
fn collect_rs(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("src/config") {
                collect_rs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn sample_config_starts_and_documents_every_directive() {
    let conf = Path::new(ROOT).join("deploy/shardis.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    // The launcher overrides port, bind, dir and save: the rest comes from the file.
    let s = Server::start_with_config_file(&conf, 1, &[]);
    let mut c = s.conn();

    let mut set = BTreeSet::new();
    let mut documented = BTreeSet::new();
    let mut compat_listed = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# compat-only:") {
            compat_listed.extend(rest.split_whitespace().map(str::to_string));
        } else if let Some(rest) = line.strip_prefix("# ") {
            // A directive left at its default: "# name value".
            if let Some(word) = rest.split_whitespace().next().filter(|w| params::find(w).is_some()) {
                documented.insert(word.to_string());
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            let name = line.split_whitespace().next().unwrap().to_string();
            let got: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(&name).query(&mut c).unwrap();
            assert_eq!(got.first(), Some(&name), "CONFIG GET {name} after loading the sample");
            documented.insert(name.clone());
            set.insert(name);
        }
    }
    assert!(set.len() > 30, "{set:?}");
    for p in PARAMS.iter().filter(|p| !params::is_compat_only(p) && !params::HIDDEN.contains(&p.name)) {
        assert!(documented.contains(p.name), "deploy/shardis.conf does not show directive {}", p.name);
    }
    assert_eq!(compat_listed, compat_only_names(), "deploy/shardis.conf's compat-only lines");
    // The server read this file (the launcher's flags override only port, bind, dir,
    // shards and save).
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(info.lines().any(|l| l.trim_end() == format!("config_file:{}", conf.display())), "{info}");
    let get = |c: &mut redis::Connection, n: &str| -> String {
        redis::cmd("CONFIG").arg("GET").arg(n).query::<Vec<String>>(c).unwrap()[1].clone()
    };
    assert_eq!(get(&mut c, "proto-max-bulk-len"), (512u64 << 20).to_string());
    assert_eq!(get(&mut c, "save"), "");

    // CONFIG HELP names the same compatibility-only parameters.
    let help: Vec<String> = redis::cmd("CONFIG").arg("HELP").query(&mut c).unwrap();
    let at = help.iter().position(|l| l.starts_with("Compatibility-only parameters")).expect("CONFIG HELP section");
    let from_help: BTreeSet<String> = help[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect();
    assert_eq!(from_help, compat_only_names(), "CONFIG HELP's compatibility-only list");
    let at = help.iter().position(|l| l.starts_with("Refused unless")).expect("CONFIG HELP section");
    let from_help: BTreeSet<String> = help[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .flat_map(|l| l.split_whitespace().map(str::to_string))
        .collect();
    assert_eq!(from_help, restricted_names(), "CONFIG HELP's list of refused values");
}
