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
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, _base
from concurrent.futures import thread as _thread
from typing import Any

from . import _calls
from ._core import NotShareableError, RunFailedError, create


class BrokenInterpreterPool(_thread.BrokenThreadPool):
    """The pool cannot run tasks any more: a worker's initializer raised, or a worker could not
    create its interpreter (the message says what)."""


def _default_workers() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


class _Task:
    """A work item: a future and the prepared call (see ``_calls.prepare``)."""

    __slots__ = ("future", "spec")

    def __init__(self, future: Future[Any], spec: tuple[Any, ...]) -> None:
        self.future = future
        self.spec = spec

    def run(self, interp: Any) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = interp._invoke(self.spec)
        except RunFailedError as failed:
            self.future.set_exception(_original(failed))
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


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
        while True:
            task = work_queue.get(block=True)
            if task is not None:
                task.run(interp)
                del task
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

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule fn(*args, **kwargs) in a worker interpreter; return its Future."""
        future: Future[Any] = Future()
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
            self._work_queue.put(_Task(future, spec))
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
            return super().map(fn, *iterables, timeout=timeout, **kwargs)
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
                args=(weakref.ref(self, wake_workers), self._work_queue, self._init),
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
