//! The Python `Queue` type and the queue functions of the module. The names and meanings follow
//! `queue.Queue` (and CPython 3.14's `concurrent.interpreters.Queue`), so code can switch by
//! changing an import; blocking waits are direct wake-ups, never a sleep loop.

use std::collections::VecDeque;

use subinterpreters_core::{SendError, SendStart, TryRecvError};

use crate::async_ops;
use crate::blocking::block_on;
use crate::convert::{deliver, from_payload, payload_for};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, builtin, clear_error, int_from_u64, list, none, py_getter, py_method, py_slot, raise, Args, Builtin,
    CompareOp, Owned, Param, ParamKind, PyResult, Ref, Signature, SlotImpl, This, TypeDef,
};
use crate::globals::QUEUES;
use crate::state::{state_of, state_of_module, State};
use crate::timeout::{parse_timeout, Timeout};
use crate::transfer;
use crate::values::{QueueObject, Unbound};

pub(crate) static QUEUE: TypeDef<QueueObject> = TypeDef::new(
    c"subinterpreters.Queue",
    c"Queue(id, /)\n--\n\n\
A FIFO queue shared by any number of producers and consumers in any interpreters (see\n\
create_queue(); Queue(id) is the object of the live queue with that id, QueueNotFoundError if\n\
there is none). The API of queue.Queue: put/get with block and timeout, put_nowait/get_nowait,\n\
qsize/empty/full, maxsize; plus put_many/get_many for throughput and close(). Iterating gets\n\
until the queue is closed and drained. Shareable and picklable (within this process); one\n\
object per queue in each interpreter; equal and hashable by id. The queue is freed when no\n\
handle on it remains in any interpreter.",
    &[
        py_method!(c"put", c"put($self, obj, /, block=True, timeout=None, *, unbounditems=None)\n--\n\n\
Put obj into the queue. If the queue is full, wait for room (block=True; up to timeout\n\
seconds if given) or raise QueueFull at once (block=False). On QueueFull obj was not queued.\n\
Raises QueueClosedError if the queue is closed, NotShareableError if obj cannot cross.\n\
unbounditems is accepted for compatibility (see create_queue()) and changes nothing.", fastcall: put),
        py_method!(c"put_nowait", c"put_nowait($self, obj, /, *, unbounditems=None)\n--\n\n\
put(obj, block=False): raise QueueFull if the queue is full.", fastcall: put_nowait),
        py_method!(c"put_many", c"put_many($self, items, /, block=True, timeout=None)\n--\n\n\
Put every object of the iterable items, in order, and return how many were put. Every object\n\
is checked first (NotShareableError and nothing put). As many as fit go in at once; when the\n\
queue is full it waits for room like put (block=True, up to timeout) or stops (block=False).",
            fastcall: put_many),
        py_method!(c"get", c"get($self, /, block=True, timeout=None)\n--\n\n\
Remove and return the oldest object. If the queue is empty, wait for one (block=True; up to\n\
timeout seconds if given) or raise QueueEmpty at once (block=False). Raises QueueClosedError\n\
once the queue is closed and drained.", fastcall: get),
        py_method!(c"get_nowait", c"get_nowait($self, /)\n--\n\n\
get(block=False): raise QueueEmpty if the queue is empty.", noargs: get_nowait),
        py_method!(c"get_async", c"get_async($self, /, timeout=None)\n--\n\n\
Awaitable get(): the event loop keeps running while it waits (QueueEmpty on timeout).\n\
Cancelling the awaiting task withdraws the get: an object it was handed goes back to the front.",
            fastcall: async_ops::get_async),
        py_method!(c"put_async", c"put_async($self, obj, /, timeout=None)\n--\n\n\
Awaitable put(): waits for room without blocking the event loop (QueueFull on timeout).\n\
Cancelling the awaiting task withdraws obj unless it entered the queue already.",
            fastcall: async_ops::put_async),
        py_method!(c"_start_get", c"_start_get($self, notifier, timeout=None, /)\n--\n\n\
Internal: start a get for get_async.", fastcall: async_ops::start_take::<QueueObject>),
        py_method!(c"_start_put", c"_start_put($self, obj, notifier, timeout=None, /)\n--\n\n\
Internal: start a put for put_async.", fastcall: async_ops::start_offer::<QueueObject>),
        py_method!(c"get_many", c"get_many($self, max_items, /, timeout=None)\n--\n\n\
Wait for at least one object (up to timeout seconds; QueueEmpty after), then return a list of\n\
up to max_items objects: all that are ready, oldest first. If one of them cannot be rebuilt here\n\
(it fails to unpickle), the objects before it are returned and it stays at the front of the\n\
queue with those after it; the next get raises its error.", fastcall: get_many),
        py_method!(c"qsize", c"qsize($self, /)\n--\n\nReturn the number of objects in the queue.",
            noargs: qsize),
        py_method!(c"empty", c"empty($self, /)\n--\n\nReturn True if the queue holds nothing.",
            noargs: empty),
        py_method!(c"full", c"full($self, /)\n--\n\n\
Return True if the queue holds maxsize objects (never for an unbounded queue).", noargs: full),
        py_method!(c"close", c"close($self, /)\n--\n\n\
Close the queue: later puts raise QueueClosedError, gets drain what is queued and then raise\n\
QueueClosedError; calls blocked on the queue are woken at once.", noargs: close),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\n\
Pickle support: a Queue unpickles as Queue(id), in this process.", noargs: reduce),
    ],
    &[
        py_getter!(c"id", c"The queue's id.", id),
        py_getter!(c"maxsize", c"Most objects the queue holds (0: unbounded).", maxsize),
        py_getter!(c"strict", c"True if objects that cannot cross natively are refused rather than pickled.", strict),
        py_getter!(c"is_closed", c"True once the queue was closed.", is_closed),
        py_getter!(c"unbounditems", c"The unbounditems given to create_queue() (UNBOUND by default).", unbounditems),
    ],
    &[
        py_slot!(new_object: new),
        py_slot!(repr: repr),
        py_slot!(hash: hash),
        py_slot!(richcompare: compare),
        SlotImpl::iter_self(),
        py_slot!(iternext: next),
    ],
);

/// `block` and `timeout` as queue.Queue reads them: not blocking means "try once".
fn wait_mode(block: Option<Ref<'_>>, timeout: Option<Ref<'_>>) -> PyResult<Timeout> {
    let timeout = parse_timeout(timeout)?;
    let block = match block {
        Some(block) => block.is_truthy()?,
        None => true,
    };
    Ok(if block { timeout } else { Timeout::TryOnce })
}

static PUT_SIGNATURE: Signature<4> = Signature {
    function: "put",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"block", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"unbounditems", kind: ParamKind::KeywordOnly, required: false },
    ],
    var_keyword: false,
};

/// Checks a put's `unbounditems` (None: the queue's default); see [`crate::unbound`].
fn check_unbounditems(state: &State, unbounditems: Option<Ref<'_>>) -> PyResult<()> {
    match unbounditems {
        Some(marker) if !marker.is_none() => crate::unbound::parse(state, marker).map(drop),
        _ => Ok(()),
    }
}

fn put(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, block, timeout, unbounditems] = args.parse(&PUT_SIGNATURE)?;
    let state = state_of(this.obj)?;
    check_unbounditems(state, unbounditems)?;
    let mode = wait_mode(block, timeout)?;
    let payload = payload_for(state, this.value, obj.expect("required"))?;
    transfer::offer(state, this.value, payload, mode, Call::Put)?;
    Ok(none())
}

static PUT_NOWAIT_SIGNATURE: Signature<2> = Signature {
    function: "put_nowait",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"unbounditems", kind: ParamKind::KeywordOnly, required: false },
    ],
    var_keyword: false,
};

fn put_nowait(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, unbounditems] = args.parse(&PUT_NOWAIT_SIGNATURE)?;
    let state = state_of(this.obj)?;
    check_unbounditems(state, unbounditems)?;
    let payload = payload_for(state, this.value, obj.expect("required"))?;
    transfer::offer(state, this.value, payload, Timeout::TryOnce, Call::Put)?;
    Ok(none())
}

static PUT_MANY_SIGNATURE: Signature<3> = Signature {
    function: "put_many",
    params: [
        Param { name: c"items", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"block", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn put_many(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [items, block, timeout] = args.parse(&PUT_MANY_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let mode = wait_mode(block, timeout)?;
    let queue = &this.value.handle;
    // Convert everything first: a bad object means nothing is put.
    let iterator = items.expect("required").iterate()?;
    let mut payloads = VecDeque::new();
    while let Some(item) = iterator.as_ref().next_item()? {
        payloads.push_back(payload_for(state, this.value, item.as_ref())?);
    }
    let mut count = 0usize;
    loop {
        match queue.put_many_nowait(&mut payloads) {
            Ok(put) => count += put,
            Err(_) if count == 0 => return Err(state.fail(Error::QueueClosed)),
            Err(_) => break,
        }
        let Some(next) = payloads.pop_front() else { break };
        if mode == Timeout::TryOnce {
            break;
        }
        // Full: wait for room for the next one, like put.
        let outcome = match queue.start_put(next) {
            Ok(SendStart::Delivered) => Ok(()),
            Ok(SendStart::Pending(pending)) => block_on(pending, mode.deadline(), Call::PutMany)?,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => count += 1,
            Err(SendError::Closed(_)) if count == 0 => return Err(state.fail(Error::QueueClosed)),
            Err(_) => break,
        }
    }
    int_from_u64(count as u64)
}

static GET_SIGNATURE: Signature<2> = Signature {
    function: "get",
    params: [
        Param { name: c"block", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn get(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [block, timeout] = args.parse(&GET_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let mode = wait_mode(block, timeout)?;
    let payload = transfer::take(state, this.value, mode, Call::Get)?;
    deliver(state, this.value, payload)
}

fn get_nowait(this: This<'_, QueueObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let payload = transfer::take(state, this.value, Timeout::TryOnce, Call::Get)?;
    deliver(state, this.value, payload)
}

static GET_MANY_SIGNATURE: Signature<2> = Signature {
    function: "get_many",
    params: [
        Param { name: c"max_items", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn get_many(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [max_items, timeout] = args.parse(&GET_MANY_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let max_items = positive_count(max_items.expect("required"))?;
    let mode = parse_timeout(timeout)?;
    let queue = &this.value.handle;
    let payloads = match queue.get_many_nowait(max_items) {
        Ok(payloads) => payloads,
        Err(TryRecvError::Closed) => return Err(state.fail(Error::QueueClosed)),
        Err(TryRecvError::Empty) => {
            let first = transfer::take(state, this.value, mode, Call::Get)?;
            let mut payloads = vec![first];
            if let Ok(more) = queue.get_many_nowait(max_items - 1) {
                payloads.extend(more);
            }
            payloads
        }
    };
    let mut objects = Vec::with_capacity(payloads.len());
    let mut payloads = payloads.into_iter();
    while let Some(payload) = payloads.next() {
        match from_payload(state, &payload) {
            Ok(obj) => objects.push(obj),
            Err(raised) => {
                // This item and the rest go back, in order, in front of the queue. The objects
                // already built are returned; the error comes with the next get of this item.
                queue.put_back_many(std::iter::once(payload).chain(payloads).collect());
                if objects.is_empty() {
                    return Err(raised);
                }
                clear_error();
                break;
            }
        }
    }
    list(objects)
}

/// A `max_items` argument: an int >= 1.
fn positive_count(value: Ref<'_>) -> PyResult<usize> {
    crate::counts::count_arg(value, "max_items", 1, "must be >= 1")
}

fn qsize(this: This<'_, QueueObject>) -> PyResult<Owned> {
    int_from_u64(this.value.handle.qsize() as u64)
}

fn empty(this: This<'_, QueueObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.handle.is_empty()))
}

fn full(this: This<'_, QueueObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.handle.is_full()))
}

fn close(this: This<'_, QueueObject>) -> PyResult<Owned> {
    this.value.handle.close();
    Ok(none())
}

fn id(this: This<'_, QueueObject>) -> PyResult<Owned> {
    int_from_u64(this.value.handle.id())
}

fn maxsize(this: This<'_, QueueObject>) -> PyResult<Owned> {
    int_from_u64(this.value.handle.maxsize() as u64)
}

fn strict(this: This<'_, QueueObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.handle.is_strict()))
}

fn is_closed(this: This<'_, QueueObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.handle.is_closed()))
}

fn repr(this: This<'_, QueueObject>) -> String {
    format!("Queue({})", this.value.handle.id())
}

fn unbounditems(this: This<'_, QueueObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let unbound = Unbound::from_flag(this.value.handle.unbound_default());
    Ok(state.unbound_marker(unbound).to_owned())
}

fn reduce(this: This<'_, QueueObject>) -> PyResult<Owned> {
    let args = crate::ffi::tuple(vec![int_from_u64(this.value.handle.id())?])?;
    crate::ffi::tuple(vec![this.obj.type_of().to_owned(), args])
}

static NEW_SIGNATURE: Signature<1> = Signature {
    function: "Queue",
    params: [Param { name: c"id", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

/// `Queue(id)`: the object of a live queue (the existing one if this interpreter has it).
fn new(ty: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [id] = args.parse(&NEW_SIGNATURE)?;
    let id = id.expect("required");
    let state = crate::state::state_of_type(ty)?;
    let found = match crate::convert::object_id(id)?.and_then(|id| u64::try_from(id).ok()) {
        Some(id) => match state.existing_queue_object(id)? {
            Some(queue) => return Ok(queue),
            None => QUEUES.get(id),
        },
        None => None,
    };
    match found {
        Some(handle) => state.queue_object(handle),
        None => Err(state.fail(Error::QueueNotFound(id.repr_lossy()))),
    }
}

fn hash(this: This<'_, QueueObject>) -> u64 {
    this.value.handle.id()
}

fn compare(this: This<'_, QueueObject>, other: This<'_, QueueObject>, op: CompareOp) -> bool {
    (this.value.handle.id() == other.value.handle.id()) == (op == CompareOp::Eq)
}

fn next(this: This<'_, QueueObject>) -> PyResult<Option<Owned>> {
    transfer::next_item(state_of(this.obj)?, this.value, Call::GetIteration)
}

// ---- module functions ---------------------------------------------------------------------------

static CREATE_QUEUE_SIGNATURE: Signature<3> = Signature {
    function: "create_queue",
    params: [
        Param { name: c"maxsize", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"unbounditems", kind: ParamKind::KeywordOnly, required: false },
        Param { name: c"strict", kind: ParamKind::KeywordOnly, required: false },
    ],
    var_keyword: false,
};

pub(crate) fn create_queue(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    let [maxsize, unbounditems, strict] = args.parse(&CREATE_QUEUE_SIGNATURE)?;
    let state = state_of_module(module)?;
    let unbound = match unbounditems {
        Some(marker) if !marker.is_none() => crate::unbound::parse(state, marker)?,
        _ => Unbound::Replace,
    };
    let maxsize = match maxsize {
        None => 0,
        Some(value) if value.kind() == crate::ffi::ObjKind::Int => match value.int_as_i64()? {
            Some(size) => size.max(0) as usize,
            // Beyond 64 bits: hugely negative means unbounded, hugely positive as good as.
            None if value.int_to_hex()?.starts_with('-') => 0,
            None => usize::MAX,
        },
        Some(value) => {
            return Err(raise(
                builtin(Builtin::TypeError),
                &format!("maxsize must be an int, not {}", value.type_qualname()),
            ))
        }
    };
    let strict = match strict {
        Some(value) => value.is_truthy()?,
        None => false,
    };
    state.queue_object(QUEUES.create_with(maxsize, strict, unbound as u8))
}

pub(crate) fn list_all_queues(module: Ref<'_>, args: Args<'_>) -> PyResult<Owned> {
    args.none("list_all_queues")?;
    let state = state_of_module(module)?;
    let queues = QUEUES.list().into_iter().map(|handle| state.queue_object(handle)).collect::<PyResult<Vec<_>>>()?;
    list(queues)
}
