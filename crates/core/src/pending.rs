//! Operations parked on a channel or a queue. The caller decides how to wait (with the GIL
//! released, in slices so that signals are seen) and may cancel at any time; cancelling never
//! loses an item.
//!
//! A parked operation holds the [`Exchange`] it waits on (shared with its channel or queue), so
//! this module serves both without knowing either: channels and queues start operations here,
//! never the other way round.

use std::time::Instant;

use crate::error::{RecvError, SendError};
use crate::exchange::{Exchange, OfferKind, Offered, Registration, Taken};
use crate::spin::spin_busily;
use crate::sync::Arc;
use crate::waiter::{peer_on_other_cpu, Completion, Notify, Outcome, Waiter};

/// Offers `item` on `exchange`: done at once, or parked until taken (or let in).
pub(crate) fn start_offer<T>(
    exchange: &Arc<Exchange<T>>,
    item: T,
    kind: OfferKind,
    notify: Option<Notify>,
) -> Result<SendStart<T>, SendError<T>> {
    let mut state = exchange.lock();
    let item = match state.offer(item, kind) {
        Offered::Delivered | Offered::Buffered => return Ok(SendStart::Delivered),
        Offered::Closed(item) => return Err(SendError::Closed(item)),
        Offered::NotNow(item) => item,
    };
    let waiter = Arc::new(Waiter::notifying(notify));
    state.register_offer(Registration { waiter: waiter.clone(), case: 0 }, item, kind);
    drop(state);
    Ok(SendStart::Pending(PendingSend::new(exchange.clone(), waiter)))
}

/// Takes from `exchange`: an item at once, or parked until one comes.
pub(crate) fn start_take<T>(exchange: &Arc<Exchange<T>>, notify: Option<Notify>) -> Result<RecvStart<T>, RecvError> {
    // Only worth it with the producer on another CPU (one on this CPU cannot run meanwhile):
    // - a producer about to put is met more cheaply than by registering and being handed the
    //   item: spin briefly (without the lock) on the exchange's hint first;
    // - a producer may be back in the lock for its next item: let it finish rather than take
    //   the lock's cache line from it.
    let other_cpu = peer_on_other_cpu();
    if other_cpu && !exchange.looks_ready() {
        spin_busily(|| exchange.looks_ready());
    }
    let mut state = if other_cpu { exchange.lock_for_take() } else { exchange.lock() };
    match state.take() {
        Taken::Item(item) => return Ok(RecvStart::Ready(item)),
        Taken::Closed => return Err(RecvError::Closed),
        Taken::NotNow => {}
    }
    let waiter = Arc::new(Waiter::notifying(notify));
    state.register_taker(Registration { waiter: waiter.clone(), case: 0 });
    drop(state);
    Ok(RecvStart::Pending(PendingRecv::new(exchange.clone(), waiter)))
}

/// Completes a started offer, waiting until `deadline` (`None`: for ever); withdrawn on expiry.
pub(crate) fn finish_offer<T>(start: SendStart<T>, deadline: Option<Instant>) -> Result<(), SendError<T>> {
    match start {
        SendStart::Delivered => Ok(()),
        SendStart::Pending(mut pending) => match pending.wait_until(deadline) {
            Some(result) => result,
            None => pending.cancel(),
        },
    }
}

/// Completes a started take, waiting until `deadline` (`None`: for ever).
pub(crate) fn finish_take<T>(start: RecvStart<T>, deadline: Option<Instant>) -> Result<T, RecvError> {
    match start {
        RecvStart::Ready(item) => Ok(item),
        RecvStart::Pending(mut pending) => match pending.wait_until(deadline) {
            Some(result) => result,
            None => pending.cancel(),
        },
    }
}

/// How starting a send (or put) went.
pub enum SendStart<T> {
    /// Done at once: a waiting receiver took the item (or it entered the queue).
    Delivered,
    /// The producer is parked until the item is taken (or enters the queue).
    Pending(PendingSend<T>),
}

/// How starting a receive (or get) went.
pub enum RecvStart<T> {
    /// An item was ready.
    Ready(T),
    /// The consumer is parked until an item arrives.
    Pending(PendingRecv<T>),
}

/// A parked send or put. Dropping it cancels it.
pub struct PendingSend<T> {
    parked: Option<Parked<T>>,
    spun: bool,
}

/// A parked receive or get. Dropping it cancels it.
pub struct PendingRecv<T> {
    parked: Option<Parked<T>>,
    spun: bool,
}

/// Where an operation is parked, and the waiter it parked on.
struct Parked<T> {
    exchange: Arc<Exchange<T>>,
    waiter: Arc<Waiter<T>>,
}

impl<T> PendingSend<T> {
    fn new(exchange: Arc<Exchange<T>>, waiter: Arc<Waiter<T>>) -> Self {
        PendingSend { parked: Some(Parked { exchange, waiter }), spun: false }
    }

    /// Waits until the item is taken (or enters the queue) or `deadline` passes (`None`: for
    /// ever). Returns `None` if the deadline passed first; the operation stays parked, to be
    /// waited on again or cancelled.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<(), SendError<T>>> {
        let spin = !std::mem::replace(&mut self.spun, true);
        let parked = self.parked.as_ref().expect("a finished send is not waited on");
        let completion = parked.waiter.wait_until(deadline, spin)?;
        self.parked = None;
        Some(send_result(completion))
    }

    /// True once the send completed (collect the outcome with [`poll`](Self::poll)).
    pub fn is_complete(&self) -> bool {
        self.parked.as_ref().map_or(true, |parked| parked.waiter.is_done())
    }

    /// The outcome if the send completed already, without waiting (`None`: still parked).
    pub fn poll(&mut self) -> Option<Result<(), SendError<T>>> {
        self.spun = true;
        self.wait_until(Some(Instant::now()))
    }

    /// Withdraws the item unless it was taken already: `Err(Withdrawn(item))` if withdrawn,
    /// otherwise the result the operation had reached.
    pub fn cancel(mut self) -> Result<(), SendError<T>> {
        self.cancel_in_place().expect("cancel runs once")
    }

    fn cancel_in_place(&mut self) -> Option<Result<(), SendError<T>>> {
        let Parked { exchange, waiter } = self.parked.take()?;
        Some(match waiter.abort() {
            Some(completion) => send_result(completion),
            None => {
                let item =
                    exchange.withdraw(&waiter).pop().expect("an aborted producer stays listed until it withdraws");
                Err(SendError::Withdrawn(item))
            }
        })
    }
}

impl<T> PendingRecv<T> {
    fn new(exchange: Arc<Exchange<T>>, waiter: Arc<Waiter<T>>) -> Self {
        PendingRecv { parked: Some(Parked { exchange, waiter }), spun: false }
    }

    /// Waits for an item until `deadline` (`None`: for ever). Returns `None` if the deadline
    /// passed first; the operation stays parked, to be waited on again or cancelled.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Result<T, RecvError>> {
        let spin = !std::mem::replace(&mut self.spun, true);
        let parked = self.parked.as_ref().expect("a finished receive is not waited on");
        let completion = parked.waiter.wait_until(deadline, spin)?;
        self.parked = None;
        Some(recv_result(completion))
    }

    /// True once the receive completed (collect the outcome with [`poll`](Self::poll)).
    pub fn is_complete(&self) -> bool {
        self.parked.as_ref().map_or(true, |parked| parked.waiter.is_done())
    }

    /// The outcome if the receive completed already, without waiting (`None`: still parked).
    pub fn poll(&mut self) -> Option<Result<T, RecvError>> {
        self.spun = true;
        self.wait_until(Some(Instant::now()))
    }

    /// Gives up: `Err(Withdrawn)` if nothing was handed over, otherwise what was.
    pub fn cancel(mut self) -> Result<T, RecvError> {
        self.cancel_in_place().expect("cancel runs once")
    }

    /// Gives up for a caller that cannot take an item any more (it is raising an exception): an
    /// item already handed over goes back to its place in the order.
    pub fn cancel_and_requeue(mut self) {
        self.requeue_in_place();
    }

    fn requeue_in_place(&mut self) {
        let Some(Parked { exchange, waiter }) = self.parked.take() else { return };
        match waiter.abort() {
            None => drop(exchange.withdraw(&waiter)),
            Some(Completion { outcome: Outcome::Received { ticket, item }, .. }) => exchange.requeue(ticket, item),
            Some(_) => {}
        }
    }

    fn cancel_in_place(&mut self) -> Option<Result<T, RecvError>> {
        let Parked { exchange, waiter } = self.parked.take()?;
        Some(match waiter.abort() {
            Some(completion) => recv_result(completion),
            None => {
                drop(exchange.withdraw(&waiter));
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

fn send_result<T>(completion: Completion<T>) -> Result<(), SendError<T>> {
    match completion.outcome {
        Outcome::Sent => Ok(()),
        Outcome::Closed(Some(item)) => Err(SendError::Closed(item)),
        Outcome::Received { .. } | Outcome::Closed(None) => {
            unreachable!("a producer is completed with Sent or with its item back")
        }
    }
}

fn recv_result<T>(completion: Completion<T>) -> Result<T, RecvError> {
    match completion.outcome {
        Outcome::Received { item, .. } => Ok(item),
        Outcome::Closed(_) => Err(RecvError::Closed),
        Outcome::Sent => unreachable!("a consumer is completed with an item or closed"),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::exchange::{Exchange, OfferKind};

    fn put(exchange: &Arc<Exchange<u32>>, item: u32) {
        assert!(matches!(start_offer(exchange, item, OfferKind::Unbounded, None), Ok(SendStart::Delivered)));
    }

    #[test]
    fn a_stale_not_ready_hint_still_finds_the_item() {
        let exchange = Arc::new(Exchange::new(None, None));
        put(&exchange, 7);
        assert!(exchange.looks_ready());
        exchange.set_hint(false); // an older value stored last by a racing unlock
        assert!(matches!(start_take(&exchange, None), Ok(RecvStart::Ready(7))));
    }

    #[test]
    fn a_stale_ready_hint_parks_the_taker_until_an_item_comes() {
        let exchange = Arc::new(Exchange::new(None, None));
        exchange.set_hint(true); // an older value stored last by a racing unlock
        let Ok(RecvStart::Pending(mut pending)) = start_take(&exchange, None) else {
            panic!("a take found something in an empty exchange");
        };
        assert!(!exchange.looks_ready(), "the next unlock sets the hint right");
        put(&exchange, 9);
        assert_eq!(pending.wait_until(None).map(Result::ok), Some(Some(9)));
    }

    #[test]
    fn a_panic_while_locked_unlocks_once() {
        let exchange = Arc::new(Exchange::new(None, None));
        let holder = exchange.clone();
        let panicked = std::thread::spawn(move || {
            let _locked = holder.lock();
            panic!("while locked");
        })
        .join();
        assert!(panicked.is_err());
        // Poisoned, and unlocked exactly once: both ways in still work.
        drop(exchange.lock());
        drop(exchange.lock_for_take());
        put(&exchange, 1);
        assert!(matches!(start_take(&exchange, None), Ok(RecvStart::Ready(1))));
    }
}
