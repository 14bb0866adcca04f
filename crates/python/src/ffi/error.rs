//! Python exceptions: the `Raised` marker, built-in exception types, raising and fetching.

use std::ffi::CStr;

use pyo3_ffi as sys;

use super::object::{Owned, Ref};
use super::values;

/// Proof that a Python exception is set on the current thread: the error half of [`PyResult`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Raised(());

impl Raised {
    /// For wrappers that have just seen the C API signal an error (null or -1 result).
    pub(crate) const ALREADY: Raised = Raised(());
}

/// Result of an operation that may raise a Python exception.
pub(crate) type PyResult<T> = Result<T, Raised>;

/// Built-in exception types (static objects shared by every interpreter).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Builtin {
    BufferError,
    Exception,
    MemoryError,
    NotImplementedError,
    OverflowError,
    RuntimeError,
    SystemError,
    TimeoutError,
    TypeError,
    ValueError,
}

/// The built-in exception type `kind`.
pub(crate) fn builtin(kind: Builtin) -> Ref<'static> {
    // SAFETY: the PyExc_* statics are initialised before any extension module loads and live as
    // long as the process; reading them needs no lock.
    unsafe {
        let ptr = match kind {
            Builtin::BufferError => sys::PyExc_BufferError,
            Builtin::Exception => sys::PyExc_Exception,
            Builtin::MemoryError => sys::PyExc_MemoryError,
            Builtin::NotImplementedError => sys::PyExc_NotImplementedError,
            Builtin::OverflowError => sys::PyExc_OverflowError,
            Builtin::RuntimeError => sys::PyExc_RuntimeError,
            Builtin::SystemError => sys::PyExc_SystemError,
            Builtin::TimeoutError => sys::PyExc_TimeoutError,
            Builtin::TypeError => sys::PyExc_TypeError,
            Builtin::ValueError => sys::PyExc_ValueError,
        };
        Ref::from_ptr(ptr)
    }
}

/// Raises `exc_type(message)`; returns the marker to propagate.
pub(crate) fn raise(exc_type: Ref<'_>, message: &str) -> Raised {
    match values::str_from(message) {
        // SAFETY: both are live objects; PyErr_SetObject takes its own references.
        Ok(text) => unsafe { sys::PyErr_SetObject(exc_type.as_ptr(), text.as_ptr()) },
        Err(raised) => return raised,
    }
    Raised::ALREADY
}

/// Raises an exception instance.
pub(crate) fn raise_instance(exc: Owned) -> Raised {
    restore_raised(exc);
    Raised::ALREADY
}

/// Takes the exception currently set, if any, clearing it.
pub(crate) fn take_raised() -> Option<Owned> {
    // SAFETY: PyErr_GetRaisedException returns a new reference, or null when no exception is set
    // (without setting one): null maps to None here, not to an error.
    let exc = unsafe { sys::PyErr_GetRaisedException() };
    std::ptr::NonNull::new(exc).map(|_| {
        // SAFETY: non-null new reference, now owned.
        unsafe { Owned::from_new(exc) }.unwrap_or_else(|_| unreachable!("checked non-null"))
    })
}

/// Sets `exc` as the current exception (the inverse of [`take_raised`]).
pub(crate) fn restore_raised(exc: Owned) {
    // SAFETY: PyErr_SetRaisedException steals the reference we give it.
    unsafe { sys::PyErr_SetRaisedException(exc.into_raw()) }
}

/// True if an exception is set on this thread (for C functions whose null result is ambiguous).
pub(crate) fn error_is_set() -> bool {
    // SAFETY: always valid on an attached thread; returns a borrowed reference or null.
    !unsafe { sys::PyErr_Occurred() }.is_null()
}

/// Clears the current exception, if any.
pub(crate) fn clear_error() {
    // SAFETY: always valid on an attached thread.
    unsafe { sys::PyErr_Clear() }
}

/// A new exception class `name` (dotted: `"package.Name"`) deriving from `bases` (a class or a
/// tuple of classes).
pub(crate) fn new_exception_class(name: &CStr, doc: &CStr, bases: Ref<'_>) -> PyResult<Owned> {
    // SAFETY: NUL-terminated strings and a live base; returns a new reference or null.
    unsafe {
        Owned::from_new(sys::PyErr_NewExceptionWithDoc(
            name.as_ptr(),
            doc.as_ptr(),
            bases.as_ptr(),
            std::ptr::null_mut(),
        ))
    }
}
