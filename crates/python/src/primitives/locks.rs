//! `Lock`, `RLock`, `Semaphore` and `BoundedSemaphore`.

use std::sync::Arc;

use subinterpreters_core::primitives::{RLock, Semaphore};

use super::{current_owner, lock_acquire_mode, semaphore_acquire_mode, wait_for_grant, ACQUIRE_SIGNATURE};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, none, py_method, py_slot, Args, CompareOp, Method, Owned, Param, ParamKind, PyResult, Ref, Signature,
    This, TypeDef, EXIT_SIGNATURE,
};
use crate::state::state_of;
use crate::timeout::Timeout;
use crate::values::{LockObject, RLockObject, SemaphoreObject};

/// Takes a permit of `semaphore`, waiting as `mode` says; true if taken.
pub(super) fn acquire_permit(semaphore: &Arc<Semaphore>, mode: Timeout) -> PyResult<bool> {
    if mode == Timeout::TryOnce {
        return Ok(semaphore.try_acquire());
    }
    match Semaphore::start_acquire(semaphore) {
        Ok(()) => Ok(true),
        Err(pending) => Ok(wait_for_grant(pending, mode, Call::Acquire)?.unwrap_or(false)),
    }
}

/// Identity comparison of two shared primitives.
fn same<T: ?Sized>(a: &Arc<T>, b: &Arc<T>, op: CompareOp) -> bool {
    Arc::ptr_eq(a, b) == (op == CompareOp::Eq)
}

// ---- Lock ---------------------------------------------------------------------------------------

pub(crate) static LOCK: TypeDef<LockObject> = TypeDef::new(
    c"subinterpreters.Lock",
    c"Lock()\n--\n\n\
A lock shared by threads of any interpreters, with threading.Lock's API (acquire, release,\n\
locked, context manager). Shareable: every interpreter it is passed to gets the same lock.\n\
Waiting releases the GIL and never polls.",
    &[
        py_method!(c"acquire", c"acquire($self, /, blocking=True, timeout=-1)\n--\n\n\
Acquire the lock, waiting if it is held (blocking=True; up to timeout seconds if given, -1 for\n\
no limit). Return True if acquired.", fastcall: lock_acquire),
        py_method!(c"release", c"release($self, /)\n--\n\n\
Release the lock (any thread may). RuntimeError if it is not locked.", noargs: lock_release),
        py_method!(c"locked", c"locked($self, /)\n--\n\nReturn True if the lock is held.", noargs: lock_locked),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nAcquire the lock.", noargs: lock_enter),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<LockObject>),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Release the lock.", fastcall: lock_exit),
    ],
    &[],
    &[
        py_slot!(new: lock_new),
        py_slot!(repr: lock_repr),
        py_slot!(hash: lock_hash),
        py_slot!(richcompare: lock_compare),
    ],
);

fn lock_new(_: Ref<'_>, args: Args<'_>) -> PyResult<LockObject> {
    args.none("Lock")?;
    Ok(LockObject(Arc::new(Semaphore::new(1, Some(1)))))
}

fn lock_acquire(this: This<'_, LockObject>, args: Args<'_>) -> PyResult<Owned> {
    let [blocking, timeout] = args.parse(&ACQUIRE_SIGNATURE)?;
    let mode = lock_acquire_mode(blocking, timeout)?;
    Ok(bool_from(acquire_permit(&this.value.0, mode)?))
}

fn lock_release(this: This<'_, LockObject>) -> PyResult<Owned> {
    match this.value.0.release(1) {
        Ok(()) => Ok(none()),
        Err(_) => Err(state_of(this.obj)?.fail(Error::ReleaseUnlocked)),
    }
}

fn lock_locked(this: This<'_, LockObject>) -> PyResult<Owned> {
    Ok(bool_from(this.value.0.value() == 0))
}

fn lock_enter(this: This<'_, LockObject>) -> PyResult<Owned> {
    Ok(bool_from(acquire_permit(&this.value.0, Timeout::Never)?))
}

fn lock_exit(this: This<'_, LockObject>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    lock_release(this)
}

fn lock_repr(this: This<'_, LockObject>) -> String {
    let state = if this.value.0.value() == 0 { "locked" } else { "unlocked" };
    format!("<subinterpreters.Lock {state}>")
}

fn lock_hash(this: This<'_, LockObject>) -> u64 {
    Arc::as_ptr(&this.value.0) as u64
}

fn lock_compare(this: This<'_, LockObject>, other: This<'_, LockObject>, op: CompareOp) -> bool {
    same(&this.value.0, &other.value.0, op)
}

// ---- RLock --------------------------------------------------------------------------------------

pub(crate) static RLOCK: TypeDef<RLockObject> = TypeDef::new(
    c"subinterpreters.RLock",
    c"RLock()\n--\n\n\
A reentrant lock shared by threads of any interpreters, with threading.RLock's API. Its owner\n\
is the (interpreter, thread) pair that acquired it: the owner may acquire it again and must\n\
release it as many times; anyone else releasing it gets RuntimeError.",
    &[
        py_method!(c"acquire", c"acquire($self, /, blocking=True, timeout=-1)\n--\n\n\
Acquire the lock (again, if this thread of this interpreter owns it). Return True if acquired.",
            fastcall: rlock_acquire),
        py_method!(c"release", c"release($self, /)\n--\n\n\
Release one acquisition; the lock is free after the last. RuntimeError if the caller does not\n\
own it.", noargs: rlock_release),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nAcquire the lock.", noargs: rlock_enter),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<RLockObject>),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Release the lock.", fastcall: rlock_exit),
    ],
    &[],
    &[
        py_slot!(new: rlock_new),
        py_slot!(repr: rlock_repr),
        py_slot!(hash: rlock_hash),
        py_slot!(richcompare: rlock_compare),
    ],
);

fn rlock_new(_: Ref<'_>, args: Args<'_>) -> PyResult<RLockObject> {
    args.none("RLock")?;
    Ok(RLockObject(Arc::new(RLock::new())))
}

/// Acquires `rlock` for the calling (interpreter, thread), `count` times at once if newly taken.
pub(super) fn acquire_rlock(rlock: &RLock, mode: Timeout, count: usize) -> PyResult<bool> {
    let owner = current_owner();
    if rlock.try_reenter(owner) {
        return Ok(true);
    }
    let acquired = acquire_permit(rlock.semaphore(), mode)?;
    if acquired {
        rlock.became_owner(owner, count);
    }
    Ok(acquired)
}

fn rlock_acquire(this: This<'_, RLockObject>, args: Args<'_>) -> PyResult<Owned> {
    let [blocking, timeout] = args.parse(&ACQUIRE_SIGNATURE)?;
    let mode = lock_acquire_mode(blocking, timeout)?;
    Ok(bool_from(acquire_rlock(&this.value.0, mode, 1)?))
}

fn rlock_release(this: This<'_, RLockObject>) -> PyResult<Owned> {
    match this.value.0.release(current_owner()) {
        Ok(()) => Ok(none()),
        Err(_) => Err(state_of(this.obj)?.fail(Error::NotHeld("release"))),
    }
}

fn rlock_enter(this: This<'_, RLockObject>) -> PyResult<Owned> {
    Ok(bool_from(acquire_rlock(&this.value.0, Timeout::Never, 1)?))
}

fn rlock_exit(this: This<'_, RLockObject>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    rlock_release(this)
}

fn rlock_repr(this: This<'_, RLockObject>) -> String {
    let state = if this.value.0.semaphore().value() == 0 { "locked" } else { "unlocked" };
    format!("<subinterpreters.RLock {state}>")
}

fn rlock_hash(this: This<'_, RLockObject>) -> u64 {
    Arc::as_ptr(&this.value.0) as u64
}

fn rlock_compare(this: This<'_, RLockObject>, other: This<'_, RLockObject>, op: CompareOp) -> bool {
    same(&this.value.0, &other.value.0, op)
}

// ---- Semaphore and BoundedSemaphore -------------------------------------------------------------

const SEMAPHORE_METHODS_DOC_ACQUIRE: &std::ffi::CStr = c"acquire($self, /, blocking=True, timeout=None)\n--\n\n\
Take a permit, waiting for one if there is none (blocking=True; up to timeout seconds if\n\
given). Return True if taken.";
const SEMAPHORE_METHODS_DOC_RELEASE: &std::ffi::CStr = c"release($self, /, n=1)\n--\n\n\
Release n permits, waking that many waiters (oldest first).";

/// The methods of Semaphore and BoundedSemaphore (they differ only in how they are made).
static SEMAPHORE_METHODS: &[Method<SemaphoreObject>] = &[
    py_method!(c"acquire", SEMAPHORE_METHODS_DOC_ACQUIRE, fastcall: semaphore_acquire),
    py_method!(c"release", SEMAPHORE_METHODS_DOC_RELEASE, fastcall: semaphore_release),
    py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nTake a permit.", noargs: semaphore_enter),
    py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<SemaphoreObject>),
    py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Release a permit.", fastcall: semaphore_exit),
];

pub(crate) static SEMAPHORE: TypeDef<SemaphoreObject> = TypeDef::new(
    c"subinterpreters.Semaphore",
    c"Semaphore(value=1)\n--\n\n\
A counting semaphore shared by threads of any interpreters, with threading.Semaphore's API.",
    SEMAPHORE_METHODS,
    &[],
    &[
        py_slot!(new: semaphore_new),
        py_slot!(repr: semaphore_repr),
        py_slot!(hash: semaphore_hash),
        py_slot!(richcompare: semaphore_compare),
    ],
);

pub(crate) static BOUNDED_SEMAPHORE: TypeDef<SemaphoreObject> = TypeDef::new(
    c"subinterpreters.BoundedSemaphore",
    c"BoundedSemaphore(value=1)\n--\n\n\
A semaphore that refuses (ValueError) to be released above its initial value, with\n\
threading.BoundedSemaphore's API; shared by threads of any interpreters.",
    SEMAPHORE_METHODS,
    &[],
    &[
        py_slot!(new: bounded_semaphore_new),
        py_slot!(repr: semaphore_repr),
        py_slot!(hash: semaphore_hash),
        py_slot!(richcompare: semaphore_compare),
    ],
);

static SEMAPHORE_SIGNATURE: Signature<1> = Signature {
    function: "Semaphore",
    params: [Param { name: c"value", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn initial_value(args: &Args<'_>) -> PyResult<usize> {
    let [value] = args.parse(&SEMAPHORE_SIGNATURE)?;
    let Some(value) = value else { return Ok(1) };
    crate::counts::count_arg(value, "semaphore initial value", 0, "must be >= 0")
}

fn semaphore_new(_: Ref<'_>, args: Args<'_>) -> PyResult<SemaphoreObject> {
    Ok(SemaphoreObject(Arc::new(Semaphore::new(initial_value(&args)?, None))))
}

fn bounded_semaphore_new(_: Ref<'_>, args: Args<'_>) -> PyResult<SemaphoreObject> {
    let value = initial_value(&args)?;
    Ok(SemaphoreObject(Arc::new(Semaphore::new(value, Some(value)))))
}

fn semaphore_acquire(this: This<'_, SemaphoreObject>, args: Args<'_>) -> PyResult<Owned> {
    let [blocking, timeout] = args.parse(&ACQUIRE_SIGNATURE)?;
    let mode = semaphore_acquire_mode(blocking, timeout)?;
    Ok(bool_from(acquire_permit(&this.value.0, mode)?))
}

static RELEASE_SIGNATURE: Signature<1> = Signature {
    function: "release",
    params: [Param { name: c"n", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn semaphore_release(this: This<'_, SemaphoreObject>, args: Args<'_>) -> PyResult<Owned> {
    let [n] = args.parse(&RELEASE_SIGNATURE)?;
    let n = match n {
        None => 1,
        Some(n) => crate::counts::count_arg(n, "n", 1, "must be one or more")?,
    };
    match this.value.0.release(n) {
        Ok(()) => Ok(none()),
        Err(_) => Err(state_of(this.obj)?.fail(Error::TooManyReleases)),
    }
}

fn semaphore_enter(this: This<'_, SemaphoreObject>) -> PyResult<Owned> {
    Ok(bool_from(acquire_permit(&this.value.0, Timeout::Never)?))
}

fn semaphore_exit(this: This<'_, SemaphoreObject>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    match this.value.0.release(1) {
        Ok(()) => Ok(none()),
        Err(_) => Err(state_of(this.obj)?.fail(Error::TooManyReleases)),
    }
}

fn semaphore_repr(this: This<'_, SemaphoreObject>) -> String {
    format!("<subinterpreters.Semaphore value={}>", this.value.0.value())
}

fn semaphore_hash(this: This<'_, SemaphoreObject>) -> u64 {
    Arc::as_ptr(&this.value.0) as u64
}

fn semaphore_compare(this: This<'_, SemaphoreObject>, other: This<'_, SemaphoreObject>, op: CompareOp) -> bool {
    same(&this.value.0, &other.value.0, op)
}
