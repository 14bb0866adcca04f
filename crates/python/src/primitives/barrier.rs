//! `Barrier`.

use std::sync::Arc;

use subinterpreters_core::primitives::Barrier;

use super::{optional_seconds, timeout_from_seconds, wait_for_grant, wait_timeout};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, int_from_u64, none, py_getter, py_method, py_slot, Args, CompareOp, Owned, Param, ParamKind, PyResult,
    Ref, Signature, This, TypeDef,
};
use crate::state::state_of;
use crate::values::BarrierObject;

pub(crate) static BARRIER: TypeDef<BarrierObject> = TypeDef::new(
    c"subinterpreters.Barrier",
    c"Barrier(parties, timeout=None)\n--\n\n\
A barrier for parties threads of any interpreters, with threading.Barrier's API (without\n\
action): wait, reset, abort, parties, n_waiting, broken; raises threading.BrokenBarrierError.",
    &[
        py_method!(c"wait", c"wait($self, /, timeout=None)\n--\n\n\
Wait until all parties have called wait(); return this party's arrival index (0 to\n\
parties - 1). If the timeout (default: the barrier's) expires, the barrier breaks.",
            fastcall: wait),
        py_method!(c"reset", c"reset($self, /)\n--\n\n\
Return the barrier to its initial state; parties waiting get BrokenBarrierError.", noargs: reset),
        py_method!(c"abort", c"abort($self, /)\n--\n\n\
Break the barrier: waiting and later wait() calls raise BrokenBarrierError until reset().",
            noargs: abort),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<BarrierObject>),
    ],
    &[
        py_getter!(c"parties", c"The number of parties.", parties),
        py_getter!(c"n_waiting", c"The number of parties waiting now.", n_waiting),
        py_getter!(c"broken", c"True if the barrier is broken.", broken),
    ],
    &[py_slot!(new: new), py_slot!(repr: repr), py_slot!(hash: hash), py_slot!(richcompare: compare)],
);

static NEW_SIGNATURE: Signature<2> = Signature {
    function: "Barrier",
    params: [
        Param { name: c"parties", kind: ParamKind::PositionalOrKeyword, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn new(_: Ref<'_>, args: Args<'_>) -> PyResult<BarrierObject> {
    let [parties, timeout] = args.parse(&NEW_SIGNATURE)?;
    let parties = crate::counts::count_arg(parties.expect("required"), "parties", 1, "must be > 0")?;
    let timeout = optional_seconds(timeout)?;
    Ok(BarrierObject { barrier: Arc::new(Barrier::new(parties)), timeout })
}

static WAIT_SIGNATURE: Signature<1> = Signature {
    function: "wait",
    params: [Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn wait(this: This<'_, BarrierObject>, args: Args<'_>) -> PyResult<Owned> {
    let [timeout] = args.parse(&WAIT_SIGNATURE)?;
    let timeout = match timeout.filter(|timeout| !timeout.is_none()) {
        Some(timeout) => wait_timeout(Some(timeout))?,
        None => timeout_from_seconds(this.value.timeout),
    };
    let broken = || -> PyResult<Owned> { Err(state_of(this.obj)?.fail(Error::BrokenBarrier)) };
    let (index, pending) = match Barrier::start_wait(&this.value.barrier) {
        Ok(arrival) => arrival,
        Err(_) => return broken(),
    };
    if let Some(pending) = pending {
        // Not granted (broken), or timed out (which breaks the barrier for everyone).
        if wait_for_grant(pending, timeout, Call::BarrierWait)? != Some(true) {
            return broken();
        }
    }
    int_from_u64(index as u64)
}

fn reset(this: This<'_, BarrierObject>) -> PyResult<Owned> {
    this.value.barrier.reset();
    Ok(none())
}

fn abort(this: This<'_, BarrierObject>) -> PyResult<Owned> {
    this.value.barrier.abort();
    Ok(none())
}

fn parties(this: This<'_, BarrierObject>) -> PyResult<Owned> {
    int_from_u64(this.value.barrier.parties() as u64)
}

fn n_waiting(this: This<'_, BarrierObject>) -> PyResult<Owned> {
    int_from_u64(this.value.barrier.n_waiting() as u64)
}

fn broken(this: This<'_, BarrierObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.barrier.broken()))
}

fn repr(this: This<'_, BarrierObject>) -> String {
    let barrier = &this.value.barrier;
    format!("<subinterpreters.Barrier parties={} waiting={}>", barrier.parties(), barrier.n_waiting())
}

fn hash(this: This<'_, BarrierObject>) -> u64 {
    Arc::as_ptr(&this.value.barrier) as u64
}

fn compare(this: This<'_, BarrierObject>, other: This<'_, BarrierObject>, op: CompareOp) -> bool {
    Arc::ptr_eq(&this.value.barrier, &other.value.barrier) == (op == CompareOp::Eq)
}
