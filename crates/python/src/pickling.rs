//! Pickling the package's shared objects within one process, so they can travel where only
//! pickle goes: through CPython's `concurrent.interpreters` (`Interpreter.call` arguments, its
//! queues), `copy.deepcopy`, or any library that pickles. A pickle carries the process id and a
//! process-wide id; unpickling in this process gives a handle on the same channel end, shared
//! memory or primitive (as long as it lives), elsewhere a clear error. `Interpreter` and `Queue`
//! pickle as `Interpreter(id)` and `Queue(id)`, as CPython's do (see their types).
//!
//! The ids come from weak tables: a pickle keeps nothing alive, like CPython's `Queue(id)`.

use std::sync::LazyLock;

use subinterpreters_core::primitives::WeakPrimitive;
use subinterpreters_core::shared_memory::WeakSharedArray;
use subinterpreters_core::{Payload, Receiver, Sender, WeakIds};

use crate::convert::{from_payload, to_payload};
use crate::errors::Error;
use crate::ffi::{int_from_i64, int_from_u64, Args, Owned, Param, ParamKind, PyResult, Ref, Signature, This};
use crate::globals::CHANNELS;
use crate::state::{state_of, state_of_module};

static ARRAYS: LazyLock<WeakIds<WeakSharedArray>> = LazyLock::new(WeakIds::new);
static PRIMITIVES: LazyLock<WeakIds<WeakPrimitive>> = LazyLock::new(WeakIds::new);

/// What a pickle refers to.
#[derive(Clone, Copy)]
enum Kind {
    RecvEnd = 0,
    SendEnd = 1,
    Array = 2,
    Primitive = 3,
}

/// `__reduce__` of the channel ends, shared arrays and primitives: `(_revive, (pid, kind, id))`.
pub(crate) fn reduce<T>(this: This<'_, T>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let payload = to_payload(state, this.obj).map_err(|error| error.raise(state))?;
    let (kind, id) = match &payload {
        Payload::RecvEnd(end) => (Kind::RecvEnd, end.id()),
        Payload::SendEnd(end) => (Kind::SendEnd, end.id()),
        Payload::Array(array) => {
            let (identity, weak) = array.downgrade();
            (Kind::Array, ARRAYS.id_of(identity, || weak))
        }
        Payload::Primitive(primitive) => {
            let (identity, weak) = primitive.downgrade();
            (Kind::Primitive, PRIMITIVES.id_of(identity, || weak))
        }
        _ => unreachable!("only the types listed above define this __reduce__"),
    };
    let revive = crate::ffi::import_module(c"subinterpreters._core")?.as_ref().getattr(c"_revive")?;
    let args = crate::ffi::tuple(vec![
        int_from_u64(u64::from(std::process::id()))?,
        int_from_i64(kind as i64)?,
        int_from_u64(id)?,
    ])?;
    crate::ffi::tuple(vec![revive, args])
}

static REVIVE_SIGNATURE: Signature<3> = Signature {
    function: "_revive",
    params: [
        Param { name: c"pid", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"kind", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"id", kind: ParamKind::PositionalOnly, required: true },
    ],
    var_keyword: false,
};

/// `_revive(pid, kind, id)`: the object a pickle made by `reduce` refers to.
pub(crate) fn revive(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [pid, kind, id] = args.parse(&REVIVE_SIGNATURE)?;
    let state = state_of_module(module)?;
    let number = |value: Option<Ref<'_>>| -> PyResult<Option<i64>> {
        match value {
            Some(value) if value.is_int_instance() => value.int_as_i64(),
            _ => Ok(None),
        }
    };
    let (Some(pid), Some(kind), Some(id)) = (number(pid)?, number(kind)?, number(id)?) else {
        return Err(state.fail(Error::NotRevivable("a malformed pickle".to_owned())));
    };
    if pid != i64::from(std::process::id()) {
        return Err(state.fail(Error::NotRevivable(format!(
            "it was pickled in process {pid}: subinterpreters objects unpickle only in the process that \
             pickled them (use the same process's interpreters, or send the data itself)"
        ))));
    }
    let id = id as u64;
    let gone = |what: &str| state.fail(Error::NotRevivable(format!("{what} {id} no longer exists")));
    let payload = match kind {
        k if k == Kind::RecvEnd as i64 => {
            Payload::RecvEnd(Receiver::new(CHANNELS.get(id).ok_or_else(|| gone("channel"))?))
        }
        k if k == Kind::SendEnd as i64 => {
            Payload::SendEnd(Sender::new(CHANNELS.get(id).ok_or_else(|| gone("channel"))?))
        }
        k if k == Kind::Array as i64 => Payload::Array(ARRAYS.get(id).ok_or_else(|| gone("shared memory"))?),
        k if k == Kind::Primitive as i64 => Payload::Primitive(PRIMITIVES.get(id).ok_or_else(|| gone("primitive"))?),
        _ => return Err(state.fail(Error::NotRevivable("a malformed pickle".to_owned()))),
    };
    from_payload(state, &payload)
}
