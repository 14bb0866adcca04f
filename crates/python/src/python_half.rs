//! The functions of the package's Python half (`subinterpreters._calls`, `subinterpreters._aio`)
//! that the binding calls. Each is looked up once per interpreter, on first use, and kept in the
//! module state ([`PythonHalf`]): a call into the Python half costs one array read, not an
//! import and an attribute lookup. (First use rather than import time: `_aio` imports asyncio,
//! which most interpreters never need.)
//!
//! Some native methods are written in Python: [`forwarders!`] declares them; each forwards its
//! arguments, unchanged, to its Python function, with the object itself first.

use std::cell::OnceCell;
use std::ffi::{c_int, CStr};

use crate::ffi::{import_module, Owned, PyResult, Ref};

/// A function of the Python half.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum HalfFunction {
    /// `_calls.call`: `Interpreter.call`.
    Call,
    /// `_calls.call_in_thread`: `Interpreter.call_in_thread`.
    CallInThread,
    /// `_calls.run_in_thread`: `Interpreter.run_in_thread`.
    RunInThread,
    /// `_calls.call_async`: `Interpreter.call_async`.
    CallAsync,
    /// `_calls.run_async`: `Interpreter.run_async`.
    RunAsync,
    /// `_calls.resolve`: a prepared call's function and arguments, in the target.
    Resolve,
    /// `_calls.dumps`: pickles with the caller's `__main__` in mind.
    Dumps,
    /// `_calls.dumps_together`: `dumps` for a call's arguments together, refusing handles.
    DumpsTogether,
    /// `_calls.describe`: an exception raised by a call, as data that can cross back.
    Describe,
    /// `_aio.recv_async`: `RecvChannel.recv_async`.
    RecvAsync,
    /// `_aio.send_async`: `SendChannel.send_async`.
    SendAsync,
    /// `_aio.get_async`: `Queue.get_async`.
    GetAsync,
    /// `_aio.put_async`: `Queue.put_async`.
    PutAsync,
    // Keep `PutAsync` last: `COUNT` is counted from it.
}

const CALLS: &CStr = c"subinterpreters._calls";
const AIO: &CStr = c"subinterpreters._aio";

impl HalfFunction {
    /// How many there are (the last one's index, plus one).
    const COUNT: usize = HalfFunction::PutAsync as usize + 1;

    /// The module that defines it and its name there.
    fn location(self) -> (&'static CStr, &'static CStr) {
        match self {
            HalfFunction::Call => (CALLS, c"call"),
            HalfFunction::CallInThread => (CALLS, c"call_in_thread"),
            HalfFunction::RunInThread => (CALLS, c"run_in_thread"),
            HalfFunction::CallAsync => (CALLS, c"call_async"),
            HalfFunction::RunAsync => (CALLS, c"run_async"),
            HalfFunction::Resolve => (CALLS, c"resolve"),
            HalfFunction::Dumps => (CALLS, c"dumps"),
            HalfFunction::DumpsTogether => (CALLS, c"dumps_together"),
            HalfFunction::Describe => (CALLS, c"describe"),
            HalfFunction::RecvAsync => (AIO, c"recv_async"),
            HalfFunction::SendAsync => (AIO, c"send_async"),
            HalfFunction::GetAsync => (AIO, c"get_async"),
            HalfFunction::PutAsync => (AIO, c"put_async"),
        }
    }
}

/// One interpreter's Python-half functions, each looked up on first use (part of the module
/// state, so they live and die with the interpreter's module).
#[derive(Default)]
pub(crate) struct PythonHalf {
    functions: [OnceCell<Owned>; HalfFunction::COUNT],
}

impl PythonHalf {
    /// `function`, imported and looked up if this is its first use in this interpreter.
    pub(crate) fn get(&self, function: HalfFunction) -> PyResult<Ref<'_>> {
        let slot = &self.functions[function as usize];
        if let Some(found) = slot.get() {
            return Ok(found.as_ref());
        }
        let (module, name) = function.location();
        let found = import_module(module)?.as_ref().getattr(name)?;
        // Importing ran Python code, which may have looked it up first: either is the same.
        Ok(slot.get_or_init(|| found).as_ref())
    }

    /// Visits every function looked up so far (the module's GC traversal).
    pub(crate) fn for_each(&self, visit: &mut dyn FnMut(Ref<'_>) -> c_int) -> c_int {
        for function in self.functions.iter().filter_map(OnceCell::get) {
            let rc = visit(function.as_ref());
            if rc != 0 {
                return rc;
            }
        }
        0
    }
}

/// Declares native methods written in Python:
/// `forwarders!(Type: method_name => HalfFunction::Name, ...)`.
macro_rules! forwarders {
    ($ty:ty: $($name:ident => $function:expr),+ $(,)?) => {
        $(
            pub(crate) fn $name(
                this: $crate::ffi::This<'_, $ty>,
                args: $crate::ffi::Args<'_>,
            ) -> $crate::ffi::PyResult<$crate::ffi::Owned> {
                let state = $crate::state::state_of(this.obj)?;
                args.forward(state.python_half.get($function)?, this.obj)
            }
        )+
    };
}

pub(crate) use forwarders;
