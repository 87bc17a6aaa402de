//! Geohash math for the GEO commands, over sorted-set scores.
//!
//! A point is stored as a sorted-set member whose score is its 52-bit geohash: the
//! longitude and latitude, each scaled to 26 bits over the WGS84 web-mercator ranges
//! (longitude -180..180, latitude -85.05112878..85.05112878), interleaved with the
//! longitude in the odd bits. Every number here must be the one redis-server
//! computes (scores, decoded coordinates, distances, the search boxes), so the steps
//! follow Redis's `geohash.c` / `geohash_helper.c` operation by operation: the same
//! double arithmetic in the same order, and `f64::sin`/`cos`/`asin`/`sqrt`, which
//! are the C library's functions Redis calls.
//!
//! Non-goals: argument parsing and replies (`cmd::geo`); the sorted set itself
//! (`storage::zset`).

/// Redis's Earth radius, in meters (`EARTH_RADIUS_IN_METERS`).
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// The half-circumference of the mercator projection (`MERCATOR_MAX`).
const MERCATOR_MAX: f64 = 20037726.37;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate at full precision (52-bit scores).
pub const STEP_MAX: u8 = 26;

const D_R: f64 = std::f64::consts::PI / 180.0;

#[inline]
fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

#[inline]
fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// A geohash of `step` bits per coordinate; `step == 0 && bits == 0` is "no box".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    const NONE: Hash = Hash { bits: 0, step: 0 };

    fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash shifted to 52 bits: the score range's lower bound of this box.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - self.step as u32 * 2)
    }
}

#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

const LONG_RANGE: Range = Range { min: LONG_MIN, max: LONG_MAX };
const LAT_RANGE: Range = Range { min: LAT_MIN, max: LAT_MAX };

/// The longitude and latitude intervals a hash covers.
#[derive(Clone, Copy, Debug)]
struct Area {
    long: Range,
    lat: Range,
}

/// Spreads the 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bit positions of `x` into 32 bits (the inverse of `spread`).
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) as u32
}

/// Encodes over explicit ranges (GEOHASH re-encodes over latitude -90..90). None
/// outside the supported coordinates.
fn encode_in(long_r: Range, lat_r: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || long < long_r.min || long > long_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let long_off = (long - long_r.min) / (long_r.max - long_r.min) * scale;
    // C's double -> uint32_t conversion truncates, as `as u32` does.
    Some(Hash { bits: spread(lat_off as u32) | (spread(long_off as u32) << 1), step })
}

/// The geohash of a point at `step` bits per coordinate; None if out of range.
pub fn encode(long: f64, lat: f64, step: u8) -> Option<Hash> {
    encode_in(LONG_RANGE, LAT_RANGE, long, lat, step)
}

/// The sorted-set score of a point (its 52-bit hash); None if out of range.
pub fn score_of(long: f64, lat: f64) -> Option<f64> {
    encode(long, lat, STEP_MAX).map(|h| h.align52() as f64)
}

fn decode_area(h: Hash) -> Area {
    let lat_i = squash(h.bits);
    let long_i = squash(h.bits >> 1);
    let div = (1u64 << h.step) as f64;
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let long_scale = LONG_RANGE.max - LONG_RANGE.min;
    Area {
        lat: Range {
            min: LAT_RANGE.min + (lat_i as f64 / div) * lat_scale,
            max: LAT_RANGE.min + ((lat_i as f64 + 1.0) / div) * lat_scale,
        },
        long: Range {
            min: LONG_RANGE.min + (long_i as f64 / div) * long_scale,
            max: LONG_RANGE.min + ((long_i as f64 + 1.0) / div) * long_scale,
        },
    }
}

/// A score's hash bits as Redis's `(uint64_t)score` gives them on x86-64, for scores
/// no GEOADD wrote (a ZADD can): below 2^63 the double is truncated to a signed
/// integer (-1.0 is all ones), from 2^63 up 2^63 is subtracted first and the top bit
/// flipped back; a value no signed integer holds truncates to 1 << 63 (so 1e300 and
/// inf are 0). Rust's saturating `as u64` would give 0 and all ones instead.
fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let truncate = |x: f64| if (-TWO_63..TWO_63).contains(&x) { x as i64 as u64 } else { 1u64 << 63 };
    if score < TWO_63 { truncate(score) } else { truncate(score - TWO_63) ^ (1u64 << 63) }
}

/// The point a score stands for: the centre of its box, clamped to the valid ranges.
pub fn decode_score(score: f64) -> (f64, f64) {
    let a = decode_area(Hash { bits: score_bits(score), step: STEP_MAX });
    let long = ((a.long.min + a.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (long, lat)
}

/// The 11-character base32 geohash GEOHASH reports: the point re-encoded over the
/// standard latitude range -90..90, the last character always '0' (52 bits only).
pub fn standard_hash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (long, lat) = decode_score(score);
    let bits = encode_in(LONG_RANGE, Range { min: -90.0, max: 90.0 }, long, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

/// Distance along a meridian between two latitudes.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters, as Redis computes it (with its shortcut for equal
/// longitudes).
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(long2) - deg_rad(long1)) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// A search area: a circle or an axis-aligned box around a centre, in meters after
/// multiplying by `to_meters` (the unit the user gave).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub long: f64,
    pub lat: f64,
    pub to_meters: f64,
    pub kind: ShapeKind,
}

#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

impl Shape {
    /// The distance from the centre to (long, lat) if that point is inside.
    pub fn contains(&self, long: f64, lat: f64) -> Option<f64> {
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= r * self.to_meters).then_some(d)
            }
            ShapeKind::Box { width, height } => {
                if lat_distance(lat, self.lat) > height * self.to_meters / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > width * self.to_meters / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }

    /// (min long, min lat, max long, max lat) of the area to cover.
    fn bounds(&self) -> [f64; 4] {
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.to_meters * h;
        let width = self.to_meters * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let delta = if self.lat < 0.0 { long_delta_bottom } else { long_delta_top };
        [self.long - delta, self.lat - lat_delta, self.long + delta, self.lat + lat_delta]
    }
}

/// Redis's step estimate: the coarsest boxes still small enough for the radius.
fn steps_for_radius(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u8
}

/// Moves a hash one box east (`d > 0`) or west along the longitude (odd) bits.
fn move_long(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    let x = if d > 0 { x.wrapping_add(zz + 1) } else { (x | zz).wrapping_sub(zz + 1) };
    h.bits = (x & (0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2))) | y;
}

/// Moves a hash one box north (`d > 0`) or south along the latitude (even) bits.
fn move_lat(h: &mut Hash, d: i8) {
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    let y = if d > 0 { y.wrapping_add(zz + 1) } else { (y | zz).wrapping_sub(zz + 1) };
    h.bits = x | (y & (0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2)));
}

fn neighbour(h: Hash, dlong: i8, dlat: i8) -> Hash {
    let mut n = h;
    if dlong != 0 {
        move_long(&mut n, dlong);
    }
    if dlat != 0 {
        move_lat(&mut n, dlat);
    }
    n
}

/// The boxes to scan for `shape`, in Redis's order (centre, N, S, E, W, NE, NW, SE,
/// SW), with useless ones dropped and a box equal to the one before it skipped, as
/// (min, max) score ranges, max exclusive.
pub fn search_ranges(shape: &Shape) -> Vec<(f64, f64)> {
    let b = shape.bounds();
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let radius_m = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * shape.to_meters;
    let mut steps = steps_for_radius(radius_m, shape.lat);
    let at = |steps: u8| {
        let h = encode(shape.long, shape.lat, steps).unwrap_or(Hash { bits: 0, step: steps });
        (h, decode_area(h))
    };
    let (mut hash, mut area) = at(steps);
    let too_small = {
        let n = decode_area(neighbour(hash, 0, 1));
        let s = decode_area(neighbour(hash, 0, -1));
        let e = decode_area(neighbour(hash, 1, 0));
        let w = decode_area(neighbour(hash, -1, 0));
        n.lat.max < max_lat || s.lat.min > min_lat || e.long.max < max_lon || w.long.min > min_lon
    };
    if steps > 1 && too_small {
        steps -= 1;
        (hash, area) = at(steps);
    }
    // Centre, N, S, E, W, NE, NW, SE, SW.
    let dirs: [(i8, i8); 9] = [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1)];
    let mut boxes: Vec<Hash> = dirs.iter().map(|&(x, y)| neighbour(hash, x, y)).collect();
    if steps >= 2 {
        let drop = |boxes: &mut Vec<Hash>, which: &[usize]| {
            for &i in which {
                boxes[i] = Hash::NONE;
            }
        };
        if area.lat.min < min_lat {
            drop(&mut boxes, &[2, 8, 7]);
        }
        if area.lat.max > max_lat {
            drop(&mut boxes, &[1, 5, 6]);
        }
        if area.long.min < min_lon {
            drop(&mut boxes, &[4, 8, 6]);
        }
        if area.long.max > max_lon {
            drop(&mut boxes, &[3, 7, 5]);
        }
    }
    let mut ranges = Vec::with_capacity(9);
    let mut last: Option<usize> = None;
    for i in 0..boxes.len() {
        let h = boxes[i];
        if h.is_none() {
            continue;
        }
        // Huge radii make neighbours coincide: Redis skips a box equal to the last
        // one scanned (its `last_processed` starts at 0, so the centre never counts).
        if let Some(l) = last
            && l != 0
            && boxes[l] == h
        {
            continue;
        }
        let min = h.align52();
        let max = Hash { bits: h.bits + 1, step: h.step }.align52();
        ranges.push((min as f64, max as f64));
        last = Some(i);
    }
    ranges
}

/// Unit names to meters, as GEO commands accept them (case-insensitive).
pub fn unit_to_meters(unit: &[u8]) -> Option<f64> {
    let u = unit.to_ascii_lowercase();
    match &u[..] {
        b"m" => Some(1.0),
        b"km" => Some(1000.0),
        b"ft" => Some(0.3048),
        b"mi" => Some(1609.34),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_matches_redis() {
        // Values from redis-server 7.0 (GEOADD Sicily, then WITHHASH / GEOPOS / GEOHASH).
        let s = score_of(13.361389, 38.115556).unwrap();
        assert_eq!(s as u64, 3479099956230698);
        let (lo, la) = decode_score(s);
        assert_eq!(format!("{lo:.17}"), "13.36138933897018433");
        assert_eq!(format!("{la:.17}"), "38.11555639549629859");
        assert_eq!(&standard_hash(s), b"sqc8b49rny0");
        let c = score_of(15.087269, 37.502669).unwrap();
        let (clo, cla) = decode_score(c);
        assert_eq!(format!("{:.4}", distance(lo, la, clo, cla)), "166274.1516");
    }

    #[test]
    fn scores_no_geoadd_wrote_convert_as_c_casts_them() {
        assert_eq!(score_bits(3479099956230698.0), 3479099956230698);
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(score_bits(-0.5), 0);
        assert_eq!(score_bits(1e300), 0);
        assert_eq!(score_bits(f64::INFINITY), 0);
        assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_bits(1e19), 10_000_000_000_000_000_000);
    }

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX, 0x0300_0001] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(squash(spread(v) << 1 >> 1), v);
        }
    }

    #[test]
    fn out_of_range_is_refused() {
        assert!(score_of(180.1, 0.0).is_none());
        assert!(score_of(0.0, 85.1).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn neighbours_wrap_like_redis() {
        // Moving east then west comes back.
        let h = encode(13.0, 38.0, 10).unwrap();
        assert_eq!(neighbour(neighbour(h, 1, 0), -1, 0), h);
        assert_eq!(neighbour(neighbour(h, 0, 1), 0, -1), h);
    }
}
