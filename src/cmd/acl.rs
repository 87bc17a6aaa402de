//! The ACL command: SETUSER, GETUSER, DELUSER, USERS, LIST, WHOAMI, CAT, GENPASS,
//! LOG, SAVE, LOAD, DRYRUN, HELP. The users and the rules themselves live in
//! `crate::acl`; this file parses arguments and shapes replies as Redis 7.0 does.

use super::ctx::{ConnCtx, ConnOutcome, FanOut, Session};
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::table::{CommandSpec, Handler, KeySpec, TABLE};
use super::{Args, CmdError};
use crate::acl::{self, User, cats, cmdacl};
use crate::shard::ShardState;
use std::sync::Arc;

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `acl-pubsub-default allchannels`: new users and selectors start with `&*`.
pub fn pubsub_default_all(st: &ShardState) -> bool {
    st.config.acl_pubsub_default == "allchannels"
}

fn aclfile(st: &ShardState) -> Option<String> {
    Some(st.config.aclfile.clone()).filter(|f| !f.is_empty())
}

fn acl(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match sub.as_str() {
        "setuser" => setuser(c, a),
        "getuser" => {
            sub_arity(a, "acl|getuser", 3)?;
            getuser(c, a)
        }
        "deluser" => {
            sub_arity(a, "acl|deluser", -3)?;
            deluser(c, a)
        }
        "users" | "list" => {
            sub_arity(a, &format!("acl|{sub}"), 2)?;
            let users = c.st.shared.acl.read();
            c.out.array(users.map.len());
            for u in users.map.values() {
                if sub == "users" {
                    c.out.bulk(u.name.as_bytes());
                } else {
                    c.out.bulk(u.describe().as_bytes());
                }
            }
            Ok(ConnOutcome::Done)
        }
        "whoami" => {
            sub_arity(a, "acl|whoami", 2)?;
            c.out.bulk(c.sess.acl.name.as_bytes());
            Ok(ConnOutcome::Done)
        }
        "cat" => {
            sub_arity(a, "acl|cat", -2)?;
            cat(c, a)
        }
        "genpass" => {
            sub_arity(a, "acl|genpass", -2)?;
            genpass(c, a)
        }
        "log" => {
            sub_arity(a, "acl|log", -2)?;
            log(c, a)
        }
        "save" => {
            sub_arity(a, "acl|save", 2)?;
            let path = aclfile(c.st).ok_or_else(|| CmdError::msg(NO_ACLFILE))?;
            let users = c.st.shared.acl.read();
            acl::file::save(&path, &users).map_err(|e| {
                crate::util::log::warning(&format!("Opening temp ACL file for ACL SAVE: {e}"));
                CmdError::msg(
                    "ERR There was an error trying to save the ACLs. Please check the server logs for more information",
                )
            })?;
            c.out.ok();
            Ok(ConnOutcome::Done)
        }
        "load" => {
            sub_arity(a, "acl|load", 2)?;
            load(c)
        }
        "dryrun" => {
            sub_arity(a, "acl|dryrun", -4)?;
            dryrun(c, a)
        }
        "help" => {
            sub_arity(a, "acl|help", 2)?;
            help_reply(&mut c.out, "ACL", HELP);
            Ok(ConnOutcome::Done)
        }
        _ => Err(unknown_subcommand(a)),
    }
}

fn setuser(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "acl|setuser", -3)?;
    let name = a.str(2);
    if name.bytes().any(|b| b == b' ' || b == 0) {
        return Err(CmdError::msg("ERR Usernames can't contain spaces or null characters"));
    }
    let ops: Vec<&[u8]> = (3..a.len()).map(|i| a.get(i)).collect();
    let all = pubsub_default_all(c.st);
    let (old, new) = c.st.shared.acl.write(|users| {
        let old = users.map.get(&name).cloned();
        let mut u = old.as_deref().cloned().unwrap_or_else(|| User::new(&name, all));
        u.set(&ops, all).map_err(CmdError::msg)?;
        let new = Arc::new(u);
        users.map.insert(name.clone(), new.clone());
        Ok::<_, CmdError>((old, new))
    })?;
    if old.is_some_and(|old| old.channels_narrowed_by(&new)) {
        return Ok(ConnOutcome::FanOut(kill_narrowed_subscribers(name, new)));
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// Closes the connections of user `name`, on every shard, subscribed to a channel,
/// pattern or shard channel its new permissions no longer allow, as Redis 7.0 does
/// when ACL SETUSER takes channels away; then replies OK.
fn kill_narrowed_subscribers(name: String, new: Arc<User>) -> FanOut {
    FanOut {
        hop: Arc::new(move |st| {
            let hit: Vec<u64> = st
                .clients
                .values()
                .filter(|m| m.user.as_deref().unwrap_or("default") == name)
                .filter(|m| {
                    st.pubsub
                        .subscriptions_of(m.id)
                        .into_iter()
                        .any(|(ch, pattern)| !new.may_stay_subscribed(ch, pattern))
                })
                .map(|m| m.id)
                .collect();
            kill_clients(st, hit);
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(|_, _, out| out.ok()),
    }
}

fn getuser(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(u) = c.st.shared.acl.user(&a.str(2)) else {
        c.out.null();
        return Ok(ConnOutcome::Done);
    };
    c.out.map(6);
    c.out.bulk(b"flags");
    let flags = u.flags();
    c.out.array(flags.len());
    for f in flags {
        c.out.bulk(f.as_bytes());
    }
    c.out.bulk(b"passwords");
    let hashes = u.password_hashes();
    c.out.array(hashes.len());
    for h in hashes {
        c.out.bulk(h.as_bytes());
    }
    selector_fields(&mut c.out, &u.root);
    c.out.bulk(b"selectors");
    c.out.array(u.selectors.len());
    for s in &u.selectors {
        c.out.map(3);
        selector_fields(&mut c.out, s);
    }
    Ok(ConnOutcome::Done)
}

fn selector_fields(out: &mut crate::resp::ReplyWriter, s: &acl::user::Selector) {
    out.bulk(b"commands");
    out.bulk(s.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(s.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(s.describe_channels().as_bytes());
}

fn deluser(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let names: Vec<String> = (2..a.len()).map(|i| a.str(i)).collect();
    if names.iter().any(|n| n == "default") {
        return Err(CmdError::msg("ERR The 'default' user cannot be removed"));
    }
    let gone: Vec<String> =
        c.st.shared.acl.write(|users| names.into_iter().filter(|n| users.map.remove(n).is_some()).collect());
    let n = gone.len() as i64;
    if gone.is_empty() {
        c.out.int(0);
        return Ok(ConnOutcome::Done);
    }
    Ok(ConnOutcome::FanOut(kill_users(gone, Box::new(move |out| out.int(n)))))
}

/// Closes every connection authenticated as one of `users` (Redis frees them when
/// their user goes), then replies with `reply`.
fn kill_users(users: Vec<String>, reply: Box<dyn FnOnce(&mut crate::resp::ReplyWriter) + Send>) -> FanOut {
    let users = Arc::new(users);
    FanOut {
        hop: Arc::new(move |st| {
            let hit: Vec<u64> = st
                .clients
                .values()
                .filter(|m| m.user.as_deref().is_some_and(|u| users.iter().any(|x| x == u)))
                .map(|m| m.id)
                .collect();
            kill_clients(st, hit);
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(move |_, _, out| reply(out)),
    }
}

/// Marks this shard's connections `ids` for closing (the worker closes them).
fn kill_clients(st: &mut ShardState, ids: Vec<u64>) {
    for id in &ids {
        if let Some(m) = st.clients.get_mut(id) {
            m.kill = true;
        }
    }
    st.kill_list.extend(ids);
}

fn cat(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() == 2 {
        c.out.array(cats::NAMES.len());
        for n in cats::NAMES {
            c.out.bulk(n.as_bytes());
        }
        return Ok(ConnOutcome::Done);
    }
    let bit = cats::by_name(a.get(2)).ok_or_else(|| CmdError::msg(format!("ERR Unknown category '{}'", a.str(2))))?;
    // The commands shardis has (with their Redis subcommands) in the category.
    let idx = &*cmdacl::INDEX;
    let mut names = Vec::new();
    for id in idx.by_table.iter().flatten() {
        let cmd = cmdacl::get(*id);
        if cmd.cats & bit != 0 {
            names.push(cmd.name);
        }
        for &s in &idx.subs[*id as usize] {
            if cmdacl::get(s).cats & bit != 0 {
                names.push(cmdacl::get(s).name);
            }
        }
    }
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
    Ok(ConnOutcome::Done)
}

fn genpass(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let bits = if a.len() > 2 { a.i64(2).unwrap_or(0) } else { 256 };
    if a.len() > 3 || !(1..=4096).contains(&bits) {
        return Err(CmdError::msg(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
        ));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    random_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    c.out.bulk(&hex.as_bytes()[..chars]);
    Ok(ConnOutcome::Done)
}

/// Cryptographic randomness for ACL GENPASS, from the kernel.
fn random_bytes(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(buf).is_ok()
    {
        return;
    }
    panic!("cannot read /dev/urandom for ACL GENPASS");
}

fn log(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let mut count = usize::MAX;
    if a.len() == 3 {
        if a.is(2, "RESET") {
            c.st.shared.acl.log.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
            c.out.ok();
            return Ok(ConnOutcome::Done);
        }
        count = a.i64(2)?.max(0) as usize;
    } else if a.len() > 3 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            a.str(1)
        )));
    }
    let now = c.st.now_ms;
    let entries: Vec<acl::log::Entry> = {
        let log = c.st.shared.acl.log.lock().unwrap_or_else(|e| e.into_inner());
        log.entries.iter().take(count).cloned().collect()
    };
    c.out.array(entries.len());
    for e in entries {
        c.out.map(7);
        c.out.bulk(b"count");
        c.out.int(e.count as i64);
        c.out.bulk(b"reason");
        c.out.bulk(e.reason.as_bytes());
        c.out.bulk(b"context");
        c.out.bulk(e.context.as_bytes());
        c.out.bulk(b"object");
        c.out.bulk(e.object.as_bytes());
        c.out.bulk(b"username");
        c.out.bulk(e.username.as_bytes());
        c.out.bulk(b"age-seconds");
        c.out.double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        c.out.bulk(b"client-info");
        c.out.bulk(e.client_info.as_bytes());
    }
    Ok(ConnOutcome::Done)
}

fn load(c: &mut ConnCtx) -> Result<ConnOutcome, CmdError> {
    let path = aclfile(c.st).ok_or_else(|| CmdError::msg(NO_ACLFILE))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CmdError::msg(format!("ERR Error loading ACLs, opening file '{path}': {e}")))?;
    let users =
        acl::file::parse(&path, &text, pubsub_default_all(c.st)).map_err(|e| CmdError::msg(format!("ERR {e}")))?;
    // Redis replaces every user but keeps the default user's connections: the others
    // are closed, as their users were freed.
    let others: Vec<String> = c.st.shared.acl.write(|old| {
        let names = old.map.keys().filter(|n| *n != "default").cloned().collect();
        *old = users;
        names
    });
    Ok(ConnOutcome::FanOut(kill_users(others, Box::new(|out| out.ok()))))
}

fn dryrun(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(u) = c.st.shared.acl.user(&a.str(2)) else {
        return Err(CmdError::msg(format!("ERR User '{}' not found", a.str(2))));
    };
    let rest = crate::shard::OwnedArgs::from_slices((3..a.len()).map(|i| a.get(i)));
    let Some(idx) = TABLE.lookup(a.get(3)) else {
        return Err(CmdError::msg(format!("ERR Command '{}' not found", a.str(3))));
    };
    let spec = TABLE.get(idx);
    if !spec.arity_ok(rest.len()) {
        return Err(CmdError::msg(super::error::wrong_arity(spec.name)));
    }
    match acl::dry_run(&u, idx, &Args::Owned(&rest)) {
        None => c.out.ok(),
        Some(why) => c.out.bulk(why.as_bytes()),
    }
    Ok(ConnOutcome::Done)
}

/// The permission check of one request (`dispatch`'s hook): Ok, or the `-NOPERM`
/// text (None when the connection's user no longer exists). Costs a load and a flag
/// for an unrestricted user.
#[inline]
pub fn permit(st: &ShardState, sess: &mut Session, idx: u16, args: &Args) -> Result<(), Option<String>> {
    let id = sess.id;
    let in_multi = sess.multi.is_some();
    // The log's client-info names the command being refused, as Redis's does.
    let info = || with_current_command(client_info(st, id), &super::introspect::full_name(TABLE.get(idx).name, args));
    let ctx = acl::LogCtx { in_multi, exec_recheck: false, client_info: &info, now_ms: st.now_ms };
    match acl::check(&st.shared.acl, &mut sess.acl, idx, args, &ctx) {
        Ok(()) => Ok(()),
        Err(acl::Refusal::Denied(msg)) => Err(Some(msg)),
        Err(acl::Refusal::UserGone) => Err(None),
    }
}

/// EXEC's second look at a queued command: its NOPERM error if the connection's user
/// may no longer run it (logged with context `multi`, client-info `cmd=exec`).
pub fn recheck_queued(st: &ShardState, sess: &mut Session, idx: u16, args: &Args) -> Option<String> {
    let id = sess.id;
    let info = || with_current_command(client_info(st, id), "exec");
    let ctx = acl::LogCtx { in_multi: true, exec_recheck: true, client_info: &info, now_ms: st.now_ms };
    match acl::check(&st.shared.acl, &mut sess.acl, idx, args, &ctx) {
        Ok(()) => None,
        Err(acl::Refusal::Denied(msg)) => Some(msg),
        // The user was deleted: the connection closes at its next command.
        Err(acl::Refusal::UserGone) => Some("NOPERM this user no longer exists".into()),
    }
}

/// A CLIENT LIST line with its `cmd=` field set to `cmd`.
fn with_current_command(line: String, cmd: &str) -> String {
    let Some(at) = line.find(" cmd=") else { return line };
    let start = at + " cmd=".len();
    let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
    format!("{}{cmd}{}", &line[..start], &line[end..])
}

/// The client's CLIENT LIST line, for ACL LOG entries.
fn client_info(st: &ShardState, id: u64) -> String {
    super::client::line_of(st, id)
}

/// Does this unauthenticated connection still need to authenticate? (Redis asks the
/// default user each time: `ACL SETUSER default nopass` lets everyone in.)
#[cold]
pub fn auth_required(st: &ShardState, sess: &mut Session) -> bool {
    if st.shared.acl.auth_required() {
        return true;
    }
    sess.authenticated = true;
    false
}

/// Logs a session in as `user` (read at ACL `generation`): AUTH's success, here or at
/// the busy door (`server::busy_door`, applied once the script ended).
pub fn login_at(st: &mut ShardState, sess: &mut Session, user: Arc<crate::acl::User>, generation: u64) {
    if let Some(m) = st.clients.get_mut(&sess.id) {
        m.user = (user.name != "default").then(|| Arc::from(user.name.as_str()));
    }
    sess.acl.login(user, generation);
    sess.authenticated = true;
}

/// AUTH and HELLO AUTH: logs in as `user` (the default user when None) or fails with
/// WRONGPASS and an ACL LOG entry, as Redis does.
pub fn authenticate(c: &mut ConnCtx, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    let shared = c.st.shared.clone();
    let acl = &shared.acl;
    let generation = acl.generation.load(std::sync::atomic::Ordering::Acquire);
    let name = user.unwrap_or(b"default");
    match acl.authenticate(name, pass) {
        Some(u) => {
            login_at(c.st, c.sess, u, generation);
            Ok(())
        }
        None => {
            let info = || client_info(c.st, c.sess.id);
            let ctx = acl::LogCtx {
                in_multi: c.sess.multi.is_some(),
                exec_recheck: false,
                client_info: &info,
                now_ms: c.st.now_ms,
            };
            let context = if ctx.in_multi { "multi" } else { "toplevel" };
            acl.log_denial("auth", context, "AUTH".into(), &String::from_utf8_lossy(name), &ctx);
            Err(CmdError::msg("WRONGPASS invalid username-password pair or user is disabled."))
        }
    }
}

/// RESET: back to the default user, authenticated only if it needs no password.
pub fn reset_user(c: &mut ConnCtx) {
    c.sess.acl = Default::default();
    c.sess.authenticated = !c.st.shared.acl.auth_required();
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.user = None;
    }
}

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "acl",
    arity: -2,
    flags: 0,
    keys: KeySpec::None,
    handler: Handler::Conn(acl),
    group: "server",
    summary: "A container for Access List Control commands.",
    since: "6.0.0",
}];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    #[test]
    fn setuser_getuser_deluser() {
        let mut h = Harness::new(1);
        assert_eq!(h.run(&["acl", "setuser", "bob", "on", ">pw", "+get", "~k*"]), Reply::Simple("OK".into()));
        assert_eq!(
            h.run(&["acl", "list"]),
            Reply::Array(vec![
                Reply::Bulk(b"user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* resetchannels -@all +get".to_vec()),
                Reply::Bulk(b"user default on nopass ~* &* +@all".to_vec()),
            ])
        );
        assert_eq!(h.run(&["acl", "getuser", "nobody"]), Reply::Nil);
        assert_eq!(h.run(&["acl", "deluser", "default"]), err("ERR The 'default' user cannot be removed"));
        assert_eq!(h.run(&["acl", "deluser", "bob", "x"]), Reply::Int(1));
        assert_eq!(h.run(&["acl", "whoami", "x"]), err("ERR wrong number of arguments for 'acl|whoami' command"));
        assert_eq!(h.run(&["acl", "dryrun", "x", "get", "a"]), err("ERR User 'x' not found"));
    }
}
