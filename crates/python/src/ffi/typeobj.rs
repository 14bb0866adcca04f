//! Heap types whose instances carry a Rust value, and the trampolines through which CPython calls
//! their methods. A [`TypeDef<T>`] is a static description; [`TypeDef::create`] builds the type
//! object for one interpreter (each interpreter gets its own, kept in its module state).
//!
//! Method tables are typed: the declaration macros build a `Method<T>` from a function taking
//! `This<T>` and the trampoline made for it (the constructors are `unsafe`, callable only with a
//! matching trampoline), and a `TypeDef<T>` holds only `Method<T>`s, so a trampoline's cast of
//! `self` to `Instance<T>` is sound.

use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

use pyo3_ffi as sys;

use super::args::Args;
use super::buffer::Export;
use super::error::{builtin, raise, Builtin, PyResult, Raised};
use super::object::{Owned, Ref};
use super::values;

/// An instance's memory: the object header, the list of weak references to it (every type is
/// weakly referenceable: the package keeps identity caches of some objects), then the Rust value.
#[repr(C)]
struct Instance<T> {
    header: sys::PyObject,
    weaklist: *mut sys::PyObject,
    value: T,
}

/// `self` inside a method: the Python object and the Rust value it carries.
pub(crate) struct This<'a, T> {
    pub(crate) obj: Ref<'a>,
    pub(crate) value: &'a T,
}

impl<T> Clone for This<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for This<'_, T> {}

impl<'a, T> This<'a, T> {
    /// # Safety
    /// `obj` is a live instance of a type built from a `TypeDef<T>`, borrowed for `'a`.
    unsafe fn from_ptr(obj: *mut sys::PyObject) -> This<'a, T> {
        // SAFETY: per the contract the memory is an `Instance<T>` whose value was initialised by
        // `HeapType::<T>::instance` and is dropped only in `dealloc::<T>`.
        unsafe { This { obj: Ref::from_ptr(obj), value: &(*obj.cast::<Instance<T>>()).value } }
    }
}

/// The C signature of a `METH_FASTCALL | METH_KEYWORDS` method.
pub(crate) type FastcallFn = unsafe extern "C" fn(
    *mut sys::PyObject,
    *const *mut sys::PyObject,
    sys::Py_ssize_t,
    *mut sys::PyObject,
) -> *mut sys::PyObject;
/// The C signature of a `METH_NOARGS` method, `tp_repr`, `tp_iter` and `tp_iternext`.
pub(crate) type UnaryFn = unsafe extern "C" fn(*mut sys::PyObject, *mut sys::PyObject) -> *mut sys::PyObject;
type SelfFn = unsafe extern "C" fn(*mut sys::PyObject) -> *mut sys::PyObject;
type HashFn = unsafe extern "C" fn(*mut sys::PyObject) -> sys::Py_hash_t;
type RichCompareFn = unsafe extern "C" fn(*mut sys::PyObject, *mut sys::PyObject, c_int) -> *mut sys::PyObject;
type GetterFn = unsafe extern "C" fn(*mut sys::PyObject, *mut c_void) -> *mut sys::PyObject;
type GetBufferFn = unsafe extern "C" fn(*mut sys::PyObject, *mut sys::Py_buffer, c_int) -> c_int;
type LenFn = unsafe extern "C" fn(*mut sys::PyObject) -> sys::Py_ssize_t;
type BoolFn = unsafe extern "C" fn(*mut sys::PyObject) -> c_int;
type NewFn = unsafe extern "C" fn(*mut sys::PyTypeObject, *mut sys::PyObject, *mut sys::PyObject) -> *mut sys::PyObject;

/// Marker type for module-level functions (their `self` is the module).
pub(crate) enum ModuleFunctions {}

/// A method (or module function): its name, its docstring starting with a text signature
/// (`"name($self, /, x=None)\n--\n\n..."`), and its trampoline.
pub(crate) struct Method<T> {
    pub(crate) name: &'static CStr,
    pub(crate) doc: &'static CStr,
    pub(crate) imp: MethodImpl,
    _for: PhantomData<fn() -> T>,
}

pub(crate) enum MethodImpl {
    Fastcall(FastcallFn),
    NoArgs(UnaryFn),
    /// A classmethod: `self` is the class.
    ClassFastcall(FastcallFn),
}

impl<T> Method<T> {
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f` (so it casts `self` to the
    /// type `_f` expects).
    pub(crate) const unsafe fn fastcall<F>(name: &'static CStr, doc: &'static CStr, raw: FastcallFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>, Args<'a>) -> PyResult<Owned>,
    {
        Method { name, doc, imp: MethodImpl::Fastcall(raw), _for: PhantomData }
    }

    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f` (so it casts `self` to the
    /// type `_f` expects).
    pub(crate) const unsafe fn noargs<F>(name: &'static CStr, doc: &'static CStr, raw: UnaryFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>) -> PyResult<Owned>,
    {
        Method { name, doc, imp: MethodImpl::NoArgs(raw), _for: PhantomData }
    }
}

impl<T> Method<T> {
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f` (it passes the class).
    pub(crate) const unsafe fn classmethod<F>(name: &'static CStr, doc: &'static CStr, raw: FastcallFn, _f: &F) -> Self
    where
        F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
    {
        Method { name, doc, imp: MethodImpl::ClassFastcall(raw), _for: PhantomData }
    }
}

impl Method<ModuleFunctions> {
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f` (so it casts `self` to the
    /// type `_f` expects).
    pub(crate) const unsafe fn function<F>(name: &'static CStr, doc: &'static CStr, raw: FastcallFn, _f: &F) -> Self
    where
        F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
    {
        Method { name, doc, imp: MethodImpl::Fastcall(raw), _for: PhantomData }
    }
}

/// A read-only attribute.
pub(crate) struct Getter<T> {
    pub(crate) name: &'static CStr,
    pub(crate) doc: &'static CStr,
    get: GetterFn,
    _for: PhantomData<fn() -> T>,
}

impl<T> Getter<T> {
    #[doc(hidden)]
    ///
    /// # Safety
    /// `get` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn new<F>(name: &'static CStr, doc: &'static CStr, get: GetterFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>) -> PyResult<Owned>,
    {
        Getter { name, doc, get, _for: PhantomData }
    }
}

/// Comparison requested by `tp_richcompare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Other,
}

/// A special method slot.
pub(crate) struct SlotImpl<T> {
    kind: SlotKind,
    _for: PhantomData<fn() -> T>,
}

enum SlotKind {
    Repr(SelfFn),
    Hash(HashFn),
    RichCompare(RichCompareFn),
    IterSelf,
    IterNext(SelfFn),
    New(NewFn),
    NewObject(NewFn),
    GetBuffer(GetBufferFn),
    Length(LenFn),
    Bool(BoolFn),
}

impl<T> SlotImpl<T> {
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn repr<F: for<'a> Fn(This<'a, T>) -> String>(raw: SelfFn, _f: &F) -> Self {
        SlotImpl { kind: SlotKind::Repr(raw), _for: PhantomData }
    }
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn hash<F: for<'a> Fn(This<'a, T>) -> u64>(raw: HashFn, _f: &F) -> Self {
        SlotImpl { kind: SlotKind::Hash(raw), _for: PhantomData }
    }
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn richcompare<F>(raw: RichCompareFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>, This<'a, T>, CompareOp) -> bool,
    {
        SlotImpl { kind: SlotKind::RichCompare(raw), _for: PhantomData }
    }
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn new<F>(raw: NewFn, _f: &F) -> Self
    where
        F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<T>,
    {
        SlotImpl { kind: SlotKind::New(raw), _for: PhantomData }
    }

    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn new_object<F>(raw: NewFn, _f: &F) -> Self
    where
        F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
    {
        SlotImpl { kind: SlotKind::NewObject(raw), _for: PhantomData }
    }

    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn getbuffer<F>(raw: GetBufferFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>) -> PyResult<Export<'a>>,
    {
        SlotImpl { kind: SlotKind::GetBuffer(raw), _for: PhantomData }
    }
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn length<F>(raw: LenFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>) -> PyResult<usize>,
    {
        SlotImpl { kind: SlotKind::Length(raw), _for: PhantomData }
    }

    /// `__bool__` always true (for types whose `len()` may be 0 or undefined, like a 0-d array).
    pub(crate) const fn always_true() -> Self {
        SlotImpl { kind: SlotKind::Bool(always_true), _for: PhantomData }
    }

    /// `__iter__` returning the object itself.
    pub(crate) const fn iter_self() -> Self {
        SlotImpl { kind: SlotKind::IterSelf, _for: PhantomData }
    }
    #[doc(hidden)]
    ///
    /// # Safety
    /// `raw` is the trampoline the declaration macro made for `_f`.
    pub(crate) const unsafe fn iternext<F>(raw: SelfFn, _f: &F) -> Self
    where
        F: for<'a> Fn(This<'a, T>) -> PyResult<Option<Owned>>,
    {
        SlotImpl { kind: SlotKind::IterNext(raw), _for: PhantomData }
    }
}

/// The static description of a heap type whose instances carry a `T`.
pub(crate) struct TypeDef<T: 'static> {
    /// Dotted name, e.g. `"subinterpreters.RecvChannel"`.
    pub(crate) name: &'static CStr,
    pub(crate) doc: &'static CStr,
    pub(crate) methods: &'static [Method<T>],
    pub(crate) getters: &'static [Getter<T>],
    pub(crate) slots: &'static [SlotImpl<T>],
    /// Python classes (and our own subtypes) may derive from it.
    subclassable: bool,
    /// The C structures, built once per process and never freed (types point into them).
    raw: OnceLock<RawType>,
}

struct RawType {
    spec: sys::PyType_Spec,
    _slots: Box<[sys::PyType_Slot]>,
    _methods: Box<[sys::PyMethodDef]>,
    _getset: Box<[sys::PyGetSetDef]>,
    _members: Box<[sys::PyMemberDef]>,
}

// SAFETY: the raw structures are written once (inside OnceLock initialisation) and only read
// afterwards; they point to 'static strings and functions and to boxes owned by the same value.
unsafe impl Send for RawType {}
// SAFETY: as above: immutable after initialisation.
unsafe impl Sync for RawType {}

impl<T: 'static> TypeDef<T> {
    pub(crate) const fn new(
        name: &'static CStr,
        doc: &'static CStr,
        methods: &'static [Method<T>],
        getters: &'static [Getter<T>],
        slots: &'static [SlotImpl<T>],
    ) -> Self {
        TypeDef { name, doc, methods, getters, slots, subclassable: false, raw: OnceLock::new() }
    }

    /// The same, for a type other classes may derive from.
    pub(crate) const fn subclassable(
        name: &'static CStr,
        doc: &'static CStr,
        methods: &'static [Method<T>],
        getters: &'static [Getter<T>],
        slots: &'static [SlotImpl<T>],
    ) -> Self {
        TypeDef { name, doc, methods, getters, slots, subclassable: true, raw: OnceLock::new() }
    }

    /// Builds this type for the interpreter owning `module` (the type keeps a reference to it,
    /// so methods find the module state).
    pub(crate) fn create(&'static self, module: Ref<'_>) -> PyResult<HeapType<T>> {
        self.create_with_base(Some(module), None)
    }

    /// As [`create`](Self::create), deriving from `base`, a subclassable type built from a
    /// `TypeDef<T>` too (so instances of both share one layout).
    pub(crate) fn create_subtype(&'static self, module: Ref<'_>, base: &HeapType<T>) -> PyResult<HeapType<T>> {
        self.create_with_base(Some(module), Some(base.as_ref()))
    }

    /// As [`create`](Self::create), for a type whose methods never need the module state: the
    /// type holds no reference to the module. The type of an instance that the module state
    /// itself keeps must be made so: our instances are not tracked by the GC, so it cannot see
    /// that such an instance refers to its type, and a type referring to the module would close a
    /// cycle (module, state, instance, type) that it never collects, leaking the module state
    /// with every interpreter.
    pub(crate) fn create_unbound(&'static self) -> PyResult<HeapType<T>> {
        self.create_with_base(None, None)
    }

    fn create_with_base(&'static self, module: Option<Ref<'_>>, base: Option<Ref<'_>>) -> PyResult<HeapType<T>> {
        let raw = self.raw.get_or_init(|| self.build_raw());
        let spec = ptr::addr_of!(raw.spec).cast_mut();
        let module = module.map_or(ptr::null_mut(), |module| module.as_ptr());
        let bases = base.map_or(ptr::null_mut(), |base| base.as_ptr());
        // SAFETY: `spec` is 'static and CPython only reads it; `module` is null or a live module
        // object; `bases` is null or a live type object.
        let ty = unsafe { Owned::from_new(sys::PyType_FromModuleAndSpec(module, spec, bases))? };
        Ok(HeapType { ty, _value: PhantomData })
    }

    fn build_raw(&self) -> RawType {
        let mut methods: Vec<sys::PyMethodDef> = self.methods.iter().map(raw_method).collect();
        methods.push(sys::PyMethodDef::zeroed());
        let mut methods = methods.into_boxed_slice();

        let mut getset: Vec<sys::PyGetSetDef> = self
            .getters
            .iter()
            .map(|getter| sys::PyGetSetDef {
                name: getter.name.as_ptr(),
                get: Some(getter.get),
                set: None,
                doc: getter.doc.as_ptr(),
                closure: ptr::null_mut(),
            })
            .collect();
        getset.push(sys::PyGetSetDef::default());
        let mut getset = getset.into_boxed_slice();

        // `__weaklistoffset__` is how a heap type made from a spec declares where its instances
        // keep their weak references.
        let mut members = vec![
            sys::PyMemberDef {
                name: c"__weaklistoffset__".as_ptr(),
                type_code: sys::Py_T_PYSSIZET,
                offset: std::mem::offset_of!(Instance<T>, weaklist) as sys::Py_ssize_t,
                flags: sys::Py_READONLY,
                doc: ptr::null(),
            },
            sys::PyMemberDef::default(),
        ]
        .into_boxed_slice();

        let mut slots = vec![
            slot(sys::Py_tp_doc, self.doc.as_ptr().cast_mut().cast()),
            slot(sys::Py_tp_dealloc, dealloc::<T> as *mut c_void),
            slot(sys::Py_tp_methods, methods.as_mut_ptr().cast()),
            slot(sys::Py_tp_getset, getset.as_mut_ptr().cast()),
            slot(sys::Py_tp_members, members.as_mut_ptr().cast()),
        ];
        for special in self.slots {
            slots.push(match special.kind {
                SlotKind::Repr(f) => slot(sys::Py_tp_repr, f as *mut c_void),
                SlotKind::Hash(f) => slot(sys::Py_tp_hash, f as *mut c_void),
                SlotKind::RichCompare(f) => slot(sys::Py_tp_richcompare, f as *mut c_void),
                SlotKind::IterSelf => slot(sys::Py_tp_iter, iter_self as *mut c_void),
                SlotKind::IterNext(f) => slot(sys::Py_tp_iternext, f as *mut c_void),
                SlotKind::New(f) | SlotKind::NewObject(f) => slot(sys::Py_tp_new, f as *mut c_void),
                SlotKind::GetBuffer(f) => slot(sys::Py_bf_getbuffer, f as *mut c_void),
                SlotKind::Length(f) => slot(sys::Py_mp_length, f as *mut c_void),
                SlotKind::Bool(f) => slot(sys::Py_nb_bool, f as *mut c_void),
            });
        }
        // Types without a constructor cannot be instantiated from Python.
        let constructible =
            self.slots.iter().any(|special| matches!(special.kind, SlotKind::New(_) | SlotKind::NewObject(_)));
        let mut flags = sys::Py_TPFLAGS_DEFAULT | sys::Py_TPFLAGS_IMMUTABLETYPE;
        if !constructible {
            flags |= sys::Py_TPFLAGS_DISALLOW_INSTANTIATION;
        }
        if self.subclassable {
            flags |= sys::Py_TPFLAGS_BASETYPE;
        }
        slots.push(slot(0, ptr::null_mut()));
        let mut slots = slots.into_boxed_slice();

        let spec = sys::PyType_Spec {
            name: self.name.as_ptr(),
            basicsize: std::mem::size_of::<Instance<T>>() as c_int,
            itemsize: 0,
            flags: flags as _,
            slots: slots.as_mut_ptr(),
        };
        RawType { spec, _slots: slots, _methods: methods, _getset: getset, _members: members }
    }
}

fn slot(slot: c_int, pfunc: *mut c_void) -> sys::PyType_Slot {
    sys::PyType_Slot { slot, pfunc }
}

pub(super) fn raw_method<T>(method: &Method<T>) -> sys::PyMethodDef {
    let (ml_meth, ml_flags) = match method.imp {
        MethodImpl::Fastcall(f) => {
            (sys::PyMethodDefPointer { PyCFunctionFastWithKeywords: f }, sys::METH_FASTCALL | sys::METH_KEYWORDS)
        }
        MethodImpl::NoArgs(f) => (sys::PyMethodDefPointer { PyCFunction: f }, sys::METH_NOARGS),
        MethodImpl::ClassFastcall(f) => (
            sys::PyMethodDefPointer { PyCFunctionFastWithKeywords: f },
            sys::METH_FASTCALL | sys::METH_KEYWORDS | sys::METH_CLASS,
        ),
    };
    sys::PyMethodDef { ml_name: method.name.as_ptr(), ml_meth, ml_flags, ml_doc: method.doc.as_ptr() }
}

/// A type object built from a `TypeDef<T>`, owned by one interpreter's module state.
pub(crate) struct HeapType<T> {
    ty: Owned,
    _value: PhantomData<fn() -> T>,
}

impl<T> HeapType<T> {
    /// The type object.
    pub(crate) fn as_ref(&self) -> Ref<'_> {
        self.ty.as_ref()
    }

    /// A new instance carrying `value`.
    pub(crate) fn instance(&self, value: T) -> PyResult<Owned> {
        // SAFETY: this type was built from a TypeDef<T>.
        unsafe { alloc_instance(self.ty.as_ptr().cast(), value) }
    }

    /// The value carried by `obj` if `obj` is an instance of this type or of a subclass (for
    /// subclassable types: every subclass shares the layout).
    pub(crate) fn downcast_sub<'a>(&self, obj: Ref<'a>) -> Option<&'a T> {
        // SAFETY: both are live; PyObject_TypeCheck only reads the type's MRO.
        if unsafe { sys::PyObject_TypeCheck(obj.as_ptr(), self.ty.as_ptr().cast()) } == 0 {
            return None;
        }
        // SAFETY: an instance of this type or a subclass, whose layout starts with Instance<T>.
        Some(unsafe { This::<T>::from_ptr(obj.as_ptr()) }.value)
    }

    /// A new instance of `subtype` (this type or a subclass of it) carrying `value`.
    ///
    /// # Safety
    /// `subtype` is this type or a subclass of it.
    pub(crate) unsafe fn instance_of(&self, subtype: Ref<'_>, value: T) -> PyResult<Owned> {
        // SAFETY: a subclass's instances start with this type's layout (contract).
        unsafe { alloc_instance(subtype.as_ptr().cast(), value) }
    }

    /// The value carried by `obj` if `obj` is an instance of exactly this type.
    pub(crate) fn downcast<'a>(&self, obj: Ref<'a>) -> Option<&'a T> {
        if !obj.type_of().is(self.ty.as_ref()) {
            return None;
        }
        // SAFETY: `obj` is an instance of this type, built from a TypeDef<T>, live for 'a.
        Some(unsafe { This::<T>::from_ptr(obj.as_ptr()) }.value)
    }
}

/// Allocates an instance of `ty` carrying `value`.
///
/// # Safety
/// `ty` is a ready type built from a `TypeDef<T>` (so its basicsize is `size_of::<Instance<T>>()`).
unsafe fn alloc_instance<T>(ty: *mut sys::PyTypeObject, value: T) -> PyResult<Owned> {
    // SAFETY: a ready heap type always has tp_alloc; it returns a new reference or null.
    let obj = unsafe {
        let alloc = sys::PyType_GetSlot(ty, sys::Py_tp_alloc);
        let alloc: sys::allocfunc = std::mem::transmute(alloc);
        Owned::from_new(alloc(ty, 0))?
    };
    // SAFETY: basicsize is size_of::<Instance<T>>() (contract), so both fields are in bounds;
    // tp_alloc zeroed the weak-reference list, and the value is uninitialised: we initialise it
    // exactly once.
    unsafe { ptr::addr_of_mut!((*obj.as_ptr().cast::<Instance<T>>()).value).write(value) };
    Ok(obj)
}

/// Runs a trampoline body, the one place that catches panics for every trampoline: a Rust panic
/// becomes `SystemError` (a panic must never unwind into C), and an exception raised (or the
/// panic) gives `failed`, the value CPython expects then.
fn guarded<R>(failed: R, body: impl FnOnce() -> PyResult<R>) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(Raised { .. })) => failed,
        Err(panic) => {
            raise_panic(panic);
            failed
        }
    }
}

/// [`guarded`] for a body returning an object: a new reference, or null.
fn guarded_object(body: impl FnOnce() -> PyResult<Owned>) -> *mut sys::PyObject {
    guarded(ptr::null_mut(), || body().map(Owned::into_raw))
}

fn raise_panic(panic: Box<dyn std::any::Any + Send>) {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let _ = raise(builtin(Builtin::SystemError), &format!("internal error in subinterpreters: {detail}"));
}

/// Trampoline body for a fastcall method.
///
/// # Safety
/// Called by CPython with the fastcall convention; `slf` is an instance of the type built from
/// the `TypeDef<T>` whose table holds this method.
#[doc(hidden)]
pub(crate) unsafe fn call_method<T, F>(
    slf: *mut sys::PyObject,
    args: *const *mut sys::PyObject,
    nargs: sys::Py_ssize_t,
    kwnames: *mut sys::PyObject,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>, Args<'a>) -> PyResult<Owned>,
{
    guarded_object(|| {
        // SAFETY: see the function's contract.
        let (this, args) = unsafe { (This::from_ptr(slf), Args::from_fastcall(args, nargs, kwnames)) };
        f(this, args)
    })
}

/// Trampoline body for a method without arguments.
///
/// # Safety
/// As [`call_method`], for `METH_NOARGS`.
#[doc(hidden)]
pub(crate) unsafe fn call_noargs<T, F>(slf: *mut sys::PyObject, f: F) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>) -> PyResult<Owned>,
{
    // SAFETY: see the function's contract.
    guarded_object(|| f(unsafe { This::from_ptr(slf) }))
}

/// Trampoline body for a module function.
///
/// # Safety
/// Called by CPython with the fastcall convention; `module` is the module object.
#[doc(hidden)]
pub(crate) unsafe fn call_function<F>(
    module: *mut sys::PyObject,
    args: *const *mut sys::PyObject,
    nargs: sys::Py_ssize_t,
    kwnames: *mut sys::PyObject,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
{
    guarded_object(|| {
        // SAFETY: see the function's contract.
        let (module, args) = unsafe { (Ref::from_ptr(module), Args::from_fastcall(args, nargs, kwnames)) };
        f(module, args)
    })
}

/// Trampoline body for a getter.
///
/// # Safety
/// As [`call_noargs`].
#[doc(hidden)]
pub(crate) unsafe fn call_getter<T, F>(slf: *mut sys::PyObject, f: F) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>) -> PyResult<Owned>,
{
    // SAFETY: see the function's contract.
    guarded_object(|| f(unsafe { This::from_ptr(slf) }))
}

/// Trampoline body for `tp_repr`.
///
/// # Safety
/// As [`call_noargs`].
#[doc(hidden)]
pub(crate) unsafe fn call_repr<T, F>(slf: *mut sys::PyObject, f: F) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>) -> String,
{
    // SAFETY: see the function's contract.
    guarded_object(|| values::str_from(&f(unsafe { This::from_ptr(slf) })))
}

/// Trampoline body for `tp_hash`.
///
/// # Safety
/// As [`call_noargs`].
#[doc(hidden)]
pub(crate) unsafe fn call_hash<T, F>(slf: *mut sys::PyObject, f: F) -> sys::Py_hash_t
where
    F: for<'a> Fn(This<'a, T>) -> u64,
{
    // SAFETY: see the function's contract.
    guarded(-1, || Ok(values::python_hash(f(unsafe { This::from_ptr(slf) }))))
}

/// Trampoline body for `tp_richcompare`: equality against another instance of the same type;
/// anything else is `NotImplemented`.
///
/// # Safety
/// As [`call_noargs`]; `other` is any live object.
#[doc(hidden)]
pub(crate) unsafe fn call_richcompare<T, F>(
    slf: *mut sys::PyObject,
    other: *mut sys::PyObject,
    op: c_int,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>, This<'a, T>, CompareOp) -> bool,
{
    guarded_object(|| {
        let op = match op {
            sys::Py_EQ => CompareOp::Eq,
            sys::Py_NE => CompareOp::Ne,
            _ => CompareOp::Other,
        };
        // SAFETY: `slf` per contract; `other` is live.
        let (this, other_ref) = unsafe { (This::<T>::from_ptr(slf), Ref::from_ptr(other)) };
        if op == CompareOp::Other || !other_ref.type_of().is(this.obj.type_of()) {
            return Ok(values::not_implemented());
        }
        // SAFETY: `other` has exactly the type of `slf`, so it carries a T too.
        let that = unsafe { This::<T>::from_ptr(other) };
        Ok(values::bool_from(f(this, that, op)))
    })
}

/// Trampoline body for `tp_new`: builds the value from the arguments, then the instance.
///
/// # Safety
/// Called by CPython as `tp_new` of a type built from a `TypeDef<T>`, with a live args tuple and
/// a kwargs dict or null. `subtype` is that type, or (for subclassable types) a subclass, whose
/// instances start with the same layout and whose tp_alloc allocates at least that much.
#[doc(hidden)]
pub(crate) unsafe fn call_new<T, F>(
    subtype: *mut sys::PyTypeObject,
    args: *mut sys::PyObject,
    kwargs: *mut sys::PyObject,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<T>,
{
    guarded_object(|| {
        // SAFETY: live type and args tuple (contract); the items live as long as the tuple.
        let (ty, items): (Ref<'_>, Vec<Ref<'_>>) =
            unsafe { (Ref::from_ptr(subtype.cast()), Ref::from_ptr(args).tuple_items().collect()) };
        // SAFETY: kwargs is null or a dict nobody changes during the call (contract).
        let args = unsafe { Args::from_tuple_dict(&items, kwargs) };
        let value = f(ty, args)?;
        // SAFETY: `subtype` is the type built from the TypeDef<T> or a subclass (contract).
        unsafe { alloc_instance(subtype, value) }
    })
}

/// Trampoline body for a `tp_new` that may return an existing object (an identity cache).
///
/// # Safety
/// Called by CPython as `tp_new` with a live type, args tuple and kwargs dict or null.
#[doc(hidden)]
pub(crate) unsafe fn call_new_object<F>(
    subtype: *mut sys::PyTypeObject,
    args: *mut sys::PyObject,
    kwargs: *mut sys::PyObject,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
{
    guarded_object(|| {
        // SAFETY: live type and args tuple (contract); the items live as long as the tuple.
        let (ty, items): (Ref<'_>, Vec<Ref<'_>>) =
            unsafe { (Ref::from_ptr(subtype.cast()), Ref::from_ptr(args).tuple_items().collect()) };
        // SAFETY: kwargs is null or a dict nobody changes during the call (contract).
        let args = unsafe { Args::from_tuple_dict(&items, kwargs) };
        f(ty, args)
    })
}

/// Trampoline body for `bf_getbuffer`.
///
/// # Safety
/// Called by CPython as `bf_getbuffer` of a type built from a `TypeDef<T>` (or a subclass), with
/// a Py_buffer to fill and the request flags.
#[doc(hidden)]
pub(crate) unsafe fn call_getbuffer<T, F>(
    slf: *mut sys::PyObject,
    view: *mut sys::Py_buffer,
    flags: c_int,
    f: F,
) -> c_int
where
    F: for<'a> Fn(This<'a, T>) -> PyResult<Export<'a>>,
{
    let filled = guarded(-1, || {
        // SAFETY: see the function's contract.
        let this = unsafe { This::<T>::from_ptr(slf) };
        let export = f(this)?;
        // SAFETY: `view` is CPython's to fill; the export lives in the object's value.
        unsafe { super::buffer::fill_buffer(view, this.obj, &export, flags) }.map(|()| 0)
    });
    if filled != 0 {
        // SAFETY: on failure CPython expects view->obj to be NULL.
        unsafe { (*view).obj = ptr::null_mut() };
    }
    filled
}

/// Trampoline body for `mp_length` (`len()`).
///
/// # Safety
/// As [`call_noargs`].
#[doc(hidden)]
pub(crate) unsafe fn call_length<T, F>(slf: *mut sys::PyObject, f: F) -> sys::Py_ssize_t
where
    F: for<'a> Fn(This<'a, T>) -> PyResult<usize>,
{
    // SAFETY: see the function's contract.
    guarded(-1, || f(unsafe { This::from_ptr(slf) }).map(|len| len as sys::Py_ssize_t))
}

/// Trampoline body for a classmethod.
///
/// # Safety
/// Called by CPython with the fastcall convention; `cls` is the class it was called on.
#[doc(hidden)]
pub(crate) unsafe fn call_classmethod<F>(
    cls: *mut sys::PyObject,
    args: *const *mut sys::PyObject,
    nargs: sys::Py_ssize_t,
    kwnames: *mut sys::PyObject,
    f: F,
) -> *mut sys::PyObject
where
    F: for<'a> Fn(Ref<'a>, Args<'a>) -> PyResult<Owned>,
{
    guarded_object(|| {
        // SAFETY: see the function's contract.
        let (cls, args) = unsafe { (Ref::from_ptr(cls), Args::from_fastcall(args, nargs, kwnames)) };
        f(cls, args)
    })
}

/// Trampoline body for `tp_iternext`: `Ok(None)` ends the iteration.
///
/// # Safety
/// As [`call_noargs`].
#[doc(hidden)]
pub(crate) unsafe fn call_iternext<T, F>(slf: *mut sys::PyObject, f: F) -> *mut sys::PyObject
where
    F: for<'a> Fn(This<'a, T>) -> PyResult<Option<Owned>>,
{
    // SAFETY: see the function's contract. `None` ends the iteration: null, no exception set.
    guarded(ptr::null_mut(), || Ok(f(unsafe { This::from_ptr(slf) })?.map_or(ptr::null_mut(), Owned::into_raw)))
}

/// `nb_bool` returning true.
///
/// # Safety
/// Called by CPython with a live object; it is not touched.
unsafe extern "C" fn always_true(_slf: *mut sys::PyObject) -> c_int {
    1
}

/// `tp_iter` returning the object itself.
///
/// # Safety
/// Called by CPython with a live object.
unsafe extern "C" fn iter_self(slf: *mut sys::PyObject) -> *mut sys::PyObject {
    // SAFETY: CPython passes a live object; we return a new reference to it.
    unsafe { sys::Py_NewRef(slf) }
}

/// `tp_dealloc` of every `TypeDef<T>` type: drops the Rust value, frees the memory, releases the
/// reference every heap-type instance holds on its type.
///
/// # Safety
/// Called by CPython once, when the last reference to an instance of a `TypeDef<T>` type goes.
unsafe extern "C" fn dealloc<T>(obj: *mut sys::PyObject) {
    // SAFETY: CPython calls tp_dealloc once, on an instance of our type whose value was
    // initialised by `HeapType::instance`; after this the memory is never read again.
    unsafe {
        let ty = sys::Py_TYPE(obj);
        if !(*obj.cast::<Instance<T>>()).weaklist.is_null() {
            sys::PyObject_ClearWeakRefs(obj);
        }
        let value = ptr::addr_of_mut!((*obj.cast::<Instance<T>>()).value);
        if catch_unwind(AssertUnwindSafe(|| ptr::drop_in_place(value))).is_err() {
            // Dropping only releases Rust resources; a panic there leaves nothing to recover.
            std::process::abort();
        }
        let free = sys::PyType_GetSlot(ty, sys::Py_tp_free);
        let free: sys::freefunc = std::mem::transmute(free);
        free(obj.cast());
        sys::Py_DECREF(ty.cast());
    }
}

/// Makes the `unsafe extern "C"` function CPython calls for one declared method, getter or slot:
/// it hands CPython's arguments (but the `ignoring` ones) and `$func` to a trampoline body of
/// `typeobj_call` (which catches panics, through [`guarded`]). Every declaration macro below goes
/// through here, so the trampolines are written once; `$contract` says how CPython calls it.
macro_rules! trampoline {
    (
        $body:ident($($arg:ident: $ty:ty),* $(,)?)
        $(ignoring($($ignored:ident: $ignored_ty:ty),* $(,)?))? -> $ret:ty,
        $func:path,
        $contract:literal $(,)?
    ) => {{
        /// # Safety
        #[doc = $contract]
        unsafe extern "C" fn trampoline($($arg: $ty,)* $($($ignored: $ignored_ty),*)?) -> $ret {
            // SAFETY: CPython calls this only as the entry it was declared for, which is the
            // contract of the trampoline body (its `# Safety`).
            unsafe { $crate::ffi::typeobj_call::$body($($arg,)* $func) }
        }
        trampoline
    }};
}

/// Declares a method of a `TypeDef<T>`: `py_method!(c"name", c"doc", fastcall: path)` for a
/// `fn(This<T>, Args) -> PyResult<Owned>`, or `noargs: path` for a `fn(This<T>) -> PyResult<Owned>`.
macro_rules! py_method {
    ($name:expr, $doc:expr, fastcall: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::Method::fastcall(
                $name,
                $doc,
                $crate::ffi::trampoline!(
                    call_method(
                        slf: *mut $crate::ffi::sys::PyObject,
                        args: *const *mut $crate::ffi::sys::PyObject,
                        nargs: $crate::ffi::sys::Py_ssize_t,
                        kwnames: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython with the fastcall convention on an instance of the type."
                ),
                &$func,
            )
        }
    };
    ($name:expr, $doc:expr, classmethod: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::Method::classmethod(
                $name,
                $doc,
                $crate::ffi::trampoline!(
                    call_classmethod(
                        cls: *mut $crate::ffi::sys::PyObject,
                        args: *const *mut $crate::ffi::sys::PyObject,
                        nargs: $crate::ffi::sys::Py_ssize_t,
                        kwnames: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython with the fastcall convention, `cls` being the class."
                ),
                &$func,
            )
        }
    };
    ($name:expr, $doc:expr, noargs: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::Method::noargs(
                $name,
                $doc,
                $crate::ffi::trampoline!(
                    call_noargs(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) ignoring(
                        _unused: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython with METH_NOARGS on an instance of the type."
                ),
                &$func,
            )
        }
    };
}

/// Declares a module function: `py_function!(c"name", c"doc", path)` for a
/// `fn(Ref /* module */, Args) -> PyResult<Owned>`.
macro_rules! py_function {
    ($name:expr, $doc:expr, $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::Method::function(
                $name,
                $doc,
                $crate::ffi::trampoline!(
                    call_function(
                        module: *mut $crate::ffi::sys::PyObject,
                        args: *const *mut $crate::ffi::sys::PyObject,
                        nargs: $crate::ffi::sys::Py_ssize_t,
                        kwnames: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython with the fastcall convention on our module."
                ),
                &$func,
            )
        }
    };
}

/// Declares a read-only attribute: `py_getter!(c"name", c"doc", path)` for a
/// `fn(This<T>) -> PyResult<Owned>`.
macro_rules! py_getter {
    ($name:expr, $doc:expr, $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::Getter::new(
                $name,
                $doc,
                $crate::ffi::trampoline!(
                    call_getter(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) ignoring(
                        _closure: *mut ::std::ffi::c_void,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython on an instance of the type that declares the getter."
                ),
                &$func,
            )
        }
    };
}

/// Declares a special method: `py_slot!(repr: path)`, `py_slot!(hash: path)`,
/// `py_slot!(richcompare: path)`, `py_slot!(iternext: path)` or `py_slot!(new: path)` (for a
/// `fn(Ref /* type */, Args) -> PyResult<T>` building the value of a new instance).
macro_rules! py_slot {
    (new: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::new(
                $crate::ffi::trampoline!(
                    call_new(
                        subtype: *mut $crate::ffi::sys::PyTypeObject,
                        args: *mut $crate::ffi::sys::PyObject,
                        kwargs: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython as tp_new of the type."
                ),
                &$func,
            )
        }
    };
    (new_object: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::new_object(
                $crate::ffi::trampoline!(
                    call_new_object(
                        subtype: *mut $crate::ffi::sys::PyTypeObject,
                        args: *mut $crate::ffi::sys::PyObject,
                        kwargs: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython as tp_new of the type."
                ),
                &$func,
            )
        }
    };
    (getbuffer: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::getbuffer(
                $crate::ffi::trampoline!(
                    call_getbuffer(
                        slf: *mut $crate::ffi::sys::PyObject,
                        view: *mut $crate::ffi::sys::Py_buffer,
                        flags: ::std::ffi::c_int,
                    ) -> ::std::ffi::c_int,
                    $func,
                    "Called by CPython as bf_getbuffer on an instance of the type."
                ),
                &$func,
            )
        }
    };
    (len: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::length(
                $crate::ffi::trampoline!(
                    call_length(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) -> $crate::ffi::sys::Py_ssize_t,
                    $func,
                    "Called by CPython as mp_length on an instance of the type."
                ),
                &$func,
            )
        }
    };
    (repr: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::repr(
                $crate::ffi::trampoline!(
                    call_repr(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython on an instance of the type."
                ),
                &$func,
            )
        }
    };
    (hash: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::hash(
                $crate::ffi::trampoline!(
                    call_hash(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) -> $crate::ffi::sys::Py_hash_t,
                    $func,
                    "Called by CPython on an instance of the type."
                ),
                &$func,
            )
        }
    };
    (richcompare: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::richcompare(
                $crate::ffi::trampoline!(
                    call_richcompare(
                        slf: *mut $crate::ffi::sys::PyObject,
                        other: *mut $crate::ffi::sys::PyObject,
                        op: ::std::ffi::c_int,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython on an instance of the type."
                ),
                &$func,
            )
        }
    };
    (iternext: $func:path) => {
        // SAFETY: the trampoline passed is the one made here for $func.
        unsafe {
            $crate::ffi::SlotImpl::iternext(
                $crate::ffi::trampoline!(
                    call_iternext(
                        slf: *mut $crate::ffi::sys::PyObject,
                    ) -> *mut $crate::ffi::sys::PyObject,
                    $func,
                    "Called by CPython on an instance of the type."
                ),
                &$func,
            )
        }
    };
}

pub(crate) use {py_function, py_getter, py_method, py_slot, trampoline};
