//! [`Demand`]: how many threads are waiting to take something that another thread holds.
//!
//! The binding keeps one per interpreter for its GIL. A thread that comes back from blocking or
//! from another interpreter says it wants the GIL while it waits to take it again; a thread that
//! holds the GIL through a long piece of native work (building a large value) looks at the
//! count now and then, and lets go only when someone waits, until one of them has it. CPython
//! itself would make such a waiter wait a whole switch interval (5 ms) before it even asks.

use std::time::Duration;
#[cfg(not(loom))]
use std::time::Instant;

use crate::sync::AtomicUsize;
use std::sync::atomic::Ordering;

/// A count of threads waiting to take a resource held by another, and of the wishes that ended
/// (the resource was taken).
#[derive(Debug)]
pub struct Demand {
    waiting: AtomicUsize,
    served: AtomicUsize,
}

/// One thread's wish, counted until this is dropped (once the thread has taken the resource, or
/// given up).
#[derive(Debug)]
#[must_use = "the wish ends when this is dropped"]
pub struct Wanting<'a>(&'a Demand);

impl Demand {
    /// No one waiting.
    #[cfg(not(loom))]
    pub const fn new() -> Demand {
        Demand { waiting: AtomicUsize::new(0), served: AtomicUsize::new(0) }
    }

    /// No one waiting.
    #[cfg(loom)]
    pub fn new() -> Demand {
        Demand { waiting: AtomicUsize::new(0), served: AtomicUsize::new(0) }
    }

    /// Counts the calling thread as waiting until the returned value is dropped.
    pub fn want(&self) -> Wanting<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Wanting(self)
    }

    /// How many threads wait now (a hint: it may change at once).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// How many wishes have ended so far: read by the holder before it lets go, for
    /// [`wait_served`](Demand::wait_served).
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    /// Called by the holder after letting go, with [`served`](Demand::served) read before: waits
    /// until a wish has ended since (a waiter has taken it) or `patience` has passed. True if one
    /// did.
    pub fn wait_served(&self, served: usize, patience: Duration) -> bool {
        #[cfg(not(loom))]
        let deadline = Instant::now() + patience;
        #[cfg(loom)]
        let mut tries = patience.as_micros().clamp(1, 3);
        loop {
            if self.served.load(Ordering::SeqCst) != served {
                return true;
            }
            #[cfg(not(loom))]
            {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::yield_now();
            }
            #[cfg(loom)]
            {
                tries -= 1;
                if tries == 0 {
                    return false;
                }
                loom::thread::yield_now();
            }
        }
    }
}

impl Default for Demand {
    fn default() -> Demand {
        Demand::new()
    }
}

impl Drop for Wanting<'_> {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::SeqCst);
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn counts_each_wish_until_it_is_dropped() {
        let demand = Demand::new();
        assert_eq!(demand.waiting(), 0);
        let first = demand.want();
        let second = demand.want();
        assert_eq!(demand.waiting(), 2);
        drop(first);
        assert_eq!(demand.waiting(), 1);
        drop(second);
        assert_eq!(demand.waiting(), 0);
    }

    #[test]
    fn wait_served_gives_up_after_its_patience_when_no_one_takes_it() {
        let demand = Demand::new();
        let _wish = demand.want();
        let served = demand.served();
        let start = Instant::now();
        assert!(!demand.wait_served(served, Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn wait_served_returns_once_a_waiter_has_taken_it_even_if_another_came_meanwhile() {
        let demand = Arc::new(Demand::new());
        let barrier = Arc::new(Barrier::new(2));
        let served = demand.served();
        let waiter = {
            let (demand, barrier) = (demand.clone(), barrier.clone());
            std::thread::spawn(move || {
                let first = demand.want();
                barrier.wait();
                let _second = demand.want(); // still waiting when the first is served
                std::thread::sleep(Duration::from_millis(5));
                drop(first); // taken
                std::thread::sleep(Duration::from_millis(50));
            })
        };
        barrier.wait();
        assert!(demand.wait_served(served, Duration::from_secs(3600)));
        waiter.join().unwrap();
        assert_eq!(demand.waiting(), 0);
        assert_eq!(demand.served(), served + 2);
    }
}
