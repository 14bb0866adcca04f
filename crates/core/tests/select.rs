//! Integration tests of `select` over channels and queues with real threads: ready cases, the
//! caller's order, `random_order` (a permutation, and fair), not waiting, parking on every case
//! and being woken by a peer on any of them, exactly one case completing when peers race on
//! several, cancelling, closed channels and queues, the same queue twice, and two selects on
//! opposite ends of a channel.
//!
//! No test asserts on speed; waits use a generous bound (see `common::PATIENCE`).
#![cfg(not(loom))]

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{count, drops, in_ms, join, patient, Tracked};
use subinterpreters_core::{
    channel, queue, random_order, start_select, Case, PendingSelect, RecvError, RecvStart, SelectStart, Selected,
    SendError, TryRecvError,
};

/// Starts a select that must park.
fn park<T>(cases: Vec<Case<'_, T>>) -> PendingSelect<T> {
    let order: Vec<usize> = (0..cases.len()).collect();
    match start_select(cases, &order, true) {
        SelectStart::Pending(pending) => pending,
        SelectStart::Ready(_) => panic!("expected no case ready"),
        SelectStart::NotReady => panic!("asked to wait"),
    }
}

/// Starts a select in `order` that must complete at once.
fn ready<T>(cases: Vec<Case<'_, T>>, order: &[usize]) -> Selected<T> {
    match start_select(cases, order, false) {
        SelectStart::Ready(selected) => selected,
        SelectStart::NotReady => panic!("expected a ready case"),
        SelectStart::Pending(_) => panic!("not asked to wait"),
    }
}

/// Starts a select in `order` and, if it parks, waits for a case (failing after the patience).
fn select_patiently<T>(cases: Vec<Case<'_, T>>, order: &[usize]) -> Selected<T> {
    match start_select(cases, order, true) {
        SelectStart::Ready(selected) => selected,
        SelectStart::Pending(mut pending) => pending.wait_until(patient()).expect("a case completes"),
        SelectStart::NotReady => unreachable!("asked to wait"),
    }
}

/// Waits for a parked select on another thread; the handle yields its result.
fn spawn_wait<T: Send + 'static>(mut pending: PendingSelect<T>) -> thread::JoinHandle<Selected<T>> {
    thread::spawn(move || pending.wait_until(None).expect("no deadline: waits until a case completes"))
}

fn drain<T>(q: &subinterpreters_core::QueueHandle<T>) -> Vec<T> {
    let mut got = Vec::new();
    while let Ok(item) = q.try_get() {
        got.push(item);
    }
    got
}

// ---------------------------------------------------------------------------------------------
// Ready cases and order

#[test]
fn a_single_ready_case_completes_whatever_the_order() {
    // Receive from a channel.
    let (tx, rx) = channel::<u32>();
    let q = queue::<u32>(1);
    tx.send_nowait(1).unwrap();
    let (_tx2, rx2) = channel::<u32>();
    let cases = vec![rx2.recv_case(), rx.recv_case(), q.get_case()];
    assert_eq!(ready(cases, &[0, 1, 2]), Selected::Received(1, 1));
    // Get from a queue.
    q.put_nowait(2).unwrap();
    let cases = vec![rx2.recv_case(), rx.recv_case(), q.get_case()];
    assert_eq!(ready(cases, &[2, 1, 0]), Selected::Received(2, 2));
    // Put into a queue with room (the other cases are not ready).
    assert_eq!(ready(vec![rx.recv_case(), q.put_case(3)], &[0, 1]), Selected::Sent(1));
    assert_eq!(drain(&q), [3]);
    // Send to a waiting receiver.
    let receiver = {
        let rx = rx.clone();
        let (parked_tx, parked_rx) = std::sync::mpsc::channel();
        let handle = thread::spawn(move || match rx.start_recv().unwrap() {
            RecvStart::Pending(mut pending) => {
                parked_tx.send(()).unwrap();
                pending.wait_until(None).unwrap()
            }
            RecvStart::Ready(_) => panic!("nothing queued"),
        });
        parked_rx.recv_timeout(common::PATIENCE).unwrap();
        handle
    };
    assert_eq!(ready(vec![q.get_case(), tx.send_case(4)], &[0, 1]), Selected::Sent(1));
    assert_eq!(join(receiver), Ok(4));
}

#[test]
fn with_a_fixed_order_the_first_ready_case_in_that_order_wins() {
    let dropped = drops();
    let a = queue::<Tracked>(0);
    let b = queue::<Tracked>(0);
    let room = queue::<Tracked>(1);
    a.put_nowait(Tracked::new(1, &dropped)).unwrap();
    b.put_nowait(Tracked::new(2, &dropped)).unwrap();
    for (order, winner) in [([0, 1, 2], 0), ([1, 0, 2], 1), ([2, 0, 1], 2), ([2, 1, 0], 2)] {
        let before = count(&dropped);
        let cases = vec![a.get_case(), b.get_case(), room.put_case(Tracked::new(9, &dropped))];
        match ready(cases, &order) {
            Selected::Received(case, item) => {
                assert_eq!(case, winner, "order {order:?}");
                assert_eq!(item.id, [1, 2][case]);
                assert!(room.is_empty(), "order {order:?}: the losing put was not delivered");
                assert_eq!(count(&dropped), before + 1, "the losing put's item is dropped");
                // Put it back for the next round.
                [&a, &b][case].put_back(item);
            }
            Selected::Sent(case) => {
                assert_eq!(case, winner, "order {order:?}");
                assert_eq!(count(&dropped), before, "the winning put's item is kept");
                assert_eq!(room.try_get().map(|t| t.id), Ok(9));
            }
            other => panic!("order {order:?}: unexpected {other:?}"),
        }
        assert_eq!((a.qsize(), b.qsize(), room.qsize()), (1, 1, 0), "only the winner acted");
    }
}

#[test]
fn random_order_is_a_permutation() {
    assert!(random_order(0).is_empty());
    assert_eq!(random_order(1), [0]);
    for n in 2..12 {
        for _ in 0..50 {
            let mut order = random_order(n);
            assert_eq!(order.len(), n);
            order.sort_unstable();
            assert_eq!(order, (0..n).collect::<Vec<_>>());
        }
    }
}

#[test]
fn random_order_picks_each_ready_case_about_equally_often() {
    const CASES: usize = 4;
    const ROUNDS: usize = 4000;
    let queues: Vec<_> = (0..CASES).map(|_| queue::<u32>(0)).collect();
    for q in &queues {
        q.put_nowait(0).unwrap();
    }
    let mut wins = [0usize; CASES];
    // Which position in the order each case lands in, too.
    let mut first = [0usize; CASES];
    for _ in 0..ROUNDS {
        let order = random_order(CASES);
        first[order[0]] += 1;
        let cases = queues.iter().map(|q| q.get_case()).collect();
        match ready(cases, &order) {
            Selected::Received(case, item) => {
                wins[case] += 1;
                queues[case].put_nowait(item).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Expected 1000 each (standard deviation ~27): the bounds only catch a starving case.
    for case in 0..CASES {
        let won = wins[case];
        assert!((700..=1300).contains(&won), "case {case} won {won} of {ROUNDS}: {wins:?}");
        assert_eq!(wins[case], first[case], "the first case in the order wins when all are ready");
    }
    // Two ready among five: each of the two about half the time.
    let (_tx, idle) = channel::<u32>();
    let mut two = [0usize; 2];
    for _ in 0..2000 {
        let cases =
            vec![idle.recv_case(), queues[0].get_case(), idle.recv_case(), queues[1].get_case(), idle.recv_case()];
        match ready(cases, &random_order(5)) {
            Selected::Received(1, item) => {
                two[0] += 1;
                queues[0].put_nowait(item).unwrap();
            }
            Selected::Received(3, item) => {
                two[1] += 1;
                queues[1].put_nowait(item).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(two.iter().all(|n| (700..=1300).contains(n)), "two ready cases: {two:?}");
}

#[test]
#[should_panic(expected = "permutation")]
fn an_order_of_the_wrong_length_panics() {
    let q = queue::<u32>(0);
    let _ = start_select(vec![q.get_case(), q.get_case()], &[0], false);
}

// ---------------------------------------------------------------------------------------------
// Not waiting, and parking

#[test]
fn without_wait_nothing_ready_is_not_ready_and_nothing_is_registered() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let (send, recv) = channel::<Tracked>();
    let empty = queue::<Tracked>(0);
    let full = queue::<Tracked>(1);
    full.put_nowait(Tracked::new(0, &dropped)).unwrap();
    let cases = vec![
        rx.recv_case(),
        empty.get_case(),
        send.send_case(Tracked::new(1, &dropped)),
        full.put_case(Tracked::new(2, &dropped)),
    ];
    assert!(matches!(start_select(cases, &[3, 2, 1, 0], false), SelectStart::NotReady));
    assert_eq!(count(&dropped), 2, "the send items of a select that did not happen are dropped");
    // Nothing was left registered: items go to the buffers, not to a select.
    assert_eq!(tx.send_nowait(Tracked::new(3, &dropped)).ok(), Some(false));
    empty.put_nowait(Tracked::new(4, &dropped)).unwrap();
    assert_eq!(empty.qsize(), 1);
    assert!(matches!(recv.try_recv(), Err(TryRecvError::Empty)), "the send case left nothing");
    assert_eq!(full.try_get().map(|t| t.id), Ok(0));
    assert!(matches!(full.try_get(), Err(TryRecvError::Empty)), "the put case left nothing");
    assert!(matches!(start_select(Vec::<Case<'_, u32>>::new(), &[], false), SelectStart::NotReady));
}

#[test]
fn a_parked_select_is_woken_by_a_channel_send() {
    let (tx, rx) = channel::<u32>();
    let q = queue::<u32>(0);
    let waiting = spawn_wait(park(vec![q.get_case(), rx.recv_case()]));
    assert_eq!(tx.send_nowait(5), Ok(true), "handed to the parked select");
    assert_eq!(join(waiting), Selected::Received(1, 5));
    // Its registration on the queue is gone.
    q.put_nowait(6).unwrap();
    assert_eq!(q.qsize(), 1);
}

#[test]
fn a_parked_select_is_woken_by_a_queue_put() {
    let (_tx, rx) = channel::<u32>();
    let q = queue::<u32>(1);
    let waiting = spawn_wait(park(vec![rx.recv_case(), q.get_case()]));
    assert_eq!(q.put_nowait(5), Ok(()));
    assert_eq!(q.qsize(), 0, "handed to the parked select, not buffered");
    assert_eq!(join(waiting), Selected::Received(1, 5));
}

#[test]
fn a_parked_select_is_woken_by_a_receiver_taking_its_send() {
    let (tx, rx) = channel::<u32>();
    let q = queue::<u32>(0);
    let waiting = spawn_wait(park(vec![q.get_case(), tx.send_case(7)]));
    assert_eq!(rx.recv(patient()), Ok(7));
    assert_eq!(join(waiting), Selected::Sent(1));
    assert!(tx.channel().is_empty());
    // The blocking-receive path, with a sender select that parked first.
    let pending = park(vec![tx.send_case(8)]);
    assert_eq!(tx.channel().len(), 1, "the parked send case is listed with its item");
    let waiting = spawn_wait(pending);
    assert_eq!(rx.try_recv(), Ok(8));
    assert_eq!(join(waiting), Selected::Sent(0));
}

#[test]
fn a_parked_select_is_woken_by_a_get_making_room_for_its_put() {
    let (_tx, rx) = channel::<u32>();
    let q = queue::<u32>(2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let waiting = spawn_wait(park(vec![rx.recv_case(), q.put_case(3)]));
    assert_eq!(q.get(patient()), Ok(1));
    assert_eq!(join(waiting), Selected::Sent(1));
    assert_eq!(drain(&q), [2, 3], "the select's item entered behind the queued ones");
}

#[test]
fn a_parked_select_waits_again_after_a_deadline() {
    let q = queue::<u32>(0);
    let mut pending = park(vec![q.get_case()]);
    assert!(pending.wait_until(in_ms(20)).is_none());
    q.put_nowait(1).unwrap();
    assert_eq!(q.qsize(), 0, "still registered after the deadline");
    assert_eq!(pending.wait_until(patient()), Some(Selected::Received(0, 1)));
}

// ---------------------------------------------------------------------------------------------
// Exactly one case under racing peers

/// Each round, a select parks (or finds a case ready) on four cases while four peers race, one
/// on each: a put into queue A, a send into channel B, a get on full queue C (making room for
/// the select's put), and receives on channel D (taking the select's send if still offered).
/// Exactly one case completes; every item is accounted for exactly once: A's and B's items are
/// either the select's or still there; the select's put item is in C, and its send item reached
/// D's peer, only if that case won.
#[test]
fn exactly_one_case_completes_when_peers_race_on_every_case() {
    const ROUNDS: u64 = 400;
    let mut wins = [0u64; 4];
    for round in 0..ROUNDS {
        let a = queue::<u64>(0);
        let (b_tx, b_rx) = channel::<u64>();
        let c = queue::<u64>(1);
        c.put_nowait(30).unwrap(); // filler: full
        let (d_tx, d_rx) = channel::<u64>();
        let start = Arc::new(Barrier::new(5));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peers = {
            let a_peer = {
                let (a, start) = (a.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    a.put_nowait(10).unwrap();
                    None
                })
            };
            let b_peer = {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    b_tx.send_nowait(20).unwrap();
                    None
                })
            };
            let c_peer = {
                let (c, start) = (c.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    assert_eq!(c.try_get(), Ok(30), "the filler comes first");
                    None
                })
            };
            let d_peer = {
                let (start, done) = (start.clone(), done.clone());
                thread::spawn(move || {
                    start.wait();
                    // Keep trying until the select is over: takes its item if still offered.
                    loop {
                        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                        match d_rx.try_recv() {
                            Ok(item) => return Some(item),
                            Err(TryRecvError::Empty) if !finished => thread::yield_now(),
                            Err(_) => return None,
                        }
                    }
                })
            };
            [a_peer, b_peer, c_peer, d_peer]
        };
        start.wait();
        let cases = vec![a.get_case(), b_rx.recv_case(), c.put_case(31), d_tx.send_case(40)];
        let selected = select_patiently(cases, &random_order(4));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let results: Vec<Option<u64>> = peers.into_iter().map(join).collect();
        let d_got = results[3];
        let case = match selected {
            Selected::Received(0, 10) => 0,
            Selected::Received(1, 20) => 1,
            Selected::Sent(2) => 2,
            Selected::Sent(3) => 3,
            other => panic!("round {round}: unexpected {other:?}"),
        };
        wins[case] += 1;
        let a_left = drain(&a);
        let b_left: Vec<u64> = std::iter::from_fn(|| b_rx.try_recv().ok()).collect();
        let c_left = drain(&c);
        assert_eq!(a_left, if case == 0 { vec![] } else { vec![10] }, "round {round}: A");
        assert_eq!(b_left, if case == 1 { vec![] } else { vec![20] }, "round {round}: B");
        assert_eq!(c_left, if case == 2 { vec![31] } else { vec![] }, "round {round}: C (the put)");
        assert_eq!(d_got, (case == 3).then_some(40), "round {round}: D (the send)");
        assert!(d_tx.channel().is_empty() && c.is_empty(), "round {round}: no entry left listed");
    }
    eprintln!("select race wins per case: {wins:?}");
}

/// Many selects receive from two queues fed by several producers, with short deadlines that
/// cancel (withdrawing every registration) all the time: every item is received exactly once.
#[test]
fn selects_that_time_out_and_retry_lose_and_duplicate_nothing() {
    const PRODUCERS: u64 = 3;
    const PER_PRODUCER: u64 = 1000;
    let queues = [queue::<u64>(2), queue::<u64>(0)];
    let (tx, rx) = channel::<u64>();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queues = queues.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                for seq in 0..PER_PRODUCER {
                    let value = (p << 32) | seq;
                    match seq % 3 {
                        0 => queues[0].put(value, None).unwrap(),
                        1 => queues[1].put_nowait(value).unwrap(),
                        _ => tx.send(value, None).unwrap(),
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let selectors: Vec<_> = (0..3)
        .map(|n| {
            let queues = queues.clone();
            let rx = rx.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                for attempt in 0u64.. {
                    let cases = vec![queues[0].get_case(), queues[1].get_case(), rx.recv_case()];
                    let result = match start_select(cases, &random_order(3), true) {
                        SelectStart::Ready(selected) => Some(selected),
                        SelectStart::Pending(mut pending) => {
                            // An expired deadline (park, then withdraw at once) or a short one.
                            let deadline = match (attempt + n) % 2 {
                                0 => Some(std::time::Instant::now()),
                                _ => in_ms(1),
                            };
                            match pending.wait_until(deadline) {
                                Some(selected) => Some(selected),
                                None => pending.cancel(),
                            }
                        }
                        SelectStart::NotReady => unreachable!("asked to wait"),
                    };
                    match result {
                        Some(Selected::Received(_, value)) => got.push(value),
                        // One source is finished (a drained case is ready for ever): finish the
                        // others with plain blocking calls.
                        Some(Selected::Drained(_)) => break,
                        Some(other) => panic!("receive cases only: {other:?}"),
                        None => {}
                    }
                }
                for q in &queues {
                    while let Ok(value) = q.get(None) {
                        got.push(value);
                    }
                }
                while let Ok(value) = rx.recv(None) {
                    got.push(value);
                }
                got
            })
        })
        .collect();
    drop(rx);
    for p in producers {
        join(p);
    }
    for q in &queues {
        q.close();
    }
    let mut all: Vec<u64> = selectors.into_iter().flat_map(join).collect();
    all.sort_unstable();
    let mut expected: Vec<u64> =
        (0..PRODUCERS).flat_map(|p| (0..PER_PRODUCER).map(move |seq| (p << 32) | seq)).collect();
    expected.sort_unstable();
    assert_eq!(all.len(), expected.len(), "lost or duplicated items");
    assert_eq!(all, expected);
}

// ---------------------------------------------------------------------------------------------
// Cancel

#[test]
fn cancel_withdraws_every_case_and_nothing_is_sent_later() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let get_from = queue::<Tracked>(0);
    let full = queue::<Tracked>(1);
    full.put_nowait(Tracked::new(0, &dropped)).unwrap();
    let (_idle_tx, idle_rx) = channel::<Tracked>();
    let pending = park(vec![
        idle_rx.recv_case(),
        get_from.get_case(),
        full.put_case(Tracked::new(1, &dropped)),
        tx.send_case(Tracked::new(2, &dropped)),
    ]);
    assert_eq!(tx.channel().len(), 1, "the send case is listed");
    assert!(pending.cancel().is_none(), "nothing completed");
    assert_eq!(count(&dropped), 2, "the send items are dropped by the cancel");
    assert!(tx.channel().is_empty(), "the send case is no longer listed");
    // Nothing is delivered later: no item reaches a receiver, the full queue takes nothing.
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    assert_eq!(full.try_get().map(|t| t.id), Ok(0));
    assert!(matches!(full.try_get(), Err(TryRecvError::Empty)));
    // The receive cases are gone too: new items are buffered.
    get_from.put_nowait(Tracked::new(3, &dropped)).unwrap();
    assert_eq!(get_from.qsize(), 1);
}

#[test]
fn cancel_after_a_case_completed_reports_that_case() {
    let q = queue::<u32>(0);
    let (tx, _rx) = channel::<u32>();
    let pending = park(vec![tx.send_case(1), q.get_case()]);
    q.put_nowait(9).unwrap();
    assert_eq!(pending.cancel(), Some(Selected::Received(1, 9)));
    assert!(tx.channel().is_empty(), "the losing send case was withdrawn");
}

#[test]
fn cancel_and_requeue_puts_a_received_item_back_in_front() {
    let q = queue::<u32>(0);
    let (tx, rx) = channel::<u32>();
    let pending = park(vec![rx.recv_case(), q.get_case()]);
    q.put_nowait(1).unwrap(); // handed to the select
    q.put_nowait(2).unwrap();
    tx.send_nowait(3).unwrap(); // not handed: the select is done
    pending.cancel_and_requeue();
    assert_eq!(drain(&q), [1, 2], "the requeued item goes back where it was");
    assert_eq!(rx.try_recv(), Ok(3));

    // From a channel, with a dropped (not cancelled) select.
    let pending = park(vec![q.get_case(), rx.recv_case()]);
    tx.send_nowait(4).unwrap();
    tx.send_nowait(5).unwrap();
    drop(pending);
    assert_eq!(rx.try_recv(), Ok(4));
    assert_eq!(rx.try_recv(), Ok(5));
    // Nothing received: just withdraws.
    park(vec![q.get_case(), rx.recv_case()]).cancel_and_requeue();
    q.put_nowait(6).unwrap();
    assert_eq!(q.qsize(), 1);
}

#[test]
fn cancel_and_requeue_after_a_send_case_won_keeps_the_send() {
    let q = queue::<u32>(1);
    q.put_nowait(1).unwrap();
    let (_tx, rx) = channel::<u32>();
    let pending = park(vec![rx.recv_case(), q.put_case(2)]);
    assert_eq!(q.try_get(), Ok(1)); // admits the select's put
    pending.cancel_and_requeue();
    assert_eq!(drain(&q), [2], "a completed put stays put");
}

// ---------------------------------------------------------------------------------------------
// Closed channels and queues

#[test]
fn closed_and_drained_receive_cases_are_ready_as_drained() {
    let (tx, rx) = channel::<u32>();
    let q = queue::<u32>(0);
    let (_open_tx, open_rx) = channel::<u32>();
    drop(tx);
    assert_eq!(ready(vec![open_rx.recv_case(), rx.recv_case()], &[0, 1]), Selected::Drained(1));
    q.put_nowait(1).unwrap();
    q.close();
    // Items queued before the close are still received first.
    assert_eq!(ready(vec![open_rx.recv_case(), q.get_case()], &[0, 1]), Selected::Received(1, 1));
    assert_eq!(ready(vec![open_rx.recv_case(), q.get_case()], &[0, 1]), Selected::Drained(1));
    // Drained is ready like any other case: the order decides.
    q.put_back(2);
    assert_eq!(ready(vec![rx.recv_case(), q.get_case()], &[0, 1]), Selected::Drained(0));
    assert_eq!(ready(vec![rx.recv_case(), q.get_case()], &[1, 0]), Selected::Received(1, 2));
}

#[test]
fn send_cases_on_closed_channels_and_queues_return_the_item() {
    let (tx, rx) = channel::<u32>();
    let q = queue::<u32>(0);
    let (_idle_tx, idle_rx) = channel::<u32>();
    rx.close();
    let cases = vec![idle_rx.recv_case(), tx.send_case(1)];
    assert_eq!(ready(cases, &[0, 1]), Selected::SendClosed(1, 1));
    q.close();
    assert_eq!(ready(vec![idle_rx.recv_case(), q.put_case(2)], &[0, 1]), Selected::SendClosed(1, 2));
    assert!(q.is_empty());
}

#[test]
fn a_parked_select_is_woken_by_closes() {
    // A get case: the queue closes.
    let q = queue::<u32>(1);
    let (_tx, idle) = channel::<u32>();
    let waiting = spawn_wait(park(vec![idle.recv_case(), q.get_case()]));
    thread::sleep(Duration::from_millis(10));
    q.close();
    assert_eq!(join(waiting), Selected::Drained(1));

    // A put case: its queue closes; the item comes back.
    let q = queue::<u32>(1);
    q.put_nowait(0).unwrap();
    let waiting = spawn_wait(park(vec![idle.recv_case(), q.put_case(5)]));
    q.close();
    assert_eq!(join(waiting), Selected::SendClosed(1, 5));
    assert_eq!(drain(&q), [0]);

    // A send case: the receive end closes.
    let (tx, rx) = channel::<u32>();
    let waiting = spawn_wait(park(vec![idle.recv_case(), tx.send_case(6)]));
    rx.close();
    assert_eq!(join(waiting), Selected::SendClosed(1, 6));

    // A receive case: the last sender goes.
    let (tx, rx) = channel::<u32>();
    let waiting = spawn_wait(park(vec![idle.recv_case(), rx.recv_case()]));
    drop(tx);
    assert_eq!(join(waiting), Selected::Drained(1));

    // A queue freed by its last handle while a select (which holds no handle) is parked on it.
    let q = queue::<u32>(0);
    let waiting = spawn_wait(park(vec![idle.recv_case(), q.get_case()]));
    drop(q);
    assert_eq!(join(waiting), Selected::Drained(1));
}

// ---------------------------------------------------------------------------------------------
// The same queue twice; two selects meeting

#[test]
fn select_over_the_same_queue_twice() {
    let q = queue::<u32>(1);
    // Two get cases, both ready: the order decides; one item is taken.
    q.put_nowait(1).unwrap();
    assert_eq!(ready(vec![q.get_case(), q.get_case()], &[1, 0]), Selected::Received(1, 1));
    assert!(q.is_empty());
    // A get and a put on one queue: whichever is ready.
    assert_eq!(ready(vec![q.get_case(), q.put_case(2)], &[0, 1]), Selected::Sent(1));
    assert_eq!(ready(vec![q.put_case(3), q.get_case()], &[0, 1]), Selected::Received(1, 2));
    // Parked on two get cases: one put completes one case; the next put is buffered.
    let waiting = spawn_wait(park(vec![q.get_case(), q.get_case()]));
    q.put_nowait(4).unwrap();
    let selected = join(waiting);
    assert!(matches!(selected, Selected::Received(0 | 1, 4)), "{selected:?}");
    q.put_nowait(5).unwrap();
    assert_eq!(drain(&q), [5]);
    // Parked on two put cases of a full queue: one get admits exactly one of the two items.
    q.put_nowait(6).unwrap();
    let waiting = spawn_wait(park(vec![q.put_case(7), q.put_case(8)]));
    assert_eq!(q.get(patient()), Ok(6));
    let selected = join(waiting);
    let expected = match selected {
        Selected::Sent(0) => 7,
        Selected::Sent(1) => 8,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(drain(&q), [expected], "exactly one of the two put items entered");
}

#[test]
fn a_select_with_both_ends_of_one_channel_does_not_meet_itself() {
    let (tx, rx) = channel::<u32>();
    let mut pending = park(vec![tx.send_case(1), rx.recv_case()]);
    assert!(pending.wait_until(in_ms(20)).is_none(), "a select never hands its item to itself");
    assert_eq!(tx.send_nowait(2), Ok(true), "its receive case takes a peer's item");
    assert_eq!(pending.wait_until(patient()), Some(Selected::Received(1, 2)));
    assert!(tx.channel().is_empty(), "its send case was withdrawn");
}

#[test]
fn two_selects_on_opposite_ends_of_a_channel_meet() {
    let (tx, rx) = channel::<u32>();
    for round in 0..300 {
        let start = Arc::new(Barrier::new(2));
        let sender = {
            let (tx, start) = (tx.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                select_patiently(vec![tx.send_case(round)], &[0])
            })
        };
        start.wait();
        let received = select_patiently(vec![rx.recv_case()], &[0]);
        assert_eq!(received, Selected::Received(0, round));
        assert_eq!(join(sender), Selected::Sent(0));
    }
}

/// Two selects each offer to send on one channel and to receive from the other, crosswise, and
/// also (both) to send and receive on a shared channel: they must meet every time (no deadlock
/// from the lock order, no livelock), and their results must match.
#[test]
fn crosswise_selects_meet_without_deadlock() {
    let (ab_tx, ab_rx) = channel::<u32>();
    let (ba_tx, ba_rx) = channel::<u32>();
    let (shared_tx, shared_rx) = channel::<u32>();
    for round in 0..500u32 {
        let start = Arc::new(Barrier::new(2));
        let b = {
            let (ba_tx, ab_rx, shared_tx, shared_rx, start) =
                (ba_tx.clone(), ab_rx.clone(), shared_tx.clone(), shared_rx.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                let cases = vec![
                    ba_tx.send_case(2000 + round),
                    ab_rx.recv_case(),
                    shared_tx.send_case(4000 + round),
                    shared_rx.recv_case(),
                ];
                select_patiently(cases, &random_order(4))
            })
        };
        start.wait();
        let cases = vec![
            ab_tx.send_case(1000 + round),
            ba_rx.recv_case(),
            shared_tx.send_case(3000 + round),
            shared_rx.recv_case(),
        ];
        let a = select_patiently(cases, &random_order(4));
        let b = join(b);
        match (&a, &b) {
            (Selected::Sent(0), Selected::Received(1, v)) => assert_eq!(*v, 1000 + round),
            (Selected::Received(1, v), Selected::Sent(0)) => assert_eq!(*v, 2000 + round),
            (Selected::Sent(2), Selected::Received(3, v)) => assert_eq!(*v, 3000 + round),
            (Selected::Received(3, v), Selected::Sent(2)) => assert_eq!(*v, 4000 + round),
            other => panic!("round {round}: the selects did not meet consistently: {other:?}"),
        }
        for chan in [ab_tx.channel(), ba_tx.channel(), shared_tx.channel()] {
            assert!(chan.is_empty(), "round {round}: a losing send case stayed listed");
        }
    }
}

#[test]
fn a_blocking_send_and_receive_meet_a_parked_select() {
    let (tx, rx) = channel::<u32>();
    // A select parked on a receive meets a plain blocking send...
    let waiting = spawn_wait(park(vec![rx.recv_case()]));
    assert_eq!(tx.send(1, patient()), Ok(()));
    assert_eq!(join(waiting), Selected::Received(0, 1));
    // ...and a select parked on a send meets a plain blocking receive.
    let waiting = spawn_wait(park(vec![tx.send_case(2)]));
    assert_eq!(rx.recv(patient()), Ok(2));
    assert_eq!(join(waiting), Selected::Sent(0));
    // A blocking send that times out against nobody leaves nothing for a later select.
    assert_eq!(tx.send(3, in_ms(10)), Err(SendError::Withdrawn(3)));
    assert!(matches!(start_select(vec![rx.recv_case()], &[0], false), SelectStart::NotReady));
    drop(tx);
    assert_eq!(rx.recv(patient()), Err(RecvError::Closed));
}

#[test]
fn many_selects_and_plain_calls_on_shared_queues_deliver_exactly_once() {
    // Selects that put into either of two bounded queues, racing plain getters: every item the
    // selects report as sent arrives exactly once, and nothing else arrives.
    const SELECTORS: u64 = 3;
    const PER: u64 = 800;
    let queues = [queue::<u64>(2), queue::<u64>(1)];
    let selectors: Vec<_> = (0..SELECTORS)
        .map(|s| {
            let queues = queues.clone();
            thread::spawn(move || {
                let mut sent = Vec::new();
                for seq in 0..PER {
                    // The same value offered on both queues: only one may take it.
                    let value = (s << 32) | seq;
                    let cases = vec![queues[0].put_case(value), queues[1].put_case(value)];
                    let selected = select_patiently(cases, &random_order(2));
                    assert!(matches!(selected, Selected::Sent(0 | 1)), "{selected:?}");
                    sent.push(value);
                }
                sent
            })
        })
        .collect();
    let getters: Vec<_> = (0..2)
        .map(|g| {
            let q = queues[g].clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(value) = q.get(None) {
                    got.push(value);
                }
                got
            })
        })
        .collect();
    let mut sent: Vec<u64> = selectors.into_iter().flat_map(join).collect();
    for q in &queues {
        q.close();
    }
    let mut got: Vec<u64> = getters.into_iter().flat_map(join).collect();
    sent.sort_unstable();
    got.sort_unstable();
    let expected = (SELECTORS * PER) as usize;
    assert_eq!(got.len(), expected, "an item offered on two queues arrived twice or never");
    assert_eq!(got, sent);
}
