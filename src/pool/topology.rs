//! The machine's NUMA nodes and their CPUs: from `/sys/devices/system/node`, or a
//! `--topology "NODE:CPUS;NODE:CPUS"` override that fakes several nodes (so the tool
//! can be exercised on a one-node machine).

use crate::config::parse::{format_cpus, parse_cpus};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumaNode {
    pub id: usize,
    pub cpus: Vec<usize>,
}

/// Parses `"0:0-3;1:4-7"`.
pub fn parse(spec: &str) -> Result<Vec<NumaNode>, String> {
    let mut nodes = Vec::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, cpus) = part.split_once(':').ok_or_else(|| format!("topology entry '{part}': expected NODE:CPUS"))?;
        let id = id.trim().parse().map_err(|_| format!("topology entry '{part}': bad node number"))?;
        let cpus = parse_cpus(cpus.trim())?;
        if cpus.is_empty() {
            return Err(format!("topology entry '{part}': no CPUs"));
        }
        nodes.push(NumaNode { id, cpus });
    }
    if nodes.is_empty() {
        return Err("empty topology".into());
    }
    Ok(nodes)
}

/// The real topology; a machine without `/sys/devices/system/node` is one node
/// holding every online CPU.
pub fn detect() -> Vec<NumaNode> {
    let mut nodes = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/devices/system/node") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_prefix("node").and_then(|n| n.parse::<usize>().ok()) else { continue };
            let Ok(list) = std::fs::read_to_string(e.path().join("cpulist")) else { continue };
            if let Ok(cpus) = parse_cpus(list.trim())
                && !cpus.is_empty()
            {
                nodes.push(NumaNode { id, cpus });
            }
        }
    }
    nodes.sort_by_key(|n| n.id);
    if nodes.is_empty() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        nodes.push(NumaNode { id: 0, cpus: (0..n).collect() });
    }
    nodes
}

/// Does the kernel know this node (so a memory policy can name it)?
pub fn node_exists(id: usize) -> bool {
    std::path::Path::new(&format!("/sys/devices/system/node/node{id}")).exists()
}

pub fn describe(nodes: &[NumaNode]) -> String {
    nodes.iter().map(|n| format!("{}:{}", n.id, format_cpus(&n.cpus))).collect::<Vec<_>>().join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overrides() {
        let t = parse("0:0;1:1").unwrap();
        assert_eq!(t, vec![NumaNode { id: 0, cpus: vec![0] }, NumaNode { id: 1, cpus: vec![1] }]);
        assert_eq!(parse("0:0-3; 1:4-7,9").unwrap()[1].cpus, vec![4, 5, 6, 7, 9]);
        assert_eq!(describe(&parse("0:0-3;1:4-7").unwrap()), "0:0-3;1:4-7");
        assert!(parse("").is_err());
        assert!(parse("0").is_err());
        assert!(parse("x:1").is_err());
        assert!(!detect().is_empty());
    }
}
