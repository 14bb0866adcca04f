//! Identity caches: at most one live Python object per key in an interpreter, so that
//! `Interpreter(id) is get_current()` and `Queue(q.id) is q`, as in CPython's
//! `concurrent.interpreters`. The cache holds weak references only: it keeps nothing alive, and
//! an object that died is simply made again.

use std::cell::Cell;
use std::ffi::c_int;

use pyo3_ffi as sys;

use super::error::PyResult;
use super::object::{Owned, Ref};
use super::values::int_from_i64;

/// A dict `{key: weakref(object)}` of one interpreter.
pub(crate) struct IdentityCache {
    entries: Owned,
    /// Size at which dead entries are swept out (kept at about twice the live entries).
    sweep_at: Cell<isize>,
}

const MIN_SWEEP: isize = 64;

impl IdentityCache {
    pub(crate) fn new() -> PyResult<Self> {
        // SAFETY: returns a new dict or null with an exception set.
        let entries = unsafe { Owned::from_new(sys::PyDict_New())? };
        Ok(IdentityCache { entries, sweep_at: Cell::new(MIN_SWEEP) })
    }

    /// The live object cached under `key`, or the one `make` builds (then cached).
    pub(crate) fn get_or_make(&self, key: i64, make: impl FnOnce() -> PyResult<Owned>) -> PyResult<Owned> {
        let key = int_from_i64(key)?;
        if let Some(found) = self.lookup(key.as_ref())? {
            return Ok(found);
        }
        let obj = make()?;
        self.store(key.as_ref(), obj.as_ref())?;
        Ok(obj)
    }

    /// The live object cached under `key`, if any.
    pub(crate) fn get(&self, key: i64) -> PyResult<Option<Owned>> {
        self.lookup(int_from_i64(key)?.as_ref())
    }

    /// The dict, for the garbage collector's traversal.
    pub(crate) fn as_ref(&self) -> Ref<'_> {
        self.entries.as_ref()
    }

    fn lookup(&self, key: Ref<'_>) -> PyResult<Option<Owned>> {
        // SAFETY: live dict and key; returns a borrowed reference, or null (with an exception set
        // only on error).
        let weak = unsafe { sys::PyDict_GetItemWithError(self.entries.as_ptr(), key.as_ptr()) };
        if weak.is_null() {
            return if super::error::error_is_set() { Err(super::error::Raised::ALREADY) } else { Ok(None) };
        }
        let mut target: *mut sys::PyObject = std::ptr::null_mut();
        // SAFETY: `weak` is a weak reference we stored; PyWeakref_GetRef gives a new strong
        // reference in `target` (null if the object died) and returns -1 only on error.
        if unsafe { sys::compat::PyWeakref_GetRef(weak, &mut target) } < 0 {
            return Err(super::error::Raised::ALREADY);
        }
        if target.is_null() {
            return Ok(None);
        }
        // SAFETY: a new strong reference.
        Ok(Some(unsafe { Owned::from_new(target)? }))
    }

    fn store(&self, key: Ref<'_>, obj: Ref<'_>) -> PyResult<()> {
        // SAFETY: `obj` is live and of a weakly referenceable type; returns a new reference or
        // null with an exception set.
        let weak = unsafe { Owned::from_new(sys::PyWeakref_NewRef(obj.as_ptr(), std::ptr::null_mut()))? };
        super::values::dict_set(self.entries.as_ref(), key, weak.as_ref())?;
        // SAFETY: live dict.
        let len = unsafe { sys::PyDict_Size(self.entries.as_ptr()) };
        if len >= self.sweep_at.get() {
            let live = self.sweep()?;
            self.sweep_at.set((2 * live).max(MIN_SWEEP));
        }
        Ok(())
    }

    /// Removes the entries whose object died; returns how many remain.
    fn sweep(&self) -> PyResult<isize> {
        let mut dead = Vec::new();
        let mut pos: sys::Py_ssize_t = 0;
        let mut key: *mut sys::PyObject = std::ptr::null_mut();
        let mut weak: *mut sys::PyObject = std::ptr::null_mut();
        // SAFETY: iterating a live dict we do not change while iterating; the borrowed key and
        // value stay valid until the dict changes.
        unsafe {
            while sys::PyDict_Next(self.entries.as_ptr(), &mut pos, &mut key, &mut weak) != 0 {
                let mut target: *mut sys::PyObject = std::ptr::null_mut();
                let status: c_int = sys::compat::PyWeakref_GetRef(weak, &mut target);
                if status < 0 {
                    return Err(super::error::Raised::ALREADY);
                }
                if target.is_null() {
                    dead.push(Ref::from_ptr(key).to_owned());
                } else {
                    sys::Py_DECREF(target);
                }
            }
        }
        for key in dead {
            // SAFETY: live dict and key (present: we just saw it).
            if unsafe { sys::PyDict_DelItem(self.entries.as_ptr(), key.as_ptr()) } < 0 {
                return Err(super::error::Raised::ALREADY);
            }
        }
        // SAFETY: live dict.
        Ok(unsafe { sys::PyDict_Size(self.entries.as_ptr()) })
    }
}
