//! ACL users and selectors: the rules of ACL SETUSER (and `user` lines of the config
//! and ACL files), their description (ACL LIST, GETUSER, SAVE), and the permission
//! check of one request, all as Redis 7.0 has them.
//!
//! A user has flags (on/off, nopass), password hashes (SHA-256) and a root selector;
//! further selectors (`(...)`) each grant a complete alternative: a request passes if
//! any one selector allows its command, keys and channels.

use super::cats;
use super::cmdacl::{self, AclId, INDEX, MAX_IDS, READ, WRITE};
use crate::cmd::Args;
use crate::util::glob::glob_match;
use sha2::{Digest, Sha256};

const WORDS: usize = MAX_IDS / 64;

/// A key pattern and the access it grants (`READ`, `WRITE` or both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub access: u8,
    pub pat: Vec<u8>,
}

/// Why a selector refused a request, ordered as Redis ranks them when several
/// selectors refuse (the highest wins): command < key < channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd,
    Key,
    Channel,
}

/// One set of command, key and channel permissions.
#[derive(Clone, Debug)]
pub struct Selector {
    allowed: [u64; WORDS],
    /// Redis's reserved bit set only by `+@all`: commands added later are allowed too.
    future: bool,
    /// Every command allowed (`+@all` and nothing removed since): the fast path.
    pub all_commands: bool,
    /// `+cmd|arg` for a command without subcommands: allowed first arguments.
    firstargs: Vec<(AclId, Vec<String>)>,
    pub keys: Vec<KeyPattern>,
    pub all_keys: bool,
    pub channels: Vec<Vec<u8>>,
    pub all_channels: bool,
}

impl Selector {
    /// An empty selector: nothing allowed, channels as `acl-pubsub-default` says.
    pub fn new(all_channels: bool) -> Selector {
        Selector {
            allowed: [0; WORDS],
            future: false,
            all_commands: false,
            firstargs: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels,
        }
    }

    fn bit(&self, id: AclId) -> bool {
        self.allowed[id as usize / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: AclId, on: bool) {
        let (w, b) = (id as usize / 64, id % 64);
        if on {
            self.allowed[w] |= 1 << b;
        } else {
            self.allowed[w] &= !(1 << b);
        }
    }

    /// Redis's ACLChangeSelectorPerm: a command and all its subcommands.
    fn change_perm(&mut self, id: AclId, on: bool) {
        self.set_bit(id, on);
        self.firstargs.retain(|(i, _)| *i != id);
        for &s in &INDEX.subs[id as usize] {
            self.set_bit(s, on);
            self.firstargs.retain(|(i, _)| *i != s);
        }
    }

    fn set_category(&mut self, bit: u32, on: bool) {
        for id in 0..cmdacl::len() as AclId {
            if cmdacl::get(id).cats & bit != 0 {
                self.change_perm(id, on);
            }
        }
    }

    /// How many commands of a category this selector allows and refuses.
    fn count_category(&self, bit: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for id in 0..cmdacl::len() as AclId {
            if cmdacl::get(id).cats & bit != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    fn set_all(&mut self, on: bool) {
        self.allowed = if on { [!0; WORDS] } else { [0; WORDS] };
        self.future = on;
        self.all_commands = on;
        self.firstargs.clear();
    }

    /// Applies one selector rule; the error is Redis's reason text.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), &'static str> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.keys.clear();
                return Ok(());
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
                return Ok(());
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
                return Ok(());
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
                return Ok(());
            }
            b"allcommands" | b"+@all" => {
                self.set_all(true);
                return Ok(());
            }
            b"nocommands" | b"-@all" => {
                self.set_all(false);
                return Ok(());
            }
            _ => {}
        }
        match op.first() {
            Some(b'~') => self.add_key(READ | WRITE, &op[1..]),
            Some(b'%') => {
                let tilde = op.iter().position(|&c| c == b'~').ok_or(SYNTAX)?;
                let mut access = 0;
                for &c in &op[1..tilde] {
                    match c.to_ascii_uppercase() {
                        b'R' => access |= READ,
                        b'W' => access |= WRITE,
                        _ => return Err(SYNTAX),
                    }
                }
                if access == 0 {
                    return Err(SYNTAX);
                }
                self.add_key(access, &op[tilde + 1..])
            }
            Some(b'&') => self.add_channel(&op[1..]),
            Some(&c @ (b'+' | b'-')) if lower.get(1) == Some(&b'@') => {
                let bit = cats::by_name(&lower[2..]).ok_or(UNKNOWN)?;
                self.set_category(bit, c == b'+');
                if c == b'-' {
                    self.all_commands = false;
                }
                Ok(())
            }
            Some(&c @ (b'+' | b'-')) => {
                self.command_rule(c == b'+', std::str::from_utf8(&lower[1..]).map_err(|_| UNKNOWN)?)
            }
            _ => Err(SYNTAX),
        }
    }

    fn command_rule(&mut self, allow: bool, name: &str) -> Result<(), &'static str> {
        if let Some(id) = cmdacl::by_name(name) {
            self.change_perm(id, allow);
            if !allow {
                self.all_commands = false;
            }
            return Ok(());
        }
        // `cmd|arg` where cmd has no subcommands: allow a first argument.
        let (parent, arg) = name.rsplit_once('|').ok_or(UNKNOWN)?;
        let pid = cmdacl::by_name(parent).ok_or(UNKNOWN)?;
        if INDEX.parent[pid as usize].is_some() {
            return Err("Allowing first-arg of a subcommand is not supported");
        }
        if !INDEX.subs[pid as usize].is_empty() {
            return Err(UNKNOWN);
        }
        if !allow || arg.is_empty() {
            return Err(UNKNOWN);
        }
        if !self.bit(pid) {
            match self.firstargs.iter_mut().find(|(i, _)| *i == pid) {
                Some((_, v)) => {
                    if !v.iter().any(|a| a == arg) {
                        v.push(arg.to_string());
                    }
                }
                None => self.firstargs.push((pid, vec![arg.to_string()])),
            }
        }
        Ok(())
    }

    fn add_key(&mut self, access: u8, pat: &[u8]) -> Result<(), &'static str> {
        if self.all_keys {
            return Err(KEYS_AFTER_ALL);
        }
        if let Some(k) = self.keys.iter_mut().find(|k| k.pat == pat) {
            k.access |= access;
        } else {
            self.keys.push(KeyPattern { access, pat: pat.to_vec() });
        }
        Ok(())
    }

    fn add_channel(&mut self, pat: &[u8]) -> Result<(), &'static str> {
        if self.all_channels {
            return Err(CHANNELS_AFTER_ALL);
        }
        if pat == b"*" {
            self.all_channels = true;
            self.channels.clear();
        } else if !self.channels.iter().any(|c| c == pat) {
            self.channels.push(pat.to_vec());
        }
        Ok(())
    }

    /// Key patterns as ACL LIST and GETUSER show them (`~*`, `%R~a ~b`).
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let p = String::from_utf8_lossy(&k.pat);
                match k.access {
                    READ => format!("%R~{p}"),
                    WRITE => format!("%W~{p}"),
                    _ => format!("~{p}"),
                }
            })
            .collect();
        parts.join(" ")
    }

    /// Channel patterns as GETUSER shows them (`&*`, `&a &b`, or empty).
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let parts: Vec<String> = self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect();
        parts.join(" ")
    }

    /// Command rules, rebuilt from the bitmap as Redis 7.0's
    /// ACLDescribeSelectorCommandRules does: `+@all`/`-@all`, then the categories that
    /// fit best, then single commands to make the bitmap exact. Redis visits single
    /// commands in its hash table's (randomly seeded) order; ours is by name.
    pub fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let additive = !self.future;
        let mut fake = Selector::new(false);
        fake.set_all(!additive);
        rules.push_str(if additive { "-@all " } else { "+@all " });
        // Repeatedly apply the category that fits best: most commands agreeing with
        // the user for the fewest disagreeing (Redis's choice, ties to the lower).
        let mut temp = self.clone();
        let mut applied = [false; cats::NAMES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            fake.set_category(1 << j, additive);
            temp.set_category(1 << j, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(cats::NAMES[j]);
            rules.push(' ');
            applied[j] = true;
        }
        for id in 0..cmdacl::len() as AclId {
            if INDEX.parent[id as usize].is_some() {
                continue;
            }
            self.describe_single(&mut fake, id, &mut rules);
            for &s in &INDEX.subs[id as usize] {
                self.describe_single(&mut fake, s, &mut rules);
            }
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, fake: &mut Selector, id: AclId, rules: &mut String) {
        let user = self.bit(id);
        if user != fake.bit(id) {
            rules.push(if user { '+' } else { '-' });
            rules.push_str(cmdacl::get(id).name);
            rules.push(' ');
            fake.change_perm(id, user);
        }
        if !user && let Some((_, args)) = self.firstargs.iter().find(|(i, _)| *i == id) {
            for a in args {
                rules.push_str(&format!("+{}|{} ", cmdacl::get(id).name, a));
            }
        }
    }

    /// The whole selector as ACL LIST shows it: keys, channels, commands.
    pub fn describe(&self) -> String {
        let mut s = self.describe_keys();
        if !s.is_empty() {
            s.push(' ');
        }
        if self.all_channels {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands());
        s
    }

    /// Redis's ACLSelectorCheckCmd: Ok, or why and at which argument it refused.
    fn check(&self, id: Option<AclId>, no_auth: bool, args: &Args) -> Result<(), (Denied, usize)> {
        if !self.all_commands && !no_auth {
            let allowed = match id {
                None => self.future,
                Some(id) => self.bit(id) || self.first_arg_allowed(id, args),
            };
            if !allowed {
                return Err((Denied::Cmd, 0));
            }
        }
        let Some(id) = id else { return Ok(()) };
        if !self.all_keys {
            for (pos, access) in cmdacl::keys_of(id, args) {
                let key = args.get(pos);
                let ok = self.keys.iter().any(|k| k.access & access == access && glob_match(&k.pat, key, false));
                if !ok {
                    return Err((Denied::Key, pos));
                }
            }
        }
        if !self.all_channels
            && let Some((range, pattern)) = cmdacl::channels_of(cmdacl::get(id).name, args)
        {
            for pos in range {
                let ch = args.get(pos);
                let ok = self.channels.iter().any(|p| if pattern { p == ch } else { glob_match(p, ch, false) });
                if !ok {
                    return Err((Denied::Channel, pos));
                }
            }
        }
        Ok(())
    }

    fn first_arg_allowed(&self, id: AclId, args: &Args) -> bool {
        let Some((_, allowed)) = self.firstargs.iter().find(|(i, _)| *i == id) else { return false };
        let at = if INDEX.parent[id as usize].is_some() { 2 } else { 1 };
        at < args.len() && allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(args.get(at)))
    }
}

const SYNTAX: &str = "Syntax error";
const UNKNOWN: &str = "Unknown command or category name in ACL";
const KEYS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
const CHANNELS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
const BAD_HASH: &str =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
const NO_SUCH_PASS: &str = "The password you are trying to remove from the user does not exist";

/// A user: flags, passwords and selectors.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (Some(true)) or `skip-sanitize-payload` (Some(false)).
    pub sanitize: Option<bool>,
    /// SHA-256 hashes, in the order they were added.
    pub passwords: Vec<[u8; 32]>,
    pub root: Selector,
    pub selectors: Vec<Selector>,
}

impl User {
    /// Every channel pattern some selector allows, or None when one allows them all.
    fn channel_union(&self) -> Option<Vec<&[u8]>> {
        let mut all = Vec::new();
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            if s.all_channels {
                return None;
            }
            all.extend(s.channels.iter().map(|c| c.as_slice()));
        }
        Some(all)
    }

    /// Does `new` take away a channel pattern this user allowed? Redis 7.0's test for
    /// disconnecting the user's subscribers (`ACLKillPubsubClientsIfNeeded`).
    pub fn channels_narrowed_by(&self, new: &User) -> bool {
        let Some(upcoming) = new.channel_union() else { return false };
        match self.channel_union() {
            None => true,
            Some(original) => original.iter().any(|c| !upcoming.contains(c)),
        }
    }

    /// May a client of this user stay subscribed to `name`? A pattern subscription
    /// must be allowed literally, a channel by any of the user's patterns.
    pub fn may_stay_subscribed(&self, name: &[u8], is_pattern: bool) -> bool {
        self.channel_union()
            .is_none_or(|list| list.iter().any(|p| if is_pattern { *p == name } else { glob_match(p, name, false) }))
    }
}

/// SHA-256 of a password.
pub fn hash_password(p: &[u8]) -> [u8; 32] {
    Sha256::digest(p).into()
}

fn hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(s: &[u8]) -> Result<[u8; 32], &'static str> {
    if s.len() != 64 || !s.iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)) {
        return Err(BAD_HASH);
    }
    let mut h = [0u8; 32];
    for (i, b) in h.iter_mut().enumerate() {
        let d = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
        *b = d(s[2 * i]) << 4 | d(s[2 * i + 1]);
    }
    Ok(h)
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no permissions.
    pub fn new(name: &str, all_channels: bool) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(all_channels),
            selectors: Vec::new(),
        }
    }

    /// The default user as Redis starts it: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut u = User::new("default", true);
        for op in ["on", "nopass", "~*", "&*", "+@all"] {
            u.apply(op.as_bytes(), true).expect("valid default rules");
        }
        u
    }

    /// True when every request passes: the one flag checked on the hot path.
    pub fn unrestricted(&self) -> bool {
        self.root.all_commands && self.root.all_keys && self.root.all_channels
    }

    /// Applies ACL SETUSER's arguments in order, all or nothing. The error is the
    /// whole client-visible message.
    pub fn set(&mut self, ops: &[&[u8]], all_channels: bool) -> Result<(), String> {
        let merged = merge_selectors(ops)?;
        let mut next = self.clone();
        for op in &merged {
            next.apply(op, all_channels)
                .map_err(|why| format!("ERR Error in ACL SETUSER modifier '{}': {why}", String::from_utf8_lossy(op)))?;
        }
        *self = next;
        Ok(())
    }

    fn apply(&mut self, op: &[u8], all_channels: bool) -> Result<(), &'static str> {
        match op.to_ascii_lowercase().as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"sanitize-payload" => self.sanitize = Some(true),
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                for op in
                    ["resetpass", "resetkeys", "resetchannels", "off", "clearselectors", "-@all", "sanitize-payload"]
                {
                    self.apply(op.as_bytes(), all_channels)?;
                }
                if all_channels {
                    self.apply(b"allchannels", all_channels)?;
                }
            }
            _ => match op.first() {
                Some(b'>') => {
                    let h = hash_password(&op[1..]);
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'#') => {
                    let h = parse_hash(&op[1..])?;
                    if !self.passwords.contains(&h) {
                        self.passwords.push(h);
                    }
                    self.nopass = false;
                }
                Some(b'<') => self.remove_password(hash_password(&op[1..]))?,
                Some(b'!') => self.remove_password(parse_hash(&op[1..])?)?,
                Some(b'(') if op.len() >= 2 && op.ends_with(b")") => {
                    let mut s = Selector::new(all_channels);
                    for part in op[1..op.len() - 1].split(|&c| c == b' ').filter(|p| !p.is_empty()) {
                        s.apply(part)?;
                    }
                    self.selectors.push(s);
                }
                _ => self.root.apply(op)?,
            },
        }
        Ok(())
    }

    fn remove_password(&mut self, h: [u8; 32]) -> Result<(), &'static str> {
        let before = self.passwords.len();
        self.passwords.retain(|p| *p != h);
        if self.passwords.len() == before { Err(NO_SUCH_PASS) } else { Ok(()) }
    }

    /// Does `pass` authenticate this user (enabled, and nopass or a matching hash)?
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&hash_password(pass)))
    }

    /// GETUSER's `flags` entries.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// The user as ACL LIST and the ACL file show it.
    pub fn describe(&self) -> String {
        let mut s = format!("user {}", self.name);
        for f in self.flags() {
            s.push(' ');
            s.push_str(f);
        }
        for h in self.password_hashes() {
            s.push_str(" #");
            s.push_str(&h);
        }
        s.push(' ');
        s.push_str(&self.root.describe());
        for sel in &self.selectors {
            s.push_str(" (");
            s.push_str(&sel.describe());
            s.push(')');
        }
        s
    }

    /// Redis's ACLCheckAllUserCommandPerm: Ok, or the most relevant refusal of all
    /// selectors and the argument it is about.
    pub fn check(&self, id: Option<AclId>, no_auth: bool, args: &Args) -> Result<(), (Denied, usize)> {
        let mut worst = (Denied::Cmd, 0);
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(id, no_auth, args) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                        worst = e;
                    }
                }
            }
        }
        Err(worst)
    }
}

/// Joins `(` ... `)` selector arguments split across several arguments, as Redis's
/// ACLMergeSelectorArguments does.
fn merge_selectors(ops: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut open: Option<(Vec<u8>, &[u8])> = None;
    for &op in ops {
        match open.as_mut() {
            Some((acc, _)) => {
                acc.push(b' ');
                acc.extend_from_slice(op);
                if op.ends_with(b")") {
                    out.push(open.take().expect("open").0);
                }
            }
            None if op.first() == Some(&b'(') && !op.ends_with(b")") => open = Some((op.to_vec(), op)),
            None => out.push(op.to_vec()),
        }
    }
    if let Some((_, start)) = open {
        return Err(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(start)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ops: &[&str]) -> User {
        let mut u = User::new("u", false);
        let ops: Vec<&[u8]> = ops.iter().map(|s| s.as_bytes()).collect();
        u.set(&ops, false).unwrap();
        u
    }

    #[test]
    fn channel_narrowing_as_redis_kills_subscribers() {
        let all = user(&["allchannels"]);
        let some = user(&["&abc", "&a*"]);
        let fewer = user(&["&abc"]);
        assert!(all.channels_narrowed_by(&some));
        assert!(some.channels_narrowed_by(&fewer));
        assert!(!fewer.channels_narrowed_by(&some), "widening");
        assert!(!some.channels_narrowed_by(&all));
        assert!(!some.channels_narrowed_by(&user(&["&a*", "&abc"])), "same patterns, reordered");
        // A selector with all channels makes the whole user allow every channel.
        assert!(!some.channels_narrowed_by(&user(&["&abc", "(&* +@all)"])));
        // Channels match by pattern; a pattern subscription only literally.
        assert!(some.may_stay_subscribed(b"abx", false));
        assert!(some.may_stay_subscribed(b"a*", true));
        assert!(!some.may_stay_subscribed(b"ab*", true));
        assert!(!fewer.may_stay_subscribed(b"zzz", false));
        assert!(all.may_stay_subscribed(b"anything*", true));
    }

    #[test]
    fn describes_as_redis_does() {
        assert_eq!(User::new("a", false).describe(), "user a off resetchannels -@all");
        assert_eq!(User::default_user().describe(), "user default on nopass ~* &* +@all");
        let u = user(&["+get", "+get", "-set", "+set", "+@read", "-@read", "+@read"]);
        assert_eq!(u.root.describe_commands(), "-@all +@read +set");
        let u = user(&["+@all", "-@dangerous", "allkeys", "(~x* +set)", "(+get %R~y)"]);
        assert_eq!(
            u.describe(),
            "user u off ~* resetchannels +@all -@dangerous (~x* resetchannels -@all +set) (%R~y resetchannels -@all +get)"
        );
        let u = user(&["resetkeys", "%R~a", "~a", "%W~b", "%R~b", "&a", "&a"]);
        assert_eq!(u.describe(), "user u off ~a ~b resetchannels &a -@all");
        let u = user(&["+select|0", "+get|x"]);
        assert_eq!(u.root.describe_commands(), "-@all +get|x +select|0");
        let u = user(&[">p1", "nopass", "reset"]);
        assert_eq!(u.describe(), "user u off sanitize-payload resetchannels -@all");
    }

    #[test]
    fn errors_name_the_modifier() {
        let mut u = User::new("u", false);
        let e = |u: &mut User, ops: &[&str]| {
            let ops: Vec<&[u8]> = ops.iter().map(|s| s.as_bytes()).collect();
            u.set(&ops, false).unwrap_err()
        };
        assert_eq!(e(&mut u, &["+nosuch"]), format!("ERR Error in ACL SETUSER modifier '+nosuch': {UNKNOWN}"));
        assert_eq!(e(&mut u, &["bogus"]), "ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
        assert_eq!(e(&mut u, &["<x"]), format!("ERR Error in ACL SETUSER modifier '<x': {NO_SUCH_PASS}"));
        assert_eq!(e(&mut u, &["(+get"]), "ERR Unmatched parenthesis in acl selector starting at '(+get'.");
        assert_eq!(
            e(&mut u, &["+config|get|x"]),
            "ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported"
        );
        // All or nothing.
        assert!(e(&mut u, &["on", "~*", "~b"]).contains("allkeys"));
        assert!(!u.enabled);
    }
}
