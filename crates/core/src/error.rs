//! Typed errors of channel operations. A failed send always hands its item back, so the caller
//! decides what to do with it (the binding drops it; nothing is lost silently inside the core).

use std::fmt;

/// Why a send did not deliver its item; the item comes back in every case.
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// The channel is closed for sending (either end was closed).
    Closed(T),
    /// No receiver took the item before the deadline, or the send was cancelled; the item was
    /// withdrawn and will never be delivered.
    Withdrawn(T),
}

impl<T> SendError<T> {
    /// The item that was not delivered.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(item) | SendError::Withdrawn(item) => item,
        }
    }

    /// True for [`SendError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, SendError::Closed(_))
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Withdrawn(_) => f.write_str("Withdrawn(..)"),
        }
    }
}

/// Why a blocking receive returned without an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Receiving is impossible: the receive end is closed, or the send end is closed and nothing
    /// is left to drain.
    Closed,
    /// Nothing arrived before the deadline, or the receive was cancelled.
    Withdrawn,
}

/// Why a non-blocking receive returned without an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued and no sender is waiting.
    Empty,
    /// As [`RecvError::Closed`].
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("channel closed"),
            RecvError::Withdrawn => f.write_str("receive withdrawn"),
        }
    }
}
