//! Buffers lent across interpreters without a copy (`SendChannel.send_buffer`).
//!
//! The sender's interpreter acquires the exporter's buffer and wraps it in a [`BufferLease`]: the
//! address and layout of the memory, the interpreter that owns it, and the binding's `release`
//! action, which gives the buffer back in the owner's interpreter. The lease travels as a payload;
//! a receiving interpreter shows it as a read-only memoryview and reports itself as a *holder*
//! while it does. When the last reference to the lease goes (the view released, or the item
//! dropped unreceived), `release` runs once.
//!
//! The [`LeaseTable`] lists live leases with their owners and holders, so that closing an
//! interpreter whose memory another interpreter still views is refused instead of leaving that
//! view dangling.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::shared_memory::ArrayLayout;

/// Gives a lent buffer back to its owner; run once, from whatever thread drops the last
/// reference (the binding switches to the owner's interpreter itself).
pub type ReleaseFn = Box<dyn FnOnce() + Send>;

/// A buffer of interpreter `owner`, lent to others until dropped.
pub struct BufferLease {
    id: u64,
    owner: i64,
    address: usize,
    layout: ArrayLayout,
    /// Whether holders may write through their views (a lent writable memoryview); otherwise
    /// they are read-only.
    writable: bool,
    release: Mutex<Option<ReleaseFn>>,
    table: Weak<TableInner>,
}

impl BufferLease {
    /// The owner's interpreter id.
    pub fn owner(&self) -> i64 {
        self.owner
    }

    /// Address of the buffer's first byte, as the exporter reported it.
    pub fn address(&self) -> usize {
        self.address
    }

    /// Format, item size, shape and strides, as the exporter reported them.
    pub fn layout(&self) -> &ArrayLayout {
        &self.layout
    }

    /// Whether holders may write through their views.
    pub fn writable(&self) -> bool {
        self.writable
    }
}

impl Drop for BufferLease {
    fn drop(&mut self) {
        let release = self.release.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(release) = release {
            release();
        }
        // Unlisted only once released: a close that sees no lease of its interpreter can go on.
        if let Some(table) = self.table.upgrade() {
            table.lock_entries().remove(&self.id);
        }
    }
}

impl std::fmt::Debug for BufferLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferLease")
            .field("owner", &self.owner)
            .field("address", &self.address)
            .field("layout", &self.layout)
            .finish()
    }
}

/// Who keeps a close of a buffer's owner from going ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseHolder {
    /// Another interpreter holds a view of the buffer.
    Interpreter(i64),
    /// The buffer is in a channel, not received yet.
    InFlight,
}

struct Entry {
    owner: i64,
    lease: Weak<BufferLease>,
    /// Interpreters holding a view now (one entry per view object).
    holders: Vec<i64>,
}

type TableInner = Mutex<BTreeMap<u64, Entry>>;

/// Every live lease, by id.
pub struct LeaseTable {
    inner: Arc<TableInner>,
    next_id: AtomicU64,
}

impl Default for LeaseTable {
    fn default() -> Self {
        Self::new()
    }
}

impl LeaseTable {
    /// An empty table.
    pub fn new() -> Self {
        LeaseTable { inner: Arc::new(Mutex::new(BTreeMap::new())), next_id: AtomicU64::new(1) }
    }

    /// Lists a new lease of the buffer at `address` owned by interpreter `owner` (`writable`:
    /// holders may write through it); `release` runs when the last reference to it goes.
    pub fn lend(
        &self,
        owner: i64,
        address: usize,
        layout: ArrayLayout,
        writable: bool,
        release: ReleaseFn,
    ) -> Arc<BufferLease> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let lease = Arc::new(BufferLease {
            id,
            owner,
            address,
            layout,
            writable,
            release: Mutex::new(Some(release)),
            table: Arc::downgrade(&self.inner),
        });
        self.inner.lock_entries().insert(id, Entry { owner, lease: Arc::downgrade(&lease), holders: Vec::new() });
        lease
    }

    /// Gives up on releasing the live leases of interpreter `owner`, which is about to end
    /// regardless (the exit hook, when views of its memory remain): their release actions are
    /// forgotten, never run, since the interpreter they would enter will be gone. Returns how
    /// many there were.
    pub fn abandon_all_of(&self, owner: i64) -> usize {
        let leases: Vec<Arc<BufferLease>> = self
            .inner
            .lock_entries()
            .values()
            .filter(|entry| entry.owner == owner)
            .filter_map(|entry| entry.lease.upgrade())
            .collect();
        for lease in &leases {
            let release = lease.release.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            std::mem::forget(release);
        }
        let count = leases.len();
        // Dropped outside the table's lock: a last reference unlists its lease.
        drop(leases);
        // Entries whose lease is already gone are releases in progress (run by another thread,
        // about to enter `owner`): they stay listed until done, so `owner` is not ended under them.
        let mut entries = self.inner.lock_entries();
        entries.retain(|_, entry| entry.owner != owner || entry.lease.strong_count() == 0);
        count
    }

    /// Interpreter `holder` now shows `lease` as a view.
    pub fn hold(&self, lease: &BufferLease, holder: i64) {
        if let Some(entry) = self.inner.lock_entries().get_mut(&lease.id) {
            entry.holders.push(holder);
        }
    }

    /// Interpreter `holder` no longer shows `lease` (one view of it went).
    pub fn unhold(&self, lease: &BufferLease, holder: i64) {
        if let Some(entry) = self.inner.lock_entries().get_mut(&lease.id) {
            if let Some(position) = entry.holders.iter().position(|&h| h == holder) {
                entry.holders.swap_remove(position);
            }
        }
    }

    /// Something that keeps interpreter `owner` from being closed: another interpreter viewing
    /// one of its buffers, or one of its buffers still in a channel. Views held by `owner`
    /// itself do not count: they go with it.
    pub fn blocking_close_of(&self, owner: i64) -> Option<LeaseHolder> {
        let entries = self.inner.lock_entries();
        let mut in_flight = false;
        for entry in entries.values().filter(|entry| entry.owner == owner) {
            if let Some(&other) = entry.holders.iter().find(|&&holder| holder != owner) {
                return Some(LeaseHolder::Interpreter(other));
            }
            in_flight |= entry.holders.is_empty();
        }
        in_flight.then_some(LeaseHolder::InFlight)
    }

    /// Number of live leases.
    pub fn len(&self) -> usize {
        self.inner.lock_entries().len()
    }

    /// True when no lease is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

trait LockEntries {
    fn lock_entries(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>>;
}

impl LockEntries for TableInner {
    fn lock_entries(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
