//! `loom` model tests of the channel protocol: every interleaving (up to a preemption bound) of a
//! few threads is explored, with the core's mutexes, condvars and atomics replaced by loom's
//! (`src/sync.rs`). A blocked call that is never woken shows up as loom's "deadlock" panic; an
//! `Arc` (channel or waiter) still alive at the end of an execution as a leak. Note: when a model
//! deadlocks, loom's own `Arc` destructors panic again while unwinding, so the whole test binary
//! aborts (SIGABRT); the first "deadlock; threads = ..." message names the failing test.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p subinterpreters-core --release --test loom`.
//! `LOOM_MAX_PREEMPTIONS=n` overrides the default bound below.
//!
//! Loom has no clock, so a deadline is never passed to a wait here (`wait_until(None)` only).
//! A timeout is modelled by what the code does when one expires: the owner cancels its parked
//! operation (`PendingSend::cancel`, `PendingRecv::cancel` / `cancel_and_requeue`), racing with
//! the peer that tries to complete it.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use subinterpreters_core::{
    channel, Receiver, RecvError, RecvStart, SendError, SendStart, Sender, TryRecvError,
};

/// Models with two threads (the test's own plus one) are explored exhaustively: they finish in
/// well under a second each.
fn model<F: Fn() + Sync + Send + 'static>(name: &str, f: F) {
    explore(name, None, f);
}

/// Models with three threads are explored up to a preemption bound (unless
/// `LOOM_MAX_PREEMPTIONS` is set): exhaustive exploration of those takes hours, while protocol
/// bugs like the ones this file looks for show up within two or three preemptions. Each bound
/// below keeps its model to ~15-30 s in --release on 2 cores (the next one up costs ~5x).
fn model_bounded<F: Fn() + Sync + Send + 'static>(name: &str, bound: usize, f: F) {
    explore(name, Some(bound), f);
}

/// Explores `f` and reports how many executions it took.
fn explore<F: Fn() + Sync + Send + 'static>(name: &str, bound: Option<usize>, f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = bound;
    }
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let start = std::time::Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let runs = runs.load(Ordering::Relaxed);
    eprintln!("loom model {name}: {runs} executions in {:.1?}", start.elapsed());
}

/// Receives until the channel reports closed.
fn drain_blocking<T>(rx: &Receiver<T>) -> Vec<T> {
    let mut got = Vec::new();
    loop {
        match rx.recv(None) {
            Ok(item) => got.push(item),
            Err(RecvError::Closed) => return got,
            Err(RecvError::Withdrawn) => panic!("no deadline: a receive is never withdrawn"),
        }
    }
}

/// Takes everything that is ready without blocking.
fn drain_ready<T>(rx: &Receiver<T>) -> Vec<T> {
    let mut got = Vec::new();
    while let Ok(item) = rx.try_recv() {
        got.push(item);
    }
    got
}

/// Starts a rendezvous send and, if it parked, "times out" at once: cancels it.
fn send_then_cancel(tx: &Sender<u32>, item: u32) -> Result<(), SendError<u32>> {
    match tx.start_send(item)? {
        SendStart::Delivered => Ok(()),
        SendStart::Pending(pending) => pending.cancel(),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendezvous

#[test]
fn rendezvous_hand_off_delivers_once_and_send_returns_after_the_take() {
    model("rendezvous", || {
        let (tx, rx) = channel::<u32>();
        let returned = loom::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let flag = returned.clone();
        let sender = thread::spawn(move || {
            let result = tx.send(1, None);
            flag.store(true, Ordering::SeqCst);
            result
        });
        // Nobody else receives, so the send cannot have returned before this receive.
        assert!(!returned.load(Ordering::SeqCst), "send returned before the item was taken");
        assert_eq!(rx.recv(None), Ok(1));
        assert_eq!(sender.join().unwrap(), Ok(()));
        // The sender's handle is gone: the channel is closed and empty.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn queued_and_rendezvous_items_of_one_sender_arrive_in_order() {
    model("send_nowait then send, one receiver", || {
        let (tx, rx) = channel::<u32>();
        let sender = thread::spawn(move || {
            let queued = tx.send_nowait(1).unwrap();
            tx.send(2, None).unwrap();
            queued
        });
        assert_eq!(rx.recv(None), Ok(1));
        assert_eq!(rx.recv(None), Ok(2));
        sender.join().unwrap();
        assert_eq!(rx.recv(None), Err(RecvError::Closed));
    });
}

#[test]
fn a_parked_send_goes_before_a_later_send_nowait() {
    // One FIFO across blocked senders and queued items: a send parked first is received first.
    model("parked send then send_nowait", || {
        let (tx, rx) = channel::<u32>();
        let sender = thread::spawn(move || match tx.start_send(1).unwrap() {
            SendStart::Delivered => {
                tx.send_nowait(2).unwrap();
            }
            SendStart::Pending(mut pending) => {
                tx.send_nowait(2).unwrap();
                pending.wait_until(None).unwrap().unwrap();
            }
        });
        assert_eq!(rx.recv(None), Ok(1));
        assert_eq!(rx.recv(None), Ok(2));
        sender.join().unwrap();
    });
}

#[test]
fn two_senders_and_a_receiver_keep_per_sender_order_and_exactly_once() {
    model_bounded("two senders vs one receiver", 3, || {
        let (tx, rx) = channel::<u32>();
        let first = {
            let tx = tx.clone();
            thread::spawn(move || {
                tx.send_nowait(10).unwrap();
                tx.send(11, None).unwrap();
            })
        };
        let second = thread::spawn(move || tx.send(20, None).unwrap());
        let got = drain_blocking(&rx);
        first.join().unwrap();
        second.join().unwrap();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [10, 11, 20], "lost or duplicated: {got:?}");
        let tens: Vec<u32> = got.iter().copied().filter(|v| *v < 20).collect();
        assert_eq!(tens, [10, 11], "one sender's items out of order: {got:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// send_nowait

#[test]
fn send_nowait_racing_a_blocked_receiver_delivers_in_order() {
    model("send_nowait vs blocked receiver", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || drain_blocking(&rx));
        // Each item is either handed to the parked receiver (true) or queued (false).
        tx.send_nowait(1).unwrap();
        tx.send_nowait(2).unwrap();
        drop(tx);
        assert_eq!(receiver.join().unwrap(), [1, 2]);
    });
}

#[test]
fn send_nowait_true_means_a_receiver_already_had_the_item() {
    model("send_nowait true/false", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || match rx.start_recv().unwrap() {
            RecvStart::Ready(item) => (false, item),
            RecvStart::Pending(mut pending) => (true, pending.wait_until(None).unwrap().unwrap()),
        });
        let handed = tx.send_nowait(7).unwrap();
        let (parked, item) = receiver.join().unwrap();
        assert_eq!(item, 7);
        // true exactly when the receiver had parked first; false means it was queued.
        assert_eq!(handed, parked);
        assert!(tx.channel().is_empty());
    });
}

// ---------------------------------------------------------------------------------------------
// Timeouts that withdraw (modelled as cancellation)

#[test]
fn cancelled_send_racing_try_recv_is_either_received_or_withdrawn() {
    model("send cancel vs try_recv", || {
        let (tx, rx) = channel::<u32>();
        let sender = thread::spawn(move || send_then_cancel(&tx, 1));
        let received = rx.try_recv();
        let sent = sender.join().unwrap();
        match (received, sent) {
            (Ok(1), Ok(())) => {}
            (Err(TryRecvError::Empty), Err(SendError::Withdrawn(1))) => {}
            // Sender's handle dropped after it withdrew: closed is fine for the late try_recv.
            (Err(TryRecvError::Closed), Err(SendError::Withdrawn(1))) => {}
            other => panic!("item lost or duplicated: {other:?}"),
        }
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)), "nothing delivered later");
    });
}

#[test]
fn cancelled_send_racing_a_blocked_receiver_is_delivered_exactly_once() {
    model("send cancel vs blocked recv", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || rx.recv(None));
        // The sender gives up, then goes away: dropping its handle closes the send end, which
        // releases the receiver if the item was withdrawn.
        let sent = send_then_cancel(&tx, 1);
        drop(tx);
        match (receiver.join().unwrap(), sent) {
            (Ok(1), Ok(())) => {}
            (Err(RecvError::Closed), Err(SendError::Withdrawn(1))) => {}
            other => panic!("item lost or duplicated: {other:?}"),
        }
    });
}

#[test]
fn send_and_receive_that_both_time_out_keep_the_item_in_one_place() {
    model("send cancel vs recv cancel", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || {
            let got = match rx.start_recv().unwrap() {
                RecvStart::Ready(item) => Ok(item),
                RecvStart::Pending(pending) => pending.cancel(),
            };
            (got, rx)
        });
        let sent = send_then_cancel(&tx, 1);
        let (got, rx) = receiver.join().unwrap();
        match (got, sent) {
            (Ok(1), Ok(())) => {}
            (Err(RecvError::Withdrawn), Err(SendError::Withdrawn(1))) => {}
            other => panic!("item lost or duplicated: {other:?}"),
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a withdrawn item stays withdrawn");
        assert!(tx.channel().is_empty(), "no stale entry left listed");
    });
}

#[test]
fn cancelled_receive_racing_send_nowait_never_loses_the_item() {
    model("recv cancel vs send_nowait", || {
        let (tx, rx) = channel::<u32>();
        let rx2 = rx.clone();
        let receiver = thread::spawn(move || match rx2.start_recv().unwrap() {
            RecvStart::Ready(item) => Some(item),
            RecvStart::Pending(pending) => match pending.cancel() {
                Ok(item) => Some(item),
                Err(RecvError::Withdrawn) => None,
                Err(RecvError::Closed) => panic!("nothing closed the channel"),
            },
        });
        let handed = tx.send_nowait(1).unwrap();
        let taken = receiver.join().unwrap();
        let left = drain_ready(&rx);
        match (taken, left.as_slice()) {
            (Some(1), []) => {}
            (None, [1]) => assert!(!handed, "a handed item went missing"),
            other => panic!("item lost or duplicated: {other:?}"),
        }
    });
}

#[test]
fn cancel_and_requeue_racing_send_nowait_keeps_items_and_order() {
    model("cancel_and_requeue vs send_nowait", || {
        let (tx, rx) = channel::<u32>();
        let rx2 = rx.clone();
        let receiver = thread::spawn(move || match rx2.start_recv().unwrap() {
            // Took the first item before parking: a normal receive.
            RecvStart::Ready(item) => vec![item],
            // The owner gives up (an exception is pending): anything handed goes back.
            RecvStart::Pending(pending) => {
                pending.cancel_and_requeue();
                vec![]
            }
        });
        tx.send_nowait(1).unwrap();
        tx.send_nowait(2).unwrap();
        let mut all = receiver.join().unwrap();
        all.extend(drain_ready(&rx));
        assert_eq!(all, [1, 2], "lost, duplicated or reordered");
    });
}

#[test]
fn two_receivers_giving_up_at_once_requeue_in_the_original_order() {
    model_bounded("two cancel_and_requeue vs send_nowait", 6, || {
        let (tx, rx) = channel::<u32>();
        let quitters: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                thread::spawn(move || match rx.start_recv().unwrap() {
                    RecvStart::Ready(item) => vec![item],
                    RecvStart::Pending(pending) => {
                        pending.cancel_and_requeue();
                        vec![]
                    }
                })
            })
            .collect();
        tx.send_nowait(1).unwrap();
        tx.send_nowait(2).unwrap();
        let mut taken: Vec<u32> = quitters.into_iter().flat_map(|q| q.join().unwrap()).collect();
        let left = drain_ready(&rx);
        assert!(left.windows(2).all(|w| w[0] < w[1]), "requeued out of order: {left:?}");
        taken.extend(left);
        taken.sort_unstable();
        assert_eq!(taken, [1, 2], "lost or duplicated");
    });
}

#[test]
fn dropped_pending_recv_racing_send_nowait_keeps_items_and_order() {
    model("dropped PendingRecv vs send_nowait", || {
        let (tx, rx) = channel::<u32>();
        let rx2 = rx.clone();
        let receiver = thread::spawn(move || match rx2.start_recv().unwrap() {
            RecvStart::Ready(item) => vec![item],
            RecvStart::Pending(pending) => {
                drop(pending);
                vec![]
            }
        });
        tx.send_nowait(1).unwrap();
        tx.send_nowait(2).unwrap();
        let mut all = receiver.join().unwrap();
        all.extend(drain_ready(&rx));
        assert_eq!(all, [1, 2], "lost, duplicated or reordered");
    });
}

#[test]
fn cancel_and_requeue_hands_the_item_on_to_another_blocked_receiver() {
    model_bounded("cancel_and_requeue vs blocked receiver vs send+close", 6, || {
        let (tx, rx) = channel::<u32>();
        let quitter = {
            let rx = rx.clone();
            thread::spawn(move || match rx.start_recv() {
                Ok(RecvStart::Ready(item)) => vec![item],
                Ok(RecvStart::Pending(pending)) => {
                    pending.cancel_and_requeue();
                    vec![]
                }
                Err(_) => vec![],
            })
        };
        let keeper = {
            let rx = rx.clone();
            thread::spawn(move || drain_blocking(&rx))
        };
        tx.send_nowait(1).unwrap();
        drop(tx); // close the send end: the keeper must still get the item, or it stays queued
        let mut all = quitter.join().unwrap();
        all.extend(keeper.join().unwrap());
        all.extend(drain_ready(&rx));
        assert_eq!(all, [1], "lost or duplicated");
    });
}

#[test]
fn put_back_racing_send_nowait_keeps_items_and_order() {
    model("put_back vs send_nowait", || {
        let (tx, rx) = channel::<u32>();
        let rx2 = rx.clone();
        // A receiver takes whatever is ready and cannot deliver it: it puts it back.
        let receiver = thread::spawn(move || {
            if let Ok(item) = rx2.try_recv() {
                rx2.put_back(item);
            }
        });
        tx.send_nowait(1).unwrap();
        tx.send_nowait(2).unwrap();
        receiver.join().unwrap();
        assert_eq!(drain_ready(&rx), [1, 2], "lost, duplicated or reordered");
    });
}

#[test]
fn put_back_racing_a_blocked_receiver_reaches_it() {
    model("put_back vs blocked recv", || {
        let (tx, rx) = channel::<u32>();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv(None))
        };
        tx.send_nowait(1).unwrap();
        // Either the receiver already has the item, or this takes it and puts it back, which
        // must reach the receiver (parked or not yet).
        if let Ok(item) = rx.try_recv() {
            rx.put_back(item);
        }
        assert_eq!(receiver.join().unwrap(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

// ---------------------------------------------------------------------------------------------
// Close racing with blocked peers

#[test]
fn close_send_racing_a_blocked_sender_and_receiver() {
    model_bounded("close_send vs blocked send and recv", 6, || {
        let (tx, rx) = channel::<u32>();
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(1, None))
        };
        let receiver = thread::spawn(move || rx.recv(None));
        tx.close();
        match (sender.join().unwrap(), receiver.join().unwrap()) {
            (Ok(()), Ok(1)) => {}
            (Err(SendError::Closed(1)), Err(RecvError::Closed)) => {}
            other => panic!("item lost, duplicated, or a peer saw a half-delivery: {other:?}"),
        }
    });
}

#[test]
fn close_send_racing_send_nowait_and_a_blocked_receiver() {
    model("close_send vs send_nowait vs recv", || {
        let (tx, rx) = channel::<u32>();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || drain_blocking(&rx))
        };
        let queued = tx.send_nowait(1);
        tx.close();
        let got = receiver.join().unwrap();
        // send_nowait ran before the close: its item is delivered even though the close raced
        // with the receiver (queued items are drained after close_send).
        assert!(queued.is_ok());
        assert_eq!(got, [1]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn close_recv_racing_a_blocked_sender_returns_the_item() {
    model("close_recv vs blocked send and send_nowait", || {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = channel::<Counted>();
        let sender = {
            let tx = tx.clone();
            let drops = drops.clone();
            thread::spawn(move || match tx.send(Counted::new(1, &drops), None) {
                Err(SendError::Closed(item)) => item.id,
                other => panic!("no receiver: the send can only fail closed, got {other:?}"),
            })
        };
        let queued = tx.send_nowait(Counted::new(2, &drops));
        rx.close();
        assert_eq!(sender.join().unwrap(), 1, "the blocked sender got its own item back");
        match queued {
            Ok(false) => {}                             // queued, then dropped by close
            Err(SendError::Closed(item)) => drop(item), // refused after the close
            other => panic!("unexpected send_nowait result {other:?}"),
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2, "each item dropped exactly once");
    });
}

#[test]
fn close_recv_wakes_a_blocked_receiver() {
    model("close_recv vs blocked recv", || {
        let (tx, rx) = channel::<u32>();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv(None))
        };
        rx.close();
        // The send end stays open throughout: only the close can release the receiver.
        assert_eq!(receiver.join().unwrap(), Err(RecvError::Closed));
        assert_eq!(tx.send_nowait(1), Err(SendError::Closed(1)));
    });
}

#[test]
fn close_send_wakes_a_blocked_receiver() {
    model("close_send vs blocked recv", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || rx.recv(None));
        tx.close();
        assert_eq!(receiver.join().unwrap(), Err(RecvError::Closed));
    });
}

#[test]
fn close_recv_racing_a_blocked_receiver_and_a_sender() {
    model_bounded("close_recv vs blocked recv and send", 6, || {
        let (tx, rx) = channel::<u32>();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv(None))
        };
        let sender = thread::spawn(move || tx.send(1, None));
        rx.close();
        match (sender.join().unwrap(), receiver.join().unwrap()) {
            (Ok(()), Ok(1)) => {}
            (Err(SendError::Closed(1)), Err(RecvError::Closed)) => {}
            other => panic!("item lost, duplicated, or a peer left hanging: {other:?}"),
        }
    });
}

#[test]
fn close_racing_a_send_that_times_out_returns_the_item_either_way() {
    // The sender gives up (its abort) while the closer fails every blocked sender: whichever
    // wins, the item comes back to the sender exactly once and is never delivered.
    model("close_send vs send cancel", || {
        let (tx, rx) = channel::<u32>();
        let closer = {
            let tx = tx.clone();
            thread::spawn(move || tx.close())
        };
        match send_then_cancel(&tx, 1) {
            Err(SendError::Withdrawn(1)) | Err(SendError::Closed(1)) => {}
            other => panic!("no receiver: the item must come back, got {other:?}"),
        }
        closer.join().unwrap();
        assert!(tx.channel().is_empty(), "no stale sender entry left listed");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn close_recv_racing_cancel_and_requeue_drops_the_item_exactly_once() {
    model("close_recv vs cancel_and_requeue", || {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = channel::<Counted>();
        let receiver = {
            let rx = rx.clone();
            thread::spawn(move || match rx.start_recv() {
                Ok(RecvStart::Ready(item)) => Some(item.id),
                Ok(RecvStart::Pending(pending)) => {
                    pending.cancel_and_requeue();
                    None
                }
                Err(_) => None,
            })
        };
        match tx.send_nowait(Counted::new(1, &drops)) {
            Ok(_) => {}
            Err(err) => panic!("nothing closed yet: {err:?}"),
        }
        rx.close();
        let taken = receiver.join().unwrap();
        // Received (and dropped by the receiver), or dropped by the close / the late requeue.
        assert_eq!(drops.load(Ordering::SeqCst), 1, "item lost or dropped twice ({taken:?})");
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    });
}

// ---------------------------------------------------------------------------------------------
// Last handle dropped racing a blocked peer

#[test]
fn last_sender_dropped_racing_a_blocked_receiver() {
    model_bounded("last Sender drop vs blocked recv", 6, || {
        let (tx, rx) = channel::<u32>();
        let tx2 = tx.clone();
        let receiver = thread::spawn(move || drain_blocking(&rx));
        let other = thread::spawn(move || {
            tx2.send_nowait(1).unwrap();
            drop(tx2); // one of the two last drops: whichever is last closes the end
        });
        drop(tx);
        other.join().unwrap();
        assert_eq!(receiver.join().unwrap(), [1]);
    });
}

#[test]
fn last_receiver_dropped_racing_a_blocked_sender() {
    model_bounded("last Receiver drop vs blocked send", 6, || {
        let (tx, rx) = channel::<u32>();
        let rx2 = rx.clone();
        let sender = thread::spawn(move || tx.send(1, None));
        let other = thread::spawn(move || drop(rx2));
        drop(rx);
        other.join().unwrap();
        assert_eq!(sender.join().unwrap(), Err(SendError::Closed(1)));
    });
}

#[test]
fn parked_receive_outliving_its_handle_is_woken_by_the_last_sender_drop() {
    model("PendingRecv vs last Sender drop", || {
        let (tx, rx) = channel::<u32>();
        let receiver = thread::spawn(move || match rx.start_recv() {
            Ok(RecvStart::Pending(mut pending)) => {
                drop(rx); // the parked receive holds the channel, not a handle
                pending.wait_until(None).unwrap()
            }
            Ok(RecvStart::Ready(item)) => Ok(item),
            Err(err) => Err(err),
        });
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Err(RecvError::Closed));
    });
}

/// An item whose drops are counted (a std atomic is enough: it is only read after the joins).
#[derive(Debug)]
struct Counted {
    id: u32,
    drops: std::sync::Arc<AtomicUsize>,
}

impl Counted {
    fn new(id: u32, drops: &std::sync::Arc<AtomicUsize>) -> Self {
        Counted { id, drops: drops.clone() }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The checker catches a broken protocol

/// Shows that these models can fail: a deliberately broken flag/condvar hand-off, written here
/// and not in the core, with the classic lost wake-up. The waiter checks the flag *before* taking
/// the lock, and the notifier sets the flag and notifies without the lock; if the notification
/// lands between the waiter's check and its `wait`, nobody wakes it. Loom finds that interleaving
/// and reports a deadlock, which is the panic this test expects. (The core's `Waiter` avoids it:
/// the phase is read and the `parked` flag set under the waiter's mutex, and `complete` changes
/// the phase under that same mutex before notifying.)
#[test]
#[should_panic(expected = "deadlock")]
fn loom_catches_a_lost_wake_up_in_a_broken_hand_off() {
    use loom::sync::atomic::AtomicBool;
    use loom::sync::{Condvar, Mutex};
    loom::model(|| {
        // Leaked rather than in a loom `Arc`: when loom aborts the deadlocked execution, the
        // unwinding must not run loom destructors (an `Arc` drop would panic again and abort the
        // whole test binary instead of failing this one test).
        type Shared = (Mutex<()>, Condvar, AtomicBool);
        let state: &'static Shared =
            Box::leak(Box::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false))));
        let notifier = thread::spawn(move || {
            state.2.store(true, Ordering::SeqCst); // BUG: not under the lock
            state.1.notify_one();
        });
        let (lock, wake, ready) = state;
        if !ready.load(Ordering::SeqCst) {
            // BUG: checked outside the lock, and waited on once instead of in a loop.
            let guard = lock.lock().unwrap();
            let _guard = wake.wait(guard).unwrap();
        }
        notifier.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Queues and select (issue 3)

use subinterpreters_core::{queue, start_select, Case, QueueHandle, SelectStart, Selected};

/// Takes everything ready on a queue without blocking.
fn drain_queue<T>(q: &QueueHandle<T>) -> Vec<T> {
    let mut got = Vec::new();
    while let Ok(item) = q.try_get() {
        got.push(item);
    }
    got
}

/// `start_select` locks its channels and queues in address order, and heap addresses change
/// from one loom execution to the next (the allocator reuses what the previous execution freed,
/// in another order): a model whose two exchanges swapped places between executions would not be
/// deterministic, and loom then fails with "expected to be able to acquire lock" or "Is the model
/// fully deterministic?". So the select models hand out roles by address: the first of a pair is
/// always the one at the lower address, and every execution behaves the same way in roles.
fn ordered<E>(x: E, y: E, address: impl Fn(&E) -> usize) -> (E, E) {
    if address(&x) < address(&y) {
        (x, y)
    } else {
        (y, x)
    }
}

/// Two queues of capacity `maxsize`, the first at the lower address (see [`ordered`]).
fn two_queues(maxsize: usize) -> (QueueHandle<u32>, QueueHandle<u32>) {
    ordered(queue(maxsize), queue(maxsize), |q| &**q.queue() as *const _ as usize)
}

type Ends = (Sender<u32>, Receiver<u32>);

/// Two channels, the first at the lower address (see [`ordered`]).
fn two_channels() -> (Ends, Ends) {
    ordered(channel(), channel(), |(tx, _)| &**tx.channel() as *const _ as usize)
}

/// Starts a select in the given order and, if it parks, waits for it (no deadline).
fn select_blocking<T>(cases: Vec<Case<'_, T>>, order: &[usize]) -> Selected<T> {
    match start_select(cases, order, true) {
        SelectStart::Ready(selected) => selected,
        SelectStart::Pending(mut pending) => pending.wait_until(None).expect("no deadline"),
        SelectStart::NotReady => unreachable!("asked to wait"),
    }
}

#[test]
fn queue_blocking_put_racing_get_on_capacity_one() {
    // Both sides block: the second put waits for room, each get may wait for an item.
    model("queue put/put vs get/get, capacity 1", || {
        let q = queue::<u32>(1);
        let putter = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(1, None).unwrap();
                q.put(2, None).unwrap();
            })
        };
        assert_eq!(q.get(None), Ok(1));
        assert_eq!(q.get(None), Ok(2));
        putter.join().unwrap();
        assert_eq!(q.try_get(), Err(TryRecvError::Empty));
    });
}

#[test]
fn queue_blocked_get_racing_put_and_close() {
    model_bounded("queue blocked get vs put and close", 6, || {
        let q = queue::<u32>(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get(None))
        };
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(1, None))
        };
        q.close();
        match (putter.join().unwrap(), getter.join().unwrap()) {
            (Ok(()), Ok(1)) => {}
            (Err(SendError::Closed(1)), Err(RecvError::Closed)) => {}
            other => panic!("item lost or duplicated, or a getter left hanging: {other:?}"),
        }
        assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    });
}

#[test]
fn queue_blocked_put_cancelled_racing_a_get() {
    // The putter's deadline expires (cancel) while a get makes room and admits it.
    model("queue put cancel vs get", || {
        let q = queue::<u32>(1);
        q.put_nowait(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || match q.start_put(2).unwrap() {
                SendStart::Delivered => Ok(()),
                SendStart::Pending(pending) => pending.cancel(),
            })
        };
        assert_eq!(q.try_get(), Ok(1));
        let put = putter.join().unwrap();
        let left = drain_queue(&q);
        match (put, left.as_slice()) {
            (Ok(()), [2]) => {}
            (Err(SendError::Withdrawn(2)), []) => {}
            other => panic!("item lost, duplicated, or admitted after its withdrawal: {other:?}"),
        }
        // No stale entry left: the queue takes a new item at once.
        assert_eq!(q.put_nowait(3), Ok(()));
    });
}

#[test]
fn queue_put_cancelled_racing_a_get_and_a_second_put() {
    // As above, with a second producer that may park while the first is giving up. Once the
    // first has withdrawn and the getter is done, a parked second put must have been let in
    // if there is room: draining the queue must find its item.
    model_bounded("queue put cancel vs get and a second put", 3, || {
        let q = queue::<u32>(1);
        q.put_nowait(1).unwrap();
        let quitter = {
            let q = q.clone();
            thread::spawn(move || match q.start_put(2).unwrap() {
                SendStart::Delivered => Ok(()),
                SendStart::Pending(pending) => pending.cancel(),
            })
        };
        let second = {
            let q = q.clone();
            thread::spawn(move || match q.start_put(3).unwrap() {
                SendStart::Delivered => None,
                SendStart::Pending(pending) => Some(pending),
            })
        };
        assert_eq!(q.try_get(), Ok(1));
        let quit = quitter.join().unwrap();
        let parked = second.join().unwrap();
        // Every take admits parked puts while there is room, so a drain ends with nothing parked.
        let mut all = vec![1];
        all.extend(drain_queue(&q));
        if let Some(pending) = parked {
            match pending.cancel() {
                Ok(()) => {} // admitted by a take: its item is in `all`
                Err(SendError::Withdrawn(3)) => panic!(
                    "a parked put was never let in although the queue had room (first put: {quit:?})"
                ),
                Err(other) => panic!("nothing closed the queue: {other:?}"),
            }
        }
        all.sort_unstable();
        let expected: &[u32] = if quit.is_ok() { &[1, 2, 3] } else { &[1, 3] };
        assert_eq!(all, expected, "lost or duplicated (first put: {quit:?})");
    });
}

#[test]
fn select_on_two_queues_woken_by_puts_racing_on_both() {
    model_bounded("select on two queues vs two puts", 4, || {
        let (a, b) = two_queues(1);
        let put_a = {
            let a = a.clone();
            thread::spawn(move || a.put_nowait(1).unwrap())
        };
        let put_b = {
            let b = b.clone();
            thread::spawn(move || b.put_nowait(2).unwrap())
        };
        let selected = select_blocking(vec![Case::Get(&a), Case::Get(&b)], &[0, 1]);
        put_a.join().unwrap();
        put_b.join().unwrap();
        let (left_a, left_b) = (drain_queue(&a), drain_queue(&b));
        match (selected, left_a.as_slice(), left_b.as_slice()) {
            (Selected::Received(0, 1), [], [2]) => {}
            (Selected::Received(1, 2), [1], []) => {}
            other => panic!("not exactly one case, or an item lost: {other:?}"),
        }
    });
}

#[test]
fn select_on_two_queues_woken_by_one_peer_putting_on_both() {
    // Two threads: explored exhaustively, including the select parking between the two puts.
    // The cases are listed higher address first, so the case order differs from the lock order.
    model("select on two queues vs puts on both", || {
        let (low, high) = two_queues(1);
        let peer = {
            let (low, high) = (low.clone(), high.clone());
            thread::spawn(move || {
                low.put_nowait(1).unwrap();
                high.put_nowait(2).unwrap();
            })
        };
        let selected = select_blocking(vec![Case::Get(&high), Case::Get(&low)], &[0, 1]);
        peer.join().unwrap();
        let (left_low, left_high) = (drain_queue(&low), drain_queue(&high));
        match (selected, left_low.as_slice(), left_high.as_slice()) {
            (Selected::Received(1, 1), [], [2]) => {}
            (Selected::Received(0, 2), [1], []) => {}
            other => panic!("not exactly one case, or an item lost: {other:?}"),
        }
    });
}

#[test]
fn select_with_a_send_and_a_receive_case_racing_peers() {
    // The select offers 1 on channel A and receives from channel B; one peer receives from A,
    // the other sends 2 on B. Exactly one case completes; the loser's item is not delivered.
    model_bounded("select send+recv vs receiver and sender", 4, || {
        let ((a_tx, a_rx), (b_tx, b_rx)) = two_channels();
        // Blocks until it gets the select's item or the select drops A's only sender.
        let receiver = thread::spawn(move || a_rx.recv(None));
        let sender = thread::spawn(move || b_tx.send_nowait(2).unwrap());
        let selected = select_blocking(vec![Case::Send(&a_tx, 1), Case::Recv(&b_rx)], &[0, 1]);
        drop(a_tx);
        let received = receiver.join().unwrap();
        sender.join().unwrap();
        let left_b = drain_ready(&b_rx);
        match (selected, received, left_b.as_slice()) {
            (Selected::Sent(0), Ok(1), [2]) => {}
            (Selected::Received(1, 2), Err(RecvError::Closed), []) => {}
            other => panic!("not exactly one case, or an item lost: {other:?}"),
        }
    });
}

#[test]
fn select_with_a_put_and_a_get_case_racing_peers() {
    // Queue version: a put case on a full queue (a peer's get makes room) and a get case (a
    // peer puts). Exactly one completes; the losing put's item never enters its queue.
    model_bounded("select put+get vs getter and putter", 4, || {
        let (empty, full) = two_queues(1);
        full.put_nowait(10).unwrap();
        let getter = {
            let full = full.clone();
            thread::spawn(move || full.try_get())
        };
        let putter = {
            let empty = empty.clone();
            thread::spawn(move || empty.put_nowait(20).unwrap())
        };
        let selected = select_blocking(vec![Case::Put(&full, 11), Case::Get(&empty)], &[0, 1]);
        assert_eq!(getter.join().unwrap(), Ok(10));
        putter.join().unwrap();
        let (left_full, left_empty) = (drain_queue(&full), drain_queue(&empty));
        match (selected, left_full.as_slice(), left_empty.as_slice()) {
            (Selected::Sent(0), [11], [20]) => {}
            (Selected::Received(1, 20), [], []) => {}
            other => panic!("not exactly one case, or an item lost: {other:?}"),
        }
    });
}

#[test]
fn select_cancel_racing_a_peer_completion() {
    // The select's deadline expires (cancel) while a peer sends on its receive channel and
    // takes its send: whatever completed is reported; what did not stays where it was.
    model("select cancel vs send and receive", || {
        let ((in_tx, in_rx), (out_tx, out_rx)) = two_channels();
        let peer = thread::spawn(move || {
            in_tx.send_nowait(1).unwrap();
            let taken = out_rx.try_recv().ok();
            (taken, in_tx, out_rx)
        });
        let outcome = match start_select(vec![Case::Recv(&in_rx), Case::Send(&out_tx, 7)], &[0, 1], true) {
            SelectStart::Ready(selected) => Some(selected),
            SelectStart::Pending(pending) => pending.cancel(),
            SelectStart::NotReady => unreachable!("asked to wait"),
        };
        let (taken, _in_tx, out_rx) = peer.join().unwrap();
        let left = drain_ready(&in_rx);
        match (outcome, taken, left.as_slice()) {
            (Some(Selected::Received(0, 1)), None, []) => {}
            (Some(Selected::Sent(1)), Some(7), [1]) => {}
            (None, None, [1]) => {}
            other => panic!("an item lost, duplicated, or delivered after the cancel: {other:?}"),
        }
        assert_eq!(out_rx.try_recv(), Err(TryRecvError::Empty), "a withdrawn send stays withdrawn");
        assert!(out_tx.channel().is_empty(), "no entry left listed");
    });
}

#[test]
fn select_cancel_and_requeue_racing_a_peer_completion() {
    // Queue version, and the owner gives up for good (an exception): an item already handed
    // goes back; a put already admitted stays.
    model("select cancel_and_requeue vs put and get", || {
        let (source, full) = two_queues(1);
        full.put_nowait(10).unwrap();
        let peer = {
            let (source, full) = (source.clone(), full.clone());
            thread::spawn(move || {
                source.put_nowait(1).unwrap();
                assert_eq!(full.try_get(), Ok(10), "the filler comes first");
            })
        };
        let ready = match start_select(vec![Case::Get(&source), Case::Put(&full, 7)], &[0, 1], true) {
            SelectStart::Ready(selected) => Some(selected),
            SelectStart::Pending(pending) => {
                pending.cancel_and_requeue();
                None
            }
            SelectStart::NotReady => unreachable!("asked to wait"),
        };
        peer.join().unwrap();
        let (left_source, left_full) = (drain_queue(&source), drain_queue(&full));
        match (ready, left_source.as_slice(), left_full.as_slice()) {
            // Completed before parking: a normal select.
            (Some(Selected::Received(0, 1)), [], []) => {}
            (Some(Selected::Sent(1)), [1], [7]) => {}
            // Parked and gave up: a received item is back; an admitted put stays.
            (None, [1], [] | [7]) => {}
            other => panic!("an item lost or duplicated: {other:?}"),
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Sync primitives

use subinterpreters_core::primitives::Barrier;

/// An interrupted barrier party leaves its round; a reset racing it may end that round first.
/// Either way the barrier must count no phantom party afterwards: two fresh arrivals trip it.
#[test]
fn barrier_party_leaving_racing_a_reset_counts_no_phantom_party() {
    model("barrier_party_leaving_racing_a_reset_counts_no_phantom_party", || {
        let barrier = loom::sync::Arc::new(Barrier::new(2));
        let (index, pending) = Barrier::start_wait(&barrier).expect("not broken");
        assert_eq!(index, 0);
        let pending = pending.expect("first of two parties waits");
        let resetter = {
            let barrier = barrier.clone();
            thread::spawn(move || barrier.reset())
        };
        pending.abandon();
        resetter.join().unwrap();
        assert_eq!(barrier.n_waiting(), 0);
        let (_, first) = Barrier::start_wait(&barrier).expect("reset, so not broken");
        let (_, second) = Barrier::start_wait(&barrier).expect("not broken");
        assert!(second.is_none(), "the second of two fresh parties trips the barrier");
        let mut first = first.expect("the first of two parties waits");
        assert_eq!(first.wait_until(None), Some(true));
    });
}
