//! A call converted for crossing, once, where it is made (`_core._prepare_call`): the function's
//! spec (`_calls._function_spec`: by reference or by value), the arguments and the keyword
//! arguments, natively in one value when they can all cross natively (so identity between
//! arguments is kept; without keyword arguments, the positional ones alone, and a short tuple
//! of scalars as a plain tuple), else pickled together (identity between them still kept, as
//! CPython's pool keeps it), else (pickle refused one, a memoryview say, or one holds a handle of
//! the package, which must cross natively to stay alive) each one natively or pickled on its
//! own. Preparing at submission is what makes a pool task's arguments a snapshot of that moment
//! and lets an argument that cannot cross fail at once; the conversion is the only one the call
//! pays.

use std::cell::RefCell;

use subinterpreters_core::Payload;

use crate::convert::{to_payload, ToPayloadError};
use crate::errors::Error;
use crate::ffi::{Args, ObjKind, Owned, Param, ParamKind, PyResult, Ref, Signature, TypeDef};
use crate::python_half::HalfFunction;
use crate::state::{state_of_module, State};
use crate::values::PreparedCall;

pub(crate) static PREPARED_CALL: TypeDef<PreparedCall> = TypeDef::new(
    c"subinterpreters._PreparedCall",
    c"A call converted for crossing (see _prepare_call); Interpreter._invoke runs it, once.",
    &[],
    &[],
    &[],
);

static PREPARE_SIGNATURE: Signature<4> = Signature {
    function: "_prepare_call",
    params: [
        Param { name: c"function", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"args", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"kwargs", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"keep_result", kind: ParamKind::PositionalOnly, required: true },
    ],
    var_keyword: false,
};

/// `_prepare_call(function, args, kwargs, keep_result)`: see the module docs. `function` is a
/// spec from `_calls._function_spec`; `args` a tuple; `kwargs` a dict.
pub(crate) fn prepare_call(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [function, call_args, call_kwargs, keep_result] = args.parse(&PREPARE_SIGNATURE)?;
    let state = state_of_module(module)?;
    let (function, call_args, call_kwargs) =
        (function.expect("required"), call_args.expect("required"), call_kwargs.expect("required"));
    if call_args.kind() != ObjKind::Tuple || call_kwargs.kind() != ObjKind::Dict {
        return Err(crate::ffi::raise(
            crate::ffi::builtin(crate::ffi::Builtin::TypeError),
            "_prepare_call needs a tuple of arguments and a dict of keyword arguments",
        ));
    }
    let function = to_payload(state, function).map_err(|error| error.raise(state))?;
    // No keyword arguments (most calls): the arguments alone, and None for the keywords.
    let together = if call_kwargs.dict_len() == 0 {
        to_payload(state, call_args).map(|positional| Payload::Tuple(Box::new([positional, Payload::None])))
    } else {
        to_payload(state, crate::ffi::tuple(vec![call_args.to_owned(), call_kwargs.to_owned()])?.as_ref())
    };
    let arguments = match together {
        Ok(payload) => payload,
        Err(ToPayloadError::NotShareable(_)) => match pickled_together(state, call_args, call_kwargs)? {
            Some(payload) => payload,
            None => one_by_one(state, call_args, call_kwargs)?,
        },
        Err(ToPayloadError::Raised(raised)) => return Err(raised),
    };
    let keep = keep_result.expect("required").is_truthy()?;
    let payload = Payload::Tuple(Box::new([function, arguments, Payload::Bool(keep)]));
    state.prepared_call_type.instance(PreparedCall(RefCell::new(Some(payload))))
}

/// `(args, kwargs)` pickled as one value (by `_calls.dumps_together`, which knows the caller's
/// `__main__`), so an object reached from two arguments arrives as one; `None` if pickle refused,
/// or if they hold one of the package's handles: a handle pickles as a weak id that would keep
/// nothing alive, where its native payload holds the object until the call runs.
fn pickled_together(state: &State, call_args: Ref<'_>, call_kwargs: Ref<'_>) -> PyResult<Option<Payload>> {
    let dumps = state.python_half.get(HalfFunction::DumpsTogether)?;
    let pair = crate::ffi::tuple(vec![call_args.to_owned(), call_kwargs.to_owned()])?;
    Ok(pickled(dumps, pair.as_ref())?.ok())
}

/// `value` pickled by `dumps`; `Err` with the exception if pickle refused it (`None`: `dumps`
/// returned no bytes). Only an `Exception` is a refusal: anything else (KeyboardInterrupt...)
/// goes on as this call's error.
fn pickled(dumps: Ref<'_>, value: Ref<'_>) -> PyResult<Result<Payload, Option<Owned>>> {
    match dumps.call(&[value]) {
        Ok(bytes) if bytes.as_ref().kind() == ObjKind::Bytes => {
            Ok(Ok(Payload::Pickled(bytes.as_ref().bytes_data().into())))
        }
        Ok(_) => Ok(Err(None)),
        Err(raised) => {
            let Some(exc) = crate::ffi::take_raised() else { return Err(raised) };
            if !exc.as_ref().type_of().is_subtype_of(crate::ffi::builtin(crate::ffi::Builtin::Exception)) {
                return Err(crate::ffi::raise_instance(exc));
            }
            Ok(Err(Some(exc)))
        }
    }
}

/// `(args, kwargs)` when they cannot all cross natively: each one natively if it can, else
/// pickled (by `_calls.dumps`, which knows the caller's `__main__`); keyword arguments as
/// `(name, value)` pairs. NotShareableError names the first that neither can carry.
fn one_by_one(state: &State, call_args: Ref<'_>, call_kwargs: Ref<'_>) -> PyResult<Payload> {
    let dumps = state.python_half.get(HalfFunction::Dumps)?;
    let mut positional = Vec::with_capacity(call_args.tuple_len());
    for index in 0..call_args.tuple_len() {
        let value = call_args.tuple_item(index);
        positional.push(native_or_pickled(state, dumps, value, &format!("argument {index}"))?);
    }
    let mut keywords = Vec::with_capacity(call_kwargs.dict_len());
    for (name, value) in call_kwargs.dict_pairs() {
        let what = format!("argument {}", name.repr_lossy());
        let name = to_payload(state, name).map_err(|error| error.raise(state))?;
        let value = native_or_pickled(state, dumps, value, &what)?;
        keywords.push(Payload::Tuple(Box::new([name, value])));
    }
    Ok(Payload::Tuple(Box::new([
        Payload::Tuple(positional.into_boxed_slice()),
        Payload::Tuple(keywords.into_boxed_slice()),
    ])))
}

/// `value` natively, or pickled by `dumps`; NotShareableError (naming `what`) if neither can.
pub(crate) fn native_or_pickled(state: &State, dumps: Ref<'_>, value: Ref<'_>, what: &str) -> PyResult<Payload> {
    let reason = match to_payload(state, value) {
        Ok(payload) => return Ok(payload),
        Err(ToPayloadError::NotShareable(reason)) => reason,
        Err(ToPayloadError::Raised(raised)) => return Err(raised),
    };
    match pickled(dumps, value)? {
        Ok(payload) => Ok(payload),
        Err(None) => Err(state.fail(Error::NotShareable(format!("{what}: {reason}")))),
        Err(Some(exc)) => Err(state.fail(Error::NotShareable(format!(
            "{what} of type {} cannot cross to another interpreter: it is not shareable and pickle \
             refused it ({}: {})",
            value.type_qualname(),
            exc.as_ref().type_qualname(),
            exc.as_ref().str_lossy()
        )))),
    }
}
