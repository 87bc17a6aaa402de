//! `StrBuf`: the bytes of a string value, kept inside the value itself when short.
//!
//! A string value used to be a `Vec<u8>`: 24 bytes in the key's entry plus a heap
//! block of its own (32 bytes or more in mimalloc) for every value, however short.
//! Most cache values are short (ids, counters, small JSON or tokens), so a `StrBuf` up
//! to `INLINE` (38) bytes long lives in the entry and costs no allocation and no extra
//! cache miss on GET. `Value` stays 40 bytes: the compiler stores `Value`'s tag in the
//! niche of `StrBuf`'s own tag, so the inline buffer is as large as the entry allows.
//!
//! In-place mutation (APPEND, SETRANGE, SETBIT, PFADD ...) goes through
//! [`StrBuf::vec_mut`], which moves an inline string to the heap first: those commands
//! grow strings, and a `Vec` gives them amortised growth.
//!
//! A heap string also remembers what made it (`Origin`): Redis 7.0 reports `raw` for
//! a string built by APPEND, SETRANGE or SETBIT whatever its length, and never `int`
//! for INCRBYFLOAT's result, and OBJECT ENCODING answers as Redis does. The tag lives
//! in the heap variant's padding, so `StrBuf` stays 40 bytes.

use std::ops::Deref;

/// Longest string kept inline: 40 bytes of `Value`, minus the tag and the length.
pub const INLINE: usize = 38;

#[derive(Clone)]
pub struct StrBuf(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap { v: Vec<u8>, origin: Origin },
}

/// What last wrote a heap string, for OBJECT ENCODING.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Set whole (SET, INCR, a load): named by its bytes.
    Whole,
    /// Edited in place ([`StrBuf::raw_mut`]): `raw`.
    InPlace,
    /// A float's text ([`StrBuf::float_mut`]): `embstr` or `raw` by length, never `int`.
    Float,
    /// A copy made by COPY ([`StrBuf::unshared`]): named by its bytes like `Whole`,
    /// but an object of its own, where Redis shares the small integers' objects
    /// (OBJECT REFCOUNT 1, not INT_MAX), as its `dupStringObject` makes one.
    Unshared,
}

impl Default for StrBuf {
    fn default() -> StrBuf {
        StrBuf(Repr::Inline { len: 0, buf: [0; INLINE] })
    }
}

impl StrBuf {
    /// A copy of `b`, inline when it fits.
    #[inline]
    pub fn new(b: &[u8]) -> StrBuf {
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            StrBuf(Repr::Inline { len: b.len() as u8, buf })
        } else {
            StrBuf(Repr::Heap { v: b.to_vec(), origin: Origin::Whole })
        }
    }

    /// Makes the string a copy of `b` where it stands: an inline string that `b` fits
    /// is overwritten in place (SET's hot path builds nothing on the stack to move into
    /// the slot afterwards), otherwise the string is replaced. Returns the old string
    /// when it held a heap block, for the caller to free (lazily, maybe).
    #[inline]
    pub fn assign(&mut self, b: &[u8]) -> Option<StrBuf> {
        if let Repr::Inline { len, buf } = &mut self.0
            && b.len() <= INLINE
        {
            buf[..b.len()].copy_from_slice(b);
            *len = b.len() as u8;
            return None;
        }
        let old = std::mem::replace(self, StrBuf::new(b));
        (!old.is_inline()).then_some(old)
    }

    /// The string as a growable `Vec`, moving it to the heap if it was inline. For a
    /// value rewritten whole (INCR): it is no longer `raw`.
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        self.heap_mut(Origin::Whole)
    }

    /// As [`StrBuf::vec_mut`], for an in-place edit (APPEND, SETRANGE, SETBIT, PFADD):
    /// the string becomes `raw`, as Redis's `dbUnshareStringValue` makes it.
    pub fn raw_mut(&mut self) -> &mut Vec<u8> {
        self.heap_mut(Origin::InPlace)
    }

    /// As [`StrBuf::vec_mut`], for a float's text replacing the value (INCRBYFLOAT).
    pub fn float_mut(&mut self) -> &mut Vec<u8> {
        self.heap_mut(Origin::Float)
    }

    /// A float's text (INCRBYFLOAT on a new key).
    pub fn float(v: Vec<u8>) -> StrBuf {
        StrBuf(Repr::Heap { v, origin: Origin::Float })
    }

    /// A string built in place (SETBIT or SETRANGE on a new key, BITOP's result): `raw`.
    pub fn raw(v: Vec<u8>) -> StrBuf {
        StrBuf(Repr::Heap { v, origin: Origin::InPlace })
    }

    /// A copy of this string that OBJECT REFCOUNT reports as an object of its own
    /// (`Origin::Unshared`), for COPY of a small integer.
    pub fn unshared(&self) -> StrBuf {
        StrBuf(Repr::Heap { v: self.to_vec(), origin: Origin::Unshared })
    }

    /// What last wrote the string (an inline one was set whole).
    pub fn origin(&self) -> Origin {
        match self.0 {
            Repr::Heap { origin, .. } => origin,
            Repr::Inline { .. } => Origin::Whole,
        }
    }

    fn heap_mut(&mut self, now: Origin) -> &mut Vec<u8> {
        if let Repr::Inline { len, buf } = &self.0 {
            let mut v = Vec::with_capacity((*len as usize).max(INLINE + 1));
            v.extend_from_slice(&buf[..*len as usize]);
            self.0 = Repr::Heap { v, origin: now };
        }
        match &mut self.0 {
            Repr::Heap { v, origin } => {
                *origin = now;
                v
            }
            Repr::Inline { .. } => unreachable!("moved to the heap just above"),
        }
    }

    /// The bytes as a `Vec`, reusing the allocation of a heap string.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, buf } => buf[..len as usize].to_vec(),
            Repr::Heap { v, .. } => v,
        }
    }

    /// Bytes allocated outside the value (0 when inline), for MEMORY USAGE.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap { v, .. } => v.capacity(),
        }
    }

    /// Whether the bytes live inside the value (DEBUG OBJECT, tests).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Deref for StrBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap { v, .. } => v,
        }
    }
}

impl AsRef<[u8]> for StrBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for StrBuf {
    #[inline]
    fn from(b: &[u8]) -> StrBuf {
        StrBuf::new(b)
    }
}

impl<const N: usize> From<&[u8; N]> for StrBuf {
    #[inline]
    fn from(b: &[u8; N]) -> StrBuf {
        StrBuf::new(b)
    }
}

impl From<Vec<u8>> for StrBuf {
    /// Short strings are copied inline (the `Vec` is freed); long ones keep the `Vec`.
    #[inline]
    fn from(v: Vec<u8>) -> StrBuf {
        if v.len() <= INLINE { StrBuf::new(&v) } else { StrBuf(Repr::Heap { v, origin: Origin::Whole }) }
    }
}

impl FromIterator<u8> for StrBuf {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> StrBuf {
        StrBuf::from(iter.into_iter().collect::<Vec<u8>>())
    }
}

impl PartialEq for StrBuf {
    #[inline]
    fn eq(&self, other: &StrBuf) -> bool {
        **self == **other
    }
}

impl Eq for StrBuf {}

impl std::fmt::Debug for StrBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_up_to_38_bytes_then_heap_and_mutation_moves_to_heap() {
        for len in [0usize, 1, 32, 38, 39, 1000] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let a = StrBuf::new(&v);
            let b = StrBuf::from(v.clone());
            assert_eq!(&*a, &v[..]);
            assert_eq!(a, b);
            assert_eq!(a.is_inline(), len <= INLINE);
            assert_eq!(a.clone().into_vec(), v);
            let mut m = a.clone();
            m.vec_mut().push(7);
            assert!(!m.is_inline());
            assert_eq!(m.len(), len + 1);
            assert_eq!(&m[..len], &v[..]);
        }
        assert_eq!(std::mem::size_of::<StrBuf>(), 40);
        assert_eq!(std::mem::size_of::<crate::storage::Value>(), 40);
    }

    #[test]
    fn in_place_edits_make_a_string_raw_and_whole_rewrites_clear_it() {
        let mut s = StrBuf::new(b"abc");
        assert_eq!(s.origin(), Origin::Whole);
        s.raw_mut().push(b'd');
        assert!(s.origin() == Origin::InPlace && &*s == b"abcd");
        assert_eq!(s.clone().origin(), Origin::InPlace, "COPY keeps the encoding, as Redis's dupStringObject");
        s.vec_mut().clear();
        assert_eq!(s.origin(), Origin::Whole);
        s.float_mut().extend_from_slice(b"2");
        assert_eq!(s.origin(), Origin::Float);
        assert_eq!(StrBuf::raw(vec![0; 2]).origin(), Origin::InPlace);
        assert_eq!(StrBuf::float(b"1.5".to_vec()).origin(), Origin::Float);
        assert_eq!(StrBuf::from(vec![0; 100]).origin(), Origin::Whole);
    }
}
