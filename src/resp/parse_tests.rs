//! Unit tests of the stateless RESP parser: every frame type, inline commands, limits
//! and malformed input.

use super::*;

fn parse_all(buf: &[u8], limits: &Limits) -> Result<(Parsed, Vec<Vec<u8>>), ProtoError> {
    let mut args = Vec::new();
    let mut scratch = Vec::new();
    let r = parse_request(buf, &mut args, &mut scratch, limits)?;
    let v = args.iter().map(|&r| arg_slice(buf, &scratch, r).to_vec()).collect();
    Ok((r, v))
}

fn one(buf: &[u8]) -> Result<(Parsed, Vec<Vec<u8>>), ProtoError> {
    parse_all(buf, &Limits::default())
}

fn strs(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_basic() {
    let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    let (p, a) = one(req).unwrap();
    assert_eq!(p, Parsed::Command { consumed: req.len() });
    assert_eq!(a, strs(&["SET", "k", "value"]));
    // Empty and binary arguments.
    let req = b"*2\r\n$0\r\n\r\n$3\r\n\r\n\0\r\n";
    let (p, a) = one(req).unwrap();
    assert_eq!(p, Parsed::Command { consumed: req.len() });
    assert_eq!(a, vec![b"".to_vec(), b"\r\n\0".to_vec()]);
}

#[test]
fn pipelined_batch() {
    let mut buf = Vec::new();
    for i in 0..100 {
        let k = format!("key:{i}");
        buf.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", k.len(), k).as_bytes());
        buf.extend_from_slice(format!("PING {i}\r\n").as_bytes());
    }
    let mut off = 0;
    let mut args = Vec::new();
    let mut scratch = Vec::new();
    let mut n = 0;
    while off < buf.len() {
        args.clear();
        let r = parse_request(&buf[off..], &mut args, &mut scratch, &Limits::default()).unwrap();
        let Parsed::Command { consumed } = r else { panic!("{r:?}") };
        let a0 = arg_slice(&buf[off..], &scratch, args[0]);
        let a1 = arg_slice(&buf[off..], &scratch, args[1]);
        if n % 2 == 0 {
            assert_eq!(a0, b"GET");
            assert_eq!(a1, format!("key:{}", n / 2).as_bytes());
        } else {
            assert_eq!(a0, b"PING");
            assert_eq!(a1, format!("{}", n / 2).as_bytes());
        }
        off += consumed;
        n += 1;
    }
    assert_eq!(n, 200);
}

#[test]
fn every_prefix_is_incomplete() {
    let samples: [&[u8]; 3] = [
        b"*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$5\r\nhello\r\n",
        b"SET \"a b\\x41\" 'c\\'d'\r\n",
        b"*2\r\n$0\r\n\r\n$1\r\nx\r\n",
    ];
    for req in samples {
        let (full, full_args) = one(req).unwrap();
        assert_eq!(full, Parsed::Command { consumed: req.len() });
        for cut in 0..req.len() {
            let r = one(&req[..cut]).unwrap().0;
            match r {
                Parsed::Incomplete { need } => {
                    assert!(need == 0 || (need > cut && need <= req.len()), "cut {cut} need {need}")
                }
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        // Extra trailing bytes (next request) don't change the result.
        let mut more = req.to_vec();
        more.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let (p, a) = one(&more).unwrap();
        assert_eq!(p, full);
        assert_eq!(a, full_args);
    }
}

#[test]
fn need_hint_for_big_bulk() {
    let r = one(b"*2\r\n$3\r\nGET\r\n$100\r\nabc").unwrap().0;
    assert_eq!(r, Parsed::Incomplete { need: 13 + 6 + 100 + 2 });
    let r = one(b"*1\r\n$3\r").unwrap().0;
    assert_eq!(r, Parsed::Incomplete { need: 8 });
}

#[test]
fn empty_requests() {
    assert_eq!(one(b"*0\r\n").unwrap().0, Parsed::Empty { consumed: 4 });
    assert_eq!(one(b"*-1\r\n").unwrap().0, Parsed::Empty { consumed: 5 });
    assert_eq!(one(b"\r\n").unwrap().0, Parsed::Empty { consumed: 2 });
    assert_eq!(one(b"\n").unwrap().0, Parsed::Empty { consumed: 1 });
    assert_eq!(one(b"   \t \r\n").unwrap().0, Parsed::Empty { consumed: 7 });
    assert_eq!(one(b"").unwrap().0, Parsed::Incomplete { need: 0 });
}

#[test]
fn inline_commands() {
    let (p, a) = one(b"SET  key   value\r\nGET").unwrap();
    assert_eq!(p, Parsed::Command { consumed: 18 });
    assert_eq!(a, strs(&["SET", "key", "value"]));
    let (_, a) = one(b"PING\n").unwrap();
    assert_eq!(a, strs(&["PING"]));
    // 'it''s': a closing quote followed by a quote, not a blank.
    assert_eq!(one(b"set 'it''s'\r\n").unwrap_err(), ProtoError::UnbalancedQuotes);
}

#[test]
fn inline_quotes() {
    let (_, a) = one(b"SET \"a b\" 'c d'\r\n").unwrap();
    assert_eq!(a, strs(&["SET", "a b", "c d"]));
    let (_, a) = one(b"X \"\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n").unwrap();
    assert_eq!(a[1], b"AJ\n\r\t\x08\x07\\\"q".to_vec());
    let (_, a) = one(b"X 'it\\'s' '\\n'\r\n").unwrap();
    assert_eq!(a[1], b"it's".to_vec());
    assert_eq!(a[2], b"\\n".to_vec());
    // Quotes in the middle of a token join with the surrounding bytes.
    let (_, a) = one(b"X ab\"c d\" f\r\n").unwrap();
    assert_eq!(a, strs(&["X", "abc d", "f"]));
    // Empty quoted argument.
    let (_, a) = one(b"X \"\" ''\r\n").unwrap();
    assert_eq!(a, strs(&["X", "", ""]));
    // Invalid \x escape is taken literally (as '\' then 'x').
    let (_, a) = one(b"X \"\\xZZ\"\r\n").unwrap();
    assert_eq!(a[1], b"xZZ".to_vec());
    // \v and \f are skipped as leading blanks but do not end a token.
    let (_, a) = one(b"X\x0b\x0ca\x0bb\r\n").unwrap();
    assert_eq!(a, vec![b"X\x0b\x0ca\x0bb".to_vec()]);
    let (_, a) = one(b"\x0b\x0cPING\r\n").unwrap();
    assert_eq!(a, strs(&["PING"]));
    // NUL ends the line for splitting purposes.
    let (p, a) = one(b"GET a\0b c\r\n").unwrap();
    assert_eq!(p, Parsed::Command { consumed: 11 });
    assert_eq!(a, strs(&["GET", "a"]));
}

#[test]
fn inline_unbalanced() {
    for bad in [
        &b"SET \"abc\r\n"[..],
        b"SET 'abc\r\n",
        b"SET \"abc\"def\r\n",
        b"SET 'abc'def\r\n",
        b"SET \"abc\\\"\r\n",
        b"X ab\"c d\"e\r\n",
    ] {
        let e = one(bad).unwrap_err();
        assert_eq!(e, ProtoError::UnbalancedQuotes, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(e.message(), "ERR Protocol error: unbalanced quotes in request");
    }
}

#[test]
fn multibulk_errors() {
    let e = one(b"*abc\r\n").unwrap_err();
    assert_eq!(e.message(), "ERR Protocol error: invalid multibulk length");
    assert_eq!(one(b"*\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
    assert_eq!(one(b"*01\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
    assert_eq!(one(b"*2147483648\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
    assert_eq!(one(b"*2147483647\r\n").unwrap().0, Parsed::Incomplete { need: 0 });
    let e = one(b"*1\r\nx\r\n").unwrap_err();
    assert_eq!(e, ProtoError::ExpectedDollar(b'x'));
    assert_eq!(e.message(), "ERR Protocol error: expected '$', got 'x'");
    // The type byte is only checked once the full line is there.
    assert_eq!(one(b"*1\r\nxyz").unwrap().0, Parsed::Incomplete { need: 0 });
    let e = one(b"*1\r\n$-1\r\n").unwrap_err();
    assert_eq!(e.message(), "ERR Protocol error: invalid bulk length");
    assert_eq!(one(b"*1\r\n$x\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
    assert_eq!(one(b"*1\r\n$03\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
    assert_eq!(one(b"*1\r\n$\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
    assert_eq!(one(b"*1\r\n\r\n").unwrap_err(), ProtoError::ExpectedDollar(b'\r'));
    // Second argument's header is only validated after the first arrived.
    assert_eq!(one(b"*2\r\n$3\r\nGE").unwrap().0, Parsed::Incomplete { need: 13 });
    assert_eq!(one(b"*2\r\n$3\r\nGET\r\n?\r\n").unwrap_err(), ProtoError::ExpectedDollar(b'?'));
}

#[test]
fn huge_lengths_rejected_early() {
    let e = one(b"*1\r\n$3000000000\r\n").unwrap_err();
    assert_eq!(e, ProtoError::InvalidBulkLength);
    let e = one(b"*1\r\n$536870913\r\n").unwrap_err();
    assert_eq!(e, ProtoError::InvalidBulkLength);
    assert_eq!(one(b"*1\r\n$536870912\r\n").unwrap().0, Parsed::Incomplete { need: 16 + 536870912 + 2 });
    let lim = Limits { max_bulk_len: 5, ..Limits::default() };
    assert_eq!(parse_all(b"*1\r\n$6\r\n", &lim).unwrap_err(), ProtoError::InvalidBulkLength);
    let lim = Limits { max_multibulk_len: 3, ..Limits::default() };
    assert_eq!(parse_all(b"*4\r\n", &lim).unwrap_err(), ProtoError::InvalidMultibulkLength);
    // Count lines/bulk headers without \r beyond 64 KiB.
    let mut big = b"*".to_vec();
    big.resize(64 * 1024 + 1, b'1');
    assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigMbulkCount);
    assert_eq!(ProtoError::TooBigMbulkCount.message(), "ERR Protocol error: too big mbulk count string");
    big.truncate(64 * 1024);
    assert_eq!(one(&big).unwrap().0, Parsed::Incomplete { need: 0 });
    let mut big = b"*1\r\n$".to_vec();
    big.resize(4 + 64 * 1024 + 1, b'1');
    assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigBulkCount);
    assert_eq!(ProtoError::TooBigBulkCount.message(), "ERR Protocol error: too big bulk count string");
    let mut big = b"GET ".to_vec();
    big.resize(64 * 1024 + 1, b'a');
    assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigInline);
    assert_eq!(ProtoError::TooBigInline.message(), "ERR Protocol error: too big inline request");
    big.truncate(64 * 1024);
    assert_eq!(one(&big).unwrap().0, Parsed::Incomplete { need: 0 });
}

#[test]
fn unauthenticated_limits() {
    let lim = Limits { unauthenticated: true, ..Limits::default() };
    let e = parse_all(b"*11\r\n", &lim).unwrap_err();
    assert_eq!(e.message(), "ERR Protocol error: unauthenticated multibulk length");
    assert_eq!(parse_all(b"*10\r\n", &lim).unwrap().0, Parsed::Incomplete { need: 0 });
    let e = parse_all(b"*1\r\n$16385\r\n", &lim).unwrap_err();
    assert_eq!(e.message(), "ERR Protocol error: unauthenticated bulk length");
    assert!(matches!(parse_all(b"*1\r\n$16384\r\n", &lim).unwrap().0, Parsed::Incomplete { .. }));
}
