//! `SmallBytes`: an owned byte string that keeps up to 22 bytes inline.
//!
//! The large hash and set encodings store every field, value and member in an index
//! map. With a `Box<[u8]>` each lookup compares against bytes behind a pointer (a cache
//! miss of its own on a big table) and each element costs an allocation. Typical fields
//! and members are short (`element:000000012345`, `field:7`, small numbers), so storing
//! them inline in the map entry saves both: the comparison reads bytes already loaded
//! with the entry, and there is no allocation. Longer strings fall back to a `Box`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest string kept inline: 24 bytes in all, like a `Vec`, minus tag and length.
pub const INLINE: usize = 22;

#[derive(Clone)]
pub struct SmallBytes(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Default for SmallBytes {
    /// The empty string (inline, no allocation).
    fn default() -> SmallBytes {
        SmallBytes(Repr::Inline { len: 0, buf: [0; INLINE] })
    }
}

impl SmallBytes {
    #[inline]
    pub fn new(b: &[u8]) -> SmallBytes {
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            SmallBytes(Repr::Inline { len: b.len() as u8, buf })
        } else {
            SmallBytes(Repr::Heap(b.into()))
        }
    }

    /// The bytes as a `Vec`, reusing the allocation of a long string.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, buf } => buf[..len as usize].to_vec(),
            Repr::Heap(b) => b.into_vec(),
        }
    }

    /// Bytes allocated outside the value itself (0 when inline).
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap(b) => b,
        }
    }
}

impl Borrow<[u8]> for SmallBytes {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl AsRef<[u8]> for SmallBytes {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<&[u8]> for SmallBytes {
    #[inline]
    fn from(b: &[u8]) -> SmallBytes {
        SmallBytes::new(b)
    }
}

impl From<Vec<u8>> for SmallBytes {
    #[inline]
    fn from(v: Vec<u8>) -> SmallBytes {
        if v.len() <= INLINE { SmallBytes::new(&v) } else { SmallBytes(Repr::Heap(v.into_boxed_slice())) }
    }
}

impl PartialEq for SmallBytes {
    #[inline]
    fn eq(&self, other: &SmallBytes) -> bool {
        **self == **other
    }
}

impl Eq for SmallBytes {}

impl Hash for SmallBytes {
    /// Hashes exactly as `[u8]` does, so maps keyed by it can be queried with `&[u8]`.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn inline_and_heap_round_trip_and_hash_like_slices() {
        let s = foldhash::fast::FixedState::default();
        for len in [0, 1, 21, 22, 23, 100] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let a = SmallBytes::new(&v);
            let b = SmallBytes::from(v.clone());
            assert_eq!(&*a, &v[..]);
            assert_eq!(a, b);
            assert_eq!(s.hash_one(&a), s.hash_one(&v[..]));
            assert_eq!(a.heap_bytes(), if len <= INLINE { 0 } else { len });
        }
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
    }
}
