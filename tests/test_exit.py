"""Process exit: interpreters still alive at exit are closed by the package and calls blocked in the
package in other threads (daemon threads included, and threads inside subinterpreters) are released,
so the process exits with its own exit code and no "Fatal Python error" (3.12 and 3.13). Python joins
non-daemon threads before that: one blocked in the package keeps the exit waiting, is named on
stderr after a few seconds, and Ctrl-C ends the wait. On CPython 3.12.0-3.12.3 a subinterpreter
that first passed a keyword to a C function no longer crashes the exit (gh-119213).

Each scenario runs in a fresh interpreter process (a script in tmp_path) that prints "ready" once
everything is in place and then exits with its own code (usually 3)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import helpers

PROLOGUE = textwrap.dedent(
    """
    import sys, threading, time
    import subinterpreters as si
    """
)


def run_script(tmp_path: Path, body: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run PROLOGUE + `body` as a fresh process (tmp_path/scenario.py)."""
    return helpers.run_script(tmp_path, PROLOGUE + textwrap.dedent(body), timeout, name="scenario.py")


def assert_clean_exit(proc: subprocess.CompletedProcess[str], code: int) -> None:
    """The scenario printed "ready", then exited with `code` and no fatal error."""
    helpers.assert_clean_exit(proc, code, ready=True)


# --- live interpreters -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 3])
def test_exit_with_live_idle_interpreters(tmp_path, code) -> None:
    proc = run_script(
        tmp_path,
        f"""
        isolated = [si.create() for _ in range(2)]
        legacy = si.create(isolated=False)
        r, s = si.create_channel()
        for interp in isolated + [legacy]:
            interp.run("import json\\nstate = json.dumps([1, 2])", r=r, s=s)
        s.send_nowait("queued at exit")
        print("ready", flush=True)
        sys.exit({code})
        """,
    )
    assert_clean_exit(proc, code)


def test_exit_by_falling_off_the_end_with_live_interpreter(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        interp = si.create()
        interp.exec("x = 1")
        print("ready", flush=True)
        """,
    )
    assert_clean_exit(proc, 0)


def test_exit_by_uncaught_exception_with_live_interpreter(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        interp = si.create()
        print("ready", flush=True)
        raise ValueError("boom at top level")
        """,
    )
    assert_clean_exit(proc, 1)
    assert "ValueError: boom at top level" in proc.stderr


def test_exit_with_interpreter_objects_held_by_subinterpreters(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        a, b = si.create(), si.create()
        a.run("peer = p", p=b)
        b.run("peer = p", p=a)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


# --- calls blocked in other threads of the main interpreter --------------------------------------------


# Threads blocked for good are daemon threads here: CPython joins non-daemon threads *before* the
# atexit hooks run, so a non-daemon thread blocked forever keeps any Python program alive (as with
# queue.Queue); releasing it earlier would break programs whose non-daemon threads still legitimately
# communicate after the main thread ends (see test_non_daemon_threads_finish_their_exchange_at_exit).
def test_exit_with_calls_blocked_in_daemon_threads_of_main_interpreter(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        r, s = si.create_channel()
        r2, s2 = si.create_channel()
        interp = si.create()

        def block(call, *args, **kwargs):
            try:
                call(*args, **kwargs)
            except si.ChannelClosedError:
                pass

        threads = [
            threading.Thread(target=block, args=(r.recv,), daemon=True),
            threading.Thread(target=block, args=(r.recv,), kwargs=dict(timeout=600), daemon=True),
            threading.Thread(target=block, args=(s2.send, "x"), daemon=True),
            threading.Thread(target=block, args=(s2.send, "y"), kwargs=dict(timeout=600), daemon=True),
        ]
        for t in threads:
            t.start()
        time.sleep(0.3)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


def test_non_daemon_threads_finish_their_exchange_at_exit(tmp_path) -> None:
    # The main thread ends while non-daemon threads (one in a subinterpreter) are still talking:
    # Python waits for them as usual, nothing is cut short, then the process exits cleanly.
    proc = run_script(
        tmp_path,
        """
        r, s = si.create_channel()
        interp = si.create()

        def producer():
            src = "import time\\nfor i in range(50):\\n    s.send(i)\\n    time.sleep(0.01)\\n"
            interp.run(src, s=s)
            s.close()

        def consumer():
            got = list(r)
            print("consumer got", len(got), got == list(range(50)), flush=True)

        threading.Thread(target=producer).start()
        threading.Thread(target=consumer).start()
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)
    assert "consumer got 50 True" in proc.stdout, proc.stdout


def test_exit_with_uncaught_channel_closed_in_daemon_threads(tmp_path) -> None:
    # The released calls raise in their threads; nobody catches it. Still a clean exit.
    proc = run_script(
        tmp_path,
        """
        r, s = si.create_channel()
        for _ in range(3):
            threading.Thread(target=r.recv, daemon=True).start()
        time.sleep(0.3)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


# --- calls blocked inside subinterpreters ------------------------------------------------------------

BLOCKED_IN_SUB = """
import threading, time
import subinterpreters as si

def worker():
    try:
        r.recv()
    except si.ChannelClosedError:
        time.sleep(0.05)  # a short clean-up once released: the thread outlives the release a bit

threading.Thread(target=worker, daemon=DAEMON).start()
started.send_nowait("worker started")
try:
    r.recv()          # the calling thread blocks here too
except si.ChannelClosedError:
    pass
"""


@pytest.mark.parametrize(
    ("isolated", "daemon"),
    [(True, False), (False, False), (False, True)],
    ids=["isolated-thread", "legacy-thread", "legacy-daemon-thread"],
)
def test_exit_with_calls_blocked_in_threads_inside_subinterpreters(tmp_path, isolated, daemon):
    # Isolated interpreters refuse daemon threads, so their inner thread is a normal one (which
    # Py_EndInterpreter would wait for); legacy interpreters are tried with both kinds. The
    # thread that called run() is a daemon thread of the main interpreter. Repeated: a release
    # that races with closing the interpreter may show up only now and then.
    inner_source = BLOCKED_IN_SUB.replace("DAEMON", str(daemon))
    for _ in range(2):
        proc = run_script(
            tmp_path,
            f"""
            r, s = si.create_channel()
            started_r, started_s = si.create_channel()
            interp = si.create(isolated={isolated})

            def runner():
                try:
                    interp.run({inner_source!r}, r=r, started=started_s)
                except si.InterpreterError:
                    pass

            threading.Thread(target=runner, daemon=True).start()
            assert started_r.recv(timeout=30) == "worker started"
            time.sleep(0.1)
            print("ready", flush=True)
            sys.exit(3)
            """,
        )
        assert_clean_exit(proc, 3)


def test_exit_with_subinterpreter_threads_blocked_without_catching(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        r, s = si.create_channel()
        started_r, started_s = si.create_channel()
        interp = si.create()
        source = (
            "import threading\\n"
            "threading.Thread(target=r.recv).start()\\n"
            "started.send_nowait(1)\\n"
            "r.recv()\\n"
        )
        threading.Thread(
            target=interp.run, args=(source,), kwargs=dict(r=r, started=started_s), daemon=True
        ).start()
        started_r.recv(timeout=30)
        time.sleep(0.3)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


# --- an interpreter still running code ---------------------------------------------------------------


SPIN = "started.send_nowait(1)\\nn = 0\\nwhile True:\\n    n += 1\\n"
# Busy too, but lets other threads take the shared GIL now and then.
SPIN_YIELDING = (
    "import time\\nstarted.send_nowait(1)\\nn = 0\\n"
    "while True:\\n    n += 1\\n    if n % 1000 == 0:\\n        time.sleep(0)\\n"
)
LEGACY_SPIN_STARVES = pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason=(
        "CPython 3.12 bug: a legacy subinterpreter spinning in pure Python never hands the shared "
        "GIL to the main interpreter's threads (the drop request is not seen across interpreters), "
        "so the main thread itself starves; the same happens with CPython's _xxsubinterpreters"
    ),
)


@pytest.mark.parametrize(
    ("isolated", "loop"),
    [
        (True, SPIN),
        pytest.param(False, SPIN, marks=LEGACY_SPIN_STARVES),
        (False, SPIN_YIELDING),
    ],
    ids=["isolated", "legacy", "legacy-yielding"],
)
def test_exit_while_interpreter_runs_code_in_daemon_thread(tmp_path, isolated, loop) -> None:
    proc = run_script(
        tmp_path,
        f"""
        interp = si.create(isolated={isolated})
        started_r, started_s = si.create_channel()

        def runner():
            try:
                interp.run("{loop}", started=started_s)
            except si.InterpreterError:
                pass

        threading.Thread(target=runner, daemon=True).start()
        started_r.recv(timeout=30)
        time.sleep(0.2)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


def test_exit_while_two_interpreters_run_code_and_others_block(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        started_r, started_s = si.create_channel()
        r, s = si.create_channel()
        spinning = [si.create(), si.create()]
        blocked = si.create()
        for interp in spinning:
            threading.Thread(
                target=interp.run,
                args=("started.send_nowait(1)\\nwhile True:\\n    pass\\n",),
                kwargs=dict(started=started_s),
                daemon=True,
            ).start()
        threading.Thread(
            target=blocked.run, args=("started.send_nowait(1)\\nr.recv()",),
            kwargs=dict(started=started_s, r=r), daemon=True,
        ).start()
        for _ in range(3):
            started_r.recv(timeout=30)
        time.sleep(0.2)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


# --- CPython 3.12.0-3.12.3: keyword-name tuples made by a subinterpreter (gh-119213) ------------------

# Each makes an isolated interpreter the first to pass a keyword to some C function. CPython
# 3.12.0-3.12.3 then frees that parser's tuple of keyword names with the wrong allocator at
# finalisation ("free(): invalid pointer", SIGSEGV); later versions pass without the package's help.
FIRST_KEYWORD_CALLS = {
    "nested-call": "w1.run('assert w2.call(abs, -1) == 1', w2=w2)",
    "pickle-protocol": "w1.exec('import pickle\\npickle.dumps(1, protocol=5)')",
    "math-isclose": "w1.exec('import math\\nassert math.isclose(1.0, 1.0, rel_tol=0.1)')",
    "asyncio-run": "w1.exec('import asyncio\\nasyncio.run(asyncio.sleep(0))')",
}


@pytest.mark.parametrize("closed", [False, True], ids=["left-to-exit", "closed-first"])
@pytest.mark.parametrize("call", list(FIRST_KEYWORD_CALLS.values()), ids=list(FIRST_KEYWORD_CALLS))
def test_exit_after_a_subinterpreter_first_passed_a_keyword_to_a_c_function(tmp_path, call, closed):
    proc = run_script(
        tmp_path,
        f"""
        w1, w2 = si.create(), si.create()
        {call}
        if {closed}:
            w1.close()
            w2.close()
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)
    assert "invalid pointer" not in proc.stderr, proc.stderr


# --- non-daemon threads blocked in the package: Python waits, says so, and Ctrl-C ends it -----------

# Python joins non-daemon threads before any atexit hook (the package's included) runs, as it does
# for the standard library's blocking calls: such a thread blocked for ever keeps the process
# waiting. After a few seconds a report on stderr names each thread and the call it waits in; then
# Ctrl-C stops the wait, the exit hook releases the calls, and the process ends cleanly.
BLOCKED_NON_DAEMON = """
import operator
q, q2 = si.create_queue(), si.create_queue()
r, s = si.create_channel()
threading.Thread(target=q.get, name="getter").start()
threading.Thread(target=r.recv, name="receiver").start()
pool = si.InterpreterPoolExecutor(1)
pool.submit(operator.methodcaller("get"), q2)  # a pool task blocked inside a worker interpreter
time.sleep(0.3)
print("ready", flush=True)
"""
POOL_TASK_LINE = (
    "thread 'InterpreterPoolExecutor-0_0' waits in Queue.get, in interpreter"  # ThreadPoolExecutor's naming
)


def start_script(tmp_path: Path, body: str) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "scenario.py"
    script.write_text(PROLOGUE + textwrap.dedent(body), encoding="utf-8")
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=sink, text=True, cwd=tmp_path
        )
    return proc, errors


def wait_for_text(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text()
        if text in content:
            return content
        time.sleep(0.05)
    return path.read_text()


def test_exit_names_threads_blocked_in_the_package_and_ctrl_c_ends_the_wait(tmp_path) -> None:
    proc, errors = start_script(tmp_path, BLOCKED_NON_DAEMON)
    try:
        # The pool's worker may qualify later than the others (it starts an interpreter first).
        report = wait_for_text(errors, POOL_TASK_LINE, timeout=60)
        assert POOL_TASK_LINE in report, f"no report after 60 s; stderr:\n{report}"
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    stderr = errors.read_text()
    assert "ready" in stdout, stderr
    assert "thread 'getter' waits in Queue.get\n" in report, report
    assert "thread 'receiver' waits in RecvChannel.recv\n" in report, report
    assert "or press Ctrl-C to stop waiting" in report, report
    # Released by the exit hook, the threads left over park: no traceback from them, no crash.
    assert "Exception in thread" not in stderr, stderr
    assert "Fatal Python error" not in stderr, stderr
    assert proc.returncode == 0, stderr


def test_exit_reports_nothing_for_non_daemon_threads_waiting_elsewhere(tmp_path) -> None:
    # A thread that makes the exit wait without being in the package (sleeping here), and one
    # that waits in the package only briefly: no report.
    proc = run_script(
        tmp_path,
        """
        r, s = si.create_channel()
        threading.Thread(target=time.sleep, args=(4,)).start()

        def brief():
            try:
                r.recv(timeout=1)
            except TimeoutError:
                pass
        threading.Thread(target=brief).start()
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)
    assert "at exit, Python waits" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("form", ["call_in_thread", "run_in_thread"])
def test_exit_lets_threads_of_finished_work_end_first(tmp_path, form) -> None:
    # The work's thread is a daemon thread; CPython before 3.14 may crash when a daemon thread is
    # still ending while the runtime is finalised. A program that waits for the result and exits
    # at once: the exit hook waits (boundedly) for such threads to end, so the rest of the
    # thread's life (here a done-callback, run by that thread after the result) still happens.
    work = (
        "interp.call_in_thread(time.sleep, 0.2)"
        if form == "call_in_thread"
        else ('interp.run_in_thread("import time; time.sleep(0.2)")')
    )
    proc = run_script(
        tmp_path,
        f"""
        interp = si.create()
        future = {work}

        def after(_):
            time.sleep(0.3)
            print("the thread ended its work", flush=True)

        future.add_done_callback(after)
        future.result()
        print("ready", flush=True)
        """,
    )
    assert_clean_exit(proc, 0)
    assert proc.stdout.splitlines() == ["ready", "the thread ended its work"], helpers.details(proc)
