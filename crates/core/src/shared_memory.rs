//! Memory shared by every interpreter of the process: blocks the package owns (behind
//! `SharedArray`) and the layout that describes them as typed n-dimensional arrays, in the terms
//! of the buffer protocol (PEP 3118): a `struct` format, an item size, a shape and strides.
//!
//! A block is plain memory: every handle may read and write it at any time, from any thread. The
//! package never synchronises those accesses (users pair arrays with the shared locks); it only
//! guarantees that the memory lives while any handle does.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use std::sync::Arc;

/// Alignment of every block: a cache line, and enough for any SIMD load numpy makes.
pub const BLOCK_ALIGN: usize = 64;

/// A zero-filled, 64-byte aligned block of memory, freed when the last `Arc` goes.
pub struct SharedBlock {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the block is plain memory with no thread affinity; concurrent access to its bytes is
// the users' business (as for an mmap), and the pointer itself is never changed after creation.
unsafe impl Send for SharedBlock {}
// SAFETY: as above; `&SharedBlock` only hands out the address and length.
unsafe impl Sync for SharedBlock {}

/// The memory could not be had: too large for the address space, or the allocator refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    /// The size overflows (`usize` or the allocator's limit).
    TooLarge,
    /// The allocator returned nothing.
    OutOfMemory,
}

impl SharedBlock {
    /// A zero-filled block of `len` bytes (`len` may be 0).
    pub fn zeroed(len: usize) -> Result<Arc<SharedBlock>, AllocError> {
        let layout = Self::layout(len)?;
        // SAFETY: the layout has a non-zero size (see `layout`).
        let ptr = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or(AllocError::OutOfMemory)?;
        Ok(Arc::new(SharedBlock { ptr, len }))
    }

    /// The allocation layout for `len` bytes: never zero-sized, so every block has a real,
    /// aligned address.
    fn layout(len: usize) -> Result<Layout, AllocError> {
        Layout::from_size_align(len.max(1), BLOCK_ALIGN).map_err(|_| AllocError::TooLarge)
    }

    /// The first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a block of 0 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for SharedBlock {
    fn drop(&mut self) {
        let layout = Self::layout(self.len).expect("the layout was valid when allocated");
        // SAFETY: allocated by `zeroed` with this very layout, and freed only here, once.
        unsafe { dealloc(self.ptr.as_ptr(), layout) };
    }
}

/// How a block of memory reads as an array: item format and size, shape and strides (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayLayout {
    format: Box<str>,
    itemsize: usize,
    shape: Box<[usize]>,
    strides: Box<[isize]>,
    nbytes: usize,
}

/// Why a layout cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The format is not one of the native single-item `struct` codes.
    UnknownFormat,
    /// The total size overflows.
    TooLarge,
    /// More dimensions than the buffer protocol allows (64).
    TooManyDimensions,
}

/// Most dimensions a buffer may have (CPython's `PyBUF_MAX_NDIM`).
pub const MAX_NDIM: usize = 64;

/// The native `struct` codes a `SharedArray` may be created with, and their sizes.
const NATIVE_FORMATS: &[(char, usize)] = &[
    ('b', 1),
    ('B', 1),
    ('c', 1),
    ('?', 1),
    ('h', 2),
    ('H', 2),
    ('e', 2),
    ('i', 4),
    ('I', 4),
    ('f', 4),
    ('l', std::mem::size_of::<std::ffi::c_long>()),
    ('L', std::mem::size_of::<std::ffi::c_ulong>()),
    ('q', 8),
    ('Q', 8),
    ('n', std::mem::size_of::<isize>()),
    ('N', std::mem::size_of::<usize>()),
    ('d', 8),
];

/// The supported codes, for error messages.
pub fn native_format_codes() -> String {
    NATIVE_FORMATS.iter().map(|(code, _)| *code).collect()
}

/// The item size of a native single-item `struct` format (`"d"`, `"@i"`, ...), or `None`.
pub fn native_itemsize(format: &str) -> Option<usize> {
    let code = format.strip_prefix('@').unwrap_or(format);
    let mut chars = code.chars();
    let (Some(code), None) = (chars.next(), chars.next()) else { return None };
    NATIVE_FORMATS.iter().find(|(known, _)| *known == code).map(|(_, size)| *size)
}

impl ArrayLayout {
    /// A C-contiguous layout of `shape` items of a native `format`.
    pub fn c_contiguous(format: &str, shape: &[usize]) -> Result<ArrayLayout, LayoutError> {
        let itemsize = native_itemsize(format).ok_or(LayoutError::UnknownFormat)?;
        Self::c_contiguous_with_itemsize(format, itemsize, shape)
    }

    /// A C-contiguous layout of `shape` items of `itemsize` bytes described by `format` (any
    /// format an exporter reported).
    pub fn c_contiguous_with_itemsize(
        format: &str,
        itemsize: usize,
        shape: &[usize],
    ) -> Result<ArrayLayout, LayoutError> {
        if shape.len() > MAX_NDIM {
            return Err(LayoutError::TooManyDimensions);
        }
        let mut strides = vec![0isize; shape.len()];
        let mut step = itemsize;
        for (dim, &extent) in shape.iter().enumerate().rev() {
            strides[dim] = isize::try_from(step).map_err(|_| LayoutError::TooLarge)?;
            step = step.checked_mul(extent).ok_or(LayoutError::TooLarge)?;
        }
        // `step` is now itemsize * product(shape): the size in bytes. Layout limits blocks to
        // isize::MAX bytes.
        if isize::try_from(step).is_err() {
            return Err(LayoutError::TooLarge);
        }
        Ok(ArrayLayout { format: format.into(), itemsize, shape: shape.into(), strides: strides.into(), nbytes: step })
    }

    /// A layout exactly as an exporter described it (strides may be anything).
    pub fn described(format: &str, itemsize: usize, shape: &[usize], strides: &[isize], nbytes: usize) -> ArrayLayout {
        ArrayLayout { format: format.into(), itemsize, shape: shape.into(), strides: strides.into(), nbytes }
    }

    /// The `struct` format of one item.
    pub fn format(&self) -> &str {
        &self.format
    }

    /// Bytes per item.
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    /// Items along each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Bytes from one item to the next along each dimension.
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// True if the items are laid out in C order without gaps.
    pub fn is_c_contiguous(&self) -> bool {
        self.contiguous(self.shape.len(), |dims| Box::new(dims.rev()))
    }

    /// True if the items are laid out in Fortran order without gaps.
    pub fn is_f_contiguous(&self) -> bool {
        self.contiguous(self.shape.len(), |dims| Box::new(dims))
    }

    /// Walks the dimensions from the fastest-varying one, as `order` says, checking each stride
    /// equals the bytes of everything inside it (dimensions of extent 0 or 1 do not matter).
    fn contiguous(
        &self,
        ndim: usize,
        order: impl Fn(std::ops::Range<usize>) -> Box<dyn Iterator<Item = usize>>,
    ) -> bool {
        if self.shape.contains(&0) {
            return true;
        }
        let mut expected = self.itemsize as isize;
        for dim in order(0..ndim) {
            let extent = self.shape[dim];
            if extent != 1 && self.strides[dim] != expected {
                return false;
            }
            expected *= extent as isize;
        }
        true
    }

    /// Size of the data in bytes (itemsize times the number of items).
    pub fn nbytes(&self) -> usize {
        self.nbytes
    }
}

/// Which Python class a shared array is shown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayKind {
    /// `SharedArray`.
    Array,
    /// `SharedBuffer`: 1-D bytes.
    Buffer,
}

/// A handle on shared memory as a typed array: what a `SharedArray` carries, and what crosses
/// interpreters (in O(1): two reference counts and a flag).
#[derive(Clone)]
pub struct SharedArray {
    block: Arc<SharedBlock>,
    layout: Arc<ArrayLayout>,
    readonly: bool,
    kind: ArrayKind,
}

impl SharedArray {
    /// A new zero-filled array of `layout`.
    pub fn zeroed(layout: ArrayLayout, kind: ArrayKind) -> Result<SharedArray, AllocError> {
        let block = SharedBlock::zeroed(layout.nbytes())?;
        Ok(SharedArray { block, layout: Arc::new(layout), readonly: false, kind })
    }

    /// The same memory and layout, read-only.
    pub fn to_readonly(&self) -> SharedArray {
        SharedArray { readonly: true, ..self.clone() }
    }

    /// The memory.
    pub fn block(&self) -> &SharedBlock {
        &self.block
    }

    /// The layout.
    pub fn layout(&self) -> &ArrayLayout {
        &self.layout
    }

    /// True if buffers of this handle refuse writes.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// Which Python class it is shown as.
    pub fn kind(&self) -> ArrayKind {
        self.kind
    }

    /// True if both handles are over the same memory.
    pub fn same_memory(&self, other: &SharedArray) -> bool {
        Arc::ptr_eq(&self.block, &other.block)
    }
}

/// A [`SharedArray`] that does not keep its memory alive (see [`crate::weak_ids`]).
pub struct WeakSharedArray {
    block: std::sync::Weak<SharedBlock>,
    layout: Arc<ArrayLayout>,
    readonly: bool,
    kind: ArrayKind,
}

impl SharedArray {
    /// A weak handle, and its identity for [`crate::WeakIds`]: the memory's address, and what
    /// else tells this view from another on the same memory (its layout, whether it is
    /// read-only, its class), so each revives as itself. (The weak handle holds the layout, so
    /// its address is not reused while the handle is listed.)
    pub fn downgrade(&self) -> (ArrayIdentity, WeakSharedArray) {
        let weak = WeakSharedArray {
            block: Arc::downgrade(&self.block),
            layout: self.layout.clone(),
            readonly: self.readonly,
            kind: self.kind,
        };
        let identity =
            (Arc::as_ptr(&self.block) as usize, Arc::as_ptr(&self.layout) as usize, self.readonly, self.kind);
        (identity, weak)
    }
}

/// A shared array view's identity (see [`SharedArray::downgrade`]): memory, layout, read-only, class.
pub type ArrayIdentity = (usize, usize, bool, ArrayKind);

impl crate::weak_ids::WeakRef for WeakSharedArray {
    type Strong = SharedArray;
    type Identity = ArrayIdentity;
    fn upgrade(&self) -> Option<SharedArray> {
        let block = self.block.upgrade()?;
        Some(SharedArray { block, layout: self.layout.clone(), readonly: self.readonly, kind: self.kind })
    }
}

impl std::fmt::Debug for SharedArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedArray")
            .field("address", &self.block.as_ptr())
            .field("layout", &self.layout)
            .field("readonly", &self.readonly)
            .finish()
    }
}
