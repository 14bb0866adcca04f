//! The exit hook: run by the main interpreter's `atexit`, after its non-daemon threads were
//! joined and before CPython finalises it. On 3.12 a subinterpreter still alive at that point is
//! a fatal error, and a thread blocked in the package must not keep anything waiting, so:
//! 1. refuse new runs, and make main-interpreter threads that wake from now on park for good
//!    (daemon threads; CPython would otherwise race them against finalisation);
//! 2. close every channel, which wakes every blocked call (in any interpreter);
//! 3. give code still running in our interpreters a moment to end, then ask its thread to raise
//!    SystemExit, and wait a little more;
//! 4. close every interpreter that no longer runs code, newest first, after asking daemon
//!    threads of legacy interpreters to raise SystemExit and waiting for them (CPython aborts the
//!    process if an interpreter is ended under a live thread).

use std::time::{Duration, Instant};

use crate::ffi::{
    allow_threads, begin_shutdown_parking, enter_interpreter, none, raise_system_exit_in, Args, Owned,
    PyResult, Ref,
};
use crate::globals::{CHANNELS, INTERPRETERS};
use crate::interpreter::{close_interpreter, StrayThreads};
use crate::module::state_of_module;

/// How long running code gets to end by itself once its blocked calls were released.
const GRACE: Duration = Duration::from_millis(500);
/// How long it gets after being asked to raise SystemExit; also how long daemon threads of
/// legacy interpreters get to stop before their interpreter is ended.
const AFTER_INTERRUPT: Duration = Duration::from_secs(2);

pub(crate) fn shutdown(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("_shutdown")?;
    let state = state_of_module(module)?;
    if !INTERPRETERS.begin_shutdown() {
        return Ok(none());
    }
    begin_shutdown_parking();
    CHANNELS.close_all();

    let idle = allow_threads(|| INTERPRETERS.wait_until_idle(Instant::now() + GRACE));
    if !idle {
        for (id, thread) in INTERPRETERS.runners() {
            if let Ok(interp) = INTERPRETERS.handle(id) {
                // Best effort: code that cannot be interrupted keeps its interpreter open.
                if enter_interpreter(interp, move || raise_system_exit_in(thread), || {}).is_err() {
                    crate::ffi::clear_error();
                }
            }
        }
        allow_threads(|| INTERPRETERS.wait_until_idle(Instant::now() + AFTER_INTERRUPT));
    }

    let deadline = Instant::now() + AFTER_INTERRUPT;
    for id in INTERPRETERS.ids().into_iter().rev() {
        if INTERPRETERS.is_running(id) == Ok(false)
            && close_interpreter(state, id, StrayThreads::StopUntil(deadline)).is_err()
        {
            crate::ffi::clear_error();
        }
    }
    Ok(none())
}
