//! The expiry boundary through the command layer, on the injectable clock: Redis
//! treats a key as expired once the clock is *past* its deadline (`now > when`), so
//! during the deadline's own millisecond the key is still there and PTTL answers 0.

use super::harness::{Harness, Reply};

#[test]
fn a_key_lives_through_its_deadline_millisecond_and_goes_after_it() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let keys = ["a", "b", "c", "d", "e", "f"];
        for k in keys {
            assert_eq!(h.run(&["set", k, "v", "px", "100"]), Reply::Simple("OK".into()));
        }
        h.advance_ms(100);
        // Active expiry first (a fresh shard has a whole slice of budget): it must not
        // take keys whose deadline is now.
        for s in &mut h.shards {
            s.begin_turn();
            crate::shard::turns::expire_slice(s);
        }
        assert_eq!(h.run(&["dbsize"]), Reply::Int(keys.len() as i64), "{n} shards: active expiry");
        assert_eq!(h.run(&["get", "a"]), Reply::bulk("v"));
        assert_eq!(h.run(&["pttl", "b"]), Reply::Int(0));
        assert_eq!(h.run(&["ttl", "b"]), Reply::Int(0));
        assert_eq!(h.run(&["exists", "c"]), Reply::Int(1));
        assert_eq!(h.run(&["type", "d"]), Reply::Simple("string".into()));
        // EXPIRE with a deadline already reached deletes at once (Redis's
        // `checkAlreadyExpired`, `when <= now`): a different rule, kept.
        assert_eq!(h.run(&["pexpireat", "e", &h.clock.now_ms().to_string()]), Reply::Int(1));
        assert_eq!(h.run(&["exists", "e"]), Reply::Int(0));
        h.advance_ms(1);
        assert_eq!(h.run(&["get", "a"]), Reply::Nil);
        assert_eq!(h.run(&["pttl", "b"]), Reply::Int(-2));
        assert_eq!(h.run(&["exists", "c", "d", "f"]), Reply::Int(0));
        let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
        assert_eq!(expired, 5, "{n} shards: a, b, c, d, f expired (e was deleted)");
    }
}
