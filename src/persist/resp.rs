//! The AOF's wire format: RESP arrays of bulk strings, exactly what a client sends.
//!
//! Encoding appends one command to a buffer. Decoding is strict (the loader and
//! `shardis-check-aof` must tell a torn tail from corruption): `Incomplete` means the
//! bytes stop inside a command, `Bad` means they can never be a command.

/// Appends `*N\r\n$len\r\narg\r\n...` for `args`.
pub fn encode<A: AsRef<[u8]>>(buf: &mut Vec<u8>, args: &[A]) {
    encode_iter(buf, args.len(), args.iter().map(|a| a.as_ref()));
}

/// `encode` for `n` arguments handed out one by one (a client's command as parsed,
/// without collecting it first).
pub fn encode_iter<'a>(buf: &mut Vec<u8>, n: usize, args: impl Iterator<Item = &'a [u8]>) {
    header(buf, b'*', n);
    for a in args {
        header(buf, b'$', a.len());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

fn header(buf: &mut Vec<u8>, kind: u8, n: usize) {
    buf.push(kind);
    // Straight into the log buffer: this runs for every argument of every write.
    crate::util::num::write_u64(buf, n as u64);
    buf.extend_from_slice(b"\r\n");
}

/// Bytes of `*2\r\n$4\r\nECHO\r\n$` and of the CR LFs after the length and payload.
const FILLER_FRAME: usize = 19;

/// The payload length of a filler of exactly `len` bytes, if one exists: `len` is the
/// frame plus the payload length's digits plus the payload (no digit count fits 30,
/// 121, 1022, 10023, ...: a gap of such a size grows by a block, see `io::direct::Padding`).
fn filler_payload(len: usize) -> Option<usize> {
    (1..=20).find_map(|digits| {
        let k = len.checked_sub(FILLER_FRAME + digits)?;
        (k.checked_ilog10().map_or(1, |l| l as usize + 1) == digits).then_some(k)
    })
}

/// Fills `buf` with one no-op command of exactly its length: `ECHO` of NUL bytes. It
/// pads the O_DIRECT log to block boundaries and fills its preallocated blocks, so the
/// live file stays a command stream that redis-server (`redis-cli --pipe`),
/// redis-check-aof and Redis's AOF loader all take (the loader accepts `*` commands
/// and `#` annotations only; a run of NULs would be a "too big inline request"). The
/// loader here skips it (`load::is_filler`); start-up and a clean close cut it off.
pub fn filler(buf: &mut [u8]) {
    let k = filler_payload(buf.len()).expect("a filler fits this length");
    let mut v = Vec::with_capacity(FILLER_FRAME + 20);
    v.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n");
    header(&mut v, b'$', k);
    buf[..v.len()].copy_from_slice(&v);
    let end = buf.len() - 2;
    buf[v.len()..end].fill(0);
    buf[end..].copy_from_slice(b"\r\n");
}

/// The O_DIRECT log's padding (see `filler`).
pub const PADDING: crate::io::direct::Padding =
    crate::io::direct::Padding { fits: |n| filler_payload(n).is_some(), fill: filler };

/// What `decode` found at the start of its input.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole command: its arguments' byte ranges in the input, and its length.
    Cmd { args: Vec<(usize, usize)>, len: usize },
    /// The input ends inside a command (a torn tail).
    Incomplete,
    /// Not RESP: corruption.
    Bad(&'static str),
}

/// Decodes the command at the start of `b`.
pub fn decode(b: &[u8]) -> Decoded {
    let mut pos = 0;
    let n = match number(b, &mut pos, b'*') {
        Ok(n) if n >= 1 => n,
        Ok(_) => return Decoded::Bad("empty command"),
        Err(e) => return e,
    };
    let mut args = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let len = match number(b, &mut pos, b'$') {
            Ok(l) => l,
            Err(e) => return e,
        };
        let end = pos + len;
        if b.len() < end + 2 {
            return Decoded::Incomplete;
        }
        if &b[end..end + 2] != b"\r\n" {
            return Decoded::Bad("bulk string not terminated by CRLF");
        }
        args.push((pos, end));
        pos = end + 2;
    }
    Decoded::Cmd { args, len: pos }
}

/// Reads `<kind><digits>\r\n` at `*pos`.
fn number(b: &[u8], pos: &mut usize, kind: u8) -> Result<usize, Decoded> {
    let Some(&first) = b.get(*pos) else { return Err(Decoded::Incomplete) };
    if first != kind {
        return Err(Decoded::Bad(if kind == b'*' { "expected '*'" } else { "expected '$'" }));
    }
    let mut i = *pos + 1;
    let mut n: usize = 0;
    loop {
        let Some(&c) = b.get(i) else { return Err(Decoded::Incomplete) };
        match c {
            b'0'..=b'9' if i - *pos <= 12 => n = n * 10 + (c - b'0') as usize,
            b'\r' if i > *pos + 1 => break,
            _ => return Err(Decoded::Bad("invalid length")),
        }
        i += 1;
    }
    match b.get(i + 1) {
        None => return Err(Decoded::Incomplete),
        Some(b'\n') => {}
        Some(_) => return Err(Decoded::Bad("invalid length line")),
    }
    if kind == b'$' && n > 512 << 20 {
        return Err(Decoded::Bad("bulk string too long"));
    }
    *pos = i + 2;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length a filler claims to fit decodes as one ECHO of exactly that length;
    /// every gap padding can meet (1..ALIGN, then a block more) is met.
    #[test]
    fn fillers_are_one_echo_of_the_exact_length() {
        use crate::io::direct::ALIGN;
        let mut misses = Vec::new();
        for len in 0..3 * ALIGN {
            if filler_payload(len).is_none() {
                misses.push(len);
                continue;
            }
            let mut b = vec![b'x'; len];
            filler(&mut b);
            match decode(&b) {
                Decoded::Cmd { args, len: n } => {
                    assert_eq!((n, &b[args[0].0..args[0].1]), (len, &b"ECHO"[..]));
                    assert!(b[args[1].0..args[1].1].iter().all(|&c| c == 0));
                }
                d => panic!("{len}: {d:?}"),
            }
        }
        assert_eq!(misses, [(0..20).collect::<Vec<_>>(), vec![30, 121, 1022, 10023]].concat());
        for start in 1..ALIGN {
            let total = PADDING.padded(start);
            assert!(total.is_multiple_of(ALIGN) && total > start && filler_payload(total - start).is_some(), "{start}");
        }
        assert_eq!(PADDING.padded(ALIGN), ALIGN);
    }

    #[test]
    fn round_trip_and_torn_tails() {
        let mut b = Vec::new();
        encode(&mut b, &[&b"SET"[..], b"k", b""]);
        assert_eq!(b, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        match decode(&b) {
            Decoded::Cmd { args, len } => {
                assert_eq!(len, b.len());
                assert_eq!(&b[args[0].0..args[0].1], b"SET");
                assert_eq!(args[2].0, args[2].1);
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..b.len() {
            assert_eq!(decode(&b[..cut]), Decoded::Incomplete, "cut at {cut}");
        }
        assert!(matches!(decode(b"+OK\r\n"), Decoded::Bad(_)));
        assert!(matches!(decode(b"*1\r\n$3\r\nSETX\r\n"), Decoded::Bad(_)));
        assert!(matches!(decode(b"*x\r\n"), Decoded::Bad(_)));
        let mut c = Vec::new();
        encode_iter(&mut c, 3, [&b"SET"[..], b"k", b""].into_iter());
        assert_eq!(c, b);
    }
}
