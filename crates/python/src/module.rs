//! The module `subinterpreters._core`: its per-interpreter state (types and exception classes)
//! and its function table.

use std::ffi::c_int;

use std::cell::OnceCell;

use crate::async_ops::{NotifierObject, PendingOpObject, ASYNC_NOTIFIER, PENDING_OP};
use crate::channel::{RecvHandle, SendHandle, RECV_CHANNEL, SEND_CHANNEL};
use crate::errors::{raise_error, Error, ErrorClasses};
use crate::lent_buffer::{LentBufferObject, LENT_BUFFER};
use crate::primitives::{
    BarrierObject, ConditionObject, EventObject, LockObject, RLockObject, SemaphoreObject, BARRIER, BOUNDED_SEMAPHORE,
    CONDITION, EVENT, LOCK, RLOCK, SEMAPHORE,
};
use crate::python_half::PythonHalf;
use crate::queue::{QueueObject, QUEUE};
use crate::select::{ClosedSentinel, CLOSED_TYPE};
use crate::shared_array::{SharedArrayObject, SHARED_ARRAY, SHARED_BUFFER};
use crate::unbound::{Unbound, UNBOUND_MARKER};
use subinterpreters_core::{Payload, QueueHandle};

use crate::ffi::{
    add_module_object, builtin, import_module, py_function, raise, str_from, Builtin, HeapType, IdentityCache, Method,
    ModuleDef, ModuleFunctions, Owned, PyResult, Raised, Ref, StateObjects,
};
use crate::interpreter::{InterpreterId, PreparedCall, INTERPRETER, PREPARED_CALL};
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
    pub(crate) prepared_call_type: HeapType<PreparedCall>,
    /// `si.CLOSED`: what a select's receive case yields from a closed, drained channel or queue.
    pub(crate) closed: Owned,
    closed_type: HeapType<ClosedSentinel>,
    /// `UNBOUND_REMOVE`, `UNBOUND_ERROR`, `UNBOUND` (in CPython's flag order, 1 to 3).
    pub(crate) unbound_marker_type: HeapType<Unbound>,
    unbound_markers: [Owned; 3],
    pub(crate) errors: ErrorClasses,
    /// `pickle.dumps` and `pickle.loads`, imported on first use (for queues' fallback).
    pickle: OnceCell<(Owned, Owned)>,
    /// The functions of the package's Python half that the binding calls.
    pub(crate) python_half: PythonHalf,
    /// One `Interpreter` object per interpreter id, one `Queue` object per queue, as long as
    /// they live (CPython's `concurrent.interpreters` keeps the same identities).
    interpreter_objects: IdentityCache,
    queue_objects: IdentityCache,
}

impl State {
    /// The marker object for `unbound` (`si.UNBOUND`...).
    pub(crate) fn unbound_marker(&self, unbound: Unbound) -> Ref<'_> {
        self.unbound_markers[unbound as usize - 1].as_ref()
    }

    /// The `Interpreter` object of interpreter `id` in this interpreter.
    pub(crate) fn interpreter_object(&self, id: i64) -> PyResult<Owned> {
        self.interpreter_objects.get_or_make(id, || self.interpreter_type.instance(InterpreterId(id)))
    }

    /// The `Queue` object of the queue `handle` is on, in this interpreter (`handle` is dropped
    /// if one exists already).
    pub(crate) fn queue_object(&self, handle: QueueHandle<Payload>) -> PyResult<Owned> {
        let id = handle.id() as i64;
        self.queue_objects.get_or_make(id, || self.queue_type.instance(QueueObject::new(handle)))
    }

    /// The live `Queue` object of queue `id` in this interpreter, if there is one.
    pub(crate) fn existing_queue_object(&self, id: u64) -> PyResult<Option<Owned>> {
        self.queue_objects.get(id as i64)
    }

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
        let prepared_call_type = PREPARED_CALL.create(module)?;
        // Held by the state through `closed`: a type without a reference to the module (see
        // `create_unbound`), or the module would never be freed.
        let closed_type = CLOSED_TYPE.create_unbound()?;
        let closed = closed_type.instance(ClosedSentinel)?;
        // Instances live in the module state: a type without a module reference (see CLOSED_TYPE).
        let unbound_marker_type = UNBOUND_MARKER.create_unbound()?;
        let unbound_markers = [
            unbound_marker_type.instance(Unbound::Remove)?,
            unbound_marker_type.instance(Unbound::Error)?,
            unbound_marker_type.instance(Unbound::Replace)?,
        ];
        add_module_object(module, c"UNBOUND_REMOVE", unbound_markers[0].as_ref())?;
        add_module_object(module, c"UNBOUND_ERROR", unbound_markers[1].as_ref())?;
        add_module_object(module, c"UNBOUND", unbound_markers[2].as_ref())?;
        add_module_object(module, c"_UnboundMarker", unbound_marker_type.as_ref())?;
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
        add_module_object(module, c"_PreparedCall", prepared_call_type.as_ref())?;
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
            prepared_call_type,
            closed,
            closed_type,
            unbound_marker_type,
            unbound_markers,
            errors,
            pickle: OnceCell::new(),
            python_half: PythonHalf::default(),
            interpreter_objects: IdentityCache::new()?,
            queue_objects: IdentityCache::new()?,
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
            self.prepared_call_type.as_ref(),
            self.closed.as_ref(),
            self.closed_type.as_ref(),
            self.unbound_marker_type.as_ref(),
            self.unbound_markers[0].as_ref(),
            self.unbound_markers[1].as_ref(),
            self.unbound_markers[2].as_ref(),
            self.interpreter_objects.as_ref(),
            self.queue_objects.as_ref(),
        ];
        for obj in held.into_iter().chain(pickle) {
            let rc = visit(obj);
            if rc != 0 {
                return rc;
            }
        }
        match self.python_half.for_each(visit) {
            0 => self.errors.for_each(visit),
            rc => rc,
        }
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
Return every live interpreter: the main one, those created by this package and not closed,\n\
and (CPython 3.13+) those made by other code such as concurrent.interpreters.", interpreter::list_all),
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
Return True if obj can cross to another interpreter natively: None, bool, int, float, str,\n\
bytes, tuples of shareable objects, memoryview (the receiver's view shares its memory), and the\n\
package's objects (channel ends, queues, Interpreter, locks and the other primitives,\n\
SharedArray); exact types only.", channel::is_shareable),
    py_function!(c"create_queue", c"create_queue($module, /, maxsize=0, *, unbounditems=None, strict=False)\n--\n\n\
Create a queue holding at most maxsize objects (maxsize <= 0: unbounded) and return it.\n\n\
Shareable objects cross natively; any other object is pickled by the putter and unpickled by\n\
the getter, unless strict=True, which refuses it with NotShareableError.\n\n\
unbounditems (UNBOUND, the default, also given as None; UNBOUND_ERROR or UNBOUND_REMOVE) is\n\
accepted for compatibility with concurrent.interpreters and reported by Queue.unbounditems; it changes nothing here, because\n\
an item never depends on the interpreter that put it: closing that interpreter leaves the item\n\
in the queue, delivered as put.", queue::create_queue),
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
    py_function!(c"_prepare_call", c"_prepare_call($module, function, args, kwargs, keep_result, /)\n--\n\n\
Internal: a call converted for crossing, for Interpreter._invoke (see subinterpreters._calls).",
        interpreter::prepare_call),
    py_function!(c"_revive", c"_revive($module, pid, kind, id, /)\n--\n\n\
Internal: what unpickles a channel end, shared array or primitive (see their __reduce__).",
        crate::pickling::revive),
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
