//! Which CPUs a thread may run on. A process that starts a helper on a thread of its own
//! while it computes on (issue 16) wants that thread on another CPU than its own: a new
//! thread is often queued behind its creator on the creator's CPU, and on this two-core
//! host one waited there 1-2.5 ms in a third of the starts before the balancer moved it.

use std::os::unix::thread::JoinHandleExt;

/// The CPUs this thread may run on.
pub fn allowed() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity fills the set we pass, of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET reads the set, within its size.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

fn set_of(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: CPU_SET writes within the set, c being below its size.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// Lets this thread run on `cpus` (again). Best effort: none given, or refused, it stays.
pub fn allow(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    let set = set_of(cpus);
    // SAFETY: sched_setaffinity reads the set we pass, of the size we pass.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// Moves `thread` off the CPU the calling thread runs on, to the others it may use (if
/// there are any). What it starts inherits that: it must `allow` the whole set again. The
/// thread must still be running (see `EarlySupervisor::start_on_thread`, which keeps it
/// until it is steered): an ended thread's id is 0, which would steer the caller.
pub fn steer_away<T>(thread: &std::thread::JoinHandle<T>, from: &[usize]) {
    // SAFETY: sched_getcpu takes nothing.
    let here = unsafe { libc::sched_getcpu() };
    let others: Vec<usize> = from
        .iter()
        .copied()
        .filter(|&c| here < 0 || c != here as usize)
        .collect();
    if others.is_empty() || others.len() == from.len() {
        return;
    }
    let set = set_of(&others);
    // SAFETY: the handle is held, so the pthread_t is valid; the set is only read. (The
    // thread must not have ended: glibc then finds its kernel id 0 and steers the caller.)
    unsafe {
        libc::pthread_setaffinity_np(
            thread.as_pthread_t(),
            std::mem::size_of::<libc::cpu_set_t>(),
            &set,
        )
    };
}
