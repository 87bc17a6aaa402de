//! shardis-pool: start, watch and stop a pool of shardis instances (see
//! `shardis::pool` and docs/pools.md).

use shardis::pool::{cluster, ops, spec, topology, units};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  shardis-pool up     (--file POOLFILE | --dir DIR --count N --base-port P [--cluster]) [--topology \"NODE:CPUS;...\"] [-- directives...]
  shardis-pool status  (--file POOLFILE | --dir DIR)
  shardis-pool down    (--file POOLFILE | --dir DIR)
  shardis-pool restart NAME (--file POOLFILE | --dir DIR)
  shardis-pool logs NAME [--lines N] (--file POOLFILE | --dir DIR)
  shardis-pool rebalance (--file POOLFILE | --dir DIR)
  shardis-pool units --out UNITDIR (--file POOLFILE | --dir DIR --count N --base-port P [--cluster]) [--topology ...] [-- directives...]
  shardis-pool topology [--topology ...]

The quick form starts N instances i0..iN-1 on ports P..P+N-1, data and log in DIR/<name>/,
placed round-robin on the NUMA nodes (from /sys/devices/system/node, or --topology, which
fakes nodes: \"0:0;1:1\" is node 0 with CPU 0 and node 1 with CPU 1). --cluster makes them
one Redis Cluster keyspace (16384 slots split evenly); up returns once every node reports
cluster_state:ok. status exits 3 if an instance is down.";

struct Opts {
    command: String,
    name: Option<String>,
    file: Option<PathBuf>,
    dir: Option<PathBuf>,
    count: Option<usize>,
    base_port: Option<u16>,
    cluster: bool,
    topology: Option<String>,
    lines: usize,
    out: Option<PathBuf>,
    extra: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        command: String::new(),
        name: None,
        file: None,
        dir: None,
        count: None,
        base_port: None,
        cluster: false,
        topology: None,
        lines: 50,
        out: None,
        extra: Vec::new(),
    };
    let mut it = args.iter();
    o.command = it.next().ok_or("no command")?.clone();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--file" => o.file = Some(value("--file")?.into()),
            "--dir" => o.dir = Some(value("--dir")?.into()),
            "--count" => o.count = Some(value("--count")?.parse().map_err(|_| "--count: not a number")?),
            "--base-port" => o.base_port = Some(value("--base-port")?.parse().map_err(|_| "--base-port: not a port")?),
            "--cluster" => o.cluster = true,
            "--topology" => o.topology = Some(value("--topology")?),
            "--lines" | "-n" => o.lines = value("--lines")?.parse().map_err(|_| "--lines: not a number")?,
            "--out" => o.out = Some(value("--out")?.into()),
            "--" => {
                // Directives: `-- appendonly yes -- maxmemory 1gb` or one per argument
                // pair; a token starting with a letter after a value starts a new one.
                let rest: Vec<&String> = it.by_ref().collect();
                o.extra = group_directives(&rest);
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if o.name.is_none() => o.name = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    Ok(o)
}

/// `appendonly yes maxmemory 1gb` -> ["appendonly yes", "maxmemory 1gb"]: a known
/// parameter name (or a `--name`) starts a new directive once the previous one has a
/// value. Values with blanks (or empty ones) are quoted for the config file.
fn group_directives(rest: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let quote = |w: &str| if w.is_empty() || w.contains(' ') { format!("\"{w}\"") } else { w.to_string() };
    for w in rest {
        let w = w.as_str();
        let has_value = out.last().is_some_and(|l| l.contains(' '));
        if let Some(name) = w.strip_prefix("--").filter(|n| !n.is_empty()) {
            out.push(name.to_string());
        } else if out.is_empty() || (has_value && shardis::config::params::find(w).is_some()) {
            out.push(w.to_string());
        } else if let Some(last) = out.last_mut() {
            last.push(' ');
            last.push_str(&quote(w));
        }
    }
    out
}

fn topo(o: &Opts) -> Result<Vec<topology::NumaNode>, String> {
    match &o.topology {
        Some(t) => topology::parse(t),
        None => Ok(topology::detect()),
    }
}

/// The pool the options describe: a pool file, the quick form, or (for commands on a
/// running pool) the state `up` left in DIR.
fn pool_for(o: &Opts, fresh: bool) -> Result<spec::Pool, String> {
    if let Some(f) = &o.file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut p = spec::parse(&text, &topo(o)?)?;
        for i in p.instances.iter_mut() {
            i.directives.extend(o.extra.iter().cloned());
        }
        return Ok(p);
    }
    let dir = o.dir.clone().ok_or("give --file POOLFILE or --dir DIR")?;
    if fresh && let (Some(n), Some(port)) = (o.count, o.base_port) {
        if n == 0 {
            return Err("--count must be at least 1".into());
        }
        return Ok(spec::quick(&dir, n, port, o.cluster, &topo(o)?, &o.extra));
    }
    if fresh && (o.count.is_some() || o.base_port.is_some()) {
        return Err("the quick form needs both --count and --base-port".into());
    }
    spec::load_state(&dir)
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut o = parse_args(args)?;
    // Instances outlive this process and the pool is found again from other working
    // directories: keep absolute paths.
    if let Some(d) = &o.dir {
        o.dir = Some(std::path::absolute(d).map_err(|e| format!("{}: {e}", d.display()))?);
    }
    match o.command.as_str() {
        "up" => {
            let pool = pool_for(&o, true)?;
            let (lines, ok) = ops::up(&pool);
            for l in lines {
                println!("{l}");
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        "down" => {
            for l in ops::down(&pool_for(&o, false)?) {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "status" => {
            let (table, all) = ops::status(&pool_for(&o, false)?);
            print!("{table}");
            Ok(if all { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        "restart" => {
            let name = o.name.clone().ok_or("restart needs an instance NAME")?;
            for l in ops::restart(&pool_for(&o, false)?, &name)? {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "logs" => {
            let name = o.name.clone().ok_or("logs needs an instance NAME")?;
            let pool = pool_for(&o, false)?;
            let i = ops::find(&pool, &name)?;
            println!("{}", ops::tail(i, o.lines));
            Ok(ExitCode::SUCCESS)
        }
        "rebalance" => {
            let pool = pool_for(&o, false)?;
            if !pool.cluster {
                return Err("rebalance works on a cluster pool (up --cluster)".into());
            }
            for l in cluster::rebalance(&pool)? {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "units" => {
            let out = o.out.clone().ok_or("units needs --out UNITDIR (e.g. /etc/systemd/system)")?;
            let pool = pool_for(&o, true)?;
            std::fs::create_dir_all(&pool.dir).map_err(|e| format!("{}: {e}", pool.dir.display()))?;
            std::fs::write(pool.dir.join("pool.state"), spec::state_text(&pool)).map_err(|e| e.to_string())?;
            for l in units::write(&pool, &out, &ops::server_binary())? {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "topology" => {
            println!("{}", topology::describe(&topo(&o)?));
            Ok(ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        c => Err(format!("unknown command '{c}'")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shardis-pool: {e}");
            ExitCode::from(2)
        }
    }
}
