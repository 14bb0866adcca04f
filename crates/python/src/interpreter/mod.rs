//! The Python `Interpreter` type and the interpreter functions of the module. Running code
//! ([`run`]) and closing ([`close`]) live in their own files. The rules (who may run, close twice,
//! shutdown) live in the core's `InterpreterTable`; this module does the C-API work around them.

mod call;
mod close;
mod enter;
mod prepared;
mod returned;
mod run;
mod serve;
mod tasks;

pub(crate) use close::{try_close, CloseFailure, StrayThreads};
pub(crate) use prepared::{prepare_call, PREPARED_CALL};
pub(crate) use returned::RETURNED_VALUE;
pub(crate) use tasks::{TASK_CELL, TASK_QUEUE};

use subinterpreters_core::TableError;

use crate::errors::Error;
use crate::ffi::{
    bool_from, create_interpreter, current_interpreter_id, int_from_i64, is_running_main, list, lookup_interpreter,
    main_interpreter_id, py_getter, py_method, py_slot, str_from, tuple, whence, Args, CompareOp, Owned, Param,
    ParamKind, PyResult, Ref, Signature, This, TypeDef,
};
use crate::globals::INTERPRETERS;
use crate::state::{state_of, state_of_module, state_of_type};
use crate::values::InterpreterId;

/// True if interpreter `id` is alive: the main one, one of ours, or one made by other code
/// (`concurrent.interpreters`, the C API), which can be used through this package too.
pub(crate) fn exists(id: i64) -> bool {
    id == main_interpreter_id() || INTERPRETERS.contains(id) || lookup_interpreter(id).is_some()
}

pub(crate) static INTERPRETER: TypeDef<InterpreterId> = TypeDef::new(
    c"subinterpreters.Interpreter",
    c"Interpreter(id, /)\n--\n\n\
An interpreter of this process: Interpreter(id) is the object of the live interpreter with\n\
that id (InterpreterNotFoundError if there is none), including interpreters made by\n\
concurrent.interpreters or other C code; see also create(), get_current(), get_main().\n\n\
There is one object per interpreter id in each interpreter (Interpreter(i.id) is i). Equal\n\
and hashable by id; shareable and picklable (within this process). The object does not own\n\
the interpreter: close() (or a with-block, or process exit) destroys it.",
    &[
        py_method!(c"run", c"run($self, source, /, **shared)\n--\n\n\
Run source (a str of Python code) in the interpreter's __main__ module, on the calling thread.\n\n\
Each keyword argument is first bound as a global of that __main__ (values must be shareable:\n\
NotShareableError otherwise, and nothing is bound or run). Globals persist across runs. The\n\
caller's GIL is released meanwhile, so its other threads keep running. An uncaught exception\n\
raises RunFailedError here, carrying the remote type name, message and traceback. RuntimeError\n\
if the interpreter is already running code (or is the current or the main interpreter).",
            fastcall: run::run),
        py_method!(c"exec", c"exec($self, code, /)\n--\n\n\
Run code in the interpreter's __main__ module, on the calling thread (run() without shared\n\
values). code is a str of source, a code object, or a function taking no arguments whose body\n\
then runs with __main__ as its globals (as CPython 3.14's exec does).", fastcall: run::exec),
        py_method!(c"prepare_main", c"prepare_main($self, ns=None, /, **shared)\n--\n\n\
Bind each item of dict(ns, **shared) as a global of the interpreter's __main__ module,\n\
without running anything. Values must be shareable (NotShareableError otherwise, and nothing\n\
is bound); names must be str.", fastcall: run::prepare_main),
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
        py_method!(c"_invoke", c"_invoke($self, call, defer=False, /)\n--\n\n\
Internal: make a call prepared by _prepare_call() in the interpreter and return its result.\n\
With defer, a result that costs more than a copy to build (a container, a pickled object) is\n\
returned as a _ReturnedValue, built by its build() where and when that costs least.",
            fastcall: call::invoke),
        py_method!(c"_serve", c"_serve($self, queue, settle, workers, /)\n--\n\n\
Internal: an InterpreterPoolExecutor worker's loop. Run the tasks of the _TaskQueue queue in\n\
the interpreter, waiting for each without holding a GIL, until a stop signal; after each visit\n\
call settle(outcomes), outcomes a list of (task_id, ok, value) (ok None: cancelled before it\n\
started). workers is the pool's size.",
            fastcall: serve::serve),
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
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\n\
Pickle support: an Interpreter unpickles as Interpreter(id), in this process.", noargs: reduce),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Close the interpreter.", fastcall: close::exit),
    ],
    &[
        py_getter!(c"id", c"The interpreter's id (0 for the main one; never reused).", id),
        py_getter!(
            c"whence",
            c"Where the interpreter came from, in CPython's words: 'runtime init' (the\n\
main one), 'C-API' (made by subinterpreters.create() or Py_NewInterpreterFromConfig),\n\
'_interpreters module' (made by concurrent.interpreters), 'legacy C-API', 'cross-interpreter\n\
C-API' or 'unknown'.",
            whence_of
        ),
    ],
    &[py_slot!(new_object: new), py_slot!(repr: repr), py_slot!(hash: hash), py_slot!(richcompare: compare)],
);

static NEW_SIGNATURE: Signature<1> = Signature {
    function: "Interpreter",
    params: [Param { name: c"id", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

/// `Interpreter(id)`: the object of a live interpreter.
fn new(ty: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [id] = args.parse(&NEW_SIGNATURE)?;
    let id = id.expect("required");
    let state = state_of_type(ty)?;
    match crate::convert::object_id(id)? {
        Some(id) if id < 0 => Err(crate::ffi::raise(
            crate::ffi::builtin(crate::ffi::Builtin::ValueError),
            &format!("interpreter ids are never negative, got {id}"),
        )),
        Some(id) if exists(id) => state.interpreter_object(id),
        Some(id) => Err(state.fail(Error::Interpreter { id, refusal: subinterpreters_core::TableError::NotFound })),
        None => Err(state.fail(Error::NoSuchInterpreter(id.repr_lossy()))),
    }
}

fn reduce(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let args = tuple(vec![int_from_i64(this.value.0)?])?;
    tuple(vec![this.obj.type_of().to_owned(), args])
}

fn whence_of(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let id = this.value.0;
    let text = match lookup_interpreter(id) {
        // SAFETY: just looked up (CPython's own `whence(id)` does the same, holding nothing).
        Some(interp) => unsafe { whence(interp, id == main_interpreter_id(), INTERPRETERS.contains(id)) },
        None => {
            let state = state_of(this.obj)?;
            return Err(state.fail(Error::Interpreter { id, refusal: subinterpreters_core::TableError::NotFound }));
        }
    };
    str_from(text)
}

fn id(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    int_from_i64(this.value.0)
}

fn repr(this: This<'_, InterpreterId>) -> String {
    format!("Interpreter({})", this.value.0)
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
    // CPython's "running main" flag, which our runs set too: the same answer as
    // concurrent.interpreters gives, for every interpreter.
    match lookup_interpreter(id) {
        // SAFETY: just looked up, as CPython's own is_running(id) does.
        Some(interp) => Ok(bool_from(unsafe { is_running_main(interp) })),
        None => Err(state_of(this.obj)?.fail(Error::Interpreter { id, refusal: TableError::NotFound })),
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
    INTERPRETERS.begin_create().map_err(|refusal| state.fail(Error::Interpreter { id: -1, refusal }))?;
    let (_, id) = create_interpreter(isolated, move |created| {
        INTERPRETERS.finish_create(created.map(|(interp, id)| (id, interp, isolated)));
    })
    .map_err(|reason| state.fail(Error::CreateFailed(reason)))?;
    state.interpreter_object(id)
}

pub(crate) fn list_all(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("list_all")?;
    let state = state_of_module(module)?;
    let mut ids: Vec<i64> = std::iter::once(main_interpreter_id()).chain(INTERPRETERS.ids()).collect();
    ids.extend(other_interpreter_ids()?);
    ids.sort_unstable();
    ids.dedup();
    let objects = ids.into_iter().map(|id| state.interpreter_object(id)).collect::<PyResult<Vec<_>>>()?;
    list(objects)
}

/// Ids of the interpreters CPython knows of (3.13+: its `_interpreters.list_all()`, whose items
/// are `(id, whence)`), so `list_all()` lists those made by other code too, as CPython's does.
#[cfg(Py_3_13)]
fn other_interpreter_ids() -> PyResult<Vec<i64>> {
    let listed = crate::ffi::import_module(c"_interpreters")?.as_ref().getattr(c"list_all")?.as_ref().call(&[])?;
    let iterator = listed.as_ref().iterate()?;
    let mut ids = Vec::new();
    while let Some(item) = iterator.as_ref().next_item()? {
        let id = item.as_ref().tuple_items().next().and_then(|id| id.int_as_i64().ok().flatten());
        ids.extend(id);
    }
    Ok(ids)
}

/// CPython 3.12 has no public list of interpreters: only the main one and ours are known.
#[cfg(not(Py_3_13))]
fn other_interpreter_ids() -> PyResult<Vec<i64>> {
    Ok(Vec::new())
}

pub(crate) fn get_current(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_current")?;
    let state = state_of_module(module)?;
    state.interpreter_object(current_interpreter_id())
}

pub(crate) fn get_main(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_main")?;
    let state = state_of_module(module)?;
    state.interpreter_object(main_interpreter_id())
}
