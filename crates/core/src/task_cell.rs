//! [`TaskCell`]: where a pool's task stands, shared by the thread that submitted it, the worker
//! that runs it and whoever cancels it, without a lock.
//!
//! A task is queued, then either cancelled (before any worker started it) or started by exactly
//! one worker, which settles it once its outcome has been handed to the submitter's side. A
//! caller waiting for the outcome may spin on the cell for a few microseconds first: a short task
//! is then met without the system calls of a sleep and a wake-up, which on a virtual machine can
//! cost tens of microseconds when the two threads run on different CPUs.

use std::time::Duration;

use crate::sync::AtomicU8;
use std::sync::atomic::Ordering;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;
const SETTLED: u8 = 3;

/// Where a task stands (see the module).
#[derive(Debug)]
pub struct TaskCell {
    state: AtomicU8,
}

/// What [`TaskCell::state`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// A worker took it: it can no longer be cancelled.
    Running,
    /// Cancelled before any worker took it: no worker will run it.
    Cancelled,
    /// Its worker has handed the outcome over.
    Settled,
}

impl Default for TaskCell {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskCell {
    /// How long a caller about to wait for the outcome spins first ([`wait_settled`]): a task
    /// that takes a few microseconds is met in that time, a longer one costs that much CPU.
    ///
    /// [`wait_settled`]: Self::wait_settled
    pub const PATIENCE: Duration = Duration::from_micros(50);

    /// A queued task.
    pub fn new() -> TaskCell {
        TaskCell { state: AtomicU8::new(QUEUED) }
    }

    /// Where the task stands now.
    pub fn state(&self) -> TaskState {
        match self.state.load(Ordering::Acquire) {
            QUEUED => TaskState::Queued,
            RUNNING => TaskState::Running,
            CANCELLED => TaskState::Cancelled,
            _ => TaskState::Settled,
        }
    }

    /// Cancels a task no worker has taken; false if one has (or it was cancelled already: a task
    /// is cancelled once).
    pub fn cancel(&self) -> bool {
        self.state.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// A worker takes the task to run it; false if it was cancelled (or taken) before.
    pub fn start(&self) -> bool {
        self.state.compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The worker has handed the outcome over (after [`start`](Self::start)).
    pub fn settle(&self) {
        self.state.store(SETTLED, Ordering::Release);
    }

    /// Waits up to `patience` for the task to be settled (or cancelled), spinning: returns
    /// whether it is. The caller falls back to its blocking wait otherwise.
    pub fn wait_settled(&self, patience: Duration) -> bool {
        let over = || matches!(self.state.load(Ordering::Acquire), SETTLED | CANCELLED);
        crate::spin::spin_until(over, true, patience, None) || over()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_queued_task_is_cancelled_once_and_never_started() {
        let cell = TaskCell::new();
        assert_eq!(cell.state(), TaskState::Queued);
        assert!(cell.cancel());
        assert!(!cell.cancel());
        assert!(!cell.start());
        assert_eq!(cell.state(), TaskState::Cancelled);
        assert!(cell.wait_settled(Duration::ZERO));
    }

    #[test]
    fn a_started_task_cannot_be_cancelled_and_settles() {
        let cell = TaskCell::new();
        assert!(cell.start());
        assert!(!cell.start());
        assert!(!cell.cancel());
        assert_eq!(cell.state(), TaskState::Running);
        assert!(!cell.wait_settled(Duration::from_micros(10)));
        cell.settle();
        assert_eq!(cell.state(), TaskState::Settled);
        assert!(cell.wait_settled(Duration::ZERO));
    }

    #[test]
    fn a_waiter_sees_a_settle_from_another_thread() {
        let cell = std::sync::Arc::new(TaskCell::new());
        assert!(cell.start());
        let worker = {
            let cell = cell.clone();
            std::thread::spawn(move || cell.settle())
        };
        worker.join().unwrap();
        assert!(cell.wait_settled(Duration::from_secs(5)));
    }
}
