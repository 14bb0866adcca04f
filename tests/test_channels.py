"""Channels: ends (ids, equality, shareability), rendezvous send, send_nowait queueing, recv_nowait,
timeouts (float, 0, withdrawal, invalid values), exactly-once delivery and per-sender order across
threads and interpreters, and waiters woken by their peer (never by a timer, never spinning idle)."""

from __future__ import annotations

import collections
import statistics
import threading
import time

import pytest

import subinterpreters as si
from helpers import dedent, drain_channel

SETTLE = 0.2


# --- ends -----------------------------------------------------------------------------------------


def test_create_channel_returns_recv_and_send_ends_with_same_id() -> None:
    pair = si.create_channel()
    try:
        assert type(pair) is tuple and len(pair) == 2
        recv, send = pair
        assert type(recv) is si.RecvChannel
        assert type(send) is si.SendChannel
        assert type(recv.id) is int
        assert recv.id == send.id
        assert recv.is_closed is False and send.is_closed is False
    finally:
        for end in pair:
            end.close()


def test_distinct_channels_have_distinct_ids() -> None:
    pairs = [si.create_channel() for _ in range(5)]
    try:
        assert len({r.id for r, _ in pairs}) == 5
    finally:
        for r, s in pairs:
            r.close()
            s.close()


def test_ends_equal_and_hash_by_id_and_end(channel) -> None:
    recv, send = channel
    assert recv != send and not (recv == send)
    assert recv == recv and send == send
    # Another handle to the same end (a round trip through the channel makes a new object).
    send.send_nowait((recv, send))
    recv2, send2 = recv.recv_nowait()
    assert recv2 == recv and hash(recv2) == hash(recv)
    assert send2 == send and hash(send2) == hash(send)
    assert len({recv, recv2, send, send2}) == 2
    other_recv, other_send = si.create_channel()
    try:
        assert other_recv != recv and other_send != send
    finally:
        other_recv.close()
        other_send.close()
    assert recv != recv.id and send != send.id and recv != None  # noqa: E711


def test_id_and_is_closed_are_read_only(channel) -> None:
    recv, send = channel
    for end in (recv, send):
        with pytest.raises(AttributeError):
            end.id = 1  # type: ignore[misc]
        with pytest.raises(AttributeError):
            end.is_closed = True  # type: ignore[misc]


def test_ends_are_shareable(channel) -> None:
    recv, send = channel
    assert si.is_shareable(recv) and si.is_shareable(send)
    assert si.is_shareable((recv, (send,)))


def test_send_end_shared_via_run_refers_to_same_channel(channel, shared_interp) -> None:
    recv, send = channel
    shared_interp.run("s.send_nowait('from sub')\nsame = s.id", s=send)
    assert recv.recv_nowait() == "from sub"


def test_recv_end_shared_via_run_refers_to_same_channel(channel, shared_interp, ask) -> None:
    recv, send = channel
    send.send_nowait("for sub")
    assert ask(shared_interp, "r.recv_nowait()", r=recv) == "for sub"


def test_ends_sent_through_a_channel_refer_to_same_channel(shared_interp, ask) -> None:
    data_r, data_s = si.create_channel()
    carrier_r, carrier_s = si.create_channel()
    try:
        carrier_s.send_nowait(data_r)
        carrier_s.send_nowait(data_s)
        data_s.send_nowait("queued in main")
        setup = dedent(
            """
            dr = c.recv_nowait()
            ds = c.recv_nowait()
            first = dr.recv_nowait()
            ds.send_nowait("queued in sub")
            """
        )
        got = ask(shared_interp, "(first, dr.id, ds.id, dr, ds)", setup=setup, c=carrier_r)
        assert got == ("queued in main", data_r.id, data_s.id, data_r, data_s)
        assert data_r.recv_nowait() == "queued in sub"
        shared_interp.exec("del dr, ds")
    finally:
        for end in (data_r, data_s, carrier_r, carrier_s):
            end.close()


def test_end_handles_seen_in_subinterpreter_equal_the_originals(channel, shared_interp, ask) -> None:
    recv, send = channel
    assert ask(shared_interp, "(r, s, r.id == s.id, r == s)", r=recv, s=send) == (
        recv,
        send,
        True,
        False,
    )
    shared_interp.exec("del r, s")


# --- send: rendezvous -------------------------------------------------------------------------------


def test_send_returns_only_once_a_receiver_took_the_object(channel, spawn) -> None:
    recv, send = channel
    task = spawn(send.send, "item")
    time.sleep(SETTLE)
    assert not task.done, "send() returned before anyone received"
    assert recv.recv(timeout=10) == "item"
    assert task.result() is None


def test_send_without_receiver_times_out(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        send.send("x", timeout=0.05)


def test_recv_blocks_until_something_is_sent(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv)
    time.sleep(SETTLE)
    assert not task.done
    send.send("hello", timeout=10)
    assert task.result() == "hello"


def test_each_blocked_sender_is_received_once(channel, spawn) -> None:
    recv, send = channel
    tasks = [spawn(send.send, i) for i in range(5)]
    got = sorted(recv.recv(timeout=10) for _ in range(5))
    assert got == list(range(5))
    for task in tasks:
        task.result()
    assert recv.recv_nowait(None) is None


def test_blocked_sender_in_subinterpreter_rendezvous_with_main(channel, shared_interp, spawn) -> None:
    recv, send = channel
    task = spawn(shared_interp.run, "s.send(('from', 'sub'))\nsent = True", s=send)
    time.sleep(SETTLE)
    assert not task.done
    assert recv.recv(timeout=10) == ("from", "sub")
    task.result()
    shared_interp.exec("del s")


# --- send_nowait ------------------------------------------------------------------------------------


def _send_nowait_to_waiting_receiver(recv, send, spawn, value) -> bool:
    """send_nowait() to a receiver blocked in recv(); retried with longer settle times so a slow
    machine cannot make it flaky (if the receiver was not waiting yet, the object is queued and the
    receiver still gets it)."""
    for settle in (SETTLE, 0.5, 1.0, 2.0):
        task = spawn(recv.recv)
        time.sleep(settle)
        handed = send.send_nowait(value)
        assert type(handed) is bool
        assert task.result() == value
        if handed:
            return True
    return False


def test_send_nowait_hands_to_waiting_receiver_and_returns_true(channel, spawn) -> None:
    recv, send = channel
    assert _send_nowait_to_waiting_receiver(recv, send, spawn, "direct") is True
    assert recv.recv_nowait(None) is None  # handed over, not also queued


def test_send_nowait_hands_to_receiver_waiting_in_subinterpreter(channel, shared_interp, spawn):
    recv, send = channel
    out_r, out_s = si.create_channel()
    handed = False
    for settle in (SETTLE, 0.5, 1.0, 2.0):
        task = spawn(shared_interp.run, "out.send_nowait(r.recv())", r=recv, out=out_s)
        time.sleep(settle)
        handed = send.send_nowait(("x", settle))
        task.result()
        assert out_r.recv_nowait() == ("x", settle)
        if handed:
            break
    assert handed is True
    shared_interp.exec("del r, out")
    out_r.close()
    out_s.close()


def test_send_nowait_without_receiver_queues_and_returns_false(channel) -> None:
    recv, send = channel
    assert send.send_nowait("queued") is False
    assert recv.recv(timeout=10) == "queued"


def test_send_nowait_queue_is_fifo(channel) -> None:
    recv, send = channel
    items = [0, "one", (2,), b"three", None, 5.0, True]
    for item in items:
        assert send.send_nowait(item) is False
    assert [recv.recv(timeout=10) for _ in items] == items
    assert recv.recv_nowait(None) is None


def test_queued_items_are_received_by_any_interpreter_in_fifo_order(channel, shared_interp, ask):
    recv, send = channel
    for i in range(10):
        send.send_nowait(i)
    assert ask(shared_interp, "tuple(r.recv() for _ in range(5))", r=recv) == (0, 1, 2, 3, 4)
    assert [recv.recv_nowait() for _ in range(5)] == [5, 6, 7, 8, 9]
    shared_interp.exec("del r")


def test_send_nowait_queued_item_wakes_later_receiver(channel, spawn) -> None:
    recv, send = channel
    send.send_nowait(1)
    send.send_nowait(2)
    assert spawn(lambda: [recv.recv(), recv.recv()]).result() == [1, 2]


# --- recv_nowait ------------------------------------------------------------------------------------


def test_recv_nowait_without_default_raises_channel_empty(channel) -> None:
    recv, send = channel
    with pytest.raises(si.ChannelEmptyError):
        recv.recv_nowait()
    assert not recv.is_closed


def test_recv_nowait_returns_default_when_nothing_ready(channel) -> None:
    recv, send = channel
    sentinel = object()
    unshareable = [1, 2]
    assert recv.recv_nowait(sentinel) is sentinel
    assert recv.recv_nowait(default=sentinel) is sentinel
    assert recv.recv_nowait(unshareable) is unshareable
    assert recv.recv_nowait(None) is None


def test_recv_nowait_returns_queued_item_not_default(channel) -> None:
    recv, send = channel
    send.send_nowait("ready")
    assert recv.recv_nowait("default") == "ready"
    send.send_nowait(None)
    assert recv.recv_nowait("default") is None


def test_recv_nowait_takes_from_a_blocked_sender(channel, spawn, wait_until) -> None:
    recv, send = channel
    task = spawn(send.send, "waiting")
    marker = object()
    got: list[object] = []
    # Poll until the sender is there (its object is ready), then it is taken exactly once.
    assert wait_until(lambda: got.append(recv.recv_nowait(marker)) or got[-1] is not marker)
    assert got[-1] == "waiting"
    task.result()
    assert recv.recv_nowait(marker) is marker


# --- timeouts ---------------------------------------------------------------------------------------


def test_recv_float_timeout_is_honoured(channel) -> None:
    recv, send = channel
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0.25)
    elapsed = time.monotonic() - start
    # Neither truncated to 0 nor rounded up to whole seconds (generous upper bound).
    assert 0.2 <= elapsed < 0.95, elapsed


def test_send_float_timeout_is_honoured(channel) -> None:
    recv, send = channel
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        send.send("x", timeout=0.25)
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 0.95, elapsed


def test_recv_timeout_in_subinterpreter_is_honoured(channel, shared_interp, ask) -> None:
    recv, send = channel
    setup = dedent(
        """
        import time
        start = time.monotonic()
        try:
            r.recv(timeout=0.25)
        except TimeoutError:
            outcome = "TimeoutError"
        else:
            outcome = "received"
        elapsed = time.monotonic() - start
        del r
        """
    )
    outcome, elapsed = ask(shared_interp, "(outcome, elapsed)", setup=setup, r=recv)
    assert outcome == "TimeoutError"
    assert 0.2 <= elapsed < 0.95, elapsed


def test_timeout_error_is_the_builtin(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError) as info:
        recv.recv(timeout=0.01)
    assert type(info.value) is TimeoutError


def test_recv_timeout_zero_tries_once(channel) -> None:
    recv, send = channel
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0)
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0.0)
    assert time.monotonic() - start < 1.0
    send.send_nowait("ready")
    assert recv.recv(timeout=0) == "ready"


def test_recv_timeout_zero_takes_from_blocked_sender(channel, spawn, wait_until) -> None:
    recv, send = channel
    task = spawn(send.send, "waiting")
    got: list[object] = []

    def try_once() -> bool:
        try:
            got.append(recv.recv(timeout=0))
        except TimeoutError:
            return False
        return True

    assert wait_until(try_once)
    assert got == ["waiting"]
    task.result()


def test_send_timeout_zero_without_receiver_times_out_and_withdraws(channel) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        send.send("never", timeout=0)
    assert recv.recv_nowait("nothing") == "nothing"
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0.1)


def test_send_timeout_zero_succeeds_with_waiting_receiver(channel, spawn) -> None:
    recv, send = channel
    for settle in (SETTLE, 0.5, 1.0, 2.0):
        task = spawn(recv.recv, timeout=10)
        time.sleep(settle)
        try:
            send.send(("try", settle), timeout=0)
        except TimeoutError:
            # The receiver was not waiting yet: nothing was delivered; feed it and retry.
            send.send_nowait("filler")
            assert task.result() == "filler"
            continue
        assert task.result() == ("try", settle)
        return
    pytest.fail("send(timeout=0) never met the waiting receiver")


def test_timed_out_send_is_never_delivered_later(channel, spawn) -> None:
    recv, send = channel
    with pytest.raises(TimeoutError):
        send.send("withdrawn", timeout=0.25)
    # A receiver arriving afterwards (blocking or not) never sees the withdrawn object.
    assert recv.recv_nowait("empty") == "empty"
    task = spawn(recv.recv, timeout=10)
    time.sleep(SETTLE)
    send.send_nowait("fresh")
    assert task.result() == "fresh"
    assert recv.recv_nowait("empty") == "empty"


def test_withdrawn_sends_race_with_receivers(channel, spawn) -> None:
    # Many short timeouts on both sides: each object whose send() returned normally was received
    # exactly once; each object whose send() timed out was never received.
    recv, send = channel
    n = 400
    stop = threading.Event()

    def sender() -> tuple[set[int], set[int]]:
        delivered, withdrawn = set(), set()
        for i in range(n):
            try:
                send.send(i, timeout=0.001 if i % 3 else 0)
            except TimeoutError:
                withdrawn.add(i)
            else:
                delivered.add(i)
        return delivered, withdrawn

    def receiver() -> list[int]:
        got = []
        while not stop.is_set():
            try:
                got.append(recv.recv(timeout=0.001))
            except TimeoutError:
                pass
        got.extend(drain_channel(recv))
        return got

    receivers = [spawn(receiver), spawn(receiver)]
    delivered, withdrawn = spawn(sender).result(timeout=60)
    stop.set()
    received = [x for r in receivers for x in r.result(timeout=30)]
    assert len(received) == len(set(received)), "an object was received twice"
    assert set(received) == delivered
    assert not (set(received) & withdrawn)
    assert delivered | withdrawn == set(range(n))


def test_int_and_large_timeouts_are_accepted(channel) -> None:
    recv, send = channel
    send.send_nowait(1)
    assert recv.recv(timeout=1) == 1
    send.send_nowait(2)
    assert recv.recv(timeout=1e6) == 2


@pytest.mark.parametrize("bad", [-1, -0.001, -1e-9, float("-inf"), float("nan")])
def test_negative_or_nan_timeout_is_value_error(channel, bad) -> None:
    recv, send = channel
    with pytest.raises(ValueError):
        recv.recv(timeout=bad)
    with pytest.raises(ValueError):
        send.send("not sent", timeout=bad)
    assert recv.recv_nowait("empty") == "empty"  # the failed send delivered nothing


@pytest.mark.parametrize("bad", ["1", b"1", [1], 1j])
def test_non_numeric_timeout_is_type_error(channel, bad) -> None:
    recv, send = channel
    with pytest.raises(TypeError):
        recv.recv(timeout=bad)
    with pytest.raises(TypeError):
        send.send("not sent", timeout=bad)
    assert recv.recv_nowait("empty") == "empty"


def test_timeout_none_waits_without_limit(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=None)
    time.sleep(0.5)
    assert not task.done
    send.send(3, timeout=10)
    assert task.result() == 3


# --- exactly once, per-sender order -----------------------------------------------------------------

SENDER_CODE = dedent(
    """
    for i in range(n):
        if mode == "send" or (mode == "mixed" and i % 2):
            s.send((k, i))
        else:
            s.send_nowait((k, i))
    """
)

RECEIVER_CODE = dedent(
    """
    import subinterpreters as si
    got = []
    try:
        while True:
            got.append(r.recv())
    except si.ChannelClosedError:
        pass
    out.send_nowait(tuple(got))
    """
)


def _collect_until_closed(recv: si.RecvChannel) -> list[object]:
    got = []
    try:
        while True:
            got.append(recv.recv())
    except si.ChannelClosedError:
        return got


def _assert_per_sender_order(received: list[tuple[int, int]]) -> None:
    last: dict[int, int] = {}
    for k, i in received:
        assert i > last.get(k, -1), f"sender {k}: {i} arrived after {last[k]}"
        last[k] = i


def test_exactly_once_many_senders_and_receivers_across_interpreters(spawn) -> None:
    per_sender = 400
    recv, send = si.create_channel()
    out_r, out_s = si.create_channel()
    interps = [si.create() for _ in range(4)]
    try:
        sub_receivers = [spawn(i.run, RECEIVER_CODE, r=recv, out=out_s) for i in interps[:2]]
        main_receivers = [spawn(_collect_until_closed, recv) for _ in range(2)]

        def main_sender(k: int, mode: str) -> None:
            for i in range(per_sender):
                if mode == "send" or (mode == "mixed" and i % 2):
                    send.send((k, i))
                else:
                    send.send_nowait((k, i))

        senders = [
            spawn(main_sender, 0, "send"),
            spawn(main_sender, 1, "nowait"),
            spawn(main_sender, 2, "mixed"),
            spawn(interps[2].run, SENDER_CODE, s=send, k=3, n=per_sender, mode="send"),
            spawn(interps[3].run, SENDER_CODE, s=send, k=4, n=per_sender, mode="mixed"),
        ]
        for task in senders:
            task.result(timeout=60)
        send.close()  # receivers drain what is queued, then get ChannelClosedError
        per_receiver = [task.result(timeout=30) for task in main_receivers]
        for task in sub_receivers:
            task.result(timeout=30)
        per_receiver += [list(out_r.recv(timeout=10)) for _ in sub_receivers]
    finally:
        recv.close()
        send.close()
        for interp in interps:
            interp.close()
        out_r.close()
        out_s.close()

    everything = [item for got in per_receiver for item in got]
    counts = collections.Counter(everything)
    expected = {(k, i) for k in range(5) for i in range(per_sender)}
    assert set(counts) == expected, "objects lost or invented"
    assert max(counts.values()) == 1, "an object was received more than once"
    for got in per_receiver:
        _assert_per_sender_order(got)


def test_objects_from_one_sender_arrive_in_order(spawn, shared_interp) -> None:
    recv, send = si.create_channel()
    n = 500
    try:
        tasks = [
            spawn(lambda: [send.send((0, i)) for i in range(n)]),
            spawn(lambda: [send.send_nowait((1, i)) for i in range(n)]),
            spawn(shared_interp.run, SENDER_CODE, s=send, k=2, n=n, mode="mixed"),
        ]
        received = [recv.recv(timeout=10) for _ in range(3 * n)]
        for task in tasks:
            task.result()
        shared_interp.exec("del s")
    finally:
        recv.close()
        send.close()
    _assert_per_sender_order(received)
    assert sorted(received) == sorted((k, i) for k in range(3) for i in range(n))


# --- waking: by the peer, never on a timer, never spinning while idle ------------------------------


def _echo(recv: si.RecvChannel, send: si.SendChannel, n: int) -> None:
    for _ in range(n):
        send.send(recv.recv(timeout=10), timeout=10)


ECHO_CODE = "for _ in range(n):\n    s.send(r.recv(timeout=10), timeout=10)\n"


@pytest.mark.parametrize("peer", ["thread", "subinterpreter"])
def test_blocked_waiter_is_woken_by_its_peer_not_by_a_timer(peer, spawn, shared_interp) -> None:
    # A waiter woken by polling on a timer (e.g. CPython's 10 ms sleep loop) makes each round trip
    # cost about one polling period; a waiter woken directly by its peer costs microseconds. The
    # bound is 40x a typical direct wake-up, far below one 10 ms polling period per message.
    n = 200
    to_peer_r, to_peer_s = si.create_channel()
    back_r, back_s = si.create_channel()
    try:
        if peer == "thread":
            task = spawn(_echo, to_peer_r, back_s, n)
        else:
            task = spawn(shared_interp.run, ECHO_CODE, r=to_peer_r, s=back_s, n=n)
        samples = []
        for i in range(n):
            start = time.perf_counter()
            to_peer_s.send(i, timeout=10)
            assert back_r.recv(timeout=10) == i
            samples.append(time.perf_counter() - start)
        task.result()
    finally:
        for end in (to_peer_r, to_peer_s, back_r, back_s):
            end.close()
    assert statistics.median(samples) < 0.004, f"median round trip {statistics.median(samples)}"


def test_idle_waiter_does_not_spin(channel, spawn) -> None:
    # A thread blocked in recv() for a second must not burn a core meanwhile (process CPU time).
    recv, send = channel
    task = spawn(recv.recv, timeout=30)
    time.sleep(SETTLE)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(1.0)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    send.send("done", timeout=10)
    assert task.result() == "done"
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


def test_idle_waiter_in_main_thread_does_not_spin(channel) -> None:
    # The main thread of the main interpreter waits in slices to check signals: still no spinning.
    recv, send = channel
    cpu_start, wall_start = time.process_time(), time.monotonic()
    with pytest.raises(TimeoutError):
        recv.recv(timeout=1.0)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"


def test_idle_waiter_in_subinterpreter_does_not_spin(channel, shared_interp, spawn) -> None:
    recv, send = channel
    task = spawn(shared_interp.run, "got = r.recv(timeout=30)\ndel r", r=recv)
    time.sleep(SETTLE)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(1.0)
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    send.send("done", timeout=10)
    task.result()
    assert cpu < 0.3 * wall, f"{cpu:.3f} s CPU while idle for {wall:.3f} s"
