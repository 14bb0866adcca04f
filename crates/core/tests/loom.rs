//! `loom` model tests of the core's blocking structures (channels, queues, select, the notified
//! waiter path, close racing waiters, the sync primitives: Lock/Semaphore, RLock, Event,
//! Condition, Barrier; and the registries and buffer leases): every interleaving (up to a
//! preemption bound) of a few threads is explored, with the core's mutexes, condvars and atomics
//! replaced by loom's (`src/sync.rs`). A blocked call that is never woken shows up as loom's
//! "deadlock" panic; an `Arc` (channel, waiter, registry list) still alive at the end of an
//! execution as a leak. Note: when a model deadlocks, loom's own `Arc` destructors panic again
//! while unwinding, so the whole test binary aborts (SIGABRT); the first "deadlock; threads = ..."
//! message names the failing test.
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
use subinterpreters_core::{channel, Receiver, RecvError, RecvStart, SendError, SendStart, Sender, TryRecvError};

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
        let state: &'static Shared = Box::leak(Box::new((Mutex::new(()), Condvar::new(), AtomicBool::new(false))));
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

/// `start_select` locks its channels and queues in creation order, which is the same in every
/// loom execution, while heap addresses are not (the allocator reuses what the previous
/// execution freed, in another order). A model whose roles followed addresses would not be
/// deterministic, and loom then fails with "expected to be able to acquire lock" or "Is the
/// model fully deterministic?". So the select models hand out roles by creation order: the first
/// of a pair is always the one created (and locked) first.
fn two_queues(maxsize: usize) -> (QueueHandle<u32>, QueueHandle<u32>) {
    let first = queue(maxsize);
    let second = queue(maxsize);
    (first, second)
}

type Ends = (Sender<u32>, Receiver<u32>);

/// Two channels, the first created (and locked) first (see [`two_queues`]).
fn two_channels() -> (Ends, Ends) {
    let first = channel();
    let second = channel();
    (first, second)
}

/// Starts a select in the given order and, if it parks, waits for it (no deadline).
fn select_blocking<T>(cases: Vec<Case<'_, T>>, order: &[usize]) -> Selected<T> {
    match start_select(cases, order, true) {
        SelectStart::Ready(selected) => selected,
        SelectStart::Pending(mut pending) => pending.wait_until(None).expect("no deadline"),
        SelectStart::NotReady => unreachable!("asked to wait"),
    }
}

/// A thread that puts `items` on `q` with `put_nowait`, in order.
fn spawn_puts_nowait(q: &QueueHandle<u32>, items: [u32; 2]) -> thread::JoinHandle<()> {
    let q = q.clone();
    thread::spawn(move || {
        for item in items {
            q.put_nowait(item).unwrap();
        }
    })
}

/// A thread puts 1 and 2 on a new queue of `maxsize` (`put` waiting for room, or `put_nowait`)
/// while this one gets twice, waiting for each: both items arrive, in order.
fn two_puts_racing_two_gets(maxsize: usize, nowait: bool) {
    let q = queue::<u32>(maxsize);
    let putter = {
        let q = q.clone();
        thread::spawn(move || {
            for item in [1, 2] {
                match nowait {
                    true => q.put_nowait(item).unwrap(),
                    false => q.put(item, None).unwrap(),
                }
            }
        })
    };
    assert_eq!(q.get(None), Ok(1));
    assert_eq!(q.get(None), Ok(2));
    putter.join().unwrap();
    assert_eq!(q.try_get(), Err(TryRecvError::Empty));
}

#[test]
fn queue_blocking_put_racing_get_on_capacity_one() {
    // Both sides block: the second put waits for room, each get may wait for an item.
    model("queue put/put vs get/get, capacity 1", || two_puts_racing_two_gets(1, false));
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
                Err(SendError::Withdrawn(3)) => {
                    panic!("a parked put was never let in although the queue had room (first put: {quit:?})")
                }
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
        let selected = select_blocking(vec![a.get_case(), b.get_case()], &[0, 1]);
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
    // The cases are listed later-created first, so the case order differs from the lock order.
    model("select on two queues vs puts on both", || {
        let (low, high) = two_queues(1);
        let peer = {
            let (low, high) = (low.clone(), high.clone());
            thread::spawn(move || {
                low.put_nowait(1).unwrap();
                high.put_nowait(2).unwrap();
            })
        };
        let selected = select_blocking(vec![high.get_case(), low.get_case()], &[0, 1]);
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
        let selected = select_blocking(vec![a_tx.send_case(1), b_rx.recv_case()], &[0, 1]);
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
        let selected = select_blocking(vec![full.put_case(11), empty.get_case()], &[0, 1]);
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
        let outcome = match start_select(vec![in_rx.recv_case(), out_tx.send_case(7)], &[0, 1], true) {
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
        let ready = match start_select(vec![source.get_case(), full.put_case(7)], &[0, 1], true) {
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

// ---------------------------------------------------------------------------------------------
// Sync primitives (issue 6): semaphores and locks, RLock, Event, Condition, Barrier
//
// A timeout is modelled as above: the owner cancels its parked wait (`PendingGrant::cancel`),
// racing with the peer that would grant it; an interrupted wait (Ctrl-C) is `abandon`.

use loom::sync::atomic::{AtomicBool as LoomBool, AtomicUsize as LoomUsize};
use loom::sync::Arc as LoomArc;
use subinterpreters_core::primitives::{Condition, Event, RLock, Semaphore, TooManyReleases};

/// Takes a permit, parking as long as it takes.
fn acquire(semaphore: &LoomArc<Semaphore>) {
    if let Err(mut pending) = Semaphore::start_acquire(semaphore) {
        assert_eq!(pending.wait_until(None), Some(true), "a semaphore never refuses");
    }
}

/// Tries for a permit and, if it has to park, "times out" at once: true if it holds one.
fn acquire_then_time_out(semaphore: &LoomArc<Semaphore>) -> bool {
    match Semaphore::start_acquire(semaphore) {
        Ok(()) => true,
        Err(pending) => match pending.cancel() {
            Some(granted) => {
                assert!(granted, "a semaphore never refuses");
                true
            }
            None => false,
        },
    }
}

/// Marks entry into a critical section: nobody else may be inside.
fn enter(inside: &LoomUsize) {
    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of one lock");
}

fn leave(inside: &LoomUsize) {
    inside.fetch_sub(1, Ordering::SeqCst);
}

#[test]
fn lock_acquire_racing_release_and_a_timed_out_acquire_keeps_mutual_exclusion() {
    // A Lock is a semaphore of one permit bounded by one. The main thread holds it; a blocked
    // acquirer waits; a third thread's acquire times out while the release hands the permit on.
    // Mutual exclusion holds, the timed-out acquirer either got the permit (and releases it) or
    // not, and in the end exactly one permit is free: none lost, none made up.
    model_bounded("lock acquire vs release vs timed-out acquire", 5, || {
        let lock = LoomArc::new(Semaphore::new(1, Some(1)));
        let inside = LoomArc::new(LoomUsize::new(0));
        acquire(&lock);
        enter(&inside);
        let blocked = {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || {
                acquire(&lock);
                enter(&inside);
                leave(&inside);
                lock.release(1).unwrap();
            })
        };
        let quitter = {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || {
                if acquire_then_time_out(&lock) {
                    enter(&inside);
                    leave(&inside);
                    lock.release(1).unwrap();
                }
            })
        };
        leave(&inside);
        lock.release(1).unwrap();
        blocked.join().unwrap();
        quitter.join().unwrap();
        assert_eq!(lock.value(), 1, "a permit lost or made up");
        assert_eq!(lock.release(1), Err(TooManyReleases), "the bound holds");
    });
}

#[test]
fn semaphore_release_racing_a_timed_out_and_an_interrupted_acquire_loses_no_permit() {
    // Two acquirers park on an empty semaphore; one times out (cancel: keeps a permit granted
    // meanwhile), the other is interrupted (abandon: gives a granted permit back), while the main
    // thread releases one permit. The permit ends up free again or with the one who kept it.
    model("semaphore release vs cancel vs abandon", || {
        let semaphore = LoomArc::new(Semaphore::new(0, None));
        let timed_out = Semaphore::start_acquire(&semaphore).expect_err("no permit: parks");
        let interrupted = Semaphore::start_acquire(&semaphore).expect_err("no permit: parks");
        let quitter = thread::spawn(move || {
            interrupted.abandon();
            timed_out.cancel()
        });
        semaphore.release(1).unwrap();
        let kept = quitter.join().unwrap();
        match kept {
            Some(true) => assert_eq!(semaphore.value(), 0, "the kept permit was also counted free"),
            None => assert_eq!(semaphore.value(), 1, "the permit vanished"),
            Some(false) => panic!("a semaphore never refuses"),
        }
        assert!(semaphore.try_acquire() != (kept == Some(true)), "exactly one permit in total");
    });
}

#[test]
fn rlock_is_held_by_one_owner_at_a_time_and_only_its_owner_releases_it() {
    // Two owners (interpreter, thread) take an RLock twice each (the second time re-entering)
    // while a third party tries to release it without holding it.
    model_bounded("rlock owners vs a stranger's release", 4, || {
        let rlock = LoomArc::new(RLock::new());
        let inside = LoomArc::new(LoomUsize::new(0));
        let owner_thread = |owner| {
            let (rlock, inside) = (rlock.clone(), inside.clone());
            thread::spawn(move || {
                assert!(!rlock.try_reenter(owner), "not held by this owner yet");
                acquire(rlock.semaphore());
                rlock.became_owner(owner, 1);
                enter(&inside);
                assert!(rlock.try_reenter(owner), "its owner re-enters");
                assert!(rlock.is_owned_by(owner));
                rlock.release(owner).unwrap();
                assert!(rlock.is_owned_by(owner), "still held once");
                leave(&inside);
                rlock.release(owner).unwrap();
            })
        };
        let first = owner_thread((1, 1));
        let second = owner_thread((2, 1));
        let stranger = (1, 2);
        assert_eq!(rlock.release(stranger), Err(subinterpreters_core::primitives::NotOwner));
        assert!(!rlock.try_reenter(stranger));
        first.join().unwrap();
        second.join().unwrap();
        assert!(!rlock.is_owned_by((1, 1)) && !rlock.is_owned_by((2, 1)), "released for good");
        assert_eq!(rlock.semaphore().value(), 1, "free again");
    });
}

#[test]
fn event_set_then_clear_releases_every_parked_waiter_and_no_later_one() {
    // A waiter parked before a `set` is released even if `clear` follows at once; one that times
    // out meanwhile reports either; a wait started after the clear parks.
    model_bounded("event set/clear vs wait and timed-out wait", 5, || {
        let event = LoomArc::new(Event::new());
        // Parked before the set (a wait starting after the clear would rightly park for ever).
        let mut parked = Event::start_wait(&event).expect_err("not set yet: parks");
        let waiter = thread::spawn(move || parked.wait_until(None).expect("no deadline"));
        let quitter = {
            let event = event.clone();
            thread::spawn(move || match Event::start_wait(&event) {
                Ok(()) => Some(true),
                Err(pending) => pending.cancel(),
            })
        };
        event.set();
        event.clear();
        assert!(waiter.join().unwrap(), "a waiter is only ever granted");
        assert!(matches!(quitter.join().unwrap(), Some(true) | None));
        assert!(!event.is_set());
        let late = Event::start_wait(&event).expect_err("cleared: a new wait parks");
        assert_eq!(late.cancel(), None, "nothing set it since");
    });
}

#[test]
fn condition_notify_racing_a_timed_out_wait_is_not_lost() {
    // Two waiters are registered; the first times out while a notify(1) comes. If the timed-out
    // one withdrew, the notification must reach the other; if it was notified first, it says so
    // (`Some(true)`) and a second notify reaches the other. A lost notification leaves the other
    // waiter parked for ever: loom's deadlock.
    model("condition notify vs timed-out wait", || {
        let condition = LoomArc::new(Condition::new());
        let timed_out = Condition::start_wait(&condition);
        let mut other = Condition::start_wait(&condition);
        let quitter = thread::spawn(move || timed_out.cancel());
        let notifier = {
            let condition = condition.clone();
            thread::spawn(move || condition.notify(1))
        };
        let first = notifier.join().unwrap();
        assert_eq!(first, 1, "one waiter was still waiting: notify(1) wakes one");
        let quit = quitter.join().unwrap();
        match quit {
            Some(true) => assert_eq!(condition.notify(1), 1, "the other waiter is still there"),
            None => {}
            Some(false) => panic!("a condition never refuses"),
        }
        assert_eq!(other.wait_until(None), Some(true));
        assert_eq!(condition.notify_all(), 0, "nobody left listed");
    });
}

#[test]
fn condition_wait_with_its_lock_never_misses_the_notify() {
    // The whole `Condition.wait` protocol with a Lock: check the predicate under the lock,
    // register, release the lock, wait, take the lock back. The notifier sets the predicate and
    // notifies under the lock. A notify between the waiter's release and its wait is not missed.
    model("condition wait/notify with its lock", || {
        let lock = LoomArc::new(Semaphore::new(1, Some(1)));
        let condition = LoomArc::new(Condition::new());
        let ready = LoomArc::new(LoomBool::new(false));
        let waiter = {
            let (lock, condition, ready) = (lock.clone(), condition.clone(), ready.clone());
            thread::spawn(move || {
                acquire(&lock);
                let mut waits = 0;
                while !ready.load(Ordering::Relaxed) {
                    let mut pending = Condition::start_wait(&condition);
                    lock.release(1).unwrap();
                    assert_eq!(pending.wait_until(None), Some(true));
                    acquire(&lock);
                    waits += 1;
                }
                lock.release(1).unwrap();
                waits
            })
        };
        acquire(&lock);
        ready.store(true, Ordering::Relaxed);
        condition.notify(1);
        lock.release(1).unwrap();
        assert!(waiter.join().unwrap() <= 1, "woken without a notify");
        assert_eq!(lock.value(), 1);
    });
}

/// Arrives at `barrier` and waits: `true` if the round passed, `false` if it broke.
fn barrier_wait(barrier: &LoomArc<Barrier>) -> bool {
    match Barrier::start_wait(barrier) {
        Err(_) => false,
        Ok((_, None)) => true,
        Ok((_, Some(mut pending))) => pending.wait_until(None).expect("no deadline"),
    }
}

#[test]
fn barrier_trip_racing_an_abort_passes_all_parties_or_none() {
    model("barrier trip vs abort", || {
        let barrier = LoomArc::new(Barrier::new(2));
        let party = {
            let barrier = barrier.clone();
            thread::spawn(move || barrier_wait(&barrier))
        };
        let aborter = {
            let barrier = barrier.clone();
            thread::spawn(move || barrier.abort())
        };
        let passed = barrier_wait(&barrier);
        let other_passed = party.join().unwrap();
        aborter.join().unwrap();
        assert_eq!(passed, other_passed, "one party passed a round the other saw broken");
        assert!(barrier.broken(), "abort breaks it for later rounds");
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn barrier_trip_racing_a_timed_out_party_passes_all_parties_or_none() {
    // `threading.Barrier`: a party whose wait times out breaks the barrier, and every party of
    // that round gets BrokenBarrierError; if the round tripped first, the late timeout passes.
    // Either both parties pass or neither does.
    //
    // This model found a bug (fixed in `PendingGrant::leave_barrier`): the first party's `cancel`
    // won `Waiter::abort` but had not yet taken the barrier's lock; the second party arrived,
    // `arrived` reached 2 (the aborted party still counted), the round tripped and the second
    // party passed, while the first reported a timeout and the barrier stayed unbroken. Now a
    // leaving party aborts under the barrier's lock.
    model("barrier trip vs timed-out party", || {
        let barrier = LoomArc::new(Barrier::new(2));
        let (_, pending) = Barrier::start_wait(&barrier).expect("not broken");
        let pending = pending.expect("first of two parties waits");
        let quitter = thread::spawn(move || pending.cancel() == Some(true));
        let passed = barrier_wait(&barrier);
        let other_passed = quitter.join().unwrap();
        assert_eq!(
            passed,
            other_passed,
            "one party passed a round the other timed out of (broken: {})",
            barrier.broken()
        );
        assert_eq!(barrier.broken(), !passed, "a timed-out round breaks the barrier");
    });
}

#[test]
fn barrier_interrupted_party_racing_a_trip_counts_no_phantom_party() {
    // An interrupted party leaves its round (as `threading.Barrier` does, without breaking it),
    // racing the arrival of the second party. Either the round tripped with it (it was there),
    // or it left and the round now needs a fresh second party, which trips it.
    model("barrier interrupted party vs trip", || {
        let barrier = LoomArc::new(Barrier::new(2));
        let (_, pending) = Barrier::start_wait(&barrier).expect("not broken");
        let pending = pending.expect("first of two parties waits");
        let quitter = thread::spawn(move || pending.abandon());
        let arrival = Barrier::start_wait(&barrier).expect("an interruption does not break it");
        quitter.join().unwrap();
        match arrival {
            (1, None) => {} // tripped together with the first party
            (_, Some(mut waiting)) => {
                assert_eq!(barrier.n_waiting(), 1, "the interrupted party still counts");
                let (_, last) = Barrier::start_wait(&barrier).expect("not broken");
                assert!(last.is_none(), "a second live party trips the round");
                assert_eq!(waiting.wait_until(None), Some(true));
            }
            other => panic!("unexpected arrival index {:?}", other.0),
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
    });
}

// ---------------------------------------------------------------------------------------------
// The notified waiter path (asyncio): start_get_notified + poll + cancel_and_requeue

/// A notification counter for `start_*_notified`.
fn counting_notify() -> (LoomArc<LoomUsize>, subinterpreters_core::Notify) {
    let count = LoomArc::new(LoomUsize::new(0));
    let notify_count = count.clone();
    let notify: subinterpreters_core::Notify = std::sync::Arc::new(move || {
        notify_count.fetch_add(1, Ordering::SeqCst);
    });
    (count, notify)
}

#[test]
fn notified_get_polled_then_cancelled_racing_puts_keeps_items_and_order() {
    // An event-loop getter parks with a notify callback, polls once when it looks (a notification
    // seen means the item is ready), and otherwise gives up (the task is cancelled), putting back
    // anything handed meanwhile. Racing two puts, nothing is lost, duplicated or reordered, and
    // the callback runs at most once.
    model("notified get + poll + cancel_and_requeue vs puts", || {
        let q = queue::<u32>(0);
        let putter = spawn_puts_nowait(&q, [1, 2]);
        let (count, notify) = counting_notify();
        let mut got = Vec::new();
        match q.start_get_notified(notify).unwrap() {
            RecvStart::Ready(item) => got.push(item),
            RecvStart::Pending(mut pending) => {
                let notified = count.load(Ordering::SeqCst) > 0;
                match pending.poll() {
                    Some(result) => got.push(result.expect("nothing closed the queue")),
                    None => {
                        assert!(!notified, "notified, yet poll found nothing");
                        pending.cancel_and_requeue();
                    }
                }
            }
        }
        putter.join().unwrap();
        assert!(count.load(Ordering::SeqCst) <= 1, "notified twice");
        got.extend(drain_queue(&q));
        assert_eq!(got, [1, 2], "lost, duplicated or reordered");
    });
}

#[test]
fn notified_put_polled_then_cancelled_racing_a_get_keeps_the_item_in_one_place() {
    // The put side: a notified put parks on a full queue, a getter makes room, and the put
    // polls, then withdraws. Its item is in the queue exactly when the put reports success.
    model("notified put + poll + cancel vs get", || {
        let q = queue::<u32>(1);
        q.put_nowait(1).unwrap();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.try_get())
        };
        let (count, notify) = counting_notify();
        let put = match q.start_put_notified(2, notify).unwrap() {
            SendStart::Delivered => Ok(()),
            SendStart::Pending(mut pending) => {
                let notified = count.load(Ordering::SeqCst) > 0;
                match pending.poll() {
                    Some(result) => result,
                    None => {
                        assert!(!notified, "notified, yet poll found nothing");
                        pending.cancel()
                    }
                }
            }
        };
        let first = getter.join().unwrap();
        let mut all: Vec<u32> = first.into_iter().collect();
        all.extend(drain_queue(&q));
        match put {
            Ok(()) => assert_eq!(all, [1, 2]),
            Err(SendError::Withdrawn(2)) => assert_eq!(all, [1]),
            other => panic!("nothing closed the queue: {other:?}"),
        }
        assert!(count.load(Ordering::SeqCst) <= 1, "notified twice");
    });
}

// ---------------------------------------------------------------------------------------------
// Close racing waiters: the cases the channel models above do not cover

#[test]
fn queue_close_racing_a_put_blocked_on_a_full_queue_and_a_get() {
    model("queue close vs blocked put vs get", || {
        let q = queue::<u32>(1);
        q.put_nowait(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2, None))
        };
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get(None))
        };
        q.close();
        let put = putter.join().unwrap();
        assert_eq!(getter.join().unwrap(), Ok(1), "the queued item is drained after a close");
        let left = drain_queue(&q);
        match (put, left.as_slice()) {
            (Ok(()), [2]) => {}
            (Err(SendError::Closed(2)), []) => {}
            other => panic!("item lost, duplicated, or accepted after the close: {other:?}"),
        }
        assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    });
}

#[test]
fn last_queue_handle_dropped_racing_a_parked_get() {
    // A parked get keeps the queue alive but not open: dropping the last handle frees the queue
    // (closes it both ways), which must release the getter.
    model("last QueueHandle drop vs parked get", || {
        let q = queue::<u32>(1);
        let q2 = q.clone();
        let getter = thread::spawn(move || match q2.start_get() {
            Ok(RecvStart::Pending(mut pending)) => {
                drop(q2);
                pending.wait_until(None).expect("no deadline")
            }
            Ok(RecvStart::Ready(item)) => Ok(item),
            Err(err) => Err(err),
        });
        drop(q);
        assert_eq!(getter.join().unwrap(), Err(RecvError::Closed));
    });
}

#[test]
fn select_parked_on_two_queues_racing_a_close_and_a_put() {
    model_bounded("select on two queues vs close and put", 5, || {
        let (a, b) = two_queues(1);
        let closer = {
            let a = a.clone();
            thread::spawn(move || a.close())
        };
        let putter = {
            let b = b.clone();
            thread::spawn(move || b.put_nowait(2).unwrap())
        };
        let selected = select_blocking(vec![a.get_case(), b.get_case()], &[0, 1]);
        closer.join().unwrap();
        putter.join().unwrap();
        let left_b = drain_queue(&b);
        match (selected, left_b.as_slice()) {
            (Selected::Drained(0), [2]) => {}
            (Selected::Received(1, 2), []) => {}
            other => panic!("not exactly one case, or an item lost: {other:?}"),
        }
    });
}

#[test]
fn select_send_case_racing_a_close_of_its_receive_end_gets_the_item_back() {
    // The select offers on channel A (nobody receives) and receives on channel B (nobody sends);
    // only the close of A's receive end can end it, with the item back.
    model("select send vs close_recv", || {
        let ((a_tx, a_rx), (_b_tx, b_rx)) = two_channels();
        let closer = thread::spawn(move || a_rx.close());
        let selected = select_blocking(vec![a_tx.send_case(1), b_rx.recv_case()], &[0, 1]);
        closer.join().unwrap();
        assert_eq!(selected, Selected::SendClosed(0, 1));
        assert!(a_tx.channel().is_empty() && b_rx.channel().is_empty(), "no entry left listed");
    });
}

// ---------------------------------------------------------------------------------------------
// The checker catches a broken primitive

/// Shows that the primitive models can fail: a deliberately broken condition variable, written
/// here and not in the core, whose `notify` hands its notification to the oldest waiter without
/// checking whether that waiter already timed out. When the timeout wins the race, the
/// notification is spent on a waiter that is gone, and the other waiter is never woken: loom
/// reports the deadlock this test expects. (The core's `Condition::notify` completes a waiter
/// through `Waiter::complete`, which refuses an aborted waiter, and moves on to the next.)
#[test]
#[should_panic(expected = "deadlock")]
fn loom_catches_a_lost_notification_in_a_broken_condition() {
    use loom::sync::{Condvar, Mutex};
    struct BrokenWaiter {
        state: Mutex<u8>, // 0 waiting, 1 notified, 2 timed out
        wake: Condvar,
    }
    struct BrokenCondition {
        waiters: Mutex<std::collections::VecDeque<&'static BrokenWaiter>>,
    }
    impl BrokenCondition {
        fn notify_one(&self) {
            if let Some(waiter) = self.waiters.lock().unwrap().pop_front() {
                let mut state = waiter.state.lock().unwrap();
                // BUG: should skip a waiter that timed out (state 2) and notify the next one.
                if *state == 0 {
                    *state = 1;
                }
                waiter.wake.notify_one();
            }
        }
    }
    loom::model(|| {
        // Leaked, not in loom `Arc`s: see `loom_catches_a_lost_wake_up_in_a_broken_hand_off`.
        let new_waiter = || -> &'static BrokenWaiter {
            Box::leak(Box::new(BrokenWaiter { state: Mutex::new(0), wake: Condvar::new() }))
        };
        let (first, second) = (new_waiter(), new_waiter());
        let condition: &'static BrokenCondition =
            Box::leak(Box::new(BrokenCondition { waiters: Mutex::new([first, second].into()) }));
        let quitter = thread::spawn(move || {
            let mut state = first.state.lock().unwrap();
            if *state == 0 {
                *state = 2; // timed out; it stays listed, like the core's aborted waiters
            }
        });
        condition.notify_one();
        quitter.join().unwrap();
        let first_notified = *first.state.lock().unwrap() == 1;
        if first_notified {
            condition.notify_one(); // the first waiter took the notification: one more for the second
        }
        let mut state = second.state.lock().unwrap();
        while *state == 0 {
            state = second.wake.wait(state).unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Registries and buffer leases: the lists that learn of a last close, and the releases of lent
// buffers. A registry's hook holds the list until the last close runs it, so a hook that never
// ran shows up as loom's "Arc leaked" at the end of the execution.

use subinterpreters_core::{ArrayLayout, ChannelRegistry, LeaseHolder, LeaseTable, QueueRegistry};

#[test]
fn last_queue_handle_dropped_racing_a_registry_get_never_revives_a_freed_queue() {
    // `get` either finds the queue before its last handle went (a live queue, still listed) or
    // finds nothing; never a handle on a queue whose items were dropped and whose hook ran.
    model("last QueueHandle drop vs registry get", || {
        let registry = QueueRegistry::<u32>::new();
        let q = registry.create(1, false);
        let id = q.id();
        let dropper = thread::spawn(move || drop(q));
        match registry.get(id) {
            Some(revived) => {
                assert!(!revived.is_closed(), "revived a freed queue");
                revived.put_nowait(7).unwrap();
                assert_eq!(revived.try_get(), Ok(7));
                dropper.join().unwrap();
                assert_eq!(registry.len(), 1, "a revived queue stays listed");
                drop(revived);
            }
            None => dropper.join().unwrap(),
        }
        assert!(registry.is_empty(), "the last handle unlists the queue");
    });
}

#[test]
fn last_queue_handle_dropped_racing_list_and_close_all_unlists_it_once() {
    // The exit hook's `close_all` and a `list_all_queues()` race the last handle's drop: the
    // listed handles are live handles (dropping them frees the queue, once), and nothing stays
    // listed or alive at the end.
    model_bounded("last QueueHandle drop vs list vs close_all", 6, || {
        let registry = LoomArc::new(QueueRegistry::<u32>::new());
        let q = registry.create(1, false);
        q.put_nowait(1).unwrap();
        let dropper = thread::spawn(move || drop(q));
        let lister = {
            let registry = registry.clone();
            thread::spawn(move || {
                for listed in registry.list() {
                    // A listed queue is open unless `close_all` got there: a closed queue still
                    // drains, and its item is either here or was dropped with the queue.
                    assert!(matches!(listed.try_get(), Ok(1) | Err(TryRecvError::Empty | TryRecvError::Closed)));
                }
            })
        };
        registry.close_all();
        dropper.join().unwrap();
        lister.join().unwrap();
        assert!(registry.is_empty(), "the last handle unlists the queue");
    });
}

#[test]
fn last_channel_ends_dropped_racing_list_and_close_all_unlist_it_once() {
    // Both ends' last handles go in one thread while another lists the channel and the exit
    // hook closes everything: handles made from the list keep closed ends closed, and the
    // channel leaves the registry exactly when both ends are closed.
    model_bounded("last channel handles drop vs list vs close_all", 5, || {
        let registry = LoomArc::new(ChannelRegistry::<u32>::new());
        let (tx, rx) = registry.create();
        let dropper = thread::spawn(move || {
            drop(tx);
            drop(rx);
        });
        let lister = {
            let registry = registry.clone();
            thread::spawn(move || {
                for (tx, rx) in registry.list() {
                    // Either end may be closed (by the drops or by `close_all`) at any point here; an
                    // item sent is received unless the receive end closed meanwhile.
                    match tx.send_nowait(1) {
                        Ok(_) => assert!(matches!(rx.try_recv(), Ok(1) | Err(TryRecvError::Closed))),
                        Err(SendError::Closed(1)) => {}
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            })
        };
        registry.close_all();
        dropper.join().unwrap();
        lister.join().unwrap();
        assert!(registry.is_empty(), "a channel with both ends closed is unlisted");
    });
}

/// A one-byte layout for the lease models (the table never looks at it).
fn byte_layout() -> ArrayLayout {
    ArrayLayout::c_contiguous("B", &[1]).unwrap()
}

/// A release that counts its runs. The counter is a loom atomic, so that loom may switch threads
/// inside a release; leaked rather than in a loom `Arc`, because an abandoned release is
/// forgotten, never dropped, and loom would report a forgotten `Arc` as a leak.
fn counting_release() -> (&'static LoomUsize, Box<dyn FnOnce() + Send>) {
    let runs: &'static LoomUsize = Box::leak(Box::new(LoomUsize::new(0)));
    (
        runs,
        Box::new(move || {
            runs.fetch_add(1, Ordering::SeqCst);
        }),
    )
}

#[test]
fn lease_release_racing_abandon_runs_once_or_is_abandoned_never_both() {
    // Interpreter 2 shows the lease as a view, lets it go and drops the last reference (the
    // release runs) while the exit hook abandons interpreter 1's releases.
    model("lease release vs hold/unhold vs abandon", || {
        let table = LoomArc::new(LeaseTable::new());
        let (runs, release) = counting_release();
        let lease = table.lend(1, 0x1000, byte_layout(), false, release);
        let holder = {
            let table = table.clone();
            thread::spawn(move || {
                table.hold(&lease, 2);
                table.unhold(&lease, 2);
                drop(lease);
            })
        };
        let abandoned = table.abandon_all_of(1);
        holder.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst) + abandoned, 1, "released once or abandoned, never both");
        assert!(table.is_empty(), "nothing stays listed");
    });
}

#[test]
fn lease_views_in_two_interpreters_racing_abandon_release_once_or_never() {
    // Two interpreters hold views of one lease and let them go in either order; whichever drops
    // the last reference runs the release, unless the exit hook abandoned it first.
    model("lease views in two threads vs abandon", || {
        let table = LoomArc::new(LeaseTable::new());
        let (runs, release) = counting_release();
        let lease = table.lend(1, 0x1000, byte_layout(), false, release);
        let view = |holder: i64, lease: LoomArc<subinterpreters_core::BufferLease>| {
            let table = table.clone();
            thread::spawn(move || {
                table.hold(&lease, holder);
                table.unhold(&lease, holder);
            })
        };
        let first = view(2, lease.clone());
        let second = view(3, lease);
        let abandoned = table.abandon_all_of(1);
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst) + abandoned, 1, "released once or abandoned, never both");
        assert!(table.is_empty(), "nothing stays listed");
    });
}

#[test]
fn a_close_that_finds_no_lease_of_its_interpreter_never_precedes_a_release() {
    // Interpreter 2 lets its view of interpreter 1's buffer go (the last reference: the release
    // enters interpreter 1) while interpreter 1's close asks whether anything blocks it (first
    // abandoning its releases, as the exit hook does, or not). Once the answer is "nothing", no
    // release of interpreter 1 may still be to come.
    for abandon_first in [false, true] {
        let name = if abandon_first {
            "lease release vs abandon, blocking_close_of"
        } else {
            "lease release vs blocking_close_of"
        };
        model(name, move || {
            let table = LoomArc::new(LeaseTable::new());
            // A loom atomic, so that loom may switch threads between the release's start and its
            // check; leaked, since an abandoned release is forgotten (see `counting_release`).
            let closed: &'static LoomBool = Box::leak(Box::new(LoomBool::new(false)));
            let release =
                Box::new(move || assert!(!closed.load(Ordering::SeqCst), "released into a closed interpreter"));
            let lease = table.lend(1, 0x1000, byte_layout(), false, release);
            table.hold(&lease, 2);
            let viewer = {
                let table = table.clone();
                thread::spawn(move || {
                    table.unhold(&lease, 2);
                    drop(lease);
                })
            };
            if abandon_first {
                table.abandon_all_of(1);
            }
            match table.blocking_close_of(1) {
                None => closed.store(true, Ordering::SeqCst),
                Some(LeaseHolder::Interpreter(2) | LeaseHolder::InFlight) => {}
                Some(other) => panic!("unexpected holder {other:?}"),
            }
            viewer.join().unwrap();
            assert_eq!(table.blocking_close_of(1), None, "released (or abandoned) and unlisted");
        });
    }
}

// --- Demand: a holder giving way to a counted waiter -------------------------------------------

use subinterpreters_core::Demand;

/// A waiter counts itself, takes the "GIL" (a mutex) and stops counting; the holder, seeing a
/// waiter, lets go and waits for it. Whatever the interleaving: nothing deadlocks, the count ends
/// at zero, and when `wait_served` reports the waiter took it, it had (its turn is recorded).
#[test]
fn a_holder_giving_way_sees_the_waiter_take_its_turn() {
    model("demand give way", || {
        let demand = LoomArc::new(Demand::new());
        let gil = LoomArc::new(loom::sync::Mutex::new(Vec::<&'static str>::new()));
        let held = gil.lock().unwrap();
        let waiter = {
            let (demand, gil) = (demand.clone(), gil.clone());
            thread::spawn(move || {
                let wish = demand.want();
                let mut turns = gil.lock().unwrap();
                drop(wish);
                turns.push("waiter");
            })
        };
        let (seen, served) = (demand.waiting(), demand.served());
        drop(held);
        let taken = seen > 0 && demand.wait_served(served, std::time::Duration::from_micros(3));
        let mut turns = gil.lock().unwrap();
        if taken {
            assert_eq!(*turns, ["waiter"], "reported taken before the waiter had its turn");
        }
        turns.push("holder");
        drop(turns);
        waiter.join().unwrap();
        assert_eq!(demand.waiting(), 0);
        assert_eq!(demand.served(), 1);
        assert_eq!(gil.lock().unwrap().len(), 2);
    });
}

// --- A pool's task queue and task cells ------------------------------------------------------

use subinterpreters_core::{Claimed, Entry, Grouped, Pace, TaskCell, TaskQueue, TaskState};

struct Job(u32);

impl Grouped for Job {
    fn group(&self) -> u64 {
        0
    }
}

fn job_of(entry: Option<Entry<Job>>) -> Option<u32> {
    match entry {
        Some(Entry::Tasks(tasks)) => {
            assert_eq!(tasks.len(), 1, "submitted tasks are taken one at a time");
            Some(tasks[0].0)
        }
        Some(Entry::Stop) => None,
        None => panic!("a take without a deadline returned nothing"),
    }
}

/// Two idle workers (one of them may be the spinner, whose put skips the wake-up) and two puts:
/// each worker gets one task, whatever the interleaving of the spinner's hand-back with the
/// puts; a lost wake-up shows up as loom's deadlock.
#[test]
fn two_idle_workers_each_get_one_of_two_tasks() {
    model_bounded("task queue: two takers, two puts", 3, || {
        let queue = LoomArc::new(TaskQueue::new());
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                thread::spawn(move || job_of(queue.take(None, &Pace::new(), 2, false)))
            })
            .collect();
        queue.put(Job(1));
        queue.put(Job(2));
        let mut got: Vec<u32> = takers.into_iter().map(|taker| taker.join().unwrap().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(queue.is_empty());
    });
}

/// A stop signal queued behind a task reaches the worker after the task.
#[test]
fn a_worker_gets_the_task_then_the_stop_signal() {
    model("task queue: task then stop", || {
        let queue = LoomArc::new(TaskQueue::new());
        let worker = {
            let queue = queue.clone();
            thread::spawn(move || {
                let first = job_of(queue.take(None, &Pace::new(), 1, false));
                let second = job_of(queue.take(None, &Pace::new(), 1, false));
                (first, second)
            })
        };
        queue.put(Job(7));
        queue.put_stop();
        assert_eq!(worker.join().unwrap(), (Some(7), None));
    });
}

/// Cancelling races a worker starting the task: exactly one wins; a cancelled task is never
/// started, and a started one finishes.
#[test]
fn cancel_and_start_race_and_exactly_one_wins() {
    model("task cell: cancel against start", || {
        let cell = LoomArc::new(TaskCell::new());
        let worker = {
            let cell = cell.clone();
            thread::spawn(move || {
                let started = cell.start();
                if started {
                    cell.finish(1u32);
                }
                started
            })
        };
        let cancelled = cell.cancel();
        let started = worker.join().unwrap();
        assert!(cancelled != started, "cancelled: {cancelled}, started: {started}");
        let expected = if cancelled { Claimed::Cancelled } else { Claimed::Outcome(1) };
        assert_eq!(cell.claim(), Some(expected));
        assert!(cell.wait_finished(std::time::Duration::ZERO));
    });
}

/// A worker finishing a task races a thread that starts watching it (and claims it if it
/// finished) and another thread claiming it: the outcome is claimed exactly once, and if the
/// watch came first, by the finisher (which is told to).
#[test]
fn finish_watch_and_claim_race_and_the_outcome_is_claimed_once() {
    model_bounded("task cell: finish against watch and claim", 3, || {
        let cell = LoomArc::new(TaskCell::new());
        assert!(cell.start());
        let worker = {
            let cell = cell.clone();
            thread::spawn(move || if cell.finish(9u32) { cell.claim() } else { None })
        };
        let claimer = {
            let cell = cell.clone();
            thread::spawn(move || cell.claim())
        };
        let watched = cell.watch();
        let by_worker = worker.join().unwrap();
        let by_claimer = claimer.join().unwrap();
        let claims: Vec<_> = [watched, by_worker, by_claimer].into_iter().flatten().collect();
        // The watch always precedes the end of this execution, so somebody has claimed it.
        assert_eq!(claims, [Claimed::Outcome(9)]);
        assert_eq!(cell.state(), TaskState::Claimed);
    });
}

// ---------------------------------------------------------------------------------------------
// Unbounded queues: put_nowait against parked and giving-up getters, select and close. Written
// for (and first run against) a lock-free lane for these queues that was tried and not kept; they
// guard the same promises for the locked exchange: no lost wake-up, no item after the end, each
// producer's order kept for one consumer.

/// Gets until the queue reports closed and drained.
fn drain_queue_blocking<T>(q: &QueueHandle<T>) -> Vec<T> {
    let mut got = Vec::new();
    loop {
        match q.get(None) {
            Ok(item) => got.push(item),
            Err(RecvError::Closed) => return got,
            Err(err) => panic!("no deadline, yet {err:?}"),
        }
    }
}

#[test]
fn unbounded_puts_racing_a_parking_get_wake_it_in_order() {
    model("unbounded: put_nowait x2 vs get x2", || two_puts_racing_two_gets(0, true));
}

#[test]
fn unbounded_puts_racing_a_close_are_drained_exactly_when_accepted() {
    // No item after the end: a put that reports success has its item drained by a getter that
    // runs until it sees the queue closed; a put refused keeps its item.
    model_bounded("unbounded: put_nowait x2 vs close vs draining get", 2, || {
        let q = queue::<u32>(0);
        let putter = {
            let q = q.clone();
            thread::spawn(move || [q.put_nowait(1), q.put_nowait(2)])
        };
        let closer = {
            let q = q.clone();
            thread::spawn(move || q.close())
        };
        let got = drain_queue_blocking(&q);
        let puts = putter.join().unwrap();
        closer.join().unwrap();
        let accepted: Vec<u32> = (1..=2).zip(&puts).filter(|(_, put)| put.is_ok()).map(|(item, _)| item).collect();
        assert_eq!(got, accepted, "an accepted item was lost, or a refused one delivered ({puts:?})");
        for (item, put) in (1..=2).zip(puts) {
            if let Err(err) = put {
                assert_eq!(err, SendError::Closed(item));
            }
        }
        assert_eq!(q.try_get(), Err(TryRecvError::Closed));
    });
}

#[test]
fn unbounded_select_parked_on_two_queues_is_woken_by_a_put() {
    model("unbounded: select on two unbounded queues vs put_nowait", || {
        let (a, b) = two_queues(0);
        let putter = {
            let b = b.clone();
            thread::spawn(move || b.put_nowait(7).unwrap())
        };
        assert_eq!(select_blocking(vec![a.get_case(), b.get_case()], &[0, 1]), Selected::Received(1, 7));
        putter.join().unwrap();
        assert!(drain_queue(&a).is_empty() && drain_queue(&b).is_empty());
    });
}

#[test]
fn unbounded_two_getters_racing_puts_get_each_item_once() {
    // One getter may find an item at once while the other is parked and handed one: each item
    // reaches exactly one of them.
    model_bounded("unbounded: get vs get vs put_nowait x2", 3, || {
        let q = queue::<u32>(0);
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get(None).unwrap())
        };
        let putter = spawn_puts_nowait(&q, [1, 2]);
        let mine = q.get(None).unwrap();
        let theirs = getter.join().unwrap();
        putter.join().unwrap();
        let mut both = [mine, theirs];
        both.sort_unstable();
        assert_eq!(both, [1, 2], "an item lost or taken twice");
    });
}

#[test]
fn unbounded_item_put_back_stays_ahead_of_later_puts() {
    // A get that gives up after being handed an item puts it back in front; a later take still
    // finds the items in their order.
    model("unbounded: cancel_and_requeue vs put_nowait x2", || {
        let q = queue::<u32>(0);
        let putter = spawn_puts_nowait(&q, [1, 2]);
        match q.start_get().unwrap() {
            RecvStart::Ready(item) => q.put_back(item),
            RecvStart::Pending(pending) => pending.cancel_and_requeue(),
        }
        putter.join().unwrap();
        assert_eq!(drain_queue(&q), [1, 2], "lost, duplicated or reordered");
    });
}

#[test]
fn unbounded_getter_giving_up_racing_a_try_get_keeps_its_order() {
    // A parked getter gives up while a put serves it: the item must not be set aside where
    // another get would overtake it.
    model_bounded("unbounded: try_get vs giving-up get vs put_nowait x2", 3, || {
        let q = queue::<u32>(0);
        let putter = spawn_puts_nowait(&q, [1, 2]);
        let quitter = {
            let q = q.clone();
            thread::spawn(move || match q.start_get().unwrap() {
                RecvStart::Ready(item) => Some(item),
                RecvStart::Pending(pending) => pending.cancel().ok(),
            })
        };
        let first = q.try_get().ok();
        putter.join().unwrap();
        let theirs = quitter.join().unwrap();
        let mut mine: Vec<u32> = first.into_iter().collect();
        mine.extend(drain_queue(&q));
        let mut sorted = mine.clone();
        sorted.sort_unstable();
        assert_eq!(mine, sorted, "one consumer saw items out of put order (the other got {theirs:?})");
    });
}

#[test]
fn unbounded_close_with_two_parked_getters_and_one_item_on_its_way_ends_both() {
    // One item was pushed for two parked getters when the queue closes: one gets it, the other
    // is told the queue is closed (it must not stay parked).
    model_bounded("unbounded: get x2 vs put_nowait vs close", 2, || {
        let q = queue::<u32>(0);
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get(None))
            })
            .collect();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put_nowait(1))
        };
        q.close();
        let put = putter.join().unwrap();
        let mut got: Vec<_> = getters.into_iter().map(|getter| getter.join().unwrap()).collect();
        got.sort_by_key(|result| result.is_ok());
        match put {
            Ok(()) => assert_eq!(got, [Err(RecvError::Closed), Ok(1)]),
            Err(_) => assert_eq!(got, [Err(RecvError::Closed), Err(RecvError::Closed)]),
        }
    });
}
