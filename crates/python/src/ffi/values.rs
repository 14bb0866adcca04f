//! Building and reading the value types that cross interpreters: None, bool, int, float, str,
//! bytes, tuple; plus the few containers the binding returns (list, dict). The containers of
//! structured data, item by item, are in `containers`.

use std::borrow::Cow;
use std::ffi::CStr;

use pyo3_ffi as sys;

use super::error::{clear_error, PyResult, Raised};
use super::object::{Owned, Ref};

/// What an object is, by its exact type (subclasses are `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjKind {
    None,
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Tuple,
    List,
    Dict,
    Set,
    FrozenSet,
    ByteArray,
    Complex,
    Other,
}

impl<'a> Ref<'a> {
    /// Classifies the object by exact type.
    pub(crate) fn kind(self) -> ObjKind {
        let ty = self.type_of().as_ptr();
        // SAFETY: the addresses of static built-in type objects, compared, never dereferenced.
        unsafe {
            if self.as_ptr() == sys::Py_None() {
                ObjKind::None
            } else if ty == std::ptr::addr_of_mut!(sys::PyBool_Type).cast() {
                ObjKind::Bool
            } else if ty == std::ptr::addr_of_mut!(sys::PyLong_Type).cast() {
                ObjKind::Int
            } else if ty == std::ptr::addr_of_mut!(sys::PyFloat_Type).cast() {
                ObjKind::Float
            } else if ty == std::ptr::addr_of_mut!(sys::PyUnicode_Type).cast() {
                ObjKind::Str
            } else if ty == std::ptr::addr_of_mut!(sys::PyBytes_Type).cast() {
                ObjKind::Bytes
            } else if ty == std::ptr::addr_of_mut!(sys::PyTuple_Type).cast() {
                ObjKind::Tuple
            } else if ty == std::ptr::addr_of_mut!(sys::PyList_Type).cast() {
                ObjKind::List
            } else if ty == std::ptr::addr_of_mut!(sys::PyDict_Type).cast() {
                ObjKind::Dict
            } else if ty == std::ptr::addr_of_mut!(sys::PySet_Type).cast() {
                ObjKind::Set
            } else if ty == std::ptr::addr_of_mut!(sys::PyFrozenSet_Type).cast() {
                ObjKind::FrozenSet
            } else if ty == std::ptr::addr_of_mut!(sys::PyByteArray_Type).cast() {
                ObjKind::ByteArray
            } else if ty == std::ptr::addr_of_mut!(sys::PyComplex_Type).cast() {
                ObjKind::Complex
            } else {
                ObjKind::Other
            }
        }
    }

    pub(crate) fn is_none(self) -> bool {
        // SAFETY: Py_None is a static singleton; address comparison only.
        self.as_ptr() == unsafe { sys::Py_None() }
    }

    /// True for the `...` singleton.
    pub(crate) fn is_ellipsis(self) -> bool {
        // SAFETY: Py_Ellipsis is a static singleton; address comparison only.
        self.as_ptr() == unsafe { sys::Py_Ellipsis() }
    }

    /// The value of a `bool`.
    pub(crate) fn bool_value(self) -> bool {
        // SAFETY: Py_True is a static singleton; address comparison only.
        self.as_ptr() == unsafe { sys::Py_True() }
    }

    /// True for a `memoryview` (exactly).
    pub(crate) fn is_memoryview(self) -> bool {
        // SAFETY: live object; reads its type.
        unsafe { sys::PyMemoryView_Check(self.as_ptr()) != 0 }
    }

    /// True for an `int` or an instance of a subclass of `int` (`isinstance(obj, int)`).
    pub(crate) fn is_int_instance(self) -> bool {
        // SAFETY: live object; reads its type's flags.
        unsafe { sys::PyLong_Check(self.as_ptr()) != 0 }
    }

    /// The value of an `int` if it fits in an `i64`.
    pub(crate) fn int_as_i64(self) -> PyResult<Option<i64>> {
        let mut overflow = 0;
        // SAFETY: live int; the overflow flag is set instead of raising for out-of-range values.
        let value = unsafe { sys::PyLong_AsLongLongAndOverflow(self.as_ptr(), &mut overflow) };
        // SAFETY: PyErr_Occurred only reads the thread's error indicator.
        if value == -1 && overflow == 0 && !unsafe { sys::PyErr_Occurred() }.is_null() {
            return Err(Raised::ALREADY);
        }
        Ok((overflow == 0).then_some(value))
    }

    /// An `int` as a signed hexadecimal literal (`-0x1f`), exact at any size.
    pub(crate) fn int_to_hex(self) -> PyResult<String> {
        // SAFETY: live int; PyNumber_ToBase returns a new str reference or null.
        let text = unsafe { Owned::from_new(sys::PyNumber_ToBase(self.as_ptr(), 16))? };
        Ok(text.as_ref().to_string_lossy())
    }

    /// `float(obj)` for an exact float (or anything PyFloat_AsDouble accepts).
    pub(crate) fn float_value(self) -> PyResult<f64> {
        // SAFETY: live object; -1.0 with an exception set signals failure.
        let value = unsafe { sys::PyFloat_AsDouble(self.as_ptr()) };
        // SAFETY: reads the thread's error indicator.
        if value == -1.0 && !unsafe { sys::PyErr_Occurred() }.is_null() {
            return Err(Raised::ALREADY);
        }
        Ok(value)
    }

    /// The UTF-8 bytes of a `str`, with lone surrogates encoded as Python's `surrogatepass` does,
    /// so that [`str_from_utf8_surrogatepass`] rebuilds exactly the same string.
    pub(crate) fn str_utf8_surrogatepass(self) -> PyResult<Cow<'a, [u8]>> {
        let mut size: sys::Py_ssize_t = 0;
        // SAFETY: live str; the buffer is cached in the object and lives as long as it does ('a).
        let data = unsafe { sys::PyUnicode_AsUTF8AndSize(self.as_ptr(), &mut size) };
        if !data.is_null() {
            // SAFETY: CPython guarantees `size` valid bytes at `data`.
            let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) };
            return Ok(Cow::Borrowed(bytes));
        }
        // Strict UTF-8 fails only on lone surrogates: encode them explicitly.
        clear_error();
        // SAFETY: live str and NUL-terminated codec names; returns a new bytes reference or null.
        let encoded = unsafe {
            Owned::from_new(sys::PyUnicode_AsEncodedString(
                self.as_ptr(),
                c"utf-8".as_ptr(),
                c"surrogatepass".as_ptr(),
            ))?
        };
        Ok(Cow::Owned(encoded.as_ref().bytes_data().to_vec()))
    }

    /// The contents of a `bytes` object (empty for anything else).
    pub(crate) fn bytes_data(self) -> &'a [u8] {
        // SAFETY: live object; PyBytes_Check only reads its type.
        if unsafe { sys::PyBytes_Check(self.as_ptr()) } == 0 {
            return &[];
        }
        // SAFETY: a live bytes object; its buffer lives as long as it does ('a).
        unsafe {
            let data = sys::PyBytes_AsString(self.as_ptr());
            let size = sys::PyBytes_Size(self.as_ptr());
            std::slice::from_raw_parts(data.cast::<u8>(), size as usize)
        }
    }

    /// The items of a `tuple`, borrowed from it (none for anything else).
    pub(crate) fn tuple_items(self) -> impl ExactSizeIterator<Item = Ref<'a>> {
        // SAFETY: live object; PyTuple_Check only reads its type, and a tuple's size is fixed.
        let size = match unsafe { sys::PyTuple_Check(self.as_ptr()) } {
            0 => 0,
            // SAFETY: checked to be a tuple just above.
            _ => unsafe { sys::PyTuple_GET_SIZE(self.as_ptr()) },
        };
        // SAFETY: index in bounds; tuple items are live as long as the tuple ('a).
        (0..size).map(move |index| unsafe { Ref::from_ptr(sys::PyTuple_GetItem(self.as_ptr(), index)) })
    }

    /// True if this `str` equals the ASCII text `name`.
    pub(crate) fn str_equals(self, name: &CStr) -> bool {
        // SAFETY: live str and NUL-terminated ASCII; this comparison never raises.
        unsafe { sys::PyUnicode_CompareWithASCIIString(self.as_ptr(), name.as_ptr()) == 0 }
    }

    /// True if two `str` objects are equal (false if either is not a str).
    pub(crate) fn str_equals_obj(self, other: Ref<'_>) -> bool {
        // SAFETY: live objects; checked to be str before comparing, which then never raises.
        unsafe {
            sys::PyUnicode_Check(self.as_ptr()) != 0
                && sys::PyUnicode_Check(other.as_ptr()) != 0
                && sys::PyUnicode_Compare(self.as_ptr(), other.as_ptr()) == 0
        }
    }
}

/// `None`, as a new reference.
pub(crate) fn none() -> Owned {
    // SAFETY: Py_None is immortal and valid in every interpreter.
    unsafe { Ref::from_ptr(sys::Py_None()) }.to_owned()
}

/// `True` or `False`.
pub(crate) fn bool_from(value: bool) -> Owned {
    // SAFETY: the bool singletons are static and valid in every interpreter.
    unsafe { Ref::from_ptr(if value { sys::Py_True() } else { sys::Py_False() }) }.to_owned()
}

/// `NotImplemented`.
pub(crate) fn not_implemented() -> Owned {
    // SAFETY: static singleton valid in every interpreter.
    unsafe { Ref::from_ptr(sys::Py_NotImplemented()) }.to_owned()
}

pub(crate) fn int_from_i64(value: i64) -> PyResult<Owned> {
    // SAFETY: returns a new reference or null.
    unsafe { Owned::from_new(sys::PyLong_FromLongLong(value)) }
}

pub(crate) fn int_from_u64(value: u64) -> PyResult<Owned> {
    // SAFETY: returns a new reference or null.
    unsafe { Owned::from_new(sys::PyLong_FromUnsignedLongLong(value)) }
}

/// Parses a literal made by [`Ref::int_to_hex`].
pub(crate) fn int_from_hex(literal: &str) -> PyResult<Owned> {
    let text = std::ffi::CString::new(literal).map_err(|_| {
        super::error::raise(super::error::builtin(super::error::Builtin::ValueError), "bad int literal")
    })?;
    // SAFETY: NUL-terminated literal; base 16 accepts the 0x prefix and a sign.
    unsafe { Owned::from_new(sys::PyLong_FromString(text.as_ptr(), std::ptr::null_mut(), 16)) }
}

pub(crate) fn float_from(value: f64) -> PyResult<Owned> {
    // SAFETY: returns a new reference or null.
    unsafe { Owned::from_new(sys::PyFloat_FromDouble(value)) }
}

/// A `str` from Rust text.
pub(crate) fn str_from(text: &str) -> PyResult<Owned> {
    // SAFETY: valid UTF-8 of the given length; returns a new reference or null.
    unsafe { Owned::from_new(sys::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as sys::Py_ssize_t)) }
}

/// A `str` from bytes made by [`Ref::str_utf8_surrogatepass`].
pub(crate) fn str_from_utf8_surrogatepass(bytes: &[u8]) -> PyResult<Owned> {
    // SAFETY: `bytes` is readable for its length; the codec name is NUL-terminated.
    unsafe {
        Owned::from_new(sys::PyUnicode_DecodeUTF8(
            bytes.as_ptr().cast(),
            bytes.len() as sys::Py_ssize_t,
            c"surrogatepass".as_ptr(),
        ))
    }
}

pub(crate) fn bytes_from(data: &[u8]) -> PyResult<Owned> {
    // SAFETY: `data` is readable for its length; returns a new reference or null.
    unsafe { Owned::from_new(sys::PyBytes_FromStringAndSize(data.as_ptr().cast(), data.len() as sys::Py_ssize_t)) }
}

/// A tuple of the given items.
pub(crate) fn tuple(items: Vec<Owned>) -> PyResult<Owned> {
    // SAFETY: returns a new tuple of the given size (items NULL until set) or null.
    let tuple = unsafe { Owned::from_new(sys::PyTuple_New(items.len() as sys::Py_ssize_t))? };
    for (index, item) in items.into_iter().enumerate() {
        // SAFETY: fresh tuple, index in bounds; PyTuple_SetItem steals the item reference.
        unsafe { sys::PyTuple_SetItem(tuple.as_ptr(), index as sys::Py_ssize_t, item.into_raw()) };
    }
    Ok(tuple)
}

/// A list of the given items.
pub(crate) fn list(items: Vec<Owned>) -> PyResult<Owned> {
    // SAFETY: returns a new list of the given size (items NULL until set) or null.
    let list = unsafe { Owned::from_new(sys::PyList_New(items.len() as sys::Py_ssize_t))? };
    for (index, item) in items.into_iter().enumerate() {
        // SAFETY: fresh list, index in bounds; PyList_SetItem steals the item reference.
        unsafe { sys::PyList_SetItem(list.as_ptr(), index as sys::Py_ssize_t, item.into_raw()) };
    }
    Ok(list)
}

/// `dict[key] = value` for a `str` key given as Rust text.
pub(crate) fn dict_set(dict: Ref<'_>, key: Ref<'_>, value: Ref<'_>) -> PyResult<()> {
    // SAFETY: live dict, key and value; the dict takes its own references.
    let rc = unsafe { sys::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) };
    if rc < 0 {
        Err(Raised::ALREADY)
    } else {
        Ok(())
    }
}

/// `dict.get(key)` for a str key, without swallowing errors.
pub(crate) fn dict_get(dict: Ref<'_>, key: &std::ffi::CStr) -> PyResult<Option<Owned>> {
    // SAFETY: NUL-terminated UTF-8; returns a new str or null with an exception set.
    let key = unsafe { Owned::from_new(sys::PyUnicode_FromString(key.as_ptr()))? };
    // SAFETY: live dict and key; a borrowed reference, or null (with an exception only on error).
    let found = unsafe { sys::PyDict_GetItemWithError(dict.as_ptr(), key.as_ptr()) };
    if found.is_null() {
        return if super::error::error_is_set() { Err(Raised::ALREADY) } else { Ok(None) };
    }
    // SAFETY: borrowed from the live dict; we take our own reference.
    Ok(Some(unsafe { Ref::from_ptr(found) }.to_owned()))
}

/// The hash of a Rust-side key, as a valid Python hash (never -1).
pub(crate) fn python_hash(value: u64) -> isize {
    let hash = value as isize;
    if hash == -1 {
        -2
    } else {
        hash
    }
}
