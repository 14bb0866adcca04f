//! The blocking receive, send and iteration of channels and queues, written once over
//! [`Source`] and [`Sink`]: try once, or park and wait with the GIL released. Every failure
//! becomes the endpoint's own error: its closed error, or its timeout error (`TimeoutError` for
//! a channel, `queue.Empty`/`queue.Full` for a queue).

use subinterpreters_core::{Payload, RecvError, RecvStart, SendError, SendStart, TryRecvError};

use crate::blocking::block_on;
use crate::convert::deliver;
use crate::exit_watch::Call;
use crate::ffi::{Owned, PyResult};
use crate::state::State;
use crate::timeout::Timeout;
use crate::values::{Sink, Source};

/// Takes one payload from `source`, waiting as `timeout` says; `call` names a blocked wait.
pub(crate) fn take(state: &State, source: &dyn Source, timeout: Timeout, call: Call) -> PyResult<Payload> {
    if timeout == Timeout::TryOnce {
        return source.try_take().map_err(|error| {
            state.fail(match error {
                TryRecvError::Empty => source.timed_out_error(),
                TryRecvError::Closed => source.closed_error(),
            })
        });
    }
    let pending = match source.start_take(None) {
        Ok(RecvStart::Ready(payload)) => return Ok(payload),
        Ok(RecvStart::Pending(pending)) => pending,
        Err(_) => return Err(state.fail(source.closed_error())),
    };
    block_on(pending, timeout.deadline(), call)?.map_err(|error| {
        state.fail(match error {
            RecvError::Closed => source.closed_error(),
            RecvError::Withdrawn => source.timed_out_error(),
        })
    })
}

/// Hands `payload` to `sink`, waiting as `timeout` says; `call` names a blocked wait.
pub(crate) fn offer(state: &State, sink: &dyn Sink, payload: Payload, timeout: Timeout, call: Call) -> PyResult<()> {
    let result = if timeout == Timeout::TryOnce {
        sink.try_offer(payload)
    } else {
        match sink.start_offer(payload, None) {
            Ok(SendStart::Delivered) => Ok(()),
            Ok(SendStart::Pending(pending)) => block_on(pending, timeout.deadline(), call)?,
            Err(error) => Err(error),
        }
    };
    result.map_err(|error| {
        state.fail(match error {
            SendError::Closed(_) => sink.closed_error(),
            SendError::Withdrawn(_) => sink.timed_out_error(),
        })
    })
}

/// `__next__` of a channel's receiving end or a queue: the next object, waiting as long as it
/// takes; `None` (the end of the iteration) once it is closed and drained.
pub(crate) fn next_item(state: &State, source: &dyn Source, call: Call) -> PyResult<Option<Owned>> {
    let pending = match source.start_take(None) {
        Ok(RecvStart::Ready(payload)) => return deliver(state, source, payload).map(Some),
        Ok(RecvStart::Pending(pending)) => pending,
        Err(_) => return Ok(None),
    };
    match block_on(pending, None, call)? {
        Ok(payload) => deliver(state, source, payload).map(Some),
        Err(_) => Ok(None),
    }
}
