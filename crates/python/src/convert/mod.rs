//! Python objects <-> interpreter-independent payloads. What `to_payload` accepts is, by
//! construction, exactly what `is_shareable` reports and what channels and `run(**shared)` carry.

mod lent;
mod shared;
mod structured;

use subinterpreters_core::{ArrayKind, Payload};

use crate::errors::Error;
use crate::ffi::{
    bool_from, builtin, bytes_from, float_from, int_from_hex, int_from_i64, none, raise, str_from_utf8_surrogatepass,
    tuple, Builtin, ObjKind, Owned, PyResult, Raised, Ref,
};
use crate::state::State;
use crate::values::{RecvHandle, SendHandle, SharedArrayObject, Sink, Source};

pub(crate) use lent::lend;

/// Why an object could not become a payload.
pub(crate) enum ToPayloadError {
    /// Not shareable; the text says what and where.
    NotShareable(String),
    /// A Python exception is set (e.g. MemoryError).
    Raised(Raised),
}

impl From<Raised> for ToPayloadError {
    fn from(raised: Raised) -> Self {
        ToPayloadError::Raised(raised)
    }
}

impl ToPayloadError {
    /// Raises the Python exception for this error.
    pub(crate) fn raise(self, state: &State) -> Raised {
        match self {
            ToPayloadError::NotShareable(reason) => state.fail(Error::NotShareable(reason)),
            ToPayloadError::Raised(raised) => raised,
        }
    }
}

/// Converts `obj` for a send to `sink`: natively, or by pickle if `sink` is not strict.
pub(crate) fn payload_for(state: &State, sink: &dyn Sink, obj: Ref<'_>) -> PyResult<Payload> {
    let converted = if sink.is_strict() { to_payload(state, obj) } else { to_payload_or_pickle(state, obj) };
    converted.map_err(|error| error.raise(state))
}

/// Converts `obj` (of the current interpreter, whose module state is `state`) into a payload,
/// natively only.
pub(crate) fn to_payload(state: &State, obj: Ref<'_>) -> Result<Payload, ToPayloadError> {
    convert(state, obj)
}

/// As [`to_payload`], but an object that cannot cross natively is pickled instead (the whole
/// object); one that pickle refuses too is not shareable.
pub(crate) fn to_payload_or_pickle(state: &State, obj: Ref<'_>) -> Result<Payload, ToPayloadError> {
    let reason = match convert(state, obj) {
        Err(ToPayloadError::NotShareable(reason)) => reason,
        converted => return converted,
    };
    let (dumps, _) = state.pickle()?;
    let pickled = dumps.as_ref().call(&[obj]).map_err(|raised| {
        let Some(exc) = crate::ffi::take_raised() else { return ToPayloadError::Raised(raised) };
        // KeyboardInterrupt, SystemExit and the like are not pickle refusing the object: they go on.
        if !exc.as_ref().type_of().is_subtype_of(builtin(Builtin::Exception)) {
            return ToPayloadError::Raised(crate::ffi::raise_instance(exc));
        }
        let why = exc.as_ref().str_lossy();
        ToPayloadError::NotShareable(format!("{reason}, and pickle refused it too: {why}"))
    })?;
    if pickled.as_ref().kind() != ObjKind::Bytes {
        return Err(ToPayloadError::NotShareable(format!("{reason}, and pickle.dumps did not return bytes")));
    }
    Ok(Payload::Pickled(pickled.as_ref().bytes_data().into()))
}

/// As [`to_payload`], but an object CPython itself shares between interpreters (3.13+: a
/// `concurrent.interpreters` queue) that the package does not know crosses by pickle, which CPython's shareable objects support: what `run(**shared)` and
/// `prepare_main` bind, so CPython's objects can be handed to our interpreters too.
pub(crate) fn to_payload_or_cpython_shareable(state: &State, obj: Ref<'_>) -> Result<Payload, ToPayloadError> {
    match convert(state, obj) {
        Err(ToPayloadError::NotShareable(reason)) if cpython_shares(obj)? => {
            to_payload_or_pickle(state, obj).map_err(|error| match error {
                ToPayloadError::NotShareable(_) => ToPayloadError::NotShareable(reason),
                raised => raised,
            })
        }
        converted => converted,
    }
}

/// True for an object of CPython's own interpreter modules (`concurrent.interpreters`, 3.13's
/// `test.support.interpreters`) that CPython shares between interpreters: its queues. (Only
/// those: CPython's `is_shareable` looks at a tuple's items shallowly.)
fn cpython_shares(obj: Ref<'_>) -> PyResult<bool> {
    #[cfg(Py_3_13)]
    {
        let module = obj.type_of().getattr(c"__module__")?;
        let module = module.as_ref().to_string_lossy();
        if !(module.starts_with("concurrent.interpreters") || module.starts_with("test.support.interpreters")) {
            return Ok(false);
        }
        let is_shareable = crate::ffi::import_module(c"_interpreters")?.as_ref().getattr(c"is_shareable")?;
        is_shareable.as_ref().call(&[obj])?.as_ref().is_truthy()
    }
    #[cfg(not(Py_3_13))]
    {
        let _ = obj;
        Ok(false)
    }
}

fn convert(state: &State, obj: Ref<'_>) -> Result<Payload, ToPayloadError> {
    let kind = obj.kind();
    if kind == ObjKind::Tuple {
        if let Some(items) = scalar_tuple(obj)? {
            return Ok(Payload::Tuple(items));
        }
    }
    Ok(match kind {
        ObjKind::None => Payload::None,
        ObjKind::Bool => Payload::Bool(obj.bool_value()),
        ObjKind::Int => match obj.int_as_i64()? {
            Some(value) => Payload::Int(value),
            None => Payload::BigInt(obj.int_to_hex()?.into_boxed_str()),
        },
        ObjKind::Float => Payload::Float(obj.float_value()?),
        ObjKind::Str => Payload::Str(obj.str_utf8_surrogatepass()?.into_owned().into_boxed_slice()),
        ObjKind::Bytes => Payload::Bytes(obj.bytes_data().into()),
        // Containers (and what they hold, handles included) go as one structured value, so that
        // identity within it is kept and the receiver builds it in one walk.
        _ if structured::is_structured(kind) => {
            Payload::Structured(Box::new(structured::encode(state, obj, &handle_payload)?))
        }
        _ => handle_payload(state, obj)?,
    })
}

/// Most items a tuple may have to go as a plain tuple of scalars (see [`scalar_tuple`]).
const SCALAR_TUPLE_MAX: usize = 16;

/// A short tuple of scalars (None, bool, int, float, str, bytes), the arguments of most calls,
/// as a plain tuple payload: no structured buffer to write and read. (A structured value would
/// carry nothing more: the tuple is reached once, and scalars have no identity to keep.) `None`
/// for anything else.
fn scalar_tuple(obj: Ref<'_>) -> Result<Option<Box<[Payload]>>, ToPayloadError> {
    let len = obj.tuple_len();
    if len > SCALAR_TUPLE_MAX {
        return Ok(None);
    }
    let mut items = Vec::with_capacity(len);
    for index in 0..len {
        let item = obj.tuple_item(index);
        items.push(match item.kind() {
            ObjKind::None => Payload::None,
            ObjKind::Bool => Payload::Bool(item.bool_value()),
            ObjKind::Int => match item.int_as_i64()? {
                Some(value) => Payload::Int(value),
                None => return Ok(None),
            },
            ObjKind::Float => Payload::Float(item.float_value()?),
            ObjKind::Str => Payload::Str(item.str_utf8_surrogatepass()?.into_owned().into_boxed_slice()),
            ObjKind::Bytes => Payload::Bytes(item.bytes_data().into()),
            _ => return Ok(None),
        });
    }
    Ok(Some(items.into_boxed_slice()))
}

/// A payload for one of the package's objects (a handle on something shared), or a memoryview.
fn handle_payload(state: &State, obj: Ref<'_>) -> Result<Payload, ToPayloadError> {
    Ok(if let Some(handle) = state.recv_type.downcast(obj) {
        Payload::RecvEnd(handle.0.clone())
    } else if let Some(handle) = state.send_type.downcast(obj) {
        Payload::SendEnd(handle.0.clone())
    } else if let Some(interp) = state.interpreter_type.downcast(obj) {
        Payload::Interpreter(interp.0)
    } else if let Some(queue) = state.queue_type.downcast(obj) {
        Payload::Queue(queue.handle.clone())
    } else if let Some(primitive) = shared::to_shared(state, obj) {
        Payload::Primitive(primitive)
    } else if let Some(array) = state.shared_array_type.downcast_sub(obj) {
        Payload::Array(array.array.clone())
    } else if obj.is_memoryview() {
        // As in CPython 3.14: the receiver's memoryview shares this one's memory.
        return lend(state, obj, true).map_err(ToPayloadError::Raised);
    } else {
        return Err(ToPayloadError::NotShareable(format!(
            "object of type '{}' is not shareable between interpreters (shareable: None, bool, int, \
             float, complex, str, bytes, bytearray, tuple, list, dict, set and frozenset of shareable \
             objects (exact types only), memoryview, channel ends, queues, Interpreter, locks and the \
             other subinterpreters primitives, SharedArray)",
            obj.type_qualname()
        )));
    })
}

/// The id given to `Interpreter(id)` or `Queue(id)`: TypeError unless an int (as CPython's
/// classes say); `None` for an int no object can have (beyond 64 bits).
pub(crate) fn object_id(id: Ref<'_>) -> PyResult<Option<i64>> {
    if !id.is_int_instance() {
        return Err(raise(builtin(Builtin::TypeError), &format!("id must be an int, got {}", id.repr_lossy())));
    }
    id.int_as_i64()
}

/// Builds the object received from `source`; if that fails (MemoryError, an unpickling error),
/// the item goes back to the front of `source` rather than being lost.
pub(crate) fn deliver(state: &State, source: &dyn Source, payload: Payload) -> PyResult<Owned> {
    match from_payload(state, &payload) {
        Ok(obj) => Ok(obj),
        Err(raised) => {
            source.put_back(payload);
            Err(raised)
        }
    }
}

/// True if `obj` converts to a payload; a Python error during the attempt propagates.
pub(crate) fn is_shareable(state: &State, obj: Ref<'_>) -> PyResult<bool> {
    match to_payload(state, obj) {
        Ok(_) => Ok(true),
        Err(ToPayloadError::NotShareable(_)) => Ok(false),
        Err(ToPayloadError::Raised(raised)) => Err(raised),
    }
}

/// Builds, in the current interpreter (whose module state is `state`), an object equal to the one
/// `payload` was made from, of the same type.
pub(crate) fn from_payload(state: &State, payload: &Payload) -> PyResult<Owned> {
    build(Some(state), payload)
}

/// As [`from_payload`], for a payload without channel ends or interpreters (see
/// [`needs_module_state`]): it needs no module state, so no import in the receiving interpreter.
pub(crate) fn from_plain_payload(payload: &Payload) -> PyResult<Owned> {
    build(None, payload)
}

fn build(state: Option<&State>, payload: &Payload) -> PyResult<Owned> {
    match payload {
        Payload::None => Ok(none()),
        Payload::Bool(value) => Ok(bool_from(*value)),
        Payload::Int(value) => int_from_i64(*value),
        Payload::BigInt(hex) => int_from_hex(hex),
        Payload::Float(value) => float_from(*value),
        Payload::Str(utf8) => str_from_utf8_surrogatepass(utf8),
        Payload::Bytes(data) => bytes_from(data),
        Payload::Tuple(items) => {
            let objects = items.iter().map(|item| build(state, item)).collect::<PyResult<Vec<_>>>()?;
            tuple(objects)
        }
        Payload::Structured(value) => structured::decode(value, &|attachment| build(state, attachment)),
        handle => {
            let Some(state) = state else {
                return Err(raise(
                    builtin(Builtin::SystemError),
                    "a channel end or interpreter needs the module state",
                ));
            };
            match handle {
                Payload::RecvEnd(handle) => state.recv_type.instance(RecvHandle(handle.clone())),
                Payload::SendEnd(handle) => state.send_type.instance(SendHandle(handle.clone())),
                Payload::Interpreter(id) => state.interpreter_object(*id),
                Payload::Queue(handle) => state.queue_object(handle.clone()),
                Payload::Primitive(shared) => shared::from_shared(state, shared),
                Payload::Array(array) => {
                    let ty = match array.kind() {
                        ArrayKind::Array => &state.shared_array_type,
                        ArrayKind::Buffer => &state.shared_buffer_type,
                    };
                    ty.instance(SharedArrayObject::new(array.clone()))
                }
                Payload::Buffer(lease) => lent::lent_memoryview(state, lease),
                Payload::Pickled(data) => {
                    let (_, loads) = state.pickle()?;
                    loads.as_ref().call(&[bytes_from(data)?.as_ref()])
                }
                _ => unreachable!("plain values are handled above"),
            }
        }
    }
}

/// True if building `payload` needs the module state of the receiving interpreter (it holds a
/// channel end, an interpreter, a queue or a pickle somewhere).
pub(crate) fn needs_module_state(payload: &Payload) -> bool {
    match payload {
        Payload::RecvEnd(_)
        | Payload::SendEnd(_)
        | Payload::Interpreter(_)
        | Payload::Queue(_)
        | Payload::Pickled(_)
        | Payload::Primitive(_)
        | Payload::Array(_)
        | Payload::Buffer(_) => true,
        Payload::Tuple(items) => items.iter().any(needs_module_state),
        Payload::Structured(value) => value.attachments().iter().any(needs_module_state),
        _ => false,
    }
}
