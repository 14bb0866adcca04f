"""select() (issue 3): receive cases (RecvChannel, Queue) and send cases ((SendChannel or Queue,
obj)), the (index, value) result, exactly one case completing, uniform random choice among ready
cases, default, timeout (nothing sent, nothing taken), CLOSED for closed-and-drained receive cases,
closed errors for send cases, wake-ups by peers in other threads and interpreters, waiting without
polling, and argument errors (no case, bad case, bad timeout, NotShareableError, nothing sent)."""

from __future__ import annotations

import collections
import time

import pytest

import subinterpreters as si
from helpers import drain, drain_channel, evaluate

SETTLE = 0.2


@pytest.fixture
def channel2():
    recv, send = si.create_channel()
    yield recv, send
    recv.close()
    send.close()


# --- receive cases --------------------------------------------------------------------------------


def test_receive_case_on_channel(channel) -> None:
    recv, send = channel
    send.send_nowait("hello")
    result = si.select([recv])
    assert type(result) is tuple
    assert result == (0, "hello")
    assert drain_channel(recv) == []


def test_receive_case_on_queue() -> None:
    q = si.create_queue()
    q.put(("item", 1))
    assert si.select([q]) == (0, ("item", 1))
    assert q.empty()


def test_receive_case_takes_from_a_blocked_channel_sender(channel, spawn) -> None:
    recv, send = channel
    task = spawn(send.send, "rendezvous", timeout=10)
    time.sleep(SETTLE)
    assert si.select([recv], timeout=10) == (0, "rendezvous")
    task.result()


def test_index_refers_to_position_among_mixed_cases(channel, channel2) -> None:
    r1, s1 = channel
    r2, s2 = channel2
    empty_q, ready_q = si.create_queue(), si.create_queue()
    ready_q.put("from queue")
    assert si.select([r1, empty_q, r2, ready_q]) == (3, "from queue")
    s2.send_nowait("from channel")
    assert si.select([r1, empty_q, r2, ready_q]) == (2, "from channel")


def test_receive_case_on_queue_returns_fifo_order() -> None:
    q = si.create_queue()
    q.put_many(range(5))
    assert [si.select([q])[1] for _ in range(5)] == list(range(5))


def test_receive_case_gets_pickled_objects_from_queue() -> None:
    q = si.create_queue()
    q.put({"a": [1, 2]})
    assert si.select([q]) == (0, {"a": [1, 2]})


def test_cases_may_be_any_iterable(channel) -> None:
    recv, send = channel
    q = si.create_queue()
    q.put(1)
    assert si.select((recv, q)) == (1, 1)
    q.put(2)
    assert si.select(c for c in [recv, q]) == (1, 2)
    q.put(3)
    assert si.select(iter([q])) == (0, 3)


# --- send cases -----------------------------------------------------------------------------------


def test_put_case_on_queue() -> None:
    q = si.create_queue()
    assert si.select([(q, "put by select")]) == (0, None)
    assert q.get_nowait() == "put by select"


def test_put_case_on_queue_pickles_unless_strict() -> None:
    q = si.create_queue()
    assert si.select([(q, ["a", "list"])]) == (0, None)
    assert q.get_nowait() == ["a", "list"]


def test_send_case_on_channel_hands_object_to_waiting_receiver(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=10)
    time.sleep(SETTLE)
    assert si.select([(send, "to receiver")], timeout=10) == (0, None)
    assert task.result() == "to receiver"
    assert drain_channel(recv) == []


def test_send_case_on_channel_waits_for_a_receiver(channel, spawn) -> None:
    recv, send = channel
    task = spawn(si.select, [(send, "waiting")], timeout=10)
    time.sleep(SETTLE)
    assert not task.done
    assert recv.recv(timeout=10) == "waiting"
    assert task.result() == (0, None)


def test_put_case_on_full_queue_is_not_ready() -> None:
    q = si.create_queue(1)
    q.put("old")
    assert si.select([(q, "new")], default="none ready") == (None, "none ready")
    with pytest.raises(TimeoutError):
        si.select([(q, "new")], timeout=0.05)
    assert drain(q) == ["old"]


def test_blocked_put_case_completes_when_room_is_made(spawn) -> None:
    q = si.create_queue(1)
    q.put("old")
    task = spawn(si.select, [(q, "new")], timeout=10)
    time.sleep(SETTLE)
    assert not task.done
    assert q.get() == "old"
    assert task.result() == (0, None)
    assert q.get(timeout=10) == "new"


def test_send_case_and_receive_case_together(channel) -> None:
    recv, send = channel
    full = si.create_queue(1)
    full.put("x")
    unbounded = si.create_queue()
    # Only the put on the unbounded queue is ready.
    assert si.select([recv, (full, "no room"), (unbounded, "room")]) == (2, None)
    assert unbounded.get_nowait() == "room"
    assert drain(full) == ["x"]


# --- exactly one case completes -------------------------------------------------------------------


def test_only_one_of_several_ready_receive_cases_is_taken() -> None:
    queues = [si.create_queue() for _ in range(3)]
    for i, q in enumerate(queues):
        q.put(f"item {i}")
    index, value = si.select(queues)
    assert value == f"item {index}"
    for i, q in enumerate(queues):
        assert q.qsize() == (0 if i == index else 1)


def test_only_one_of_ready_send_and_receive_cases_completes() -> None:
    source, target = si.create_queue(), si.create_queue()
    for _ in range(50):
        source.put("in source")
        index, value = si.select([source, (target, "put")])
        if index == 0:
            assert value == "in source" and target.empty()
        else:
            assert value is None and source.get_nowait() == "in source"
            assert target.get_nowait() == "put"
        assert source.empty() and target.empty()


# --- fairness -------------------------------------------------------------------------------------


def test_two_ready_receive_cases_are_chosen_uniformly() -> None:
    n = 2000
    a, b = si.create_queue(), si.create_queue()
    a.put_many(range(n))
    b.put_many(range(n))
    counts = collections.Counter(si.select([a, b])[0] for _ in range(n))
    # Expected 1000 each (binomial sd ~22): 30-70% is a very generous bound.
    assert 0.3 * n <= counts[0] <= 0.7 * n, counts
    assert counts[0] + counts[1] == n


def test_four_ready_cases_of_mixed_kinds_are_all_chosen_fairly(channel) -> None:
    n = 2000
    recv, send = channel
    q1, q2, sink = si.create_queue(), si.create_queue(), si.create_queue()
    q1.put_many(range(n))
    q2.put_many(range(n))
    for i in range(n):
        send.send_nowait(i)
    counts = collections.Counter(si.select([q1, recv, q2, (sink, None)])[0] for _ in range(n))
    # Expected 500 each: at least 15% and at most 35% each.
    for index in range(4):
        assert 0.15 * n <= counts[index] <= 0.35 * n, counts


def test_first_ready_case_does_not_starve_a_later_one(channel) -> None:
    recv, send = channel
    always = si.create_queue()
    always.put_many(range(200))
    for i in range(200):
        send.send_nowait(i)
    picks = [si.select([always, recv])[0] for _ in range(200)]
    assert 1 in picks and 0 in picks


# --- default --------------------------------------------------------------------------------------


def test_default_returned_at_once_when_nothing_is_ready(channel) -> None:
    recv, send = channel
    q = si.create_queue()
    start = time.monotonic()
    assert si.select([recv, q], default="nothing") == (None, "nothing")
    assert time.monotonic() - start < 1.0


def test_default_none_is_a_default(channel) -> None:
    recv, send = channel
    assert si.select([recv], default=None) == (None, None)


def test_default_object_is_returned_as_is(channel) -> None:
    recv, send = channel
    marker = object()
    index, value = si.select([recv], default=marker)
    assert index is None and value is marker


def test_ready_case_wins_over_default(channel) -> None:
    recv, send = channel
    send.send_nowait("ready")
    assert si.select([recv], default="nothing") == (0, "ready")


def test_default_with_unready_send_cases_sends_nothing(channel, spawn) -> None:
    recv, send = channel
    full = si.create_queue(1)
    full.put("old")
    assert si.select([(send, "not sent"), (full, "not put")], default=0) == (None, 0)
    assert drain(full) == ["old"]
    # A receiver arriving afterwards does not get the object.
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0.2)


def test_default_with_no_cases_returns_default() -> None:
    assert si.select([], default="d") == (None, "d")


def test_default_is_keyword_only(channel) -> None:
    recv, send = channel
    with pytest.raises(TypeError):
        si.select([recv], None, "d")  # type: ignore[misc]


def test_cases_are_positional_only(channel) -> None:
    recv, send = channel
    with pytest.raises(TypeError):
        si.select(cases=[recv], default=1)  # type: ignore[call-arg]


# --- timeout --------------------------------------------------------------------------------------


def test_timeout_raises_timeout_error_after_roughly_the_timeout(channel) -> None:
    recv, send = channel
    q = si.create_queue()
    start = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        si.select([recv, q], timeout=0.25)
    elapsed = time.monotonic() - start
    assert type(info.value) is TimeoutError
    assert 0.24 <= elapsed < 0.95, elapsed


def test_timeout_zero_tries_once(channel) -> None:
    recv, send = channel
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        si.select([recv], timeout=0)
    assert time.monotonic() - start < 1.0
    send.send_nowait("ready")
    assert si.select([recv], timeout=0) == (0, "ready")


def test_timeout_sends_nothing_on_a_channel(channel, spawn) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        si.select([(send, "withdrawn")], timeout=0.2)
    # The object is never delivered later, to a non-blocking or a blocking receiver.
    assert recv.recv_nowait("nothing") == "nothing"
    task = spawn(recv.recv, timeout=10)
    time.sleep(SETTLE)
    send.send_nowait("fresh")
    assert task.result() == "fresh"
    assert drain_channel(recv) == []


def test_timeout_leaves_every_case_untouched(channel, channel2) -> None:
    recv, send = channel
    other_recv, other_send = channel2
    full = si.create_queue(2)
    full.put_many(["a", "b"])
    empty = si.create_queue()
    with pytest.raises(TimeoutError):
        si.select([recv, (other_send, "not sent"), empty, (full, "not put")], timeout=0.2)
    assert drain(full) == ["a", "b"]
    assert empty.empty()
    assert other_recv.recv_nowait("nothing") == "nothing"
    # The receive cases left nothing behind: later objects still go to ordinary receivers.
    send.send_nowait("later")
    assert recv.recv_nowait() == "later"
    empty.put("later")
    assert empty.get_nowait() == "later"


def test_timeout_zero_with_unready_send_case_withdraws(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        si.select([(send, "never")], timeout=0)
    assert recv.recv_nowait("nothing") == "nothing"


def test_timed_out_receive_case_does_not_take_a_later_object(channel) -> None:
    recv, send = channel
    q = si.create_queue()
    with pytest.raises(TimeoutError):
        si.select([recv, q], timeout=0.1)
    send.send_nowait("after")
    q.put("after")
    assert recv.recv_nowait() == "after"
    assert q.get_nowait() == "after"


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(-1, ValueError), (-0.5, ValueError), (float("nan"), ValueError), ("1", TypeError)],
)
def test_invalid_timeout(channel, timeout, error) -> None:
    recv, send = channel
    q = si.create_queue()
    with pytest.raises(error):
        si.select([recv, (q, "x")], timeout=timeout)
    assert q.empty()


def test_default_with_timeout_returns_default_at_once(channel) -> None:
    recv, send = channel
    start = time.monotonic()
    assert si.select([recv], timeout=5, default="d") == (None, "d")
    assert time.monotonic() - start < 2.5


# --- closed ---------------------------------------------------------------------------------------


def test_closed_sentinel() -> None:
    assert repr(si.CLOSED) == "subinterpreters.CLOSED"
    assert si.CLOSED is si.CLOSED
    assert si.CLOSED is not None


def test_receive_case_on_closed_drained_channel_yields_closed(channel) -> None:
    recv, send = channel
    send.send_nowait("queued")
    send.close()
    assert si.select([recv]) == (0, "queued")
    index, value = si.select([recv], timeout=5)
    assert index == 0 and value is si.CLOSED
    # Still ready (and still CLOSED) on later selects.
    assert si.select([recv], default="d")[1] is si.CLOSED


def test_receive_case_on_closed_drained_queue_yields_closed() -> None:
    q = si.create_queue()
    q.put_many([1, 2])
    q.close()
    assert si.select([q]) == (0, 1)
    assert si.select([q]) == (0, 2)
    index, value = si.select([q], timeout=5)
    assert index == 0 and value is si.CLOSED


def test_closed_case_is_ready_among_unready_ones(channel) -> None:
    recv, send = channel
    closed_q = si.create_queue()
    closed_q.close()
    start = time.monotonic()
    index, value = si.select([recv, closed_q], timeout=5)
    assert (index, value) == (1, si.CLOSED) and value is si.CLOSED
    assert time.monotonic() - start < 2.5


def test_closed_in_subinterpreter_is_its_own_sentinel(shared_interp) -> None:
    q = si.create_queue()
    q.close()
    setup = """
        import subinterpreters as si
        index, value = si.select([q])
        result = (index, value is si.CLOSED, repr(value))
        """
    assert evaluate(shared_interp, "result", setup, q=q) == (0, True, "subinterpreters.CLOSED")


def test_send_case_on_closed_channel_raises_channel_closed(channel) -> None:
    recv, send = channel
    send.close()
    with pytest.raises(si.ChannelClosedError):
        si.select([(send, "x")])


def test_send_case_on_channel_with_closed_recv_end_raises(channel) -> None:
    recv, send = channel
    recv.close()
    with pytest.raises(si.ChannelClosedError):
        si.select([(send, "x")], timeout=5)


def test_put_case_on_closed_queue_raises_queue_closed() -> None:
    q = si.create_queue()
    q.close()
    with pytest.raises(si.QueueClosedError):
        si.select([(q, "x")])
    with pytest.raises(si.QueueClosedError):
        si.select([(q, "x")], default="d")
    assert drain(q, stop=(si.QueueEmpty, si.QueueClosedError)) == []


def test_blocked_receive_case_woken_by_close_yields_closed(channel, spawn) -> None:
    recv, send = channel
    q = si.create_queue()
    task = spawn(si.select, [q, recv])
    time.sleep(SETTLE)
    assert not task.done
    send.close()
    index, value = task.result()
    assert index == 1 and value is si.CLOSED


def test_blocked_queue_receive_case_woken_by_close_yields_closed(spawn) -> None:
    q = si.create_queue()
    task = spawn(si.select, [q])
    time.sleep(SETTLE)
    q.close()
    index, value = task.result()
    assert index == 0 and value is si.CLOSED


def test_blocked_send_case_woken_by_close_raises(channel, spawn) -> None:
    recv, send = channel
    task = spawn(si.select, [(send, "x")])
    time.sleep(SETTLE)
    assert not task.done
    send.close()
    assert isinstance(task.exception(), si.ChannelClosedError)


def test_blocked_put_case_woken_by_close_raises_and_puts_nothing(spawn) -> None:
    q = si.create_queue(1)
    q.put("old")
    task = spawn(si.select, [(q, "new")])
    time.sleep(SETTLE)
    q.close()
    assert isinstance(task.exception(), si.QueueClosedError)
    assert drain(q, stop=(si.QueueEmpty, si.QueueClosedError)) == ["old"]


# --- waking ---------------------------------------------------------------------------------------


def test_select_blocks_until_one_of_its_cases_is_ready(channel, spawn) -> None:
    recv, send = channel
    queues = [si.create_queue() for _ in range(3)]
    task = spawn(si.select, [recv, *queues])
    time.sleep(SETTLE)
    assert not task.done
    queues[2].put("third queue")
    assert task.result() == (3, "third queue")
    assert all(q.empty() for q in queues)
    assert drain_channel(recv) == []


def test_select_woken_by_channel_send_nowait_from_another_thread(channel, spawn) -> None:
    recv, send = channel
    q = si.create_queue()
    task = spawn(si.select, [q, recv])
    time.sleep(SETTLE)
    assert send.send_nowait("handed") in (True, False)
    assert task.result() == (1, "handed")
    assert drain_channel(recv) == []


def test_select_woken_by_blocking_send(channel, spawn) -> None:
    recv, send = channel
    task = spawn(si.select, [recv])
    time.sleep(SETTLE)
    send.send("rendezvous", timeout=10)
    assert task.result() == (0, "rendezvous")


def test_select_in_main_woken_by_peer_in_subinterpreter(channel, shared_interp, spawn) -> None:
    recv, send = channel
    q = si.create_queue()
    source = "import time\ntime.sleep(0.2)\ns.send('from sub', timeout=10)"
    peer = spawn(evaluate, shared_interp, "None", source, s=send)
    assert si.select([q, recv], timeout=10) == (1, "from sub")
    peer.result()
    source = "import time\ntime.sleep(0.2)\nq.put('put by sub')"
    peer = spawn(evaluate, shared_interp, "None", source, q=q)
    assert si.select([recv, q], timeout=10) == (1, "put by sub")
    peer.result()


def test_send_case_in_main_completes_with_receiver_in_subinterpreter(channel, shared_interp, spawn) -> None:
    recv, send = channel
    task = spawn(evaluate, shared_interp, "r.recv(timeout=10)", r=recv)
    assert si.select([(send, "to sub")], timeout=10) == (0, None)
    assert task.result() == "to sub"


def test_select_in_one_subinterpreter_woken_by_send_from_another(spawn) -> None:
    recv, send = si.create_channel()
    q = si.create_queue()
    try:
        with si.create() as waiter, si.create() as sender:
            setup = """
                import subinterpreters as si
                index, value = si.select([q, r], timeout=10)
                """
            task = spawn(evaluate, waiter, "(index, value)", setup, q=q, r=recv)
            time.sleep(SETTLE)
            assert not task.done
            sender.run("s.send('across interpreters', timeout=10)\ndel s", s=send)
            assert task.result() == (1, "across interpreters")
    finally:
        recv.close()
        send.close()


def test_put_case_in_subinterpreter_woken_by_get_in_another(spawn) -> None:
    q = si.create_queue(1)
    q.put("old")
    with si.create() as putter, si.create() as getter:
        setup = """
            import subinterpreters as si
            result = si.select([(q, "new")], timeout=10)
            """
        task = spawn(evaluate, putter, "result", setup, q=q)
        time.sleep(SETTLE)
        assert not task.done
        assert evaluate(getter, "q.get(timeout=10)", q=q) == "old"
        assert task.result() == (0, None)
    assert q.get_nowait() == "new"


def test_select_in_subinterpreter_returns_index_and_value(shared_interp) -> None:
    q = si.create_queue()
    q.put(("a", 1))
    setup = """
        import subinterpreters as si
        first = si.select([q])
        second = si.select([q], default="empty")
        third = si.select([(q, [1, 2])])
        """
    got = evaluate(shared_interp, "(first, second, third)", setup, q=q)
    assert got == ((0, ("a", 1)), (None, "empty"), (0, None))
    assert q.get_nowait() == [1, 2]


def test_one_put_wakes_exactly_one_of_several_selects(spawn) -> None:
    q = si.create_queue()
    tasks = [spawn(si.select, [q], timeout=1.0) for _ in range(3)]
    time.sleep(SETTLE)
    q.put("only one")
    results, timeouts = [], 0
    for t in tasks:
        exc = t.exception()
        if isinstance(exc, TimeoutError):
            timeouts += 1
        else:
            assert exc is None
            results.append(t._result)  # noqa: SLF001 - the value, exception already collected
    assert results == [(0, "only one")]
    assert timeouts == 2


def test_mixed_select_and_get_waiters_are_each_served_once(spawn) -> None:
    q, other = si.create_queue(), si.create_queue()
    selects = [spawn(si.select, [other, q], timeout=10) for _ in range(3)]
    getters = [spawn(q.get, timeout=10) for _ in range(3)]
    time.sleep(SETTLE)
    for i in range(6):
        q.put(i)
    from_selects = [t.result() for t in selects]
    assert all(index == 1 for index, _ in from_selects)
    got = [value for _, value in from_selects] + [t.result() for t in getters]
    assert sorted(got) == list(range(6))
    assert q.empty() and other.empty()


def test_select_keeps_waiting_when_its_item_is_taken_by_another_getter(spawn) -> None:
    # The select is woken by the put on `a`, but this thread may take the item first; then the
    # select must go on waiting (not return a bogus value) until `b` gets an item.
    a, b = si.create_queue(), si.create_queue()
    for _ in range(5):
        task = spawn(si.select, [a, b], timeout=10)
        time.sleep(0.05)
        a.put("contended")
        try:
            stolen = a.get_nowait()
        except si.QueueEmpty:
            stolen = None
        if stolen is None:
            assert task.result() == (0, "contended")
        else:
            assert stolen == "contended"
            b.put("second")
            assert task.result() == (1, "second")
        assert a.empty() and b.empty()


def test_one_item_on_a_queue_listed_twice_is_taken_once() -> None:
    q = si.create_queue()
    q.put("once")
    index, value = si.select([q, q])
    assert index in (0, 1) and value == "once"
    assert si.select([q, q], default="empty") == (None, "empty")


def test_select_text_signature_shows_default_as_ellipsis() -> None:
    assert "default=..." in (si.select.__text_signature__ or "")


def test_selects_from_several_interpreters_deliver_exactly_once(spawn) -> None:
    # Consumers in two subinterpreters and a thread of the main one select over two queues until
    # both are closed; every item is taken once.
    n = 600
    q1, q2, out = si.create_queue(4), si.create_queue(4), si.create_queue()
    consumer = """
        import subinterpreters as si
        got = []
        open_cases = [q1, q2]
        while open_cases:
            index, value = si.select(open_cases, timeout=30)
            if value is si.CLOSED:
                del open_cases[index]
            else:
                got.append(value)
        out.put(tuple(got))
        del got, open_cases
        """

    def main_consumer() -> tuple:
        got, open_cases = [], [q1, q2]
        while open_cases:
            index, value = si.select(open_cases, timeout=30)
            if value is si.CLOSED:
                del open_cases[index]
            else:
                got.append(value)
        return tuple(got)

    with si.create() as a, si.create() as b:
        tasks = [spawn(evaluate, i, "None", consumer, q1=q1, q2=q2, out=out) for i in (a, b)]
        main_task = spawn(main_consumer)
        for i in range(n):
            si.select([(q1, ("q1", i)), (q2, ("q2", i))], timeout=30)
        q1.close()
        q2.close()
        for t in tasks:
            t.result(timeout=30)
        chunks = [out.get(timeout=10), out.get(timeout=10), main_task.result(timeout=30)]
    everything = [item for chunk in chunks for item in chunk]
    assert len(everything) == n
    assert len(set(everything)) == n, "an item was delivered twice"
    assert sorted(i for _, i in everything) == list(range(n))


# --- argument errors ------------------------------------------------------------------------------


def test_no_case_and_no_default_is_value_error() -> None:
    with pytest.raises(ValueError):
        si.select([])
    with pytest.raises(ValueError):
        si.select([], timeout=1)
    with pytest.raises(ValueError):
        si.select(iter(()))


def test_cases_must_be_iterable() -> None:
    with pytest.raises(TypeError):
        si.select(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    ["send-end-alone", "recv-end-in-pair", "one-tuple", "three-tuple", "int", "str", "list-pair"],
)
def test_bad_case_is_type_error_naming_its_index(channel, bad) -> None:
    recv, send = channel
    q = si.create_queue()
    bad_case = {
        "send-end-alone": send,
        "recv-end-in-pair": (recv, "x"),
        "one-tuple": (q,),
        "three-tuple": (q, 1, 2),
        "int": 42,
        "str": "queue",
        "list-pair": [q, "x"],
    }[bad]
    cases = [q, recv, (q, "fine"), bad_case]
    with pytest.raises(TypeError) as info:
        si.select(cases, default="d")
    assert "3" in str(info.value)
    assert q.empty(), "nothing may be put when a case is bad"


def test_bad_case_is_type_error_even_when_an_earlier_case_is_ready() -> None:
    q = si.create_queue()
    q.put("kept")
    with pytest.raises(TypeError) as info:
        si.select([q, None])
    assert "1" in str(info.value)
    assert q.get_nowait() == "kept"


def test_not_shareable_send_object_on_channel_sends_nothing(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=1.0)
    time.sleep(SETTLE)
    with pytest.raises(si.NotShareableError):
        si.select([(send, ["an object() is not shareable", object()])])
    # The waiting receiver got nothing.
    assert isinstance(task.exception(), TimeoutError)


def test_not_shareable_object_in_any_case_sends_nothing(channel, spawn) -> None:
    # All send objects are converted first: a bad object in a later case prevents an earlier,
    # ready case from completing.
    recv, send = channel
    ready = si.create_queue()
    task = spawn(recv.recv, timeout=1.0)
    time.sleep(SETTLE)
    with pytest.raises(si.NotShareableError):
        si.select([(ready, "would fit"), (send, "would be received"), (ready, lambda: 0)])
    assert ready.empty()
    assert isinstance(task.exception(), TimeoutError)


def test_strict_queue_put_case_refuses_non_shareable() -> None:
    strict = si.create_queue(strict=True)
    with pytest.raises(si.NotShareableError):
        si.select([(strict, {"a": object()})])
    assert strict.empty()


def test_non_strict_queue_put_case_refuses_unpicklable() -> None:
    q = si.create_queue()
    with pytest.raises(si.NotShareableError):
        si.select([(q, (x for x in ()))], default="d")
    assert q.empty()


def test_channel_send_case_is_strict_even_with_a_pickling_queue_case(channel) -> None:
    recv, send = channel
    q = si.create_queue(1)
    q.put("full")
    with pytest.raises(si.NotShareableError):
        si.select([(q, [1, object()]), (send, [1, object()])], default="d")
    assert drain(q) == ["full"]
    assert recv.recv_nowait("nothing") == "nothing"


# --- waiting without polling ----------------------------------------------------------------------


def test_idle_blocked_select_does_not_spin(channel, spawn) -> None:
    recv, send = channel
    queues = [si.create_queue() for _ in range(3)]
    task = spawn(si.select, [recv, *queues], timeout=30)
    time.sleep(SETTLE)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(0.6)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    queues[1].put("done")
    assert task.result() == (2, "done")
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


def test_idle_select_in_main_thread_does_not_spin(channel) -> None:
    recv, send = channel
    cpu_start, wall_start = time.process_time(), time.monotonic()
    with pytest.raises(TimeoutError):
        si.select([recv, si.create_queue()], timeout=0.6)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


SELECT_ECHO = """
import subinterpreters as si
for _ in range(n):
    index, value = si.select([idle, to_peer], timeout=10)
    back.put(value)
"""


def test_select_is_woken_by_its_peer_not_by_a_timer(shared_interp, spawn) -> None:
    # A select that polled its cases on a timer would cost about one polling period per round
    # trip; one woken by the put costs microseconds. The bound is far below a 10 ms period.
    n = 200
    idle, to_peer, back = si.create_queue(), si.create_queue(), si.create_queue()
    task = spawn(evaluate, shared_interp, "None", SELECT_ECHO, idle=idle, to_peer=to_peer, back=back, n=n)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        to_peer.put(i)
        assert si.select([idle, back], timeout=10) == (1, i)
        samples.append(time.perf_counter() - start)
    task.result()
    samples.sort()
    assert samples[n // 2] < 0.004, f"median round trip {samples[n // 2]:.4f} s"
