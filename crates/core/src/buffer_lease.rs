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
//! view dangling. The table keeps each lease's `release` too, so that the exit hook can abandon
//! the releases of an interpreter about to end without reaching the leases themselves: a release
//! is taken from the table exactly once, to be run (by the lease's last reference) or forgotten
//! (by [`LeaseTable::abandon_all_of`]), under the table's lock.

use std::collections::BTreeMap;

use crate::shared_memory::ArrayLayout;
use crate::sync::{lock, Arc, Mutex};

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
    /// The table that holds the lease's release and lists it until released (strong: the table
    /// never points back at a lease, so no cycle).
    table: Arc<TableInner>,
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
        // Taken, not removed: the entry stays listed (as a release in progress) while it runs.
        let release = lock(&self.table).entries.get_mut(&self.id).and_then(|entry| entry.release.take());
        if let Some(release) = release {
            release();
        }
        // Unlisted only once released: a close that sees no lease of its interpreter can go on.
        lock(&self.table).entries.remove(&self.id);
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
    /// The lease's release action, until it is taken to be run (the lease's last reference went:
    /// the release is in progress) or forgotten (abandoned, with the entry).
    release: Option<ReleaseFn>,
    /// Interpreters holding a view now (one entry per view object).
    holders: Vec<i64>,
}

struct Leases {
    next_id: u64,
    entries: BTreeMap<u64, Entry>,
}

type TableInner = Mutex<Leases>;

/// Every live lease, by id.
pub struct LeaseTable {
    inner: Arc<TableInner>,
}

impl Default for LeaseTable {
    fn default() -> Self {
        Self::new()
    }
}

impl LeaseTable {
    /// An empty table.
    pub fn new() -> Self {
        LeaseTable { inner: Arc::new(Mutex::new(Leases { next_id: 1, entries: BTreeMap::new() })) }
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
        let mut leases = lock(&self.inner);
        let id = leases.next_id;
        leases.next_id += 1;
        leases.entries.insert(id, Entry { owner, release: Some(release), holders: Vec::new() });
        drop(leases);
        Arc::new(BufferLease { id, owner, address, layout, writable, table: self.inner.clone() })
    }

    /// Gives up on releasing the live leases of interpreter `owner`, which is about to end
    /// regardless (the exit hook, when views of its memory remain): their release actions are
    /// forgotten, never run, since the interpreter they would enter will be gone. Returns how
    /// many there were.
    pub fn abandon_all_of(&self, owner: i64) -> usize {
        let mut leases = lock(&self.inner);
        let mut count = 0;
        // Entries whose release was taken already are releases in progress (run by another
        // thread, about to enter `owner`): they stay listed until done, so `owner` is not ended
        // under them. The others go, their releases forgotten.
        leases.entries.retain(|_, entry| {
            if entry.owner != owner {
                return true;
            }
            match entry.release.take() {
                Some(release) => {
                    std::mem::forget(release);
                    count += 1;
                    false
                }
                None => true,
            }
        });
        count
    }

    /// Interpreter `holder` now shows `lease` as a view.
    pub fn hold(&self, lease: &BufferLease, holder: i64) {
        if let Some(entry) = lock(&self.inner).entries.get_mut(&lease.id) {
            entry.holders.push(holder);
        }
    }

    /// Interpreter `holder` no longer shows `lease` (one view of it went).
    pub fn unhold(&self, lease: &BufferLease, holder: i64) {
        if let Some(entry) = lock(&self.inner).entries.get_mut(&lease.id) {
            if let Some(position) = entry.holders.iter().position(|&h| h == holder) {
                entry.holders.swap_remove(position);
            }
        }
    }

    /// Something that keeps interpreter `owner` from being closed: another interpreter viewing
    /// one of its buffers, or one of its buffers still in a channel. Views held by `owner`
    /// itself do not count: they go with it.
    pub fn blocking_close_of(&self, owner: i64) -> Option<LeaseHolder> {
        let leases = lock(&self.inner);
        let mut in_flight = false;
        for entry in leases.entries.values().filter(|entry| entry.owner == owner) {
            if let Some(&other) = entry.holders.iter().find(|&&holder| holder != owner) {
                return Some(LeaseHolder::Interpreter(other));
            }
            in_flight |= entry.holders.is_empty();
        }
        in_flight.then_some(LeaseHolder::InFlight)
    }

    /// Number of live leases.
    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    /// True when no lease is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
