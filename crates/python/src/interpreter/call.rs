//! Calling functions in an interpreter. The Python half (`subinterpreters._calls`) decides what
//! crosses and how (native or pickled, functions by value or by reference, `__main__` lookups);
//! this half carries its prepared call into the target interpreter and the outcome back, on the
//! calling thread with the caller's GIL released, as `run` does. The function itself is called
//! from here, with no Python frame of the package on the stack: code that reads its caller's
//! frame sees the interpreter's `__main__`, never the package's plumbing.

use std::ffi::CStr;

use subinterpreters_core::Payload;

use super::enter::run_as_main;
use super::run::{describe_raised, RemoteError, RemoteText};
use super::InterpreterId;
use crate::convert::{from_payload, to_payload, ToPayloadError};
use crate::errors::Error;
use crate::ffi::{import_module, take_raised, Args, Owned, Param, ParamKind, PyResult, Ref, Signature, This};
use crate::module::{state_of, with_imported_state, State};

/// The Python half.
const CALLS_MODULE: &CStr = c"subinterpreters._calls";

crate::python_half::forwarders!(CALLS_MODULE, InterpreterId:
    call => c"call",
    call_in_thread => c"call_in_thread",
    run_in_thread => c"run_in_thread",
    call_async => c"call_async",
    run_async => c"run_async",
);

static INVOKE_SIGNATURE: Signature<1> = Signature {
    function: "_invoke",
    params: [Param { name: c"spec", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

/// How a call ended, as plain data that can cross back.
enum Outcome {
    /// The result, made shareable by `_calls.wrap_result`.
    Returned(Payload),
    /// The result cannot cross (the reason).
    NotShareable(String),
}

/// `Interpreter._invoke(spec)`: makes the call `spec` describes (see `_calls.prepare`) in the
/// interpreter and returns its wrapped result; raises RunFailedError if the function raised,
/// NotShareableError if its result cannot cross.
pub(super) fn invoke(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [spec] = args.parse(&INVOKE_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let spec = to_payload(state, spec.expect("required")).map_err(|error| error.raise(state))?;
    let outcome = run_as_main(state, this.value.0, "call a function in", move || invoke_inside(spec))?;
    match outcome {
        Ok(Outcome::Returned(payload)) => from_payload(state, &payload),
        Ok(Outcome::NotShareable(reason)) => Err(state.fail(Error::NotShareable(reason))),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The part of a call that happens inside the target. Returns plain data only.
fn invoke_inside(spec: Payload) -> Result<Outcome, RemoteError> {
    let mut remote = None;
    let outcome = with_imported_state(|state| {
        let calls = import_module(CALLS_MODULE)?;
        let spec = from_payload(state, &spec)?;
        let result = match call_resolved(calls.as_ref(), spec.as_ref()) {
            Ok(result) => result,
            Err(_) => {
                remote = Some(describe_call_failure(calls.as_ref()));
                return Ok(None);
            }
        };
        let wrapped = match calls.as_ref().getattr(c"wrap_result")?.as_ref().call(&[spec.as_ref(), result.as_ref()]) {
            Ok(wrapped) => wrapped,
            Err(raised) => return not_shareable(state, raised).map(Some),
        };
        match to_payload(state, wrapped.as_ref()) {
            Ok(payload) => Ok(Some(Outcome::Returned(payload))),
            Err(ToPayloadError::NotShareable(reason)) => Ok(Some(Outcome::NotShareable(reason))),
            Err(ToPayloadError::Raised(raised)) => Err(raised),
        }
    });
    match (outcome, remote) {
        (Ok(Some(outcome)), _) => Ok(outcome),
        (_, Some(remote)) => Err(remote),
        _ => Err(describe_raised()),
    }
}

/// `fn(*args, **kwargs)` from `_calls.resolve(spec)`, called from here: no Python frame of ours
/// is around the call.
fn call_resolved(calls: Ref<'_>, spec: Ref<'_>) -> PyResult<Owned> {
    let resolved = calls.getattr(c"resolve")?.as_ref().call(&[spec])?;
    let mut parts = resolved.as_ref().tuple_items();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(function), Some(args), Some(kwargs)) => function.call_with(args, kwargs),
        _ => Err(crate::ffi::raise(crate::ffi::builtin(crate::ffi::Builtin::SystemError), "bad resolved call")),
    }
}

/// A NotShareableError raised while wrapping the result becomes an outcome; anything else
/// (KeyboardInterrupt, MemoryError) propagates.
fn not_shareable(state: &State, raised: crate::ffi::Raised) -> PyResult<Outcome> {
    let Some(exc) = take_raised() else { return Err(raised) };
    if exc.as_ref().type_of().is_subtype_of(state.errors.not_shareable_class()) {
        return Ok(Outcome::NotShareable(exc.as_ref().str_lossy()));
    }
    Err(crate::ffi::raise_instance(exc))
}

/// The exception set now, described by `_calls.describe` (type, module, message, traceback and
/// the exception pickled if pickle can carry it, for the caller's `__cause__`).
fn describe_call_failure(calls: Ref<'_>) -> RemoteError {
    let Some(exc) = take_raised() else { return describe_raised() };
    let described = calls.getattr(c"describe").and_then(|describe| describe.as_ref().call(&[exc.as_ref()]));
    let Ok(described) = described else {
        crate::ffi::restore_raised(exc);
        return describe_raised();
    };
    let mut parts = described.as_ref().tuple_items();
    let mut text = || -> RemoteText {
        parts.next().and_then(|part| part.str_utf8_surrogatepass().ok()).map(|bytes| RemoteText(bytes.into_owned())).unwrap_or_default()
    };
    let (type_name, type_module, message, traceback) = (text(), text(), text(), text());
    let pickled = described
        .as_ref()
        .tuple_items()
        .nth(4)
        .filter(|pickled| pickled.kind() == crate::ffi::ObjKind::Bytes)
        .map(|pickled| pickled.bytes_data().into());
    crate::ffi::clear_error();
    RemoteError { type_name, type_module, message, traceback, pickled }
}
