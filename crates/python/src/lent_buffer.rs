//! The receiving side of `send_buffer`: another interpreter's buffer shown, read-only and without
//! a copy, behind a `memoryview`. The hidden `_LentBuffer` object exports the lent memory; the
//! memoryview the receiver gets holds it, so releasing the view (or dropping it) drops the lease's
//! reference and lets the owner's interpreter release its exporter.

use std::ffi::CString;
use std::sync::Arc;

use subinterpreters_core::BufferLease;

use crate::ffi::{current_interpreter_id, memoryview_of, py_slot, Export, Owned, PyResult, This, TypeDef};
use crate::globals::LEASES;
use crate::module::State;

/// What a `_LentBuffer` object carries: the lease, which interpreter holds it, and the layout in
/// the C types the buffer protocol hands out.
pub(crate) struct LentBufferObject {
    lease: Arc<BufferLease>,
    holder: i64,
    format: CString,
    shape: Box<[isize]>,
    strides: Box<[isize]>,
}

impl Drop for LentBufferObject {
    fn drop(&mut self) {
        LEASES.unhold(&self.lease, self.holder);
        // The lease itself goes with this value; if it was the last reference, its release runs
        // now, in the owner's interpreter.
    }
}

pub(crate) static LENT_BUFFER: TypeDef<LentBufferObject> = TypeDef::new(
    c"subinterpreters._LentBuffer",
    c"Another interpreter's buffer, lent with send_buffer(); read it through the memoryview\n\
recv() returned.",
    &[],
    &[],
    &[py_slot!(getbuffer: export), py_slot!(repr: repr)],
);

/// The read-only memoryview a receiver gets for `lease`.
pub(crate) fn lent_memoryview(state: &State, lease: &Arc<BufferLease>) -> PyResult<Owned> {
    let layout = lease.layout();
    let holder = current_interpreter_id();
    LEASES.hold(lease, holder);
    let value = LentBufferObject {
        lease: lease.clone(),
        holder,
        format: CString::new(layout.format()).unwrap_or_else(|_| c"B".to_owned()),
        shape: layout.shape().iter().map(|&n| n as isize).collect(),
        strides: layout.strides().into(),
    };
    let lent = state.lent_buffer_type.instance(value)?;
    memoryview_of(lent.as_ref())
}

fn export<'a>(this: This<'a, LentBufferObject>) -> PyResult<Export<'a>> {
    let value = this.value;
    let layout = value.lease.layout();
    Ok(Export {
        address: value.lease.address() as *mut u8,
        len: layout.nbytes(),
        readonly: true,
        itemsize: layout.itemsize(),
        format: &value.format,
        shape: &value.shape,
        strides: &value.strides,
        c_contiguous: layout.is_c_contiguous(),
        f_contiguous: layout.is_f_contiguous(),
    })
}

fn repr(this: This<'_, LentBufferObject>) -> String {
    format!("<buffer lent by interpreter {}>", this.value.lease.owner())
}
