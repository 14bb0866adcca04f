//! [`TaskCell`]: where a pool's task stands, and its outcome until someone settles its future;
//! shared by the thread that submitted it, the worker that runs it and whoever cancels it.
//!
//! A task is queued, then either cancelled (before any worker started it) or started by exactly
//! one worker, which finishes it with its outcome. The outcome is then claimed once, by whoever
//! settles the task's future:
//! - a thread asking for the result claims it itself: the worker never needs the submitter's
//!   GIL, and a caller spinning on the cell for a few microseconds meets a short task without a
//!   sleep and a wake-up on either side;
//! - once someone *watches* the task (a blocked `result()`, a done-callback, `wait()`), the
//!   worker that finishes it claims the outcome and settles the future itself; a watch that
//!   comes after the finish claims it at once.
//!
//! Exactly one claim succeeds, whatever the interleaving of finish, watch and claims.

use std::time::Duration;

use crate::sync::{lock, AtomicU8, Mutex};
use std::sync::atomic::Ordering;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;
const FINISHED: u8 = 3;
const CLAIMED: u8 = 4;
/// Cancelled, and the cancellation claimed: still cancelled to a later `cancel()`.
const CANCEL_CLAIMED: u8 = 5;
const PHASE: u8 = 0b0111;
/// Set once someone waits on the task's future: its finisher must settle it.
const WATCHED: u8 = 0b1000;

/// See the module.
#[derive(Debug)]
pub struct TaskCell<O> {
    state: AtomicU8,
    outcome: Mutex<Option<O>>,
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
    /// Finished: its outcome waits to be claimed.
    Finished,
    /// Its outcome (or its cancellation) was claimed by whoever settles the future.
    Claimed,
}

/// What a claim takes.
#[derive(Debug, PartialEq, Eq)]
pub enum Claimed<O> {
    /// The task's outcome.
    Outcome(O),
    /// The task was cancelled without its future knowing (a pool cancelling what was queued).
    Cancelled,
}

impl<O> Default for TaskCell<O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<O> TaskCell<O> {
    /// How long a caller about to wait for the outcome spins first ([`wait_finished`]): a task
    /// that takes a few microseconds is met in that time, a longer one costs that much CPU.
    ///
    /// [`wait_finished`]: Self::wait_finished
    pub const PATIENCE: Duration = Duration::from_micros(50);

    /// A queued task.
    pub fn new() -> TaskCell<O> {
        TaskCell { state: AtomicU8::new(QUEUED), outcome: Mutex::new(None) }
    }

    /// Where the task stands now.
    pub fn state(&self) -> TaskState {
        match self.state.load(Ordering::Acquire) & PHASE {
            QUEUED => TaskState::Queued,
            RUNNING => TaskState::Running,
            CANCELLED => TaskState::Cancelled,
            FINISHED => TaskState::Finished,
            _ => TaskState::Claimed,
        }
    }

    /// Whether someone watches the task (see [`watch`](Self::watch)).
    pub fn is_watched(&self) -> bool {
        self.state.load(Ordering::Acquire) & WATCHED != 0
    }

    /// Moves the phase from `from` to `to`, keeping the watched mark; returns the state before,
    /// or `None` if the phase was not `from`.
    fn advance(&self, from: &[u8], to: u8) -> Option<u8> {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                from.contains(&(state & PHASE)).then_some((state & WATCHED) | to)
            })
            .ok()
    }

    /// Cancels the task unless a worker has taken it: true if it is cancelled (now or before).
    pub fn cancel(&self) -> bool {
        self.advance(&[QUEUED], CANCELLED).is_some()
            || matches!(self.state.load(Ordering::Acquire) & PHASE, CANCELLED | CANCEL_CLAIMED)
    }

    /// A worker takes the task to run it; false if it was cancelled (or taken) before.
    pub fn start(&self) -> bool {
        self.advance(&[QUEUED], RUNNING).is_some()
    }

    /// Finishes a started (or still queued) task with `outcome`. Returns whether the task is
    /// watched: the finisher must then [`claim`](Self::claim) the outcome and settle the future
    /// (a claim that fails means someone else does). A task finished already, or cancelled,
    /// keeps its state: `outcome` is dropped and false returned.
    pub fn finish(&self, outcome: O) -> bool {
        {
            let mut slot = lock(&self.outcome);
            if slot.is_some() || !matches!(self.state.load(Ordering::Acquire) & PHASE, QUEUED | RUNNING) {
                return false;
            }
            *slot = Some(outcome);
        }
        match self.advance(&[QUEUED, RUNNING], FINISHED) {
            Some(before) => before & WATCHED != 0,
            None => {
                // Cancelled meanwhile (a queued task): the outcome is not anyone's. Dropped
                // outside the lock (a payload's handles may lock other things as they go).
                let unclaimed = lock(&self.outcome).take();
                drop(unclaimed);
                false
            }
        }
    }

    /// Marks the task watched: from now on its finisher settles the future. If it finished (or
    /// was cancelled) before, the caller claims it now instead, and settles the future itself.
    pub fn watch(&self) -> Option<Claimed<O>> {
        self.state.fetch_or(WATCHED, Ordering::AcqRel);
        self.claim()
    }

    /// The outcome (or the cancellation) if the task finished (or was cancelled) and nobody
    /// claimed it yet: the caller settles the future.
    pub fn claim(&self) -> Option<Claimed<O>> {
        if self.advance(&[CANCELLED], CANCEL_CLAIMED).is_some() {
            return Some(Claimed::Cancelled);
        }
        self.advance(&[FINISHED], CLAIMED)?;
        let outcome = lock(&self.outcome).take();
        Some(Claimed::Outcome(outcome.expect("a finished task holds its outcome until claimed")))
    }

    /// Waits up to `patience` for the task to finish (or be cancelled), spinning: returns
    /// whether it has. The caller falls back to its blocking wait otherwise.
    pub fn wait_finished(&self, patience: Duration) -> bool {
        let over = || !matches!(self.state.load(Ordering::Acquire) & PHASE, QUEUED | RUNNING);
        crate::spin::spin_until(over, true, patience, None) || over()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_queued_task_is_cancelled_and_never_started() {
        let cell: TaskCell<u32> = TaskCell::new();
        assert_eq!(cell.state(), TaskState::Queued);
        assert!(cell.cancel());
        assert!(cell.cancel(), "cancelling again reports it cancelled");
        assert!(!cell.start());
        assert!(!cell.finish(1));
        assert_eq!(cell.state(), TaskState::Cancelled);
        assert!(cell.wait_finished(Duration::ZERO));
        assert_eq!(cell.claim(), Some(Claimed::Cancelled));
        assert_eq!(cell.claim(), None);
        assert!(cell.cancel(), "claimed, it is still cancelled");
        assert_eq!(cell.state(), TaskState::Claimed);
    }

    #[test]
    fn a_started_task_cannot_be_cancelled_and_its_outcome_is_claimed_once() {
        let cell = TaskCell::new();
        assert!(cell.start());
        assert!(!cell.start());
        assert!(!cell.cancel());
        assert_eq!(cell.state(), TaskState::Running);
        assert_eq!(cell.claim(), None, "nothing to claim while it runs");
        assert!(!cell.wait_finished(Duration::from_micros(10)));
        assert!(!cell.finish("done"), "not watched: the finisher leaves it to a claimer");
        assert!(!cell.finish("again"), "finished once");
        assert_eq!(cell.state(), TaskState::Finished);
        assert!(cell.wait_finished(Duration::ZERO));
        assert_eq!(cell.claim(), Some(Claimed::Outcome("done")));
        assert_eq!(cell.claim(), None);
        assert_eq!(cell.watch(), None);
        assert_eq!(cell.state(), TaskState::Claimed);
    }

    #[test]
    fn a_watched_task_is_claimed_by_its_finisher() {
        let cell = TaskCell::new();
        assert!(cell.start());
        assert_eq!(cell.watch(), None);
        assert!(cell.is_watched());
        assert!(cell.finish(7), "watched: the finisher must settle it");
        assert_eq!(cell.claim(), Some(Claimed::Outcome(7)));
        assert_eq!(cell.watch(), None);
    }

    #[test]
    fn a_watch_after_the_finish_claims_at_once() {
        let cell = TaskCell::new();
        assert!(cell.start());
        assert!(!cell.finish(3));
        assert_eq!(cell.watch(), Some(Claimed::Outcome(3)));
        assert_eq!(cell.claim(), None);
    }

    #[test]
    fn a_queued_task_may_be_finished_without_running() {
        let cell = TaskCell::new();
        assert!(!cell.finish("broken"));
        assert!(!cell.start());
        assert_eq!(cell.claim(), Some(Claimed::Outcome("broken")));
    }

    #[test]
    fn a_waiter_sees_a_finish_from_another_thread() {
        let cell = std::sync::Arc::new(TaskCell::new());
        assert!(cell.start());
        let worker = {
            let cell = cell.clone();
            std::thread::spawn(move || cell.finish(5))
        };
        assert!(!worker.join().unwrap());
        assert!(cell.wait_finished(Duration::from_secs(5)));
        assert_eq!(cell.claim(), Some(Claimed::Outcome(5)));
    }
}
