"""Plain helper functions and constants shared by the test modules (fixtures live in conftest.py).

pytest puts this folder on sys.path (the rootdir conftest's folder, with its default "prepend" import
mode), so test modules import these as ``from helpers import ...``, as they import callee_module and
the cpython_suite package.

- ``dedent``, ``wait_until``: source tidying and polling with a bound.
- ``evaluate`` / ``evaluate_body``: run code in an interpreter and carry a value back through a
  channel, deleting the shared names afterwards (unlike the ``ask`` fixture).
- ``drain`` / ``drain_channel``: everything ready on a queue / channel, without waiting.
- ``ADDRESS_SOURCE`` / ``buffer_address``: the start address of any buffer, through the C API.
- ``run_python``, ``write_script``, ``run_script``, ``details``, ``assert_clean_exit``: child
  processes running this Python.
- ``run_child``, ``self_interrupt_script``, ``assert_interrupted_in_call``,
  ``assert_ctrl_c_from_outside_interrupts``, ``assert_ended_by_ctrl_c``,
  ``interrupted_receive_script``, ``assert_nothing_lost``: the Ctrl-C (SIGINT) tests' harness.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import subinterpreters as si

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# Upper bound for "this must finish": only ever reached when the behaviour under test is missing.
JOIN_TIMEOUT = 10.0
# How long to let a thread reach a blocking call before acting on it. If the machine is so slow
# that the thread is not blocked yet, the tests still pass (the call then meets the new state
# directly), they just exercise the wake-up path less.
SETTLE = 0.2


@contextlib.contextmanager
def channel_worker(source: str) -> Iterator[tuple[si.SendChannel, si.RecvChannel]]:
    """An isolated interpreter running `source` on a thread of its own, with `inbox` (a channel
    it receives from until it is closed) and `outbox` (one it sends on) bound: yields the sending
    end of `inbox` and the receiving end of `outbox`, and closes everything after."""
    inbox_recv, inbox_send = si.create_channel()
    outbox_recv, outbox_send = si.create_channel()
    interp = si.create()
    future = interp.run_in_thread(source, inbox=inbox_recv, outbox=outbox_send)
    try:
        yield inbox_send, outbox_recv
    finally:
        inbox_send.close()
        future.result(timeout=30)
        interp.close()


def dedent(source: str) -> str:
    return textwrap.dedent(source).strip("\n") + "\n"


def wait_until(predicate: Callable[[], bool], timeout: float = JOIN_TIMEOUT) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# --- running code in an interpreter ---------------------------------------------------------------


def evaluate(interp: si.Interpreter, expr: str, setup: str = "", **shared: object) -> object:
    """Like the `ask` fixture: evaluate `expr` in `interp` after `setup`, but the shared names are
    deleted from the interpreter afterwards (even if the code fails), so a reused interpreter keeps
    no handle alive."""
    names = ", ".join(["_out", *shared])
    body = dedent(setup) + f"_out.send_nowait({expr})\n"
    source = "try:\n" + textwrap.indent(body, "    ") + f"finally:\n    del {names}\n"
    return _run_sending_back(interp, source, shared)


def evaluate_body(interp: si.Interpreter, body: str, **shared: object) -> object:
    """Run `body` (which must assign `result`) in `interp` inside a function, so that its locals
    (views, arrays) are gone when it returns, and return `result` through a channel. The shared
    names are deleted afterwards; globals bound earlier stay readable."""
    names = ", ".join(["_out", *shared])
    source = (
        "def _body():\n"
        + textwrap.indent(dedent(body), "    ")
        + "    return result\n"
        + f"try:\n    _out.send_nowait(_body())\nfinally:\n    del _body, {names}\n"
    )
    return _run_sending_back(interp, source, shared)


def _run_sending_back(interp: si.Interpreter, source: str, shared: dict[str, object]) -> object:
    """Run `source` in `interp` with `shared` and `_out` (a send end) bound; return what it sent."""
    recv, send = si.create_channel()
    try:
        interp.run(source, _out=send, **shared)
        return recv.recv_nowait()
    finally:
        recv.close()
        send.close()


def drain(q: si.Queue, stop: type[Exception] | tuple[type[Exception], ...] = si.QueueEmpty) -> list[object]:
    """Everything `q` gives without waiting, until get_nowait() raises `stop` (any other error
    propagates: e.g. ``stop=si.QueueClosedError`` insists that the queue ends closed)."""
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except stop:
            return items


def drain_channel(recv: si.RecvChannel) -> list[object]:
    """Everything currently ready on `recv`, without waiting."""
    marker = object()
    items = []
    while (item := recv.recv_nowait(marker)) is not marker:
        items.append(item)
    return items


# --- buffer addresses -----------------------------------------------------------------------------

# Reads the start address of any buffer (read-only or not, contiguous or not) through the C API:
# ctypes.c_char.from_buffer only takes writable buffers. Run in the main interpreter and, where
# ctypes can be imported (CPython 3.13+ isolated interpreters, legacy ones), in other interpreters
# (as ``ADDRESS_SOURCE + "result = buffer_address(x)\n"``).
ADDRESS_SOURCE = """
import ctypes

class _Py_buffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]

_get_buffer = ctypes.PYFUNCTYPE(
    ctypes.c_int, ctypes.py_object, ctypes.POINTER(_Py_buffer), ctypes.c_int
)(("PyObject_GetBuffer", ctypes.pythonapi))
_release_buffer = ctypes.PYFUNCTYPE(None, ctypes.POINTER(_Py_buffer))(
    ("PyBuffer_Release", ctypes.pythonapi)
)
PyBUF_WRITABLE = 0x0001
PyBUF_FULL_RO = 0x011C

def buffer_address(obj, flags=PyBUF_FULL_RO):
    view = _Py_buffer()
    _get_buffer(obj, ctypes.byref(view), flags)  # raises the exporter's error (pythonapi)
    try:
        return view.buf or 0
    finally:
        _release_buffer(ctypes.byref(view))
"""
_address_ns: dict[str, object] = {}
exec(ADDRESS_SOURCE, _address_ns)
buffer_address: Callable[..., int] = _address_ns["buffer_address"]  # type: ignore[assignment]
PyBUF_WRITABLE: int = _address_ns["PyBUF_WRITABLE"]  # type: ignore[assignment]

needs_ctypes_in_isolated = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="CPython 3.12's _ctypes cannot be imported in isolated interpreters, so the address "
    "cannot be read there",
)


# Ctrl-C tests deliver SIGINT with os.kill: POSIX signals.
posix_signals_only = pytest.mark.skipif(
    sys.platform == "win32", reason="delivers SIGINT with os.kill (POSIX signals)"
)


# --- child processes ------------------------------------------------------------------------------


def run_python(
    *args: str, timeout: float, cwd: str | Path | None = None, what: str = "script"
) -> subprocess.CompletedProcess[str]:
    """Run this Python (sys.executable) with `args`, capturing its output as text. If it has not
    exited within `timeout` seconds, the test fails ("<what> did not exit within ...")."""
    try:
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not exit within {timeout} s; stdout={exc.stdout!r} stderr={exc.stderr!r}")


def write_script(tmp_path: Path, body: str, name: str = "script.py") -> Path:
    script = tmp_path / name
    script.write_text(dedent(body), encoding="utf-8")
    return script


def run_script(
    tmp_path: Path, body: str, timeout: float = 60, *, name: str = "script.py"
) -> subprocess.CompletedProcess[str]:
    """Write `body` (dedented) to tmp_path/`name` and run it there as a script."""
    script = write_script(tmp_path, body, name)
    return run_python(str(script), timeout=timeout, cwd=tmp_path)


def details(proc: subprocess.CompletedProcess[str]) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def assert_clean_exit(proc: subprocess.CompletedProcess[str], code: int, *, ready: bool = False) -> None:
    """The process exited with `code` and no fatal error (and, with `ready`, printed "ready")."""
    if ready:
        assert "ready" in proc.stdout, details(proc)
    assert "Fatal Python error" not in proc.stderr, details(proc)
    assert proc.returncode == code, details(proc)


# --- Ctrl-C (SIGINT) ------------------------------------------------------------------------------

# Generous: the contract says 100 ms; anything near a second means the call was not interruptible
# (e.g. it only noticed the signal when a long timer expired).
INTERRUPT_BOUND = 1.0


def run_child(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `script` with `args` in its folder; a hang fails the test."""
    return run_python(
        str(script), *args, timeout=timeout, cwd=script.parent, what="child (Ctrl-C did not interrupt?)"
    )


def self_interrupt_script(setup: str, after: str = "") -> str:
    """A child script that blocks in ``blocked()`` (defined by `setup`) in its main thread while a
    helper thread sends SIGINT to the process after 0.5 s (when the call is surely blocked). The
    call has a 30 s timeout or none: if the signal is not acted on, the child prints a failure
    marker (or hangs until the parent's bound). On KeyboardInterrupt it prints
    "KeyboardInterrupt-in-call <seconds since SIGINT>", then runs `after` (which reports what the
    interrupted call left behind) and exits 0. `setup` can read its arguments from sys.argv."""
    return (
        dedent(
            """
            import os, signal, sys, threading, time
            import subinterpreters as si

            sent_at = []

            def interrupter():
                time.sleep(0.5)
                sent_at.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)
            """
        )
        + "\n"
        + dedent(setup)
        + "\n"
        + dedent(
            """
            threading.Thread(target=interrupter, daemon=True).start()
            try:
                blocked()
            except KeyboardInterrupt:
                print(f"KeyboardInterrupt-in-call {time.monotonic() - sent_at[0]:.3f}", flush=True)
            """
        )
        + textwrap.indent(dedent(after or "pass"), "    ")
        + dedent(
            """
                sys.exit(0)
            except BaseException as exc:
                print("wrong-exception", type(exc).__name__, exc, flush=True)
                sys.exit(1)
            print("call-returned-without-interrupt", flush=True)
            sys.exit(1)
            """
        )
    )


def assert_interrupted_in_call(proc: subprocess.CompletedProcess[str]) -> None:
    """A child of `self_interrupt_script` exited 0 after a KeyboardInterrupt raised inside its call
    well within a second of the SIGINT, without a fatal error."""
    assert proc.returncode == 0, details(proc)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("KeyboardInterrupt-in-call")), None)
    assert line is not None, f"no KeyboardInterrupt inside the call; stdout={proc.stdout!r}"
    delay = float(line.split()[1])
    assert delay < INTERRUPT_BOUND, f"KeyboardInterrupt came {delay:.3f} s after SIGINT"
    assert "Fatal Python error" not in proc.stderr


def assert_ctrl_c_from_outside_interrupts(tmp_path: Path, setup: str, call: str) -> None:
    """Parent-delivered Ctrl-C: a child runs `setup`, prints "ready" and blocks in `call` in its main
    thread; the parent lets it block for 0.5 s and sends it SIGINT. The call must raise
    KeyboardInterrupt, reported well within a second, and the child exit 0."""
    body = (
        "import sys\nimport subinterpreters as si\n\n"
        + dedent(setup)
        + 'print("ready", flush=True)\n'
        + "try:\n"
        + textwrap.indent(dedent(call), "    ")
        + dedent(
            """
            except KeyboardInterrupt:
                print("KeyboardInterrupt-in-call", flush=True)
                sys.exit(0)
            print("call-returned", flush=True)
            sys.exit(1)
            """
        )
    )
    script = write_script(tmp_path, body)
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
            time.sleep(0.5)  # let it block in its call
            sent = time.monotonic()
            os.kill(child.pid, signal.SIGINT)
            line = child.stdout.readline().strip()
            delay = time.monotonic() - sent
            _, stderr = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert line == "KeyboardInterrupt-in-call", (line, stderr)
    assert delay < INTERRUPT_BOUND + 0.5, f"{delay:.3f} s from SIGINT to the child's report"
    assert child.returncode == 0, stderr


def interrupted_receive_script(setup: str, hand_over: str, end: str, after: str = "") -> str:
    """A child script checking that an object handed over while the receiver is being interrupted
    is not lost: a producer thread hands over 0..N-1 (N = 150), sending SIGINT right before each
    one, while the main thread keeps receiving through the interruptions.

    `setup` defines ``receive_some()``, which appends what it receives to ``got`` by C code only
    (``got.extend(iter(callable, sentinel))``), so a KeyboardInterrupt raised just after a
    successful receive cannot make the *test* lose an object; the SIGINT handler raises
    KeyboardInterrupt (as the default one does) only inside receive_some(), so an interrupt can never
    escape from the test's own loop code. `hand_over` hands object ``i`` over (inside the producer's
    loop; it sets ``last_handed[0] = i`` when the object went straight to the waiting receiver),
    `end` sends the end marker, `after` runs once everything is received. The child prints
    "interrupts I races R ignored G", "missing [...]" and "in-order" (see assert_nothing_lost)."""
    return (
        dedent(
            """
            import functools, operator, os, random, signal, sys, threading, time
            import subinterpreters as si

            N = 150
            got = []
            # The last object handed straight to the waiting receiver (the main thread, the only one).
            last_handed = [-1]
            """
        )
        + "\n"
        + dedent(setup)
        + "\n"
        + dedent(
            """
            # KeyboardInterrupt, but only raised while the main thread is inside receive_some() (i.e.
            # inside the receive, or right after it returned while still inside the try below): an
            # interrupt landing in the test's own loop code is counted and ignored, so it cannot kill
            # the child.
            ignored = 0

            def on_sigint(signum, frame):
                global ignored
                if frame is not None and frame.f_code is receive_some.__code__:
                    raise KeyboardInterrupt
                ignored += 1

            signal.signal(signal.SIGINT, on_sigint)

            def producer():
                # SIGINT, then busy Python work (holding the GIL) for a random time around the
                # receiver's signal-check period, then hand over the next object. The receiver, woken
                # to look at the signal, may have to wait for the GIL while the object is being handed
                # to it: the race.
                rnd = random.Random(12345)
                pid = os.getpid()
                for i in range(N):
                    os.kill(pid, signal.SIGINT)
                    end = time.perf_counter() + rnd.uniform(0, 0.03)
                    while time.perf_counter() < end:
                        pass
            """
        )
        + textwrap.indent(dedent(hand_over), " " * 8)
        + "    time.sleep(0.5)  # let every signal be handled while the main thread is still receiving\n"
        + textwrap.indent(dedent(end), " " * 4)
        + "\n"
        + dedent(
            """
            threading.Thread(target=producer, daemon=True).start()
            interrupts = races = 0
            while True:
                try:
                    receive_some()
                    break
                except KeyboardInterrupt:
                    interrupts += 1
                    # Object len(got) was handed directly to the waiting receiver, yet this receive
                    # raised: it went through the interrupted-handover path.
                    if last_handed[0] == len(got):
                        races += 1
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            """
        )
        + dedent(after or "pass")
        + dedent(
            """
            print("interrupts", interrupts, "races", races, "ignored", ignored, flush=True)
            print("missing", sorted(set(range(N)) - set(got)), flush=True)
            print("in-order" if got == list(range(N)) else f"disorder {got}", flush=True)
            """
        )
    )


def assert_nothing_lost(proc: subprocess.CompletedProcess[str]) -> int:
    """A child of `interrupted_receive_script` received every object exactly once, in order, and
    was interrupted at least once. Returns how many interrupts hit a hand-over (the race)."""
    assert proc.returncode == 0, details(proc)
    assert "missing []" in proc.stdout, details(proc)
    assert "in-order" in proc.stdout, details(proc)
    counts = next(ln for ln in proc.stdout.splitlines() if ln.startswith("interrupts")).split()
    interrupts, races = int(counts[1]), int(counts[3])
    assert interrupts > 0, "no KeyboardInterrupt was ever raised: the test exercised nothing"
    return races


def assert_ended_by_ctrl_c(proc: subprocess.CompletedProcess[str]) -> None:
    """A KeyboardInterrupt not caught by the script: the usual exit (traceback, status from
    SIGINT), no fatal error."""
    assert "KeyboardInterrupt" in proc.stderr, proc.stderr
    assert "Fatal Python error" not in proc.stderr, proc.stderr
    assert proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT, 1), proc.returncode


# --- exact signatures of values (the property tests) ------------------------------------------------

# A value's signature spells out every type and value, and numbers each list, dict and set the
# first time it is met, writing a reference to that number when it is met again: two values with
# equal signatures are equal in value *and* in the shape of their sharing. The source runs here
# and inside worker interpreters (where no module of the test suite is importable).
SIGNATURE_SOURCE = """
def signature(value):
    seen = {}
    out = []
    def walk(v):
        t = type(v)
        if t in (list, dict, set, frozenset, tuple, bytearray):
            if id(v) in seen:
                out.append("@%d" % seen[id(v)])
                return
            seen[id(v)] = len(seen)
        if t is tuple or t is list:
            out.append("%s%d(" % ("t" if t is tuple else "l", len(v)))
            for item in v:
                walk(item)
            out.append(")")
        elif t is dict:
            out.append("d%d(" % len(v))
            for key, item in v.items():
                walk(key)
                walk(item)
            out.append(")")
        elif t is set or t is frozenset:
            # Set order depends on the interpreter: items in the order of their own signatures
            # (they are hashable, so they hold no list, dict or set; tuples and frozensets
            # inside are numbered apart).
            out.append("%s%d(" % ("S" if t is set else "F", len(v)))
            out.extend(sorted(signature(item) for item in v))
            out.append(")")
        elif v is None:
            out.append("N")
        elif t is bool:
            out.append("T" if v else "F")
        elif t is int:
            out.append("i" + hex(v))
        elif t is float:
            out.append("f" + v.hex())
        elif t is complex:
            out.append("c" + v.real.hex() + "," + v.imag.hex())
        elif t is str:
            out.append("s" + ",".join("%x" % ord(ch) for ch in v))
        elif t is bytes or t is bytearray:
            out.append(("b" if t is bytes else "B") + v.hex())
        else:
            out.append("?" + t.__qualname__)
    walk(value)
    return "|".join(out)
"""

_signature_namespace: dict[str, object] = {}
exec(SIGNATURE_SOURCE, _signature_namespace)
signature = _signature_namespace["signature"]
