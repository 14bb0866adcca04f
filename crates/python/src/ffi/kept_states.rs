//! Thread states kept between runs: the last thread that ran code in one of our interpreters
//! keeps its thread state of that interpreter, detached, and attaches it again on its next run.
//!
//! Why: a fresh thread state costs an allocation, and its first Python frame maps a new frame
//! stack chunk that deleting the state unmaps again: two system calls and page faults on every
//! `call()`, most of a pool task's overhead. A worker thread that runs task after task in its own
//! interpreter now pays them once. What carries over is what a thread pool's thread carries
//! from task to task: its `threading.local` values, its context variables, its trace function.
//!
//! Rules that keep this sound:
//! - One state per interpreter at most, and only the thread that made it attaches it (a thread
//!   is known by a token never reused, unlike thread idents); a run by another thread makes its
//!   own state and, when it leaves, deletes the kept one and keeps its own instead.
//! - A kept state is never attached: it is taken out of the table before it is attached and put
//!   back after it is detached, both under the table's lock.
//! - Closing an interpreter deletes its kept state first (`Py_EndInterpreter` requires that the
//!   closing thread's state be the interpreter's last).
//! - Only interpreters this package created keep states: it closes those, so it can delete
//!   them; others are entered with a fresh state, as CPython's own `exec()` does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use subinterpreters_core::lock;

use pyo3_ffi as sys;

use super::interp::InterpPtr;

/// A state kept for `thread` (a [`thread_token`]) in interpreter `interp`.
struct Kept {
    interp: usize,
    thread: u64,
    state: usize,
}

/// The kept states, one per interpreter at most. Raw addresses, not Python objects: a thread
/// state is CPython's C struct, valid until deleted, which only [`forget`] and [`keep`] do.
static KEPT: Mutex<Vec<Kept>> = Mutex::new(Vec::new());

/// A number that names the calling OS thread for its whole life and no other thread ever.
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|token| *token)
}

/// The calling thread's kept state of `interp`, taken out of the table (the caller attaches it
/// and gives it back to [`keep`]), or `None`.
pub(super) fn take(interp: InterpPtr) -> Option<*mut sys::PyThreadState> {
    let (key, thread) = (interp.as_ptr() as usize, thread_token());
    let mut kept = lock(&KEPT);
    let index = kept.iter().position(|entry| entry.interp == key && entry.thread == thread)?;
    Some(kept.swap_remove(index).state as *mut sys::PyThreadState)
}

/// Keeps `state`, the calling thread's state of `interp`, which is current: detaches it, after
/// deleting the state another thread kept for `interp`, if any.
///
/// # Safety
/// `state` is the current thread state, of `interp`, made on this thread; `interp` is one this
/// package created and is reserved for this run (it cannot be closed until the run ends).
pub(super) unsafe fn keep(interp: InterpPtr, state: *mut sys::PyThreadState) {
    let (key, thread) = (interp.as_ptr() as usize, thread_token());
    let replaced = {
        let mut kept = lock(&KEPT);
        match kept.iter_mut().find(|entry| entry.interp == key) {
            Some(entry) => {
                let replaced = std::mem::replace(&mut entry.state, state as usize);
                entry.thread = thread;
                Some(replaced as *mut sys::PyThreadState)
            }
            None => {
                kept.push(Kept { interp: key, thread, state: state as usize });
                None
            }
        }
    };
    if let Some(replaced) = replaced {
        // SAFETY: `replaced` was kept (so detached, and attached by no one: only its own thread
        // takes it, under the lock, and it is out of the table now); we hold `interp`'s GIL, as
        // PyThreadState_Clear requires; PyThreadState_Delete takes a cleared, detached state.
        unsafe {
            sys::PyThreadState_Clear(replaced);
            sys::PyThreadState_Delete(replaced);
        }
    }
    // SAFETY: `state` is current (function contract): detach it, releasing `interp`'s GIL.
    unsafe { sys::PyEval_SaveThread() };
}

/// Deletes the state kept for `interp`, if any (before the interpreter is ended).
///
/// # Safety
/// The calling thread is attached to `interp` (holds its GIL) with a state of its own, and
/// `interp` is reserved for closing, so no run can take or keep a state meanwhile.
pub(super) unsafe fn forget(interp: InterpPtr) {
    let key = interp.as_ptr() as usize;
    let removed = {
        let mut kept = lock(&KEPT);
        kept.iter().position(|entry| entry.interp == key).map(|index| kept.swap_remove(index).state)
    };
    if let Some(state) = removed {
        // SAFETY: as in `keep`: a kept state is detached and attached by no one; we hold the
        // interpreter's GIL.
        unsafe {
            sys::PyThreadState_Clear(state as *mut sys::PyThreadState);
            sys::PyThreadState_Delete(state as *mut sys::PyThreadState);
        }
    }
}
