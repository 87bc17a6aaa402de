//! The ACL file (`aclfile`): one `user <name> <rules...>` line per user, loaded at
//! start and by ACL LOAD (all or nothing, with Redis's error texts), written by ACL
//! SAVE (temp file, fsync, rename).

use super::{User, Users};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// Parses an ACL file's text into a complete user set. Errors are Redis's, joined as
/// ACL LOAD reports them.
pub fn parse(path: &str, text: &str, all_channels: bool) -> Result<Users, String> {
    let mut map: BTreeMap<String, Arc<User>> = BTreeMap::new();
    let mut errors = String::new();
    for (n, raw) in text.split('\n').enumerate() {
        let lineno = n + 1;
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Split on single spaces, as Redis does (no quoting in ACL files).
        let argv: Vec<String> = line.split(' ').filter(|a| !a.is_empty()).map(str::to_string).collect();
        if argv.is_empty() {
            continue;
        }
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!("{path}:{lineno} should start with user keyword followed by the username. "));
            continue;
        }
        let name = &argv[1];
        if map.contains_key(name) {
            errors.push_str(&format!("WARNING: Duplicate user '{name}' found on line {lineno}. "));
            continue;
        }
        let mut u = User::new(name, all_channels);
        let ops: Vec<&[u8]> = argv[2..].iter().map(|s| s.as_bytes()).collect();
        if let Err(e) = apply_line(&mut u, &ops, all_channels) {
            errors.push_str(&format!("{path}:{lineno}: {e}. "));
            continue;
        }
        map.insert(name.clone(), Arc::new(u));
    }
    if !errors.is_empty() {
        errors.push_str("WARNING: ACL errors detected, no change to the previously active ACL rules was performed");
        return Err(errors);
    }
    map.entry("default".to_string()).or_insert_with(|| Arc::new(User::default_user()));
    Ok(Users { map })
}

/// Applies one line's rules; the error reads "Error in applying operation 'op': why".
pub fn apply_line(u: &mut User, ops: &[&[u8]], all_channels: bool) -> Result<(), String> {
    u.set(ops, all_channels).map_err(|e| {
        // `User::set` words errors for ACL SETUSER; files use Redis's loading words.
        match e.strip_prefix("ERR Error in ACL SETUSER modifier ") {
            Some(rest) => format!("Error in applying operation {rest}"),
            None => e.trim_start_matches("ERR ").to_string(),
        }
    })
}

/// ACL SAVE: every user's description, one per line.
pub fn save(path: &str, users: &Users) -> std::io::Result<()> {
    let mut text = String::new();
    for u in users.map.values() {
        text.push_str(&u.describe());
        text.push('\n');
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_are_redis_words_and_change_nothing() {
        let text =
            "user default on nopass ~* &* +@all\nuser x on >p ~* +bogus\nfoo bar\nuser y on\nuser y off\n\nuser z\n";
        let e = parse("/f.acl", text, false).err().unwrap();
        assert_eq!(
            e,
            "/f.acl:2: Error in applying operation '+bogus': Unknown command or category name in ACL. \
             /f.acl:3 should start with user keyword followed by the username. \
             WARNING: Duplicate user 'y' found on line 5. \
             WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        );
        let users = parse("/f.acl", "# comment\nuser x on >p ~* +@all\n", false).unwrap();
        let lines: Vec<String> = users.map.values().map(|u| u.describe()).collect();
        assert_eq!(
            lines,
            [
                "user default on nopass ~* &* +@all",
                "user x on #148de9c5a7a44d19e56cd9ae1a554bf67847afb0c58f6e12fa29ac7ddfca9940 ~* resetchannels +@all"
            ]
        );
    }
}
