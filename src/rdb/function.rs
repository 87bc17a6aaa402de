//! The function opcode (`RDB_OPCODE_FUNCTION2`, 245): one function library's code, as
//! Redis 7.0 writes it after the aux fields and before the first database, and as
//! FUNCTION DUMP payloads hold it.
//!
//! Only the bytes live here: which libraries a server holds, and what loading one
//! means, is `cmd::function`'s business. A snapshot's libraries arrive in
//! `LoadStats::functions`, in file order.

use super::encode::put_string;
use super::opcode;

/// Appends one opcode + code record per library.
pub fn put_functions(buf: &mut Vec<u8>, codes: &[Vec<u8>]) {
    for code in codes {
        buf.push(opcode::FUNCTION2);
        put_string(buf, code, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_survive_a_snapshot_round_trip() {
        let codes =
            vec![b"#!lua name=a\nredis.register_function('fa', function() return 1 end)".to_vec(), vec![b'x'; 300]];
        let opts = crate::rdb::WriteOptions { functions: codes.clone(), ..Default::default() };
        let mut file = Vec::new();
        crate::rdb::write_snapshot(&[], &mut file, &opts).unwrap();
        let (keys, stats) = crate::rdb::load_bytes(&file, &Default::default()).unwrap();
        assert!(keys.is_empty());
        assert_eq!(stats.functions, codes);
        let mut one = Vec::new();
        put_functions(&mut one, &codes[..1]);
        assert_eq!(one[0], 245);
    }
}
