//! Integration tests of the queue API with real threads: capacity and blocking puts, the
//! non-blocking and batch calls, deadlines that withdraw, closing, `put_back`, exactly-once and
//! per-producer FIFO delivery under contention, handle counting (the last handle frees the queue
//! and drops its items), `QueueRegistry`, and parked puts and gets (`start_put` / `start_get`).
//!
//! No test asserts on speed. Deadlines of tens of milliseconds appear only where the behaviour
//! under test needs one; everything else waits with a generous bound (see `common::PATIENCE`).
#![cfg(not(loom))]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{count, drops, in_ms, join, patient, Tracked};
use subinterpreters_core::{
    channel, queue, start_select, PendingRecv, PendingSend, QueueHandle, QueueRegistry, RecvError, RecvStart,
    SelectStart, Selected, SendError, SendStart, TryRecvError,
};

/// Parks a get on `q` (nothing may be ready) and returns the parked operation.
fn park_get<T>(q: &QueueHandle<T>) -> PendingRecv<T> {
    match q.start_get() {
        Ok(RecvStart::Pending(pending)) => pending,
        Ok(RecvStart::Ready(_)) => panic!("expected nothing ready"),
        Err(err) => panic!("start_get failed: {err:?}"),
    }
}

/// Parks a put on `q` (which must be full) and returns the parked operation.
fn park_put<T>(q: &QueueHandle<T>, item: T) -> PendingSend<T> {
    match q.start_put(item) {
        Ok(SendStart::Pending(pending)) => pending,
        Ok(SendStart::Delivered) => panic!("expected the queue to be full"),
        Err(err) => panic!("start_put failed: {err:?}"),
    }
}

/// A thread that waits (for ever) on a put parked on this thread, so that it is registered
/// deterministically before this returns.
fn spawn_blocked_put<T: Send + 'static>(q: &QueueHandle<T>, item: T) -> thread::JoinHandle<Result<(), SendError<T>>> {
    let mut pending = park_put(q, item);
    thread::spawn(move || pending.wait_until(None).expect("no deadline: waits until completed"))
}

/// A thread that waits (for ever) on a get parked on this thread.
fn spawn_blocked_get<T: Send + 'static>(q: &QueueHandle<T>) -> thread::JoinHandle<Result<T, RecvError>> {
    let mut pending = park_get(q);
    thread::spawn(move || pending.wait_until(None).expect("no deadline: waits until completed"))
}

/// Everything ready now, oldest first.
fn drain<T>(q: &QueueHandle<T>) -> Vec<T> {
    let mut got = Vec::new();
    while let Ok(item) = q.try_get() {
        got.push(item);
    }
    got
}

// ---------------------------------------------------------------------------------------------
// Basics and capacity

#[test]
fn unbounded_queue_takes_everything_in_fifo_order() {
    let q = queue::<u32>(0);
    assert_eq!(q.maxsize(), 0);
    assert_eq!(q.id(), 0, "queues outside a registry have id 0");
    assert!(!q.is_strict());
    assert!(q.is_empty());
    assert!(!q.is_full());
    for i in 0..1000 {
        assert_eq!(q.put_nowait(i), Ok(()));
        assert!(!q.is_full(), "an unbounded queue is never full");
    }
    assert_eq!(q.qsize(), 1000);
    assert!(!q.is_empty());
    for i in 0..1000 {
        assert_eq!(q.try_get(), Ok(i));
    }
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
    assert!(q.is_empty());
    // Blocking calls on an unbounded queue: a put never waits.
    assert_eq!(q.put(5, Some(Instant::now())), Ok(()));
    assert_eq!(q.get(patient()), Ok(5));
}

#[test]
fn bounded_queue_refuses_put_nowait_when_full_and_takes_again_after_a_get() {
    let q = queue::<u32>(2);
    assert_eq!(q.maxsize(), 2);
    assert_eq!(q.put_nowait(1), Ok(()));
    assert!(!q.is_full());
    assert_eq!(q.put_nowait(2), Ok(()));
    assert!(q.is_full());
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.put_nowait(3), Err(SendError::Withdrawn(3)));
    assert_eq!(q.qsize(), 2, "a refused item is not queued");
    assert_eq!(q.try_get(), Ok(1));
    assert!(!q.is_full());
    assert_eq!(q.put_nowait(3), Ok(()));
    assert_eq!(drain(&q), [2, 3]);
}

#[test]
fn blocking_put_on_a_full_queue_waits_until_a_get_makes_room() {
    let q = queue::<u32>(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let returned = Arc::new(AtomicBool::new(false));
    let putter = {
        let q = q.clone();
        let returned = returned.clone();
        thread::spawn(move || {
            let result = q.put(3, None);
            returned.store(true, Ordering::SeqCst);
            result
        })
    };
    // Give it time to misbehave: it must not return (nor squeeze its item in) while full.
    thread::sleep(Duration::from_millis(30));
    assert!(!returned.load(Ordering::SeqCst), "put returned while the queue was full");
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(join(putter), Ok(()));
    // Its item entered behind the ones already queued.
    assert_eq!(q.qsize(), 2);
    assert!(q.is_full());
    assert_eq!(drain(&q), [2, 3]);
}

#[test]
fn a_get_admits_the_oldest_blocked_put_and_later_puts_stay_behind_it() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let a = spawn_blocked_put(&q, 2);
    let b = spawn_blocked_put(&q, 3);
    assert_eq!(q.put_nowait(99), Err(SendError::Withdrawn(99)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(join(a), Ok(()), "the oldest blocked put is admitted first");
    assert!(q.is_full());
    assert_eq!(q.put_nowait(98), Err(SendError::Withdrawn(98)), "still full, and a put is waiting");
    assert_eq!(q.get(patient()), Ok(2));
    assert_eq!(join(b), Ok(()));
    assert_eq!(q.get(patient()), Ok(3));
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
}

#[test]
fn a_blocking_get_waits_for_a_put() {
    let q = queue::<u32>(0);
    let getter = {
        let q = q.clone();
        thread::spawn(move || q.get(None))
    };
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.put_nowait(7), Ok(()));
    assert_eq!(join(getter), Ok(7));
    assert!(q.is_empty(), "the item went to the getter, not into the buffer as well");
}

#[test]
fn a_put_to_a_parked_getter_is_handed_over_directly() {
    let q = queue::<u32>(1);
    let first = spawn_blocked_get(&q);
    let second = spawn_blocked_get(&q);
    // Capacity 1, yet two puts go through at once: each goes straight to a waiting getter.
    assert_eq!(q.put_nowait(1), Ok(()));
    assert_eq!(q.put_nowait(2), Ok(()));
    assert_eq!(q.qsize(), 0);
    assert_eq!(join(first), Ok(1), "the oldest getter is served first");
    assert_eq!(join(second), Ok(2));
}

#[test]
fn try_get_reports_empty_then_closed() {
    let q = queue::<u32>(3);
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
    q.put_nowait(1).unwrap();
    q.close();
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Batches

#[test]
fn put_many_nowait_moves_as_many_as_fit_in_order() {
    let q = queue::<u32>(3);
    q.put_nowait(0).unwrap();
    let mut items: VecDeque<u32> = (1..=5).collect();
    assert_eq!(q.put_many_nowait(&mut items), Ok(2));
    assert_eq!(items, [3, 4, 5], "the rest stays with the caller, in order");
    assert!(q.is_full());
    assert_eq!(q.put_many_nowait(&mut items), Ok(0));
    assert_eq!(items, [3, 4, 5]);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(q.put_many_nowait(&mut items), Ok(1));
    assert_eq!(items, [4, 5]);
    assert_eq!(drain(&q), [1, 2, 3]);
    assert_eq!(q.put_many_nowait(&mut VecDeque::new()), Ok(0));

    let unbounded = queue::<u32>(0);
    let mut items: VecDeque<u32> = (0..100).collect();
    assert_eq!(unbounded.put_many_nowait(&mut items), Ok(100));
    assert!(items.is_empty());
    assert_eq!(drain(&unbounded), (0..100).collect::<Vec<_>>());
}

#[test]
fn put_many_nowait_serves_parked_getters_first() {
    let q = queue::<u32>(1);
    let getter = spawn_blocked_get(&q);
    let mut items: VecDeque<u32> = (1..=3).collect();
    // One item to the waiting getter, one into the buffer; then it is full.
    assert_eq!(q.put_many_nowait(&mut items), Ok(2));
    assert_eq!(items, [3]);
    assert_eq!(join(getter), Ok(1));
    assert_eq!(drain(&q), [2]);
}

#[test]
fn put_many_nowait_on_a_closed_queue_takes_nothing() {
    let q = queue::<u32>(0);
    q.close();
    let mut items: VecDeque<u32> = (1..=3).collect();
    assert!(matches!(q.put_many_nowait(&mut items), Err(SendError::Closed(()))));
    assert_eq!(items, [1, 2, 3]);
}

#[test]
fn put_many_nowait_stays_behind_a_blocked_put() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let blocked = spawn_blocked_put(&q, 2);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(join(blocked), Ok(()));
    let mut items: VecDeque<u32> = (3..=4).collect();
    assert_eq!(q.put_many_nowait(&mut items), Ok(0), "full again with the admitted item");
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.put_many_nowait(&mut items), Ok(1));
    assert_eq!(items, [4]);
}

#[test]
fn get_many_nowait_takes_up_to_max_oldest_first() {
    let q = queue::<u32>(0);
    assert_eq!(q.get_many_nowait(5), Err(TryRecvError::Empty));
    for i in 0..10 {
        q.put_nowait(i).unwrap();
    }
    assert_eq!(q.get_many_nowait(3), Ok(vec![0, 1, 2]));
    assert_eq!(q.get_many_nowait(1), Ok(vec![3]));
    assert_eq!(q.get_many_nowait(100), Ok((4..10).collect::<Vec<_>>()));
    assert_eq!(q.get_many_nowait(100), Err(TryRecvError::Empty));
    q.put_nowait(10).unwrap();
    q.put_nowait(11).unwrap();
    q.close();
    assert_eq!(q.get_many_nowait(1), Ok(vec![10]));
    assert_eq!(q.get_many_nowait(5), Ok(vec![11]), "what is left before the close is reported");
    assert_eq!(q.get_many_nowait(5), Err(TryRecvError::Closed));
}

#[test]
fn get_many_nowait_also_takes_the_items_of_blocked_puts_it_makes_room_for() {
    let q = queue::<u32>(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let a = spawn_blocked_put(&q, 3);
    let b = spawn_blocked_put(&q, 4);
    assert_eq!(q.get_many_nowait(10), Ok(vec![1, 2, 3, 4]));
    assert_eq!(join(a), Ok(()));
    assert_eq!(join(b), Ok(()));
    assert!(q.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Deadlines

#[test]
fn a_put_that_times_out_takes_its_item_back_for_good() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    match q.put(2, in_ms(30)) {
        Err(SendError::Withdrawn(2)) => {}
        other => panic!("expected Withdrawn(2), got {other:?}"),
    }
    assert_eq!(q.qsize(), 1);
    // Room now: the withdrawn item must not be admitted late.
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
    assert_eq!(q.get(in_ms(30)), Err(RecvError::Withdrawn));
    // The queue still works, and the timed-out put left no entry behind that blocks others.
    assert_eq!(q.put_nowait(3), Ok(()));
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn a_timed_out_put_hands_back_the_very_item_and_drops_nothing() {
    let dropped = drops();
    let q = queue::<Tracked>(1);
    q.put_nowait(Tracked::new(1, &dropped)).unwrap();
    let back = match q.put(Tracked::new(2, &dropped), in_ms(20)) {
        Err(SendError::Withdrawn(back)) => back,
        other => panic!("expected Withdrawn, got {other:?}"),
    };
    assert_eq!(back.id, 2);
    assert_eq!(count(&dropped), 0, "the core must not drop a withdrawn item");
    drop(back);
    assert_eq!(count(&dropped), 1);
    drop(q);
    assert_eq!(count(&dropped), 2, "the queued item goes with the queue");
}

#[test]
fn a_get_that_times_out_returns_withdrawn_and_leaves_no_registration() {
    let q = queue::<u32>(0);
    assert_eq!(q.get(in_ms(30)), Err(RecvError::Withdrawn));
    assert_eq!(q.put_nowait(1), Ok(()));
    assert_eq!(q.qsize(), 1, "the item is queued, not handed to the getter that gave up");
    assert_eq!(q.get(in_ms(30)), Ok(1));
}

#[test]
fn expired_deadlines_try_exactly_once() {
    let q = queue::<u32>(1);
    let past = Some(Instant::now());
    assert_eq!(q.get(past), Err(RecvError::Withdrawn));
    assert_eq!(q.put(1, past), Ok(()), "room: an expired deadline still puts");
    assert_eq!(q.put(2, past), Err(SendError::Withdrawn(2)));
    assert_eq!(q.get(past), Ok(1), "an item: an expired deadline still gets");
    let getter = spawn_blocked_get(&q);
    assert_eq!(q.put(3, past), Ok(()), "a waiting getter takes it at once");
    assert_eq!(join(getter), Ok(3));
}

#[test]
fn a_getter_arriving_during_a_put_deadline_lets_it_in() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let putter = {
        let q = q.clone();
        thread::spawn(move || q.put(2, patient()))
    };
    thread::sleep(Duration::from_millis(20));
    assert_eq!(q.get(patient()), Ok(1));
    assert_eq!(join(putter), Ok(()));
    assert_eq!(q.get(patient()), Ok(2));
}

// ---------------------------------------------------------------------------------------------
// Close

#[test]
fn close_fails_puts_and_lets_gets_drain_then_fail() {
    let q = queue::<u32>(3);
    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.is_closed());
    q.close();
    assert!(q.is_closed());
    assert_eq!(q.put_nowait(9), Err(SendError::Closed(9)));
    assert_eq!(q.put(9, patient()), Err(SendError::Closed(9)));
    assert!(matches!(q.start_put(9), Err(SendError::Closed(9))));
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(q.get(patient()), Ok(1));
    assert_eq!(q.get_many_nowait(5), Ok(vec![2]));
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    assert_eq!(q.get(patient()), Err(RecvError::Closed));
    assert_eq!(q.get_many_nowait(5), Err(TryRecvError::Closed));
    assert!(matches!(q.start_get(), Err(RecvError::Closed)));
    assert!(q.is_closed());
    // Closing twice is harmless.
    q.close();
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
}

#[test]
fn close_gives_blocked_puts_their_items_back_and_does_not_queue_them() {
    let dropped = drops();
    let q = queue::<Tracked>(1);
    q.put_nowait(Tracked::new(0, &dropped)).unwrap();
    let a = spawn_blocked_put(&q, Tracked::new(1, &dropped));
    let b = spawn_blocked_put(&q, Tracked::new(2, &dropped));
    // And one through the public blocking call (parked or not yet: both must end in Closed).
    let c = {
        let q = q.clone();
        let dropped = dropped.clone();
        thread::spawn(move || q.put(Tracked::new(3, &dropped), None))
    };
    thread::sleep(Duration::from_millis(20));
    q.close();
    for (handle, id) in [(a, 1), (b, 2), (c, 3)] {
        match join(handle) {
            Err(SendError::Closed(back)) => assert_eq!(back.id, id),
            other => panic!("expected Closed(item {id}), got {other:?}"),
        }
    }
    assert_eq!(count(&dropped), 3, "each blocked item came back once and its putter dropped it");
    // Only the item queued before the close is left to drain.
    let left = drain(&q);
    assert_eq!(left.iter().map(|t| t.id).collect::<Vec<_>>(), [0]);
    assert!(matches!(q.try_get(), Err(TryRecvError::Closed)));
}

#[test]
fn close_wakes_blocked_gets() {
    let q = queue::<u32>(2);
    let parked = [spawn_blocked_get(&q), spawn_blocked_get(&q)];
    let blocking = {
        let q = q.clone();
        thread::spawn(move || q.get(None))
    };
    thread::sleep(Duration::from_millis(20));
    q.close();
    for handle in parked {
        assert_eq!(join(handle), Err(RecvError::Closed));
    }
    assert_eq!(join(blocking), Err(RecvError::Closed));
}

// ---------------------------------------------------------------------------------------------
// put_back

#[test]
fn put_back_goes_in_front_of_queued_items_and_blocked_puts() {
    let q = queue::<u32>(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let taken = q.try_get().unwrap();
    assert_eq!(taken, 1);
    q.put_nowait(3).unwrap();
    let blocked = spawn_blocked_put(&q, 4);
    q.put_back(taken);
    assert_eq!(q.try_get(), Ok(1), "the item put back comes first");
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.get(patient()), Ok(3));
    assert_eq!(q.get(patient()), Ok(4));
    assert_eq!(join(blocked), Ok(()));
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
}

#[test]
fn put_back_hands_the_item_to_a_waiting_getter() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let taken = q.try_get().unwrap();
    let getter = spawn_blocked_get(&q);
    q.put_back(taken);
    assert_eq!(join(getter), Ok(1));
    assert!(q.is_empty());
}

#[test]
fn put_back_many_hands_the_first_to_a_waiting_getter_and_keeps_the_rest_in_order() {
    let q = queue::<u32>(0);
    for item in 1..=3 {
        q.put_nowait(item).unwrap();
    }
    let taken = q.get_many_nowait(10).unwrap();
    assert_eq!(taken, vec![1, 2, 3]);
    let mut getter = park_get(&q);
    q.put_nowait(4).unwrap_or_else(|_| panic!("open"));
    // 4 went to the parked getter; now put the taken ones back in front.
    assert_eq!(getter.wait_until(patient()), Some(Ok(4)));
    let getter = spawn_blocked_get(&q);
    q.put_back_many(taken);
    assert_eq!(join(getter), Ok(1), "the waiting getter gets the first item put back");
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.try_get(), Ok(3));
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
}

#[test]
fn put_back_many_goes_in_front_of_queued_items() {
    let q = queue::<u32>(0);
    for item in 1..=4 {
        q.put_nowait(item).unwrap();
    }
    let taken = q.get_many_nowait(2).unwrap();
    q.put_back_many(taken);
    assert_eq!(q.get_many_nowait(10).unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn put_back_after_close_is_drained_again() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let taken = q.try_get().unwrap();
    q.close();
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    q.put_back(taken);
    assert_eq!(q.try_get(), Ok(1), "an item put back into a closed queue is still delivered");
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Exactly once and FIFO under contention

const fn item(producer: u64, seq: u64) -> u64 {
    (producer << 32) | seq
}

fn split(value: u64) -> (usize, u64) {
    ((value >> 32) as usize, value & 0xffff_ffff)
}

/// Deadlines for the withdrawal stress: already expired, tens of microseconds, or a millisecond.
fn short_deadline(n: u64) -> Option<Instant> {
    let now = Instant::now();
    Some(match n % 3 {
        0 => now,
        1 => now + Duration::from_micros(20),
        _ => now + Duration::from_millis(1),
    })
}

/// `producers` threads put `per_producer` items each (mixing `put`, `put_nowait` and
/// `put_many_nowait`), `consumers` threads get (mixing `get` and `get_many_nowait`) until the
/// queue is closed and drained. Every item must arrive exactly once, and each consumer must see
/// each producer's items in the order they were put. With `deadlines`, every blocking call uses
/// a short deadline and retries after `Withdrawn`, so withdrawals race with hand-offs.
fn exactly_once(maxsize: usize, producers: u64, consumers: usize, per_producer: u64, deadlines: bool) {
    let q = queue::<u64>(maxsize);
    let start = Arc::new(Barrier::new(producers as usize + consumers));
    let producer_threads: Vec<_> = (0..producers)
        .map(|p| {
            let q = q.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut withdrawn = 0u64;
                let mut seq = 0;
                while seq < per_producer {
                    if !deadlines && seq % 7 == 3 {
                        // A batch: as many as fit, the rest item by item below.
                        let end = (seq + 5).min(per_producer);
                        let mut batch: VecDeque<u64> = (seq..end).map(|s| item(p, s)).collect();
                        let moved = q.put_many_nowait(&mut batch).expect("not closed");
                        seq += moved as u64;
                        if moved > 0 {
                            continue;
                        }
                    }
                    let mut value = item(p, seq);
                    if seq % 3 == 1 {
                        match q.put_nowait(value) {
                            Ok(()) => {
                                seq += 1;
                                continue;
                            }
                            Err(SendError::Withdrawn(back)) => value = back,
                            Err(SendError::Closed(_)) => panic!("closed early"),
                        }
                    }
                    for attempt in 0u64.. {
                        let deadline = if deadlines { short_deadline(seq + attempt) } else { None };
                        match q.put(value, deadline) {
                            Ok(()) => break,
                            Err(SendError::Withdrawn(back)) => {
                                assert!(deadlines, "no deadline: a put is never withdrawn");
                                assert_eq!(back, value, "a withdrawn put returns its own item");
                                withdrawn += 1;
                                value = back;
                            }
                            Err(SendError::Closed(_)) => panic!("closed early"),
                        }
                    }
                    seq += 1;
                }
                withdrawn
            })
        })
        .collect();
    let withdrawn_gets = Arc::new(AtomicU64::new(0));
    let consumer_threads: Vec<_> = (0..consumers)
        .map(|c| {
            let q = q.clone();
            let start = start.clone();
            let withdrawn_gets = withdrawn_gets.clone();
            thread::spawn(move || {
                start.wait();
                let mut got = Vec::new();
                for attempt in 0u64.. {
                    if (attempt + c as u64) % 4 == 0 {
                        match q.get_many_nowait(8) {
                            Ok(items) => {
                                assert!(!items.is_empty() && items.len() <= 8);
                                got.extend(items);
                                continue;
                            }
                            Err(TryRecvError::Closed) => return got,
                            Err(TryRecvError::Empty) => {}
                        }
                    }
                    let deadline = if deadlines { short_deadline(attempt) } else { None };
                    match q.get(deadline) {
                        Ok(value) => got.push(value),
                        Err(RecvError::Withdrawn) => {
                            assert!(deadlines, "no deadline: a get is never withdrawn");
                            withdrawn_gets.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => return got,
                    }
                }
                unreachable!("the attempt counter does not run out")
            })
        })
        .collect();
    let withdrawn: u64 = producer_threads.into_iter().map(join).sum();
    q.close();
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for (c, consumer) in consumer_threads.into_iter().enumerate() {
        let got = join(consumer);
        let mut last = vec![None; producers as usize];
        for &value in &got {
            let (p, seq) = split(value);
            assert!(last[p] < Some(seq), "consumer {c}: producer {p}'s item {seq} out of order");
            last[p] = Some(seq);
            *counts.entry(value).or_default() += 1;
        }
    }
    for p in 0..producers {
        for seq in 0..per_producer {
            let n = counts.remove(&item(p, seq)).unwrap_or(0);
            assert_eq!(n, 1, "item ({p}, {seq}) received {n} times");
        }
    }
    assert!(counts.is_empty(), "received items never put: {counts:?}");
    assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    if deadlines {
        let gets = withdrawn_gets.load(Ordering::Relaxed);
        eprintln!("queue exactly_once with deadlines: {withdrawn} puts and {gets} gets withdrawn");
    }
}

/// A thread that gets from `q` until it is closed and drained, checking that each of
/// `producers` producers' items come in the order put; returns how many came from each.
fn spawn_in_order_consumer(q: &QueueHandle<u64>, producers: usize) -> thread::JoinHandle<Vec<u64>> {
    let q = q.clone();
    thread::spawn(move || {
        let mut next = vec![0u64; producers];
        loop {
            match q.get(None) {
                Ok(value) => {
                    let (p, seq) = split(value);
                    assert_eq!(seq, next[p], "producer {p}: item {seq} arrived out of order");
                    next[p] += 1;
                }
                Err(RecvError::Closed) => return next,
                Err(RecvError::Withdrawn) => panic!("no deadline: never withdrawn"),
            }
        }
    })
}

#[test]
fn every_item_is_delivered_exactly_once_through_a_bounded_queue() {
    exactly_once(4, 4, 3, 2000, false);
}

#[test]
fn every_item_is_delivered_exactly_once_through_a_capacity_one_queue() {
    exactly_once(1, 3, 3, 1000, false);
}

#[test]
fn every_item_is_delivered_exactly_once_through_an_unbounded_queue() {
    exactly_once(0, 4, 3, 2000, false);
}

#[test]
fn every_item_is_delivered_exactly_once_when_deadlines_keep_withdrawing() {
    exactly_once(2, 3, 3, 500, true);
}

#[test]
fn every_item_is_delivered_exactly_once_through_an_unbounded_queue_when_gets_withdraw() {
    // Gets that give up race with puts handing items to parked getters.
    exactly_once(0, 3, 3, 500, true);
}

#[test]
fn puts_racing_a_close_are_drained_exactly_when_accepted() {
    // An item whose put reports success is never left behind the consumer's 'closed and
    // drained', and each producer's items come in order.
    for _ in 0..20 {
        let q = queue::<u64>(0);
        let start = Arc::new(Barrier::new(3));
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let q = q.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let mut accepted = 0;
                    while q.put_nowait(item(p, accepted)).is_ok() {
                        accepted += 1;
                    }
                    accepted
                })
            })
            .collect();
        let consumer = spawn_in_order_consumer(&q, 2);
        start.wait();
        thread::sleep(Duration::from_micros(300));
        q.close();
        let accepted: Vec<u64> = producers.into_iter().map(join).collect();
        assert_eq!(join(consumer), accepted, "accepted items lost or refused ones delivered");
        assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    }
}

#[test]
fn one_consumer_sees_each_producers_items_in_the_order_put() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 1500;
    let q = queue::<u64>(3);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    q.put(item(p, seq), None).unwrap();
                }
            })
        })
        .collect();
    let consumer = spawn_in_order_consumer(&q, PRODUCERS as usize);
    for producer in producers {
        join(producer);
    }
    q.close();
    assert_eq!(join(consumer), vec![PER_PRODUCER; PRODUCERS as usize]);
}

// ---------------------------------------------------------------------------------------------
// Handles

#[test]
fn handles_compare_by_queue_and_debug_shows_the_id() {
    let q = queue::<u32>(0);
    let other = queue::<u32>(0);
    assert_eq!(q, q.clone());
    assert!(q != other);
    assert_eq!(format!("{q:?}"), "QueueHandle(0)");
    assert!(Arc::ptr_eq(q.queue(), q.clone().queue()));
    let made = QueueHandle::new(q.queue().clone());
    assert_eq!(made, q);
    made.put_nowait(1).unwrap();
    assert_eq!(q.try_get(), Ok(1));
}

#[test]
fn the_last_handle_dropped_frees_the_queue_and_drops_its_items() {
    let dropped = drops();
    let q = queue::<Tracked>(0);
    for i in 0..3 {
        q.put_nowait(Tracked::new(i, &dropped)).unwrap();
    }
    let q2 = q.clone();
    let raw = q.queue().clone();
    drop(q);
    assert_eq!(count(&dropped), 0, "a clone keeps the queue and its items");
    assert!(!q2.is_closed());
    assert_eq!(q2.try_get().map(|t| t.id), Ok(0));
    assert_eq!(count(&dropped), 1);
    drop(q2);
    assert_eq!(count(&dropped), 3, "the queued items are dropped with the last handle");
    // The shared state may outlive the handles (a parked operation holds it): it stays closed.
    let late = QueueHandle::new(raw);
    assert!(late.is_closed());
    assert!(matches!(late.try_get(), Err(TryRecvError::Closed)));
    match late.put_nowait(Tracked::new(9, &dropped)) {
        Err(SendError::Closed(back)) => assert_eq!(back.id, 9),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[test]
fn the_last_handle_dropped_wakes_parked_gets_and_puts() {
    let dropped = drops();
    let empty = queue::<Tracked>(1);
    let getter = spawn_blocked_get(&empty);
    drop(empty);
    assert!(matches!(join(getter), Err(RecvError::Closed)));

    let full = queue::<Tracked>(1);
    full.put_nowait(Tracked::new(1, &dropped)).unwrap();
    let putter = spawn_blocked_put(&full, Tracked::new(2, &dropped));
    drop(full);
    assert_eq!(count(&dropped), 1, "the queued item is dropped");
    match join(putter) {
        Err(SendError::Closed(back)) => assert_eq!(back.id, 2),
        other => panic!("expected Closed(item 2), got {other:?}"),
    }
    assert_eq!(count(&dropped), 2);
}

/// Items that may carry a queue handle, to free queues held inside other queues.
#[allow(dead_code)] // the fields are only held, for their drops
enum Nested {
    Handle(QueueHandle<Nested>),
    Tracked(Tracked),
}

#[test]
fn a_queue_held_only_inside_another_queue_is_freed_with_it() {
    let dropped = drops();
    let registry = QueueRegistry::<Nested>::new();
    let outer = registry.create(0, false);
    let inner = registry.create(0, false);
    inner.put_nowait(Nested::Tracked(Tracked::new(1, &dropped))).unwrap();
    outer.put_nowait(Nested::Handle(inner)).unwrap();
    assert_eq!(registry.len(), 2);
    drop(outer);
    assert_eq!(count(&dropped), 1, "the inner queue went with its last handle, inside the outer");
    assert!(registry.is_empty());
}

#[test]
fn handles_cloned_and_dropped_across_threads_free_the_queue_once() {
    let dropped = drops();
    let registry = Arc::new(QueueRegistry::<Tracked>::new());
    let q = registry.create(0, false);
    q.put_nowait(Tracked::new(1, &dropped)).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                for _ in 0..1000 {
                    drop(q.clone());
                }
                drop(q);
            })
        })
        .collect();
    drop(q);
    for t in threads {
        join(t);
    }
    assert_eq!(count(&dropped), 1);
    assert!(registry.is_empty());
}

// ---------------------------------------------------------------------------------------------
// QueueRegistry

#[test]
fn registry_creates_with_fresh_ids_and_lists_in_id_order() {
    let registry = QueueRegistry::<u32>::new();
    assert!(registry.is_empty());
    let a = registry.create(0, false);
    let b = registry.create(5, true);
    let c = QueueRegistry::<u32>::default().create(0, false);
    assert_eq!((a.id(), b.id()), (1, 2));
    assert_eq!(c.id(), 1, "each registry has its own ids");
    assert_eq!((a.maxsize(), a.is_strict()), (0, false));
    assert_eq!((b.maxsize(), b.is_strict()), (5, true));
    assert_eq!(format!("{b:?}"), "QueueHandle(2)");
    assert_eq!(registry.len(), 2);
    let listed = registry.list();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], a);
    assert_eq!(listed[1], b);
    assert_eq!(listed[1].maxsize(), 5);
    // Listed handles are real handles on the same queues.
    listed[0].put_nowait(7).unwrap();
    assert_eq!(a.try_get(), Ok(7));
    // Ids are never reused.
    drop((a, listed));
    assert_eq!(registry.len(), 1);
    assert_eq!(registry.create(0, false).id(), 3);
    drop(b);
}

#[test]
fn a_queue_leaves_the_registry_when_its_last_handle_goes() {
    let registry = QueueRegistry::<u32>::new();
    let q = registry.create(0, false);
    let q2 = q.clone();
    drop(q);
    assert_eq!(registry.len(), 1, "a clone keeps the queue listed");
    let listed = registry.list();
    drop(q2);
    assert_eq!(registry.len(), 1, "a listed handle is a handle too");
    listed[0].put_nowait(1).unwrap();
    assert_eq!(listed[0].try_get(), Ok(1));
    drop(listed);
    assert!(registry.is_empty());
    assert!(registry.list().is_empty());
    // A closed queue stays listed while it has handles: only the handles free it.
    let q = registry.create(0, false);
    q.close();
    assert_eq!(registry.len(), 1);
    drop(q);
    assert!(registry.is_empty());
}

#[test]
fn registry_close_all_closes_every_queue_and_wakes_blocked_calls() {
    let registry = QueueRegistry::<u32>::new();
    let empty = registry.create(0, false);
    let full = registry.create(1, false);
    let with_items = registry.create(0, false);
    full.put_nowait(10).unwrap();
    with_items.put_nowait(20).unwrap();
    with_items.put_nowait(21).unwrap();
    let getter = spawn_blocked_get(&empty);
    let putter = spawn_blocked_put(&full, 11);
    registry.close_all();
    assert_eq!(join(getter), Err(RecvError::Closed));
    assert_eq!(join(putter), Err(SendError::Closed(11)));
    for q in [&empty, &full, &with_items] {
        assert!(q.is_closed());
        assert_eq!(q.put_nowait(1), Err(SendError::Closed(1)));
    }
    // Gets drain what was queued before the close.
    assert_eq!(drain(&full), [10]);
    assert_eq!(drain(&with_items), [20, 21]);
    assert_eq!(with_items.try_get(), Err(TryRecvError::Closed));
    // Closed queues stay listed until their handles go.
    assert_eq!(registry.len(), 3);
    drop((empty, full, with_items));
    assert!(registry.is_empty());
}

#[test]
fn a_queue_outliving_its_registry_still_works_and_frees() {
    let dropped = drops();
    let registry = QueueRegistry::<Tracked>::new();
    let q = registry.create(0, false);
    drop(registry);
    q.put_nowait(Tracked::new(1, &dropped)).unwrap();
    assert_eq!(q.try_get().map(|t| t.id), Ok(1));
    q.put_nowait(Tracked::new(2, &dropped)).unwrap();
    drop(q);
    assert_eq!(count(&dropped), 2);
}

#[test]
fn registry_ids_are_unique_across_threads() {
    let registry = Arc::new(QueueRegistry::<u32>::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let registry = registry.clone();
            thread::spawn(move || {
                let mut ids = Vec::new();
                let mut kept = Vec::new();
                for i in 0..200 {
                    let q = registry.create(i % 3, false);
                    ids.push(q.id());
                    if i % 2 == 0 {
                        kept.push(q);
                    }
                }
                drop(kept);
                ids
            })
        })
        .collect();
    let mut all = std::collections::BTreeSet::new();
    for t in threads {
        for id in join(t) {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), 800);
    assert!(registry.is_empty(), "every queue left with its last handle");
}

// ---------------------------------------------------------------------------------------------
// Parked puts and gets

#[test]
fn a_cancelled_parked_put_withdraws_its_item() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let pending = park_put(&q, 2);
    assert_eq!(pending.cancel(), Err(SendError::Withdrawn(2)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(TryRecvError::Empty), "the withdrawn item never enters");
    assert_eq!(q.put_nowait(3), Ok(()), "no entry left behind");
}

#[test]
fn a_parked_put_admitted_before_the_cancel_reports_success() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let pending = park_put(&q, 2);
    assert_eq!(q.try_get(), Ok(1)); // room: the parked put is admitted
    assert_eq!(pending.cancel(), Ok(()));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn a_parked_put_waits_again_after_a_deadline() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let mut pending = park_put(&q, 2);
    assert!(pending.wait_until(in_ms(20)).is_none(), "still full: the deadline passes");
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(pending.wait_until(patient()), Some(Ok(())));
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn a_dropped_parked_put_withdraws_and_drops_its_item_once() {
    let dropped = drops();
    let q = queue::<Tracked>(1);
    q.put_nowait(Tracked::new(1, &dropped)).unwrap();
    drop(park_put(&q, Tracked::new(2, &dropped)));
    assert_eq!(count(&dropped), 1);
    assert_eq!(q.try_get().map(|t| t.id), Ok(1));
    assert!(matches!(q.try_get(), Err(TryRecvError::Empty)));
    drop(q);
    assert_eq!(count(&dropped), 2);
}

#[test]
fn a_parked_put_cancelled_after_close_gets_closed_with_its_item() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let pending = park_put(&q, 2);
    q.close();
    assert_eq!(pending.cancel(), Err(SendError::Closed(2)));
    assert_eq!(drain(&q), [1]);
}

#[test]
fn a_parked_get_cancel_withdraws_or_returns_what_was_handed() {
    let q = queue::<u32>(0);
    assert_eq!(park_get(&q).cancel(), Err(RecvError::Withdrawn));
    q.put_nowait(1).unwrap();
    assert_eq!(q.qsize(), 1, "the cancelled getter is no longer registered");
    assert_eq!(q.try_get(), Ok(1));

    let pending = park_get(&q);
    q.put_nowait(2).unwrap();
    assert_eq!(q.qsize(), 0, "handed to the parked getter");
    assert_eq!(pending.cancel(), Ok(2), "an item handed before the cancel is returned");

    let mut pending = park_get(&q);
    assert!(pending.wait_until(in_ms(20)).is_none());
    q.put_nowait(3).unwrap();
    assert_eq!(q.qsize(), 0, "still registered after the deadline");
    assert_eq!(pending.wait_until(patient()), Some(Ok(3)));
}

#[test]
fn cancel_and_requeue_puts_a_handed_item_back_in_front() {
    let q = queue::<u32>(2);
    let pending = park_get(&q);
    q.put_nowait(1).unwrap(); // handed to the parked getter
    q.put_nowait(2).unwrap();
    q.put_nowait(3).unwrap();
    pending.cancel_and_requeue();
    assert_eq!(drain(&q), [1, 2, 3], "the requeued item goes back where it was");
}

#[test]
fn cancel_and_requeue_hands_the_item_to_another_waiting_getter() {
    let q = queue::<u32>(0);
    let first = park_get(&q);
    let second = spawn_blocked_get(&q);
    q.put_nowait(7).unwrap(); // to `first`, the oldest
    first.cancel_and_requeue();
    assert_eq!(join(second), Ok(7));
    assert!(q.is_empty());
}

#[test]
fn cancel_and_requeue_without_an_item_just_withdraws() {
    let q = queue::<u32>(0);
    park_get(&q).cancel_and_requeue();
    q.put_nowait(1).unwrap();
    assert_eq!(q.qsize(), 1, "no getter left registered");
}

#[test]
fn a_dropped_parked_get_does_not_lose_a_handed_item() {
    let q = queue::<u32>(0);
    let pending = park_get(&q);
    q.put_nowait(5).unwrap();
    drop(pending);
    assert_eq!(q.try_get(), Ok(5));
    drop(park_get(&q));
    q.put_nowait(6).unwrap();
    assert_eq!(q.qsize(), 1);
}

#[test]
fn requeue_after_the_queue_is_freed_drops_the_item_once() {
    let dropped = drops();
    let q = queue::<Tracked>(0);
    let pending = park_get(&q);
    q.put_nowait(Tracked::new(1, &dropped)).unwrap();
    drop(q); // last handle: the parked get already holds the item
    assert_eq!(count(&dropped), 0);
    pending.cancel_and_requeue();
    assert_eq!(count(&dropped), 1, "requeued into a freed queue: dropped, once");
}

#[test]
fn getters_that_give_up_and_requeue_lose_nothing() {
    // "Quitters" park and give up at once (cancel_and_requeue), racing with a producer handing
    // them items; a keeper gets normally. Every item ends up delivered exactly once.
    const ITEMS: u64 = 3000;
    let q = queue::<u64>(4);
    let quitters: Vec<_> = (0..2)
        .map(|n| {
            let q = q.clone();
            thread::spawn(move || {
                let mut kept = Vec::new();
                for round in 0u64.. {
                    match q.start_get() {
                        Ok(RecvStart::Ready(item)) => kept.push(item),
                        Ok(RecvStart::Pending(mut pending)) => {
                            if (round + n) % 4 != 0 {
                                pending.cancel_and_requeue();
                                continue;
                            }
                            match pending.wait_until(in_ms(1)) {
                                None => pending.cancel_and_requeue(),
                                Some(Ok(item)) => kept.push(item),
                                Some(Err(RecvError::Closed)) => break,
                                Some(Err(RecvError::Withdrawn)) => unreachable!(),
                            }
                        }
                        Err(RecvError::Closed) => break,
                        Err(RecvError::Withdrawn) => unreachable!(),
                    }
                }
                kept
            })
        })
        .collect();
    let keeper = {
        let q = q.clone();
        thread::spawn(move || {
            let mut kept = Vec::new();
            while let Ok(item) = q.get(None) {
                kept.push(item);
            }
            kept
        })
    };
    for i in 0..ITEMS {
        q.put(i, None).unwrap();
        if i % 16 == 0 {
            thread::yield_now();
        }
    }
    q.close();
    let mut got = join(keeper);
    for quitter in quitters {
        got.extend(join(quitter));
    }
    got.sort_unstable();
    assert_eq!(got, (0..ITEMS).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Offers withdrawn late (bug found while writing these tests)

/// Leaves a *withdrawn-late* offer on `q` (capacity 1, holding one item): a select parks a put
/// case on `q` and a receive case on a channel, and the channel completes it. Until the select's
/// owner collects its result, its put entry stays listed on `q` (its owner removes it), as a
/// timed-out `put` does between giving up and withdrawing. Returns the finished-but-uncollected
/// select.
fn stale_put_entry(q: &QueueHandle<u32>) -> subinterpreters_core::PendingSelect<u32> {
    let (tx, rx) = channel::<u32>();
    let pending = match start_select(vec![q.put_case(100), rx.recv_case()], &[0, 1], true) {
        SelectStart::Pending(pending) => pending,
        _ => panic!("expected the select to park: the queue is full and the channel empty"),
    };
    assert_eq!(tx.send_nowait(200), Ok(true), "the select takes the channel item");
    pending
}

/// A put that parks behind an offer whose owner is giving up must be let in once that owner
/// withdraws, if the queue has room by then. Here: the queue is emptied while the stale entry is
/// listed (the get skips it), a put parks behind it, then the stale entry is withdrawn. The
/// queue now has room and a parked put, and nothing admits it: a `get` blocks for ever and the
/// put never completes (a getter and a putter deadlocked on a queue with room).
/// The same window opens with plain puts: a `put` timing out (`abort`, then `withdraw`) while a
/// get empties the queue and another put parks (see the loom model
/// `queue_put_cancelled_racing_a_get_and_a_second_put`).
#[test]
fn a_put_parked_behind_a_withdrawn_offer_is_admitted_once_there_is_room() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let mut select = stale_put_entry(&q);
    assert_eq!(q.try_get(), Ok(1), "room now; the select's put entry is stale and skipped");
    // Parks behind the stale entry (or, were stale entries ignored, enters at once).
    let parked = match q.start_put(2) {
        Ok(SendStart::Delivered) => None,
        Ok(SendStart::Pending(pending)) => Some(pending),
        Err(err) => panic!("not closed: {err:?}"),
    };
    // The select's owner collects its result and withdraws its put entry (item 100 dropped).
    assert_eq!(select.wait_until(patient()), Some(Selected::Received(1, 200)));
    // The queue has room for 1 and a put of 2 is pending: 2 must be in the queue by now.
    assert_eq!(q.try_get(), Ok(2), "a parked put was left waiting on a queue with room");
    if let Some(mut pending) = parked {
        assert_eq!(pending.wait_until(patient()), Some(Ok(())));
    }
}

/// While such a stale entry is listed, the queue has room (`qsize() == 0`, `!is_full()`) but
/// `put_nowait` refuses as if it were full.
#[test]
fn put_nowait_is_not_refused_by_a_withdrawn_offer_on_a_queue_with_room() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let select = stale_put_entry(&q);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.qsize(), 0);
    assert!(!q.is_full());
    let refused = q.put_nowait(2);
    assert_eq!(select.cancel(), Some(Selected::Received(1, 200)));
    assert_eq!(refused, Ok(()), "put_nowait refused on an empty queue with room");
}

// ---------------------------------------------------------------------------------------------
// Notified operations (the asyncio awaitables): a completion calls the notify hook; poll collects.

#[test]
fn a_notified_get_is_signalled_once_and_poll_collects_the_item() {
    let q = queue::<u32>(0);
    let signals = Arc::new(AtomicU64::new(0));
    let counter = signals.clone();
    let notify: subinterpreters_core::Notify = Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let mut pending = match q.start_get_notified(notify) {
        Ok(RecvStart::Pending(pending)) => pending,
        _ => panic!("nothing is ready: the get parks"),
    };
    assert!(!pending.is_complete());
    assert_eq!(pending.poll(), None, "poll does not wait");
    q.put_nowait(7).unwrap();
    assert_eq!(signals.load(Ordering::SeqCst), 1, "the put signalled the parked get");
    assert!(pending.is_complete());
    assert_eq!(pending.poll(), Some(Ok(7)));
    assert!(q.is_empty());
}

#[test]
fn a_cancelled_notified_get_puts_back_what_it_was_handed() {
    let q = queue::<u32>(0);
    let pending = match q.start_get_notified(Arc::new(|| {})) {
        Ok(RecvStart::Pending(pending)) => pending,
        _ => panic!("nothing is ready: the get parks"),
    };
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    pending.cancel_and_requeue();
    assert_eq!(q.get_many_nowait(10).unwrap(), vec![1, 2], "the item handed over went back in front");
}

#[test]
fn a_notified_put_on_a_full_queue_is_signalled_when_room_is_made() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let signals = Arc::new(AtomicU64::new(0));
    let counter = signals.clone();
    let mut pending = match q.start_put_notified(
        2,
        Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    ) {
        Ok(SendStart::Pending(pending)) => pending,
        _ => panic!("the queue is full: the put parks"),
    };
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(signals.load(Ordering::SeqCst), 1);
    assert!(matches!(pending.poll(), Some(Ok(()))));
    assert_eq!(q.try_get(), Ok(2));
}
