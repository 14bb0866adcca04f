//! Methods of the native types that are written in Python (`subinterpreters._calls`,
//! `subinterpreters._aio`): the native method forwards its arguments, unchanged, to a function of
//! the package's Python half, with the object itself first.

use std::ffi::CStr;

use crate::ffi::{import_module, Args, Owned, PyResult, Ref};

/// `module.function(obj, *args, **kwargs)`.
pub(crate) fn forward(module: &CStr, function: &CStr, obj: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let function = import_module(module)?.as_ref().getattr(function)?;
    args.forward(function.as_ref(), obj)
}

/// Declares native methods forwarding to `module`: `forwarders!(module, Type: fn_name => c"py_name", ...)`.
macro_rules! forwarders {
    ($module:expr, $ty:ty: $($name:ident => $function:expr),+ $(,)?) => {
        $(
            pub(crate) fn $name(
                this: $crate::ffi::This<'_, $ty>,
                args: $crate::ffi::Args<'_>,
            ) -> $crate::ffi::PyResult<$crate::ffi::Owned> {
                $crate::python_half::forward($module, $function, this.obj, args)
            }
        )+
    };
}

pub(crate) use forwarders;
