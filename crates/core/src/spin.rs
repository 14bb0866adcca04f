//! Spinning before sleeping: a waiter whose peer answers within microseconds meets it without the
//! system calls of a sleep and a wake-up (tens of microseconds on a virtual machine when the two
//! threads run on different CPUs). Bounded, so an idle waiter never burns its core.

use std::time::{Duration, Instant};

/// How long a waiter spins before it sleeps, unless told otherwise.
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(50);
/// Busy iterations (CPU pause hints, ~25 ns each) before the spin starts yielding the core.
const BUSY_SPINS: u32 = 128;

/// Spins until `done` or for `patience` (never past `deadline`): first busily (if `busy`: not
/// when the peer shares this CPU, where it would only delay the peer), then yielding the core.
/// Returns whether `done` was seen.
#[cfg(not(loom))]
pub(crate) fn spin_until(done: impl Fn() -> bool, busy: bool, patience: Duration, deadline: Option<Instant>) -> bool {
    if busy && spin_busily(&done) {
        return true;
    }
    let mut stop = Instant::now() + patience;
    if let Some(deadline) = deadline {
        stop = stop.min(deadline);
    }
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= stop {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Under loom: does not look (spinning only multiplies the interleavings; the sleeping path is
/// what must be right).
#[cfg(loom)]
pub(crate) fn spin_until(
    _done: impl Fn() -> bool,
    _busy: bool,
    _patience: Duration,
    _deadline: Option<Instant>,
) -> bool {
    let _ = BUSY_SPINS;
    false
}

/// Busy-spins until `done` or for [`BUSY_SPINS`] iterations; returns whether `done` was seen.
#[cfg(not(loom))]
pub(crate) fn spin_busily(done: impl Fn() -> bool) -> bool {
    for _ in 0..BUSY_SPINS {
        if done() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// Under loom: does not look (as [`spin_until`]).
#[cfg(loom)]
pub(crate) fn spin_busily(_done: impl Fn() -> bool) -> bool {
    false
}
