"""Shared fixtures for the `subinterpreters` test suite (plain helper functions and constants are in
helpers.py, imported by the test modules as ``from helpers import ...``; conftest modules are not
meant to be imported):

- ``spawn(fn, *args, **kwargs) -> Task``: run ``fn`` on a daemon thread, capturing its result or
  exception. ``task.result()`` joins with a generous bound (so a missing wake-up fails instead of
  hanging), then returns the value or re-raises the thread's exception.
- ``ask(interp, expr, setup="", **shared)``: evaluate ``expr`` inside ``interp`` (after running
  ``setup``) and return the value, carried back through a channel (so it must be shareable).
- ``wait_until(predicate, timeout=10)``: poll a condition with a bound; False if it never held.
- ``shared_interp``: one isolated interpreter per test module (creating one costs ~10 ms and CPython
  leaks ~1.6 MiB per interpreter, so tests that do not need a fresh one reuse it).
- ``interp`` / ``legacy_interp``: a fresh isolated / legacy interpreter, closed after the test.
- ``channel``: a fresh ``(RecvChannel, SendChannel)`` pair, both ends closed after the test.
- ``target`` / ``fresh``: an isolated interpreter that can import tests/callee_module.py, one per
  test module / a fresh one per test.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import callee_module
import helpers
import subinterpreters as si
from helpers import JOIN_TIMEOUT, dedent

# Tests that send SIGINT to a child process expect Python's default handler there. A process
# started with SIGINT ignored (a shell's background job, some CI runners) passes "ignored" on to its
# children through exec, and Python then installs no handler: those tests would hang for their
# whole timeout. Installing Python's handler here makes every child start with the default
# disposition (exec resets caught signals), however the suite itself was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Task:
    """A daemon thread running ``fn(*args, **kwargs)`` whose outcome can be collected."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._result: Any = None
        self._exc: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            self._result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            self._exc = exc
        finally:
            del self._fn, self._args, self._kwargs

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self, timeout: float = JOIN_TIMEOUT) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"thread still blocked after {timeout} s"

    def result(self, timeout: float = JOIN_TIMEOUT) -> Any:
        self.join(timeout)
        if self._exc is not None:
            exc, self._exc = self._exc, None
            raise exc
        return self._result

    def exception(self, timeout: float = JOIN_TIMEOUT) -> BaseException | None:
        self.join(timeout)
        exc, self._exc = self._exc, None
        return exc


@pytest.fixture
def spawn() -> Iterator[Callable[..., Task]]:
    tasks: list[Task] = []

    def _spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        task = Task(fn, args, kwargs)
        tasks.append(task)
        return task

    yield _spawn
    # Tests assert on their own threads; this only avoids leaving threads behind when one failed.
    for task in tasks:
        task.thread.join(JOIN_TIMEOUT)


@pytest.fixture
def wait_until() -> Callable[..., bool]:
    return helpers.wait_until


def ask_impl(interp: si.Interpreter, expr: str, setup: str = "", **shared: Any) -> Any:
    recv, send = si.create_channel()
    try:
        source = dedent(setup) + f"_ask_out.send_nowait({expr})\ndel _ask_out\n"
        interp.run(source, _ask_out=send, **shared)
        return recv.recv_nowait()
    finally:
        recv.close()
        send.close()


@pytest.fixture
def ask() -> Callable[..., Any]:
    return ask_impl


@pytest.fixture(scope="module")
def shared_interp() -> Iterator[si.Interpreter]:
    interp = si.create()
    yield interp
    interp.close()


@pytest.fixture
def interp() -> Iterator[si.Interpreter]:
    interp = si.create()
    yield interp
    interp.close()


@pytest.fixture
def legacy_interp() -> Iterator[si.Interpreter]:
    interp = si.create(isolated=False)
    yield interp
    interp.close()


@pytest.fixture
def channel() -> Iterator[tuple[si.RecvChannel, si.SendChannel]]:
    recv, send = si.create_channel()
    yield recv, send
    recv.close()
    send.close()


def callee_interp() -> si.Interpreter:
    """A fresh isolated interpreter that can import callee_module."""
    interp = si.create()
    interp.exec(callee_module.add_tests_dir_source())
    return interp


@pytest.fixture(scope="module")
def target() -> Iterator[si.Interpreter]:
    interp = callee_interp()
    yield interp
    interp.close()


@pytest.fixture
def fresh() -> Iterator[si.Interpreter]:
    interp = callee_interp()
    yield interp
    interp.close()
