"""Ctrl-C (and process exit) with queues and select. Issue 3: "interruptible by Ctrl-C in the main
thread, as for channels": a blocked get/put/get_many/put_many/iteration/select in the main thread
of the main interpreter is interrupted by SIGINT (KeyboardInterrupt raised inside the call; asserted
only as "well within a second"), an interrupted put or send case leaves nothing behind, and an
object handed to an interrupted get or select goes back (nothing is lost). At exit, calls blocked on
queues in daemon threads do not break the process's exit.

Every scenario runs in a child process; the child prints markers that the parent asserts on."""

from __future__ import annotations

import pytest

from helpers import (
    assert_clean_exit,
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


# The child blocks in the given call in its main thread until SIGINT (helpers.self_interrupt_script).
# Afterwards the child prints what is left in the queue / channel: an interrupted put or send case
# must not have left its object behind.
SELF_INTERRUPT = self_interrupt_script(
    """
    call = sys.argv[1]
    q = si.create_queue()
    full = si.create_queue(1)
    full.put("old")
    r, s = si.create_channel()

    def leftovers():
        items = []
        for queue in (q, full):
            while True:
                try:
                    items.append(queue.get_nowait())
                except si.QueueEmpty:
                    break
        items.append(r.recv_nowait("none"))
        return items

    def iterate():
        for _ in q:
            pass

    blocked = {
        "get": q.get,
        "get-timeout": lambda: q.get(timeout=30),
        "get_many": lambda: q.get_many(5),
        "put": lambda: full.put("new"),
        "put-timeout": lambda: full.put("new", timeout=30),
        "put_many": lambda: full.put_many(["new1", "new2"]),
        "iterate": iterate,
        "select": lambda: si.select([q, r]),
        "select-timeout": lambda: si.select([q, r], timeout=30),
        "select-send": lambda: si.select([(full, "new"), (s, "sent")]),
    }[call]
    """,
    after='print("leftovers", leftovers(), flush=True)',
)

CALLS = [
    "get",
    "get-timeout",
    "get_many",
    "put",
    "put-timeout",
    "put_many",
    "iterate",
    "select",
    "select-timeout",
    "select-send",
]


@pytest.mark.parametrize("call", CALLS)
def test_ctrl_c_interrupts_blocked_call_in_main_thread(tmp_path, call) -> None:
    proc = run_child(write_script(tmp_path, SELF_INTERRUPT), call)
    assert_interrupted_in_call(proc)
    # Only the object that was in the full queue before the call; nothing put, nothing sent.
    assert "leftovers ['old', 'none']" in proc.stdout, details(proc)


def test_ctrl_c_from_outside_interrupts_blocked_get(tmp_path) -> None:
    # Parent-delivered Ctrl-C: the child prints "ready" and blocks; the parent sends SIGINT.
    assert_ctrl_c_from_outside_interrupts(tmp_path, setup="q = si.create_queue()", call="q.get()")


def test_uncaught_ctrl_c_in_blocked_select_ends_the_process_like_python(tmp_path) -> None:
    script = write_script(
        tmp_path,
        """
        import os, signal, threading
        import subinterpreters as si
        q = si.create_queue()
        r, s = si.create_channel()
        interp = si.create()
        interp.run("x = 1", q=q)
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        si.select([q, r])
        """,
    )
    assert_ended_by_ctrl_c(run_child(script))


def test_ctrl_c_in_main_thread_does_not_disturb_a_get_in_another_thread(tmp_path) -> None:
    # Only the main thread is interrupted: a get() blocked in another thread keeps waiting and
    # still receives its object afterwards.
    script = write_script(
        tmp_path,
        """
        import os, signal, sys, threading, time
        import subinterpreters as si
        q, other = si.create_queue(), si.create_queue()
        got = []
        t = threading.Thread(target=lambda: got.append(other.get(timeout=30)), daemon=True)
        t.start()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            q.get()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        time.sleep(0.2)
        print("other-still-waiting", t.is_alive(), flush=True)
        other.put("for the other thread")
        t.join(10)
        print("other-got", got, flush=True)
        """,
    )
    proc = run_child(script)
    assert "interrupted" in proc.stdout, details(proc)
    assert "other-still-waiting True" in proc.stdout, details(proc)
    assert "other-got ['for the other thread']" in proc.stdout, details(proc)
    assert proc.returncode == 0, details(proc)


# An object handed over while the receiver is being interrupted goes back: a producer puts (or
# sends) 0..N-1, sending SIGINT right before each one, while the main thread keeps receiving through
# the interruptions (helpers.interrupted_receive_script, as in test_signals.py). Every object must
# arrive exactly once, in order.
NOT_LOST = interrupted_receive_script(
    setup="""
    mode = sys.argv[1]
    q = si.create_queue()
    r, s = si.create_channel()
    idle = si.create_queue()  # a second, never-ready case for the selects

    if mode == "get":
        def receive_some():
            got.extend(iter(q.get, None))
    elif mode == "get_many":
        def receive_some():
            got.extend(iter(functools.partial(q.get_many, 1), [None]))
    elif mode == "select-queue":
        select_q = functools.partial(si.select, [idle, q])
        def receive_some():
            got.extend(map(operator.itemgetter(1), iter(select_q, (1, None))))
    else:  # select-channel
        select_r = functools.partial(si.select, [idle, r])
        def receive_some():
            got.extend(map(operator.itemgetter(1), iter(select_r, (1, None))))
    """,
    hand_over="""
    if mode == "select-channel":
        if s.send_nowait(i):
            last_handed[0] = i
    else:
        q.put(i)
    """,
    end="""
    if mode == "select-channel":
        s.send(None, timeout=30)
    else:
        q.put(None)
    """,
    after="""
    if mode == "get_many":
        got = [x for batch in got for x in batch]
    """,
)


@pytest.mark.parametrize("mode", ["get", "get_many", "select-queue", "select-channel"])
def test_object_handed_over_during_interrupted_receive_is_not_lost(tmp_path, mode) -> None:
    proc = run_child(write_script(tmp_path, NOT_LOST), mode, timeout=90)
    races = assert_nothing_lost(proc)
    if mode == "select-channel":
        # Objects handed straight to the waiting select whose wait was then interrupted.
        assert races > 0, f"no interrupt coincided with a hand-over\n{details(proc)}"


# --- process exit with calls blocked on queues and selects ----------------------------------------


EXIT_WITH_BLOCKED_CALLS = """
import sys, threading, time
import subinterpreters as si

q = si.create_queue()
full = si.create_queue(1)
full.put(0)
r, s = si.create_channel()
interp = si.create()
calls = [
    (q.get, ()),
    (full.put, (1,)),
    (q.get_many, (3,)),
    (si.select, ([q, r],)),
    (si.select, ([(full, 2)],)),
    (interp.run, ("import subinterpreters as si\\nsi.select([q, (full, 3)])",)),
]
for fn, args in calls:
    kwargs = {"q": q, "full": full} if fn == interp.run else {}
    threading.Thread(target=fn, args=args, kwargs=kwargs, daemon=True).start()
time.sleep(0.3)
print("ready", flush=True)
sys.exit(3)
"""


def test_exit_with_queue_and_select_calls_blocked_in_daemon_threads(tmp_path) -> None:
    # Like channels (test_exit.py): the process exits with its own code and no fatal error while
    # daemon threads (one of them inside a subinterpreter) are blocked on queues and selects.
    proc = run_child(write_script(tmp_path, EXIT_WITH_BLOCKED_CALLS), timeout=30)
    assert_clean_exit(proc, 3, ready=True)
