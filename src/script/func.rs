//! Function libraries (FUNCTION LOAD, FCALL): the registry shared by every shard.

use std::collections::BTreeMap;

/// One function a library registered.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<String>,
}

/// A loaded library: its code (run again on each thread that needs it) and functions.
#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: BTreeMap<String, FunctionInfo>,
}

/// Every library, by name, and which library each function belongs to. Function names
/// are case-insensitive in Redis 7.0 (FCALL TEST calls `test`; a library cannot
/// register `TEST` when another has `test`), library names are not: `by_function` is
/// keyed by the lowercased name.
#[derive(Default, Debug, Clone)]
pub struct Libraries {
    pub libs: BTreeMap<String, Library>,
    pub by_function: BTreeMap<String, String>,
}

/// A library's `#!lua name=<lib>` header: its name, or Redis's error, checked in
/// Redis 7.0's order (`functionExtractLibMetaData`, then the name's characters, then
/// the engine). The line must end in a newline and splits as `sdssplitargs` splits.
pub fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = crate::util::splitargs::split_owned(&code[..end]).unwrap_or_default();
    let Some((engine, options)) = parts.split_first() else {
        return Err("ERR Invalid library metadata".into());
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut name = None;
    for p in options {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err("ERR Invalid metadata value, name argument was given multiple times".into());
            }
            name = Some(text(&p[5..]));
        } else {
            return Err(format!("ERR Invalid metadata value given: {}", text(p)));
        }
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_string())?;
    if !valid_name(&name) {
        return Err(NAME_RULE.into());
    }
    let engine = text(&engine[2..]);
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    Ok(name)
}

/// Redis 7.0 says "Library names" for function names too.
pub const NAME_RULE: &str =
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

pub fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Redis 7.0's function flags, and shardis's `allow-undeclared-keys` (`cmd::script_all`).
pub const FLAG_NAMES: &[&str] =
    &["no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys", "allow-undeclared-keys"];

impl Libraries {
    /// Adds (or with `replace`, replaces) `lib`; Redis's errors on name clashes.
    pub fn add(&mut self, lib: Library, replace: bool) -> Result<(), String> {
        if self.libs.contains_key(&lib.name) && !replace {
            return Err(format!("ERR Library '{}' already exists", lib.name));
        }
        for f in lib.functions.keys() {
            if let Some(owner) = self.by_function.get(&f.to_ascii_lowercase())
                && *owner != lib.name
            {
                return Err(format!("ERR Function {f} already exists"));
            }
        }
        self.remove(&lib.name);
        for f in lib.functions.keys() {
            self.by_function.insert(f.to_ascii_lowercase(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        match self.libs.remove(name) {
            Some(old) => {
                for f in old.functions.keys() {
                    self.by_function.remove(&f.to_ascii_lowercase());
                }
                true
            }
            None => false,
        }
    }

    pub fn function_count(&self) -> usize {
        self.by_function.len()
    }

    /// Function `name` (in any case) as its library registered it.
    pub fn function(&self, name: &str) -> Option<&FunctionInfo> {
        let lib = self.libs.get(self.by_function.get(&name.to_ascii_lowercase())?)?;
        lib.functions.get(name).or_else(|| lib.functions.values().find(|f| f.name.eq_ignore_ascii_case(name)))
    }

    /// Is function `f` declared `no-writes`?
    pub fn no_writes(&self, f: &str) -> Option<bool> {
        Some(self.function(f)?.flags.iter().any(|x| x == "no-writes"))
    }
}

/// RDB_OPCODE_FUNCTION2: one library's code, in RDB files and FUNCTION DUMP payloads.
pub const RDB_OPCODE_FUNCTION2: u8 = 245;
