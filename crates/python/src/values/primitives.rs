//! What the shared synchronisation primitives' objects carry: an `Arc` to the core's state, so
//! the same primitive can be passed to any interpreter.

use std::sync::Arc;

use subinterpreters_core::primitives::{Barrier, Condition, ConditionLock, Event, RLock, Semaphore};

/// What a `Lock` object carries: a semaphore of one permit, bounded by one.
pub(crate) struct LockObject(pub(crate) Arc<Semaphore>);

/// What an `RLock` object carries.
pub(crate) struct RLockObject(pub(crate) Arc<RLock>);

/// What a `Semaphore` or `BoundedSemaphore` object carries.
pub(crate) struct SemaphoreObject(pub(crate) Arc<Semaphore>);

/// What an `Event` object carries.
pub(crate) struct EventObject(pub(crate) Arc<Event>);

/// What a `Condition` object carries: the shared waiting half and the lock.
pub(crate) struct ConditionObject {
    pub(crate) condition: Arc<Condition>,
    pub(crate) lock: ConditionLock,
}

/// What a `Barrier` object carries: the shared barrier and its default timeout (seconds).
pub(crate) struct BarrierObject {
    pub(crate) barrier: Arc<Barrier>,
    pub(crate) timeout: Option<f64>,
}
