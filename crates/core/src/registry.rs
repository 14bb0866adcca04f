//! Process-wide lists of live channels and queues, by id: `list_all_channels()`,
//! `list_all_queues()`, and the exit hook's "close everything".
//!
//! A registry holds each entry until the entry's last close (a channel once both of its ends
//! are closed, a queue once its last handle is gone), so an entry's memory goes with its last
//! handle. It hears of that close through the hook it gives the entry's exchange at creation
//! (an `OnLastClose` closure): channels and queues know nothing of registries. The hook holds the
//! list, which holds the entry, which holds the hook: a cycle only while the entry is open, since
//! the last close runs the hook once (unlisting the entry) and drops it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use crate::channel::{Channel, Receiver, Sender};
use crate::exchange::OnLastClose;
use crate::queue::{Queue, QueueHandle};
use crate::sync::{lock, Arc, AtomicU64, Mutex, MutexGuard};

/// Entries of one kind by id (ids start at 1 and are never reused).
pub(crate) struct Registry<E> {
    shared: Arc<Shared<E>>,
}

struct Shared<E> {
    next_id: AtomicU64,
    entries: Mutex<BTreeMap<u64, Arc<E>>>,
}

impl<E> Shared<E> {
    fn entries(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<E>>> {
        lock(&self.entries)
    }

    /// Unlists entry `id` (its last close happened).
    fn remove(&self, id: u64) {
        let removed = self.entries().remove(&id);
        // The entry may hold the last reference to itself here; drop it outside the lock.
        drop(removed);
    }
}

impl<E> Registry<E> {
    fn new() -> Self {
        Registry { shared: Arc::new(Shared { next_id: AtomicU64::new(1), entries: Mutex::new(BTreeMap::new()) }) }
    }

    /// Lists a new entry built by `make` from its fresh id and the hook that unlists it.
    fn insert(&self, make: impl FnOnce(u64, OnLastClose) -> E) -> Arc<E>
    where
        E: Send + Sync + 'static,
    {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let entry = Arc::new(make(id, Box::new(move || shared.remove(id))));
        self.shared.entries().insert(id, entry.clone());
        entry
    }

    fn get(&self, id: u64) -> Option<Arc<E>> {
        self.shared.entries().get(&id).cloned()
    }

    fn snapshot(&self) -> Vec<Arc<E>> {
        self.shared.entries().values().cloned().collect()
    }

    fn len(&self) -> usize {
        self.shared.entries().len()
    }
}

/// Every channel with an open end.
pub struct ChannelRegistry<T> {
    channels: Registry<Channel<T>>,
}

impl<T> Default for ChannelRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ChannelRegistry<T> {
    /// An empty registry.
    pub fn new() -> Self {
        ChannelRegistry { channels: Registry::new() }
    }

    /// Creates a channel with a fresh id and lists it.
    pub fn create(&self) -> (Sender<T>, Receiver<T>)
    where
        T: Send + 'static,
    {
        self.create_with(true)
    }

    /// As [`create`](Self::create), with the binding's `strict` flag kept with the channel.
    pub fn create_with(&self, strict: bool) -> (Sender<T>, Receiver<T>)
    where
        T: Send + 'static,
    {
        let chan = self.channels.insert(|id, on_last_close| Channel::new(id, Some(on_last_close), strict));
        (Sender::new(chan.clone()), Receiver::new(chan))
    }

    /// Channel `id`, if it still has an open end (make handles with [`Sender::new`] and
    /// [`Receiver::new`]; an end that was closed stays closed).
    pub fn get(&self, id: u64) -> Option<Arc<Channel<T>>> {
        self.channels.get(id)
    }

    /// New handles on every channel that still has an open end, in id order.
    pub fn list(&self) -> Vec<(Sender<T>, Receiver<T>)> {
        let channels = self.channels.snapshot();
        channels.into_iter().map(|chan| (Sender::new(chan.clone()), Receiver::new(chan))).collect()
    }

    /// Number of channels with an open end.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// True when no channel has an open end.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes both ends of every listed channel, waking every call blocked on them.
    pub fn close_all(&self) {
        for chan in self.channels.snapshot() {
            chan.close_send();
            chan.close_recv();
        }
    }
}

/// Every queue that has a handle somewhere.
pub struct QueueRegistry<T> {
    queues: Registry<Queue<T>>,
}

impl<T> Default for QueueRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> QueueRegistry<T> {
    /// An empty registry.
    pub fn new() -> Self {
        QueueRegistry { queues: Registry::new() }
    }

    /// Creates a queue holding at most `maxsize` items (0: unbounded) with a fresh id, lists it
    /// and returns its first handle. `strict` is the binding's flag, kept with the queue.
    pub fn create(&self, maxsize: usize, strict: bool) -> QueueHandle<T>
    where
        T: Send + 'static,
    {
        self.create_with(maxsize, strict, 0)
    }

    /// As [`create`](Self::create), keeping the binding's `unbounditems` default with the queue.
    pub fn create_with(&self, maxsize: usize, strict: bool, unbound_default: u8) -> QueueHandle<T>
    where
        T: Send + 'static,
    {
        let queue = self
            .queues
            .insert(|id, on_last_close| Queue::new(id, maxsize, strict, unbound_default, Some(on_last_close)));
        QueueHandle::new(queue)
    }

    /// A new handle on live queue `id`, if there is one.
    pub fn get(&self, id: u64) -> Option<QueueHandle<T>> {
        let queue = self.queues.get(id)?;
        QueueHandle::revive(queue)
    }

    /// New handles on every live queue, in id order.
    pub fn list(&self) -> Vec<QueueHandle<T>> {
        self.queues.snapshot().into_iter().filter_map(QueueHandle::revive).collect()
    }

    /// Number of live queues.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// True when no queue is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every live queue, waking every call blocked on them.
    pub fn close_all(&self) {
        for queue in self.queues.snapshot() {
            queue.close();
        }
    }
}
