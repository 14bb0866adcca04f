//! Releasing the GIL around blocking work (and giving it to the threads that wait for it during
//! long native work), seeing signals, knowing which thread we are on, and keeping daemon threads
//! away from interpreter finalisation.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pyo3_ffi as sys;
use subinterpreters_core::Demand;

use super::error::{PyResult, Raised};
use super::module::import_module;

/// Set once the main interpreter's exit hook starts.
static MAIN_EXITING: AtomicBool = AtomicBool::new(false);
/// Non-daemon threads of the main interpreter still alive when its exit hook started: Python's
/// join of them was interrupted (Ctrl-C), so they are as abandoned as daemon threads.
static LEFT_OVER: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// The main thread of the main interpreter, learnt on first need. 0 until then.
static MAIN_THREAD: AtomicU64 = AtomicU64::new(0);

/// Threads of ours waiting to take an interpreter's GIL back (after blocking, or after a call
/// into, the creation or the end of another interpreter), in buckets by interpreter id: two
/// interpreters that share a bucket cost a give-way that was not needed (a wait of at most
/// `GIVE_WAY_PATIENCE`, after which the build waits longer before it looks again).
static GIL_DEMAND: [Demand; 16] = [const { Demand::new() }; 16];
/// How long a thread giving way waits for a waiter to take the GIL (see [`give_way`]).
const GIVE_WAY_PATIENCE: Duration = Duration::from_micros(500);

thread_local! {
    /// Whether this thread is a daemon thread of the main interpreter, learnt on first need.
    static DAEMON_OF_MAIN: Cell<Option<bool>> = const { Cell::new(None) };
}

/// The calling thread's identifier (`threading.get_ident()`).
pub(crate) fn thread_ident() -> u64 {
    // SAFETY: always callable.
    unsafe { sys::PyThread_get_thread_ident() as u64 }
}

fn in_main_interpreter() -> bool {
    // SAFETY: the thread is attached (callers hold the GIL); both calls only read runtime state.
    unsafe { sys::PyInterpreterState_Get() == sys::PyInterpreterState_Main() }
}

/// True in the main thread of the main interpreter: the only place where signal handlers run,
/// so the only place where a blocked call must wake up to see Ctrl-C.
pub(crate) fn is_main_thread() -> bool {
    if !in_main_interpreter() {
        return false;
    }
    let mut main = MAIN_THREAD.load(Ordering::Relaxed);
    if main == 0 {
        main = match main_thread_ident() {
            Ok(ident) => ident,
            Err(_) => {
                super::error::clear_error();
                return false;
            }
        };
        MAIN_THREAD.store(main, Ordering::Relaxed);
    }
    main == thread_ident()
}

fn main_thread_ident() -> PyResult<u64> {
    let threading = import_module(c"threading")?;
    let main = threading.as_ref().getattr(c"main_thread")?.as_ref().call(&[])?;
    let ident = main.as_ref().getattr(c"ident")?;
    Ok(ident.as_ref().int_as_i64()?.unwrap_or(0) as u64)
}

/// Runs the Python signal handlers if a signal arrived (main thread of the main interpreter
/// only; elsewhere a no-op), propagating the exception a handler raised (KeyboardInterrupt).
pub(crate) fn check_signals() -> PyResult<()> {
    // SAFETY: the thread is attached.
    if unsafe { sys::PyErr_CheckSignals() } < 0 {
        Err(Raised::ALREADY)
    } else {
        Ok(())
    }
}

/// Runs `f` with the GIL released, so the interpreter's other threads keep running. `f` must be
/// `Send`, which keeps Python references out of it.
pub(crate) fn allow_threads<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let may_park = may_park_at_exit();
    let demand = gil_demand();
    // SAFETY: the thread is attached; PyEval_SaveThread detaches it and returns its state.
    let saved = unsafe { sys::PyEval_SaveThread() };
    let result = catch_unwind(AssertUnwindSafe(f));
    park_if_main_is_exiting(may_park);
    // SAFETY: `saved` is this thread's state, detached just above.
    unsafe { reattach(saved, demand) };
    result.unwrap_or_else(|panic| resume_unwind(panic))
}

/// The count of threads waiting for the GIL of the interpreter the calling thread is attached
/// to (those coming back through [`reattach`]).
pub(crate) fn gil_demand() -> &'static Demand {
    &GIL_DEMAND[super::interp::current_interpreter_id().rem_euclid(GIL_DEMAND.len() as i64) as usize]
}

/// Attaches `saved` again, counted in `demand` (its interpreter's, from [`gil_demand`]) while
/// it waits for the GIL, so a thread holding the GIL through long native work lets it go.
///
/// # Safety
/// As `PyEval_RestoreThread`: `saved` is the calling thread's state, detached, and no state is
/// attached on this thread.
pub(super) unsafe fn reattach(saved: *mut sys::PyThreadState, demand: &Demand) {
    let _wish = demand.want();
    // SAFETY: function contract.
    unsafe { sys::PyEval_RestoreThread(saved) };
}

/// Called now and then by long native work holding the GIL (with `demand` from [`gil_demand`]):
/// when threads of ours wait for the GIL (counted in `demand`), releases it until one of them
/// has taken it (at most `GIVE_WAY_PATIENCE`), then waits for it as any thread does. Without
/// this, a waiter waits until the work ends: CPython's hand-over needs a request that only the
/// interpreter's own loop sees. False if no waiter took it (a slow wake-up, another thread
/// first, or one counted but stuck): the caller waits longer before the next try. A thread that
/// would park for good at exit if it let go (see [`park_if_main_is_exiting`]) keeps the GIL and
/// finishes its work instead.
///
/// # Safety
/// Whatever the caller is building must be safe for other threads to see meanwhile: nothing
/// reachable from Python may lead to a half-filled object (see `GcPaused::let_others_run`).
pub(crate) unsafe fn give_way(demand: &Demand) -> bool {
    if demand.waiting() == 0 {
        return true;
    }
    if must_park(may_park_at_exit()) {
        return false;
    }
    let served = demand.served();
    allow_threads(|| demand.wait_served(served, GIVE_WAY_PATIENCE)) || demand.served() != served
}

/// Whether a thread must park instead of re-attaching once the main interpreter is exiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParkAtExit {
    /// Not attached to the main interpreter: its threads are ended by closing it.
    No,
    /// A daemon thread of the main interpreter.
    Yes,
    /// A non-daemon thread of the main interpreter: only if its join was interrupted.
    IfLeftOver,
}

/// Whether the calling thread (attached) must park instead of re-attaching once the main
/// interpreter is exiting: daemon threads of the main interpreter. Those are the only threads of
/// the main interpreter still running when exit hooks run (the others were joined) — except
/// non-daemon threads whose join Ctrl-C interrupted, and threads that a later exit hook starts
/// and joins itself, which are not daemons and must not park.
pub(super) fn may_park_at_exit() -> ParkAtExit {
    if !in_main_interpreter() {
        return ParkAtExit::No;
    }
    let daemon = match DAEMON_OF_MAIN.with(Cell::get) {
        Some(daemon) => daemon,
        None => {
            let daemon = match current_thread_is_daemon() {
                Ok(daemon) => daemon,
                Err(_) => {
                    super::error::clear_error();
                    false
                }
            };
            DAEMON_OF_MAIN.with(|cell| cell.set(Some(daemon)));
            daemon
        }
    };
    if daemon {
        ParkAtExit::Yes
    } else {
        ParkAtExit::IfLeftOver
    }
}

fn current_thread_is_daemon() -> PyResult<bool> {
    let threading = import_module(c"threading")?;
    let thread = threading.as_ref().getattr(c"current_thread")?.as_ref().call(&[])?;
    thread.as_ref().getattr(c"daemon")?.as_ref().is_truthy()
}

/// Once the main interpreter's exit hook has started, a daemon thread of the main interpreter
/// (or a non-daemon one left over, see `LEFT_OVER`) coming back from a blocking call would race
/// interpreter finalisation (CPython < 3.14 even unwinds it with `pthread_exit`, through our
/// frames). It parks here for good, as CPython 3.14 does with such threads. Call with no thread
/// state attached.
pub(super) fn park_if_main_is_exiting(may_park: ParkAtExit) {
    if must_park(may_park) {
        park_for_good();
    }
}

/// Whether [`park_if_main_is_exiting`] would park this thread now.
pub(super) fn must_park(may_park: ParkAtExit) -> bool {
    MAIN_EXITING.load(Ordering::Acquire)
        && match may_park {
            ParkAtExit::No => false,
            ParkAtExit::Yes => true,
            ParkAtExit::IfLeftOver => subinterpreters_core::lock(&LEFT_OVER).contains(&thread_ident()),
        }
}

/// Parks the calling thread (detached) until the process ends.
pub(super) fn park_for_good() -> ! {
    loop {
        std::thread::park();
    }
}

/// Called by the exit hook, in the main interpreter, before it wakes blocked calls, with the
/// idents of the non-daemon threads still alive (whose join was interrupted).
pub(crate) fn begin_shutdown_parking(left_over: Vec<u64>) {
    *subinterpreters_core::lock(&LEFT_OVER) = left_over;
    MAIN_EXITING.store(true, Ordering::Release);
}
