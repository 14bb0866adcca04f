//! What a pool's `_TaskQueue` and `_TaskCell` objects carry: the core's task queue, holding
//! prepared calls (plain data), and the cell each task's future watches.

use std::sync::Arc;

use subinterpreters_core::{Grouped, Payload, TaskCell, TaskQueue};

/// A queued task: the prepared call (taken out of its `_PreparedCall`), the cell its future
/// watches, its number in the pool (the key of its future there) and its `map` call (0: none).
pub(crate) struct PoolTask {
    pub(crate) call: Payload,
    pub(crate) cell: Arc<TaskCell>,
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

/// What a `_TaskCell` carries: where its task stands.
pub(crate) struct TaskCellObject(pub(crate) Arc<TaskCell>);
