//! `subinterpreters._core`: the CPython binding of `subinterpreters-core`.
//!
//! Layers, from the bottom (a module uses only layers below it; `scripts/module-graph.py`, run by
//! `make lint`, checks it, and docs/architecture.md draws it): [`ffi`] is the only gateway to the
//! C API; [`errors`] maps every failure to its Python exception, in one place, and [`globals`]
//! holds the process-wide registries (no Python object); [`values`] are the Rust values the
//! Python objects carry, with the one abstraction of channels and queues ([`values::Source`],
//! [`values::Sink`]); [`state`] is the per-interpreter module state; [`convert`] turns Python
//! objects into interpreter-independent payloads and back; the type modules ([`channel`],
//! [`queue`], [`interpreter`], [`primitives`], [`select`], [`async_ops`]...) give the values
//! their Python methods, the blocking calls of channels and queues written once in [`transfer`];
//! [`c_api`] is the package's own C API (subinterpreters.h; the capsule `_C_API`), over the core
//! with no GIL; [`module`] creates the types, builds the state and is the entry point.

mod async_ops;
mod blocking;
mod c_api;
mod channel;
mod convert;
mod counts;
mod errors;
mod exit_watch;
mod ffi;
mod globals;
mod interpreter;
mod lent_buffer;
mod module;
mod pickling;
mod primitives;
mod python_half;
mod queue;
mod select;
mod shared_array;
mod shutdown;
mod state;
mod timeout;
mod transfer;
mod unbound;
mod values;
