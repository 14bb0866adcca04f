//! Values lent to foreign code (the C API) as plain pointers, which that code may pass back at any
//! time, in any thread, even after giving them up.
//!
//! A slot's memory lives as long as its table (the binding's tables are statics: the whole
//! process), so a pointer given up (or one that is not a slot of this table at all) is recognised
//! by its tag and refused rather than read as freed memory. Slots given up are reused, oldest
//! first, so that a stale pointer is refused for as long as possible; once its slot is reused it
//! reaches the new value (as a stale file descriptor does). Each table has its own tag, so a slot
//! of one table is refused by another. The table lists every slot it made, so none is ever
//! unreachable (a leak checker sees them all), and frees them when it is dropped.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use crate::sync::{lock, AtomicU64, Mutex};

/// The tag of a slot whose value was given up.
const GIVEN_UP: u64 = 0x5349_4445_4144_0000; // "SIDEAD"

/// A table of lent values of type `V`.
pub struct ForeignSlots<V> {
    tag: u64,
    slots: Mutex<Slots<V>>,
}

struct Slots<V> {
    /// Every slot made, each from `Box::into_raw`, freed by the table's drop.
    all: Vec<*mut Slot<V>>,
    /// Slots given up, oldest first.
    free: VecDeque<*mut Slot<V>>,
}

/// One lent value. `#[repr(C)]` puts the tag first, where a check of a foreign pointer reads.
#[repr(C)]
pub struct Slot<V> {
    /// The table's tag while a value is lent, [`GIVEN_UP`] otherwise.
    tag: AtomicU64,
    /// `Some` exactly while the tag is the table's.
    value: UnsafeCell<Option<V>>,
}

// SAFETY: a slot's value is written only by `lend` (before the tag is published, on a slot no one
// else may use) and taken only by the `give_up` that won the tag; between those it is only read.
// Reads from several threads need `V: Sync`; moving the value between threads needs `V: Send`. The
// slot pointers the table keeps are owned by it (its `Box`es), used under its lock.
unsafe impl<V: Send + Sync> Sync for ForeignSlots<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Send for ForeignSlots<V> {}

impl<V: Send + Sync> ForeignSlots<V> {
    /// An empty table whose slots carry `tag` while lent (any value but the given-up one; choose
    /// one unlikely to be found in foreign memory).
    pub fn new(tag: u64) -> Self {
        assert_ne!(tag, GIVEN_UP, "that tag marks slots given up");
        ForeignSlots { tag, slots: Mutex::new(Slots { all: Vec::new(), free: VecDeque::new() }) }
    }

    /// Lends `value`: the pointer foreign code keeps.
    pub fn lend(&self, value: V) -> *const Slot<V> {
        let mut slots = lock(&self.slots);
        let slot = match slots.free.pop_front() {
            Some(slot) => {
                // SAFETY: a slot of this table (alive while it is), given up: no `get` hands out
                // its value and no `give_up` can win its tag, so no one else touches the value.
                unsafe { *(*slot).value.get() = Some(value) };
                slot
            }
            None => {
                let slot = Slot { tag: AtomicU64::new(GIVEN_UP), value: UnsafeCell::new(Some(value)) };
                let slot = Box::into_raw(Box::new(slot));
                slots.all.push(slot);
                slot
            }
        };
        drop(slots);
        // Publishes the value written above.
        // SAFETY: a slot of this table, alive while it is.
        unsafe { &(*slot).tag }.store(self.tag, Ordering::Release);
        slot
    }

    /// The value lent as `ptr`, or `None` if `ptr` is null, misaligned, given up or not a slot
    /// of this table.
    ///
    /// # Safety
    /// - `ptr` is null, or points to at least 8 readable bytes (a slot of a live table always
    ///   does);
    /// - no [`give_up`](Self::give_up) of `ptr` runs, and the table is not dropped, while the
    ///   returned reference is in use (the foreign caller's promise not to use a pointer while
    ///   giving it up; the binding's tables are never dropped).
    pub unsafe fn get<'a>(&self, ptr: *const Slot<V>) -> Option<&'a V> {
        if ptr.is_null() || !ptr.is_aligned() {
            return None;
        }
        // SAFETY: non-null, aligned and readable per the contract; the tag is the first field
        // (repr(C)).
        let tag = unsafe { &(*ptr).tag }.load(Ordering::Acquire);
        if tag != self.tag {
            return None;
        }
        // SAFETY: the tag is this table's, so `ptr` is a slot of this table whose value was
        // published (Acquire above) and stays until a give_up, which the contract rules out.
        unsafe { (*(*ptr).value.get()).as_ref() }
    }

    /// Takes back the value lent as `ptr`; `None` (and nothing happens) if `ptr` is null,
    /// misaligned, given up already or not a slot of this table.
    ///
    /// # Safety
    /// As [`get`](Self::get): `ptr` is null or points to 8 readable bytes, and no reference
    /// `get` returned for it is in use any more.
    pub unsafe fn give_up(&self, ptr: *const Slot<V>) -> Option<V> {
        if ptr.is_null() || !ptr.is_aligned() {
            return None;
        }
        // SAFETY: readable and aligned per the contract.
        let tag = unsafe { &(*ptr).tag };
        // Only one give_up wins a slot, and only one of this table.
        tag.compare_exchange(self.tag, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire).ok()?;
        // SAFETY: the tag was ours, so this is a slot of this table (alive while it is); having
        // won it, this call alone takes the value, and no `get` reference is in use (contract).
        let value = unsafe { (*(*ptr).value.get()).take() };
        lock(&self.slots).free.push_back(ptr.cast_mut());
        value
    }
}

impl<V> Drop for ForeignSlots<V> {
    fn drop(&mut self) {
        for slot in lock(&self.slots).all.drain(..) {
            // SAFETY: made by `Box::into_raw` in `lend`, listed once, freed only here; no pointer
            // is used after the table is gone (the contract of `get` and `give_up`).
            drop(unsafe { Box::from_raw(slot) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_lent_value_is_reached_until_given_up() {
        let table = ForeignSlots::new(0x1234);
        let ptr = table.lend(String::from("x"));
        // SAFETY: `ptr` is a slot; nothing gives it up meanwhile.
        assert_eq!(unsafe { table.get(ptr) }.map(String::as_str), Some("x"));
        // SAFETY: as above; no reference is in use.
        assert_eq!(unsafe { table.give_up(ptr) }.as_deref(), Some("x"));
        // SAFETY: slot memory lives for ever.
        assert_eq!(unsafe { table.get(ptr) }, None);
        // SAFETY: as above.
        assert_eq!(unsafe { table.give_up(ptr) }, None);
    }

    #[test]
    fn foreign_null_and_other_tables_pointers_are_refused() {
        let table = ForeignSlots::<u32>::new(0x1234);
        let other = ForeignSlots::<u32>::new(0x5678);
        let theirs = other.lend(7);
        let zeros = [0u64; 4];
        // SAFETY: null, a slot of another table, and readable memory that is no slot.
        unsafe {
            assert_eq!(table.get(std::ptr::null()), None);
            assert_eq!(table.get(theirs.cast()), None);
            assert_eq!(table.give_up(theirs.cast()), None);
            assert_eq!(table.get(zeros.as_ptr().cast()), None);
        }
        // SAFETY: still lent by `other`.
        assert_eq!(unsafe { other.get(theirs) }, Some(&7));
    }

    #[test]
    fn slots_given_up_are_reused_oldest_first() {
        let table = ForeignSlots::new(0x1234);
        let first = table.lend(1);
        let second = table.lend(2);
        // SAFETY: slots of this table, no reference in use.
        unsafe {
            table.give_up(first);
            table.give_up(second);
        }
        assert_eq!(table.lend(3), first);
        assert_eq!(table.lend(4), second);
    }
}
