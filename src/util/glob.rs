//! Redis-compatible glob matching (KEYS, SCAN MATCH, PSUBSCRIBE, ...).
//!
//! Job: `glob_match` reproduces the observable results of Redis 7's
//! `stringmatchlen()` byte for byte: `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`
//! (reversed ranges allowed), `\` escapes, and Redis's exact handling of
//! malformed patterns (an unterminated `[` class, a trailing `\`, `[a-]`
//! treated as a range ending at `]`, ...). It also keeps Redis 7.2's guard
//! that gives up (no match) once more than 1000 `*` groups are nested.
//! Non-goals: pattern compilation/caching, Unicode awareness (bytes only;
//! `nocase` folds ASCII letters exactly like C `tolower` in the "C" locale).
//! Dependencies: none (core only).
//!
//! Redis implements `*` by recursion plus a "skip longer matches" flag; we use
//! the equivalent iterative form that remembers only the most recent `*`.
//! Once the rest of the pattern has failed at every position after the
//! latest `*`, no earlier `*` can help either (that is exactly what Redis's
//! flag encodes), so the search is O(pattern * string) with no stack growth
//! even for patterns such as `*a*a*a*...b`.

/// Redis gives up after this many nested `*` recursions (`nesting > 1000`).
const MAX_STAR_NESTING: usize = 1000;

/// Byte at `i`, or 0 past the end. Redis reads the sds NUL terminator in a
/// few places where the remaining length is 0; returning 0 reproduces those
/// branches exactly.
#[inline(always)]
fn at(p: &[u8], i: usize) -> u8 {
    if i < p.len() { p[i] } else { 0 }
}

#[inline(always)]
fn fold(c: u8, nocase: bool) -> u8 {
    if nocase { c.to_ascii_lowercase() } else { c }
}

/// Match `s` against the glob `pattern` with Redis `stringmatchlen` semantics.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let p = pattern;
    let plen = p.len();
    let slen = s.len();
    let mut pi = 0usize;
    let mut si = 0usize;
    // Latest `*` backtrack point: (pattern index after the star group,
    // string index the rest of the pattern is currently being tried at).
    let mut star: Option<(usize, usize)> = None;
    let mut nesting = 0usize;

    'outer: loop {
        // One pass of Redis's main `while (patternLen && stringLen)` loop
        // body. `ok == false` means the current attempt failed.
        let ok = 'attempt: {
            if pi >= plen || si >= slen {
                break 'attempt pi == plen && si == slen;
            }
            match p[pi] {
                b'*' => {
                    while pi + 1 < plen && p[pi + 1] == b'*' {
                        pi += 1;
                    }
                    if pi + 1 == plen {
                        // Trailing star: matches whatever is left.
                        return true;
                    }
                    nesting += 1;
                    if nesting > MAX_STAR_NESTING {
                        return false;
                    }
                    // Try the rest of the pattern starting at `si` first;
                    // later failures advance `si` one byte at a time.
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue 'outer;
                }
                b'?' => {
                    si += 1;
                }
                b'[' => {
                    pi += 1;
                    let not = at(p, pi) == b'^';
                    if not {
                        pi += 1;
                    }
                    let c = s[si];
                    let mut matched = false;
                    loop {
                        let rem = plen - pi;
                        if at(p, pi) == b'\\' && rem >= 2 {
                            pi += 1;
                            // Escaped bytes in a class compare exactly, even
                            // with nocase (as in Redis).
                            if p[pi] == c {
                                matched = true;
                            }
                        } else if at(p, pi) == b']' {
                            break;
                        } else if rem == 0 {
                            // Unterminated class: step back so the common
                            // "advance past the token" below lands on the
                            // end of the pattern.
                            pi -= 1;
                            break;
                        } else if rem >= 3 && p[pi + 1] == b'-' {
                            let (mut lo, mut hi) = (p[pi], p[pi + 2]);
                            if lo > hi {
                                std::mem::swap(&mut lo, &mut hi);
                            }
                            let (lo, hi, cc) = (fold(lo, nocase), fold(hi, nocase), fold(c, nocase));
                            pi += 2;
                            if cc >= lo && cc <= hi {
                                matched = true;
                            }
                        } else if fold(p[pi], nocase) == fold(c, nocase) {
                            matched = true;
                        }
                        pi += 1;
                    }
                    if not {
                        matched = !matched;
                    }
                    if !matched {
                        break 'attempt false;
                    }
                    si += 1;
                }
                b => {
                    let mut lit = b;
                    if b == b'\\' && plen - pi >= 2 {
                        pi += 1;
                        lit = p[pi];
                    }
                    if fold(lit, nocase) != fold(s[si], nocase) {
                        break 'attempt false;
                    }
                    si += 1;
                }
            }
            pi += 1;
            if si == slen {
                // String exhausted: only trailing stars may remain.
                while at(p, pi) == b'*' {
                    pi += 1;
                }
                break 'attempt pi == plen;
            }
            continue 'outer;
        };

        if ok {
            return true;
        }
        // Backtrack: let the latest `*` swallow one more byte. Redis only
        // tries the rest of the pattern against non-empty suffixes.
        match star {
            Some((sp, ss)) if ss + 1 < slen => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    /// Straightforward transcription of Redis's recursive algorithm, used as
    /// an oracle for the iterative implementation.
    fn reference(p: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: usize) -> bool {
        let at = |v: &[u8], i: usize| if i < v.len() { v[i] } else { 0 };
        let low = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
        if nesting > 1000 {
            return false;
        }
        let (mut pi, mut si) = (0usize, 0usize);
        while pi < p.len() && si < s.len() {
            match p[pi] {
                b'*' => {
                    while pi + 1 < p.len() && p[pi + 1] == b'*' {
                        pi += 1;
                    }
                    if pi + 1 == p.len() {
                        return true;
                    }
                    while si < s.len() {
                        if reference(&p[pi + 1..], &s[si..], nocase, skip, nesting + 1) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        si += 1;
                    }
                    *skip = true;
                    return false;
                }
                b'?' => si += 1,
                b'[' => {
                    pi += 1;
                    let not = at(p, pi) == b'^';
                    if not {
                        pi += 1;
                    }
                    let mut mat = false;
                    loop {
                        let rem = p.len() - pi;
                        if at(p, pi) == b'\\' && rem >= 2 {
                            pi += 1;
                            if p[pi] == s[si] {
                                mat = true;
                            }
                        } else if at(p, pi) == b']' {
                            break;
                        } else if rem == 0 {
                            pi -= 1;
                            break;
                        } else if rem >= 3 && p[pi + 1] == b'-' {
                            let (mut a, mut b) = (p[pi], p[pi + 2]);
                            if a > b {
                                std::mem::swap(&mut a, &mut b);
                            }
                            let c = low(s[si]);
                            pi += 2;
                            if c >= low(a) && c <= low(b) {
                                mat = true;
                            }
                        } else if low(p[pi]) == low(s[si]) {
                            mat = true;
                        }
                        pi += 1;
                    }
                    if not {
                        mat = !mat;
                    }
                    if !mat {
                        return false;
                    }
                    si += 1;
                }
                _ => {
                    if p[pi] == b'\\' && p.len() - pi >= 2 {
                        pi += 1;
                    }
                    if low(p[pi]) != low(s[si]) {
                        return false;
                    }
                    si += 1;
                }
            }
            pi += 1;
            if si == s.len() {
                while at(p, pi) == b'*' {
                    pi += 1;
                }
                break;
            }
        }
        pi == p.len() && si == s.len()
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hellO"));
        assert!(glob_match(b"hello", b"HeLLo", true));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
        assert!(m("**", "x"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(!m("a*b", "a"));
        assert!(m("*b", "ab"));
        assert!(m("*b", "b"));
        assert!(!m("*b", "ba"));
    }

    #[test]
    fn empty_string_quirk() {
        // Redis never enters its main loop for an empty string, so even "*"
        // does not match "" (KEYS/SCAN special-case "*" before matching).
        assert!(!m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo")); // reversed range
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(glob_match(b"[A-Z]", b"q", true));
        assert!(!glob_match(b"[A-Z]", b"q", false));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // `[a-]` is the (reversed) range ']'..'a' in Redis, followed by an
        // unterminated class.
        assert!(m("[a-]", "_"));
        assert!(m("[a-]", "]"));
        assert!(!m("[a-]", "b"));
        assert!(!m("[a-]", "-"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?", "a?"));
        assert!(!m("a\\?", "ab"));
        // A trailing backslash matches itself.
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn unterminated_class() {
        // "[" alone: empty class, never matches.
        assert!(!m("[", "a"));
        // "[^" : negated empty class matches any byte.
        assert!(m("[^", "a"));
        assert!(m("[ab", "a"));
        assert!(m("x[ab", "xb"));
        assert!(!m("x[ab", "xc"));
    }

    #[test]
    fn pathological_is_fast() {
        let pat = "*a".repeat(30) + "b";
        let s = "a".repeat(200);
        let t = std::time::Instant::now();
        assert!(!glob_match(pat.as_bytes(), s.as_bytes(), false));
        assert!(t.elapsed().as_secs() < 2);
        let pat2 = "*a".repeat(30);
        assert!(glob_match(pat2.as_bytes(), s.as_bytes(), false));
    }

    #[test]
    fn nesting_limit_like_redis() {
        let s = "a".repeat(1100);
        let pat = "*a".repeat(1000);
        assert!(glob_match(pat.as_bytes(), s.as_bytes(), false));
        let pat = "*a".repeat(1001);
        assert!(!glob_match(pat.as_bytes(), s.as_bytes(), false));
    }

    #[test]
    fn agrees_with_recursive_reference() {
        // Exhaustive over a small alphabet of pattern tokens and strings.
        let ptoks: &[&[u8]] = &[b"a", b"b", b"*", b"?", b"[a", b"[^a]", b"[a-b]", b"\\", b"]", b"-", b"["];
        let salpha: &[u8] = b"ab]-\\A";
        let mut patterns: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..3 {
            let mut next = Vec::new();
            for p in &patterns {
                for t in ptoks {
                    let mut q = p.clone();
                    q.extend_from_slice(t);
                    next.push(q);
                }
            }
            patterns.extend(next);
            patterns.sort();
            patterns.dedup();
        }
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=4 {
            let mut cur = vec![vec![]];
            for _ in 0..len {
                let mut next = Vec::new();
                for s in &cur {
                    for &c in salpha {
                        let mut t: Vec<u8> = s.clone();
                        t.push(c);
                        next.push(t);
                    }
                }
                cur = next;
            }
            strings.extend(cur);
        }
        for p in &patterns {
            for s in &strings {
                for nocase in [false, true] {
                    let want = reference(p, s, nocase, &mut false, 0);
                    let got = glob_match(p, s, nocase);
                    assert_eq!(
                        got,
                        want,
                        "pattern {:?} string {:?} nocase {}",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(s),
                        nocase
                    );
                }
            }
        }
        // Longer random patterns/strings (deterministic LCG).
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for _ in 0..20_000 {
            let mut p = Vec::new();
            for _ in 0..rnd(8) {
                p.extend_from_slice(ptoks[rnd(ptoks.len())]);
            }
            let mut s = Vec::new();
            for _ in 0..rnd(10) {
                s.push(salpha[rnd(salpha.len())]);
            }
            let nocase = rnd(2) == 1;
            assert_eq!(
                glob_match(&p, &s, nocase),
                reference(&p, &s, nocase, &mut false, 0),
                "pattern {:?} string {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s)
            );
        }
    }
}
