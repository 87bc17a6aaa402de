//! SORT and SORT_RO: sort a list, set or sorted set (numerically or ALPHA, ASC or
//! DESC), optionally BY the values of other keys (`weight_*`, hash fields
//! `w_*->field`), with LIMIT, GET patterns (`#` is the element itself) and, for SORT,
//! STORE into a list.
//!
//! The semantics follow Redis 7.0's `sort.c`: its option parser and errors
//! (`ERR One or more scores can't be converted into double`), a BY pattern without
//! `*` meaning "don't sort", equal numeric scores ordered by the elements' bytes, a
//! set sorted ALPHA when stored unsorted (so replicas agree), STORE replacing the
//! destination with a list (or deleting it when empty) and waking clients blocked on
//! it like any push. ALPHA compares bytes, which is what Redis's `strcoll` does in
//! the C/C.UTF-8 locales it runs under by default.
//!
//! **Patterns across shards.** The keys a BY or GET pattern names are known only once
//! the elements are read, so the ordinary key-gathering transaction cannot lock them
//! in advance. On a server with several shards, a SORT with such a pattern runs as
//! [`PatternTx`]: it locks *every shard whole* (the cost: for that moment no other
//! command runs anywhere, like FLUSHALL), reads the source on its shard, computes the
//! keys its patterns name, gathers copies of them from their shards, runs the
//! ordinary handler on a scratch keyspace holding them, and sends the destination's
//! final state (STORE) to its owner, logged there as a cross-shard transaction part.
//! SORT without patterns (or with one shard) is an ordinary keyed command.
//!
//! Inside MULTI/EXEC the same happens within the transaction: EXEC locks every shard
//! whole when it queues such a SORT, and gathers the source, then the keys its
//! patterns name (`multi`, [`pattern_keys`]).
//!
//! Not handled yet: ties in an ALPHA sort BY a
//! pattern (equal or missing values) keep the source's order, where Redis's qsort
//! may order them differently.

use super::Args;
use super::ctx::ExecCtx;
use super::dispatch::call;
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{CmdError, coord};
use crate::config::notify;
use crate::shard::lock::LockPlan;
use crate::shard::msg::{CoordRef, ExecReq, HopResult, KeyEntries, Msg};
use crate::shard::state::Coordinator;
use crate::shard::{ShardState, shard_of};
use crate::storage::list::ListValue;
use crate::storage::{Db, Entry, Value};
use crate::util::num;
use std::sync::Arc;

// ---- Patterns ---------------------------------------------------------------------------

/// Where a pattern's substitution leads: the key, and the hash field after `->`.
fn pattern_target(pattern: &[u8], elem: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    // Redis works on C strings here: the pattern ends at its first NUL.
    let pattern = &pattern[..pattern.iter().position(|&b| b == 0).unwrap_or(pattern.len())];
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(p) if p + 2 < after.len() => (&after[..p], Some(after[p + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    Some((key, field))
}

/// Redis's `lookupKeyByPattern`: `#` is the element; otherwise the string at the
/// substituted key, or the hash field; anything else (missing, other types) is None.
fn lookup(db: &mut Db, now: u64, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let (key, field) = pattern_target(pattern, elem)?;
    let e = db.get(&key, now)?;
    match (&e.value, field) {
        (Value::Hash(h), Some(f)) => h.get(&f).map(|v| v.to_vec()),
        (Value::Str(s), None) => Some(s.to_vec()),
        _ => None,
    }
}

/// A BY score as Redis's `strtod` check takes it: the whole string must parse
/// (leading blanks allowed), no NaN, no overflow or underflow; "" is 0.
fn sort_score(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    num::parse_f64(&b[start..])
}

// ---- Options ----------------------------------------------------------------------------

struct Opts {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Vec<u8>>,
    by: Option<Vec<u8>>,
    dontsort: bool,
    gets: Vec<Vec<u8>>,
}

fn parse(a: &Args, readonly: bool) -> Result<Opts, CmdError> {
    let mut o =
        Opts { desc: false, alpha: false, limit: None, store: None, by: None, dontsort: false, gets: Vec::new() };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        if a.is(j, "asc") {
            o.desc = false;
        } else if a.is(j, "desc") {
            o.desc = true;
        } else if a.is(j, "alpha") {
            o.alpha = true;
        } else if a.is(j, "limit") && left >= 2 {
            o.limit = Some((a.i64(j + 1)?, a.i64(j + 2)?));
            j += 2;
        } else if !readonly && a.is(j, "store") && left >= 1 {
            o.store = Some(a.get(j + 1).to_vec());
            j += 1;
        } else if a.is(j, "by") && left >= 1 {
            let p = a.get(j + 1);
            o.dontsort = !p.contains(&b'*');
            o.by = Some(p.to_vec());
            j += 1;
        } else if a.is(j, "get") && left >= 1 {
            o.gets.push(a.get(j + 1).to_vec());
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Does this SORT name keys through patterns (BY with `*`, GET other than `#`)?
fn has_key_patterns(a: &Args) -> bool {
    let mut j = 2;
    while j + 1 < a.len() {
        if a.is(j, "by") && a.get(j + 1).contains(&b'*') {
            return true;
        }
        if a.is(j, "get") && a.get(j + 1) != b"#" && a.get(j + 1).contains(&b'*') {
            return true;
        }
        j += 1;
    }
    false
}

// ---- The command ------------------------------------------------------------------------

/// The elements of a sortable value, in its native order.
fn elements(v: &Value) -> Option<Vec<Vec<u8>>> {
    match v {
        Value::List(l) => {
            // `visit` leaves no decompressed copy of a compressed node behind.
            let mut v = Vec::with_capacity(l.len());
            l.visit(|e| v.push(e.to_vec()));
            Some(v)
        }
        Value::Set(s) => Some(s.iter().map(|m| m.to_vec()).collect()),
        Value::ZSet(z) => Some(z.iter().map(|(m, _)| m.to_vec()).collect()),
        _ => None,
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(c: &mut ExecCtx, a: &Args, readonly: bool) -> Result<(), CmdError> {
    let mut o = parse(a, readonly)?;
    let now = c.now_ms;
    let (kind, elems) = {
        let (db, _, stats) = c.parts();
        match db.get_touch(a.get(1), now) {
            Some(e) => {
                stats.keyspace_hits += 1;
                let kind = match &mut e.value {
                    Value::List(_) => 'l',
                    Value::Set(_) => 's',
                    Value::ZSet(z) => {
                        z.use_skiplist();
                        'z'
                    }
                    _ => return Err(CmdError::WrongType),
                };
                (kind, elements(&e.value).unwrap_or_default())
            }
            None => {
                stats.miss(a.get(1));
                ('l', Vec::new())
            }
        }
    };
    // An unsorted set would come out in this server's hash order: when it is stored
    // (and so replicated) or a script reads it (and may write what it saw), Redis sorts
    // it ALPHA instead, and so do we.
    if o.dontsort && kind == 's' && (o.store.is_some() || super::script_host::called_from_script()) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elems.len() as i64;
    let (ls, lc) = o.limit.unwrap_or((0, -1));
    let mut start = ls.max(0);
    let mut end = if lc < 0 { len - 1 } else { start + lc - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut items: Vec<Item> = Vec::new();
    if o.dontsort && kind != 's' {
        // Native order (reversed for DESC), LIMIT taken directly.
        if end >= start {
            let n = (end - start + 1) as usize;
            let it: Box<dyn Iterator<Item = Vec<u8>>> =
                if o.desc { Box::new(elems.into_iter().rev()) } else { Box::new(elems.into_iter()) };
            items = it.skip(start as usize).take(n).map(|elem| Item { elem, score: 0.0, cmp: None }).collect();
            end -= start;
            start = 0;
        }
    } else {
        items = elems.into_iter().map(|elem| Item { elem, score: 0.0, cmp: None }).collect();
    }
    let mut bad_score = false;
    if !o.dontsort {
        let db = c.db();
        for it in items.iter_mut() {
            let by = match &o.by {
                Some(p) => match lookup(db, now, p, &it.elem) {
                    Some(v) => Some(v),
                    None => continue,
                },
                None => None,
            };
            if o.alpha {
                it.cmp = by;
            } else {
                let v = by.as_deref().unwrap_or(&it.elem);
                match sort_score(v) {
                    Some(s) => it.score = s,
                    None => bad_score = true,
                }
            }
        }
        let (alpha, bypattern, desc) = (o.alpha, o.by.is_some(), o.desc);
        let compare = |x: &Item, y: &Item| {
            let ord = if !alpha {
                x.score.partial_cmp(&y.score).unwrap_or(std::cmp::Ordering::Equal).then_with(|| x.elem.cmp(&y.elem))
            } else if bypattern {
                // Elements whose BY key is missing sort first.
                x.cmp.cmp(&y.cmp)
            } else {
                x.elem.cmp(&y.elem)
            };
            if desc { ord.reverse() } else { ord }
        };
        // As Redis: a BY sort asked for part of the elements is its partial
        // quicksort, whose order among ties (ALPHA by equal or missing values) a full
        // sort does not keep; a full sort is glibc's qsort, a stable merge sort.
        if bypattern && (start != 0 || end != len - 1) {
            crate::util::pqsort::pqsort(&mut items, &compare, start, end);
        } else {
            items.sort_by(compare);
        }
    }
    if bad_score {
        return Err(CmdError::msg("ERR One or more scores can't be converted into double"));
    }
    let range: &[Item] = if end >= start && start >= 0 { &items[start as usize..=end as usize] } else { &[] };
    let gets = o.gets.len();
    let outputlen = if gets > 0 { gets * range.len() } else { range.len() };
    let db = c.db();
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(outputlen);
    for it in range {
        if gets == 0 {
            values.push(Some(it.elem.clone()));
        }
        for p in &o.gets {
            values.push(lookup(db, now, p, &it.elem));
        }
    }
    match o.store {
        None => {
            c.out.array(values.len());
            for v in &values {
                match v {
                    Some(v) => c.out.bulk(v),
                    None => c.out.null(),
                }
            }
        }
        Some(dst) => {
            if values.is_empty() {
                if c.db().remove(&dst, now).is_some() {
                    c.notify(notify::GENERIC, "del", &dst);
                    c.dirty += 1;
                }
            } else {
                let fill = c.config.encoding.list_fill();
                let list = ListValue::from_items(values.iter().map(|v| v.as_deref().unwrap_or(b"")), fill);
                c.db().set(&dst, Value::List(Box::new(list)), 0);
                c.notify(notify::LIST, "sortstore", &dst);
                c.dirty += outputlen as u64;
            }
            c.out.int(outputlen as i64);
        }
    }
    Ok(())
}

fn sort(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    sort_generic(c, a, false)
}

fn sort_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    sort_generic(c, a, true)
}

// ---- Across shards ----------------------------------------------------------------------

/// Must this request run as a [`PatternTx`] (several shards, key patterns)?
pub fn needs_pattern_tx(st: &ShardState, spec: &CommandSpec, args: &Args) -> bool {
    needs_pattern_gather(st.nshards, spec, args)
}

/// Starts a SORT whose patterns may name keys on any shard: lock every shard whole.
pub fn start_pattern_tx(st: &mut ShardState, req: ExecReq) {
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    let n = st.nshards;
    let tx = coord::queue_locks(st, id, (0..n).map(|s| (s, LockPlan::Whole)).collect(), false);
    st.coords.insert(id, Box::new(PatternTx { id, tx, req, waiting: n, phase: Phase::Locking, gathered: Vec::new() }));
}

enum Phase {
    /// Waiting for every shard's whole lock.
    Locking,
    /// Waiting for the source key's entry.
    Source,
    /// Waiting for the pattern keys' entries.
    Gather,
    /// Waiting for the destination's owner to log its part (AOF / replicas).
    Commit(Vec<u8>),
}

struct PatternTx {
    id: u64,
    tx: u64,
    req: ExecReq,
    waiting: usize,
    phase: Phase,
    gathered: KeyEntries,
}

/// Is this queued command a SORT whose patterns may name keys on other shards? EXEC
/// then locks every shard whole and gathers them (`multi`), as [`PatternTx`] does.
pub fn needs_pattern_gather(nshards: usize, spec: &CommandSpec, args: &Args) -> bool {
    nshards > 1 && matches!(spec.name, "sort" | "sort_ro") && has_key_patterns(args)
}

/// The keys SORT's BY and GET patterns name for the elements of `source`.
pub fn pattern_keys(args: &Args, source: Option<&Entry>) -> Vec<Vec<u8>> {
    let Some(Some(elems)) = source.map(|e| elements(&e.value)) else { return Vec::new() };
    let mut patterns = Vec::new();
    let mut j = 2;
    while j + 1 < args.len() {
        if args.is(j, "by") || args.is(j, "get") {
            patterns.push(args.get(j + 1));
            j += 1;
        }
        j += 1;
    }
    let mut keys = Vec::new();
    for e in &elems {
        for p in &patterns {
            if *p != b"#"
                && let Some((k, _)) = pattern_target(p, e)
            {
                keys.push(k);
            }
        }
    }
    keys
}

/// A hop answering copies of `keys` (db, key) from the shard it runs on.
pub fn fetch(keys: Vec<(u16, Vec<u8>)>) -> crate::shard::Hop {
    Arc::new(move |st: &mut ShardState| -> HopResult {
        let now = super::coord::gather_clock(st);
        let got: KeyEntries =
            keys.iter().map(|(d, k)| (*d, k.clone(), st.dbs[*d as usize].get_entry(k, now))).collect();
        st.account_expired();
        Box::new(got)
    })
}

/// As [`fetch`], for SORT's source key: a sorted set there switches to the skiplist
/// encoding first, as in [`sort_generic`].
fn fetch_source((db, key): (u16, Vec<u8>)) -> crate::shard::Hop {
    Arc::new(move |st: &mut ShardState| -> HopResult {
        let now = super::coord::gather_clock(st);
        let entry = st.dbs[db as usize].get_with_expire(&key, now).map(|(slot, at)| {
            if let Value::ZSet(z) = &mut slot.value {
                z.use_skiplist();
            }
            Entry::of_slot(slot, at)
        });
        let got: KeyEntries = vec![(db, key.clone(), entry)];
        st.account_expired();
        Box::new(got)
    })
}

impl PatternTx {
    fn me(&self, st: &ShardState) -> CoordRef {
        CoordRef { shard: st.id as u16, id: self.id }
    }

    fn release_all(&self, st: &mut ShardState, dst: Option<(usize, KeyEntries)>) {
        let mut dst = dst;
        for s in 0..st.nshards {
            let writes = match &mut dst {
                Some((owner, w)) if *owner == s => std::mem::take(w),
                _ => Vec::new(),
            };
            st.outbox.push(s, Msg::Release { tx: self.tx, writes, kept: Vec::new(), writer: self.req.client_id });
        }
    }

    /// The source is here: ask each shard for the keys the patterns name.
    fn gather(&mut self, st: &mut ShardState, source: Option<Entry>) {
        let args = Args::Owned(&self.req.args);
        let db = self.req.db;
        let mut per: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
        let mut add = |k: Vec<u8>| {
            let s = shard_of(&k, per.len());
            if !per[s].iter().any(|(_, x)| *x == k) {
                per[s].push((db, k));
            }
        };
        for k in pattern_keys(&args, source.as_ref()) {
            add(k);
        }
        self.gathered.push((db, args.get(1).to_vec(), source));
        if let Ok(keys) = TABLE.get(self.req.cmd).key_positions(&args, db) {
            for (_, i) in keys.into_iter().skip(1) {
                add(args.get(i).to_vec());
            }
        }
        let me = self.me(st);
        self.waiting = 0;
        self.phase = Phase::Gather;
        for (s, keys) in per.into_iter().enumerate() {
            if !keys.is_empty() {
                self.waiting += 1;
                st.outbox.push(s, Msg::Run { coord: me, hop: fetch(keys) });
            }
        }
    }

    /// Everything is here: run SORT on a scratch keyspace and write the destination.
    /// Returns true when finished.
    fn run(&mut self, st: &mut ShardState) -> bool {
        let mut scratch: Vec<Db> = (0..st.dbs.len()).map(|_| Db::new()).collect();
        for (db, key, entry) in &self.gathered {
            if let Some(e) = entry {
                scratch[*db as usize].set(key, e.value.clone(), e.expire_at);
            }
        }
        let mut real = std::mem::replace(&mut st.dbs, scratch);
        let mut out = Vec::new();
        let args = Args::Owned(&self.req.args);
        // The scratch run is not this shard's history: the destination's owner logs it.
        st.aof.suppress += 1;
        call(st, self.req.cmd, &args, self.req.db, self.req.proto, &mut out, self.req.client_id);
        st.aof.suppress -= 1;
        std::mem::swap(&mut st.dbs, &mut real);
        let scratch = real;
        let dst = TABLE
            .get(self.req.cmd)
            .key_positions(&args, self.req.db)
            .ok()
            .and_then(|k| k.get(1).copied())
            .map(|(db, i)| (db, args.get(i).to_vec()));
        let Some((db, key)) = dst else {
            self.release_all(st, None);
            st.send_reply(self.req.to, out);
            return true;
        };
        let before = self.gathered.iter().find(|(d, k, _)| *d == db && *k == key).and_then(|(_, _, e)| e.clone());
        let fin = scratch[db as usize].peek_entry(&key);
        let owner = shard_of(&key, st.nshards);
        let changed = match (&before, &fin) {
            (None, None) => false,
            (Some(a), Some(b)) => a.value != b.value || a.expire_at != b.expire_at,
            _ => true,
        };
        if !changed {
            self.release_all(st, None);
            st.send_reply(self.req.to, out);
            return true;
        }
        let writes = vec![(db, key, fin)];
        if st.aof.wants_parts() {
            let marker = coord::tx_marker(st, self.tx, 1);
            let me = self.me(st);
            st.outbox.push(
                owner,
                Msg::Run { coord: me, hop: coord::commit_hop(self.tx, self.req.client_id, marker, writes, vec![true]) },
            );
            self.waiting = 1;
            self.phase = Phase::Commit(out);
            return false;
        }
        self.release_all(st, Some((owner, writes)));
        st.send_reply(self.req.to, out);
        true
    }
}

impl Coordinator for PatternTx {
    fn on_locked(&mut self, st: &mut ShardState, _from: u16, _entries: KeyEntries) -> bool {
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        let args = Args::Owned(&self.req.args);
        let src = (self.req.db, args.get(1).to_vec());
        let owner = shard_of(&src.1, st.nshards);
        self.phase = Phase::Source;
        self.waiting = 1;
        let me = self.me(st);
        st.outbox.push(owner, Msg::Run { coord: me, hop: fetch_source(src) });
        false
    }

    fn on_ran(&mut self, st: &mut ShardState, _from: u16, result: HopResult) -> bool {
        match &mut self.phase {
            Phase::Locking => false,
            Phase::Source => {
                let got = result.downcast::<KeyEntries>().map(|b| *b).unwrap_or_default();
                let source = got.into_iter().next().and_then(|(_, _, e)| e);
                self.gather(st, source);
                if self.waiting == 0 { self.run(st) } else { false }
            }
            Phase::Gather => {
                if let Ok(got) = result.downcast::<KeyEntries>() {
                    self.gathered.extend(*got);
                }
                self.waiting -= 1;
                if self.waiting > 0 { false } else { self.run(st) }
            }
            Phase::Commit(out) => {
                let out = std::mem::take(out);
                self.release_all(st, None);
                st.send_reply(self.req.to, out);
                true
            }
        }
    }
}

// ---- Table ------------------------------------------------------------------------------

/// SORT's keys: the source and a STORE destination (patterns are found at run time).
fn keys_sort(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut v = vec![(db, 1)];
    let mut j = 2;
    while j < a.len() {
        if a.is(j, "limit") && j + 2 < a.len() {
            j += 3;
            continue;
        }
        if (a.is(j, "by") || a.is(j, "get")) && j + 1 < a.len() {
            j += 2;
            continue;
        }
        if a.is(j, "store") && j + 1 < a.len() {
            v.push((db, j + 1));
            j += 2;
            continue;
        }
        j += 1;
    }
    Ok(v)
}

/// SORT_RO's one key (a Custom spec so that routing looks at its patterns).
fn keys_sort_ro(_a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    Ok(vec![(db, 1)])
}

use flag::{DENYOOM, READONLY, WRITE};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sort",
        arity: -2,
        flags: WRITE | DENYOOM,
        keys: KeySpec::Custom { first: 1, last: 1, step: 1, find: keys_sort },
        handler: Handler::Keyed(sort),
        group: "generic",
        summary: "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sort_ro",
        arity: -2,
        flags: READONLY,
        keys: KeySpec::Custom { first: 1, last: 1, step: 1, find: keys_sort_ro },
        handler: Handler::Keyed(sort_ro),
        group: "generic",
        summary: "Returns the sorted elements of a list, a set, or a sorted set.",
        since: "7.0.0",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_targets() {
        assert_eq!(pattern_target(b"w_*", b"a"), Some((b"w_a".to_vec(), None)));
        assert_eq!(pattern_target(b"h_*->f", b"a"), Some((b"h_a".to_vec(), Some(b"f".to_vec()))));
        // "->" with nothing after it is part of the key.
        assert_eq!(pattern_target(b"h_*->", b"a"), Some((b"h_a->".to_vec(), None)));
        assert_eq!(pattern_target(b"nosort", b"a"), None);
    }

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 1.5"), Some(1.5));
        assert_eq!(sort_score(b"1.5 "), None);
        assert_eq!(sort_score(b"nan"), None);
        assert_eq!(sort_score(b"abc"), None);
    }
}
