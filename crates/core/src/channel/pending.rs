//! Operations parked on a channel. The caller decides how to wait (with the GIL released, in
//! slices so that signals are seen) and may cancel at any time; cancelling never loses an item.

use std::time::Instant;

use super::Channel;
use crate::error::{RecvError, SendError};
use crate::sync::Arc;
use crate::waiter::{Outcome, Waiter};

/// How [`Sender::start_send`](super::Sender::start_send) went.
pub enum SendStart<T> {
    /// A waiting receiver took the item.
    Delivered,
    /// The sender is parked until a receiver takes the item.
    Pending(PendingSend<T>),
}

/// How [`Receiver::start_recv`](super::Receiver::start_recv) went.
pub enum RecvStart<T> {
    /// An item was ready.
    Ready(T),
    /// The receiver is parked until an item arrives.
    Pending(PendingRecv<T>),
}

/// A parked rendezvous send. Dropping it cancels it.
pub struct PendingSend<T> {
    parked: Option<Parked<T>>,
    spun: bool,
}

/// A parked receive. Dropping it cancels it.
pub struct PendingRecv<T> {
    parked: Option<Parked<T>>,
    spun: bool,
}

struct Parked<T> {
    chan: Arc<Channel<T>>,
    waiter: Arc<Waiter<T>>,
}

impl<T> PendingSend<T> {
    pub(super) fn new(chan: Arc<Channel<T>>, waiter: Arc<Waiter<T>>) -> Self {
        PendingSend { parked: Some(Parked { chan, waiter }), spun: false }
    }

    /// Waits for a receiver to take the item until `deadline` (`None`: for ever). Returns `None`
    /// if the deadline passed first; the send stays parked, to be waited on again or cancelled.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<(), SendError<T>>> {
        let spin = !std::mem::replace(&mut self.spun, true);
        let parked = self.parked.as_ref().expect("a finished send is not waited on");
        let outcome = parked.waiter.wait_until(deadline, spin)?;
        self.parked = None;
        Some(send_result(outcome))
    }

    /// Withdraws the item unless a receiver took it already: `Err(Withdrawn(item))` if withdrawn,
    /// otherwise the result the send had reached.
    pub fn cancel(mut self) -> Result<(), SendError<T>> {
        self.cancel_in_place().expect("cancel runs once")
    }

    fn cancel_in_place(&mut self) -> Option<Result<(), SendError<T>>> {
        let Parked { chan, waiter } = self.parked.take()?;
        Some(match waiter.abort() {
            Some(outcome) => send_result(outcome),
            None => {
                let item = chan
                    .withdraw_sender(&waiter)
                    .expect("an aborted sender stays listed until it withdraws");
                Err(SendError::Withdrawn(item))
            }
        })
    }
}

impl<T> PendingRecv<T> {
    pub(super) fn new(chan: Arc<Channel<T>>, waiter: Arc<Waiter<T>>) -> Self {
        PendingRecv { parked: Some(Parked { chan, waiter }), spun: false }
    }

    /// Waits for an item until `deadline` (`None`: for ever). Returns `None` if the deadline
    /// passed first; the receive stays parked, to be waited on again or cancelled.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, RecvError>> {
        let spin = !std::mem::replace(&mut self.spun, true);
        let parked = self.parked.as_ref().expect("a finished receive is not waited on");
        let outcome = parked.waiter.wait_until(deadline, spin)?;
        self.parked = None;
        Some(recv_result(outcome))
    }

    /// Gives up the receive: `Err(Withdrawn)` if nothing was handed over, otherwise what was.
    pub fn cancel(mut self) -> Result<T, RecvError> {
        self.cancel_in_place().expect("cancel runs once")
    }

    /// Gives up the receive for a caller that cannot take an item any more (it is raising an
    /// exception): an item already handed over goes back to the front of the channel.
    pub fn cancel_and_requeue(mut self) {
        self.requeue_in_place();
    }

    fn requeue_in_place(&mut self) {
        let Some(Parked { chan, waiter }) = self.parked.take() else { return };
        match waiter.abort() {
            None => chan.withdraw_receiver(&waiter),
            Some(Outcome::Received { ticket, item }) => chan.requeue(ticket, item),
            Some(_) => {}
        }
    }

    fn cancel_in_place(&mut self) -> Option<Result<T, RecvError>> {
        let Parked { chan, waiter } = self.parked.take()?;
        Some(match waiter.abort() {
            Some(outcome) => recv_result(outcome),
            None => {
                chan.withdraw_receiver(&waiter);
                Err(RecvError::Withdrawn)
            }
        })
    }
}

impl<T> Drop for PendingSend<T> {
    fn drop(&mut self) {
        drop(self.cancel_in_place());
    }
}

impl<T> Drop for PendingRecv<T> {
    fn drop(&mut self) {
        // Dropped without being asked for its result: an item handed over must not vanish.
        self.requeue_in_place();
    }
}

fn send_result<T>(outcome: Outcome<T>) -> Result<(), SendError<T>> {
    match outcome {
        Outcome::Sent => Ok(()),
        Outcome::Closed(Some(item)) => Err(SendError::Closed(item)),
        Outcome::Received { .. } | Outcome::Closed(None) => {
            unreachable!("a sender is completed with Sent or with its item back")
        }
    }
}

fn recv_result<T>(outcome: Outcome<T>) -> Result<T, RecvError> {
    match outcome {
        Outcome::Received { item, .. } => Ok(item),
        Outcome::Closed(_) => Err(RecvError::Closed),
        Outcome::Sent => unreachable!("a receiver is completed with an item or closed"),
    }
}
