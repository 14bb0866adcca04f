//! The native half of the asyncio awaitables (`recv_async`, `send_async`, `get_async`,
//! `put_async`). An operation that cannot complete at once is parked on its channel or queue with
//! a waiter that, on completion, writes a byte to a non-blocking pipe; the event loop watches the
//! pipe's read end (`loop.add_reader`) and then polls its parked operations. No thread waits on
//! behalf of a coroutine, and nothing polls on a timer. Withdrawing follows the blocking forms:
//! a cancelled receive puts back an item it was handed, so nothing is lost or received twice.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use subinterpreters_core::{Payload, RecvError, RecvStart, SendError, SendStart};

use crate::convert::{deliver, payload_for};
use crate::ffi::{
    bool_from, builtin, float_from, int_from_i64, none, py_method, py_slot, raise, tuple, Args, Builtin, Owned, Param,
    ParamKind, PyResult, Raised, Ref, Signature, This, TypeDef,
};
use crate::python_half::HalfFunction;
use crate::state::{state_of, State};
use crate::timeout::{parse_timeout, Timeout};
use crate::values::{NotifierObject, Parked, PendingOpObject, Pipe, QueueObject, RecvHandle, SendHandle, Sink, Source};

pub(crate) static ASYNC_NOTIFIER: TypeDef<NotifierObject> = TypeDef::new(
    c"subinterpreters._AsyncNotifier",
    c"_AsyncNotifier()\n--\n\n\
Internal: a pipe that parked asyncio operations signal when they complete; an event loop\n\
watches fileno() with add_reader.",
    &[
        py_method!(c"fileno", c"fileno($self, /)\n--\n\nThe read end's descriptor.", noargs: fileno),
        py_method!(c"drain", c"drain($self, /)\n--\n\nRead every pending signal.", noargs: drain),
    ],
    &[],
    &[py_slot!(new: new_notifier)],
);

fn new_notifier(_ty: Ref<'_>, args: Args<'_>) -> PyResult<NotifierObject> {
    args.none("_AsyncNotifier")?;
    Pipe::new()
        .map(|pipe| NotifierObject(Arc::new(pipe)))
        .map_err(|error| raise(builtin(Builtin::RuntimeError), &format!("cannot create a pipe: {error}")))
}

fn fileno(this: This<'_, NotifierObject>) -> PyResult<Owned> {
    int_from_i64(i64::from(this.value.0.read.as_raw_fd()))
}

fn drain(this: This<'_, NotifierObject>) -> PyResult<Owned> {
    this.value.0.drain();
    Ok(none())
}

// ---- parked operations ---------------------------------------------------------------------------

pub(crate) static PENDING_OP: TypeDef<PendingOpObject> = TypeDef::new(
    c"subinterpreters._PendingOp",
    c"Internal: a channel or queue operation parked for an asyncio awaitable.",
    &[
        py_method!(c"ready", c"ready($self, /)\n--\n\n\
True once the operation completed (poll() then collects it without waiting).", noargs: ready),
        py_method!(c"poll", c"poll($self, /)\n--\n\n\
(True, value) once completed (value: the object received, or None for a send), else\n\
(False, None). Raises the closed error if the channel or queue closed.", noargs: poll),
        py_method!(c"give_up", c"give_up($self, /)\n--\n\n\
As poll(), but an operation still parked is withdrawn: (False, None).", noargs: give_up),
        py_method!(c"expire", c"expire($self, /)\n--\n\n\
Its timeout passed: the value if it completed meanwhile, else withdraw it and raise its timeout\n\
error (what the blocking form raises).", noargs: expire),
        py_method!(c"remaining", c"remaining($self, /)\n--\n\n\
Seconds until its timeout passes (0.0 once passed), or None without a timeout.", noargs: remaining),
        py_method!(c"cancel", c"cancel($self, /)\n--\n\n\
Withdraw the operation; an object a receive was already handed goes back to the front.",
            noargs: cancel),
    ],
    &[],
    &[],
);

/// `(True, value)` or `(False, None)`.
fn outcome(done: bool, value: Owned) -> PyResult<Owned> {
    tuple(vec![bool_from(done), value])
}

/// What a withdrawn operation gives: `(False, None)` (not done), or, once its timeout has passed,
/// its timeout error (so the awaitable raises what the blocking form raises).
#[derive(Clone, Copy, PartialEq)]
enum IfWithdrawn {
    NotDone,
    TimedOut,
}

/// Turns a finished receive into the awaitable's value, or its exception.
fn settle_recv(
    state: &State,
    result: Result<Payload, RecvError>,
    source: &dyn Source,
    withdrawn: IfWithdrawn,
) -> PyResult<Owned> {
    match result {
        Ok(payload) => outcome(true, deliver(state, source, payload)?),
        Err(RecvError::Closed) => Err(state.fail(source.closed_error())),
        Err(RecvError::Withdrawn) if withdrawn == IfWithdrawn::TimedOut => Err(state.fail(source.timed_out_error())),
        Err(RecvError::Withdrawn) => outcome(false, none()),
    }
}

/// Turns a finished send into the awaitable's value, or its exception.
fn settle_send(
    state: &State,
    result: Result<(), SendError<Payload>>,
    sink: &dyn Sink,
    withdrawn: IfWithdrawn,
) -> PyResult<Owned> {
    match result {
        Ok(()) => outcome(true, none()),
        Err(SendError::Closed(_)) => Err(state.fail(sink.closed_error())),
        Err(SendError::Withdrawn(_)) if withdrawn == IfWithdrawn::TimedOut => Err(state.fail(sink.timed_out_error())),
        Err(SendError::Withdrawn(_)) => outcome(false, none()),
    }
}

/// Withdraws a parked operation (unless it completed already) and settles it.
fn withdraw(state: &State, parked: Parked, withdrawn: IfWithdrawn) -> PyResult<Owned> {
    match parked {
        Parked::Recv(pending, source) => settle_recv(state, pending.cancel(), source.as_ref(), withdrawn),
        Parked::Send(pending, sink) => settle_send(state, pending.cancel(), sink.as_ref(), withdrawn),
    }
}

fn ready(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let Ok(slot) = this.value.parked.try_borrow() else { return Ok(bool_from(false)) };
    Ok(bool_from(match slot.as_ref() {
        None => true,
        Some(Parked::Recv(pending, _)) => pending.is_complete(),
        Some(Parked::Send(pending, _)) => pending.is_complete(),
    }))
}

/// A finished operation, taken out of its object.
enum Finished {
    Recv(Result<Payload, RecvError>, Box<dyn Source>),
    Send(Result<(), SendError<Payload>>, Box<dyn Sink>),
}

fn poll(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    // The borrow ends before the outcome is settled: building the object runs Python code
    // (unpickling), which could reach this object again.
    let finished = {
        let mut slot = this.value.parked.borrow_mut();
        let recv_result = match slot.as_mut() {
            None => return Err(settled_already()),
            Some(Parked::Recv(pending, _)) => pending.poll().map(Ok),
            Some(Parked::Send(pending, _)) => pending.poll().map(Err),
        };
        match (recv_result, slot.take()) {
            (None, parked) => {
                *slot = parked;
                None
            }
            (Some(Ok(result)), Some(Parked::Recv(_, source))) => Some(Finished::Recv(result, source)),
            (Some(Err(result)), Some(Parked::Send(_, sink))) => Some(Finished::Send(result, sink)),
            _ => unreachable!("the outcome matches the operation it came from"),
        }
    };
    match finished {
        None => outcome(false, none()),
        Some(Finished::Recv(result, source)) => settle_recv(state, result, source.as_ref(), IfWithdrawn::NotDone),
        Some(Finished::Send(result, sink)) => settle_send(state, result, sink.as_ref(), IfWithdrawn::NotDone),
    }
}

fn give_up(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let parked = busy_or_take(this)?.ok_or_else(settled_already)?;
    withdraw(state, parked, IfWithdrawn::NotDone)
}

fn expire(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let parked = busy_or_take(this)?.ok_or_else(settled_already)?;
    withdraw(state, parked, IfWithdrawn::TimedOut).map(|done| second_item(&done))
}

/// The value of a `(True, value)` outcome.
fn second_item(done: &Owned) -> Owned {
    done.as_ref().tuple_items().nth(1).expect("an outcome is a pair").to_owned()
}

/// Seconds until the timeout passes (not below zero), or None without a timeout.
fn remaining(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    match this.value.deadline {
        None => Ok(none()),
        Some(deadline) => float_from(deadline.saturating_duration_since(Instant::now()).as_secs_f64()),
    }
}

fn settled_already() -> Raised {
    raise(builtin(Builtin::RuntimeError), "this operation was settled already")
}

/// Takes the parked operation out, or raises if a call on it is in progress (re-entered).
fn busy_or_take(this: This<'_, PendingOpObject>) -> PyResult<Option<Parked>> {
    match this.value.parked.try_borrow_mut() {
        Ok(mut slot) => Ok(slot.take()),
        Err(_) => Err(raise(builtin(Builtin::RuntimeError), "this operation is busy (a call on it is in progress)")),
    }
}

fn cancel(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let parked = busy_or_take(this)?;
    match parked {
        Some(Parked::Recv(pending, _)) => pending.cancel_and_requeue(),
        Some(Parked::Send(pending, _)) => drop(pending.cancel()),
        None => {}
    }
    Ok(none())
}

// ---- the methods of the channel and queue types -------------------------------------------------

// The awaitables themselves are written in Python (`subinterpreters._aio`).
crate::python_half::forwarders!(RecvHandle: recv_async => HalfFunction::RecvAsync);
crate::python_half::forwarders!(SendHandle: send_async => HalfFunction::SendAsync);
crate::python_half::forwarders!(QueueObject: get_async => HalfFunction::GetAsync, put_async => HalfFunction::PutAsync);

static START_RECV_SIGNATURE: Signature<2> = Signature {
    function: "_start_recv",
    params: [
        Param { name: c"notifier", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};

static START_SEND_SIGNATURE: Signature<3> = Signature {
    function: "_start_send",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"notifier", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOnly, required: false },
    ],
    var_keyword: false,
};

fn notifier_of<'a>(state: &State, obj: Ref<'a>) -> PyResult<&'a NotifierObject> {
    state
        .async_notifier_type
        .downcast(obj)
        .ok_or_else(|| raise(builtin(Builtin::TypeError), "notifier must be a subinterpreters._AsyncNotifier"))
}

/// The outcome of an operation that could not complete at once: with timeout 0 it is withdrawn
/// at once (its timeout error unless it completed meanwhile), else a `_PendingOp` holding it.
fn park(state: &State, parked: Parked, timeout: Timeout) -> PyResult<Owned> {
    let deadline = match timeout {
        Timeout::TryOnce => return withdraw(state, parked, IfWithdrawn::TimedOut),
        Timeout::Never => None,
        Timeout::Until(deadline) => Some(deadline),
    };
    state.pending_op_type.instance(PendingOpObject { parked: RefCell::new(Some(parked)), deadline })
}

/// `_start_recv(notifier, timeout=None)` of a channel's receiving end or a queue (`recv_async`,
/// `get_async`): `(True, value)` at once, or a `_PendingOp` parked on it. The timeout is
/// parsed here, as the blocking forms parse it, before anything is tried.
pub(crate) fn start_take<S: Source>(this: This<'_, S>, args: Args<'_>) -> PyResult<Owned> {
    let [notifier, timeout] = args.parse(&START_RECV_SIGNATURE)?;
    let timeout = parse_timeout(timeout)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let source = this.value;
    match source.start_take(Some(notify)) {
        Ok(RecvStart::Ready(payload)) => settle_recv(state, Ok(payload), source, IfWithdrawn::NotDone),
        Ok(RecvStart::Pending(pending)) => park(state, Parked::Recv(pending, source.to_boxed()), timeout),
        Err(error) => settle_recv(state, Err(error), source, IfWithdrawn::NotDone),
    }
}

/// `_start_send(obj, notifier, timeout=None)` of a channel's sending end or a queue
/// (`send_async`, `put_async`): `(True, None)` at once, or a `_PendingOp` parked on it.
pub(crate) fn start_offer<S: Sink>(this: This<'_, S>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, notifier, timeout] = args.parse(&START_SEND_SIGNATURE)?;
    let timeout = parse_timeout(timeout)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let sink = this.value;
    let payload = payload_for(state, sink, obj.expect("required"))?;
    match sink.start_offer(payload, Some(notify)) {
        Ok(SendStart::Delivered) => outcome(true, none()),
        Ok(SendStart::Pending(pending)) => park(state, Parked::Send(pending, sink.to_boxed()), timeout),
        Err(error) => settle_send(state, Err(error), sink, IfWithdrawn::NotDone),
    }
}
