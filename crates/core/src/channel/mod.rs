//! Simplex channels with many senders and many receivers.
//!
//! `send` is a rendezvous: it returns once a receiver has taken the item. `send_nowait` hands the
//! item to a receiver already waiting, or else queues it and returns at once.
//!
//! Algorithm: one mutex per channel guards three FIFO lists — items queued by `send_nowait`,
//! blocked senders (each still owning its item) and blocked receivers. Every queued item and every
//! blocked sender draws a ticket from one counter, and a receiver always takes the smallest ticket,
//! so delivery is FIFO across both kinds and, in particular, in the order each sender sent. A
//! blocked operation parks on a [`Waiter`](crate::waiter::Waiter); the peer that serves it completes
//! the waiter while holding the channel lock. Entries whose owner gave up (deadline, cancel) stay
//! listed until that owner removes them, so a withdrawn item always returns to its sender. This is
//! the shape of Go's `hchan` sudog queues and crossbeam-channel's `flavors/zero.rs`.
//!
//! Each end counts its handles ([`Sender`], [`Receiver`]); dropping the last handle of an end
//! closes that end, so no blocked call waits for a peer that no longer exists.

mod handles;
mod pending;
pub mod registry;

use std::collections::VecDeque;

pub use handles::{channel, Receiver, Sender};
pub use pending::{PendingRecv, PendingSend, RecvStart, SendStart};

use crate::error::{SendError, TryRecvError};
use crate::sync::{lock, Arc, AtomicUsize, Mutex};
use crate::waiter::{Outcome, Waiter};

/// Ticket of an item put back with [`Receiver::put_back`]: it goes before everything else.
const FRONT_TICKET: u64 = 0;

/// The shared state of one channel. Reach it through [`Sender`] and [`Receiver`] handles.
pub struct Channel<T> {
    id: u64,
    state: Mutex<State<T>>,
    /// Live [`Sender`] handles; the send end closes when this drops to zero.
    send_handles: AtomicUsize,
    /// Live [`Receiver`] handles; the receive end closes when this drops to zero.
    recv_handles: AtomicUsize,
    /// The registry to leave once both ends are closed.
    listing: Option<registry::Listing<T>>,
}

struct State<T> {
    /// Items handed over by `send_nowait` while no receiver waited.
    queued: VecDeque<Queued<T>>,
    /// Senders blocked in a rendezvous `send`, oldest first.
    senders: VecDeque<BlockedSender<T>>,
    /// Receivers blocked in `recv`, oldest first.
    receivers: VecDeque<Arc<Waiter<T>>>,
    next_ticket: u64,
    send_closed: bool,
    recv_closed: bool,
}

struct Queued<T> {
    ticket: u64,
    item: T,
}

struct BlockedSender<T> {
    ticket: u64,
    waiter: Arc<Waiter<T>>,
    /// Always `Some` while listed; taken only to offer it to a completion.
    item: Option<T>,
}

impl<T> Channel<T> {
    fn new(id: u64, listing: Option<registry::Listing<T>>) -> Self {
        Channel {
            id,
            state: Mutex::new(State {
                queued: VecDeque::new(),
                senders: VecDeque::new(),
                receivers: VecDeque::new(),
                next_ticket: FRONT_TICKET + 1,
                send_closed: false,
                recv_closed: false,
            }),
            send_handles: AtomicUsize::new(0),
            recv_handles: AtomicUsize::new(0),
            listing,
        }
    }

    /// The channel's id, unique within its registry (0 for channels made by [`channel`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// True once sending is impossible: either end was closed.
    pub fn is_send_closed(&self) -> bool {
        let state = lock(&self.state);
        state.send_closed || state.recv_closed
    }

    /// True once receiving can yield nothing more: the receive end was closed, or the send end was
    /// closed and every queued item has been taken.
    pub fn is_recv_closed(&self) -> bool {
        let state = lock(&self.state);
        state.recv_closed || (state.send_closed && state.queued.is_empty())
    }

    /// True once both ends were closed.
    pub fn is_fully_closed(&self) -> bool {
        let state = lock(&self.state);
        state.send_closed && state.recv_closed
    }

    /// Number of items waiting to be received (queued plus carried by blocked senders).
    pub fn len(&self) -> usize {
        let state = lock(&self.state);
        state.queued.len() + state.senders.len()
    }

    /// True when [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn send_nowait(&self, item: T) -> Result<bool, SendError<T>> {
        let mut state = lock(&self.state);
        if state.send_closed || state.recv_closed {
            return Err(SendError::Closed(item));
        }
        let ticket = state.take_ticket();
        match state.hand_to_receiver(ticket, item) {
            Ok(()) => Ok(true),
            Err(item) => {
                state.queued.push_back(Queued { ticket, item });
                Ok(false)
            }
        }
    }

    /// Hands `item` to a waiting receiver, or, if `register`, parks a new blocked sender.
    /// (An associated function: loom's `Arc` cannot be a method receiver.)
    fn start_send(chan: &Arc<Self>, item: T, register: bool) -> Result<SendStart<T>, SendError<T>> {
        let mut state = lock(&chan.state);
        if state.send_closed || state.recv_closed {
            return Err(SendError::Closed(item));
        }
        let ticket = state.take_ticket();
        let item = match state.hand_to_receiver(ticket, item) {
            Ok(()) => return Ok(SendStart::Delivered),
            Err(item) => item,
        };
        if !register {
            return Err(SendError::Withdrawn(item));
        }
        let waiter = Arc::new(Waiter::new());
        state.senders.push_back(BlockedSender { ticket, waiter: waiter.clone(), item: Some(item) });
        Ok(SendStart::Pending(PendingSend::new(chan.clone(), waiter)))
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = lock(&self.state);
        if state.recv_closed {
            return Err(TryRecvError::Closed);
        }
        match state.take_next() {
            Some(item) => Ok(item),
            None if state.send_closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Takes the next item, or parks a new blocked receiver.
    fn start_recv(chan: &Arc<Self>) -> Result<RecvStart<T>, crate::error::RecvError> {
        let mut state = lock(&chan.state);
        if state.recv_closed {
            return Err(crate::error::RecvError::Closed);
        }
        if let Some(item) = state.take_next() {
            return Ok(RecvStart::Ready(item));
        }
        if state.send_closed {
            return Err(crate::error::RecvError::Closed);
        }
        let waiter = Arc::new(Waiter::new());
        state.receivers.push_back(waiter.clone());
        Ok(RecvStart::Pending(PendingRecv::new(chan.clone(), waiter)))
    }

    /// Removes a blocked sender whose owner aborted it and returns its item.
    fn withdraw_sender(&self, waiter: &Arc<Waiter<T>>) -> Option<T> {
        let mut state = lock(&self.state);
        let index = state.senders.iter().position(|entry| Arc::ptr_eq(&entry.waiter, waiter))?;
        state.senders.remove(index).and_then(|entry| entry.item)
    }

    /// Removes a blocked receiver whose owner aborted it (it may already be gone).
    fn withdraw_receiver(&self, waiter: &Arc<Waiter<T>>) {
        lock(&self.state).receivers.retain(|entry| !Arc::ptr_eq(entry, waiter));
    }

    /// Puts back an item a receiver had taken but cannot deliver, at its place in the order
    /// (`ticket`), so it is neither lost nor reordered. Dropped if receiving is closed meanwhile.
    fn requeue(&self, ticket: u64, item: T) {
        let mut state = lock(&self.state);
        if state.recv_closed {
            drop(state);
            drop(item);
            return;
        }
        if let Err(item) = state.hand_to_receiver(ticket, item) {
            let position = state.queued.partition_point(|queued| queued.ticket < ticket);
            state.queued.insert(position, Queued { ticket, item });
        }
    }

    /// Closes the send end: later sends fail, blocked senders get their items back, receivers
    /// drain what is queued and then see the channel closed.
    pub fn close_send(&self) {
        let mut state = lock(&self.state);
        if state.send_closed {
            return;
        }
        state.send_closed = true;
        state.fail_blocked_senders();
        if state.queued.is_empty() {
            state.fail_blocked_receivers();
        }
        let fully_closed = state.recv_closed;
        drop(state);
        if fully_closed {
            self.unlist();
        }
    }

    /// Closes the receive end: queued items are dropped, blocked senders get theirs back, and
    /// every later call on either end fails.
    pub fn close_recv(&self) {
        let mut state = lock(&self.state);
        if state.recv_closed {
            return;
        }
        state.recv_closed = true;
        let dropped: Vec<Queued<T>> = state.queued.drain(..).collect();
        state.fail_blocked_senders();
        state.fail_blocked_receivers();
        let fully_closed = state.send_closed;
        drop(state);
        // Items may hold channel handles whose drop locks other channels: never under our lock.
        drop(dropped);
        if fully_closed {
            self.unlist();
        }
    }

    fn unlist(&self) {
        if let Some(listing) = &self.listing {
            listing.remove(self.id);
        }
    }
}

impl<T> State<T> {
    fn take_ticket(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
    }

    /// Gives `item` (whose place in the order is `ticket`) to the oldest receiver still
    /// waiting; hands it back if there is none.
    fn hand_to_receiver(&mut self, ticket: u64, mut item: T) -> Result<(), T> {
        while let Some(receiver) = self.receivers.pop_front() {
            match receiver.complete(Outcome::Received { ticket, item }) {
                Ok(()) => return Ok(()),
                Err(Outcome::Received { item: back, .. }) => item = back,
                Err(_) => unreachable!("complete hands back the outcome it was given"),
            }
        }
        Err(item)
    }

    /// Takes the item with the smallest ticket among queued items and blocked senders.
    fn take_next(&mut self) -> Option<T> {
        let queued_ticket = self.queued.front().map_or(u64::MAX, |queued| queued.ticket);
        for index in 0..self.senders.len() {
            if self.senders[index].ticket > queued_ticket {
                break;
            }
            if self.senders[index].waiter.complete(Outcome::Sent).is_ok() {
                return self.senders.remove(index).and_then(|entry| entry.item);
            }
            // That sender is giving up; it removes its own entry and keeps its item.
        }
        self.queued.pop_front().map(|queued| queued.item)
    }

    /// Wakes every blocked sender with its item and the closed outcome. Senders already giving
    /// up stay listed: they collect their items themselves.
    fn fail_blocked_senders(&mut self) {
        for entry in self.senders.iter_mut() {
            let item = entry.item.take();
            if let Err(Outcome::Closed(item)) = entry.waiter.complete(Outcome::Closed(item)) {
                entry.item = item;
            }
        }
        self.senders.retain(|entry| entry.item.is_some());
    }

    fn fail_blocked_receivers(&mut self) {
        for receiver in self.receivers.drain(..) {
            let _ = receiver.complete(Outcome::Closed(None));
        }
    }
}
