"""``InterpreterPoolExecutor``: a ``concurrent.futures.Executor`` whose workers are long-lived
isolated interpreters, one per thread.

Each worker thread creates an interpreter and calls ``serve`` in it for the pool's whole life.
Tasks reach the workers through one of the package's queues (``(task id, call spec)``, ``None``
to stop a worker); outcomes come back through another, to a collector thread that completes the
futures. Nobody polls: every wait is a blocking queue call. A worker that finishes a task
releases a shared semaphore, which ``submit`` reads to decide whether a new worker is needed
(as ``ThreadPoolExecutor`` does), so workers are created lazily, up to ``max_workers``.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future
from typing import Any

from . import _calls
from ._core import NotShareableError, QueueEmpty, Semaphore, create, create_queue

_STOP_COLLECTOR = -1
_STARTED = -4
_INIT_FAILED = -2
_WORKER_FAILED = -3


class BrokenInterpreterPool(BrokenExecutor):
    """The pool cannot run tasks any more: a worker's initializer raised (the message says what)."""


# --- inside a worker interpreter --------------------------------------------------------------------


def serve(tasks: Any, results: Any, idle: Any, init: tuple[Any, ...] | None) -> None:
    """A worker's loop, run inside its interpreter (by ``Interpreter.call``, so its __main__
    stays the user's): run tasks until told to stop."""
    if init is not None:
        ok, description = _calls.invoke(init, keep_result=False)
        if not ok:
            results.put((_INIT_FAILED, (False, description)))
            return
    while (item := tasks.get()) is not None:
        task_id, spec = item
        results.put((_STARTED, task_id))  # its future becomes running (or is found cancelled)
        try:
            outcome = _calls.invoke(spec)
        except BaseException as exc:  # noqa: BLE001 - invoke reports everything; belt and braces
            outcome = (False, _calls.describe(exc))
        results.put((task_id, outcome))
        idle.release()


def _process_chunk(fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """Runs in a worker: one task per chunk of ``map`` (as ProcessPoolExecutor does)."""
    return [fn(*[_calls.unwrap(arg) for arg in args]) for args in chunk]


def _chunks(chunksize: int, iterables: tuple[Iterable[Any], ...]) -> Iterator[tuple[tuple[Any, ...], ...]]:
    # Each argument is wrapped on its own (native when shareable, else pickled), as for submit.
    items = zip(*iterables)
    while chunk := tuple(itertools.islice(items, chunksize)):
        yield tuple(
            tuple(_calls.wrap(arg, f"argument {index}") for index, arg in enumerate(args)) for args in chunk
        )


# --- in the submitting interpreter ----------------------------------------------------------------


_live_pools: weakref.WeakSet[InterpreterPoolExecutor] = weakref.WeakSet()


def _shutdown_live_pools() -> None:
    # Run by threading before it joins non-daemon threads at exit: let workers finish and stop.
    for pool in list(_live_pools):
        pool.shutdown(wait=True)


threading._register_atexit(_shutdown_live_pools)  # type: ignore[attr-defined]


def _default_workers() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


class InterpreterPoolExecutor(Executor):
    """InterpreterPoolExecutor(max_workers=None, *, initializer=None, initargs=())

    An Executor running each task in one of up to ``max_workers`` (default: the number of CPUs)
    long-lived isolated interpreters, each with its own GIL, so pure-Python tasks run on every
    core. Workers are created when needed and reused. ``fn`` and its arguments follow
    ``Interpreter.call``'s rules; a task that raises fails its future with RunFailedError (its
    ``__cause__`` the original exception when it can be pickled). ``initializer(*initargs)`` runs
    in each worker first; if it raises, the pool is broken (BrokenInterpreterPool).
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is None:
            max_workers = _default_workers()
        elif not isinstance(max_workers, int) or isinstance(max_workers, bool):
            raise TypeError(f"max_workers must be an int or None, not {type(max_workers).__qualname__}")
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._init = None if initializer is None else _calls.prepare(initializer, tuple(initargs), {})
        self._tasks = create_queue()
        self._results = create_queue()
        self._idle = Semaphore(0)
        self._futures: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._running_workers = 0
        self._collector: threading.Thread | None = None
        self._shutdown = False
        self._broken: str | None = None
        _live_pools.add(self)

    # -- Executor API --

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule fn(*args, **kwargs) in a worker interpreter; return its Future."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__qualname__!r}")
        future: Future[Any] = Future()
        try:
            spec = _calls.prepare(fn, args, kwargs)  # outside the lock: pickling may take long
        except NotShareableError as exc:
            spec = None
            refused = exc
        with self._lock:
            if self._broken is not None:
                raise BrokenInterpreterPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if spec is None:
                future.set_exception(refused)
                return future
            task_id = next(self._ids)
            self._futures[task_id] = future
            self._tasks.put((task_id, spec))
            self._adjust_workers()
            return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        """Like map(fn, *iterables), each call in a worker; chunksize > 1 sends items in chunks."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        results = super().map(
            functools.partial(_process_chunk, fn), _chunks(chunksize, iterables), timeout=timeout
        )
        return itertools.chain.from_iterable(results)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; with cancel_futures, cancel those not started; with wait, wait
        for the workers to finish and their interpreters to close."""
        cancelled: list[Future[Any]] = []
        with self._lock:
            first = not self._shutdown
            self._shutdown = True
            if cancel_futures:
                cancelled = self._drain_tasks()
            if first:
                for _ in self._workers:
                    self._tasks.put(None)
                # Workers that are gone already (none started, or all ended after a failure)
                # will not stop the collector: do it here.
                if self._running_workers == 0:
                    self._stop_collector_locked()
            workers = list(self._workers)
            collector = self._collector
        for future in cancelled:  # outside the lock: done-callbacks may call back into the pool
            future.cancel()
        if wait:
            current = threading.current_thread()
            for worker in workers:
                worker.join()
            if collector is not None and collector is not current:  # a done-callback may call this
                collector.join()

    # -- internals --

    def _adjust_workers(self) -> None:
        if self._idle.acquire(blocking=False):
            return
        if len(self._workers) >= self._max_workers:
            return
        if self._collector is None:
            self._collector = threading.Thread(target=self._collect, name="subinterpreters-pool-collector")
            self._collector.start()
        worker = threading.Thread(
            target=self._work, name=f"subinterpreters-pool-worker-{len(self._workers)}"
        )
        self._workers.append(worker)
        self._running_workers += 1
        worker.start()

    def _work(self) -> None:
        interp = None
        try:
            interp = create()
            interp.call(serve, self._tasks, self._results, self._idle, self._init)
        except BaseException as exc:  # noqa: BLE001 - reported through the futures
            self._results.put((_WORKER_FAILED, (False, _calls.describe(exc))))
        finally:
            if interp is not None:
                interp.close()
            with self._lock:
                self._running_workers -= 1
                if self._running_workers == 0 and (self._shutdown or self._broken is not None):
                    self._stop_collector_locked()

    def _stop_collector_locked(self) -> None:
        if self._collector is not None:
            self._results.put((_STOP_COLLECTOR, None))

    def _collect(self) -> None:
        while True:
            task_id, outcome = self._results.get()
            if task_id == _STOP_COLLECTOR:
                return
            if task_id == _STARTED:
                with self._lock:
                    future = self._futures.get(outcome)
                if future is not None and not future.set_running_or_notify_cancel():
                    with self._lock:  # cancelled before it started: its outcome will be dropped
                        self._futures.pop(outcome, None)
                continue
            if task_id in (_INIT_FAILED, _WORKER_FAILED):
                self._break(task_id, outcome[1])
                continue
            with self._lock:
                future = self._futures.pop(task_id, None)
            if future is None or future.done():
                continue
            try:
                result = _calls.finish(outcome)
            except BaseException as exc:  # noqa: BLE001 - the future carries it
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _break(self, why: int, description: tuple[Any, ...]) -> None:
        type_name, message = description[0], description[1]
        what = "a worker's initializer raised" if why == _INIT_FAILED else "a worker interpreter failed:"
        with self._lock:
            if self._broken is not None:
                return
            self._broken = f"{what} {type_name}: {message}" if message else f"{what} {type_name}"
            error = BrokenInterpreterPool(self._broken)
            failed = self._drain_tasks() + list(self._futures.values())
            self._futures.clear()
            for _ in self._workers:
                self._tasks.put(None)
            if self._running_workers == 0:
                self._stop_collector_locked()
        for future in failed:  # outside the lock: done-callbacks may call back into the pool
            if not future.done():
                future.set_exception(error)

    def _drain_tasks(self) -> list[Future[Any]]:
        """Takes every task no worker has started and returns their futures, for the caller to
        settle once it has released the lock. Stop requests met on the way are put back."""
        stops = 0
        futures: list[Future[Any]] = []
        while True:
            try:
                item = self._tasks.get_nowait()
            except QueueEmpty:
                for _ in range(stops):
                    self._tasks.put(None)
                return futures
            if item is None:
                stops += 1
                continue
            future = self._futures.pop(item[0], None)
            if future is not None and not future.done():
                futures.append(future)
