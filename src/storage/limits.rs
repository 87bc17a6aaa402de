//! Encoding limits: where a hash, sorted set or set leaves its compact encoding, and
//! how large a list's nodes grow.
//!
//! Job: carry the values of Redis's encoding tunables (`hash-max-listpack-*`,
//! `zset-max-listpack-*`, `set-max-intset-entries`, `list-max-listpack-size`,
//! `list-compress-depth`) into
//! storage as plain numbers, so the value types apply them without knowing where they
//! come from. The caller (a command handler, the RDB decoder) passes the limits in
//! force at the moment a value is created or grows; the shard's copy follows CONFIG SET
//! because it lives in the shard's config snapshot (`Config::encoding`).
//!
//! Redis semantics kept here: a value is checked against the limits only when it is
//! created or written, so raising a limit never converts an existing value back, and
//! lowering one converts a compact value only on its next growing write (or on load).
//! A list takes its node fill and compression depth when created and keeps them (Redis's
//! `quicklistSetOptions` runs at creation), so a later CONFIG SET only affects new lists.
//!
//! Non-goals: parsing or validating the directives (`config::params`).
//!
//! Depends on: nothing.

/// The encoding tunables in force. `Default` is Redis 7.0's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodingLimits {
    /// `hash-max-listpack-entries`: a hash with more pairs is a hashtable.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`: a field or value longer than this (bytes) makes the
    /// hash a hashtable.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries`: a sorted set with more members is a skiplist.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`: a member longer than this makes it a skiplist.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`: an intset with more members is a hashtable.
    pub set_max_intset_entries: usize,
    /// `list-max-listpack-size` as configured (CONFIG GET shows it unclamped, as Redis
    /// does); [`ListFill::new`] clamps it.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: how many nodes at each end of a list stay uncompressed
    /// (0: none is compressed). [`ListFill`] clamps it to Redis's 16-bit maximum.
    pub list_compress_depth: u64,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits::DEFAULT
    }
}

impl EncodingLimits {
    /// Redis 7.0's defaults.
    pub const DEFAULT: EncodingLimits = EncodingLimits {
        hash_max_listpack_entries: 512,
        hash_max_listpack_value: 64,
        zset_max_listpack_entries: 128,
        zset_max_listpack_value: 64,
        set_max_intset_entries: 512,
        list_max_listpack_size: -2,
        list_compress_depth: 0,
    };

    /// The node fill (and compression depth) a list created now gets.
    #[inline]
    pub fn list_fill(&self) -> ListFill {
        ListFill::new(self.list_max_listpack_size).with_depth(self.list_compress_depth)
    }

    /// Whether a hash field/value pair of these lengths may stay in a listpack.
    #[inline]
    pub fn hash_pair_fits(&self, field: usize, value: usize) -> bool {
        field <= self.hash_max_listpack_value && value <= self.hash_max_listpack_value
    }

    /// Whether a sorted set of `len` members whose longest is `max_member` bytes is a
    /// listpack (Redis's `zsetTypeCreate` / `zsetConvertToListpackIfNeeded`).
    #[inline]
    pub fn zset_fits(&self, len: usize, max_member: usize) -> bool {
        len <= self.zset_max_listpack_entries && max_member <= self.zset_max_listpack_value
    }
}

/// Redis's byte limits per node for fills -1..-5 (4, 8, 16, 32 and 64 KB).
const FILL_BYTES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Redis's `SIZE_SAFETY_LIMIT`: with a positive (count) fill a node still stops growing
/// at this many bytes.
pub const SAFETY_LIMIT_BYTES: usize = 8192;
/// Redis's `FILL_MAX` (a positive fill is clamped to it).
const FILL_MAX: i64 = (1 << 15) - 1;
/// Redis's `COMPRESS_MAX` (a larger `list-compress-depth` is clamped to it).
const COMPRESS_MAX: u64 = (1 << 16) - 1;

/// How full a list node may get: at most `max_count` entries and `max_bytes` bytes,
/// except that an entry larger than `max_bytes` gets a node of its own. Built from
/// `list-max-listpack-size` the way Redis's `quicklistSetFill` and
/// `_quicklistNodeAllowInsert` read it: N > 0 is at most N entries (and the 8 KB safety
/// limit), 0 one entry per node, -1..-5 a byte size (values below -5 mean -5).
/// It also carries the list's compression depth (`list-compress-depth`), which a list
/// likewise keeps from its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFill {
    /// The clamped fill, as DEBUG OBJECT's `ql_listpack_max` shows it.
    pub fill: i16,
    /// Nodes at each end that are never compressed; 0 disables compression.
    pub depth: u16,
    pub max_count: u32,
    pub max_bytes: u32,
}

impl Default for ListFill {
    fn default() -> Self {
        ListFill::new(-2)
    }
}

impl ListFill {
    pub fn new(size: i64) -> ListFill {
        let fill = size.clamp(-5, FILL_MAX);
        if fill < 0 {
            let bytes = FILL_BYTES[(-fill - 1) as usize];
            ListFill { fill: fill as i16, depth: 0, max_count: u32::MAX, max_bytes: bytes as u32 }
        } else {
            // Fill 0 allows no second entry in a node, like a fill of 1.
            ListFill {
                fill: fill as i16,
                depth: 0,
                max_count: (fill as u32).max(1),
                max_bytes: SAFETY_LIMIT_BYTES as u32,
            }
        }
    }

    /// This fill with compression depth `depth` (clamped as Redis's
    /// `quicklistSetCompressDepth` does).
    pub fn with_depth(self, depth: u64) -> ListFill {
        ListFill { depth: depth.min(COMPRESS_MAX) as u16, ..self }
    }

    /// Whether a node of `count` entries and `bytes` bytes takes one more of `sz` bytes.
    #[inline]
    pub fn admits(&self, count: u32, bytes: usize, sz: usize) -> bool {
        count < self.max_count && bytes + sz <= self.max_bytes as usize
    }

    /// Whether a node of `count` entries and `bytes` bytes is over the limits and can
    /// be split (a single entry never is).
    #[inline]
    pub fn is_over(&self, count: u32, bytes: usize) -> bool {
        count > 1 && (count > self.max_count || bytes > self.max_bytes as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_follows_redis_rules() {
        assert_eq!(ListFill::new(-2), ListFill { fill: -2, depth: 0, max_count: u32::MAX, max_bytes: 8192 });
        assert_eq!(ListFill::new(-2).with_depth(3).depth, 3);
        assert_eq!(ListFill::new(-2).with_depth(1 << 40).depth, u16::MAX);
        assert_eq!(ListFill::new(-1).max_bytes, 4096);
        assert_eq!(ListFill::new(-5).max_bytes, 65536);
        // Below -5 is -5, above FILL_MAX is FILL_MAX, 0 behaves as 1.
        assert_eq!(ListFill::new(-100), ListFill::new(-5));
        assert_eq!(ListFill::new(i32::MAX as i64).fill, FILL_MAX as i16);
        assert_eq!(ListFill::new(0).max_count, 1);
        let three = ListFill::new(3);
        assert!(three.admits(2, 10, 10));
        assert!(!three.admits(3, 10, 10));
        // The safety limit caps a count fill by bytes too.
        assert!(!three.admits(1, 8000, 500));
        assert!(three.is_over(4, 10));
        assert!(!three.is_over(1, 100_000));
        assert!(ListFill::new(-1).is_over(2, 4097));
        assert!(!ListFill::new(-1).admits(0, 4000, 97));
    }

    #[test]
    fn pair_and_zset_checks() {
        let mut l = EncodingLimits::default();
        assert!(l.hash_pair_fits(64, 64));
        assert!(!l.hash_pair_fits(65, 1));
        assert!(l.zset_fits(128, 64));
        assert!(!l.zset_fits(129, 1));
        l.zset_max_listpack_entries = 0;
        assert!(!l.zset_fits(1, 1));
        assert!(l.zset_fits(0, 0));
    }
}
