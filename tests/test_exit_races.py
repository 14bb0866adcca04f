"""Process exit racing interpreter creation and closing in other threads, exit hooks that run after
ours, and code that ignores SystemExit (found by reviewing the exit path; each was a crash or a hang
before). Each scenario runs in a fresh process, like tests/test_exit.py."""

from __future__ import annotations

import sys

import pytest

from test_exit import assert_clean_exit, run_script


@pytest.mark.parametrize("run", range(3))
def test_exit_while_a_daemon_thread_creates_and_closes_interpreters(tmp_path, run) -> None:
    proc = run_script(
        tmp_path,
        """
        def churn():
            while True:
                try:
                    si.create().close()
                except si.InterpreterError:
                    pass  # refused once shutdown began
        threading.Thread(target=churn, daemon=True).start()
        time.sleep(0.2)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


def test_exit_while_a_daemon_thread_is_closing_an_interpreter(tmp_path) -> None:
    # The closer joins the interpreter's own non-daemon thread when the main thread exits: the
    # exit hook waits for that close instead of skipping the interpreter.
    proc = run_script(
        tmp_path,
        """
        interp = si.create()
        interp.exec("import threading, time\\nthreading.Thread(target=time.sleep, args=(1.0,)).start()")
        threading.Thread(target=interp.close, daemon=True).start()
        time.sleep(0.2)
        print("ready", flush=True)
        sys.exit(3)
        """,
    )
    assert_clean_exit(proc, 3)


@pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="CPython 3.12 refuses to start threads once its exit has begun, so the scenario cannot arise",
)
def test_a_later_exit_hook_can_still_use_channels_in_a_non_daemon_thread(tmp_path) -> None:
    # atexit runs hooks registered before `import subinterpreters` after ours: a non-daemon thread
    # such a hook starts must not be parked (only daemon threads are).
    script = """
        import atexit, sys, threading

        def later_hook():
            import subinterpreters as si
            recv, send = si.create_channel()
            outcome = []
            def worker():
                try:
                    recv.recv(timeout=0.1)
                except TimeoutError:
                    outcome.append("timed out")
            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            print("hook done:", outcome, flush=True)

        atexit.register(later_hook)
        import subinterpreters as si
        print("ready", flush=True)
        sys.exit(3)
        """
    proc = run_script(tmp_path, script)
    assert_clean_exit(proc, 3)
    assert "hook done: ['timed out']" in proc.stdout, proc.stdout


def test_exit_stops_code_that_swallows_system_exit_a_few_times(tmp_path) -> None:
    # The hook asks again every second until the code ends.
    proc = run_script(
        tmp_path,
        """
        interp = si.create()
        source = (
            "import time\\n"
            "swallowed = 0\\n"
            "while True:\\n"
            "    try:\\n"
            "        time.sleep(0.01)\\n"
            "    except SystemExit:\\n"
            "        swallowed += 1\\n"
            "        if swallowed == 2:\\n"
            "            raise\\n"
        )
        threading.Thread(target=interp.exec, args=(source,), daemon=True).start()
        time.sleep(0.2)
        print("ready", flush=True)
        sys.exit(3)
        """,
        timeout=60,
    )
    assert_clean_exit(proc, 3)


def test_close_from_another_thread_while_the_interpreter_has_threads(interp) -> None:
    # 3.12's threading._shutdown used to wait for ever for the interpreter's "main thread" record
    # when the closing thread was not the one that created the interpreter.
    import threading

    import subinterpreters as si

    interp.exec("import threading, time\nthreading.Thread(target=time.sleep, args=(0.2,)).start()")
    closer = threading.Thread(target=interp.close)
    closer.start()
    closer.join(10)
    assert not closer.is_alive()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.exec("pass")


def test_sys_modules_tampering_gives_an_error_not_a_crash(interp) -> None:
    import subinterpreters as si

    recv, send = si.create_channel()
    interp.exec("import sys, _csv, subinterpreters\nsys.modules['subinterpreters._core'] = _csv")
    with pytest.raises(si.RunFailedError, match="SystemError"):
        interp.run("print(ch)", ch=send)
