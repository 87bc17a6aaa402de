//! The RDB file loader and the DUMP payload decoder (RESTORE), fed arbitrary bytes.
//!
//! A checksum would reject almost every input before the decoder saw it, so the file's
//! trailer is zeroed (checksum disabled) and payloads are wrapped in a valid envelope.
//! Invariants checked (beyond "no panic, no hang, no huge allocation"):
//! - a payload that decodes re-encodes (DUMP) to a payload that decodes to a value
//!   with the same encoding: decode(encode(v)) == v, as DUMP -> RESTORE relies on;
//! - every key a file load yields re-encodes the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::rdb::{self, LoadOptions, LoadedKey, crc64};
use shardis::storage::{EncodingLimits, Value};

fn assert_round_trip(v: &Value) {
    let p = rdb::dump_payload(v);
    let back = rdb::restore_payload(&p, &EncodingLimits::DEFAULT).unwrap_or_else(|e| panic!("own DUMP payload refused: {e:?}"));
    assert_eq!(rdb::dump_payload(&back), p, "DUMP -> RESTORE -> DUMP changed the payload");
}

fuzz_target!(|data: &[u8]| {
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(data);
    let n = file.len();
    if n >= 17 {
        file[n - 8..].fill(0);
    }
    let mut sink = |k: LoadedKey| assert_round_trip(&k.value);
    let _ = rdb::load(&file[..], &mut sink, &LoadOptions::default());

    let mut payload = data.to_vec();
    payload.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    if let Ok(v) = rdb::restore_payload(&payload, &EncodingLimits::DEFAULT) {
        assert_round_trip(&v);
    }
});
