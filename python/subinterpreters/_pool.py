"""``InterpreterPoolExecutor``: a ``ThreadPoolExecutor`` whose workers each run their tasks in a
long-lived isolated interpreter of their own, as CPython 3.14's executor of the same name does.

A task is prepared for crossing where it is submitted (``_calls.prepare``: arguments are a
snapshot of that moment, and what cannot cross fails the future at once) and queued, as plain
data, in the pool's native work queue (``_core._TaskQueue``). A worker thread waits for it inside
its interpreter without holding any GIL (``Interpreter._serve``), runs it there and leaves the
outcome in the task's cell, where the thread that asks the future for it claims it (after
spinning a few microseconds for a short task): a short task costs neither side a sleep and a
wake-up, and the worker needs this interpreter's GIL only to settle a future somebody waits on
(see ``_PoolFuture``). Workers are started lazily, up to ``max_workers``, and reused
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


# How a task ended, as _TaskCell.claim() and a worker's settle hand it over.
_RESULT, _EXCEPTION, _BROKEN, _CANCELLED = 0, 1, 2, 3
_PENDING, _FINISHED = _base.PENDING, _base.FINISHED
_CANCELLED_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)
# Makes every _PoolFuture's condition, and settles those that have none (see _settle).
_MAKING = threading.Lock()
_DONE_STATES = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED)


class _WatchingWaiters:
    """A pending future's ``_waiters`` as ``concurrent.futures.wait()`` and ``as_completed()``
    see it: adding a waiter watches the task, so its worker settles the future (and settles it
    now, if the task finished, with the waiter already listed)."""

    __slots__ = ("_future", "_waiters")

    def __init__(self, future: _PoolFuture, waiters: list[Any]) -> None:
        self._future, self._waiters = future, waiters

    def append(self, waiter: Any) -> None:
        self._waiters.append(waiter)
        self._future._watch()

    def remove(self, waiter: Any) -> None:
        self._waiters.remove(waiter)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._waiters)

    def __len__(self) -> int:
        return len(self._waiters)


class _PoolFuture(Future):  # type: ignore[type-arg]
    """A task's future. Its task waits in the pool's native queue, and its outcome in the task's
    cell (``_cell``), where a worker leaves it without this interpreter's GIL: the thread that
    asks for it (``result()``, ``exception()``, ``done()``...) claims it from there and settles
    the future, after spinning a few microseconds for a short task. Once the future is watched
    (a done-callback, ``wait()``, ``as_completed()``, a ``result()`` that has to sleep), it is
    listed in the pool and the worker settles it. A result that costs more than a copy to build
    (a container, a pickled object) that a worker hands over comes unbuilt (a
    ``_ReturnedValue``), and is built by the first thread that asks for it, once: the worker
    does not hold this interpreter's GIL for the build."""

    _cell: Any = None
    _task_id = 0
    _watched_in: dict[int, _PoolFuture] = {}
    _listed = False  # in _watched_in (once watched)

    def __init__(self) -> None:
        # Future.__init__ (the same on CPython 3.12-3.15) without its Condition, which is made
        # on first use: most futures of a map() never need one (the thread that asks claims the
        # outcome), and making one costs about as much as the rest of a submit.
        self._state = _PENDING
        self._result = None
        self._exception = None
        self.__dict__["_waiter_list"] = []
        self._done_callbacks: list[Callable[[Future[Any]], object]] = []

    @property  # type: ignore[override]
    def _condition(self) -> threading.Condition:
        condition = self.__dict__.get("_made_condition")
        if condition is None:
            with _MAKING:  # see _settle
                condition = self.__dict__.get("_made_condition")
                if condition is None:
                    condition = self.__dict__["_made_condition"] = threading.Condition()
        return condition

    @property  # type: ignore[override]
    def _waiters(self) -> Any:
        waiters = self.__dict__["_waiter_list"]
        if self._cell is not None and self._state == _PENDING:  # type: ignore[attr-defined]
            return _WatchingWaiters(self, waiters)
        return waiters

    @_waiters.setter
    def _waiters(self, waiters: list[Any]) -> None:
        self.__dict__["_waiter_list"] = waiters

    def _claim(self) -> None:
        """Settles the future now if its task finished (or was cancelled) unclaimed."""
        cell = self._cell
        if cell is not None and self._state == _PENDING:  # type: ignore[attr-defined]
            claimed = cell.claim()  # once (and again until forget(): see _TaskCell.claim)
            if claimed is not None:
                self._settle(*claimed)

    def _watch(self) -> None:
        """From now on the task's worker settles the future (settled now if it finished)."""
        cell = self._cell
        if cell is None or self._state != _PENDING:  # type: ignore[attr-defined]
            return
        with self._condition:  # type: ignore[attr-defined]
            if self._state != _PENDING:  # type: ignore[attr-defined]
                return
            self._watched_in[self._task_id] = self
            self._listed = True
            claimed = cell.watch()
        if claimed is not None:
            self._settle(*claimed)

    def _settle(self, kind: int, value: Any) -> None:
        """Settles the future with a claimed outcome: Future.set_running_or_notify_cancel()
        and set_result() or set_exception() (or cancel() then set_running_or_notify_cancel())
        in one step. A future nobody has made a condition for has no waiter and no callback,
        and nobody reads its state under a condition: it is settled under the module's lock that
        makes conditions, without one; otherwise under its condition, as Future does, with the
        callbacks run after."""
        condition = self.__dict__.get("_made_condition")
        if condition is None:
            with _MAKING:
                condition = self.__dict__.get("_made_condition")
                if condition is None and self._state == _PENDING:  # type: ignore[attr-defined]
                    self._set_outcome(kind, value)
        if condition is not None:
            with condition:
                settled = self._state == _PENDING  # type: ignore[attr-defined]
                if settled:
                    self._set_outcome(kind, value)
                    for waiter in self.__dict__["_waiter_list"]:
                        if kind == _CANCELLED:
                            waiter.add_cancelled(self)
                        elif kind == _RESULT:
                            waiter.add_result(self)
                        else:
                            waiter.add_exception(self)
                    condition.notify_all()
            if settled and self._done_callbacks:  # type: ignore[attr-defined]
                self._invoke_callbacks()  # type: ignore[attr-defined]
        if self._listed:
            self._watched_in.pop(self._task_id, None)
        self._cell.forget()

    def _set_outcome(self, kind: int, value: Any) -> None:
        if kind == _CANCELLED:
            # What Future.cancel() then set_running_or_notify_cancel() leave, at once (no
            # worker will meet the task): wait() and as_completed() see it as done.
            self._state = _base.CANCELLED_AND_NOTIFIED
            return
        if kind == _RESULT:
            self._result = value
        else:
            self._exception = _failure(value) if kind == _EXCEPTION else BrokenInterpreterPool(value)
        self._state = _FINISHED

    def cancel(self) -> bool:
        state = self._state  # type: ignore[attr-defined]
        if state == _FINISHED:
            return False  # final (Executor.map cancels every future it has taken the result of)
        cell = self._cell
        if cell is None:
            return super().cancel()
        if state == _PENDING:
            if not cell.cancel():
                self._claim()  # a worker took it (as a ThreadPoolExecutor's task, it runs)
                return False
            self._settle(_CANCELLED, None)
        return self._state in _CANCELLED_STATES  # type: ignore[attr-defined]

    def cancelled(self) -> bool:
        self._claim()
        return self._state in _CANCELLED_STATES  # type: ignore[attr-defined]

    def running(self) -> bool:
        cell = self._cell
        if cell is not None and self._state == _PENDING:  # type: ignore[attr-defined]
            if cell.running():
                return True
            self._claim()
        return self._state == _base.RUNNING  # type: ignore[attr-defined]  # never, but by hand

    def done(self) -> bool:
        self._claim()
        return self._state in _DONE_STATES  # type: ignore[attr-defined]

    def _meet(self, timeout: float | None) -> None:
        # A short task is met by spinning a few microseconds (the GIL released) and claiming
        # its outcome; otherwise the future is watched, and its worker settles it.
        self._claim()
        if self._state == _PENDING and (timeout is None or timeout > 0):  # type: ignore[attr-defined]
            self._cell.wait()
            self._claim()
        if self._state == _PENDING:  # type: ignore[attr-defined]
            self._watch()

    def add_done_callback(self, fn: Callable[[Future[Any]], object]) -> None:
        self._watch()
        super().add_done_callback(fn)

    def result(self, timeout: float | None = None) -> Any:
        if self._state == _PENDING and self._cell is not None:  # type: ignore[attr-defined]
            self._meet(timeout)
        if self._state == _FINISHED and self._exception is None:  # type: ignore[attr-defined]
            value = self._result  # type: ignore[attr-defined]  # final once finished
        else:
            value = super().result(timeout)
        if type(value) is _ReturnedValue:
            return self._build(value)
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._state == _PENDING and self._cell is not None:  # type: ignore[attr-defined]
            self._meet(timeout)
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
        self._claim()
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
        self._claim()
        with self._condition:  # type: ignore[attr-defined]
            name = type(self).__name__
            if type(self._result) is _ReturnedValue:  # type: ignore[attr-defined]
                return f"<{name} at {id(self):#x} state=finished returned a value not built yet>"
            if self._state == _PENDING and self._cell is not None and self._cell.running():  # type: ignore[attr-defined]
                return f"<{name} at {id(self):#x} state=running>"
        return super().__repr__()


# The map() call submitting on this thread, if any: its tasks' group (short tasks of one group
# may run in one visit to a worker's interpreter; see the core's Pace).
_mapping = threading.local()
_groups = itertools.count(1)


def _settle(watched: dict[int, _PoolFuture], outcomes: list[tuple[int, int, Any]]) -> None:
    """Called by a worker (``Interpreter._serve``) with this interpreter's GIL: settles the
    futures of watched tasks it finished, from ``(task_id, kind, value)``."""
    for task_id, kind, value in outcomes:
        future = watched.pop(task_id, None)
        if future is not None:
            try:
                future._settle(kind, value)
            except BaseException:  # noqa: BLE001 - a done-callback raising SystemExit, say: the others still get theirs
                _base.LOGGER.exception("exception settling %r", future)


def _failure(exc: BaseException) -> BaseException:
    """What a task's future carries for an exception met running it or building its result."""
    return _original(exc) if isinstance(exc, RunFailedError) else exc


def _original(failed: RunFailedError) -> BaseException:
    """What a task's future carries when the task raised: the original exception (rebuilt here)
    with the ``ExecutionFailed`` as its ``__cause__`` and ``__context__``, as CPython 3.14's
    pool leaves it (``raise exc from wrapper`` inside ``except ... as wrapper``); the
    ``ExecutionFailed`` itself when the exception could not be rebuilt."""
    original = failed.__cause__
    if original is None:
        return failed
    failed.__cause__ = None
    failed.__suppress_context__ = True
    original.__cause__ = failed
    original.__context__ = failed
    return original


def _worker(
    executor_reference: weakref.ref[InterpreterPoolExecutor],
    work_queue: _TaskQueue,
    init: Callable[[], Any] | BaseException | None,
    watched: dict[int, _PoolFuture],
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
        settle = functools.partial(_settle, watched)
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
        # shutdown() expect of a work queue), and the watched futures not settled yet, which
        # their workers settle (see _PoolFuture).
        self._work_queue: _TaskQueue = _TaskQueue()  # type: ignore[assignment]
        self._watched: dict[int, _PoolFuture] = {}
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
            future._task_id, future._watched_in = task_id, self._watched
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
        """Cancels every task no worker has started (the lock held) and returns the watched
        futures among them, to be cancelled once the lock is released; the others learn it
        when asked."""
        watched = self._watched
        return [
            future for task_id in self._work_queue.cancel_queued() if (future := watched.pop(task_id, None))
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
            args=(weakref.ref(self, wake_workers), queue, self._init, self._watched, self._max_workers),
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
            # Each queued task is finished as broken: the watched futures are settled now
            # (outside the lock: done-callbacks may call back into the pool), the others when
            # asked.
            watched = self._watched
            failed = [
                future
                for task_id in self._work_queue.fail_queued(self._broken)
                if (future := watched.get(task_id))
            ]
        for future in failed:
            future._claim()
