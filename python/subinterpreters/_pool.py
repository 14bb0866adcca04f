"""``InterpreterPoolExecutor``: a ``ThreadPoolExecutor`` whose workers each run their tasks in a
long-lived isolated interpreter of their own, as CPython 3.14's executor of the same name does.

A task is prepared for crossing where it is submitted (``_calls.prepare``: arguments are a
snapshot of that moment, and what cannot cross fails the future at once); it waits in the pool's
work queue; a worker thread takes it and calls it in its interpreter with
``Interpreter._invoke``, on its own thread, with no other hop. Workers are started lazily, up to
``max_workers``, and reused (``ThreadPoolExecutor``'s rule); a worker closes its interpreter
when it stops: at ``shutdown()``, when the pool is garbage-collected without one, or at exit
(``concurrent.futures`` wakes and joins its workers then).
"""

from __future__ import annotations

import functools
import itertools
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, _base
from concurrent.futures import thread as _thread
from typing import Any

from . import _calls
from ._core import NotShareableError, RunFailedError, _ReturnedValue, create


class BrokenInterpreterPool(_thread.BrokenThreadPool):
    """The pool cannot run tasks any more: a worker's initializer raised, or a worker could not
    create its interpreter (the message says what)."""


def _default_workers() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


class _PoolFuture(Future):  # type: ignore[type-arg]
    """A task's future. A result that costs more than a copy to build (a container, a pickled
    object) comes back from the worker unbuilt (a ``_ReturnedValue``) and is built by the first
    thread that asks for it (``result()``, ``exception()``, a done-callback calling either), once,
    so the worker thread does not hold this interpreter's GIL for the build and goes on with its
    next task at once. Otherwise a ``concurrent.futures.Future``."""

    def result(self, timeout: float | None = None) -> Any:
        value = super().result(timeout)
        if type(value) is _ReturnedValue:
            return self._build(value)
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
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
            if type(self._result) is _ReturnedValue:  # type: ignore[attr-defined]
                name = type(self).__name__
                return f"<{name} at {id(self):#x} state=finished returned a value not built yet>"
        return super().__repr__()


class _Task:
    """A work item: a future, the prepared call (see ``_calls.prepare``) and, for an item of a
    ``map`` call, that call's key (the tasks that may run in one batch; None for ``submit``)."""

    __slots__ = ("future", "spec", "group")

    def __init__(self, future: Future[Any], spec: tuple[Any, ...], group: object = None) -> None:
        self.future = future
        self.spec = spec
        self.group = group

    def run(self, interp: Any) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = interp._invoke(self.spec, True)
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            self.future.set_exception(_failure(exc))
        else:
            self.future.set_result(result)


# The items of one map() call (chunksize 1) are independent calls of one function: while every
# worker is busy, a backlog is queued and the items are short, a worker takes the items queued
# behind the one it got and runs them in one visit to its interpreter: one switch of
# interpreters and GILs for all of them, where a thread pool's worker runs queued tasks without
# giving up its GIL (and each switch back may wait for the GIL up to sys.getswitchinterval()
# while the submitting thread runs). A batch is sized to take about _BATCH_NS at the worker's
# last measured time per task, so it holds back the items it took for about that long at most;
# its items are marked running when it is taken (as ProcessPoolExecutor marks the calls it sends
# ahead). Tasks given to submit() are never batched: one may wait for another queued behind it.
_BATCH_NS = 1_000_000
_BATCH_MAX = 1024
# Short: the worker's last visit took less than this per task.
_SHORT_NS = 20_000
# A backlog: more than this many tasks queued per worker.
_BACKLOG = 4
# A submit whose conversion took longer than this (large arguments) lets an idle worker take the
# task at once (see submit), for about _HAND_OVER_S.
_COSTLY_PREPARE_NS = 200_000
_HAND_OVER_S = 50e-6
# The map() call submitting on this thread, if any (its tasks' group).
_mapping = threading.local()


def _run_batch(interp: Any, tasks: list[_Task]) -> None:
    """Runs ``tasks`` (each already marked running) in one visit to ``interp``."""
    try:
        outcomes = interp._invoke_many([task.spec for task in tasks], True)
    except BaseException as exc:  # noqa: BLE001 - the interpreter could not be entered: each future carries it
        for task in tasks:
            task.future.set_exception(exc)
        return
    for task, (ok, value) in zip(tasks, outcomes, strict=True):
        if ok:
            task.future.set_result(value)
        else:
            task.future.set_exception(_failure(value))


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
    work_queue: queue.SimpleQueue[_Task | None],
    init: Callable[[], Any] | BaseException | None,
    idle: list[None],
) -> None:
    """A worker thread: create an interpreter, run the initializer there, then run tasks in it
    until told to stop (the loop of ``concurrent.futures.thread._worker``). ``init`` prepares
    the initializer's call (a prepared call runs once, so each worker prepares its own), or is
    why it could not be prepared (it then breaks the pool here, when a worker starts, as in
    CPython 3.14)."""
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
        # The time per task of the last visit, and the map() call its tasks came from: a batch
        # is taken only of the same call's items, once one of them has been timed (a short task
        # of another kind says nothing of how long these take).
        per_task_ns, timed_group = _SHORT_NS, None
        while True:
            idle.append(None)  # one entry per worker waiting for a task (append/pop: atomic)
            try:
                task = work_queue.get(block=True)
            finally:
                idle.pop()
            if task is not None:
                started = time.perf_counter_ns()
                batch = after = None
                if task.group is not None and task.group is timed_group and per_task_ns < _SHORT_NS:
                    batch, after = _take_batch(task, work_queue, len(idle), executor_reference, per_task_ns)
                if batch is None:
                    task.run(interp)
                    ran = 1
                else:
                    ran = len(batch)
                    if batch:
                        _run_batch(interp, batch)
                if after is not None:
                    after.run(interp)
                    ran += 1
                per_task_ns = (time.perf_counter_ns() - started) // max(ran, 1)
                timed_group = task.group if after is None else None
                del task, batch, after
                executor = executor_reference()
                # The idle count matters only while the pool may still start workers (see
                # _adjust_thread_count).
                if executor is not None and len(executor._threads) < executor._max_workers:
                    executor._idle_semaphore.release()
                del executor
                continue
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


def _take_batch(
    first: _Task,
    work_queue: queue.SimpleQueue[_Task | None],
    idle_workers: int,
    executor_reference: weakref.ref[Any],
    per_task_ns: int,
) -> tuple[list[_Task] | None, _Task | None]:
    """``first`` and the items of its map() call queued right behind it (about ``_BATCH_NS`` of
    work at ``per_task_ns`` each, at most ``_BATCH_MAX`` and this worker's share of the queue),
    those not cancelled marked running, and the task met after them, if any (not of the group:
    to run on its own after the batch, in queue order); ``(None, None)`` when there is no batch
    to take (run ``first`` alone). Nothing is taken while another worker waits for a task. A
    stop signal met is put back for the loop to find."""
    if idle_workers:
        return None, None
    executor = executor_reference()
    workers = max(len(executor._threads), 1) if executor is not None else 1
    del executor
    queued = work_queue.qsize()
    if queued <= _BACKLOG * workers:
        return None, None
    extra = min(min(_BATCH_MAX, _BATCH_NS // max(per_task_ns, 1)) - 1, queued // workers)
    taken, after = [first], None
    for _ in range(extra):
        try:
            task = work_queue.get_nowait()
        except queue.Empty:
            break
        if task is None:
            work_queue.put(None)
            break
        if task.group is not first.group:
            after = task
            break
        taken.append(task)
    return [task for task in taken if task.future.set_running_or_notify_cancel()], after


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
        self._idle_workers: list[None] = []  # see _worker
        super().__init__(max_workers, thread_name_prefix or f"InterpreterPoolExecutor-{self._counter()}")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule fn(*args, **kwargs) in a worker interpreter; return its Future."""
        future: Future[Any] = _PoolFuture()
        started = time.perf_counter_ns()
        try:
            # Outside the lock: pickling may take long. TypeError if fn is not callable.
            spec = _calls.prepare(fn, args, kwargs)
        except NotShareableError as exc:
            spec, refused = None, exc
        costly = time.perf_counter_ns() - started > _COSTLY_PREPARE_NS
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
            self._work_queue.put(_Task(future, spec, getattr(_mapping, "group", None)))
            self._adjust_thread_count()
        if costly and self._idle_workers:
            # A worker waits for this task, and takes it only with this interpreter's GIL: hold
            # it no longer, or a caller submitting more large tasks (each converted with the GIL
            # held, in native code that never gives it up) keeps every worker waiting until
            # it blocks. The worker gives the GIL back once it enters its interpreter.
            time.sleep(_HAND_OVER_S)
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
            outer, _mapping.group = getattr(_mapping, "group", None), object()
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
        futures = []
        while True:
            try:
                task = self._work_queue.get_nowait()
            except queue.Empty:
                return futures
            if task is not None:
                futures.append(task.future)

    def _adjust_thread_count(self) -> None:
        # ThreadPoolExecutor's rule: reuse an idle worker, else start one below the limit. Once
        # every worker is started there is nothing to decide: the idle count (a semaphore, a
        # microsecond per task each way) is kept only until then.
        if len(self._threads) >= self._max_workers or self._idle_semaphore.acquire(timeout=0):
            return

        def wake_workers(_: object, work_queue: queue.SimpleQueue[Any] = self._work_queue) -> None:
            work_queue.put(None)  # the pool was garbage-collected: let its workers stop

        count = len(self._threads)
        if count < self._max_workers:
            worker = threading.Thread(
                name=f"{self._thread_name_prefix}_{count}",
                target=_worker,
                args=(weakref.ref(self, wake_workers), self._work_queue, self._init, self._idle_workers),
            )
            worker.start()
            self._threads.add(worker)
            _thread._threads_queues[worker] = self._work_queue  # type: ignore[attr-defined]

    def _initializer_failed(self, exc: BaseException | None = None) -> None:  # type: ignore[override]
        if isinstance(exc, NotShareableError) and exc is self._init:
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
