//! The state a channel or a queue is made of: a FIFO buffer of items, blocked offers (senders
//! and putters, each still owning its item) and blocked takers (receivers and getters).
//!
//! Every item and every offer draws a ticket from one counter, and a taker always gets the
//! smallest ticket, so delivery is FIFO across the buffer and the offers and, in particular, in
//! the order each producer sent. An offer is either a *rendezvous* (a channel's `send`: done when
//! a taker has its item) or *buffered* (a full queue's `put`: done when its item enters the
//! buffer). Blocked operations park on a [`Waiter`]; whoever serves them completes the waiter
//! while holding this lock, through the case index the registration carries (one waiter may be
//! registered on several exchanges by a `select`). Entries whose owner gave up stay listed until
//! that owner removes them, so a withdrawn item always returns to its producer. This is the shape
//! of Go's `hchan` sudog queues and crossbeam-channel's `flavors/zero.rs` and `array.rs`.
//!
//! The operations take the locked [`State`], so that `select` can hold the locks of all its
//! exchanges at once (in creation order) while it looks for a ready case and registers.
//!
//! An exchange is shared (`Arc<Exchange>`) by its channel or queue and by every operation parked
//! on it, so that pending operations and `select` hold what they wait on and know nothing of
//! channels and queues. Whoever lists a channel or queue (a registry) hears of its end through
//! the exchange's [`OnLastClose`] hook, not through a pointer back into the list.

use std::collections::VecDeque;

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool as StdAtomicBool, Ordering};

use crate::sync::{lock, lock_when_free, Arc, Mutex, MutexGuard};
use crate::waiter::{Outcome, Waiter};

/// Ticket of an item put back with [`State::requeue`] at the very front.
pub(crate) const FRONT_TICKET: u64 = 0;

/// Run once, outside the lock, by the close that closes an exchange's last open side (offers
/// and takes both closed: nothing will pass through it again). A registry lists a channel or
/// queue until then; this is how it hears that the entry may go.
pub(crate) type OnLastClose = Box<dyn FnOnce() + Send>;

/// A channel's or queue's lock and state.
pub(crate) struct Exchange<T> {
    /// Creation order: `select` locks several exchanges in this order (a fixed order rules out
    /// deadlock; creation order, unlike addresses, is also the same in every loom execution).
    order: u64,
    state: Mutex<State<T>>,
    /// Whether a take would find something (an item, an offer, or the end) when the lock was last
    /// released. Only a hint, read without the lock so that a taker can spin on it before
    /// registering (a plain `std` atomic: loom never spins, so never reads it). On cache lines
    /// of its own: a taker spinning on it does not take the lock's line from its holder.
    ready: CacheLine<StdAtomicBool>,
}

/// A value alone on its cache lines (128 bytes: x86 fetches lines in adjacent pairs), as
/// crossbeam-utils' `CachePadded`.
#[repr(align(128))]
struct CacheLine<V>(V);

/// The locked state of an exchange; on unlock it refreshes the exchange's `ready` hint.
pub(crate) struct Locked<'a, T> {
    /// Dropped (unlocked) by `Drop`, before the hint is published.
    guard: ManuallyDrop<MutexGuard<'a, State<T>>>,
    ready: &'a StdAtomicBool,
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;
    fn deref(&self) -> &State<T> {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.guard
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        let state = &**self.guard;
        let ready = !state.buffer.is_empty() || !state.offers.is_empty() || state.drained();
        // Unlocked before the hint turns true: a taker spinning on it then finds the lock free,
        // instead of pulling the lock's cache line away from a holder about to release it (a
        // producer's unlock stalled on that for most of its time when items flow one by one).
        // SAFETY: `Drop::drop` runs once, the guard cannot have been moved out of `self` (a type
        // with a `Drop` impl cannot be destructured), and `self.guard` is not used after this.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        // Published after the unlock, the hint can be overwritten by an older value (two unlocks
        // racing): it stays a hint, right again at the next unlock, and no take relies on it
        // (a taker always locks before it decides).
        if self.ready.load(Ordering::Relaxed) != ready {
            self.ready.store(ready, Ordering::Release);
        }
    }
}

/// Gives each exchange its creation order.
static NEXT_ORDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) struct State<T> {
    /// Items waiting for a taker, oldest first.
    buffer: VecDeque<Queued<T>>,
    /// Blocked producers with their items, oldest first.
    offers: VecDeque<Offer<T>>,
    /// Blocked consumers, oldest first.
    takers: VecDeque<Registration<T>>,
    next_ticket: u64,
    /// Most items the buffer takes from buffered offers (`None`: unbounded).
    capacity: Option<usize>,
    /// No more offers: producers fail; takers drain the buffer, then fail.
    offers_closed: bool,
    /// No more takes: the buffer was dropped; everyone fails.
    takes_closed: bool,
    /// Taken (and run, after unlocking) by the close that closes the last open side.
    on_last_close: Option<OnLastClose>,
}

struct Queued<T> {
    ticket: u64,
    item: T,
}

/// A parked operation's entry on an exchange: its waiter, and which of the waiter's cases it is.
pub(crate) struct Registration<T> {
    pub(crate) waiter: Arc<Waiter<T>>,
    pub(crate) case: usize,
}

struct Offer<T> {
    ticket: u64,
    at: Registration<T>,
    /// Always `Some` while listed; taken only to offer it to a completion.
    item: Option<T>,
    kind: OfferKind,
}

/// How a producer hands its item over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OfferKind {
    /// To a taker directly, or not at all (a channel's `send`).
    Rendezvous,
    /// Into the buffer if it has room (a queue's `put`).
    Buffered,
    /// Into the buffer whatever its size (a channel's `send_nowait`).
    Unbounded,
}

/// What an offer made without waiting achieved.
pub(crate) enum Offered<T> {
    /// A waiting taker got the item.
    Delivered,
    /// The item is in the buffer.
    Buffered,
    /// Nothing could take it now: the item comes back.
    NotNow(T),
    /// Offers are closed: the item comes back.
    Closed(T),
}

/// What a take made without waiting achieved.
pub(crate) enum Taken<T> {
    Item(T),
    /// Nothing is ready now.
    NotNow,
    /// Nothing will ever be: takes are closed, or offers are closed and the buffer drained.
    Closed,
}

impl<T> Exchange<T> {
    /// An open exchange whose buffer takes `capacity` items from buffered offers (`None`:
    /// unbounded); `on_last_close` runs once both sides are closed.
    pub(crate) fn new(capacity: Option<usize>, on_last_close: Option<OnLastClose>) -> Self {
        Exchange {
            order: NEXT_ORDER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                offers: VecDeque::new(),
                takers: VecDeque::new(),
                next_ticket: FRONT_TICKET + 1,
                capacity,
                offers_closed: false,
                takes_closed: false,
                on_last_close,
            }),
            ready: CacheLine(StdAtomicBool::new(false)),
        }
    }

    pub(crate) fn lock(&self) -> Locked<'_, T> {
        Locked { guard: ManuallyDrop::new(lock(&self.state)), ready: &self.ready.0 }
    }

    /// As [`lock`](Self::lock), for a taker whose producer runs on another CPU and may be back
    /// in the lock for its next item: it is let finish (see [`lock_when_free`]).
    pub(crate) fn lock_for_take(&self) -> Locked<'_, T> {
        Locked { guard: ManuallyDrop::new(lock_when_free(&self.state)), ready: &self.ready.0 }
    }

    /// Sets the `ready` hint as a racing unlock could have left it.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_hint(&self, ready: bool) {
        self.ready.0.store(ready, Ordering::Release);
    }

    /// The `ready` hint (see the field).
    pub(crate) fn looks_ready(&self) -> bool {
        self.ready.0.load(Ordering::Acquire)
    }

    /// See the `order` field.
    pub(crate) fn order(&self) -> u64 {
        self.order
    }

    /// Removes every registration of `waiter` (its owner is done with this exchange) and returns
    /// the items of its offers.
    pub(crate) fn withdraw(&self, waiter: &Arc<Waiter<T>>) -> Vec<T> {
        self.lock().withdraw(waiter)
    }

    /// Puts back an item a taker cannot deliver, at its place in the order (`ticket`).
    pub(crate) fn requeue(&self, ticket: u64, item: T) {
        let rejected = self.lock().requeue(ticket, item);
        // Dropped outside the lock: items may hold handles whose drop locks other exchanges.
        drop(rejected);
    }

    /// Puts back, in front of everything and in their order, items a taker took but cannot
    /// deliver; waiting takers get the first of them.
    pub(crate) fn requeue_front(&self, items: Vec<T>) {
        let rejected = self.lock().requeue_front(items);
        // Dropped outside the lock: items may hold handles whose drop locks other exchanges.
        drop(rejected);
    }

    /// Closes offers: blocked producers get their items back, takers drain the buffer and then
    /// fail. Runs the [`OnLastClose`] hook if takes were closed already.
    pub(crate) fn close_offers(&self) {
        let mut state = self.lock();
        if state.offers_closed {
            return;
        }
        state.close_offers();
        let last_close = state.last_close();
        drop(state);
        if let Some(on_last_close) = last_close {
            on_last_close();
        }
    }

    /// Closes takes: the buffer is dropped (outside the lock) and every blocked call fails. Runs
    /// the [`OnLastClose`] hook if offers were closed already.
    pub(crate) fn close_takes(&self) {
        let mut state = self.lock();
        if state.takes_closed {
            return;
        }
        let dropped = state.close_takes();
        let last_close = state.last_close();
        drop(state);
        drop(dropped);
        if let Some(on_last_close) = last_close {
            on_last_close();
        }
    }
}

impl<T> State<T> {
    fn take_ticket(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
    }

    pub(crate) fn offers_closed(&self) -> bool {
        self.offers_closed || self.takes_closed
    }

    /// True once a take can never succeed again.
    pub(crate) fn drained(&self) -> bool {
        self.takes_closed || (self.offers_closed && self.buffer.is_empty())
    }

    /// Items in the buffer.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Items carried by blocked offers.
    pub(crate) fn offered(&self) -> usize {
        self.offers.len()
    }

    /// True if the buffer holds `capacity` items or more.
    pub(crate) fn is_full(&self) -> bool {
        self.capacity.is_some_and(|capacity| self.buffer.len() >= capacity)
    }

    /// Offers `item` without waiting.
    pub(crate) fn offer(&mut self, item: T, kind: OfferKind) -> Offered<T> {
        if self.offers_closed() {
            return Offered::Closed(item);
        }
        let ticket = self.take_ticket();
        let item = match self.hand_to_taker(ticket, item) {
            Ok(()) => return Offered::Delivered,
            Err(item) => item,
        };
        let room = match kind {
            OfferKind::Rendezvous => false,
            OfferKind::Unbounded => true,
            // Behind producers already waiting for room, never beside them.
            OfferKind::Buffered => {
                self.settle();
                !self.is_full()
            }
        };
        if room {
            self.buffer.push_back(Queued { ticket, item });
            Offered::Buffered
        } else {
            Offered::NotNow(item)
        }
    }

    /// Offers the items at the front of `items`, in order, as [`offer`](Self::offer) would one by
    /// one, and returns how many it placed; stops at the first that finds no room. `Err` (nothing
    /// taken from `items`) if offers are closed.
    pub(crate) fn offer_many(&mut self, items: &mut VecDeque<T>, kind: OfferKind) -> Result<usize, ()> {
        if self.offers_closed() {
            return Err(());
        }
        let mut placed = 0;
        // Waiting takers get theirs first, one by one.
        while !self.takers.is_empty() {
            let Some(item) = items.pop_front() else { return Ok(placed) };
            match self.offer(item, kind) {
                Offered::Delivered | Offered::Buffered => placed += 1,
                Offered::NotNow(item) | Offered::Closed(item) => {
                    items.push_front(item);
                    return Ok(placed);
                }
            }
        }
        // Then straight into the buffer, as far as there is room (after producers already waiting).
        if kind == OfferKind::Buffered {
            self.settle();
        }
        let room = match kind {
            OfferKind::Rendezvous => 0,
            OfferKind::Unbounded => items.len(),
            OfferKind::Buffered => match self.capacity {
                None => items.len(),
                Some(capacity) => capacity.saturating_sub(self.buffer.len()).min(items.len()),
            },
        };
        let first = self.next_ticket;
        self.next_ticket += room as u64;
        self.buffer.extend(items.drain(..room).zip(first..).map(|(item, ticket)| Queued { ticket, item }));
        Ok(placed + room)
    }

    /// Takes up to `max` items, oldest first, as [`take`](Self::take) would one by one.
    pub(crate) fn take_many(&mut self, max: usize, into: &mut Vec<T>) -> Taken<()> {
        if self.takes_closed {
            return Taken::Closed;
        }
        while into.len() < max {
            // Without parked producers the buffer is all there is: move it in one go.
            if self.offers.is_empty() {
                let count = (max - into.len()).min(self.buffer.len());
                into.extend(self.buffer.drain(..count).map(|queued| queued.item));
                break;
            }
            match self.take_next() {
                Some((_, item)) => into.push(item),
                None => break,
            }
        }
        match (into.is_empty(), self.offers_closed) {
            (false, _) => Taken::Item(()),
            (true, true) => Taken::Closed,
            (true, false) => Taken::NotNow,
        }
    }

    /// Parks a producer with its item (after [`offer`](Self::offer) said `NotNow`).
    pub(crate) fn register_offer(&mut self, at: Registration<T>, item: T, kind: OfferKind) {
        let ticket = self.take_ticket();
        self.offers.push_back(Offer { ticket, at, item: Some(item), kind });
    }

    /// Takes the item with the smallest ticket, without waiting.
    pub(crate) fn take(&mut self) -> Taken<T> {
        if self.takes_closed {
            return Taken::Closed;
        }
        match self.take_next() {
            Some((_, item)) => Taken::Item(item),
            None if self.offers_closed => Taken::Closed,
            None => Taken::NotNow,
        }
    }

    /// Parks a consumer (after [`take`](Self::take) said `NotNow`).
    pub(crate) fn register_taker(&mut self, at: Registration<T>) {
        self.takers.push_back(at);
    }

    /// Gives `item` (whose place in the order is `ticket`) to the oldest taker still waiting;
    /// hands it back if there is none.
    fn hand_to_taker(&mut self, ticket: u64, mut item: T) -> Result<(), T> {
        while let Some(taker) = self.takers.pop_front() {
            match taker.waiter.complete(taker.case, Outcome::Received { ticket, item }) {
                Ok(()) => return Ok(()),
                Err(Outcome::Received { item: back, .. }) => item = back,
                Err(_) => unreachable!("complete hands back the outcome it was given"),
            }
            // That taker is giving up (or chose another case): its owner no longer needs it listed.
        }
        Err(item)
    }

    /// Takes the smallest ticket among the buffer and the rendezvous offers; then lets buffered
    /// offers into the room that made.
    fn take_next(&mut self) -> Option<(u64, T)> {
        let buffered_ticket = self.buffer.front().map_or(u64::MAX, |queued| queued.ticket);
        let mut taken = None;
        for index in 0..self.offers.len() {
            let offer = &self.offers[index];
            if offer.ticket > buffered_ticket {
                break;
            }
            if offer.kind != OfferKind::Rendezvous {
                continue;
            }
            if offer.at.waiter.complete(offer.at.case, Outcome::Sent).is_ok() {
                let offer = self.offers.remove(index).expect("index is in bounds");
                taken = offer.item.map(|item| (offer.ticket, item));
                break;
            }
            // That producer is giving up; it removes its own entry and keeps its item.
        }
        let taken = taken.or_else(|| self.buffer.pop_front().map(|queued| (queued.ticket, queued.item)));
        if taken.is_some() {
            self.admit_buffered_offers();
        }
        taken
    }

    /// Moves the items of blocked buffered offers into the buffer while it has room, completing
    /// their producers.
    fn admit_buffered_offers(&mut self) {
        let mut index = 0;
        while index < self.offers.len() && !self.is_full() {
            let offer = &mut self.offers[index];
            if offer.kind != OfferKind::Buffered {
                index += 1;
                continue;
            }
            if offer.at.waiter.complete(offer.at.case, Outcome::Sent).is_ok() {
                let offer = self.offers.remove(index).expect("index is in bounds");
                if let Some(item) = offer.item {
                    let position = self.buffer.partition_point(|queued| queued.ticket < offer.ticket);
                    self.buffer.insert(position, Queued { ticket: offer.ticket, item });
                }
            } else {
                index += 1;
            }
        }
    }

    /// See [`Exchange::withdraw`].
    pub(crate) fn withdraw(&mut self, waiter: &Arc<Waiter<T>>) -> Vec<T> {
        self.takers.retain(|taker| !Arc::ptr_eq(&taker.waiter, waiter));
        let mut items = Vec::new();
        self.offers.retain_mut(|offer| {
            if !Arc::ptr_eq(&offer.at.waiter, waiter) {
                return true;
            }
            items.extend(offer.item.take());
            false
        });
        // An entry that was in the way is gone: producers waiting behind it may fit now.
        self.settle();
        items
    }

    /// Restores the invariants a withdrawn entry can leave broken: while there is room, parked
    /// buffered offers are let in (oldest first), and while items are buffered, parked takers get
    /// them. (Offers and takes keep these invariants themselves; a withdrawal only removes.)
    fn settle(&mut self) {
        if self.offers.is_empty() {
            return;
        }
        self.admit_buffered_offers();
        while !self.takers.is_empty() {
            let Some(Queued { ticket, item }) = self.buffer.pop_front() else { break };
            if let Err(item) = self.hand_to_taker(ticket, item) {
                self.buffer.push_front(Queued { ticket, item });
                break;
            }
        }
    }

    /// See [`Exchange::requeue`]; returns the item if takes are closed (for dropping outside the
    /// lock).
    pub(crate) fn requeue(&mut self, ticket: u64, item: T) -> Option<T> {
        if self.takes_closed {
            return Some(item);
        }
        if let Err(item) = self.hand_to_taker(ticket, item) {
            let position = self.buffer.partition_point(|queued| queued.ticket < ticket);
            self.buffer.insert(position, Queued { ticket, item });
        }
        None
    }

    /// See [`Exchange::requeue_front`]; returns the items if takes are closed.
    pub(crate) fn requeue_front(&mut self, items: Vec<T>) -> Vec<T> {
        if self.takes_closed {
            return items;
        }
        let mut items = items.into_iter();
        let mut kept = Vec::new();
        for item in items.by_ref() {
            if let Err(item) = self.hand_to_taker(FRONT_TICKET, item) {
                kept.push(item);
                break;
            }
        }
        kept.extend(items);
        for item in kept.into_iter().rev() {
            self.buffer.push_front(Queued { ticket: FRONT_TICKET, item });
        }
        Vec::new()
    }

    fn close_offers(&mut self) {
        self.offers_closed = true;
        self.fail_blocked_offers();
        if self.buffer.is_empty() {
            self.fail_blocked_takers();
        }
    }

    /// True once both sides were closed explicitly.
    pub(crate) fn both_closed(&self) -> bool {
        self.offers_closed && self.takes_closed
    }

    /// The [`OnLastClose`] hook, the first time this is asked once both sides are closed.
    fn last_close(&mut self) -> Option<OnLastClose> {
        if self.both_closed() {
            self.on_last_close.take()
        } else {
            None
        }
    }

    /// Returns the dropped buffer, for the caller to drop outside the lock.
    fn close_takes(&mut self) -> Vec<T> {
        self.takes_closed = true;
        let dropped = self.buffer.drain(..).map(|queued| queued.item).collect();
        self.fail_blocked_offers();
        self.fail_blocked_takers();
        dropped
    }

    /// Wakes every blocked producer with its item and the closed outcome. Producers already
    /// giving up stay listed: they collect their items themselves.
    fn fail_blocked_offers(&mut self) {
        for offer in self.offers.iter_mut() {
            let item = offer.item.take();
            if let Err(Outcome::Closed(item)) = offer.at.waiter.complete(offer.at.case, Outcome::Closed(item)) {
                offer.item = item;
            }
        }
        self.offers.retain(|offer| offer.item.is_some());
    }

    fn fail_blocked_takers(&mut self) {
        for taker in self.takers.drain(..) {
            let _ = taker.waiter.complete(taker.case, Outcome::Closed(None));
        }
    }
}
