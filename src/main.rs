//! `shardis-server [config-file] [--directive value ...]`

use shardis::config::Config;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "Usage: shardis-server [/path/to/shardis.conf] [--<directive> <value> ...]\n\n\
             Directives are those of redis.conf (port, bind, dir, save, appendonly, ...)\n\
             plus `shards N` and `cpus LIST`. Flags override the file.\n\n\
             Examples:\n  shardis-server --port 6380 --shards 2\n  shardis-server /etc/shardis.conf --loglevel verbose"
        );
        return;
    }
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "shardis-server v={} (Redis protocol {})",
            env!("CARGO_PKG_VERSION"),
            shardis::cmd::connection::REDIS_VERSION
        );
        return;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let file = args.first().filter(|a| !a.starts_with("--")).map(std::path::PathBuf::from);
    std::process::exit(shardis::server::run(config, file, args.is_empty()));
}
