//! `_ReturnedValue`: a call's result that came back but is not built yet (`Interpreter._invoke`
//! with `defer`). Building a large container or unpickling holds the caller's GIL for as long as
//! it takes; a pool's worker thread hands the result over unbuilt, and the thread that asks the
//! future for it builds it, once, so the worker goes on to its next task at once.

use subinterpreters_core::Payload;

use super::call::result_not_rebuilt;
use crate::convert::from_payload;
use crate::ffi::{builtin, py_method, raise, Builtin, Owned, PyResult, This, TypeDef};
use crate::state::state_of;
use crate::values::ReturnedValue;

pub(crate) static RETURNED_VALUE: TypeDef<ReturnedValue> = TypeDef::new(
    c"subinterpreters._ReturnedValue",
    c"A call's result, not built yet (see Interpreter._invoke); build() builds it, once.",
    &[py_method!(c"build", c"build($self, /)\n--\n\n\
Build the result in this interpreter and return it (once: RuntimeError after). ExecutionFailed\n\
if it cannot be rebuilt here (an object that does not unpickle).", noargs: build)],
    &[],
    &[],
);

/// Results whose building costs more than a copy: those worth building outside a worker thread.
pub(super) fn worth_deferring(payload: &Payload) -> bool {
    matches!(payload, Payload::Structured(_) | Payload::Pickled(_))
}

fn build(this: This<'_, ReturnedValue>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let Some(payload) = this.value.0.borrow_mut().take() else {
        return Err(raise(builtin(Builtin::RuntimeError), "this result has been built already"));
    };
    from_payload(state, &payload).map_err(|_| result_not_rebuilt(state))
}
