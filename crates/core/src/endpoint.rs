//! A queue or either end of a channel behind one type, for callers that take any of them and say
//! how long to wait with a value rather than by choosing a method (the C API).
//!
//! The waiting forms follow the Python methods of the same objects, so that every outcome maps to
//! the exception Python raises for it: not waiting is `put_nowait` / `get_nowait` on a queue and
//! `send_nowait` / `recv_nowait` on a channel; waiting is `put` / `get` on a queue and the
//! rendezvous `send` / `recv` on a channel. A failed offer hands its item back.

use std::time::{Duration, Instant};

use crate::channel::{Receiver, Sender};
use crate::error::{RecvError, SendError, TryRecvError};
use crate::queue::QueueHandle;

/// A queue or one end of a channel.
#[derive(Debug, PartialEq)]
pub enum Endpoint<T> {
    /// A queue: offers put, takes get.
    Queue(QueueHandle<T>),
    /// The send end of a channel: offers only.
    Sender(Sender<T>),
    /// The receive end of a channel: takes only.
    Receiver(Receiver<T>),
}

/// How long an operation may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all: the non-blocking form.
    No,
    /// As long as it takes.
    Forever,
    /// Until this instant.
    Until(Instant),
}

impl Wait {
    /// A wait given in seconds: negative (or NaN-free infinity) waits for ever, zero does not
    /// wait, a positive number waits that long. `None` for NaN, which means nothing.
    pub fn from_seconds(seconds: f64) -> Option<Wait> {
        if seconds.is_nan() {
            return None;
        }
        if seconds < 0.0 || seconds == f64::INFINITY {
            return Some(Wait::Forever);
        }
        if seconds == 0.0 {
            return Some(Wait::No);
        }
        // Too far in the future to represent is as good as for ever.
        let deadline = Duration::try_from_secs_f64(seconds).ok().and_then(|after| Instant::now().checked_add(after));
        Some(deadline.map_or(Wait::Forever, Wait::Until))
    }

    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::No => Some(Instant::now()),
            Wait::Forever => None,
            Wait::Until(deadline) => Some(deadline),
        }
    }
}

/// Why an offer did not deliver; the item comes back in every case.
#[derive(Debug, PartialEq, Eq)]
pub enum OfferError<T> {
    /// Closed: the queue, or either end of the channel (`QueueClosedError`, `ChannelClosedError`).
    Closed(T),
    /// The queue had no room in time (`QueueFull`).
    Full(T),
    /// No receiver took the item in time; it was withdrawn (`TimeoutError`).
    TimedOut(T),
    /// A receive end cannot send.
    WrongEnd(T),
}

impl<T> OfferError<T> {
    /// The item that was not delivered.
    pub fn into_inner(self) -> T {
        match self {
            OfferError::Closed(item)
            | OfferError::Full(item)
            | OfferError::TimedOut(item)
            | OfferError::WrongEnd(item) => item,
        }
    }
}

/// Why a take returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// Closed (for a channel's receive end or a queue: closed and drained).
    Closed,
    /// Nothing was ready: a queue's get in any form (`QueueEmpty`), or a channel's non-blocking
    /// receive (`ChannelEmptyError`).
    Empty,
    /// A channel's waiting receive found nothing in time (`TimeoutError`).
    TimedOut,
    /// A send end cannot receive.
    WrongEnd,
}

impl<T> Clone for Endpoint<T> {
    /// Another handle on the same queue or end (counted as a holder, as the first one is).
    fn clone(&self) -> Self {
        match self {
            Endpoint::Queue(queue) => Endpoint::Queue(queue.clone()),
            Endpoint::Sender(sender) => Endpoint::Sender(sender.clone()),
            Endpoint::Receiver(receiver) => Endpoint::Receiver(receiver.clone()),
        }
    }
}

impl<T> Endpoint<T> {
    /// True for the queue (which is both ends at once).
    pub fn is_queue(&self) -> bool {
        matches!(self, Endpoint::Queue(_))
    }

    /// Puts `item` (queue) or sends it (send end), waiting as `wait` says.
    pub fn offer(&self, item: T, wait: Wait) -> Result<(), OfferError<T>> {
        match self {
            Endpoint::Queue(queue) => {
                let result = match wait {
                    Wait::No => queue.put_nowait(item),
                    _ => queue.put(item, wait.deadline()),
                };
                result.map_err(|error| match error {
                    SendError::Closed(item) => OfferError::Closed(item),
                    SendError::Withdrawn(item) => OfferError::Full(item),
                })
            }
            Endpoint::Sender(sender) => {
                let result = match wait {
                    Wait::No => sender.send_nowait(item).map(drop),
                    _ => sender.send(item, wait.deadline()),
                };
                result.map_err(|error| match error {
                    SendError::Closed(item) => OfferError::Closed(item),
                    SendError::Withdrawn(item) => OfferError::TimedOut(item),
                })
            }
            Endpoint::Receiver(_) => Err(OfferError::WrongEnd(item)),
        }
    }

    /// Gets the oldest item (queue) or receives the next one (receive end), waiting as `wait`
    /// says.
    pub fn take(&self, wait: Wait) -> Result<T, TakeError> {
        match (self, wait) {
            (Endpoint::Queue(queue), Wait::No) => queue.try_get().map_err(try_error),
            (Endpoint::Queue(queue), _) => queue.get(wait.deadline()).map_err(|error| match error {
                RecvError::Closed => TakeError::Closed,
                RecvError::Withdrawn => TakeError::Empty,
            }),
            (Endpoint::Receiver(receiver), Wait::No) => receiver.try_recv().map_err(try_error),
            (Endpoint::Receiver(receiver), _) => receiver.recv(wait.deadline()).map_err(|error| match error {
                RecvError::Closed => TakeError::Closed,
                RecvError::Withdrawn => TakeError::TimedOut,
            }),
            (Endpoint::Sender(_), _) => Err(TakeError::WrongEnd),
        }
    }

    /// Puts an item taken from here back in front of all others, for a taker that cannot accept
    /// it (it stays for the next taker, e.g. a Python one). On a send end the item is dropped:
    /// nothing is taken from a send end.
    pub fn put_back(&self, item: T) {
        match self {
            Endpoint::Queue(queue) => queue.put_back(item),
            Endpoint::Receiver(receiver) => receiver.put_back(item),
            Endpoint::Sender(_) => drop(item),
        }
    }

    /// Closes the queue, or this end of the channel (for every handle on it).
    pub fn close(&self) {
        match self {
            Endpoint::Queue(queue) => queue.close(),
            Endpoint::Sender(sender) => sender.close(),
            Endpoint::Receiver(receiver) => receiver.close(),
        }
    }
}

fn try_error(error: TryRecvError) -> TakeError {
    match error {
        TryRecvError::Empty => TakeError::Empty,
        TryRecvError::Closed => TakeError::Closed,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{channel, queue};

    #[test]
    fn queue_offers_and_takes_in_every_form() {
        let q = Endpoint::Queue(queue::<u32>(1));
        assert_eq!(q.offer(1, Wait::No), Ok(()));
        assert_eq!(q.offer(2, Wait::No), Err(OfferError::Full(2)));
        assert_eq!(q.offer(3, Wait::from_seconds(0.001).unwrap()), Err(OfferError::Full(3)));
        assert_eq!(q.take(Wait::Forever), Ok(1));
        assert_eq!(q.take(Wait::No), Err(TakeError::Empty));
        assert_eq!(q.take(Wait::from_seconds(0.001).unwrap()), Err(TakeError::Empty));
        q.close();
        assert_eq!(q.offer(4, Wait::Forever), Err(OfferError::Closed(4)));
        assert_eq!(q.take(Wait::No), Err(TakeError::Closed));
    }

    #[test]
    fn channel_ends_offer_and_take_as_python_does() {
        let (sender, receiver) = channel::<u32>();
        let (send, recv) = (Endpoint::Sender(sender), Endpoint::Receiver(receiver));
        // Not waiting queues the item (send_nowait); waiting is a rendezvous that times out.
        assert_eq!(send.offer(1, Wait::No), Ok(()));
        assert_eq!(send.offer(2, Wait::from_seconds(0.001).unwrap()), Err(OfferError::TimedOut(2)));
        assert_eq!(recv.take(Wait::No), Ok(1));
        assert_eq!(recv.take(Wait::No), Err(TakeError::Empty));
        assert_eq!(recv.take(Wait::from_seconds(0.001).unwrap()), Err(TakeError::TimedOut));
        assert_eq!(send.take(Wait::No), Err(TakeError::WrongEnd));
        assert_eq!(recv.offer(5, Wait::No), Err(OfferError::WrongEnd(5)));
        send.close();
        assert_eq!(send.offer(6, Wait::No), Err(OfferError::Closed(6)));
        assert_eq!(recv.take(Wait::Forever), Err(TakeError::Closed));
    }

    #[test]
    fn an_item_put_back_is_taken_first() {
        let q = Endpoint::Queue(queue::<u32>(0));
        q.offer(1, Wait::No).unwrap();
        q.offer(2, Wait::No).unwrap();
        let first = q.take(Wait::No).unwrap();
        q.put_back(first);
        assert_eq!(q.take(Wait::No), Ok(1));
    }

    #[test]
    fn seconds_read_as_waits() {
        assert_eq!(Wait::from_seconds(-1.0), Some(Wait::Forever));
        assert_eq!(Wait::from_seconds(f64::INFINITY), Some(Wait::Forever));
        assert_eq!(Wait::from_seconds(1e300), Some(Wait::Forever));
        assert_eq!(Wait::from_seconds(0.0), Some(Wait::No));
        assert_eq!(Wait::from_seconds(f64::NAN), None);
        assert!(matches!(Wait::from_seconds(1.0), Some(Wait::Until(_))));
    }
}
