//! The Python channel types, `RecvChannel` and `SendChannel`, and the channel functions of the
//! module. Each end object owns one core handle; garbage-collecting the last one (in any
//! interpreter) closes that end.

use subinterpreters_core::{Payload, Receiver, Sender, TryRecvError};

use crate::async_ops;
use crate::convert::{deliver, is_shareable as payload_is_shareable, lend, payload_for};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, int_from_u64, list, none, py_getter, py_method, py_slot, tuple, Args, CompareOp, Owned, Param,
    ParamKind, PyResult, Ref, Signature, SlotImpl, This, TypeDef, EXIT_SIGNATURE,
};
use crate::globals::CHANNELS;
use crate::state::{state_of, state_of_module, State};
use crate::timeout::parse_timeout;
use crate::transfer;
use crate::values::{RecvHandle, SendHandle};

// ---- RecvChannel --------------------------------------------------------------------------------

pub(crate) static RECV_CHANNEL: TypeDef<RecvHandle> = TypeDef::new(
    c"subinterpreters.RecvChannel",
    c"The receiving end of a channel (see create_channel()).\n\n\
Shareable: pass it to run(**shared) or send it through a channel, and the receiver gets a\n\
handle on the same channel. Equal and hashable by (id, end). Iterating receives until the\n\
channel is closed. Closing the last handle, or garbage-collecting it, closes the end.",
    &[
        py_method!(c"recv", c"recv($self, /, timeout=None)\n--\n\n\
Receive the next object, waiting until one arrives.\n\n\
timeout is in seconds (float); None waits as long as it takes and 0 only takes what is ready.\n\
Raises TimeoutError when it expires, ChannelClosedError when the channel is closed (and drained).",
            fastcall: recv),
        py_method!(c"recv_nowait", c"recv_nowait($self, /, default=...)\n--\n\n\
Receive the next object if one is ready; otherwise return default, or raise\n\
ChannelEmptyError when no default is given. Raises ChannelClosedError when closed and drained.",
            fastcall: recv_nowait),
        py_method!(c"recv_async", c"recv_async($self, /, timeout=None)\n--\n\n\
Awaitable recv(): the event loop keeps running while it waits (no thread waits for it).\n\
Cancelling the awaiting task withdraws the receive: an object it was handed goes back to the\n\
front of the channel, so nothing is lost or received twice.", fastcall: async_ops::recv_async),
        py_method!(c"_start_recv", c"_start_recv($self, notifier, timeout=None, /)\n--\n\n\
Internal: start a receive for recv_async.", fastcall: async_ops::start_take::<RecvHandle>),
        py_method!(c"close", c"close($self, /)\n--\n\n\
Close the receiving end: queued objects are dropped, calls blocked on the channel are woken with\n\
ChannelClosedError, and later sends and receives raise it.", noargs: close_recv),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nReturn self.", noargs: enter_recv),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<RecvHandle>),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Close the end.", fastcall: exit_recv),
    ],
    &[
        py_getter!(c"id", c"The channel's id (the same for both ends).", recv_id),
        py_getter!(c"is_closed", c"True once nothing more can be received.", recv_is_closed),
        py_getter!(c"strict", c"False if the channel pickles objects that cannot cross natively.", recv_strict),
    ],
    &[
        py_slot!(repr: recv_repr),
        py_slot!(hash: recv_hash),
        py_slot!(richcompare: recv_compare),
        SlotImpl::iter_self(),
        py_slot!(iternext: recv_next),
    ],
);

static RECV_SIGNATURE: Signature<1> = Signature {
    function: "recv",
    params: [Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn recv(this: This<'_, RecvHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [timeout] = args.parse(&RECV_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let timeout = parse_timeout(timeout)?;
    let payload = transfer::take(state, this.value, timeout, Call::Recv)?;
    deliver(state, this.value, payload)
}

static RECV_NOWAIT_SIGNATURE: Signature<1> = Signature {
    function: "recv_nowait",
    params: [Param { name: c"default", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn recv_nowait(this: This<'_, RecvHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [default] = args.parse(&RECV_NOWAIT_SIGNATURE)?;
    let state = state_of(this.obj)?;
    match this.value.0.try_recv() {
        Ok(payload) => deliver(state, this.value, payload),
        Err(TryRecvError::Closed) => Err(state.fail(Error::ChannelClosed)),
        // The text signature shows the missing default as `...`: both mean "raise".
        Err(TryRecvError::Empty) => match default.filter(|default| !default.is_ellipsis()) {
            Some(default) => Ok(default.to_owned()),
            None => Err(state.fail(Error::ChannelEmpty)),
        },
    }
}

fn close_recv(this: This<'_, RecvHandle>) -> PyResult<Owned> {
    this.value.0.close();
    Ok(none())
}

fn enter_recv(this: This<'_, RecvHandle>) -> PyResult<Owned> {
    Ok(this.obj.to_owned())
}

fn exit_recv(this: This<'_, RecvHandle>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    close_recv(this)
}

fn recv_id(this: This<'_, RecvHandle>) -> PyResult<Owned> {
    int_from_u64(this.value.0.id())
}

fn recv_is_closed(this: This<'_, RecvHandle>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.is_closed()))
}

fn recv_strict(this: This<'_, RecvHandle>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.strict()))
}

fn recv_repr(this: This<'_, RecvHandle>) -> String {
    format!("RecvChannel(id={})", this.value.0.id())
}

fn recv_hash(this: This<'_, RecvHandle>) -> u64 {
    this.value.0.id().wrapping_mul(2)
}

fn recv_compare(this: This<'_, RecvHandle>, other: This<'_, RecvHandle>, op: CompareOp) -> bool {
    (this.value.0.id() == other.value.0.id()) == (op == CompareOp::Eq)
}

fn recv_next(this: This<'_, RecvHandle>) -> PyResult<Option<Owned>> {
    transfer::next_item(state_of(this.obj)?, this.value, Call::RecvIteration)
}

// ---- SendChannel --------------------------------------------------------------------------------

pub(crate) static SEND_CHANNEL: TypeDef<SendHandle> = TypeDef::new(
    c"subinterpreters.SendChannel",
    c"The sending end of a channel (see create_channel()).\n\n\
Shareable: pass it to run(**shared) or send it through a channel, and the receiver gets a\n\
handle on the same channel. Equal and hashable by (id, end). Closing the last handle, or\n\
garbage-collecting it, closes the end.",
    &[
        py_method!(c"send", c"send($self, obj, /, timeout=None)\n--\n\n\
Send obj and wait until a receiver has taken it (a rendezvous).\n\n\
obj must be shareable (see is_shareable()), else NotShareableError and nothing is sent.\n\
timeout is in seconds (float); None waits as long as it takes and 0 only succeeds if a receiver\n\
is already waiting. On TimeoutError obj is withdrawn: it is never delivered later. Raises\n\
ChannelClosedError if either end is closed (also if that happens while waiting).",
            fastcall: send),
        py_method!(c"send_nowait", c"send_nowait($self, obj, /)\n--\n\n\
Hand obj to a receiver already waiting and return True; otherwise queue it (first in, first\n\
out) and return False. Never blocks.", fastcall: send_nowait),
        py_method!(c"send_async", c"send_async($self, obj, /, timeout=None)\n--\n\n\
Awaitable send(): the event loop keeps running while it waits for a receiver. Cancelling the\n\
awaiting task withdraws obj unless a receiver has taken it already.", fastcall: async_ops::send_async),
        py_method!(c"_start_send", c"_start_send($self, obj, notifier, timeout=None, /)\n--\n\n\
Internal: start a send for send_async.", fastcall: async_ops::start_offer::<SendHandle>),
        py_method!(c"send_buffer", c"send_buffer($self, obj, /, timeout=None)\n--\n\n\
Lend obj's buffer (bytes, bytearray, array.array, memoryview, numpy array, ...) without copying\n\
it and wait, as send() does, until a receiver has taken it. The receiver gets a read-only\n\
memoryview with obj's format, shape and strides over obj's memory. obj stays held (e.g. a\n\
bytearray cannot be resized) until the receiver's view is released or the object is dropped\n\
unreceived; it is then released here, in this interpreter. TypeError for a non-buffer.\n\
While another interpreter views it, this interpreter cannot be closed (RuntimeError).",
            fastcall: send_buffer),
        py_method!(c"send_buffer_nowait", c"send_buffer_nowait($self, obj, /)\n--\n\n\
As send_buffer(), without waiting: hand the buffer to a receiver already waiting (True) or\n\
queue it (False).", fastcall: send_buffer_nowait),
        py_method!(c"close", c"close($self, /)\n--\n\n\
Close the sending end: later sends raise ChannelClosedError; receivers still get what was\n\
queued, then ChannelClosedError; calls blocked in send() are woken with ChannelClosedError.",
            noargs: close_send),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nReturn self.", noargs: enter_send),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<SendHandle>),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Close the end.", fastcall: exit_send),
    ],
    &[
        py_getter!(c"id", c"The channel's id (the same for both ends).", send_id),
        py_getter!(c"is_closed", c"True once nothing more can be sent (either end closed).", send_is_closed),
        py_getter!(c"strict", c"False if the channel pickles objects that cannot cross natively.", send_strict),
    ],
    &[py_slot!(repr: send_repr), py_slot!(hash: send_hash), py_slot!(richcompare: send_compare)],
);

static SEND_SIGNATURE: Signature<2> = Signature {
    function: "send",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn send(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, timeout] = args.parse(&SEND_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let timeout = parse_timeout(timeout)?;
    let payload = payload_for(state, this.value, obj.expect("required"))?;
    transfer::offer(state, this.value, payload, timeout, Call::Send)?;
    Ok(none())
}

static SEND_NOWAIT_SIGNATURE: Signature<1> = Signature {
    function: "send_nowait",
    params: [Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

fn send_nowait(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [obj] = args.parse(&SEND_NOWAIT_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let payload = payload_for(state, this.value, obj.expect("required"))?;
    send_payload_nowait(state, &this.value.0, payload)
}

fn send_payload_nowait(state: &State, sender: &Sender<Payload>, payload: Payload) -> PyResult<Owned> {
    match sender.send_nowait(payload) {
        Ok(handed) => Ok(bool_from(handed)),
        Err(_) => Err(state.fail(Error::ChannelClosed)),
    }
}

static SEND_BUFFER_SIGNATURE: Signature<2> = Signature {
    function: "send_buffer",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn send_buffer(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, timeout] = args.parse(&SEND_BUFFER_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let timeout = parse_timeout(timeout)?;
    let payload = lend(state, obj.expect("required"), false)?;
    transfer::offer(state, this.value, payload, timeout, Call::Send)?;
    Ok(none())
}

static SEND_BUFFER_NOWAIT_SIGNATURE: Signature<1> = Signature {
    function: "send_buffer_nowait",
    params: [Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

fn send_buffer_nowait(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [obj] = args.parse(&SEND_BUFFER_NOWAIT_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let payload = lend(state, obj.expect("required"), false)?;
    send_payload_nowait(state, &this.value.0, payload)
}

fn close_send(this: This<'_, SendHandle>) -> PyResult<Owned> {
    this.value.0.close();
    Ok(none())
}

fn enter_send(this: This<'_, SendHandle>) -> PyResult<Owned> {
    Ok(this.obj.to_owned())
}

fn exit_send(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    close_send(this)
}

fn send_id(this: This<'_, SendHandle>) -> PyResult<Owned> {
    int_from_u64(this.value.0.id())
}

fn send_is_closed(this: This<'_, SendHandle>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.is_closed()))
}

fn send_strict(this: This<'_, SendHandle>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.strict()))
}

fn send_repr(this: This<'_, SendHandle>) -> String {
    format!("SendChannel(id={})", this.value.0.id())
}

fn send_hash(this: This<'_, SendHandle>) -> u64 {
    this.value.0.id().wrapping_mul(2).wrapping_add(1)
}

fn send_compare(this: This<'_, SendHandle>, other: This<'_, SendHandle>, op: CompareOp) -> bool {
    (this.value.0.id() == other.value.0.id()) == (op == CompareOp::Eq)
}

// ---- module functions ---------------------------------------------------------------------------

static CREATE_CHANNEL_SIGNATURE: Signature<1> = Signature {
    function: "create_channel",
    params: [Param { name: c"strict", kind: ParamKind::KeywordOnly, required: false }],
    var_keyword: false,
};

pub(crate) fn create_channel(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [strict] = args.parse(&CREATE_CHANNEL_SIGNATURE)?;
    let state = state_of_module(module)?;
    let strict = match strict {
        Some(flag) => flag.is_truthy()?,
        None => true,
    };
    let (sender, receiver) = CHANNELS.create_with(strict);
    pair(state, sender, receiver)
}

pub(crate) fn list_all_channels(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("list_all_channels")?;
    let state = state_of_module(module)?;
    let pairs = CHANNELS
        .list()
        .into_iter()
        .map(|(sender, receiver)| pair(state, sender, receiver))
        .collect::<PyResult<Vec<_>>>()?;
    list(pairs)
}

fn pair(state: &State, sender: Sender<Payload>, receiver: Receiver<Payload>) -> PyResult<Owned> {
    let recv = state.recv_type.instance(RecvHandle(receiver))?;
    let send = state.send_type.instance(SendHandle(sender))?;
    tuple(vec![recv, send])
}

static IS_SHAREABLE_SIGNATURE: Signature<1> = Signature {
    function: "is_shareable",
    params: [Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

pub(crate) fn is_shareable(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [obj] = args.parse(&IS_SHAREABLE_SIGNATURE)?;
    let state = state_of_module(module)?;
    Ok(bool_from(payload_is_shareable(state, obj.expect("required"))?))
}
