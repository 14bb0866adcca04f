//! The FFI gateway: the only module of the binding that names `pyo3_ffi`.
//!
//! Everything else in the crate works with the typed wrappers defined here: [`Owned`] and
//! [`Ref`] references, [`PyResult`], heap types whose instances carry a Rust value
//! ([`HeapType`]), argument parsing, GIL release and interpreter switching. Each submodule keeps
//! its `unsafe` to the smallest block and says why it is sound (orjson's `ffi` module is the
//! model).
//!
//! Every reference here belongs to the interpreter the current thread is attached to. The
//! reference types are `!Send`, and closures that run with the GIL released or in another
//! interpreter must be `Send`, so the compiler keeps a reference from leaving its interpreter.

mod args;
mod buffer;
mod containers;
mod error;
mod foreign;
mod gil;
mod identity;
mod interp;
mod kept_states;
#[cfg(not(Py_3_13))]
mod keyword_parsers;
mod module;
mod object;
mod private_api;
mod typeobj;
mod values;

pub(crate) use args::{Args, Param, ParamKind, Signature, EXIT_SIGNATURE};
pub(crate) use buffer::{memoryview_of, BufferView, Export};
pub(crate) use containers::{
    bytearray_from, complex_from, new_dict, new_set, set_add, str_from_utf8, Filling, GcPaused, Unfinished,
};
pub(crate) use error::{
    builtin, clear_error, new_exception_class, raise, raise_instance, restore_raised, take_raised, Builtin, PyResult,
    Raised,
};
pub(crate) use foreign::{capsule, object_from_c, ObjectPtr};
pub(crate) use gil::{
    allow_threads, begin_shutdown_parking, check_signals, gil_demand, give_way, is_main_thread, thread_ident,
};
pub(crate) use identity::IdentityCache;
pub(crate) use interp::{
    create_interpreter, current_interpreter_id, end_interpreter_if, enter_interpreter, eval_snippet,
    main_interpreter_id, main_module_dict, other_thread_states, raise_system_exit_in, run_in_main_module,
    run_marshalled_in_main_module, InterpPtr,
};
#[cfg(not(Py_3_13))]
pub(crate) use keyword_parsers::disown_keyword_name_tuples;
pub(crate) use module::{add_module_object, import_module, module_entry_point, ModuleDef, StateObjects};
pub(crate) use object::{Owned, Ref};
pub(crate) use private_api::{is_running_main, lookup_interpreter, whence, RunningMain};
pub(crate) use typeobj::{
    py_function, py_getter, py_method, py_slot, trampoline, CompareOp, Getter, HeapType, Method, ModuleFunctions,
    SlotImpl, This, TypeDef,
};
pub(crate) use values::{
    bool_from, bytes_from, dict_get, dict_set, float_from, int_from_hex, int_from_i64, int_from_u64, list, none,
    str_from, str_from_utf8_surrogatepass, tuple, ObjKind,
};

/// The trampolines' bodies, for the declaration macros.
#[doc(hidden)]
pub(crate) mod typeobj_call {
    pub(crate) use super::typeobj::{
        call_classmethod, call_function, call_getbuffer, call_getter, call_hash, call_iternext, call_length,
        call_method, call_new, call_new_object, call_noargs, call_repr, call_richcompare,
    };
}

/// Raw declarations, for the declaration macros only.
#[doc(hidden)]
pub(crate) use pyo3_ffi as sys;
