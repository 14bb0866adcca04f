//! Helpers shared by the std-thread integration tests (not compiled under `--cfg loom`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Generous upper bound for anything a test waits for: only reached if the code under test hangs.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A deadline `ms` milliseconds from now.
pub fn in_ms(ms: u64) -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(ms))
}

/// Deadline for a call made on the test's own thread that must return at once or after a peer
/// acts: a bug then fails the test after [`PATIENCE`] instead of hanging it for ever.
pub fn patient() -> Option<Instant> {
    Some(Instant::now() + PATIENCE)
}

/// Waits (politely) until `cond` holds; panics after [`PATIENCE`]: a hang, not a slow machine.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < give_up, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Joins a thread, failing the test (instead of hanging for ever) if it does not finish within
/// [`PATIENCE`]: a blocked call that is never woken shows up as a failure, not a stuck run.
pub fn join<T: Send + 'static>(handle: thread::JoinHandle<T>) -> T {
    wait_for("thread to finish", || handle.is_finished());
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// An item that counts its drops, to prove that nothing is lost or dropped twice.
#[derive(Debug)]
pub struct Tracked {
    pub id: u64,
    drops: Arc<AtomicUsize>,
}

impl Tracked {
    pub fn new(id: u64, drops: &Arc<AtomicUsize>) -> Self {
        Tracked { id, drops: drops.clone() }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn drops() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn count(drops: &Arc<AtomicUsize>) -> usize {
    drops.load(Ordering::SeqCst)
}
