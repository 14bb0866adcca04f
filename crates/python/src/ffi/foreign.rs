//! What the C API (`include/subinterpreters.h`) exchanges with C code through CPython: the object
//! pointers C callers pass in, and the capsule that publishes the table of functions.

use std::ffi::{c_void, CStr};

use pyo3_ffi as sys;

use super::error::PyResult;
use super::object::{Owned, Ref};

/// An object pointer as a C caller passes it (`PyObject *`).
pub(crate) type ObjectPtr = *mut sys::PyObject;

/// The object a C caller passed, or `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or a live object of the interpreter whose GIL the calling thread holds, alive for
/// `'a` (the C caller's promise for the duration of the call).
pub(crate) unsafe fn object_from_c<'a>(ptr: ObjectPtr) -> Option<Ref<'a>> {
    // SAFETY: non-null and live per the contract.
    (!ptr.is_null()).then(|| unsafe { Ref::from_ptr(ptr) })
}

/// A capsule named `name` holding the address of `table` (which lives for the whole process, so
/// the capsule needs no destructor).
pub(crate) fn capsule<T: Sync + 'static>(table: &'static T, name: &'static CStr) -> PyResult<Owned> {
    let pointer = (table as *const T).cast_mut().cast::<c_void>();
    // SAFETY: a non-null pointer valid for ever, and a NUL-terminated name that outlives the
    // capsule (CPython keeps the pointer, not a copy); returns a new reference or null + error.
    unsafe { Owned::from_new(sys::PyCapsule_New(pointer, name.as_ptr(), None)) }
}
