//! Calling functions in an interpreter. The Python half (`subinterpreters._calls`) decides what
//! crosses and how (native or pickled, functions by value or by reference, `__main__` lookups);
//! this half carries its prepared call into the target interpreter and the outcome back, on the
//! calling thread with the caller's GIL released, as `run` does. The function itself is called
//! from here, with no Python frame of the package on the stack: code that reads its caller's
//! frame sees the interpreter's `__main__`, never the package's plumbing.

use std::cell::RefCell;

use subinterpreters_core::Payload;

use super::enter::run_as_main;
use super::run::{describe_raised, describe_raised_from};
use crate::convert::from_payload;
use crate::errors::Error;
use crate::errors::{RemoteError, RemoteText};
use crate::ffi::{builtin, raise, take_raised, Args, Builtin, Owned, Param, ParamKind, PyResult, Ref, Signature, This};
use crate::python_half::HalfFunction;
use crate::state::{state_of, with_imported_state, State};
use crate::values::{InterpreterId, Outcome, PreparedCall, ReturnedValue};

crate::python_half::forwarders!(InterpreterId:
    call => HalfFunction::Call,
    call_in_thread => HalfFunction::CallInThread,
    run_in_thread => HalfFunction::RunInThread,
    call_async => HalfFunction::CallAsync,
    run_async => HalfFunction::RunAsync,
);

static INVOKE_SIGNATURE: Signature<2> = Signature {
    function: "_invoke",
    params: [
        Param { name: c"call", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"defer", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};

/// `Interpreter._invoke(call, defer=False)`: makes the call prepared by `_core._prepare_call`
/// in the interpreter and returns its result; raises ExecutionFailed if the function raised (or
/// if its result cannot be rebuilt here), NotShareableError if the result cannot cross. With
/// `defer`, a result that is costly to build comes back unbuilt, as a `_ReturnedValue`: a pool's
/// worker thread then hands it over without holding the caller's GIL for the build.
pub(super) fn invoke(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [call, defer] = args.parse(&INVOKE_SIGNATURE)?;
    let defer = is_set(defer)?;
    let state = state_of(this.obj)?;
    let payload = checked_call(state, call.expect("required"))?.0.borrow_mut().take().expect("checked");
    let outcome = run_as_main(state, this.value.0, "call a function in", move || {
        let mut leftovers = Vec::new();
        invoke_inside(&payload, &mut leftovers)
    })?;
    settle(state, outcome, defer)
}

/// An optional flag argument: false when not given.
fn is_set(flag: Option<Ref<'_>>) -> PyResult<bool> {
    flag.map_or(Ok(false), |flag| flag.is_truthy())
}

/// The `_PreparedCall` that `call` is, if it has not run yet.
pub(super) fn checked_call<'a>(state: &State, call: Ref<'a>) -> PyResult<&'a PreparedCall> {
    let Some(prepared) = state.prepared_call_type.downcast(call) else {
        return Err(raise(builtin(Builtin::TypeError), "_invoke() takes a call made by _prepare_call()"));
    };
    if prepared.0.borrow().is_none() {
        return Err(raise(builtin(Builtin::RuntimeError), "this prepared call has run already"));
    }
    Ok(prepared)
}

/// What `_invoke` returns or raises for a call's outcome.
pub(super) fn settle(state: &State, outcome: Result<Outcome, RemoteError>, defer: bool) -> PyResult<Owned> {
    match outcome {
        Ok(Outcome::Returned(payload)) if defer && super::returned::worth_deferring(&payload) => {
            state.returned_value_type.instance(ReturnedValue(RefCell::new(Some(payload))))
        }
        Ok(Outcome::Returned(payload)) => from_payload(state, &payload).map_err(|_| result_not_rebuilt(state)),
        Ok(Outcome::NotShareable(reason)) => Err(state.fail(Error::NotShareable(reason))),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The result came back but cannot be built here (it fails to unpickle): ExecutionFailed, with
/// the error that prevented it as `__cause__`.
pub(super) fn result_not_rebuilt(state: &State) -> crate::ffi::Raised {
    let cause = take_raised();
    let mut remote = describe_raised_from(cause.as_ref().map(Owned::as_ref));
    let mut message = b"the call returned, but its result cannot be rebuilt here: ".to_vec();
    message.extend_from_slice(&remote.message.0);
    remote.message = RemoteText(message);
    let raised = state.fail(Error::RunFailed(remote));
    if let (Some(cause), Some(error)) = (cause, take_raised()) {
        error.as_ref().set_cause(cause);
        return crate::ffi::raise_instance(error);
    }
    raised
}

/// The part of a call that happens inside the target. Returns plain data only. What the call
/// leaves to free there (its arguments and its result, once written) goes to `leftovers`, for
/// the caller to drop inside the interpreter when it suits it: a pool's worker drops them once
/// the outcome is in the task's cell, so whoever waits for the outcome does not wait for those
/// frees too (a ThreadPoolExecutor also sets a future's result before it lets go of the task).
pub(super) fn invoke_inside(payload: &Payload, leftovers: &mut Vec<Owned>) -> Result<Outcome, RemoteError> {
    let mut remote = None;
    let outcome = with_imported_state(|state| {
        let result = match call_resolved(state, payload, leftovers) {
            Ok(result) => result,
            Err(_) => {
                remote = Some(describe_call_failure(state));
                return Ok(None);
            }
        };
        let Some(result) = result else { return Ok(Some(Outcome::Returned(Payload::None))) };
        let dumps = state.python_half.get(HalfFunction::Dumps)?;
        let written = super::prepared::native_or_pickled(state, dumps, result.as_ref(), "the result");
        leftovers.push(result);
        match written {
            Ok(payload) => Ok(Some(Outcome::Returned(payload))),
            Err(raised) => not_shareable(state, raised).map(Some),
        }
    });
    match (outcome, remote) {
        (Ok(Some(outcome)), _) => Ok(outcome),
        (_, Some(remote)) => Err(remote),
        _ => Err(describe_raised()),
    }
}

/// Builds the call here, resolves it (`_calls.resolve`) and makes it, from here: no Python
/// frame of ours is around the function. `None` when the result is not wanted. The call's
/// arguments go to `leftovers` once it returned.
fn call_resolved(state: &State, payload: &Payload, leftovers: &mut Vec<Owned>) -> PyResult<Option<Owned>> {
    let spec = from_payload(state, payload)?;
    let resolved = state.python_half.get(HalfFunction::Resolve)?.call(&[spec.as_ref()])?;
    let result = {
        let mut parts = resolved.as_ref().tuple_items();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(function), Some(args), Some(kwargs), Some(keep)) => {
                let result = function.call_with(args, kwargs)?;
                if keep.is_truthy()? {
                    Some(result)
                } else {
                    None
                }
            }
            _ => return Err(raise(builtin(Builtin::SystemError), "bad resolved call")),
        }
    };
    leftovers.extend([spec, resolved]);
    Ok(result)
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
fn describe_call_failure(state: &State) -> RemoteError {
    let Some(exc) = take_raised() else { return describe_raised() };
    let described = state.python_half.get(HalfFunction::Describe).and_then(|describe| describe.call(&[exc.as_ref()]));
    let Ok(described) = described else {
        crate::ffi::restore_raised(exc);
        return describe_raised();
    };
    let mut parts = described.as_ref().tuple_items();
    let mut text = || -> RemoteText {
        parts
            .next()
            .and_then(|part| part.str_utf8_surrogatepass().ok())
            .map(|bytes| RemoteText(bytes.into_owned()))
            .unwrap_or_default()
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
