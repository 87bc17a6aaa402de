//! The encoding of a large sorted set: Redis's skiplist with spans over an arena of
//! nodes, and a member -> score dictionary (see `storage::zset`'s doc).

use super::*;

pub(super) const NIL: u32 = u32::MAX;
pub(super) const HEAD: u32 = 0;
pub(super) const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug)]
pub(super) struct Level {
    pub(super) next: u32,
    /// Number of level-0 steps this link covers (Redis's `span`); rank arithmetic.
    pub(super) span: u32,
    /// The score of `next` (meaningless when `next` is NIL). A search compares against
    /// this copy, so a step that stops at this link (the next node's score is higher)
    /// costs no access to the next node: on a large set that is a cache miss saved on
    /// every level of every search. Kept in sync wherever `next` or a score changes.
    pub(super) score: f64,
}

pub(super) const BLANK: Level = Level { next: NIL, span: 0, score: 0.0 };

/// Longest member stored inline (24 bytes in all, like `SmallBytes`).
pub(super) const INLINE_MEMBER: usize = 22;

/// A skiplist member. Short ones (most real members: ids, `user:1234`, ...) live inline
/// in the node and again in the dictionary entry: no allocation per insert, and a
/// member comparison reads bytes already loaded with the node or entry instead of
/// following a pointer. Long ones are one `Arc` allocation shared by node and dictionary.
#[derive(Clone)]
pub(super) enum Member {
    Inline { len: u8, buf: [u8; INLINE_MEMBER] },
    Shared(Arc<[u8]>),
}

impl Member {
    #[inline]
    pub(super) fn new(b: &[u8]) -> Member {
        if b.len() <= INLINE_MEMBER {
            let mut buf = [0u8; INLINE_MEMBER];
            buf[..b.len()].copy_from_slice(b);
            Member::Inline { len: b.len() as u8, buf }
        } else {
            Member::Shared(Arc::from(b))
        }
    }

    const EMPTY: Member = Member::Inline { len: 0, buf: [0; INLINE_MEMBER] };

    /// Bytes allocated outside the node or entry: the shared bytes and their counters.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Member::Inline { .. } => 0,
            Member::Shared(a) => a.len() + 2 * std::mem::size_of::<usize>(),
        }
    }
}

impl std::ops::Deref for Member {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Member::Inline { len, buf } => &buf[..*len as usize],
            Member::Shared(a) => a,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Member {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Member {
    #[inline]
    fn eq(&self, other: &Member) -> bool {
        **self == **other
    }
}

impl Eq for Member {}

impl std::hash::Hash for Member {
    /// Hashes exactly as `[u8]` does: the dictionary is queried with `&[u8]`.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Levels kept inside the node itself. With Redis's p = 1/4, 94% of nodes have at most
/// two levels, so a search step (read the next node's score, then its link on the same
/// level) stays within one node: one cache miss per step on a large set instead of two
/// (node, then a separately allocated level array).
pub(super) const LOW_LEVELS: usize = 2;

#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) member: Member,
    pub(super) score: f64,
    pub(super) prev: u32,
    /// Levels 0 and 1 (level 1 unused by one-level nodes).
    pub(super) low: [Level; LOW_LEVELS],
    /// Levels 2 and up; empty (no allocation) for most nodes.
    pub(super) upper: Box<[Level]>,
}

impl Node {
    pub(super) fn new(member: Member, score: f64, lvl: usize) -> Node {
        let mut n = Node { member, score, prev: NIL, low: [BLANK; LOW_LEVELS], upper: Box::default() };
        n.set_levels(lvl);
        n
    }

    /// Resets the node to `lvl` blank levels.
    pub(super) fn set_levels(&mut self, lvl: usize) {
        self.low = [BLANK; LOW_LEVELS];
        let up = lvl.saturating_sub(LOW_LEVELS);
        if self.upper.len() != up {
            self.upper = vec![BLANK; up].into_boxed_slice();
        } else {
            self.upper.fill(BLANK);
        }
    }

    #[inline]
    pub(super) fn lv(&self, i: usize) -> &Level {
        if i < LOW_LEVELS { &self.low[i] } else { &self.upper[i - LOW_LEVELS] }
    }

    #[inline]
    pub(super) fn lv_mut(&mut self, i: usize) -> &mut Level {
        if i < LOW_LEVELS { &mut self.low[i] } else { &mut self.upper[i - LOW_LEVELS] }
    }
}

/// The large encoding: skiplist with spans in an arena, plus the member dictionary.
#[derive(Clone, Debug)]
pub struct SkipList {
    /// Node 0 is the header (no member, `MAX_LEVEL` levels).
    pub(super) nodes: Vec<Node>,
    /// Released arena slots, reused before the arena grows.
    pub(super) free: Vec<u32>,
    pub(super) tail: u32,
    /// Levels in use (at least 1).
    pub(super) level: usize,
    pub(super) rng: u64,
    pub(super) dict: IndexMap<Member, f64, Hasher>,
}

/// The per-level predecessors of a position, as Redis's `update[]`.
pub(super) type Path = [u32; MAX_LEVEL];

impl SkipList {
    pub(super) fn new() -> SkipList {
        let head = Node::new(Member::EMPTY, 0.0, MAX_LEVEL);
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            rng: 0x2545_f491_4f6c_dd1d,
            dict: IndexMap::with_hasher(Hasher::default()),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.dict.len()
    }

    #[inline]
    pub(super) fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    pub(super) fn next(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].lv(i).next
    }

    #[inline]
    pub(super) fn span(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].lv(i).span
    }

    #[inline]
    pub(super) fn level_mut(&mut self, x: u32, i: usize) -> &mut Level {
        self.nodes[x as usize].lv_mut(i)
    }

    /// Redis's `zslRandomLevel`: each extra level with probability 1/4.
    pub(super) fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let mut x = self.rng;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.rng = x;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48;
            if r & 0xffff < 0xffff / 4 && level < MAX_LEVEL {
                level += 1;
            } else {
                return level;
            }
        }
    }

    pub(super) fn alloc(&mut self, member: Member, score: f64, lvl: usize) -> u32 {
        match self.free.pop() {
            Some(x) => {
                let n = &mut self.nodes[x as usize];
                n.member = member;
                n.score = score;
                n.prev = NIL;
                n.set_levels(lvl);
                x
            }
            None => {
                let x = self.nodes.len() as u32;
                assert!(x != NIL, "sorted set arena full");
                self.nodes.push(Node::new(member, score, lvl));
                x
            }
        }
    }

    pub(super) fn release(&mut self, x: u32) {
        let n = &mut self.nodes[x as usize];
        n.member = Member::EMPTY;
        n.upper = Box::default();
        self.free.push(x);
    }

    /// Predecessors of (score, member) on every level, with their ranks.
    pub(super) fn path(&self, score: f64, member: &[u8]) -> (Path, [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = *self.nodes[x as usize].lv(i);
                // The link's copy of the next score decides most steps; only a tie
                // reads the next node (for its member).
                if l.next == NIL || l.score > score || (l.score >= score && *self.node(l.next).member >= *member) {
                    break;
                }
                rank[i] = rank[i].wrapping_add(l.span);
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Redis's `zslInsert`: links a new node for a member not in the list.
    pub(super) fn insert_node(&mut self, member: Member, score: f64) -> u32 {
        let (mut update, mut rank) = self.path(score, &member);
        let lvl = self.random_level();
        if lvl > self.level {
            let len = self.len() as u32;
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.level_mut(HEAD, i).span = len;
            }
            self.level = lvl;
        }
        let x = self.alloc(member, score, lvl);
        for i in 0..lvl {
            let u = update[i];
            let ul = *self.nodes[u as usize].lv(i);
            let xl = self.level_mut(x, i);
            xl.next = ul.next;
            xl.score = ul.score;
            xl.span = ul.span.wrapping_sub(rank[0].wrapping_sub(rank[i]));
            let ulm = self.level_mut(u, i);
            ulm.next = x;
            ulm.score = score;
            ulm.span = rank[0].wrapping_sub(rank[i]).wrapping_add(1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let l = self.level_mut(u, i);
            l.span = l.span.wrapping_add(1);
        }
        let prev = if update[0] == HEAD { NIL } else { update[0] };
        self.nodes[x as usize].prev = prev;
        let n0 = self.next(x, 0);
        if n0 != NIL {
            self.nodes[n0 as usize].prev = x;
        } else {
            self.tail = x;
        }
        x
    }

    /// Redis's `zslDeleteNode`: unlinks `x` given its predecessors (it is not released).
    pub(super) fn unlink(&mut self, x: u32, update: &Path) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.next(u, i) == x {
                let xl = *self.nodes[x as usize].lv(i);
                let l = self.level_mut(u, i);
                l.span = l.span.wrapping_add(xl.span).wrapping_sub(1);
                l.next = xl.next;
                l.score = xl.score;
            } else {
                let l = self.level_mut(u, i);
                l.span = l.span.wrapping_sub(1);
            }
        }
        let n0 = self.next(x, 0);
        let p = self.node(x).prev;
        if n0 != NIL {
            self.nodes[n0 as usize].prev = p;
        } else {
            self.tail = p;
        }
        while self.level > 1 && self.next(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
    }

    /// Unlinks and releases `x`, and drops it from the dictionary.
    pub(super) fn delete_node(&mut self, x: u32, update: &Path) {
        self.unlink(x, update);
        let member = std::mem::replace(&mut self.nodes[x as usize].member, Member::EMPTY);
        self.dict.swap_remove(&*member);
        self.release(x);
    }

    pub(super) fn insert(&mut self, member: &[u8], score: f64) {
        let m = Member::new(member);
        self.insert_node(m.clone(), score);
        self.dict.insert(m, score);
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = *self.dict.get(member)?;
        let (update, _) = self.path(score, member);
        let x = self.next(update[0], 0);
        debug_assert!(x != NIL && &*self.node(x).member == member, "dictionary and skiplist agree");
        self.delete_node(x, &update);
        Some(score)
    }

    /// Redis's `zslUpdateScore`: moves a member to a new score, in place when its
    /// neighbours allow it.
    pub(super) fn update_score(&mut self, member: &[u8], old: f64, new: f64) {
        let (update, _) = self.path(old, member);
        let x = self.next(update[0], 0);
        debug_assert!(x != NIL && &*self.node(x).member == member);
        let p = self.node(x).prev;
        let n = self.next(x, 0);
        let prev_ok = p == NIL || cmp_entry(self.node(p).score, &self.node(p).member, new, member) == Ordering::Less;
        let next_ok = n == NIL || cmp_entry(self.node(n).score, &self.node(n).member, new, member) == Ordering::Greater;
        if prev_ok && next_ok {
            self.nodes[x as usize].score = new;
            // The links into x carry its score too.
            for (i, &u) in update.iter().enumerate().take(self.level) {
                let l = self.level_mut(u, i);
                if l.next == x {
                    l.score = new;
                }
            }
        } else {
            self.unlink(x, &update);
            let m = std::mem::replace(&mut self.nodes[x as usize].member, Member::EMPTY);
            self.release(x);
            self.insert_node(m, new);
        }
        *self.dict.get_mut(member).expect("member present") = new;
    }

    /// 1-based rank of (score, member), 0 if absent (Redis's `zslGetRank`).
    pub(super) fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = *self.nodes[x as usize].lv(i);
                if l.next == NIL || l.score > score || (l.score >= score && *self.node(l.next).member > *member) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
            if x != HEAD && &*self.node(x).member == member {
                return rank;
            }
        }
        0
    }

    /// The node at 1-based `rank`, or NIL.
    pub(super) fn by_rank(&self, rank: usize) -> u32 {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || traversed + self.span(x, i) as usize > rank {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = n;
            }
            if traversed == rank {
                return if x == HEAD { NIL } else { x };
            }
        }
        NIL
    }

    /// Walks down from the head, moving on at each level while the next node satisfies
    /// `ahead`: the last node passed (HEAD if none) and its rank.
    fn last_where(&self, ahead: impl Fn(&Node) -> bool) -> (u32, usize) {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || !ahead(self.node(n)) {
                    break;
                }
                rank += self.span(x, i) as usize;
                x = n;
            }
        }
        (x, rank)
    }

    /// First node inside `range` and its 1-based rank (Redis's `zslFirstIn*Range`).
    pub(super) fn first_in(&self, range: &impl Interval) -> Option<(u32, usize)> {
        if range.empty() || self.tail == NIL {
            return None;
        }
        let (before, rank) = self.last_where(|n| !range.gte_min(n.score, &n.member));
        let x = self.next(before, 0);
        if x == NIL {
            return None;
        }
        let n = self.node(x);
        range.lte_max(n.score, &n.member).then_some((x, rank + 1))
    }

    /// Last node inside `range` and its 1-based rank (Redis's `zslLastIn*Range`).
    pub(super) fn last_in(&self, range: &impl Interval) -> Option<(u32, usize)> {
        if range.empty() || self.tail == NIL {
            return None;
        }
        let (x, rank) = self.last_where(|n| range.lte_max(n.score, &n.member));
        if x == HEAD {
            return None;
        }
        let n = self.node(x);
        range.gte_min(n.score, &n.member).then_some((x, rank))
    }

    /// Deletes the run inside `range` (Redis's `zslDeleteRangeBy{Score,Lex}`).
    pub(super) fn remove_interval(&mut self, range: &impl Interval) -> usize {
        if range.empty() {
            return 0;
        }
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let nn = self.node(n);
                if range.gte_min(nn.score, &nn.member) {
                    break;
                }
                x = n;
            }
            update[i] = x;
        }
        let mut x = self.next(x, 0);
        let mut removed = 0;
        while x != NIL {
            let n = self.node(x);
            if !range.lte_max(n.score, &n.member) {
                break;
            }
            let next = self.next(x, 0);
            self.delete_node(x, &update);
            removed += 1;
            x = next;
        }
        removed
    }

    /// Deletes 1-based ranks `start..=end` (Redis's `zslDeleteRangeByRank`).
    pub(super) fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || traversed + self.span(x, i) as usize >= start {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = n;
            }
            update[i] = x;
        }
        traversed += 1;
        let mut x = self.next(x, 0);
        let mut removed = 0;
        while x != NIL && traversed <= end {
            let next = self.next(x, 0);
            self.delete_node(x, &update);
            removed += 1;
            traversed += 1;
            x = next;
        }
        removed
    }

    /// Walks `count` level-0 steps from `x` forward (or backward), collecting entries
    /// for which `keep` holds, stopping at the first that fails.
    pub(super) fn walk(&self, mut x: u32, rev: bool, limit: usize, keep: impl Fn(&Node) -> bool) -> Vec<(&[u8], f64)> {
        let mut out = Vec::new();
        while x != NIL && x != HEAD && out.len() < limit {
            let n = self.node(x);
            if !keep(n) {
                break;
            }
            out.push((&n.member[..], n.score));
            x = if rev { n.prev } else { n.low[0].next };
        }
        out
    }

    /// Checks every structural invariant (spans, back links, order, dictionary).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut x = self.next(HEAD, 0);
        let mut prev = NIL;
        let mut count = 0;
        let mut pos = vec![0usize; self.nodes.len()];
        while x != NIL {
            count += 1;
            pos[x as usize] = count;
            let n = self.node(x);
            assert_eq!(n.prev, prev, "back link");
            if prev != NIL {
                let p = self.node(prev);
                assert_eq!(cmp_entry(p.score, &p.member, n.score, &n.member), Ordering::Less, "order");
            }
            assert_eq!(self.dict.get(&*n.member).copied().map(f64::to_bits), Some(n.score.to_bits()), "dict");
            prev = x;
            x = n.low[0].next;
        }
        assert_eq!(self.tail, prev, "tail");
        assert_eq!(count, self.dict.len(), "length");
        for i in 0..self.level {
            let mut x = HEAD;
            let mut r = 0usize;
            while self.next(x, i) != NIL {
                let n = self.next(x, i);
                let cached = self.node(x).lv(i).score;
                assert_eq!(cached.to_bits(), self.node(n).score.to_bits(), "link score at level {i}");
                r += self.span(x, i) as usize;
                assert_eq!(pos[n as usize], r, "span at level {i}");
                x = n;
            }
        }
        for i in self.level..MAX_LEVEL {
            assert_eq!(self.next(HEAD, i), NIL, "unused header level {i}");
        }
    }
}
