//! Running code in an interpreter: `run`, `exec` and `prepare_main`. Shared values are converted
//! to payloads in the caller's interpreter (so a bad one changes nothing), then the calling thread
//! enters the target, binds them in its `__main__`, runs the source, and brings back an uncaught
//! exception as text.

use std::ffi::{CStr, CString};

use subinterpreters_core::Payload;

use super::refuse_main_or_current;
use crate::convert::{from_payload, from_plain_payload, needs_module_state, to_payload, ToPayloadError};
use crate::errors::Error;
use crate::ffi::{
    builtin, clear_error, dict_set, enter_interpreter, import_module, main_module_dict, none, raise,
    run_in_main_module, str_from, str_from_utf8_surrogatepass, take_raised, thread_ident, Args,
    Builtin, ObjKind, Owned, Param, ParamKind, PyResult, Ref, Signature, This,
};
use crate::globals::INTERPRETERS;
use crate::module::{state_of, with_imported_state, State};

use super::InterpreterId;

/// An uncaught exception in another interpreter, as text that can cross back.
#[derive(Debug, Clone)]
pub(crate) struct RemoteError {
    pub(crate) type_name: RemoteText,
    pub(crate) message: RemoteText,
    pub(crate) traceback: RemoteText,
}

/// A Python str as UTF-8 with lone surrogates encoded too (`surrogatepass`), so that the caller
/// rebuilds exactly the remote text; `Display` shows it with U+FFFD for those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RemoteText(pub(crate) Vec<u8>);

impl From<&str> for RemoteText {
    fn from(text: &str) -> Self {
        RemoteText(text.as_bytes().to_vec())
    }
}

impl std::fmt::Display for RemoteText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl RemoteText {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

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

pub(super) fn run(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([source], shared) = args.bind(&RUN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let source = source_text(state, source.expect("required"))?;
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, Some(source), shared)
}

pub(super) fn exec(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [source] = args.parse(&EXEC_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let source = source_text(state, source.expect("required"))?;
    run_in(state, this.value.0, Some(source), Vec::new())
}

pub(super) fn prepare_main(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let ([], shared) = args.bind(&PREPARE_MAIN_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let shared = shared_payloads(state, &shared)?;
    run_in(state, this.value.0, None, shared)
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
            let payload = to_payload(state, *value).map_err(|error| match error {
                ToPayloadError::NotShareable(reason) => state.fail(Error::NotShareable(format!(
                    "shared value '{}': {reason}",
                    name.to_string_lossy()
                ))),
                ToPayloadError::Raised(raised) => raised,
            })?;
            Ok((name.str_utf8_surrogatepass()?.into_owned(), payload))
        })
        .collect()
}

/// Binds `shared` in interpreter `id`'s `__main__` and then runs `source` there (if any).
fn run_in(state: &State, id: i64, source: Option<CString>, shared: Vec<(Vec<u8>, Payload)>) -> PyResult<Owned> {
    let action = if source.is_some() { "run code in" } else { "prepare" };
    refuse_main_or_current(id, action).map_err(|error| state.fail(error))?;
    let interp = INTERPRETERS
        .begin_run(id, thread_ident())
        .map_err(|refusal| state.fail(Error::Interpreter { id, refusal }))?;
    // SAFETY: begin_run reserved the interpreter: it cannot be closed until end_run, which
    // on_leave calls once the thread has left it.
    let outcome = unsafe {
        enter_interpreter(interp, move || run_inside(source.as_deref(), shared), move || INTERPRETERS.end_run(id))
    }?;
    match outcome {
        Ok(()) => Ok(none()),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The part of a run that happens inside the target interpreter. Returns plain data only.
fn run_inside(source: Option<&CStr>, shared: Vec<(Vec<u8>, Payload)>) -> Result<(), RemoteError> {
    let result = bind_shared(&shared).and_then(|()| match source {
        Some(source) => run_in_main_module(source),
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
    let Some(exc) = take_raised() else {
        return RemoteError {
            type_name: "SystemError".into(),
            message: "error return without exception set".into(),
            traceback: RemoteText::default(),
        };
    };
    let type_name = RemoteText(exc.as_ref().type_qualname_exact());
    let message = RemoteText(exc.as_ref().str_exact());
    let traceback = format_exception(exc.as_ref()).unwrap_or_else(|_| {
        clear_error();
        let mut text = type_name.0.clone();
        if !message.is_empty() {
            text.extend_from_slice(b": ");
            text.extend_from_slice(&message.0);
        }
        text.push(b'\n');
        RemoteText(text)
    });
    RemoteError { type_name, message, traceback }
}

fn format_exception(exc: Ref<'_>) -> PyResult<RemoteText> {
    let traceback = import_module(c"traceback")?;
    let lines = traceback.as_ref().getattr(c"format_exception")?.as_ref().call(&[exc])?;
    let text = str_from("")?.as_ref().getattr(c"join")?.as_ref().call(&[lines.as_ref()])?;
    Ok(RemoteText(text.as_ref().str_utf8_surrogatepass()?.into_owned()))
}
