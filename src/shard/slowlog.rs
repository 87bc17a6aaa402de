//! SLOWLOG entries and LATENCY samples, kept per thread and merged when asked.
//!
//! Recording is on the command path, so it costs one comparison per command unless the
//! command was slow enough to log.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slowlog ids are global so that entries from different shards sort and never repeat.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Redis keeps at most 32 arguments and 128 bytes of each.
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: String,
}

/// A latency event's recent samples: (unix secs, ms), oldest first, at most 160.
#[derive(Clone, Debug, Default)]
pub struct LatencyEvent {
    pub samples: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

#[derive(Default)]
pub struct Monitor {
    pub slowlog: VecDeque<SlowEntry>,
    pub latency: HashMap<&'static str, LatencyEvent>,
}

impl Monitor {
    /// Logs a command that took `micros`, trimming to `max_len` entries.
    pub fn log_slow<'a>(
        &mut self,
        micros: u64,
        unix_secs: u64,
        args: impl ExactSizeIterator<Item = &'a [u8]>,
        max_len: usize,
        who: (&str, &str),
    ) {
        let entry = slow_entry(micros, unix_secs, args, who);
        self.slowlog.push_front(entry);
        self.slowlog.truncate(max_len);
    }

    /// Files an entry recorded on another shard for a client of this one (`Msg::
    /// SlowEntry`), in id order (newest first), trimming to `max_len` entries.
    pub fn file_slow(&mut self, entry: SlowEntry, max_len: usize) {
        let at = self.slowlog.partition_point(|e| e.id > entry.id);
        self.slowlog.insert(at, entry);
        self.slowlog.truncate(max_len);
    }

    /// Records a latency sample for `event` (one per second per event, keeping the max).
    pub fn add_latency(&mut self, event: &'static str, unix_secs: u64, ms: u64) {
        add_sample(&mut self.latency, event, unix_secs, ms);
    }
}

/// An entry for a command that took `micros` (at most 32 arguments of 128 bytes).
pub fn slow_entry<'a>(
    micros: u64,
    unix_secs: u64,
    args: impl ExactSizeIterator<Item = &'a [u8]>,
    who: (&str, &str),
) -> SlowEntry {
    let total = args.len();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(total.min(MAX_ARGS));
    for (i, a) in args.enumerate() {
        if i == MAX_ARGS - 1 && total > MAX_ARGS {
            kept.push(format!("... ({} more arguments)", total - MAX_ARGS + 1).into_bytes());
            break;
        }
        if a.len() > MAX_ARG_LEN {
            let mut v = a[..MAX_ARG_LEN].to_vec();
            v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
            kept.push(v);
        } else {
            kept.push(a.to_vec());
        }
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    SlowEntry { id, unix_secs, micros, args: kept, addr: who.0.to_string(), name: who.1.to_string() }
}

fn add_sample(events: &mut HashMap<&'static str, LatencyEvent>, event: &'static str, unix_secs: u64, ms: u64) {
    let e = events.entry(event).or_default();
    e.max_ms = e.max_ms.max(ms);
    match e.samples.back_mut() {
        Some((t, v)) if *t == unix_secs => *v = (*v).max(ms),
        _ => {
            e.samples.push_back((unix_secs, ms));
            if e.samples.len() > 160 {
                e.samples.pop_front();
            }
        }
    }
}

/// Latency events of work that no shard's loop does itself (a fork, installing a
/// rewritten AOF), recorded from whichever thread did it; LATENCY merges them with
/// the shards' own. Rare, so a mutex.
#[derive(Default)]
pub struct SharedLatency(Mutex<HashMap<&'static str, LatencyEvent>>);

impl SharedLatency {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, LatencyEvent>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, event: &'static str, unix_secs: u64, ms: u64) {
        add_sample(&mut self.lock(), event, unix_secs, ms);
    }

    pub fn snapshot(&self) -> Vec<(&'static str, LatencyEvent)> {
        self.lock().iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// Forgets the events `forget` picks; returns their names.
    pub fn reset(&self, mut forget: impl FnMut(&str) -> bool) -> Vec<&'static str> {
        let mut map = self.lock();
        let gone: Vec<&'static str> = map.keys().copied().filter(|k| forget(k)).collect();
        gone.iter().for_each(|k| {
            map.remove(k);
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowlog_truncates_args_and_length() {
        let mut m = Monitor::default();
        let long = vec![b'x'; 200];
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("a{i}").into_bytes()).collect();
        m.log_slow(5, 1, [&b"set"[..], &long].into_iter(), 2, ("", ""));
        m.log_slow(6, 1, many.iter().map(|v| v.as_slice()), 2, ("", ""));
        m.log_slow(7, 1, [&b"get"[..]].into_iter(), 2, ("", ""));
        assert_eq!(m.slowlog.len(), 2);
        assert_eq!(m.slowlog[0].micros, 7);
        assert_eq!(m.slowlog[1].args.len(), 32);
        assert_eq!(m.slowlog[1].args[31], b"... (9 more arguments)".to_vec());
    }

    #[test]
    fn latency_keeps_one_sample_per_second() {
        let mut m = Monitor::default();
        m.add_latency("command", 10, 5);
        m.add_latency("command", 10, 9);
        m.add_latency("command", 11, 3);
        let e = &m.latency["command"];
        assert_eq!(e.samples, VecDeque::from(vec![(10, 9), (11, 3)]));
        assert_eq!(e.max_ms, 9);
    }
}
