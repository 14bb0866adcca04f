"""Closing channels: SendChannel.close() and RecvChannel.close(), waking blocked calls, closing by
garbage collection of the last handle (in any interpreter, also when that interpreter is closed),
context managers, iteration, list_all_channels() membership and memory being freed."""

from __future__ import annotations

import gc
import os
import sys
import time

import pytest

import subinterpreters as si
from helpers import dedent

SETTLE = 0.2


def listed_ids() -> list[int]:
    return [r.id for r, _ in si.list_all_channels()]


# --- SendChannel.close() --------------------------------------------------------------------------


def test_send_close_refuses_sends(channel) -> None:
    recv, send = channel
    send.close()
    assert send.is_closed
    with pytest.raises(si.ChannelClosedError):
        send.send("x")
    with pytest.raises(si.ChannelClosedError):
        send.send("x", timeout=0)
    with pytest.raises(si.ChannelClosedError):
        send.send_nowait("x")


def test_send_close_refuses_sends_from_every_handle_and_interpreter(channel, shared_interp, ask):
    recv, send = channel
    shared_interp.prepare_main(s=send)
    send.close()
    setup = dedent(
        """
        import subinterpreters as si
        try:
            s.send_nowait(1)
        except si.ChannelClosedError:
            outcome = "closed"
        else:
            outcome = "sent"
        del s
        """
    )
    assert ask(shared_interp, "outcome", setup=setup) == "closed"


def test_send_close_lets_receivers_drain_queue_then_raises(channel) -> None:
    recv, send = channel
    for item in (1, 2, 3, 4):
        send.send_nowait(item)
    send.close()
    assert send.is_closed
    assert not recv.is_closed  # items are still queued
    assert recv.recv() == 1
    assert recv.recv_nowait() == 2
    assert recv.recv(timeout=0) == 3
    assert recv.recv(timeout=5) == 4
    assert recv.is_closed
    with pytest.raises(si.ChannelClosedError):
        recv.recv()
    with pytest.raises(si.ChannelClosedError):
        recv.recv(timeout=5)
    with pytest.raises(si.ChannelClosedError):
        recv.recv(timeout=0)
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()


def test_recv_nowait_with_default_on_closed_channel_raises_closed(channel) -> None:
    # "receivers still get what was queued, then ChannelClosedError": a default only stands for
    # "nothing ready yet", not for a channel that will never deliver again.
    recv, send = channel
    send.close()
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait(None)
    recv2, send2 = si.create_channel()
    recv2.close()
    with pytest.raises(si.ChannelClosedError):
        recv2.recv_nowait("default")
    send2.close()


def test_send_close_wakes_blocked_receivers(channel, spawn) -> None:
    recv, send = channel
    tasks = [spawn(recv.recv), spawn(recv.recv, timeout=60)]
    time.sleep(SETTLE)
    assert not any(t.done for t in tasks)
    send.close()
    for task in tasks:
        assert isinstance(task.exception(), si.ChannelClosedError)


def test_send_close_wakes_receiver_blocked_in_subinterpreter(channel, shared_interp, spawn):
    recv, send = channel
    source = dedent(
        """
        import subinterpreters as si
        try:
            r.recv()
        except si.ChannelClosedError:
            woken = "closed"
        del r
        """
    )
    task = spawn(shared_interp.run, source, r=recv)
    time.sleep(SETTLE)
    assert not task.done
    send.close()
    task.result()
    shared_interp.exec("assert woken == 'closed'")


def test_send_close_wakes_blocked_senders_and_withdraws_their_objects(channel, spawn) -> None:
    recv, send = channel
    task = spawn(send.send, "blocked")
    time.sleep(SETTLE)
    send.close()
    assert isinstance(task.exception(), si.ChannelClosedError)
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()


# --- RecvChannel.close() --------------------------------------------------------------------------


def test_recv_close_refuses_receiving_and_sending(channel) -> None:
    recv, send = channel
    recv.close()
    assert recv.is_closed and send.is_closed
    with pytest.raises(si.ChannelClosedError):
        recv.recv()
    with pytest.raises(si.ChannelClosedError):
        recv.recv(timeout=0)
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()
    with pytest.raises(si.ChannelClosedError):
        send.send("x")
    with pytest.raises(si.ChannelClosedError):
        send.send("x", timeout=1)
    with pytest.raises(si.ChannelClosedError):
        send.send_nowait("x")


def test_recv_close_drops_queued_objects(channel) -> None:
    recv, send = channel
    send.send_nowait("dropped")
    send.send_nowait("dropped too")
    recv.close()
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()
    with pytest.raises(si.ChannelClosedError):
        recv.recv(timeout=0)


def test_recv_close_drops_queued_objects_observably(channel) -> None:
    # A queued channel end is a handle; dropping it (the only one) closes that end.
    recv, send = channel
    inner_r, inner_s = si.create_channel()
    send.send_nowait(inner_s)
    del inner_s
    gc.collect()
    assert not inner_r.is_closed  # the queued end still counts as a handle
    recv.close()
    assert inner_r.is_closed, "the queued SendChannel was not dropped"
    with pytest.raises(si.ChannelClosedError):
        inner_r.recv_nowait()
    inner_r.close()


def test_recv_close_wakes_blocked_senders(channel, spawn) -> None:
    recv, send = channel
    tasks = [spawn(send.send, 1), spawn(send.send, 2, timeout=60)]
    time.sleep(SETTLE)
    assert not any(t.done for t in tasks)
    recv.close()
    for task in tasks:
        assert isinstance(task.exception(), si.ChannelClosedError)


def test_recv_close_wakes_other_blocked_receivers(channel, spawn) -> None:
    recv, send = channel
    send.send_nowait(recv)
    other_handle = recv.recv_nowait()
    task = spawn(other_handle.recv)
    time.sleep(SETTLE)
    recv.close()
    assert isinstance(task.exception(), si.ChannelClosedError)


def test_recv_close_wakes_sender_blocked_in_subinterpreter(channel, shared_interp, spawn) -> None:
    recv, send = channel
    source = dedent(
        """
        import subinterpreters as si
        try:
            s.send("never")
        except si.ChannelClosedError:
            woken = "closed"
        del s
        """
    )
    task = spawn(shared_interp.run, source, s=send)
    time.sleep(SETTLE)
    assert not task.done
    recv.close()
    task.result()
    shared_interp.exec("assert woken == 'closed'")


def test_close_is_idempotent(channel) -> None:
    recv, send = channel
    send.close()
    send.close()
    recv.close()
    recv.close()
    assert recv.is_closed and send.is_closed


def test_is_closed_states(channel) -> None:
    recv, send = channel
    assert (recv.is_closed, send.is_closed) == (False, False)
    send.send_nowait(1)
    send.close()
    assert (recv.is_closed, send.is_closed) == (False, True)
    recv.recv_nowait()
    assert (recv.is_closed, send.is_closed) == (True, True)


# --- closing by garbage collection of the last handle ------------------------------------------------


def test_gc_of_last_send_handle_wakes_blocked_receiver(spawn) -> None:
    recv, send = si.create_channel()
    task = spawn(recv.recv)
    time.sleep(SETTLE)
    assert not task.done
    del send
    gc.collect()
    assert isinstance(task.exception(), si.ChannelClosedError)
    assert recv.is_closed
    recv.close()


def test_gc_of_last_recv_handle_wakes_blocked_sender(spawn) -> None:
    recv, send = si.create_channel()
    task = spawn(send.send, "x")
    time.sleep(SETTLE)
    assert not task.done
    del recv
    gc.collect()
    assert isinstance(task.exception(), si.ChannelClosedError)
    assert send.is_closed
    with pytest.raises(si.ChannelClosedError):
        send.send_nowait("y")
    send.close()


def test_gc_of_last_recv_handle_drops_queued_objects() -> None:
    recv, send = si.create_channel()
    inner_r, inner_s = si.create_channel()
    send.send_nowait(inner_s)
    del inner_s
    assert not inner_r.is_closed
    del recv
    gc.collect()
    assert inner_r.is_closed
    assert send.is_closed
    send.close()
    inner_r.close()


def test_gc_of_one_handle_among_several_does_not_close(channel) -> None:
    recv, send = channel
    send.send_nowait(send)
    send_copy = recv.recv_nowait()
    assert send_copy == send and send_copy is not send
    del send_copy
    gc.collect()
    assert not send.is_closed
    assert send.send_nowait("still open") is False
    assert recv.recv_nowait() == "still open"


def test_end_in_flight_counts_as_a_handle(channel) -> None:
    recv, send = channel
    inner_r, inner_s = si.create_channel()
    try:
        send.send_nowait(inner_s)
        del inner_s
        gc.collect()
        assert not inner_r.is_closed
        revived = recv.recv_nowait()
        assert revived.send_nowait("through revived handle") is False
        assert inner_r.recv_nowait() == "through revived handle"
        del revived
        gc.collect()
        assert inner_r.is_closed
    finally:
        inner_r.close()


def test_gc_of_last_handle_inside_subinterpreter_closes_end(interp, spawn) -> None:
    recv, send = si.create_channel()
    interp.prepare_main(s=send)
    del send
    gc.collect()
    task = spawn(recv.recv)
    time.sleep(SETTLE)
    assert not task.done, "the handle held by the subinterpreter must keep the end open"
    interp.exec("del s")
    assert isinstance(task.exception(), si.ChannelClosedError)
    assert recv.is_closed
    recv.close()


def test_gc_of_cyclic_garbage_inside_subinterpreter_closes_end(interp, spawn) -> None:
    recv, send = si.create_channel()
    interp.prepare_main(s=send)
    del send
    # Automatic collection is off meanwhile, so only the explicit collect() below frees the cycle.
    interp.exec("import gc\ngc.disable()\nclass Holder: pass\nh = Holder()\nh.me = h\nh.end = s\ndel s, h\n")
    task = spawn(recv.recv)
    time.sleep(SETTLE)
    assert not task.done, "still referenced by uncollected cyclic garbage"
    interp.exec("gc.collect()\ngc.enable()")
    assert isinstance(task.exception(), si.ChannelClosedError)
    recv.close()


def test_recv_end_gc_inside_subinterpreter_wakes_blocked_sender(interp, spawn) -> None:
    recv, send = si.create_channel()
    interp.prepare_main(r=recv)
    del recv
    gc.collect()
    task = spawn(send.send, "x")
    time.sleep(SETTLE)
    assert not task.done
    interp.exec("del r")
    assert isinstance(task.exception(), si.ChannelClosedError)
    send.close()


def test_closing_the_interpreter_holding_the_last_handle_closes_end(spawn) -> None:
    recv, send = si.create_channel()
    holder = si.create()
    try:
        holder.prepare_main(s=send)
        del send
        gc.collect()
        task = spawn(recv.recv)
        time.sleep(SETTLE)
        assert not task.done
    finally:
        holder.close()
    assert isinstance(task.exception(), si.ChannelClosedError)
    assert recv.is_closed
    recv.close()


def test_closing_legacy_interpreter_holding_last_handle_closes_end(spawn) -> None:
    recv, send = si.create_channel()
    holder = si.create(isolated=False)
    try:
        holder.prepare_main(r=recv)
        del recv
        gc.collect()
        task = spawn(send.send, "x")
        time.sleep(SETTLE)
        assert not task.done
    finally:
        holder.close()
    assert isinstance(task.exception(), si.ChannelClosedError)
    assert send.is_closed
    send.close()


# --- context managers -------------------------------------------------------------------------------


def test_ends_are_context_managers_that_close_on_exit() -> None:
    recv, send = si.create_channel()
    with recv as r, send as s:
        assert r is recv and s is send
        s.send_nowait(1)
        assert r.recv_nowait() == 1
        assert not recv.is_closed and not send.is_closed
    assert recv.is_closed and send.is_closed
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()
    with pytest.raises(si.ChannelClosedError):
        send.send_nowait(1)


def test_send_context_manager_closes_only_send_end_and_queue_drains() -> None:
    recv, send = si.create_channel()
    with send:
        send.send_nowait("a")
        send.send_nowait("b")
    assert send.is_closed
    assert [recv.recv_nowait(), recv.recv_nowait()] == ["a", "b"]
    with pytest.raises(si.ChannelClosedError):
        recv.recv()
    recv.close()


def test_context_manager_closes_on_exception_and_propagates() -> None:
    recv, send = si.create_channel()
    with pytest.raises(ZeroDivisionError):
        with send:
            1 / 0  # noqa: B018
    assert send.is_closed
    with pytest.raises(ZeroDivisionError):
        with recv:
            1 / 0  # noqa: B018
    assert recv.is_closed


# --- iteration --------------------------------------------------------------------------------------


def test_iter_returns_self(channel) -> None:
    recv, send = channel
    assert iter(recv) is recv


def test_for_loop_receives_until_closed(channel, spawn) -> None:
    recv, send = channel

    def produce() -> None:
        for i in range(5):
            send.send(i, timeout=10)
        send.send_nowait("last")
        send.close()

    task = spawn(produce)
    assert [x for x in recv] == [0, 1, 2, 3, 4, "last"]
    task.result()
    with pytest.raises(StopIteration):
        next(recv)


def test_for_loop_stops_when_recv_end_closed(channel, spawn) -> None:
    recv, send = channel
    task = spawn(list, recv)
    time.sleep(SETTLE)
    send.send("one", timeout=10)
    recv.close()
    assert task.result() == ["one"]


def test_for_loop_in_subinterpreter(channel, shared_interp, ask) -> None:
    recv, send = channel
    for i in range(3):
        send.send_nowait(i)
    send.close()
    assert ask(shared_interp, "tuple(x for x in r)", r=recv) == (0, 1, 2)


def test_next_on_open_channel_receives(channel) -> None:
    recv, send = channel
    send.send_nowait("n")
    assert next(recv) == "n"


# --- list_all_channels() ----------------------------------------------------------------------------


def test_list_all_channels_lists_open_channels_as_pairs() -> None:
    recv, send = si.create_channel()
    try:
        pairs = si.list_all_channels()
        assert isinstance(pairs, list)
        for pair in pairs:
            assert type(pair) is tuple and len(pair) == 2
            assert type(pair[0]) is si.RecvChannel and type(pair[1]) is si.SendChannel
            assert pair[0].id == pair[1].id
        assert (recv, send) in pairs
        send.close()
        assert (recv, send) in si.list_all_channels()  # one end still open
        recv.close()
        assert recv.id not in listed_ids()
    finally:
        recv.close()
        send.close()


def test_list_all_channels_entries_refer_to_the_channel() -> None:
    recv, send = si.create_channel()
    try:
        listed_r, listed_s = next(p for p in si.list_all_channels() if p[0].id == recv.id)
        listed_s.send_nowait("via listed handle")
        assert recv.recv_nowait() == "via listed handle"
        del listed_r, listed_s
        gc.collect()
        assert not recv.is_closed and not send.is_closed
    finally:
        recv.close()
        send.close()


def test_channel_closed_from_recv_side_leaves_listing_once_both_closed() -> None:
    recv, send = si.create_channel()
    recv.close()
    # The send end is unusable now, but its handle is open until closed or collected.
    send.close()
    assert recv.id not in listed_ids()


def test_channel_leaves_listing_when_both_handles_collected() -> None:
    recv, send = si.create_channel()
    ident = recv.id
    send.send_nowait("queued")
    assert ident in listed_ids()
    del recv, send
    gc.collect()
    assert ident not in listed_ids()


def test_channel_seen_from_subinterpreter_listing(channel, shared_interp, ask) -> None:
    recv, send = channel
    got = ask(
        shared_interp,
        "ident in [r.id for r, _ in si.list_all_channels()]",
        setup="import subinterpreters as si",
        ident=recv.id,
    )
    assert got is True


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc (Linux)")
@pytest.mark.parametrize("how", ["explicit-close", "garbage-collected"])
def test_closed_channel_memory_and_queued_payload_are_freed(how) -> None:
    # 200 channels each left holding a queued 1 MiB payload: if closed channels (or their dropped
    # payloads) were kept, RSS would grow by ~200 MiB.
    payload_size = 1 << 20

    def one_round() -> None:
        recv, send = si.create_channel()
        send.send_nowait(bytes(payload_size))
        send.send_nowait((bytes(payload_size // 2), "x"))
        if how == "explicit-close":
            recv.close()
            send.close()

    for _ in range(10):
        one_round()
    gc.collect()
    before_ids = set(listed_ids())
    before = _rss_bytes()
    for _ in range(200):
        one_round()
    gc.collect()
    growth = _rss_bytes() - before
    assert set(listed_ids()) <= before_ids
    assert growth < 50 * payload_size, f"RSS grew by {growth / payload_size:.0f} MiB"
