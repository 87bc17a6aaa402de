//! The README's command table stays true: every command the server reports in
//! `COMMAND LIST` has a row, and every row names a command the server has.
//! Regenerate the table with `scripts/command-table.py <port>`.

mod common;

use common::Server;
use std::collections::BTreeSet;

#[test]
fn readme_lists_exactly_the_supported_commands() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.split('|').nth(2))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.strip_suffix('`').map(str::to_lowercase))
        .filter(|n| !n.is_empty() && !n.contains(' '))
        .collect();
    let s = Server::start(1, &[]);
    let mut c = s.conn();
    let served: BTreeSet<String> =
        redis::cmd("COMMAND").arg("LIST").query::<Vec<String>>(&mut c).unwrap().into_iter().collect();
    let missing: Vec<_> = served.difference(&table).collect();
    let extra: Vec<_> = table.difference(&served).collect();
    assert!(missing.is_empty(), "commands missing from README.md's table: {missing:?}");
    assert!(extra.is_empty(), "README.md lists commands the server does not have: {extra:?}");
}
