//! The two places where a shard's databases cross threads, kept in one small module
//! because both need `unsafe`: `Db` is not `Send` (its keys are `Rc`s shared between
//! the key map and the expiry index).
//!
//! - [`ShardDbs`]: a pointer to a shard's `Vec<Db>`, published by its thread when it
//!   stops at a consistent cut (`persist::cut`), so the one thread running the cut's
//!   leader work (or the forked child) can read every shard's keyspace.
//! - [`Loaded`]: databases built on one thread, moved whole to another: by the start-up
//!   loader to the shard thread that will own them, and by a replica's shard threads
//!   (`repl::load`) to the cut that installs them.
//! - [`Discarded`]: a database a lazy FLUSHALL/FLUSHDB swapped out of its shard, moved
//!   whole to the lazy-free thread (`shard::lazyfree`) that drops it.

use crate::storage::Db;

/// A shard's databases, reachable from the thread running a cut's leader work.
pub struct ShardDbs(*mut Vec<Db>);

// SAFETY: the pointer is only dereferenced through `get`, whose contract is that the
// owning thread is stopped for as long as the reference lives.
unsafe impl Send for ShardDbs {}

impl ShardDbs {
    pub fn of(dbs: &mut Vec<Db>) -> ShardDbs {
        ShardDbs(dbs as *mut Vec<Db>)
    }

    /// # Safety
    /// The shard thread that published this pointer must not touch its databases until
    /// the returned reference is gone: it waits at the cut's rendezvous, which orders
    /// its earlier writes before this access and this access before its later ones.
    /// No `Rc` inside may be cloned out of the cut's leader work.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get<'a>(&self) -> &'a mut Vec<Db> {
        // SAFETY: see the contract above; the pointer came from a live `&mut Vec<Db>`
        // owned by a shard whose `ShardState` outlives the cut.
        unsafe { &mut *self.0 }
    }
}

/// One shard's databases built on another thread, on their way to their shard.
pub struct Loaded(pub Vec<Db>);

// SAFETY: `Rc` is not `Send` because clones could be used from two threads at once.
// Every clone of every key `Rc` in these databases lives inside these same databases
// (the loader keeps none), so moving all of them together to one thread moves every
// reference count with its only users.
unsafe impl Send for Loaded {}

/// A database swapped out of its shard by a lazy flush, on its way to be dropped.
pub struct Discarded(pub Db);

// SAFETY: as for `Loaded`: the database was swapped out whole (`mem::replace`) under
// the flush's whole-shard lock, and no key `Rc` is ever kept outside its database
// beyond one command, so every clone moves together with its only users and the
// shard keeps none.
unsafe impl Send for Discarded {}
