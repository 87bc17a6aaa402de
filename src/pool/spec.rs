//! What a pool is made of: its instances (name, port, NUMA node, CPUs, shards,
//! directory, directives), from a pool file or the quick command-line form, and the
//! state file `up` leaves in the pool directory for `status`/`down`/`restart`.
//!
//! Pool file (`#` comments; `key = value` lines are the tool's settings, other lines
//! are server directives passed through verbatim):
//!
//! ```text
//! [pool]
//! dir = /srv/shardis          # instances live in dir/<name>/ unless they say
//! cluster = yes               # one keyspace over the Redis Cluster protocol
//! numa-policy = bind          # or preferred
//! auto = yes                  # one instance per NUMA node (node0, node1 ...)
//! base-port = 7000            # auto instances' ports: base-port + node index
//! appendonly yes              # a directive for every instance
//!
//! [instance sessions]
//! port = 7101
//! node = 1                    # its CPUs are node 1's, its memory bound to node 1
//! maxmemory = 8gb
//! maxmemory-policy allkeys-lru
//! ```

use super::topology::NumaNode;
use crate::config::parse::{format_cpus, parse_cpus};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub port: u16,
    /// The NUMA node it runs on (None: no placement).
    pub node: Option<usize>,
    pub cpus: Vec<usize>,
    pub shards: Option<usize>,
    pub dir: PathBuf,
    pub directives: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub dir: PathBuf,
    pub cluster: bool,
    /// "bind" or "preferred".
    pub numa_policy: String,
    pub instances: Vec<Instance>,
}

/// Splits each node's CPUs evenly among the instances placed on it (round-robin over
/// the nodes); several instances on a node with fewer CPUs than instances share them.
pub fn place(count: usize, topology: &[NumaNode]) -> Vec<(usize, Vec<usize>)> {
    let per_node: Vec<usize> =
        (0..topology.len()).map(|n| (0..count).filter(|i| i % topology.len() == n).count()).collect();
    (0..count)
        .map(|i| {
            let n = i % topology.len();
            let node = &topology[n];
            let k = per_node[n];
            let j = i / topology.len();
            let cpus = if node.cpus.len() >= k {
                let share = node.cpus.len() / k;
                node.cpus[j * share..(j + 1) * share].to_vec()
            } else {
                node.cpus.clone()
            };
            (node.id, cpus)
        })
        .collect()
}

/// The quick form: `count` instances named i0, i1 ... on ports base..base+count-1.
pub fn quick(dir: &Path, count: usize, base_port: u16, cluster: bool, topology: &[NumaNode], extra: &[String]) -> Pool {
    let instances = place(count, topology)
        .into_iter()
        .enumerate()
        .map(|(i, (node, cpus))| {
            let name = format!("i{i}");
            Instance {
                port: base_port + i as u16,
                node: Some(node),
                cpus,
                shards: None,
                dir: dir.join(&name),
                directives: extra.to_vec(),
                name,
            }
        })
        .collect();
    Pool { dir: dir.to_path_buf(), cluster, numa_policy: "bind".into(), instances }
}

/// Parses a pool file.
pub fn parse(text: &str, topology: &[NumaNode]) -> Result<Pool, String> {
    let mut pool = Pool { dir: PathBuf::new(), cluster: false, numa_policy: "bind".into(), instances: Vec::new() };
    let (mut auto, mut base_port) = (false, 7000u16);
    let mut common: Vec<String> = Vec::new();
    let mut current: Option<Instance> = None;
    let mut named_dir: Vec<bool> = Vec::new();
    let mut finished: Vec<Instance> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| format!("pool file line {}: {why}", n + 1);
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if let Some(i) = current.take() {
                finished.push(i);
            }
            let mut words = section.split_whitespace();
            match (words.next(), words.next()) {
                (Some("pool"), None) => {}
                (Some("instance"), Some(name)) => {
                    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                        return Err(at(format!("instance name '{name}': use letters, digits, - and _")));
                    }
                    current = Some(Instance {
                        name: name.to_string(),
                        port: 0,
                        node: None,
                        cpus: Vec::new(),
                        shards: None,
                        dir: PathBuf::new(),
                        directives: Vec::new(),
                    });
                    named_dir.push(false);
                }
                _ => return Err(at(format!("unknown section [{section}]"))),
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let (k, v) = (k.trim(), v.trim());
            match (&mut current, k) {
                (None, "dir") => pool.dir = PathBuf::from(v),
                (None, "cluster") => pool.cluster = yes(v).map_err(at)?,
                (None, "auto") => auto = yes(v).map_err(at)?,
                (None, "base-port") => base_port = v.parse().map_err(|_| at(format!("bad port '{v}'")))?,
                (None, "numa-policy") if v == "bind" || v == "preferred" => pool.numa_policy = v.into(),
                (Some(i), "port") => i.port = v.parse().map_err(|_| at(format!("bad port '{v}'")))?,
                (Some(i), "node") => {
                    let id: usize = v.parse().map_err(|_| at(format!("bad node '{v}'")))?;
                    let node =
                        topology.iter().find(|t| t.id == id).ok_or_else(|| at(format!("no NUMA node {id} here")))?;
                    i.node = Some(id);
                    if i.cpus.is_empty() {
                        i.cpus = node.cpus.clone();
                    }
                }
                (Some(i), "cpus") => i.cpus = parse_cpus(v).map_err(at)?,
                (Some(i), "shards") => i.shards = Some(v.parse().map_err(|_| at(format!("bad shards '{v}'")))?),
                (Some(i), "dir") => {
                    i.dir = PathBuf::from(v);
                    *named_dir.last_mut().expect("in an instance") = true;
                }
                (Some(i), "maxmemory") => i.directives.push(format!("maxmemory {v}")),
                _ => return Err(at(format!("unknown setting '{k}'"))),
            }
            continue;
        }
        match &mut current {
            Some(i) => i.directives.push(line.to_string()),
            None => common.push(line.to_string()),
        }
    }
    if let Some(i) = current.take() {
        finished.push(i);
    }
    if pool.dir.as_os_str().is_empty() {
        return Err("the pool file needs `dir = ...` in [pool]".into());
    }
    if auto {
        for (k, node) in topology.iter().enumerate() {
            let name = format!("node{}", node.id);
            finished.push(Instance {
                port: base_port + k as u16,
                node: Some(node.id),
                cpus: node.cpus.clone(),
                shards: None,
                dir: PathBuf::new(),
                directives: Vec::new(),
                name,
            });
            named_dir.push(false);
        }
    }
    for (i, has_dir) in finished.iter_mut().zip(named_dir) {
        if i.port == 0 {
            return Err(format!("instance {} has no port", i.name));
        }
        if !has_dir {
            i.dir = pool.dir.join(&i.name);
        }
        let mut d = common.clone();
        d.append(&mut i.directives);
        i.directives = d;
    }
    let mut names: Vec<&str> = finished.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    names.dedup();
    if names.len() != finished.len() {
        return Err("instance names must be unique".into());
    }
    pool.instances = finished;
    Ok(pool)
}

fn yes(v: &str) -> Result<bool, String> {
    match v {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, got '{v}'")),
    }
}

/// The server configuration file `up` writes for an instance (its dir/shardis.conf).
pub fn server_config(pool: &Pool, i: &Instance) -> String {
    let mut c = String::from("# Written by shardis-pool; edit the pool file instead.\n");
    let dir = i.dir.display();
    c.push_str(&format!("port {}\ndir {dir}\npidfile {dir}/shardis.pid\nlogfile {dir}/shardis.log\n", i.port));
    if !i.cpus.is_empty() {
        c.push_str(&format!("cpus {}\n", format_cpus(&i.cpus)));
    }
    let shards = i.shards.unwrap_or(i.cpus.len().max(1));
    c.push_str(&format!("shards {shards}\n"));
    if let Some(n) = i.node
        && super::topology::node_exists(n)
    {
        c.push_str(&format!("numa-node {n}\nnuma-policy {}\n", pool.numa_policy));
    }
    if pool.cluster {
        c.push_str("cluster-enabled yes\ncluster-config-file nodes.conf\n");
    }
    for d in &i.directives {
        c.push_str(d);
        c.push('\n');
    }
    c
}

/// The state file `up` writes (`DIR/pool.state`): one line per instance.
pub fn state_text(pool: &Pool) -> String {
    let mut s = format!("cluster {}\nnuma-policy {}\n", if pool.cluster { "yes" } else { "no" }, pool.numa_policy);
    for i in &pool.instances {
        let node = i.node.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let cpus = if i.cpus.is_empty() { "-".to_string() } else { format_cpus(&i.cpus) };
        let shards = i.shards.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        s.push_str(&format!("instance {} {} {node} {cpus} {shards} {}\n", i.name, i.port, i.dir.display()));
    }
    s
}

/// Reads `DIR/pool.state` back (directives are in each instance's shardis.conf).
pub fn load_state(dir: &Path) -> Result<Pool, String> {
    let path = dir.join("pool.state");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e} (was `shardis-pool up` run there?)", path.display()))?;
    let mut pool = Pool { dir: dir.to_path_buf(), cluster: false, numa_policy: "bind".into(), instances: Vec::new() };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["cluster", v] => pool.cluster = *v == "yes",
            ["numa-policy", v] => pool.numa_policy = v.to_string(),
            ["instance", name, port, node, cpus, shards, dir @ ..] => pool.instances.push(Instance {
                name: name.to_string(),
                port: port.parse().map_err(|_| format!("{}: bad port in '{line}'", path.display()))?,
                node: node.parse().ok(),
                cpus: if *cpus == "-" { Vec::new() } else { parse_cpus(cpus)? },
                shards: shards.parse().ok(),
                dir: PathBuf::from(dir.join(" ")),
                directives: Vec::new(),
            }),
            _ => return Err(format!("{}: unreadable line '{line}'", path.display())),
        }
    }
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::topology;

    #[test]
    fn quick_form_places_round_robin_and_splits_cpus() {
        let t = topology::parse("0:0-3;1:4-7").unwrap();
        let p = quick(Path::new("/p"), 4, 7000, true, &t, &["appendonly yes".into()]);
        let got: Vec<(u16, Option<usize>, Vec<usize>)> =
            p.instances.iter().map(|i| (i.port, i.node, i.cpus.clone())).collect();
        assert_eq!(
            got,
            vec![
                (7000, Some(0), vec![0, 1]),
                (7001, Some(1), vec![4, 5]),
                (7002, Some(0), vec![2, 3]),
                (7003, Some(1), vec![6, 7])
            ]
        );
        assert_eq!(p.instances[2].dir, PathBuf::from("/p/i2"));
        let conf = server_config(&p, &p.instances[1]);
        assert!(conf.contains("port 7001\n") && conf.contains("cpus 4-5\n") && conf.contains("shards 2\n"), "{conf}");
        assert!(conf.contains("cluster-enabled yes\n") && conf.ends_with("appendonly yes\n"), "{conf}");
        // More instances than CPUs on a node: they share the node's CPUs.
        let one = topology::parse("0:0").unwrap();
        assert_eq!(place(2, &one), vec![(0, vec![0]), (0, vec![0])]);
        let back = load_state_from_text(&state_text(&p));
        assert_eq!(
            back.instances.iter().map(|i| (&i.name, i.port, i.node, &i.cpus)).collect::<Vec<_>>(),
            p.instances.iter().map(|i| (&i.name, i.port, i.node, &i.cpus)).collect::<Vec<_>>()
        );
        assert!(back.cluster);
    }

    fn load_state_from_text(text: &str) -> Pool {
        let dir = std::env::temp_dir().join(format!("pool-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pool.state"), text).unwrap();
        let p = load_state(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        p
    }

    #[test]
    fn pool_file() {
        let t = topology::parse("0:0-3;1:4-7").unwrap();
        let text = "[pool]\ndir = /srv/p\ncluster = yes\nappendonly yes\n\n[instance web]\nport = 7101\nnode = 1\nmaxmemory = 2gb\nmaxmemory-policy allkeys-lru  # evict\n[instance jobs]\nport = 7102\ncpus = 2-3\ndir = /data/jobs\n";
        let p = parse(text, &t).unwrap();
        assert!(p.cluster);
        assert_eq!(p.instances[0].cpus, vec![4, 5, 6, 7]);
        assert_eq!(p.instances[0].directives, vec!["appendonly yes", "maxmemory 2gb", "maxmemory-policy allkeys-lru"]);
        assert_eq!(p.instances[0].dir, PathBuf::from("/srv/p/web"));
        assert_eq!(p.instances[1].dir, PathBuf::from("/data/jobs"));
        let auto = parse("[pool]\ndir = /x\nauto = yes\nbase-port = 8000\n", &t).unwrap();
        assert_eq!(
            auto.instances.iter().map(|i| (i.name.as_str(), i.port)).collect::<Vec<_>>(),
            vec![("node0", 8000), ("node1", 8001)]
        );
        assert!(parse("[instance a]\nport = 1\n", &t).unwrap_err().contains("dir"));
        assert!(parse("[pool]\ndir = /x\n[instance a]\nnode = 9\n", &t).unwrap_err().contains("no NUMA node 9"));
        assert!(parse("[pool]\ndir = /x\n[instance a]\n", &t).unwrap_err().contains("no port"));
        assert!(parse("[pool]\ndir = /x\nbogus = 1\n", &t).unwrap_err().contains("line 3"));
    }
}
