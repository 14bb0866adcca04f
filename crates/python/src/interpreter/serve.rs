//! `Interpreter._serve(queue, settle, workers, /)`: the loop of an `InterpreterPoolExecutor`'s
//! worker thread. It waits for its next task inside its interpreter, holding neither GIL, runs
//! it there, and holds the pool's GIL only to hand the outcome over: through `settle`, the pool's
//! function that settles the futures, once per visit. The thread that submits keeps its own
//! GIL meanwhile, and a caller spinning on the task's cell (`_TaskCell.wait`) sees the outcome
//! as soon as it is handed over: a short task costs no sleep and wake-up on either side.

use std::sync::Arc;
use std::time::{Duration, Instant};

use subinterpreters_core::{Entry, Pace, TaskCell, TaskQueue};

use super::call::{invoke_inside, settle as outcome_of, Outcome};
use super::enter::run_as_main;
use crate::counts::count_arg;
use crate::errors::RemoteError;
use crate::ffi::{
    allow_threads, bool_from, builtin, int_from_u64, list, none, raise, take_raised, tuple, Args, Builtin, Owned,
    Param, ParamKind, PyResult, Ref, Signature, This,
};
use crate::state::{state_of, State};
use crate::values::{InterpreterId, PoolTask};

/// How long a worker waits for a task inside its interpreter before it leaves it and comes back:
/// at exit, a thread that must park for good does so on its way out, and the exit hook waits
/// for runs in flight to end.
const LOOK_AGAIN: Duration = Duration::from_millis(100);

static SERVE_SIGNATURE: Signature<3> = Signature {
    function: "_serve",
    params: [
        Param { name: c"queue", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"settle", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"workers", kind: ParamKind::PositionalOnly, required: true },
    ],
    var_keyword: false,
};

/// What one visit to the interpreter did.
enum Visit {
    /// Took a stop signal: `_serve` returns.
    Stop,
    /// Nothing came within [`LOOK_AGAIN`].
    Idle,
    /// Ran these tasks (or found them cancelled).
    Ran(Vec<Ran>),
}

/// A task taken: its id, its cell, and its outcome (`None`: it was cancelled before).
struct Ran {
    id: u64,
    cell: Arc<TaskCell>,
    outcome: Option<Result<Outcome, RemoteError>>,
}

/// `Interpreter._serve(queue, settle, workers)`: runs the tasks of the `_TaskQueue` `queue` in
/// this interpreter until it takes a stop signal (then returns None). After each visit it calls
/// `settle(outcomes)` with a list of `(task_id, ok, value)`: `ok` True and the result (a
/// `_ReturnedValue` when it is costly to build), False and the exception, or None for a task
/// cancelled before it started. `workers` is the pool's size (it sizes batches).
pub(super) fn serve(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [queue, settle, workers] = args.parse(&SERVE_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let Some(queue) = state.task_queue_type.downcast(queue.expect("required")) else {
        return Err(raise(builtin(Builtin::TypeError), "_serve() takes a _TaskQueue"));
    };
    let queue = queue.0.clone();
    let settle = settle.expect("required");
    let workers = count_arg(workers.expect("required"), "workers", 1, "must be >= 1")?;
    let mut pace = Pace::new();
    loop {
        let visit = run_as_main(state, this.value.0, "call a function in", || visit(&queue, &mut pace, workers))?;
        match visit {
            Visit::Stop => return Ok(none()),
            Visit::Idle => {}
            Visit::Ran(ran) => hand_over(state, settle, ran)?,
        }
    }
}

/// Inside the interpreter: waits for the next entry with its GIL released, then runs the tasks.
fn visit(queue: &TaskQueue<PoolTask>, pace: &mut Pace, workers: usize) -> Visit {
    let deadline = Instant::now() + LOOK_AGAIN;
    let seen: &Pace = pace;
    let tasks = match allow_threads(move || queue.take(Some(deadline), seen, workers)) {
        None => return Visit::Idle,
        Some(Entry::Stop) => return Visit::Stop,
        Some(Entry::Tasks(tasks)) => tasks,
    };
    let (group, count, started) = (tasks[0].group, tasks.len(), Instant::now());
    let ran = tasks
        .into_iter()
        .map(|task| {
            let outcome = task.cell.start().then(|| invoke_inside(task.call));
            Ran { id: task.id, cell: task.cell, outcome }
        })
        .collect();
    pace.ran(group, count, started.elapsed());
    Visit::Ran(ran)
}

/// Back in the pool's interpreter: hands the outcomes to `settle`, then marks the tasks that ran
/// as settled (whatever `settle` did: a caller spinning on a cell stops spinning).
fn hand_over(state: &State, settle: Ref<'_>, ran: Vec<Ran>) -> PyResult<()> {
    let mut cells = Vec::with_capacity(ran.len());
    let outcomes = (|| {
        let mut outcomes = Vec::with_capacity(ran.len());
        for Ran { id, cell, outcome } in ran {
            let (ok, value) = match outcome {
                None => (none(), none()),
                Some(outcome) => {
                    cells.push(cell);
                    match outcome_of(state, outcome, true) {
                        Ok(result) => (bool_from(true), result),
                        Err(raised) => (bool_from(false), take_raised().ok_or(raised)?),
                    }
                }
            };
            outcomes.push(tuple(vec![int_from_u64(id)?, ok, value])?);
        }
        list(outcomes)
    })();
    let settled = outcomes.and_then(|outcomes| settle.call(&[outcomes.as_ref()]));
    for cell in cells {
        cell.settle();
    }
    settled.map(drop)
}
