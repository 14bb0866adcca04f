//! What the objects over shared or lent memory carry: the shared handle or the lease, and the
//! layout in the C types the buffer protocol hands out (they live as long as the object).

use std::ffi::CString;
use std::sync::Arc;

use subinterpreters_core::{BufferLease, SharedArray};

use crate::globals::LEASES;

/// What a `SharedArray` (or `SharedBuffer`) object carries: the shared handle, and its layout in
/// the C types the buffer protocol hands out (they live as long as the object, as required).
pub(crate) struct SharedArrayObject {
    pub(crate) array: SharedArray,
    pub(crate) format: CString,
    pub(crate) shape: Box<[isize]>,
    pub(crate) strides: Box<[isize]>,
}

impl SharedArrayObject {
    pub(crate) fn new(array: SharedArray) -> Self {
        let layout = array.layout();
        // A format from an exporter came from a C string, and ours are single characters.
        let format = CString::new(layout.format()).unwrap_or_else(|_| c"B".to_owned());
        let shape = layout.shape().iter().map(|&n| n as isize).collect();
        let strides = layout.strides().into();
        SharedArrayObject { array, format, shape, strides }
    }
}

/// What a `_LentBuffer` object carries: the lease, which interpreter holds it, and the layout in
/// the C types the buffer protocol hands out.
pub(crate) struct LentBufferObject {
    pub(crate) lease: Arc<BufferLease>,
    pub(crate) holder: i64,
    pub(crate) format: CString,
    pub(crate) shape: Box<[isize]>,
    pub(crate) strides: Box<[isize]>,
}

impl Drop for LentBufferObject {
    fn drop(&mut self) {
        LEASES.unhold(&self.lease, self.holder);
        // The lease itself goes with this value; if it was the last reference, its release runs
        // now, in the owner's interpreter.
    }
}
