//! What `Interpreter`, `_PreparedCall` and `_ReturnedValue` objects carry, and how a call ended.

use std::cell::RefCell;

use subinterpreters_core::Payload;

/// What an `Interpreter` object carries: the CPython id of the interpreter it names. The object
/// does not own the interpreter; closing is explicit (or at exit).
pub(crate) struct InterpreterId(pub(crate) i64);

/// What a `_PreparedCall` carries: the call's payload until a run takes it (once).
pub(crate) struct PreparedCall(pub(crate) RefCell<Option<Payload>>);

/// What a `_ReturnedValue` carries: a call's result as it came back, until it is built (once).
pub(crate) struct ReturnedValue(pub(crate) RefCell<Option<Payload>>);

/// How a call ended, as plain data that can cross back (the function's exception, described,
/// is the `Err` beside it: `Result<Outcome, RemoteError>`).
pub(crate) enum Outcome {
    /// The result, natively or pickled (or None when the call does not keep it).
    Returned(Payload),
    /// The result cannot cross (the reason).
    NotShareable(String),
}
