//! `Interpreter._serve(queue, settle, workers, /)`: the loop of an `InterpreterPoolExecutor`'s
//! worker thread. It stays inside its interpreter, waiting for each task with the GIL released
//! and leaving each outcome in the task's cell, where the thread that asks the future for it
//! claims it: the pool's GIL is not needed, and a caller spinning on the cell meets a short task
//! without a sleep or a wake-up on either side. Only a watched task (its future has a
//! done-callback, a `wait()` or a blocked `result()` on it) is settled by the worker, through
//! `settle`, the pool's function, in one visit to the pool's interpreter per batch.

use std::time::{Duration, Instant};

use subinterpreters_core::{Claimed, Entry, Pace, TaskQueue};

use super::call::invoke_inside;
use super::enter::run_as_main;
use super::tasks::outcome_pair;
use crate::counts::count_arg;
use crate::ffi::{
    allow_threads, builtin, int_from_u64, list, none, raise, take_raised, tuple, Args, Builtin, Owned, Param,
    ParamKind, PyResult, Ref, Signature, This,
};
use crate::globals::INTERPRETERS;
use crate::state::{state_of, with_imported_state, State};
use crate::values::{InterpreterId, PoolTask, TaskOutcome};

/// How long an idle worker waits for a task inside its interpreter before it leaves it (taking
/// the pool's GIL for a moment) and comes back. Only an exit that did not stop the pool first
/// (Ctrl-C interrupted Python's join of its threads) needs it: a thread that must park for good
/// then does so on its way out, and the exit hook waits for runs in flight to end.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

static SERVE_SIGNATURE: Signature<3> = Signature {
    function: "_serve",
    params: [
        Param { name: c"queue", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"settle", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"workers", kind: ParamKind::PositionalOnly, required: true },
    ],
    var_keyword: false,
};

/// Why a visit to the interpreter ended.
enum Visit {
    /// Took a stop signal, or the process is exiting: `_serve` returns.
    Stop,
    /// Nothing came within [`LOOK_AGAIN`].
    Idle,
    /// Finished watched tasks, whose futures the worker settles: (task id, outcome).
    Settle(Vec<(u64, TaskOutcome)>),
}

/// `Interpreter._serve(queue, settle, workers)`: runs the tasks of the `_TaskQueue` `queue` in
/// this interpreter until it takes a stop signal (then returns None). Each outcome waits in its
/// task's cell to be claimed; for watched tasks it calls `settle(outcomes)` with a list of
/// `(task_id, kind, value)` (kinds as `_TaskCell.claim()`'s; a costly result comes unbuilt, as
/// a `_ReturnedValue`). `workers` is the pool's size (it sizes batches).
pub(super) fn serve(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [queue, settle, workers] = args.parse(&SERVE_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let Some(queue) = state.task_queue_type.downcast(queue.expect("required")) else {
        return Err(raise(builtin(Builtin::TypeError), "_serve() takes a _TaskQueue"));
    };
    let queue = queue.0.clone();
    let settle = settle.expect("required");
    let workers = count_arg(workers.expect("required"), "workers", 1, "must be >= 1")?;
    let mut worker = Worker { queue: &queue, pace: Pace::new(), workers, back: false, kept: false };
    serve_until_stopped(state, this.value.0, &mut worker, settle)
}

/// The loop of `_serve`: visits to the interpreter, and hand-overs between them.
fn serve_until_stopped(state: &State, id: i64, worker: &mut Worker<'_>, settle: Ref<'_>) -> PyResult<Owned> {
    loop {
        match run_as_main(state, id, "call a function in", || visit(worker))? {
            Visit::Stop => return Ok(none()),
            Visit::Idle => {}
            Visit::Settle(finished) => hand_over(state, settle, finished)?,
        }
    }
}

/// A worker's state across visits.
struct Worker<'q> {
    queue: &'q TaskQueue<PoolTask>,
    pace: Pace,
    /// The pool's size.
    workers: usize,
    /// It told the queue it is coming back (see `TaskQueue::coming_back`).
    back: bool,
    /// It kept what watched tasks left to free (see [`keep_until_back`]).
    kept: bool,
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        if self.back {
            // It said it was coming back for another task, and leaves instead (an error, the
            // process exiting): not idle any more.
            self.queue.not_coming_back();
        }
    }
}

/// Inside the interpreter: takes and runs tasks until a watched one finishes (or a stop signal,
/// or nothing comes for [`LOOK_AGAIN`]).
fn visit(worker: &mut Worker<'_>) -> Visit {
    if std::mem::take(&mut worker.kept) {
        free_what_was_kept();
    }
    let queue = worker.queue;
    loop {
        if INTERPRETERS.is_shutting_down() {
            return Visit::Stop;
        }
        let deadline = Instant::now() + LOOK_AGAIN;
        let (pace, workers, back) = (&worker.pace, worker.workers, std::mem::take(&mut worker.back));
        let tasks = match allow_threads(move || queue.take(Some(deadline), pace, workers, back)) {
            None => return Visit::Idle,
            Some(Entry::Stop) => return Visit::Stop,
            Some(Entry::Tasks(tasks)) => tasks,
        };
        let (group, count, started) = (tasks[0].group, tasks.len(), Instant::now());
        let mut watched = Vec::new();
        for (index, task) in tasks.into_iter().enumerate() {
            if !task.cell.start() {
                continue; // cancelled: its canceller settles the future
            }
            let mut leftovers = Vec::new();
            let outcome = TaskOutcome::Ran(invoke_inside(&task.call, &mut leftovers));
            if index + 1 == count {
                // Counted idle before its last task is seen finished: a caller submitting the next
                // task at once reuses this worker rather than starting another
                // (ThreadPoolExecutor's rule).
                queue.coming_back();
                worker.back = true;
            }
            if task.cell.finish(outcome) {
                if let Some(Claimed::Outcome(outcome)) = task.cell.claim() {
                    watched.push((task.id, outcome));
                    // Its future is settled by the hand-over, which the frees must not delay.
                    keep_until_back(leftovers);
                    worker.kept = true;
                    continue;
                }
            }
            // Freed once the outcome can be claimed: the task's arguments, its result.
            drop(leftovers);
        }
        if !worker.back {
            queue.coming_back(); // its last task was cancelled
            worker.back = true;
        }
        worker.pace.ran(group, count, started.elapsed());
        if !watched.is_empty() {
            return Visit::Settle(watched);
        }
    }
}

/// Keeps what a watched task left to free (objects of this interpreter: its arguments, its
/// result) until the worker is back from handing its outcome over. Freed at once if the module's
/// state cannot be reached (the interpreter is shutting down).
fn keep_until_back(leftovers: Vec<Owned>) {
    let kept = with_imported_state(move |state| {
        state.left_to_free.borrow_mut().extend(leftovers);
        Ok(())
    });
    if kept.is_err() {
        drop(take_raised());
    }
}

/// Frees what [`keep_until_back`] kept, back in the interpreter.
fn free_what_was_kept() {
    let kept = with_imported_state(|state| Ok(std::mem::take(&mut *state.left_to_free.borrow_mut())));
    match kept {
        Ok(kept) => drop(kept), // outside the borrow: a __del__ may run any code
        Err(_) => drop(take_raised()),
    }
}

/// Back in the pool's interpreter: hands the outcomes of watched tasks to `settle`.
fn hand_over(state: &State, settle: Ref<'_>, finished: Vec<(u64, TaskOutcome)>) -> PyResult<()> {
    let mut outcomes = Vec::with_capacity(finished.len());
    for (id, outcome) in finished {
        let (kind, value) = outcome_pair(state, outcome, true)?;
        outcomes.push(tuple(vec![int_from_u64(id)?, int_from_u64(kind)?, value])?);
    }
    settle.call(&[list(outcomes)?.as_ref()]).map(drop)
}
