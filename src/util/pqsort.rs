//! The partial quicksort Redis's SORT uses when LIMIT asks for part of a BY-pattern
//! sort (its `pqsort`, the Bentley–McIlroy quicksort of the BSDs that skips the
//! partitions outside the wanted window). Elements that compare equal (ALPHA by a
//! pattern compares the pattern's values only, so ties are common) come out in the
//! order this algorithm leaves them, which a stable sort does not reproduce.

use std::cmp::Ordering;

/// Sorts `v` enough that positions `lrange..=rrange` hold what a full sort would put
/// there, in the order Redis's `pqsort(v, len, size, cmp, lrange, rrange)` leaves
/// them (`rrange` may be below `lrange`: an empty window).
pub fn pqsort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, lrange: i64, rrange: i64) {
    let n = v.len();
    partition(v, 0, n, cmp, lrange, rrange);
}

/// The median of three positions, as the BSD `med3`.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    if cmp(&v[a], &v[b]) == Ordering::Less {
        if cmp(&v[b], &v[c]) == Ordering::Less {
            b
        } else if cmp(&v[a], &v[c]) == Ordering::Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Ordering::Greater {
        b
    } else if cmp(&v[a], &v[c]) == Ordering::Less {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, pairwise.
fn swap_runs<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for k in 0..n {
        v.swap(a + k, b + k);
    }
}

/// Whether the window `l..=r` misses the `len` positions from `lo` (both ends on
/// one side): that part is left unsorted.
fn window_misses(lo: usize, len: usize, l: i64, r: i64) -> bool {
    let (lo, hi) = (lo as i64, (lo + len) as i64);
    (l < lo && r < lo) || (l >= hi && r >= hi)
}

fn partition<T>(v: &mut [T], mut lo: usize, mut n: usize, cmp: &impl Fn(&T, &T) -> Ordering, l: i64, r: i64) {
    loop {
        if n < 7 {
            // Insertion sort of a short run.
            for pm in lo + 1..lo + n {
                let mut pl = pm;
                while pl > lo && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = lo + n / 2;
        if n > 7 {
            let mut pl = lo;
            let mut pn = lo + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        // The pivot goes first; equal elements gather at both ends, then move to
        // the middle.
        v.swap(lo, pm);
        let (mut pa, mut pb) = (lo + 1, lo + 1);
        let (mut pc, mut pd) = (lo + n - 1, lo + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[lo]);
                if c == Ordering::Greater {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[lo]);
                if c == Ordering::Less {
                    break;
                }
                if c == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = lo + n;
        let k = (pa - lo).min(pb - pa);
        swap_runs(v, lo, pb - k, k);
        let k = (pd - pc).min(pn - pd - 1);
        swap_runs(v, pb, pn - k, k);
        let below = pb - pa;
        if below > 1 && !window_misses(lo, below, l, r) {
            partition(v, lo, below, cmp, l, r);
        }
        let above = pd - pc;
        if above > 1 {
            lo = pn - above;
            n = above;
            if !window_misses(lo, n, l, r) {
                continue;
            }
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::XorShift;

    #[test]
    fn the_window_is_sorted_as_a_full_sort_would() {
        let mut rng = XorShift::new(7);
        for len in [0usize, 1, 5, 7, 8, 40, 41, 200] {
            for _ in 0..20 {
                let v: Vec<u32> = (0..len).map(|_| (rng.next_u64() % 50) as u32).collect();
                let mut full = v.clone();
                full.sort();
                let l = (rng.next_u64() % (len as u64 + 1)) as i64;
                let r = (l + (rng.next_u64() % 10) as i64).min(len as i64 - 1);
                let mut part = v.clone();
                pqsort(&mut part, &|a: &u32, b: &u32| a.cmp(b), l, r);
                if l <= r {
                    assert_eq!(part[l as usize..=r as usize], full[l as usize..=r as usize], "{v:?} {l}..={r}");
                }
                let mut whole = v.clone();
                pqsort(&mut whole, &|a: &u32, b: &u32| a.cmp(b), 0, len as i64 - 1);
                assert_eq!(whole, full);
            }
        }
    }
}
