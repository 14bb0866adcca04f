//! Integration tests of the channel API with real threads: rendezvous, `send_nowait` queueing,
//! ordering, exactly-once delivery, deadlines that withdraw, closing, handle counting, and the
//! parked-operation API (`start_send` / `start_recv`).
//!
//! No test asserts on speed. Deadlines of tens of milliseconds appear only where the behaviour
//! under test needs one; everything else waits with a generous bound (see `common::PATIENCE`).
#![cfg(not(loom))]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{count, drops, in_ms, join, patient, wait_for, Tracked};
use subinterpreters_core::{
    channel, PendingRecv, Receiver, RecvError, RecvStart, SendError, SendStart, Sender, TryRecvError,
};

/// Parks a receive in the calling thread and returns the parked operation.
fn park_recv<T>(rx: &Receiver<T>) -> PendingRecv<T> {
    match rx.start_recv() {
        Ok(RecvStart::Pending(pending)) => pending,
        Ok(RecvStart::Ready(_)) => panic!("expected nothing ready"),
        Err(err) => panic!("start_recv failed: {err:?}"),
    }
}

/// Starts a receiver thread that parks (deterministically registered before this returns) and
/// then waits for ever; the handle yields what the receive returned.
fn spawn_parked_receiver<T: Send + 'static>(rx: &Receiver<T>) -> thread::JoinHandle<Result<T, RecvError>> {
    let rx = rx.clone();
    let (parked_tx, parked_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut pending = park_recv(&rx);
        parked_tx.send(()).unwrap();
        pending.wait_until(None).expect("no deadline: waits until completed")
    });
    parked_rx.recv_timeout(common::PATIENCE).expect("receiver parked");
    handle
}

/// Starts a rendezvous sender thread and waits until its item is listed on the channel.
fn spawn_blocked_sender<T: Send + 'static>(tx: &Sender<T>, item: T) -> thread::JoinHandle<Result<(), SendError<T>>> {
    let before = tx.channel().len();
    let tx2 = tx.clone();
    let handle = thread::spawn(move || tx2.send(item, None));
    let chan = tx.channel().clone();
    wait_for("sender to park", || chan.len() > before);
    handle
}

// ---------------------------------------------------------------------------------------------
// Rendezvous and send_nowait

#[test]
fn rendezvous_send_returns_only_after_a_receiver_took_the_item() {
    let (tx, rx) = channel::<u32>();
    let returned = Arc::new(AtomicBool::new(false));
    let flag = returned.clone();
    let sender = thread::spawn(move || {
        let result = tx.send(7, None);
        flag.store(true, Ordering::SeqCst);
        result
    });
    wait_for("sender to park", || rx.channel().len() == 1);
    // Parked with its item and not returned; give it time to misbehave.
    thread::sleep(Duration::from_millis(30));
    assert!(!returned.load(Ordering::SeqCst), "send returned before any receiver took the item");
    assert_eq!(rx.channel().len(), 1);
    assert_eq!(rx.recv(patient()), Ok(7));
    assert_eq!(join(sender), Ok(()));
    assert!(returned.load(Ordering::SeqCst));
    assert!(rx.channel().is_empty());
}

#[test]
fn rendezvous_send_to_a_waiting_receiver_is_delivered_at_once() {
    let (tx, rx) = channel::<u32>();
    let receiver = spawn_parked_receiver(&rx);
    // A receiver is registered: even an already expired deadline must deliver ("try once").
    assert_eq!(tx.send(1, Some(Instant::now())), Ok(()));
    assert_eq!(join(receiver), Ok(1));
    let receiver = spawn_parked_receiver(&rx);
    assert!(matches!(tx.start_send(2), Ok(SendStart::Delivered)));
    assert_eq!(join(receiver), Ok(2));
}

#[test]
fn send_nowait_queues_fifo_and_returns_false_without_a_receiver() {
    let (tx, rx) = channel::<u32>();
    for i in 0..5 {
        assert_eq!(tx.send_nowait(i), Ok(false));
    }
    assert_eq!(tx.channel().len(), 5);
    for i in 0..5 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(tx.channel().is_empty());
    // Blocking receives drain the queue too, in order.
    for i in 10..13 {
        tx.send_nowait(i).unwrap();
    }
    for i in 10..13 {
        assert_eq!(rx.recv(patient()), Ok(i));
    }
}

#[test]
fn send_nowait_hands_to_a_waiting_receiver_and_returns_true() {
    let (tx, rx) = channel::<u32>();
    let receiver = spawn_parked_receiver(&rx);
    assert_eq!(tx.send_nowait(42), Ok(true));
    assert_eq!(join(receiver), Ok(42));
    assert!(tx.channel().is_empty(), "a handed item is not also queued");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn oldest_waiting_receiver_is_served_first() {
    let (tx, rx) = channel::<u32>();
    let mut first = park_recv(&rx);
    let mut second = park_recv(&rx);
    assert_eq!(tx.send_nowait(1), Ok(true));
    assert_eq!(tx.send_nowait(2), Ok(true));
    assert_eq!(tx.send_nowait(3), Ok(false));
    assert_eq!(first.wait_until(patient()).unwrap(), Ok(1));
    assert_eq!(second.wait_until(patient()).unwrap(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn queued_and_blocked_senders_are_received_in_one_fifo_order() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    let blocked = spawn_blocked_sender(&tx, 2); // listed after 1
    tx.send_nowait(3).unwrap(); // queued after the blocked sender's item
    let blocked2 = spawn_blocked_sender(&tx, 4);
    assert_eq!(tx.channel().len(), 4);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(join(blocked), Ok(()));
    assert_eq!(rx.recv(patient()), Ok(3));
    assert_eq!(rx.recv(patient()), Ok(4));
    assert_eq!(join(blocked2), Ok(()));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn try_recv_takes_the_item_of_a_blocked_sender_and_releases_it() {
    let (tx, rx) = channel::<&'static str>();
    let sender = spawn_blocked_sender(&tx, "hello");
    assert_eq!(rx.try_recv(), Ok("hello"));
    assert_eq!(join(sender), Ok(()));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn try_send_succeeds_only_with_a_waiting_receiver() {
    let (tx, rx) = channel::<u32>();
    match tx.try_send(5) {
        Err(SendError::Withdrawn(5)) => {}
        other => panic!("expected Withdrawn(5), got {other:?}"),
    }
    assert!(tx.channel().is_empty(), "a failed try_send leaves nothing behind");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let receiver = spawn_parked_receiver(&rx);
    assert_eq!(tx.try_send(6), Ok(()));
    assert_eq!(join(receiver), Ok(6));
    tx.close();
    assert_eq!(tx.try_send(7), Err(SendError::Closed(7)));
}

#[test]
fn try_recv_reports_empty_then_closed() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send_nowait(1).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

// ---------------------------------------------------------------------------------------------
// Ordering and exactly-once delivery under contention

const fn item(sender: u64, seq: u64) -> u64 {
    (sender << 32) | seq
}

#[test]
fn each_senders_items_arrive_in_the_order_sent() {
    const SENDERS: u64 = 4;
    const PER_SENDER: u64 = 1500;
    let (tx, rx) = channel::<u64>();
    let start = Arc::new(Barrier::new(SENDERS as usize));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for seq in 0..PER_SENDER {
                    // Mix both kinds of send: order holds across them.
                    if (seq + s) % 3 == 0 {
                        tx.send(item(s, seq), None).unwrap();
                    } else {
                        tx.send_nowait(item(s, seq)).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let receiver = thread::spawn(move || {
        let mut next = vec![0u64; SENDERS as usize];
        loop {
            match rx.recv(None) {
                Ok(value) => {
                    let (s, seq) = ((value >> 32) as usize, value & 0xffff_ffff);
                    assert_eq!(seq, next[s], "sender {s}: item {seq} arrived out of order");
                    next[s] += 1;
                }
                Err(RecvError::Closed) => return next,
                Err(RecvError::Withdrawn) => panic!("no deadline: never withdrawn"),
            }
        }
    });
    for sender in senders {
        join(sender);
    }
    assert_eq!(join(receiver), vec![PER_SENDER; SENDERS as usize]);
}

/// Deadlines for the withdrawal stress: already expired ("try once": park, then withdraw at once,
/// the tightest race with a peer), tens of microseconds, or a millisecond.
fn short_deadline(n: u64) -> Option<Instant> {
    let now = Instant::now();
    Some(match n % 3 {
        0 => now,
        1 => now + Duration::from_micros(20),
        _ => now + Duration::from_millis(1),
    })
}

/// Runs `senders` sending threads and `receivers` receiving threads; every item must be received
/// exactly once. With `deadlines`, every operation uses a short deadline and retries after
/// `Withdrawn`, so withdrawals race with hand-offs all the time.
fn exactly_once(senders: u64, receivers: usize, per_sender: u64, deadlines: bool) {
    let (tx, rx) = channel::<u64>();
    let start = Arc::new(Barrier::new(senders as usize + receivers));
    let sender_threads: Vec<_> = (0..senders)
        .map(|s| {
            let tx = tx.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut withdrawn = 0u64;
                for seq in 0..per_sender {
                    let mut value = item(s, seq);
                    if !deadlines && seq % 2 == 0 {
                        tx.send_nowait(value).unwrap();
                        continue;
                    }
                    for attempt in 0u64.. {
                        let deadline = if deadlines { short_deadline(seq + attempt) } else { None };
                        match tx.send(value, deadline) {
                            Ok(()) => break,
                            Err(SendError::Withdrawn(back)) => {
                                assert_eq!(back, value, "a withdrawn send returns its own item");
                                withdrawn += 1;
                                value = back;
                            }
                            Err(SendError::Closed(_)) => panic!("receive end closed early"),
                        }
                    }
                }
                withdrawn
            })
        })
        .collect();
    drop(tx);
    let withdrawn_recvs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let receiver_threads: Vec<_> = (0..receivers)
        .map(|_| {
            let rx = rx.clone();
            let start = start.clone();
            let withdrawn_recvs = withdrawn_recvs.clone();
            thread::spawn(move || {
                start.wait();
                let mut got = Vec::new();
                for attempt in 0u64.. {
                    let deadline = if deadlines { short_deadline(attempt) } else { None };
                    match rx.recv(deadline) {
                        Ok(value) => got.push(value),
                        Err(RecvError::Withdrawn) => {
                            assert!(deadlines);
                            withdrawn_recvs.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => return got,
                    }
                }
                unreachable!("the attempt counter does not run out")
            })
        })
        .collect();
    drop(rx);
    let withdrawn: u64 = sender_threads.into_iter().map(join).sum();
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for r in receiver_threads {
        for value in join(r) {
            *counts.entry(value).or_default() += 1;
        }
    }
    for s in 0..senders {
        for seq in 0..per_sender {
            let n = counts.remove(&item(s, seq)).unwrap_or(0);
            assert_eq!(n, 1, "item ({s}, {seq}) received {n} times");
        }
    }
    assert!(counts.is_empty(), "received items never sent: {counts:?}");
    if deadlines {
        let recvs = withdrawn_recvs.load(Ordering::Relaxed);
        eprintln!("exactly_once with deadlines: {withdrawn} sends and {recvs} receives withdrawn");
    }
}

#[test]
fn every_item_is_received_exactly_once_with_several_senders_and_receivers() {
    exactly_once(4, 3, 2000, false);
}

#[test]
fn every_item_is_received_exactly_once_when_deadlines_keep_withdrawing() {
    exactly_once(3, 3, 400, true);
}

// ---------------------------------------------------------------------------------------------
// Deadlines

#[test]
fn send_that_times_out_withdraws_its_item_for_good() {
    let (tx, rx) = channel::<u32>();
    match tx.send(9, in_ms(30)) {
        Err(SendError::Withdrawn(9)) => {}
        other => panic!("expected Withdrawn(9), got {other:?}"),
    }
    assert!(tx.channel().is_empty(), "the withdrawn item is no longer listed");
    // Never delivered later: neither to a late try_recv nor to a later blocking receive.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(rx.recv(in_ms(30)), Err(RecvError::Withdrawn));
    // The channel still works.
    tx.send_nowait(10).unwrap();
    assert_eq!(rx.recv(patient()), Ok(10));
}

#[test]
fn timed_out_send_hands_back_the_very_item_and_drops_nothing() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let back = match tx.send(Tracked::new(1, &dropped), in_ms(20)) {
        Err(SendError::Withdrawn(back)) => back,
        other => panic!("expected Withdrawn, got {other:?}"),
    };
    assert_eq!(back.id, 1);
    assert_eq!(count(&dropped), 0, "the core must not drop a withdrawn item");
    drop(back);
    assert_eq!(count(&dropped), 1);
    drop((tx, rx));
    assert_eq!(count(&dropped), 1);
}

#[test]
fn recv_that_times_out_returns_withdrawn() {
    let (tx, rx) = channel::<u32>();
    assert_eq!(rx.recv(in_ms(30)), Err(RecvError::Withdrawn));
    // The timed-out receiver is no longer registered: a later send_nowait queues.
    assert_eq!(tx.send_nowait(1), Ok(false));
    assert_eq!(rx.recv(in_ms(30)), Ok(1));
}

#[test]
fn expired_deadlines_try_exactly_once() {
    let (tx, rx) = channel::<u32>();
    let past = Some(Instant::now());
    assert_eq!(tx.send(1, past), Err(SendError::Withdrawn(1)));
    assert_eq!(rx.recv(past), Err(RecvError::Withdrawn));
    tx.send_nowait(2).unwrap();
    assert_eq!(rx.recv(past), Ok(2), "a ready item is taken even with an expired deadline");
    let sender = spawn_blocked_sender(&tx, 3);
    assert_eq!(rx.recv(past), Ok(3), "a blocked sender's item is ready too");
    assert_eq!(join(sender), Ok(()));
}

#[test]
fn a_receiver_arriving_during_the_deadline_gets_the_item() {
    let (tx, rx) = channel::<u32>();
    let sender = thread::spawn(move || tx.send(5, Some(Instant::now() + common::PATIENCE)));
    assert_eq!(rx.recv(patient()), Ok(5));
    assert_eq!(join(sender), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// close_send

#[test]
fn close_send_lets_receivers_drain_the_queue_then_reports_closed() {
    let (tx, rx) = channel::<u32>();
    for i in 0..3 {
        tx.send_nowait(i).unwrap();
    }
    tx.close();
    assert!(tx.is_closed());
    assert!(!rx.is_closed(), "items are still queued");
    assert_eq!(tx.send_nowait(9), Err(SendError::Closed(9)));
    assert_eq!(tx.send(9, patient()), Err(SendError::Closed(9)));
    assert_eq!(tx.try_send(9), Err(SendError::Closed(9)));
    assert!(matches!(tx.start_send(9), Err(SendError::Closed(9))));
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.recv(patient()), Ok(1));
    assert_eq!(rx.recv(in_ms(10)), Ok(2));
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(rx.recv(patient()), Err(RecvError::Closed));
    assert!(matches!(rx.start_recv(), Err(RecvError::Closed)));
    assert!(tx.channel().is_send_closed() && tx.channel().is_recv_closed());
    assert!(!tx.channel().is_fully_closed());
}

#[test]
fn close_send_gives_blocked_senders_their_items_back() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let a = spawn_blocked_sender(&tx, Tracked::new(1, &dropped));
    let b = spawn_blocked_sender(&tx, Tracked::new(2, &dropped));
    tx.close();
    for (handle, id) in [(a, 1), (b, 2)] {
        match join(handle) {
            Err(SendError::Closed(back)) => assert_eq!(back.id, id),
            other => panic!("expected Closed(item), got {other:?}"),
        }
    }
    assert_eq!(count(&dropped), 2, "each item came back once and was dropped by its sender");
    // Blocked senders' items are not queued items: nothing left to drain.
    assert!(tx.channel().is_empty());
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
}

#[test]
fn close_send_wakes_blocked_receivers() {
    let (tx, rx) = channel::<u32>();
    let parked = [spawn_parked_receiver(&rx), spawn_parked_receiver(&rx)];
    // And one through the public blocking call (it may or may not park before the close: both
    // orders must end in Closed).
    let rx2 = rx.clone();
    let blocking = thread::spawn(move || rx2.recv(None));
    thread::sleep(Duration::from_millis(20));
    tx.close();
    for handle in parked {
        assert_eq!(join(handle), Err(RecvError::Closed));
    }
    assert_eq!(join(blocking), Err(RecvError::Closed));
}

#[test]
fn close_send_with_a_queue_keeps_later_receivers_served() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    tx.send_nowait(2).unwrap();
    tx.close();
    let rx2 = rx.clone();
    let a = thread::spawn(move || rx2.recv(None));
    let first = join(a).unwrap();
    let second = rx.recv(patient()).unwrap();
    assert_eq!((first, second), (1, 2));
    assert_eq!(rx.recv(patient()), Err(RecvError::Closed));
}

// ---------------------------------------------------------------------------------------------
// close_recv

#[test]
fn close_recv_drops_queued_items_and_fails_every_call() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    for i in 0..3 {
        tx.send_nowait(Tracked::new(i, &dropped)).unwrap();
    }
    rx.close();
    assert_eq!(count(&dropped), 3, "queued items are dropped by close_recv");
    assert!(rx.is_closed() && tx.is_closed());
    assert!(rx.channel().is_empty());
    match tx.send_nowait(Tracked::new(10, &dropped)) {
        Err(SendError::Closed(back)) => assert_eq!(back.id, 10),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(tx.send(Tracked::new(11, &dropped), patient()), Err(SendError::Closed(_))));
    assert!(matches!(tx.try_send(Tracked::new(12, &dropped)), Err(SendError::Closed(_))));
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    assert!(matches!(rx.recv(patient()), Err(RecvError::Closed)));
    assert!(matches!(rx.start_recv(), Err(RecvError::Closed)));
    assert_eq!(count(&dropped), 6);
}

#[test]
fn close_recv_wakes_blocked_senders_with_their_items_and_blocked_receivers() {
    let (tx, rx) = channel::<u32>();
    let senders = [spawn_blocked_sender(&tx, 1), spawn_blocked_sender(&tx, 2)];
    // A receiver cannot park while senders wait; use a second channel for that side.
    let (tx2, rx2) = channel::<u32>();
    let receiver = spawn_parked_receiver(&rx2);
    rx.close();
    rx2.close();
    let mut back: Vec<u32> = senders
        .into_iter()
        .map(|h| match join(h) {
            Err(SendError::Closed(item)) => item,
            other => panic!("expected Closed(item), got {other:?}"),
        })
        .collect();
    back.sort_unstable();
    assert_eq!(back, [1, 2]);
    assert_eq!(join(receiver), Err(RecvError::Closed));
    assert!(tx2.is_closed());
}

#[test]
fn closing_twice_and_both_ends_is_harmless() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    tx.close();
    tx.close();
    assert_eq!(rx.try_recv(), Ok(1));
    rx.close();
    rx.close();
    assert!(rx.channel().is_fully_closed());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(tx.send_nowait(2), Err(SendError::Closed(2)));
}

// ---------------------------------------------------------------------------------------------
// Handle counting

#[test]
fn dropping_the_last_sender_closes_the_send_end_and_wakes_receivers() {
    let (tx, rx) = channel::<u32>();
    let tx2 = tx.clone();
    let receiver = spawn_parked_receiver(&rx);
    drop(tx);
    assert!(!rx.channel().is_send_closed(), "a clone keeps the send end open");
    tx2.send_nowait(1).unwrap();
    assert_eq!(join(receiver), Ok(1));
    let receiver = spawn_parked_receiver(&rx);
    drop(tx2);
    assert_eq!(join(receiver), Err(RecvError::Closed));
    assert!(rx.channel().is_send_closed());
}

#[test]
fn dropping_the_last_sender_keeps_queued_items_for_receivers() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    drop(tx);
    assert_eq!(rx.recv(patient()), Ok(1));
    assert_eq!(rx.recv(patient()), Err(RecvError::Closed));
}

#[test]
fn dropping_the_last_receiver_closes_the_receive_end_and_wakes_senders() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    tx.send_nowait(Tracked::new(1, &dropped)).unwrap();
    let rx2 = rx.clone();
    drop(rx);
    assert!(!tx.is_closed(), "a clone keeps the receive end open");
    assert_eq!(count(&dropped), 0);
    let sender = spawn_blocked_sender(&tx, Tracked::new(2, &dropped));
    drop(rx2);
    assert_eq!(count(&dropped), 1, "the queued item is dropped with the receive end");
    match join(sender) {
        Err(SendError::Closed(back)) => assert_eq!(back.id, 2),
        other => panic!("expected Closed(item), got {other:?}"),
    }
    assert!(tx.is_closed());
    assert_eq!(count(&dropped), 2);
}

#[test]
fn a_parked_operation_does_not_keep_its_end_open() {
    // A parked receive holds the channel, not a Receiver handle: dropping the last Receiver
    // closes the end under it.
    let (tx, rx) = channel::<u32>();
    let mut pending = park_recv(&rx);
    drop(rx);
    assert_eq!(pending.wait_until(patient()).unwrap(), Err(RecvError::Closed));
    assert_eq!(tx.send_nowait(1), Err(SendError::Closed(1)));

    let (tx, rx) = channel::<u32>();
    let mut pending = match tx.start_send(5) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    drop(tx);
    assert_eq!(pending.wait_until(patient()).unwrap(), Err(SendError::Closed(5)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn a_new_handle_on_a_closed_end_leaves_it_closed() {
    let (tx, rx) = channel::<u32>();
    let chan = tx.channel().clone();
    drop(tx);
    let tx = Sender::new(chan.clone());
    assert!(tx.is_closed());
    assert_eq!(tx.send_nowait(1), Err(SendError::Closed(1)));
    drop(tx);
    let rx_again = Receiver::new(chan);
    assert_eq!(rx_again.try_recv(), Err(TryRecvError::Closed));
    drop(rx);
    drop(rx_again);
}

#[test]
fn handles_of_one_channel_are_equal_and_share_its_id() {
    let (tx, rx) = channel::<u32>();
    let (other_tx, other_rx) = channel::<u32>();
    assert_eq!(tx.id(), 0, "channels outside a registry have id 0");
    assert_eq!(tx.id(), rx.id());
    assert_eq!(tx, tx.clone());
    assert_eq!(rx, rx.clone());
    assert!(tx != other_tx);
    assert!(rx != other_rx);
    assert_eq!(format!("{tx:?}"), "Sender(0)");
    assert_eq!(format!("{rx:?}"), "Receiver(0)");
    assert!(Arc::ptr_eq(tx.channel(), rx.channel()));
}

// ---------------------------------------------------------------------------------------------
// Parked operations: cancel, requeue, drop

#[test]
fn cancelled_pending_send_withdraws_its_item() {
    let (tx, rx) = channel::<u32>();
    let pending = match tx.start_send(3) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    assert_eq!(tx.channel().len(), 1);
    assert_eq!(pending.cancel(), Err(SendError::Withdrawn(3)));
    assert!(tx.channel().is_empty());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn dropped_pending_send_withdraws_and_drops_its_item_once() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let pending = match tx.start_send(Tracked::new(1, &dropped)) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    drop(pending);
    assert_eq!(count(&dropped), 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    drop((tx, rx));
    assert_eq!(count(&dropped), 1);
}

#[test]
fn pending_send_waits_again_after_a_deadline_and_cancel_reports_delivery() {
    let (tx, rx) = channel::<u32>();
    let mut pending = match tx.start_send(8) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    assert!(pending.wait_until(in_ms(20)).is_none(), "nobody received: the deadline passes");
    assert_eq!(tx.channel().len(), 1, "still parked after the deadline");
    assert_eq!(rx.try_recv(), Ok(8));
    assert_eq!(pending.wait_until(patient()), Some(Ok(())));

    // A receiver that took the item before the cancel wins: cancel reports the delivery.
    let pending = match tx.start_send(9) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    assert_eq!(rx.try_recv(), Ok(9));
    assert_eq!(pending.cancel(), Ok(()));
}

#[test]
fn pending_send_cancelled_after_close_gets_closed_with_its_item() {
    let (tx, rx) = channel::<u32>();
    let pending = match tx.start_send(4) {
        Ok(SendStart::Pending(p)) => p,
        _ => panic!("expected a parked send"),
    };
    rx.close();
    assert_eq!(pending.cancel(), Err(SendError::Closed(4)));
}

#[test]
fn pending_recv_cancel_withdraws_or_returns_what_was_handed() {
    let (tx, rx) = channel::<u32>();
    let pending = park_recv(&rx);
    assert_eq!(pending.cancel(), Err(RecvError::Withdrawn));
    assert_eq!(tx.send_nowait(1), Ok(false), "the cancelled receiver is no longer registered");
    assert_eq!(rx.try_recv(), Ok(1));

    let pending = park_recv(&rx);
    assert_eq!(tx.send_nowait(2), Ok(true));
    assert_eq!(pending.cancel(), Ok(2), "an item handed before the cancel is returned");

    let mut pending = park_recv(&rx);
    assert!(pending.wait_until(in_ms(20)).is_none());
    assert_eq!(tx.send_nowait(3), Ok(true), "still registered after the deadline");
    assert_eq!(pending.wait_until(patient()), Some(Ok(3)));
}

#[test]
fn cancel_and_requeue_puts_a_handed_item_back_at_the_front() {
    let (tx, rx) = channel::<u32>();
    let pending = park_recv(&rx);
    assert_eq!(tx.send_nowait(1), Ok(true)); // handed to the parked receiver
    assert_eq!(tx.send_nowait(2), Ok(false)); // queued behind it
    let blocked = spawn_blocked_sender(&tx, 3);
    pending.cancel_and_requeue();
    assert_eq!(rx.try_recv(), Ok(1), "the requeued item goes before everything else");
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(join(blocked), Ok(()));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn cancel_and_requeue_hands_the_item_to_another_waiting_receiver() {
    let (tx, rx) = channel::<u32>();
    let first = park_recv(&rx);
    let receiver = spawn_parked_receiver(&rx);
    assert_eq!(tx.send_nowait(7), Ok(true)); // to `first`, the oldest
    first.cancel_and_requeue();
    assert_eq!(join(receiver), Ok(7));
    assert!(rx.channel().is_empty());
}

#[test]
fn cancel_and_requeue_without_an_item_just_withdraws() {
    let (tx, rx) = channel::<u32>();
    park_recv(&rx).cancel_and_requeue();
    assert_eq!(tx.send_nowait(1), Ok(false), "no receiver left registered");
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn dropped_pending_recv_does_not_lose_a_handed_item() {
    let (tx, rx) = channel::<u32>();
    let pending = park_recv(&rx);
    assert_eq!(tx.send_nowait(5), Ok(true));
    drop(pending);
    assert_eq!(rx.try_recv(), Ok(5));
    // And a dropped receive with nothing handed leaves no registration behind.
    drop(park_recv(&rx));
    assert_eq!(tx.send_nowait(6), Ok(false));
}

#[test]
fn requeue_after_close_send_is_still_drained() {
    let (tx, rx) = channel::<u32>();
    let pending = park_recv(&rx);
    assert_eq!(tx.send_nowait(1), Ok(true));
    tx.close();
    pending.cancel_and_requeue();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn requeue_after_close_recv_drops_the_item() {
    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    let pending = park_recv(&rx);
    assert!(tx.send_nowait(Tracked::new(1, &dropped)).unwrap());
    rx.close();
    assert_eq!(count(&dropped), 0, "the item was already handed over");
    pending.cancel_and_requeue();
    assert_eq!(count(&dropped), 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
}

/// Two receivers are handed A then B (one sender, in that order) and both give up, in the order
/// they were served. Every later receiver must still see A before B ("objects from one sender
/// arrive in the order sent"; `requeue`'s own doc: "neither lost nor reordered").
#[test]
fn requeued_items_keep_the_senders_order() {
    let (tx, rx) = channel::<&'static str>();
    let first = park_recv(&rx);
    let second = park_recv(&rx);
    assert_eq!(tx.send_nowait("A"), Ok(true));
    assert_eq!(tx.send_nowait("B"), Ok(true));
    first.cancel_and_requeue();
    second.cancel_and_requeue();
    assert_eq!(rx.try_recv(), Ok("A"), "requeued items came back reordered");
    assert_eq!(rx.try_recv(), Ok("B"));
}

#[test]
fn requeued_items_keep_the_senders_order_whichever_gives_up_first() {
    let (tx, rx) = channel::<&'static str>();
    let first = park_recv(&rx);
    let second = park_recv(&rx);
    tx.send_nowait("A").unwrap();
    tx.send_nowait("B").unwrap();
    tx.send_nowait("C").unwrap(); // queued
    second.cancel_and_requeue();
    first.cancel_and_requeue();
    assert_eq!(rx.try_recv(), Ok("A"));
    assert_eq!(rx.try_recv(), Ok("B"));
    assert_eq!(rx.try_recv(), Ok("C"));
}

#[test]
fn put_back_goes_before_queued_items_and_blocked_senders() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    tx.send_nowait(2).unwrap();
    let blocked = spawn_blocked_sender(&tx, 3);
    let taken = rx.try_recv().unwrap();
    assert_eq!(taken, 1);
    rx.put_back(taken);
    assert_eq!(rx.channel().len(), 3);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(join(blocked), Ok(()));
}

#[test]
fn put_back_hands_the_item_to_a_waiting_receiver() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    let taken = rx.try_recv().unwrap();
    let receiver = spawn_parked_receiver(&rx);
    rx.put_back(taken);
    assert_eq!(join(receiver), Ok(1));
    assert!(rx.channel().is_empty());
    drop(tx);
}

#[test]
fn put_back_after_close_send_is_drained_and_after_close_recv_is_dropped() {
    let (tx, rx) = channel::<u32>();
    tx.send_nowait(1).unwrap();
    let taken = rx.try_recv().unwrap();
    tx.close();
    assert!(rx.is_closed(), "drained and send end closed");
    rx.put_back(taken);
    assert!(!rx.is_closed(), "the item put back is receivable again");
    assert_eq!(rx.recv(patient()), Ok(1));
    assert_eq!(rx.recv(patient()), Err(RecvError::Closed));

    let dropped = drops();
    let (tx, rx) = channel::<Tracked>();
    tx.send_nowait(Tracked::new(1, &dropped)).unwrap();
    let taken = rx.try_recv().unwrap();
    rx.close();
    assert_eq!(count(&dropped), 0);
    rx.put_back(taken);
    assert_eq!(count(&dropped), 1, "put back into a closed receive end: dropped");
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
}

#[test]
fn receivers_that_give_up_and_requeue_lose_nothing() {
    // "Quitters" park and give up at once (cancel_and_requeue), racing with a sender handing
    // them items; a keeper receives normally. Every item ends up received exactly once.
    const ITEMS: u64 = 3000;
    let (tx, rx) = channel::<u64>();
    let quitters: Vec<_> = (0..2)
        .map(|q| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut kept = Vec::new();
                for round in 0u64.. {
                    match rx.start_recv() {
                        Ok(RecvStart::Ready(item)) => kept.push(item),
                        Ok(RecvStart::Pending(mut pending)) => {
                            if (round + q) % 4 != 0 {
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
    let keeper = thread::spawn(move || {
        let mut kept = Vec::new();
        while let Ok(item) = rx.recv(None) {
            kept.push(item);
        }
        kept
    });
    for i in 0..ITEMS {
        tx.send_nowait(i).unwrap();
        if i % 16 == 0 {
            thread::yield_now();
        }
    }
    drop(tx);
    let mut got = join(keeper);
    for q in quitters {
        got.extend(join(q));
    }
    got.sort_unstable();
    assert_eq!(got, (0..ITEMS).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn send_error_helpers() {
    let closed = SendError::Closed(1);
    let withdrawn = SendError::Withdrawn(2);
    assert!(closed.is_closed());
    assert!(!withdrawn.is_closed());
    assert_eq!(format!("{closed:?}"), "Closed(..)");
    assert_eq!(format!("{withdrawn:?}"), "Withdrawn(..)");
    assert_eq!(closed.into_inner(), 1);
    assert_eq!(withdrawn.into_inner(), 2);
    assert_eq!(RecvError::Closed.to_string(), "channel closed");
    assert_eq!(RecvError::Withdrawn.to_string(), "receive withdrawn");
}
