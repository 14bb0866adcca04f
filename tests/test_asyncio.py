"""asyncio (issue 5): the six awaitables (recv_channel.recv_async, send_channel.send_async,
queue.get_async, queue.put_async, interp.call_async, interp.run_async) work and return what the
blocking forms return; their timeouts raise what the blocking forms raise (TimeoutError for channels,
QueueEmpty/QueueFull for queues, nothing delivered); the event loop keeps running other tasks while
one awaits (a ticker advances, and only then is the awaited thing released); no thread per waiting
coroutine (50 waiters add at most a small constant of threads); cancelling an awaiting task
withdraws its operation: a cancelled recv_async/get_async leaves the object in the channel/queue, a
cancelled send_async/put_async delivers nothing, and under many cancellations racing a concurrent
producer or consumer every item arrives exactly once; loop.run_in_executor works with
InterpreterPoolExecutor.

Each test runs its own event loop with asyncio.run under an overall bound, so a missing wake-up
fails instead of hanging."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import os
import random
import site
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest

import callee_module as callee
import subinterpreters as si
from helpers import TESTS_DIR, drain

SETTLE = 0.2
JOIN = 10.0
# How long an awaitable may wait when only a missing wake-up would make it wait that long.
LONG = 20.0


def arun(coro: Coroutine[Any, Any, Any], limit: float = 90) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await coro

    return asyncio.run(bounded())


def thread_counts() -> tuple[int, int | None]:
    """(Python threads, OS threads of the process where /proc tells)."""
    try:
        os_threads: int | None = len(os.listdir("/proc/self/task"))
    except OSError:
        os_threads = None
    return threading.active_count(), os_threads


# --- each awaitable works ------------------------------------------------------------------------


def test_recv_async_returns_a_queued_object(channel) -> None:
    recv, send = channel
    send.send_nowait(("queued", 1))
    assert arun(recv.recv_async()) == ("queued", 1)


def test_recv_async_waits_for_a_sender_thread(channel, spawn) -> None:
    recv, send = channel

    def sender() -> None:
        time.sleep(SETTLE)
        send.send("late", timeout=JOIN)

    task = spawn(sender)
    assert arun(recv.recv_async(timeout=LONG)) == "late"
    task.result()


def test_send_async_hands_the_object_to_a_receiver_thread(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=JOIN)
    assert arun(send.send_async(("x", 1), timeout=LONG)) is None
    assert task.result() == ("x", 1)


def test_send_async_and_recv_async_meet_on_one_loop(channel) -> None:
    recv, send = channel

    async def main() -> list[object]:
        return await asyncio.gather(send.send_async("hello", timeout=LONG), recv.recv_async(timeout=LONG))

    assert arun(main()) == [None, "hello"]


def test_get_async_returns_a_queued_object() -> None:
    q = si.create_queue()
    q.put([1, {"two": 2}])
    assert arun(q.get_async()) == [1, {"two": 2}]


def test_get_async_waits_for_a_putter_in_another_interpreter(fresh) -> None:
    q = si.create_queue()
    fut = fresh.run_in_thread("import time\ntime.sleep(0.2)\nq.put(('from', 'sub'))\ndel q", q=q)
    assert arun(q.get_async(timeout=LONG)) == ("from", "sub")
    fut.result(timeout=JOIN)


def test_put_async_puts_at_once_when_there_is_room() -> None:
    q = si.create_queue(maxsize=2)
    assert arun(q.put_async(["item"])) is None
    assert drain(q) == [["item"]]


def test_put_async_and_get_async_meet_on_one_loop() -> None:
    q = si.create_queue(maxsize=1)
    q.put("first")

    async def main() -> list[object]:
        putter = asyncio.create_task(q.put_async("second", timeout=LONG))
        got = [await q.get_async(timeout=LONG), await q.get_async(timeout=LONG)]
        await putter
        return got

    assert arun(main()) == ["first", "second"]


def test_call_async_returns_the_result(target) -> None:
    assert arun(target.call_async(callee.add, 1, b=2, c=3)) == 6
    assert arun(target.call_async(callee.current_id)) == target.id
    assert arun(target.call_async(pow, 2, 5)) == 32


def test_call_async_arguments_cross_natively_and_by_pickle(target) -> None:
    arr = si.SharedArray(4)
    assert arun(target.call_async(callee.fill, arr, 2)) == 4
    assert bytes(arr) == b"\x02" * 4
    assert arun(target.call_async(callee.swap, callee.Point([1], 2))) == callee.Point(2, [1])


def test_call_async_exception_is_run_failed_error_with_cause(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        arun(target.call_async(callee.divide, 1, 0))
    assert info.value.type_name == "ZeroDivisionError"
    assert "divide" in info.value.traceback
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_call_async_not_shareable_runs_nothing(target) -> None:
    q = si.create_queue()

    async def main() -> None:
        await target.call_async(callee.record, q, lambda: q)  # a closure: nothing carries it

    with pytest.raises(si.NotShareableError):
        arun(main())
    assert drain(q) == []


def test_run_async_runs_source_with_shared_values(target, channel) -> None:
    recv, send = channel
    assert arun(target.run_async("out.send_nowait(x * 2)\ndel out", out=send, x=21)) is None
    assert recv.recv_nowait() == 42


def test_run_async_exception_is_run_failed_error(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        arun(target.run_async("raise KeyError('missing')"))
    assert info.value.type_name == "KeyError"


def test_several_interpreters_work_concurrently_from_one_loop() -> None:
    barrier = si.Barrier(3)
    interps = [si.create() for _ in range(3)]
    try:
        for interp in interps:
            interp.exec(callee.add_tests_dir_source())

        async def main() -> list[int]:
            # Only possible if the three calls wait at the barrier at the same time.
            return await asyncio.gather(*(i.call_async(callee.id_after_barrier, barrier) for i in interps))

        assert arun(main()) == [i.id for i in interps]
    finally:
        for interp in interps:
            interp.close()


# --- timeouts ----------------------------------------------------------------------------------------


def test_recv_async_timeout_raises_timeout_error(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        arun(recv.recv_async(timeout=0.05))
    send.send_nowait("after")
    assert recv.recv_nowait() == "after"


def test_send_async_timeout_raises_timeout_error_and_delivers_nothing(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        arun(send.send_async("unsent", timeout=0.05))
    assert recv.recv_nowait(None) is None


def test_get_async_timeout_raises_queue_empty() -> None:
    q = si.create_queue()
    with pytest.raises(si.QueueEmpty):
        arun(q.get_async(timeout=0.05))
    q.put("after")
    assert drain(q) == ["after"]


def test_put_async_timeout_raises_queue_full_and_puts_nothing() -> None:
    q = si.create_queue(maxsize=1)
    q.put("first")
    with pytest.raises(si.QueueFull):
        arun(q.put_async("second", timeout=0.05))
    assert drain(q) == ["first"]


def test_closing_wakes_waiting_recv_async(channel) -> None:
    recv, send = channel

    async def main() -> None:
        waiter = asyncio.create_task(recv.recv_async(timeout=LONG))
        await asyncio.sleep(SETTLE)
        send.close()
        await waiter

    with pytest.raises(si.ChannelClosedError):
        arun(main())


def test_closing_wakes_waiting_get_async() -> None:
    q = si.create_queue()

    async def main() -> None:
        waiter = asyncio.create_task(q.get_async(timeout=LONG))
        await asyncio.sleep(SETTLE)
        q.close()
        await waiter

    with pytest.raises(si.QueueClosedError):
        arun(main())


# --- the event loop keeps running ------------------------------------------------------------------------


class Case:
    """An awaitable that can only finish once `release()` ran (from another thread)."""

    def __init__(self, kind: str, interp: si.Interpreter):
        self.kind = kind
        self.recv, self.send = si.create_channel()
        self.q = si.create_queue(maxsize=1)
        self.event = si.Event()
        self.taken: list[object] = []
        self.interp = interp
        if kind == "put_async":
            self.q.put("first")

    def awaitable(self) -> Awaitable[object]:
        k = self.kind
        if k == "recv_async":
            return self.recv.recv_async(timeout=LONG)
        if k == "send_async":
            return self.send.send_async("item", timeout=LONG)
        if k == "get_async":
            return self.q.get_async(timeout=LONG)
        if k == "put_async":
            return self.q.put_async("item", timeout=LONG)
        if k == "call_async":
            return self.interp.call_async(callee.wait_event, self.event, "item", LONG)
        assert k == "run_async"
        source = "if not event.wait(timeout):\n    raise TimeoutError\nout.send_nowait('item')\n"
        return self.interp.run_async(source, event=self.event, out=self.send, timeout=LONG)

    def release(self) -> None:
        k = self.kind
        if k == "recv_async":
            self.send.send_nowait("item")
        elif k == "send_async":
            self.taken.append(self.recv.recv(timeout=JOIN))
        elif k == "get_async":
            self.q.put("item")
        elif k == "put_async":
            self.taken.append(self.q.get(timeout=JOIN))
        else:
            self.event.set()

    def check(self, result: object) -> None:
        k = self.kind
        if k in ("recv_async", "get_async", "call_async"):
            assert result == "item"
        elif k == "send_async":
            assert result is None and self.taken == ["item"]
        elif k == "put_async":
            assert result is None and self.taken == ["first"]
            assert drain(self.q) == ["item"]
        else:
            assert result is None and self.recv.recv_nowait() == "item"

    def close(self) -> None:
        self.event.set()
        self.recv.close()
        self.send.close()


AWAITABLES = ["recv_async", "send_async", "get_async", "put_async", "call_async", "run_async"]


@pytest.mark.parametrize("kind", AWAITABLES)
def test_loop_keeps_running_other_tasks_while_one_awaits(kind, fresh, wait_until) -> None:
    case = Case(kind, fresh)
    ticks = 0

    async def main() -> tuple[object, int]:
        nonlocal ticks
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        def releaser() -> None:
            # Releases the awaited thing only once the loop has ticked while the awaitable waited:
            # an awaitable blocking the loop never gets released and fails on its own timeout.
            if wait_until(lambda: ticks >= 10):
                case.release()

        tick_task = asyncio.create_task(ticker())
        thread = threading.Thread(target=releaser, daemon=True)
        thread.start()
        try:
            result = await case.awaitable()
        finally:
            stop.set()
            await tick_task
            await asyncio.to_thread(thread.join, JOIN)
        return result, ticks

    try:
        result, seen_ticks = arun(main())
        assert seen_ticks >= 10
        case.check(result)
    finally:
        case.close()


def test_run_in_executor_keeps_the_loop_running() -> None:
    event = si.Event()
    with si.InterpreterPoolExecutor(1, initializer=site.addsitedir, initargs=(TESTS_DIR,)) as pool:

        async def main() -> object:
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(pool, callee.wait_event, event, "done", LONG)
            for _ in range(10):
                await asyncio.sleep(0.001)
            assert not work.done()
            event.set()
            return await work

        try:
            assert arun(main()) == "done"
        finally:
            event.set()


# --- no thread per waiting coroutine ------------------------------------------------------------------------


WAITERS = 50
# Threads an implementation may add once (a waker, a helper per loop...), however many coroutines wait.
EXTRA_PY_THREADS = 2
EXTRA_OS_THREADS = 6


@pytest.mark.parametrize("kind", ["recv_async", "send_async", "get_async", "put_async"])
def test_waiting_coroutines_use_no_thread_each(kind) -> None:
    recv, send = si.create_channel()
    q = si.create_queue(maxsize=1)
    if kind == "put_async":
        q.put("first")
    received: list[object] = []

    def make(i: int) -> Awaitable[object]:
        if kind == "recv_async":
            return recv.recv_async(timeout=LONG)
        if kind == "send_async":
            return send.send_async(i, timeout=LONG)
        if kind == "get_async":
            return q.get_async(timeout=LONG)
        return q.put_async(i, timeout=LONG)

    def release_all() -> None:
        for i in range(WAITERS):
            if kind == "recv_async":
                send.send_nowait(i)
            elif kind == "send_async":
                received.append(recv.recv(timeout=JOIN))
            elif kind == "get_async":
                q.put(i)
            else:
                received.append(q.get(timeout=JOIN))

    async def main() -> tuple[tuple[int, int | None], tuple[int, int | None], list[object]]:
        await asyncio.sleep(0)
        before = thread_counts()
        tasks = [asyncio.create_task(make(i)) for i in range(WAITERS)]
        for _ in range(5):
            await asyncio.sleep(0)
        await asyncio.sleep(SETTLE)
        during = thread_counts()
        assert not any(t.done() for t in tasks), "a waiter finished with nothing to wait for"
        releaser = threading.Thread(target=release_all, daemon=True)
        releaser.start()
        results = await asyncio.gather(*tasks)
        await asyncio.to_thread(releaser.join, JOIN)
        return before, during, results

    try:
        (py_before, os_before), (py_during, os_during), results = arun(main())
    finally:
        recv.close()
        send.close()
    assert py_during <= py_before + EXTRA_PY_THREADS, (py_before, py_during)
    if os_before is not None and os_during is not None:
        assert os_during <= os_before + EXTRA_OS_THREADS, (os_before, os_during)
    if kind in ("recv_async", "get_async"):
        assert sorted(results) == list(range(WAITERS))
    elif kind == "send_async":
        assert sorted(received) == list(range(WAITERS))
    else:
        # "first" and every put arrived exactly once (the last put may still be in the queue).
        assert_exactly_once(received + drain(q), ["first", *range(WAITERS)])


# --- cancellation withdraws the operation -----------------------------------------------------------------


async def start_then_cancel(awaitable: Awaitable[object], yields: int = 5) -> None:
    task = asyncio.ensure_future(awaitable)
    for _ in range(yields):
        await asyncio.sleep(0)
    await asyncio.sleep(SETTLE)  # let it park
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_cancelled_recv_async_leaves_later_objects_in_the_channel(channel) -> None:
    recv, send = channel
    arun(start_then_cancel(recv.recv_async()))
    send.send_nowait("after the cancel")
    assert recv.recv_nowait() == "after the cancel"


def test_cancelled_get_async_leaves_later_objects_in_the_queue() -> None:
    q = si.create_queue()
    arun(start_then_cancel(q.get_async()))
    q.put("after the cancel")
    assert drain(q) == ["after the cancel"]


def test_cancelled_send_async_does_not_deliver(channel) -> None:
    recv, send = channel
    arun(start_then_cancel(send.send_async("withdrawn")))
    assert recv.recv_nowait(None) is None
    send.send_nowait("next")
    assert recv.recv_nowait() == "next"
    assert recv.recv_nowait(None) is None


def test_cancelled_put_async_does_not_deliver() -> None:
    q = si.create_queue(maxsize=1)
    q.put("first")
    arun(start_then_cancel(q.put_async("withdrawn")))
    assert drain(q) == ["first"]
    q.put("next")
    assert drain(q) == ["next"]


# A cancel arriving after the other side completed the operation, before the coroutine resumed
# (the loop has not run since): the object is either delivered to the coroutine (its task then
# completes normally) or stays in the channel/queue (the task is cancelled) -- never both, never
# neither.


async def complete_then_cancel(
    awaitable: Awaitable[object], complete: Callable[[], object]
) -> tuple[str, object, object]:
    task = asyncio.ensure_future(awaitable)
    await asyncio.sleep(SETTLE)  # parked
    assert not task.done()
    other_side = complete()  # on the loop thread: the loop cannot run the task in between
    task.cancel()
    try:
        return "completed", await task, other_side
    except asyncio.CancelledError:
        return "cancelled", None, other_side


def test_recv_async_cancelled_after_a_sender_handed_it_the_object(channel) -> None:
    recv, send = channel
    outcome, value, _ = arun(complete_then_cancel(recv.recv_async(), lambda: send.send_nowait("item")))
    left = recv.recv_nowait(None)
    assert (outcome, value, left) in [("completed", "item", None), ("cancelled", None, "item")]


def test_get_async_cancelled_after_a_putter_handed_it_the_object() -> None:
    q = si.create_queue()
    outcome, value, _ = arun(complete_then_cancel(q.get_async(), lambda: q.put("item")))
    left = drain(q)
    assert (outcome, value, left) in [("completed", "item", []), ("cancelled", None, ["item"])]


def test_send_async_cancelled_after_a_receiver_took_the_object(channel) -> None:
    recv, send = channel
    outcome, _, taken = arun(complete_then_cancel(send.send_async("item"), lambda: recv.recv_nowait(None)))
    left = recv.recv_nowait(None)
    # Taken by the receiver: delivered, so the send must not report a cancellation.
    assert (outcome, taken, left) in [("completed", "item", None), ("cancelled", None, None)]


def test_put_async_cancelled_after_room_was_made() -> None:
    q = si.create_queue(maxsize=1)
    q.put("first")
    outcome, _, taken = arun(complete_then_cancel(q.put_async("item"), q.get_nowait))
    assert taken == "first"
    left = drain(q)
    # Either the put completed (the item is in the queue) or it was cancelled (it is not).
    assert (outcome, left) in [("completed", ["item"]), ("cancelled", [])]


ITEMS = 1000


async def receive_with_cancellations(
    make: Callable[[], Awaitable[object]], count: int, seed: int
) -> tuple[list[object], int]:
    """Receive `count` items, cancelling about half of the attempts at random points. Stops early
    (the caller then finds what is missing) when an attempt times out."""
    rng = random.Random(seed)
    got: list[object] = []
    cancelled = 0
    while len(got) < count:
        task = asyncio.ensure_future(make())
        for _ in range(rng.randrange(4)):
            await asyncio.sleep(0)
        if rng.random() < 0.2:
            await asyncio.sleep(0.0005)
        if rng.random() < 0.5:
            task.cancel()
        try:
            got.append(await task)
        except asyncio.CancelledError:
            cancelled += 1
        except (TimeoutError, si.QueueEmpty):
            break
    return got, cancelled


async def send_with_cancellations(
    send_one: Callable[[int], Awaitable[None]], count: int, seed: int
) -> tuple[list[int], list[int]]:
    """Try to send 0..count-1, cancelling about half of the attempts at random points: (items whose
    send completed, items whose send was cancelled)."""
    rng = random.Random(seed)
    delivered: list[int] = []
    withdrawn: list[int] = []
    for i in range(count):
        task = asyncio.ensure_future(send_one(i))
        for _ in range(rng.randrange(4)):
            await asyncio.sleep(0)
        if rng.random() < 0.2:
            await asyncio.sleep(0.0005)
        if rng.random() < 0.5:
            task.cancel()
        try:
            await task
            delivered.append(i)
        except asyncio.CancelledError:
            withdrawn.append(i)
    return delivered, withdrawn


def assert_exactly_once(got: list[object], expected: list[object]) -> None:
    counts = collections.Counter(got)
    duplicated = sorted((item for item, n in counts.items() if n > 1), key=repr)
    missing = sorted(set(expected) - set(counts), key=repr)
    unexpected = sorted(set(counts) - set(expected), key=repr)
    assert not duplicated and not missing and not unexpected, (
        f"duplicated={duplicated[:20]} missing={missing[:20]} unexpected={unexpected[:20]}"
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_cancelled_recv_async_never_loses_or_duplicates(seed, channel, spawn) -> None:
    recv, send = channel

    def producer() -> None:
        for i in range(ITEMS):
            if i % 2:
                send.send(i, timeout=LONG)  # rendezvous: handed to a (maybe cancelled) receiver
            else:
                send.send_nowait(i)
            if i % 50 == 0:
                time.sleep(0.001)

    task = spawn(producer)
    got, cancelled = arun(receive_with_cancellations(lambda: recv.recv_async(timeout=5), ITEMS, seed))
    task.result(timeout=LONG)
    assert cancelled > 0
    assert recv.recv_nowait(None) is None, "an item stayed behind although all were received"
    assert_exactly_once(got, list(range(ITEMS)))


@pytest.mark.parametrize("seed", [1, 2])
def test_cancelled_get_async_never_loses_or_duplicates(seed, spawn) -> None:
    q = si.create_queue()

    def producer() -> None:
        for i in range(ITEMS):
            q.put(i)
            if i % 50 == 0:
                time.sleep(0.001)

    task = spawn(producer)
    got, cancelled = arun(receive_with_cancellations(lambda: q.get_async(timeout=5), ITEMS, seed))
    task.result(timeout=LONG)
    assert cancelled > 0
    assert drain(q) == []
    assert_exactly_once(got, list(range(ITEMS)))


def test_cancelled_get_async_with_a_producer_in_another_interpreter(fresh) -> None:
    q = si.create_queue(maxsize=8)
    source = "for i in range(n):\n    q.put(i, timeout=20)\ndel q\n"
    fut = fresh.run_in_thread(source, q=q, n=ITEMS)
    got, cancelled = arun(receive_with_cancellations(lambda: q.get_async(timeout=5), ITEMS, 3))
    fut.result(timeout=LONG)
    assert cancelled > 0
    assert drain(q) == []
    assert_exactly_once(got, list(range(ITEMS)))


@pytest.mark.parametrize("seed", [1, 2])
def test_cancelled_send_async_never_delivers(seed, channel, spawn) -> None:
    recv, send = channel
    received: list[object] = []

    def receiver() -> None:
        while (item := recv.recv(timeout=LONG)) != "STOP":
            received.append(item)

    task = spawn(receiver)

    async def main() -> tuple[list[int], list[int]]:
        outcome = await send_with_cancellations(lambda i: send.send_async(i, timeout=LONG), ITEMS, seed)
        await send.send_async("STOP", timeout=LONG)
        return outcome

    delivered, withdrawn = arun(main())
    task.result(timeout=LONG)
    assert withdrawn, "no send was cancelled: nothing tested"
    # A send that completed delivered its item once; a cancelled one delivered nothing.
    assert_exactly_once(received, delivered)


@pytest.mark.parametrize("seed", [1, 2])
def test_cancelled_put_async_never_delivers(seed, spawn) -> None:
    q = si.create_queue(maxsize=1)
    received: list[object] = []

    def consumer() -> None:
        while (item := q.get(timeout=LONG)) != "STOP":
            received.append(item)

    task = spawn(consumer)

    async def main() -> tuple[list[int], list[int]]:
        outcome = await send_with_cancellations(lambda i: q.put_async(i, timeout=LONG), ITEMS, seed)
        await q.put_async("STOP", timeout=LONG)
        return outcome

    delivered, withdrawn = arun(main())
    task.result(timeout=LONG)
    assert withdrawn, "no put was cancelled: nothing tested"
    assert_exactly_once(received, delivered)


# --- run_in_executor with the pool -------------------------------------------------------------------------


def test_run_in_executor_works_with_the_pool() -> None:
    with si.InterpreterPoolExecutor(2, initializer=site.addsitedir, initargs=(TESTS_DIR,)) as pool:

        async def main() -> tuple[object, list[object]]:
            loop = asyncio.get_running_loop()
            one = await loop.run_in_executor(pool, callee.add, 2, 3)
            many = await asyncio.gather(*(loop.run_in_executor(pool, pow, i, 2) for i in range(10)))
            return one, many

        one, many = arun(main())
    assert one == 5
    assert many == [i * i for i in range(10)]


def test_run_in_executor_exception_is_the_tasks_own() -> None:
    with si.InterpreterPoolExecutor(1, initializer=site.addsitedir, initargs=(TESTS_DIR,)) as pool:

        async def main() -> object:
            return await asyncio.get_running_loop().run_in_executor(pool, callee.divide, 1, 0)

        with pytest.raises(ZeroDivisionError) as info:
            arun(main())
    assert isinstance(info.value.__cause__, si.ExecutionFailed)


# --- found by review ----------------------------------------------------------------------------


def test_a_receive_left_parked_on_a_closed_loop_does_not_take_later_items() -> None:
    # Nothing may keep a closed loop's parked operations alive: once the loop and its task are
    # gone, the receive is withdrawn, and the next object sent stays in the channel.
    recv, send = si.create_channel()
    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(recv.recv_async())
        loop.run_until_complete(asyncio.sleep(0.01))
        assert not task.done()
        logging.disable(logging.ERROR)  # "Task was destroyed but it is pending!" is expected
        try:
            loop.close()
            del task, loop
            gc.collect()
        finally:
            logging.disable(logging.NOTSET)
        send.send_nowait("item")
        assert recv.recv_nowait(None) == "item"
    finally:
        recv.close()
        send.close()


@contextlib.contextmanager
def loop_closed_with_pending(
    starts: list[Callable[[], Coroutine[Any, Any, Any]]], before_close: Callable[[], object] = lambda: None
) -> Iterator[None]:
    """Parks each awaitable on a new loop, runs ``before_close``, then closes the loop with the
    tasks still pending (not cancelled) and still referenced for the whole ``with`` body, so
    nothing is garbage-collected before the test has looked."""
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(start()) for start in starts]
    loop.run_until_complete(asyncio.sleep(0.05))
    assert not any(task.done() for task in tasks)
    before_close()
    loop.close()
    try:
        yield
    finally:
        logging.disable(logging.ERROR)  # "Task was destroyed but it is pending!" is expected
        try:
            del tasks, loop
            gc.collect()
        finally:
            logging.disable(logging.NOTSET)


def receive_ends(
    kind: str,
) -> tuple[Callable[[], Coroutine[Any, Any, Any]], Callable[[object], object], Callable[[], object]]:
    """``(start a receive, put an object without waiting, take one or None)`` on a new channel
    or queue."""
    if kind == "channel":
        recv, send = si.create_channel()
        return recv.recv_async, send.send_nowait, lambda: recv.recv_nowait(None)
    queue = si.create_queue()
    return queue.get_async, queue.put_nowait, lambda: queue.get_nowait() if queue.qsize() else None


@pytest.mark.parametrize("kind", ["channel", "queue"])
def test_closing_a_loop_with_pending_receives_loses_no_later_item(kind) -> None:
    # Closing the loop alone (the tasks are still referenced, nothing is collected) withdraws the
    # receives: the next object must not be handed to a receive that nobody can ever finish.
    start, put, take = receive_ends(kind)
    with loop_closed_with_pending([start] * 3):
        put("x")
        assert take() == "x"


@pytest.mark.parametrize("kind", ["channel", "queue"])
def test_closing_a_loop_puts_back_an_item_already_handed_to_a_pending_receive(kind) -> None:
    # The object reached a parked receive before the loop closed, and no coroutine will ever
    # collect it: closing the loop puts it back at the front.
    start, put, take = receive_ends(kind)
    with loop_closed_with_pending([start], before_close=lambda: put("handed")):
        put("next")
        assert take() == "handed"
        assert take() == "next"


def test_closing_a_loop_withdraws_a_pending_send(channel) -> None:
    recv, send = channel
    with loop_closed_with_pending([lambda: send.send_async("never")]):
        assert recv.recv_nowait(None) is None


def test_closing_a_loop_withdraws_a_pending_put() -> None:
    queue = si.create_queue(1)
    queue.put_nowait("first")
    with loop_closed_with_pending([lambda: queue.put_async("never")]):
        assert drain(queue) == ["first"]
        queue.put_nowait("room")  # the withdrawn put does not take the room
        assert drain(queue) == ["room"]
