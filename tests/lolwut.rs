//! LOLWUT compared with a real redis-server: version 5's squares byte for byte where
//! Redis draws them without randomness (at most two rows of squares), the shape and
//! captions of the random pictures (version 5 with more rows, version 6), argument
//! clamping and errors, RESP2 and RESP3 (verbatim text).

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, Server};

fn text(r: Resp) -> String {
    match r {
        Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8(b).expect("utf-8 art"),
        other => panic!("not text: {other:?}"),
    }
}

/// Lines and each line's width (characters, or coloured cells for version 6): what
/// a random picture must share.
fn shape(art: &str) -> Vec<usize> {
    art.lines().map(|l| if l.contains('\x1b') { l.matches("\x1b[0m").count() } else { l.chars().count() }).collect()
}

#[test]
fn lolwut_draws_as_redis() {
    let real = real_redis("lolwut");
    let s = Server::start(1, &[]);
    for proto in [2u8, 3] {
        let mut p = Pair::new(&s, &real, proto);
        for args in [
            &["lolwut"][..],
            &["lolwut", "version", "7"],
            &["lolwut", "version", "4"],
            &["lolwut", "version", "5", "10", "2", "2"],
            &["lolwut", "version", "5", "30", "5", "2"],
            &["lolwut", "version", "5", "66", "8", "1"],
            &["lolwut", "version", "5", "1", "1", "1"],
            &["lolwut", "version", "5", "3", "7", "2"],
            &["lolwut", "version", "5", "-4", "0", "-1"],
            &["lolwut", "version", "5", "2000", "300", "2"],
            &["lolwut", "version", "5", "x"],
            &["lolwut", "version", "6", "3", "y"],
            &["lolwut", "version", "x"],
            &["lolwut", "version"],
        ] {
            p.same(args);
        }
        for args in [
            &["lolwut", "version", "5"][..],
            &["lolwut", "version", "5", "40", "6", "9"],
            &["lolwut", "version", "6"],
            &["lolwut", "version", "6", "33", "7"],
            &["lolwut", "version", "6", "0", "-3"],
            &["lolwut", "version", "6", "1200", "2"],
        ] {
            let (ours, theirs) = p.both(args);
            let proto_kind = |r: &Resp| std::mem::discriminant(r);
            assert_eq!(proto_kind(&ours), proto_kind(&theirs), "{args:?}");
            let (ours, theirs) = (text(ours), text(theirs));
            assert_eq!(shape(&ours), shape(&theirs), "{args:?}");
            assert_eq!(ours.lines().last(), theirs.lines().last(), "{args:?}");
            // Our random choices come from the arguments: the same request, the same art.
            assert_eq!(text(p.ours.cmd(args)), ours, "{args:?}");
        }
        // Version 6 colours every cell with one of four ANSI colour pairs.
        let (ours, _) = p.both(&["lolwut", "version", "6", "20", "10"]);
        let art = text(ours);
        let cells = art.matches("\x1b[0m").count();
        assert_eq!(cells, 200);
        let colours = ["\x1b[0;30;40m", "\x1b[0;90;100m", "\x1b[0;37;47m", "\x1b[0;97;107m"];
        assert_eq!(colours.iter().map(|c| art.matches(c).count()).sum::<usize>(), 200);
    }
}
