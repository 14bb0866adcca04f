//! The exit hook: run by the main interpreter's `atexit`, after its non-daemon threads were
//! joined and before CPython finalises it. A subinterpreter still alive then is a fatal error on
//! 3.12 (and ending one under a running thread is fatal on both versions), and no thread blocked
//! in the package may keep the process waiting any longer. So, in order:
//! 1. refuse new creations and runs, and make daemon threads of the main interpreter that come
//!    back from the package from now on park for good (CPython would race them against
//!    finalisation), and non-daemon ones still alive too (Ctrl-C interrupted Python's join of
//!    them; `exit_watch` named those waiting in the package);
//! 2. close every channel and queue, which wakes every blocked call, in every interpreter;
//! 3. wait for creations and runs in flight; after a grace period, ask code still running in our
//!    interpreters to raise SystemExit, and ask again every second;
//! 4. wait for closes begun by other threads;
//! 5. close every interpreter, newest first: run its `threading._register_atexit` hooks, then ask
//!    threads still alive in it (daemon threads of legacy interpreters) to raise SystemExit;
//! 6. on CPython 3.12.0-3.12.3, keep finalisation from freeing the keyword-name tuples of C
//!    functions that a subinterpreter called first (`ffi::keyword_parsers`).
//!
//! Code that ignores SystemExit keeps the process waiting: after a few seconds a line on stderr
//! says so, and Ctrl-C gives up (CPython then aborts, as it would have without this hook).

use std::time::{Duration, Instant};

use crate::exit_watch::exit_join_ended;
use crate::ffi::{
    allow_threads, begin_shutdown_parking, check_signals, clear_error, enter_interpreter, eval_snippet, none,
    raise_system_exit_in, Args, Owned, PyResult, Ref,
};
use crate::globals::{CHANNELS, INTERPRETERS, LEASES, QUEUES};
use crate::interpreter::{try_close, CloseFailure, StrayThreads};
use crate::state::state_of_module;

/// How long running code gets to end by itself once its blocked calls were released.
const GRACE: Duration = Duration::from_millis(500);
/// How often code that is still running is asked again to raise SystemExit.
const ASK_AGAIN: Duration = Duration::from_secs(1);
/// How often the hook looks again (and sees Ctrl-C) while it waits.
const POLL: Duration = Duration::from_millis(50);
/// After how long the hook says on stderr what it is waiting for.
const WARN_AFTER: Duration = Duration::from_secs(3);

pub(crate) fn shutdown(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("_shutdown")?;
    state_of_module(module)?;
    if !INTERPRETERS.begin_shutdown() {
        return Ok(none());
    }
    exit_join_ended();
    begin_shutdown_parking(non_daemon_threads_alive());
    CHANNELS.close_all();
    QUEUES.close_all();
    let mut waiting = Waiting::new();

    let mut ask_at = Instant::now() + GRACE;
    while !allow_threads(|| INTERPRETERS.wait_until_idle(Instant::now() + POLL)) {
        check_signals()?;
        if Instant::now() >= ask_at {
            interrupt_running_code();
            ask_at = Instant::now() + ASK_AGAIN;
        }
        waiting.report("code running in an interpreter to end");
    }

    while !allow_threads(|| INTERPRETERS.wait_until_no_closes(Instant::now() + POLL)) {
        check_signals()?;
        waiting.report("another thread to finish closing an interpreter");
    }

    // Newest first; one whose lent buffer another still views waits for that one to close.
    let mut pending: Vec<i64> = INTERPRETERS.ids().into_iter().rev().collect();
    let mut abandoned_at: Option<Instant> = None;
    loop {
        let before = pending.len();
        let mut still = Vec::new();
        for id in pending {
            if !close_at_exit(id, &mut waiting)? {
                still.push(id);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if pending.len() == before {
            // Views of their memory remain (in the main interpreter, or in a cycle): CPython
            // cannot exit with them alive, so their releases are abandoned (the exporters are
            // kept, leaked, so the views still read the right bytes) and they end anyway. A
            // release another thread is running at this moment is waited for, briefly.
            match abandoned_at {
                None => abandoned_at = Some(Instant::now()),
                Some(since) if since.elapsed() >= WARN_AFTER => break,
                Some(_) => {}
            }
            for &id in &pending {
                LEASES.abandon_all_of(id);
            }
            allow_threads(|| std::thread::sleep(POLL));
            check_signals()?;
        }
    }
    // CPython 3.12.0-3.12.3 would free, at finalisation, objects our interpreters made with
    // their own allocators (gh-119213; see the module).
    #[cfg(not(Py_3_13))]
    crate::ffi::disown_keyword_name_tuples();
    Ok(none())
}

/// Closes interpreter `id` for the exit hook, waiting for (and interrupting) its threads.
/// `Ok(false)` if it must wait for another interpreter to release a buffer it lent; `Err` on
/// Ctrl-C.
fn close_at_exit(id: i64, waiting: &mut Waiting) -> PyResult<bool> {
    {
        let mut stray = StrayThreads::Interrupt;
        let mut ask_at = Instant::now() + ASK_AGAIN;
        loop {
            match try_close(id, stray) {
                Ok(()) => break,
                Err(CloseFailure::BufferLent(_)) => return Ok(false),
                Err(CloseFailure::ThreadsAlive(_) | CloseFailure::Refused(_)) => {
                    allow_threads(|| std::thread::sleep(POLL));
                    check_signals()?;
                    stray = if Instant::now() >= ask_at {
                        ask_at = Instant::now() + ASK_AGAIN;
                        StrayThreads::Interrupt
                    } else {
                        StrayThreads::Wait
                    };
                    waiting.report("threads of an interpreter to end");
                }
                // Raised inside the interpreter while getting it ready: leave it to CPython.
                Err(CloseFailure::Failed(_) | CloseFailure::NotClosable(_) | CloseFailure::Joining) => break,
                Err(CloseFailure::Interrupted(raised)) => return Err(raised),
            }
        }
    }
    Ok(true)
}

/// The idents of the main interpreter's non-daemon threads still alive, but the caller's: Python
/// joins them before exit hooks run, so only an interrupted join (Ctrl-C) leaves any. (Not
/// `is_alive()`: CPython 3.12 marks a thread stopped when Ctrl-C interrupts a join of it.)
const NON_DAEMON_THREADS: &std::ffi::CStr = c"
import threading
result = tuple(thread.ident for thread in threading.enumerate()
               if not thread.daemon and thread is not threading.current_thread()
               and not isinstance(thread, threading._DummyThread))
";

fn non_daemon_threads_alive() -> Vec<u64> {
    let idents = || -> PyResult<Vec<u64>> {
        let found = eval_snippet(NON_DAEMON_THREADS)?;
        let mut idents = Vec::new();
        for ident in found.as_ref().tuple_items() {
            idents.extend(ident.int_as_i64()?.map(|ident| ident as u64));
        }
        Ok(idents)
    };
    idents().unwrap_or_else(|_| {
        clear_error();
        Vec::new()
    })
}

/// Asks every thread running code in one of our interpreters to raise SystemExit.
fn interrupt_running_code() {
    for (id, thread) in INTERPRETERS.runners() {
        let Ok(interp) = INTERPRETERS.begin_visit(id) else { continue };
        // SAFETY: begin_visit keeps the interpreter from being closed until end_visit, which
        // on_leave calls once this thread has left it.
        let entered = unsafe {
            enter_interpreter(interp, false, move || raise_system_exit_in(thread), move || INTERPRETERS.end_visit(id))
        };
        if entered.is_err() {
            clear_error();
        }
    }
}

/// Says once, on stderr, what the exit hook has been waiting for when it takes long.
struct Waiting {
    since: Instant,
    reported: bool,
}

impl Waiting {
    fn new() -> Self {
        Waiting { since: Instant::now(), reported: false }
    }

    fn report(&mut self, what: &str) {
        if !self.reported && self.since.elapsed() >= WARN_AFTER {
            self.reported = true;
            eprintln!(
                "subinterpreters: at exit, still waiting for {what} (it ignores SystemExit); \
                 press Ctrl-C to stop waiting"
            );
        }
    }
}
