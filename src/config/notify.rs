//! `notify-keyspace-events`: the class letters, their bits, and the two conversions
//! (text -> bits, bits -> the canonical text CONFIG GET shows).
//!
//! The bits are what the command layer tests on every write (`ExecCtx::notify`), so
//! `Config::notify_mask` holds them pre-digested: class bits only, and none at all
//! unless `K` or `E` says where to publish (Redis sends nothing then either).

/// `g`: generic commands (DEL, EXPIRE, RENAME ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired (lazily or by the active cycle).
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted for maxmemory.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read found no key. Not part of `A`.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module key types.
pub const MODULE: u32 = 1 << 12;
/// `n`: a key was created. Not part of `A`.
pub const NEW: u32 = 1 << 13;
/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `A`: `g$lshzxetd`.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The classes in the order Redis prints them when `A` does not cover them all.
const CLASS_LETTERS: [(char, u32); 11] = [
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
    ('n', NEW),
];

/// Parses the letters; `None` if any is not a class letter.
pub fn parse(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            _ => CLASS_LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(flags)
}

/// The canonical text: `A` when every class of `A` is set (then `n` is not shown, as
/// in Redis), else the class letters in Redis's order; then `K`, `E`, `m`.
pub fn to_text(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        out.extend(CLASS_LETTERS.iter().filter(|(_, b)| flags & b != 0).map(|(l, _)| l));
    }
    for (l, b) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS)] {
        if flags & b != 0 {
            out.push(l);
        }
    }
    out
}

/// The classes that actually publish: none unless `K` or `E` is set.
pub fn active_mask(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 { 0 } else { flags & !(KEYSPACE | KEYEVENT) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_matches_redis() {
        let canon = |s: &str| parse(s).map(to_text);
        assert_eq!(canon("KEA").as_deref(), Some("AKE"));
        assert_eq!(canon("Ex").as_deref(), Some("xE"));
        assert_eq!(canon("KEg$").as_deref(), Some("g$KE"));
        assert_eq!(canon("Kn").as_deref(), Some("nK"));
        // `n` hides behind `A`, as keyspaceEventsFlagsToString does.
        assert_eq!(canon("AKEn").as_deref(), Some("AKE"));
        assert_eq!(canon("mKl").as_deref(), Some("lKm"));
        assert_eq!(canon("").as_deref(), Some(""));
        assert_eq!(canon("g$lshzxetdE").as_deref(), Some("AE"));
        assert_eq!(canon("Q"), None);
        assert_eq!(canon("a"), None);
    }

    #[test]
    fn mask_needs_a_channel_kind() {
        assert_eq!(active_mask(parse("A").unwrap()), 0);
        assert_eq!(active_mask(parse("Kl").unwrap()), LIST);
        assert_eq!(active_mask(parse("En").unwrap()), NEW);
    }
}
