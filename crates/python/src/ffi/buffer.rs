//! The buffer protocol (PEP 3118): exporting memory the package describes ([`Export`], filled into
//! a `Py_buffer` by the `getbuffer` trampoline), and borrowing other objects' buffers
//! ([`BufferView`]), including lending one to other interpreters ([`LentView`]).

use std::ffi::{c_int, CStr};
use std::ptr;

use pyo3_ffi as sys;

use super::error::{builtin, raise, Builtin, PyResult, Raised};
use super::interp::{current_interp_ptr, run_attached_to, InterpPtr};
use super::object::{Owned, Ref};

/// What an object exports: memory and its description. The slices must live as long as the
/// exporting object (they are stored in its Rust value), since consumers keep pointers to them
/// for as long as their view holds the object.
pub(crate) struct Export<'a> {
    pub(crate) address: *mut u8,
    pub(crate) len: usize,
    pub(crate) readonly: bool,
    pub(crate) itemsize: usize,
    /// NUL-terminated `struct` format.
    pub(crate) format: &'a CStr,
    pub(crate) shape: &'a [isize],
    pub(crate) strides: &'a [isize],
    pub(crate) c_contiguous: bool,
    pub(crate) f_contiguous: bool,
}

fn wants(flags: c_int, request: c_int) -> bool {
    flags & request == request
}

/// Fills `view` for the request `flags` from `export` of `obj`, or raises BufferError as
/// CPython's exporters do for requests they cannot meet.
///
/// # Safety
/// `view` points to a `Py_buffer` CPython handed to `bf_getbuffer`; `obj` is the exporting object
/// and `export`'s memory and slices live as long as it does.
pub(super) unsafe fn fill_buffer(
    view: *mut sys::Py_buffer,
    obj: Ref<'_>,
    export: &Export<'_>,
    flags: c_int,
) -> PyResult<()> {
    if wants(flags, sys::PyBUF_WRITABLE) && export.readonly {
        return Err(raise(builtin(Builtin::BufferError), "this buffer is read-only; ask for a read-only view"));
    }
    let contiguous_ok = (!wants(flags, sys::PyBUF_C_CONTIGUOUS) || export.c_contiguous)
        && (!wants(flags, sys::PyBUF_F_CONTIGUOUS) || export.f_contiguous)
        && (!wants(flags, sys::PyBUF_ANY_CONTIGUOUS) || export.c_contiguous || export.f_contiguous)
        && (wants(flags, sys::PyBUF_STRIDES) || export.c_contiguous);
    if !contiguous_ok {
        return Err(raise(
            builtin(Builtin::BufferError),
            "this buffer is not contiguous in the requested order; ask for a strided view \
             (memoryview() does)",
        ));
    }
    let with_shape = wants(flags, sys::PyBUF_ND);
    // SAFETY: `view` is CPython's Py_buffer to fill (contract); the pointers stored in it live as
    // long as `obj`, whose new reference the view keeps in `obj`.
    unsafe {
        (*view).buf = export.address.cast();
        (*view).obj = sys::Py_NewRef(obj.as_ptr());
        (*view).len = export.len as sys::Py_ssize_t;
        (*view).readonly = c_int::from(export.readonly);
        (*view).itemsize = export.itemsize as sys::Py_ssize_t;
        (*view).format =
            if wants(flags, sys::PyBUF_FORMAT) { export.format.as_ptr().cast_mut() } else { ptr::null_mut() };
        (*view).ndim = if with_shape { export.shape.len() as c_int } else { 1 };
        // A 0-d export has no shape or strides arrays: PEP 3118 wants NULL, not an empty slice's
        // dangling address.
        let scalar = export.shape.is_empty();
        (*view).shape = if with_shape && !scalar { export.shape.as_ptr().cast_mut() } else { ptr::null_mut() };
        (*view).strides = if wants(flags, sys::PyBUF_STRIDES) && !scalar {
            export.strides.as_ptr().cast_mut()
        } else {
            ptr::null_mut()
        };
        (*view).suboffsets = ptr::null_mut();
        (*view).internal = ptr::null_mut();
    }
    Ok(())
}

/// Another object's buffer, acquired (with format, shape and strides) until dropped.
pub(crate) struct BufferView {
    /// Boxed: CPython may keep pointers into the struct (its `_shape`/`_strides` arrays).
    view: Box<sys::Py_buffer>,
}

impl BufferView {
    /// Acquires `obj`'s buffer, read-only; TypeError if `obj` does not support the protocol.
    pub(crate) fn get(obj: Ref<'_>) -> PyResult<BufferView> {
        // SAFETY: `obj` is live; PyObject_CheckBuffer only reads its type.
        if unsafe { sys::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
            return Err(raise(
                builtin(Builtin::TypeError),
                &format!(
                    "a bytes-like object (one with the buffer protocol) is required, not '{}'",
                    obj.type_qualname()
                ),
            ));
        }
        let mut view = Box::new(sys::Py_buffer::new());
        // SAFETY: a live object and a zeroed Py_buffer to fill; on failure nothing is acquired.
        let rc = unsafe { sys::PyObject_GetBuffer(obj.as_ptr(), &mut *view, sys::PyBUF_RECORDS_RO) };
        if rc != 0 {
            return Err(Raised::ALREADY);
        }
        let view = BufferView { view };
        view.check_consistent()?;
        Ok(view)
    }

    /// Refuses exporters whose description does not add up (suboffsets despite the request, a
    /// missing format for items wider than a byte, a length that is not itemsize times the
    /// number of items): copying or lending those would read the wrong bytes.
    fn check_consistent(&self) -> PyResult<()> {
        let problem = if !self.view.suboffsets.is_null() {
            Some("it has suboffsets (an indirect buffer)".to_owned())
        } else if self.view.format.is_null() && self.itemsize() != 1 {
            Some(format!("it gives no format for {}-byte items", self.itemsize()))
        } else {
            let items = self.shape().iter().try_fold(1usize, |total, &extent| total.checked_mul(extent));
            match items.and_then(|items| items.checked_mul(self.itemsize())) {
                Some(expected) if expected == self.len() => None,
                _ => Some(format!("its length ({} bytes) is not its item size times its number of items", self.len())),
            }
        };
        match problem {
            None => Ok(()),
            Some(problem) => {
                Err(raise(builtin(Builtin::BufferError), &format!("cannot use this object's buffer: {problem}")))
            }
        }
    }

    /// True if the exporter refuses writes through this buffer.
    pub(crate) fn readonly(&self) -> bool {
        self.view.readonly != 0
    }

    /// Address of the first byte.
    pub(crate) fn address(&self) -> usize {
        self.view.buf as usize
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.view.len as usize
    }

    pub(crate) fn itemsize(&self) -> usize {
        self.view.itemsize as usize
    }

    /// The `struct` format ("B" when the exporter gives none).
    pub(crate) fn format(&self) -> String {
        if self.view.format.is_null() {
            return "B".to_owned();
        }
        // SAFETY: a non-null format is a NUL-terminated string living as long as the view.
        unsafe { CStr::from_ptr(self.view.format) }.to_string_lossy().into_owned()
    }

    /// Items along each dimension.
    pub(crate) fn shape(&self) -> Vec<usize> {
        let ndim = self.view.ndim as usize;
        if ndim == 0 {
            return Vec::new();
        }
        if self.view.shape.is_null() {
            return vec![self.len() / self.itemsize().max(1)];
        }
        // SAFETY: with PyBUF_ND requested, shape points to ndim entries living with the view.
        unsafe { std::slice::from_raw_parts(self.view.shape, ndim) }.iter().map(|&n| n as usize).collect()
    }

    /// Bytes between items along each dimension (computed for C order if the exporter gives none).
    pub(crate) fn strides(&self) -> Vec<isize> {
        let ndim = self.view.ndim as usize;
        if ndim == 0 {
            return Vec::new();
        }
        if self.view.strides.is_null() {
            let shape = self.shape();
            let mut strides = vec![0isize; shape.len()];
            let mut step = self.itemsize() as isize;
            for (dim, &extent) in shape.iter().enumerate().rev() {
                strides[dim] = step;
                step *= extent as isize;
            }
            return strides;
        }
        // SAFETY: with PyBUF_STRIDES requested, strides points to ndim entries living with the view.
        unsafe { std::slice::from_raw_parts(self.view.strides, ndim) }.to_vec()
    }

    /// Copies the data, in C order, into `dst` (exactly `len()` bytes).
    pub(crate) fn copy_c_order(&self, dst: &mut [u8]) -> PyResult<()> {
        assert_eq!(dst.len(), self.len(), "the destination holds exactly the buffer's bytes");
        // SAFETY: `dst` has len() writable bytes; the view is acquired with strides and format.
        let rc = unsafe {
            sys::PyBuffer_ToContiguous(
                dst.as_mut_ptr().cast(),
                &*self.view as *const sys::Py_buffer as *mut sys::Py_buffer,
                self.view.len,
                b'C' as std::ffi::c_char,
            )
        };
        if rc != 0 {
            return Err(Raised::ALREADY);
        }
        Ok(())
    }

    /// Lends this view to other interpreters: it will be released in this (the current)
    /// interpreter whatever thread drops the lease.
    pub(crate) fn lend(self) -> LentView {
        LentView { view: std::mem::ManuallyDrop::new(self), owner: current_interp_ptr() }
    }
}

impl Drop for BufferView {
    fn drop(&mut self) {
        // SAFETY: acquired by PyObject_GetBuffer and released once, here. A `BufferView` is !Send
        // (it holds raw pointers), and every path that leaves the caller's interpreter
        // (`allow_threads`, `enter_interpreter`) takes only `Send` closures, so it cannot be
        // carried out of the exporter's interpreter — except inside a `LentView`, which drops it
        // only in `release`, attached to that interpreter.
        unsafe { sys::PyBuffer_Release(&mut *self.view) };
    }
}

/// A [`BufferView`] travelling between threads and interpreters until [`LentView::release`]
/// gives it back in its own interpreter.
pub(crate) struct LentView {
    /// Never dropped in place: only `release` drops it, attached to the owner. A `LentView`
    /// dropped any other way leaks its buffer instead of releasing it in the wrong interpreter.
    view: std::mem::ManuallyDrop<BufferView>,
    owner: InterpPtr,
}

// SAFETY: a LentView is never used while it travels: only `release` touches the view, and it
// attaches the owner interpreter (taking its GIL) before dropping it.
unsafe impl Send for LentView {}

impl LentView {
    /// Releases the buffer in its owner interpreter, under that interpreter's GIL.
    ///
    /// # Safety
    /// The owner interpreter is still alive (closing it is refused while its lent buffers are
    /// listed in `LEASES`, and the exit hook abandons releases rather than ending an owner under
    /// one), and the caller holds no lock a thread of the owner may wait for (see
    /// [`run_attached_to`]).
    pub(crate) unsafe fn release(self) {
        let LentView { view, owner } = self;
        let view = std::mem::ManuallyDrop::into_inner(view);
        // SAFETY: the owner is alive and no lock is held (contract).
        unsafe { run_attached_to(owner, move || drop(view)) };
    }
}

/// `memoryview(obj)`.
pub(crate) fn memoryview_of(obj: Ref<'_>) -> PyResult<Owned> {
    // SAFETY: a live object; returns a new reference or null with an exception set.
    unsafe { Owned::from_new(sys::PyMemoryView_FromObject(obj.as_ptr())) }
}
