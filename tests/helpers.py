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
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
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


def drain(
    q: si.Queue, stop: type[Exception] | tuple[type[Exception], ...] = si.QueueEmpty
) -> list[object]:
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
        pytest.fail(
            f"{what} did not exit within {timeout} s; stdout={exc.stdout!r} stderr={exc.stderr!r}"
        )


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


def assert_clean_exit(
    proc: subprocess.CompletedProcess[str], code: int, *, ready: bool = False
) -> None:
    """The process exited with `code` and no fatal error (and, with `ready`, printed "ready")."""
    if ready:
        assert "ready" in proc.stdout, details(proc)
    assert "Fatal Python error" not in proc.stderr, details(proc)
    assert proc.returncode == code, details(proc)
