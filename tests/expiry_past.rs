//! A write with an absolute expiry already past, as Redis 7.0 handles each: `SET ...
//! EXAT/PXAT <past>` stores the key with that TTL (DBSIZE counts it until an access or
//! active expiry finds it expired); GETEX and EXPIREAT with a past time delete it at
//! once. Active expiry is off on both servers (`DEBUG SET-ACTIVE-EXPIRE 0`), so what
//! DBSIZE sees does not depend on when a cycle runs.

use crate::common;

#[test]
fn past_absolute_expiry_as_redis() {
    common::compare::each_pair("expiry-past", |p| {
        p.same(&["debug", "set-active-expire", "0"]);
        p.same(&["set", "k", "v", "exat", "1"]);
        p.same(&["dbsize"]);
        p.same(&["set", "k2", "v", "pxat", "1", "get"]);
        p.same(&["set", "k3", "old"]);
        p.same(&["set", "k3", "v", "pxat", "1", "get"]);
        p.same(&["dbsize"]);
        p.same(&["pexpiretime", "k"]);
        p.same(&["exists", "k"]);
        p.same(&["dbsize"]);
        p.same(&["set", "g", "v"]);
        p.same(&["getex", "g", "exat", "1"]);
        p.same(&["dbsize"]);
        p.same(&["set", "e", "v"]);
        p.same(&["expireat", "e", "1"]);
        p.same(&["dbsize"]);
        p.same(&["get", "k2"]);
        p.same(&["get", "k3"]);
        p.same(&["dbsize"]);
        p.same(&["debug", "set-active-expire", "1"]);
    });
}
