"""``InterpreterPoolExecutor``: a ``ThreadPoolExecutor`` whose workers each run their tasks in a
long-lived isolated interpreter of their own, as CPython 3.14's executor of the same name does.

A task is prepared for crossing where it is submitted (``_calls.prepare``: arguments are a
snapshot of that moment, and what cannot cross fails the future at once) and queued, as plain
data, in the pool's native work queue (``_core._TaskQueue``). A worker thread waits for it inside
its interpreter without holding any GIL (``Interpreter._serve``), runs it there and takes this
interpreter's GIL only to settle the future; a caller of ``result()`` spins for a few
microseconds on the task's cell before it sleeps, so a short task costs neither side a sleep and
a wake-up. Workers are started lazily, up to ``max_workers``, and reused
(``ThreadPoolExecutor``'s rule); a worker closes its interpreter when it stops: at
``shutdown()``, when the pool is garbage-collected without one, or at exit
(``concurrent.futures`` wakes and joins its workers then).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, _base
from concurrent.futures import thread as _thread
from typing import Any

from . import _calls
from ._core import NotShareableError, RunFailedError, _ReturnedValue, _TaskQueue, create


class BrokenInterpreterPool(_thread.BrokenThreadPool):
    """The pool cannot run tasks any more: a worker's initializer raised, or a worker could not
    create its interpreter (the message says what)."""


def _default_workers() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


class _PoolFuture(Future):  # type: ignore[type-arg]
    """A task's future. Its task waits in the pool's native queue, where a worker takes it
    without this interpreter's GIL: the future asks the task's cell (``_cell``) whether the task
    has started (``running()``, ``cancel()``) until the worker settles it. A result that costs
    more than a copy to build (a container, a pickled object) comes back from the worker unbuilt
    (a ``_ReturnedValue``) and is built by the first thread that asks for it (``result()``,
    ``exception()``, a done-callback calling either), once, so the worker thread does not hold
    this interpreter's GIL for the build and goes on with its next task at once. Otherwise a
    ``concurrent.futures.Future``."""

    _cell: Any = None

    def cancel(self) -> bool:
        with self._condition:  # type: ignore[attr-defined]
            if self._state == _base.PENDING and self._cell is not None and not self._cell.cancel():  # type: ignore[attr-defined]
                return False  # a worker took it: it runs (as a ThreadPoolExecutor's task would)
        return super().cancel()

    def running(self) -> bool:
        with self._condition:  # type: ignore[attr-defined]
            if self._state == _base.PENDING and self._cell is not None:  # type: ignore[attr-defined]
                return bool(self._cell.running())
            return self._state == _base.RUNNING  # type: ignore[attr-defined]

    def _spin(self, timeout: float | None) -> None:
        # A short task is met by spinning a few microseconds, with the GIL released, instead of
        # a sleep and a wake-up (the worker settles the future meanwhile).
        cell = self._cell
        if cell is not None and (timeout is None or timeout > 0) and self._state in _UNSETTLED:  # type: ignore[attr-defined]
            cell.wait()

    def result(self, timeout: float | None = None) -> Any:
        self._spin(timeout)
        value = super().result(timeout)
        if type(value) is _ReturnedValue:
            return self._build(value)
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._spin(timeout)
        exc = super().exception(timeout)
        if exc is None and type(self._result) is _ReturnedValue:  # type: ignore[attr-defined]
            try:
                self._build(self._result)  # type: ignore[attr-defined]
            except BaseException as failed:  # noqa: BLE001 - that is the answer
                return failed
        return exc

    def _get_snapshot(self) -> tuple[bool, bool, Any, BaseException | None]:
        # CPython 3.15's asyncio (wrap_future, run_in_executor) reads a finished future through
        # this private method instead of result()/exception(): it gets the built value too.
        done, cancelled, result, exc = super()._get_snapshot()  # type: ignore[misc]
        if done and not cancelled and exc is None and type(result) is _ReturnedValue:
            try:
                result = self._build(result)
            except BaseException as failed:  # noqa: BLE001 - that is the answer
                return True, False, None, failed
        return done, cancelled, result, exc

    def _build(self, value: Any) -> Any:
        with self._condition:  # type: ignore[attr-defined]
            if self._result is value:  # type: ignore[attr-defined]  # not built by another thread meanwhile
                try:
                    self._result = value.build()
                except BaseException as exc:  # noqa: BLE001 - the future carries it from now on
                    self._result = None
                    self._exception = _failure(exc)
            if self._exception is not None:  # type: ignore[attr-defined]
                try:
                    raise self._exception  # type: ignore[attr-defined]
                finally:
                    self = None  # type: ignore[assignment]  # no cycle through the traceback (as Future does)
            return self._result  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        with self._condition:  # type: ignore[attr-defined]
            name = type(self).__name__
            if type(self._result) is _ReturnedValue:  # type: ignore[attr-defined]
                return f"<{name} at {id(self):#x} state=finished returned a value not built yet>"
            if self._state == _base.PENDING and self._cell is not None and self._cell.running():  # type: ignore[attr-defined]
                return f"<{name} at {id(self):#x} state=running>"
        return super().__repr__()


_UNSETTLED = (_base.PENDING, _base.RUNNING)
# The map() call submitting on this thread, if any: its tasks' group (short tasks of one group
# may run in one visit to a worker's interpreter; see the core's Pace).
_mapping = threading.local()
_groups = itertools.count(1)


def _settle(pending: dict[int, Future[Any]], outcomes: list[tuple[int, bool | None, Any]]) -> None:
    """Called by a worker (``Interpreter._serve``) with this interpreter's GIL: settles the
    futures of the tasks it took, from ``(task_id, ok, value)`` (``ok`` None: the task was
    cancelled before it started; its future is settled already)."""
    for task_id, ok, value in outcomes:
        future = pending.pop(task_id, None)
        if future is None or ok is None or not future.set_running_or_notify_cancel():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(_failure(value))


def _failure(exc: BaseException) -> BaseException:
    """What a task's future carries for an exception met running it or building its result."""
    return _original(exc) if isinstance(exc, RunFailedError) else exc


def _original(failed: RunFailedError) -> BaseException:
    """What a task's future carries when the task raised: the original exception (rebuilt here)
    with the ``ExecutionFailed`` as its ``__cause__``, as CPython 3.14's pool does; the
    ``ExecutionFailed`` itself when the exception could not be rebuilt."""
    original = failed.__cause__
    if original is None:
        return failed
    failed.__cause__ = None
    failed.__suppress_context__ = True
    original.__cause__ = failed
    return original


def _worker(
    executor_reference: weakref.ref[InterpreterPoolExecutor],
    work_queue: _TaskQueue,
    init: Callable[[], Any] | BaseException | None,
    pending: dict[int, Future[Any]],
    workers: int,
) -> None:
    """A worker thread: create an interpreter, run the initializer there, then run tasks in it
    until told to stop (the loop of ``concurrent.futures.thread._worker``, run natively by
    ``Interpreter._serve``). ``init`` prepares the initializer's call (a prepared call runs
    once, so each worker prepares its own), or is why it could not be prepared (it then breaks
    the pool here, when a worker starts, as in CPython 3.14)."""
    interp = None
    try:
        try:
            if isinstance(init, BaseException):
                raise init
            interp = create()
            if init is not None:
                interp._invoke(init())
        except BaseException as exc:  # noqa: BLE001 - the pool reports it through the futures
            # ThreadPoolExecutor's report of a failed initializer (on stderr by default).
            _base.LOGGER.critical("Exception in initializer:", exc_info=exc)
            executor = executor_reference()
            if executor is not None:
                executor._initializer_failed(exc)
            return
        settle = functools.partial(_settle, pending)
        while True:
            try:
                interp._serve(work_queue, settle, workers)  # returns at a stop signal
            except BaseException as exc:  # noqa: BLE001 - the interpreter cannot be entered any more
                if _thread._shutdown:  # type: ignore[attr-defined]  # the runtime is exiting: nothing to report
                    return
                _base.LOGGER.critical("Exception in worker", exc_info=exc)
                executor = executor_reference()
                if executor is not None:
                    executor._initializer_failed(exc, stopped=True)
                return
            executor = executor_reference()
            # Stop when the interpreter is exiting, the pool was collected, or shut down.
            if _thread._shutdown or executor is None or executor._shutdown:  # type: ignore[attr-defined]
                if executor is not None:
                    executor._shutdown = True
                work_queue.put(None)  # wake the next worker
                return
            del executor
    finally:
        if interp is not None:
            interp.close()


def _process_chunk(fn: Callable[..., Any], chunk: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """Runs in a worker: one task per chunk of ``map`` (as ProcessPoolExecutor does)."""
    return [fn(*args) for args in chunk]


def _chunks(chunksize: int, iterables: tuple[Iterable[Any], ...]) -> Iterator[tuple[tuple[Any, ...], ...]]:
    # A chunk crosses as one argument: natively when all its items can, else pickled.
    items = zip(*iterables, strict=False)  # map() stops at the shortest iterable
    while chunk := tuple(itertools.islice(items, chunksize)):
        yield chunk


class InterpreterPoolExecutor(_thread.ThreadPoolExecutor):
    """InterpreterPoolExecutor(max_workers=None, thread_name_prefix='', initializer=None, initargs=())

    A ThreadPoolExecutor whose workers each run tasks in a long-lived isolated interpreter of
    their own, with its own GIL, so pure-Python tasks run on every core (CPython 3.14's
    concurrent.futures.InterpreterPoolExecutor, on 3.12+). Up to ``max_workers`` workers
    (default: the number of CPUs) are started when needed and reused. ``fn`` and its arguments
    follow ``Interpreter.call``'s rules (native or pickled; NotShareableError fails the future
    at once). A task that raises fails its future with the original exception, its
    ``__cause__`` the ExecutionFailed describing the remote traceback. ``initializer(*initargs)``
    runs in each worker's interpreter first; if it raises, the pool is broken
    (BrokenInterpreterPool).
    """

    BROKEN = BrokenInterpreterPool

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
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
        if not isinstance(thread_name_prefix, str):
            raise TypeError(f"thread_name_prefix must be a str, not {type(thread_name_prefix).__qualname__}")
        self._init: Callable[[], Any] | BaseException | None = None
        if initializer is not None:
            initargs = tuple(initargs)
            try:
                # Checked now, so that an initializer that cannot cross breaks the pool early.
                _calls.prepare(initializer, initargs, {}, keep_result=False)
            except NotShareableError as exc:
                self._init = exc
            else:
                self._init = functools.partial(_calls.prepare, initializer, initargs, {}, keep_result=False)
        super().__init__(max_workers, thread_name_prefix or f"InterpreterPoolExecutor-{self._counter()}")
        # The native work queue (put(None) stops a worker, as concurrent.futures' exit hook and
        # shutdown() expect of a work queue), and the futures of the tasks not settled yet.
        self._work_queue: _TaskQueue = _TaskQueue()  # type: ignore[assignment]
        self._pending: dict[int, Future[Any]] = {}
        self._task_ids = itertools.count()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule fn(*args, **kwargs) in a worker interpreter; return its Future."""
        future: _PoolFuture = _PoolFuture()
        try:
            # Outside the lock: pickling may take long. TypeError if fn is not callable.
            spec = _calls.prepare(fn, args, kwargs)
        except NotShareableError as exc:
            spec, refused = None, exc
        with self._shutdown_lock, _thread._global_shutdown_lock:  # type: ignore[attr-defined]
            if self._broken:
                raise BrokenInterpreterPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if _thread._shutdown:  # type: ignore[attr-defined]
                raise RuntimeError("cannot schedule new futures after interpreter shutdown")
            if spec is None:
                future.set_exception(refused)
                return future
            task_id = next(self._task_ids)
            # Listed before it is queued: a worker may settle it as soon as it is.
            self._pending[task_id] = future
            future._cell = self._work_queue.put(spec, task_id, getattr(_mapping, "group", 0))
            self._adjust_thread_count()
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Like map(fn, *iterables), each call in a worker; chunksize > 1 sends the items in
        chunks of that size, one task per chunk (as ProcessPoolExecutor does)."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if chunksize == 1:
            # The calls it submits now form a group that short-task batches may take together.
            outer, _mapping.group = getattr(_mapping, "group", 0), next(_groups)
            try:
                return super().map(fn, *iterables, timeout=timeout, **kwargs)
            finally:
                _mapping.group = outer
        results = super().map(
            functools.partial(_process_chunk, fn), _chunks(chunksize, iterables), timeout=timeout, **kwargs
        )
        return itertools.chain.from_iterable(results)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; with cancel_futures, cancel those not started; with wait, wait
        for the workers to finish and their interpreters to close. (As ThreadPoolExecutor's,
        except that futures are cancelled outside the pool's lock, so a done-callback may call
        into the pool, and that a worker may call it from a done-callback.)"""
        with self._shutdown_lock:
            self._shutdown = True
            cancelled = self._take_queued_futures() if cancel_futures else []
            self._work_queue.put(None)  # wake the workers: they stop once the queue is drained
        for future in cancelled:
            future.cancel()
        if wait:
            current = threading.current_thread()
            for worker in list(self._threads):
                if worker is not current:
                    worker.join()

    def _take_queued_futures(self) -> list[Future[Any]]:
        """Takes every task no worker has started out of the queue (the lock held); the caller
        settles their futures once it has released the lock."""
        pending = self._pending
        return [
            future
            for task_id in self._work_queue.drain()
            if (future := pending.pop(task_id, None)) is not None
        ]

    def _adjust_thread_count(self) -> None:
        # ThreadPoolExecutor's rule: reuse an idle worker (one waiting for a task: enough of
        # them for every queued task), else start one below the limit.
        queue = self._work_queue
        if len(self._threads) >= self._max_workers or queue.idle() >= queue.qsize():
            return

        def wake_workers(_: object, work_queue: _TaskQueue = queue) -> None:
            work_queue.put(None)  # the pool was garbage-collected: let its workers stop

        count = len(self._threads)
        worker = threading.Thread(
            name=f"{self._thread_name_prefix}_{count}",
            target=_worker,
            args=(weakref.ref(self, wake_workers), queue, self._init, self._pending, self._max_workers),
        )
        worker.start()
        self._threads.add(worker)
        _thread._threads_queues[worker] = queue  # type: ignore[attr-defined]

    def _initializer_failed(self, exc: BaseException | None = None, stopped: bool = False) -> None:  # type: ignore[override]
        if stopped:
            what = "a worker stopped:"
        elif isinstance(exc, NotShareableError) and exc is self._init:
            what = "the initializer cannot cross to a worker interpreter:"
        elif self._init is not None:
            what = "a worker's initializer raised"
        else:
            what = "a worker could not start:"
        if isinstance(exc, RunFailedError):
            why = f"{exc.type_name}: {exc.msg}" if exc.msg else exc.type_name
        elif exc is not None:
            why = f"{type(exc).__qualname__}: {exc}"
        else:
            why = "unknown error"
        with self._shutdown_lock:
            if not self._broken:
                self._broken = f"{what} {why}; the pool is not usable any more"
            failed = self._take_queued_futures()
        for future in failed:  # outside the lock: done-callbacks may call back into the pool
            if future.set_running_or_notify_cancel():
                future.set_exception(BrokenInterpreterPool(self._broken))
