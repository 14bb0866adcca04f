//! CPython 3.12.0-3.12.3 crashes at exit once an isolated interpreter was the first to call some
//! C function with a keyword argument (cpython gh-119213, fixed in 3.12.4).
//!
//! Argument Clinic gives each such function a static `_PyArg_Parser` whose tuple of keyword names
//! (`kwtuple`) is made lazily, by whichever interpreter first passes a keyword, and the parser is
//! then linked into a runtime-wide list. An isolated interpreter makes the tuple with its own
//! object allocator; at runtime finalisation `_PyArg_Fini` walks the list and frees every such
//! tuple with the main interpreter's allocator: an invalid free ("free(): invalid pointer",
//! SIGSEGV). It takes only `pickle.dumps(1, protocol=5)`, `math.isclose(a, b, rel_tol=...)` or
//! `asyncio.run(...)` inside a subinterpreter, and `Interpreter.call` made from one (its pickler
//! gets `protocol=`). 3.12.4 makes the tuple in the main interpreter instead.
//!
//! The workaround, applied by the exit hook once our interpreters are closed: mark every parser
//! on the list as not owning its tuple (as parsers with static tuples are marked), so that
//! `_PyArg_Fini` frees none. The tuples are then left to the process's end; those made by a
//! subinterpreter live in its object arenas, which 3.12 never releases, so no parser ever points
//! at freed memory. The list's head lives in `_PyRuntime`, whose layout is private: we reach it
//! through a parser of our own, initialised at that moment with the exported
//! `_PyArg_UnpackKeywords`, which links it at the head; its `next` is everybody else. (Nodes
//! behind it are only ever changed by `_PyArg_Fini`; new ones go in front.)

use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3_ffi as sys;

/// `struct _PyArg_Parser` of CPython 3.12 (`Include/cpython/modsupport.h`, a public header).
#[repr(C)]
struct ArgParser {
    /// 0: not yet; 1: initialised, owns `kwtuple`; -1: initialised, `kwtuple` static.
    initialized: c_int,
    format: *const c_char,
    keywords: *const *const c_char,
    fname: *const c_char,
    custom_msg: *const c_char,
    pos: c_int,
    min: c_int,
    max: c_int,
    kwtuple: *mut sys::PyObject,
    next: *mut ArgParser,
}

/// Our own parser: a function without keywords, and its (empty, NULL-terminated) keyword list.
#[repr(C)]
struct Probe {
    parser: ArgParser,
    keywords: [*const c_char; 1],
}

/// The probe lives in a static: once initialised it is on the runtime's list for good.
struct ProbeCell(UnsafeCell<Probe>);

// SAFETY: the probe is written only by `disown_keyword_name_tuples`, once (`USED`), with the GIL
// held, and after that only by CPython's `_PyArg_Fini` at finalisation.
unsafe impl Sync for ProbeCell {}

static PROBE: ProbeCell = ProbeCell(UnsafeCell::new(Probe {
    parser: ArgParser {
        initialized: 0,
        format: ptr::null(),
        keywords: ptr::null(),
        fname: c"subinterpreters".as_ptr(),
        custom_msg: ptr::null(),
        pos: 0,
        min: 0,
        max: 0,
        kwtuple: ptr::null_mut(),
        next: ptr::null_mut(),
    },
    keywords: [ptr::null()],
}));

/// Set by the first (and only effective) call: the probe reaches the whole list only when it is
/// linked, and it is linked once.
static USED: AtomicBool = AtomicBool::new(false);

extern "C" {
    /// Exported by CPython 3.12 (`PyAPI_FUNC` in `Include/cpython/modsupport.h`): unpacks
    /// arguments for Argument Clinic, initialising `parser` first.
    fn _PyArg_UnpackKeywords(
        args: *const *mut sys::PyObject,
        nargs: sys::Py_ssize_t,
        kwargs: *mut sys::PyObject,
        kwnames: *mut sys::PyObject,
        parser: *mut ArgParser,
        minpos: c_int,
        maxpos: c_int,
        minkw: c_int,
        buf: *mut *mut sys::PyObject,
    ) -> *const *mut sys::PyObject;
}

/// Whether the running CPython has the bug (3.12.0 to 3.12.3).
fn affected() -> bool {
    // SAFETY: Py_Version is an immutable exported constant.
    let version = unsafe { sys::Py_Version };
    (0x030C_0000..0x030C_0400).contains(&version)
}

/// Keeps runtime finalisation from freeing keyword-name tuples that other interpreters made (see
/// the module docs). Returns how many parsers it marked. Call in the main interpreter, with its
/// GIL, once no other interpreter runs code any more (at exit, after closing ours).
pub(crate) fn disown_keyword_name_tuples() -> usize {
    if !affected() {
        return 0;
    }
    if USED.swap(true, Ordering::AcqRel) {
        return 0;
    }
    let probe = PROBE.0.get();
    // SAFETY: first and only use (USED), with the GIL held: nobody else reads or writes the probe.
    unsafe { (*probe).parser.keywords = (*probe).keywords.as_ptr() };
    let mut buf: [*mut sys::PyObject; 1] = [ptr::null_mut()];
    // SAFETY: the caller holds the GIL (function contract). No arguments at all (args NULL with
    // nargs 0, no keywords) for a parser of no parameters: CPython initialises the parser — its
    // keyword tuple is the empty tuple, made by no allocator — links it at the head of the list,
    // and returns `buf`. The probe is a static, so it outlives the list.
    let unpacked = unsafe {
        _PyArg_UnpackKeywords(
            ptr::null(),
            0,
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::addr_of_mut!((*probe).parser),
            0,
            0,
            0,
            buf.as_mut_ptr(),
        )
    };
    if unpacked.is_null() {
        super::error::clear_error();
        return 0;
    }
    let mut marked = 0;
    // SAFETY: initialised and linked just above; CPython wrote `next` under its lock, on this thread.
    let mut node = unsafe { (*probe).parser.next };
    while !node.is_null() {
        // SAFETY: every node on the list is a static parser of a loaded module (modules are not
        // unloaded before finalisation) or our static probe; nodes behind the head are only
        // modified by _PyArg_Fini, which has not run yet (we are in an exit hook). Whether a
        // parser owns its tuple is only read by _PyArg_Fini; parsers being initialised test
        // `initialized` for non-zero, which -1 still is.
        unsafe {
            if (*node).initialized == 1 {
                (*node).initialized = -1;
                marked += 1;
            }
            node = (*node).next;
        }
    }
    marked
}
