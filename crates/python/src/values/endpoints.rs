//! Channel ends and queues, and the one abstraction the binding has of them: something one
//! receives from ([`Source`]) or sends to ([`Sink`]). Select, the asyncio operations and
//! conversion are written once against these traits, as the core's pending operations and select
//! cases wait on a channel's or a queue's exchange alike.

use subinterpreters_core::{
    Case, Notify, Payload, QueueHandle, Receiver, RecvError, RecvStart, SendError, SendStart, Sender, TryRecvError,
};

use crate::errors::Error;

/// What a `RecvChannel` object carries.
pub(crate) struct RecvHandle(pub(crate) Receiver<Payload>);

/// What a `SendChannel` object carries.
pub(crate) struct SendHandle(pub(crate) Sender<Payload>);

/// What a `Queue` object carries: one handle on the shared queue.
pub(crate) struct QueueObject {
    pub(crate) handle: QueueHandle<Payload>,
}

impl QueueObject {
    pub(crate) fn new(handle: QueueHandle<Payload>) -> Self {
        QueueObject { handle }
    }
}

/// A channel end or a queue.
pub(crate) trait Endpoint {
    /// What an operation raises once this is closed.
    fn closed_error(&self) -> Error;
}

/// Something Python code receives from: a channel's receiving end, or a queue (`get`).
pub(crate) trait Source: Endpoint {
    /// Takes an item at once, or parks a receive; a parked one calls `notify` when it completes.
    fn start_take(&self, notify: Option<Notify>) -> Result<RecvStart<Payload>, RecvError>;
    /// Takes an item if one is there now.
    fn try_take(&self) -> Result<Payload, TryRecvError>;
    /// This source as a select case.
    fn take_case(&self) -> Case<'_, Payload>;
    /// Puts back, at the front, an item taken but not delivered (its object could not be built).
    fn put_back(&self, payload: Payload);
    /// What a receive raises when its timeout passes first.
    fn timed_out_error(&self) -> Error;
    /// Another handle on the same source, for an operation that outlives the call.
    fn to_boxed(&self) -> Box<dyn Source>;
}

/// Something Python code sends to: a channel's sending end, or a queue (`put`).
pub(crate) trait Sink: Endpoint {
    /// True if only what crosses natively is accepted (no pickle fallback).
    fn is_strict(&self) -> bool;
    /// Hands `payload` over at once, or parks the send; a parked one calls `notify` when it
    /// completes.
    fn start_offer(&self, payload: Payload, notify: Option<Notify>) -> Result<SendStart<Payload>, SendError<Payload>>;
    /// Hands `payload` over if that can be done now (`Withdrawn` with it if not).
    fn try_offer(&self, payload: Payload) -> Result<(), SendError<Payload>>;
    /// This sink, sending `payload`, as a select case.
    fn offer_case(&self, payload: Payload) -> Case<'_, Payload>;
    /// What a send raises when its timeout passes first.
    fn timed_out_error(&self) -> Error;
    /// Another handle on the same sink, for an operation that outlives the call.
    fn to_boxed(&self) -> Box<dyn Sink>;
}

impl Endpoint for RecvHandle {
    fn closed_error(&self) -> Error {
        Error::ChannelClosed
    }
}

impl Endpoint for SendHandle {
    fn closed_error(&self) -> Error {
        Error::ChannelClosed
    }
}

impl Endpoint for QueueObject {
    fn closed_error(&self) -> Error {
        Error::QueueClosed
    }
}

impl Source for RecvHandle {
    fn start_take(&self, notify: Option<Notify>) -> Result<RecvStart<Payload>, RecvError> {
        match notify {
            Some(notify) => self.0.start_recv_notified(notify),
            None => self.0.start_recv(),
        }
    }
    fn try_take(&self) -> Result<Payload, TryRecvError> {
        self.0.try_recv()
    }
    fn take_case(&self) -> Case<'_, Payload> {
        self.0.recv_case()
    }
    fn put_back(&self, payload: Payload) {
        self.0.put_back(payload);
    }
    fn timed_out_error(&self) -> Error {
        Error::RecvTimedOut
    }
    fn to_boxed(&self) -> Box<dyn Source> {
        Box::new(RecvHandle(self.0.clone()))
    }
}

impl Source for QueueObject {
    fn start_take(&self, notify: Option<Notify>) -> Result<RecvStart<Payload>, RecvError> {
        match notify {
            Some(notify) => self.handle.start_get_notified(notify),
            None => self.handle.start_get(),
        }
    }
    fn try_take(&self) -> Result<Payload, TryRecvError> {
        self.handle.try_get()
    }
    fn take_case(&self) -> Case<'_, Payload> {
        self.handle.get_case()
    }
    fn put_back(&self, payload: Payload) {
        self.handle.put_back(payload);
    }
    fn timed_out_error(&self) -> Error {
        Error::QueueEmpty
    }
    fn to_boxed(&self) -> Box<dyn Source> {
        Box::new(QueueObject::new(self.handle.clone()))
    }
}

impl Sink for SendHandle {
    fn is_strict(&self) -> bool {
        self.0.strict()
    }
    fn start_offer(&self, payload: Payload, notify: Option<Notify>) -> Result<SendStart<Payload>, SendError<Payload>> {
        match notify {
            Some(notify) => self.0.start_send_notified(payload, notify),
            None => self.0.start_send(payload),
        }
    }
    fn try_offer(&self, payload: Payload) -> Result<(), SendError<Payload>> {
        self.0.try_send(payload)
    }
    fn offer_case(&self, payload: Payload) -> Case<'_, Payload> {
        self.0.send_case(payload)
    }
    fn timed_out_error(&self) -> Error {
        Error::SendTimedOut
    }
    fn to_boxed(&self) -> Box<dyn Sink> {
        Box::new(SendHandle(self.0.clone()))
    }
}

impl Sink for QueueObject {
    fn is_strict(&self) -> bool {
        self.handle.is_strict()
    }
    fn start_offer(&self, payload: Payload, notify: Option<Notify>) -> Result<SendStart<Payload>, SendError<Payload>> {
        match notify {
            Some(notify) => self.handle.start_put_notified(payload, notify),
            None => self.handle.start_put(payload),
        }
    }
    fn try_offer(&self, payload: Payload) -> Result<(), SendError<Payload>> {
        self.handle.put_nowait(payload)
    }
    fn offer_case(&self, payload: Payload) -> Case<'_, Payload> {
        self.handle.put_case(payload)
    }
    fn timed_out_error(&self) -> Error {
        Error::QueueFull
    }
    fn to_boxed(&self) -> Box<dyn Sink> {
        Box::new(QueueObject::new(self.handle.clone()))
    }
}
