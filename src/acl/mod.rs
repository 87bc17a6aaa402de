//! Access control lists, as Redis 7.0 has them: users (`user`), the categories and key
//! specs of every command (`cats`, `cmdacl`, the generated `cmdtable`), the ACL file
//! (`file`) and the ACL LOG (`log`).
//!
//! The users live in `Shared` behind one `RwLock`, written only by ACL commands,
//! AUTH-free paths never take it. Each connection keeps a snapshot of its user (an
//! `Arc`) and the generation it was taken at; every change bumps the generation, so a
//! connection re-reads its user at its next command. The permission check on the hot
//! path is then a load of the generation and one flag: the default user (`+@all ~*
//! &*`) is `unrestricted` and checks nothing else.
//!
//! Depends on `cmd::table` (names, flags) and `cmd::Args`; `cmd::dispatch` calls
//! `check` once per request, `cmd::acl` implements the ACL command.

pub mod cats;
pub mod cmdacl;
mod cmdtable;
pub mod file;
pub mod log;
pub mod user;

use crate::cmd::Args;
use crate::cmd::table::{TABLE, flag};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
pub use user::{Denied, User};

/// The server's users, by name (sorted, as ACL LIST and USERS show them).
pub struct Users {
    pub map: BTreeMap<String, Arc<User>>,
}

impl Users {
    /// Just the default user, `on nopass ~* &* +@all`.
    pub fn new() -> Users {
        let mut map = BTreeMap::new();
        map.insert("default".to_string(), Arc::new(User::default_user()));
        Users { map }
    }
}

impl Default for Users {
    fn default() -> Self {
        Users::new()
    }
}

/// Server-wide ACL state.
pub struct AclShared {
    /// Bumped on every change to any user: sessions re-read their user when it moves.
    pub generation: AtomicU64,
    pub users: RwLock<Users>,
    pub log: Mutex<log::AclLog>,
}

impl Default for AclShared {
    fn default() -> Self {
        AclShared { generation: AtomicU64::new(1), users: RwLock::new(Users::new()), log: Default::default() }
    }
}

impl AclShared {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the users under the write lock and bumps the generation.
    pub fn write<R>(&self, f: impl FnOnce(&mut Users) -> R) -> R {
        let mut g = self.users.write().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut g);
        self.generation.fetch_add(1, Ordering::Release);
        r
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.read().map.get(name).cloned()
    }

    /// Redis's authRequired: the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        self.user("default").is_none_or(|u| !u.nopass || !u.enabled)
    }

    /// `requirepass` as Redis maps it: the default user's passwords become just this
    /// one, or `nopass` when empty.
    pub fn set_default_password(&self, pass: Option<&str>) {
        self.write(|users| {
            let d = users.map.entry("default".to_string()).or_insert_with(|| Arc::new(User::default_user()));
            let mut u = (**d).clone();
            let op = match pass {
                Some(p) => format!(">{p}"),
                None => "nopass".to_string(),
            };
            u.set(&[b"resetpass", op.as_bytes()], true).expect("valid password rules");
            *d = Arc::new(u);
        });
    }

    /// ACL AUTH: the user if it exists, is on and `pass` is one of its passwords.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        self.user(name).filter(|u| u.password_ok(pass))
    }
}

/// A connection's view of its user.
#[derive(Clone, Debug)]
pub struct SessionAcl {
    /// The user's name (CLIENT LIST `user=`); "default" until AUTH says otherwise.
    pub name: Arc<str>,
    pub user: Option<Arc<User>>,
    /// The generation `user` was read at (0: never).
    pub generation: u64,
    pub unrestricted: bool,
    /// The AOF loader and a replica's link to its master: no user, every command
    /// allowed (Redis's clients with `user == NULL`).
    pub internal: bool,
}

impl Default for SessionAcl {
    fn default() -> Self {
        SessionAcl { name: Arc::from("default"), user: None, generation: 0, unrestricted: false, internal: false }
    }
}

impl SessionAcl {
    /// A session no ACL rule applies to.
    pub fn internal() -> SessionAcl {
        SessionAcl { internal: true, unrestricted: true, ..Default::default() }
    }

    /// Switches to `user` (AUTH, HELLO AUTH).
    pub fn login(&mut self, user: Arc<User>, generation: u64) {
        self.name = Arc::from(user.name.as_str());
        self.unrestricted = user.unrestricted();
        self.user = Some(user);
        self.generation = generation;
    }
}

/// Why a request may not run.
pub enum Refusal {
    /// `-NOPERM` with this text; the ACL LOG entry is already written.
    Denied(String),
    /// The connection's user was deleted: close it, as Redis does.
    UserGone,
}

/// What the ACL LOG records about the client (set by the caller, who knows it).
pub struct LogCtx<'a> {
    pub in_multi: bool,
    /// EXEC is checking a queued command again: the refusal says the rules changed.
    pub exec_recheck: bool,
    pub client_info: &'a dyn Fn() -> String,
    pub now_ms: u64,
}

/// The permission check of one request: cheap when the user may do everything.
#[inline]
pub fn check(shared: &AclShared, sess: &mut SessionAcl, idx: u16, args: &Args, ctx: &LogCtx) -> Result<(), Refusal> {
    if sess.unrestricted && sess.generation == shared.generation.load(Ordering::Acquire) {
        return Ok(());
    }
    check_slow(shared, sess, idx, args, ctx)
}

#[cold]
fn check_slow(shared: &AclShared, sess: &mut SessionAcl, idx: u16, args: &Args, ctx: &LogCtx) -> Result<(), Refusal> {
    if sess.internal {
        return Ok(());
    }
    let generation = shared.generation.load(Ordering::Acquire);
    if sess.generation != generation {
        let Some(u) = shared.user(&sess.name) else { return Err(Refusal::UserGone) };
        sess.login(u, generation);
    }
    if sess.unrestricted {
        return Ok(());
    }
    let user = sess.user.as_ref().expect("logged in");
    let id = cmdacl::request_id(idx, args);
    let no_auth = TABLE.get(idx).flags & flag::NO_AUTH != 0;
    match user.check(id, no_auth, args) {
        Ok(()) => Ok(()),
        Err((why, pos)) => {
            let cmd_name = id.map_or(TABLE.get(idx).name, |i| cmdacl::get(i).name);
            let object = match why {
                Denied::Cmd => cmd_name.to_string(),
                _ => String::from_utf8_lossy(args.get(pos)).into_owned(),
            };
            let context = if ctx.in_multi { "multi" } else { "toplevel" };
            shared.log_denial(why_reason(why), context, object, &user.name, ctx);
            if ctx.exec_recheck {
                return Err(Refusal::Denied(exec_recheck_text(why)));
            }
            Err(Refusal::Denied(noperm_text(why, cmd_name)))
        }
    }
}

/// The check of a script's `redis.call` for the user who runs the script: Redis logs a
/// refusal with context `lua` and answers its own texts (the caller adds the script's
/// name and line).
pub fn check_script(
    shared: &AclShared,
    sess: &mut SessionAcl,
    idx: u16,
    args: &Args,
    ctx: &LogCtx,
) -> Result<(), String> {
    const LACKING: &str = "ERR The user executing the script is lacking the permissions for the command";
    if sess.internal {
        return Ok(());
    }
    let generation = shared.generation.load(Ordering::Acquire);
    if sess.generation != generation {
        let Some(u) = shared.user(&sess.name) else { return Err(LACKING.into()) };
        sess.login(u, generation);
    }
    if sess.unrestricted {
        return Ok(());
    }
    let Some(user) = sess.user.as_ref() else { return Err(LACKING.into()) };
    let id = cmdacl::request_id(idx, args);
    let Err((why, pos)) = user.check(id, false, args) else { return Ok(()) };
    let object = match why {
        Denied::Cmd => id.map_or(TABLE.get(idx).name, |i| cmdacl::get(i).name).to_string(),
        _ => String::from_utf8_lossy(args.get(pos)).into_owned(),
    };
    shared.log_denial(why_reason(why), "lua", object, &user.name, ctx);
    Err(match why {
        Denied::Cmd => "ERR The user executing the script can't run this command or subcommand",
        Denied::Key => {
            "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
        }
        Denied::Channel => "ERR The user executing the script can't publish to the channel mentioned in the command",
    }
    .into())
}

/// Would the script's user (`sess`) be allowed to run `args` (`redis.acl_check_cmd`)?
/// No ACL LOG entry; a deleted user may run nothing.
pub fn allows(shared: &AclShared, sess: &mut SessionAcl, idx: u16, args: &Args) -> bool {
    if sess.internal {
        return true;
    }
    let generation = shared.generation.load(Ordering::Acquire);
    if sess.generation != generation {
        let Some(u) = shared.user(&sess.name) else { return false };
        sess.login(u, generation);
    }
    if sess.unrestricted {
        return true;
    }
    let Some(user) = sess.user.as_ref() else { return false };
    user.check(cmdacl::request_id(idx, args), false, args).is_ok()
}

fn why_reason(why: Denied) -> &'static str {
    match why {
        Denied::Cmd => "command",
        Denied::Key => "key",
        Denied::Channel => "channel",
    }
}

/// Redis 7.0's `-NOPERM` text for a queued command EXEC no longer allows.
pub fn exec_recheck_text(why: Denied) -> String {
    let reason = match why {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
    };
    format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"
    )
}

/// Redis 7.0's `-NOPERM` texts.
pub fn noperm_text(why: Denied, cmd: &str) -> String {
    match why {
        Denied::Cmd => format!("NOPERM this user has no permissions to run the '{cmd}' command"),
        Denied::Key => "NOPERM this user has no permissions to access one of the keys used as arguments".into(),
        Denied::Channel => "NOPERM this user has no permissions to access one of the channels used as arguments".into(),
    }
}

impl AclShared {
    /// Adds (or bumps) an ACL LOG entry.
    pub fn log_denial(&self, reason: &'static str, context: &'static str, object: String, user: &str, ctx: &LogCtx) {
        let info = (ctx.client_info)();
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.add(log::Entry {
            count: 1,
            reason,
            context,
            object,
            username: user.to_string(),
            created_ms: ctx.now_ms,
            client_info: info,
        });
    }
}

/// ACL DRYRUN's answer for `user` running `args` (a known command, arity checked):
/// None when allowed, else Redis's explanation.
pub fn dry_run(user: &User, idx: u16, args: &Args) -> Option<String> {
    let id = cmdacl::request_id(idx, args);
    let no_auth = TABLE.get(idx).flags & flag::NO_AUTH != 0;
    let (why, pos) = user.check(id, no_auth, args).err()?;
    let cmd_name = id.map_or(TABLE.get(idx).name, |i| cmdacl::get(i).name);
    let arg = String::from_utf8_lossy(args.get(pos));
    Some(match why {
        Denied::Cmd => format!("This user has no permissions to run the '{cmd_name}' command"),
        Denied::Key => format!("This user has no permissions to access the '{arg}' key"),
        Denied::Channel => format!("This user has no permissions to access the '{arg}' channel"),
    })
}

impl AclShared {
    /// Applies what the configuration says about ACLs: `requirepass` (the default
    /// user's password, when it changed from `old`) and `acllog-max-len`.
    pub fn apply_config(&self, old: Option<&crate::config::Config>, new: &crate::config::Config) {
        if old.is_none_or(|o| o.requirepass != new.requirepass) {
            self.set_default_password(new.requirepass.as_deref());
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.max_len = new.acllog_max_len as usize;
        log.trim();
    }
}

impl AclShared {
    /// AUTH with one argument is refused while the default user is `nopass`.
    pub fn default_has_password(&self) -> bool {
        self.user("default").is_some_and(|u| !u.nopass)
    }
}

/// Start-up: the `user` directives of the config file, or the ACL file. Either may
/// be used, not both, as in Redis. The error aborts start-up.
pub fn startup(acl: &AclShared, cfg: &crate::config::Config) -> Result<(), String> {
    let all = cfg.acl_pubsub_default == "allchannels";
    if !cfg.aclfile.is_empty() && !cfg.acl_users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    if !cfg.aclfile.is_empty() {
        let text = std::fs::read_to_string(&cfg.aclfile)
            .map_err(|e| format!("Error loading ACLs, opening file '{}': {e}", cfg.aclfile))?;
        let users = file::parse(&cfg.aclfile, &text, all)?;
        acl.write(|u| *u = users);
        return Ok(());
    }
    for line in &cfg.acl_users {
        let name = &line[0];
        let ops: Vec<&[u8]> = line[1..].iter().map(|s| s.as_bytes()).collect();
        acl.write(|users| {
            let mut u = users.map.get(name).map(|u| (**u).clone()).unwrap_or_else(|| User::new(name, all));
            file::apply_line(&mut u, &ops, all).map_err(|e| format!("Error in user declaration '{name}': {e}"))?;
            users.map.insert(name.clone(), Arc::new(u));
            Ok::<(), String>(())
        })?;
    }
    Ok(())
}
