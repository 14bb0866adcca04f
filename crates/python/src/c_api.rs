//! The C API (`python/subinterpreters/include/subinterpreters.h`): a table of `extern "C"`
//! functions published in the capsule `subinterpreters._core._C_API`.
//!
//! Apart from `handle_from_object` and `raise_error`, which run with the caller's GIL, every
//! function is plain Rust over the core: no thread state, no GIL, so native threads that never
//! ran Python may call them. A handle is a core [`Endpoint`] (one more holder of its queue or
//! channel end, as a Python object is) lent to C through a [`ForeignSlots`] table; a block is a
//! [`SharedArray`] lent the same way. Every function catches panics (a panic must not unwind into
//! C) and refuses null and stale pointers with a code.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::LazyLock;

use subinterpreters_core::foreign::Slot;
use subinterpreters_core::shared_memory::{AllocError, MAX_NDIM};
use subinterpreters_core::{
    ArrayKind, ArrayLayout, Endpoint, ForeignSlots, OfferError, Payload, SharedArray, TakeError, Wait,
};

use crate::errors::{CApiFailure, Error};
use crate::ffi::{builtin, object_from_c, raise, Builtin, ObjectPtr, Raised};
use crate::state::{with_imported_state, MODULE};
use crate::values::SharedArrayObject;

// ---- the ABI: codes, kinds and the table, as in the header -----------------------------------------

/// `SUBINTERPRETERS_CAPI_VERSION`.
const ABI_VERSION: c_uint = 1;

/// The capsule's name (`SUBINTERPRETERS_CAPSULE_NAME`).
pub(crate) const CAPSULE_NAME: &CStr = c"subinterpreters._core._C_API";

const OK: c_int = 0;
const CHANNEL_CLOSED: c_int = -1;
const CHANNEL_EMPTY: c_int = -2;
const TIMEOUT: c_int = -3;
const QUEUE_CLOSED: c_int = -4;
const QUEUE_EMPTY: c_int = -5;
const QUEUE_FULL: c_int = -6;
const BAD_HANDLE: c_int = -7;
const WRONG_KIND: c_int = -8;
const UNSUPPORTED_ITEM: c_int = -9;
const INVALID_ARGUMENT: c_int = -10;
const NO_MEMORY: c_int = -11;
const INTERNAL_ERROR: c_int = -12;

const KIND_QUEUE: c_int = 1;
const KIND_SEND_END: c_int = 2;
const KIND_RECV_END: c_int = 3;

const ITEM_BYTES: c_int = 1;
const ITEM_BLOCK: c_int = 2;

/// What a `SubinterpretersHandle *` points to.
type Handle = Slot<Endpoint<Payload>>;
/// What a `SubinterpretersBlock *` points to.
type Block = Slot<SharedArrayObject>;

/// `SubinterpretersItem`.
#[repr(C)]
pub(crate) struct Item {
    kind: c_int,
    data: *mut c_void,
    size: usize,
    block: *const Block,
}

/// `SubinterpretersBlockInfo`.
#[repr(C)]
pub(crate) struct BlockInfo {
    data: *mut c_void,
    nbytes: usize,
    itemsize: usize,
    format: *const c_char,
    ndim: c_int,
    shape: *const isize,
    strides: *const isize,
    readonly: c_int,
    is_buffer: c_int,
}

/// `SubinterpretersCAPI`: field for field the header's struct.
#[repr(C)]
pub(crate) struct CApi {
    abi_version: c_uint,
    struct_size: usize,
    handle_from_object: unsafe extern "C" fn(ObjectPtr) -> *const Handle,
    raise_error: unsafe extern "C" fn(c_int) -> ObjectPtr,
    handle_clone: unsafe extern "C" fn(*const Handle, *mut *const Handle) -> c_int,
    handle_release: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_kind: unsafe extern "C" fn(*const Handle) -> c_int,
    put_bytes: unsafe extern "C" fn(*const Handle, *const c_void, usize, f64) -> c_int,
    put_block: unsafe extern "C" fn(*const Handle, *const Block, f64) -> c_int,
    get: unsafe extern "C" fn(*const Handle, f64, *mut Item) -> c_int,
    item_clear: unsafe extern "C" fn(*mut Item) -> c_int,
    close: unsafe extern "C" fn(*const Handle) -> c_int,
    block_new: unsafe extern "C" fn(*const c_char, c_int, *const isize, *mut *const Block) -> c_int,
    buffer_new: unsafe extern "C" fn(usize, *mut *const Block) -> c_int,
    block_info: unsafe extern "C" fn(*const Block, *mut BlockInfo) -> c_int,
    block_release: unsafe extern "C" fn(*const Block) -> c_int,
}

/// The table the capsule points to (process-wide: it holds only function pointers).
pub(crate) static C_API: CApi = CApi {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<CApi>(),
    handle_from_object,
    raise_error,
    handle_clone,
    handle_release,
    handle_kind,
    put_bytes,
    put_block,
    get,
    item_clear,
    close,
    block_new,
    buffer_new,
    block_info,
    block_release,
};

/// Handles lent to C. The tags spell "SIHANDLE" and "SIBLOCK!" in memory order.
static HANDLES: LazyLock<ForeignSlots<Endpoint<Payload>>> =
    LazyLock::new(|| ForeignSlots::new(u64::from_le_bytes(*b"SIHANDLE")));
/// Blocks lent to C.
static BLOCKS: LazyLock<ForeignSlots<SharedArrayObject>> =
    LazyLock::new(|| ForeignSlots::new(u64::from_le_bytes(*b"SIBLOCK!")));

/// Runs `body`, turning a panic into `INTERNAL_ERROR` (nothing may unwind into C).
fn guarded(body: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(INTERNAL_ERROR)
}

/// The endpoint of a handle C passed.
///
/// # Safety
/// `handle` is null or points to 8 readable bytes, and C does not release it during the call
/// (the header's rule: releasing must not race with another call on the handle).
unsafe fn endpoint<'a>(handle: *const Handle) -> Result<&'a Endpoint<Payload>, c_int> {
    // SAFETY: per this function's contract.
    unsafe { HANDLES.get(handle) }.ok_or(BAD_HANDLE)
}

/// The block C passed, as [`endpoint`].
///
/// # Safety
/// As [`endpoint`].
unsafe fn block<'a>(block: *const Block) -> Result<&'a SharedArrayObject, c_int> {
    // SAFETY: per this function's contract.
    unsafe { BLOCKS.get(block) }.ok_or(BAD_HANDLE)
}

/// A timeout in seconds as a wait (NaN is invalid).
fn wait_of(timeout: f64) -> Result<Wait, c_int> {
    Wait::from_seconds(timeout).ok_or(INVALID_ARGUMENT)
}

fn code_of<T>(result: Result<T, c_int>) -> c_int {
    result.map_or_else(|code| code, |_| OK)
}

// ---- with a GIL ------------------------------------------------------------------------------------

/// `handle_from_object`.
///
/// # Safety
/// The calling thread holds the GIL of the interpreter `obj` belongs to; `obj` is NULL or live.
unsafe extern "C" fn handle_from_object(obj: ObjectPtr) -> *const Handle {
    let made = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        let Some(obj) = (unsafe { object_from_c(obj) }) else {
            return Err(raise(builtin(Builtin::TypeError), "expected a Queue or channel end, not NULL"));
        };
        let endpoint = MODULE.state_of_instance(obj).and_then(|state| {
            if let Some(queue) = state.queue_type.downcast(obj) {
                Some(Endpoint::Queue(queue.handle.clone()))
            } else if let Some(send) = state.send_type.downcast(obj) {
                Some(Endpoint::Sender(send.0.clone()))
            } else {
                state.recv_type.downcast(obj).map(|recv| Endpoint::Receiver(recv.0.clone()))
            }
        });
        endpoint
            .map(|endpoint| HANDLES.lend(endpoint))
            .ok_or_else(|| raise_here(Error::NotAnEndpoint(obj.type_qualname().to_string())))
    }));
    match made {
        Ok(Ok(handle)) => handle,
        Ok(Err(_raised)) => ptr::null(),
        Err(_) => {
            let _ = raise(builtin(Builtin::SystemError), "internal error in handle_from_object");
            ptr::null()
        }
    }
}

/// `raise_error`.
///
/// # Safety
/// The calling thread holds the GIL of an interpreter.
unsafe extern "C" fn raise_error(code: c_int) -> ObjectPtr {
    let raised = catch_unwind(AssertUnwindSafe(|| {
        let error = match code {
            CHANNEL_CLOSED => Error::ChannelClosed,
            CHANNEL_EMPTY => Error::ChannelEmpty,
            TIMEOUT => Error::CApi(CApiFailure::TimedOut),
            QUEUE_CLOSED => Error::QueueClosed,
            QUEUE_EMPTY => Error::QueueEmpty,
            QUEUE_FULL => Error::QueueFull,
            BAD_HANDLE => Error::CApi(CApiFailure::BadHandle),
            WRONG_KIND => Error::CApi(CApiFailure::WrongKind),
            UNSUPPORTED_ITEM => Error::CApi(CApiFailure::UnsupportedItem),
            INVALID_ARGUMENT => Error::CApi(CApiFailure::InvalidArgument),
            NO_MEMORY => Error::CApi(CApiFailure::NoMemory),
            INTERNAL_ERROR => Error::CApi(CApiFailure::Internal),
            other => Error::CApi(CApiFailure::UnknownCode(other)),
        };
        raise_here(error)
    }));
    if raised.is_err() {
        let _ = raise(builtin(Builtin::SystemError), "internal error in raise_error");
    }
    ptr::null_mut()
}

/// Raises `error` with the classes of the current interpreter (importing the module there if
/// needed; if that fails, its exception is the one set).
fn raise_here(error: Error) -> Raised {
    match with_imported_state(|state| Err::<(), _>(state.fail(error))) {
        Err(raised) => raised,
        Ok(()) => unreachable!("the closure always fails"),
    }
}

// ---- handles ---------------------------------------------------------------------------------------

/// `handle_clone`.
///
/// # Safety
/// `handle` as in [`endpoint`]; `out` is null or writable.
unsafe extern "C" fn handle_clone(handle: *const Handle, out: *mut *const Handle) -> c_int {
    guarded(|| {
        if out.is_null() {
            return INVALID_ARGUMENT;
        }
        // SAFETY: per this function's contract.
        let cloned = unsafe { endpoint(handle) }.map(|endpoint| HANDLES.lend(endpoint.clone()));
        // SAFETY: `out` is writable (contract).
        unsafe { *out = *cloned.as_ref().unwrap_or(&ptr::null()) };
        code_of(cloned)
    })
}

/// `handle_release`.
///
/// # Safety
/// `handle` is null or points to 8 readable bytes, and no other call uses it meanwhile.
unsafe extern "C" fn handle_release(handle: *const Handle) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        match unsafe { HANDLES.give_up(handle) } {
            // Dropping the endpoint is what a Python object's end does: the last holder closes.
            Some(endpoint) => {
                drop(endpoint);
                OK
            }
            None => BAD_HANDLE,
        }
    })
}

/// `handle_kind`.
///
/// # Safety
/// As [`endpoint`].
unsafe extern "C" fn handle_kind(handle: *const Handle) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        match unsafe { endpoint(handle) } {
            Ok(Endpoint::Queue(_)) => KIND_QUEUE,
            Ok(Endpoint::Sender(_)) => KIND_SEND_END,
            Ok(Endpoint::Receiver(_)) => KIND_RECV_END,
            Err(code) => code,
        }
    })
}

/// `close`.
///
/// # Safety
/// As [`endpoint`].
unsafe extern "C" fn close(handle: *const Handle) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        code_of(unsafe { endpoint(handle) }.map(Endpoint::close))
    })
}

// ---- items -----------------------------------------------------------------------------------------

/// Offers `payload` on `handle`, mapping the outcome to its code; a failed offer's item is
/// dropped here (it was built for this call: the caller's data is untouched).
///
/// # Safety
/// As [`endpoint`].
unsafe fn offer(handle: *const Handle, payload: impl FnOnce() -> Result<Payload, c_int>, timeout: f64) -> c_int {
    let attempt = || {
        // SAFETY: per this function's contract.
        let endpoint = unsafe { endpoint(handle) }?;
        let wait = wait_of(timeout)?;
        endpoint.offer(payload()?, wait).map_err(|error| {
            let queue = endpoint.is_queue();
            match error {
                OfferError::Closed(_) if queue => QUEUE_CLOSED,
                OfferError::Closed(_) => CHANNEL_CLOSED,
                OfferError::Full(_) => QUEUE_FULL,
                OfferError::TimedOut(_) => TIMEOUT,
                OfferError::WrongEnd(_) => WRONG_KIND,
            }
        })
    };
    guarded(|| code_of(attempt()))
}

/// `put_bytes`.
///
/// # Safety
/// `handle` as in [`endpoint`]; `data` is null (with `size` 0) or `size` readable bytes.
unsafe extern "C" fn put_bytes(handle: *const Handle, data: *const c_void, size: usize, timeout: f64) -> c_int {
    let copy = || {
        if data.is_null() {
            return if size == 0 { Ok(Payload::Bytes(Box::default())) } else { Err(INVALID_ARGUMENT) };
        }
        // No object is that large; a slice may not be either.
        if isize::try_from(size).is_err() {
            return Err(INVALID_ARGUMENT);
        }
        // SAFETY: `size` readable bytes at `data` (contract), copied once.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size) };
        Ok(Payload::Bytes(bytes.into()))
    };
    // SAFETY: per this function's contract.
    unsafe { offer(handle, copy, timeout) }
}

/// `put_block`.
///
/// # Safety
/// `handle` and `shared` as in [`endpoint`].
unsafe extern "C" fn put_block(handle: *const Handle, shared: *const Block, timeout: f64) -> c_int {
    // SAFETY: per this function's contract.
    let share = || unsafe { block(shared) }.map(|block| Payload::Array(block.array.clone()));
    // SAFETY: per this function's contract.
    unsafe { offer(handle, share, timeout) }
}

/// `get`.
///
/// # Safety
/// `handle` as in [`endpoint`]; `item` is null or writable.
unsafe extern "C" fn get(handle: *const Handle, timeout: f64, item: *mut Item) -> c_int {
    guarded(|| {
        if item.is_null() {
            return INVALID_ARGUMENT;
        }
        // SAFETY: `item` is writable (contract).
        unsafe { item.write(Item::EMPTY) };
        // SAFETY: per this function's contract.
        let endpoint = match unsafe { endpoint(handle) } {
            Ok(endpoint) => endpoint,
            Err(code) => return code,
        };
        let wait = match wait_of(timeout) {
            Ok(wait) => wait,
            Err(code) => return code,
        };
        let queue = endpoint.is_queue();
        let payload = match endpoint.take(wait) {
            Ok(payload) => payload,
            Err(TakeError::Closed) if queue => return QUEUE_CLOSED,
            Err(TakeError::Closed) => return CHANNEL_CLOSED,
            Err(TakeError::Empty) if queue => return QUEUE_EMPTY,
            Err(TakeError::Empty) => return CHANNEL_EMPTY,
            Err(TakeError::TimedOut) => return TIMEOUT,
            Err(TakeError::WrongEnd) => return WRONG_KIND,
        };
        match Item::from_payload(payload) {
            Ok(taken) => {
                // SAFETY: `item` is writable (contract).
                unsafe { item.write(taken) };
                OK
            }
            Err(payload) => {
                // Not for C: back in front of the line, for a consumer that can take it.
                endpoint.put_back(payload);
                UNSUPPORTED_ITEM
            }
        }
    })
}

impl Item {
    const EMPTY: Item = Item { kind: 0, data: ptr::null_mut(), size: 0, block: ptr::null() };

    /// The item C gets for `payload`, or the payload back if C cannot take it.
    fn from_payload(payload: Payload) -> Result<Item, Payload> {
        match payload {
            Payload::Bytes(bytes) => {
                let size = bytes.len();
                // Handed over as is (no second copy); item_clear rebuilds the box to free it.
                let data = Box::into_raw(bytes).cast::<u8>().cast::<c_void>();
                Ok(Item { kind: ITEM_BYTES, data, size, block: ptr::null() })
            }
            Payload::Array(array) => {
                let data = array.block().as_ptr().cast::<c_void>();
                let size = array.layout().nbytes();
                let block = BLOCKS.lend(SharedArrayObject::new(array));
                Ok(Item { kind: ITEM_BLOCK, data, size, block })
            }
            other => Err(other),
        }
    }
}

/// `item_clear`.
///
/// # Safety
/// `item` is null or a writable item that `get` filled (or zeroed) and C did not change.
unsafe extern "C" fn item_clear(item: *mut Item) -> c_int {
    guarded(|| {
        // SAFETY: null or writable (contract).
        let Some(item) = (unsafe { item.as_mut() }) else { return INVALID_ARGUMENT };
        let code = match item.kind {
            0 => OK,
            ITEM_BYTES if !item.data.is_null() => {
                let bytes = ptr::slice_from_raw_parts_mut(item.data.cast::<u8>(), item.size);
                // SAFETY: `get` made this pointer and length with Box::into_raw of a Box<[u8]>,
                // and C did not change them (contract); the item is zeroed below, so never twice.
                drop(unsafe { Box::from_raw(bytes) });
                OK
            }
            // SAFETY: `block` came from `get` (contract): a slot, or given up already.
            ITEM_BLOCK => match unsafe { BLOCKS.give_up(item.block) } {
                Some(block) => {
                    drop(block);
                    OK
                }
                None => BAD_HANDLE,
            },
            _ => INVALID_ARGUMENT,
        };
        if code == OK {
            *item = Item::EMPTY;
        }
        code
    })
}

// ---- blocks ----------------------------------------------------------------------------------------

/// Makes a zero-filled block of `layout` shown as `kind`, lent into `*out`.
///
/// # Safety
/// `out` is null or writable.
unsafe fn new_block(layout: Result<ArrayLayout, c_int>, kind: ArrayKind, out: *mut *const Block) -> c_int {
    if out.is_null() {
        return INVALID_ARGUMENT;
    }
    let made = layout.and_then(|layout| {
        SharedArray::zeroed(layout, kind).map_err(|error| match error {
            AllocError::TooLarge => INVALID_ARGUMENT,
            AllocError::OutOfMemory => NO_MEMORY,
        })
    });
    let lent = made.map(|array| BLOCKS.lend(SharedArrayObject::new(array)));
    // SAFETY: `out` is writable (contract).
    unsafe { *out = *lent.as_ref().unwrap_or(&ptr::null()) };
    code_of(lent)
}

/// `block_new`.
///
/// # Safety
/// `format` is null or a NUL-terminated string; `shape` is null or `ndim` readable extents; `out`
/// is null or writable.
unsafe extern "C" fn block_new(
    format: *const c_char,
    ndim: c_int,
    shape: *const isize,
    out: *mut *const Block,
) -> c_int {
    guarded(|| {
        let layout = || {
            let format = if format.is_null() {
                "B"
            } else {
                // SAFETY: NUL-terminated (contract).
                unsafe { CStr::from_ptr(format) }.to_str().map_err(|_| INVALID_ARGUMENT)?
            };
            let ndim = usize::try_from(ndim).ok().filter(|&ndim| ndim <= MAX_NDIM).ok_or(INVALID_ARGUMENT)?;
            let extents: &[isize] = match ndim {
                0 => &[],
                _ if shape.is_null() => return Err(INVALID_ARGUMENT),
                // SAFETY: `ndim` readable extents (contract).
                _ => unsafe { std::slice::from_raw_parts(shape, ndim) },
            };
            let shape = extents.iter().map(|&n| usize::try_from(n)).collect::<Result<Vec<_>, _>>();
            ArrayLayout::c_contiguous(format, &shape.map_err(|_| INVALID_ARGUMENT)?).map_err(|_| INVALID_ARGUMENT)
        };
        // SAFETY: `out` per this function's contract.
        unsafe { new_block(layout(), ArrayKind::Array, out) }
    })
}

/// `buffer_new`.
///
/// # Safety
/// `out` is null or writable.
unsafe extern "C" fn buffer_new(nbytes: usize, out: *mut *const Block) -> c_int {
    guarded(|| {
        let layout = ArrayLayout::c_contiguous("B", &[nbytes]).map_err(|_| INVALID_ARGUMENT);
        // SAFETY: `out` per this function's contract.
        unsafe { new_block(layout, ArrayKind::Buffer, out) }
    })
}

/// `block_info`.
///
/// # Safety
/// `shared` as in [`endpoint`]; `info` is null or writable.
unsafe extern "C" fn block_info(shared: *const Block, info: *mut BlockInfo) -> c_int {
    guarded(|| {
        if info.is_null() {
            return INVALID_ARGUMENT;
        }
        // SAFETY: per this function's contract.
        let block = match unsafe { block(shared) } {
            Ok(block) => block,
            Err(code) => return code,
        };
        let layout = block.array.layout();
        let described = BlockInfo {
            data: block.array.block().as_ptr().cast(),
            nbytes: layout.nbytes(),
            itemsize: layout.itemsize(),
            format: block.format.as_ptr(),
            ndim: layout.ndim() as c_int,
            shape: block.shape.as_ptr(),
            strides: block.strides.as_ptr(),
            readonly: c_int::from(block.array.readonly()),
            is_buffer: c_int::from(block.array.kind() == ArrayKind::Buffer),
        };
        // SAFETY: `info` is writable (contract).
        unsafe { info.write(described) };
        OK
    })
}

/// `block_release`.
///
/// # Safety
/// `shared` is null or points to 8 readable bytes, and no other call uses it meanwhile.
unsafe extern "C" fn block_release(shared: *const Block) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        match unsafe { BLOCKS.give_up(shared) } {
            Some(block) => {
                drop(block);
                OK
            }
            None => BAD_HANDLE,
        }
    })
}
