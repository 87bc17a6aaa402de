//! Geo commands, compared byte for byte with a real redis-server: the same seeded
//! random points and the same command sequence on both, in RESP2 and RESP3, on 1 and
//! 4 shards. Scores, GEOPOS coordinates, GEODIST distances, GEOHASH strings, search
//! results (order included) and stored results must all be identical; so must the
//! errors for bad arguments.

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, Rng, SHARD_COUNTS, Server};

fn lon(r: &mut Rng, center: f64, spread: f64) -> f64 {
    (center + (r.below(2_000_001) as f64 / 1_000_000.0 - 1.0) * spread).clamp(-180.0, 180.0)
}

fn lat(r: &mut Rng, center: f64, spread: f64) -> f64 {
    (center + (r.below(2_000_001) as f64 / 1_000_000.0 - 1.0) * spread).clamp(-85.0, 85.0)
}

/// Adds `n` points to `key` on both servers: half spread over the world, half in a
/// cluster around (13, 45) so that searches find many members. Returns the names.
fn add_points(p: &mut Pair, r: &mut Rng, key: &str, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for chunk in 0..n / 20 {
        let mut args = vec!["geoadd".to_string(), key.to_string()];
        for i in 0..20 {
            let (lo, la) = if (chunk * 20 + i) % 2 == 0 {
                (lon(r, 0.0, 180.0), lat(r, 0.0, 85.0))
            } else {
                (lon(r, 13.0, 2.0), lat(r, 45.0, 2.0))
            };
            let name = format!("m{}", chunk * 20 + i);
            args.extend([format!("{lo:.6}"), format!("{la:.6}"), name.clone()]);
            names.push(name);
        }
        p.same(&args);
    }
    names
}

fn run_random(p: &mut Pair, seed: u64, key: &str) {
    let mut r = Rng::new(seed);
    let names = add_points(p, &mut r, key, 200);
    // Every point's position and hash.
    let mut pos = vec!["geopos".to_string(), key.to_string()];
    pos.extend(names.iter().cloned());
    pos.push("nosuch".into());
    p.same(&pos);
    pos[0] = "geohash".into();
    p.same(&pos);
    p.same(&["zrange", key, "0", "-1", "withscores"]);
    let units = ["m", "km", "ft", "mi", "KM"];
    for _ in 0..60 {
        let a = &names[r.below(names.len() as u64) as usize];
        let b = &names[r.below(names.len() as u64) as usize];
        let u = units[r.below(units.len() as u64) as usize];
        p.same(&["geodist", key, a, b, u]);
    }
    let opts_pool = ["withdist", "withcoord", "withhash", "asc", "desc"];
    for i in 0..80 {
        let mut args: Vec<String> = vec!["geosearch".into(), key.into()];
        if i % 2 == 0 {
            args.extend(["frommember".into(), names[r.below(names.len() as u64) as usize].clone()]);
        } else {
            args.extend([
                "fromlonlat".into(),
                format!("{:.5}", lon(&mut r, 13.0, 3.0)),
                format!("{:.5}", lat(&mut r, 45.0, 3.0)),
            ]);
        }
        let unit = units[r.below(4) as usize];
        let scale = match unit {
            "m" => 1000.0,
            "ft" => 3280.0,
            _ => 1.0,
        };
        let size = (1 + r.below(400)) as f64 * scale;
        if i % 3 == 0 {
            args.extend(["bybox".into(), format!("{size}"), format!("{}", size / 2.0), unit.into()]);
        } else {
            args.extend(["byradius".into(), format!("{size}"), unit.into()]);
        }
        for o in opts_pool {
            if r.below(2) == 0 {
                args.push(o.into());
            }
        }
        if r.below(3) == 0 {
            args.extend(["count".into(), format!("{}", 1 + r.below(10))]);
            if r.below(3) == 0 {
                args.push("any".into());
            }
        }
        p.same(&args);
    }
    // The legacy forms, and the STORE forms read back.
    for i in 0..20 {
        let m = &names[r.below(names.len() as u64) as usize];
        let radius = format!("{}", 10 + r.below(300));
        p.same(&["georadiusbymember", key, m, &radius, "km", "withdist", "asc"]);
        p.same(&["georadiusbymember_ro", key, m, &radius, "km", "withcoord"]);
        let (lo, la) = (format!("{:.4}", lon(&mut r, 13.0, 3.0)), format!("{:.4}", lat(&mut r, 45.0, 3.0)));
        p.same(&["georadius_ro", key, &lo, &la, &radius, "km", "withhash", "desc", "count", "5"]);
        let dst = format!("{key}:dst{i}");
        let store = if i % 2 == 0 { "store" } else { "storedist" };
        p.same(&["georadius", key, &lo, &la, &radius, "km", store, &dst]);
        p.same(&["zrange", &dst, "0", "-1", "withscores"]);
        let dst2 = format!("other:{i}");
        let mut gs = vec!["geosearchstore", &dst2, key, "frommember", m, "bybox", &radius, &radius, "km"];
        if i % 2 == 1 {
            gs.push("storedist");
        }
        p.same(&gs);
        p.same(&["zrange", &dst2, "0", "-1", "withscores"]);
    }
}

fn run_errors(p: &mut Pair, key: &str) {
    p.same(&["geoadd", key, "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]);
    p.same(&["geoadd", key, "xx", "ch", "13.361389", "38.2", "Palermo", "1", "1", "new"]);
    p.same(&["geoadd", key, "nx", "ch", "13.361389", "38.3", "Palermo", "1", "1", "new"]);
    p.same(&["geoadd", key, "nx", "xx", "1", "1", "x"]);
    p.same(&["geoadd", key, "200", "100", "x"]);
    p.same(&["geoadd", key, "1", "2", "a", "3"]);
    p.same(&["geoadd", key, "abc", "1", "a"]);
    p.same(&["geoadd", "nokey", "xx", "1", "1", "a"]);
    p.same(&["set", "astring", "x"]);
    p.same(&["geoadd", "astring", "1", "1", "a"]);
    p.same(&["geosearch", "astring", "frommember", "a", "byradius", "1", "km"]);
    p.same(&["geopos", "astring", "a"]);
    p.same(&["geosearch", key, "fromlonlat", "1", "2", "count", "3"]);
    p.same(&["geosearch", key, "byradius", "1", "km", "count", "3"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "fromlonlat", "1", "2", "byradius", "1", "km"]);
    p.same(&["geosearch", key, "frommember", "nosuch", "byradius", "1", "km"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "byradius", "-1", "km"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "byradius", "x", "km"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "byradius", "1", "parsec"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "bybox", "a", "1", "km"]);
    p.same(&["geosearch", key, "frommember", "Palermo", "bybox", "1", "-1", "km"]);
    p.same(&["geosearch", key, "fromlonlat", "15", "37", "byradius", "200", "km", "any"]);
    p.same(&["geosearch", key, "fromlonlat", "15", "37", "byradius", "200", "km", "count", "0"]);
    p.same(&["geosearch", key, "fromlonlat", "15", "37", "byradius", "200", "km", "store", "x"]);
    p.same(&["geosearch", "nosuch", "fromlonlat", "15", "37", "byradius", "200", "km"]);
    p.same(&["geosearchstore", "d", key, "frommember", "Palermo", "byradius", "10", "km", "withdist"]);
    p.same(&["geosearchstore", "d", "nosuch", "frommember", "Palermo", "byradius", "10", "km"]);
    p.same(&["georadius", key, "1", "2", "3", "km", "store"]);
    p.same(&["georadius_ro", key, "15", "37", "200", "km", "store", "x"]);
    p.same(&["georadius", key, "15", "37", "200", "km", "withdist", "store", "x"]);
    p.same(&["georadiusbymember", key, "nosuch", "10", "km"]);
    p.same(&["georadiusbymember", "nosuch", "a", "bad", "km"]);
    p.same(&["geodist", key, "Palermo", "Catania", "km", "x"]);
    p.same(&["geodist", key, "Palermo", "Catania", "parsec"]);
    p.same(&["geodist", key, "Palermo", "nosuch"]);
    p.same(&["geohash", "nosuch", "a", "b"]);
    p.same(&["geopos", "nosuch", "a"]);
    // Points at the edges of the valid ranges.
    p.same(&["geoadd", key, "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "0", "0", "zero"]);
    p.same(&["geopos", key, "ne", "sw", "zero"]);
    p.same(&["geohash", key, "ne", "sw", "zero"]);
    p.same(&["geosearch", key, "fromlonlat", "0", "0", "byradius", "20000", "km", "asc", "withdist"]);
}

#[test]
fn geo_matches_redis_with_random_points() {
    let real = real_redis("geo");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2u8, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            run_random(&mut p, 0x9e0 + n as u64 * 10 + proto as u64, "pts");
            run_errors(&mut p, "sicily");
        }
    }
}

#[test]
fn geoadd_is_logged_as_zadd_and_survives_a_restart() {
    for n in SHARD_COUNTS {
        let dir = common::temp_dir("geo-aof");
        let mut s = Server::start_in(dir.clone(), n, &["--appendonly", "yes"]);
        let mut raw = s.raw();
        raw.cmd(&["geoadd", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"]);
        raw.cmd(&["geosearchstore", "near", "g", "fromlonlat", "15", "37", "byradius", "200", "km", "storedist"]);
        let before =
            (raw.cmd(&["zrange", "g", "0", "-1", "withscores"]), raw.cmd(&["zrange", "near", "0", "-1", "withscores"]));
        drop(raw);
        s.terminate();
        let s = Server::start_in(dir, n, &["--appendonly", "yes"]);
        let mut raw = s.raw();
        let after =
            (raw.cmd(&["zrange", "g", "0", "-1", "withscores"]), raw.cmd(&["zrange", "near", "0", "-1", "withscores"]));
        assert_eq!(before, after);
        assert!(matches!(&after.0, Resp::Array(v) if v.len() == 4), "{after:?}");
        assert!(matches!(&after.1, Resp::Array(v) if v.len() == 4), "{after:?}");
    }
}

/// Found by `diff_random_types`: a member whose score no GEOADD wrote (ZADD can write
/// a negative, a huge or an infinite one) decodes as Redis's C cast of the double to
/// 64 bits makes it on x86-64 (-1 is all ones, 1e300 and inf are 0), not as a
/// saturating conversion.
#[test]
fn scores_outside_the_geo_range_decode_as_redis() {
    let real = real_redis("geo-odd-scores");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            p.same(&["geoadd", "g", "0", "0", "zero", "13.361389", "38.115556", "palermo"]);
            p.same(&["zadd", "g", "-1", "neg", "1e300", "big", "inf", "pinf", "-inf", "ninf", "-0.5", "half"]);
            p.same(&["zadd", "g", "1e19", "past63"]);
            let members = ["neg", "big", "pinf", "ninf", "half", "past63"];
            let mut geopos = vec!["geopos", "g"];
            geopos.extend(members);
            p.same(&geopos);
            let mut geohash = vec!["geohash", "g"];
            geohash.extend(members);
            p.same(&geohash);
            for m in members {
                p.same(&["geodist", "g", m, "zero", "km"]);
                p.same(&["geosearch", "g", "frommember", m, "byradius", "20000", "km", "asc", "withdist"]);
            }
        }
    }
}
