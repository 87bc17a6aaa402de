//! Geo commands over sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE and the legacy GEORADIUS[_RO] / GEORADIUSBYMEMBER[_RO].
//!
//! A point is a sorted-set member scored by its 52-bit geohash (`storage::geo` does
//! the math). Argument parsing, error texts, the order in which errors are found,
//! result ordering and reply formatting follow Redis 7.0's `geo.c`: distances with
//! four decimals (a bulk string in both protocols), coordinates with up to 17
//! decimals (a bulk string in RESP2, a double in RESP3), hashes as integers.
//!
//! GEOADD propagates as the ZADD it amounts to, as in Redis. The STORE forms name
//! their destination as a key (`KeySpec`), so a destination on another shard goes
//! through the ordinary cross-shard transaction (`cmd::coord`).

use super::ctx::ExecCtx;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::OwnedArgs;
use crate::storage::geo::{self, Shape, ShapeKind};
use crate::storage::zset::{AddFlags, AddOutcome, ScoreRange, ZSetValue};
use crate::storage::{Db, Value};

/// The sorted set at `key` for reading (counting a hit or a miss), WRONGTYPE otherwise.
fn read<'d>(c: &'d mut ExecCtx, key: &[u8]) -> Result<Option<&'d ZSetValue>, CmdError> {
    let now = c.now_ms;
    let (db, _, stats) = c.parts();
    match db.get_touch(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            match &e.value {
                Value::ZSet(z) => Ok(Some(z)),
                _ => Err(CmdError::WrongType),
            }
        }
        None => {
            stats.miss(key);
            Ok(None)
        }
    }
}

/// Longitude and latitude at `i`, `i+1`, checked against the mercator limits.
fn lonlat(a: &Args, i: usize) -> Result<(f64, f64), CmdError> {
    let long = a.f64(i)?;
    let lat = a.f64(i + 1)?;
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&long) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&lat) {
        return Err(CmdError::msg(format!("ERR invalid longitude,latitude pair {long:.6},{lat:.6}")));
    }
    Ok((long, lat))
}

fn unit(a: &Args, i: usize) -> Result<f64, CmdError> {
    geo::unit_to_meters(a.get(i))
        .ok_or_else(|| CmdError::msg("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// A float argument with a custom error (Redis's `getDoubleFromObjectOrReply` msg).
fn float_or(a: &Args, i: usize, msg: &str) -> Result<f64, CmdError> {
    a.f64(i).map_err(|_| CmdError::msg(format!("ERR {msg}")))
}

/// `radius unit`: the radius and the unit's meters.
fn radius(a: &Args, i: usize) -> Result<(f64, f64), CmdError> {
    let r = float_or(a, i, "need numeric radius")?;
    if r < 0.0 {
        return Err(CmdError::msg("ERR radius cannot be negative"));
    }
    Ok((r, unit(a, i + 1)?))
}

/// Redis's "human" long double: `%.17Lf` without trailing zeros (exact for doubles).
pub fn human(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(t);
    }
    if s == "-0" { "0".into() } else { s }
}

/// A coordinate: a bulk string in RESP2, a double in RESP3, same digits.
fn reply_coord(out: &mut ReplyWriter, v: f64) {
    let s = human(v);
    if out.proto == Proto::Resp3 {
        out.raw(b",");
        out.raw(s.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

/// A distance: four decimals, always a bulk string, as Redis's `fixedpoint_d2string`
/// writes it: the value times 10^4 rounded half to even (C's `llrint`), then its
/// digits. `{:.4}` rounds the exact binary value instead, and now and then its last
/// digit differs (7187256.4405 against Redis's 7187256.4404).
fn reply_dist(out: &mut ReplyWriter, d: f64) {
    // `as` saturates (and makes NaN 0); a distance on Earth is far from both.
    let scaled = (d * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let m = scaled.unsigned_abs();
    out.bulk(format!("{sign}{}.{:04}", m / 10000, m % 10000).as_bytes());
}

// ---- GEOADD -------------------------------------------------------------------------

fn geoadd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut idx = 2;
    while idx < a.len() {
        if a.is(idx, "nx") {
            nx = true;
        } else if a.is(idx, "xx") {
            xx = true;
        } else if a.is(idx, "ch") {
            ch = true;
        } else {
            break;
        }
        idx += 1;
    }
    if !(a.len() - idx).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    let mut points = Vec::with_capacity((a.len() - idx) / 3);
    for i in (idx..a.len()).step_by(3) {
        let (long, lat) = lonlat(a, i)?;
        let bits = geo::encode(long, lat, geo::STEP_MAX).map_or(0, |h| h.align52());
        points.push((bits, a.get(i + 2)));
    }
    let key = a.get(1);
    let now = c.now_ms;
    let cfg = c.config;
    let lim = &cfg.encoding;
    let db = c.db();
    let exists = match db.get_mut(key, now) {
        Some(e) => match &e.value {
            Value::ZSet(_) => true,
            _ => return Err(CmdError::WrongType),
        },
        None => false,
    };
    if !exists && xx {
        c.out.int(0);
        return Ok(());
    }
    if !exists {
        // As ZADD, which GEOADD runs in Redis: the first member decides.
        let first = points.first().map_or(0, |p| p.1.len());
        db.insert_new(key, Value::ZSet(ZSetValue::with_hint(1, first, lim)));
    }
    let Some(Value::ZSet(z)) = db.get_mut(key, now).map(|e| &mut e.value) else { unreachable!("just made") };
    let f = AddFlags { nx, xx, ..AddFlags::default() };
    let (mut added, mut changed) = (0i64, 0i64);
    for &(bits, member) in &points {
        match z.add(member, bits as f64, f, lim) {
            Ok(AddOutcome::Added(_)) => added += 1,
            Ok(AddOutcome::Updated(_)) => changed += 1,
            _ => {}
        }
    }
    if z.is_empty() {
        db.remove(key, now);
    }
    if added + changed > 0 {
        c.notify(notify::ZSET, "zadd", key);
        c.dirty += (added + changed) as u64;
        // Propagated as the ZADD it is, with the integer scores (Redis rewrites argv).
        let mut zadd: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
        zadd.extend((1..idx).map(|i| a.get(i).to_vec()));
        for &(bits, member) in &points {
            zadd.push(bits.to_string().into_bytes());
            zadd.push(member.to_vec());
        }
        c.prop.push_owned(OwnedArgs::from_slices(zadd.iter().map(|v| &v[..])));
    }
    c.out.int(if ch { added + changed } else { added });
    Ok(())
}

// ---- GEODIST, GEOHASH, GEOPOS -----------------------------------------------------------

fn geodist(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let to_m = match a.len() {
        5 => unit(a, 4)?,
        n if n > 5 => return Err(CmdError::Syntax),
        _ => 1.0,
    };
    let z = read(c, a.get(1))?;
    let pts = z.map(|z| (z.score(a.get(2)), z.score(a.get(3))));
    match pts {
        Some((Some(s1), Some(s2))) => {
            let (lo1, la1) = geo::decode_score(s1);
            let (lo2, la2) = geo::decode_score(s2);
            reply_dist(&mut c.out, geo::distance(lo1, la1, lo2, la2) / to_m);
        }
        _ => c.out.null(),
    }
    Ok(())
}

fn geohash(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let z = read(c, a.get(1))?;
    let scores: Vec<Option<f64>> = (2..a.len()).map(|i| z.and_then(|z| z.score(a.get(i)))).collect();
    c.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => c.out.bulk(&geo::standard_hash(s)),
            None => c.out.null(),
        }
    }
    Ok(())
}

fn geopos(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let z = read(c, a.get(1))?;
    let scores: Vec<Option<f64>> = (2..a.len()).map(|i| z.and_then(|z| z.score(a.get(i)))).collect();
    c.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => {
                let (long, lat) = geo::decode_score(s);
                c.out.array(2);
                reply_coord(&mut c.out, long);
                reply_coord(&mut c.out, lat);
            }
            None => c.out.null_array(),
        }
    }
    Ok(())
}

// ---- Searches ---------------------------------------------------------------------------

/// Which search command is running (Redis's `georadiusGeneric` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key lon lat radius unit ...
    RadiusCoords { store: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    RadiusMember { store: bool },
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst key ...
    Search { store: bool },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One match: member (borrowed from the sorted set), distance from the centre
/// (meters), score, coordinates.
struct Point<'z> {
    member: &'z [u8],
    dist: f64,
    score: f64,
    long: f64,
    lat: f64,
}

fn from_member(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), CmdError> {
    z.score(member).map(geo::decode_score).ok_or_else(|| CmdError::msg("ERR could not decode requested zset member"))
}

/// Every member inside `shape`, scanning Redis's boxes in Redis's order; with
/// `limit > 0` (ANY), stops once that many were found.
fn collect<'z>(z: &'z ZSetValue, shape: &Shape, limit: usize) -> Vec<Point<'z>> {
    let mut found = Vec::new();
    for (min, max) in geo::search_ranges(shape) {
        if limit > 0 && found.len() >= limit {
            break;
        }
        let range = ScoreRange { min, max, minex: false, maxex: true };
        for (member, score) in z.range_by_score(&range, false, 0, usize::MAX) {
            let (long, lat) = geo::decode_score(score);
            if let Some(dist) = shape.contains(long, lat) {
                found.push(Point { member, dist, score, long, lat });
                if limit > 0 && found.len() >= limit {
                    break;
                }
            }
        }
    }
    found
}

/// A parsed search and, when the source exists, its matches (sorted and cut to COUNT).
struct Query<'z> {
    store: Option<Vec<u8>>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    to_meters: f64,
    is_search: bool,
    found: Option<Vec<Point<'z>>>,
}

/// Parses a search's arguments in Redis's order (so the same bad request gets the
/// same error) and runs it over `z`, the source (None if missing).
fn plan<'z>(z: Option<&'z ZSetValue>, a: &Args, form: Form) -> Result<Query<'z>, CmdError> {
    let src_idx = if matches!(form, Form::Search { store: true }) { 2 } else { 1 };
    let mut store: Option<Vec<u8>> = None;
    let mut storedist = false;
    let mut center: Option<(f64, f64)> = None;
    let mut kind: Option<(ShapeKind, f64)> = None;
    let base = match form {
        Form::RadiusCoords { .. } => {
            center = Some(lonlat(a, 2)?);
            let (r, u) = radius(a, 4)?;
            kind = Some((ShapeKind::Radius(r), u));
            6
        }
        Form::RadiusMember { .. } => {
            // Without a source Redis parses the rest only to pick the reply's shape.
            if let Some(z) = z {
                center = Some(from_member(z, a.get(2))?);
                let (r, u) = radius(a, 3)?;
                kind = Some((ShapeKind::Radius(r), u));
            }
            5
        }
        Form::Search { store: s } => {
            if s {
                store = Some(a.get(1).to_vec());
            }
            src_idx + 1
        }
    };
    let is_search = matches!(form, Form::Search { .. });
    let may_store = matches!(form, Form::RadiusCoords { store: true } | Form::RadiusMember { store: true });
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let remaining = a.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let at = base + i;
        if a.is(at, "withdist") {
            withdist = true;
        } else if a.is(at, "withhash") {
            withhash = true;
        } else if a.is(at, "withcoord") {
            withcoord = true;
        } else if a.is(at, "any") {
            any = true;
        } else if a.is(at, "asc") {
            sort = Sort::Asc;
        } else if a.is(at, "desc") {
            sort = Sort::Desc;
        } else if a.is(at, "count") && i + 1 < remaining {
            count = a.i64(at + 1)?;
            if count <= 0 {
                return Err(CmdError::msg("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (a.is(at, "store") || a.is(at, "storedist")) && i + 1 < remaining && may_store {
            store = Some(a.get(at + 1).to_vec());
            storedist = a.is(at, "storedist");
            i += 1;
        } else if a.is(at, "storedist") && matches!(form, Form::Search { store: true }) {
            storedist = true;
        } else if a.is(at, "frommember") && i + 1 < remaining && is_search && !fromloc {
            if let Some(z) = z {
                center = Some(from_member(z, a.get(at + 1))?);
            }
            frommember = true;
            i += 1;
        } else if a.is(at, "fromlonlat") && i + 2 < remaining && is_search && !frommember {
            center = Some(lonlat(a, at + 1)?);
            fromloc = true;
            i += 2;
        } else if a.is(at, "byradius") && i + 2 < remaining && is_search && !bybox {
            let (r, u) = radius(a, at + 1)?;
            kind = Some((ShapeKind::Radius(r), u));
            byradius = true;
            i += 2;
        } else if a.is(at, "bybox") && i + 3 < remaining && is_search && !byradius {
            let width = float_or(a, at + 1, "need numeric width")?;
            let height = float_or(a, at + 2, "need numeric height")?;
            if width < 0.0 || height < 0.0 {
                return Err(CmdError::msg("ERR height or width cannot be negative"));
            }
            kind = Some((ShapeKind::Box { width, height }, unit(a, at + 3)?));
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if is_search { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(CmdError::msg(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(a.get(0)).into_owned();
    if is_search && !(frommember || fromloc) {
        return Err(CmdError::msg(format!("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")));
    }
    if is_search && !(byradius || bybox) {
        return Err(CmdError::msg(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if any && count == 0 {
        return Err(CmdError::msg("ERR the ANY argument requires COUNT argument"));
    }
    let mut q = Query { store, storedist, withdist, withhash, withcoord, to_meters: 1.0, is_search, found: None };
    let (Some(z), Some((long, lat)), Some((kind, to_meters))) = (z, center, kind) else { return Ok(q) };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape { long, lat, to_meters, kind };
    let mut found = collect(z, &shape, if any { count as usize } else { 0 });
    // A stable sort: Redis's qsort (glibc's merge sort) keeps equal distances in scan order.
    match sort {
        Sort::Asc => found.sort_by(|x, y| x.dist.total_cmp(&y.dist)),
        Sort::Desc => found.sort_by(|x, y| y.dist.total_cmp(&x.dist)),
        Sort::None => {}
    }
    if count > 0 {
        found.truncate(count as usize);
    }
    q.to_meters = to_meters;
    q.found = Some(found);
    Ok(q)
}

fn search(c: &mut ExecCtx, a: &Args, form: Form) -> Result<(), CmdError> {
    let src = if matches!(form, Form::Search { store: true }) { a.get(2) } else { a.get(1) };
    let now = c.now_ms;
    // The reply is written while the matches still borrow the sorted set (no copies).
    let (db, out, stats) = c.parts();
    // Redis reads the source first: WRONGTYPE wins over every argument error.
    let z = match db.get_touch(src, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            match &e.value {
                Value::ZSet(z) => Some(z),
                _ => return Err(CmdError::WrongType),
            }
        }
        None => {
            stats.miss(src);
            None
        }
    };
    let q = plan(z, a, form)?;
    let to_meters = q.to_meters;
    let event = if q.is_search { "geosearchstore" } else { "georadiusstore" };
    let (dst, pairs) = match (q.store, q.found) {
        (None, None) => {
            out.array(0);
            return Ok(());
        }
        (None, Some(found)) => {
            let opts = q.withdist as usize + q.withhash as usize + q.withcoord as usize;
            out.array(found.len());
            for p in &found {
                if opts > 0 {
                    out.array(opts + 1);
                }
                out.bulk(p.member);
                if q.withdist {
                    reply_dist(out, p.dist / to_meters);
                }
                if q.withhash {
                    out.int(p.score as i64);
                }
                if q.withcoord {
                    out.array(2);
                    reply_coord(out, p.long);
                    reply_coord(out, p.lat);
                }
            }
            return Ok(());
        }
        (Some(dst), found) => {
            let storedist = q.storedist;
            let pairs: Vec<(Vec<u8>, f64)> = found
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.member.to_vec(), if storedist { p.dist / to_meters } else { p.score }))
                .collect();
            (dst, pairs)
        }
    };
    let n = pairs.len();
    if n == 0 {
        delete_dst(c, &dst);
    } else {
        let z = ZSetValue::from_pairs(pairs, &c.config.encoding);
        c.db().set(&dst, Value::ZSet(z), 0);
        c.notify(notify::ZSET, event, &dst);
        c.dirty += n as u64;
    }
    c.out.int(n as i64);
    Ok(())
}

/// A STORE with nothing to store deletes the destination.
fn delete_dst(c: &mut ExecCtx, dst: &[u8]) {
    let now = c.now_ms;
    let db: &mut Db = c.db();
    if db.remove(dst, now).is_some() {
        c.notify(notify::GENERIC, "del", dst);
        c.dirty += 1;
    }
}

fn georadius(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::RadiusCoords { store: true })
}

fn georadius_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::RadiusCoords { store: false })
}

fn georadiusbymember(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::RadiusMember { store: true })
}

fn georadiusbymember_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::RadiusMember { store: false })
}

fn geosearch(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::Search { store: false })
}

fn geosearchstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    search(c, a, Form::Search { store: true })
}

// ---- Table ------------------------------------------------------------------------------

/// GEORADIUS keys: the source, and a STORE/STOREDIST destination after the fixed
/// arguments (`base` = 6 for GEORADIUS, 5 for GEORADIUSBYMEMBER).
fn radius_keys(a: &Args, db: u16, base: usize) -> Vec<(u16, usize)> {
    let mut v = vec![(db, 1)];
    let mut i = base;
    while i < a.len() {
        if (a.is(i, "store") || a.is(i, "storedist")) && i + 1 < a.len() {
            v.push((db, i + 1));
            i += 1;
        }
        i += 1;
    }
    v
}

fn keys_georadius(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    Ok(radius_keys(a, db, 6))
}

fn keys_georadiusbymember(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    Ok(radius_keys(a, db, 5))
}

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $h:ident, $summary:literal, $since:literal) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            handler: Handler::Keyed($h),
            group: "geo",
            summary: $summary,
            since: $since,
        }
    };
}

use flag::{DENYOOM, READONLY, WRITE};

pub static COMMANDS: &[CommandSpec] = &[
    spec!(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        ONE_KEY,
        geoadd,
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        "3.2.0"
    ),
    spec!(
        "geodist",
        -4,
        READONLY,
        ONE_KEY,
        geodist,
        "Returns the distance between two members of a geospatial index.",
        "3.2.0"
    ),
    spec!(
        "geohash",
        -2,
        READONLY,
        ONE_KEY,
        geohash,
        "Returns members from a geospatial index as geohash strings.",
        "3.2.0"
    ),
    spec!(
        "geopos",
        -2,
        READONLY,
        ONE_KEY,
        geopos,
        "Returns the longitude and latitude of members from a geospatial index.",
        "3.2.0"
    ),
    spec!(
        "georadius",
        -6,
        WRITE | DENYOOM,
        KeySpec::Custom { first: 1, last: 1, step: 1, find: keys_georadius },
        georadius,
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        "3.2.0"
    ),
    spec!(
        "georadius_ro",
        -6,
        READONLY,
        ONE_KEY,
        georadius_ro,
        "Returns members from a geospatial index that are within a distance from a coordinate.",
        "3.2.10"
    ),
    spec!(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        KeySpec::Custom { first: 1, last: 1, step: 1, find: keys_georadiusbymember },
        georadiusbymember,
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        "3.2.0"
    ),
    spec!(
        "georadiusbymember_ro",
        -5,
        READONLY,
        ONE_KEY,
        georadiusbymember_ro,
        "Returns members from a geospatial index that are within a distance from a member.",
        "3.2.10"
    ),
    spec!(
        "geosearch",
        -7,
        READONLY,
        ONE_KEY,
        geosearch,
        "Queries a geospatial index for members inside an area of a box or a circle.",
        "6.2.0"
    ),
    spec!(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        KeySpec::Range { first: 1, last: 2, step: 1 },
        geosearchstore,
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        "6.2.0"
    ),
];
