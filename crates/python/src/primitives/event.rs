//! `Event`.

use std::sync::Arc;

use subinterpreters_core::primitives::Event;

use super::{wait_for_grant, wait_timeout};
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, none, py_method, py_slot, Args, CompareOp, Owned, Param, ParamKind, PyResult, Ref, Signature, This,
    TypeDef,
};
use crate::values::EventObject;

pub(crate) static EVENT: TypeDef<EventObject> = TypeDef::new(
    c"subinterpreters.Event",
    c"Event()\n--\n\n\
A flag shared by threads of any interpreters, with threading.Event's API: set, clear, is_set,\n\
wait. Waiting releases the GIL and never polls.",
    &[
        py_method!(c"set", c"set($self, /)\n--\n\nSet the flag and wake every waiter.", noargs: set),
        py_method!(c"clear", c"clear($self, /)\n--\n\nClear the flag.", noargs: clear),
        py_method!(c"is_set", c"is_set($self, /)\n--\n\nReturn True if the flag is set.", noargs: is_set),
        py_method!(c"wait", c"wait($self, /, timeout=None)\n--\n\n\
Wait until the flag is set (up to timeout seconds if given). Return the flag.", fastcall: wait),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<EventObject>),
    ],
    &[],
    &[py_slot!(new: new), py_slot!(repr: repr), py_slot!(hash: hash), py_slot!(richcompare: compare)],
);

fn new(_: Ref<'_>, args: Args<'_>) -> PyResult<EventObject> {
    args.none("Event")?;
    Ok(EventObject(Arc::new(Event::new())))
}

fn set(this: This<'_, EventObject>) -> PyResult<Owned> {
    this.value.0.set();
    Ok(none())
}

fn clear(this: This<'_, EventObject>) -> PyResult<Owned> {
    this.value.0.clear();
    Ok(none())
}

fn is_set(this: This<'_, EventObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.is_set()))
}

static WAIT_SIGNATURE: Signature<1> = Signature {
    function: "wait",
    params: [Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn wait(this: This<'_, EventObject>, args: Args<'_>) -> PyResult<Owned> {
    let [timeout] = args.parse(&WAIT_SIGNATURE)?;
    let timeout = wait_timeout(timeout)?;
    let set = match Event::start_wait(&this.value.0) {
        Ok(()) => true,
        Err(pending) => wait_for_grant(pending, timeout, Call::EventWait)?.unwrap_or_else(|| this.value.0.is_set()),
    };
    Ok(bool_from(set))
}

fn repr(this: This<'_, EventObject>) -> String {
    let state = if this.value.0.is_set() { "set" } else { "unset" };
    format!("<subinterpreters.Event {state}>")
}

fn hash(this: This<'_, EventObject>) -> u64 {
    Arc::as_ptr(&this.value.0) as u64
}

fn compare(this: This<'_, EventObject>, other: This<'_, EventObject>, op: CompareOp) -> bool {
    Arc::ptr_eq(&this.value.0, &other.value.0) == (op == CompareOp::Eq)
}
