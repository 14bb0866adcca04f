//! The process-wide list of open channels: ids, `list_all_channels()`, and shutdown.
//!
//! The registry holds each channel until both of its ends are closed; the channel then removes
//! itself, so its memory goes with its last handle.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Channel, Receiver, Sender};
use crate::sync::Arc;

/// Every open channel of one kind of item, by id.
pub struct ChannelRegistry<T> {
    shared: std::sync::Arc<Shared<T>>,
}

struct Shared<T> {
    next_id: AtomicU64,
    open: std::sync::Mutex<BTreeMap<u64, Arc<Channel<T>>>>,
}

/// A channel's way back to its registry (weak: the registry outlives no channel by force).
pub(crate) struct Listing<T>(std::sync::Weak<Shared<T>>);

impl<T> Listing<T> {
    pub(crate) fn remove(&self, id: u64) {
        if let Some(shared) = self.0.upgrade() {
            let removed = shared.lock_open().remove(&id);
            // The channel may hold the last reference to itself here; drop it outside the lock.
            drop(removed);
        }
    }
}

impl<T> Shared<T> {
    fn lock_open(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Channel<T>>>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<T> Default for ChannelRegistry<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> ChannelRegistry<T> {
    /// An empty registry; ids start at 1.
    pub fn new() -> Self {
        ChannelRegistry {
            shared: std::sync::Arc::new(Shared {
                next_id: AtomicU64::new(1),
                open: std::sync::Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Creates a channel with a fresh id and lists it.
    pub fn create(&self) -> (Sender<T>, Receiver<T>) {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let listing = Listing(std::sync::Arc::downgrade(&self.shared));
        let chan = Arc::new(Channel::new(id, Some(listing)));
        self.shared.lock_open().insert(id, chan.clone());
        (Sender::new(chan.clone()), Receiver::new(chan))
    }

    /// New handles on every channel that still has an open end, in id order.
    pub fn list(&self) -> Vec<(Sender<T>, Receiver<T>)> {
        let channels: Vec<Arc<Channel<T>>> = self.shared.lock_open().values().cloned().collect();
        channels
            .into_iter()
            .map(|chan| (Sender::new(chan.clone()), Receiver::new(chan)))
            .collect()
    }

    /// Number of channels with an open end.
    pub fn len(&self) -> usize {
        self.shared.lock_open().len()
    }

    /// True when no channel has an open end.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes both ends of every listed channel, waking every call blocked on them.
    pub fn close_all(&self) {
        let channels: Vec<Arc<Channel<T>>> = self.shared.lock_open().values().cloned().collect();
        for chan in channels {
            chan.close_send();
            chan.close_recv();
        }
    }
}
