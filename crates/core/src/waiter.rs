//! The meeting point between a blocked operation and the peer that completes it.
//!
//! A blocked operation registers an `Arc<Waiter>` on a channel or queue (a `select` registers the
//! same waiter on several, each registration with its case index) and parks on it. A peer,
//! holding that channel's or queue's lock, calls [`Waiter::complete`] with the case it serves;
//! the owner may instead [`Waiter::abort`] (deadline, Ctrl-C, cancellation). Exactly one
//! completion or abort wins, decided under the waiter's own mutex, so an item is either handed
//! over or stays with its sender: never both, never neither, and a select completes exactly one
//! case. This is crossbeam-channel's `Context::try_select` reduced to a mutex and a condvar,
//! which loom can model.
//!
//! Lock order: a channel's or queue's lock may be held while taking a waiter's lock, never the
//! reverse.

use std::time::Instant;

use crate::sync::{lock, wait, wait_timeout, AtomicBool, Condvar, Mutex};
use std::sync::atomic::Ordering;

/// How a blocked operation ended, as decided by the peer that completed it.
pub(crate) enum Outcome<T> {
    /// A receiver got this item, which carries its place in the channel's order (its ticket), so
    /// that a receiver that cannot keep it puts it back exactly where it was.
    Received { ticket: u64, item: T },
    /// A sender's item was taken by a receiver.
    Sent,
    /// The channel closed under the operation; a sender gets its item back.
    Closed(Option<T>),
}

/// A completed wait: which registration (case) completed it, and how.
pub(crate) struct Completion<T> {
    pub(crate) case: usize,
    pub(crate) outcome: Outcome<T>,
}

enum Phase<T> {
    Waiting,
    Aborted,
    Done(Completion<T>),
    Collected,
}

struct Slot<T> {
    phase: Phase<T>,
    /// The owner sleeps on the condvar: only then does a completion need a (system-call) wake-up.
    parked: bool,
    /// The CPU the completing peer ran on, to tell whether spinning could have met it.
    completer_cpu: Option<usize>,
}

pub(crate) struct Waiter<T> {
    slot: Mutex<Slot<T>>,
    wake: Condvar,
    /// Set once the phase is `Done`: lets the owner spin without taking the lock.
    done: AtomicBool,
    /// Told of the completion too, for an owner that does not block on the condvar (an event
    /// loop watching a file descriptor). Runs under the exchange's and the waiter's locks: it
    /// must only signal (e.g. write a byte to a non-blocking pipe), never lock or block.
    notify: Option<Notify>,
}

/// A completion signal for owners that do not block (see [`Waiter`]'s `notify`).
pub type Notify = std::sync::Arc<dyn Fn() + Send + Sync>;

impl<T> Waiter<T> {
    pub(crate) fn new() -> Self {
        Self::notifying(None)
    }

    /// A waiter whose completion also calls `notify`.
    pub(crate) fn notifying(notify: Option<Notify>) -> Self {
        Waiter {
            slot: Mutex::new(Slot { phase: Phase::Waiting, parked: false, completer_cpu: None }),
            wake: Condvar::new(),
            done: AtomicBool::new(false),
            notify,
        }
    }

    /// Completes the waiter through its registration `case` if its owner is still waiting;
    /// otherwise hands `outcome` back.
    pub(crate) fn complete(&self, case: usize, outcome: Outcome<T>) -> Result<(), Outcome<T>> {
        let mut slot = lock(&self.slot);
        if !matches!(slot.phase, Phase::Waiting) {
            return Err(outcome);
        }
        slot.phase = Phase::Done(Completion { case, outcome });
        slot.completer_cpu = current_cpu();
        self.done.store(true, Ordering::Release);
        if slot.parked {
            self.wake.notify_one();
        }
        if let Some(notify) = &self.notify {
            notify();
        }
        Ok(())
    }

    /// Waits until a peer completes the operation or `deadline` passes (`None`: no deadline).
    /// Returns `None` on expiry; the waiter stays registered, so the owner may wait again or
    /// [`abort`](Self::abort). With `spin`, polls the completion flag for a few microseconds
    /// before parking: a peer that answers at once is then met without a system call.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>, spin: bool) -> Option<Completion<T>> {
        if spin {
            spin_until(|| self.done.load(Ordering::Acquire), deadline);
        }
        let mut slot = lock(&self.slot);
        loop {
            if let Some(outcome) = take_done(&mut slot.phase) {
                learn_from_peer(slot.completer_cpu);
                return Some(outcome);
            }
            if !matches!(slot.phase, Phase::Waiting) {
                return None;
            }
            slot.parked = true;
            slot = match deadline {
                None => wait(&self.wake, slot),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        slot.parked = false;
                        return None;
                    }
                    wait_timeout(&self.wake, slot, deadline - now)
                }
            };
            slot.parked = false;
        }
    }

    /// True once a peer completed the operation (its outcome is ready to collect).
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Ends the wait from the owner's side. Returns `None` if the abort won (no peer will complete
    /// the operation any more), or the outcome a peer already delivered.
    pub(crate) fn abort(&self) -> Option<Completion<T>> {
        let mut slot = lock(&self.slot);
        if matches!(slot.phase, Phase::Waiting) {
            slot.phase = Phase::Aborted;
            return None;
        }
        take_done(&mut slot.phase)
    }
}

fn take_done<T>(phase: &mut Phase<T>) -> Option<Completion<T>> {
    if !matches!(phase, Phase::Done(_)) {
        return None;
    }
    match std::mem::replace(phase, Phase::Collected) {
        Phase::Done(completion) => Some(completion),
        _ => unreachable!("checked above"),
    }
}

#[cfg(not(loom))]
thread_local! {
    /// Whether this thread's last wait was completed by a peer on another CPU. When the peer
    /// shares our CPU (more runnable threads than cores), busy-spinning only delays it: then the
    /// next wait yields the core at once instead.
    static PEER_ON_OTHER_CPU: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// The CPU the calling thread runs on, where the platform tells.
#[cfg(all(target_os = "linux", not(loom)))]
fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions; it returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

#[cfg(not(all(target_os = "linux", not(loom))))]
fn current_cpu() -> Option<usize> {
    None
}

#[cfg(not(loom))]
fn learn_from_peer(completer_cpu: Option<usize>) {
    let shared = completer_cpu.is_some() && completer_cpu == current_cpu();
    PEER_ON_OTHER_CPU.with(|other| other.set(!shared));
}

#[cfg(loom)]
fn learn_from_peer(_completer_cpu: Option<usize>) {}

/// Spins before parking: busily only when the last peer ran on another CPU.
fn spin_until(done: impl Fn() -> bool, deadline: Option<Instant>) {
    crate::spin::spin_until(done, peer_on_other_cpu(), crate::spin::SPIN_BUDGET, deadline);
}

/// True when the last peer ran on another CPU: a short busy wait for it can pay (when it shares
/// this CPU, busy-waiting only delays it).
#[cfg(not(loom))]
pub(crate) fn peer_on_other_cpu() -> bool {
    PEER_ON_OTHER_CPU.with(|other| other.get())
}

#[cfg(loom)]
pub(crate) fn peer_on_other_cpu() -> bool {
    false
}
