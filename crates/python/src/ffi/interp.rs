//! Creating, entering and ending interpreters (PEP 684's `Py_NewInterpreterFromConfig`).
//!
//! The thread-state dance follows the C-API documentation. Creation leaves the new interpreter's
//! initial thread state current; we detach it and keep it for the interpreter's whole life:
//! CPython 3.12 reuses that preallocated state whenever an interpreter has none left, and dies
//! ("thread state already initialized") if it was deleted. Entering detaches the caller and
//! attaches a thread state of the target (fresh, or the one the thread kept from its last run:
//! `kept_states`); ending attaches the initial state and calls
//! `Py_EndInterpreter` with it (as CPython 3.12's own `_xxsubinterpreters.destroy` does).

use std::ffi::CStr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use pyo3_ffi as sys;

use super::error::{PyResult, Raised};
use super::object::{Owned, Ref};

/// An interpreter's state, and (for interpreters we created) its initial thread state: an
/// identity that may cross threads. It may outlive its interpreter; functions that hand it back
/// to CPython say in their `# Safety` section how the caller keeps the interpreter alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InterpPtr(NonNull<sys::PyInterpreterState>, *mut sys::PyThreadState);

// SAFETY: the pointer is used as an opaque identity and passed to CPython functions that are
// valid from any thread; it is never dereferenced by Rust code.
unsafe impl Send for InterpPtr {}
// SAFETY: as above.
unsafe impl Sync for InterpPtr {}

impl InterpPtr {
    /// An interpreter this package did not create (no initial thread state of ours).
    pub(super) fn foreign(interp: NonNull<sys::PyInterpreterState>) -> InterpPtr {
        InterpPtr(interp, std::ptr::null_mut())
    }

    pub(super) fn as_ptr(self) -> *mut sys::PyInterpreterState {
        self.0.as_ptr()
    }

    /// CPython's id of the interpreter (0 for the main one; never reused).
    ///
    /// # Safety
    /// The interpreter is alive (e.g. it is the current or the main one).
    pub(crate) unsafe fn id(self) -> i64 {
        // SAFETY: the interpreter is alive (function contract); this reads an immutable field.
        unsafe { sys::PyInterpreterState_GetID(self.0.as_ptr()) }
    }
}

/// The id of the interpreter the calling thread is attached to.
pub(crate) fn current_interpreter_id() -> i64 {
    // SAFETY: the current interpreter is alive while we are attached to it.
    unsafe { current_interpreter().id() }
}

/// The id of the main interpreter (0).
pub(crate) fn main_interpreter_id() -> i64 {
    // SAFETY: the main interpreter lives as long as the runtime.
    unsafe { main_interpreter().id() }
}

/// The interpreter the calling thread is attached to.
fn current_interpreter() -> InterpPtr {
    // SAFETY: the thread is attached, so there is a current interpreter (never null).
    InterpPtr(unsafe { NonNull::new_unchecked(sys::PyInterpreterState_Get()) }, std::ptr::null_mut())
}

/// The interpreter the calling thread is attached to, as an identity that may cross threads.
pub(crate) fn current_interp_ptr() -> InterpPtr {
    current_interpreter()
}

/// The calling thread's attached thread state, or null if it has none attached.
fn attached_thread_state() -> *mut sys::PyThreadState {
    // SAFETY: no precondition; returns null when no thread state is attached (pyo3-ffi maps it
    // to _PyThreadState_UncheckedGet before 3.13).
    unsafe { sys::compat::PyThreadState_GetUnchecked() }
}

/// Runs `f` attached to interpreter `interp` on the calling thread, whatever the thread is
/// attached to now: directly if it is `interp` already; otherwise the current thread state (if
/// any) is detached, a temporary one of `interp` is attached for `f`, and the thread is then
/// returned to where it was. A panic in `f` is contained (it only releases memory).
///
/// # Safety
/// `interp` is alive for the whole call, and the caller holds no lock that a thread of `interp`
/// may wait for while holding its GIL.
pub(crate) unsafe fn run_attached_to(interp: InterpPtr, f: impl FnOnce()) {
    let current = attached_thread_state();
    // SAFETY: a non-null current state is live and attached to this thread.
    if !current.is_null() && unsafe { sys::PyThreadState_GetInterpreter(current) } == interp.0.as_ptr() {
        let _ = catch_unwind(AssertUnwindSafe(f));
        return;
    }
    let demand = (!current.is_null()).then(super::gil::gil_demand);
    // SAFETY: the current state (if any) is attached to this thread; detaching releases its GIL.
    let caller = if current.is_null() { std::ptr::null_mut() } else { unsafe { sys::PyEval_SaveThread() } };
    // SAFETY: `interp` is alive (contract); PyThreadState_New needs no GIL.
    let state = unsafe { sys::PyThreadState_New(interp.0.as_ptr()) };
    if state.is_null() {
        // Out of memory: leak what `f` would release rather than release it under the wrong
        // interpreter.
        std::mem::forget(f);
    } else {
        // SAFETY: a fresh state of `interp` owned by this thread: attach it (takes its GIL), run,
        // then clear and delete it (releasing that GIL).
        unsafe {
            sys::PyEval_RestoreThread(state);
            let _ = catch_unwind(AssertUnwindSafe(f));
            super::error::clear_error();
            sys::PyThreadState_Clear(state);
            sys::PyThreadState_DeleteCurrent();
        }
    }
    if let Some(demand) = demand {
        // SAFETY: `caller` is this thread's state, detached above; nothing is attached now.
        unsafe { super::gil::reattach(caller, demand) };
    }
}

/// The main interpreter.
fn main_interpreter() -> InterpPtr {
    // SAFETY: the main interpreter exists for the whole life of the runtime.
    InterpPtr(unsafe { NonNull::new_unchecked(sys::PyInterpreterState_Main()) }, std::ptr::null_mut())
}

/// Creates an interpreter. Isolated: its own GIL and allocator, no fork/exec, no daemon
/// threads, only multi-phase extension modules. Legacy: shares the main GIL and allocator, as
/// `Py_NewInterpreter` does. Returns the interpreter and its id, or CPython's reason for failing.
/// `record` runs before the caller is re-attached, with the new interpreter and id (or `None` on
/// failure): the moment to make it known to the world, before this thread might park for good at
/// exit.
pub(crate) fn create_interpreter(
    isolated: bool,
    record: impl FnOnce(Option<(InterpPtr, i64)>) + Send,
) -> Result<(InterpPtr, i64), String> {
    // One creation or end at a time in the process (see `LifecycleTurn`). The turn is awaited
    // detached, so no GIL is held while waiting for it; not through `allow_threads`, which may
    // park a daemon thread at exit: this creation is counted in flight, the exit hook waits for
    // it, and it must not hold the turn that the hook's closes need. It parks, if it must, below,
    // once the turn is given back.
    // SAFETY: the thread is attached (callers hold the GIL); detach it, then attach it again.
    let turn = unsafe {
        let caller = sys::PyEval_SaveThread();
        let turn = LIFECYCLE_TURN.take();
        sys::PyEval_RestoreThread(caller);
        turn
    };
    let config = if isolated {
        sys::PyInterpreterConfig {
            use_main_obmalloc: 0,
            allow_fork: 0,
            allow_exec: 0,
            allow_threads: 1,
            allow_daemon_threads: 0,
            check_multi_interp_extensions: 1,
            gil: sys::PyInterpreterConfig_OWN_GIL,
        }
    } else {
        sys::PyInterpreterConfig {
            use_main_obmalloc: 1,
            allow_fork: 1,
            allow_exec: 1,
            allow_threads: 1,
            allow_daemon_threads: 1,
            check_multi_interp_extensions: 0,
            gil: sys::PyInterpreterConfig_SHARED_GIL,
        }
    };
    let may_park = super::gil::may_park_at_exit();
    let demand = super::gil::gil_demand();
    // SAFETY: the thread is attached (callers hold the GIL), as Py_NewInterpreterFromConfig
    // requires; it detaches the caller's state and leaves the new one current, or on failure
    // makes the caller's current again.
    let (caller, new_state, status) = unsafe {
        let caller = sys::PyThreadState_Get();
        let mut new_state: *mut sys::PyThreadState = std::ptr::null_mut();
        let status = sys::Py_NewInterpreterFromConfig(&mut new_state, &config);
        (caller, new_state, status)
    };
    // SAFETY: reads the status CPython returned.
    if unsafe { sys::PyStatus_Exception(status) } != 0 || new_state.is_null() {
        record(None);
        let reason = if status.err_msg.is_null() {
            "Py_NewInterpreterFromConfig failed".to_owned()
        } else {
            // SAFETY: err_msg points to a static NUL-terminated message.
            unsafe { CStr::from_ptr(status.err_msg) }.to_string_lossy().into_owned()
        };
        return Err(reason);
    }
    // SAFETY: `new_state` is the new interpreter's current thread state (its GIL held).
    let interp = unsafe { sys::PyThreadState_GetInterpreter(new_state) };
    // CPython 3.12's `threading` ties the interpreter's "main thread" to the thread state that
    // first imports it; if that were a short-lived state of one `run`, closing the interpreter
    // would print an AssertionError from threading._shutdown. Import it now, on the initial
    // state, which lives as long as the interpreter.
    #[cfg(not(Py_3_13))]
    {
        // SAFETY: attached to the new interpreter; returns a new reference or null.
        match unsafe { Owned::from_new(sys::PyImport_ImportModule(c"threading".as_ptr())) } {
            Ok(module) => drop(module),
            Err(_) => super::error::clear_error(),
        }
        // CPython 3.12 corrupts memory (a double free when the interpreter is destroyed) after
        // an isolated interpreter *tried* to load a single-phase extension module, which it
        // refuses (gh-115649; 3.12.1 here). The standard library has such modules behind
        // common imports (`datetime` tries `_datetime`, `decimal` tries `_decimal`): mark them
        // absent, so that the import fails before the loader runs and the pure-Python fallback
        // is used. (Third-party single-phase modules still meet the bug; see the README.)
        if isolated && eval_snippet(SINGLE_PHASE_STDLIB_ABSENT).is_err() {
            super::error::clear_error();
        }
    }
    // Keep the initial thread state (see the module docs), detached: this releases the new
    // interpreter's GIL.
    // SAFETY: the new state is current; PyEval_SaveThread detaches it.
    let initial = unsafe { sys::PyEval_SaveThread() };
    // SAFETY: CPython never returns a null interpreter for a live thread state.
    let interp = InterpPtr(unsafe { NonNull::new_unchecked(interp) }, initial);
    // SAFETY: just created; nobody else knows it yet, so nobody can have ended it.
    let created = (interp, unsafe { interp.id() });
    drop(turn);
    let panicked = run_detached(|| record(Some(created)));
    super::gil::park_if_main_is_exiting(may_park);
    // SAFETY: `caller` is this thread's state, detached by Py_NewInterpreterFromConfig; nothing
    // is attached now.
    unsafe { super::gil::reattach(caller, demand) };
    resume_if_panicked(panicked);
    Ok(created)
}

/// Marks the standard library's single-phase extension modules (those an isolated interpreter of
/// CPython 3.12 refuses to load) as absent; see `create_interpreter`.
#[cfg(not(Py_3_13))]
const SINGLE_PHASE_STDLIB_ABSENT: &CStr = c"
import sys
for name in ('_ctypes', '_curses', '_curses_panel', '_datetime', '_decimal', '_elementtree',
             '_lsprof', '_testbuffer', '_testcapi', '_testclinic', '_testimportmultiple',
             '_testsinglephase', '_tkinter', '_xxtestfuzz', 'nis', 'ossaudiodev', 'pyexpat',
             'readline', 'xxlimited_35'):
    sys.modules.setdefault(name, None)
";

/// The right to create or end an interpreter, one thread at a time in the process. CPython
/// initialises runtime-wide static state when it creates an interpreter and tears part of it down
/// when it ends one (the static types' per-interpreter records and their count, `_datetime`'s
/// shared types: cpython gh-127108, gh-136421), without a lock of its own. Two creations at once
/// were seen to corrupt it here on 3.12 ("failed to get the Python codec of the filesystem
/// encoding", "descriptor 'close' for '_io.BufferedReader' objects doesn't apply to a
/// '_io.FileIO' object"); a creation racing an end is the same race.
///
/// Re-entrant: ending an interpreter runs its exit hooks on the ending thread, and one may create
/// or close another interpreter. A flag and a condvar rather than a `MutexGuard`, so that taking
/// it can happen with the thread detached and holding it can span re-attaching.
struct LifecycleTurn {
    holder: std::sync::Mutex<Holder>,
    free: std::sync::Condvar,
}

/// Who holds the turn, and how many times over.
struct Holder {
    thread: Option<std::thread::ThreadId>,
    depth: usize,
}

static LIFECYCLE_TURN: LifecycleTurn =
    LifecycleTurn { holder: std::sync::Mutex::new(Holder { thread: None, depth: 0 }), free: std::sync::Condvar::new() };

impl LifecycleTurn {
    /// Waits for the turn (call it detached: its holder may need a GIL this thread holds); it is
    /// given back when the guard drops.
    fn take(&'static self) -> LifecycleTurnGuard {
        let me = std::thread::current().id();
        let mut holder = subinterpreters_core::lock(&self.holder);
        if holder.thread != Some(me) {
            while holder.thread.is_some() {
                holder = subinterpreters_core::wait(&self.free, holder);
            }
            holder.thread = Some(me);
        }
        holder.depth += 1;
        LifecycleTurnGuard
    }

    fn give_back(&self) {
        let mut holder = subinterpreters_core::lock(&self.holder);
        holder.depth -= 1;
        if holder.depth == 0 {
            holder.thread = None;
            drop(holder);
            self.free.notify_one();
        }
    }
}

/// Gives the turn back when the creation or end is over, however it ends.
#[must_use]
struct LifecycleTurnGuard;

impl Drop for LifecycleTurnGuard {
    fn drop(&mut self) {
        LIFECYCLE_TURN.give_back();
    }
}

/// Runs `f` in interpreter `interp` on the calling thread: the caller's thread state is detached
/// (its GIL released) and a thread state of `interp` is attached for the duration: a fresh one,
/// deleted afterwards, or with `keep_state` the one this thread kept from its last run there
/// (made now if none), kept again afterwards (see [`super::kept_states`]). `f` is `Send`, so it
/// cannot capture references of the caller's interpreter. `on_leave` runs once the thread has
/// left `interp` entirely (its thread state detached, kept or deleted) and the caller is attached
/// again (or, for a thread that parks for good at exit, before it parks): the moment to tell the
/// world that `interp` is free to be closed.
///
/// # Safety
/// `interp` must stay alive until this returns: the caller holds a reservation in the
/// interpreter table (a run or a visit) that keeps it from being closed. With `keep_state`,
/// `interp` is one this package created, whose close deletes the kept state.
pub(crate) unsafe fn enter_interpreter<R: Send>(
    interp: InterpPtr,
    keep_state: bool,
    f: impl FnOnce() -> R + Send,
    on_leave: impl FnOnce() + Send,
) -> PyResult<R> {
    let may_park = super::gil::may_park_at_exit();
    let demand = super::gil::gil_demand();
    // SAFETY: the thread is attached; PyEval_SaveThread detaches it and returns its state.
    let caller = unsafe { sys::PyEval_SaveThread() };
    let kept = if keep_state { super::kept_states::take(interp) } else { None };
    // SAFETY: `interp` is alive (function contract); PyThreadState_New needs no GIL.
    let state = kept.unwrap_or_else(|| unsafe { sys::PyThreadState_New(interp.0.as_ptr()) });
    if state.is_null() {
        let panicked = run_detached(on_leave);
        // SAFETY: `caller` was detached above on this thread.
        unsafe { sys::PyEval_RestoreThread(caller) };
        resume_if_panicked(panicked);
        // SAFETY: attached again; sets MemoryError.
        unsafe { sys::PyErr_NoMemory() };
        return Err(Raised::ALREADY);
    }
    // SAFETY: a thread state of `interp` made by this thread and attached by no other (fresh, or
    // kept for this thread and taken out of the table): attach it (takes its GIL).
    unsafe { sys::PyEval_RestoreThread(state) };
    let result = catch_unwind(AssertUnwindSafe(f));
    // A thread that will park for good instead of re-attaching its caller (a daemon thread of the
    // main interpreter at exit) deletes its state: kept, it would stay named by the thread's
    // gilstate slot (see `kept_states`).
    let parks = super::gil::must_park(may_park);
    if keep_state && !parks {
        // SAFETY: attached to `interp`, one of ours, with `state`, which is not in the table.
        unsafe { super::kept_states::delete_all(interp) };
        // SAFETY: `state` is current: detach it (releasing `interp`'s GIL), to keep it.
        unsafe { sys::PyEval_SaveThread() };
    } else {
        // SAFETY: `state` is current; clear it, then delete it and release the GIL it holds.
        unsafe {
            sys::PyThreadState_Clear(state);
            sys::PyThreadState_DeleteCurrent();
        }
    }
    // Asked again just before re-attaching when nothing is kept: a run the exit hook does not
    // wait for (in an interpreter of other code) must not re-attach once finalisation may have
    // begun. A kept state's run is waited for until `on_leave`, so that re-attach is safe.
    if parks || (!keep_state && super::gil::must_park(may_park)) {
        // A run of ours is still counted in `interp`'s table record until `on_leave`, which the
        // exit hook waits for; nothing of it is kept.
        drop(run_detached(on_leave));
        super::gil::park_for_good();
    }
    // SAFETY: `caller` is this thread's state, detached above; nothing is attached now.
    unsafe { super::gil::reattach(caller, demand) };
    // Only now, with the caller attached again (and so the thread's gilstate state), may `state`
    // be deleted by another thread, so only now is it published; and before `on_leave`, after
    // which `interp` may be closed, a close that must find it.
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        if keep_state {
            // SAFETY: made on this thread for `interp` (ours, still reserved for this run until
            // `on_leave`), detached, and the caller's state was attached since.
            unsafe { super::kept_states::publish(interp, state) };
        }
        on_leave();
    }))
    .err();
    resume_if_panicked(panicked);
    Ok(result.unwrap_or_else(|panic| resume_unwind(panic)))
}

/// Ends an interpreter made by [`create_interpreter`], if `prepare` agrees. With the caller
/// detached, attaches the interpreter's initial thread state on this thread and runs `prepare`
/// there; if it returns `Ok`, calls `Py_EndInterpreter` (which runs the interpreter's exit hooks,
/// joins its non-daemon threads and frees it), otherwise detaches the initial state again.
/// `on_leave` sees the outcome before the caller is re-attached.
///
/// # Safety
/// `interp` was made by [`create_interpreter`], is alive, and is reserved for this close in the
/// interpreter table (no run, visit or other close), so its initial thread state is detached and
/// no other thread attaches it.
pub(crate) unsafe fn end_interpreter_if<E: Send>(
    interp: InterpPtr,
    prepare: impl FnOnce() -> Result<(), E> + Send,
    on_leave: impl FnOnce(&Result<(), E>) + Send,
) -> Result<(), E> {
    let initial = interp.1;
    assert!(!initial.is_null(), "only interpreters created here are ended here");
    let may_park = super::gil::may_park_at_exit();
    let demand = super::gil::gil_demand();
    // SAFETY: the thread is attached; detach it.
    let caller = unsafe { sys::PyEval_SaveThread() };
    // SAFETY: the initial state is detached and reserved for us (function contract).
    unsafe { sys::PyEval_RestoreThread(initial) };
    // SAFETY: attached to `interp` with its initial state; reserved for this close, so no run
    // takes or keeps a state meanwhile. Kept states would count as threads still alive.
    unsafe { super::kept_states::delete_all(interp) };
    let outcome = catch_unwind(AssertUnwindSafe(prepare));
    match &outcome {
        Ok(Ok(())) => {
            // Wait for the lifecycle turn detached (its holder may need this GIL: a legacy
            // interpreter shares the main one). Nothing runs in `interp` meanwhile: it is reserved
            // for this close and has no other thread.
            // SAFETY: the initial state is current; detach it, then attach it again.
            unsafe { sys::PyEval_SaveThread() };
            let _turn = LIFECYCLE_TURN.take();
            // SAFETY: the initial state, detached just above on this thread.
            unsafe { sys::PyEval_RestoreThread(initial) };
            // SAFETY: attached with the initial state and, as `prepare` checked, the
            // interpreter's only thread: what Py_EndInterpreter requires. It leaves no thread
            // state current.
            unsafe { sys::Py_EndInterpreter(initial) }
        }
        // SAFETY: the initial state is current; detach it and keep it.
        _ => drop(unsafe { sys::PyEval_SaveThread() }),
    }
    let panicked = match &outcome {
        Ok(result) => run_detached(|| on_leave(result)),
        Err(_) => None,
    };
    super::gil::park_if_main_is_exiting(may_park);
    // SAFETY: `caller` is this thread's state, detached above; nothing is attached now.
    unsafe { super::gil::reattach(caller, demand) };
    resume_if_panicked(panicked);
    outcome.unwrap_or_else(|panic| resume_unwind(panic))
}

/// Runs book-keeping with no thread state attached, keeping a panic until the caller is
/// attached again (a panic must not leave a thread detached).
fn run_detached(f: impl FnOnce()) -> Option<Box<dyn std::any::Any + Send>> {
    catch_unwind(AssertUnwindSafe(f)).err()
}

fn resume_if_panicked(panicked: Option<Box<dyn std::any::Any + Send>>) {
    if let Some(panic) = panicked {
        resume_unwind(panic);
    }
}

/// Asks thread `thread` of the current interpreter to raise `SystemExit` at its next Python
/// instruction (how the exit hook stops code that would otherwise keep an interpreter alive).
pub(crate) fn raise_system_exit_in(thread: u64) {
    // SAFETY: the thread is attached to the interpreter whose threads PyThreadState_SetAsyncExc
    // searches; SystemExit is a static type valid in every interpreter.
    unsafe { sys::PyThreadState_SetAsyncExc(thread as _, sys::PyExc_SystemExit) };
}

/// Number of thread states of `interp` (the current interpreter) other than the caller's and the
/// initial one kept by [`create_interpreter`]: threads that `Py_EndInterpreter` would find alive.
pub(crate) fn other_thread_states(interp: InterpPtr) -> usize {
    let mut count = 0;
    // SAFETY: the caller is attached to `interp` and holds its GIL, which every thread of the
    // interpreter holds while unlinking its state, so the list is stable while we walk it.
    unsafe {
        debug_assert!(sys::PyInterpreterState_Get() == interp.0.as_ptr());
        let current = sys::PyThreadState_Get();
        let mut state = sys::PyInterpreterState_ThreadHead(interp.0.as_ptr());
        while !state.is_null() {
            if state != current && state != interp.1 {
                count += 1;
            }
            state = sys::PyThreadState_Next(state);
        }
    }
    count
}

/// Runs `source` in a fresh namespace of the current interpreter and returns its `result`.
pub(crate) fn eval_snippet(source: &CStr) -> PyResult<Owned> {
    // SAFETY: returns a new dict or null.
    let namespace = unsafe { Owned::from_new(sys::PyDict_New())? };
    run_code(source, namespace.as_ref())?;
    // SAFETY: live dict; returns a borrowed reference or null (with no exception) if missing.
    let result = unsafe { sys::PyDict_GetItemString(namespace.as_ptr(), c"result".as_ptr()) };
    if result.is_null() {
        return Ok(super::values::none());
    }
    // SAFETY: borrowed from the dict, which we still own.
    Ok(unsafe { Ref::from_ptr(result) }.to_owned())
}

/// Runs `source` as a module body in the `__main__` module of the current interpreter.
pub(crate) fn run_in_main_module(source: &CStr) -> PyResult<()> {
    run_code(source, main_module_dict()?.as_ref())
}

/// Runs a marshalled code object (`marshal.dumps(code)` of this CPython) in the `__main__`
/// module of the current interpreter, with its dict as globals and locals.
pub(crate) fn run_marshalled_in_main_module(marshalled: &[u8]) -> PyResult<()> {
    let namespace = main_module_dict()?;
    // SAFETY: reads `marshalled` (valid for its length); returns a new reference or null.
    let code = unsafe {
        Owned::from_new(sys::PyMarshal_ReadObjectFromString(
            marshalled.as_ptr().cast(),
            marshalled.len() as sys::Py_ssize_t,
        ))?
    };
    // SAFETY: live objects; PyEval_EvalCode checks that `code` is a code object (TypeError
    // otherwise) and returns a new reference or null.
    let result =
        unsafe { Owned::from_new(sys::PyEval_EvalCode(code.as_ptr(), namespace.as_ptr(), namespace.as_ptr())) };
    result.map(drop)
}

/// Runs `source` as a module body with `namespace` (a dict) as its globals and locals.
fn run_code(source: &CStr, namespace: Ref<'_>) -> PyResult<()> {
    // SAFETY: NUL-terminated source and a live dict (builtins are added on demand); returns a
    // new reference or null with an exception set.
    let result = unsafe {
        Owned::from_new(sys::PyRun_StringFlags(
            source.as_ptr(),
            sys::Py_file_input,
            namespace.as_ptr(),
            namespace.as_ptr(),
            std::ptr::null_mut(),
        ))
    };
    result.map(drop)
}

/// The globals of the current interpreter's `__main__` module.
pub(crate) fn main_module_dict() -> PyResult<Owned> {
    // SAFETY: PyImport_AddModule returns a borrowed reference to the module (created if missing)
    // or null; PyModule_GetDict returns a borrowed reference to its dict.
    unsafe {
        let module = sys::PyImport_AddModule(c"__main__".as_ptr());
        if module.is_null() {
            return Err(Raised::ALREADY);
        }
        Ok(Ref::from_ptr(sys::PyModule_GetDict(module)).to_owned())
    }
}
