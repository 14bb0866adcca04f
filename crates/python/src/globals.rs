//! Process-wide state: the registries shared by every interpreter. Plain Rust values only —
//! no Python object ever lives here.

use std::sync::LazyLock;

use subinterpreters_core::{ChannelRegistry, InterpreterTable, LeaseTable, Payload, QueueRegistry};

use crate::ffi::InterpPtr;

/// Every channel with an open end, for `list_all_channels()` and the exit hook.
pub(crate) static CHANNELS: LazyLock<ChannelRegistry<Payload>> = LazyLock::new(ChannelRegistry::new);

/// Every queue with a handle somewhere, for `list_all_queues()` and the exit hook.
pub(crate) static QUEUES: LazyLock<QueueRegistry<Payload>> = LazyLock::new(QueueRegistry::new);

/// Every buffer lent with `send_buffer` and not yet given back, with who holds it.
pub(crate) static LEASES: LazyLock<LeaseTable> = LazyLock::new(LeaseTable::new);

/// Every interpreter this package created and has not closed.
pub(crate) static INTERPRETERS: LazyLock<InterpreterTable<InterpPtr>> = LazyLock::new(InterpreterTable::new);
