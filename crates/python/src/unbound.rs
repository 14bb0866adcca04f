//! `UNBOUND`, `UNBOUND_ERROR` and `UNBOUND_REMOVE`: CPython's `concurrent.interpreters` markers
//! for what a queue's `get()` returns once the interpreter that put an item is gone. Items in
//! this package's queues outlive their putter (they hold no object of its interpreter), so no
//! item is ever unbound: the markers are accepted, validated and reported, for code written
//! against CPython's API, and change nothing.

use crate::ffi::{builtin, import_module, raise, Builtin, PyResult, Ref, This, TypeDef};
use crate::state::State;
use crate::values::Unbound;

pub(crate) static UNBOUND_MARKER: TypeDef<Unbound> = TypeDef::new(
    c"subinterpreters._UnboundMarker",
    c"The type of si.UNBOUND, si.UNBOUND_ERROR and si.UNBOUND_REMOVE (see create_queue()).",
    &[],
    &[],
    &[crate::ffi::py_slot!(repr: repr)],
);

fn repr(this: This<'_, Unbound>) -> String {
    format!("subinterpreters.{}", this.value.name())
}

/// The marker `obj` stands for: one of ours, or (on 3.14+) one of `concurrent.interpreters`'
/// own, so code passing CPython's markers works unchanged. Anything else raises
/// NotImplementedError, as CPython does.
pub(crate) fn parse(state: &State, obj: Ref<'_>) -> PyResult<Unbound> {
    if let Some(marker) = state.unbound_marker_type.downcast(obj) {
        return Ok(*marker);
    }
    if let Some(found) = cpython_marker(obj)? {
        return Ok(found);
    }
    Err(raise(
        builtin(Builtin::NotImplementedError),
        &format!("unsupported unbound replacement op {}", obj.repr_lossy()),
    ))
}

/// `obj` compared with CPython's markers, looked up only if CPython's queue module is loaded
/// already (code holding one of its markers has loaded it).
fn cpython_marker(obj: Ref<'_>) -> PyResult<Option<Unbound>> {
    let modules = import_module(c"sys")?.as_ref().getattr(c"modules")?;
    let Some(queues) = crate::ffi::dict_get(modules.as_ref(), c"concurrent.interpreters._queues")? else {
        return Ok(None);
    };
    for (name, found) in
        [(c"UNBOUND", Unbound::Replace), (c"UNBOUND_ERROR", Unbound::Error), (c"UNBOUND_REMOVE", Unbound::Remove)]
    {
        if queues.as_ref().getattr(name).is_ok_and(|marker| marker.as_ref().is(obj)) {
            return Ok(Some(found));
        }
        crate::ffi::clear_error();
    }
    Ok(None)
}
