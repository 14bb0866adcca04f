//! The extension module: PEP 489 multi-phase initialisation with per-interpreter state, declared
//! safe for interpreters with their own GIL (the `Py_mod_multiple_interpreters` slot).

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

use pyo3_ffi as sys;

use super::error::{PyResult, Raised};
use super::object::{Owned, Ref};
use super::typeobj::{raw_method, Method, ModuleFunctions};

/// The per-interpreter state of the module: built by `Py_mod_exec`, dropped by `m_clear`/`m_free`.
pub(crate) trait StateObjects: Sized + 'static {
    /// Builds the state for a fresh module object (adding its attributes on the way).
    fn exec(module: Ref<'_>) -> PyResult<Self>;
    /// Calls `visit` on every Python object held, for the cyclic GC; stops at a non-zero result.
    fn for_each_object(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int;
}

/// A module definition: name, docstring and its state type `S` (the functions come with
/// [`ModuleDef::init`], from the module that defines them: the definition sits below them).
pub(crate) struct ModuleDef<S: StateObjects> {
    name: &'static CStr,
    doc: &'static CStr,
    raw: OnceLock<RawModule>,
    _state: std::marker::PhantomData<fn() -> S>,
}

struct RawModule {
    /// Boxed so its address is stable: CPython keeps pointers to it and writes its header.
    def: Box<UnsafeCell<sys::PyModuleDef>>,
    _methods: Box<[sys::PyMethodDef]>,
    _slots: Box<[sys::PyModuleDef_Slot]>,
}

// SAFETY: built once inside OnceLock initialisation; afterwards only CPython touches `def`, under
// its import machinery; the other fields are immutable.
unsafe impl Send for RawModule {}
// SAFETY: as above.
unsafe impl Sync for RawModule {}

/// What `m_size` reserves: the state lives in a box so that zeroed memory (`None`) means "not
/// built yet" or "cleared".
type StateSlot<S> = Option<Box<S>>;

impl<S: StateObjects> ModuleDef<S> {
    pub(crate) const fn new(name: &'static CStr, doc: &'static CStr) -> Self {
        ModuleDef { name, doc, raw: OnceLock::new(), _state: std::marker::PhantomData }
    }

    /// What `PyInit_<name>` returns: the initialised definition (multi-phase initialisation),
    /// with `functions` (only the first call's count: the definition is built once).
    pub(crate) fn init(&'static self, functions: &'static [Method<ModuleFunctions>]) -> *mut sys::PyObject {
        let raw = self.raw.get_or_init(|| {
            let raw = self.build_raw(functions);
            // SAFETY: first and only initialisation of the definition, at its final address.
            unsafe { sys::PyModuleDef_Init(raw.def.get()) };
            raw
        });
        raw.def.get().cast()
    }

    fn build_raw(&self, functions: &'static [Method<ModuleFunctions>]) -> RawModule {
        let mut methods: Vec<sys::PyMethodDef> = functions.iter().map(raw_method).collect();
        methods.push(sys::PyMethodDef::zeroed());
        let mut methods = methods.into_boxed_slice();
        let mut slots = vec![
            sys::PyModuleDef_Slot { slot: sys::Py_mod_exec, value: module_exec::<S> as *mut c_void },
            sys::PyModuleDef_Slot {
                slot: sys::Py_mod_multiple_interpreters,
                value: sys::Py_MOD_PER_INTERPRETER_GIL_SUPPORTED,
            },
            sys::PyModuleDef_Slot { slot: 0, value: ptr::null_mut() },
        ]
        .into_boxed_slice();
        let def = sys::PyModuleDef {
            m_base: sys::PyModuleDef_HEAD_INIT,
            m_name: self.name.as_ptr(),
            m_doc: self.doc.as_ptr(),
            m_size: std::mem::size_of::<StateSlot<S>>() as sys::Py_ssize_t,
            m_methods: methods.as_mut_ptr(),
            m_slots: slots.as_mut_ptr(),
            m_traverse: Some(module_traverse::<S>),
            m_clear: Some(module_clear::<S>),
            m_free: Some(module_free::<S>),
        };
        RawModule { def: Box::new(UnsafeCell::new(def)), _methods: methods, _slots: slots }
    }

    fn raw_def(&self) -> *mut sys::PyModuleDef {
        self.raw.get().map_or(ptr::null_mut(), |raw| raw.def.get())
    }

    /// The state of `module` if it is a module of this definition (anything else, e.g. an
    /// object someone put in `sys.modules` under our name, gives `None`).
    pub(crate) fn state_of_module<'a>(&self, module: Ref<'a>) -> Option<&'a S> {
        // SAFETY: live object; PyModule_Check only reads its type.
        if unsafe { sys::PyModule_Check(module.as_ptr()) } == 0 {
            return None;
        }
        // SAFETY: a module; PyModule_GetDef returns its definition or null (no error set).
        if unsafe { sys::PyModule_GetDef(module.as_ptr()) } != self.raw_def() {
            return None;
        }
        // SAFETY: a module of this definition, so its state memory (m_size bytes, zeroed by
        // CPython, then set by our exec) is a StateSlot<S>, alive as long as the module ('a).
        unsafe {
            let slot = sys::PyModule_GetState(module.as_ptr()).cast::<StateSlot<S>>();
            slot.as_ref()?.as_deref()
        }
    }

    /// The state of the module that defined the type of `obj` (one of our heap types).
    pub(crate) fn state_of_instance<'a>(&self, obj: Ref<'a>) -> Option<&'a S> {
        self.state_of_type(obj.type_of())
    }

    /// The state of the module that defined `ty` (one of our heap types).
    pub(crate) fn state_of_type<'a>(&self, ty: Ref<'a>) -> Option<&'a S> {
        // SAFETY: PyType_GetModuleByDef walks the MRO for a type made by a module of this
        // definition and returns a borrowed module (the type keeps it alive) or null + error.
        let module = unsafe { sys::PyType_GetModuleByDef(ty.as_ptr().cast(), self.raw_def()) };
        if module.is_null() {
            super::error::clear_error();
            return None;
        }
        // SAFETY: non-null module of this definition, alive as long as `obj`'s type.
        self.state_of_module(unsafe { Ref::from_ptr(module) })
    }
}

/// The state memory of `module`.
///
/// # Safety
/// `module` is a live module of our definition (so its state memory, m_size bytes zeroed by
/// CPython, is a `StateSlot<S>`), and no other reference to that memory is alive while the
/// returned one is: true inside the module slots below, which CPython calls one at a time.
unsafe fn state_slot<'a, S: StateObjects>(module: *mut sys::PyObject) -> Option<&'a mut StateSlot<S>> {
    // SAFETY: per the function contract.
    unsafe { sys::PyModule_GetState(module).cast::<StateSlot<S>>().as_mut() }
}

/// `Py_mod_exec`: builds the state of a new module object.
///
/// # Safety
/// Called by CPython with a live module of our definition, once, before any other use of it.
unsafe extern "C" fn module_exec<S: StateObjects>(module: *mut sys::PyObject) -> c_int {
    let built = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: CPython passes the live module being executed.
        S::exec(unsafe { Ref::from_ptr(module) })
    }));
    match built {
        // SAFETY: per this function's contract; no other reference to the state exists yet.
        Ok(Ok(state)) => match unsafe { state_slot::<S>(module) } {
            Some(slot) => {
                *slot = Some(Box::new(state));
                0
            }
            None => -1,
        },
        Ok(Err(Raised { .. })) => -1,
        Err(_) => {
            let _ = super::error::raise(
                super::error::builtin(super::error::Builtin::SystemError),
                "internal error while initialising subinterpreters._core",
            );
            -1
        }
    }
}

/// `m_traverse`: shows the GC the objects the state holds.
///
/// # Safety
/// Called by the GC with a live module of our definition and a visitor for this traversal.
unsafe extern "C" fn module_traverse<S: StateObjects>(
    module: *mut sys::PyObject,
    visit: sys::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: per this function's contract; the GC holds no other reference to the state.
    let Some(Some(state)) = (unsafe { state_slot::<S>(module) }) else { return 0 };
    // SAFETY: `visit` and `arg` come from the GC for this traversal; objects are live.
    state.for_each_object(&mut |obj| unsafe { visit(obj.as_ptr(), arg) })
}

/// `m_clear`: drops the state, releasing every object it holds.
///
/// # Safety
/// Called by CPython with a live module of our definition, when nothing uses its state.
unsafe extern "C" fn module_clear<S: StateObjects>(module: *mut sys::PyObject) -> c_int {
    // SAFETY: per this function's contract.
    if let Some(slot) = unsafe { state_slot::<S>(module) } {
        // Dropping the state releases every reference it holds.
        drop(slot.take());
    }
    0
}

/// `m_free`: as `m_clear`, when the module object is freed.
///
/// # Safety
/// Called by CPython with the module object being freed.
unsafe extern "C" fn module_free<S: StateObjects>(module: *mut c_void) {
    // SAFETY: m_free receives the module object.
    unsafe { module_clear::<S>(module.cast()) };
}

/// `module.<name> = obj`.
pub(crate) fn add_module_object(module: Ref<'_>, name: &CStr, obj: Ref<'_>) -> PyResult<()> {
    // SAFETY: live module and object; PyModule_AddObjectRef takes its own reference.
    let rc = unsafe { sys::PyModule_AddObjectRef(module.as_ptr(), name.as_ptr(), obj.as_ptr()) };
    if rc < 0 {
        Err(Raised::ALREADY)
    } else {
        Ok(())
    }
}

/// `import <name>` in the current interpreter. A module already imported is taken from
/// `sys.modules` (PyImport_GetModule waits for one still being initialized by another thread,
/// as `import` does), which costs a fraction of going through `__import__`.
pub(crate) fn import_module(name: &CStr) -> PyResult<Owned> {
    // SAFETY: NUL-terminated UTF-8 (ASCII) name; returns a new reference or null.
    let key = unsafe { Owned::from_new(sys::PyUnicode_FromString(name.as_ptr()))? };
    // SAFETY: live str; returns a new reference, or null with or without an exception set.
    let found = unsafe { sys::PyImport_GetModule(key.as_ptr()) };
    if !found.is_null() {
        // SAFETY: a new reference.
        let found = unsafe { Owned::from_new(found)? };
        // `sys.modules[name] = None` blocks the import: the slow path raises ImportError.
        if !found.as_ref().is_none() {
            return Ok(found);
        }
    } else if super::error::error_is_set() {
        return Err(Raised::ALREADY);
    }
    // SAFETY: NUL-terminated name; returns a new reference or null.
    unsafe { Owned::from_new(sys::PyImport_ImportModule(name.as_ptr())) }
}

/// Declares `PyInit_<name>`, the entry point the import system calls once per interpreter: it
/// initialises `$def` (a [`ModuleDef`]) with the function table `$functions`. Used by the crate's
/// top module, so this gateway never names the module it serves.
macro_rules! module_entry_point {
    ($entry:ident, $def:expr, $functions:expr) => {
        /// The module's entry point, called by the import system once per interpreter.
        ///
        /// # Safety
        /// Called by CPython's import machinery, on a thread attached to the importing interpreter.
        #[no_mangle]
        pub unsafe extern "C" fn $entry() -> *mut $crate::ffi::sys::PyObject {
            $def.init($functions)
        }
    };
}
pub(crate) use module_entry_point;
