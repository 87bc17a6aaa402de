//! Big values sent over many reads: a SET of a multi-megabyte value (read into a
//! buffer sized for it, which becomes the value without a copy), with more commands
//! pipelined behind it in the same writes; SET with options and RPUSH of several big
//! elements (the copying paths). Values must arrive intact, what reads the arguments
//! after the command (the slowlog) must see them whole, and nothing may stay held by
//! the connection afterwards.
//!
//! Runs with 1 and 4 shards: with four, most keys live on another shard and travel
//! as owned copies.

use crate::common;

use common::{Resp, SHARD_COUNTS, Server, encode_cmd, wait_until};
use std::time::Duration;

/// `len` bytes of a deterministic pattern that includes CR, LF and `$`.
fn value(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = common::Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

fn used_memory(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
    let line = info.lines().find(|l| l.starts_with("used_memory:")).expect("used_memory");
    line["used_memory:".len()..].trim().parse().unwrap()
}

fn client_field(c: &mut redis::Connection, id: i64, name: &str) -> u64 {
    let line: String = redis::cmd("CLIENT").arg("LIST").arg("ID").arg(id).query(c).unwrap();
    let f = line.split(' ').find_map(|f| f.strip_prefix(name)?.strip_prefix('=')).expect(name);
    f.trim().parse().unwrap()
}

#[test]
fn big_set_values_arrive_intact_and_are_not_kept_by_the_connection() {
    const MIB: usize = 1 << 20;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut ctl = s.conn();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("slowlog-log-slower-than").arg(0).query(&mut ctl).unwrap();
        let empty = used_memory(&mut ctl);
        let mut raw = s.raw();
        let Resp::Int(id) = raw.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };

        // Plain SETs, each followed in the same writes by a STRLEN and a small SET: the
        // read that ends the value brings the next requests along.
        let keys: Vec<String> = (0..4).map(|i| format!("big:{i}")).collect();
        let values: Vec<Vec<u8>> = (0..4).map(|i| value(3 * MIB + 1000 * i, i as u64 + 1)).collect();
        let mut stream = Vec::new();
        for (k, v) in keys.iter().zip(&values) {
            stream.extend(encode_cmd(&[b"SET", k.as_bytes(), v.as_slice()]));
            stream.extend(encode_cmd(&["STRLEN", k]));
            stream.extend(encode_cmd(&["SET", "small", k]));
        }
        for chunk in stream.chunks(16 << 10) {
            raw.send(chunk);
        }
        for v in &values {
            assert_eq!(raw.read(), Resp::simple("OK"), "{shards} shards");
            assert_eq!(raw.read(), Resp::Int(v.len() as i64), "{shards} shards");
            assert_eq!(raw.read(), Resp::simple("OK"), "{shards} shards");
        }

        // The copying paths: SET with an option, and RPUSH of two big elements and a
        // small one (the first big element completes while the request is partial).
        let with_ttl = value(2 * MIB, 99);
        let (e1, e2) = (value(MIB + 5, 7), value(MIB / 2, 8));
        let mut stream = encode_cmd(&[&b"SET"[..], b"big:ttl", &with_ttl, b"EX", b"1000"]);
        stream.extend(encode_cmd(&[&b"RPUSH"[..], b"big:list", &e1, &e2, b"tail"]));
        for chunk in stream.chunks(16 << 10) {
            raw.send(chunk);
        }
        assert_eq!(raw.read(), Resp::simple("OK"), "{shards} shards");
        assert_eq!(raw.read(), Resp::Int(3), "{shards} shards");

        // Nothing stays with the connection, and the values are held once: less than
        // 1.5x their size over the empty server while stored (before any big reply), all
        // of it back after DEL.
        let mut line = (0, 0);
        let idle = wait_until(Duration::from_secs(10), || {
            line = (client_field(&mut ctl, id, "argv-mem"), client_field(&mut ctl, id, "qbuf"));
            line == (0, 0)
        });
        assert!(idle, "{shards} shards: argv-mem and qbuf stay at {line:?}");
        let stored: usize = values.iter().map(Vec::len).sum::<usize>() + with_ttl.len() + e1.len() + e2.len();
        let held = used_memory(&mut ctl).saturating_sub(empty);
        assert!(
            held >= stored as u64 && held < (stored + stored / 2) as u64,
            "{shards} shards: {held} bytes held for {stored}"
        );
        for (k, v) in keys.iter().zip(&values) {
            let got: Vec<u8> = redis::cmd("GET").arg(k).query(&mut ctl).unwrap();
            assert!(got == *v, "{shards} shards: {k} differs ({} bytes, want {})", got.len(), v.len());
        }
        let got: Vec<u8> = redis::cmd("GET").arg("big:ttl").query(&mut ctl).unwrap();
        assert!(got == with_ttl, "{shards} shards: big:ttl differs");
        let ttl: i64 = redis::cmd("TTL").arg("big:ttl").query(&mut ctl).unwrap();
        assert!((900..=1000).contains(&ttl), "{shards} shards: TTL {ttl}");
        let list: Vec<Vec<u8>> = redis::cmd("LRANGE").arg("big:list").arg(0).arg(-1).query(&mut ctl).unwrap();
        assert!(list == [e1.clone(), e2.clone(), b"tail".to_vec()], "{shards} shards: big:list differs");

        // The slowlog read the arguments after SET ran: the value whole (its first 128
        // bytes and the count of the rest), as Redis logs it.
        let Resp::Array(entries) = raw.cmd(&["SLOWLOG", "GET", "-1"]) else { panic!("SLOWLOG GET") };
        for (k, v) in keys.iter().zip(&values) {
            let mut want = v[..128].to_vec();
            want.extend(format!("... ({} more bytes)", v.len() - 128).into_bytes());
            let logged = entries.iter().any(|e| {
                let Resp::Array(fields) = e else { return false };
                fields.get(3)
                    == Some(&Resp::Array(vec![
                        Resp::Bulk(b"SET".to_vec()),
                        Resp::Bulk(k.clone().into_bytes()),
                        Resp::Bulk(want.clone()),
                    ]))
            });
            assert!(logged, "{shards} shards: no intact slowlog entry for SET {k}");
        }

        let _: () = redis::cmd("SLOWLOG").arg("RESET").query(&mut ctl).unwrap();
        let mut del = redis::cmd("DEL");
        del.arg(&keys).arg("big:ttl").arg("big:list");
        let n: i64 = del.query(&mut ctl).unwrap();
        assert_eq!(n, 6, "{shards} shards");
        let mut now = 0;
        let freed = wait_until(Duration::from_secs(10), || {
            now = used_memory(&mut ctl);
            now < empty + (2 * MIB) as u64
        });
        assert!(freed, "{shards} shards: used_memory {now} after DEL, {empty} when empty");
    }
}
