//! Interpreter-independent core of `subinterpreters`.
//!
//! Nothing here knows about Python: the binding crate converts Python objects into [`Payload`]s,
//! moves them through these channels, and maps the typed errors to Python exceptions. Keeping the
//! concurrency here, in plain Rust, lets `loom` model-check it (`RUSTFLAGS="--cfg loom"`).

#![warn(missing_docs)]

pub mod channel;
pub mod error;
pub mod interpreters;
pub mod payload;
mod sync;
mod waiter;

pub use channel::registry::ChannelRegistry;
pub use channel::{
    channel, Channel, PendingRecv, PendingSend, RecvStart, Receiver, SendStart, Sender,
};
pub use error::{RecvError, SendError, TryRecvError};
pub use interpreters::{InterpreterTable, TableError};
pub use payload::Payload;
