//! Running code in an interpreter: `run`, `exec` and `prepare_main`. Shared values are converted
//! to payloads in the caller's interpreter (so a bad one changes nothing), then the calling thread
//! enters the target, binds them in its `__main__`, runs the source, and brings back an uncaught
//! exception as text.

use std::ffi::CString;

use subinterpreters_core::Payload;

use super::enter::run_as_main;
use crate::convert::{
    from_payload, from_plain_payload, needs_module_state, to_payload_or_cpython_shareable, ToPayloadError,
};
use crate::errors::{Error, RemoteError, RemoteText};
use crate::ffi::{
    builtin, clear_error, dict_set, import_module, main_module_dict, none, raise, run_in_main_module,
    run_marshalled_in_main_module, str_from, str_from_utf8_surrogatepass, take_raised, Args, Builtin, ObjKind, Owned,
    Param, ParamKind, PyResult, Ref, Signature, This,
};
use crate::state::{state_of, with_imported_state, State};
use crate::values::InterpreterId;

static RUN_SIGNATURE: Signature<1> = Signature {
    function: "run",
    params: [Param { name: c"source", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: true,
};

static EXEC_SIGNATURE: Signature<1> = Signature {
    function: "exec",
    params: [Param { name: c"code", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

static PREPARE_MAIN_SIGNATURE: Signature<1> = Signature {
    function: "prepare_main",
    params: [Param { name: c"ns", kind: ParamKind::PositionalOnly, required: false }],
    var_keyword: true,
};

/// What a run executes in the target's `__main__`.
enum Script {
    /// Source text.
    Text(CString),
    /// A code object, marshalled (`exec()` of a function or a code object).
    Code(Vec<u8>),
}

pub(super) fn run(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([source], shared) = args.bind(&RUN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let source = source_text(state, source.expect("required"))?;
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, Some(Script::Text(source)), shared)
}

/// `exec(code)`: a str of source, or (as CPython 3.14 allows) a code object or a function that
/// takes no arguments, whose body runs with `__main__` as its globals.
pub(super) fn exec(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [code] = args.parse(&EXEC_SIGNATURE)?;
    let code = code.expect("required");
    let state = state_of(this.obj)?;
    let script = if code.kind() == ObjKind::Str {
        Script::Text(source_text(state, code)?)
    } else {
        let marshalled =
            import_module(c"subinterpreters._calls")?.as_ref().getattr(c"script_code")?.as_ref().call(&[code])?;
        Script::Code(marshalled.as_ref().bytes_data().to_vec())
    };
    run_in(state, this.value.0, Some(script), Vec::new())
}

/// `prepare_main(ns=None, /, **kwargs)`: binds `dict(ns, **kwargs)` in `__main__`.
pub(super) fn prepare_main(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([ns], keywords) = args.bind(&PREPARE_MAIN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let mut owned: Vec<(Owned, Owned)> = Vec::new();
    if let Some(ns) = ns.filter(|ns| !ns.is_none()) {
        let dict = builtin_dict()?.as_ref().call(&[ns])?;
        let items = dict.as_ref().getattr(c"items")?.as_ref().call(&[])?.as_ref().iterate()?;
        while let Some(item) = items.as_ref().next_item()? {
            let mut pair = item.as_ref().tuple_items();
            if let (Some(name), Some(value)) = (pair.next(), pair.next()) {
                if name.kind() != ObjKind::Str {
                    return Err(raise(
                        builtin(Builtin::TypeError),
                        &format!("prepare_main() names must be str, not {}", name.type_qualname()),
                    ));
                }
                owned.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    // Keyword arguments win over the mapping, as in dict(ns, **kwargs).
    owned.retain(|(name, _)| !keywords.iter().any(|(keyword, _)| keyword.str_equals_obj(name.as_ref())));
    let mut shared: Vec<(Ref<'_>, Ref<'_>)> =
        owned.iter().map(|(name, value)| (name.as_ref(), value.as_ref())).collect();
    shared.extend(keywords.iter().copied());
    if shared.is_empty() {
        // As CPython's: binding nothing is a mistake worth reporting.
        return Err(raise(builtin(Builtin::ValueError), "prepare_main() was given nothing to bind"));
    }
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, None, shared)
}

fn builtin_dict() -> PyResult<Owned> {
    import_module(c"builtins")?.as_ref().getattr(c"dict")
}

/// The source as a C string; only `str` is accepted.
fn source_text(state: &State, source: Ref<'_>) -> PyResult<CString> {
    if source.kind() != ObjKind::Str {
        return Err(raise(
            builtin(Builtin::TypeError),
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
            let payload = to_payload_or_cpython_shareable(state, *value).map_err(|error| match error {
                ToPayloadError::NotShareable(reason) => {
                    state.fail(Error::NotShareable(format!("shared value '{}': {reason}", name.to_string_lossy())))
                }
                ToPayloadError::Raised(raised) => raised,
            })?;
            Ok((name.str_utf8_surrogatepass()?.into_owned(), payload))
        })
        .collect()
}

/// Binds `shared` in interpreter `id`'s `__main__` and then runs `source` there (if any).
fn run_in(state: &State, id: i64, script: Option<Script>, shared: Vec<(Vec<u8>, Payload)>) -> PyResult<Owned> {
    let action = if script.is_some() { "run code in" } else { "prepare" };
    let outcome = run_as_main(state, id, action, move || run_inside(script.as_ref(), shared))?;
    match outcome {
        Ok(()) => Ok(none()),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The part of a run that happens inside the target interpreter. Returns plain data only.
fn run_inside(script: Option<&Script>, shared: Vec<(Vec<u8>, Payload)>) -> Result<(), RemoteError> {
    let result = bind_shared(&shared).and_then(|()| match script {
        Some(Script::Text(source)) => run_in_main_module(source),
        Some(Script::Code(marshalled)) => run_marshalled_in_main_module(marshalled),
        None => Ok(()),
    });
    result.map_err(|_| describe_raised())
}

fn bind_shared(shared: &[(Vec<u8>, Payload)]) -> PyResult<()> {
    if shared.is_empty() {
        return Ok(());
    }
    let globals = main_module_dict()?;
    let bind_all = |state: Option<&State>| -> PyResult<()> {
        for (name, payload) in shared {
            let name = str_from_utf8_surrogatepass(name)?;
            let value = match state {
                Some(state) => from_payload(state, payload)?,
                None => from_plain_payload(payload)?,
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

/// Turns the exception set in the current interpreter into text (type, message, traceback).
pub(super) fn describe_raised() -> RemoteError {
    let exc = take_raised();
    describe_raised_from(exc.as_ref().map(Owned::as_ref))
}

/// Describes exception `exc` (or a SystemError when there is none) as text.
pub(super) fn describe_raised_from(exc: Option<Ref<'_>>) -> RemoteError {
    let Some(exc) = exc else {
        return RemoteError {
            type_name: "SystemError".into(),
            type_module: "builtins".into(),
            message: "error return without exception set".into(),
            traceback: RemoteText::default(),
            pickled: None,
        };
    };
    let type_name = RemoteText(exc.type_qualname_exact());
    let type_module = exc
        .type_of()
        .getattr(c"__module__")
        .and_then(|module| Ok(RemoteText(module.as_ref().str_utf8_surrogatepass()?.into_owned())))
        .unwrap_or_else(|_| {
            clear_error();
            RemoteText::default()
        });
    let message = RemoteText(exc.str_exact());
    let traceback = format_exception(exc).unwrap_or_else(|_| {
        clear_error();
        let mut text = type_name.0.clone();
        if !message.is_empty() {
            text.extend_from_slice(b": ");
            text.extend_from_slice(&message.0);
        }
        text.push(b'\n');
        RemoteText(text)
    });
    RemoteError { type_name, type_module, message, traceback, pickled: None }
}

fn format_exception(exc: Ref<'_>) -> PyResult<RemoteText> {
    let traceback = import_module(c"traceback")?;
    let lines = traceback.as_ref().getattr(c"format_exception")?.as_ref().call(&[exc])?;
    let text = str_from("")?.as_ref().getattr(c"join")?.as_ref().call(&[lines.as_ref()])?;
    Ok(RemoteText(text.as_ref().str_utf8_surrogatepass()?.into_owned()))
}
