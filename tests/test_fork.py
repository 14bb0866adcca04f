"""os.fork() in the main interpreter (issue 6's faults): with channels, queues and shared arrays
the child can use or drop them; while subinterpreters are alive, CPython would abort the child
(gh-101437), so the fork is refused with a clear RuntimeError and no child is made."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

import subinterpreters as si

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")


def fork() -> int:
    """os.fork(), without failing on CPython's warning about forking a multi-threaded process
    (threads left by other tests' pools or timers would trigger it; these children only touch
    the package's own state)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*fork\\(\\) may lead to deadlocks", category=DeprecationWarning
        )
        return os.fork()


def wait_for_child(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_child_of_a_fork_can_use_channels_queues_and_arrays() -> None:
    recv, send = si.create_channel()
    queue = si.create_queue()
    array = si.SharedBuffer(8)
    send.send_nowait("queued before the fork")
    queue.put("put before the fork")
    pid = fork()
    if pid == 0:  # the child: report through its exit code only
        code = 1
        try:
            ok = (
                recv.recv_nowait() == "queued before the fork"
                and queue.get_nowait() == "put before the fork"
                and send.send_nowait("in the child") is False
                and recv.recv_nowait() == "in the child"
            )
            memoryview(array)[0] = 7
            with si.create() as interp:  # and interpreters can be made in the child
                interp.run("x = 1")
            code = 0 if ok else 2
        finally:
            os._exit(code)
    assert wait_for_child(pid) == 0
    # The parent's channel and queue still hold their items (the child had copies).
    assert recv.recv_nowait() == "queued before the fork"
    assert queue.get_nowait() == "put before the fork"
    assert bytes(memoryview(array)) == bytes(8), "the child's write went to its own copy"


def test_the_child_may_drop_everything_and_exit_cleanly() -> None:
    recv, send = si.create_channel()
    send.send_nowait("x")
    pid = fork()
    if pid == 0:
        os._exit(0)
    assert wait_for_child(pid) == 0
    assert recv.recv_nowait() == "x"


def test_fork_is_refused_while_a_subinterpreter_is_alive() -> None:
    interp = si.create()
    try:
        with pytest.raises(RuntimeError, match=r"subinterpreter\(s\).*alive.*gh-101437"):
            fork()
    finally:
        interp.close()
    # Once they are closed, fork works again.
    pid = fork()
    if pid == 0:
        os._exit(0)
    assert wait_for_child(pid) == 0


def test_the_guard_keeps_forks_name_and_is_installed_once() -> None:
    assert os.fork.__name__ == "fork"
    import importlib

    import subinterpreters._fork as fork_guard

    before = os.fork
    fork_guard.install()
    importlib.reload(fork_guard)
    fork_guard.install()
    assert os.fork is before, "installing again must not wrap twice"


def test_subprocess_is_not_affected_by_live_interpreters() -> None:
    import subprocess

    with si.create():
        out = subprocess.run(
            [sys.executable, "-c", "print('ok')"], capture_output=True, text=True, check=True
        )
    assert out.stdout.strip() == "ok"
