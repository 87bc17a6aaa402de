//! CLIENT LIST's `cmd=` for a connection: the last command's name and first argument
//! as received, resolved to the command's name only when the metadata is synced.

use crate::cmd::{Args, TABLE};

/// The last command's name and first argument as received (at most 32 bytes each;
/// the name is looked up only when the metadata is synced, not per command).
#[derive(Default)]
pub(super) struct LastCmd {
    pub(super) name: Vec<u8>,
    pub(super) sub: Vec<u8>,
    /// Changed since the metadata was last synced.
    pub(super) changed: bool,
}

impl LastCmd {
    /// CLIENT LIST's `cmd` for the last command: its name, `container|sub` for
    /// container commands (CLIENT, CONFIG ...). Unknown commands leave it unchanged,
    /// as in Redis; an unchanged name allocates nothing.
    pub(super) fn write_name(&self, cmd: &mut String) {
        let Some(idx) = TABLE.lookup(&self.name) else { return };
        let spec = TABLE.get(idx);
        let container = spec.summary.starts_with("A container") && !self.sub.is_empty();
        let same = if container {
            cmd.len() == spec.name.len() + 1 + self.sub.len()
                && cmd.starts_with(spec.name)
                && cmd.as_bytes()[spec.name.len()] == b'|'
                && cmd.as_bytes()[spec.name.len() + 1..].eq_ignore_ascii_case(&self.sub)
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
            cmd.push_str(&String::from_utf8_lossy(&self.sub).to_ascii_lowercase());
        }
    }

    /// Notes the command about to run, for CLIENT LIST's `cmd`: copies of its first
    /// two arguments (a few bytes; the name is looked up only when synced).
    pub(super) fn note(&mut self, args: &Args) {
        let name = args.get(0);
        if name.len() > 32 {
            return;
        }
        self.name.clear();
        self.name.extend_from_slice(name);
        self.sub.clear();
        if args.len() > 1 && args.get(1).len() <= 32 {
            self.sub.extend_from_slice(args.get(1));
        }
        self.changed = true;
    }
}
