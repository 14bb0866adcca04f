//! The module `subinterpreters._core`, the top of the binding: its exec (which creates every type
//! and builds the per-interpreter [`State`]), its function table and its entry point.

use std::cell::{OnceCell, RefCell};
use std::ffi::c_int;

use crate::async_ops::{ASYNC_NOTIFIER, PENDING_OP};
use crate::channel::{RECV_CHANNEL, SEND_CHANNEL};
use crate::errors::ErrorClasses;
use crate::ffi::{
    add_module_object, capsule, module_entry_point, py_function, str_from, IdentityCache, Method, ModuleFunctions,
    PyResult, Ref, StateObjects,
};
use crate::interpreter::{INTERPRETER, PREPARED_CALL, RETURNED_VALUE, TASK_CELL, TASK_QUEUE};
use crate::lent_buffer::LENT_BUFFER;
use crate::primitives::{BARRIER, BOUNDED_SEMAPHORE, CONDITION, EVENT, LOCK, RLOCK, SEMAPHORE};
use crate::python_half::PythonHalf;
use crate::queue::QUEUE;
use crate::select::CLOSED_TYPE;
use crate::shared_array::{SHARED_ARRAY, SHARED_BUFFER};
use crate::state::{State, MODULE};
use crate::unbound::UNBOUND_MARKER;
use crate::values::{ClosedSentinel, Unbound};
use crate::{channel, exit_watch, interpreter, queue, select, shutdown};

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
        let returned_value_type = RETURNED_VALUE.create(module)?;
        let task_queue_type = TASK_QUEUE.create(module)?;
        let task_cell_type = TASK_CELL.create(module)?;
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
        add_module_object(module, c"_ReturnedValue", returned_value_type.as_ref())?;
        add_module_object(module, c"_TaskQueue", task_queue_type.as_ref())?;
        add_module_object(module, c"_TaskCell", task_cell_type.as_ref())?;
        add_module_object(module, c"__version__", str_from(env!("CARGO_PKG_VERSION"))?.as_ref())?;
        // The C API's table is process-wide (function pointers only); each interpreter's module
        // gets its own capsule of it.
        add_module_object(module, c"_C_API", capsule(&crate::c_api::C_API, crate::c_api::CAPSULE_NAME)?.as_ref())?;
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
            returned_value_type,
            task_queue_type,
            task_cell_type,
            closed,
            closed_type,
            unbound_marker_type,
            unbound_markers,
            errors,
            pickle: OnceCell::new(),
            python_half: PythonHalf::default(),
            interpreter_objects: IdentityCache::new()?,
            queue_objects: IdentityCache::new()?,
            left_to_free: RefCell::new(Vec::new()),
        })
    }

    fn for_each_object(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int {
        self.visit_objects(visit)
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

module_entry_point!(PyInit__core, MODULE, FUNCTIONS);
