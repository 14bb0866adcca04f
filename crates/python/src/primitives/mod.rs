//! Locks, semaphores, events, conditions and barriers shared across interpreters, with the API of
//! their `threading` counterparts. The state lives in the core (`primitives`); each Python object
//! holds an `Arc` to it, so the same primitive can be passed to any interpreter.

mod barrier;
mod condition;
mod event;
mod locks;

use std::time::{Duration, Instant};

use subinterpreters_core::primitives::PendingGrant;

pub(crate) use barrier::BARRIER;
pub(crate) use condition::CONDITION;
pub(crate) use event::EVENT;
pub(crate) use locks::{BOUNDED_SEMAPHORE, LOCK, RLOCK, SEMAPHORE};

use crate::blocking::{block_on, Parked};
use crate::exit_watch::Call;
use crate::ffi::{
    allow_threads, builtin, current_interpreter_id, raise, thread_ident, Builtin, Param, ParamKind, PyResult, Ref,
    Signature,
};
use crate::timeout::Timeout;

impl Parked for PendingGrant {
    /// `Some(granted)` once decided, `None` if the wait was withdrawn (timed out).
    type Output = Option<bool>;
    fn wait_until(&mut self, deadline: Option<Instant>) -> Option<Self::Output> {
        PendingGrant::wait_until(self, deadline).map(Some)
    }
    fn cancel(self) -> Self::Output {
        PendingGrant::cancel(self)
    }
    fn abandon(self) {
        PendingGrant::abandon(self);
    }
}

/// Waits for a grant with the GIL released (interruptible by Ctrl-C in the main thread):
/// `Some(granted)`, or `None` if `timeout` expired first. `call` names the wait.
fn wait_for_grant(pending: PendingGrant, timeout: Timeout, call: Call) -> PyResult<Option<bool>> {
    match timeout {
        Timeout::TryOnce => Ok(pending.cancel()),
        _ => block_on(pending, timeout.deadline(), call),
    }
}

/// Waits for a grant that must come (taking a lock back after a condition wait): not
/// interruptible, as the caller must hold the lock again before anything else happens.
fn wait_for_grant_uninterruptibly(mut pending: PendingGrant) {
    allow_threads(move || while pending.wait_until(None).is_none() {});
}

/// The owner of an `RLock`: this interpreter and thread.
fn current_owner() -> (i64, u64) {
    (current_interpreter_id(), thread_ident())
}

/// `acquire(blocking=True, timeout=...)` of every lock and semaphore.
static ACQUIRE_SIGNATURE: Signature<2> = Signature {
    function: "acquire",
    params: [
        Param { name: c"blocking", kind: ParamKind::PositionalOrKeyword, required: false },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

/// `Lock.acquire(blocking=True, timeout=-1)` as `threading.Lock` reads it: `TryOnce` when not
/// blocking; `-1` means no limit; other negative values (and NaN) are refused.
fn lock_acquire_mode(blocking: Option<Ref<'_>>, timeout: Option<Ref<'_>>) -> PyResult<Timeout> {
    let blocking = is_blocking(blocking)?;
    let seconds = seconds_of(timeout)?;
    if !blocking {
        if seconds.is_some_and(|seconds| seconds != -1.0) {
            return Err(raise(builtin(Builtin::ValueError), "can't specify a timeout for a non-blocking call"));
        }
        return Ok(Timeout::TryOnce);
    }
    match seconds {
        None => Ok(Timeout::Never),
        Some(-1.0) => Ok(Timeout::Never),
        Some(seconds) if seconds.is_nan() || seconds < 0.0 => {
            Err(raise(builtin(Builtin::ValueError), "timeout value must be a non-negative number"))
        }
        Some(seconds) => Ok(timeout_from_seconds(Some(seconds))),
    }
}

/// `Semaphore.acquire(blocking=True, timeout=None)` as `threading.Semaphore` reads it: a timeout
/// with `blocking=False` is refused; a negative timeout is one that has already expired.
fn semaphore_acquire_mode(blocking: Option<Ref<'_>>, timeout: Option<Ref<'_>>) -> PyResult<Timeout> {
    let blocking = is_blocking(blocking)?;
    let seconds = seconds_of(timeout)?;
    if !blocking {
        if seconds.is_some() {
            return Err(raise(builtin(Builtin::ValueError), "can't specify timeout for non-blocking acquire"));
        }
        return Ok(Timeout::TryOnce);
    }
    Ok(timeout_from_seconds(seconds))
}

/// `wait(timeout=None)` of Event, Condition and Barrier, as `threading` reads it: a negative (or
/// NaN) timeout is one that has already expired.
fn wait_timeout(timeout: Option<Ref<'_>>) -> PyResult<Timeout> {
    Ok(timeout_from_seconds(seconds_of(timeout)?))
}

fn is_blocking(blocking: Option<Ref<'_>>) -> PyResult<bool> {
    match blocking {
        Some(blocking) => blocking.is_truthy(),
        None => Ok(true),
    }
}

/// A timeout argument in seconds: `None` for None (or absent); TypeError for a non-number.
fn seconds_of(timeout: Option<Ref<'_>>) -> PyResult<Option<f64>> {
    let Some(timeout) = timeout.filter(|timeout| !timeout.is_none()) else { return Ok(None) };
    timeout.float_value().map(Some).map_err(|_| {
        crate::ffi::clear_error();
        raise(
            builtin(Builtin::TypeError),
            &format!("timeout must be a number of seconds or None, not {}", timeout.type_qualname()),
        )
    })
}

/// `Barrier(timeout=...)`: None, or seconds (stored as given; a negative one has expired at once,
/// as in `threading`).
fn optional_seconds(value: Option<Ref<'_>>) -> PyResult<Option<f64>> {
    seconds_of(value)
}

/// A timeout from seconds (`None`: no limit); zero, negative or NaN means already expired.
fn timeout_from_seconds(seconds: Option<f64>) -> Timeout {
    match seconds {
        None => Timeout::Never,
        Some(seconds) if seconds.is_nan() || seconds <= 0.0 => Timeout::TryOnce,
        Some(seconds) => Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|duration| Instant::now().checked_add(duration))
            .map_or(Timeout::Never, Timeout::Until),
    }
}
