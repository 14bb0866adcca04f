"""Interpreter.run / exec / prepare_main: where code runs, shared globals, persistence, the caller's
GIL released, RunFailedError, SystemExit, RuntimeError cases, NotShareableError binding nothing."""

from __future__ import annotations

import threading
import time

import pytest

import subinterpreters as si
from helpers import dedent

# --- where and how code runs ----------------------------------------------------------------------


def test_run_executes_in_main_module_of_the_interpreter(interp, ask) -> None:
    interp.exec("import __main__\nname = __name__\nsame = __main__.__dict__ is globals()")
    assert ask(interp, "(name, same)") == ("__main__", True)


def test_run_executes_on_the_calling_thread(interp, ask) -> None:
    native = ask(interp, "threading.get_native_id()", setup="import threading")
    assert native == threading.get_native_id()


def test_run_from_another_thread_runs_on_that_thread(interp, ask, spawn) -> None:
    def probe() -> tuple[int, int]:
        return threading.get_native_id(), ask(interp, "threading.get_native_id()", setup="import threading")

    caller, inside = spawn(probe).result()
    assert caller == inside


def test_run_binds_shared_values_as_globals_first(interp, channel) -> None:
    recv, send = channel
    interp.run("out.send_nowait((x, y, name))", out=send, x=1, y=(2, "three"), name="n")
    assert recv.recv_nowait() == (1, (2, "three"), "n")


def test_shared_values_overwrite_existing_globals(interp, ask) -> None:
    interp.exec("x = 'old'")
    assert ask(interp, "x", x="new") == "new"
    assert ask(interp, "x") == "new"


def test_main_state_persists_across_runs(interp, ask) -> None:
    interp.exec("counter = 0\ndef bump():\n    global counter\n    counter += 1\n")
    interp.exec("bump()")
    interp.run("bump(); bump()", unused=None)
    interp.exec("import json")
    assert ask(interp, "counter") == 3
    assert ask(interp, "'json' in globals()") is True


def test_prepare_main_binds_without_running(interp, ask, channel) -> None:
    recv, send = channel
    interp.prepare_main(a=1, b="two", out=send)
    assert recv.recv_nowait(None) is None  # nothing ran
    interp.exec("out.send_nowait((a, b))")
    assert recv.recv_nowait() == (1, "two")
    assert ask(interp, "a") == 1


def test_prepare_main_takes_a_namespace_not_source(interp, ask) -> None:
    # CPython 3.14: prepare_main(ns=None, /, **kwargs) binds dict(ns, **kwargs).
    with pytest.raises((TypeError, ValueError)):
        interp.prepare_main("x = 1")  # type: ignore[arg-type]
    interp.prepare_main({"x": 1, "y": 2}, y=3)
    assert ask(interp, "(x, y)") == (1, 3)
    interp.prepare_main([("z", 4)])
    assert ask(interp, "z") == 4


def test_prepare_main_with_nothing_raises_value_error(interp) -> None:
    # As CPython 3.14's: binding nothing is reported.
    with pytest.raises(ValueError):
        interp.prepare_main()
    with pytest.raises(ValueError):
        interp.prepare_main({})


def test_exec_is_run_without_shared_values(interp, ask) -> None:
    interp.exec("z = 7 * 6")
    assert ask(interp, "z") == 42
    with pytest.raises(TypeError):
        interp.exec("pass", z=1)  # type: ignore[call-arg]


def test_run_source_is_positional_only_and_must_be_str(interp) -> None:
    with pytest.raises(TypeError):
        interp.run(b"x = 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        interp.run(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        interp.exec(None)  # type: ignore[arg-type]
    # `source` as a keyword is just a shared value called "source": the source is still missing.
    with pytest.raises(TypeError):
        interp.run(source="x = 1")  # type: ignore[call-arg]


def test_shared_value_may_be_called_source(interp, ask) -> None:
    interp.run("y = source", source="hello")
    assert ask(interp, "y") == "hello"


def test_legacy_interpreter_runs_code_too(legacy_interp, ask) -> None:
    legacy_interp.run("v = x * 2", x=21)
    assert ask(legacy_interp, "v") == 42


# --- the caller's GIL is released while code runs --------------------------------------------------


def test_caller_threads_keep_running_while_run_blocks(interp, spawn) -> None:
    # The subinterpreter waits for a value that only another thread of the *main* interpreter can
    # send. If run() held the main GIL, that thread could never run and the recv would time out.
    recv, send = si.create_channel()

    def feeder() -> None:
        time.sleep(0.1)
        send.send("from-main-thread", timeout=10)

    feeder_task = spawn(feeder)
    interp.run(
        "got = r.recv(timeout=10)\nassert got == 'from-main-thread', got",
        r=recv,
    )
    feeder_task.result()
    recv.close()
    send.close()


def test_caller_threads_run_python_while_subinterpreter_spins(interp, spawn) -> None:
    # The subinterpreter spins in pure Python (never blocking) until a main-interpreter thread,
    # running pure Python too, has counted to a number and sent it.
    recv, send = si.create_channel()

    def counter() -> int:
        n = 0
        for _ in range(200_000):
            n += 1
        send.send_nowait(n)
        return n

    source = dedent(
        """
        import time
        deadline = time.monotonic() + 10
        seen = None
        started.send_nowait(True)
        while seen is None and time.monotonic() < deadline:
            seen = r.recv_nowait(None)
        assert seen == 200_000, seen
        """
    )
    started_r, started_s = si.create_channel()

    def start_counter_when_spinning() -> int:
        started_r.recv(timeout=10)
        return counter()

    task = spawn(start_counter_when_spinning)
    interp.run(source, r=recv, started=started_s)
    assert task.result() == 200_000
    for end in (recv, send, started_r, started_s):
        end.close()


# --- failures -------------------------------------------------------------------------------------


def test_run_failed_error_fields(interp) -> None:
    source = "x = 1\ny = 2\nz = x / 0\n"
    with pytest.raises(si.RunFailedError) as info:
        interp.exec(source)
    err = info.value
    assert isinstance(err, si.InterpreterError)
    assert isinstance(err, si.ExecutionFailed)
    assert err.type_name == "ZeroDivisionError"
    assert err.msg == "division by zero"
    assert isinstance(err.traceback, str)
    assert "Traceback (most recent call last)" in err.traceback
    assert "line 3" in err.traceback
    assert "ZeroDivisionError" in err.traceback
    assert "ZeroDivisionError" in str(err) and "division by zero" in str(err)
    # str() as CPython 3.14's ExecutionFailed shows it: the summary, then the remote traceback.
    assert str(err).startswith("ZeroDivisionError: division by zero\n\nUncaught in the interpreter:\n\n")
    assert err.traceback.rstrip("\n") in str(err)
    assert err.excinfo.type.__name__ == "ZeroDivisionError"
    assert err.excinfo.type.__module__ == "builtins"
    assert err.excinfo.msg == "division by zero"
    assert err.excinfo.formatted == "ZeroDivisionError: division by zero"
    assert err.excinfo.errdisplay == err.traceback.rstrip("\n")


def test_run_failed_error_for_exception_defined_remotely(interp) -> None:
    source = dedent(
        """
        class Boom(Exception):
            pass
        def inner():
            raise Boom("bang ünïcode")
        inner()
        """
    )
    with pytest.raises(si.RunFailedError) as info:
        interp.exec(source)
    err = info.value
    assert err.type_name == "Boom"
    assert err.msg == "bang ünïcode"
    assert "inner" in err.traceback
    assert "Boom" in str(err) and "bang ünïcode" in str(err)


def test_run_failed_error_message_of_exception_without_args(interp) -> None:
    with pytest.raises(si.RunFailedError) as info:
        interp.exec("raise KeyError")
    assert info.value.type_name == "KeyError"
    assert info.value.msg == ""


def test_syntax_error_is_a_run_failure(interp) -> None:
    with pytest.raises(si.RunFailedError) as info:
        interp.exec("def broken(:\n")
    assert info.value.type_name == "SyntaxError"


def test_state_before_failure_persists_and_interpreter_stays_usable(interp, ask) -> None:
    with pytest.raises(si.RunFailedError):
        interp.exec("before = 1\nraise ValueError('x')\nafter = 2\n")
    assert ask(interp, "('before' in globals(), 'after' in globals())") == (True, False)


def test_execution_failed_alias_catches_run_failures(interp) -> None:
    with pytest.raises(si.ExecutionFailed):
        interp.exec("1/0")


@pytest.mark.parametrize(
    "source", ["raise SystemExit(5)", "import sys; sys.exit(0)", "raise SystemExit('bye')"]
)
def test_system_exit_inside_is_a_run_failure_not_a_process_exit(interp, ask, source) -> None:
    with pytest.raises(si.RunFailedError) as info:
        interp.exec(source)
    assert info.value.type_name == "SystemExit"
    assert ask(interp, "'still alive'") == "still alive"


def test_keyboard_interrupt_inside_is_a_run_failure(interp) -> None:
    with pytest.raises(si.RunFailedError) as info:
        interp.exec("raise KeyboardInterrupt")
    assert info.value.type_name == "KeyboardInterrupt"


# --- RuntimeError cases ---------------------------------------------------------------------------


def test_run_on_main_interpreter_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        si.get_main().exec("pass")
    with pytest.raises(RuntimeError):
        si.get_main().run("pass", x=1)


def test_run_current_interpreter_from_inside_raises_runtime_error(interp, ask) -> None:
    setup = dedent(
        """
        import subinterpreters as si
        try:
            si.get_current().exec("pass")
        except RuntimeError:
            outcome = "RuntimeError"
        else:
            outcome = "no error"
        """
    )
    assert ask(interp, "outcome", setup=setup) == "RuntimeError"


def test_run_while_running_in_another_thread_raises_runtime_error(interp, spawn, wait_until) -> None:
    recv, send = si.create_channel()
    task = spawn(interp.run, "r.recv()\nfirst_done = True", r=recv)
    try:
        assert wait_until(interp.is_running)
        with pytest.raises(RuntimeError):
            interp.exec("second = True")
        with pytest.raises(RuntimeError):
            interp.run("second = True", x=1)
    finally:
        send.send(None, timeout=10)
    task.result()
    interp.exec("assert first_done and 'second' not in globals()")
    recv.close()
    send.close()


# --- NotShareableError binds nothing ----------------------------------------------------------------


def test_unshareable_shared_value_binds_nothing_and_runs_nothing(interp, ask, channel) -> None:
    recv, send = channel
    with pytest.raises(si.NotShareableError):
        interp.run("out.send_nowait('ran')", out=send, good=1, bad=[1, object()])
    assert recv.recv_nowait(None) is None
    assert ask(interp, "('out' in globals(), 'good' in globals(), 'bad' in globals())") == (
        False,
        False,
        False,
    )


def test_unshareable_value_in_prepare_main_binds_nothing(interp, ask) -> None:
    with pytest.raises(si.NotShareableError) as info:
        interp.prepare_main(first=1, bad={"a": object()}, last=2)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    assert ask(interp, "[n in globals() for n in ('first', 'bad', 'last')] == [False] * 3") is True


def test_unshareable_value_does_not_overwrite_existing_global(interp, ask) -> None:
    interp.exec("keep = 'original'")
    with pytest.raises(si.NotShareableError):
        interp.run("keep = 'ran'", keep=object())
    assert ask(interp, "keep") == "original"
