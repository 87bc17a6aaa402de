//! The bound on cross-shard inboxes (`shard::msg`, "The inbox bound"): while one shard
//! is stalled (DEBUG SLEEP), clients on the other shard pipelining writes for its keys
//! must not make its inbox, or the server's memory, grow without limit. Parsing stops
//! at the bound and TCP pushes back; once the shard wakes, every request is answered,
//! in order, and the data is what the clients wrote.

use crate::common;
use common::*;
use std::io::Write;
use std::time::Duration;

/// Each SET carries a value this long.
const VALUE_LEN: usize = 4000;
/// Keys per client: the dataset stays small (50 x 16 x 4 KB), so memory growth
/// measures queues, not data.
const KEYS: usize = 16;
/// An INCR on the client's own counter every this many SETs: its replies must come
/// back as 1, 2, 3 ... at exactly their positions (per-connection reply order).
const INCR_EVERY: usize = 50;

fn info(s: &Server) -> std::collections::HashMap<String, String> {
    let Resp::Bulk(b) = s.raw().cmd(&["INFO", "stats"]) else { panic!("INFO") };
    String::from_utf8(b)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect()
}

/// A `/proc/<pid>/status` field in kB (VmRSS, VmHWM).
fn proc_kb(pid: u32, field: &str) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    st.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {st}"))
}

/// The hash tag of client `client`'s keys: all on one shard, shard `client % 2`. A
/// connection's commands execute in order (`cmd::order`), so a client whose keys were on
/// both shards would stop at its first command for the stalled shard's neighbour; with
/// one shard's keys, the clients on the other shard pipeline far past the bound.
fn tag(client: usize) -> String {
    (0..)
        .map(|i| format!("{{bp{i}}}"))
        .find(|t| shardis::util::hash::shard_of(&t.as_bytes()[1..t.len() - 1], 2) == client % 2)
        .unwrap()
}

fn value(client: usize, j: usize) -> Vec<u8> {
    let mut v = format!("{client}:{j}:").into_bytes();
    v.resize(VALUE_LEN, b'x');
    v
}

/// Many pipelining clients: 50 x 500 SETs (2 MB each, 100 MB in all, far past the
/// bound). Without the bound the stalled shard's inbox peaked at 26-28 MB here; with
/// it, just over 4 MiB. The peak RSS is printed, not checked: with this many
/// pipelining connections it is dominated by their read buffers (about 95 MB even with
/// one shard and no cross-shard traffic at all), which the inbox bound does not govern.
#[test]
fn fifty_pipelining_clients_against_a_stalled_shard() {
    flood(50, 500);
}

/// `clients` connections each pipeline `writes` SETs (and an INCR every
/// `INCR_EVERY`) on keys of one shard (half the clients each) while one shard sleeps, then check the
/// replies, the data and the inbox peak.
fn flood(clients: usize, writes: usize) {
    let s = Server::start(2, &[]);
    let limit: usize = info(&s)["shardis_inbox_limit_bytes"].parse().unwrap();
    let pid = s.pid();
    let rss_before = proc_kb(pid, "VmRSS:");

    // Stall one shard (whichever the connection landed on) for long enough that the
    // clients on the other one can push far past the bound.
    let mut sleeper = s.raw();
    sleeper.send(&encode_cmd(&["DEBUG", "SLEEP", "2"]));

    let mut handles = Vec::new();
    for client in 0..clients {
        let stream = s.tcp();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut w = stream.try_clone().unwrap();
        // Writer: the whole pipeline, in one go (blocks while TCP pushes back).
        let writer = std::thread::spawn(move || {
            let mut buf = Vec::with_capacity(writes * (VALUE_LEN + 64));
            for j in 0..writes {
                encode_cmd_into(
                    &mut buf,
                    &[&b"SET"[..], format!("{}:{client}:{}", tag(client), j % KEYS).as_bytes(), &value(client, j)],
                );
                if (j + 1) % INCR_EVERY == 0 {
                    encode_cmd_into(&mut buf, &[&b"INCR"[..], format!("{}:ctr:{client}", tag(client)).as_bytes()]);
                }
            }
            w.write_all(&buf).expect("write pipeline");
        });
        let reader = std::thread::spawn(move || {
            let mut r = RespReader::new(stream);
            let mut incrs = 0;
            for j in 0..writes {
                assert_eq!(r.read().expect("SET reply"), Resp::simple("OK"), "client {client} write {j}");
                if (j + 1) % INCR_EVERY == 0 {
                    incrs += 1;
                    assert_eq!(r.read().expect("INCR reply"), Resp::Int(incrs), "client {client} after write {j}");
                }
            }
        });
        handles.push((writer, reader));
    }
    for (w, r) in handles {
        w.join().expect("writer");
        r.join().expect("reader");
    }
    assert_eq!(sleeper.read(), Resp::simple("OK"));

    // Every key holds the client's last write to it.
    let mut c = s.raw();
    for client in [0, clients / 2, clients - 1] {
        for k in 0..KEYS {
            let last = (0..writes).rev().find(|j| j % KEYS == k).unwrap();
            assert_eq!(c.cmd(&["GET", &format!("{}:{client}:{k}", tag(client))]), Resp::Bulk(value(client, last)));
        }
    }

    let stats = info(&s);
    let peak: usize = stats["shardis_inbox_peak_bytes"].parse().unwrap();
    let stalls: u64 = stats["shardis_input_stalls"].parse().unwrap();
    let hwm = proc_kb(pid, "VmHWM:");
    eprintln!("inbox peak {peak} B (limit {limit}), {stalls} stalls, RSS {rss_before} kB -> peak {hwm} kB");
    assert!(stalls > 0, "the bound never engaged: {stats:?}");
    // Soft by one request per sending thread, plus the replies and hop results of
    // requests already admitted: well under twice the bound here.
    assert!(peak <= 2 * limit, "inbox peak {peak} over the bound {limit}");
    assert_eq!(stats["shardis_inbox_bytes"], "0");
}
