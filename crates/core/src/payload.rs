//! Values that cross interpreters: plain Rust data, owned by no interpreter.
//!
//! The binding turns a Python object into a `Payload` in the sender's interpreter and builds an
//! equal object of the same type in the receiver's. Channel ends travel as live handles, so an end
//! in flight keeps its channel open.

// A structured value attaches payloads and is one: the format is this module's own submodule.
pub mod structured;

use crate::buffer_lease::BufferLease;
use crate::channel::{Receiver, Sender};
use crate::primitives::SharedPrimitive;
use crate::queue::QueueHandle;
use crate::shared_memory::SharedArray;
use crate::sync::Arc;
use structured::Structured;

/// An interpreter-independent value.
#[derive(Debug)]
pub enum Payload {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// Any other `int`, as a signed hexadecimal literal (`-0x1f`): power-of-two bases are exempt
    /// from CPython's limit on int/str conversion digits.
    BigInt(Box<str>),
    /// `float`.
    Float(f64),
    /// `str`, encoded as UTF-8 where lone surrogates are encoded too (Python's `surrogatepass`),
    /// so every Python string round-trips exactly.
    Str(Box<[u8]>),
    /// `bytes`.
    Bytes(Box<[u8]>),
    /// `tuple` of payloads.
    Tuple(Box<[Payload]>),
    /// The receive end of a channel.
    RecvEnd(Receiver<Payload>),
    /// The send end of a channel.
    SendEnd(Sender<Payload>),
    /// An interpreter, by its CPython id.
    Interpreter(i64),
    /// A queue.
    Queue(QueueHandle<Payload>),
    /// Any other object, pickled by the sender (queues, unless strict); the receiver unpickles.
    Pickled(Box<[u8]>),
    /// A lock, semaphore, event, condition or barrier.
    Primitive(SharedPrimitive),
    /// A handle on shared memory (`SharedArray`, `SharedBuffer`).
    Array(SharedArray),
    /// Another interpreter's buffer, lent without a copy (`send_buffer`). Dropping the last
    /// reference runs the owner's release, which takes that interpreter's GIL: never drop a
    /// payload while holding a core lock (the core already drops items outside its locks).
    Buffer(Arc<BufferLease>),
    /// Lists, dicts, sets, tuples and scalars nested in any combination, with shared references,
    /// cycles and attached payloads: one byte buffer written in one walk (see [`structured`]).
    Structured(Box<Structured>),
}

impl Payload {
    /// Nesting depth beyond which a value is refused: deep enough for any real data, shallow
    /// enough that converting and dropping it cannot exhaust a thread's stack.
    pub const MAX_DEPTH: usize = 200;
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        use Payload::*;
        match (self, other) {
            (None, None) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Str(a), Str(b)) | (Bytes(a), Bytes(b)) => a == b,
            (Tuple(a), Tuple(b)) => a == b,
            (RecvEnd(a), RecvEnd(b)) => a == b,
            (SendEnd(a), SendEnd(b)) => a == b,
            (Interpreter(a), Interpreter(b)) => a == b,
            (Queue(a), Queue(b)) => a == b,
            (Pickled(a), Pickled(b)) => a == b,
            (Primitive(a), Primitive(b)) => a.identity() == b.identity(),
            (Array(a), Array(b)) => a.same_memory(b) && a.layout() == b.layout() && a.readonly() == b.readonly(),
            (Buffer(a), Buffer(b)) => Arc::ptr_eq(a, b),
            (Structured(a), Structured(b)) => a == b,
            _ => false,
        }
    }
}
