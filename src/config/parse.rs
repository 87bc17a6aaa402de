//! Reading configuration: the redis.conf tokenizer, the value parsers shared by the
//! parameter table (memory sizes, integers, yes/no, CPU lists), the split of the
//! command line into a config file path and `--directive value...` flags, and the
//! loader that feeds file text and flags into a [`Config`] one directive at a time.
//!
//! Job: turn text into directives exactly the way redis-server does, so that an
//! existing redis.conf or command line means the same thing to shardis, and report
//! the first bad line in Redis's "FATAL CONFIG FILE ERROR" format.
//!
//! Non-goals: knowing what any individual parameter means or how it is validated (that
//! is the table in `params`), CONFIG GET/SET semantics (`mod.rs`), writing files back
//! (`rewrite`). Reading standard input as a config file (`-`) is not supported.
//!
//! Depends on: std, and the sibling modules `super` (for `Config`/`ConfigError`) and
//! `params` (to recognise directive names).

use super::{Config, ConfigError, params};

/// Directive names Redis 7 still accepts in a config file but silently ignores. Old
/// redis.conf files carry them, and failing on them would only annoy.
const DEPRECATED: &[&str] = &["list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands"];

/// Redis directives that are not parameters and that shardis does not implement. They
/// get a specific error rather than the generic "bad directive": silently ignoring, say,
/// a `user` or `rename-command` line would weaken the security the operator asked for.
const UNSUPPORTED: &[&str] = &["rename-command", "loadmodule", "sentinel"];

/// Guards against `include` cycles (a.conf includes b.conf includes a.conf); Redis has
/// no such guard and would recurse until it crashes.
const MAX_INCLUDE_DEPTH: usize = 16;

/// The largest CPU index accepted in a `cpus` list. Large enough for any real machine,
/// small enough that a typo such as `0-4000000000` fails instead of allocating.
pub const MAX_CPU: usize = 4095;

/// The generic error for an unknown directive, worded as Redis words it.
pub const BAD_DIRECTIVE: &str = "Bad directive or wrong number of arguments";

/// Split one config line into arguments with Redis's `sdssplitargs` rules: blanks
/// separate arguments; `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`; `'...'`
/// understands only `\'`; a closing quote must be followed by a blank or the end of the
/// line. A quote may start in the middle of an argument (`a"b c"` is `ab c`).
pub fn split_args(line: &str) -> Result<Vec<String>, String> {
    // Redis splits a C string: a NUL byte ends the line. (Without this cut a NUL
    // between arguments was an endless run of empty arguments.)
    let b = line.as_bytes();
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    const QUOTED: u32 = 1 << 31;
    let (mut ranges, mut scratch) = (Vec::new(), Vec::new());
    crate::util::splitargs::split(b, &mut ranges, &mut scratch, QUOTED)
        .map_err(|_| "Unbalanced quotes in configuration line".to_string())?;
    ranges
        .into_iter()
        .map(|(start, end)| {
            let bytes = if start & QUOTED != 0 {
                &scratch[(start & !QUOTED) as usize..end as usize]
            } else {
                &b[start as usize..end as usize]
            };
            // `\xHH` can produce bytes that are not UTF-8; configuration values are
            // Strings, so refuse rather than silently mangle (e.g. a password).
            String::from_utf8(bytes.to_vec()).map_err(|_| "escape sequences must produce valid UTF-8".to_string())
        })
        .collect()
}

/// Quote one argument so that [`split_args`] gives it back unchanged; arguments that
/// need no quoting are returned as they are, which keeps rewritten files readable.
pub fn quote_arg(s: &str) -> String {
    let plain =
        !s.is_empty() && s.chars().all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '\\'));
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse a memory size the way Redis's `memtoull` does: digits followed by an optional
/// case-insensitive unit, where `k`/`m`/`g` are powers of 1000 and `kb`/`mb`/`gb` powers
/// of 1024 (`b` or nothing means bytes). No sign, no blanks; `None` on garbage or on
/// overflow (Redis would wrap, which is never what the operator meant).
pub fn parse_memory(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (num, unit) = s.split_at(digits);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Parse a signed integer with Redis's `string2ll` strictness: an optional `-`, then
/// digits with no leading zero (except `0` itself), no `+`, no blanks.
pub fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if digits.starts_with('0') && (digits.len() > 1 || s.starts_with('-')) {
        return None;
    }
    s.parse().ok()
}

/// `yes`/`no`, case-insensitive, as Redis's `yesnotoi`.
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// Parse a CPU list such as `0-3,8` into `[0, 1, 2, 3, 8]`, keeping the given order
/// (shard *i* runs on the *i*-th CPU). The empty string is the empty list. A CPU listed
/// twice is an error because two shards silently sharing a core is a misconfiguration.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    let bad = |why: &str| format!("invalid CPU list '{s}': {why} (expected e.g. 0-3,8)");
    let mut out = Vec::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    let num = |t: &str| -> Result<usize, String> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad(&format!("'{t}' is not a CPU number")));
        }
        match t.parse::<usize>() {
            Ok(n) if n <= MAX_CPU => Ok(n),
            _ => Err(bad(&format!("CPU numbers go up to {MAX_CPU}"))),
        }
    };
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(bad(&format!("range {lo}-{hi} is backwards")));
        }
        for cpu in lo..=hi {
            if out.contains(&cpu) {
                return Err(bad(&format!("CPU {cpu} is listed twice")));
            }
            out.push(cpu);
        }
    }
    Ok(out)
}

/// The inverse of [`parse_cpus`]: ascending runs are folded into ranges (`0-3,8`).
pub fn format_cpus(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        if j > i {
            parts.push(format!("{}-{}", cpus[i], cpus[j]));
        } else {
            parts.push(cpus[i].to_string());
        }
        i = j + 1;
    }
    parts.join(",")
}

/// One `--name value...` group from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// Directive name without the leading `--`, lowercased.
    pub name: String,
    pub args: Vec<String>,
}

impl Flag {
    /// How the flag is echoed in error messages.
    fn display(&self) -> String {
        let mut s = format!("--{}", self.name);
        for a in &self.args {
            s.push(' ');
            s.push_str(&quote_arg(a));
        }
        s
    }
}

/// Split argv (without the program name) like redis-server: an optional first argument
/// that does not start with `--` is the config file; then each `--name` starts a
/// directive and every following argument not starting with `--` is one of its values.
/// The argument right after a bare `--name` is always a value, so `--requirepass --x`
/// works; `--name value` in a single argument is split with the config-file rules.
/// A `--save` with no value means `save ""` (Redis ≥ 7.0.1 compatibility).
pub fn split_argv(args: &[String]) -> Result<(Option<String>, Vec<Flag>), ConfigError> {
    let mut rest = args;
    let mut file = None;
    if let Some(first) = args.first()
        && !first.starts_with("--")
    {
        file = Some(first.clone());
        rest = &args[1..];
    }
    let mut flags: Vec<Flag> = Vec::new();
    let mut want_value = false;
    for a in rest {
        if !want_value && a.starts_with("--") {
            let mut toks = split_args(&a[2..]).map_err(|e| flag_error(a, &e))?;
            let name = if toks.is_empty() { String::new() } else { toks.remove(0).to_ascii_lowercase() };
            want_value = toks.is_empty();
            flags.push(Flag { name, args: toks });
        } else if want_value && a.starts_with("--") && flags.last().is_some_and(|f| f.name == "save") {
            // `--save --port 1`: an empty save list, then a new directive.
            if let Some(last) = flags.last_mut() {
                last.args.push(String::new());
            }
            let mut toks = split_args(&a[2..]).map_err(|e| flag_error(a, &e))?;
            let name = if toks.is_empty() { String::new() } else { toks.remove(0).to_ascii_lowercase() };
            want_value = toks.is_empty();
            flags.push(Flag { name, args: toks });
        } else if let Some(last) = flags.last_mut() {
            last.args.push(a.clone());
            want_value = false;
        } else {
            return Err(flag_error(a, "unexpected argument: directives are given as --name value"));
        }
    }
    if let Some(last) = flags.last_mut()
        && last.name == "save"
        && last.args.is_empty()
    {
        last.args.push(String::new());
    }
    Ok((file, flags))
}

fn fatal(context: &str, line: &str, why: &str) -> ConfigError {
    ConfigError { message: format!("*** FATAL CONFIG FILE ERROR (shardis) ***\n{context}\n>>> '{line}'\n{why}") }
}

const FLAGS_CONTEXT: &str = "Reading the command line flags";

fn flag_error(line: &str, why: &str) -> ConfigError {
    fatal(FLAGS_CONTEXT, line, why)
}

fn file_context(origin: &str, line_no: usize) -> String {
    if origin.is_empty() {
        format!("Reading the configuration file, at line {line_no}")
    } else {
        format!("Reading the configuration file {origin}, at line {line_no}")
    }
}

fn file_error(origin: &str, line_no: usize, line: &str, why: &str) -> ConfigError {
    fatal(&file_context(origin, line_no), line, why)
}

/// Read a config file, with Redis's wording when it cannot be opened.
pub fn read_config_file(path: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("Fatal error, config file '{path}' is not valid UTF-8"))
}

/// Feeds directives from one or more sources into a [`Config`], keeping the state that
/// spans lines: whether `save` has been seen in the current source (the first `save`
/// replaces the defaults, later ones add to it, as in Redis) and which parameters the
/// operator set explicitly.
pub(super) struct Loader {
    save_seen: bool,
    /// Canonical names of every parameter set by a file line or flag.
    pub(super) explicit: Vec<&'static str>,
    /// Where each parameter was last set: (canonical name, error context, line as
    /// written), so a check of the final values can name the line at fault.
    last_set: Vec<(&'static str, String, String)>,
}

impl Loader {
    pub(super) fn new() -> Self {
        Loader { save_seen: false, explicit: Vec::new(), last_set: Vec::new() }
    }

    /// Refuse, as a fatal config error naming the line or flag that set it, the first
    /// parameter whose final value needs a feature shardis lacks (`params::RESTRICTED`).
    /// Run after every source is loaded, so `--daemonize no` can override a stock
    /// redis.conf's `daemonize yes`.
    pub(super) fn check_restricted(&self, cfg: &Config) -> Result<(), ConfigError> {
        for r in params::RESTRICTED {
            let Some((_, p)) = params::find(r.name) else { continue };
            if let Some(why) = params::refusal(p.name, &cfg.value_of(p)) {
                let (context, line) = self
                    .last_set
                    .iter()
                    .rev()
                    .find(|(name, _, _)| *name == p.name)
                    .map(|(_, c, l)| (c.clone(), l.clone()))
                    .unwrap_or_else(|| ("Checking the configuration".to_string(), p.name.to_string()));
                return Err(fatal(&context, &line, why));
            }
        }
        Ok(())
    }

    /// Start a new source. Called between the config file and the flags so that
    /// `--save 60 1` replaces the file's save points instead of adding to them: flags
    /// win. (Redis appends flags to the file text, so there the lists would merge.)
    pub(super) fn begin_source(&mut self) {
        self.save_seen = false;
    }

    /// Process config-file text; `origin` names the file in error messages.
    pub(super) fn load_text(
        &mut self,
        cfg: &mut Config,
        text: &str,
        origin: &str,
        depth: usize,
    ) -> Result<(), ConfigError> {
        for (idx, raw) in text.split('\n').enumerate() {
            // Redis trims exactly these characters (sdstrim " \t\r\n").
            let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |why: &str| file_error(origin, idx + 1, line, why);
            let mut argv = split_args(line).map_err(|e| err(&e))?;
            if argv.is_empty() {
                continue;
            }
            let name = argv.remove(0).to_ascii_lowercase();
            if name == "include" {
                if argv.len() != 1 {
                    return Err(err(BAD_DIRECTIVE));
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(err("too many nested includes (is there an include loop?)"));
                }
                let text = read_config_file(&argv[0]).map_err(|e| err(&e))?;
                self.load_text(cfg, &text, &argv[0], depth + 1)?;
                continue;
            }
            self.directive(cfg, &name, &argv).map_err(|e| err(&e))?;
            self.note_source(&name, file_context(origin, idx + 1), line.to_string());
        }
        Ok(())
    }

    fn note_source(&mut self, name: &str, context: String, line: String) {
        if let Some((_, p)) = params::find(name) {
            self.last_set.push((p.name, context, line));
        }
    }

    /// Process command-line flags (already split by [`split_argv`]).
    pub(super) fn load_flags(&mut self, cfg: &mut Config, flags: &[Flag]) -> Result<(), ConfigError> {
        for flag in flags {
            let err = |why: &str| flag_error(&flag.display(), why);
            if flag.name == "include" {
                if flag.args.len() != 1 {
                    return Err(err(BAD_DIRECTIVE));
                }
                let text = read_config_file(&flag.args[0]).map_err(|e| err(&e))?;
                self.load_text(cfg, &text, &flag.args[0], 1)?;
                continue;
            }
            self.directive(cfg, &flag.name, &flag.args).map_err(|e| err(&e))?;
            self.note_source(&flag.name, FLAGS_CONTEXT.to_string(), flag.display());
        }
        Ok(())
    }

    fn directive(&mut self, cfg: &mut Config, name: &str, args: &[String]) -> Result<(), String> {
        if name == "user" {
            // ACL users, applied at start (`acl::startup`), checked there.
            if args.is_empty() {
                return Err(BAD_DIRECTIVE.into());
            }
            cfg.acl_users.push(args.to_vec());
            return Ok(());
        }
        let Some((_, p)) = params::find(name) else {
            if DEPRECATED.contains(&name) {
                return Ok(());
            }
            if name.starts_with("tls-") {
                return Err("TLS is not supported by shardis; put a TLS-terminating proxy in front".into());
            }
            if UNSUPPORTED.contains(&name) {
                return Err(format!("'{name}' is not supported by shardis"));
            }
            return Err(BAD_DIRECTIVE.into());
        };
        if p.name == "save" {
            let new = params::normalize_args(p, args)?;
            let seen = std::mem::replace(&mut self.save_seen, true);
            // The first save line of a source replaces the defaults; later ones add
            // points. An empty list (`save ""`) always clears.
            if seen && !new.is_empty() {
                let mut all: Vec<String> = cfg.save.iter().flat_map(|(s, c)| [s.to_string(), c.to_string()]).collect();
                all.extend(new);
                cfg.apply_directive(name, &all)?;
            } else {
                cfg.apply_directive(name, &new)?;
            }
        } else {
            cfg.apply_directive(name, args)?;
        }
        if !self.explicit.contains(&p.name) {
            self.explicit.push(p.name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tokenizer_follows_sdssplitargs() {
        assert_eq!(split_args("  port   6379  ").unwrap(), s(&["port", "6379"]));
        assert_eq!(split_args("save \"\"").unwrap(), s(&["save", ""]));
        assert_eq!(split_args(r#"requirepass "a b\"c\n\x41""#).unwrap(), s(&["requirepass", "a b\"c\nA"]));
        assert_eq!(split_args(r"x 'it\'s \n'").unwrap(), s(&["x", "it's \\n"]));
        assert!(split_args(r#"a"b c"d"#).is_err(), "closing quote glued to text");
        assert_eq!(split_args(r#"a"b c""#).unwrap(), s(&["ab c"]));
        assert!(split_args("x \"open").is_err());
        assert!(split_args("x 'open").is_err());
        assert_eq!(split_args("").unwrap(), Vec::<String>::new());
        assert_eq!(split_args("\t\x0b ").unwrap(), Vec::<String>::new());
        assert!(split_args(r#"x "\xff""#).is_err(), "non-UTF-8 escapes are refused");
    }

    #[test]
    fn nul_byte_ends_the_line_as_in_redis() {
        // Found by fuzzing: a NUL between arguments used to be an endless run of
        // empty arguments (the loader ran out of memory).
        assert_eq!(split_args("port 7000\0 junk \0").unwrap(), s(&["port", "7000"]));
        assert_eq!(split_args("\0\n\0").unwrap(), Vec::<String>::new());
        assert!(split_args("x \"open\0\"").is_err(), "a NUL inside quotes leaves them open");
    }

    #[test]
    fn quote_round_trips() {
        for v in ["", "plain", "a b", "q\"uote", "it's", "back\\slash", "tab\there", "\u{1}", "é ü"] {
            let line = format!("x {}", quote_arg(v));
            assert_eq!(split_args(&line).unwrap(), s(&["x", v]), "{line}");
        }
        assert_eq!(quote_arg("dump.rdb"), "dump.rdb");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("0"), Some(0));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("100b"), Some(100));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1KB"), Some(1024));
        assert_eq!(parse_memory("2m"), Some(2_000_000));
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("1Gb"), Some(1 << 30));
        for bad in ["", "mb", "-1", "+1", "1 mb", "1tb", "1.5mb", "99999999999999999999gb"] {
            assert_eq!(parse_memory(bad), None, "{bad}");
        }
    }

    #[test]
    fn integers_and_bools() {
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("6379"), Some(6379));
        for bad in ["", "-", "+1", "01", "-0", "1x", " 1", "99999999999999999999"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
        assert_eq!(parse_bool("YES"), Some(true));
        assert_eq!(parse_bool("no"), Some(false));
        assert_eq!(parse_bool("true"), None);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0-3,8").unwrap(), vec![0, 1, 2, 3, 8]);
        assert_eq!(parse_cpus("").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpus("5, 2").unwrap(), vec![5, 2]);
        for bad in ["x", "1-", "-1", "3-1", "1,,2", "0-3,2", "1-99999", "1.5"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(format_cpus(&[0, 1, 2, 3, 8]), "0-3,8");
        assert_eq!(format_cpus(&[5, 2, 3]), "5,2-3");
        assert_eq!(format_cpus(&[]), "");
    }

    #[test]
    fn argv_splitting() {
        let (file, flags) = split_argv(&s(&["a.conf", "--port", "1", "--save", "900", "1", "300", "10"])).unwrap();
        assert_eq!(file.as_deref(), Some("a.conf"));
        assert_eq!(
            flags,
            vec![
                Flag { name: "port".into(), args: s(&["1"]) },
                Flag { name: "save".into(), args: s(&["900", "1", "300", "10"]) },
            ]
        );
        let (file, flags) = split_argv(&s(&["--requirepass", "--odd", "--save", "--PORT 7"])).unwrap();
        assert_eq!(file, None);
        assert_eq!(
            flags,
            vec![
                Flag { name: "requirepass".into(), args: s(&["--odd"]) },
                Flag { name: "save".into(), args: s(&[""]) },
                Flag { name: "port".into(), args: s(&["7"]) },
            ]
        );
        let (_, flags) = split_argv(&s(&["--save"])).unwrap();
        assert_eq!(flags[0].args, s(&[""]));
        let (_, flags) = split_argv(&s(&["--slowlog-log-slower-than", "-1"])).unwrap();
        assert_eq!(flags[0].args, s(&["-1"]));
        let (file, flags) = split_argv(&s(&["-x"])).unwrap();
        assert_eq!(file.as_deref(), Some("-x"));
        assert!(flags.is_empty());
        let e = split_argv(&s(&["a.conf", "stray"])).unwrap_err();
        assert!(e.message.contains("command line flags"), "{e}");
    }
}
