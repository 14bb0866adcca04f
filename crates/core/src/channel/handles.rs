//! The two ends of a channel. Each handle counts toward its end: the end closes when its last
//! handle is dropped, wherever that happens.

use std::fmt;
use std::time::Instant;

use super::Channel;
use crate::error::{RecvError, SendError, TryRecvError};
use crate::exchange::{OfferKind, Offered, Taken, FRONT_TICKET};
use crate::pending::{finish_offer, finish_take, start_offer, start_take, RecvStart, SendStart};
use crate::select::Case;
use crate::sync::Arc;
use crate::waiter::Notify;
use std::sync::atomic::Ordering;

/// Creates a channel outside any registry (id 0). Most callers want
/// [`ChannelRegistry::create`](crate::registry::ChannelRegistry::create).
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Channel::new(0, None, true));
    (Sender::new(chan.clone()), Receiver::new(chan))
}

/// A handle on the send end of a channel.
pub struct Sender<T> {
    chan: Arc<Channel<T>>,
}

/// A handle on the receive end of a channel.
pub struct Receiver<T> {
    chan: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    /// A new handle on the send end of `chan` (which stays closed if it was closed).
    pub fn new(chan: Arc<Channel<T>>) -> Self {
        chan.send_handles.fetch_add(1, Ordering::Relaxed);
        Sender { chan }
    }

    /// The channel this handle sends on.
    pub fn channel(&self) -> &Arc<Channel<T>> {
        &self.chan
    }

    /// The channel's id.
    pub fn id(&self) -> u64 {
        self.chan.id
    }

    /// The channel's strict flag (see [`Channel::strict`]).
    pub fn strict(&self) -> bool {
        self.chan.strict()
    }

    /// Hands `item` to a receiver already waiting (`Ok(true)`) or queues it (`Ok(false)`).
    pub fn send_nowait(&self, item: T) -> Result<bool, SendError<T>> {
        match self.chan.exchange.lock().offer(item, OfferKind::Unbounded) {
            Offered::Delivered => Ok(true),
            Offered::Buffered => Ok(false),
            Offered::Closed(item) | Offered::NotNow(item) => Err(SendError::Closed(item)),
        }
    }

    /// Hands `item` to a waiting receiver if there is one; otherwise withdraws it at once.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        match self.chan.exchange.lock().offer(item, OfferKind::Rendezvous) {
            Offered::Delivered | Offered::Buffered => Ok(()),
            Offered::NotNow(item) => Err(SendError::Withdrawn(item)),
            Offered::Closed(item) => Err(SendError::Closed(item)),
        }
    }

    /// Starts a rendezvous send: either delivered at once, or parked until a receiver takes the
    /// item, the channel closes, or the returned [`PendingSend`](crate::PendingSend) is cancelled.
    pub fn start_send(&self, item: T) -> Result<SendStart<T>, SendError<T>> {
        start_offer(&self.chan.exchange, item, OfferKind::Rendezvous, None)
    }

    /// As [`start_send`](Self::start_send); a parked send also calls `notify` when it completes.
    pub fn start_send_notified(&self, item: T, notify: Notify) -> Result<SendStart<T>, SendError<T>> {
        start_offer(&self.chan.exchange, item, OfferKind::Rendezvous, Some(notify))
    }

    /// Rendezvous send that blocks until a receiver takes `item` or `deadline` passes.
    pub fn send(&self, item: T, deadline: Option<Instant>) -> Result<(), SendError<T>> {
        finish_offer(self.start_send(item)?, deadline)
    }

    /// A [`select`](crate::select) case that sends `item` as [`send`](Self::send) does.
    pub fn send_case(&self, item: T) -> Case<'_, T> {
        Case::offer(&self.chan.exchange, item, OfferKind::Rendezvous)
    }

    /// Closes the send end for every handle.
    pub fn close(&self) {
        self.chan.close_send();
    }

    /// True once sending is impossible (either end closed).
    pub fn is_closed(&self) -> bool {
        self.chan.is_send_closed()
    }
}

impl<T> Receiver<T> {
    /// A new handle on the receive end of `chan` (which stays closed if it was closed).
    pub fn new(chan: Arc<Channel<T>>) -> Self {
        chan.recv_handles.fetch_add(1, Ordering::Relaxed);
        Receiver { chan }
    }

    /// The channel this handle receives from.
    pub fn channel(&self) -> &Arc<Channel<T>> {
        &self.chan
    }

    /// The channel's id.
    pub fn id(&self) -> u64 {
        self.chan.id
    }

    /// The channel's strict flag (see [`Channel::strict`]).
    pub fn strict(&self) -> bool {
        self.chan.strict()
    }

    /// Takes the next item if one is ready.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.exchange.lock().take() {
            Taken::Item(item) => Ok(item),
            Taken::NotNow => Err(TryRecvError::Empty),
            Taken::Closed => Err(TryRecvError::Closed),
        }
    }

    /// Takes the next item, or parks until one arrives, the channel closes, or the returned
    /// [`PendingRecv`](crate::PendingRecv) is cancelled.
    pub fn start_recv(&self) -> Result<RecvStart<T>, RecvError> {
        start_take(&self.chan.exchange, None)
    }

    /// As [`start_recv`](Self::start_recv); a parked receive also calls `notify` when it completes.
    pub fn start_recv_notified(&self, notify: Notify) -> Result<RecvStart<T>, RecvError> {
        start_take(&self.chan.exchange, Some(notify))
    }

    /// Blocks until an item arrives, the channel closes, or `deadline` passes.
    pub fn recv(&self, deadline: Option<Instant>) -> Result<T, RecvError> {
        finish_take(self.start_recv()?, deadline)
    }

    /// A [`select`](crate::select) case that receives as [`recv`](Self::recv) does.
    pub fn recv_case(&self) -> Case<'_, T> {
        Case::take(&self.chan.exchange)
    }

    /// Puts an item taken from this channel back in front of all others, for a receiver that
    /// cannot deliver it after all (e.g. building the receiver's object failed). Dropped if the
    /// receive end is closed meanwhile.
    pub fn put_back(&self, item: T) {
        self.chan.exchange.requeue(FRONT_TICKET, item);
    }

    /// Closes the receive end for every handle; queued items are dropped.
    pub fn close(&self) {
        self.chan.close_recv();
    }

    /// True once nothing more can be received.
    pub fn is_closed(&self) -> bool {
        self.chan.is_recv_closed()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender::new(self.chan.clone())
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver::new(self.chan.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.send_handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close_send();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.recv_handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close_recv();
        }
    }
}

impl<T> PartialEq for Sender<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> PartialEq for Receiver<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sender({})", self.chan.id)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Receiver({})", self.chan.id)
    }
}
