//! What the asyncio operations' objects carry: a pipe the event loop watches, and operations
//! parked on a channel or queue.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use subinterpreters_core::{Notify, Payload, PendingRecv, PendingSend};

use super::{Sink, Source};

/// Both ends of a non-blocking pipe, closed when the notifier and every parked operation that
/// may still signal it are gone.
pub(crate) struct Pipe {
    pub(crate) read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    pub(crate) fn new() -> std::io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into `fds` on success.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just opened for us and are owned by nobody else.
        let pipe = unsafe { Pipe { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) } };
        for fd in [pipe.read.as_raw_fd(), pipe.write.as_raw_fd()] {
            // SAFETY: fcntl on descriptors we own, setting flags only (pipe2 is Linux-only).
            let ok = unsafe {
                libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) == 0
                    && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(pipe)
    }

    /// Makes the read end readable. A full pipe is readable already, so a failed write is fine.
    fn signal(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live buffer to a descriptor we own; never blocks.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), (&byte as *const u8).cast(), 1) };
    }

    /// Empties the pipe.
    pub(crate) fn drain(&self) {
        let mut buffer = [0u8; 256];
        // SAFETY: reads into a live buffer of that size from a non-blocking descriptor we own.
        while unsafe { libc::read(self.read.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) } > 0 {}
    }
}

/// What an `_AsyncNotifier` object carries.
pub(crate) struct NotifierObject(pub(crate) Arc<Pipe>);

impl NotifierObject {
    pub(crate) fn notify(&self) -> Notify {
        let pipe = self.0.clone();
        Arc::new(move || pipe.signal())
    }
}

/// An operation parked for an asyncio awaitable.
pub(crate) enum Parked {
    /// A receive, with where its item goes back if it cannot be delivered.
    Recv(PendingRecv<Payload>, Box<dyn Source>),
    /// A send, with where it was sent (for its errors).
    Send(PendingSend<Payload>, Box<dyn Sink>),
}

/// What a `_PendingOp` object carries: the parked operation, until it is settled, and when its
/// timeout passes (`None`: never).
pub(crate) struct PendingOpObject {
    pub(crate) parked: RefCell<Option<Parked>>,
    pub(crate) deadline: Option<Instant>,
}

impl Drop for PendingOpObject {
    fn drop(&mut self) {
        // Garbage-collected unsettled: withdraw, and put back what a receive was handed.
        if let Some(Parked::Recv(pending, _)) = self.parked.get_mut().take() {
            pending.cancel_and_requeue();
        }
    }
}
