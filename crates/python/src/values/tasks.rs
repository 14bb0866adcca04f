//! What a pool's `_TaskQueue` and `_TaskCell` objects carry: the core's task queue, holding
//! prepared calls (plain data), and the cell each task's future watches, holding the task's
//! outcome (plain data too) until the future is settled.

use std::cell::RefCell;
use std::sync::Arc;

use subinterpreters_core::{Grouped, Payload, TaskCell, TaskQueue};

use super::Outcome;
use crate::errors::RemoteError;
use crate::ffi::Owned;

/// How a pool's task ended, as plain data that waits in its cell.
pub(crate) enum TaskOutcome {
    /// Its call ran: what `Interpreter._invoke` would return or raise.
    Ran(Result<Outcome, RemoteError>),
    /// The pool broke before a worker took the task (why).
    Broken(String),
}

/// A task's cell (see the core's `TaskCell`).
pub(crate) type PoolCell = TaskCell<TaskOutcome>;

/// A queued task: the prepared call (taken out of its `_PreparedCall`), the cell its future
/// watches, its number in the pool (the key of its future there once watched) and its `map`
/// call (0: none).
pub(crate) struct PoolTask {
    pub(crate) call: Payload,
    pub(crate) cell: Arc<PoolCell>,
    pub(crate) id: u64,
    pub(crate) group: u64,
}

impl Grouped for PoolTask {
    fn group(&self) -> u64 {
        self.group
    }
}

/// What a `_TaskQueue` carries: the queue its pool's workers take tasks from.
pub(crate) struct TaskQueueObject(pub(crate) Arc<TaskQueue<PoolTask>>);

/// What a `_TaskCell` carries: where its task stands, and its outcome until claimed; then the
/// claimed outcome as built, `(kind, value)`, until the future is settled (`forget()`), so that
/// a claim interrupted before its caller got the pair (Ctrl-C) can be made again.
pub(crate) struct TaskCellObject {
    pub(crate) cell: Arc<PoolCell>,
    pub(crate) claimed: RefCell<Option<Owned>>,
}
