//! CLIENT LIST's `cmd=` for a connection: the last command's name and first argument
//! as received, resolved to the command's name only when the metadata is synced.

use crate::cmd::{Args, TABLE};

/// The last command's name and first argument as received (at most 32 bytes each;
/// the name is looked up only when the metadata is synced, not per command). Kept in
/// the connection itself: as `Vec`s, reading them cost two pointer chases per batch.
#[derive(Default)]
pub(super) struct LastCmd {
    name: Short,
    sub: Short,
    /// Whether the first argument is part of the name (a container's subcommand):
    /// unknown, so assumed, from a new name until `write_name` looked it up. A GET
    /// of random keys is then not a new name with every key.
    sub_matters: bool,
    /// Changed since the metadata was last synced.
    pub(super) changed: bool,
}

/// Up to `MAX_NOTED` bytes, inline.
#[derive(Default)]
struct Short {
    len: u8,
    bytes: [u8; MAX_NOTED],
}

/// Longer names and first arguments are not noted.
const MAX_NOTED: usize = 32;

impl Short {
    #[inline]
    fn get(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    #[inline]
    fn set(&mut self, b: &[u8]) {
        self.bytes[..b.len()].copy_from_slice(b);
        self.len = b.len() as u8;
    }
}

impl LastCmd {
    /// CLIENT LIST's `cmd` for the last command: its name, `container|sub` for
    /// container commands (CLIENT, CONFIG ...). Unknown commands leave it unchanged,
    /// as in Redis; an unchanged name allocates nothing.
    pub(super) fn write_name(&mut self, cmd: &mut String) {
        let Some(idx) = TABLE.lookup(self.name.get()) else { return };
        let spec = TABLE.get(idx);
        self.sub_matters = spec.summary.starts_with("A container");
        let sub = self.sub.get();
        let container = self.sub_matters && !sub.is_empty();
        let same = if container {
            cmd.len() == spec.name.len() + 1 + sub.len()
                && cmd.starts_with(spec.name)
                && cmd.as_bytes()[spec.name.len()] == b'|'
                && cmd.as_bytes()[spec.name.len() + 1..].eq_ignore_ascii_case(sub)
        } else {
            cmd == spec.name
        };
        if same {
            return;
        }
        cmd.clear();
        cmd.push_str(spec.name);
        if container {
            cmd.push('|');
            cmd.push_str(&String::from_utf8_lossy(sub).to_ascii_lowercase());
        }
    }

    /// Notes the command about to run, for CLIENT LIST's `cmd`: copies of its first
    /// two arguments (a few bytes; the name is looked up only when synced).
    /// The same command again (a pipeline mostly repeats one) changes nothing, so the
    /// next sync does not look its name up again.
    pub(super) fn note(&mut self, args: &Args) {
        let name = args.get(0);
        if name.len() > MAX_NOTED {
            return;
        }
        let sub = if args.len() > 1 && args.get(1).len() <= MAX_NOTED { args.get(1) } else { &[][..] };
        if crate::util::bytes::eq(self.name.get(), name) {
            if !self.sub_matters || crate::util::bytes::eq(self.sub.get(), sub) {
                return;
            }
        } else {
            self.sub_matters = true;
        }
        self.name.set(name);
        self.sub.set(sub);
        self.changed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `note` of `words` as a request, then what a sync would write, if it would.
    fn note_and_sync(last: &mut LastCmd, words: &[&[u8]], cmd: &mut String) -> bool {
        let buf: Vec<u8> = words.concat();
        let mut ranges = Vec::new();
        let mut at = 0u32;
        for w in words {
            ranges.push((at, at + w.len() as u32));
            at += w.len() as u32;
        }
        last.note(&Args::Ranges { buf: &buf, scratch: &[], ranges: &ranges });
        let changed = std::mem::take(&mut last.changed);
        if changed {
            last.write_name(cmd);
        }
        changed
    }

    #[test]
    fn a_repeated_command_changes_nothing_and_others_do() {
        let (mut last, mut cmd) = (LastCmd::default(), String::new());
        assert!(note_and_sync(&mut last, &[b"GET", b"key:__rand_int__"], &mut cmd));
        assert_eq!(cmd, "get");
        // The same again (a pipeline of it): nothing for the sync to look up.
        assert!(!note_and_sync(&mut last, &[b"GET", b"key:__rand_int__"], &mut cmd));
        assert_eq!(cmd, "get");
        // Another first argument matters for container commands.
        assert!(note_and_sync(&mut last, &[b"CLIENT", b"LIST"], &mut cmd));
        assert_eq!(cmd, "client|list");
        assert!(note_and_sync(&mut last, &[b"client", b"info"], &mut cmd));
        assert_eq!(cmd, "client|info");
        // An unknown command leaves `cmd` as it was; the next known one writes again.
        assert!(note_and_sync(&mut last, &[b"NOSUCH"], &mut cmd));
        assert_eq!(cmd, "client|info");
        assert!(note_and_sync(&mut last, &[b"set", b"k", b"v"], &mut cmd));
        assert_eq!(cmd, "set");
        // Past 32 bytes a name is not noted; a first argument is noted as empty (and
        // SET's first argument is no subcommand: no news either way).
        assert!(!note_and_sync(&mut last, &[&[b'x'; 33]], &mut cmd));
        assert!(!note_and_sync(&mut last, &[b"set", &[b'k'; 33], b"v"], &mut cmd));
        assert_eq!(cmd, "set");
        assert!(!note_and_sync(&mut last, &[b"set", &[b'j'; 40], b"v"], &mut cmd));
        assert!(note_and_sync(&mut last, &[b"CLIENT", &[b'j'; 40]], &mut cmd));
        assert_eq!(cmd, "client");
        // Another key is no news once the name is known not to be a container's.
        assert!(note_and_sync(&mut last, &[b"GET", b"key:000000000001"], &mut cmd));
        assert!(!note_and_sync(&mut last, &[b"GET", b"key:000000000002"], &mut cmd));
        assert_eq!(cmd, "get");
        // A container's subcommands, changing before any sync, are still seen.
        last.note(&Args::Ranges { buf: b"CONFIGGET", scratch: &[], ranges: &[(0, 6), (6, 9)] });
        assert!(note_and_sync(&mut last, &[b"CONFIG", b"SET"], &mut cmd));
        assert_eq!(cmd, "config|set");
        assert!(note_and_sync(&mut last, &[b"CONFIG", b"GET"], &mut cmd));
        assert_eq!(cmd, "config|get");
    }
}
