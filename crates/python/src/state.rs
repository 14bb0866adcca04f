//! The per-interpreter state of the module `subinterpreters._core` (its types, exception classes,
//! markers and caches) and how a function finds it. Built by the module's exec (`module.rs`, which
//! knows every type); everything here names only the values the types carry.

use std::cell::{OnceCell, RefCell};
use std::ffi::c_int;

use subinterpreters_core::{Payload, QueueHandle};

use crate::errors::{raise_error, Error, ErrorClasses};
use crate::ffi::{
    builtin, import_module, raise, Builtin, HeapType, IdentityCache, ModuleDef, Owned, PyResult, Raised, Ref,
};
use crate::python_half::PythonHalf;
use crate::values::{
    BarrierObject, ClosedSentinel, ConditionObject, EventObject, InterpreterId, LentBufferObject, LockObject,
    NotifierObject, PendingOpObject, PreparedCall, QueueObject, RLockObject, RecvHandle, ReturnedValue,
    SemaphoreObject, SendHandle, SharedArrayObject, TaskCellObject, TaskQueueObject, Unbound,
};

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
    pub(crate) returned_value_type: HeapType<ReturnedValue>,
    pub(crate) task_queue_type: HeapType<TaskQueueObject>,
    pub(crate) task_cell_type: HeapType<TaskCellObject>,
    /// `si.CLOSED`: what a select's receive case yields from a closed, drained channel or queue.
    pub(crate) closed: Owned,
    pub(crate) closed_type: HeapType<ClosedSentinel>,
    /// `UNBOUND_REMOVE`, `UNBOUND_ERROR`, `UNBOUND` (in CPython's flag order, 1 to 3).
    pub(crate) unbound_marker_type: HeapType<Unbound>,
    pub(crate) unbound_markers: [Owned; 3],
    pub(crate) errors: ErrorClasses,
    /// `pickle.dumps` and `pickle.loads`, imported on first use (for queues' fallback).
    pub(crate) pickle: OnceCell<(Owned, Owned)>,
    /// The functions of the package's Python half that the binding calls.
    pub(crate) python_half: PythonHalf,
    /// One `Interpreter` object per interpreter id, one `Queue` object per queue, as long as
    /// they live (CPython's `concurrent.interpreters` keeps the same identities).
    pub(crate) interpreter_objects: IdentityCache,
    pub(crate) queue_objects: IdentityCache,
    /// What a pool's worker running here left to free (finished tasks' arguments and results)
    /// while it hands watched outcomes over: freed when it is back (see `Interpreter._serve`).
    pub(crate) left_to_free: RefCell<Vec<Owned>>,
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

    /// Calls `visit` on every Python object held (the module's GC traversal); stops at a non-zero
    /// result.
    pub(crate) fn visit_objects(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int {
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
            self.returned_value_type.as_ref(),
            self.task_queue_type.as_ref(),
            self.task_cell_type.as_ref(),
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

/// The module definition (one per process; one module object and state per interpreter).
pub(crate) static MODULE: ModuleDef<State> = ModuleDef::new(
    c"subinterpreters._core",
    c"Compiled core of subinterpreters: interpreters, channels and their errors.",
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
