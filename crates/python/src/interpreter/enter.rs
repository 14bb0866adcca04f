//! Entering an interpreter to run code in it, as CPython's `Interpreter.exec()`/`call()` do: on
//! the calling thread, with the caller's GIL released, and with the interpreter marked as
//! "running main" for the duration (CPython's flag: while it is set, CPython refuses to destroy
//! the interpreter or run other code in it, and `is_running()` is true on both sides).
//!
//! Interpreters made here are reserved in the interpreter table (so they cannot be closed during
//! the run); others (made by `concurrent.interpreters` or other C code) are looked up by id and
//! protected by the flag alone, exactly as CPython protects them.

use subinterpreters_core::TableError;

use super::refuse_main_or_current;
use crate::errors::Error;
use crate::ffi::{enter_interpreter, lookup_interpreter, thread_ident, PyResult, RunningMain};
use crate::globals::INTERPRETERS;
use crate::state::State;

/// Runs `inside` in interpreter `id` as its main; `action` names the call for error messages.
pub(super) fn run_as_main<R: Send>(
    state: &State,
    id: i64,
    action: &'static str,
    inside: impl FnOnce() -> R + Send,
) -> PyResult<R> {
    refuse_main_or_current(id, action).map_err(|error| state.fail(error))?;
    let outcome = match INTERPRETERS.begin_run(id, thread_ident()) {
        Ok(interp) => {
            let leave = move || INTERPRETERS.end_run(id);
            // SAFETY: begin_run reserved the interpreter, one of ours: it cannot be closed until
            // end_run, which `leave` calls once the thread has left it; its close deletes the
            // thread state this thread keeps.
            unsafe { enter_interpreter(interp, true, move || as_main(inside), leave) }?
        }
        Err(TableError::NotFound) => match lookup_interpreter(id) {
            // SAFETY: just looked up. Once `as_main` has set the running-main flag, CPython
            // refuses to destroy it until we leave; before that, the window is the one CPython's
            // own `_interpreters.exec()` has between its lookup and setting the same flag.
            Some(interp) => unsafe { enter_interpreter(interp, false, move || as_main(inside), || ()) }?,
            None => return Err(state.fail(Error::Interpreter { id, refusal: TableError::NotFound })),
        },
        Err(refusal) => return Err(state.fail(Error::Interpreter { id, refusal })),
    };
    outcome.ok_or_else(|| state.fail(Error::RunningElsewhere { id }))
}

/// Runs `inside` with the current interpreter marked as running main; `None` if other code runs
/// in it already.
fn as_main<R>(inside: impl FnOnce() -> R) -> Option<R> {
    let running = RunningMain::enter()?;
    let result = inside();
    drop(running);
    Some(result)
}
