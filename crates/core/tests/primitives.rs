//! Integration tests of the sync primitives with real threads and real deadlines (what loom,
//! which has no clock, cannot run): semaphores and locks, RLock, Event, Condition, Barrier.
//! Run under valgrind by `scripts/memcheck.sh` too.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{in_ms, patient, wait_for};
use subinterpreters_core::primitives::{
    Barrier, BrokenBarrier, Condition, Event, NotOwner, RLock, Semaphore, TooManyReleases,
};

#[test]
fn an_acquire_that_times_out_is_withdrawn_and_a_later_release_is_counted() {
    let semaphore = Arc::new(Semaphore::new(0, None));
    let mut pending = Semaphore::start_acquire(&semaphore).expect_err("no permit: parks");
    assert_eq!(pending.wait_until(in_ms(20)), None, "nothing released: the deadline passes");
    assert_eq!(pending.cancel(), None, "withdrawn");
    semaphore.release(1).unwrap();
    assert_eq!(semaphore.value(), 1, "nobody waits any more: the permit is counted");
}

#[test]
fn releases_hand_permits_to_parked_acquirers_in_arrival_order() {
    let semaphore = Arc::new(Semaphore::new(0, None));
    let first = Semaphore::start_acquire(&semaphore).expect_err("parks");
    let mut second = Semaphore::start_acquire(&semaphore).expect_err("parks");
    let waiter = thread::spawn(move || {
        let mut first = first;
        first.wait_until(patient())
    });
    semaphore.release(1).unwrap();
    assert_eq!(waiter.join().unwrap(), Some(true), "the first to park gets the first permit");
    assert_eq!(second.wait_until(in_ms(10)), None, "the second still waits");
    semaphore.release(2).unwrap();
    assert_eq!(second.wait_until(patient()), Some(true));
    assert_eq!(semaphore.value(), 1, "the permit nobody waited for is counted");
}

#[test]
fn a_bounded_semaphore_refuses_a_release_past_its_bound() {
    let lock = Semaphore::new(1, Some(1));
    assert_eq!(lock.release(1), Err(TooManyReleases));
    assert!(lock.try_acquire());
    assert!(!lock.try_acquire());
    lock.release(1).unwrap();
    assert_eq!(lock.value(), 1);
}

#[test]
fn an_abandoned_or_dropped_acquire_gives_a_granted_permit_back() {
    let semaphore = Arc::new(Semaphore::new(0, Some(2)));
    let abandoned = Semaphore::start_acquire(&semaphore).expect_err("parks");
    let dropped = Semaphore::start_acquire(&semaphore).expect_err("parks");
    semaphore.release(2).unwrap();
    abandoned.abandon();
    drop(dropped);
    assert_eq!(semaphore.value(), 2, "both permits came back");
}

#[test]
fn a_lock_keeps_threads_out_of_each_other() {
    let lock = Arc::new(Semaphore::new(1, Some(1)));
    let counter = Arc::new(std::sync::Mutex::new((0u32, false)));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (lock, counter) = (lock.clone(), counter.clone());
            thread::spawn(move || {
                for _ in 0..200 {
                    if let Err(mut pending) = Semaphore::start_acquire(&lock) {
                        assert_eq!(pending.wait_until(patient()), Some(true));
                    }
                    {
                        let mut state = counter.lock().unwrap();
                        assert!(!state.1, "two holders");
                        state.1 = true;
                    }
                    thread::yield_now();
                    {
                        let mut state = counter.lock().unwrap();
                        state.0 += 1;
                        state.1 = false;
                    }
                    lock.release(1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.lock().unwrap().0, 800);
    assert_eq!(lock.value(), 1);
}

#[test]
fn an_rlock_is_reentrant_for_its_owner_only() {
    let rlock = RLock::new();
    let (me, other) = ((1, 1), (1, 2));
    assert!(!rlock.try_reenter(me));
    assert!(rlock.semaphore().try_acquire());
    rlock.became_owner(me, 1);
    assert!(rlock.try_reenter(me));
    assert!(!rlock.try_reenter(other));
    assert_eq!(rlock.release(other), Err(NotOwner));
    rlock.release(me).unwrap();
    assert!(rlock.is_owned_by(me), "held once more");
    assert_eq!(rlock.release_all(me), Ok(1));
    assert!(!rlock.is_owned_by(me));
    assert_eq!(rlock.release(me), Err(NotOwner));
    assert_eq!(rlock.semaphore().value(), 1);
}

#[test]
fn set_wakes_every_waiter_and_a_timed_out_wait_is_withdrawn() {
    let event = Arc::new(Event::new());
    let mut timed_out = Event::start_wait(&event).expect_err("not set: parks");
    assert_eq!(timed_out.wait_until(in_ms(10)), None);
    assert_eq!(timed_out.cancel(), None);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let mut pending = Event::start_wait(&event).expect_err("not set: parks");
            thread::spawn(move || pending.wait_until(patient()))
        })
        .collect();
    event.set();
    event.clear();
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Some(true), "set before clear still wakes it");
    }
    assert!(!event.is_set());
    event.set();
    assert!(Event::start_wait(&event).is_ok(), "set: returns at once");
}

#[test]
fn notify_skips_a_timed_out_waiter_and_wakes_the_next_oldest() {
    let condition = Arc::new(Condition::new());
    let mut gone = Condition::start_wait(&condition);
    let mut second = Condition::start_wait(&condition);
    let mut third = Condition::start_wait(&condition);
    assert_eq!(gone.wait_until(in_ms(10)), None);
    assert_eq!(gone.cancel(), None, "timed out, withdrawn");
    assert_eq!(condition.notify(1), 1);
    assert_eq!(second.wait_until(patient()), Some(true), "the oldest still waiting is woken");
    assert_eq!(third.wait_until(in_ms(10)), None, "only one was notified");
    assert_eq!(condition.notify_all(), 1);
    assert_eq!(third.wait_until(patient()), Some(true));
    assert_eq!(condition.notify(5), 0, "nobody left");
}

#[test]
fn condition_wait_and_notify_with_a_lock_across_threads() {
    let lock = Arc::new(Semaphore::new(1, Some(1)));
    let condition = Arc::new(Condition::new());
    let ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let take = |lock: &Arc<Semaphore>| {
        if let Err(mut pending) = Semaphore::start_acquire(lock) {
            assert_eq!(pending.wait_until(patient()), Some(true));
        }
    };
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (lock, condition, ready) = (lock.clone(), condition.clone(), ready.clone());
            thread::spawn(move || {
                take(&lock);
                while ready.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    let mut pending = Condition::start_wait(&condition);
                    lock.release(1).unwrap();
                    assert_eq!(pending.wait_until(patient()), Some(true), "a notify comes");
                    take(&lock);
                }
                lock.release(1).unwrap();
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(10));
    take(&lock);
    ready.store(1, std::sync::atomic::Ordering::SeqCst);
    condition.notify_all();
    lock.release(1).unwrap();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(lock.value(), 1);
}

#[test]
fn a_barrier_trips_for_all_its_parties_with_distinct_indexes_and_is_reusable() {
    let barrier = Arc::new(Barrier::new(3));
    for _round in 0..3 {
        let parties: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                thread::spawn(move || match Barrier::start_wait(&barrier).expect("not broken") {
                    (index, None) => index,
                    (index, Some(mut pending)) => {
                        assert_eq!(pending.wait_until(patient()), Some(true));
                        index
                    }
                })
            })
            .collect();
        let mut indexes: Vec<usize> = parties.into_iter().map(|p| p.join().unwrap()).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, [0, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
    }
}

#[test]
fn a_timed_out_barrier_wait_breaks_the_barrier_for_everyone_until_reset() {
    let barrier = Arc::new(Barrier::new(3));
    let (_, other) = Barrier::start_wait(&barrier).unwrap();
    let mut other = other.expect("waits");
    let (_, quitter) = Barrier::start_wait(&barrier).unwrap();
    let mut quitter = quitter.expect("waits");
    assert_eq!(quitter.wait_until(in_ms(10)), None);
    assert_eq!(quitter.cancel(), None, "timed out");
    assert!(barrier.broken());
    assert_eq!(other.wait_until(patient()), Some(false), "the other party sees it broken");
    assert!(matches!(Barrier::start_wait(&barrier), Err(BrokenBarrier)));
    barrier.reset();
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn abort_fails_the_waiting_parties_and_an_interrupted_party_just_leaves() {
    let barrier = Arc::new(Barrier::new(2));
    let (_, interrupted) = Barrier::start_wait(&barrier).unwrap();
    interrupted.expect("waits").abandon();
    assert_eq!(barrier.n_waiting(), 0, "the interrupted party left its round");
    assert!(!barrier.broken(), "an interruption does not break the barrier");
    let waiter = {
        let (_, pending) = Barrier::start_wait(&barrier).unwrap();
        let mut pending = pending.expect("waits");
        thread::spawn(move || pending.wait_until(patient()))
    };
    wait_for("the party to wait", || barrier.n_waiting() == 1);
    barrier.abort();
    assert_eq!(waiter.join().unwrap(), Some(false));
    assert!(barrier.broken());
}
