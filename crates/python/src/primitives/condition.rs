//! `Condition`: a condition variable over a shared `Lock` or `RLock`.

use std::sync::Arc;
use std::time::Instant;

use subinterpreters_core::primitives::{Condition, ConditionLock, Semaphore};

use super::locks::{acquire_permit, acquire_rlock};
use super::{
    current_owner, lock_acquire_mode, wait_for_grant, wait_for_grant_uninterruptibly, wait_timeout, ACQUIRE_SIGNATURE,
};
use crate::errors::Error;
use crate::exit_watch::Call;
use crate::ffi::{
    bool_from, builtin, int_from_u64, none, py_method, py_slot, raise, Args, Builtin, CompareOp, Owned, Param,
    ParamKind, PyResult, Ref, Signature, This, TypeDef, EXIT_SIGNATURE,
};
use crate::state::state_of;
use crate::timeout::Timeout;
use crate::values::{ConditionObject, LockObject, RLockObject};

pub(crate) static CONDITION: TypeDef<ConditionObject> = TypeDef::new(
    c"subinterpreters.Condition",
    c"Condition(lock=None)\n--\n\n\
A condition variable shared by threads of any interpreters, with threading.Condition's API.\n\
lock must be a subinterpreters.Lock or RLock (default: a new RLock).",
    &[
        py_method!(c"acquire", c"acquire($self, /, blocking=True, timeout=-1)\n--\n\n\
Acquire the underlying lock.", fastcall: acquire),
        py_method!(c"release", c"release($self, /)\n--\n\nRelease the underlying lock.", noargs: release),
        py_method!(c"wait", c"wait($self, /, timeout=None)\n--\n\n\
Release the lock, wait until notified (up to timeout seconds if given), take the lock again.\n\
Return False if the timeout expired. RuntimeError if the caller does not hold the lock.",
            fastcall: wait),
        py_method!(c"wait_for", c"wait_for($self, predicate, /, timeout=None)\n--\n\n\
Wait until predicate() is true (up to timeout seconds if given); return its last value.",
            fastcall: wait_for),
        py_method!(c"notify", c"notify($self, /, n=1)\n--\n\n\
Wake up to n waiters. RuntimeError if the caller does not hold the lock.", fastcall: notify),
        py_method!(c"notify_all", c"notify_all($self, /)\n--\n\n\
Wake every waiter. RuntimeError if the caller does not hold the lock.", noargs: notify_all),
        py_method!(c"__enter__", c"__enter__($self, /)\n--\n\nAcquire the underlying lock.", noargs: enter),
        py_method!(c"__reduce__", c"__reduce__($self, /)\n--\n\nPickle support: unpickles as the same shared object, in this process.", noargs: crate::pickling::reduce::<ConditionObject>),
        py_method!(c"__exit__", c"__exit__($self, exc_type=None, exc_value=None, traceback=None, /)\n--\n\n\
Release the underlying lock.", fastcall: exit),
    ],
    &[],
    &[py_slot!(new: new), py_slot!(repr: repr), py_slot!(hash: hash), py_slot!(richcompare: compare)],
);

static NEW_SIGNATURE: Signature<1> = Signature {
    function: "Condition",
    params: [Param { name: c"lock", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn new(ty: Ref<'_>, args: Args<'_>) -> PyResult<ConditionObject> {
    let [lock] = args.parse(&NEW_SIGNATURE)?;
    let lock = match lock.filter(|lock| !lock.is_none()) {
        None => ConditionLock::RLock(Arc::new(subinterpreters_core::primitives::RLock::new())),
        Some(lock) => {
            // The types of this interpreter's module, found through the Condition type itself.
            let state = crate::state::state_of_type(ty)?;
            if let Some(LockObject(lock)) = state.lock_type.downcast(lock) {
                ConditionLock::Lock(lock.clone())
            } else if let Some(RLockObject(rlock)) = state.rlock_type.downcast(lock) {
                ConditionLock::RLock(rlock.clone())
            } else {
                return Err(raise(
                    builtin(Builtin::TypeError),
                    &format!("Condition lock must be a subinterpreters.Lock or RLock, not {}", lock.type_qualname()),
                ));
            }
        }
    };
    Ok(ConditionObject { condition: Arc::new(Condition::new()), lock })
}

/// True if the caller may be taken to hold the lock: for an RLock, it owns it; for a Lock (which
/// has no owner), it is locked — `threading.Condition` makes the same guess.
fn holds(lock: &ConditionLock) -> bool {
    match lock {
        ConditionLock::Lock(semaphore) => semaphore.value() == 0,
        ConditionLock::RLock(rlock) => rlock.is_owned_by(current_owner()),
    }
}

fn acquire_lock(lock: &ConditionLock, mode: Timeout) -> PyResult<bool> {
    match lock {
        ConditionLock::Lock(semaphore) => acquire_permit(semaphore, mode),
        ConditionLock::RLock(rlock) => acquire_rlock(rlock, mode, 1),
    }
}

fn acquire(this: This<'_, ConditionObject>, args: Args<'_>) -> PyResult<Owned> {
    let [blocking, timeout] = args.parse(&ACQUIRE_SIGNATURE)?;
    let mode = lock_acquire_mode(blocking, timeout)?;
    Ok(bool_from(acquire_lock(&this.value.lock, mode)?))
}

fn release(this: This<'_, ConditionObject>) -> PyResult<Owned> {
    let released = match &this.value.lock {
        ConditionLock::Lock(semaphore) => semaphore.release(1).map_err(|_| Error::ReleaseUnlocked),
        ConditionLock::RLock(rlock) => rlock.release(current_owner()).map_err(|_| Error::NotHeld("release")),
    };
    match released {
        Ok(()) => Ok(none()),
        Err(error) => Err(state_of(this.obj)?.fail(error)),
    }
}

fn enter(this: This<'_, ConditionObject>) -> PyResult<Owned> {
    Ok(bool_from(acquire_lock(&this.value.lock, Timeout::Never)?))
}

fn exit(this: This<'_, ConditionObject>, args: Args<'_>) -> PyResult<Owned> {
    args.parse(&EXIT_SIGNATURE)?;
    release(this)
}

static WAIT_SIGNATURE: Signature<1> = Signature {
    function: "wait",
    params: [Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn wait(this: This<'_, ConditionObject>, args: Args<'_>) -> PyResult<Owned> {
    let [timeout] = args.parse(&WAIT_SIGNATURE)?;
    let timeout = wait_timeout(timeout)?;
    Ok(bool_from(wait_notified(this, timeout)?))
}

/// Releases the lock, waits for a notify (or the timeout), then takes the lock back — whatever
/// happened, as `threading.Condition.wait` does — before returning or raising.
fn wait_notified(this: This<'_, ConditionObject>, timeout: Timeout) -> PyResult<bool> {
    let ConditionObject { condition, lock } = this.value;
    if !holds(lock) {
        return Err(state_of(this.obj)?.fail(Error::NotHeld("wait on")));
    }
    // Registered before the lock is released: a notify right after the release is not missed.
    let pending = Condition::start_wait(condition);
    let owner = current_owner();
    let saved = match lock {
        ConditionLock::Lock(semaphore) => {
            // A plain Lock has no owner: `holds` only saw it locked, perhaps by another thread
            // that has released it since. Then this thread never held it.
            if semaphore.release(1).is_err() {
                pending.abandon();
                return Err(state_of(this.obj)?.fail(Error::NotHeld("wait on")));
            }
            1
        }
        ConditionLock::RLock(rlock) => rlock.release_all(owner).expect("owned, checked above"),
    };
    let notified = wait_for_grant(pending, timeout, Call::ConditionWait);
    let semaphore: &Arc<Semaphore> = match lock {
        ConditionLock::Lock(semaphore) => semaphore,
        ConditionLock::RLock(rlock) => rlock.semaphore(),
    };
    if let Err(pending) = Semaphore::start_acquire(semaphore) {
        wait_for_grant_uninterruptibly(pending);
    }
    if let ConditionLock::RLock(rlock) = lock {
        rlock.became_owner(owner, saved);
    }
    Ok(notified?.unwrap_or(false))
}

static WAIT_FOR_SIGNATURE: Signature<2> = Signature {
    function: "wait_for",
    params: [
        Param { name: c"predicate", kind: ParamKind::PositionalOnly, required: true },
        Param { name: c"timeout", kind: ParamKind::PositionalOrKeyword, required: false },
    ],
    var_keyword: false,
};

fn wait_for(this: This<'_, ConditionObject>, args: Args<'_>) -> PyResult<Owned> {
    let [predicate, timeout] = args.parse(&WAIT_FOR_SIGNATURE)?;
    let predicate = predicate.expect("required");
    let timeout = wait_timeout(timeout)?;
    let mut result = predicate.call(&[])?;
    while !result.as_ref().is_truthy()? {
        let remaining = match timeout {
            Timeout::Until(deadline) if Instant::now() >= deadline => break,
            Timeout::TryOnce => break,
            other => other,
        };
        wait_notified(this, remaining)?;
        result = predicate.call(&[])?;
    }
    Ok(result)
}

static NOTIFY_SIGNATURE: Signature<1> = Signature {
    function: "notify",
    params: [Param { name: c"n", kind: ParamKind::PositionalOrKeyword, required: false }],
    var_keyword: false,
};

fn notify(this: This<'_, ConditionObject>, args: Args<'_>) -> PyResult<Owned> {
    let [n] = args.parse(&NOTIFY_SIGNATURE)?;
    let n = match n {
        None => 1,
        // threading notifies nobody for n <= 0.
        Some(n) if n.kind() == crate::ffi::ObjKind::Int && n.int_as_i64()?.is_some_and(|n| n <= 0) => 0,
        Some(n) => crate::counts::count_arg(n, "n", 0, "must be an int")?,
    };
    if !holds(&this.value.lock) {
        return Err(state_of(this.obj)?.fail(Error::NotHeld("notify on")));
    }
    this.value.condition.notify(n);
    Ok(none())
}

fn notify_all(this: This<'_, ConditionObject>) -> PyResult<Owned> {
    if !holds(&this.value.lock) {
        return Err(state_of(this.obj)?.fail(Error::NotHeld("notify on")));
    }
    int_from_u64(this.value.condition.notify_all() as u64).map(|_| none())
}

fn repr(this: This<'_, ConditionObject>) -> String {
    let kind = match this.value.lock {
        ConditionLock::Lock(_) => "Lock",
        ConditionLock::RLock(_) => "RLock",
    };
    format!("<subinterpreters.Condition over a {kind}>")
}

fn hash(this: This<'_, ConditionObject>) -> u64 {
    Arc::as_ptr(&this.value.condition) as u64
}

fn compare(this: This<'_, ConditionObject>, other: This<'_, ConditionObject>, op: CompareOp) -> bool {
    Arc::ptr_eq(&this.value.condition, &other.value.condition) == (op == CompareOp::Eq)
}
