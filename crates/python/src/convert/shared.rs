//! The shared synchronisation primitives (locks, semaphores, events, conditions, barriers) to and
//! from their core form.

use subinterpreters_core::primitives::SharedPrimitive;

use crate::ffi::{Owned, PyResult, Ref};
use crate::state::State;
use crate::values::{BarrierObject, ConditionObject, EventObject, LockObject, RLockObject, SemaphoreObject};

/// Converts a primitive object of this interpreter, if `obj` is one, for sharing.
pub(crate) fn to_shared(state: &State, obj: Ref<'_>) -> Option<SharedPrimitive> {
    if let Some(lock) = state.lock_type.downcast(obj) {
        return Some(SharedPrimitive::Lock(lock.0.clone()));
    }
    if let Some(rlock) = state.rlock_type.downcast(obj) {
        return Some(SharedPrimitive::RLock(rlock.0.clone()));
    }
    if let Some(semaphore) = state.semaphore_type.downcast(obj) {
        return Some(SharedPrimitive::Semaphore(semaphore.0.clone()));
    }
    if let Some(semaphore) = state.bounded_semaphore_type.downcast(obj) {
        return Some(SharedPrimitive::BoundedSemaphore(semaphore.0.clone()));
    }
    if let Some(event) = state.event_type.downcast(obj) {
        return Some(SharedPrimitive::Event(event.0.clone()));
    }
    if let Some(condition) = state.condition_type.downcast(obj) {
        return Some(SharedPrimitive::Condition(condition.condition.clone(), condition.lock.clone()));
    }
    if let Some(barrier) = state.barrier_type.downcast(obj) {
        return Some(SharedPrimitive::Barrier(barrier.barrier.clone(), barrier.timeout));
    }
    None
}

/// Builds the object for a shared primitive in this interpreter.
pub(crate) fn from_shared(state: &State, shared: &SharedPrimitive) -> PyResult<Owned> {
    match shared {
        SharedPrimitive::Lock(lock) => state.lock_type.instance(LockObject(lock.clone())),
        SharedPrimitive::RLock(rlock) => state.rlock_type.instance(RLockObject(rlock.clone())),
        SharedPrimitive::Semaphore(semaphore) => state.semaphore_type.instance(SemaphoreObject(semaphore.clone())),
        SharedPrimitive::BoundedSemaphore(semaphore) => {
            state.bounded_semaphore_type.instance(SemaphoreObject(semaphore.clone()))
        }
        SharedPrimitive::Event(event) => state.event_type.instance(EventObject(event.clone())),
        SharedPrimitive::Condition(condition, lock) => {
            state.condition_type.instance(ConditionObject { condition: condition.clone(), lock: lock.clone() })
        }
        SharedPrimitive::Barrier(barrier, timeout) => {
            state.barrier_type.instance(BarrierObject { barrier: barrier.clone(), timeout: *timeout })
        }
    }
}
