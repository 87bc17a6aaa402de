//! The ACL LOG: refused commands, keys, channels and failed AUTHs, newest first. An
//! event like a recent one (same reason, context, object and user, within 60 s) bumps
//! that entry's count and moves it to the front instead of adding one, as in Redis.

use std::collections::VecDeque;

/// Events this close in time (ms) to an entry's last one are grouped into it.
const GROUPING_MS: u64 = 60_000;

#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    /// "command", "key", "channel" or "auth".
    pub reason: &'static str,
    /// "toplevel", "multi", "lua" or "module".
    pub context: &'static str,
    /// The command, key or channel refused ("AUTH" for a failed AUTH).
    pub object: String,
    pub username: String,
    /// Unix ms of the latest event.
    pub created_ms: u64,
    /// The client's CLIENT LIST line at the latest event.
    pub client_info: String,
}

#[derive(Debug)]
pub struct AclLog {
    pub entries: VecDeque<Entry>,
    /// `acllog-max-len`.
    pub max_len: usize,
}

impl Default for AclLog {
    fn default() -> Self {
        AclLog { entries: VecDeque::new(), max_len: 128 }
    }
}

impl AclLog {
    pub fn add(&mut self, e: Entry) {
        // Redis looks at the 10 newest entries only.
        let similar = self.entries.iter().take(10).position(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && e.created_ms.saturating_sub(o.created_ms) <= GROUPING_MS
        });
        match similar {
            Some(i) => {
                let mut o = self.entries.remove(i).expect("found");
                o.count += 1;
                o.created_ms = e.created_ms;
                o.client_info = e.client_info;
                self.entries.push_front(o);
            }
            None => {
                self.entries.push_front(e);
                self.trim();
            }
        }
    }

    pub fn trim(&mut self) {
        self.entries.truncate(self.max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(object: &str, at: u64) -> Entry {
        Entry {
            count: 1,
            reason: "key",
            context: "toplevel",
            object: object.into(),
            username: "u".into(),
            created_ms: at,
            client_info: String::new(),
        }
    }

    #[test]
    fn groups_similar_events_and_trims() {
        let mut log = AclLog { max_len: 2, ..Default::default() };
        log.add(e("a", 0));
        log.add(e("b", 10));
        log.add(e("a", 20));
        assert_eq!(log.entries.iter().map(|x| (x.object.as_str(), x.count)).collect::<Vec<_>>(), [("a", 2), ("b", 1)]);
        log.add(e("a", 20 + GROUPING_MS + 1));
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[0].count, 1);
    }
}
