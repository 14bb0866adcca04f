"""Queues (issue 3): create_queue(), properties, identity, put/get and their non-blocking and timed
forms, queue.Queue compatibility, float timeouts, put_many/get_many, close() and iteration, sharing
between interpreters (run(**shared), channels, other queues), list_all_queues() and freeing, waking
blocked callers across threads and interpreters, and exactly-once delivery with several producers
and consumers in several interpreters.

Data questions (pickle fallback, strict, items outliving their sender) are in test_queue_data.py;
select() in test_select.py; Ctrl-C in test_queue_signals.py."""

from __future__ import annotations

import collections
import gc
import math
import queue
import threading
import time

import pytest

import subinterpreters as si
from helpers import drain, evaluate

SETTLE = 0.2


def listed_queue_ids() -> list[int]:
    return [q.id for q in si.list_all_queues()]


@pytest.fixture
def q() -> si.Queue:
    return si.create_queue()


# --- creation, properties, identity ---------------------------------------------------------------


def test_create_queue_defaults() -> None:
    q = si.create_queue()
    assert type(q) is si.Queue
    assert type(q.id) is int
    assert q.maxsize == 0
    assert q.strict is False
    assert q.is_closed is False
    assert q.qsize() == 0
    assert q.empty() is True
    assert q.full() is False


def test_create_queue_with_maxsize_and_strict() -> None:
    q = si.create_queue(3, strict=True)
    assert q.maxsize == 3
    assert q.strict is True
    q2 = si.create_queue(maxsize=5)
    assert q2.maxsize == 5 and q2.strict is False


def test_strict_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        si.create_queue(1, True)  # type: ignore[misc]


def test_maxsize_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        si.create_queue("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        si.create_queue(2.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("maxsize", [0, -1, -100])
def test_maxsize_zero_or_negative_means_unbounded(maxsize) -> None:
    q = si.create_queue(maxsize)
    assert q.maxsize == 0
    for i in range(2000):
        q.put_nowait(i)
    assert q.qsize() == 2000
    assert q.full() is False
    q.put(2000, block=False)
    assert q.qsize() == 2001
    assert drain(q) == list(range(2001))


def test_distinct_queues_have_distinct_ids() -> None:
    queues = [si.create_queue() for _ in range(5)]
    assert len({q.id for q in queues}) == 5
    assert len(set(queues)) == 5


def test_repr() -> None:
    q = si.create_queue(7)
    assert repr(q) == f"Queue({q.id})"  # CPython's concurrent.interpreters form
    u = si.create_queue()
    assert repr(u) == f"Queue({u.id})"


def test_properties_are_read_only(q) -> None:
    for name, value in [("id", 1), ("maxsize", 3), ("strict", True), ("is_closed", True)]:
        with pytest.raises(AttributeError):
            setattr(q, name, value)


def test_equal_and_hashable_by_id(q) -> None:
    carrier = si.create_queue()
    carrier.put(q)
    other_handle = carrier.get()
    assert other_handle == q and hash(other_handle) == hash(q)
    assert len({q, other_handle}) == 1
    other = si.create_queue()
    assert other != q and not (other == q)
    assert q != q.id and q != None  # noqa: E711
    assert {q: "a"}[other_handle] == "a"


# --- put / get ------------------------------------------------------------------------------------


def test_fifo_and_sizes() -> None:
    q = si.create_queue(3)
    assert q.empty() and not q.full() and q.qsize() == 0
    q.put("a")
    assert not q.empty() and not q.full() and q.qsize() == 1
    q.put("b")
    q.put_nowait("c")
    assert q.full() and q.qsize() == 3
    assert q.get() == "a"
    assert not q.full() and q.qsize() == 2
    assert q.get_nowait() == "b"
    assert q.get(block=False) == "c"
    assert q.empty() and q.qsize() == 0


def test_put_nowait_on_full_queue_raises_queue_full() -> None:
    q = si.create_queue(1)
    q.put_nowait(1)
    with pytest.raises(si.QueueFull):
        q.put_nowait(2)
    with pytest.raises(si.QueueFull):
        q.put(2, block=False)
    assert drain(q) == [1]


def test_get_nowait_on_empty_queue_raises_queue_empty(q) -> None:
    with pytest.raises(si.QueueEmpty):
        q.get_nowait()
    with pytest.raises(si.QueueEmpty):
        q.get(block=False)
    with pytest.raises(si.QueueEmpty):
        q.get(False)


def test_block_false_ignores_timeout() -> None:
    q = si.create_queue(1)
    start = time.monotonic()
    with pytest.raises(si.QueueEmpty):
        q.get(block=False, timeout=5)
    q.put(1)
    with pytest.raises(si.QueueFull):
        q.put(2, block=False, timeout=5)
    assert time.monotonic() - start < 2.5


def test_timeout_zero_tries_once() -> None:
    q = si.create_queue(1)
    start = time.monotonic()
    with pytest.raises(si.QueueEmpty):
        q.get(timeout=0)
    with pytest.raises(si.QueueEmpty):
        q.get(True, 0.0)
    q.put("x", timeout=0)
    with pytest.raises(si.QueueFull):
        q.put("y", timeout=0)
    assert time.monotonic() - start < 2.5
    assert q.get(timeout=0) == "x"
    assert q.empty()


def test_exception_hierarchy() -> None:
    assert issubclass(si.QueueError, RuntimeError)
    assert issubclass(si.QueueEmpty, si.QueueError)
    assert issubclass(si.QueueEmpty, queue.Empty)
    assert issubclass(si.QueueFull, si.QueueError)
    assert issubclass(si.QueueFull, queue.Full)
    assert issubclass(si.QueueClosedError, si.QueueError)
    assert not issubclass(si.QueueClosedError, (queue.Empty, queue.Full))


def test_timeouts_raise_queue_empty_and_full_not_timeout_error() -> None:
    q = si.create_queue(1)
    with pytest.raises(si.QueueEmpty) as empty:
        q.get(timeout=0.01)
    assert not isinstance(empty.value, TimeoutError)
    q.put(1)
    with pytest.raises(si.QueueFull) as full:
        q.put(2, timeout=0.01)
    assert not isinstance(full.value, TimeoutError)


def test_put_and_get_accept_arguments_like_queue_queue(q) -> None:
    q.put("a", True, None)
    q.put("b", True, 1.5)
    q.put("c", block=True, timeout=1)
    assert q.get(True, None) == "a"
    assert q.get(True, 1.5) == "b"
    assert q.get(block=True, timeout=1) == "c"


def test_put_object_is_positional_only(q) -> None:
    with pytest.raises(TypeError):
        q.put(obj=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        q.put_nowait(obj=1)  # type: ignore[call-arg]
    assert q.empty()


def test_objects_come_back_equal_and_with_their_types(q) -> None:
    items = [
        None,
        True,
        False,
        0,
        -1,
        2**200,
        1.5,
        -0.0,
        "text",
        "\ud800",
        b"\x00bytes",
        (1, ("a",)),
    ]
    for item in items:
        q.put(item)
    got = drain(q)
    assert got == items
    assert [type(x) for x in got] == [type(x) for x in items]
    assert math.copysign(1.0, got[7]) == -1.0


def test_get_blocks_until_put_from_another_thread(q, spawn) -> None:
    task = spawn(q.get)
    time.sleep(SETTLE)
    assert not task.done
    q.put("wake")
    assert task.result() == "wake"
    assert q.empty()


def test_put_blocks_on_full_queue_until_get_from_another_thread(spawn) -> None:
    q = si.create_queue(1)
    q.put("first")
    task = spawn(q.put, "second")
    time.sleep(SETTLE)
    assert not task.done
    assert q.qsize() == 1
    assert q.get() == "first"
    task.result()
    assert q.get(timeout=10) == "second"


def test_each_blocked_getter_gets_exactly_one_item(q, spawn) -> None:
    tasks = [spawn(q.get, timeout=10) for _ in range(4)]
    time.sleep(SETTLE)
    for i in range(4):
        q.put(i)
    assert sorted(t.result() for t in tasks) == [0, 1, 2, 3]
    assert q.empty()


def test_mixed_get_and_get_many_waiters_each_get_one_put(q, spawn) -> None:
    # No wake-up is lost or given twice when several kinds of waiter wait on one queue.
    getters = [spawn(q.get, timeout=10) for _ in range(3)]
    many = [spawn(q.get_many, 1, timeout=10) for _ in range(3)]
    time.sleep(SETTLE)
    for i in range(6):
        q.put(i)
    got = [t.result() for t in getters] + [x for t in many for x in t.result()]
    assert sorted(got) == list(range(6))
    assert q.empty()


def test_blocked_get_in_main_woken_by_put_in_subinterpreter(q, shared_interp, spawn) -> None:
    task = spawn(q.get, timeout=10)
    time.sleep(SETTLE)
    assert not task.done
    evaluate(shared_interp, "None", "q.put(('from sub', 1))", q=q)
    assert task.result() == ("from sub", 1)


def test_blocked_get_in_subinterpreter_woken_by_put_in_main(q, shared_interp, spawn) -> None:
    task = spawn(evaluate, shared_interp, "q.get(timeout=10)", q=q)
    time.sleep(SETTLE)
    assert not task.done
    q.put("from main")
    assert task.result() == "from main"


def test_blocked_put_in_subinterpreter_woken_by_get_in_main(shared_interp, spawn) -> None:
    q = si.create_queue(1)
    q.put("first")
    task = spawn(evaluate, shared_interp, "q.qsize()", "q.put('second', timeout=10)", q=q)
    time.sleep(SETTLE)
    assert not task.done
    assert q.get() == "first"
    assert task.result() in (0, 1)
    assert q.get(timeout=10) == "second"


def test_queue_is_usable_from_a_legacy_interpreter(q, legacy_interp) -> None:
    q.put("to legacy")
    assert evaluate(legacy_interp, "x", "x = q.get_nowait()\nq.put(x + '!')", q=q) == "to legacy"
    assert q.get_nowait() == "to legacy!"


# --- queue.Queue compatibility --------------------------------------------------------------------


def _classic_producer_consumer(q, n: int) -> list[object]:
    """Code written for queue.Queue only (no subinterpreters names)."""
    results = []

    def producer() -> None:
        for i in range(n):
            while True:
                try:
                    q.put(i, block=True, timeout=0.05)
                    break
                except queue.Full:
                    continue
        q.put(None)

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    while True:
        try:
            item = q.get(timeout=0.05)
        except queue.Empty:
            continue
        if item is None:
            break
        results.append(item)
    t.join(10)
    assert not t.is_alive()
    # Non-blocking forms and the size methods, as queue.Queue has them.
    try:
        q.get_nowait()
    except queue.Empty:
        results.append("empty")
    assert q.empty() and q.qsize() == 0 and not q.full()
    if q.maxsize > 0:
        for i in range(q.maxsize):
            q.put_nowait(i)
        assert q.full()
        try:
            q.put_nowait("overflow")
        except queue.Full:
            results.append("full")
        for _ in range(q.maxsize):
            q.get_nowait()
    return results


@pytest.mark.parametrize("maxsize", [0, 3])
def test_code_written_for_queue_queue_works_unchanged(maxsize) -> None:
    expected = _classic_producer_consumer(queue.Queue(maxsize), 300)
    got = _classic_producer_consumer(si.create_queue(maxsize), 300)
    assert got == expected
    assert got[-1] == ("full" if maxsize else "empty")


def test_queue_empty_and_full_caught_by_stdlib_names_inside_subinterpreter(shared_interp) -> None:
    q = si.create_queue(1)
    setup = """
        import queue
        caught = []
        try:
            q.get_nowait()
        except queue.Empty:
            caught.append("empty")
        q.put_nowait(1)
        try:
            q.put(2, timeout=0.01)
        except queue.Full:
            caught.append("full")
        """
    assert evaluate(shared_interp, "tuple(caught)", setup, q=q) == ("empty", "full")
    assert q.get_nowait() == 1


# --- timeouts -------------------------------------------------------------------------------------


def test_get_float_timeout_is_honoured(q) -> None:
    start = time.monotonic()
    with pytest.raises(si.QueueEmpty):
        q.get(timeout=0.25)
    elapsed = time.monotonic() - start
    # Neither truncated to whole seconds (0 or 1) nor ignored (generous upper bound).
    assert 0.24 <= elapsed < 0.95, elapsed


def test_put_float_timeout_is_honoured() -> None:
    q = si.create_queue(1)
    q.put(0)
    start = time.monotonic()
    with pytest.raises(si.QueueFull):
        q.put(1, timeout=0.25)
    elapsed = time.monotonic() - start
    assert 0.24 <= elapsed < 0.95, elapsed
    assert drain(q) == [0]


def test_float_timeouts_honoured_in_a_non_main_thread(spawn) -> None:
    # Outside the main thread the wait is one park until the deadline (no signal slices).
    q = si.create_queue(1)

    def timed(call) -> float:
        start = time.monotonic()
        try:
            call()
        except (si.QueueEmpty, si.QueueFull):
            return time.monotonic() - start
        raise AssertionError("did not time out")

    got_wait = spawn(timed, lambda: q.get(timeout=0.25)).result()
    q.put(0)
    put_wait = spawn(timed, lambda: q.put(1, timeout=0.25)).result()
    for elapsed in (got_wait, put_wait):
        assert 0.24 <= elapsed < 0.95, elapsed
    assert drain(q) == [0]


def test_short_float_timeout_is_not_rounded_up_to_a_second(q) -> None:
    start = time.monotonic()
    with pytest.raises(si.QueueEmpty):
        q.get(timeout=0.05)
    elapsed = time.monotonic() - start
    assert 0.049 <= elapsed < 0.6, elapsed


def test_get_many_float_timeout_is_honoured(q) -> None:
    start = time.monotonic()
    with pytest.raises(si.QueueEmpty):
        q.get_many(5, timeout=0.25)
    elapsed = time.monotonic() - start
    assert 0.24 <= elapsed < 0.95, elapsed


def test_get_timeout_in_subinterpreter_is_honoured(q, shared_interp) -> None:
    setup = """
        import time, queue
        start = time.monotonic()
        try:
            q.get(timeout=0.25)
        except queue.Empty:
            outcome = "empty"
        else:
            outcome = "got"
        elapsed = time.monotonic() - start
        """
    outcome, elapsed = evaluate(shared_interp, "(outcome, elapsed)", setup, q=q)
    assert outcome == "empty"
    assert 0.24 <= elapsed < 0.95, elapsed


BAD_TIMEOUTS = [
    (-1, ValueError),
    (-0.001, ValueError),
    (float("nan"), ValueError),
    (float("-inf"), ValueError),
    ("1", TypeError),
    ([1], TypeError),
]


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS)
def test_invalid_timeouts_are_rejected(timeout, error) -> None:
    q = si.create_queue(1)
    with pytest.raises(error):
        q.get(timeout=timeout)
    with pytest.raises(error):
        q.get_many(1, timeout=timeout)
    with pytest.raises(error):
        q.put("x", timeout=timeout)
    assert q.empty()
    with pytest.raises(error):
        q.put_many(["x"], timeout=timeout)
    assert q.empty()


def test_invalid_timeout_rejected_even_when_an_item_is_ready(q) -> None:
    q.put("ready")
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(ValueError):
        q.get(timeout=float("nan"))
    assert q.get_nowait() == "ready"


def test_infinite_timeout_waits_like_none(q, spawn) -> None:
    task = spawn(q.get, timeout=float("inf"))
    time.sleep(SETTLE)
    assert not task.done
    q.put("x")
    assert task.result() == "x"


def test_integer_timeout_accepted(q) -> None:
    q.put(1)
    assert q.get(timeout=1) == 1


# --- put_many / get_many --------------------------------------------------------------------------


def test_put_many_puts_all_in_order_and_returns_count(q) -> None:
    assert q.put_many([1, 2, 3]) == 3
    assert q.put_many(x for x in ("a", "b")) == 2
    assert q.put_many(range(3)) == 3
    assert q.put_many([]) == 0
    assert drain(q) == [1, 2, 3, "a", "b", 0, 1, 2]


def test_put_many_requires_an_iterable(q) -> None:
    with pytest.raises(TypeError):
        q.put_many(5)  # type: ignore[arg-type]
    assert q.empty()


def test_put_many_items_is_positional_only(q) -> None:
    with pytest.raises(TypeError):
        q.put_many(items=[1])  # type: ignore[call-arg]
    assert q.empty()


def test_put_many_puts_nothing_when_the_iterable_fails_midway(q) -> None:
    def items():
        yield 1
        yield 2
        raise LookupError("broken iterable")

    with pytest.raises(LookupError):
        q.put_many(items())
    assert q.empty()


def test_put_many_nonblocking_puts_as_many_as_fit() -> None:
    q = si.create_queue(3)
    q.put("old")
    assert q.put_many(["a", "b", "c", "d"], block=False) == 2
    assert q.full()
    # Never QueueFull: a full queue just takes nothing.
    assert q.put_many(["e"], block=False) == 0
    assert q.put_many(["e"], timeout=0) == 0
    assert drain(q) == ["old", "a", "b"]


def test_put_many_with_timeout_puts_what_fits_then_returns_count() -> None:
    q = si.create_queue(2)
    start = time.monotonic()
    assert q.put_many([1, 2, 3, 4, 5], timeout=0.25) == 2
    elapsed = time.monotonic() - start
    assert 0.24 <= elapsed < 0.95, elapsed
    assert drain(q) == [1, 2]


def test_put_many_blocks_for_room_like_put(spawn) -> None:
    q = si.create_queue(2)
    task = spawn(q.put_many, range(10))
    got = [q.get(timeout=10) for _ in range(10)]
    assert task.result() == 10
    assert got == list(range(10))
    assert q.empty()


def test_put_many_blocked_in_subinterpreter_completes_as_main_gets(shared_interp, spawn) -> None:
    q = si.create_queue(3)
    task = spawn(evaluate, shared_interp, "q.put_many(range(50))", q=q)
    got = [q.get(timeout=10) for _ in range(50)]
    assert task.result() == 50
    assert got == list(range(50))


def test_put_many_on_closed_queue_raises(q) -> None:
    q.close()
    with pytest.raises(si.QueueClosedError):
        q.put_many([1, 2])
    with pytest.raises(si.QueueClosedError):
        q.put_many([1], block=False)


def test_put_many_closed_midway_returns_count_so_far(spawn) -> None:
    q = si.create_queue(2)
    q.put("old")
    task = spawn(q.put_many, ["a", "b", "c"])
    time.sleep(SETTLE)
    assert not task.done
    q.close()
    assert task.result() == 1  # "a" fitted; the rest was refused when the queue closed
    assert q.get_nowait() == "old"
    assert q.get_nowait() == "a"
    with pytest.raises(si.QueueClosedError):
        q.get_nowait()


def test_put_many_blocked_with_nothing_put_raises_closed_on_close(spawn) -> None:
    # Closed before anything was put: QueueClosedError (not a count of 0).
    q = si.create_queue(1)
    q.put("old")
    task = spawn(q.put_many, ["a", "b"])
    time.sleep(SETTLE)
    assert not task.done
    q.close()
    assert isinstance(task.exception(), si.QueueClosedError)
    assert drain(q, stop=si.QueueClosedError) == ["old"]


def test_get_many_returns_up_to_max_items_oldest_first(q) -> None:
    q.put_many(range(10))
    first = q.get_many(4)
    assert type(first) is list
    assert first == [0, 1, 2, 3]
    assert q.get_many(100) == [4, 5, 6, 7, 8, 9]
    assert q.empty()


def test_get_many_does_not_wait_for_max_items(q) -> None:
    q.put_many(["a", "b"])
    start = time.monotonic()
    assert q.get_many(10, timeout=5) == ["a", "b"]
    assert time.monotonic() - start < 2.5


def test_get_many_waits_for_at_least_one_item(q, spawn) -> None:
    task = spawn(q.get_many, 5)
    time.sleep(SETTLE)
    assert not task.done
    q.put("first")
    got = task.result()
    assert got[0] == "first" and 1 <= len(got) <= 5


def test_get_many_woken_by_put_many_from_subinterpreter(q, shared_interp, spawn) -> None:
    task = spawn(q.get_many, 100, timeout=10)
    time.sleep(SETTLE)
    evaluate(shared_interp, "None", "q.put_many(range(20))", q=q)
    got = task.result()
    assert got == list(range(len(got))) and len(got) >= 1
    assert got + drain(q) == list(range(20))


def test_get_many_timeout_zero_tries_once(q) -> None:
    with pytest.raises(si.QueueEmpty):
        q.get_many(3, timeout=0)
    q.put(1)
    assert q.get_many(3, timeout=0) == [1]


@pytest.mark.parametrize("bad", [0, -1])
def test_get_many_max_items_must_be_at_least_one(q, bad) -> None:
    q.put("kept")
    with pytest.raises(ValueError):
        q.get_many(bad)
    assert q.get_nowait() == "kept"


def test_get_many_frees_room_for_blocked_putter(spawn) -> None:
    q = si.create_queue(2)
    q.put_many([1, 2])
    task = spawn(q.put, 3)
    time.sleep(SETTLE)
    assert not task.done
    assert q.get_many(2) == [1, 2]
    task.result()
    assert q.get_nowait() == 3


def test_get_many_wakes_as_many_blocked_putters_as_it_frees_room_for(spawn) -> None:
    q = si.create_queue(3)
    q.put_many(["a", "b", "c"])
    putters = [spawn(q.put, i, timeout=10) for i in range(3)]
    time.sleep(SETTLE)
    assert not any(t.done for t in putters)
    assert q.get_many(3) == ["a", "b", "c"]
    for t in putters:
        t.result()  # every putter got room without any further get
    assert sorted(drain(q)) == [0, 1, 2]


def test_get_many_on_closed_queue_drains_then_raises(q) -> None:
    q.put_many([1, 2, 3])
    q.close()
    assert q.get_many(2) == [1, 2]
    assert q.get_many(2) == [3]
    with pytest.raises(si.QueueClosedError):
        q.get_many(2)
    with pytest.raises(si.QueueClosedError):
        q.get_many(2, timeout=0)


def test_blocked_get_many_woken_by_close(q, spawn) -> None:
    task = spawn(q.get_many, 3)
    time.sleep(SETTLE)
    q.close()
    assert isinstance(task.exception(), si.QueueClosedError)


# --- close ----------------------------------------------------------------------------------------


def test_close_refuses_later_puts(q) -> None:
    q.close()
    assert q.is_closed is True
    with pytest.raises(si.QueueClosedError):
        q.put(1)
    with pytest.raises(si.QueueClosedError):
        q.put_nowait(1)
    with pytest.raises(si.QueueClosedError):
        q.put(1, timeout=0.1)
    with pytest.raises(si.QueueClosedError):
        q.put(1, block=False)
    assert q.qsize() == 0


def test_close_refuses_puts_on_a_full_queue_with_closed_not_full() -> None:
    q = si.create_queue(1)
    q.put(1)
    q.close()
    with pytest.raises(si.QueueClosedError):
        q.put_nowait(2)


def test_gets_drain_then_raise_closed(q) -> None:
    q.put_many(["a", "b", "c"])
    q.close()
    assert q.qsize() == 3
    assert q.get() == "a"
    assert q.get_nowait() == "b"
    assert q.get(timeout=1) == "c"
    for call in (q.get, q.get_nowait, lambda: q.get(timeout=5), lambda: q.get(block=False)):
        start = time.monotonic()
        with pytest.raises(si.QueueClosedError):
            call()
        assert time.monotonic() - start < 2.5  # at once, not after the timeout
    assert q.empty()


def test_closed_and_drained_get_is_not_queue_empty(q) -> None:
    q.close()
    with pytest.raises(si.QueueClosedError) as info:
        q.get_nowait()
    assert not isinstance(info.value, queue.Empty)


def test_close_is_idempotent(q) -> None:
    q.put(1)
    q.close()
    q.close()
    assert q.is_closed
    assert q.get_nowait() == 1


def test_close_through_another_handle_and_interpreter(q, shared_interp) -> None:
    q.put("left")
    evaluate(shared_interp, "q.is_closed", "q.close()", q=q)
    assert q.is_closed
    with pytest.raises(si.QueueClosedError):
        q.put(1)
    assert q.get_nowait() == "left"


def test_close_wakes_blocked_getters(q, spawn) -> None:
    tasks = [spawn(q.get) for _ in range(3)]
    tasks.append(spawn(q.get, timeout=30))
    time.sleep(SETTLE)
    assert not any(t.done for t in tasks)
    start = time.monotonic()
    q.close()
    for t in tasks:
        assert isinstance(t.exception(), si.QueueClosedError)
    assert time.monotonic() - start < 5  # at once, not after the 30 s timeout


def test_close_wakes_blocked_putters_and_their_objects_are_not_queued(spawn) -> None:
    q = si.create_queue(1)
    q.put("queued before close")
    tasks = [spawn(q.put, f"blocked {i}") for i in range(2)]
    tasks.append(spawn(q.put, "blocked timed", timeout=30))
    time.sleep(SETTLE)
    assert not any(t.done for t in tasks)
    q.close()
    for t in tasks:
        assert isinstance(t.exception(), si.QueueClosedError)
    assert q.get_nowait() == "queued before close"
    with pytest.raises(si.QueueClosedError):
        q.get_nowait()


def test_close_wakes_getter_blocked_in_subinterpreter(q, interp, spawn) -> None:
    setup = """
        import subinterpreters as si
        try:
            q.get()
            outcome = "got"
        except si.QueueClosedError:
            outcome = "closed"
        """
    task = spawn(evaluate, interp, "outcome", setup, q=q)
    time.sleep(SETTLE)
    assert not task.done
    q.close()
    assert task.result() == "closed"


def test_close_wakes_putter_blocked_in_subinterpreter(interp, spawn) -> None:
    q = si.create_queue(1)
    q.put("first")
    setup = """
        import subinterpreters as si
        try:
            q.put("second")
            outcome = "put"
        except si.QueueClosedError:
            outcome = "closed"
        """
    task = spawn(evaluate, interp, "outcome", setup, q=q)
    time.sleep(SETTLE)
    assert not task.done
    q.close()
    assert task.result() == "closed"
    assert drain(q, stop=si.QueueClosedError) == ["first"]


def test_close_in_subinterpreter_wakes_getter_blocked_in_main(q, interp, spawn) -> None:
    task = spawn(q.get)
    time.sleep(SETTLE)
    interp.run("q.close()\ndel q", q=q)
    assert isinstance(task.exception(), si.QueueClosedError)


# --- iteration ------------------------------------------------------------------------------------


def test_iter_returns_self(q) -> None:
    assert iter(q) is q


def test_for_loop_ends_at_close(q, spawn) -> None:
    def produce() -> None:
        for i in range(10):
            q.put(i)
            if i == 4:
                time.sleep(SETTLE)  # the consumer is now blocked in the loop
        q.close()

    task = spawn(produce)
    got = [x for x in q]
    task.result()
    assert got == list(range(10))


def test_for_loop_drains_queue_closed_beforehand(q) -> None:
    q.put_many(["a", "b"])
    q.close()
    assert list(q) == ["a", "b"]
    with pytest.raises(StopIteration):
        next(q)


def test_next_on_open_queue_gets_and_blocks(q, spawn) -> None:
    q.put("x")
    assert next(q) == "x"
    task = spawn(next, q)
    time.sleep(SETTLE)
    assert not task.done
    q.put("y")
    assert task.result() == "y"


def test_for_loop_in_subinterpreter_ends_at_close(q, shared_interp, spawn) -> None:
    task = spawn(evaluate, shared_interp, "tuple(q)", q=q)
    for i in range(5):
        q.put(i)
    time.sleep(SETTLE)
    q.close()
    assert task.result() == (0, 1, 2, 3, 4)


# --- sharing --------------------------------------------------------------------------------------


def test_queues_are_shareable(q) -> None:
    assert si.is_shareable(q)
    assert si.is_shareable((q, (q, 1)))


def test_queue_shared_via_run_is_the_same_queue(q, shared_interp) -> None:
    q.put("from main")
    got = evaluate(shared_interp, "(q.id, q, q.get_nowait(), q.maxsize)", "q.put('from sub')", q=q)
    assert got == (q.id, q, "from main", 0)
    assert q.get_nowait() == "from sub"


def test_queue_sent_through_a_channel_is_the_same_queue(q, channel, shared_interp) -> None:
    recv, send = channel
    send.send_nowait(q)
    q.put(1)
    setup = """
        got = r.recv_nowait()
        first = got.get_nowait()
        got.put(2)
        ident = got.id
        del got
        """
    assert evaluate(shared_interp, "(ident, first)", setup, r=recv) == (q.id, 1)
    assert q.get_nowait() == 2


def test_queue_put_into_another_queue_is_the_same_queue(q, shared_interp) -> None:
    carrier = si.create_queue()
    carrier.put(q)
    carrier.put((q, "tagged"))
    q.put("inside")
    setup = """
        a = c.get_nowait()
        b, tag = c.get_nowait()
        item = a.get_nowait()
        b.put("back")
        result = (a.id, b.id, a == b, tag, item)
        del a, b
        """
    got = evaluate(shared_interp, "result", setup, c=carrier)
    assert got == (q.id, q.id, True, "tagged", "inside")
    assert q.get_nowait() == "back"


def test_queue_put_into_itself_through_main_round_trip(q) -> None:
    q.put(q)
    again = q.get_nowait()
    assert again == q and again.id == q.id
    again.put("via copy")
    assert q.get_nowait() == "via copy"


def test_strict_queue_carries_queues(q) -> None:
    carrier = si.create_queue(strict=True)
    carrier.put(q)
    assert carrier.get_nowait() == q


def test_properties_seen_from_subinterpreter(shared_interp) -> None:
    q = si.create_queue(4, strict=True)
    q.put(1)
    got = evaluate(shared_interp, "(q.maxsize, q.strict, q.qsize(), q.is_closed, repr(q))", q=q)
    assert got == (4, True, 1, False, repr(q))


# --- list_all_queues and freeing ------------------------------------------------------------------


def test_list_all_queues_lists_live_queues() -> None:
    a, b = si.create_queue(), si.create_queue(2)
    listed = si.list_all_queues()
    assert type(listed) is list
    assert all(type(x) is si.Queue for x in listed)
    assert a in listed and b in listed
    assert len(listed) == len(set(listed))


def test_list_all_queues_entries_refer_to_the_queue() -> None:
    q = si.create_queue()
    listed = next(x for x in si.list_all_queues() if x.id == q.id)
    listed.put("through listing")
    assert q.get_nowait() == "through listing"


def test_closed_queue_with_a_handle_stays_listed_until_freed() -> None:
    # Listing follows handles, not the open/closed state.
    q = si.create_queue()
    ident = q.id
    q.close()
    assert ident in listed_queue_ids()
    del q
    gc.collect()
    assert ident not in listed_queue_ids()


def test_list_all_queues_seen_from_subinterpreter(q, shared_interp) -> None:
    got = evaluate(
        shared_interp,
        "ident in [x.id for x in si.list_all_queues()]",
        "import subinterpreters as si",
        ident=q.id,
    )
    assert got is True


def test_queue_freed_when_last_handle_dropped() -> None:
    q = si.create_queue()
    ident = q.id
    q.put("dropped with the queue")
    assert ident in listed_queue_ids()
    del q
    gc.collect()
    assert ident not in listed_queue_ids()


def test_one_handle_among_several_keeps_the_queue(q) -> None:
    carrier = si.create_queue()
    carrier.put(q)
    copy = carrier.get_nowait()
    del copy
    gc.collect()
    assert q.id in listed_queue_ids()
    q.put(1)
    assert q.get_nowait() == 1


def test_queue_in_flight_counts_as_a_handle() -> None:
    carrier = si.create_queue()
    q = si.create_queue()
    ident = q.id
    q.put("kept")
    carrier.put(q)
    del q
    gc.collect()
    assert ident in listed_queue_ids()
    revived = carrier.get_nowait()
    assert revived.get_nowait() == "kept"
    del revived
    gc.collect()
    assert ident not in listed_queue_ids()


def test_queue_in_flight_in_a_channel_counts_as_a_handle(channel) -> None:
    recv, send = channel
    q = si.create_queue()
    ident = q.id
    send.send_nowait(q)
    del q
    gc.collect()
    assert ident in listed_queue_ids()
    revived = recv.recv_nowait()
    assert revived.id == ident
    del revived
    gc.collect()
    assert ident not in listed_queue_ids()


def test_items_are_dropped_when_the_queue_is_freed() -> None:
    # The only handle of a channel's send end sits in the queue: freeing the queue drops it, which
    # closes that end (observable from the receive end).
    q = si.create_queue()
    inner_r, inner_s = si.create_channel()
    q.put(inner_s)
    del inner_s
    gc.collect()
    assert not inner_r.is_closed
    del q
    gc.collect()
    assert inner_r.is_closed
    inner_r.close()


def test_carrier_queue_freed_frees_queues_inside_it() -> None:
    carrier = si.create_queue()
    inner = si.create_queue()
    ident = inner.id
    carrier.put(inner)
    del inner
    gc.collect()
    assert ident in listed_queue_ids()
    del carrier
    gc.collect()
    assert ident not in listed_queue_ids()


def test_handle_in_subinterpreter_keeps_queue_until_deleted_there(interp) -> None:
    q = si.create_queue()
    ident = q.id
    interp.prepare_main(q=q)
    del q
    gc.collect()
    assert ident in listed_queue_ids()
    assert evaluate(interp, "q.id") == ident  # still usable there
    interp.exec("del q")
    assert ident not in listed_queue_ids()


def test_queue_freed_when_interpreter_holding_last_handle_is_closed() -> None:
    q = si.create_queue()
    ident = q.id
    holder = si.create()
    try:
        holder.prepare_main(q=q)
        holder.exec("q.put('held'); keep = [q, q]")
        del q
        gc.collect()
        assert ident in listed_queue_ids()
    finally:
        holder.close()
    assert ident not in listed_queue_ids()


def test_queue_freed_when_legacy_interpreter_holding_last_handle_is_closed() -> None:
    q = si.create_queue()
    ident = q.id
    holder = si.create(isolated=False)
    try:
        holder.prepare_main(q=q)
        del q
        gc.collect()
        assert ident in listed_queue_ids()
    finally:
        holder.close()
    assert ident not in listed_queue_ids()


def test_queue_created_in_subinterpreter_outlives_it_if_main_holds_a_handle() -> None:
    out = si.create_queue()
    with si.create() as maker:
        maker.run(
            "import subinterpreters as si\nq = si.create_queue(3)\nq.put('made in sub')\nout.put(q)",
            out=out,
        )
    q = out.get_nowait()
    assert q.maxsize == 3
    assert q.id in listed_queue_ids()
    assert q.get_nowait() == "made in sub"


def test_queue_created_in_subinterpreter_is_freed_with_it() -> None:
    ids = si.create_queue()
    with si.create() as maker:
        maker.run("import subinterpreters as si\nq = si.create_queue()\nids.put(q.id)", ids=ids)
        ident = ids.get_nowait()
        assert ident in listed_queue_ids()
    assert ident not in listed_queue_ids()


# --- blocking: wakes by its peer, never spins, releases the GIL -----------------------------------


def test_blocked_get_releases_the_gil(q, spawn) -> None:
    # While a thread is blocked in get(), this thread keeps running Python code.
    task = spawn(q.get, timeout=10)
    time.sleep(SETTLE)
    deadline = time.monotonic() + 0.3
    loops = 0
    while time.monotonic() < deadline:
        loops += 1
    assert not task.done
    assert loops > 1000
    q.put("done")
    assert task.result() == "done"


def test_idle_blocked_get_does_not_spin(q, spawn) -> None:
    task = spawn(q.get, timeout=30)
    time.sleep(SETTLE)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(0.6)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    q.put("done")
    assert task.result() == "done"
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


def test_idle_blocked_put_in_main_thread_does_not_spin() -> None:
    q = si.create_queue(1)
    q.put(0)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    with pytest.raises(si.QueueFull):
        q.put(1, timeout=0.6)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


PING_PONG = "for _ in range(n):\n    back.put(to_peer.get(timeout=10))\n"


@pytest.mark.parametrize("peer", ["thread", "subinterpreter"])
def test_blocked_getter_is_woken_by_its_peer_not_by_a_timer(peer, spawn, shared_interp) -> None:
    # A getter woken by polling on a timer (CPython's queue sleeps 10 ms per loop) makes each round
    # trip cost about one polling period; one woken directly by the put costs microseconds. The
    # bound is far below one 10 ms polling period per round trip.
    n = 200
    to_peer, back = si.create_queue(), si.create_queue()
    if peer == "thread":
        task = spawn(lambda: [back.put(to_peer.get(timeout=10)) for _ in range(n)])
    else:
        task = spawn(evaluate, shared_interp, "None", PING_PONG, to_peer=to_peer, back=back, n=n)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        to_peer.put(i)
        assert back.get(timeout=10) == i
        samples.append(time.perf_counter() - start)
    task.result()
    samples.sort()
    median = samples[n // 2]
    assert median < 0.004, f"median round trip {median:.4f} s"


# --- exactly-once delivery across interpreters ----------------------------------------------------


PRODUCER = """
for k, start in enumerate(range(0, n, 5)):
    block = [(pid, i) for i in range(start, min(start + 5, n))]
    if k % 3 == 0:
        for item in block:
            q.put(item)
    elif k % 3 == 1:
        for item in block:
            q.put(item, timeout=30)
    else:
        assert q.put_many(block) == len(block)
"""

CONSUMER = """
import subinterpreters as si
got = []
k = 0
while True:
    k += 1
    try:
        if k % 2:
            got.append(q.get(timeout=30))
        else:
            got.extend(q.get_many(7, timeout=30))
    except si.QueueClosedError:
        break
out.put(tuple(got))
del got
"""


def _check_exactly_once(chunks: list[tuple], producers: int, n: int) -> None:
    everything = [item for chunk in chunks for item in chunk]
    counts = collections.Counter(everything)
    duplicates = [item for item, c in counts.items() if c > 1]
    expected = {(p, i) for p in range(producers) for i in range(n)}
    assert not duplicates, f"delivered more than once: {duplicates[:10]}"
    missing = expected - set(counts)
    assert not missing, f"lost: {sorted(missing)[:10]} ({len(missing)} in all)"
    assert set(counts) == expected
    # FIFO: each consumer sees each producer's items in the order they were put.
    for chunk in chunks:
        for p in range(producers):
            seq = [i for (pp, i) in chunk if pp == p]
            assert seq == sorted(seq), f"producer {p}'s items out of order for one consumer"


def test_exactly_once_with_several_producers_and_consumers_in_several_interpreters(spawn) -> None:
    producers, consumers, n = 3, 3, 1500
    q = si.create_queue(16)  # bounded: producers block for room, consumers for items
    out = si.create_queue()
    interps = [si.create() for _ in range(producers + consumers)]
    try:
        consumer_tasks = [spawn(interps[producers + c].run, CONSUMER, q=q, out=out) for c in range(consumers)]
        producer_tasks = [spawn(interps[p].run, PRODUCER, q=q, pid=p, n=n) for p in range(producers)]
        # The main interpreter consumes too, in this thread.
        main_got = []
        deadline = time.monotonic() + 60
        while not all(t.done for t in producer_tasks) and time.monotonic() < deadline:
            try:
                main_got.extend(q.get_many(4, timeout=0.01))
            except si.QueueEmpty:
                pass
        for t in producer_tasks:
            t.result(timeout=30)
        q.close()
        for t in consumer_tasks:
            t.result(timeout=30)
        chunks = [out.get(timeout=10) for _ in range(consumers)] + [tuple(main_got)]
    finally:
        q.close()
        for interp in interps:
            interp.close()
    _check_exactly_once(chunks, producers, n)
    assert sum(map(len, chunks)) == producers * n


def test_exactly_once_with_threads_in_one_interpreter(spawn) -> None:
    producers, consumers, n = 4, 4, 2000
    q = si.create_queue(8)

    def produce(p: int) -> None:
        for i in range(n):
            q.put((p, i))

    def consume() -> tuple:
        got = []
        for item in q:
            got.append(item)
        return tuple(got)

    cons = [spawn(consume) for _ in range(consumers)]
    prods = [spawn(produce, p) for p in range(producers)]
    for t in prods:
        t.result(timeout=30)
    q.close()
    chunks = [t.result(timeout=30) for t in cons]
    _check_exactly_once(chunks, producers, n)
