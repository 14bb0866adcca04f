//! Lending buffers without a copy (`send_buffer`, and memoryviews crossing as CPython 3.14 lets
//! them: sharing their memory): [`lend`] on the owner's side, and on the receiving side another
//! interpreter's buffer shown, without a copy, behind a `memoryview`. The hidden `_LentBuffer` object exports the lent memory; the
//! memoryview the receiver gets holds it, so releasing the view (or dropping it) drops the lease's
//! reference and lets the owner's interpreter release its exporter.

use std::ffi::CString;
use std::sync::Arc;

use subinterpreters_core::BufferLease;

use subinterpreters_core::{ArrayLayout, Payload};

use crate::errors::Error;
use crate::ffi::{
    current_interpreter_id, memoryview_of, py_slot, BufferView, Export, Owned, PyResult, Ref, This, TypeDef,
};
use crate::globals::{INTERPRETERS, LEASES};
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

/// Acquires `obj`'s buffer here and wraps it in a lease that gives it back here when dropped.
/// With `share_writes`, receivers may write through their views if the buffer is writable (a
/// memoryview crossing); otherwise they read only (`send_buffer`).
pub(crate) fn lend(state: &State, obj: Ref<'_>, share_writes: bool) -> PyResult<Payload> {
    let view = BufferView::get(obj)?;
    let owner = current_interpreter_id();
    // The lease must be able to come back: only interpreters whose close we control (ours, which
    // refuse to close while lent) or the main one may lend.
    if owner != 0 && !INTERPRETERS.contains(owner) {
        return Err(state.fail(Error::CannotLend { id: owner }));
    }
    let layout = ArrayLayout::described(&view.format(), view.itemsize(), &view.shape(), &view.strides(), view.len());
    let writable = share_writes && !view.readonly();
    let address = view.address();
    let lent = view.lend();
    let release = move || {
        // SAFETY: the owner cannot be closed while this lease is listed in LEASES (close
        // refuses), and the exit hook abandons the release before it ends an owner regardless.
        unsafe { lent.release() }
    };
    let lease = LEASES.lend(owner, address, layout, writable, Box::new(release));
    Ok(Payload::Buffer(lease))
}

/// The memoryview a receiver gets for `lease` (read-only unless the lease is writable).
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
        readonly: !value.lease.writable(),
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
