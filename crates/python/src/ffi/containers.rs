//! Reading and building, item by item, the containers that cross natively (list, dict, set,
//! frozenset, tuple, bytearray) and complex numbers: what the structured-data walk needs. Every
//! reader here is for objects of exactly that type (the caller checked [`Ref::kind`]), whose
//! contents no Python code can change during the walk: it runs none.

use std::ptr::NonNull;

use pyo3_ffi as sys;

use super::error::{clear_error, PyResult, Raised};
use super::object::{Owned, Ref};

impl<'a> Ref<'a> {
    /// True if this is the only reference to the object (besides borrowed ones): then nothing
    /// else can reach it, e.g. no second path within a value being walked.
    pub(crate) fn is_uniquely_referenced(self) -> bool {
        // SAFETY: live object; reads its reference count (immortal objects report a huge one).
        unsafe { sys::Py_REFCNT(self.as_ptr()) == 1 }
    }

    /// Number of items of an exact list.
    pub(crate) fn list_len(self) -> usize {
        // SAFETY: an exact list (caller's contract, checked by kind()); reads its size field.
        unsafe { sys::PyList_GET_SIZE(self.as_ptr()) as usize }
    }

    /// Item `index` of an exact list, borrowed from it.
    pub(crate) fn list_item(self, index: usize) -> Ref<'a> {
        debug_assert!(index < self.list_len());
        // SAFETY: an exact list and an index in bounds (caller); a list item is never NULL once
        // the list is visible to Python code, and lives as long as the list while nothing runs.
        unsafe { Ref::from_ptr(sys::PyList_GET_ITEM(self.as_ptr(), index as sys::Py_ssize_t)) }
    }

    /// Number of items of an exact tuple.
    pub(crate) fn tuple_len(self) -> usize {
        // SAFETY: an exact tuple (caller's contract); reads its size field.
        unsafe { sys::PyTuple_GET_SIZE(self.as_ptr()) as usize }
    }

    /// Item `index` of an exact tuple, borrowed from it.
    pub(crate) fn tuple_item(self, index: usize) -> Ref<'a> {
        debug_assert!(index < self.tuple_len());
        // SAFETY: an exact tuple and an index in bounds (caller); tuple items live with it.
        unsafe { Ref::from_ptr(sys::PyTuple_GET_ITEM(self.as_ptr(), index as sys::Py_ssize_t)) }
    }

    /// Number of entries of a dict.
    pub(crate) fn dict_len(self) -> usize {
        // SAFETY: a dict (caller's contract); PyDict_Size never fails on one.
        unsafe { sys::PyDict_Size(self.as_ptr()) as usize }
    }

    /// The (key, value) pairs of a dict, in order, borrowed from it.
    pub(crate) fn dict_pairs(self) -> DictPairs<'a> {
        DictPairs { dict: self, position: 0 }
    }

    /// Number of items of a set or frozenset.
    pub(crate) fn set_len(self) -> usize {
        // SAFETY: a set or frozenset (caller's contract); PySet_Size never fails on one.
        unsafe { sys::PySet_Size(self.as_ptr()) as usize }
    }

    /// An iterator over a set or frozenset (items are new references).
    pub(crate) fn set_items(self) -> PyResult<Owned> {
        self.iterate()
    }

    /// The real and imaginary parts of an exact complex.
    pub(crate) fn complex_parts(self) -> (f64, f64) {
        // SAFETY: an exact complex (caller's contract): both accessors read fields and cannot fail.
        unsafe { (sys::PyComplex_RealAsDouble(self.as_ptr()), sys::PyComplex_ImagAsDouble(self.as_ptr())) }
    }

    /// The contents of an exact bytearray, borrowed (valid while nothing resizes it: nothing runs).
    pub(crate) fn bytearray_data(self) -> &'a [u8] {
        // SAFETY: an exact bytearray (caller's contract); its buffer holds `size` bytes.
        unsafe {
            let size = sys::PyByteArray_Size(self.as_ptr()) as usize;
            if size == 0 {
                return &[];
            }
            std::slice::from_raw_parts(sys::PyByteArray_AsString(self.as_ptr()).cast::<u8>(), size)
        }
    }

    /// The UTF-8 bytes of a str when it has no lone surrogates (`None` when it has: the caller
    /// then uses [`Ref::str_utf8_surrogatepass`]). Borrowed: CPython caches them in the object.
    pub(crate) fn str_utf8_strict(self) -> Option<&'a [u8]> {
        let mut size: sys::Py_ssize_t = 0;
        // SAFETY: a live str; returns a pointer into the object's cached UTF-8 or null with an
        // exception set (lone surrogates), which we clear: absence is the answer.
        let data = unsafe { sys::PyUnicode_AsUTF8AndSize(self.as_ptr(), &mut size) };
        if data.is_null() {
            clear_error();
            return None;
        }
        // SAFETY: CPython guarantees `size` valid bytes at `data`, living as long as the str.
        Some(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) })
    }
}

/// Iterator over a dict's pairs (see [`Ref::dict_pairs`]).
pub(crate) struct DictPairs<'a> {
    dict: Ref<'a>,
    position: sys::Py_ssize_t,
}

impl<'a> Iterator for DictPairs<'a> {
    type Item = (Ref<'a>, Ref<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut key: *mut sys::PyObject = std::ptr::null_mut();
        let mut value: *mut sys::PyObject = std::ptr::null_mut();
        // SAFETY: a dict nobody changes during the walk (no Python code runs); the borrowed key
        // and value live as long as the dict does.
        unsafe {
            if sys::PyDict_Next(self.dict.as_ptr(), &mut self.position, &mut key, &mut value) == 0 {
                return None;
            }
            Some((Ref::from_ptr(key), Ref::from_ptr(value)))
        }
    }
}

/// A list or tuple of known length, filled in order; the object exists (and may be referred to,
/// e.g. by a cycle) before it is complete.
pub(crate) struct Filling {
    seq: Owned,
    next: usize,
    len: usize,
    tuple: bool,
}

impl Filling {
    /// A new list of `len` items, to be filled.
    pub(crate) fn list(len: usize) -> PyResult<Filling> {
        // SAFETY: returns a new list with `len` NULL slots, or null with MemoryError set.
        let seq = unsafe { Owned::from_new(sys::PyList_New(len as sys::Py_ssize_t))? };
        Ok(Filling { seq, next: 0, len, tuple: false })
    }

    /// A new tuple of `len` items, to be filled.
    pub(crate) fn tuple(len: usize) -> PyResult<Filling> {
        // SAFETY: returns a new tuple with `len` NULL slots, or null with MemoryError set.
        let seq = unsafe { Owned::from_new(sys::PyTuple_New(len as sys::Py_ssize_t))? };
        Ok(Filling { seq, next: 0, len, tuple: true })
    }

    /// The object being filled.
    pub(crate) fn as_ref(&self) -> Ref<'_> {
        self.seq.as_ref()
    }

    /// Sets the next item (more than `len` is a bug: the item is dropped and SystemError raised).
    pub(crate) fn push(&mut self, item: Owned) -> PyResult<()> {
        if self.next >= self.len {
            return Err(super::error::raise(
                super::error::builtin(super::error::Builtin::SystemError),
                "too many items",
            ));
        }
        // SAFETY: a fresh list or tuple we own, an index in bounds whose slot is still NULL; the
        // SET_ITEM macros steal the reference.
        unsafe {
            if self.tuple {
                sys::PyTuple_SET_ITEM(self.seq.as_ptr(), self.next as sys::Py_ssize_t, item.into_raw());
            } else {
                sys::PyList_SET_ITEM(self.seq.as_ptr(), self.next as sys::Py_ssize_t, item.into_raw());
            }
        }
        self.next += 1;
        Ok(())
    }

    /// The complete object (a short one is a bug: SystemError).
    pub(crate) fn finish(self) -> PyResult<Owned> {
        if self.next != self.len {
            // Unfilled slots are NULL: list and tuple deallocation skips them.
            return Err(super::error::raise(
                super::error::builtin(super::error::Builtin::SystemError),
                "missing items",
            ));
        }
        Ok(self.seq)
    }
}

/// The lists and tuples one build is filling, innermost last, by address (no reference is
/// taken: this runs once per list of a build): each is owned by its [`Filling`], which the
/// build keeps until after removing it here. Hidden from the collector while the build lets
/// other threads run ([`GcPaused::let_others_run`]).
pub(crate) struct Unfinished(Vec<NonNull<sys::PyObject>>);

impl Unfinished {
    pub(crate) fn new() -> Unfinished {
        Unfinished(Vec::new())
    }

    /// Lists `seq` (innermost) until the matching [`Unfinished::pop`].
    ///
    /// # Safety
    /// `seq`'s object stays alive until then: its `Filling` is neither finished nor dropped
    /// before the pop.
    pub(crate) unsafe fn push(&mut self, seq: &Filling) {
        // SAFETY: an owned object's pointer is never null.
        self.0.push(unsafe { NonNull::new_unchecked(seq.seq.as_ptr()) });
    }

    /// Removes the innermost sequence listed.
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
}

/// A new empty dict.
pub(crate) fn new_dict() -> PyResult<Owned> {
    // SAFETY: returns a new dict or null with MemoryError set.
    unsafe { Owned::from_new(sys::PyDict_New()) }
}

/// A new empty set, or frozenset (to be filled with [`set_add`] before anyone else sees it).
pub(crate) fn new_set(frozen: bool) -> PyResult<Owned> {
    // SAFETY: NULL iterable makes an empty (frozen)set; returns a new reference or null.
    unsafe {
        Owned::from_new(if frozen {
            sys::PyFrozenSet_New(std::ptr::null_mut())
        } else {
            sys::PySet_New(std::ptr::null_mut())
        })
    }
}

/// Adds `item` to a set, or to a frozenset nobody else sees yet (what PySet_Add allows).
pub(crate) fn set_add(set: Ref<'_>, item: Ref<'_>) -> PyResult<()> {
    // SAFETY: live objects; returns -1 with an exception set (e.g. an unhashable item).
    if unsafe { sys::PySet_Add(set.as_ptr(), item.as_ptr()) } < 0 {
        return Err(Raised::ALREADY);
    }
    Ok(())
}

/// A complex number.
pub(crate) fn complex_from(real: f64, imag: f64) -> PyResult<Owned> {
    // SAFETY: returns a new reference or null with MemoryError set.
    unsafe { Owned::from_new(sys::PyComplex_FromDoubles(real, imag)) }
}

/// A bytearray holding a copy of `data`.
pub(crate) fn bytearray_from(data: &[u8]) -> PyResult<Owned> {
    // SAFETY: `data` is readable for its length; returns a new reference or null.
    unsafe { Owned::from_new(sys::PyByteArray_FromStringAndSize(data.as_ptr().cast(), data.len() as sys::Py_ssize_t)) }
}

/// A str from valid UTF-8 (strict decoding: UnicodeDecodeError otherwise).
pub(crate) fn str_from_utf8(data: &[u8]) -> PyResult<Owned> {
    // SAFETY: `data` is readable for its length; returns a new reference or null.
    unsafe { Owned::from_new(sys::PyUnicode_FromStringAndSize(data.as_ptr().cast(), data.len() as sys::Py_ssize_t)) }
}

/// The cyclic garbage collector of the current interpreter paused while this value lives
/// (restored to what it was when dropped). Building thousands of containers at once would
/// otherwise run a collection every few hundred of them, each walking what was built so far:
/// on a list of records that is a sixth of the build's time.
pub(crate) struct GcPaused {
    was_enabled: bool,
}

impl GcPaused {
    pub(crate) fn new() -> GcPaused {
        // SAFETY: the thread is attached; PyGC_Disable returns the previous state.
        GcPaused { was_enabled: unsafe { sys::PyGC_Disable() } != 0 }
    }
}

impl GcPaused {
    /// Runs `f`, which lets other threads of this interpreter run (see [`super::give_way`]),
    /// with `unfinished` — lists and tuples being filled, whose empty slots are NULL — out of
    /// the collector's sight: `gc.get_objects()`, `gc.get_referrers()` or a collection in
    /// another thread must not reach a NULL slot. Each is tracked again afterwards (if it was).
    /// The collector runs meanwhile if it ran before the build, and what other threads decide
    /// about it meanwhile (`gc.enable()`, `gc.disable()`) is what is restored on drop.
    ///
    /// # Safety
    /// No object reachable from Python (anything tracked, or known to other code) refers to a
    /// listed sequence: only the builder reaches them.
    pub(crate) unsafe fn let_others_run<R>(&mut self, unfinished: &Unfinished, f: impl FnOnce() -> R) -> R {
        let hidden: Vec<bool> = unfinished
            .0
            .iter()
            .map(|seq| {
                // SAFETY: live objects (`Unfinished::push`'s contract) of GC-aware types;
                // untracking a tracked object is always allowed; nothing else reaches it
                // (function contract), so nothing sees it untracked.
                unsafe {
                    let tracked = sys::PyObject_GC_IsTracked(seq.as_ptr()) == 1;
                    if tracked {
                        sys::PyObject_GC_UnTrack(seq.as_ptr().cast());
                    }
                    tracked
                }
            })
            .collect();
        if self.was_enabled {
            // SAFETY: attached, to the interpreter whose collector this paused.
            unsafe { sys::PyGC_Enable() };
        }
        let result = f();
        // SAFETY: attached again, to the same interpreter; the state found is what other threads
        // left (a gc.disable() or gc.enable() made meanwhile), restored on drop.
        self.was_enabled = unsafe { sys::PyGC_Disable() } != 0;
        for (seq, _) in unfinished.0.iter().zip(hidden).filter(|(_, tracked)| *tracked) {
            // SAFETY: alive (as above), untracked above, and nothing can track it again (only
            // its builder could reach it); a GC-aware type.
            unsafe { sys::PyObject_GC_Track(seq.as_ptr().cast()) };
        }
        result
    }
}

impl Drop for GcPaused {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: still attached to the interpreter that made this value (it is !Send).
            unsafe { sys::PyGC_Enable() };
        }
    }
}
