"""The asyncio awaitables of channels and queues: ``recv_async``, ``send_async``, ``get_async``,
``put_async`` (``call_async`` and ``run_async`` live in ``_calls``).

An operation that cannot complete at once is parked natively with a waiter that signals a pipe
on completion. Each event loop watches one such pipe (``loop.add_reader``); on a signal it wakes
the coroutines whose operations are ready, and each coroutine then collects its own outcome. So
no thread waits for a coroutine, nothing polls on a timer, and an outcome is only ever collected
by a coroutine that is running: a task cancelled while waiting withdraws its operation, and an
object it had been handed goes back to the front of the channel or queue; so does closing the loop
with tasks still waiting (they can never run again). A send or put that
completed before the cancellation could withdraw it has delivered its object: the coroutine
then returns normally instead of raising CancelledError.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any

from ._core import _AsyncNotifier


class _LoopWatcher:
    """One per event loop: the pipe, and the wake-up future of every parked operation."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.notifier = _AsyncNotifier()
        self.waiting: dict[Any, asyncio.Future[None]] = {}
        reader = _Reader(self)
        loop.add_reader(self.notifier.fileno(), reader)
        # A loop lets go of its readers when it is closed (or collected). Its parked operations
        # can then never be collected by a coroutine, even if their tasks are still referenced:
        # withdraw them at that moment, so that a receive gives back what it was handed and
        # takes nothing more, and a send or put delivers nothing.
        finalizer = weakref.finalize(reader, self._withdraw_all)
        finalizer.atexit = False

    def _wake(self) -> None:
        self.notifier.drain()
        for op, wake in list(self.waiting.items()):
            if op.ready() and not wake.done():
                wake.set_result(None)

    def _withdraw_all(self) -> None:
        for op in list(self.waiting):
            try:
                op.cancel()
            except RuntimeError:  # busy: a call on it is running, so its loop was not closed
                pass


class _Reader:
    """The loop's reader callback; only the loop holds it, so it dies with the loop's readers."""

    __slots__ = ("watcher", "__weakref__")

    def __init__(self, watcher: _LoopWatcher) -> None:
        self.watcher = watcher

    def __call__(self) -> None:
        self.watcher._wake()


# Weak both ways: the loop's reader registration keeps a watcher alive, and nothing here keeps a
# loop alive (a closed loop with parked operations must be collectable; they were withdrawn when
# it let go of its reader).
_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, weakref.ref[_LoopWatcher]] = (
    weakref.WeakKeyDictionary()
)


def _watcher(loop: asyncio.AbstractEventLoop) -> _LoopWatcher:
    found = _watchers.get(loop)
    watcher = None if found is None else found()
    if watcher is None:
        watcher = _LoopWatcher(loop)
        _watchers[loop] = weakref.ref(watcher)
    return watcher


class _Expired(Exception):
    """The timeout of an awaitable passed (internal)."""


async def _complete(start: Callable[[Any], Any], sending: bool = False) -> Any:
    # The binding parses the timeout (as the blocking forms do), gives up at once for timeout 0,
    # and raises an operation's timeout error; here the operation is only awaited.
    loop = asyncio.get_running_loop()
    watcher = _watcher(loop)
    started = start(watcher.notifier)
    if isinstance(started, tuple):  # completed at once
        return started[1]
    op = started
    seconds = op.remaining()
    timer = None
    try:
        while True:
            wake: asyncio.Future[None] | None = loop.create_future()
            watcher.waiting[op] = wake
            if timer is None and seconds is not None:
                timer = loop.call_later(seconds, _expire, watcher, op)
            if not op.ready():
                try:
                    await wake
                except _Expired:
                    wake = None
                if wake is None:  # outside the handler, so the timeout error has no context
                    return op.expire()
            done, value = op.poll()
            if done:
                return value
    except asyncio.CancelledError:
        if sending:
            # A send that a receiver already took cannot be undone: it completed, so the
            # cancellation comes too late and the coroutine returns normally.
            done, value = op.give_up()
            if done:
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                return value
        else:
            op.cancel()  # an object already handed over goes back to the front
        raise
    finally:
        watcher.waiting.pop(op, None)
        if timer is not None:
            timer.cancel()


def _expire(watcher: _LoopWatcher, op: Any) -> None:
    wake = watcher.waiting.get(op)
    if wake is not None and not wake.done():
        wake.set_exception(_Expired())


async def recv_async(channel: Any, /, timeout: float | None = None) -> Any:
    """``RecvChannel.recv_async``: see its docstring."""
    return await _complete(lambda notifier: channel._start_recv(notifier, timeout))


async def send_async(channel: Any, obj: object, /, timeout: float | None = None) -> None:
    """``SendChannel.send_async``: see its docstring."""
    await _complete(lambda notifier: channel._start_send(obj, notifier, timeout), sending=True)


async def get_async(queue: Any, /, timeout: float | None = None) -> Any:
    """``Queue.get_async``: see its docstring."""
    return await _complete(lambda notifier: queue._start_get(notifier, timeout))


async def put_async(queue: Any, obj: object, /, timeout: float | None = None) -> None:
    """``Queue.put_async``: see its docstring."""
    await _complete(lambda notifier: queue._start_put(obj, notifier, timeout), sending=True)
