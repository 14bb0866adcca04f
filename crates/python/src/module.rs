//! The module `subinterpreters._core`: its per-interpreter state (types and exception classes)
//! and its function table.

use std::ffi::c_int;

use std::cell::OnceCell;

use crate::channel::{RecvHandle, SendHandle, RECV_CHANNEL, SEND_CHANNEL};
use crate::primitives::{
    BarrierObject, ConditionObject, EventObject, LockObject, RLockObject, SemaphoreObject, BARRIER,
    BOUNDED_SEMAPHORE, CONDITION, EVENT, LOCK, RLOCK, SEMAPHORE,
};
use crate::async_ops::{NotifierObject, PendingOpObject, ASYNC_NOTIFIER, PENDING_OP};
use crate::lent_buffer::{LentBufferObject, LENT_BUFFER};
use crate::queue::{QueueObject, QUEUE};
use crate::shared_array::{SharedArrayObject, SHARED_ARRAY, SHARED_BUFFER};
use crate::select::{ClosedSentinel, CLOSED_TYPE};
use crate::errors::{raise_error, Error, ErrorClasses};
use crate::ffi::{
    add_module_object, builtin, import_module, py_function, raise, str_from, Builtin, HeapType,
    Method, ModuleDef, ModuleFunctions, Owned, PyResult, Raised, Ref, StateObjects,
};
use crate::interpreter::{InterpreterId, INTERPRETER};
use crate::{channel, exit_watch, interpreter, queue, select, shutdown};

/// Everything Python that one interpreter's copy of the module owns.
pub(crate) struct State {
    pub(crate) interpreter_type: HeapType<InterpreterId>,
    pub(crate) recv_type: HeapType<RecvHandle>,
    pub(crate) send_type: HeapType<SendHandle>,
    pub(crate) queue_type: HeapType<QueueObject>,
    pub(crate) lock_type: HeapType<LockObject>,
    pub(crate) rlock_type: HeapType<RLockObject>,
    pub(crate) semaphore_type: HeapType<SemaphoreObject>,
    pub(crate) bounded_semaphore_type: HeapType<SemaphoreObject>,
    pub(crate) event_type: HeapType<EventObject>,
    pub(crate) condition_type: HeapType<ConditionObject>,
    pub(crate) barrier_type: HeapType<BarrierObject>,
    pub(crate) shared_array_type: HeapType<SharedArrayObject>,
    pub(crate) shared_buffer_type: HeapType<SharedArrayObject>,
    pub(crate) lent_buffer_type: HeapType<LentBufferObject>,
    pub(crate) async_notifier_type: HeapType<NotifierObject>,
    pub(crate) pending_op_type: HeapType<PendingOpObject>,
    /// `si.CLOSED`: what a select's receive case yields from a closed, drained channel or queue.
    pub(crate) closed: Owned,
    closed_type: HeapType<ClosedSentinel>,
    pub(crate) errors: ErrorClasses,
    /// `pickle.dumps` and `pickle.loads`, imported on first use (for queues' fallback).
    pickle: OnceCell<(Owned, Owned)>,
}

impl State {
    /// Raises the exception for `error` and returns the marker to propagate.
    pub(crate) fn fail(&self, error: Error) -> Raised {
        raise_error(&self.errors, error)
    }

    /// `(pickle.dumps, pickle.loads)` of this interpreter.
    pub(crate) fn pickle(&self) -> PyResult<&(Owned, Owned)> {
        if let Some(functions) = self.pickle.get() {
            return Ok(functions);
        }
        let pickle = import_module(c"pickle")?;
        let functions = (pickle.as_ref().getattr(c"dumps")?, pickle.as_ref().getattr(c"loads")?);
        Ok(self.pickle.get_or_init(|| functions))
    }
}

impl StateObjects for State {
    fn exec(module: Ref<'_>) -> PyResult<Self> {
        let interpreter_type = INTERPRETER.create(module)?;
        let recv_type = RECV_CHANNEL.create(module)?;
        let send_type = SEND_CHANNEL.create(module)?;
        let queue_type = QUEUE.create(module)?;
        let lock_type = LOCK.create(module)?;
        let rlock_type = RLOCK.create(module)?;
        let semaphore_type = SEMAPHORE.create(module)?;
        let bounded_semaphore_type = BOUNDED_SEMAPHORE.create(module)?;
        let event_type = EVENT.create(module)?;
        let condition_type = CONDITION.create(module)?;
        let barrier_type = BARRIER.create(module)?;
        let shared_array_type = SHARED_ARRAY.create(module)?;
        let shared_buffer_type = SHARED_BUFFER.create_subtype(module, &shared_array_type)?;
        let lent_buffer_type = LENT_BUFFER.create(module)?;
        let async_notifier_type = ASYNC_NOTIFIER.create(module)?;
        let pending_op_type = PENDING_OP.create(module)?;
        // Held by the state through `closed`: a type without a reference to the module (see
        // `create_unbound`), or the module would never be freed.
        let closed_type = CLOSED_TYPE.create_unbound()?;
        let closed = closed_type.instance(ClosedSentinel)?;
        add_module_object(module, c"Interpreter", interpreter_type.as_ref())?;
        add_module_object(module, c"RecvChannel", recv_type.as_ref())?;
        add_module_object(module, c"SendChannel", send_type.as_ref())?;
        add_module_object(module, c"Queue", queue_type.as_ref())?;
        add_module_object(module, c"Lock", lock_type.as_ref())?;
        add_module_object(module, c"RLock", rlock_type.as_ref())?;
        add_module_object(module, c"Semaphore", semaphore_type.as_ref())?;
        add_module_object(module, c"BoundedSemaphore", bounded_semaphore_type.as_ref())?;
        add_module_object(module, c"Event", event_type.as_ref())?;
        add_module_object(module, c"Condition", condition_type.as_ref())?;
        add_module_object(module, c"Barrier", barrier_type.as_ref())?;
        add_module_object(module, c"SharedArray", shared_array_type.as_ref())?;
        add_module_object(module, c"SharedBuffer", shared_buffer_type.as_ref())?;
        add_module_object(module, c"_AsyncNotifier", async_notifier_type.as_ref())?;
        add_module_object(module, c"CLOSED", closed.as_ref())?;
        add_module_object(module, c"_ClosedType", closed_type.as_ref())?;
        add_module_object(module, c"__version__", str_from(env!("CARGO_PKG_VERSION"))?.as_ref())?;
        let errors = ErrorClasses::create(module)?;
        Ok(State {
            interpreter_type,
            recv_type,
            send_type,
            queue_type,
            lock_type,
            rlock_type,
            semaphore_type,
            bounded_semaphore_type,
            event_type,
            condition_type,
            barrier_type,
            shared_array_type,
            shared_buffer_type,
            lent_buffer_type,
            async_notifier_type,
            pending_op_type,
            closed,
            closed_type,
            errors,
            pickle: OnceCell::new(),
        })
    }

    fn for_each_object(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int {
        let pickle = self.pickle.get().into_iter().flat_map(|(dumps, loads)| [dumps.as_ref(), loads.as_ref()]);
        let held = [
            self.interpreter_type.as_ref(),
            self.recv_type.as_ref(),
            self.send_type.as_ref(),
            self.queue_type.as_ref(),
            self.lock_type.as_ref(),
            self.rlock_type.as_ref(),
            self.semaphore_type.as_ref(),
            self.bounded_semaphore_type.as_ref(),
            self.event_type.as_ref(),
            self.condition_type.as_ref(),
            self.barrier_type.as_ref(),
            self.shared_array_type.as_ref(),
            self.shared_buffer_type.as_ref(),
            self.lent_buffer_type.as_ref(),
            self.async_notifier_type.as_ref(),
            self.pending_op_type.as_ref(),
            self.closed.as_ref(),
            self.closed_type.as_ref(),
        ];
        for obj in held.into_iter().chain(pickle) {
            let rc = visit(obj);
            if rc != 0 {
                return rc;
            }
        }
        self.errors.for_each(visit)
    }
}

static FUNCTIONS: &[Method<ModuleFunctions>] = &[
    py_function!(c"create", c"create($module, /, *, isolated=True)\n--\n\n\
Create a new interpreter and return it as an Interpreter.\n\n\
isolated=True (default) gives it its own GIL and memory allocator, so its Python code runs in\n\
parallel with other interpreters; it can only import extension modules that support that\n\
(multi-phase init), others raise ImportError inside it. isolated=False makes a legacy\n\
interpreter that shares the main GIL and can import any extension module.", interpreter::create),
    py_function!(c"list_all", c"list_all($module, /)\n--\n\n\
Return the main interpreter and every interpreter created by this package and not closed.", interpreter::list_all),
    py_function!(c"get_current", c"get_current($module, /)\n--\n\n\
Return the interpreter running the caller.", interpreter::get_current),
    py_function!(c"get_main", c"get_main($module, /)\n--\n\n\
Return the main interpreter.", interpreter::get_main),
    py_function!(c"create_channel", c"create_channel($module, /, *, strict=True)\n--\n\n\
Create a channel and return its two ends as (RecvChannel, SendChannel).\n\n\
Both ends can be passed to other interpreters (run(**shared), or through channels).\n\
strict=True (default) refuses objects that cannot cross natively with NotShareableError;\n\
strict=False pickles them in the sender and unpickles them in the receiver, as queues do.", channel::create_channel),
    py_function!(c"list_all_channels", c"list_all_channels($module, /)\n--\n\n\
Return every channel that has an open end, as (RecvChannel, SendChannel) pairs.", channel::list_all_channels),
    py_function!(c"is_shareable", c"is_shareable($module, obj, /)\n--\n\n\
Return True if obj can cross to another interpreter: None, bool, int, float, str, bytes,\n\
tuples of shareable objects, channel ends and Interpreter objects (exact types only).", channel::is_shareable),
    py_function!(c"create_queue", c"create_queue($module, /, maxsize=0, *, strict=False)\n--\n\n\
Create a queue holding at most maxsize objects (maxsize <= 0: unbounded) and return it.\n\n\
Shareable objects cross natively; any other object is pickled by the putter and unpickled by\n\
the getter, unless strict=True, which refuses it with NotShareableError.", queue::create_queue),
    py_function!(c"list_all_queues", c"list_all_queues($module, /)\n--\n\n\
Return every live queue (one that still has a handle in some interpreter).", queue::list_all_queues),
    py_function!(c"select", c"select($module, cases, /, *, timeout=None, default=...)\n--\n\n\
Wait until one of several channel or queue operations can complete, complete exactly that one,\n\
and return (index, value).\n\n\
cases is a sequence: a RecvChannel or Queue alone receives (value: the object, or si.CLOSED if\n\
it is closed and drained); a pair (SendChannel or Queue, obj) sends (value: None; a closed\n\
channel or queue raises ChannelClosedError or QueueClosedError). When several cases are ready,\n\
one is chosen uniformly at random. With default given and no case ready, returns\n\
(None, default) at once. On timeout (seconds) raises TimeoutError; nothing was sent or taken.", select::select),
    py_function!(c"_shutdown", c"_shutdown($module, /)\n--\n\n\
Release calls blocked in the package and close every interpreter it created. Registered with\n\
atexit by the main interpreter; not for direct use.", shutdown::shutdown),
    py_function!(c"_exit_join_begins", c"_exit_join_begins($module, threads, /)\n--\n\n\
Python's exit is about to join the non-daemon threads ((ident, name) pairs): after a few seconds,\n\
name on stderr those waiting in the package. Called by the main interpreter's\n\
threading._shutdown (wrapped by the package); not for direct use.", exit_watch::exit_join_begins),
];

/// The module definition (one per process; one module object and state per interpreter).
pub(crate) static MODULE: ModuleDef<State> = ModuleDef::new(
    c"subinterpreters._core",
    c"Compiled core of subinterpreters: interpreters, channels and their errors.",
    FUNCTIONS,
);

/// The state of the module whose function is being called.
pub(crate) fn state_of_module(module: Ref<'_>) -> PyResult<&State> {
    MODULE.state_of_module(module).ok_or_else(state_gone)
}

/// The state of the module that defined `obj`'s type.
pub(crate) fn state_of(obj: Ref<'_>) -> PyResult<&State> {
    MODULE.state_of_instance(obj).ok_or_else(state_gone)
}

/// The state of the module that defined the type `ty`.
pub(crate) fn state_of_type(ty: Ref<'_>) -> PyResult<&State> {
    MODULE.state_of_type(ty).ok_or_else(state_gone)
}

/// Imports the module in the current interpreter and runs `f` with its state (used when entering
/// another interpreter, to build objects of that interpreter's types).
pub(crate) fn with_imported_state<R>(f: impl FnOnce(&State) -> PyResult<R>) -> PyResult<R> {
    let module: Owned = import_module(c"subinterpreters._core")?;
    let state = state_of_module(module.as_ref())?;
    f(state)
}

fn state_gone() -> Raised {
    raise(
        builtin(Builtin::SystemError),
        "subinterpreters._core is not usable in this interpreter: its module state is gone (interpreter \
         shutting down?) or sys.modules holds something else under that name",
    )
}
