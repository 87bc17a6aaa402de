//! The cluster's view as this node keeps it: the known nodes, which node owns each of
//! the 16384 slots, the slots being migrated or imported, and the epochs. Pure data:
//! rendering (`CLUSTER NODES`, `nodes.conf`) and parsing `nodes.conf` live here too,
//! so they can be tested without a server.

use crate::util::hash::NUM_SLOTS;
use std::fmt::Write as _;

/// No node owns the slot.
pub const UNASSIGNED: u16 = u16::MAX;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// 40 lowercase hex characters.
    pub id: String,
    pub ip: String,
    pub port: u16,
    /// The bus port Redis would listen on (port + 10000); shown, never opened.
    pub cport: u16,
    /// The node's config epoch: the version of its slot claims (CLUSTER NODES's 7th
    /// field). Ours moves with SET-CONFIG-EPOCH, BUMPEPOCH and a finished import;
    /// a peer's is what MEET last read from it.
    pub config_epoch: u64,
}

#[derive(Clone, Debug)]
pub struct ClusterState {
    /// `nodes[0]` is always this node.
    pub nodes: Vec<Node>,
    /// Owner of each slot as an index into `nodes`, or `UNASSIGNED`.
    pub slots: Vec<u16>,
    /// Slot -> node index we are migrating it to / importing it from.
    pub migrating: std::collections::BTreeMap<u16, u16>,
    pub importing: std::collections::BTreeMap<u16, u16>,
    pub current_epoch: u64,
}

/// A fresh node id: 40 hex characters from the OS's random source.
pub fn random_node_id() -> String {
    let mut bytes = [0u8; 20];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes)).is_err() {
        // Extremely unlikely; fall back on time and pid, still unique enough on one host.
        let seed = crate::shard::Shared::now_unix_ms() ^ ((std::process::id() as u64) << 32);
        let mut rng = crate::util::rng::XorShift::new(seed | 1);
        for b in bytes.iter_mut() {
            *b = rng.next_u64() as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn valid_node_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ClusterState {
    pub fn new(myself: Node) -> ClusterState {
        ClusterState {
            nodes: vec![myself],
            slots: vec![UNASSIGNED; NUM_SLOTS],
            migrating: Default::default(),
            importing: Default::default(),
            current_epoch: 0,
        }
    }

    pub fn myself(&self) -> &Node {
        &self.nodes[0]
    }

    pub fn node_index(&self, id: &str) -> Option<u16> {
        self.nodes.iter().position(|n| n.id.eq_ignore_ascii_case(id)).map(|i| i as u16)
    }

    /// Every slot has an owner (`cluster_state:ok` under full coverage).
    pub fn all_assigned(&self) -> bool {
        self.slots.iter().all(|&s| s != UNASSIGNED)
    }

    pub fn assigned_count(&self) -> usize {
        self.slots.iter().filter(|&&s| s != UNASSIGNED).count()
    }

    /// The contiguous slot ranges node `idx` owns, ascending.
    pub fn ranges_of(&self, idx: u16) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for (slot, &owner) in self.slots.iter().enumerate() {
            if owner != idx {
                continue;
            }
            let slot = slot as u16;
            match out.last_mut() {
                Some((_, end)) if *end + 1 == slot => *end = slot,
                _ => out.push((slot, slot)),
            }
        }
        out
    }

    /// Number of nodes owning at least one slot (`cluster_size`).
    pub fn size(&self) -> usize {
        (0..self.nodes.len() as u16).filter(|&i| self.slots.contains(&i)).count()
    }

    /// Adds a node or updates its address; returns its index.
    pub fn upsert(&mut self, node: Node) -> u16 {
        match self.node_index(&node.id) {
            Some(i) => {
                if i != 0 {
                    self.nodes[i as usize] = node;
                }
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u16
            }
        }
    }

    /// Removes node `idx` (never myself): its slots become unassigned and later
    /// indexes shift down.
    pub fn remove(&mut self, idx: u16) {
        assert!(idx != 0, "myself cannot be removed");
        self.nodes.remove(idx as usize);
        let fix = |v: u16| {
            if v == idx {
                UNASSIGNED
            } else if v != UNASSIGNED && v > idx {
                v - 1
            } else {
                v
            }
        };
        for s in self.slots.iter_mut() {
            *s = fix(*s);
        }
        for m in [&mut self.migrating, &mut self.importing] {
            m.retain(|_, v| *v != idx);
            for v in m.values_mut() {
                *v = fix(*v);
            }
        }
    }

    /// One line of CLUSTER NODES / nodes.conf for node `idx` (no line ending).
    pub fn node_line(&self, idx: u16) -> String {
        let n = &self.nodes[idx as usize];
        let flags = if idx == 0 { "myself,master" } else { "master" };
        let mut line = format!("{} {}:{}@{} {} - 0 0 {} connected", n.id, n.ip, n.port, n.cport, flags, n.config_epoch);
        for (a, b) in self.ranges_of(idx) {
            if a == b {
                let _ = write!(line, " {a}");
            } else {
                let _ = write!(line, " {a}-{b}");
            }
        }
        if idx == 0 {
            for (slot, to) in &self.migrating {
                let _ = write!(line, " [{slot}->-{}]", self.nodes[*to as usize].id);
            }
            for (slot, from) in &self.importing {
                let _ = write!(line, " [{slot}-<-{}]", self.nodes[*from as usize].id);
            }
        }
        line
    }

    /// CLUSTER NODES: one line per node, myself first.
    pub fn nodes_text(&self) -> String {
        let mut s = String::new();
        for i in 0..self.nodes.len() as u16 {
            s.push_str(&self.node_line(i));
            s.push('\n');
        }
        s
    }

    /// The nodes.conf file: CLUSTER NODES plus the epochs line.
    pub fn config_text(&self) -> String {
        let mut s = self.nodes_text();
        let _ = writeln!(s, "vars currentEpoch {} lastVoteEpoch 0", self.current_epoch);
        s
    }

    /// The highest epoch this node knows of: `currentEpoch` or any node's config epoch
    /// (Redis's `clusterGetMaxEpoch`).
    pub fn max_epoch(&self) -> u64 {
        self.nodes.iter().map(|n| n.config_epoch).max().unwrap_or(0).max(self.current_epoch)
    }

    /// Gives this node a new config epoch without a vote, unless it already holds the
    /// highest one (and it is not 0): Redis's `clusterBumpConfigEpochWithoutConsensus`,
    /// used by CLUSTER BUMPEPOCH and when an import finishes. True if it moved.
    pub fn bump_epoch(&mut self) -> bool {
        let mine = self.nodes[0].config_epoch;
        if mine != 0 && mine == self.max_epoch() {
            return false;
        }
        self.current_epoch += 1;
        self.nodes[0].config_epoch = self.current_epoch;
        true
    }

    /// Parses a nodes.conf written by us (or by Redis 7.0). The line flagged `myself`
    /// becomes `nodes[0]`; replicas and failure flags are ignored (there is no
    /// failover here).
    pub fn parse_config(text: &str) -> Result<ClusterState, String> {
        let mut me: Option<Node> = None;
        let mut others: Vec<(Node, Vec<&str>)> = Vec::new();
        let mut my_slots: Vec<&str> = Vec::new();
        let mut epoch = 0;
        for (n, line) in text.lines().enumerate() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.is_empty() {
                continue;
            }
            if f[0] == "vars" {
                for kv in f[1..].chunks(2) {
                    if kv.len() == 2 && kv[0] == "currentEpoch" {
                        epoch = kv[1].parse().map_err(|_| format!("line {}: bad currentEpoch", n + 1))?;
                    }
                }
                continue;
            }
            if f.len() < 8 || !valid_node_id(f[0]) {
                return Err(format!("line {}: not a node line", n + 1));
            }
            let mut node = parse_addr(f[0], f[1]).ok_or_else(|| format!("line {}: bad address '{}'", n + 1, f[1]))?;
            node.config_epoch = f[6].parse().map_err(|_| format!("line {}: bad config epoch '{}'", n + 1, f[6]))?;
            if f[2].split(',').any(|x| x == "myself") {
                me = Some(node);
                my_slots = f[8..].to_vec();
            } else {
                others.push((node, f[8..].to_vec()));
            }
        }
        let myself = me.ok_or("no line flagged myself")?;
        let mut st = ClusterState::new(myself);
        st.current_epoch = epoch;
        let mut pending = Vec::new();
        for (node, slots) in others {
            let i = st.upsert(node);
            pending.push((i, slots));
        }
        pending.push((0, my_slots));
        for (i, slots) in pending {
            for tok in slots {
                st.apply_slot_token(i, tok)?;
            }
        }
        Ok(st)
    }

    fn apply_slot_token(&mut self, idx: u16, tok: &str) -> Result<(), String> {
        let bad = || format!("bad slot entry '{tok}'");
        if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let (slot, dir, id) = if let Some((s, id)) = inner.split_once("->-") {
                (s, true, id)
            } else if let Some((s, id)) = inner.split_once("-<-") {
                (s, false, id)
            } else {
                return Err(bad());
            };
            let slot: u16 = slot.parse().map_err(|_| bad())?;
            let other = self.node_index(id).ok_or_else(bad)?;
            if slot as usize >= NUM_SLOTS {
                return Err(bad());
            }
            if dir {
                self.migrating.insert(slot, other);
            } else {
                self.importing.insert(slot, other);
            }
            return Ok(());
        }
        let (a, b) = match tok.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?),
            None => {
                let a = tok.parse::<u16>().map_err(|_| bad())?;
                (a, a)
            }
        };
        if a > b || b as usize >= NUM_SLOTS {
            return Err(bad());
        }
        for s in a..=b {
            self.slots[s as usize] = idx;
        }
        Ok(())
    }
}

/// `ip:port@cport[,hostname]` into a node.
fn parse_addr(id: &str, addr: &str) -> Option<Node> {
    let addr = addr.split(',').next()?;
    let (hostport, cport) = addr.split_once('@')?;
    let (ip, port) = hostport.rsplit_once(':')?;
    Some(Node {
        id: id.to_ascii_lowercase(),
        ip: ip.to_string(),
        port: port.parse().ok()?,
        cport: cport.parse().ok()?,
        config_epoch: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(c: char, port: u16) -> Node {
        Node {
            id: std::iter::repeat_n(c, 40).collect(),
            ip: "127.0.0.1".into(),
            port,
            cport: port + 10000,
            config_epoch: 0,
        }
    }

    #[test]
    fn ranges_lines_and_config_round_trip() {
        let mut st = ClusterState::new(node('a', 7000));
        let b = st.upsert(node('b', 7001));
        for s in 0..100 {
            st.slots[s] = 0;
        }
        st.slots[200] = 0;
        for s in 100..200 {
            st.slots[s] = b;
        }
        st.migrating.insert(5, b);
        st.importing.insert(150, b);
        st.current_epoch = 3;
        st.nodes[b as usize].config_epoch = 2;
        assert_eq!(st.ranges_of(0), vec![(0, 99), (200, 200)]);
        let line = st.node_line(0);
        assert!(
            line.starts_with(&format!(
                "{} 127.0.0.1:7000@17000 myself,master - 0 0 0 connected 0-99 200",
                "a".repeat(40)
            )),
            "{line}"
        );
        assert!(line.ends_with(&format!("[5->-{}] [150-<-{}]", "b".repeat(40), "b".repeat(40))), "{line}");
        let back = ClusterState::parse_config(&st.config_text()).unwrap();
        assert_eq!(back.nodes, st.nodes);
        assert_eq!(back.slots, st.slots);
        assert_eq!(back.migrating, st.migrating);
        assert_eq!(back.importing, st.importing);
        assert_eq!(back.current_epoch, 3);
        assert_eq!(back.nodes[b as usize].config_epoch, 2);
        assert_eq!(back.size(), 2);
    }

    #[test]
    fn bumping_the_epoch_follows_redis() {
        let mut st = ClusterState::new(node('a', 7000));
        // Epoch 0 always bumps.
        assert!(st.bump_epoch());
        assert_eq!((st.current_epoch, st.myself().config_epoch), (1, 1));
        // Already the highest: STILL.
        assert!(!st.bump_epoch());
        // A peer with a higher epoch: ours goes past it.
        let b = st.upsert(node('b', 7001));
        st.nodes[b as usize].config_epoch = 5;
        st.current_epoch = 5;
        assert_eq!(st.max_epoch(), 5);
        assert!(st.bump_epoch());
        assert_eq!((st.current_epoch, st.myself().config_epoch), (6, 6));
        assert!(st.node_line(0).contains(" myself,master - 0 0 6 connected"), "{}", st.node_line(0));
    }

    #[test]
    fn parses_a_redis_nodes_conf_and_rejects_garbage() {
        let text = "73dacfa05d33fdd53db6618cd386ee52bdfac93a :27001@37001 myself,master - 0 0 0 connected 0-6 8-16383\nvars currentEpoch 0 lastVoteEpoch 0\n";
        let st = ClusterState::parse_config(text).unwrap();
        assert_eq!(st.myself().port, 27001);
        assert_eq!(st.assigned_count(), 16383);
        assert!(ClusterState::parse_config("hello world\n").is_err());
        assert!(ClusterState::parse_config("vars currentEpoch 0 lastVoteEpoch 0\n").is_err());
    }

    #[test]
    fn removing_a_node_unassigns_its_slots_and_shifts_indexes() {
        let mut st = ClusterState::new(node('a', 7000));
        let b = st.upsert(node('b', 7001));
        let c = st.upsert(node('c', 7002));
        st.slots[1] = b;
        st.slots[2] = c;
        st.importing.insert(3, c);
        st.remove(b);
        assert_eq!(st.slots[1], UNASSIGNED);
        assert_eq!(st.slots[2], 1);
        assert_eq!(st.importing.get(&3), Some(&1));
        assert!(valid_node_id(&random_node_id()));
    }
}
