//! Closing an interpreter.
//!
//! CPython aborts the whole process ("Py_EndInterpreter: not the last thread") if an interpreter
//! is ended while another thread still has a thread state in it. So closing, done on the
//! interpreter's own initial thread state, first does what `Py_EndInterpreter`'s
//! `threading._shutdown` would — run the hooks registered with `threading._register_atexit`
//! (`concurrent.futures` stops its idle workers there), then join the non-daemon threads — and
//! then counts the thread states left. A user's `close()` refuses while threads that would not be
//! joined are alive (daemon threads of legacy interpreters); the exit hook asks them to raise
//! SystemExit and tries again. In the main thread a user's close joins in slices and looks at
//! signals between them, so Ctrl-C interrupts it.

use subinterpreters_core::{LeaseHolder, TableError};

use super::refuse_main_or_current;
use super::run::describe_raised;
use crate::errors::Error;
use crate::errors::RemoteError;
use crate::ffi::{
    check_signals, current_interpreter_id, end_interpreter_if, eval_snippet, import_module, int_from_i64,
    is_main_thread, lookup_interpreter, none, other_thread_states, raise_system_exit_in, Args, InterpPtr, Owned,
    PyResult, Raised, This, EXIT_SIGNATURE,
};
use crate::globals::{INTERPRETERS, LEASES};
use crate::state::state_of;
use crate::values::InterpreterId;

/// What closing does about threads still alive in the interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrayThreads {
    /// Join non-daemon threads for as long as they take; refuse if daemon threads are alive
    /// (a user's `close()`).
    Refuse,
    /// Ask every thread still alive to raise SystemExit, join briefly, and report what is left
    /// (the exit hook, which tries again).
    Interrupt,
    /// As `Interrupt`, without asking again (between two requests).
    Wait,
}

/// Why an interpreter was not closed.
#[derive(Debug)]
pub(crate) enum CloseFailure {
    /// The main or the current interpreter.
    NotClosable(Error),
    /// The interpreter table refused (running, or being visited).
    Refused(TableError),
    /// This many threads that would not be joined are alive in it.
    ThreadsAlive(usize),
    /// Getting it ready raised inside it.
    Failed(RemoteError),
    /// Another interpreter still views (or a channel still carries) a buffer it lent.
    BufferLent(LeaseHolder),
    /// A signal handler raised (Ctrl-C) while a user's close waited for its threads; the
    /// interpreter is left open, its threading exit hooks already run.
    Interrupted(Raised),
    /// Non-daemon threads are still alive after one slice of joining (never leaves `try_close`).
    Joining,
}

impl CloseFailure {
    fn into_error(self, id: i64) -> Error {
        match self {
            CloseFailure::NotClosable(error) => error,
            CloseFailure::Refused(refusal) => Error::Interpreter { id, refusal },
            CloseFailure::ThreadsAlive(count) => Error::ThreadsStillRunning { id, count },
            CloseFailure::BufferLent(holder) => Error::BufferLent { id, holder },
            CloseFailure::Failed(remote) => {
                Error::CloseFailed { id, reason: format!("{}: {}", remote.type_name, remote.message) }
            }
            CloseFailure::Interrupted(_) | CloseFailure::Joining => {
                unreachable!("handled by close() / never returned by try_close")
            }
        }
    }
}

pub(super) fn close(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let id = this.value.0;
    match try_close(id, StrayThreads::Refuse) {
        Ok(()) => Ok(none()),
        Err(CloseFailure::Interrupted(raised)) => Err(raised),
        Err(CloseFailure::Refused(TableError::NotFound)) if lookup_interpreter(id).is_some() => close_foreign(id),
        Err(failure) => Err(state.fail(failure.into_error(id))),
    }
}

/// Closes an interpreter made by other code: CPython's own `destroy` knows how (and refuses
/// while it runs code).
fn close_foreign(id: i64) -> PyResult<Owned> {
    #[cfg(Py_3_13)]
    let module = c"_interpreters";
    #[cfg(not(Py_3_13))]
    let module = c"_xxsubinterpreters";
    let destroy = import_module(module)?.as_ref().getattr(c"destroy")?;
    destroy.as_ref().call(&[int_from_i64(id)?.as_ref()])?;
    Ok(none())
}

pub(super) fn exit(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    close(this)
}

/// Closes interpreter `id`; `Ok` too if it is already closed (or being closed by another thread).
pub(crate) fn try_close(id: i64, stray: StrayThreads) -> Result<(), CloseFailure> {
    refuse_main_or_current(id, "close").map_err(CloseFailure::NotClosable)?;
    let interp = match INTERPRETERS.begin_close(id) {
        Ok(Some(interp)) => interp,
        Ok(None) => return Ok(()),
        Err(refusal) => return Err(CloseFailure::Refused(refusal)),
    };
    // Only the main thread of the main interpreter runs signal handlers: there a user's close
    // joins in slices, and the interpreter stays reserved for it between them.
    let join = if stray == StrayThreads::Refuse && is_main_thread() { Join::InSlices } else { Join::UntilDone };
    loop {
        // SAFETY: begin_close reserved the interpreter for this close (no run, visit or other
        // close) until finish_close or abandon_close, which on_leave calls once the thread has
        // left it; after a slice (`Joining`) it stays reserved for the next one, or for the
        // abandon_close below.
        let outcome = unsafe {
            end_interpreter_if(
                interp,
                move || prepare_end(interp, stray, join),
                move |outcome| match outcome {
                    Ok(()) => INTERPRETERS.finish_close(id),
                    Err(CloseFailure::Joining) => {}
                    Err(_) => INTERPRETERS.abandon_close(id),
                },
            )
        };
        match outcome {
            Err(CloseFailure::Joining) => {
                if let Err(raised) = check_signals() {
                    INTERPRETERS.abandon_close(id);
                    return Err(CloseFailure::Interrupted(raised));
                }
            }
            outcome => return outcome,
        }
    }
}

/// How a close waits for the interpreter's non-daemon threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Join {
    /// For as long as they take.
    UntilDone,
    /// For a moment, then `CloseFailure::Joining` if some are still alive.
    InSlices,
}

/// The threads alive in the current interpreter other than the caller, the interpreter's "main
/// thread" and `threading`'s dummies, as `(ident, daemon)` pairs.
const LIVE_THREADS: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
result = () if threading is None else tuple(
    (thread.ident, thread.daemon) for thread in threading.enumerate()
    if thread.is_alive() and thread.ident != threading.get_ident()
    and thread is not threading.main_thread()
    and not isinstance(thread, threading._DummyThread))
";

/// CPython 3.12's `threading._shutdown` (run by Py_EndInterpreter) joins the interpreter's
/// "main thread" record like any non-daemon thread unless the closing thread has its ident, and
/// that record is tied to the initial thread state the close itself runs on: it would wait for
/// ever. Do for it what `_shutdown` does when the idents match: mark it finished. (3.13's
/// threading has no `_tstate_lock`; there this does nothing.)
const FINISH_MAIN_THREAD: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
if threading is not None:
    main = threading._main_thread
    lock = getattr(main, '_tstate_lock', None)
    if main.ident != threading.get_ident() and lock is not None and lock.locked():
        lock.release()
        main._stop()
";

/// Runs the hooks registered with `threading._register_atexit`, newest first, as
/// `threading._shutdown` does before it joins (Py_EndInterpreter calls it after us: each hook is
/// taken off the list so that none runs twice). A hook that raises is reported on stderr and the
/// others still run.
const RUN_THREADING_EXIT_HOOKS: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
hooks = getattr(threading, '_threading_atexits', None)
if hooks:
    threading._SHUTTING_DOWN = True
    while hooks:
        hook = hooks.pop()
        try:
            hook()
        except BaseException:
            import traceback
            print('Exception in a threading exit hook while closing the interpreter:', file=sys.stderr)
            traceback.print_exc()
";

/// Joins the current interpreter's non-daemon threads, as Py_EndInterpreter would.
const JOIN_THREADS: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
while threading is not None:
    others = [thread for thread in threading.enumerate()
              if not thread.daemon and thread.is_alive() and thread.ident != threading.get_ident()
              and thread is not threading.main_thread()
              and not isinstance(thread, threading._DummyThread)]
    if not others:
        break
    for thread in others:
        thread.join()
";

/// Joins the current interpreter's non-daemon threads for at most a slice of time; `result` is
/// True if some are still alive.
const JOIN_THREADS_SLICE: &std::ffi::CStr = c"
import sys, time
threading = sys.modules.get('threading')
result = False
if threading is not None:
    deadline = time.monotonic() + 0.05
    for thread in threading.enumerate():
        if (not thread.daemon and thread.is_alive() and thread.ident != threading.get_ident()
                and thread is not threading.main_thread()
                and not isinstance(thread, threading._DummyThread)):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                result = True
                break
";

/// Joins every live thread of the current interpreter for at most a moment.
const JOIN_THREADS_BRIEFLY: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
if threading is not None:
    for thread in threading.enumerate():
        if (thread.is_alive() and thread.ident != threading.get_ident()
                and thread is not threading.main_thread()
                and not isinstance(thread, threading._DummyThread)):
            thread.join(0.05)
";

/// Runs inside the interpreter being closed, on its initial thread state: gets it ready for
/// `Py_EndInterpreter` or says why it is not.
fn prepare_end(interp: InterpPtr, stray: StrayThreads, join: Join) -> Result<(), CloseFailure> {
    let attempt = || -> PyResult<Result<(), CloseFailure>> {
        let live = eval_snippet(LIVE_THREADS)?;
        let mut threads = Vec::new();
        for entry in live.as_ref().tuple_items() {
            let mut fields = entry.tuple_items();
            let (Some(ident), Some(daemon)) = (fields.next(), fields.next()) else { continue };
            threads.push((ident.int_as_i64()?.unwrap_or(0) as u64, daemon.is_truthy()?));
        }
        match stray {
            StrayThreads::Refuse => {
                let daemons = threads.iter().filter(|(_, daemon)| *daemon).count();
                if daemons > 0 {
                    return Ok(Err(CloseFailure::ThreadsAlive(daemons)));
                }
                // Threads may wait for these hooks (an idle ThreadPoolExecutor's workers do).
                eval_snippet(RUN_THREADING_EXIT_HOOKS)?;
                match join {
                    Join::UntilDone => drop(eval_snippet(JOIN_THREADS)?),
                    Join::InSlices => {
                        if eval_snippet(JOIN_THREADS_SLICE)?.as_ref().is_truthy()? {
                            return Ok(Err(CloseFailure::Joining));
                        }
                    }
                }
            }
            StrayThreads::Interrupt | StrayThreads::Wait => {
                // Before any SystemExit request: threads waiting for a hook then end cleanly.
                eval_snippet(RUN_THREADING_EXIT_HOOKS)?;
                if stray == StrayThreads::Interrupt {
                    threads.iter().for_each(|(ident, _)| raise_system_exit_in(*ident));
                }
                eval_snippet(JOIN_THREADS_BRIEFLY)?;
            }
        }
        let left = other_thread_states(interp);
        if left > 0 {
            return Ok(Err(CloseFailure::ThreadsAlive(left)));
        }
        // Checked last, with no thread of the interpreter left to lend anything more.
        if let Some(holder) = LEASES.blocking_close_of(current_interpreter_id()) {
            return Ok(Err(CloseFailure::BufferLent(holder)));
        }
        eval_snippet(FINISH_MAIN_THREAD)?;
        Ok(Ok(()))
    };
    match attempt() {
        Ok(verdict) => verdict,
        Err(_) => Err(CloseFailure::Failed(describe_raised())),
    }
}
