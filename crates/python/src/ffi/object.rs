//! Owned and borrowed references to Python objects, and the operations on them that the binding
//! needs. Only valid on a thread attached to the object's interpreter (hence `!Send`).

use std::ffi::CStr;
use std::marker::PhantomData;
use std::ptr::NonNull;

use pyo3_ffi as sys;

use super::error::{PyResult, Raised};

/// A strong reference; dropping it releases the reference.
#[repr(transparent)]
pub(crate) struct Owned(NonNull<sys::PyObject>);

/// A borrowed reference, valid for `'a`.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct Ref<'a>(NonNull<sys::PyObject>, PhantomData<&'a Owned>);

impl Owned {
    /// Takes ownership of a new reference returned by the C API; null means an exception is set.
    ///
    /// # Safety
    /// - `ptr` is null with a Python exception set, or a strong reference the caller owns.
    /// - The current thread is attached to the object's interpreter.
    pub(crate) unsafe fn from_new(ptr: *mut sys::PyObject) -> PyResult<Owned> {
        NonNull::new(ptr).map(Owned).ok_or(Raised::ALREADY)
    }

    /// A borrowed view of this reference.
    pub(crate) fn as_ref(&self) -> Ref<'_> {
        Ref(self.0, PhantomData)
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::PyObject {
        self.0.as_ptr()
    }

    /// Gives the reference to the caller (the C API, usually as a return value).
    pub(crate) fn into_raw(self) -> *mut sys::PyObject {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: `Owned` holds a strong reference (constructor contract) and, being `!Send`,
        // is dropped on the thread and in the interpreter where it was created.
        unsafe { sys::Py_DECREF(self.0.as_ptr()) }
    }
}

impl Clone for Owned {
    fn clone(&self) -> Self {
        self.as_ref().to_owned()
    }
}

impl<'a> Ref<'a> {
    /// Borrows a reference the C API handed us.
    ///
    /// # Safety
    /// - `ptr` is a live object, kept alive for `'a` by someone else.
    /// - The current thread is attached to the object's interpreter.
    pub(crate) unsafe fn from_ptr(ptr: *mut sys::PyObject) -> Ref<'a> {
        // SAFETY: the C API never passes null where an object is promised (caller's contract).
        Ref(unsafe { NonNull::new_unchecked(ptr) }, PhantomData)
    }

    pub(crate) fn as_ptr(self) -> *mut sys::PyObject {
        self.0.as_ptr()
    }

    /// A new strong reference to the same object.
    pub(crate) fn to_owned(self) -> Owned {
        // SAFETY: the object is alive for 'a (Ref invariant); incref makes the new Owned valid.
        unsafe { sys::Py_INCREF(self.as_ptr()) };
        Owned(self.0)
    }

    /// Identity comparison (`is`).
    pub(crate) fn is(self, other: Ref<'_>) -> bool {
        self.0 == other.0
    }

    /// The object's type.
    pub(crate) fn type_of(self) -> Ref<'a> {
        // SAFETY: every live object has a type; it lives at least as long as the object.
        unsafe { Ref::from_ptr(sys::Py_TYPE(self.as_ptr()).cast()) }
    }

    /// True if `self` and `base` are type objects and `self` is `base` or a subclass of it.
    pub(crate) fn is_subtype_of(self, base: Ref<'_>) -> bool {
        // SAFETY: live objects; PyType_Check reads their types, and PyType_IsSubtype, called on
        // two type objects only, reads MROs.
        unsafe {
            sys::PyType_Check(self.as_ptr()) != 0
                && sys::PyType_Check(base.as_ptr()) != 0
                && sys::PyType_IsSubtype(self.as_ptr().cast(), base.as_ptr().cast()) != 0
        }
    }

    /// True if the object is an exception instance (`isinstance(obj, BaseException)`).
    pub(crate) fn is_exception_instance(self) -> bool {
        // SAFETY: live object; reads its type's flags.
        unsafe { sys::PyExceptionInstance_Check(self.as_ptr()) != 0 }
    }

    /// Sets `cause` as this exception's `__cause__` (`raise self from cause`).
    pub(crate) fn set_cause(self, cause: Owned) {
        // SAFETY: both are exception instances (callers check); PyException_SetCause steals the
        // reference to `cause` and sets __suppress_context__.
        unsafe { sys::PyException_SetCause(self.as_ptr(), cause.into_raw()) }
    }

    /// The qualified name of the object's type (e.g. `"ZeroDivisionError"`).
    pub(crate) fn type_qualname(self) -> String {
        // SAFETY: `type_of` is a type object; PyType_GetQualName returns a new reference or null.
        let name = unsafe { Owned::from_new(sys::PyType_GetQualName(self.type_of().as_ptr().cast())) };
        match name {
            Ok(name) => name.as_ref().to_string_lossy(),
            Err(_) => {
                super::error::clear_error();
                "<unknown>".to_owned()
            }
        }
    }

    /// The qualified name of the object's type as `surrogatepass` UTF-8 (exact, see
    /// [`str_exact`](Self::str_exact)).
    pub(crate) fn type_qualname_exact(self) -> Vec<u8> {
        // SAFETY: `type_of` is a type object; PyType_GetQualName returns a new reference or null.
        let name = unsafe { Owned::from_new(sys::PyType_GetQualName(self.type_of().as_ptr().cast())) };
        match name.and_then(|name| Ok(name.as_ref().str_utf8_surrogatepass()?.into_owned())) {
            Ok(bytes) => bytes,
            Err(_) => {
                super::error::clear_error();
                b"<unknown>".to_vec()
            }
        }
    }

    /// `str(obj)` as `surrogatepass` UTF-8, so that lone surrogates survive a crossing. Never
    /// fails: a failing `__str__` yields a placeholder.
    pub(crate) fn str_exact(self) -> Vec<u8> {
        // SAFETY: PyObject_Str returns a new reference or null with an exception set.
        let text = unsafe { Owned::from_new(sys::PyObject_Str(self.as_ptr())) };
        match text.and_then(|text| Ok(text.as_ref().str_utf8_surrogatepass()?.into_owned())) {
            Ok(bytes) => bytes,
            Err(_) => {
                super::error::clear_error();
                b"<str() failed>".to_vec()
            }
        }
    }

    /// `str(obj)` as a Rust string; lone surrogates become U+FFFD. Never fails: a failing
    /// `__str__` yields a placeholder.
    pub(crate) fn str_lossy(self) -> String {
        // SAFETY: PyObject_Str returns a new reference or null with an exception set.
        match unsafe { Owned::from_new(sys::PyObject_Str(self.as_ptr())) } {
            Ok(text) => text.as_ref().to_string_lossy(),
            Err(_) => {
                super::error::clear_error();
                "<str() failed>".to_owned()
            }
        }
    }

    /// `repr(obj)` as a Rust string. Never fails: a failing `__repr__` yields a placeholder.
    pub(crate) fn repr_lossy(self) -> String {
        // SAFETY: PyObject_Repr returns a new reference or null with an exception set.
        match unsafe { Owned::from_new(sys::PyObject_Repr(self.as_ptr())) } {
            Ok(text) => text.as_ref().to_string_lossy(),
            Err(_) => {
                super::error::clear_error();
                "<repr() failed>".to_owned()
            }
        }
    }

    /// The text of a `str` object; lone surrogates become U+FFFD.
    pub(crate) fn to_string_lossy(self) -> String {
        match self.str_utf8_surrogatepass() {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                super::error::clear_error();
                String::new()
            }
        }
    }

    /// `getattr(obj, name)`.
    pub(crate) fn getattr(self, name: &CStr) -> PyResult<Owned> {
        // SAFETY: live object and NUL-terminated name; returns a new reference or null.
        unsafe { Owned::from_new(sys::PyObject_GetAttrString(self.as_ptr(), name.as_ptr())) }
    }

    /// `setattr(obj, name, value)`.
    pub(crate) fn setattr(self, name: &CStr, value: Ref<'_>) -> PyResult<()> {
        // SAFETY: live objects, NUL-terminated name; returns -1 with an exception set on failure.
        let rc = unsafe { sys::PyObject_SetAttrString(self.as_ptr(), name.as_ptr(), value.as_ptr()) };
        if rc < 0 {
            Err(Raised::ALREADY)
        } else {
            Ok(())
        }
    }

    /// `obj(*args)`.
    pub(crate) fn call(self, args: &[Ref<'_>]) -> PyResult<Owned> {
        let tuple = super::values::tuple(args.iter().map(|arg| Ref::to_owned(*arg)).collect())?;
        // SAFETY: live callable and a real tuple; returns a new reference or null.
        unsafe { Owned::from_new(sys::PyObject_Call(self.as_ptr(), tuple.as_ptr(), std::ptr::null_mut())) }
    }

    /// `obj(*args, **kwargs)` with `args` a tuple and `kwargs` a dict (or None), as they are.
    pub(crate) fn call_with(self, args: Ref<'_>, kwargs: Ref<'_>) -> PyResult<Owned> {
        // SAFETY: live objects; PyObject_Call needs a real tuple and a dict or null.
        unsafe {
            if sys::PyTuple_Check(args.as_ptr()) == 0 || !(kwargs.is_none() || sys::PyDict_Check(kwargs.as_ptr()) != 0)
            {
                sys::PyErr_SetString(sys::PyExc_TypeError, c"call_with needs a tuple and a dict".as_ptr());
                return Err(Raised::ALREADY);
            }
            let kwargs = if kwargs.is_none() { std::ptr::null_mut() } else { kwargs.as_ptr() };
            Owned::from_new(sys::PyObject_Call(self.as_ptr(), args.as_ptr(), kwargs))
        }
    }

    /// `iter(obj)`.
    pub(crate) fn iterate(self) -> PyResult<Owned> {
        // SAFETY: live object; returns a new iterator reference or null with an exception set.
        unsafe { Owned::from_new(sys::PyObject_GetIter(self.as_ptr())) }
    }

    /// `next(iterator)`: `Ok(None)` once it is exhausted.
    pub(crate) fn next_item(self) -> PyResult<Option<Owned>> {
        // SAFETY: live iterator; returns a new reference, or null either at the end (no exception
        // set) or on error (exception set).
        let item = unsafe { sys::PyIter_Next(self.as_ptr()) };
        if !item.is_null() {
            // SAFETY: non-null new reference.
            return unsafe { Owned::from_new(item) }.map(Some);
        }
        // SAFETY: reads the thread's error indicator.
        if unsafe { sys::PyErr_Occurred() }.is_null() {
            Ok(None)
        } else {
            Err(Raised::ALREADY)
        }
    }

    /// `bool(obj)`.
    pub(crate) fn is_truthy(self) -> PyResult<bool> {
        // SAFETY: live object; returns -1 with an exception set on failure.
        match unsafe { sys::PyObject_IsTrue(self.as_ptr()) } {
            -1 => Err(Raised::ALREADY),
            value => Ok(value != 0),
        }
    }
}
