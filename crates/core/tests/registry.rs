//! `ChannelRegistry`: ids, listing, removal once both ends are closed, `close_all`, and channel
//! handles carried inside items (`Payload::SendEnd` / `Payload::RecvEnd`).
#![cfg(not(loom))]

mod common;

use std::collections::BTreeSet;
use std::thread;

use common::{count, drops, join, wait_for, Tracked};
use subinterpreters_core::{ChannelRegistry, Payload, RecvError, RecvStart, SendError, SendStart, TryRecvError};

#[test]
fn ids_start_at_one_increase_and_are_shared_by_both_ends() {
    let registry = ChannelRegistry::<u32>::new();
    assert!(registry.is_empty());
    let (tx1, rx1) = registry.create();
    let (tx2, rx2) = registry.create();
    assert_eq!((tx1.id(), rx1.id()), (1, 1));
    assert_eq!((tx2.id(), rx2.id()), (2, 2));
    assert_eq!(tx1.channel().id(), 1);
    assert_eq!(registry.len(), 2);
    assert!(!registry.is_empty());
    // Ids are never reused, even after a channel is gone.
    drop((tx1, rx1));
    let (tx3, _rx3) = registry.create();
    assert_eq!(tx3.id(), 3);
    drop((tx2, rx2));
}

#[test]
fn list_returns_live_handles_in_id_order() {
    let registry = ChannelRegistry::<u32>::default();
    let channels: Vec<_> = (0..4).map(|_| registry.create()).collect();
    let listed = registry.list();
    assert_eq!(listed.len(), 4);
    for ((tx, rx), (ltx, lrx)) in channels.iter().zip(&listed) {
        assert_eq!(tx, ltx);
        assert_eq!(rx, lrx);
        assert_eq!(ltx.id(), lrx.id());
    }
    // Listed handles are real handles: they work and count toward their ends.
    let (ltx, lrx) = &listed[0];
    ltx.send_nowait(5).unwrap();
    assert_eq!(channels[0].1.try_recv(), Ok(5));
    channels[1].0.send_nowait(6).unwrap();
    assert_eq!(lrx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(listed[1].1.try_recv(), Ok(6));
    // Dropping the listed handles does not close ends that still have other handles.
    drop(listed);
    assert_eq!(registry.len(), 4);
    assert!(channels.iter().all(|(tx, rx)| !tx.is_closed() && !rx.is_closed()));
}

#[test]
fn a_listed_handle_keeps_its_end_open_after_the_original_is_dropped() {
    let registry = ChannelRegistry::<u32>::new();
    let (tx, rx) = registry.create();
    let listed = registry.list();
    drop(tx);
    assert!(!rx.channel().is_send_closed(), "the listed sender still holds the send end");
    listed[0].0.send_nowait(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    drop(listed);
    assert!(rx.channel().is_send_closed());
}

#[test]
fn a_channel_leaves_the_registry_only_when_both_ends_are_closed() {
    let registry = ChannelRegistry::<u32>::new();
    let (tx, rx) = registry.create();
    let (tx2, rx2) = registry.create();
    tx.close();
    assert_eq!(registry.len(), 2, "one open end keeps the channel listed");
    assert_eq!(registry.list().len(), 2);
    rx.close();
    assert_eq!(registry.len(), 1, "closed explicitly, with handles still alive");
    assert_eq!(registry.list()[0].0.id(), 2);
    // Closing in the other order, by dropping the last handles.
    drop(rx2);
    assert_eq!(registry.len(), 1);
    drop(tx2);
    assert!(registry.is_empty());
    assert!(registry.list().is_empty());
    // The handles of the removed channel still answer, as closed.
    assert_eq!(tx.send_nowait(1), Err(SendError::Closed(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn listing_a_half_closed_channel_does_not_reopen_or_double_close_it() {
    let registry = ChannelRegistry::<u32>::new();
    let (tx, rx) = registry.create();
    tx.send_nowait(1).unwrap();
    drop(tx); // send end closed by its last handle, one item queued
    let listed = registry.list();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].0.is_closed(), "a new handle on a closed end leaves it closed");
    drop(listed); // last listed Sender dropped again: closing twice must be harmless
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    drop(rx);
    assert!(registry.is_empty());
}

#[test]
fn close_all_wakes_blocked_calls_and_empties_the_registry() {
    let registry = ChannelRegistry::<u32>::new();
    let (tx1, rx1) = registry.create();
    let (tx2, rx2) = registry.create();
    let (tx3, rx3) = registry.create();
    tx3.send_nowait(30).unwrap();
    // A blocked receiver on channel 1 and a blocked sender on channel 2.
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let receiver = {
        let rx1 = rx1.clone();
        thread::spawn(move || match rx1.start_recv() {
            Ok(RecvStart::Pending(mut pending)) => {
                parked_tx.send(()).unwrap();
                pending.wait_until(None).unwrap()
            }
            _ => panic!("expected to park"),
        })
    };
    parked_rx.recv_timeout(common::PATIENCE).unwrap();
    let sender = {
        let tx2 = tx2.clone();
        thread::spawn(move || tx2.send(20, None))
    };
    let chan2 = tx2.channel().clone();
    wait_for("sender to park", || chan2.len() == 1);

    registry.close_all();
    assert_eq!(join(receiver), Err(RecvError::Closed));
    assert_eq!(join(sender), Err(SendError::Closed(20)));
    assert!(registry.is_empty());
    assert!(rx3.channel().is_empty(), "queued items are dropped");
    for (tx, rx) in [(&tx1, &rx1), (&tx2, &rx2), (&tx3, &rx3)] {
        assert!(tx.channel().is_fully_closed());
        assert_eq!(tx.send_nowait(1), Err(SendError::Closed(1)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
    // The registry is still usable afterwards.
    let (tx4, rx4) = registry.create();
    assert_eq!(tx4.id(), 4);
    tx4.send_nowait(4).unwrap();
    assert_eq!(rx4.try_recv(), Ok(4));
}

#[test]
fn close_all_drops_queued_items() {
    let dropped = drops();
    let registry = ChannelRegistry::<Tracked>::new();
    let (tx, _rx) = registry.create();
    tx.send_nowait(Tracked::new(1, &dropped)).unwrap();
    tx.send_nowait(Tracked::new(2, &dropped)).unwrap();
    registry.close_all();
    assert_eq!(count(&dropped), 2);
}

#[test]
fn a_channel_outliving_its_registry_still_closes_cleanly() {
    let registry = ChannelRegistry::<u32>::new();
    let (tx, rx) = registry.create();
    drop(registry);
    tx.send_nowait(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    drop(rx);
}

#[test]
fn ids_are_unique_across_threads() {
    let registry = std::sync::Arc::new(ChannelRegistry::<u32>::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let registry = registry.clone();
            thread::spawn(move || {
                let mut ids = Vec::new();
                let mut kept = Vec::new();
                for i in 0..200 {
                    let (tx, rx) = registry.create();
                    ids.push(tx.id());
                    if i % 2 == 0 {
                        kept.push((tx, rx)); // dropped (closed and unlisted) at the end
                    } // else: dropped here, closed and unlisted at once
                }
                drop(kept);
                ids
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for t in threads {
        for id in join(t) {
            assert!(all.insert(id), "id {id} handed out twice");
        }
    }
    assert_eq!(all.len(), 800);
    assert!(registry.is_empty(), "every channel had both ends dropped");
}

// ---------------------------------------------------------------------------------------------
// Handles carried inside items

#[test]
fn an_end_in_flight_keeps_its_channel_open_and_usable() {
    let registry = ChannelRegistry::<Payload>::new();
    let (carrier_tx, carrier_rx) = registry.create();
    let (tx, rx) = registry.create();
    let id = rx.id();
    carrier_tx.send_nowait(Payload::RecvEnd(rx)).unwrap(); // the only receive handle, in flight
    assert!(!tx.is_closed(), "the receive end lives inside the queued item");
    tx.send_nowait(Payload::Int(5)).unwrap();
    let rx = match carrier_rx.try_recv() {
        Ok(Payload::RecvEnd(rx)) => rx,
        other => panic!("expected a receive end, got {other:?}"),
    };
    assert_eq!(rx.id(), id);
    assert_eq!(rx.try_recv(), Ok(Payload::Int(5)));
    assert_eq!(registry.len(), 2);
}

#[test]
fn dropping_queued_items_closes_the_channels_whose_handles_they_held() {
    let registry = ChannelRegistry::<Payload>::new();
    let (carrier_tx, carrier_rx) = registry.create();
    let (inner_tx, inner_rx) = registry.create();
    let (other_tx, other_rx) = registry.create();
    // The last send handle of `inner` and the last receive handle of `other` travel, nested in a
    // tuple, through `carrier`.
    let item = Payload::Tuple(Box::new([
        Payload::SendEnd(inner_tx),
        Payload::Tuple(Box::new([Payload::RecvEnd(other_rx), Payload::None])),
    ]));
    carrier_tx.send_nowait(item).unwrap();
    // A receiver blocked on `inner` waits for a sender that only exists inside the queue.
    let (parked_tx, parked_rx) = std::sync::mpsc::channel();
    let blocked = {
        let inner_rx = inner_rx.clone();
        thread::spawn(move || match inner_rx.start_recv() {
            Ok(RecvStart::Pending(mut pending)) => {
                parked_tx.send(()).unwrap();
                pending.wait_until(None).unwrap()
            }
            _ => panic!("expected to park"),
        })
    };
    parked_rx.recv_timeout(common::PATIENCE).unwrap();
    // And a sender blocked on `other`, whose only receive handle is in the queue.
    let blocked_sender = {
        let other_tx = other_tx.clone();
        thread::spawn(move || other_tx.send(Payload::Int(1), None))
    };
    let other_chan = other_tx.channel().clone();
    wait_for("sender to park", || other_chan.len() == 1);
    assert_eq!(registry.len(), 3);

    drop(carrier_rx); // last receive handle: the queued tuple is dropped, and with it the ends
    assert!(matches!(join(blocked), Err(RecvError::Closed)));
    match join(blocked_sender) {
        Err(SendError::Closed(Payload::Int(1))) => {}
        other => panic!("expected Closed(Int(1)), got {other:?}"),
    }
    assert!(inner_rx.channel().is_send_closed());
    assert!(other_tx.channel().is_send_closed());
    assert_eq!(registry.len(), 3, "each channel still has one open end");
    drop((carrier_tx, inner_rx, other_tx));
    assert!(registry.is_empty(), "every channel had both ends closed");
}

#[test]
fn close_all_with_channels_carrying_each_others_ends_terminates() {
    let registry = ChannelRegistry::<Payload>::new();
    let (a_tx, a_rx) = registry.create();
    let (b_tx, b_rx) = registry.create();
    // A's queue holds B's ends and B's queue holds A's: closing must not deadlock or leak.
    a_tx.send_nowait(Payload::SendEnd(b_tx.clone())).unwrap();
    a_tx.send_nowait(Payload::RecvEnd(b_rx.clone())).unwrap();
    b_tx.send_nowait(Payload::SendEnd(a_tx.clone())).unwrap();
    b_tx.send_nowait(Payload::RecvEnd(a_rx.clone())).unwrap();
    let closer = thread::spawn(move || {
        registry.close_all();
        registry
    });
    let registry = join(closer);
    assert!(registry.is_empty());
    assert!(a_tx.channel().is_fully_closed() && b_tx.channel().is_fully_closed());
}

#[test]
fn a_send_that_fails_hands_back_the_handles_it_carried() {
    let registry = ChannelRegistry::<Payload>::new();
    let (carrier_tx, carrier_rx) = registry.create();
    let (tx, rx) = registry.create();
    drop(carrier_rx);
    match carrier_tx.send_nowait(Payload::SendEnd(tx)) {
        Err(SendError::Closed(Payload::SendEnd(back))) => {
            assert!(!back.is_closed(), "the handle came back alive");
            back.send_nowait(Payload::Bool(true)).unwrap();
        }
        other => panic!("expected Closed(SendEnd), got {other:?}"),
    }
    // The returned handle was dropped at the end of the match: its end is closed now.
    assert_eq!(rx.try_recv(), Ok(Payload::Bool(true)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    // Same for a rendezvous send that times out.
    let (carrier_tx, _carrier_rx) = registry.create();
    let (tx, rx) = registry.create();
    match carrier_tx.start_send(Payload::SendEnd(tx)) {
        Ok(SendStart::Pending(pending)) => match pending.cancel() {
            Err(SendError::Withdrawn(Payload::SendEnd(back))) => assert!(!back.is_closed()),
            other => panic!("expected Withdrawn(SendEnd), got {other:?}"),
        },
        _ => panic!("expected to park"),
    }
    assert!(rx.channel().is_send_closed());
}
