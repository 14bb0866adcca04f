"""Ctrl-C: in the main thread of the main interpreter, a blocked call is interrupted by SIGINT
(KeyboardInterrupt raised inside the call, within 100 ms by the contract: asserted here only as "well
within a second"), and an object handed over during an interrupted recv() is not lost.

Every scenario runs in a child process; the child prints markers that the parent asserts on."""

from __future__ import annotations

import pytest

from helpers import (
    assert_ctrl_c_from_outside_interrupts,
    assert_ended_by_ctrl_c,
    assert_interrupted_in_call,
    assert_nothing_lost,
    details,
    interrupted_receive_script,
    posix_signals_only,
    run_child,
    self_interrupt_script,
    write_script,
)

pytestmark = posix_signals_only


# The child blocks in the given call in its main thread until SIGINT (helpers.self_interrupt_script);
# afterwards it prints what is left in the channel: an interrupted send must have withdrawn its object.
SELF_INTERRUPT = self_interrupt_script(
    """
    call = sys.argv[1]
    r, s = si.create_channel()

    def iterate():
        for _ in r:
            pass

    blocked = {
        "recv": r.recv,
        "recv-timeout": lambda: r.recv(timeout=30),
        "send": lambda: s.send("x"),
        "send-timeout": lambda: s.send("x", timeout=30),
        "send-buffer": lambda: s.send_buffer(bytearray(b"x")),
        "iterate": iterate,
    }[call]
    """,
    after='print("leftover", r.recv_nowait("none"), flush=True)',
)


@pytest.mark.parametrize("call", ["recv", "recv-timeout", "send", "send-timeout", "send-buffer", "iterate"])
def test_ctrl_c_interrupts_blocked_call_in_main_thread(tmp_path, call) -> None:
    proc = run_child(write_script(tmp_path, SELF_INTERRUPT), call)
    assert_interrupted_in_call(proc)
    assert "leftover none" in proc.stdout, details(proc)


def test_ctrl_c_from_outside_interrupts_blocked_recv(tmp_path) -> None:
    # Parent-delivered Ctrl-C: the child prints "ready" and blocks; the parent sends SIGINT.
    assert_ctrl_c_from_outside_interrupts(tmp_path, setup="r, s = si.create_channel()", call="r.recv()")


def test_uncaught_ctrl_c_in_blocked_recv_ends_the_process_like_python(tmp_path) -> None:
    # Not caught by the script: the usual KeyboardInterrupt exit (traceback, status from SIGINT).
    script = write_script(
        tmp_path,
        """
        import os, signal, threading, time
        import subinterpreters as si
        r, s = si.create_channel()
        interp = si.create()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        r.recv()
        """,
    )
    assert_ended_by_ctrl_c(run_child(script))


# An object handed over while the receiver is being interrupted goes back to the channel: a producer
# queues or hands over 0..N-1, sending SIGINT right before each one, while the main thread keeps
# receiving through interruptions (helpers.interrupted_receive_script). Every object must arrive
# exactly once, in order.
NOT_LOST = interrupted_receive_script(
    setup="""
    r, s = si.create_channel()
    handed = [0]  # how many objects send_nowait() handed straight to the waiting receiver

    def receive_some():
        got.extend(iter(r.recv, None))
    """,
    hand_over="""
    if s.send_nowait(i):
        handed[0] += 1
        last_handed[0] = i
    """,
    end="""
    print("handed-directly", handed[0], flush=True)
    s.send(None, timeout=30)  # end marker
    """,
)


def test_object_handed_over_during_interrupted_recv_is_not_lost(tmp_path) -> None:
    proc = run_child(write_script(tmp_path, NOT_LOST), timeout=90)
    races = assert_nothing_lost(proc)
    # Typically ~20 of ~20 interrupts hit the race; zero would mean the scenario no longer
    # exercises the interrupted hand-over at all.
    assert races > 0, f"no interrupt coincided with a hand-over: the test exercised nothing\n{details(proc)}"
