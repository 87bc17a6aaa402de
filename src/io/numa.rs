//! NUMA placement of the whole process: the memory policy (`set_mempolicy`) and the
//! CPU set of the main thread, both inherited by every thread started afterwards.
//! Used at start-up for the `numa-node`/`numa-policy` directives and `cpus`, so a
//! pool instance's memory and threads stay on its node (`docs/pools.md`).

use std::io;

/// `MPOL_PREFERRED` and `MPOL_BIND` from `<linux/mempolicy.h>`.
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Allocate only on the given nodes (the kernel reclaims or OOMs there).
    Bind,
    /// Prefer the first given node, fall back to others when it is full.
    Preferred,
}

/// Sets the calling thread's memory policy (inherited by threads it spawns later).
pub fn set_memory_policy(policy: Policy, nodes: &[usize]) -> io::Result<()> {
    let mut mask = [0u64; 16];
    for &n in nodes {
        if n >= mask.len() * 64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("NUMA node {n} is out of range")));
        }
        mask[n / 64] |= 1 << (n % 64);
    }
    let mode = match policy {
        Policy::Bind => MPOL_BIND,
        Policy::Preferred => MPOL_PREFERRED,
    };
    // The kernel reads `maxnode - 1` bits (a historical off-by-one).
    let maxnode = (mask.len() * 64 + 1) as libc::c_ulong;
    // SAFETY: `mask` is a valid array of `maxnode - 1` bits for the call's duration;
    // set_mempolicy only reads it.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask.as_ptr(), maxnode) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Restricts the calling thread (and threads it spawns later) to `cpus`.
pub fn pin_to_cpus(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it
    // (indexes are bounded by CPU_SETSIZE), and sched_setaffinity reads it for the
    // call's duration.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_impossible_nodes() {
        assert!(set_memory_policy(Policy::Bind, &[5000]).is_err());
    }
}
