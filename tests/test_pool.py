"""InterpreterPoolExecutor (issue 5): a concurrent.futures.Executor (submit, map with order, timeout
and chunksize, shutdown with wait / cancel_futures, context manager, futures usable with as_completed
and wait, done callbacks); argument checks; workers created lazily up to max_workers (default: the
CPU count) and reused, each an isolated interpreter on its own thread; a raising task fails only its
future (with the task's own exception, its __cause__ the ExecutionFailed describing the remote
traceback, as CPython 3.14's pool does; ExecutionFailed itself when the exception cannot be rebuilt);
the pool is a ThreadPoolExecutor with CPython 3.14's constructor; initializer/initargs run once in
each worker; a raising initializer breaks the pool (BrokenInterpreterPool, a BrokenExecutor, naming
the initializer's error) for pending futures and later submits; submit after shutdown raises
RuntimeError; functions of the caller's script work with map (its main block never re-runs in
workers); a process exits cleanly with a live pool, its queued tasks finished.

Not here: RSS growth over many tasks and latency/speedup targets (the benchmark, `make bench`)."""

from __future__ import annotations

import concurrent.futures
import gc
import inspect
import operator
import os
import site
import threading
import time

import pytest

import callee_module as callee
import subinterpreters as si
from helpers import TESTS_DIR, assert_clean_exit, details, run_script

SETTLE = 0.2
JOIN = 10.0


def make_pool(max_workers: int | None = 2, **kwargs) -> si.InterpreterPoolExecutor:
    """A pool whose workers can import callee_module (site.addsitedir, by reference, as
    initializer: it appends the tests directory to the worker's sys.path)."""
    kwargs.setdefault("initializer", site.addsitedir)
    kwargs.setdefault("initargs", (TESTS_DIR,))
    return si.InterpreterPoolExecutor(max_workers, **kwargs)


@pytest.fixture
def pool():
    pool = make_pool(2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def pool1():
    """One worker: tasks run one at a time, in submission order."""
    pool = make_pool(1)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def cpu_count() -> int:
    count = os.process_cpu_count() if hasattr(os, "process_cpu_count") else os.cpu_count()
    return count or 1


# --- the executor's shape --------------------------------------------------------------------------


def test_pool_is_a_concurrent_futures_executor() -> None:
    assert issubclass(si.InterpreterPoolExecutor, concurrent.futures.Executor)
    assert "InterpreterPoolExecutor" in si.__all__


def test_broken_interpreter_pool_is_a_broken_executor() -> None:
    assert issubclass(si.BrokenInterpreterPool, concurrent.futures.BrokenExecutor)
    assert "BrokenInterpreterPool" in si.__all__


@pytest.mark.parametrize("max_workers", [0, -1])
def test_max_workers_must_be_positive(max_workers) -> None:
    with pytest.raises(ValueError):
        si.InterpreterPoolExecutor(max_workers)


def test_initializer_must_be_callable() -> None:
    with pytest.raises(TypeError):
        si.InterpreterPoolExecutor(1, initializer=42)  # type: ignore[arg-type]


def test_constructor_has_cpythons_signature() -> None:
    # CPython 3.14's concurrent.futures.InterpreterPoolExecutor: ThreadPoolExecutor's parameters.
    params = inspect.signature(si.InterpreterPoolExecutor).parameters
    assert list(params) == ["max_workers", "thread_name_prefix", "initializer", "initargs"]
    with pytest.raises(TypeError):
        si.InterpreterPoolExecutor(1, site.addsitedir)  # type: ignore[arg-type]  # not a str prefix


def test_pool_is_a_thread_pool_executor_with_named_threads() -> None:
    with si.InterpreterPoolExecutor(1, "mine") as pool:
        assert isinstance(pool, concurrent.futures.ThreadPoolExecutor)
        assert pool.submit(abs, -1).result(timeout=JOIN) == 1
        names = [thread.name for thread in pool._threads]
        assert names and all(name.startswith("mine_") for name in names), names


# --- submit --------------------------------------------------------------------------------------------


def test_submit_returns_a_future_with_the_result(pool) -> None:
    fut = pool.submit(callee.add, 1, 2, c=3)
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=JOIN) == 6


def test_submit_a_builtin_without_initializer() -> None:
    with si.InterpreterPoolExecutor(1) as pool:
        assert pool.submit(pow, 3, 4).result(timeout=JOIN) == 81
        assert pool.submit(sorted, [3, 1, 2]).result(timeout=JOIN) == [1, 2, 3]


def test_tasks_run_in_worker_interpreters_on_other_threads(pool) -> None:
    interp_id, native = pool.submit(callee.where).result(timeout=JOIN)
    assert interp_id != si.get_main().id
    assert native != threading.get_native_id()


def test_worker_interpreters_are_isolated(pool) -> None:
    # A global set by a task is the worker's own: the main interpreter never sees it.
    assert pool.submit(callee.init_worker, "set by a task").result(timeout=JOIN) is None
    assert callee.INIT_TAG is None


def test_arguments_and_results_cross_natively_or_by_pickle(pool) -> None:
    arr = si.SharedArray(8)
    assert pool.submit(callee.fill, arr, 3).result(timeout=JOIN) == 8
    assert bytes(arr) == b"\x03" * 8
    q = si.create_queue()
    pool.submit(callee.put, q, {"pickled": [1]}).result(timeout=JOIN)
    assert q.get_nowait() == {"pickled": [1]}
    assert pool.submit(callee.swap, callee.Point([1], {"b": 2})).result(timeout=JOIN) == callee.Point(
        {"b": 2}, [1]
    )


def test_done_callbacks_run_for_pool_futures(pool, wait_until) -> None:
    event = si.Event()
    seen: list[object] = []
    fut = pool.submit(callee.wait_event, event, "value")
    fut.add_done_callback(lambda f: seen.append(f.result()))
    event.set()
    assert fut.result(timeout=JOIN) == "value"
    assert wait_until(lambda: seen == ["value"])


# --- map -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunksize", [1, 2, 7, 100])
def test_map_returns_results_in_order(pool, chunksize) -> None:
    got = list(pool.map(callee.add, range(50), range(0, 100, 2), chunksize=chunksize))
    assert got == [3 * i for i in range(50)]


def test_map_with_one_iterable(pool) -> None:
    assert list(pool.map(abs, [-3, 2, -1, 0])) == [3, 2, 1, 0]


def test_map_stops_at_the_shortest_iterable(pool) -> None:
    assert list(pool.map(callee.add, [1, 2, 3], [10, 20])) == [11, 22]


def test_map_over_nothing(pool) -> None:
    assert list(pool.map(abs, [])) == []


def test_map_results_keep_their_types(pool) -> None:
    got = list(pool.map(callee.make_point, [1, [2]], [{"a": 1}, "y"], chunksize=2))
    assert got == [callee.Point(1, {"a": 1}), callee.Point([2], "y")]


def test_map_raises_the_failing_item_in_order(pool) -> None:
    results = pool.map(callee.divide, [1, 2, 3], [1, 0, 1])
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError) as info:
        next(results)
    assert isinstance(info.value.__cause__, si.ExecutionFailed)


@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_timeout_raises_timeout_error(pool, chunksize, tmp_path) -> None:
    # The tasks wait for a file (picklable arguments only: chunks are a separate test).
    release = tmp_path / "release"
    try:
        results = pool.map(callee.wait_for_path, [str(release)] * 3, chunksize=chunksize, timeout=0.1)
        with pytest.raises(TimeoutError):
            list(results)
    finally:
        release.touch()


@pytest.mark.parametrize("chunksize", [2, 5])
def test_map_with_chunksize_passes_native_arguments(pool, chunksize) -> None:
    # Arguments cross natively when shareable, whatever the chunksize: queues cannot be pickled.
    q = si.create_queue()
    got = list(pool.map(callee.put, [q] * 6, range(6), chunksize=chunksize))
    assert got == ["put"] * 6
    assert sorted(q.get(timeout=JOIN) for _ in range(6)) == list(range(6))


@pytest.mark.parametrize("chunksize", [1, 2, 5])
def test_map_with_chunksize_mixes_native_and_pickled_arguments(pool, chunksize) -> None:
    # Each argument crosses on its own terms: a queue natively next to lists by pickle.
    q = si.create_queue()
    got = list(pool.map(callee.put, [q] * 6, [[i] for i in range(6)], chunksize=chunksize))
    assert got == ["put"] * 6
    assert sorted(q.get(timeout=JOIN) for _ in range(6)) == [[i] for i in range(6)]


def test_map_submits_without_waiting_for_iteration(pool1) -> None:
    # Like every concurrent.futures executor, map() submits everything up front.
    q = si.create_queue()
    results = pool1.map(callee.put, [q] * 3, ["a", "b", "c"])
    assert [q.get(timeout=JOIN) for _ in range(3)] == ["a", "b", "c"]
    assert list(results) == ["put"] * 3


# --- workers: lazy, reused, at most max_workers ---------------------------------------------------------


def test_no_worker_interpreter_exists_before_the_first_task() -> None:
    before = {interp.id for interp in si.list_all()}
    pool = make_pool(4)
    try:
        assert {interp.id for interp in si.list_all()} == before
    finally:
        pool.shutdown()


def test_sequential_tasks_reuse_workers() -> None:
    # With one task at a time, a new worker is only created when the previous one has not yet
    # gone back to idle: never more than two, whatever max_workers is.
    with make_pool(8) as pool:
        ids = {pool.submit(callee.current_id).result(timeout=JOIN) for _ in range(12)}
    assert 1 <= len(ids) <= 2
    assert si.get_main().id not in ids


def test_workers_grow_up_to_max_workers_for_concurrent_tasks() -> None:
    # Three tasks that can only finish together: three workers had to run at once.
    barrier = si.Barrier(3)
    with make_pool(3) as pool:
        futs = [pool.submit(callee.id_after_barrier, barrier) for _ in range(3)]
        ids = [f.result(timeout=30) for f in futs]
    assert len(set(ids)) == 3


def test_workers_never_exceed_max_workers_and_are_reused() -> None:
    event = si.Event()
    with make_pool(2) as pool:
        first = [pool.submit(callee.id_after_event, event) for _ in range(8)]
        event.set()
        ids = {f.result(timeout=30) for f in first}
        again = {f.result(timeout=30) for f in [pool.submit(callee.id_after_event, event) for _ in range(8)]}
    assert len(ids | again) <= 2


def test_default_max_workers_is_the_cpu_count() -> None:
    n = cpu_count()
    if n > 32:
        pytest.skip(f"{n} CPUs: more interpreters than this test should create")
    barrier = si.Barrier(n)
    event = si.Event()
    with si.InterpreterPoolExecutor(initializer=site.addsitedir, initargs=(TESTS_DIR,)) as pool:
        together = [pool.submit(callee.id_after_barrier, barrier) for _ in range(n)]
        ids = {f.result(timeout=60) for f in together}
        assert len(ids) == n
        more = [pool.submit(callee.id_after_event, event) for _ in range(2 * n)]
        event.set()
        ids |= {f.result(timeout=60) for f in more}
    assert len(ids) == n


# --- failures ------------------------------------------------------------------------------------------


def test_a_raising_task_fails_only_its_future(pool) -> None:
    futs = [
        pool.submit(callee.divide, 1, 1),
        pool.submit(callee.divide, 1, 0),
        pool.submit(callee.divide, 4, 2),
    ]
    assert futs[0].result(timeout=JOIN) == 1.0
    exc = futs[1].exception(timeout=JOIN)
    assert type(exc) is ZeroDivisionError
    remote = exc.__cause__
    assert isinstance(remote, si.ExecutionFailed)
    # As CPython 3.14's pool leaves it (`raise exc from wrapper` inside the except clause).
    assert exc.__context__ is remote and exc.__suppress_context__
    assert remote.type_name == "ZeroDivisionError"
    assert "divide" in remote.traceback
    assert remote.excinfo.type.__name__ == "ZeroDivisionError"
    assert futs[2].result(timeout=JOIN) == 2.0
    # The pool keeps working, on the same workers.
    assert list(pool.map(callee.add, range(5), range(5))) == [0, 2, 4, 6, 8]


def test_a_task_with_an_unpicklable_exception_fails_only_its_future(pool) -> None:
    exc = pool.submit(callee.raise_unpicklable, "nope").exception(timeout=JOIN)
    assert isinstance(exc, si.RunFailedError)
    assert exc.__cause__ is None
    assert pool.submit(callee.add, 1, 1).result(timeout=JOIN) == 2


def test_a_result_that_cannot_go_back_fails_only_its_future(pool) -> None:
    exc = pool.submit(callee.make_lambda).exception(timeout=JOIN)
    assert isinstance(exc, si.NotShareableError), exc
    assert pool.submit(callee.add, 1, 1).result(timeout=JOIN) == 2


# --- initializer ---------------------------------------------------------------------------------------


INIT_SOURCE = (
    "import sys\nsys.path.insert(0, tests_dir)\nimport callee_module\ncallee_module.init_worker(tag)\n"
)


def test_initializer_runs_once_in_each_worker() -> None:
    barrier = si.Barrier(3)
    initargs = (INIT_SOURCE, {"tests_dir": TESTS_DIR, "tag": ("tagged", 1)})
    with si.InterpreterPoolExecutor(3, initializer=exec, initargs=initargs) as pool:
        # The barrier makes three workers exist; then more tasks run on them.
        futs = [pool.submit(callee.id_after_barrier, barrier) for _ in range(3)]
        worker_ids = {f.result(timeout=30) for f in futs}
        states = [pool.submit(callee.init_state).result(timeout=JOIN) for _ in range(10)]
    assert len(worker_ids) == 3
    for interp_id, runs, tag in states:
        assert interp_id in worker_ids
        assert runs == 1
        assert tag == ("tagged", 1)


def test_initializer_does_not_run_in_the_caller() -> None:
    before = callee.INIT_RUNS
    initargs = (INIT_SOURCE, {"tests_dir": TESTS_DIR, "tag": "x"})
    with si.InterpreterPoolExecutor(1, initializer=exec, initargs=initargs) as pool:
        assert pool.submit(callee.init_state).result(timeout=JOIN)[1:] == (1, "x")
    assert callee.INIT_RUNS == before


def _outcomes(pool: si.InterpreterPoolExecutor, count: int) -> list[BaseException]:
    """Submit `count` tasks to a pool about to break; what each one got (raised or set)."""
    outcomes: list[BaseException] = []
    futures = []
    for _ in range(count):
        try:
            futures.append(pool.submit(abs, -1))
        except BaseException as exc:  # noqa: BLE001 - collected for the test
            outcomes.append(exc)
    for fut in futures:
        exc = fut.exception(timeout=JOIN)
        assert exc is not None, "a task ran although the initializer failed"
        outcomes.append(exc)
    return outcomes


def test_raising_initializer_breaks_the_pool() -> None:
    pool = si.InterpreterPoolExecutor(1, initializer=int, initargs=("not a number",))
    try:
        outcomes = _outcomes(pool, 5)
        assert len(outcomes) == 5
        for exc in outcomes:
            assert isinstance(exc, si.BrokenInterpreterPool), repr(exc)
            assert isinstance(exc, concurrent.futures.BrokenExecutor)
        # The reason: the initializer's exception type and message.
        assert "ValueError" in str(outcomes[-1])
        assert "not a number" in str(outcomes[-1])
        with pytest.raises(si.BrokenInterpreterPool):
            pool.submit(abs, -1)
        with pytest.raises(si.BrokenInterpreterPool):
            list(pool.map(abs, [1, 2]))
    finally:
        pool.shutdown(wait=True)


def test_raising_initializer_breaks_pending_futures() -> None:
    # The first worker fails its initializer while tasks are queued behind it.
    pool = si.InterpreterPoolExecutor(2, initializer=operator.truediv, initargs=(1, 0))
    try:
        futures = []
        for i in range(10):
            try:
                futures.append(pool.submit(abs, -i))
            except si.BrokenInterpreterPool:
                break
        assert futures, "the pool broke before the first submit returned"
        for fut in futures:
            exc = fut.exception(timeout=JOIN)
            assert isinstance(exc, si.BrokenInterpreterPool), repr(exc)
            assert "ZeroDivisionError" in str(exc)
        with pytest.raises(si.BrokenInterpreterPool):
            pool.submit(abs, -1)
    finally:
        pool.shutdown(wait=True)


def test_broken_pool_shuts_down_cleanly() -> None:
    with si.InterpreterPoolExecutor(1, initializer=int, initargs=("x",)) as pool:
        assert isinstance(pool.submit(abs, 1).exception(timeout=JOIN), si.BrokenInterpreterPool)


# --- shutdown ------------------------------------------------------------------------------------------


def test_submit_after_shutdown_raises_runtime_error() -> None:
    pool = make_pool(1)
    assert pool.submit(abs, -2).result(timeout=JOIN) == 2
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(abs, -1)
    with pytest.raises(RuntimeError):
        list(pool.map(abs, [1]))


def test_submit_after_shutdown_of_an_unused_pool_raises_runtime_error() -> None:
    pool = si.InterpreterPoolExecutor(1)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(abs, -1)


def test_shutdown_twice_is_fine(pool) -> None:
    pool.submit(abs, 1).result(timeout=JOIN)
    pool.shutdown()
    pool.shutdown()


def test_shutdown_wait_true_waits_for_running_tasks(pool1, spawn) -> None:
    started, event = si.create_queue(), si.Event()
    fut = pool1.submit(callee.started_then_wait, started, event, "done")
    assert started.get(timeout=JOIN) == "done"
    task = spawn(pool1.shutdown, wait=True)
    time.sleep(SETTLE)
    assert not task.done, "shutdown(wait=True) returned while a task was running"
    event.set()
    task.result()
    assert fut.done() and fut.result() == "done"


def test_shutdown_without_cancel_runs_queued_tasks(pool1, spawn) -> None:
    started, event = si.create_queue(), si.Event()
    first = pool1.submit(callee.started_then_wait, started, event, "first")
    queued = [pool1.submit(callee.add, i, 1) for i in range(4)]
    assert started.get(timeout=JOIN) == "first"
    task = spawn(pool1.shutdown, wait=True)
    event.set()
    task.result()
    assert first.result() == "first"
    assert [f.result() for f in queued] == [1, 2, 3, 4]


def test_shutdown_wait_false_returns_while_tasks_run(pool1, spawn) -> None:
    started, event = si.create_queue(), si.Event()
    fut = pool1.submit(callee.started_then_wait, started, event, "done")
    assert started.get(timeout=JOIN) == "done"
    try:
        spawn(pool1.shutdown, wait=False).result()  # returns although the task still waits
        assert not fut.done()
    finally:
        event.set()
    assert fut.result(timeout=JOIN) == "done"


def test_shutdown_cancel_futures_cancels_what_has_not_started(pool1) -> None:
    started, event = si.create_queue(), si.Event()
    running = pool1.submit(callee.started_then_wait, started, event, "running")
    q = si.create_queue()
    pending = [pool1.submit(callee.put, q, i) for i in range(5)]
    assert started.get(timeout=JOIN) == "running"
    try:
        pool1.shutdown(wait=False, cancel_futures=True)
        assert all(f.cancelled() for f in pending)
        assert not running.done()
    finally:
        event.set()
    assert running.result(timeout=JOIN) == "running"
    pool1.shutdown(wait=True)
    assert q.qsize() == 0
    with pytest.raises(concurrent.futures.CancelledError):
        pending[0].result()


def test_cancel_of_a_queued_future_returns_true(pool1) -> None:
    started, event = si.create_queue(), si.Event()
    running = pool1.submit(callee.started_then_wait, started, event, "running")
    assert started.get(timeout=JOIN) == "running"
    try:
        queued = pool1.submit(callee.add, 1, 1)
        assert queued.cancel() is True
        assert queued.cancelled()
    finally:
        event.set()
    assert running.result(timeout=JOIN) == "running"
    # The pool goes on after a dropped task.
    assert pool1.submit(callee.add, 2, 2).result(timeout=JOIN) == 4


def test_a_running_task_is_running_and_cannot_be_cancelled(pool1, wait_until) -> None:
    # concurrent.futures semantics: Future.running() once a worker started the call, and
    # cancel() returns False for a call being executed (its result is still delivered). The
    # future may learn of the start a moment after the call began, hence wait_until.
    started, event = si.create_queue(), si.Event()
    running = pool1.submit(callee.started_then_wait, started, event, "running")
    assert started.get(timeout=JOIN) == "running"
    try:
        assert wait_until(running.running)
        assert running.cancel() is False
        assert not running.cancelled()
    finally:
        event.set()
    assert running.result(timeout=JOIN) == "running"


def test_context_manager_waits_and_shuts_down() -> None:
    event = si.Event()
    pool = make_pool(2)
    with pool as entered:
        assert entered is pool
        futs = [pool.submit(callee.wait_event, event, i) for i in range(4)]
        event.set()
    assert all(f.done() for f in futs)
    assert [f.result() for f in futs] == [0, 1, 2, 3]
    with pytest.raises(RuntimeError):
        pool.submit(abs, 1)


# --- concurrent.futures helpers -------------------------------------------------------------------------


def test_futures_work_with_as_completed(pool) -> None:
    futs = [pool.submit(callee.add, i, i) for i in range(10)]
    got = sorted(f.result() for f in concurrent.futures.as_completed(futs, timeout=30))
    assert got == [2 * i for i in range(10)]


def test_futures_work_with_wait_all_completed(pool) -> None:
    futs = [pool.submit(callee.add, i, 1) for i in range(6)]
    done, not_done = concurrent.futures.wait(futs, timeout=30)
    assert done == set(futs) and not not_done


def test_futures_work_with_wait_first_exception(pool) -> None:
    event = si.Event()
    try:
        blocked = pool.submit(callee.wait_event, event, "late")
        failing = pool.submit(callee.divide, 1, 0)
        done, not_done = concurrent.futures.wait(
            [blocked, failing], timeout=30, return_when=concurrent.futures.FIRST_EXCEPTION
        )
        assert done == {failing}
        assert not_done == {blocked}
    finally:
        event.set()
    assert blocked.result(timeout=JOIN) == "late"


def test_futures_work_with_wait_first_completed(pool) -> None:
    event = si.Event()
    try:
        blocked = pool.submit(callee.wait_event, event, "late")
        quick = pool.submit(callee.add, 1, 1)
        done, _ = concurrent.futures.wait(
            [blocked, quick], timeout=30, return_when=concurrent.futures.FIRST_COMPLETED
        )
        assert quick in done and blocked not in done
    finally:
        event.set()


# --- the caller's script and process exit ------------------------------------------------------------


def test_map_with_a_function_of_the_callers_script(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        def square(x):
            return x * x

        if __name__ == "__main__":
            print("MAIN BLOCK RAN", flush=True)
            with si.InterpreterPoolExecutor(2) as pool:
                print("map:", list(pool.map(square, range(6))), flush=True)
                print("submit:", pool.submit(square, 12).result(), flush=True)
        """,
    )
    assert_clean_exit(proc, 0)
    assert "map: [0, 1, 4, 9, 16, 25]" in proc.stdout, details(proc)
    assert "submit: 144" in proc.stdout, details(proc)
    assert proc.stdout.count("MAIN BLOCK RAN") == 1, details(proc)


@pytest.mark.parametrize("code", [0, 3])
def test_process_exits_cleanly_with_a_live_pool(tmp_path, code) -> None:
    proc = run_script(
        tmp_path,
        f"""
        import sys
        import subinterpreters as si

        pool = si.InterpreterPoolExecutor(2)
        print("result:", pool.submit(pow, 2, 8).result(), flush=True)
        sys.exit({code})
        """,
    )
    assert_clean_exit(proc, code)
    assert "result: 256" in proc.stdout, details(proc)


def test_process_exit_with_a_live_pool_finishes_queued_tasks(tmp_path) -> None:
    marker = tmp_path / "finished.txt"
    proc = run_script(
        tmp_path,
        f"""
        import pathlib, sys, time
        import subinterpreters as si

        pool = si.InterpreterPoolExecutor(1)
        pool.submit(time.sleep, 0.3)
        pool.submit(pathlib.Path({str(marker)!r}).write_text, "finished")
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)
    assert "ready" in proc.stdout, details(proc)
    assert marker.read_text(encoding="utf-8") == "finished"


def test_process_exit_by_falling_off_the_end_with_a_running_task(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        import time
        import subinterpreters as si

        pool = si.InterpreterPoolExecutor(2)
        futures = [pool.submit(time.sleep, 0.2) for _ in range(4)]
        print("ready", flush=True)
        """,
    )
    assert_clean_exit(proc, 0)
    assert "ready" in proc.stdout, details(proc)


def test_process_exit_with_a_live_pool_after_an_uncaught_exception(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        pool = si.InterpreterPoolExecutor(2)
        pool.submit(abs, -1).result()
        raise ValueError("boom at top level")
        """,
    )
    assert_clean_exit(proc, 1)
    assert "ValueError: boom at top level" in proc.stderr, details(proc)


# --- found by review ----------------------------------------------------------------------------


def test_script_functions_named_like_the_pools_plumbing_are_found(tmp_path) -> None:
    # The worker's own loop must not leave names in its __main__ (tasks, results, idle, init)
    # that shadow the user's functions of the same names.
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        def init():
            pass

        def results(x):
            return x + 1

        def tasks(x):
            return x * 2

        if __name__ == "__main__":
            with si.InterpreterPoolExecutor(1, initializer=init) as pool:
                print(pool.submit(results, 1).result(), pool.submit(tasks, 4).result(), flush=True)
        """,
    )
    assert_clean_exit(proc, 0)
    assert proc.stdout.split() == ["2", "8"], details(proc)


def test_a_task_whose_exception_has_a_failing_str_fails_only_its_future(pool1) -> None:
    with pytest.raises(callee.BadStrError) as caught:
        pool1.submit(callee.raise_bad_str).result(timeout=JOIN)
    assert caught.value.__cause__.type_name == "BadStrError"
    assert pool1.submit(callee.add, 1, 2).result(timeout=JOIN) == 3


def test_an_initializer_returning_something_unpicklable_is_fine() -> None:
    # Its return value is ignored, as ProcessPoolExecutor ignores it.
    pool = si.InterpreterPoolExecutor(1, initializer=threading.Lock)
    try:
        pool.submit(site.addsitedir, TESTS_DIR).result(timeout=JOIN)
    finally:
        pool.shutdown()


def test_cancelling_from_a_done_callback_during_shutdown_does_not_deadlock(pool1) -> None:
    # shutdown(cancel_futures=True) settles futures outside its lock: a callback may submit.
    started, event = si.create_queue(), si.Event()
    blocker = pool1.submit(callee.started_then_wait, started, event, "ok")
    assert started.get(timeout=JOIN) == "ok"  # the only worker is busy: the rest stay queued
    queued = [pool1.submit(callee.add, i) for i in range(5)]
    seen = []

    def callback(future) -> None:
        try:
            pool1.submit(abs, -1)
        except RuntimeError as exc:
            seen.append(str(exc))

    queued[0].add_done_callback(callback)
    closer = threading.Thread(target=pool1.shutdown, kwargs={"cancel_futures": True})
    closer.start()
    event.set()
    closer.join(timeout=JOIN)
    assert not closer.is_alive(), "shutdown deadlocked with a done-callback submitting"
    assert blocker.result(timeout=JOIN) == "ok"
    assert all(f.cancelled() or f.done() for f in queued)
    assert seen and all("after shutdown" in text for text in seen)


@pytest.mark.parametrize(
    "init", [dict(initializer=lambda: si), dict(initializer=abs, initargs=(lambda: si,))], ids=["fn", "args"]
)
def test_an_initializer_that_cannot_cross_breaks_the_pool_when_a_worker_starts(init) -> None:
    # As CPython 3.14's pool: the constructor accepts it; the pool breaks when a worker starts.
    pool = si.InterpreterPoolExecutor(1, **init)
    try:
        future = pool.submit(abs, -1)
        with pytest.raises(si.BrokenInterpreterPool, match="cannot cross"):
            future.result(timeout=JOIN)
        with pytest.raises(si.BrokenInterpreterPool):
            pool.submit(abs, -1)
    finally:
        pool.shutdown()


def _use_a_pool_and_drop_it() -> tuple[int, list[threading.Thread]]:
    pool = si.InterpreterPoolExecutor(2)
    result = pool.submit(operator.mul, 6, 7).result(timeout=JOIN)
    return result, list(pool._threads)


def test_a_pool_dropped_without_shutdown_closes_its_workers(wait_until) -> None:
    # As the standard executors do: when the pool is collected its workers stop (reliability
    # round two, item 3), and here their interpreters close too.
    before = set(si.list_all())
    result, workers = _use_a_pool_and_drop_it()
    assert result == 42 and workers
    gc.collect()
    assert wait_until(lambda: not any(worker.is_alive() for worker in workers)), "workers still alive"
    assert wait_until(lambda: set(si.list_all()) <= before), si.list_all()
