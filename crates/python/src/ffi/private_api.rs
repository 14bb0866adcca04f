//! The few private CPython functions the package relies on, in one place. Each is exported by
//! every supported CPython (3.12-3.15; checked with `nm -D` on each) and used by CPython's own
//! `_interpreters` module for the same purpose, so ours and CPython's interpreter objects agree:
//!
//! - looking an interpreter up by id (`concurrent.interpreters.Interpreter(id)` does the same), so
//!   interpreters made by `concurrent.interpreters` or other C code can be used through ours;
//! - the "running main" flag that CPython sets while `Interpreter.exec()`/`call()` run code in an
//!   interpreter: with it set by our runs too, CPython refuses to destroy or re-enter an
//!   interpreter we run code in (and the other way round), `is_running()` agrees on both sides,
//!   and from 3.14 built-ins called without a Python frame (`eval`, `exec`, `dir`) see the
//!   interpreter's `__main__`, as in CPython's own `call()`;
//! - where an interpreter came from (3.13+: CPython's `whence`).

use std::ffi::c_int;
#[cfg(Py_3_13)]
use std::ffi::c_long;
use std::ptr::NonNull;

use pyo3_ffi as sys;

use super::interp::InterpPtr;

extern "C" {
    fn _PyInterpreterState_LookUpID(id: i64) -> *mut sys::PyInterpreterState;
    fn _PyInterpreterState_SetRunningMain(interp: *mut sys::PyInterpreterState) -> c_int;
    fn _PyInterpreterState_SetNotRunningMain(interp: *mut sys::PyInterpreterState);
    fn _PyInterpreterState_IsRunningMain(interp: *mut sys::PyInterpreterState) -> c_int;
    #[cfg(Py_3_13)]
    fn _PyInterpreterState_GetWhence(interp: *mut sys::PyInterpreterState) -> c_long;
}

/// The live interpreter with CPython id `id`, whoever made it, or `None`.
///
/// The pointer is valid while the interpreter lives; like CPython's own `_interpreters`
/// functions, callers use it at once and rely on the running-main flag ([`RunningMain`]) to keep
/// CPython from destroying it while they run code in it.
pub(crate) fn lookup_interpreter(id: i64) -> Option<InterpPtr> {
    if id < 0 {
        return None;
    }
    // SAFETY: takes CPython's interpreter-list lock; returns the interpreter or null with an
    // exception set (RuntimeError or InterpreterNotFoundError), which we clear: absence is an
    // answer here, not an error.
    let found = unsafe { _PyInterpreterState_LookUpID(id) };
    match NonNull::new(found) {
        Some(interp) => Some(InterpPtr::foreign(interp)),
        None => {
            super::error::clear_error();
            None
        }
    }
}

/// Whether some thread runs code in `interp` as its "main" (CPython's `is_running()`).
///
/// # Safety
/// `interp` is alive.
pub(crate) unsafe fn is_running_main(interp: InterpPtr) -> bool {
    // SAFETY: `interp` is alive (contract); this reads its thread bookkeeping.
    unsafe { _PyInterpreterState_IsRunningMain(interp.as_ptr()) != 0 }
}

/// CPython's record of where `interp` came from, as `concurrent.interpreters` spells it.
///
/// # Safety
/// `interp` is alive.
pub(crate) unsafe fn whence(interp: InterpPtr, is_main: bool, made_here: bool) -> &'static str {
    #[cfg(Py_3_13)]
    {
        let _ = (is_main, made_here);
        // SAFETY: `interp` is alive (contract); this reads a field.
        match unsafe { _PyInterpreterState_GetWhence(interp.as_ptr()) } {
            1 => "runtime init",
            2 => "legacy C-API",
            3 => "C-API",
            4 => "cross-interpreter C-API",
            5 => "_interpreters module",
            _ => "unknown",
        }
    }
    #[cfg(not(Py_3_13))]
    {
        // CPython 3.12 keeps no record: answer what 3.13 would say for the ones we know.
        let _ = interp;
        if is_main {
            "runtime init"
        } else if made_here {
            "C-API"
        } else {
            "unknown"
        }
    }
}

/// The running-main flag of the interpreter the calling thread is attached to, set for as long as
/// this value lives (and cleared by dropping it, on the same thread, still attached).
pub(crate) struct RunningMain {
    interp: *mut sys::PyInterpreterState,
}

impl RunningMain {
    /// Sets the flag, or returns `None` (no exception left set) if another thread already runs
    /// code in the interpreter as its main.
    pub(crate) fn enter() -> Option<RunningMain> {
        // SAFETY: the thread is attached, so there is a current interpreter.
        let interp = unsafe { sys::PyInterpreterState_Get() };
        // SAFETY: attached to `interp`, as the function requires; it fails (RuntimeError set)
        // if the interpreter already runs main, which we clear and report as None.
        if unsafe { _PyInterpreterState_SetRunningMain(interp) } < 0 {
            super::error::clear_error();
            return None;
        }
        Some(RunningMain { interp })
    }
}

impl Drop for RunningMain {
    fn drop(&mut self) {
        // SAFETY: made by `enter` on this thread, which is still attached to the same interpreter
        // with the same thread state (the value is !Send and lives inside one visit).
        unsafe { _PyInterpreterState_SetNotRunningMain(self.interp) }
    }
}
