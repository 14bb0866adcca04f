//! `_LentBuffer`, the hidden type behind the memoryview a receiver gets for a lent buffer
//! (`send_buffer`, or a memoryview crossing as CPython 3.14 lets it: sharing its memory): it
//! exports another interpreter's memory without a copy (see `convert/lent.rs` for lending).
//! The memoryview holds it, so releasing the view (or dropping it) drops the lease's reference
//! and lets the owner's interpreter release its exporter.

use crate::ffi::{py_slot, Export, PyResult, This, TypeDef};
use crate::values::LentBufferObject;

pub(crate) static LENT_BUFFER: TypeDef<LentBufferObject> = TypeDef::new(
    c"subinterpreters._LentBuffer",
    c"Another interpreter's buffer, lent with send_buffer(); read it through the memoryview\n\
recv() returned.",
    &[],
    &[],
    &[py_slot!(getbuffer: export), py_slot!(repr: repr)],
);

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
