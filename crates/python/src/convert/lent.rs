//! Memoryviews and `send_buffer` crossing without a copy: [`lend`] wraps the owner's buffer in a
//! lease; [`lent_memoryview`] shows a lease to the receiver behind a `memoryview` of a
//! `_LentBuffer` object.

use std::ffi::CString;
use std::sync::Arc;

use subinterpreters_core::{ArrayLayout, BufferLease, Payload};

use crate::errors::Error;
use crate::ffi::{current_interpreter_id, memoryview_of, BufferView, Owned, PyResult, Ref};
use crate::globals::{INTERPRETERS, LEASES};
use crate::state::State;
use crate::values::LentBufferObject;

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
