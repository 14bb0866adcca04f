"""close() and threads left in the interpreter.

CPython aborts the whole process ("Py_EndInterpreter: not the last thread") if an interpreter is
ended while another thread still runs in it. close() joins non-daemon threads, as interpreter
exit does, and refuses with RuntimeError while threads that would not be joined (daemon threads of
legacy interpreters) are alive, leaving the interpreter usable.

Before joining, close() does what CPython's own interpreter end (threading._shutdown) does: it runs
the hooks registered with threading._register_atexit, newest first and once each, so a thread that
waits for such a hook (an idle concurrent.futures.ThreadPoolExecutor's workers do) ends instead of
keeping close() waiting for ever; the exit hook does the same. In the main thread, Ctrl-C
interrupts a close() that waits for threads, and leaves the interpreter open and usable. Those
scenarios run in a child process with a bound, so a close() that hangs fails the test instead of
hanging the suite (it could not be interrupted from outside its process).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import subinterpreters as si
from helpers import dedent


def test_close_joins_non_daemon_threads(interp, channel):
    recv, send = channel
    interp.run(
        dedent(
            """
            import threading
            def work():
                send.send("from thread")
            worker = threading.Thread(target=work)
            worker.start()
            """
        ),
        send=send,
    )
    assert recv.recv(timeout=10) == "from thread"
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.exec("pass")


def test_close_refuses_while_a_daemon_thread_runs(legacy_interp, channel):
    recv, send = channel
    legacy_interp.run(
        dedent(
            """
            import threading
            stop = threading.Event()
            def spin():
                while not stop.wait(0.01):
                    pass
            daemon = threading.Thread(target=spin, daemon=True)
            daemon.start()
            """
        )
    )
    with pytest.raises(RuntimeError, match="daemon"):
        legacy_interp.close()
    # Nothing was half-done: the interpreter still works, and closes once the thread is gone.
    legacy_interp.run("stop.set(); daemon.join(); send.send_nowait(daemon.is_alive())", send=send)
    assert recv.recv(timeout=10) is False
    legacy_interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        legacy_interp.is_running()


# --- threading exit hooks, Ctrl-C ---------------------------------------------------------------------

PROLOGUE = "import os, signal, sys, threading, time\nimport subinterpreters as si\n"

# The example: a thread that only ends once a threading exit hook has run.
WAITS_FOR_HOOK = (
    "import threading, time\n"
    "done = False\n"
    "def f():\n"
    "    global done; done = True\n"
    "threading._register_atexit(f)\n"
    "t = threading.Thread(target=lambda: [time.sleep(.1) for _ in iter(lambda: done, True)])\n"
    "t.start()\n"
)
IDLE_EXECUTOR = (
    "from concurrent.futures import ThreadPoolExecutor\n"
    "executor = ThreadPoolExecutor(2)\n"
    "assert executor.submit(abs, -3).result() == 3\n"
)


def run_script(tmp_path: Path, body: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "child.py"
    script.write_text(PROLOGUE + textwrap.dedent(body), encoding="utf-8")
    try:
        return subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the child hung for {timeout} s; stdout={exc.stdout!r} stderr={exc.stderr!r}")


def details(proc: subprocess.CompletedProcess[str]) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.parametrize("source", [WAITS_FOR_HOOK, IDLE_EXECUTOR], ids=["issue-example", "idle-executor"])
@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "legacy"])
def test_close_runs_threading_exit_hooks_before_joining(tmp_path, source, isolated) -> None:
    proc = run_script(
        tmp_path,
        f"""
        interp = si.create(isolated={isolated})
        interp.exec({source!r})
        interp.close()
        print("closed", interp not in si.list_all(), flush=True)
        """,
    )
    assert proc.returncode == 0 and "closed True" in proc.stdout, details(proc)


@pytest.mark.parametrize("source", [WAITS_FOR_HOOK, IDLE_EXECUTOR], ids=["issue-example", "idle-executor"])
def test_exit_runs_threading_exit_hooks_of_live_interpreters(tmp_path, source) -> None:
    # Without them the exit hook would ask the threads to raise SystemExit, which a thread
    # blocked in C (an executor's idle worker) never sees: the process would wait for ever.
    proc = run_script(
        tmp_path,
        f"""
        interp = si.create()
        interp.exec({source!r})
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert proc.returncode == 3 and "ready" in proc.stdout, details(proc)
    assert "Fatal Python error" not in proc.stderr and "still waiting" not in proc.stderr, details(proc)


def test_threading_exit_hooks_run_newest_first_once_each_even_if_one_raises(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        interp = si.create()
        interp.exec(
            "import threading\\n"
            "def hook(name):\\n"
            "    print('hook', name, flush=True)\\n"
            "def broken():\\n"
            "    raise ValueError('broken hook')\\n"
            "threading._register_atexit(hook, 'first')\\n"
            "threading._register_atexit(broken)\\n"
            "threading._register_atexit(hook, 'last')\\n"
        )
        interp.close()
        print("closed", flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert proc.stdout.splitlines() == ["hook last", "hook first", "closed"], details(proc)
    assert "ValueError: broken hook" in proc.stderr, details(proc)


def test_close_is_interrupted_by_ctrl_c_and_leaves_the_interpreter_usable(tmp_path) -> None:
    # A non-daemon thread of the interpreter waits for an event nobody sets: close() waits for it
    # (as CPython's interpreter end would), until Ctrl-C. The interpreter is then still there;
    # once the thread can end, a second close() succeeds.
    proc = run_script(
        tmp_path,
        """
        event = si.Event()
        interp = si.create()
        interp.run("import threading\\nthreading.Thread(target=event.wait).start()", event=event)

        def interrupter():
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupter, daemon=True).start()
        try:
            interp.close()
        except KeyboardInterrupt:
            print("interrupted", interp in si.list_all(), flush=True)
        print("runs", interp.call(abs, -2), flush=True)
        event.set()
        interp.close()
        print("closed", interp not in si.list_all(), flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert proc.stdout.splitlines() == ["interrupted True", "runs 2", "closed True"], details(proc)


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")
def test_a_signal_handler_raising_interrupts_close(tmp_path) -> None:
    # What a test-timeout plugin does: an alarm whose handler raises.
    proc = run_script(
        tmp_path,
        """
        class Timeout(Exception):
            pass

        def on_alarm(signum, frame):
            raise Timeout()

        signal.signal(signal.SIGALRM, on_alarm)
        event = si.Event()
        interp = si.create()
        interp.run("import threading\\nthreading.Thread(target=event.wait).start()", event=event)
        signal.alarm(1)
        try:
            interp.close()
        except Timeout:
            print("timed out", flush=True)
        event.set()
        interp.close()
        print("closed", flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert proc.stdout.splitlines() == ["timed out", "closed"], details(proc)


@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "legacy"])
def test_an_exit_hook_of_the_closing_interpreter_may_create_and_close_another(tmp_path, isolated) -> None:
    # Creations and ends of interpreters take turns process-wide (CPython's shared static state is
    # not safe against a creation racing an end). The end runs the interpreter's atexit hooks on
    # the closing thread, inside its turn: one that creates and closes an interpreter must not
    # wait for that turn (the child would hang).
    proc = run_script(
        tmp_path,
        f"""
        interp = si.create(isolated={isolated})
        interp.exec(
            "import atexit\\n"
            "import subinterpreters as si\\n"
            "def hook():\\n"
            "    inner = si.create()\\n"
            "    print('inner says', inner.call(abs, -7), flush=True)\\n"
            "    inner.close()\\n"
            "atexit.register(hook)\\n"
        )
        interp.close()
        print("closed", [i.id for i in si.list_all()] == [0], flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert proc.stdout.splitlines() == ["inner says 7", "closed True"], details(proc)
