//! Calling functions in an interpreter. The Python half (`subinterpreters._calls`) decides what
//! crosses and how (native or pickled, `__main__` lookups, rebuilding exceptions); this half
//! carries its prepared call into the target interpreter and the outcome back, on the calling
//! thread with the caller's GIL released, as `run` does.

use std::ffi::CStr;

use subinterpreters_core::Payload;

use super::refuse_main_or_current;
use super::run::{describe_raised, RemoteError};
use super::InterpreterId;
use crate::convert::{from_payload, to_payload, ToPayloadError};
use crate::errors::Error;
use crate::ffi::{enter_interpreter, import_module, thread_ident, Args, Owned, Param, ParamKind, PyResult, Signature, This};
use crate::globals::INTERPRETERS;
use crate::module::{state_of, with_imported_state};

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

/// `Interpreter._invoke(spec)`: runs `subinterpreters._calls.invoke(spec)` in the interpreter and
/// returns its outcome. `spec` and the outcome must be shareable (`_calls` makes them so).
pub(super) fn invoke(this: This<'_, InterpreterId>, args: Args<'_>) -> PyResult<Owned> {
    let [spec] = args.parse(&INVOKE_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let spec = to_payload(state, spec.expect("required")).map_err(|error| error.raise(state))?;
    let id = this.value.0;
    refuse_main_or_current(id, "call a function in").map_err(|error| state.fail(error))?;
    let interp = INTERPRETERS
        .begin_run(id, thread_ident())
        .map_err(|refusal| state.fail(Error::Interpreter { id, refusal }))?;
    // SAFETY: begin_run reserved the interpreter: it cannot be closed until end_run, which
    // on_leave calls once the thread has left it.
    let outcome =
        unsafe { enter_interpreter(interp, move || invoke_inside(spec), move || INTERPRETERS.end_run(id)) }?;
    match outcome {
        Ok(payload) => from_payload(state, &payload),
        Err(remote) => Err(state.fail(Error::RunFailed(remote))),
    }
}

/// The part of a call that happens inside the target. Returns plain data only.
fn invoke_inside(spec: Payload) -> Result<Payload, RemoteError> {
    let outcome = with_imported_state(|state| {
        let spec = from_payload(state, &spec)?;
        let invoke = import_module(CALLS_MODULE)?.as_ref().getattr(c"invoke")?;
        let outcome = invoke.as_ref().call(&[spec.as_ref()])?;
        to_payload(state, outcome.as_ref()).map_err(|error| match error {
            ToPayloadError::NotShareable(reason) => state.fail(Error::NotShareable(reason)),
            ToPayloadError::Raised(raised) => raised,
        })
    });
    outcome.map_err(|_| describe_raised())
}
