//! Locks, semaphores, events, conditions and barriers shared by threads of any interpreters,
//! with the semantics of Python's `threading` counterparts.
//!
//! Each primitive keeps its state and a FIFO of parked [`Waiter`]s under one mutex; whoever makes
//! progress possible (a release, a set, a notify, the last arrival) completes waiters directly —
//! a semaphore hands its permits to waiters in arrival order, so no one is overtaken. Blocking
//! operations are two-phase, like channel operations: `start_*` either succeeds at once or returns
//! a [`PendingGrant`] that the caller waits on (with the GIL released, in slices for signals) or
//! cancels. Cancelling never loses a grant: a permit handed over meanwhile is either kept (the
//! caller proceeds as if it had not timed out) or given back.

use std::collections::VecDeque;
use std::time::Instant;

use crate::sync::{lock, Arc, Mutex};
use crate::waiter::{Completion, Outcome, Waiter};

/// What a primitive's waiter is completed with: granted (`Received`) or refused (`Closed`).
fn granted() -> Outcome<()> {
    Outcome::Received { ticket: 0, item: () }
}

fn refused() -> Outcome<()> {
    Outcome::Closed(None)
}

fn is_grant(completion: &Completion<()>) -> bool {
    matches!(completion.outcome, Outcome::Received { .. })
}

/// Completes waiters from the front of `waiters` with `outcome`, skipping those giving up, until
/// `count` were completed; returns how many were.
fn complete_front(waiters: &mut VecDeque<Arc<Waiter<()>>>, mut count: usize, outcome: fn() -> Outcome<()>) -> usize {
    let mut done = 0;
    while count > 0 {
        let Some(waiter) = waiters.pop_front() else { break };
        if waiter.complete(0, outcome()).is_ok() {
            done += 1;
            count -= 1;
        }
    }
    done
}

/// Why a wait is withdrawn: it matters to a barrier.
#[derive(Clone, Copy)]
enum Leaving {
    TimedOut,
    Interrupted,
}

/// A parked acquire, event wait or barrier wait.
pub struct PendingGrant {
    waiter: Arc<Waiter<()>>,
    on: Parked,
    spun: bool,
    /// The outcome was collected, or the wait was given up: dropping it changes nothing more.
    settled: bool,
}

enum Parked {
    Semaphore(Arc<Semaphore>),
    Event(Arc<Event>),
    Barrier(Arc<Barrier>),
    Condition(Arc<Condition>),
}

impl PendingGrant {
    fn new(waiter: Arc<Waiter<()>>, on: Parked) -> Self {
        PendingGrant { waiter, on, spun: false, settled: false }
    }

    /// Waits until the grant or refusal comes or `deadline` passes (`None`: for ever). `Some(true)`
    /// granted, `Some(false)` refused (a broken barrier), `None` if the deadline came first (the
    /// wait stays parked, to be waited on again or cancelled).
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> Option<bool> {
        let spin = !std::mem::replace(&mut self.spun, true);
        let outcome = self.waiter.wait_until(deadline, spin).map(|completion| is_grant(&completion));
        self.settled |= outcome.is_some();
        outcome
    }

    /// Gives up after a deadline: `Some(granted)` if the outcome came meanwhile (a semaphore
    /// permit then stays with the caller), `None` if the wait was withdrawn. A barrier wait that
    /// times out breaks the barrier, as `threading.Barrier` does.
    pub fn cancel(mut self) -> Option<bool> {
        self.settled = true;
        if let Parked::Barrier(barrier) = &self.on {
            return self.leave_barrier(barrier, Leaving::TimedOut);
        }
        match self.waiter.abort() {
            Some(completion) => Some(is_grant(&completion)),
            None => {
                self.withdraw();
                None
            }
        }
    }

    /// A barrier party gives up. The abort happens under the barrier's lock (barrier before
    /// waiter, the order everywhere): otherwise a party arriving between the abort and the
    /// withdrawal would trip a round that still counts the leaving party, letting the others
    /// pass while this one reports a broken barrier that nobody broke.
    fn leave_barrier(&self, barrier: &Barrier, why: Leaving) -> Option<bool> {
        let mut state = lock(&barrier.state);
        if let Some(completion) = self.waiter.abort() {
            return Some(is_grant(&completion));
        }
        let listed = state.waiters.len();
        state.waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
        // Not listed any more: its round already ended (reset or broken) before the abort, so
        // this party no longer counts in any round.
        if state.waiters.len() < listed {
            match why {
                Leaving::TimedOut => state.break_barrier(),
                Leaving::Interrupted => state.arrived -= 1,
            }
        }
        None
    }

    /// Gives up because the caller is raising: a permit granted meanwhile is given back; a
    /// barrier party just leaves, as an interrupted `threading.Barrier.wait` does.
    pub fn abandon(mut self) {
        self.settled = true;
        self.abandon_in_place();
    }

    fn abandon_in_place(&self) {
        if let Parked::Barrier(barrier) = &self.on {
            self.leave_barrier(barrier, Leaving::Interrupted);
            return;
        }
        match self.waiter.abort() {
            Some(completion) if is_grant(&completion) => {
                if let Parked::Semaphore(semaphore) = &self.on {
                    // Cannot exceed the bound: this permit was taken from the count.
                    let _ = semaphore.release(1);
                }
            }
            Some(_) => {}
            None => self.withdraw(),
        }
    }

    fn withdraw(&self) {
        let retain = |waiters: &mut VecDeque<Arc<Waiter<()>>>| waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
        match &self.on {
            Parked::Semaphore(semaphore) => retain(&mut lock(&semaphore.state).waiters),
            Parked::Event(event) => retain(&mut lock(&event.state).waiters),
            Parked::Condition(condition) => retain(&mut lock(&condition.waiters)),
            Parked::Barrier(_) => unreachable!("barrier parties leave through leave_barrier"),
        }
    }
}

impl Drop for PendingGrant {
    /// A wait dropped unsettled (its owner is unwinding) is abandoned: it leaves the waiters'
    /// list, and a semaphore permit it was handed goes back rather than vanishing with it.
    fn drop(&mut self) {
        if !self.settled {
            self.abandon_in_place();
        }
    }
}

// ---- semaphores and locks -----------------------------------------------------------------------

/// A counting semaphore, optionally bounded. A `Lock` is a semaphore with one permit and a bound
/// of one.
pub struct Semaphore {
    state: Mutex<SemaphoreState>,
    bound: Option<usize>,
}

struct SemaphoreState {
    permits: usize,
    waiters: VecDeque<Arc<Waiter<()>>>,
}

/// A release would raise the count above the bound; nothing was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyReleases;

impl Semaphore {
    /// A semaphore with `permits` permits; with `bound`, releases beyond it are refused.
    pub fn new(permits: usize, bound: Option<usize>) -> Self {
        Semaphore { state: Mutex::new(SemaphoreState { permits, waiters: VecDeque::new() }), bound }
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> bool {
        let mut state = lock(&self.state);
        if state.permits > 0 {
            state.permits -= 1;
            true
        } else {
            false
        }
    }

    /// Takes a permit, or parks until one is handed over. (An associated function: loom's `Arc`
    /// cannot be a method receiver.)
    pub fn start_acquire(semaphore: &Arc<Semaphore>) -> Result<(), PendingGrant> {
        let mut state = lock(&semaphore.state);
        if state.permits > 0 {
            state.permits -= 1;
            return Ok(());
        }
        let waiter = Arc::new(Waiter::new());
        state.waiters.push_back(waiter.clone());
        Err(PendingGrant::new(waiter, Parked::Semaphore(semaphore.clone())))
    }

    /// Releases `n` permits: handed to parked acquirers first, in arrival order, the rest counted.
    /// Refused as a whole if it would exceed the bound.
    pub fn release(&self, n: usize) -> Result<(), TooManyReleases> {
        let mut state = lock(&self.state);
        if let Some(bound) = self.bound {
            if state.permits + n > bound {
                return Err(TooManyReleases);
            }
        }
        let handed = complete_front(&mut state.waiters, n, granted);
        state.permits = state.permits.saturating_add(n - handed);
        Ok(())
    }

    /// Free permits now.
    pub fn value(&self) -> usize {
        lock(&self.state).permits
    }
}

/// Who holds an `RLock`: an interpreter id and a thread id.
pub type Owner = (i64, u64);

/// A reentrant lock: its owner may acquire it again; only its owner may release it.
pub struct RLock {
    semaphore: Arc<Semaphore>,
    /// The owner and how many times it acquired; `None` when free.
    holder: Mutex<Option<(Owner, usize)>>,
}

/// The caller does not hold the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotOwner;

impl Default for RLock {
    fn default() -> Self {
        Self::new()
    }
}

impl RLock {
    /// A free reentrant lock.
    pub fn new() -> Self {
        RLock { semaphore: Arc::new(Semaphore::new(1, Some(1))), holder: Mutex::new(None) }
    }

    /// Acquires again if `owner` holds the lock (returns true), else does nothing (false).
    pub fn try_reenter(&self, owner: Owner) -> bool {
        let mut holder = lock(&self.holder);
        match holder.as_mut() {
            Some((held_by, count)) if *held_by == owner => {
                *count += 1;
                true
            }
            _ => false,
        }
    }

    /// The semaphore a new owner acquires; then [`became_owner`](Self::became_owner).
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }

    /// Records `owner` after it took the semaphore, with `count` acquisitions.
    pub fn became_owner(&self, owner: Owner, count: usize) {
        *lock(&self.holder) = Some((owner, count));
    }

    /// Releases one acquisition by `owner`; frees the lock after the last.
    pub fn release(&self, owner: Owner) -> Result<(), NotOwner> {
        let mut holder = lock(&self.holder);
        match holder.as_mut() {
            Some((held_by, count)) if *held_by == owner => {
                *count -= 1;
                if *count == 0 {
                    *holder = None;
                    drop(holder);
                    self.semaphore.release(1).expect("a held lock has no free permit");
                }
                Ok(())
            }
            _ => Err(NotOwner),
        }
    }

    /// Releases every acquisition by `owner` at once and returns how many there were (for
    /// `Condition.wait`, which must free the lock entirely).
    pub fn release_all(&self, owner: Owner) -> Result<usize, NotOwner> {
        let mut holder = lock(&self.holder);
        match *holder {
            Some((held_by, count)) if held_by == owner => {
                *holder = None;
                drop(holder);
                self.semaphore.release(1).expect("a held lock has no free permit");
                Ok(count)
            }
            _ => Err(NotOwner),
        }
    }

    /// True if `owner` holds the lock.
    pub fn is_owned_by(&self, owner: Owner) -> bool {
        matches!(*lock(&self.holder), Some((held_by, _)) if held_by == owner)
    }
}

// ---- events -------------------------------------------------------------------------------------

/// A flag that threads wait for.
pub struct Event {
    state: Mutex<EventState>,
}

struct EventState {
    flag: bool,
    waiters: VecDeque<Arc<Waiter<()>>>,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// An event, not set.
    pub fn new() -> Self {
        Event { state: Mutex::new(EventState { flag: false, waiters: VecDeque::new() }) }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut state = lock(&self.state);
        state.flag = true;
        let count = state.waiters.len();
        complete_front(&mut state.waiters, count, granted);
    }

    /// Clears the flag.
    pub fn clear(&self) {
        lock(&self.state).flag = false;
    }

    /// The flag.
    pub fn is_set(&self) -> bool {
        lock(&self.state).flag
    }

    /// Returns at once if the flag is set, else parks until it is.
    pub fn start_wait(event: &Arc<Event>) -> Result<(), PendingGrant> {
        let mut state = lock(&event.state);
        if state.flag {
            return Ok(());
        }
        let waiter = Arc::new(Waiter::new());
        state.waiters.push_back(waiter.clone());
        Err(PendingGrant::new(waiter, Parked::Event(event.clone())))
    }
}

// ---- conditions ---------------------------------------------------------------------------------

/// The waiting half of a condition variable. The lock half (a `Lock` or `RLock`) stays with the
/// caller, who releases it after [`Condition::start_wait`] registered the waiter (so no notify can
/// be missed) and takes it again once woken.
pub struct Condition {
    waiters: Mutex<VecDeque<Arc<Waiter<()>>>>,
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

impl Condition {
    /// A condition with no waiters.
    pub fn new() -> Self {
        Condition { waiters: Mutex::new(VecDeque::new()) }
    }

    /// Registers a waiter; the caller then releases the lock and waits on the result.
    pub fn start_wait(condition: &Arc<Condition>) -> PendingGrant {
        let waiter = Arc::new(Waiter::new());
        lock(&condition.waiters).push_back(waiter.clone());
        PendingGrant::new(waiter, Parked::Condition(condition.clone()))
    }

    /// Wakes up to `n` waiters, oldest first; returns how many.
    pub fn notify(&self, n: usize) -> usize {
        complete_front(&mut lock(&self.waiters), n, granted)
    }

    /// Wakes every waiter; returns how many.
    pub fn notify_all(&self) -> usize {
        let mut waiters = lock(&self.waiters);
        let count = waiters.len();
        complete_front(&mut waiters, count, granted)
    }
}

// ---- barriers -----------------------------------------------------------------------------------

/// A barrier for a fixed number of parties, reusable, that can be broken.
pub struct Barrier {
    parties: usize,
    state: Mutex<BarrierState>,
}

struct BarrierState {
    /// Parties waiting in the current round.
    arrived: usize,
    broken: bool,
    waiters: VecDeque<Arc<Waiter<()>>>,
}

/// The barrier is broken (or was reset while the caller waited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrier;

impl BarrierState {
    fn break_barrier(&mut self) {
        self.broken = true;
        self.arrived = 0;
        let count = self.waiters.len();
        complete_front(&mut self.waiters, count, refused);
    }
}

impl Barrier {
    /// A barrier for `parties` parties (at least 1).
    pub fn new(parties: usize) -> Self {
        Barrier { parties, state: Mutex::new(BarrierState { arrived: 0, broken: false, waiters: VecDeque::new() }) }
    }

    /// The number of parties.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Parties waiting now.
    pub fn n_waiting(&self) -> usize {
        lock(&self.state).arrived
    }

    /// True if the barrier is broken.
    pub fn broken(&self) -> bool {
        lock(&self.state).broken
    }

    /// Arrives at the barrier with arrival index `Ok(index)`: the last party releases everyone
    /// and returns `Ok((index, None))`; the others get a [`PendingGrant`] to wait on (granted:
    /// passed; refused: broken).
    pub fn start_wait(barrier: &Arc<Barrier>) -> Result<(usize, Option<PendingGrant>), BrokenBarrier> {
        let mut state = lock(&barrier.state);
        if state.broken {
            return Err(BrokenBarrier);
        }
        let index = state.arrived;
        state.arrived += 1;
        if state.arrived == barrier.parties {
            state.arrived = 0;
            let count = state.waiters.len();
            complete_front(&mut state.waiters, count, granted);
            return Ok((index, None));
        }
        let waiter = Arc::new(Waiter::new());
        state.waiters.push_back(waiter.clone());
        Ok((index, Some(PendingGrant::new(waiter, Parked::Barrier(barrier.clone())))))
    }

    /// Breaks the barrier: every waiter, now and later (until [`reset`](Self::reset)), fails.
    pub fn abort(&self) {
        lock(&self.state).break_barrier();
    }

    /// Returns the barrier to its initial state; parties waiting fail with a broken barrier.
    pub fn reset(&self) {
        let mut state = lock(&self.state);
        state.break_barrier();
        state.broken = false;
    }
}

// ---- sharing --------------------------------------------------------------------------------------

/// A primitive as it crosses interpreters (the same shared object on the other side).
#[derive(Clone)]
pub enum SharedPrimitive {
    /// `threading.Lock`.
    Lock(Arc<Semaphore>),
    /// `threading.RLock`.
    RLock(Arc<RLock>),
    /// `threading.Semaphore`.
    Semaphore(Arc<Semaphore>),
    /// `threading.BoundedSemaphore`.
    BoundedSemaphore(Arc<Semaphore>),
    /// `threading.Event`.
    Event(Arc<Event>),
    /// `threading.Condition`, with its lock.
    Condition(Arc<Condition>, ConditionLock),
    /// `threading.Barrier`, with its default timeout in seconds.
    Barrier(Arc<Barrier>, Option<f64>),
}

/// The lock of a condition.
#[derive(Clone)]
pub enum ConditionLock {
    /// A `Lock`.
    Lock(Arc<Semaphore>),
    /// An `RLock`.
    RLock(Arc<RLock>),
}

impl SharedPrimitive {
    /// The address of the shared primitive: its identity, for equality and hashing.
    pub fn identity(&self) -> usize {
        match self {
            SharedPrimitive::Lock(p) | SharedPrimitive::Semaphore(p) | SharedPrimitive::BoundedSemaphore(p) => {
                Arc::as_ptr(p) as usize
            }
            SharedPrimitive::RLock(p) => Arc::as_ptr(p) as usize,
            SharedPrimitive::Event(p) => Arc::as_ptr(p) as usize,
            SharedPrimitive::Condition(p, _) => Arc::as_ptr(p) as usize,
            SharedPrimitive::Barrier(p, _) => Arc::as_ptr(p) as usize,
        }
    }
}

/// A [`SharedPrimitive`] that does not keep it alive (see [`crate::weak_ids`]); not under loom,
/// whose `Arc` has no weak references.
#[cfg(not(loom))]
pub struct WeakPrimitive(WeakShape);

#[cfg(not(loom))]
enum WeakShape {
    Lock(std::sync::Weak<Semaphore>),
    RLock(std::sync::Weak<RLock>),
    Semaphore(std::sync::Weak<Semaphore>),
    BoundedSemaphore(std::sync::Weak<Semaphore>),
    Event(std::sync::Weak<Event>),
    Condition(std::sync::Weak<Condition>, WeakConditionLock),
    Barrier(std::sync::Weak<Barrier>, Option<f64>),
}

#[cfg(not(loom))]
enum WeakConditionLock {
    Lock(std::sync::Weak<Semaphore>),
    RLock(std::sync::Weak<RLock>),
}

#[cfg(not(loom))]
impl SharedPrimitive {
    /// A weak handle, and the primitive's identity for [`crate::WeakIds`].
    pub fn downgrade(&self) -> (usize, WeakPrimitive) {
        use std::sync::Arc as StdArc;
        let shape = match self {
            SharedPrimitive::Lock(p) => WeakShape::Lock(StdArc::downgrade(p)),
            SharedPrimitive::RLock(p) => WeakShape::RLock(StdArc::downgrade(p)),
            SharedPrimitive::Semaphore(p) => WeakShape::Semaphore(StdArc::downgrade(p)),
            SharedPrimitive::BoundedSemaphore(p) => WeakShape::BoundedSemaphore(StdArc::downgrade(p)),
            SharedPrimitive::Event(p) => WeakShape::Event(StdArc::downgrade(p)),
            SharedPrimitive::Condition(p, lock) => WeakShape::Condition(
                StdArc::downgrade(p),
                match lock {
                    ConditionLock::Lock(l) => WeakConditionLock::Lock(StdArc::downgrade(l)),
                    ConditionLock::RLock(l) => WeakConditionLock::RLock(StdArc::downgrade(l)),
                },
            ),
            SharedPrimitive::Barrier(p, timeout) => WeakShape::Barrier(StdArc::downgrade(p), *timeout),
        };
        (self.identity(), WeakPrimitive(shape))
    }
}

#[cfg(not(loom))]
impl crate::weak_ids::WeakRef for WeakPrimitive {
    type Strong = SharedPrimitive;
    type Identity = usize;
    fn upgrade(&self) -> Option<SharedPrimitive> {
        Some(match &self.0 {
            WeakShape::Lock(p) => SharedPrimitive::Lock(p.upgrade()?),
            WeakShape::RLock(p) => SharedPrimitive::RLock(p.upgrade()?),
            WeakShape::Semaphore(p) => SharedPrimitive::Semaphore(p.upgrade()?),
            WeakShape::BoundedSemaphore(p) => SharedPrimitive::BoundedSemaphore(p.upgrade()?),
            WeakShape::Event(p) => SharedPrimitive::Event(p.upgrade()?),
            WeakShape::Condition(p, lock) => SharedPrimitive::Condition(
                p.upgrade()?,
                match lock {
                    WeakConditionLock::Lock(l) => ConditionLock::Lock(l.upgrade()?),
                    WeakConditionLock::RLock(l) => ConditionLock::RLock(l.upgrade()?),
                },
            ),
            WeakShape::Barrier(p, timeout) => SharedPrimitive::Barrier(p.upgrade()?, *timeout),
        })
    }
}

impl std::fmt::Debug for SharedPrimitive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedPrimitive({:#x})", self.identity())
    }
}
