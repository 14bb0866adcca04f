//! The Python `Interpreter` type and the interpreter functions of the module. Running code
//! ([`run`]) and closing ([`close`]) live in their own files. The rules (who may run, close twice,
//! shutdown) live in the core's `InterpreterTable`; this module does the C-API work around them.

mod call;
mod close;
mod run;

pub(crate) use close::{try_close, CloseFailure, StrayThreads};
pub(crate) use run::RemoteError;

use crate::errors::Error;
use crate::ffi::{
    bool_from, create_interpreter, current_interpreter_id, int_from_i64, list, main_interpreter_id,
    py_getter, py_method, py_slot, Args, CompareOp, Owned, Param, ParamKind, PyResult, Ref, Signature,
    This, TypeDef,
};
use crate::globals::INTERPRETERS;
use crate::module::{state_of, state_of_module};

/// What an `Interpreter` object carries: the CPython id of the interpreter it names. The object
/// does not own the interpreter; closing is explicit (or at exit).
pub(crate) struct InterpreterId(pub(crate) i64);

pub(crate) static INTERPRETER: TypeDef<InterpreterId> = TypeDef::new(
    c"subinterpreters.Interpreter",
    c"An interpreter of this process (see create(), get_current(), get_main()).\n\n\
Equal and hashable by id; shareable (it can be passed to other interpreters). The object does\n\
not own the interpreter: close() (or a with-block, or process exit) destroys it.",
    &[
        py_method!(c"run", c"run($self, source, /, **shared)\n--\n\n\
Run source (a str of Python code) in the interpreter's __main__ module, on the calling thread.\n\n\
Each keyword argument is first bound as a global of that __main__ (values must be shareable:\n\
NotShareableError otherwise, and nothing is bound or run). Globals persist across runs. The\n\
caller's GIL is released meanwhile, so its other threads keep running. An uncaught exception\n\
raises RunFailedError here, carrying the remote type name, message and traceback. RuntimeError\n\
if the interpreter is already running code (or is the current or the main interpreter).",
            fastcall: run::run),
        py_method!(c"exec", c"exec($self, source, /)\n--\n\n\
Run source in the interpreter's __main__ module: run() without shared values.", fastcall: run::exec),
        py_method!(c"prepare_main", c"prepare_main($self, /, **shared)\n--\n\n\
Bind each keyword argument as a global of the interpreter's __main__ module, without running\n\
anything. Values must be shareable (NotShareableError otherwise, and nothing is bound).",
            fastcall: run::prepare_main),
        py_method!(c"call", c"call($self, fn, /, *args, **kwargs)\n--\n\n\
Call fn(*args, **kwargs) in the interpreter, on the calling thread (its GIL released meanwhile),\n\
and return the result.\n\n\
fn must be findable by reference: a function or class of an importable module, or of the caller's\n\
__main__ (looked up in the target's __main__, else the caller's main script is imported there as\n\
__si_main__, without running its `if __name__ == '__main__'` block). Arguments and the result\n\
cross natively when shareable, else by pickle; what neither can carry raises NotShareableError\n\
before anything runs. An exception raised by fn raises RunFailedError with the remote traceback,\n\
and, when the exception can be pickled, the rebuilt exception as __cause__.", fastcall: call::call),
        py_method!(c"call_in_thread", c"call_in_thread($self, fn, /, *args, **kwargs)\n--\n\n\
Start call(fn, *args, **kwargs) on a new thread; return a concurrent.futures.Future of its result.",
            fastcall: call::call_in_thread),
        py_method!(c"run_in_thread", c"run_in_thread($self, source, /, **shared)\n--\n\n\
Start run(source, **shared) on a new thread; return a concurrent.futures.Future (result None).",
            fastcall: call::run_in_thread),
        py_method!(c"call_async", c"call_async($self, fn, /, *args, **kwargs)\n--\n\n\
Awaitable call(): the event loop keeps running while fn runs in the interpreter.",
            fastcall: call::call_async),
        py_method!(c"run_async", c"run_async($self, source, /, **shared)\n--\n\n\
Awaitable run(): the event loop keeps running while source runs in the interpreter.",
            fastcall: call::run_async),
        py_method!(c"_invoke", c"_invoke($self, spec, /)\n--\n\n\
Internal: run subinterpreters._calls.invoke(spec) in the interpreter and return its outcome.",
            fastcall: call::invoke),
        py_method!(c"is_running", c"is_running($self, /)\n--\n\n\
Return True while the interpreter is running code (always True for the main interpreter).",
            noargs: is_running),
        py_method!(c"close", c"close($self, /)\n--\n\n\
Destroy the interpreter: run its threading exit hooks, join its non-daemon threads (Ctrl-C\n\
interrupts that wait in the main thread), run its exit hooks, free it. Closing again does\n\
nothing. RuntimeError for the main or the current interpreter, while it runs code, or while\n\
daemon threads of a legacy interpreter are still alive (CPython cannot end it then).",
            noargs: close::close),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nReturn self.", noargs: enter),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Close the interpreter.", fastcall: close::exit),
    ],
    &[py_getter!(c"id", c"The interpreter's id (0 for the main one; never reused).", id)],
    &[py_slot!(repr: repr), py_slot!(hash: hash), py_slot!(richcompare: compare)],
);

fn id(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    int_from_i64(this.value.0)
}

fn repr(this: This<'_, InterpreterId>) -> String {
    format!("Interpreter(id={})", this.value.0)
}

fn hash(this: This<'_, InterpreterId>) -> u64 {
    this.value.0 as u64
}

fn compare(this: This<'_, InterpreterId>, other: This<'_, InterpreterId>, op: CompareOp) -> bool {
    (this.value.0 == other.value.0) == (op == CompareOp::Eq)
}

fn enter(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    Ok(this.obj.to_owned())
}

fn is_running(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let id = this.value.0;
    if id == main_interpreter_id() {
        return Ok(bool_from(true));
    }
    let state = state_of(this.obj)?;
    match INTERPRETERS.is_running(id) {
        Ok(running) => Ok(bool_from(running)),
        Err(refusal) => Err(state.fail(Error::Interpreter { id, refusal })),
    }
}

/// The checks shared by run and close: neither applies to the main or the current interpreter.
fn refuse_main_or_current(id: i64, action: &'static str) -> Result<(), Error> {
    if id == main_interpreter_id() {
        return Err(Error::MainIsRunning { action });
    }
    if id == current_interpreter_id() {
        return Err(Error::IsCurrent { id, action });
    }
    Ok(())
}

// ---- module functions ---------------------------------------------------------------------------

static CREATE_SIGNATURE: Signature<1> = Signature {
    function: "create",
    params: [Param { name: c"isolated", kind: ParamKind::KeywordOnly, required: false }],
    var_keyword: false,
};

pub(crate) fn create(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [isolated] = args.parse(&CREATE_SIGNATURE)?;
    let state = state_of_module(module)?;
    let isolated = match isolated {
        Some(value) => value.is_truthy()?,
        None => true,
    };
    INTERPRETERS
        .begin_create()
        .map_err(|refusal| state.fail(Error::Interpreter { id: -1, refusal }))?;
    let (_, id) = create_interpreter(isolated, move |created| {
        INTERPRETERS.finish_create(created.map(|(interp, id)| (id, interp, isolated)));
    })
    .map_err(|reason| state.fail(Error::CreateFailed(reason)))?;
    state.interpreter_type.instance(InterpreterId(id))
}

pub(crate) fn list_all(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("list_all")?;
    let state = state_of_module(module)?;
    let ids = std::iter::once(main_interpreter_id()).chain(INTERPRETERS.ids());
    let objects = ids.map(|id| state.interpreter_type.instance(InterpreterId(id))).collect::<PyResult<Vec<_>>>()?;
    list(objects)
}

pub(crate) fn get_current(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_current")?;
    let state = state_of_module(module)?;
    state.interpreter_type.instance(InterpreterId(current_interpreter_id()))
}

pub(crate) fn get_main(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_main")?;
    let state = state_of_module(module)?;
    state.interpreter_type.instance(InterpreterId(main_interpreter_id()))
}
