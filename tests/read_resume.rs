//! A connection whose reading was paused (`server::worker::flow`) must be read again
//! once what held it clears, even when the parse that hit the limit had consumed all
//! its input. Found under a replication stress load: a client pipelining batches of
//! `SELECT 0; SET k v PX 1; SELECT 1; SET k v` over two shards stopped being read
//! (its socket held 600 KB, CLIENT LIST showed `qbuf=0`) in about half the runs of 40
//! batches: the last command of a parse filled the window of replies owed by the other
//! shard, and the replies that reopened it queued no parse because no input was left,
//! so nothing re-armed the cancelled receive.

use crate::common;
use common::*;
use std::io::Write;
use std::time::Duration;

const BATCHES: usize = 80;
const PAIRS: usize = 5000;

#[test]
fn a_client_stays_read_when_its_reply_window_fills_as_its_input_runs_out() {
    let s = Server::start(2, &[]);
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), Resp::simple("OK"));
    let stream = s.tcp();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = RespReader::new(stream);
    for batch in 0..BATCHES {
        let mut buf = Vec::new();
        for i in batch * PAIRS..(batch + 1) * PAIRS {
            let key = format!("k{i}");
            encode_cmd_into(&mut buf, &["SELECT", "0"]);
            encode_cmd_into(&mut buf, &["SET", key.as_str(), "short", "PX", "1"]);
            encode_cmd_into(&mut buf, &["SELECT", "1"]);
            encode_cmd_into(&mut buf, &["SET", key.as_str(), "live"]);
        }
        encode_cmd_into(&mut buf, &["SELECT", "0"]);
        // Written from another thread: the whole batch (~700 KB) may not fit the
        // socket buffers before the replies are read, as with any pipelining client.
        let sender = std::thread::spawn(move || {
            writer.write_all(&buf).unwrap();
            writer
        });
        for n in 0..PAIRS * 4 + 1 {
            match reader.read() {
                Ok(r) => assert_eq!(r, Resp::simple("OK"), "batch {batch}, reply {n}"),
                Err(e) => {
                    panic!("batch {batch}: reply {n} of {} never came ({e}): the server stopped reading", PAIRS * 4 + 1)
                }
            }
        }
        writer = sender.join().unwrap();
    }
    assert_eq!(admin.cmd(&["SELECT", "1"]), Resp::simple("OK"));
    assert_eq!(admin.cmd(&["DBSIZE"]), Resp::Int((BATCHES * PAIRS) as i64));
}
