//! Waiting for a parked channel operation with the GIL released.
//!
//! The waiter is woken directly by its peer; there is no timer. Only the main thread of the main
//! interpreter, where Python runs signal handlers, also wakes every `SIGNAL_CHECK_INTERVAL` to
//! run them, so that Ctrl-C interrupts a blocked call; an operation interrupted that way is
//! cancelled without losing anything.

use std::time::{Duration, Instant};

use subinterpreters_core::{Payload, PendingRecv, PendingSend, RecvError, SendError};

use crate::exit_watch::{blocked_in, Call};
use crate::ffi::{allow_threads, check_signals, is_main_thread, PyResult};

/// How often a call blocked in the main thread looks at pending signals.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// A parked operation as the wait loop sees it.
pub(crate) trait Parked: Send + Sized {
    type Output: Send;
    /// Waits until completion or `deadline`; `None` if the deadline came first.
    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Self::Output>;
    /// Gives up after the deadline: what the operation reached, or its "withdrawn" result.
    fn cancel(self) -> Self::Output;
    /// Gives up because the caller is raising: nothing handed over may be lost.
    fn abandon(self);
}

impl Parked for PendingSend<Payload> {
    type Output = Result<(), SendError<Payload>>;
    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Self::Output> {
        PendingSend::wait_until(self, deadline)
    }
    fn cancel(self) -> Self::Output {
        PendingSend::cancel(self)
    }
    fn abandon(self) {
        // Either withdrawn, or already delivered: nothing to put back.
        let outcome = PendingSend::cancel(self);
        drop(outcome);
    }
}

impl Parked for PendingRecv<Payload> {
    type Output = Result<Payload, RecvError>;
    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Self::Output> {
        PendingRecv::wait_until(self, deadline)
    }
    fn cancel(self) -> Self::Output {
        PendingRecv::cancel(self)
    }
    fn abandon(self) {
        self.cancel_and_requeue();
    }
}

/// Waits for `op` (the package call `call`) until `deadline` (`None`: no limit) with the GIL
/// released. Returns the operation's result, or the exception a signal handler raised (the
/// operation is then abandoned). The thread is marked as blocked in `call` meanwhile, for the
/// report of what Python's exit waits for (`exit_watch`).
pub(crate) fn block_on<P: Parked>(mut op: P, deadline: Option<Instant>, call: Call) -> PyResult<P::Output> {
    let see_signals = is_main_thread();
    let _blocked = blocked_in(call);
    loop {
        let wake_at = if see_signals {
            let slice_end = Instant::now() + SIGNAL_CHECK_INTERVAL;
            Some(deadline.map_or(slice_end, |deadline| deadline.min(slice_end)))
        } else {
            deadline
        };
        let (returned, outcome) = allow_threads(move || {
            let outcome = op.wait_until(wake_at);
            (op, outcome)
        });
        op = returned;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(op.cancel());
        }
        if see_signals {
            if let Err(raised) = check_signals() {
                op.abandon();
                return Err(raised);
            }
        }
    }
}
