//! `_TaskQueue` and `_TaskCell`: the queue between an `InterpreterPoolExecutor` and its worker
//! threads, and where each task stands (the core's `TaskQueue` and `TaskCell`). The pool puts
//! prepared calls in; a worker takes them with `Interpreter._serve` without the pool's GIL and
//! leaves each outcome in its cell; the thread that asks the future for it claims it from there
//! (after spinning a moment for a short task), unless the future is watched (a blocked
//! `result()`, a done-callback, `wait()`), whose worker settles it.

use std::cell::RefCell;
use std::sync::Arc;

use subinterpreters_core::{Claimed, TaskQueue, TaskState};

use super::call::{checked_call, settle};
use crate::counts::count_arg;
use crate::ffi::{
    allow_threads, bool_from, int_from_u64, list, none, py_method, py_slot, str_from, take_raised, tuple, Args, Owned,
    Param, ParamKind, PyResult, Ref, Signature, This, TypeDef,
};
use crate::state::{state_of, State};
use crate::values::{PoolCell, PoolTask, TaskCellObject, TaskOutcome, TaskQueueObject};

/// The kinds of `(kind, value)` pairs a claim or a worker's settle hands to the pool.
const RESULT: u64 = 0;
const EXCEPTION: u64 = 1;
const BROKEN: u64 = 2;
const CANCELLED: u64 = 3;

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
        py_method!(c"cancel_queued", c"cancel_queued($self, /)\n--\n\n\
Take every queued task out (the stop signals stay) and cancel it; return the ids of those whose\n\
futures are watched (to be cancelled now; the others learn it when asked).", noargs: cancel_queued),
        py_method!(c"fail_queued", c"fail_queued($self, why, /)\n--\n\n\
Take every queued task out (the stop signals stay) and finish it as broken, for the reason\n\
why (a str); return the ids of those whose futures are watched (to be settled now).", fastcall: fail_queued),
    ],
    &[],
    &[py_slot!(new: new_queue)],
);

pub(crate) static TASK_CELL: TypeDef<TaskCellObject> = TypeDef::new(
    c"subinterpreters._TaskCell",
    c"Where a task of an InterpreterPoolExecutor stands (see _TaskQueue.put).",
    &[
        py_method!(c"cancel", c"cancel($self, /)\n--\n\n\
Cancel the task unless a worker has taken it: return True if it is cancelled (now or before),\n\
False if a worker took it.", noargs: cancel),
        py_method!(c"running", c"running($self, /)\n--\n\n\
Return True if a worker has taken the task and not finished it yet.", noargs: running),
        py_method!(c"wait", c"wait($self, /)\n--\n\n\
Spin for a few microseconds, with the GIL released, until the task finishes (or was cancelled);\n\
return whether it has. A short task is met without a sleep and a wake-up.", noargs: wait),
        py_method!(c"claim", c"claim($self, /)\n--\n\n\
If the task finished (or was cancelled) and nobody claimed it yet, claim it and return\n\
(kind, value): (0, result), (1, exception), (2, why the pool broke), (3, None) for cancelled;\n\
the same pair again until forget() (a claim its caller never saw can be made again); else\n\
None. The caller settles the future.", noargs: claim),
        py_method!(c"watch", c"watch($self, /)\n--\n\n\
Mark the task watched (its worker settles the future from now on); if it finished before,\n\
claim it as claim() does and return (kind, value), else None.", noargs: watch),
        py_method!(c"forget", c"forget($self, /)\n--\n\n\
Drop the pair a claim kept (the future is settled).", noargs: forget),
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
    let cell = Arc::new(PoolCell::new());
    let cell_object =
        state.task_cell_type.instance(TaskCellObject { cell: cell.clone(), claimed: RefCell::new(None) })?;
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

fn cancel_queued(this: This<'_, TaskQueueObject>) -> PyResult<Owned> {
    // Every task is cancelled before any Python object is made: a failure (MemoryError) then
    // leaves no task out of the queue and still pending.
    let tasks = this.value.0.drain();
    let watched: Vec<u64> =
        tasks.iter().filter(|task| task.cell.cancel() && task.cell.is_watched()).map(|task| task.id).collect();
    ids(watched)
}

fn fail_queued(this: This<'_, TaskQueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [why] = args.parse(&FAIL_SIGNATURE)?;
    let why = why.expect("required").str_lossy();
    let tasks = this.value.0.drain();
    let watched: Vec<u64> =
        tasks.iter().filter(|task| task.cell.finish(TaskOutcome::Broken(why.clone()))).map(|task| task.id).collect();
    ids(watched)
}

fn ids(ids: Vec<u64>) -> PyResult<Owned> {
    list(ids.into_iter().map(int_from_u64).collect::<PyResult<Vec<_>>>()?)
}

static FAIL_SIGNATURE: Signature<1> = Signature {
    function: "fail_queued",
    params: [Param { name: c"why", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

fn cancel(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.cell.cancel()))
}

fn running(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.cell.state() == TaskState::Running))
}

fn wait(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    let cell = this.value.cell.clone();
    // Over already: no need to let go of the GIL.
    if !matches!(cell.state(), TaskState::Queued | TaskState::Running) {
        return Ok(bool_from(true));
    }
    Ok(bool_from(allow_threads(move || cell.wait_finished(PoolCell::PATIENCE))))
}

fn claim(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    let claimed = this.value.cell.claim();
    claimed_pair(this, claimed)
}

fn watch(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    let claimed = this.value.cell.watch();
    claimed_pair(this, claimed)
}

fn forget(this: This<'_, TaskCellObject>) -> PyResult<Owned> {
    let pair = this.value.claimed.borrow_mut().take();
    drop(pair);
    Ok(none())
}

/// What a claim hands to the pool: `(kind, value)`, built now (the claimer is the thread that
/// asked for the result) and kept until `forget()`; the pair of an earlier claim whose future
/// is not settled yet; or None.
fn claimed_pair(this: This<'_, TaskCellObject>, claimed: Option<Claimed<TaskOutcome>>) -> PyResult<Owned> {
    let pair = match claimed {
        None => match this.value.claimed.borrow().as_ref() {
            Some(pair) => return Ok(pair.clone()),
            None => return Ok(none()),
        },
        Some(Claimed::Cancelled) => tuple(vec![int_from_u64(CANCELLED)?, none()])?,
        Some(Claimed::Outcome(outcome)) => {
            let (kind, value) = outcome_pair(state_of(this.obj)?, outcome, false)?;
            tuple(vec![int_from_u64(kind)?, value])?
        }
    };
    *this.value.claimed.borrow_mut() = Some(pair.clone());
    Ok(pair)
}

/// The kind and value of a task's outcome (kinds as `claim()`'s). With `defer`, a result that
/// costs more than a copy to build comes unbuilt (a `_ReturnedValue`: a worker does not build
/// it holding the pool's GIL).
pub(super) fn outcome_pair(state: &State, outcome: TaskOutcome, defer: bool) -> PyResult<(u64, Owned)> {
    match outcome {
        TaskOutcome::Broken(why) => Ok((BROKEN, str_from(&why)?)),
        TaskOutcome::Ran(ran) => match settle(state, ran, defer) {
            Ok(result) => Ok((RESULT, result)),
            Err(raised) => Ok((EXCEPTION, take_raised().ok_or(raised)?)),
        },
    }
}
