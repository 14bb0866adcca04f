//! The native half of the asyncio awaitables (`recv_async`, `send_async`, `get_async`,
//! `put_async`). An operation that cannot complete at once is parked on its channel or queue with
//! a waiter that, on completion, writes a byte to a non-blocking pipe; the event loop watches the
//! pipe's read end (`loop.add_reader`) and then polls its parked operations. No thread waits on
//! behalf of a coroutine, and nothing polls on a timer. Withdrawing follows the blocking forms:
//! a cancelled receive puts back an item it was handed, so nothing is lost or received twice.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use subinterpreters_core::{
    Notify, Payload, PendingRecv, PendingSend, QueueHandle, Receiver, RecvError, RecvStart, SendError, SendStart,
};

use crate::channel::{payload_for as channel_payload_for, RecvHandle, SendHandle};
use crate::convert::from_payload;
use crate::errors::Error;
use crate::ffi::{
    bool_from, builtin, int_from_i64, none, py_method, py_slot, raise, tuple, Args, Builtin, Owned, Param, ParamKind,
    PyResult, Ref, Signature, This, TypeDef,
};
use crate::module::{state_of, State};
use crate::python_half::HalfFunction;
use crate::queue::{payload_for as queue_payload_for, QueueObject};

// ---- the pipe ------------------------------------------------------------------------------------

/// Both ends of a non-blocking pipe, closed when the notifier and every parked operation that
/// may still signal it are gone.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    fn new() -> std::io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into `fds` on success.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened for us and are owned by nobody else.
        let pipe = unsafe { Pipe { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) } };
        for fd in [pipe.read.as_raw_fd(), pipe.write.as_raw_fd()] {
            // SAFETY: fcntl on descriptors we own, setting flags only (pipe2 is Linux-only).
            let ok = unsafe {
                libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) == 0
                    && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(pipe)
    }

    /// Makes the read end readable. A full pipe is readable already, so a failed write is fine.
    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live buffer to a descriptor we own; never blocks.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), (&byte as *const u8).cast(), 1) };
    }

    /// Empties the pipe.
    fn drain(&self) {
        let mut buffer = [0u8; 256];
        // SAFETY: reads into a live buffer of that size from a non-blocking descriptor we own.
        while unsafe { libc::read(self.read.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) } > 0 {}
    }
}

/// What an `_AsyncNotifier` object carries.
pub(crate) struct NotifierObject(Arc<Pipe>);

impl NotifierObject {
    fn notify(&self) -> Notify {
        let pipe = self.0.clone();
        Arc::new(move || pipe.signal())
    }
}

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

/// Where a received item goes back if it cannot be delivered.
enum Source {
    Channel(Receiver<Payload>),
    Queue(QueueHandle<Payload>),
}

impl Source {
    fn put_back(&self, payload: Payload) {
        match self {
            Source::Channel(receiver) => receiver.put_back(payload),
            Source::Queue(queue) => queue.put_back(payload),
        }
    }

    fn closed(&self) -> Error {
        match self {
            Source::Channel(_) => Error::ChannelClosed,
            Source::Queue(_) => Error::QueueClosed,
        }
    }
}

/// Which kind of thing a send is parked on (for its closed error).
#[derive(Clone, Copy)]
enum Target {
    Channel,
    Queue,
}

impl Target {
    fn closed(self) -> Error {
        match self {
            Target::Channel => Error::ChannelClosed,
            Target::Queue => Error::QueueClosed,
        }
    }
}

enum Parked {
    Recv(PendingRecv<Payload>, Source),
    Send(PendingSend<Payload>, Target),
}

/// What a `_PendingOp` object carries: the parked operation, until it is settled.
pub(crate) struct PendingOpObject(RefCell<Option<Parked>>);

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

/// Turns a finished receive or send into the awaitable's value, or its exception.
fn settle_recv(state: &State, result: Result<Payload, RecvError>, source: &Source) -> PyResult<Owned> {
    match result {
        Ok(payload) => match from_payload(state, &payload) {
            Ok(obj) => outcome(true, obj),
            Err(raised) => {
                source.put_back(payload);
                Err(raised)
            }
        },
        Err(RecvError::Closed) => Err(state.fail(source.closed())),
        Err(RecvError::Withdrawn) => outcome(false, none()),
    }
}

fn settle_send(state: &State, result: Result<(), SendError<Payload>>, target: Target) -> PyResult<Owned> {
    match result {
        Ok(()) => outcome(true, none()),
        Err(SendError::Closed(_)) => Err(state.fail(target.closed())),
        Err(SendError::Withdrawn(_)) => outcome(false, none()),
    }
}

fn ready(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let Ok(slot) = this.value.0.try_borrow() else { return Ok(bool_from(false)) };
    Ok(bool_from(match slot.as_ref() {
        None => true,
        Some(Parked::Recv(pending, _)) => pending.is_complete(),
        Some(Parked::Send(pending, _)) => pending.is_complete(),
    }))
}

/// A finished operation, taken out of its object.
enum Finished {
    Recv(Result<Payload, RecvError>, Source),
    Send(Result<(), SendError<Payload>>, Target),
}

fn poll(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    // The borrow ends before the outcome is settled: building the object runs Python code
    // (unpickling), which could reach this object again.
    let finished = {
        let mut slot = this.value.0.borrow_mut();
        let recv_result = match slot.as_mut() {
            None => return Err(raise(builtin(Builtin::RuntimeError), "this operation was settled already")),
            Some(Parked::Recv(pending, _)) => pending.poll().map(Ok),
            Some(Parked::Send(pending, _)) => pending.poll().map(Err),
        };
        match (recv_result, slot.take()) {
            (None, parked) => {
                *slot = parked;
                None
            }
            (Some(Ok(result)), Some(Parked::Recv(_, source))) => Some(Finished::Recv(result, source)),
            (Some(Err(result)), Some(Parked::Send(_, target))) => Some(Finished::Send(result, target)),
            _ => unreachable!("the outcome matches the operation it came from"),
        }
    };
    match finished {
        None => outcome(false, none()),
        Some(Finished::Recv(result, source)) => settle_recv(state, result, &source),
        Some(Finished::Send(result, target)) => settle_send(state, result, target),
    }
}

fn give_up(this: This<'_, PendingOpObject>) -> PyResult<Owned> {
    let state = state_of(this.obj)?;
    let parked = busy_or_take(this)?;
    match parked {
        None => Err(raise(builtin(Builtin::RuntimeError), "this operation was settled already")),
        Some(Parked::Recv(pending, source)) => settle_recv(state, pending.cancel(), &source),
        Some(Parked::Send(pending, target)) => settle_send(state, pending.cancel(), target),
    }
}

/// Takes the parked operation out, or raises if a call on it is in progress (re-entered).
fn busy_or_take(this: This<'_, PendingOpObject>) -> PyResult<Option<Parked>> {
    match this.value.0.try_borrow_mut() {
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

impl Drop for PendingOpObject {
    fn drop(&mut self) {
        // Garbage-collected unsettled: withdraw, and put back what a receive was handed.
        if let Some(Parked::Recv(pending, _)) = self.0.get_mut().take() {
            pending.cancel_and_requeue();
        }
    }
}

// ---- the methods of the channel and queue types -------------------------------------------------

// The awaitables themselves are written in Python (`subinterpreters._aio`).
crate::python_half::forwarders!(RecvHandle: recv_async => HalfFunction::RecvAsync);
crate::python_half::forwarders!(SendHandle: send_async => HalfFunction::SendAsync);
crate::python_half::forwarders!(QueueObject: get_async => HalfFunction::GetAsync, put_async => HalfFunction::PutAsync);

static START_RECV_SIGNATURE: Signature<1> = Signature {
    function: "_start_recv",
    params: [Param { name: c"notifier", kind: ParamKind::PositionalOnly, required: true }],
    var_keyword: false,
};

static START_SEND_SIGNATURE: Signature<2> = Signature {
    function: "_start_send",
    params: [
        Param { name: c"obj", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"notifier", kind: ParamKind::PositionalOnly, required: true },
    ],
    var_keyword: false,
};

fn notifier_of<'a>(state: &State, obj: Ref<'a>) -> PyResult<&'a NotifierObject> {
    state
        .async_notifier_type
        .downcast(obj)
        .ok_or_else(|| raise(builtin(Builtin::TypeError), "notifier must be a subinterpreters._AsyncNotifier"))
}

fn start_receiving(state: &State, started: Result<RecvStart<Payload>, RecvError>, source: Source) -> PyResult<Owned> {
    match started {
        Ok(RecvStart::Ready(payload)) => settle_recv(state, Ok(payload), &source),
        Ok(RecvStart::Pending(pending)) => {
            state.pending_op_type.instance(PendingOpObject(RefCell::new(Some(Parked::Recv(pending, source)))))
        }
        Err(error) => settle_recv(state, Err(error), &source),
    }
}

fn start_sending(
    state: &State,
    started: Result<SendStart<Payload>, SendError<Payload>>,
    target: Target,
) -> PyResult<Owned> {
    match started {
        Ok(SendStart::Delivered) => outcome(true, none()),
        Ok(SendStart::Pending(pending)) => {
            state.pending_op_type.instance(PendingOpObject(RefCell::new(Some(Parked::Send(pending, target)))))
        }
        Err(error) => settle_send(state, Err(error), target),
    }
}

pub(crate) fn recv_start(this: This<'_, RecvHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [notifier] = args.parse(&START_RECV_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let receiver = &this.value.0;
    start_receiving(state, receiver.start_recv_notified(notify), Source::Channel(receiver.clone()))
}

pub(crate) fn send_start(this: This<'_, SendHandle>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, notifier] = args.parse(&START_SEND_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let sender = &this.value.0;
    let payload = channel_payload_for(state, sender, obj.expect("required"))?;
    start_sending(state, sender.start_send_notified(payload, notify), Target::Channel)
}

pub(crate) fn get_start(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [notifier] = args.parse(&START_RECV_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let queue = &this.value.handle;
    start_receiving(state, queue.start_get_notified(notify), Source::Queue(queue.clone()))
}

pub(crate) fn put_start(this: This<'_, QueueObject>, args: Args<'_>) -> PyResult<Owned> {
    let [obj, notifier] = args.parse(&START_SEND_SIGNATURE)?;
    let state = state_of(this.obj)?;
    let notify = notifier_of(state, notifier.expect("required"))?.notify();
    let queue = &this.value.handle;
    let payload = queue_payload_for(state, queue, obj.expect("required"))?;
    start_sending(state, queue.start_put_notified(payload, notify), Target::Queue)
}
