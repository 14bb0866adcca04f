//! `SharedArray` and `SharedBuffer`: typed n-dimensional memory owned by the package and shared
//! by every interpreter that holds a handle, exported through the buffer protocol.

use subinterpreters_core::shared_memory::{native_format_codes, AllocError, LayoutError};
use subinterpreters_core::{ArrayKind, ArrayLayout, SharedArray};

use crate::ffi::{
    builtin, int_from_i64, int_from_u64, memoryview_of, py_getter, py_method, py_slot, raise, str_from, tuple, Args,
    BufferView, Builtin, Export, ObjKind, Owned, Param, ParamKind, PyResult, Ref, Signature, SlotImpl, This, TypeDef,
};
use crate::state::{state_of, state_of_type};
use crate::values::SharedArrayObject;

pub(crate) static SHARED_ARRAY: TypeDef<SharedArrayObject> = TypeDef::subclassable(
    c"subinterpreters.SharedArray",
    c"SharedArray(shape, format='B')\n--\n\n\
A zero-filled, writable, C-contiguous n-dimensional array in memory shared by every\n\
interpreter of the process (64-byte aligned), with the buffer protocol: memoryview(a) is typed\n\
and n-dimensional in any interpreter, and numpy.asarray(a) is a zero-copy array wherever numpy\n\
can be imported.\n\n\
shape is an int or a tuple of ints (>= 0); format is a native struct code: one of\n\
b B c ? h H e i I f l L q Q n N d, optionally prefixed with '@'.\n\n\
Shareable in O(1): sending it through a channel or queue, or binding it with run(**shared),\n\
gives the receiver a SharedArray over the same memory. Writes by one interpreter are seen by\n\
the others at once and are not synchronised: pair the array with a shared Lock where needed.\n\
The memory is freed when the last handle and the last buffer view of it, anywhere, are gone.",
    &[
        py_method!(c"tolist", c"tolist($self, /)\n--\n\n\
Return the items as nested lists (a single value for a 0-d array), as memoryview.tolist().", noargs: tolist),
        py_method!(c"readonly", c"readonly($self, /)\n--\n\n\
Return a read-only SharedArray over the same memory.", noargs: readonly),
        py_method!(c"from_buffer", c"from_buffer($type, obj, /)\n--\n\n\
Copy the data of any buffer exporter (numpy array, bytes, bytearray, array.array, memoryview,\n\
strided or not) once into new shared memory, keeping its format and shape. Called on\n\
SharedBuffer, returns a SharedBuffer of its bytes.", classmethod: from_buffer),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<SharedArrayObject>),
    ],
    &[
        py_getter!(c"shape", c"Items along each dimension (a tuple of ints).", shape),
        py_getter!(c"format", c"The struct format of one item.", format),
        py_getter!(c"itemsize", c"Bytes per item.", itemsize),
        py_getter!(c"nbytes", c"Size of the data in bytes.", nbytes),
        py_getter!(c"ndim", c"Number of dimensions.", ndim),
        py_getter!(c"strides", c"Bytes from one item to the next along each dimension (C order).", strides),
    ],
    &[
        py_slot!(new: new_array),
        py_slot!(getbuffer: export),
        py_slot!(len: length),
        // A handle is true even when empty or 0-d (len() of a 0-d array raises).
        SlotImpl::always_true(),
        py_slot!(repr: repr),
    ],
);

pub(crate) static SHARED_BUFFER: TypeDef<SharedArrayObject> = TypeDef::new(
    c"subinterpreters.SharedBuffer",
    c"SharedBuffer(nbytes)\n--\n\n\
A SharedArray of nbytes bytes: 1-D, format 'B'. Shared, exported and freed like SharedArray.",
    &[],
    &[],
    &[py_slot!(new: new_buffer), py_slot!(repr: repr)],
);

static NEW_ARRAY_SIGNATURE: Signature<2> = Signature {
    function: "SharedArray",
    params: [
        Param { name: c"shape", kind: ParamKind::PositionalOrKeyword, required: true },
        Param { name: c"format", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn new_array(_ty: Ref<'_>, args: Args<'_>) -> PyResult<SharedArrayObject> {
    let [shape, format] = args.parse(&NEW_ARRAY_SIGNATURE)?;
    let shape = parse_shape(shape.expect("required"))?;
    let format = match format {
        None => "B".to_owned(),
        Some(format) if format.kind() == ObjKind::Str => format.to_string_lossy(),
        Some(format) => {
            return Err(raise(
                builtin(Builtin::TypeError),
                &format!("format must be a str (a struct code such as 'd'), not {}", format.type_qualname()),
            ))
        }
    };
    let layout = ArrayLayout::c_contiguous(&format, &shape).map_err(|error| layout_error(error, &format))?;
    allocate(layout, ArrayKind::Array)
}

static NEW_BUFFER_SIGNATURE: Signature<1> = Signature {
    function: "SharedBuffer",
    params: [Param { name: c"nbytes", kind: ParamKind::PositionalOrKeyword, required: true }],
    var_keyword: false,
};

fn new_buffer(_ty: Ref<'_>, args: Args<'_>) -> PyResult<SharedArrayObject> {
    let [nbytes] = args.parse(&NEW_BUFFER_SIGNATURE)?;
    let nbytes = dimension(nbytes.expect("required"), "nbytes")?;
    let layout = ArrayLayout::c_contiguous("B", &[nbytes]).map_err(|error| layout_error(error, "B"))?;
    allocate(layout, ArrayKind::Buffer)
}

fn allocate(layout: ArrayLayout, kind: ArrayKind) -> PyResult<SharedArrayObject> {
    let nbytes = layout.nbytes();
    SharedArray::zeroed(layout, kind).map(SharedArrayObject::new).map_err(|error| match error {
        AllocError::TooLarge => raise(builtin(Builtin::OverflowError), &format!("{nbytes} bytes is too large")),
        AllocError::OutOfMemory => {
            raise(builtin(Builtin::MemoryError), &format!("cannot allocate {nbytes} bytes of shared memory"))
        }
    })
}

/// An int, or a tuple of ints, each >= 0.
fn parse_shape(shape: Ref<'_>) -> PyResult<Vec<usize>> {
    match shape.kind() {
        ObjKind::Int => Ok(vec![dimension(shape, "shape")?]),
        ObjKind::Tuple => shape.tuple_items().map(|extent| dimension(extent, "shape")).collect(),
        _ => Err(raise(
            builtin(Builtin::TypeError),
            &format!("shape must be an int or a tuple of ints, not {}", shape.type_qualname()),
        )),
    }
}

fn dimension(value: Ref<'_>, what: &str) -> PyResult<usize> {
    if value.kind() != ObjKind::Int {
        return Err(raise(
            builtin(Builtin::TypeError),
            &format!("{what} must be made of ints, not {}", value.type_qualname()),
        ));
    }
    match value.int_as_i64()? {
        Some(n) if n >= 0 => {
            usize::try_from(n).map_err(|_| raise(builtin(Builtin::OverflowError), &format!("{what} {n} is too large")))
        }
        Some(n) => Err(raise(builtin(Builtin::ValueError), &format!("{what} must be >= 0, got {n}"))),
        None => Err(raise(builtin(Builtin::OverflowError), &format!("{what} {} is too large", value.str_lossy()))),
    }
}

fn layout_error(error: LayoutError, format: &str) -> crate::ffi::Raised {
    match error {
        LayoutError::UnknownFormat => raise(
            builtin(Builtin::ValueError),
            &format!(
                "unsupported format {format:?}: use one native struct code ({}), optionally prefixed with '@'",
                native_format_codes()
            ),
        ),
        LayoutError::TooLarge => raise(builtin(Builtin::OverflowError), "the array is too large"),
        LayoutError::TooManyDimensions => raise(builtin(Builtin::ValueError), "an array has at most 64 dimensions"),
    }
}

static FROM_BUFFER_SIGNATURE: Signature<1> = Signature {
    function: "from_buffer",
    params: [Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

fn from_buffer(cls: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [obj] = args.parse(&FROM_BUFFER_SIGNATURE)?;
    let state = state_of_type(cls)?;
    let view = BufferView::get(obj.expect("required"))?;
    let as_bytes = cls.is_subtype_of(state.shared_buffer_type.as_ref());
    let layout = if as_bytes {
        ArrayLayout::c_contiguous("B", &[view.len()])
    } else {
        ArrayLayout::c_contiguous_with_itemsize(&view.format(), view.itemsize(), &view.shape())
    }
    .map_err(|error| layout_error(error, &view.format()))?;
    let kind = if as_bytes { ArrayKind::Buffer } else { ArrayKind::Array };
    let value = allocate(layout, kind)?;
    let block = value.array.block();
    // SAFETY: the block was just allocated, nobody else has it, and it holds exactly view.len()
    // bytes: BufferView::get checked that len is itemsize times the items, which is what the
    // layout above allocated (or, as bytes, len itself).
    let destination = unsafe { std::slice::from_raw_parts_mut(block.as_ptr(), block.len()) };
    view.copy_c_order(destination)?;
    drop(view);
    // SAFETY: a classmethod of SharedArray is called with SharedArray or a subclass of it.
    unsafe { state.shared_array_type.instance_of(cls, value) }
}

fn tolist(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    let view = memoryview_of(this.obj)?;
    let list = view.as_ref().getattr(c"tolist")?.as_ref().call(&[])?;
    view.as_ref().getattr(c"release")?.as_ref().call(&[])?;
    Ok(list)
}

fn readonly(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let value = SharedArrayObject::new(this.value.array.to_readonly());
    // SAFETY: `this.obj`'s type is SharedArray or a subclass of it.
    unsafe { state.shared_array_type.instance_of(this.obj.type_of(), value) }
}

fn export<'a>(this: This<'a, SharedArrayObject>) -> PyResult<Export<'a>> {
    let value = this.value;
    let layout = value.array.layout();
    Ok(Export {
        address: value.array.block().as_ptr(),
        len: layout.nbytes(),
        readonly: value.array.readonly(),
        itemsize: layout.itemsize(),
        format: &value.format,
        shape: &value.shape,
        strides: &value.strides,
        c_contiguous: true,
        f_contiguous: layout.is_f_contiguous(),
    })
}

fn length(this: This<'_, SharedArrayObject>) -> PyResult<usize> {
    match this.value.array.layout().shape().first() {
        Some(&first) => Ok(first),
        None => Err(raise(builtin(Builtin::TypeError), "len() of a 0-d SharedArray")),
    }
}

fn repr(this: This<'_, SharedArrayObject>) -> String {
    let array = &this.value.array;
    let layout = array.layout();
    let readonly = if array.readonly() { ", readonly=True" } else { "" };
    if array.kind() == ArrayKind::Buffer {
        return format!("SharedBuffer(nbytes={}{readonly})", layout.nbytes());
    }
    let shape = match layout.shape() {
        [only] => format!("({only},)"),
        dims => format!("({})", dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    format!("{}(shape={shape}, format='{}'{readonly})", this.obj.type_qualname(), layout.format())
}

fn ints(values: impl Iterator<Item = PyResult<Owned>>) -> PyResult<Owned> {
    tuple(values.collect::<PyResult<Vec<_>>>()?)
}

fn shape(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    ints(this.value.array.layout().shape().iter().map(|&n| int_from_u64(n as u64)))
}

fn format(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    str_from(this.value.array.layout().format())
}

fn itemsize(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    int_from_u64(this.value.array.layout().itemsize() as u64)
}

fn nbytes(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    int_from_u64(this.value.array.layout().nbytes() as u64)
}

fn ndim(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    int_from_u64(this.value.array.layout().ndim() as u64)
}

fn strides(this: This<'_, SharedArrayObject>) -> PyResult<Owned> {
    ints(this.value.array.layout().strides().iter().map(|&n| int_from_i64(n as i64)))
}
