//! [`TaskQueue`]: a pool's queue of tasks for its worker threads, with the stop signals that end
//! them, in one FIFO order (`concurrent.futures`' work queue, where `None` is the stop signal).
//!
//! A worker waits for its next task without holding any interpreter's GIL, so the thread that
//! submits keeps its own and the worker needs it only to hand the outcome over. An idle worker
//! spins a few microseconds before it sleeps (one at a time: the others sleep at once), so a
//! task submitted right after the last one finished is met without a sleep and a wake-up, whose
//! system calls cost tens of microseconds on a virtual machine when the two threads run on
//! different CPUs. A worker that has just timed a few short tasks of one `map` call takes the
//! ones queued behind them in one go, while every worker is busy and a backlog builds up (see
//! [`Pace`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::spin::SPIN_BUDGET;
use crate::sync::{lock, wait, wait_timeout, AtomicUsize, Condvar, Mutex};
use std::sync::atomic::Ordering;

/// A task's group: the `map` call it belongs to (0: none, a task given to `submit`).
pub trait Grouped {
    /// The task's group (0: none).
    fn group(&self) -> u64;
}

/// What a worker takes.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<T> {
    /// Tasks to run in this order: one, or several short ones of the same `map` call.
    Tasks(Vec<T>),
    /// A stop signal: the worker looks at why (shutdown, pool collected, exit).
    Stop,
}

enum Queued<T> {
    Task(T),
    Stop,
}

struct State<T> {
    entries: VecDeque<Queued<T>>,
    /// Takers asleep on the condvar.
    asleep: usize,
    /// Whether a taker is spinning (at most one). A put finding one, and no more entries than it
    /// can take, wakes no one: the spinner locks again before it sleeps, and finds the entry.
    spinning: bool,
    /// Takers that said they are coming back ([`TaskQueue::coming_back`]) and have not yet.
    returning: usize,
}

/// See the module.
pub struct TaskQueue<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    /// Entries queued, as of the last change (a hint read without the lock by a spinning taker).
    queued: AtomicUsize,
}

impl<T: Grouped> Default for TaskQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Grouped> TaskQueue<T> {
    /// An empty queue.
    pub fn new() -> TaskQueue<T> {
        TaskQueue {
            state: Mutex::new(State { entries: VecDeque::new(), asleep: 0, spinning: false, returning: 0 }),
            wake: Condvar::new(),
            queued: AtomicUsize::new(0),
        }
    }

    /// Queues a task.
    pub fn put(&self, task: T) {
        self.push(Queued::Task(task));
    }

    /// Queues a stop signal (behind the tasks queued already).
    pub fn put_stop(&self) {
        self.push(Queued::Stop);
    }

    fn push(&self, entry: Queued<T>) {
        let mut state = lock(&self.state);
        state.entries.push_back(entry);
        let queued = state.entries.len();
        self.queued.store(queued, Ordering::Release);
        if state.asleep > 0 && queued > usize::from(state.spinning) {
            self.wake.notify_one();
        }
    }

    /// Entries queued (tasks and stop signals).
    pub fn len(&self) -> usize {
        lock(&self.state).entries.len()
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takers waiting for an entry now (asleep or spinning), or about to (see
    /// [`coming_back`](Self::coming_back)).
    pub fn idle(&self) -> usize {
        let state = lock(&self.state);
        state.asleep + usize::from(state.spinning) + state.returning
    }

    /// A taker about to finish its last task says it is coming back for another: counted as idle
    /// from now on, so that whoever sees that task finished (and submits the next at once) knows
    /// a taker will be there, until its next [`take`](Self::take) with `back`.
    pub fn coming_back(&self) {
        lock(&self.state).returning += 1;
    }

    /// A taker that said it was [`coming_back`](Self::coming_back) leaves instead (an error on its
    /// way back, the process exiting): no longer counted idle.
    pub fn not_coming_back(&self) {
        let mut state = lock(&self.state);
        state.returning = state.returning.saturating_sub(1);
    }

    /// Takes every queued task out (a pool cancelling what has not started, or broken); the stop
    /// signals stay.
    pub fn drain(&self) -> Vec<T> {
        let mut state = lock(&self.state);
        let mut tasks = Vec::new();
        state.entries.retain_mut(|entry| match entry {
            Queued::Task(_) => {
                let Queued::Task(task) = std::mem::replace(entry, Queued::Stop) else { unreachable!() };
                tasks.push(task);
                false
            }
            Queued::Stop => true,
        });
        self.queued.store(state.entries.len(), Ordering::Release);
        tasks
    }

    /// Waits for the next entry until `deadline` (`None`: for ever); `None` if it passed first.
    /// `pace` is the taker's: with `workers` workers in the pool, it decides whether short tasks
    /// of one `map` call queued behind the first are taken with it. `back`: the taker said it was
    /// [`coming_back`](Self::coming_back), and now it is.
    pub fn take(&self, deadline: Option<Instant>, pace: &Pace, workers: usize, back: bool) -> Option<Entry<T>> {
        let mut state = lock(&self.state);
        if back {
            state.returning = state.returning.saturating_sub(1);
        }
        if let Some(entry) = self.pop(&mut state, pace, workers) {
            return Some(entry);
        }
        if !state.spinning {
            state.spinning = true;
            drop(state);
            crate::spin::spin_until(|| self.queued.load(Ordering::Acquire) > 0, true, SPIN_BUDGET, deadline);
            state = lock(&self.state);
            state.spinning = false;
        }
        loop {
            if let Some(entry) = self.pop(&mut state, pace, workers) {
                return Some(entry);
            }
            state.asleep += 1;
            state = match deadline {
                None => wait(&self.wake, state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.asleep -= 1;
                        return None;
                    }
                    wait_timeout(&self.wake, state, deadline - now)
                }
            };
            state.asleep -= 1;
        }
    }

    /// The next entry if one is queued now.
    pub fn try_take(&self, pace: &Pace, workers: usize) -> Option<Entry<T>> {
        let mut state = lock(&self.state);
        self.pop(&mut state, pace, workers)
    }

    fn pop(&self, state: &mut State<T>, pace: &Pace, workers: usize) -> Option<Entry<T>> {
        let first = match state.entries.pop_front()? {
            Queued::Stop => {
                self.queued.store(state.entries.len(), Ordering::Release);
                return Some(Entry::Stop);
            }
            Queued::Task(task) => task,
        };
        let group = first.group();
        let others_idle = state.asleep + usize::from(state.spinning);
        let more = pace.batch_extra(group, others_idle, state.entries.len(), workers);
        let mut tasks = vec![first];
        while tasks.len() <= more {
            match state.entries.front() {
                Some(Queued::Task(next)) if next.group() == group => {}
                _ => break,
            }
            let Some(Queued::Task(next)) = state.entries.pop_front() else { unreachable!("looked at above") };
            tasks.push(next);
        }
        self.queued.store(state.entries.len(), Ordering::Release);
        Some(Entry::Tasks(tasks))
    }
}

/// A worker's recent pace: how long its last visit took per task, and which `map` call's tasks
/// it ran alone (timed). It decides when a worker takes a batch: a `map` call's tasks that each
/// took less than [`Pace::SHORT`], while no other worker waits and more than [`Pace::BACKLOG`]
/// tasks per worker are queued; a batch holds about [`Pace::BATCH`] of work (at most
/// [`Pace::BATCH_MAX`] tasks and the worker's share of the queue), so that it holds back the
/// tasks it took for about that long at most. Tasks given to `submit` are never batched: one may
/// wait for another queued behind it.
#[derive(Debug, Clone)]
pub struct Pace {
    per_task: Duration,
    timed_group: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Self::new()
    }
}

impl Pace {
    /// A task is short below this.
    pub const SHORT: Duration = Duration::from_micros(20);
    /// A backlog: more than this many tasks queued per worker.
    pub const BACKLOG: usize = 4;
    /// About how much work a batch holds.
    pub const BATCH: Duration = Duration::from_millis(1);
    /// Most tasks in a batch.
    pub const BATCH_MAX: usize = 1024;

    /// A worker that has timed nothing yet.
    pub fn new() -> Pace {
        Pace { per_task: Self::SHORT, timed_group: 0 }
    }

    /// How many tasks of `group` queued right behind its first to take with it, when `idle`
    /// other workers wait and `queued` entries are queued behind the first.
    pub fn batch_extra(&self, group: u64, idle: usize, queued: usize, workers: usize) -> usize {
        let workers = workers.max(1);
        if group == 0 || group != self.timed_group || self.per_task >= Self::SHORT || idle > 0 {
            return 0;
        }
        if queued <= Self::BACKLOG * workers {
            return 0;
        }
        let per_task = self.per_task.as_nanos().max(1);
        let by_time = (Self::BATCH.as_nanos() / per_task).min(Self::BATCH_MAX as u128) as usize;
        by_time.saturating_sub(1).min(queued / workers)
    }

    /// The worker ran `tasks` tasks of `group` in `elapsed`.
    pub fn ran(&mut self, group: u64, tasks: usize, elapsed: Duration) {
        self.per_task = elapsed / u32::try_from(tasks.max(1)).unwrap_or(u32::MAX);
        self.timed_group = group;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug, PartialEq, Eq)]
    struct Job(u64, u32);

    impl Grouped for Job {
        fn group(&self) -> u64 {
            self.0
        }
    }

    fn tasks(entry: Option<Entry<Job>>) -> Vec<u32> {
        match entry {
            Some(Entry::Tasks(tasks)) => tasks.into_iter().map(|job| job.1).collect(),
            other => panic!("expected tasks, got {other:?}"),
        }
    }

    #[test]
    fn entries_come_out_in_order_stop_signals_included() {
        let queue = TaskQueue::new();
        queue.put(Job(0, 1));
        queue.put_stop();
        queue.put(Job(0, 2));
        assert_eq!(queue.len(), 3);
        let pace = Pace::new();
        assert_eq!(tasks(queue.take(None, &pace, 1, false)), [1]);
        assert_eq!(queue.take(None, &pace, 1, false), Some(Entry::Stop));
        assert_eq!(tasks(queue.try_take(&pace, 1)), [2]);
        assert!(queue.try_take(&pace, 1).is_none());
        assert!(queue.is_empty());
    }

    #[test]
    fn a_take_gives_up_at_its_deadline() {
        let queue: TaskQueue<Job> = TaskQueue::new();
        let started = Instant::now();
        assert!(queue.take(Some(started + Duration::from_millis(20)), &Pace::new(), 1, false).is_none());
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(queue.idle(), 0);
    }

    #[test]
    fn a_taker_coming_back_counts_as_idle_until_it_takes_again() {
        let queue = TaskQueue::new();
        queue.put(Job(0, 1));
        let pace = Pace::new();
        assert_eq!(tasks(queue.take(None, &pace, 1, false)), [1]);
        assert_eq!(queue.idle(), 0);
        queue.coming_back();
        assert_eq!(queue.idle(), 1);
        queue.put(Job(0, 2));
        assert_eq!(tasks(queue.take(None, &pace, 1, true)), [2]);
        assert_eq!(queue.idle(), 0);
    }

    #[test]
    fn a_taker_that_does_not_come_back_is_no_longer_counted_idle() {
        let queue: TaskQueue<Job> = TaskQueue::new();
        queue.coming_back();
        queue.coming_back();
        assert_eq!(queue.idle(), 2);
        queue.not_coming_back();
        assert_eq!(queue.idle(), 1);
        queue.not_coming_back();
        queue.not_coming_back();
        assert_eq!(queue.idle(), 0, "never below zero");
    }

    #[test]
    fn drain_takes_the_tasks_and_leaves_the_stop_signals() {
        let queue = TaskQueue::new();
        queue.put(Job(0, 1));
        queue.put_stop();
        queue.put(Job(0, 2));
        let drained: Vec<u32> = queue.drain().into_iter().map(|job| job.1).collect();
        assert_eq!(drained, [1, 2]);
        assert_eq!(queue.try_take(&Pace::new(), 1), Some(Entry::Stop));
    }

    #[test]
    fn sleeping_takers_are_woken_one_per_task() {
        let queue = Arc::new(TaskQueue::new());
        let takers: Vec<_> = (0..3)
            .map(|_| {
                let queue = queue.clone();
                std::thread::spawn(move || tasks(queue.take(None, &Pace::new(), 3, false)))
            })
            .collect();
        while queue.idle() < 3 {
            std::thread::yield_now();
        }
        for n in 0..3 {
            queue.put(Job(0, n));
        }
        let mut got: Vec<u32> = takers.into_iter().flat_map(|taker| taker.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
    }

    #[test]
    fn a_timed_short_map_task_takes_the_backlog_of_its_call_behind_it() {
        let queue = TaskQueue::new();
        for n in 0..40 {
            queue.put(Job(7, n));
        }
        queue.put(Job(0, 99));
        let mut pace = Pace::new();
        // Nothing timed yet for group 7: one at a time.
        assert_eq!(tasks(queue.try_take(&pace, 2)), [0]);
        pace.ran(7, 1, Duration::from_micros(100));
        // Timed, but not short.
        assert_eq!(tasks(queue.try_take(&pace, 2)), [1]);
        pace.ran(7, 1, Duration::from_micros(2));
        // Short: about 1 ms of work, at most its share of the queue (38 behind it / 2 workers).
        let batch = tasks(queue.try_take(&pace, 2));
        assert_eq!(batch, (2..22).collect::<Vec<_>>());
        pace.ran(7, batch.len(), Duration::from_micros(2 * batch.len() as u64));
        let batch = tasks(queue.try_take(&pace, 2));
        assert_eq!(batch, (22..32).collect::<Vec<_>>());
        pace.ran(7, batch.len(), Duration::from_micros(2 * batch.len() as u64));
        // No backlog left (8 behind it, not more than 4 per worker): one at a time.
        assert_eq!(tasks(queue.try_take(&pace, 2)), [32]);
        // Never past the first task of another group.
        pace.ran(7, 1, Duration::from_micros(2));
        for n in 40..60 {
            queue.put(Job(7, n));
        }
        let batch = tasks(queue.try_take(&pace, 2));
        assert_eq!(batch, (33..40).collect::<Vec<_>>());
        assert_eq!(tasks(queue.try_take(&pace, 2)), [99]);
    }

    #[test]
    fn submitted_tasks_are_never_batched() {
        let pace = Pace { per_task: Duration::from_micros(1), timed_group: 0 };
        assert_eq!(pace.batch_extra(0, 0, 1000, 1), 0);
    }

    #[test]
    fn no_batch_while_another_worker_waits() {
        let mut pace = Pace::new();
        pace.ran(3, 10, Duration::from_micros(10));
        assert!(pace.batch_extra(3, 0, 1000, 2) > 0);
        assert_eq!(pace.batch_extra(3, 1, 1000, 2), 0);
        assert_eq!(pace.batch_extra(4, 0, 1000, 2), 0);
    }
}
