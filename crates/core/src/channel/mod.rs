//! Simplex channels with many senders and many receivers.
//!
//! `send` is a rendezvous: it returns once a receiver has taken the item. `send_nowait` hands the
//! item to a receiver already waiting, or else queues it and returns at once. The machinery (a
//! ticketed FIFO of queued items and blocked senders, blocked receivers, waiters) is the
//! [`Exchange`](crate::exchange) shared with queues; a channel adds its two ends: each end counts
//! its handles ([`Sender`], [`Receiver`]), and dropping the last handle of an end closes that end,
//! so no blocked call waits for a peer that no longer exists. Once both ends are closed, the
//! exchange tells whoever listed the channel (its `OnLastClose` hook).

mod handles;

pub use handles::{channel, Receiver, Sender};

use crate::exchange::{Exchange, OnLastClose};
use crate::sync::{Arc, AtomicUsize};

/// The shared state of one channel. Reach it through [`Sender`] and [`Receiver`] handles.
pub struct Channel<T> {
    id: u64,
    /// Shared with the operations parked on it.
    pub(crate) exchange: Arc<Exchange<T>>,
    /// Live [`Sender`] handles; the send end closes when this drops to zero.
    send_handles: AtomicUsize,
    /// Live [`Receiver`] handles; the receive end closes when this drops to zero.
    recv_handles: AtomicUsize,
    /// The binding's flag: refuse what cannot cross natively (true) or pickle it (false).
    strict: bool,
}

impl<T> Channel<T> {
    /// A channel with both ends open (and no handles yet); `on_last_close` runs once both ends
    /// are closed.
    pub(crate) fn new(id: u64, on_last_close: Option<OnLastClose>, strict: bool) -> Self {
        Channel {
            id,
            exchange: Arc::new(Exchange::new(None, on_last_close)),
            send_handles: AtomicUsize::new(0),
            recv_handles: AtomicUsize::new(0),
            strict,
        }
    }

    /// The binding's strict flag, kept with the channel.
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// The channel's id, unique within its registry (0 for channels made by [`channel`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True once sending is impossible: either end was closed.
    pub fn is_send_closed(&self) -> bool {
        self.exchange.lock().offers_closed()
    }

    /// True once receiving can yield nothing more: the receive end was closed, or the send end was
    /// closed and every queued item has been taken.
    pub fn is_recv_closed(&self) -> bool {
        self.exchange.lock().drained()
    }

    /// True once both ends were closed.
    pub fn is_fully_closed(&self) -> bool {
        self.exchange.lock().both_closed()
    }

    /// Number of items waiting to be received (queued plus carried by blocked senders).
    pub fn len(&self) -> usize {
        let state = self.exchange.lock();
        state.buffered() + state.offered()
    }

    /// True when [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the send end: later sends fail, blocked senders get their items back, receivers
    /// drain what is queued and then see the channel closed.
    pub fn close_send(&self) {
        self.exchange.close_offers();
    }

    /// Closes the receive end: queued items are dropped, blocked senders get theirs back, and
    /// every later call on either end fails.
    pub fn close_recv(&self) {
        self.exchange.close_takes();
    }
}
