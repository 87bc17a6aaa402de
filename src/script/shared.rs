//! Server-wide scripting state: the script cache (bodies by SHA-1, so EVALSHA works
//! on any shard), the function libraries, and the busy/kill flags that let other
//! threads answer `-BUSY` and stop a long script.

use super::func::Libraries;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Busy/kill flag slots, one per thread that runs scripts (`script::thread_slot`).
pub const SLOTS: usize = 64;

pub struct ScriptShared {
    scripts: RwLock<HashMap<String, Arc<[u8]>>>,
    /// Bytes of script bodies held (INFO used_memory_scripts_eval).
    pub scripts_bytes: AtomicU64,
    /// Bumped by SCRIPT FLUSH: threads drop their compiled scripts when it moved.
    pub flush_epoch: AtomicU64,
    /// Per thread slot: a script there ran past `busy-reply-threshold`.
    busy: Vec<AtomicBool>,
    /// Per thread slot: the busy script has written (SCRIPT KILL answers UNKILLABLE).
    wrote: Vec<AtomicBool>,
    /// Per thread slot: the busy script is a function (FUNCTION KILL vs SCRIPT KILL).
    is_function: Vec<AtomicBool>,
    kill: Vec<AtomicBool>,
    /// How many slots are busy: the one load every command pays (`busy_reply`).
    busy_count: AtomicUsize,
    /// Per busy slot running a function: what FUNCTION STATS reports as `running_script`.
    running: Mutex<HashMap<usize, RunningFunction>>,
    /// SHUTDOWN NOSAVE arrived while a script was busy: the script stops at once.
    pub shutdown: AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands flagged `noscript`
    /// (Redis's debugging aid; its test suite relies on it).
    pub noscript_allowed: AtomicBool,
    /// The function libraries (FUNCTION LOAD ...), bumped `functions_epoch` on change.
    pub functions: Mutex<Libraries>,
    pub functions_epoch: AtomicU64,
    /// Held through each FUNCTION write (LOAD, DELETE, FLUSH, RESTORE) and the queuing
    /// of its log record, so `function_log`'s order is the order the writes happened.
    pub function_writes: Mutex<()>,
    /// FUNCTION writes on their way to shard 0's log (`cmd::function`), with their db.
    pub function_log: Mutex<Vec<(u16, Vec<Vec<u8>>)>>,
    /// The ACL users of restricted clients' scripts on their way (`note_caller`).
    callers: Mutex<HashMap<u64, Caller>>,
    callers_len: AtomicUsize,
    /// Tracking clients whose scripts' reads are remembered (`note_reader`): client
    /// -> (home shard, scripts dispatched and not yet started).
    readers: Mutex<HashMap<u64, (u16, u32)>>,
    readers_len: AtomicUsize,
}

/// A busy function as FUNCTION STATS shows it (`running_script`).
#[derive(Clone, Debug)]
pub struct RunningFunction {
    pub name: String,
    /// The caller's command (FCALL or FCALL_RO and its arguments).
    pub command: Vec<Vec<u8>>,
    pub started: std::time::Instant,
}

/// Who runs a script, for the ACL check of its `redis.call`s: noted where the client
/// lives (its session is there), taken wherever the script runs.
struct Caller {
    /// Scripts of this client dispatched and not yet started.
    pending: u32,
    acl: crate::acl::SessionAcl,
    /// The client's CLIENT LIST line, for ACL LOG entries.
    info: String,
}

impl Default for ScriptShared {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptShared {
    pub fn new() -> ScriptShared {
        let flags = || (0..SLOTS).map(|_| AtomicBool::new(false)).collect();
        ScriptShared {
            scripts: RwLock::new(HashMap::new()),
            scripts_bytes: AtomicU64::new(0),
            flush_epoch: AtomicU64::new(0),
            busy: flags(),
            wrote: flags(),
            is_function: flags(),
            kill: flags(),
            busy_count: AtomicUsize::new(0),
            running: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            noscript_allowed: AtomicBool::new(false),
            functions: Mutex::new(Libraries::default()),
            functions_epoch: AtomicU64::new(0),
            function_writes: Mutex::new(()),
            function_log: Mutex::new(Vec::new()),
            callers: Mutex::new(HashMap::new()),
            callers_len: AtomicUsize::new(0),
            readers: Mutex::new(HashMap::new()),
            readers_len: AtomicUsize::new(0),
        }
    }

    pub fn get(&self, sha: &str) -> Option<Arc<[u8]>> {
        self.scripts.read().unwrap_or_else(|e| e.into_inner()).get(sha).cloned()
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.scripts.read().unwrap_or_else(|e| e.into_inner()).contains_key(sha)
    }

    /// Caches `body` under its SHA-1 (which the caller computed) and returns it.
    pub fn insert(&self, sha: &str, body: &[u8]) {
        let mut m = self.scripts.write().unwrap_or_else(|e| e.into_inner());
        if !m.contains_key(sha) {
            self.scripts_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            m.insert(sha.to_string(), Arc::from(body));
        }
    }

    pub fn flush(&self) {
        self.scripts.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.scripts_bytes.store(0, Ordering::Relaxed);
        self.flush_epoch.fetch_add(1, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.scripts.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Called by the running script's hook once it passed the busy threshold.
    pub fn mark_busy(&self, shard: usize) {
        if !self.busy[shard].swap(true, Ordering::AcqRel) {
            self.busy_count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The busy function on `slot` (its name, the caller's command, its start), for
    /// FUNCTION STATS.
    pub fn note_running(&self, slot: usize, running: RunningFunction) {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(slot, running);
    }

    /// FUNCTION STATS's `running_script` while a script is busy somewhere: None when
    /// none is; Redis's BUSY error when it is an EVAL script (Redis refuses then).
    pub fn running_function(&self) -> Result<Option<RunningFunction>, &'static str> {
        if !self.any_busy() {
            return Ok(None);
        }
        let Some(s) = (0..self.busy.len()).find(|&s| self.busy[s].load(Ordering::Acquire)) else {
            return Ok(None);
        };
        if !self.is_function[s].load(Ordering::Relaxed) {
            return Err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
        }
        Ok(self.running.lock().unwrap_or_else(|e| e.into_inner()).get(&s).cloned())
    }

    /// Called when a script starts (`function`: FCALL) and ends.
    pub fn begin(&self, shard: usize, function: bool) {
        self.wrote[shard].store(false, Ordering::Relaxed);
        self.kill[shard].store(false, Ordering::Relaxed);
        self.is_function[shard].store(function, Ordering::Relaxed);
    }

    pub fn end(&self, shard: usize) {
        // A plain load first: a run that never got busy (nearly all) writes nothing.
        if self.busy[shard].load(Ordering::Relaxed) && self.busy[shard].swap(false, Ordering::AcqRel) {
            self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&shard);
            self.busy_count.fetch_sub(1, Ordering::AcqRel);
        }
        if self.kill[shard].load(Ordering::Relaxed) {
            self.kill[shard].store(false, Ordering::Relaxed);
        }
    }

    pub fn note_write(&self, shard: usize) {
        self.wrote[shard].store(true, Ordering::Relaxed);
    }

    /// Is a script busy anywhere (then other clients get `-BUSY`)?
    #[inline]
    pub fn any_busy(&self) -> bool {
        self.busy_count.load(Ordering::Relaxed) != 0
    }

    /// The `-BUSY` error other clients get while a script is busy (Redis's texts for
    /// an EVAL script and for a function), or None.
    #[inline]
    pub fn busy_reply(&self) -> Option<&'static str> {
        if !self.any_busy() {
            return None;
        }
        let function = (0..self.busy.len())
            .find(|&s| self.busy[s].load(Ordering::Acquire))
            .is_some_and(|s| self.is_function[s].load(Ordering::Relaxed));
        Some(if function {
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        } else {
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
        })
    }

    /// SCRIPT KILL / FUNCTION KILL: Ok once the kill is requested, or the error reply.
    pub fn request_kill(&self, function: bool) -> Result<(), &'static str> {
        for s in 0..self.busy.len() {
            if !self.busy[s].load(Ordering::Acquire) {
                continue;
            }
            if self.wrote[s].load(Ordering::Relaxed) {
                return Err(
                    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
                );
            }
            // SCRIPT KILL does not stop a function, nor FUNCTION KILL a script: the
            // reply is the other one's BUSY text, as in Redis.
            let is_fn = self.is_function[s].load(Ordering::Relaxed);
            if is_fn != function {
                return Err(if is_fn {
                    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
                } else {
                    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                });
            }
            self.kill[s].store(true, Ordering::Release);
            return Ok(());
        }
        Err("NOTBUSY No scripts in execution right now.")
    }

    /// The figures INFO memory reports.
    pub fn info(&self) -> Info {
        let l = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        Info {
            scripts: self.len() as u64,
            scripts_bytes: self.scripts_bytes.load(Ordering::Relaxed),
            functions: l.function_count() as u64,
            libraries: l.libs.len() as u64,
            library_bytes: l.libs.values().map(|x| x.code.len() as u64).sum(),
        }
    }

    /// Is any caller noted? (One load: unrestricted clients pay nothing more.)
    #[inline]
    pub fn has_callers(&self) -> bool {
        self.callers_len.load(Ordering::Relaxed) != 0
    }

    /// Client `id` dispatched a script as `acl`. Unrestricted clients are noted only
    /// when an entry of theirs exists (they changed user with a script on its way).
    pub fn note_caller(&self, id: u64, acl: &crate::acl::SessionAcl, info: impl FnOnce() -> String) {
        let mut m = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if acl.unrestricted && !m.contains_key(&id) {
            return;
        }
        let e = m.entry(id).or_insert_with(|| Caller { pending: 0, acl: acl.clone(), info: String::new() });
        e.pending += 1;
        e.acl = acl.clone();
        e.info = info();
        self.callers_len.store(m.len(), Ordering::Relaxed);
    }

    /// The user (and client line) a starting script of client `id` runs as, if noted.
    pub fn take_caller(&self, id: u64) -> Option<(crate::acl::SessionAcl, String)> {
        if !self.has_callers() {
            return None;
        }
        let mut m = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.get_mut(&id)?;
        e.pending = e.pending.saturating_sub(1);
        let r = (e.acl.clone(), e.info.clone());
        if e.pending == 0 {
            m.remove(&id);
        }
        self.callers_len.store(m.len(), Ordering::Relaxed);
        Some(r)
    }

    /// `n` scripts of client `id` noted by `note_caller` will never start (their
    /// MULTI was discarded): drop them from its entry.
    pub fn release_caller(&self, id: u64, n: usize) {
        if n == 0 || !self.has_callers() {
            return;
        }
        let mut m = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = m.get_mut(&id) {
            e.pending = e.pending.saturating_sub(n as u32);
            if e.pending == 0 {
                m.remove(&id);
            }
        }
        self.callers_len.store(m.len(), Ordering::Relaxed);
    }

    /// A script of tracking client `id` (living on shard `home`) was dispatched and its
    /// reads are tracked (`cmd::tracking::on_command`): wherever it runs, once it ran a
    /// read-only command its declared keys are remembered for the client, as Redis 7.0
    /// does for the script's caller.
    pub fn note_reader(&self, id: u64, home: u16) {
        let mut m = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(id).or_insert((home, 0)).1 += 1;
        self.readers_len.store(m.len(), Ordering::Relaxed);
    }

    /// The home shard of client `id` if its starting script's reads are tracked. One
    /// load while no tracking client runs scripts.
    #[inline]
    pub fn take_reader(&self, id: u64) -> Option<u16> {
        if self.readers_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut m = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        let e = m.get_mut(&id)?;
        let home = e.0;
        e.1 -= 1;
        if e.1 == 0 {
            m.remove(&id);
        }
        self.readers_len.store(m.len(), Ordering::Relaxed);
        Some(home)
    }

    pub fn kill_requested(&self, shard: usize) -> bool {
        self.kill[shard].load(Ordering::Acquire)
    }
}

/// Scripting figures for INFO.
pub struct Info {
    pub scripts: u64,
    pub scripts_bytes: u64,
    pub functions: u64,
    pub libraries: u64,
    pub library_bytes: u64,
}
