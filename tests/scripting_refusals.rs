//! What a script is refused, and how its errors are counted, as in Redis 7.0: too few
//! good replicas (`min-replicas-to-write`) for a script flagged to write or a first
//! write command inside one, EVAL_RO of a script flagged to write, the error stats of
//! a script's error replies (counted once, where they arose), and the commands
//! Redis's own tests call from scripts (SORT BY a constant, DEBUG SLEEP). Each reply
//! is compared with redis-server's, on 1 and 4 shards, in RESP2 and RESP3.

use crate::common;

use common::compare::{Pair, each_pair};

/// Runs `script` (with `keys`) after a CONFIG RESETSTAT, then compares the reply and
/// INFO errorstats on both servers.
fn errors_of(p: &mut Pair, cmd: &str, script: &str, keys: &[&str]) {
    p.same(&["config", "resetstat"]);
    let n = keys.len().to_string();
    let mut args = vec![cmd, script, &n];
    args.extend_from_slice(keys);
    p.same(&args);
    p.same(&["info", "errorstats"]);
}

#[test]
fn too_few_replicas_refuse_scripts_that_write_as_redis() {
    each_pair("script-noreplicas", |p| {
        p.same(&["set", "x", "some value"]);
        p.same(&["config", "set", "min-replicas-to-write", "1"]);
        for (cmd, body) in [
            ("eval", "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])"),
            ("eval", "return redis.call('get', KEYS[1])"),
            // Flagged to write: refused before it runs.
            ("eval", "#!lua\nreturn redis.call('get', KEYS[1])"),
            ("eval_ro", "#!lua\nreturn redis.call('get', KEYS[1])"),
            // No flags: refused at its first write command, not after it wrote.
            ("eval", "return redis.call('set', KEYS[1], 1)"),
            ("eval", "return redis.pcall('set', KEYS[1], 1)"),
            ("eval", "redis.call('incr', KEYS[1]..'n'); return redis.call('set', KEYS[1], 1)"),
        ] {
            p.same(&[cmd, body, "1", "x"]);
        }
        p.same(&["multi"]);
        p.same(&["eval", "#!lua\nreturn 1", "0"]);
        p.same(&["exec"]);
        p.same(&["config", "set", "min-replicas-to-write", "0"]);
        let lib = "#!lua name=norepl\nredis.register_function('w', function() return 1 end)\n\
                   redis.register_function{function_name='r', callback=function() return 2 end, flags={'no-writes'}}";
        p.same(&["function", "load", "replace", lib]);
        p.same(&["config", "set", "min-replicas-to-write", "1"]);
        p.same(&["fcall", "w", "0"]);
        p.same(&["fcall", "r", "0"]);
        p.same(&["fcall_ro", "w", "0"]);
        p.same(&["config", "set", "min-replicas-to-write", "0"]);
        p.same(&["get", "x"]);
        p.same(&["function", "delete", "norepl"]);
    });
}

#[test]
fn eval_ro_refuses_a_script_flagged_to_write_as_redis() {
    each_pair("script-eval-ro-flags", |p| {
        p.same(&["eval_ro", "#!lua\nreturn 1", "0"]);
        p.same(&["eval_ro", "#!lua flags=allow-oom\nreturn 1", "0"]);
        p.same(&["eval_ro", "#!lua flags=no-writes\nreturn 1", "0"]);
        p.same(&["eval_ro", "return 1", "0"]);
        let common::Resp::Bulk(sha) = p.same(&["script", "load", "#!lua\nreturn 2"]) else { panic!("no sha") };
        p.same(&[&b"evalsha_ro"[..], &sha, b"0"]);
    });
}

/// A script's error replies count once in INFO errorstats: a `redis.call`'s error (the
/// command's, or the call's refusal) where it arose, raised or caught by
/// `redis.pcall` and returned; an `error_reply` or `{err=}` the script returns, or a
/// Lua error, when the script answers.
#[test]
fn script_errors_count_once_in_errorstats_as_redis() {
    each_pair("script-errorstats", |p| {
        p.same(&["set", "s", "abc"]);
        for (script, keys) in [
            ("return redis.error_reply('MY_ERR_CODE custom msg')", &[][..]),
            ("return redis.error_reply('')", &[]),
            ("return {err='X bad'}", &[]),
            ("return {{err='X bad'}, {err='Y bad'}}", &[]),
            ("return redis.status_reply('MY_OK')", &[]),
            ("return redis.call('incr', KEYS[1])", &["s"]),
            ("return redis.pcall('incr', KEYS[1])", &["s"]),
            ("local t = redis.pcall('incr', KEYS[1]); return t['err']", &["s"]),
            ("local t = redis.pcall('incr', KEYS[1]); return t['ignore_error_stats_update']", &["s"]),
            ("redis.pcall('nosuch'); return 1", &[]),
            ("return redis.call('incr', KEYS[1], 'y')", &["s"]),
            ("return redis.pcall('incr', KEYS[1], 'y')", &["s"]),
            ("error('boom')", &[]),
            ("error({err='CODE boom'})", &[]),
            ("error(redis.pcall('incr', KEYS[1]))", &["s"]),
            ("return redis.call('set', {})", &[]),
            ("return redis.pcall('set', {})", &[]),
            ("local ok, e = pcall(redis.call, 'incr', KEYS[1]); return e", &["s"]),
        ] {
            errors_of(p, "eval", script, keys);
        }
        errors_of(p, "eval_ro", "return redis.call('set', KEYS[1], 1)", &["s"]);
    });
}

#[test]
fn sort_by_a_constant_in_a_script_is_sorted_as_redis() {
    each_pair("script-sort-constant", |p| {
        let members = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "l", "m", "z", "aa", "aaa", "azz"];
        let mut sadd = vec!["sadd", "myset"];
        sadd.extend_from_slice(&members);
        p.same(&sadd);
        p.same(&["rpush", "mylist", "c", "a", "b"]);
        for script in [
            "return redis.call('sort', KEYS[1], 'by', '_')",
            "return redis.call('sort', KEYS[1], 'by', '_', 'get', '#', 'get', '_:*')",
            "return redis.call('sort_ro', KEYS[1], 'by', '_')",
            "return redis.call('sort', KEYS[1], 'by', '_', 'desc', 'limit', '1', '3')",
        ] {
            p.same(&["eval", script, "1", "myset"]);
            // A list keeps its order: it is the same on every server.
            p.same(&["eval", script, "1", "mylist"]);
        }
    });
}

/// DEBUG SLEEP from a script (under DEBUG SET-DISABLE-DENY-SCRIPTS) blocks with the
/// script's clock stopped, so a key that expires meanwhile still exists for it; DEBUG
/// OBJECT shows a logically expired key that is still there, as Redis's tests use.
#[test]
fn debug_sleep_in_a_script_and_debug_object_of_an_expired_key_as_redis() {
    each_pair("script-debug-sleep", |p| {
        p.same(&["debug", "set-disable-deny-scripts", "1"]);
        let script = "redis.call('set', KEYS[1], 'v', 'px', 1) redis.call('debug', 'sleep', '0.01') \
                      return redis.call('exists', KEYS[1])";
        p.same(&["eval", script, "1", "key"]);
        p.same(&["exists", "key"]);
        p.same(&["debug", "set-active-expire", "0"]);
        p.same(&["set", "key", "value", "px", "1"]);
        // The key's millisecond passes: nothing to ask either server without expiring it.
        let (start, deadline) = (std::time::Instant::now(), std::time::Duration::from_millis(2));
        while start.elapsed() < deadline {
            std::hint::spin_loop();
        }
        let (ours, theirs) = p.both(&["debug", "object", "key"]);
        for r in [ours, theirs] {
            assert!(matches!(&r, common::Resp::Simple(s) if s.starts_with("Value at:")), "{r:?}");
        }
        p.same(&["eval", "return redis.call('exists', KEYS[1])", "1", "key"]);
        p.same(&["exists", "key"]);
        p.same(&["debug", "set-active-expire", "1"]);
        p.same(&["debug", "set-disable-deny-scripts", "0"]);
    });
}
