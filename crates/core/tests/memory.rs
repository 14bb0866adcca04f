//! Shared memory blocks and buffer leases: allocation, aliasing handles, writes from several
//! threads, frees and release actions run exactly once. Mostly there for `scripts/memcheck.sh`,
//! which runs every test binary under valgrind: the unsafe allocation code is exercised here.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use subinterpreters_core::shared_memory::{AllocError, BLOCK_ALIGN};
use subinterpreters_core::{ArrayKind, ArrayLayout, LeaseHolder, LeaseTable, Payload, SharedArray};

#[test]
fn blocks_are_zeroed_aligned_and_shared_by_every_handle() {
    for shape in [&[0usize][..], &[1], &[7], &[3, 5], &[2, 3, 4]] {
        let layout = ArrayLayout::c_contiguous("d", shape).unwrap();
        let array = SharedArray::zeroed(layout.clone(), ArrayKind::Array).unwrap();
        let block = array.block();
        assert_eq!(block.len(), layout.nbytes());
        assert_eq!(block.as_ptr() as usize % BLOCK_ALIGN, 0);
        // SAFETY: the block holds `len` initialised (zeroed) bytes while `array` lives.
        let bytes = unsafe { std::slice::from_raw_parts(block.as_ptr(), block.len()) };
        assert!(bytes.iter().all(|b| *b == 0));
        let readonly = array.to_readonly();
        assert!(readonly.same_memory(&array) && readonly.readonly() && !array.readonly());
    }
}

#[test]
fn threads_write_disjoint_parts_of_one_block_and_the_last_handle_frees_it() {
    let layout = ArrayLayout::c_contiguous("Q", &[8, 64]).unwrap();
    let array = SharedArray::zeroed(layout, ArrayKind::Array).unwrap();
    let writers: Vec<_> = (0..8)
        .map(|row| {
            let array = array.clone();
            thread::spawn(move || {
                let base = array.block().as_ptr() as *mut u64;
                for col in 0..64 {
                    // SAFETY: in bounds (8 x 64 u64s, 64-byte aligned); each thread writes its own row.
                    unsafe { base.add(row * 64 + col).write((row * 1000 + col) as u64) };
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let base = array.block().as_ptr() as *const u64;
    for row in 0..8 {
        for col in 0..64 {
            // SAFETY: in bounds, written above, and the writers are joined.
            assert_eq!(unsafe { base.add(row * 64 + col).read() }, (row * 1000 + col) as u64);
        }
    }
    // Through a channel and back: a payload holds a handle on the same memory.
    let (tx, rx) = subinterpreters_core::channel::<Payload>();
    tx.send_nowait(Payload::Array(array.clone())).unwrap();
    drop(array);
    match rx.try_recv().unwrap() {
        Payload::Array(received) => assert_eq!(received.layout().shape(), &[8, 64]),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn sizes_past_the_address_space_are_refused_without_allocating() {
    let layout = ArrayLayout::c_contiguous("B", &[usize::MAX / 2, 4]);
    assert!(layout.is_err(), "overflowing shape refused");
    let huge = ArrayLayout::described("B", 1, &[1], &[1], usize::MAX - 8);
    assert!(matches!(SharedArray::zeroed(huge, ArrayKind::Buffer), Err(AllocError::TooLarge)));
}

#[test]
fn a_lease_runs_its_release_once_when_the_last_reference_goes_and_leaves_the_table() {
    let table = LeaseTable::new();
    let released = Arc::new(AtomicUsize::new(0));
    let layout = ArrayLayout::c_contiguous("B", &[16]).unwrap();
    let lease = {
        let released = released.clone();
        table.lend(
            7,
            0x1000,
            layout,
            false,
            Box::new(move || {
                released.fetch_add(1, Ordering::SeqCst);
            }),
        )
    };
    assert_eq!(table.blocking_close_of(7), Some(LeaseHolder::InFlight));
    table.hold(&lease, 8);
    assert_eq!(table.blocking_close_of(7), Some(LeaseHolder::Interpreter(8)));
    let copies: Vec<_> = (0..4).map(|_| lease.clone()).collect();
    let droppers: Vec<_> = copies.into_iter().map(|copy| thread::spawn(move || drop(copy))).collect();
    for dropper in droppers {
        dropper.join().unwrap();
    }
    assert_eq!(released.load(Ordering::SeqCst), 0, "still referenced");
    table.unhold(&lease, 8);
    drop(lease);
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert!(table.is_empty());
    assert_eq!(table.blocking_close_of(7), None);
}

#[test]
fn abandoned_leases_never_run_their_release() {
    let table = LeaseTable::new();
    let layout = ArrayLayout::c_contiguous("B", &[4]).unwrap();
    // A release capturing nothing: forgetting it leaks no allocation (valgrind stays quiet).
    fn never() {
        panic!("an abandoned lease's release must not run");
    }
    let lease = table.lend(3, 0x2000, layout, false, Box::new(never));
    assert_eq!(table.abandon_all_of(3), 1);
    drop(lease);
    assert!(table.is_empty());
}

#[test]
fn a_release_in_progress_stays_listed_and_is_not_abandoned() {
    // The exit hook abandoning the owner's releases while one runs (here: from inside it) must
    // leave that one listed until it is done, so the owner is not ended under it.
    let table = Arc::new(LeaseTable::new());
    let layout = ArrayLayout::c_contiguous("B", &[4]).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let release = {
        let (table, seen) = (table.clone(), seen.clone());
        Box::new(move || {
            assert_eq!(table.abandon_all_of(5), 0, "a release in progress is not abandoned");
            assert_eq!(table.blocking_close_of(5), Some(LeaseHolder::InFlight), "listed while it runs");
            seen.fetch_add(1, Ordering::SeqCst);
        })
    };
    let lease = table.lend(5, 0x3000, layout, false, release);
    drop(lease);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(table.is_empty());
    assert_eq!(table.blocking_close_of(5), None);
}
