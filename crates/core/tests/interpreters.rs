//! `InterpreterTable`: the run/close/shutdown rules the binding asks before touching CPython.
#![cfg(not(loom))]

mod common;

use std::sync::{mpsc, Arc};
use std::thread;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{join, PATIENCE};
use subinterpreters_core::{InterpreterTable, TableError};

/// A table with interpreter 1 (isolated, handle 100) and 2 (legacy, handle 200).
fn table() -> InterpreterTable<usize> {
    let table = InterpreterTable::new();
    table.insert(1, 100, true);
    table.insert(2, 200, false);
    table
}

#[test]
fn records_handles_and_isolation() {
    let table = table();
    assert_eq!(table.ids(), [1, 2]);
    assert!(table.contains(1) && table.contains(2) && !table.contains(3));
    assert_eq!(table.is_isolated(1), Ok(true));
    assert_eq!(table.is_isolated(2), Ok(false));
    assert_eq!(table.is_running(2), Ok(false));
    assert_eq!(table.begin_visit(1), Ok(100), "a visit hands out the recorded handle");
    table.end_visit(1);
    assert_eq!(table.is_isolated(3), Err(TableError::NotFound));
    assert_eq!(table.is_running(3), Err(TableError::NotFound));
    assert!(InterpreterTable::<usize>::default().ids().is_empty());
}

#[test]
fn begin_run_refuses_unknown_and_running_interpreters() {
    let table = table();
    assert_eq!(table.begin_run(9, 1), Err(TableError::NotFound));
    assert_eq!(table.begin_run(1, 11), Ok(100));
    assert_eq!(table.is_running(1), Ok(true));
    assert_eq!(table.begin_run(1, 12), Err(TableError::Running(11)), "names the running thread");
    assert_eq!(table.begin_run(2, 12), Ok(200), "another interpreter may run meanwhile");
    let mut runners = table.runners();
    runners.sort_unstable();
    assert_eq!(runners, [(1, 11), (2, 12)]);
    table.end_run(1);
    assert_eq!(table.is_running(1), Ok(false));
    assert_eq!(table.runners(), [(2, 12)]);
    assert_eq!(table.begin_run(1, 13), Ok(100), "runs again once the run ended");
    table.end_run(1);
    table.end_run(2);
    table.end_run(9); // unknown: harmless
    assert!(table.runners().is_empty());
}

#[test]
fn close_is_refused_while_running_and_closing_twice_does_nothing() {
    let table = table();
    assert_eq!(table.begin_run(1, 7), Ok(100));
    assert_eq!(table.begin_close(1), Err(TableError::Running(7)));
    assert!(table.contains(1), "a refused close changes nothing");
    table.end_run(1);
    assert_eq!(table.begin_close(1), Ok(Some(100)));
    // While closing: invisible and unusable, and a second close is a no-op.
    assert_eq!(table.begin_close(1), Ok(None));
    assert!(!table.contains(1));
    assert_eq!(table.ids(), [2]);
    assert_eq!(table.begin_run(1, 7), Err(TableError::NotFound));
    assert_eq!(table.begin_visit(1), Err(TableError::NotFound));
    assert_eq!(table.is_running(1), Err(TableError::NotFound));
    table.finish_close(1);
    // After the close: still a no-op, still not found.
    assert_eq!(table.begin_close(1), Ok(None));
    assert_eq!(table.begin_run(1, 7), Err(TableError::NotFound));
    assert_eq!(table.begin_close(42), Ok(None), "never created: nothing to close");
    assert_eq!(table.ids(), [2]);
}

#[test]
fn shutdown_refuses_every_later_run() {
    let table = table();
    assert!(!table.is_shutting_down());
    assert_eq!(table.begin_run(1, 5), Ok(100));
    assert!(table.begin_shutdown());
    assert!(!table.begin_shutdown(), "the second call reports shutdown had begun");
    assert!(table.is_shutting_down());
    assert_eq!(table.begin_run(2, 5), Err(TableError::ShuttingDown));
    assert_eq!(table.begin_run(9, 5), Err(TableError::ShuttingDown));
    // Runs already under way finish normally, and interpreters can still be closed.
    assert_eq!(table.runners(), [(1, 5)]);
    table.end_run(1);
    assert_eq!(table.begin_close(1), Ok(Some(100)));
    table.finish_close(1);
    assert_eq!(table.begin_close(2), Ok(Some(200)));
    table.finish_close(2);
    assert!(table.ids().is_empty());
}

#[test]
fn wait_until_idle_returns_at_once_when_nothing_runs() {
    let table = table();
    assert!(table.wait_until_idle(Instant::now()));
    assert!(InterpreterTable::<usize>::new().wait_until_idle(Instant::now()));
}

#[test]
fn wait_until_idle_gives_up_at_its_deadline() {
    let table = table();
    table.begin_run(1, 3).unwrap();
    assert!(!table.wait_until_idle(Instant::now()));
    assert!(!table.wait_until_idle(Instant::now() + Duration::from_millis(30)));
    table.end_run(1);
    assert!(table.wait_until_idle(Instant::now()));
}

#[test]
fn wait_until_idle_is_woken_when_the_last_run_ends() {
    let table = Arc::new(table());
    table.begin_run(1, 1).unwrap();
    table.begin_run(2, 2).unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let waiter = {
        let table = table.clone();
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            table.wait_until_idle(Instant::now() + PATIENCE)
        })
    };
    started_rx.recv().unwrap();
    table.end_run(1);
    thread::sleep(Duration::from_millis(10));
    assert!(!waiter.is_finished(), "one interpreter still runs");
    table.end_run(2);
    assert!(join(waiter), "woken by end_run, well before its deadline");
}

#[test]
fn every_kind_of_change_wakes_a_waiter_that_would_otherwise_wait_an_hour() {
    // Changes wake waiters only while some are registered: a missed wake-up would leave the
    // waiter asleep until its deadline, an hour away, and the receive below would fail.
    const HOUR: Duration = Duration::from_secs(3600);
    type Wait = fn(&InterpreterTable<usize>) -> bool;
    type Change = fn(&InterpreterTable<usize>);
    let changes: [(&str, Wait, Change); 4] = [
        ("end_run", |t| t.wait_until_idle(Instant::now() + HOUR), |t| t.end_run(1)),
        ("finish_create", |t| t.wait_until_idle(Instant::now() + HOUR), |t| t.finish_create(None)),
        ("finish_close", |t| t.wait_until_no_closes(Instant::now() + HOUR), |t| t.finish_close(1)),
        ("abandon_close", |t| t.wait_until_no_closes(Instant::now() + HOUR), |t| t.abandon_close(1)),
    ];
    for (what, wait, change) in changes {
        for _ in 0..10 {
            let table = Arc::new(table());
            match what {
                "end_run" => drop(table.begin_run(1, 1).unwrap()),
                "finish_create" => table.begin_create().unwrap(),
                _ => drop(table.begin_close(1).unwrap()),
            }
            let (done_tx, done_rx) = mpsc::channel();
            let waiter = {
                let table = table.clone();
                thread::spawn(move || done_tx.send(wait(&table)).unwrap())
            };
            thread::sleep(Duration::from_millis(5)); // most often, the waiter is asleep by now
            change(&table);
            let woken = done_rx.recv_timeout(PATIENCE);
            assert_eq!(woken, Ok(true), "{what}: the waiter was not woken");
            join(waiter);
        }
    }
}

#[test]
fn concurrent_begin_run_admits_exactly_one_runner() {
    for _ in 0..50 {
        let table = Arc::new(table());
        let threads: Vec<_> = (0..4u64)
            .map(|thread_id| {
                let table = table.clone();
                thread::spawn(move || table.begin_run(1, thread_id))
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(join).collect();
        let winners: Vec<_> = (0..4u64).filter(|i| results[*i as usize].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for result in &results {
            match result {
                Ok(handle) => assert_eq!(*handle, 100),
                Err(err) => assert_eq!(*err, TableError::Running(winners[0])),
            }
        }
    }
}

#[test]
fn abandoning_a_close_makes_the_interpreter_live_again() {
    let table = table();
    assert_eq!(table.begin_close(1), Ok(Some(100)));
    assert!(!table.contains(1));
    table.abandon_close(1);
    assert!(table.contains(1));
    assert_eq!(table.ids(), [1, 2]);
    assert_eq!(table.begin_run(1, 4), Ok(100));
    table.end_run(1);
    assert_eq!(table.begin_close(1), Ok(Some(100)), "it can be closed again");
    table.finish_close(1);
    table.abandon_close(1); // already gone: harmless
    assert!(!table.contains(1));
}

#[test]
fn creations_are_announced_counted_and_refused_after_shutdown() {
    let table = InterpreterTable::<usize>::new();
    assert_eq!(table.begin_create(), Ok(()));
    assert_eq!(table.begin_create(), Ok(()));
    assert!(!table.wait_until_idle(Instant::now()), "creations in flight: not idle");
    table.finish_create(Some((5, 500, true)));
    assert!(!table.wait_until_idle(Instant::now()), "one creation still in flight");
    table.finish_create(None); // that creation failed: nothing recorded
    assert!(table.wait_until_idle(Instant::now()));
    assert_eq!(table.ids(), [5]);
    assert_eq!(table.is_isolated(5), Ok(true));
    assert_eq!(table.begin_run(5, 1), Ok(500));
    table.end_run(5);
    assert!(table.begin_shutdown());
    assert_eq!(table.begin_create(), Err(TableError::ShuttingDown));
    assert!(table.wait_until_idle(Instant::now()), "a refused creation is not counted");
}

#[test]
fn wait_until_idle_is_woken_when_a_creation_finishes() {
    let table = Arc::new(InterpreterTable::<usize>::new());
    table.begin_create().unwrap();
    let waiter = spawn_waiter(&table, |t| t.wait_until_idle(Instant::now() + PATIENCE));
    thread::sleep(Duration::from_millis(10));
    assert!(!waiter.is_finished());
    table.finish_create(Some((1, 10, false)));
    assert!(join(waiter));
}

#[test]
fn a_visit_blocks_close_but_not_runs_and_is_allowed_during_shutdown() {
    let table = table();
    assert_eq!(table.begin_run(1, 9), Ok(100));
    // The exit hook visits a running interpreter to stop its code.
    assert!(table.begin_shutdown());
    assert_eq!(table.begin_visit(1), Ok(100));
    assert_eq!(table.begin_visit(1), Ok(100), "visits are counted, not exclusive");
    table.end_run(1);
    assert_eq!(table.begin_close(1), Err(TableError::Visited));
    table.end_visit(1);
    assert_eq!(table.begin_close(1), Err(TableError::Visited), "one visitor is still there");
    table.end_visit(1);
    assert_eq!(table.begin_close(1), Ok(Some(100)));
    assert_eq!(table.begin_visit(1), Err(TableError::NotFound), "no visits while closing");
    assert_eq!(table.begin_visit(9), Err(TableError::NotFound));
    table.finish_close(1);
    table.end_visit(1); // gone: harmless
}

#[test]
fn running_code_is_reported_before_a_visit_when_closing() {
    let table = table();
    table.begin_run(2, 3).unwrap();
    table.begin_visit(2).unwrap();
    assert_eq!(table.begin_close(2), Err(TableError::Running(3)));
    table.end_run(2);
    assert_eq!(table.begin_close(2), Err(TableError::Visited));
    table.end_visit(2);
    assert_eq!(table.begin_close(2), Ok(Some(200)));
}

#[test]
fn wait_until_no_closes_waits_for_closes_in_flight() {
    let table = Arc::new(table());
    assert!(table.wait_until_no_closes(Instant::now()));
    table.begin_close(1).unwrap();
    table.begin_close(2).unwrap();
    assert!(!table.wait_until_no_closes(Instant::now()));
    assert!(!table.wait_until_no_closes(Instant::now() + Duration::from_millis(20)));
    let waiter = spawn_waiter(&table, |t| t.wait_until_no_closes(Instant::now() + PATIENCE));
    table.finish_close(1);
    thread::sleep(Duration::from_millis(10));
    assert!(!waiter.is_finished(), "interpreter 2 is still closing");
    table.abandon_close(2); // an abandoned close also ends the wait
    assert!(join(waiter));
    assert_eq!(table.ids(), [2]);
}

fn spawn_waiter(table: &Arc<InterpreterTable<usize>>, wait: fn(&InterpreterTable<usize>) -> bool) -> JoinHandle<bool> {
    let table = table.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        started_tx.send(()).unwrap();
        wait(&table)
    });
    started_rx.recv().unwrap();
    handle
}
