//! `_TaskQueue` and `_TaskCell`: the queue between an `InterpreterPoolExecutor` and its worker
//! threads, and where each task stands (the core's `TaskQueue` and `TaskCell`). The pool puts
//! prepared calls in; a worker takes them with `Interpreter._serve` without the pool's GIL; a
//! future asks its cell whether its task may still be cancelled, and spins on it for a moment
//! before it waits for its outcome.

use std::sync::Arc;

use subinterpreters_core::{TaskCell, TaskQueue, TaskState};

use super::call::checked_call;
use crate::counts::count_arg;
use crate::ffi::{
    allow_threads, bool_from, int_from_u64, list, none, py_method, py_slot, Args, Owned, Param, ParamKind, PyResult,
    Ref, Signature, This, TypeDef,
};
use crate::state::state_of;
use crate::values::{PoolTask, TaskCellObject, TaskQueueObject};

pub(crate) static TASK_QUEUE: TypeDef<TaskQueueObject> = TypeDef::new(
    c"subinterpreters._TaskQueue",
    c"_TaskQueue()\n--\n\n\
An InterpreterPoolExecutor's work queue: prepared calls in FIFO order, and stop signals\n\
(put(None), as concurrent.futures' work queues take them). Its workers take them with\n\
Interpreter._serve, without this interpreter's GIL.",
    &[
        py_method!(c"put", c"put($self, call, task_id=0, group=0, /)\n--\n\n\
Queue the prepared call `call` (from _prepare_call; taken out of it) as task `task_id` of the\n\
map() call `group` (0: none) and return its _TaskCell; put(None) queues a stop signal.", fastcall: put),
        py_method!(c"qsize", c"qsize($self, /)\n--\n\nReturn the number of tasks and stop signals queued.", noargs: qsize),
        py_method!(c"idle", c"idle($self, /)\n--\n\nReturn the number of workers waiting for a task now.", noargs: idle),
        py_method!(c"drain", c"drain($self, /)\n--\n\n\
Take every queued task out (the stop signals stay) and return their task ids, in order.", noargs: drain),
    ],
    &[],
    &[py_slot!(new: new_queue)],
);

pub(crate) static TASK_CELL: TypeDef<TaskCellObject> = TypeDef::new(
    c"subinterpreters._TaskCell",
    c"Where a task of an InterpreterPoolExecutor stands (see _TaskQueue.put).",
    &[
        py_method!(c"cancel", c"cancel($self, /)\n--\n\n\
Cancel the task if no worker has taken it: return True if cancelled now, False if a worker\n\
took it (or it was cancelled before).", noargs: cancel),
        py_method!(c"running", c"running($self, /)\n--\n\n\
Return True if a worker has taken the task and has not handed its outcome over yet.", noargs: running),
        py_method!(c"wait", c"wait($self, /)\n--\n\n\
Spin for a few microseconds, with the GIL released, until the task's outcome has been handed\n\
over (or it was cancelled); return whether it has. A short task is met without a sleep and a\n\
wake-up.", noargs: wait),
    ],
    &[],
    &[],
);

fn new_queue(_: Ref<'_>, args: Args<'_>) -> PyResult<TaskQueueObject> {
    args.none("_TaskQueue")?;
    Ok(TaskQueueObject(Arc::new(TaskQueue::new())))
}

static PUT_SIGNATURE: Signature<3> = Signature {
    function: "put",
    params: [
        Param { name: c"call", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"task_id", kind: ParamKind::PositionalOnly, required: false },
        Param { name: c"group", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};

fn put(this: This<'_, TaskQueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [call, task_id, group] = args.parse(&PUT_SIGNATURE)?;
    let call = call.expect("required");
    if call.is_none() {
        this.value.0.put_stop();
        return Ok(none());
    }
    let state = state_of(this.obj)?;
    let id = task_id.map_or(Ok(0), |id| count_arg(id, "task_id", 0, "must be >= 0"))? as u64;
    let group = group.map_or(Ok(0), |group| count_arg(group, "group", 0, "must be >= 0"))? as u64;
    let prepared = checked_call(state, call)?;
    let cell = Arc::new(TaskCell::new());
    let cell_object = state.task_cell_type.instance(TaskCellObject(cell.clone()))?;
    let call = prepared.0.borrow_mut().take().expect("checked_call found it not run");
    this.value.0.put(PoolTask { call, cell, id, group });
    Ok(cell_object)
}

fn qsize(this: This<'_, TaskQueueObject>) -> PyResult<Owned> {
    int_from_u64(this.value.0.len() as u64)
}

fn idle(this: This<'_, TaskQueueObject>) -> PyResult<Owned> {
    int_from_u64(this.value.0.idle() as u64)
}

fn drain(this: This<'_, TaskQueueObject>) -> PyResult<Owned> {
    let tasks = this.value.0.drain();
    list(tasks.iter().map(|task| int_from_u64(task.id)).collect::<PyResult<Vec<_>>>()?)
}

fn cancel(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.cancel()))
}

fn running(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.state() == TaskState::Running))
}

fn wait(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    let cell = this.value.0.clone();
    Ok(bool_from(allow_threads(move || cell.wait_settled(TaskCell::PATIENCE))))
}
