//! `subinterpreters._core`: the CPython binding of `subinterpreters-core`.
//!
//! Layers, from the bottom: [`ffi`] is the only gateway to the C API; [`convert`] turns Python
//! objects into interpreter-independent payloads and back; [`errors`] maps every failure to its
//! Python exception, in one place; [`channel`] and [`interpreter`] define the Python types;
//! [`module`] assembles the per-interpreter module state. Process-wide state lives in
//! [`globals`] and holds no Python object.

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
mod structured;
mod timeout;
mod unbound;
