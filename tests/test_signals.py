"""Ctrl-C: in the main thread of the main interpreter, a blocked call is interrupted by SIGINT
(KeyboardInterrupt raised inside the call, within 100 ms by the contract: asserted here only as "well
within a second"), and an object handed over during an interrupted recv() is not lost.

Every scenario runs in a child process; the child prints markers that the parent asserts on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="delivers SIGINT with os.kill (POSIX signals)"
)

# Generous: the contract says 100 ms; anything near a second means the call was not interruptible
# (e.g. it only noticed the signal when a long timer expired).
INTERRUPT_BOUND = 1.0


def write_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    return script


def run_child(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=script.parent,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"child hung (Ctrl-C did not interrupt?); stdout={exc.stdout!r} stderr={exc.stderr!r}"
        )


# The child blocks in the given call in its main thread; a helper thread sends SIGINT to the process
# after 0.5 s (when the call is surely blocked). The call has a 30 s timeout or none: if the signal
# is not acted on, the child prints a failure marker (or hangs until the parent's bound).
SELF_INTERRUPT = """
import os, signal, sys, threading, time
import subinterpreters as si

call = sys.argv[1]
r, s = si.create_channel()
sent_at = []

def interrupter():
    time.sleep(0.5)
    sent_at.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=interrupter, daemon=True).start()
try:
    if call == "recv":
        r.recv()
    elif call == "recv-timeout":
        r.recv(timeout=30)
    elif call == "send":
        s.send("x")
    elif call == "send-timeout":
        s.send("x", timeout=30)
    elif call == "send-buffer":
        s.send_buffer(bytearray(b"x"))
    elif call == "iterate":
        for _ in r:
            pass
except KeyboardInterrupt:
    print(f"KeyboardInterrupt-in-call {time.monotonic() - sent_at[0]:.3f}", flush=True)
    # The interrupted send must have withdrawn its object.
    print("leftover", r.recv_nowait("none"), flush=True)
    sys.exit(0)
except BaseException as exc:
    print("wrong-exception", type(exc).__name__, exc, flush=True)
    sys.exit(1)
print("call-returned-without-interrupt", flush=True)
sys.exit(1)
"""


def _parse_interrupt_delay(stdout: str) -> float:
    line = next(
        (ln for ln in stdout.splitlines() if ln.startswith("KeyboardInterrupt-in-call")), None
    )
    assert line is not None, f"no KeyboardInterrupt inside the call; stdout={stdout!r}"
    return float(line.split()[1])


@pytest.mark.parametrize("call", ["recv", "recv-timeout", "send", "send-timeout", "send-buffer", "iterate"])
def test_ctrl_c_interrupts_blocked_call_in_main_thread(tmp_path, call) -> None:
    proc = run_child(write_script(tmp_path, SELF_INTERRUPT), call)
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    delay = _parse_interrupt_delay(proc.stdout)
    assert delay < INTERRUPT_BOUND, f"KeyboardInterrupt came {delay:.3f} s after SIGINT"
    assert "leftover none" in proc.stdout, details
    assert "Fatal Python error" not in proc.stderr


# Parent-delivered Ctrl-C: the child prints "ready" and blocks; the parent sends SIGINT.
PARENT_INTERRUPT = """
import sys
import subinterpreters as si

r, s = si.create_channel()
print("ready", flush=True)
try:
    r.recv()
except KeyboardInterrupt:
    print("KeyboardInterrupt-in-recv", flush=True)
    sys.exit(0)
print("recv-returned", flush=True)
sys.exit(1)
"""


def test_ctrl_c_from_outside_interrupts_blocked_recv(tmp_path) -> None:
    script = write_script(tmp_path, PARENT_INTERRUPT)
    with subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            time.sleep(0.5)  # let it block in recv()
            sent = time.monotonic()
            os.kill(child.pid, signal.SIGINT)
            line = child.stdout.readline().strip()
            delay = time.monotonic() - sent
            _, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert line == "KeyboardInterrupt-in-recv", (line, stderr)
    assert delay < INTERRUPT_BOUND + 0.5, f"{delay:.3f} s from SIGINT to the child's report"
    assert child.returncode == 0, stderr


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
    proc = run_child(script)
    assert "KeyboardInterrupt" in proc.stderr, proc.stderr
    assert "Fatal Python error" not in proc.stderr, proc.stderr
    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), proc.returncode


# An object handed over while the receiver is being interrupted goes back to the channel: a producer
# queues or hands over 0..N-1, sending SIGINT right after each one, while the main thread keeps
# receiving through interruptions. Every object must arrive exactly once, in order.
#
# The receiving loop uses `list.extend(iter(r.recv, None))`: the values are stored by C code as soon
# as recv() returns, so a KeyboardInterrupt raised after a successful recv() cannot make the *test*
# lose an object; the SIGINT handler raises KeyboardInterrupt (as the default one does) only inside
# that receiving function, so an interrupt can never escape from the test's own loop code.
NOT_LOST = """
import os, random, signal, sys, threading, time
import subinterpreters as si

N = 150
r, s = si.create_channel()
got = []
last_handed = [-1]  # the last object send_nowait() handed straight to the waiting receiver
races = 0  # interrupts of a recv() to which an object had just been handed

def receive_some():
    got.extend(iter(r.recv, None))

# KeyboardInterrupt, but only raised while the main thread is inside receive_some() (i.e. inside
# recv(), or right after it returned while still inside the try below): an interrupt landing in the
# test's own loop code is counted and ignored, so it cannot kill the child.
ignored = 0

def on_sigint(signum, frame):
    global ignored
    if frame is not None and frame.f_code is receive_some.__code__:
        raise KeyboardInterrupt
    ignored += 1

signal.signal(signal.SIGINT, on_sigint)

def producer():
    # SIGINT, then busy Python work (holding the GIL) for a random time around the receiver's
    # signal-check period, then hand over the next object. The receiver, woken to look at the
    # signal, may have to wait for the GIL while the object is being handed to it: the race.
    rnd = random.Random(12345)
    pid = os.getpid()
    handed = 0
    for i in range(N):
        os.kill(pid, signal.SIGINT)
        end = time.perf_counter() + rnd.uniform(0, 0.03)
        while time.perf_counter() < end:
            pass
        if s.send_nowait(i):
            handed += 1
            last_handed[0] = i
    time.sleep(0.5)  # let every signal be handled while the main thread is still receiving
    print("handed-directly", handed, flush=True)
    s.send(None, timeout=30)  # end marker

threading.Thread(target=producer, daemon=True).start()
interrupts = 0
while True:
    try:
        receive_some()
        break
    except KeyboardInterrupt:
        interrupts += 1
        # Object len(got) was handed directly to a waiting receiver (the only one is this thread),
        # yet this recv() raised: it went through the interrupted-handover path.
        if last_handed[0] == len(got):
            races += 1
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("interrupts", interrupts, "races", races, "ignored", ignored, flush=True)
missing = sorted(set(range(N)) - set(got))
print("missing", missing, flush=True)
print("in-order" if got == list(range(N)) else f"disorder {got}", flush=True)
"""


def test_object_handed_over_during_interrupted_recv_is_not_lost(tmp_path) -> None:
    proc = run_child(write_script(tmp_path, NOT_LOST), timeout=90)
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    assert "missing []" in proc.stdout, details
    assert "in-order" in proc.stdout, details
    counts = next(ln for ln in proc.stdout.splitlines() if ln.startswith("interrupts")).split()
    interrupts, races = int(counts[1]), int(counts[3])
    assert interrupts > 0, "no KeyboardInterrupt was ever raised: the test exercised nothing"
    # Typically ~20 of ~20 interrupts hit the race; zero would mean the scenario no longer
    # exercises the interrupted hand-over at all.
    assert races > 0, (
        f"no interrupt coincided with a hand-over: the test exercised nothing\n{details}"
    )
