//! One switch between `std` and `loom` for every synchronisation primitive the core uses
//! (the pattern of tokio's `src/loom`), so the same code is model-checked and shipped; and the
//! one place that decides what a poisoned lock means.

use std::time::Duration;

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};

/// Locks `mutex`, ignoring poisoning: the core never panics while holding a lock, and a poisoned
/// lock must not turn every later call on a channel into a panic across the FFI boundary.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Locks `mutex` (as [`lock`]), first trying a few times with pauses between the tries while
/// another thread holds it, rather than spinning on the lock word: a waiter that keeps reading
/// the lock's cache line makes the holder's unlock wait for that line to come back. For a lock
/// held for a few dozen nanoseconds at a time by a thread that takes it again at once (a
/// producer putting items one by one, a consumer taking them).
#[cfg(not(loom))]
pub fn lock_when_free<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    /// Tries before falling back to the lock's own wait (at most 512 pauses: 5-20 µs, by CPU).
    const TRIES: u32 = 64;
    /// Pauses between two tries (10-40 ns each, by CPU): about one short critical section.
    const PAUSES: u32 = 8;
    for _ in 0..TRIES {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                for _ in 0..PAUSES {
                    std::hint::spin_loop();
                }
            }
        }
    }
    lock(mutex)
}

/// Under loom: a plain [`lock`] (spinning only multiplies the interleavings).
#[cfg(loom)]
pub fn lock_when_free<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    lock(mutex)
}

/// Waits on `condvar` with `guard`'s lock, ignoring poisoning (see [`lock`]).
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    match condvar.wait(guard) {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Waits on `condvar` with `guard`'s lock for at most `timeout`, ignoring poisoning (see
/// [`lock`]). Whether it timed out is not reported: callers check their own deadline.
pub fn wait_timeout<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}
