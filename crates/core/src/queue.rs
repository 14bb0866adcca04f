//! Buffered queues shared by any number of producers and consumers in any interpreters.
//!
//! A queue is an [`Exchange`](crate::exchange) with a capacity (`maxsize`, 0 for unbounded):
//! `put` buffers its item, or — when the queue is full — parks until there is room; `get` takes
//! the oldest item or parks until one arrives. `close` stops puts; gets drain what is queued and
//! then fail. Each [`QueueHandle`] counts toward the queue: when the last one is gone the queue's
//! items are dropped and the exchange tells whoever listed the queue (its `OnLastClose` hook).

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use crate::error::{RecvError, SendError, TryRecvError};
use crate::exchange::{Exchange, OfferKind, Offered, OnLastClose, Taken, FRONT_TICKET};
use crate::pending::{finish_offer, finish_take, start_offer, start_take, RecvStart, SendStart};
use crate::select::Case;
use crate::sync::{Arc, AtomicUsize};
use crate::waiter::Notify;
use std::sync::atomic::Ordering;

/// The shared state of one queue. Reach it through [`QueueHandle`]s.
pub struct Queue<T> {
    id: u64,
    maxsize: usize,
    strict: bool,
    /// The binding's default for what a get returns once an item's putter is gone (CPython's
    /// `unbounditems`), kept with the queue so every handle reports it. Items here never depend
    /// on their putter, so the core only stores it.
    unbound_default: u8,
    /// Shared with the operations parked on it.
    pub(crate) exchange: Arc<Exchange<T>>,
    /// Live handles; the queue is freed when this drops to zero.
    handles: AtomicUsize,
}

impl<T> Queue<T> {
    /// An open queue (with no handles yet); `on_last_close` runs once its last handle is gone.
    pub(crate) fn new(
        id: u64,
        maxsize: usize,
        strict: bool,
        unbound_default: u8,
        on_last_close: Option<OnLastClose>,
    ) -> Self {
        let capacity = (maxsize > 0).then_some(maxsize);
        Queue {
            id,
            maxsize,
            strict,
            unbound_default,
            exchange: Arc::new(Exchange::new(capacity, on_last_close)),
            handles: AtomicUsize::new(0),
        }
    }

    /// Closes the queue: later puts fail, blocked puts get their items back, gets drain what is
    /// queued and then fail.
    pub fn close(&self) {
        self.exchange.close_offers();
    }

    /// The last handle is gone: drop the items. Takes close only here, so this is always the
    /// last close (which runs the exchange's `OnLastClose` hook).
    fn free(&self) {
        self.exchange.close_offers();
        self.exchange.close_takes();
    }
}

/// Creates a queue outside any registry (id 0). Most callers want
/// [`QueueRegistry::create`](crate::registry::QueueRegistry::create).
pub fn queue<T>(maxsize: usize) -> QueueHandle<T> {
    QueueHandle::new(Arc::new(Queue::new(0, maxsize, false, 0, None)))
}

/// A handle on a queue.
pub struct QueueHandle<T> {
    queue: Arc<Queue<T>>,
}

impl<T> QueueHandle<T> {
    /// A new handle on `queue`.
    pub fn new(queue: Arc<Queue<T>>) -> Self {
        queue.handles.fetch_add(1, Ordering::Relaxed);
        QueueHandle { queue }
    }

    /// A new handle on a listed `queue`, unless its last handle is already gone (it is being
    /// freed and is about to leave the list): a freed queue must not come back.
    pub(crate) fn revive(queue: Arc<Queue<T>>) -> Option<Self> {
        let mut count = queue.handles.load(Ordering::Relaxed);
        loop {
            if count == 0 {
                return None;
            }
            match queue.handles.compare_exchange_weak(count, count + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(QueueHandle { queue }),
                Err(now) => count = now,
            }
        }
    }

    /// The queue this handle reaches.
    pub fn queue(&self) -> &Arc<Queue<T>> {
        &self.queue
    }

    /// The queue's id.
    pub fn id(&self) -> u64 {
        self.queue.id
    }

    /// Most items the queue holds (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.queue.maxsize
    }

    /// The flag given at creation (the binding's "refuse what cannot cross natively").
    pub fn is_strict(&self) -> bool {
        self.queue.strict
    }

    /// The binding's `unbounditems` default given at creation.
    pub fn unbound_default(&self) -> u8 {
        self.queue.unbound_default
    }

    /// Puts `item` if there is room now; `Err(Withdrawn(item))` if the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<(), SendError<T>> {
        match self.queue.exchange.lock().offer(item, OfferKind::Buffered) {
            Offered::Delivered | Offered::Buffered => Ok(()),
            Offered::NotNow(item) => Err(SendError::Withdrawn(item)),
            Offered::Closed(item) => Err(SendError::Closed(item)),
        }
    }

    /// Puts as many items from the front of `items` as there is room for now, in order, and
    /// returns how many. `Err(Closed)` (with nothing taken from `items`) if the queue is closed.
    pub fn put_many_nowait(&self, items: &mut VecDeque<T>) -> Result<usize, SendError<()>> {
        self.queue.exchange.lock().offer_many(items, OfferKind::Buffered).map_err(|()| SendError::Closed(()))
    }

    /// Starts a put: done at once if there is room, or parked until there is, the queue closes,
    /// or the returned [`PendingSend`](crate::PendingSend) is cancelled.
    pub fn start_put(&self, item: T) -> Result<SendStart<T>, SendError<T>> {
        start_offer(&self.queue.exchange, item, OfferKind::Buffered, None)
    }

    /// As [`start_put`](Self::start_put); a parked put also calls `notify` when it completes.
    pub fn start_put_notified(&self, item: T, notify: Notify) -> Result<SendStart<T>, SendError<T>> {
        start_offer(&self.queue.exchange, item, OfferKind::Buffered, Some(notify))
    }

    /// Puts `item`, waiting for room until `deadline` (`None`: for ever).
    pub fn put(&self, item: T, deadline: Option<Instant>) -> Result<(), SendError<T>> {
        finish_offer(self.start_put(item)?, deadline)
    }

    /// A [`select`](crate::select) case that puts `item` as [`put`](Self::put) does.
    pub fn put_case(&self, item: T) -> Case<'_, T> {
        Case::offer(&self.queue.exchange, item, OfferKind::Buffered)
    }

    /// Takes the oldest item if there is one.
    pub fn try_get(&self) -> Result<T, TryRecvError> {
        match self.queue.exchange.lock().take() {
            Taken::Item(item) => Ok(item),
            Taken::NotNow => Err(TryRecvError::Empty),
            Taken::Closed => Err(TryRecvError::Closed),
        }
    }

    /// Takes up to `max` items that are ready now, oldest first. `Err(Empty)` if none is,
    /// `Err(Closed)` if the queue is closed and drained.
    pub fn get_many_nowait(&self, max: usize) -> Result<Vec<T>, TryRecvError> {
        let mut items = Vec::new();
        match self.queue.exchange.lock().take_many(max, &mut items) {
            Taken::Item(()) => Ok(items),
            Taken::NotNow => Err(TryRecvError::Empty),
            Taken::Closed => Err(TryRecvError::Closed),
        }
    }

    /// Takes the oldest item, or parks until one arrives, the queue closes and drains, or the
    /// returned [`PendingRecv`](crate::PendingRecv) is cancelled.
    pub fn start_get(&self) -> Result<RecvStart<T>, RecvError> {
        start_take(&self.queue.exchange, None)
    }

    /// As [`start_get`](Self::start_get); a parked get also calls `notify` when it completes.
    pub fn start_get_notified(&self, notify: Notify) -> Result<RecvStart<T>, RecvError> {
        start_take(&self.queue.exchange, Some(notify))
    }

    /// Takes the oldest item, waiting until `deadline` (`None`: for ever).
    pub fn get(&self, deadline: Option<Instant>) -> Result<T, RecvError> {
        finish_take(self.start_get()?, deadline)
    }

    /// A [`select`](crate::select) case that gets as [`get`](Self::get) does.
    pub fn get_case(&self) -> Case<'_, T> {
        Case::take(&self.queue.exchange)
    }

    /// Puts back an item taken from this queue that could not be delivered after all, in front
    /// of all others.
    pub fn put_back(&self, item: T) {
        self.queue.exchange.requeue(FRONT_TICKET, item);
    }

    /// Puts back items taken from this queue that could not be delivered after all, in front of
    /// all others and in their order (a waiting getter gets the first).
    pub fn put_back_many(&self, items: Vec<T>) {
        self.queue.exchange.requeue_front(items);
    }

    /// Closes the queue (see [`Queue::close`]).
    pub fn close(&self) {
        self.queue.close();
    }

    /// True once the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.queue.exchange.lock().offers_closed()
    }

    /// Number of items queued (not counting blocked puts).
    pub fn qsize(&self) -> usize {
        self.queue.exchange.lock().buffered()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when the queue holds `maxsize` items (never for an unbounded queue).
    pub fn is_full(&self) -> bool {
        self.queue.exchange.lock().is_full()
    }
}

impl<T> Clone for QueueHandle<T> {
    fn clone(&self) -> Self {
        QueueHandle::new(self.queue.clone())
    }
}

impl<T> Drop for QueueHandle<T> {
    fn drop(&mut self) {
        if self.queue.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.queue.free();
        }
    }
}

impl<T> PartialEq for QueueHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.queue, &other.queue)
    }
}

impl<T> fmt::Debug for QueueHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueHandle({})", self.queue.id)
    }
}
