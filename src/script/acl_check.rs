//! `redis.acl_check_cmd(cmd, args...)` (Redis 7.0): may the user running the script
//! run this command with these arguments? The engine's half: the arguments as
//! `redis.call` takes them, then the host answers (`Host::acl_check`). Its errors are
//! raised as `redis.call`'s are, so they read the same, caught or not.

use super::{HostSlot, call_error};
use crate::shard::OwnedArgs;
use mlua::{Lua, MultiValue, Table};
use std::cell::RefCell;
use std::rc::Rc;

/// Adds `acl_check_cmd` to `redis` (a C function, so the script's line stays for
/// its errors even in tail position).
pub(super) fn install(lua: &Lua, redis: &Table, host: HostSlot) -> mlua::Result<()> {
    let scratch = Rc::new(RefCell::new(OwnedArgs::default()));
    let f = lua.create_function(move |_, args: MultiValue| -> mlua::Result<bool> {
        let mut guard = scratch.borrow_mut();
        let cmd = &mut *guard;
        super::command_args(cmd, &args)?;
        let slot = host.borrow();
        let Some(host) = slot.as_ref() else {
            return Err(call_error("ERR redis.acl_check_cmd can only be called inside a script invocation"));
        };
        host.borrow_mut().acl_check(cmd).map_err(|e| call_error(&e))
    })?;
    redis.raw_set("acl_check_cmd", f)
}
