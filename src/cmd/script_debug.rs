//! DEBUG PROTOCOL inside a script: what Redis's tests call, under DEBUG
//! SET-DISABLE-DENY-SCRIPTS, to see how a script receives each RESP3 type.

use crate::resp::ReplyWriter;

/// DEBUG PROTOCOL, callable from a script under DEBUG SET-DISABLE-DENY-SCRIPTS (Redis's
/// tests of how a script sees each RESP3 type): Redis's fixed replies, written in the
/// script's protocol (`redis.setresp`).
pub fn debug_protocol(name: &[u8], mut w: ReplyWriter) {
    let resp3 = w.proto == crate::resp::Proto::Resp3;
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    if is("string") {
        w.bulk(b"Hello World");
    } else if is("integer") {
        w.int(12345);
    } else if is("double") {
        // Redis's fixed reply, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        w.double(3.141);
    } else if is("bignum") {
        const BIG: &[u8] = b"1234567999999999999999999999999999999";
        if resp3 {
            w.raw(b"(");
            w.raw(BIG);
            w.raw(b"\r\n");
        } else {
            w.bulk(BIG);
        }
    } else if is("null") {
        w.null();
    } else if is("array") || is("set") {
        if is("set") {
            w.set(3)
        } else {
            w.array(3)
        }
        for j in 0..3 {
            w.int(j);
        }
    } else if is("map") {
        w.map(3);
        for j in 0..3 {
            w.int(j);
            w.bool(j == 1);
        }
    } else if is("attrib") {
        if resp3 {
            w.raw(b"|1\r\n");
            w.bulk(b"key-popularity");
            w.array(2);
            w.bulk(b"key:123");
            w.int(90);
        }
        w.bulk(b"Some real reply following the attribute");
    } else if is("push") {
        if !resp3 {
            w.error("ERR RESP2 is not supported by this command");
            return;
        }
        w.push(2);
        w.bulk(b"server-cpu-usage");
        w.int(42);
        w.bulk(b"Some real reply following the push reply");
    } else if is("verbatim") {
        w.verbatim(b"txt", b"This is a verbatim\nstring");
    } else if is("true") || is("false") {
        w.bool(is("true"));
    } else {
        w.error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        );
    }
}
