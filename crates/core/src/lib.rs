//! Interpreter-independent core of `subinterpreters`.
//!
//! Nothing here knows about Python: the binding crate converts Python objects into [`Payload`]s,
//! moves them through these channels and queues, and maps the typed errors to Python exceptions.
//! Keeping the concurrency here, in plain Rust, lets `loom` model-check it
//! (`RUSTFLAGS="--cfg loom"`).

#![warn(missing_docs)]

pub mod buffer_lease;
pub mod channel;
pub mod demand;
pub mod endpoint;
pub mod error;
mod exchange;
pub mod foreign;
pub mod interpreters;
pub mod payload;
mod pending;
pub mod primitives;
pub mod queue;
pub mod registry;
pub mod select;
pub mod shared_memory;
mod spin;
mod sync;
pub mod task_cell;
pub mod task_queue;
mod waiter;
pub mod weak_ids;

pub use waiter::Notify;

/// The one rule for poisoned locks, for the binding's own `std` locks too.
#[cfg(not(loom))]
pub use sync::{lock, wait, wait_timeout};

pub use buffer_lease::{BufferLease, LeaseHolder, LeaseTable};
pub use channel::{channel, Channel, Receiver, Sender};
pub use demand::{Demand, Wanting};
pub use endpoint::{Endpoint, OfferError, TakeError, Wait};
pub use error::{RecvError, SendError, TryRecvError};
pub use foreign::ForeignSlots;
pub use interpreters::{InterpreterTable, TableError};
pub use payload::structured;
pub use payload::Payload;
pub use pending::{PendingRecv, PendingSend, RecvStart, SendStart};
pub use queue::{queue, Queue, QueueHandle};
pub use registry::{ChannelRegistry, QueueRegistry};
pub use select::{random_order, start_select, Case, PendingSelect, SelectStart, Selected};
pub use shared_memory::{ArrayKind, ArrayLayout, SharedArray};
pub use structured::{Decoder, DepthExceeded, Encoder, FormatError, Item, MemoId, StrId, Structured};
pub use task_cell::{Claimed, TaskCell, TaskState};
pub use task_queue::{Entry, Grouped, Pace, TaskQueue};
pub use weak_ids::{WeakIds, WeakRef};
