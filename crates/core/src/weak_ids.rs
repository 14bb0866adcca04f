//! Process-wide ids for shared objects that live elsewhere, held weakly: what lets a handle be
//! pickled (its id crosses as bytes) and unpickled into a handle on the same object while the
//! object lives, without the table keeping anything alive.
//!
//! The table is generic over the weak reference type, so it holds no knowledge of what it
//! refers to; an object is recognised by an identity (its address, and whatever else tells two
//! handles on it apart) while it lives, so asking twice for the same live handle gives the same
//! id.

use std::collections::HashMap;
use std::hash::Hash;

use crate::sync::{lock, Mutex};

/// A weak reference the table can test.
pub trait WeakRef {
    /// What upgrading gives.
    type Strong;
    /// What tells one listed handle from another while it lives (an address, with what else
    /// makes two handles on the same object revive differently).
    type Identity: Copy + Eq + Hash;
    /// The object, if it still lives.
    fn upgrade(&self) -> Option<Self::Strong>;
}

/// Weakly held objects by id (ids start at 1 and are never reused).
pub struct WeakIds<W: WeakRef> {
    inner: Mutex<Inner<W>>,
}

struct Inner<W: WeakRef> {
    next_id: u64,
    by_id: HashMap<u64, (W::Identity, W)>,
    by_identity: HashMap<W::Identity, u64>,
    /// Size at which dead entries are swept out (about twice the live ones).
    sweep_at: usize,
}

const MIN_SWEEP: usize = 64;

impl<W: WeakRef> Default for WeakIds<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WeakRef> WeakIds<W> {
    /// An empty table.
    pub fn new() -> Self {
        WeakIds {
            inner: Mutex::new(Inner {
                next_id: 1,
                by_id: HashMap::new(),
                by_identity: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// The id of the live object whose identity is `identity`, listing it (with the weak
    /// reference `weak` makes) if it is not listed yet.
    pub fn id_of(&self, identity: W::Identity, weak: impl FnOnce() -> W) -> u64 {
        let mut inner = lock(&self.inner);
        if let Some(&id) = inner.by_identity.get(&identity) {
            // The address may belong to a dead object whose memory was reused: check.
            if inner.by_id.get(&id).is_some_and(|(_, listed)| listed.upgrade().is_some()) {
                return id;
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        inner.by_id.insert(id, (identity, weak()));
        inner.by_identity.insert(identity, id);
        if inner.by_id.len() >= inner.sweep_at {
            inner.sweep();
        }
        id
    }

    /// The object listed as `id`, if it still lives.
    pub fn get(&self, id: u64) -> Option<W::Strong> {
        lock(&self.inner).by_id.get(&id).and_then(|(_, weak)| weak.upgrade())
    }

    /// Number of entries (live or not yet swept).
    pub fn len(&self) -> usize {
        lock(&self.inner).by_id.len()
    }

    /// True when nothing is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<W: WeakRef> Inner<W> {
    fn sweep(&mut self) {
        let dead: Vec<(u64, W::Identity)> = self
            .by_id
            .iter()
            .filter(|(_, (_, weak))| weak.upgrade().is_none())
            .map(|(&id, &(identity, _))| (id, identity))
            .collect();
        for (id, identity) in dead {
            self.by_id.remove(&id);
            if self.by_identity.get(&identity) == Some(&id) {
                self.by_identity.remove(&identity);
            }
        }
        self.sweep_at = (2 * self.by_id.len()).max(MIN_SWEEP);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::{Arc, Weak};

    use super::*;

    impl WeakRef for Weak<u32> {
        type Strong = Arc<u32>;
        type Identity = usize;
        fn upgrade(&self) -> Option<Arc<u32>> {
            Weak::upgrade(self)
        }
    }

    fn id_of(table: &WeakIds<Weak<u32>>, value: &Arc<u32>) -> u64 {
        table.id_of(Arc::as_ptr(value) as usize, || Arc::downgrade(value))
    }

    #[test]
    fn the_same_live_object_keeps_its_id_and_comes_back() {
        let table = WeakIds::new();
        let value = Arc::new(7);
        let id = id_of(&table, &value);
        assert_eq!(id_of(&table, &value), id);
        assert!(Arc::ptr_eq(&table.get(id).expect("alive"), &value));
        assert_ne!(id_of(&table, &Arc::new(8)), id);
    }

    #[test]
    fn a_dead_object_is_not_found_and_its_id_is_never_reused() {
        let table = WeakIds::new();
        let value = Arc::new(1);
        let id = id_of(&table, &value);
        drop(value);
        assert!(table.get(id).is_none());
        let other = Arc::new(2);
        assert!(id_of(&table, &other) > id);
    }

    #[test]
    fn dead_entries_are_swept() {
        let table = WeakIds::new();
        let keep = Arc::new(0);
        id_of(&table, &keep);
        for n in 0..1000 {
            id_of(&table, &Arc::new(n));
        }
        assert!(table.len() < 2 * MIN_SWEEP, "{} entries left", table.len());
    }
}
