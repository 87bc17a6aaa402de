//! The host's half of `redis.acl_check_cmd` (`script::acl_check`): Redis 7.0's
//! `luaRedisAclCheckCmdPermissionsCommand`. The command is looked up as Redis's
//! `lookupCommand` does (a container's unknown subcommand is an unknown command; the
//! arity is not checked), then checked against the script's user with every
//! selector, keys and channels included, without an ACL LOG entry.

use super::Args;
use super::table::TABLE;
use crate::acl::{AclShared, SessionAcl, cmdacl};
use crate::shard::OwnedArgs;

const INVALID: &str = "ERR Invalid command passed to redis.acl_check_cmd()";

/// May `caller` (None: a user every command is allowed to) run `owned`?
pub fn acl_check(caller: Option<&mut SessionAcl>, shared: &AclShared, owned: &OwnedArgs) -> Result<bool, String> {
    let Some(idx) = TABLE.lookup(owned.get(0)) else { return Err(INVALID.into()) };
    let args = Args::Owned(owned);
    let index = &*cmdacl::INDEX;
    if let Some(base) = index.by_table.get(idx as usize).copied().flatten()
        && !index.subs[base as usize].is_empty()
        && owned.len() >= 2
        && cmdacl::request_id(idx, &args) == Some(base)
    {
        return Err(INVALID.into());
    }
    Ok(match caller {
        Some(sess) => crate::acl::allows(shared, sess, idx, &args),
        None => true,
    })
}
