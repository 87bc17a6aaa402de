//! A fake replication master: a TCP server in the test that answers a replica's
//! handshake (PING, AUTH, REPLCONF, PSYNC/SYNC) like Redis 7.0, then misbehaves in one
//! chosen way during or after the transfer, closes the link and waits for the
//! replica's next attempt. It counts the PSYNC/SYNC requests, so a test can check that
//! the replica retries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The replication id the fake master announces.
pub const FAKE_REPLID: &str = "f00dfacef00dfacef00dfacef00dfacef00dface";

/// How the fake master breaks the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehave {
    /// Announces `$<len>` and sends exactly `len` bytes, but the RDB inside is cut
    /// before its end (no EOF opcode, no checksum).
    TruncatedRdb,
    /// Diskless format: `$EOF:<mark>`, the RDB, then a different 40-byte mark; closes.
    WrongEofMark,
    /// Announces `$<len>`, sends a third of the bytes and closes.
    CloseMidTransfer,
    /// A complete, valid full sync, then bytes that are not RESP in the stream.
    GarbageInStream,
    /// `$<len>` and a whole RDB of `MANY_KEYS` keys (enough for every shard of the
    /// replica to have taken some before the end) whose checksum is wrong.
    BadChecksumManyKeys,
    /// A complete, valid full sync; once the replica's first `REPLCONF ACK` says it
    /// streams, one packet: `REPLICAOF NO ONE` (None) or `REPLICAOF 127.0.0.1 <port>`,
    /// then `SET fake:after stream`. Nothing after the REPLICAOF may be applied: the
    /// link stops being the master's with it (Redis frees the master client at once).
    ReplicaofThenWrite(Option<u16>),
    /// A complete, valid full sync; once the replica streams, `SET fake:s abc` and
    /// `INCR fake:s`, which fails (not an integer) on the replica as on the master.
    FailingCommand,
}

/// Keys in the `BadChecksumManyKeys` RDB.
pub const MANY_KEYS: usize = 20_000;

/// Keys in the fake master's (valid) RDB: `fake:0` .. `fake:{FAKE_KEYS-1}`, value "v".
pub const FAKE_KEYS: usize = 10;

pub struct FakeMaster {
    pub port: u16,
    syncs: Arc<AtomicU64>,
    /// The commands received, one line each (arguments joined by spaces).
    pub received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl FakeMaster {
    pub fn start(how: Misbehave) -> FakeMaster {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fake master bind");
        let port = listener.local_addr().unwrap().port();
        let syncs = Arc::new(AtomicU64::new(0));
        let received: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (syncs2, received2, stop2) = (syncs.clone(), received.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (syncs3, received3) = (syncs2.clone(), received2.clone());
                std::thread::spawn(move || {
                    // Any I/O error just ends this attempt: the replica hung up.
                    let _ = serve(conn, how, &syncs3, &received3);
                });
            }
        });
        FakeMaster { port, syncs, received, stop }
    }

    /// PSYNC and SYNC requests seen so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request, multibulk or inline. None on EOF.
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<String>>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let line = line.trim_end();
    let Some(n) = line.strip_prefix('*') else {
        return Ok(Some(line.split_whitespace().map(str::to_string).collect()));
    };
    let n: usize = n.parse().map_err(|_| std::io::Error::other(format!("bad multibulk {line:?}")))?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let mut len = String::new();
        r.read_line(&mut len)?;
        let len: usize = len
            .trim_end()
            .strip_prefix('$')
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad bulk header {len:?}")))?;
        let mut data = vec![0u8; len + 2];
        r.read_exact(&mut data)?;
        data.truncate(len);
        args.push(String::from_utf8_lossy(&data).into_owned());
    }
    Ok(Some(args))
}

fn serve(conn: TcpStream, how: Misbehave, syncs: &AtomicU64, received: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    while let Some(args) = read_request(&mut r)? {
        received.lock().unwrap().push(args.join(" "));
        let name = args.first().map(|a| a.to_ascii_uppercase()).unwrap_or_default();
        match name.as_str() {
            "PING" => w.write_all(b"+PONG\r\n")?,
            "AUTH" | "REPLCONF" => w.write_all(b"+OK\r\n")?,
            "PSYNC" | "SYNC" => {
                syncs.fetch_add(1, Ordering::Relaxed);
                return misbehave(&mut w, &mut r, how, name == "SYNC");
            }
            _ => w.write_all(format!("-ERR unknown command '{}'\r\n", args[0]).as_bytes())?,
        }
    }
    Ok(())
}

fn misbehave(w: &mut TcpStream, r: &mut BufReader<TcpStream>, how: Misbehave, old_sync: bool) -> std::io::Result<()> {
    if !old_sync {
        w.write_all(format!("+FULLRESYNC {FAKE_REPLID} 0\r\n").as_bytes())?;
    }
    let rdb = valid_rdb();
    match how {
        Misbehave::TruncatedRdb => {
            let cut = &rdb[..rdb.len() - 12];
            w.write_all(format!("${}\r\n", cut.len()).as_bytes())?;
            w.write_all(cut)?;
        }
        Misbehave::WrongEofMark => {
            let mark = "a".repeat(40);
            let wrong = "b".repeat(40);
            w.write_all(format!("$EOF:{mark}\r\n").as_bytes())?;
            w.write_all(&rdb)?;
            w.write_all(wrong.as_bytes())?;
        }
        Misbehave::CloseMidTransfer => {
            w.write_all(format!("${}\r\n", rdb.len()).as_bytes())?;
            w.write_all(&rdb[..rdb.len() / 3])?;
        }
        Misbehave::BadChecksumManyKeys => {
            let mut bad = rdb_of(MANY_KEYS, "many");
            let last = bad.len() - 1;
            bad[last] ^= 0xFF;
            w.write_all(format!("${}\r\n", bad.len()).as_bytes())?;
            w.write_all(&bad)?;
        }
        Misbehave::GarbageInStream => {
            w.write_all(format!("${}\r\n", rdb.len()).as_bytes())?;
            w.write_all(&rdb)?;
            // Let the replica load it and go online before the garbage arrives.
            std::thread::sleep(Duration::from_millis(300));
            w.write_all(b"*3\r\n$3\r\nSET\r\n$5\r\nfake:0\r\n")?; // wrong length, then junk
            w.write_all(b"*zz\r\n\x00\xff\xfe garbage\r\n*-7\r\n")?;
        }
        Misbehave::FailingCommand => {
            w.write_all(format!("${}\r\n", rdb.len()).as_bytes())?;
            w.write_all(&rdb)?;
            wait_first_ack(r)?;
            w.write_all(&[resp(&["SET", "fake:s", "abc"]), resp(&["INCR", "fake:s"])].concat())?;
        }
        Misbehave::ReplicaofThenWrite(target) => {
            w.write_all(format!("${}\r\n", rdb.len()).as_bytes())?;
            w.write_all(&rdb)?;
            wait_first_ack(r)?;
            let replicaof = match target {
                None => resp(&["REPLICAOF", "NO", "ONE"]),
                Some(port) => resp(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
            };
            // One write, so the replica reads both requests in one receive.
            w.write_all(&[replicaof, resp(&["SET", "fake:after", "stream"])].concat())?;
        }
    }
    w.flush()?;
    // Give the replica a moment to read everything before the close.
    std::thread::sleep(Duration::from_millis(200));
    let _ = w.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Reads the replica's requests up to its first `REPLCONF ACK`, which comes once it
/// adopted the link and streams.
fn wait_first_ack(r: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    while let Some(args) = read_request(r)? {
        if args.len() >= 2 && args[0].eq_ignore_ascii_case("REPLCONF") && args[1].eq_ignore_ascii_case("ACK") {
            break;
        }
    }
    Ok(())
}

/// `args` as a RESP request.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    b
}

/// A complete RDB (version 10, as Redis 7.0 writes) holding `FAKE_KEYS` string keys
/// in db 0, with its CRC64 checksum.
pub fn valid_rdb() -> Vec<u8> {
    rdb_of(FAKE_KEYS, "fake")
}

/// An RDB of `n` string keys `<prefix>:<i>` = "v" in db 0, with its checksum.
fn rdb_of(n: usize, prefix: &str) -> Vec<u8> {
    let mut b = b"REDIS0010".to_vec();
    aux(&mut b, "redis-ver", "7.0.15");
    aux(&mut b, "redis-bits", "64");
    b.extend_from_slice(&[0xFE, 0x00]); // SELECTDB 0
    b.push(0xFB); // RESIZEDB: 32-bit length encodings
    for count in [n as u32, 0] {
        b.push(0x80);
        b.extend_from_slice(&count.to_be_bytes());
    }
    for i in 0..n {
        b.push(0x00); // string
        rdb_str(&mut b, format!("{prefix}:{i}").as_bytes());
        rdb_str(&mut b, b"v");
    }
    b.push(0xFF);
    let crc = shardis::rdb::crc64::crc64(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn aux(b: &mut Vec<u8>, k: &str, v: &str) {
    b.push(0xFA);
    rdb_str(b, k.as_bytes());
    rdb_str(b, v.as_bytes());
}

fn rdb_str(b: &mut Vec<u8>, s: &[u8]) {
    assert!(s.len() < 64, "short strings only");
    b.push(s.len() as u8);
    b.extend_from_slice(s);
}
