//! The Rust values the package's Python objects carry (a channel end, a queue handle, a lock, a
//! shared array...), with what they do that needs no module state. A leaf of the binding: the
//! module state names these types, conversion builds and reads them, and the type modules above
//! give them their Python methods.

mod buffers;
mod endpoints;
mod interpreters;
mod markers;
mod pending;
mod primitives;
mod tasks;

pub(crate) use buffers::{LentBufferObject, SharedArrayObject};
pub(crate) use endpoints::{QueueObject, RecvHandle, SendHandle, Sink, Source};
pub(crate) use interpreters::{InterpreterId, Outcome, PreparedCall, ReturnedValue};
pub(crate) use markers::{ClosedSentinel, Unbound};
pub(crate) use pending::{NotifierObject, Parked, PendingOpObject, Pipe};
pub(crate) use primitives::{BarrierObject, ConditionObject, EventObject, LockObject, RLockObject, SemaphoreObject};
pub(crate) use tasks::{PoolCell, PoolTask, TaskCellObject, TaskOutcome, TaskQueueObject};
