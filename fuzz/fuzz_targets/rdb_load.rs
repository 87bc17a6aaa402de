//! Feeds arbitrary bytes to the RDB file loader and the DUMP payload decoder. Any
//! outcome but a panic, a hang or an abort is fine. The checksum would reject almost
//! every input before the decoder saw it, so the trailer is zeroed (checksum
//! disabled) for files, and payloads are wrapped in a valid envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::rdb::{self, LoadOptions, LoadedKey, crc64};

fuzz_target!(|data: &[u8]| {
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(data);
    let n = file.len();
    if n >= 17 {
        file[n - 8..].fill(0);
    }
    let mut sink = |_k: LoadedKey| {};
    let _ = rdb::load(&file[..], &mut sink, &LoadOptions::default());

    let mut payload = data.to_vec();
    payload.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let _ = rdb::restore_payload(&payload);
});
