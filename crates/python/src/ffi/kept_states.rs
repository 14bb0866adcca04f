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
//! - A kept state is never attached: it is taken out of the table before it is attached and put
//!   back after it is detached, both under the table's lock; only the thread that made it takes
//!   it (a thread is known by a token never reused, unlike thread idents).
//! - A state goes into the table only once its thread has attached its caller's state again.
//!   Attaching a state makes it the thread's "gilstate" state (CPython's `PyGILState_*` slot),
//!   and it stays so until the thread attaches another; deleting a state that a thread's slot
//!   still names leaves that slot dangling (the thread's next attach writes into the freed
//!   state). Published later, a kept state is named by no slot, so any thread may delete it.
//! - A run that leaves deletes every state other threads kept for that interpreter (it holds the
//!   interpreter's GIL, as deleting requires): one thread's state at a time survives a change of
//!   threads, so states of threads that ended do not pile up. (Runs of one interpreter do not
//!   overlap, the interpreter table reserves it for one run at a time, so that leaves one state
//!   per interpreter; nothing here relies on it beyond one per interpreter and thread.)
//! - Closing an interpreter deletes its kept states first (`Py_EndInterpreter` requires that the
//!   closing thread's state be the interpreter's last).
//! - A thread that parks for good at exit (a daemon thread of the main interpreter) deletes its
//!   state instead of keeping it: it never attaches its caller again.
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

/// The kept states, one per interpreter and thread at most. Raw addresses, not Python objects: a
/// thread state is CPython's C struct, valid until deleted, which only [`delete_all`] does.
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
/// and gives it back to [`publish`]), or `None`.
pub(super) fn take(interp: InterpPtr) -> Option<*mut sys::PyThreadState> {
    let (key, thread) = (interp.as_ptr() as usize, thread_token());
    let mut kept = lock(&KEPT);
    let index = kept.iter().position(|entry| entry.interp == key && entry.thread == thread)?;
    Some(kept.swap_remove(index).state as *mut sys::PyThreadState)
}

/// Keeps `state`, the calling thread's detached state of `interp`, for its next run there.
///
/// # Safety
/// `state` was made on this thread for `interp` and is detached, and this thread has attached
/// another state since (so that no gilstate slot names `state`; see the module); `interp` is one
/// this package created and is still reserved for this thread's run (it cannot be closed before
/// `state` is in the table, where its close finds it).
pub(super) unsafe fn publish(interp: InterpPtr, state: *mut sys::PyThreadState) {
    let (key, thread) = (interp.as_ptr() as usize, thread_token());
    lock(&KEPT).push(Kept { interp: key, thread, state: state as usize });
}

/// Takes every state kept for `interp` out of the table and deletes it: those of other threads
/// before a run keeps its own, and all of them before the interpreter is ended.
///
/// # Safety
/// The calling thread is attached to `interp` (holds its GIL) with a state of its own (not one in
/// the table: a run took its own out before attaching it; a close attaches the initial state).
pub(super) unsafe fn delete_all(interp: InterpPtr) {
    let key = interp.as_ptr() as usize;
    let removed: Vec<usize> = {
        let mut kept = lock(&KEPT);
        let mut removed = Vec::new();
        kept.retain(|entry| {
            let other = entry.interp == key;
            if other {
                removed.push(entry.state);
            }
            !other
        });
        removed
    };
    for state in removed {
        // SAFETY: a state in the table is detached and attached by no one (only its own thread
        // takes it, under the lock, and it is out of the table now), and no gilstate slot names
        // it (published only after its thread attached another); we hold the interpreter's GIL,
        // as PyThreadState_Clear requires; PyThreadState_Delete takes a cleared, detached state.
        unsafe {
            sys::PyThreadState_Clear(state as *mut sys::PyThreadState);
            sys::PyThreadState_Delete(state as *mut sys::PyThreadState);
        }
    }
}
