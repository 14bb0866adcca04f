//! The Python `Interpreter` type and the interpreter functions of the module: creating, running
//! code in, and closing interpreters. The rules (who may run, close twice, shutdown) live in the
//! core's `InterpreterTable`; this module does the C-API work around them.

use std::ffi::CString;
use std::time::{Duration, Instant};

use subinterpreters_core::{Payload, TableError};

use crate::convert::{from_payload, needs_module_state, to_payload};
use crate::errors::Error;
use crate::ffi::{
    allow_threads, bool_from, current_interpreter, dict_set, end_interpreter, enter_interpreter,
    eval_snippet, import_module, int_from_i64, list, main_interpreter, main_module_dict, none,
    other_thread_states, py_getter, py_method, py_slot, raise_system_exit_in, run_in_main_module,
    str_from, take_raised, thread_ident, Args, CompareOp, Owned, Param, ParamKind, PyResult, Ref,
    Signature, This, TypeDef,
};
use crate::globals::INTERPRETERS;
use crate::module::{state_of, state_of_module, with_imported_state, State};

/// What an `Interpreter` object carries: the CPython id of the interpreter it names. The object
/// does not own the interpreter; closing is explicit (or at exit).
pub(crate) struct InterpreterId(pub(crate) i64);

/// An uncaught exception in another interpreter, as text that can cross back.
#[derive(Debug, Clone)]
pub(crate) struct RemoteError {
    pub(crate) type_name: String,
    pub(crate) message: String,
    pub(crate) traceback: String,
}

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
            fastcall: run),
        py_method!(c"exec", c"exec($self, source, /)\n--\n\n\
Run source in the interpreter's __main__ module: run() without shared values.", fastcall: exec),
        py_method!(c"prepare_main", c"prepare_main($self, /, **shared)\n--\n\n\
Bind each keyword argument as a global of the interpreter's __main__ module, without running\n\
anything. Values must be shareable (NotShareableError otherwise, and nothing is bound).",
            fastcall: prepare_main),
        py_method!(c"is_running", c"is_running($self, /)\n--\n\n\
Return True while the interpreter is running code (always True for the main interpreter).",
            noargs: is_running),
        py_method!(c"close", c"close($self, /)\n--\n\n\
Destroy the interpreter: join its non-daemon threads, run its exit hooks, free it. Closing\n\
again does nothing. RuntimeError for the main or the current interpreter, while it runs code,\n\
or while daemon threads of a legacy interpreter are still alive (CPython cannot end it then).",
            noargs: close),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nReturn self.", noargs: enter),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Close the interpreter.", fastcall: exit),
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

fn main_id() -> i64 {
    main_interpreter().id()
}

// ---- running code -------------------------------------------------------------------------------

static RUN_SIGNATURE: Signature<1> = Signature {
    function: "run",
    params: [Param { name: c"source", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: true,
};

static EXEC_SIGNATURE: Signature<1> = Signature {
    function: "exec",
    params: [Param { name: c"source", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

static PREPARE_MAIN_SIGNATURE: Signature<0> =
    Signature { function: "prepare_main", params: [], var_keyword: true };

fn run(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([source], shared) = args.bind(&RUN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let source = source_text(state, source.expect("required"))?;
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, Some(source), shared)
}

fn exec(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [source] = args.parse(&EXEC_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let source = source_text(state, source.expect("required"))?;
    run_in(state, this.value.0, Some(source), Vec::new())
}

fn prepare_main(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([], shared) = args.bind(&PREPARE_MAIN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, None, shared)
}

/// The source as a C string; only `str` is accepted.
fn source_text(state: &State, source: Ref<'_>) -> PyResult<CString> {
    if source.kind() != crate::ffi::ObjKind::Str {
        return Err(crate::ffi::raise(
            crate::ffi::builtin(crate::ffi::Builtin::TypeError),
            &format!("source must be a str of Python code, not {}", source.type_qualname()),
        ));
    }
    let text = source.str_utf8_surrogatepass()?;
    CString::new(text.into_owned()).map_err(|_| state.fail(Error::SourceHasNul))
}

/// Converts every shared value before anything happens, so a bad one changes nothing.
fn shared_payloads(state: &State, shared: &[(Ref<'_>, Ref<'_>)]) -> PyResult<Vec<(Vec<u8>, Payload)>> {
    shared
        .iter()
        .map(|(name, value)| {
            let payload = to_payload(state, *value).map_err(|error| match error {
                crate::convert::ToPayloadError::NotShareable(reason) => state.fail(Error::NotShareable(
                    format!("shared value '{}': {reason}", name.to_string_lossy()),
                )),
                crate::convert::ToPayloadError::Raised(raised) => raised,
            })?;
            Ok((name.str_utf8_surrogatepass()?.into_owned(), payload))
        })
        .collect()
}

/// Binds `shared` in interpreter `id`'s `__main__` and then runs `source` there (if any).
fn run_in(state: &State, id: i64, source: Option<CString>, shared: Vec<(Vec<u8>, Payload)>) -> PyResult<Owned> {
    let action = if source.is_some() { "run code in" } else { "prepare" };
    if id == main_id() {
        return Err(state.fail(Error::MainIsRunning { action }));
    }
    if id == current_interpreter().id() {
        return Err(state.fail(Error::IsCurrent { id, action }));
    }
    let interp = INTERPRETERS
        .begin_run(id, thread_ident())
        .map_err(|refusal| state.fail(Error::Interpreter { id, refusal }))?;
    let outcome = enter_interpreter(
        interp,
        move || run_inside(source.as_deref(), shared),
        || INTERPRETERS.end_run(id),
    )?;
    match outcome {
        Ok(()) => Ok(none()),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The part of a run that happens inside the target interpreter. Returns plain data only.
fn run_inside(source: Option<&std::ffi::CStr>, shared: Vec<(Vec<u8>, Payload)>) -> Result<(), RemoteError> {
    let result = bind_shared(&shared).and_then(|()| match source {
        Some(source) => run_in_main_module(source),
        None => Ok(()),
    });
    // Payloads dropped here, inside the target: harmless (they are plain Rust values).
    drop(shared);
    result.map_err(|_| describe_raised())
}

fn bind_shared(shared: &[(Vec<u8>, Payload)]) -> PyResult<()> {
    if shared.is_empty() {
        return Ok(());
    }
    let globals = main_module_dict()?;
    let bind_all = |state: Option<&State>| -> PyResult<()> {
        for (name, payload) in shared {
            let name = crate::ffi::str_from_utf8_surrogatepass(name)?;
            let value = match state {
                Some(state) => from_payload(state, payload)?,
                None => plain_from_payload(payload)?,
            };
            dict_set(globals.as_ref(), name.as_ref(), value.as_ref())?;
        }
        Ok(())
    };
    if shared.iter().any(|(_, payload)| needs_module_state(payload)) {
        with_imported_state(|state| bind_all(Some(state)))
    } else {
        bind_all(None)
    }
}

/// Builds a payload that holds no channel end or interpreter (no module state needed).
fn plain_from_payload(payload: &Payload) -> PyResult<Owned> {
    use crate::ffi::{bool_from, bytes_from, float_from, int_from_hex, str_from_utf8_surrogatepass, tuple};
    match payload {
        Payload::None => Ok(none()),
        Payload::Bool(value) => Ok(bool_from(*value)),
        Payload::Int(value) => int_from_i64(*value),
        Payload::BigInt(hex) => int_from_hex(hex),
        Payload::Float(value) => float_from(*value),
        Payload::Str(utf8) => str_from_utf8_surrogatepass(utf8),
        Payload::Bytes(data) => bytes_from(data),
        Payload::Tuple(items) => {
            let objects = items.iter().map(plain_from_payload).collect::<PyResult<Vec<_>>>()?;
            tuple(objects.into_iter())
        }
        Payload::RecvEnd(_) | Payload::SendEnd(_) | Payload::Interpreter(_) => {
            unreachable!("payloads with handles are built with the module state")
        }
    }
}

/// Turns the exception set in the current interpreter into text (type, message, traceback).
fn describe_raised() -> RemoteError {
    let Some(exc) = take_raised() else {
        return RemoteError {
            type_name: "SystemError".into(),
            message: "error return without exception set".into(),
            traceback: String::new(),
        };
    };
    let type_name = exc.as_ref().type_qualname();
    let message = exc.as_ref().str_lossy();
    let traceback = format_exception(exc.as_ref()).unwrap_or_else(|_| {
        crate::ffi::clear_error();
        format!("{type_name}: {message}\n")
    });
    RemoteError { type_name, message, traceback }
}

fn format_exception(exc: Ref<'_>) -> PyResult<String> {
    let traceback = import_module(c"traceback")?;
    let lines = traceback.as_ref().getattr(c"format_exception")?.as_ref().call(&[exc])?;
    let text = str_from("")?.as_ref().getattr(c"join")?.as_ref().call(&[lines.as_ref()])?;
    Ok(text.as_ref().to_string_lossy())
}

// ---- state queries and closing ------------------------------------------------------------------

fn is_running(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let id = this.value.0;
    if id == main_id() {
        return Ok(bool_from(true));
    }
    let state = state_of(this.obj)?;
    match INTERPRETERS.is_running(id) {
        Ok(running) => Ok(bool_from(running)),
        Err(refusal) => Err(state.fail(Error::Interpreter { id, refusal })),
    }
}

fn close(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    close_interpreter(state, this.value.0, StrayThreads::Refuse)?;
    Ok(none())
}

/// What `close` does about threads that `Py_EndInterpreter` would not join.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StrayThreads {
    /// Refuse to close (RuntimeError): the user's `close()`.
    Refuse,
    /// Ask them to raise SystemExit and wait for them until the deadline: the exit hook.
    StopUntil(Instant),
}

/// Closes interpreter `id` (a no-op if it is already closed).
pub(crate) fn close_interpreter(state: &State, id: i64, stray: StrayThreads) -> PyResult<()> {
    if id == main_id() {
        return Err(state.fail(Error::MainIsRunning { action: "close" }));
    }
    if id == current_interpreter().id() {
        return Err(state.fail(Error::IsCurrent { id, action: "close" }));
    }
    let interp = match INTERPRETERS.begin_close(id) {
        Ok(Some(interp)) => interp,
        Ok(None) => return Ok(()),
        Err(refusal) => return Err(state.fail(Error::Interpreter { id, refusal })),
    };
    loop {
        let stop = matches!(stray, StrayThreads::StopUntil(_));
        let readiness = enter_interpreter(interp, move || prepare_end(interp, stop), || {});
        let busy = match readiness {
            Ok(Ok(0)) => {
                end_interpreter(interp);
                INTERPRETERS.finish_close(id);
                return Ok(());
            }
            Ok(Ok(busy)) => busy,
            Ok(Err(remote)) => {
                INTERPRETERS.abandon_close(id);
                return Err(state.fail(Error::CloseFailed { id, reason: remote.type_name + ": " + &remote.message }));
            }
            Err(raised) => {
                INTERPRETERS.abandon_close(id);
                return Err(raised);
            }
        };
        match stray {
            StrayThreads::StopUntil(deadline) if Instant::now() < deadline => {
                allow_threads(|| std::thread::sleep(STRAY_THREAD_POLL));
            }
            _ => {
                INTERPRETERS.abandon_close(id);
                return Err(state.fail(Error::ThreadsStillRunning { id, count: busy }));
            }
        }
    }
}

/// How often the exit hook looks again at threads it asked to stop.
const STRAY_THREAD_POLL: Duration = Duration::from_millis(10);

/// Daemon threads alive in the current interpreter, by ident (dummy entries excluded).
const DAEMON_THREADS: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
result = () if threading is None else tuple(
    thread.ident for thread in threading.enumerate()
    if thread.daemon and thread.is_alive() and not isinstance(thread, threading._DummyThread))
";

/// Joins the current interpreter's non-daemon threads, as Py_EndInterpreter would.
const JOIN_THREADS: &std::ffi::CStr = c"
import sys
threading = sys.modules.get('threading')
while threading is not None:
    others = [thread for thread in threading.enumerate()
              if not thread.daemon and thread.is_alive() and thread.ident != threading.get_ident()
              and thread is not threading.main_thread()
              and not isinstance(thread, threading._DummyThread)]
    if not others:
        break
    for thread in others:
        thread.join()
";

/// Runs inside an interpreter about to be ended, because `Py_EndInterpreter` aborts the process
/// ("not the last thread") if any other thread still has a thread state in it. Joins its
/// non-daemon threads (as `Py_EndInterpreter` would) and returns how many threads would still be
/// alive: daemon threads of legacy interpreters, raw `_thread` threads. With `stop`, daemon
/// threads are asked to raise SystemExit first.
fn prepare_end(interp: crate::ffi::InterpPtr, stop: bool) -> Result<usize, RemoteError> {
    let attempt = || -> PyResult<usize> {
        let daemons = eval_snippet(DAEMON_THREADS)?;
        let idents: Vec<u64> = daemons
            .as_ref()
            .tuple_items()
            .map(|ident| ident.int_as_i64().map(|ident| ident.unwrap_or(0) as u64))
            .collect::<PyResult<_>>()?;
        if !idents.is_empty() {
            if stop {
                idents.iter().for_each(|ident| raise_system_exit_in(*ident));
            }
            return Ok(idents.len());
        }
        eval_snippet(JOIN_THREADS)?;
        Ok(other_thread_states(interp))
    };
    attempt().map_err(|_| describe_raised())
}

fn enter(this: This<'_, InterpreterId>) -> PyResult<Owned> {
    Ok(this.obj.to_owned())
}

static EXIT_SIGNATURE: Signature<3> = Signature {
    function: "__exit__",
    params: [
        Param { name: c"exc_type", kind: ParamKind::PositionalOnly, required: false },
        Param { name: c"exc_value", kind: ParamKind::PositionalOnly, required: false },
        Param { name: c"traceback", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};

fn exit(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    close(this)
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
    if INTERPRETERS.is_shutting_down() {
        return Err(state.fail(Error::Interpreter { id: -1, refusal: TableError::ShuttingDown }));
    }
    let interp = crate::ffi::create_interpreter(isolated).map_err(|reason| state.fail(Error::CreateFailed(reason)))?;
    let id = interp.id();
    INTERPRETERS.insert(id, interp, isolated);
    state.interpreter_type.instance(InterpreterId(id))
}

pub(crate) fn list_all(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("list_all")?;
    let state = state_of_module(module)?;
    let ids = std::iter::once(main_id()).chain(INTERPRETERS.ids());
    let objects = ids.map(|id| state.interpreter_type.instance(InterpreterId(id))).collect::<PyResult<Vec<_>>>()?;
    list(objects)
}

pub(crate) fn get_current(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_current")?;
    let state = state_of_module(module)?;
    state.interpreter_type.instance(InterpreterId(current_interpreter().id()))
}

pub(crate) fn get_main(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("get_main")?;
    let state = state_of_module(module)?;
    state.interpreter_type.instance(InterpreterId(main_id()))
}
