//! The integration tests, as one test binary (`cargo nextest run --release --test all`).
//!
//! Each `tests/NAME.rs` is a module here, so its tests are named `NAME::test_fn`: run one
//! file with `cargo nextest run --release --test all -E 'test(/^NAME::/)'` (or
//! `cargo test --release --test all NAME::`, a substring match). Cargo.toml sets
//! `autotests = false`, so a new file runs once it has its `mod NAME;` line below
//! (`harness.rs` fails until then); it reaches the helpers as `use crate::common;`.
//! One binary instead of one per file: a clean build links once instead of ~80 times
//! and compiles `common` once (perf/RESULTS.md, "suite12").

mod common;
mod stream_common;

mod acl;
mod aof;
mod aof_flush;
mod aof_fsync;
mod aof_interop;
mod backpressure;
mod backup;
mod bitmap;
mod blocking;
mod check_rdb;
mod client_idle;
mod cluster;
mod compat_diff;
mod concurrency;
mod config_effect;
mod config_refuse;
mod debug_command;
mod diff_random;
mod diff_random_keys;
mod diff_random_more;
mod diff_random_types;
mod encoding_limits;
mod eviction;
mod expiry_past;
mod function_load_errors;
mod geo;
mod harness;
mod hash;
mod hll;
mod interop;
mod introspect;
mod introspect_memory;
mod keys;
mod latency_events;
mod lazyfree;
mod limits;
mod list;
mod list_compress;
mod listen;
mod lolwut;
mod monitor;
mod multi;
mod notify;
mod order;
mod outbuf;
mod pool;
mod protocol;
mod protocol_bigvalue;
mod pubsub;
mod rdb;
mod rdb_interop;
mod read_resume;
mod readme;
mod repl_badinput;
mod repl_cut;
mod repl_diskless_load;
mod repl_exit_flush;
mod repl_expiry_order;
mod repl_failover;
mod repl_interop;
mod repl_master;
mod repl_order;
mod repl_replica;
mod repl_shutdown;
mod repl_stream;
mod repl_stream_expiry;
mod reqpath;
mod script_sandbox;
mod scripting;
mod scripting_busy;
mod scripting_busy_stop;
mod scripting_calls;
mod scripting_gaps;
mod scripting_keyspace;
mod scripting_libs;
mod scripting_lockall;
mod scripting_persist;
mod scripting_refusals;
mod sendpath;
mod sentinel;
mod server;
mod set;
mod sort;
mod spubsub;
mod startup;
mod stream;
mod stream_block;
mod stream_node;
mod stream_persist;
mod strings;
mod tcl_found;
mod timeout;
mod tracking;
mod turns;
mod unexpected_errors;
mod xshard;
mod xshard_atomic;
mod xshard_log;
mod zset;
