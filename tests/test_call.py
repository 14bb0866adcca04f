"""Interpreter.call / call_in_thread / run_in_thread (issue 5): module-level functions, builtins,
classes and methods called by reference; functions of the caller's own script (__main__, in a
subprocess: its `if __name__ == "__main__":` block never re-runs in the target) and functions defined
in the target's __main__ (searched first); where the call runs (the target, the calling thread, the
caller's GIL released); arguments and results crossing natively (SharedArray memory, queue, channel
and lock identity) or by pickle (lists, dicts, instances of module-level classes, as copies);
NotShareableError before anything runs; RunFailedError with the remote traceback and the exception
rebuilt as __cause__ (none when it cannot be pickled); RuntimeError / InterpreterNotFoundError for
the main, current, busy and closed interpreters; call_in_thread / run_in_thread futures (result,
exception, done callbacks, errors set on the future)."""

from __future__ import annotations

import concurrent.futures
import json
import sys
import textwrap
import threading
import time

import pytest

import callee_module as callee
import subinterpreters as si
from helpers import dedent, details, drain, run_script

SETTLE = 0.2
JOIN = 10.0


# --- calling by reference -------------------------------------------------------------------------


def test_call_returns_the_result_of_a_module_level_function(target) -> None:
    assert target.call(callee.add, 2, 3) == 5


def test_call_passes_positional_and_keyword_arguments(target) -> None:
    assert target.call(callee.add, 1, b=2, c=3) == 6
    assert target.call(callee.echo, 1, "two", k=(3,), other=None) == (
        (1, "two"),
        {"k": (3,), "other": None},
    )


def test_call_without_arguments(target) -> None:
    assert target.call(callee.current_id) == target.id


def test_call_runs_in_the_target_on_the_calling_thread(target) -> None:
    assert target.call(callee.where) == (target.id, threading.get_native_id())


def test_call_from_another_thread_runs_on_that_thread(target, spawn) -> None:
    def probe() -> tuple[tuple[int, int], int]:
        return target.call(callee.where), threading.get_native_id()

    (interp_id, native), caller_native = spawn(probe).result()
    assert interp_id == target.id
    assert native == caller_native


def test_call_releases_the_callers_gil(target, spawn, channel) -> None:
    # The callee waits for a value only a thread of the main interpreter sends: if call() held the
    # main GIL, that thread could never run and the recv would time out.
    recv, send = channel

    def feeder() -> None:
        time.sleep(0.1)
        send.send("from-main-thread", timeout=JOIN)

    task = spawn(feeder)
    assert target.call(callee.recv_from, recv, JOIN) == "from-main-thread"
    task.result()


def test_the_last_thread_keeps_its_thread_state_between_calls(fresh, spawn) -> None:
    # The documented rule: thread-local state set by one call is there at the same thread's
    # next call into the same interpreter, unless another thread ran there in between.
    fresh.exec("import threading\nlocal = threading.local()")
    fresh.exec("local.seen = 'main thread'")
    assert fresh.call(eval, "getattr(local, 'seen', None)") == "main thread"
    assert spawn(lambda: fresh.call(eval, "getattr(local, 'seen', None)")).result() is None
    assert fresh.call(eval, "getattr(local, 'seen', None)") is None


def test_a_pool_worker_keeps_its_thread_state_from_task_to_task() -> None:
    with si.InterpreterPoolExecutor(1) as pool:
        pool.submit(exec, "import threading\nlocal = threading.local()\nlocal.n = 1").result()
        assert pool.submit(eval, "local.n").result() == 1


def test_threads_taking_turns_in_one_interpreter(fresh) -> None:
    # Each call leaves its thread's state kept and deletes the state the other thread kept. A kept
    # state must not be deleted while its thread's gilstate slot (PyGILState_*) still names it:
    # its next attach would write into freed memory (what `make memcheck` saw before the fix).
    # Here: every call answers, and after each one the calling thread's gilstate state is its
    # current one. A third thread spinning in Python spreads the hand-overs over the GIL's
    # switch interval.
    import ctypes
    import operator

    api = ctypes.pythonapi
    api.PyGILState_GetThisThreadState.restype = ctypes.c_void_p
    api.PyThreadState_Get.restype = ctypes.c_void_p
    stop = threading.Event()
    answers: list[int] = []
    mismatches: list[str] = []

    def take_turns(name: str) -> None:
        done = 0
        while done < 300:
            try:
                answers.append(fresh.call(operator.mul, 6, 7))
            except si.InterpreterRunningError:
                continue  # the other thread's turn
            done += 1
            if api.PyGILState_GetThisThreadState() != api.PyThreadState_Get():
                mismatches.append(f"{name} after call {done}")

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    threads = [threading.Thread(target=take_turns, args=(name,)) for name in "AB"]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN * 10)
    finally:
        stop.set()
    assert not any(thread.is_alive() for thread in threads)
    assert answers == [42] * 600
    assert mismatches == []
    assert fresh.call(abs, -1) == 1


def test_close_after_many_threads_ran_in_the_interpreter(spawn) -> None:
    interp = si.create()
    for _ in range(4):
        assert spawn(lambda: interp.call(abs, -3)).result() == 3
    assert interp.call(abs, -4) == 4
    interp.close()
    assert interp.id not in [other.id for other in si.list_all()]


def test_call_accepts_builtins(target) -> None:
    assert target.call(pow, 2, 10) == 1024
    assert target.call(len, "abcd") == 4
    assert target.call(divmod, 7, 2) == (3, 1)
    assert target.call(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]
    assert target.call(threading.get_native_id) == threading.get_native_id()


def test_call_accepts_stdlib_module_functions(target) -> None:
    assert target.call(json.dumps, {"a": [1, 2]}, sort_keys=True) == '{"a": [1, 2]}'
    assert target.call(textwrap.dedent, "  x\n  y\n") == "x\ny\n"


def test_call_accepts_a_module_level_class(target) -> None:
    got = target.call(callee.Point, 1, y=2)
    assert type(got) is callee.Point
    assert got == callee.Point(1, 2)


def test_call_accepts_methods_of_a_module_level_class(target) -> None:
    assert target.call(callee.Point.norm1, callee.Point(-1, 2)) == 3
    assert target.call(callee.Point.origin) == callee.Point(0, 0)


def test_target_keeps_working_between_calls(target, ask) -> None:
    for i in range(20):
        assert target.call(callee.add, i, i) == 2 * i
    # The target's __main__ is still usable by run() afterwards.
    assert ask(target, "21 * 2") == 42


def test_call_on_a_legacy_interpreter(legacy_interp) -> None:
    legacy_interp.exec(callee.add_tests_dir_source())
    assert legacy_interp.call(callee.add, 20, 22) == 42


# --- functions of the caller's script and of the target's __main__ ---------------------------------


def test_call_with_a_function_of_the_callers_script(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        def square(x):
            return x * x

        def where():
            return si.get_current().id

        if __name__ == "__main__":
            print("MAIN BLOCK RAN", flush=True)
            with si.create() as interp:
                print("square:", interp.call(square, 7), flush=True)
                print("same interpreter:", interp.call(where) == interp.id, flush=True)
                print("again:", interp.call(square, x=3), flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert "square: 49" in proc.stdout, details(proc)
    assert "same interpreter: True" in proc.stdout, details(proc)
    assert "again: 9" in proc.stdout, details(proc)
    # The script is made available to the target without running its main block there.
    assert proc.stdout.count("MAIN BLOCK RAN") == 1, details(proc)
    assert "Fatal Python error" not in proc.stderr, details(proc)


def test_call_with_a_class_of_the_callers_script(tmp_path) -> None:
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        class Box:
            def __init__(self, value):
                self.value = value

        def unbox(box):
            return box.value * 2

        if __name__ == "__main__":
            print("MAIN BLOCK RAN", flush=True)
            with si.create() as interp:
                box = interp.call(Box, 21)
                print("class back:", type(box) is Box, box.value, flush=True)
                print("instance argument:", interp.call(unbox, Box(4)), flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert "class back: True 21" in proc.stdout, details(proc)
    assert "instance argument: 8" in proc.stdout, details(proc)
    assert proc.stdout.count("MAIN BLOCK RAN") == 1, details(proc)


def test_function_defined_in_the_targets_main_is_used_first(tmp_path) -> None:
    # A function that uses globals goes by reference: the target's __main__ is searched first
    # (as unpickling a __main__ reference there does in CPython 3.14).
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        WHERE = "caller's script"

        def where_defined(x):
            return (WHERE, x)

        if __name__ == "__main__":
            with si.create() as interp:
                interp.exec("def where_defined(x):\\n    return ('target main', x)\\n")
                print("result:", interp.call(where_defined, 5), flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert "result: ('target main', 5)" in proc.stdout, details(proc)


def test_a_stateless_function_runs_the_callers_code(tmp_path) -> None:
    # A stateless function (no closure, defaults or globals) crosses by value, as in CPython 3.14:
    # the target runs the caller's code even if its own __main__ has a function of that name.
    proc = run_script(
        tmp_path,
        """
        import subinterpreters as si

        def where_defined(x):
            return ("caller's script", x)

        if __name__ == "__main__":
            with si.create() as interp:
                interp.exec("def where_defined(x):\\n    return ('target main', x)\\n")
                print("result:", interp.call(where_defined, 5), flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    assert 'result: ("caller\'s script", 5)' in proc.stdout, details(proc)


def test_function_defined_in_the_targets_main_by_exec(fresh, monkeypatch) -> None:
    # In this process __main__ is pytest's: make a caller-side function that pickle finds as
    # __main__.si_defined_by_exec, and define the real one in the target with exec().
    def stand_in(x):
        return (sys.platform and "caller", x)  # uses a global: crosses by reference

    stand_in.__module__ = "__main__"
    stand_in.__qualname__ = stand_in.__name__ = "si_defined_by_exec"
    monkeypatch.setattr(sys.modules["__main__"], "si_defined_by_exec", stand_in, raising=False)
    fresh.exec(
        dedent(
            """
        def si_defined_by_exec(x):
            import subinterpreters as si
            return ("target", x, si.get_current().id)
        """
        )
    )
    assert fresh.call(stand_in, 3) == ("target", 3, fresh.id)


# --- arguments and results: natively -----------------------------------------------------------------


def test_shared_array_argument_shares_its_memory(target) -> None:
    arr = si.SharedArray(16)
    assert target.call(callee.fill, arr, 7) == 16
    assert bytes(arr) == b"\x07" * 16


def test_shared_array_keyword_argument_shares_its_memory(target) -> None:
    arr = si.SharedArray(8)
    target.call(callee.fill, arr=arr, value=9)
    assert bytes(arr) == b"\x09" * 8


def test_shared_array_result_shares_its_memory(target) -> None:
    arr = target.call(callee.new_shared_array, 8, 5)
    assert isinstance(arr, si.SharedArray)
    assert bytes(arr) == b"\x05" * 8
    # Still the same memory as the target's: write it there again, read it here.
    target.call(callee.fill, arr, 6)
    assert bytes(arr) == b"\x06" * 8


def test_queue_argument_keeps_its_identity(target) -> None:
    q = si.create_queue()
    assert target.call(callee.put, q, ["through", "the", "queue"]) == "put"
    assert q.get_nowait() == ["through", "the", "queue"]
    assert target.call(callee.identity, q) == q


def test_channel_ends_keep_their_identity(target, channel) -> None:
    recv, send = channel
    target.call(callee.send_on, send, "hello")
    assert recv.recv_nowait() == "hello"
    assert target.call(callee.identity, recv) == recv
    assert target.call(callee.identity, (recv, send)) == (recv, send)


def test_lock_argument_is_the_same_lock(target) -> None:
    lock = si.Lock()
    assert target.call(callee.hold_lock, lock) is True
    try:
        assert lock.locked()
        assert not lock.acquire(blocking=False)
    finally:
        lock.release()


def test_interpreter_argument_keeps_its_identity(target) -> None:
    assert target.call(callee.identity, target) == target


def test_native_values_keep_their_exact_types(target) -> None:
    values = (None, True, 0, 2**100, 1.5, "text", b"bytes", (1, ("nested", b"x")))
    got = target.call(callee.identity, values)
    assert got == values
    assert [type(v) for v in got] == [type(v) for v in values]


# --- arguments and results: by pickle ----------------------------------------------------------------


def test_lists_dicts_and_instances_reach_the_callee_as_themselves(target) -> None:
    got = target.call(callee.type_names, [1, [2]], {"a": 1}, callee.Point(1, 2), p=callee.Point(3, 4))
    assert got == (
        ("builtins.list", "builtins.dict", "callee_module.Point"),
        (("p", "callee_module.Point"),),
    )


def test_pickled_results_come_back(target) -> None:
    got = target.call(callee.make_point, [1, 2], {"k": {3}})
    assert type(got) is callee.Point
    assert got == callee.Point([1, 2], {"k": {3}})
    assert target.call(callee.swap, callee.Point(1, [2])) == callee.Point([2], 1)
    assert target.call(callee.identity, {"nested": [1, {"deep": (2, [3])}]}) == {
        "nested": [1, {"deep": (2, [3])}]
    }


def test_pickled_arguments_are_copies(target) -> None:
    items, mapping = [1], {}
    got = target.call(callee.mutate_and_return, items, mapping)
    assert got == ([1, "added by callee"], {"callee": True})
    assert items == [1] and mapping == {}


def test_native_and_pickled_arguments_mix(target) -> None:
    q = si.create_queue()
    arr = si.SharedArray(4)
    got = target.call(callee.type_names, q, [1], arr, d={"x": 1}, q2=q)
    assert got[0][1] == "builtins.list"
    assert dict(got[1])["d"] == "builtins.dict"
    target.call(callee.put, q, {"pickled": [1]})
    assert q.get_nowait() == {"pickled": [1]}


# --- NotShareableError before anything runs ----------------------------------------------------------


def _unpicklable_values() -> list[object]:
    # Closures: stateless functions would cross by value (CPython 3.14's rule).
    captured = 0

    def nested():
        return captured

    return [lambda: captured, nested, (x for x in range(3)), threading.Lock(), [1, lambda: captured]]


@pytest.mark.parametrize("index", range(5))
def test_unshareable_positional_argument_raises_before_anything_runs(target, index) -> None:
    q = si.create_queue()
    with pytest.raises(si.NotShareableError):
        target.call(callee.record, q, _unpicklable_values()[index])
    assert drain(q) == []


@pytest.mark.parametrize("index", range(5))
def test_unshareable_keyword_argument_raises_before_anything_runs(target, index) -> None:
    q = si.create_queue()
    with pytest.raises(si.NotShareableError):
        target.call(callee.record, q, "fine", bad=_unpicklable_values()[index])
    assert drain(q) == []


def test_unshareable_last_argument_after_good_ones_runs_nothing(target) -> None:
    # Earlier arguments converting fine must not let the call start.
    q = si.create_queue()
    with pytest.raises(si.NotShareableError):
        target.call(callee.record, q, [1, 2], {"a": 1}, callee.Point(1, 2), threading.Lock())
    assert drain(q) == []


def test_stateless_lambda_and_nested_function_cross_by_value(target) -> None:
    # CPython 3.14's rule: a function with no closure, defaults or globals is sent as its code.
    def nested(x):
        return [x, len("ab")]

    assert target.call(lambda: 0) == 0
    assert target.call(nested, 1) == [1, 2]


def test_stateless_functions_cross_by_value_inside_arguments_and_results(target) -> None:
    # Wherever one sits in a value that has to be pickled (here inside a list, next to an
    # object that only pickle carries), and on the way back too.
    def make_pair():
        return [lambda x: x + 1, lambda x: x * 3]

    def apply_all(functions, point, value):
        return [f(value) for f in functions], point

    functions, point = target.call(apply_all, [lambda x: -x, abs], callee.Point(1, 2), -4)
    assert functions == [4, 4] and point == callee.Point(1, 2)
    add_one, triple = target.call(make_pair)
    assert (add_one(1), triple(2)) == (2, 6)


def test_a_prepared_call_runs_once_and_cannot_be_made_by_hand(target) -> None:
    from subinterpreters import _calls, _core

    prepared = _calls.prepare(len, ([1, 2],), {})
    assert target._invoke(prepared) == 2
    with pytest.raises(RuntimeError, match="run already"):
        target._invoke(prepared)
    with pytest.raises(TypeError, match="_prepare_call"):
        target._invoke((len, ([1],), {}))
    with pytest.raises(TypeError):
        _core._PreparedCall()


def test_closures_and_functions_using_globals_that_pickle_cannot_find_are_refused(target) -> None:
    captured = 5

    def closure():
        return captured

    def uses_a_global():
        return callee

    with pytest.raises(si.NotShareableError):
        target.call(closure)
    with pytest.raises(si.NotShareableError):
        target.call(uses_a_global)
    with pytest.raises(si.NotShareableError):
        target.call(lambda x=1: x)  # defaults make it stateful too
    assert target.call(callee.add, 1, 1) == 2


def test_non_callable_raises_type_error(target) -> None:
    with pytest.raises(TypeError):
        target.call(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        target.call("callee_module.add")  # type: ignore[arg-type]


def test_call_needs_a_function(target) -> None:
    with pytest.raises(TypeError):
        target.call()  # type: ignore[call-arg]


def test_result_that_cannot_go_back_raises_not_shareable_error(target) -> None:
    # As CPython 3.14: NotShareableError in the caller, not ExecutionFailed.
    for fn in (callee.make_lambda, callee.make_generator):
        with pytest.raises(si.NotShareableError):
            target.call(fn)
    assert target.call(callee.add, 2, 2) == 4


# --- exceptions -----------------------------------------------------------------------------------


def test_exception_reaches_the_caller_as_run_failed_error(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        target.call(callee.divide, 1, 0)
    exc = info.value
    assert isinstance(exc, si.InterpreterError)
    assert exc.type_name == "ZeroDivisionError"
    assert "division by zero" in exc.msg


def test_run_failed_error_carries_the_remote_traceback(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        target.call(callee.divide, 1, 0)
    tb = info.value.traceback
    assert "Traceback" in tb
    assert "callee_module.py" in tb
    assert "divide" in tb
    assert "ZeroDivisionError: division by zero" in tb


def test_picklable_exception_is_rebuilt_as_the_cause(target) -> None:
    try:
        target.call(callee.divide, 1, 0)
    except ZeroDivisionError:  # pragma: no cover - the documented contract says this never happens
        pytest.fail("the remote exception must arrive as RunFailedError, not as itself")
    except si.RunFailedError as exc:
        assert isinstance(exc.__cause__, ZeroDivisionError)
        assert exc.__cause__.args == ("division by zero",)
    else:  # pragma: no cover
        pytest.fail("no exception")


def test_custom_exception_is_rebuilt_with_its_attributes(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        target.call(callee.raise_custom, "boom", 7)
    exc = info.value
    assert exc.type_name.endswith("CustomError")
    assert exc.msg == "boom (code 7)"
    cause = exc.__cause__
    assert type(cause) is callee.CustomError
    assert (cause.text, cause.code, cause.args) == ("boom", 7, ("boom", 7))


def test_unpicklable_exception_gives_run_failed_error_without_cause(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        target.call(callee.raise_unpicklable, "no pickle for you")
    exc = info.value
    assert exc.type_name.endswith("UnpicklableError")
    assert "no pickle for you" in exc.msg
    assert "raise_unpicklable" in exc.traceback
    assert exc.__cause__ is None
    assert target.call(callee.add, 1, 2) == 3


def test_exception_from_a_builtin_is_rebuilt(target) -> None:
    with pytest.raises(si.RunFailedError) as info:
        target.call(int, "not a number")
    assert info.value.type_name == "ValueError"
    assert isinstance(info.value.__cause__, ValueError)


# --- where a call may run -----------------------------------------------------------------------------


def test_call_on_the_main_interpreter_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        si.get_main().call(abs, -1)


def test_call_on_the_current_interpreter_raises_interpreter_running_error(target) -> None:
    # An InterpreterError (as CPython raises) that is also a RuntimeError (as this package did).
    assert target.call(callee.call_current_interpreter) == "InterpreterRunningError"
    assert issubclass(si.InterpreterRunningError, (si.InterpreterError, RuntimeError))


def test_call_on_a_closed_interpreter_raises_interpreter_not_found() -> None:
    interp = si.create()
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.call(abs, -1)


def test_call_while_the_interpreter_runs_in_another_thread(fresh, spawn) -> None:
    started, event = si.create_queue(), si.Event()
    task = spawn(fresh.call, callee.started_then_wait, started, event, "first")
    try:
        assert started.get(timeout=JOIN) == "first"
        with pytest.raises(RuntimeError):
            fresh.call(abs, -1)
    finally:
        event.set()
    assert task.result() == "first"
    assert fresh.call(abs, -1) == 1


# --- call_in_thread ---------------------------------------------------------------------------------


def test_call_in_thread_returns_a_future_with_the_result(target) -> None:
    fut = target.call_in_thread(callee.add, 2, b=3, c=4)
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=JOIN) == 9


def test_call_in_thread_runs_in_the_target_on_a_new_thread(target) -> None:
    interp_id, native = target.call_in_thread(callee.where).result(timeout=JOIN)
    assert interp_id == target.id
    assert native != threading.get_native_id()


def test_call_in_thread_starts_at_once_without_blocking_the_caller(fresh) -> None:
    started, event = si.create_queue(), si.Event()
    fut = fresh.call_in_thread(callee.started_then_wait, started, event, "running")
    try:
        # Nobody asked the future for anything: the work started by itself.
        assert started.get(timeout=JOIN) == "running"
        assert not fut.done()
    finally:
        event.set()
    assert fut.result(timeout=JOIN) == "running"


def test_call_in_thread_exception_is_set_on_the_future(target) -> None:
    fut = target.call_in_thread(callee.divide, 1, 0)
    exc = fut.exception(timeout=JOIN)
    assert isinstance(exc, si.RunFailedError)
    assert isinstance(exc.__cause__, ZeroDivisionError)
    with pytest.raises(si.RunFailedError):
        fut.result(timeout=JOIN)


def test_call_in_thread_not_shareable_is_set_on_the_future(target) -> None:
    q = si.create_queue()
    fut = target.call_in_thread(callee.record, q, threading.Lock())
    assert isinstance(fut.exception(timeout=JOIN), si.NotShareableError)
    assert drain(q) == []


def test_call_in_thread_done_callbacks_run(fresh, wait_until) -> None:
    event = si.Event()
    seen: list[object] = []
    fut = fresh.call_in_thread(callee.wait_event, event, "value")
    fut.add_done_callback(lambda f: seen.append(("first", f.result())))
    fut.add_done_callback(lambda f: seen.append(("second", f is fut)))
    assert seen == []
    event.set()
    assert fut.result(timeout=JOIN) == "value"
    assert wait_until(lambda: len(seen) == 2)
    assert seen == [("first", "value"), ("second", True)]


def test_call_in_thread_futures_work_with_wait_and_as_completed(target, fresh) -> None:
    # One call per interpreter: an interpreter runs one call at a time.
    futs = [target.call_in_thread(callee.add, 1, 1), fresh.call_in_thread(callee.add, 2, 2)]
    done, not_done = concurrent.futures.wait(futs, timeout=JOIN)
    assert not not_done and done == set(futs)
    assert sorted(f.result() for f in concurrent.futures.as_completed(futs, timeout=JOIN)) == [2, 4]


def test_call_in_thread_on_a_closed_interpreter_sets_the_error() -> None:
    interp = si.create()
    interp.close()
    fut = interp.call_in_thread(abs, -1)
    assert isinstance(fut.exception(timeout=JOIN), si.InterpreterNotFoundError)


def test_call_in_thread_on_a_busy_interpreter_sets_runtime_error(fresh) -> None:
    started, event = si.create_queue(), si.Event()
    first = fresh.call_in_thread(callee.started_then_wait, started, event, "first")
    try:
        assert started.get(timeout=JOIN) == "first"
        second = fresh.call_in_thread(abs, -1)
        assert isinstance(second.exception(timeout=JOIN), RuntimeError)
    finally:
        event.set()
    assert first.result(timeout=JOIN) == "first"


# --- run_in_thread ----------------------------------------------------------------------------------


def test_run_in_thread_returns_a_future_of_none(target, channel) -> None:
    recv, send = channel
    fut = target.run_in_thread("out.send_nowait(x * 2)\ndel out", out=send, x=21)
    assert isinstance(fut, concurrent.futures.Future)
    assert fut.result(timeout=JOIN) is None
    assert recv.recv(timeout=JOIN) == 42


def test_run_in_thread_runs_on_a_new_thread(target, channel) -> None:
    recv, send = channel
    source = "import threading\nout.send_nowait(threading.get_native_id())\ndel out"
    target.run_in_thread(source, out=send).result(timeout=JOIN)
    assert recv.recv_nowait() != threading.get_native_id()


def test_run_in_thread_starts_at_once(fresh) -> None:
    started, event = si.create_queue(), si.Event()
    fut = fresh.run_in_thread("started.put('go')\nevent.wait(30)", started=started, event=event)
    try:
        assert started.get(timeout=JOIN) == "go"
        assert not fut.done()
    finally:
        event.set()
    assert fut.result(timeout=JOIN) is None


def test_run_in_thread_exception_is_set_on_the_future(target) -> None:
    fut = target.run_in_thread("raise ValueError('bad value')")
    exc = fut.exception(timeout=JOIN)
    assert isinstance(exc, si.RunFailedError)
    assert exc.type_name == "ValueError"
    assert "bad value" in exc.msg
    assert "ValueError" in exc.traceback


def test_run_in_thread_not_shareable_is_set_on_the_future(target) -> None:
    q = si.create_queue()
    fut = target.run_in_thread("q.put('ran')", q=q, bad=threading.Lock())
    assert isinstance(fut.exception(timeout=JOIN), si.NotShareableError)
    assert drain(q) == []


def test_run_in_thread_done_callbacks_run(fresh, wait_until) -> None:
    event = si.Event()
    seen: list[object] = []
    fut = fresh.run_in_thread("event.wait(30)", event=event)
    fut.add_done_callback(lambda f: seen.append(f.exception()))
    event.set()
    fut.result(timeout=JOIN)
    assert wait_until(lambda: seen == [None])


def test_run_in_thread_source_must_be_str(target) -> None:
    # A wrong argument type may be raised by the call itself (the only error it raises) or set on
    # the future; either way it is a TypeError.
    try:
        fut = target.run_in_thread(b"x = 1")  # type: ignore[arg-type]
    except TypeError:
        return
    assert isinstance(fut.exception(timeout=JOIN), TypeError)


# --- found by review ----------------------------------------------------------------------------


def test_a_result_that_cannot_be_rebuilt_here_raises_run_failed_error(target) -> None:
    with pytest.raises(si.RunFailedError) as caught:
        target.call(callee.make_refuses_to_unpickle)
    assert isinstance(caught.value.__cause__, ValueError)
    assert "cannot be rebuilt" in str(caught.value)


def test_a_wrapper_borrowing_a_main_functions_name_is_not_sent_as_that_function(tmp_path) -> None:
    # functools.wraps copies __qualname__: the reference must not silently resolve to the
    # wrapped function; as with plain pickle, the wrapper is refused.
    proc = run_script(
        tmp_path,
        """
        import functools
        import subinterpreters as si

        def real():
            return "real"

        if __name__ == "__main__":
            impostor = functools.wraps(real)(lambda: "impostor")
            with si.create() as interp:
                try:
                    print(interp.call(impostor), flush=True)
                except si.NotShareableError:
                    print("refused", flush=True)
        """,
    )
    assert proc.returncode == 0, details(proc)
    # A stateless lambda crosses as its own code (never as the function it names).
    assert proc.stdout.strip() == "impostor", details(proc)


# --- the call runs in __main__, not in the package's frame (reliability round two, item 2) ------


def test_frame_reading_builtins_see_the_interpreters_main(fresh) -> None:
    assert fresh.call(eval, "__name__") == "__main__"
    names = fresh.call(dir)
    assert "__builtins__" in names and not {"args", "fn", "spec", "kwargs"} & set(names), names
    fresh.call(exec, "spam = 1")
    assert fresh.call(eval, "spam") == 1, "exec() binds in the interpreter's __main__"


def test_user_code_cannot_break_the_call_plumbing(fresh) -> None:
    fresh.call(exec, "global pickle; pickle = None")
    fresh.call(exec, "import sys; sys.modules['__main__'].__dict__.clear()")
    assert fresh.call(callee.add, 2, 3) == 5
    assert fresh.call(abs, -4) == 4
