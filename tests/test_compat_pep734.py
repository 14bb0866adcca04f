"""Drop-in compatibility with CPython 3.14's ``concurrent.interpreters`` (PEP 734) and
``concurrent.futures.InterpreterPoolExecutor``: code written for them should run unchanged after
``import subinterpreters as interpreters`` wherever the names overlap.

Written from the text of PEP 734, the 3.14 documentation of ``concurrent.interpreters`` and of
``InterpreterPoolExecutor`` (and the docstrings of 3.14's module where the documentation is silent,
e.g. ``Queue.put``'s ``unbounditems``), not from this package's behaviour nor from CPython's own
tests (those run separately: tests/test_cpython_suite.py). Every assertion says which text it
checks. Where our documented choices differ on purpose (docs/guide.md, "Migrating"), the test
checks our side of the decision: ``call_in_thread`` returns a ``concurrent.futures.Future``.

Runs on every CPython 3.12-3.15; the interoperation tests with the real ``concurrent.interpreters``
(an interpreter made by one module used through the other, our objects handed through CPython's
``call``/``prepare_main``) run on 3.14+ only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import operator
import pickle
import queue as stdlib_queue
import sys
import threading

import pytest

import subinterpreters as si
from helpers import drain

JOIN = 10.0  # bound for "this must finish"; only reached when the behaviour is missing
HAS_CPYTHON_INTERPRETERS = sys.version_info >= (3, 14)
needs_cpython_interpreters = pytest.mark.skipif(
    not HAS_CPYTHON_INTERPRETERS, reason="concurrent.interpreters exists from CPython 3.14 on"
)

# The whence strings CPython's Interpreter.whence can take (3.14's concurrent.interpreters).
WHENCE_VALUES = {
    "unknown",
    "runtime init",
    "legacy C-API",
    "C-API",
    "cross-interpreter C-API",
    "_interpreters module",
}


@pytest.fixture
def running(spawn, wait_until):
    """running(interp) -> release(): make ``interp`` execute code (blocked on a queue) in another
    thread until release() is called, waiting until it is running."""
    releases = []

    def start(interp: si.Interpreter):
        gate = si.create_queue()
        interp.prepare_main(_compat_gate=gate)
        task = spawn(interp.exec, "_compat_gate.get()")
        assert wait_until(interp.is_running), "the interpreter never reported is_running() == True"

        def release() -> None:
            gate.put(None)
            task.result()

        releases.append(release)
        return release

    yield start
    for release in releases:
        try:
            release()
        except Exception:  # noqa: BLE001 - already released by the test
            pass


# --- the module's names -----------------------------------------------------------------------------

# concurrent.interpreters.__all__ in 3.14, plus the names of its queue module that the docs and
# Queue's docstrings use, plus concurrent.futures' two names.
PEP734_NAMES = [
    "create",
    "list_all",
    "get_current",
    "get_main",
    "Interpreter",
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "is_shareable",
    "create_queue",
    "Queue",
    "QueueEmpty",
    "QueueFull",
    "QueueError",
    "QueueNotFoundError",
    "UNBOUND",
    "UNBOUND_ERROR",
    "UNBOUND_REMOVE",
    "InterpreterPoolExecutor",
    "BrokenInterpreterPool",
]
CPYTHON_ALL = [
    "get_current",
    "get_main",
    "create",
    "list_all",
    "is_shareable",
    "Interpreter",
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "create_queue",
    "Queue",
    "QueueEmpty",
    "QueueFull",
]


@pytest.mark.parametrize("name", PEP734_NAMES)
def test_module_has_every_overlapping_name(name: str) -> None:
    assert hasattr(si, name), f"subinterpreters.{name} is missing (concurrent.interpreters has it)"


@pytest.mark.parametrize("name", CPYTHON_ALL)
def test_star_import_gives_concurrent_interpreters_all(name: str) -> None:
    assert name in si.__all__, (
        f"{name} is in concurrent.interpreters.__all__, so `from concurrent.interpreters import *` "
        "code needs it in subinterpreters.__all__"
    )


@needs_cpython_interpreters
def test_concurrent_interpreters_all_is_covered() -> None:
    from concurrent import interpreters as ci

    missing = sorted(set(ci.__all__) - set(si.__all__))
    assert not missing, (
        f"names of concurrent.interpreters.__all__ missing from subinterpreters.__all__: {missing}"
    )


# --- exceptions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("InterpreterError", Exception),
        ("InterpreterNotFoundError", "InterpreterError"),
        ("ExecutionFailed", "InterpreterError"),
        ("NotShareableError", TypeError),
        ("QueueEmpty", stdlib_queue.Empty),
        ("QueueFull", stdlib_queue.Full),
        ("QueueEmpty", "QueueError"),
        ("QueueFull", "QueueError"),
        ("QueueNotFoundError", "QueueError"),
    ],
)
def test_exception_hierarchy(name: str, base) -> None:
    # The docs: InterpreterError "a subclass of Exception"; InterpreterNotFoundError and
    # ExecutionFailed "a subclass of InterpreterError"; NotShareableError "a subclass of
    # TypeError"; QueueEmpty/QueueFull subclasses of queue.Empty/queue.Full; 3.14's queue module
    # derives QueueEmpty, QueueFull and QueueNotFoundError from QueueError.
    cls = getattr(si, name, None)
    assert cls is not None, f"subinterpreters.{name} is missing"
    base_cls = getattr(si, base, None) if isinstance(base, str) else base
    assert base_cls is not None, f"subinterpreters.{base} is missing"
    assert issubclass(cls, base_cls), f"{name} must be a subclass of {getattr(base_cls, '__name__', base)}"


# --- create, list_all, get_current, get_main -----------------------------------------------------------


def test_create_returns_an_interpreter_listed_by_list_all() -> None:
    interp = si.create()
    try:
        assert isinstance(interp, si.Interpreter), "create() returns an Interpreter object"
        assert interp in si.list_all(), "list_all() has one Interpreter for each existing interpreter"
    finally:
        interp.close()
    assert interp not in si.list_all(), "a closed interpreter no longer exists, so list_all() omits it"


def test_get_main_is_idempotent_and_is_the_current_one_here() -> None:
    assert si.get_main() is si.get_main(), "get_main() returns the same Interpreter object every time"
    assert si.get_current() is si.get_main(), "in the main interpreter, get_current() is get_main()"
    assert si.get_main().id == 0, "the main interpreter has id 0"


def test_list_all_returns_the_same_objects_as_create_and_get_main() -> None:
    interp = si.create()
    try:
        listed = si.list_all()
        assert any(item is interp for item in listed), (
            "there is only one Interpreter object per interpreter: "
            "list_all() returns the object create() returned"
        )
        assert any(item is si.get_main() for item in listed), (
            "list_all() returns get_main()'s object for the main one"
        )
    finally:
        interp.close()


def test_get_current_inside_an_interpreter_is_that_interpreter(interp) -> None:
    current = interp.call(si.get_current)
    assert current == interp, "get_current() called in an interpreter returns that interpreter"
    assert current is interp, "the Interpreter coming back is the one object for that id"


# --- the Interpreter(id) constructor ---------------------------------------------------------------------


def test_interpreter_constructor_returns_the_existing_object(interp) -> None:
    assert si.Interpreter(interp.id) is interp, (
        "Interpreter(id) of an existing interpreter is the same object"
    )
    assert si.Interpreter(0) is si.get_main(), "Interpreter(0) is get_main()"


def test_interpreter_constructor_unknown_id_raises_interpreter_not_found() -> None:
    with pytest.raises(si.InterpreterNotFoundError):
        si.Interpreter(1_000_000)


def test_interpreter_constructor_closed_id_raises_interpreter_not_found() -> None:
    interp = si.create()
    interp_id = interp.id
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        si.Interpreter(interp_id)


@pytest.mark.parametrize("bad", ["0", 0.0, None, object()], ids=["str", "float", "None", "object"])
def test_interpreter_constructor_non_int_raises_type_error(bad) -> None:
    with pytest.raises(TypeError):
        si.Interpreter(bad)


# --- Interpreter attributes ----------------------------------------------------------------------------


def test_id_is_a_read_only_int(interp) -> None:
    assert isinstance(interp.id, int), "Interpreter.id: the interpreter's ID, an int"
    with pytest.raises(AttributeError):
        interp.id = 12345  # type: ignore[misc]


def test_hash_and_equality(interp) -> None:
    other = si.create()
    try:
        assert hash(interp) == hash(interp.id), "PEP 734: __hash__ is the hash of the interpreter's id"
        assert interp == interp and interp != other, "equal to itself, not to another interpreter"
    finally:
        other.close()


def test_whence_of_main_is_runtime_init() -> None:
    assert si.get_main().whence == "runtime init", "the main interpreter was created at runtime init"


def test_whence_of_created_is_a_documented_value(interp) -> None:
    assert isinstance(interp.whence, str), "Interpreter.whence: a string describing where it came from"
    assert interp.whence in WHENCE_VALUES, (
        f"whence {interp.whence!r} is not one of CPython's {sorted(WHENCE_VALUES)}"
    )


def test_whence_is_read_only(interp) -> None:
    with pytest.raises(AttributeError):
        interp.whence = "runtime init"  # type: ignore[misc]


def test_is_running(interp, running) -> None:
    assert si.get_main().is_running(), "the main interpreter runs __main__ (the caller's code)"
    assert not interp.is_running(), "a new interpreter is idle"
    release = running(interp)
    assert interp.is_running(), "True while code runs in its __main__ (exec in another thread)"
    release()
    assert not interp.is_running(), "False again once that code finished"


# --- close() -----------------------------------------------------------------------------------------


def test_close_removes_the_interpreter() -> None:
    interp = si.create()
    interp.close()
    assert interp not in si.list_all(), "close() finalizes and destroys the interpreter"


def test_methods_of_a_closed_interpreter_raise_interpreter_not_found() -> None:
    # InterpreterNotFoundError: "raised when the targeted interpreter no longer exists".
    interp = si.create()
    interp.close()
    wrong = []
    for what, action in [
        ("is_running()", interp.is_running),
        ("exec()", lambda: interp.exec("pass")),
        ("call()", lambda: interp.call(operator.add, 1, 2)),
        ("prepare_main()", lambda: interp.prepare_main(x=1)),
    ]:
        try:
            action()
        except si.InterpreterNotFoundError:
            continue
        except Exception as exc:  # noqa: BLE001 - reported below
            wrong.append(f"{what}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{what}: no exception")
    assert not wrong, f"on a closed interpreter these did not raise InterpreterNotFoundError: {wrong}"


def test_close_again_does_nothing() -> None:
    # Deliberate difference (the guide's migration table): CPython raises InterpreterNotFoundError.
    interp = si.create()
    interp.close()
    assert interp.close() is None


def test_close_main_raises_interpreter_error() -> None:
    with pytest.raises(si.InterpreterError):
        si.get_main().close()


def test_close_current_from_inside_fails(interp) -> None:
    # The interpreter cannot destroy itself while running: CPython raises InterpreterError there,
    # which reaches the caller as ExecutionFailed naming it.
    with pytest.raises(si.ExecutionFailed) as info:
        interp.exec("import subinterpreters as interpreters\ninterpreters.get_current().close()")
    raised = info.value.excinfo.type.__name__
    assert issubclass(getattr(si, raised), si.InterpreterError), (
        f"closing the current interpreter raises an InterpreterError inside it, not {raised}"
    )
    assert interp in si.list_all(), "the interpreter still exists"


def test_close_running_interpreter_raises_interpreter_error(interp, running) -> None:
    release = running(interp)
    with pytest.raises(si.InterpreterError):
        interp.close()
    release()
    assert interp in si.list_all(), "a refused close() changes nothing"


# --- prepare_main(ns=None, /, **kwargs) --------------------------------------------------------------------


def test_prepare_main_accepts_a_positional_dict(interp, ask) -> None:
    interp.prepare_main({"spam": 1, "eggs": "two"})
    assert ask(interp, "(spam, eggs)") == (1, "two"), "prepare_main(ns) binds ns's items in __main__"


def test_prepare_main_dict_and_kwargs(interp, ask) -> None:
    interp.prepare_main({"a": 1, "b": 2}, b=3, c=4)
    assert ask(interp, "(a, b, c)") == (1, 3, 4), "prepare_main(ns, **kwargs) binds dict(ns, **kwargs)"


def test_prepare_main_kwargs_only_and_ns_as_a_name(interp, ask) -> None:
    interp.prepare_main(spam=True)
    interp.prepare_main(ns="a value")  # ns is positional-only: as a keyword it is just a name to bind
    assert ask(interp, "(spam, ns)") == (True, "a value")


def test_prepare_main_none_binds_nothing_but_kwargs(interp, ask) -> None:
    interp.prepare_main(None, only=1)
    assert ask(interp, "only") == 1


def test_prepare_main_shareable_values_arrive_equal(interp, ask) -> None:
    values = {"n": None, "t": True, "i": 2**40, "f": 1.5, "s": "text", "b": b"bytes", "tup": (1, ("x", b"y"))}
    interp.prepare_main(values)
    assert ask(interp, "(n, t, i, f, s, b, tup)") == tuple(values.values())


def test_prepare_main_other_values_are_copied_or_refused(interp, ask) -> None:
    # The docs: "most are copied via pickle"; CPython 3.14 refuses them with NotShareableError.
    # Either is acceptable; a refusal binds nothing.
    try:
        interp.prepare_main(copied=[1, {"a": 2}])
    except si.NotShareableError:
        assert ask(interp, "'copied' in globals()") is False, "a refused prepare_main() binds nothing"
    else:
        assert ask(interp, "repr(copied)") == "[1, {'a': 2}]", "a pickled value arrives as an equal copy"


def test_prepare_main_unpicklable_value_raises_not_shareable(interp, ask) -> None:
    with pytest.raises(si.NotShareableError):
        interp.prepare_main(ok=1, lock=threading.Lock())
    assert ask(interp, "'ok' in globals() or 'lock' in globals()") is False, "nothing was bound"


# --- exec(code, /) --------------------------------------------------------------------------------


def test_exec_runs_source_in_main_and_state_persists(interp, ask) -> None:
    assert interp.exec("counter = 1") is None, "exec() returns nothing"
    interp.exec("counter += 1")
    assert ask(interp, "counter") == 2, "each exec() picks up where the last one left off (PEP 734)"
    interp.exec("where = __name__")
    assert ask(interp, "where") == "__main__", "exec() runs in the interpreter's __main__"


def test_exec_a_function_runs_its_body_in_main(interp, ask) -> None:
    def body():
        global EXEC_FUNCTION_RAN  # noqa: PLW0603 - runs in the other interpreter's __main__
        EXEC_FUNCTION_RAN = "yes"

    interp.exec(body)
    assert ask(interp, "EXEC_FUNCTION_RAN") == "yes", (
        "3.14: exec(function) runs the function's code in __main__"
    )


def test_exec_failure_raises_execution_failed(interp) -> None:
    with pytest.raises(si.ExecutionFailed):
        interp.exec("raise ValueError('boom')")


def test_exec_is_refused_for_the_main_interpreter() -> None:
    # The main interpreter is always running its __main__: "It also fails for running modules."
    with pytest.raises(si.InterpreterError):
        si.get_main().exec("pass")


def test_exec_is_refused_while_running(interp, running) -> None:
    release = running(interp)
    with pytest.raises(si.InterpreterError):
        interp.exec("pass")
    release()


# --- ExecutionFailed.excinfo -------------------------------------------------------------------------------


def test_execution_failed_excinfo_of_exec(interp) -> None:
    with pytest.raises(si.ExecutionFailed) as info:
        interp.exec("raise ValueError('boom')")
    excinfo = info.value.excinfo
    assert (excinfo.type.__name__, excinfo.type.__qualname__, excinfo.type.__module__) == (
        "ValueError",
        "ValueError",
        "builtins",
    ), "excinfo.type carries the original class's __name__, __qualname__ and __module__"
    assert excinfo.msg == "boom", "excinfo.msg is str() of the original exception"
    assert excinfo.formatted == "ValueError: boom", "excinfo.formatted is the exception's last line"
    assert "Traceback (most recent call last)" in excinfo.errdisplay, (
        "excinfo.errdisplay is the error display"
    )
    assert excinfo.errdisplay.rstrip().endswith("ValueError: boom")
    assert "ValueError: boom" in str(info.value), "str(ExecutionFailed) names the original error"


def test_execution_failed_excinfo_of_call_keeps_module_and_qualname(interp) -> None:
    with pytest.raises(si.ExecutionFailed) as info:
        interp.call(json.loads, "{")
    excinfo = info.value.excinfo
    assert excinfo.type.__name__ == "JSONDecodeError"
    assert excinfo.type.__qualname__ == "JSONDecodeError"
    assert excinfo.type.__module__ == "json.decoder", "excinfo.type.__module__ is the defining module"
    assert excinfo.msg.startswith("Expecting property name"), "excinfo.msg is str() of the exception"


def test_execution_failed_is_an_interpreter_error(interp) -> None:
    with pytest.raises(si.InterpreterError):
        interp.exec("1 / 0")


# --- call(callable, /, *args, **kwargs) -----------------------------------------------------------


def test_call_returns_the_result(interp) -> None:
    assert interp.call(operator.add, 2, 3) == 5
    assert interp.call(dict, a=1, callable=2) == {"a": 1, "callable": 2}, (
        "callable is positional-only: a keyword named callable goes to the function"
    )


def test_call_runs_in_the_target(interp) -> None:
    assert interp.call(si.get_current).id == interp.id, "call() runs the function in the interpreter"


def test_call_stateless_local_function(interp) -> None:
    # 3.14: "stateless" functions (not closures, using no globals) are supported, wherever they
    # are defined; this one is local to the test.
    def add(a, b, *, c):
        return a + b + c

    assert interp.call(add, 1, 2, c=3) == 6


def test_call_stateless_function_using_builtins_and_local_imports(interp) -> None:
    def describe(items):
        import math

        return len(items), math.prod(items), sorted(items)

    assert interp.call(describe, (3, 1, 2)) == (3, 6, [1, 2, 3])


def test_call_stateless_lambda(interp) -> None:
    assert interp.call(lambda a, b: a * b, 6, 7) == 42


def test_call_stateless_function_returning_a_stateless_function(interp) -> None:
    def make():
        return lambda x: x * 2

    doubler = interp.call(make)
    assert doubler(21) == 42, "a stateless function crosses back as a working function"


def test_call_builtin_eval_and_exec_use_the_targets_main(interp, ask) -> None:
    # The docs: "When exec() (or eval()) are called in an interpreter, they run using the
    # interpreter's __main__ module as the 'globals' namespace."
    interp.prepare_main(spam=42)
    assert interp.call(eval, "spam") == 42, "call(eval, ...) evaluates in the target's __main__"
    interp.call(exec, "eggs = spam + 1")
    assert ask(interp, "eggs") == 43, "call(exec, ...) binds in the target's __main__"


def test_call_stateless_function_globals_are_the_targets_main(interp) -> None:
    # The docs: the same is true "for functions that aren't associated with any module".
    def get_global(name):
        return globals().get(name)

    interp.prepare_main(spam="in __main__")
    assert interp.call(get_global, "__name__") == "__main__"
    assert interp.call(get_global, "spam") == "in __main__"


def test_call_closure_raises_not_shareable(interp) -> None:
    outer = 5

    def closure():
        return outer

    with pytest.raises(si.NotShareableError):
        interp.call(closure)


def test_call_exception_raises_execution_failed(interp) -> None:
    def fail():
        raise KeyError("missing")

    with pytest.raises(si.ExecutionFailed) as info:
        interp.call(fail)
    assert info.value.excinfo.type.__name__ == "KeyError"


def test_call_result_that_cannot_cross_raises_not_shareable(interp) -> None:
    # threading.Lock is found by reference; the lock it returns is neither shareable nor picklable.
    with pytest.raises(si.NotShareableError):
        interp.call(threading.Lock)


def test_call_pickled_arguments_and_results_are_copies(interp) -> None:
    data = {"a": [1, 2]}
    result = interp.call(operator.itemgetter("a"), data)
    assert result == [1, 2], "non-shareable arguments and results are copied via pickle"


def test_call_is_refused_for_the_main_interpreter() -> None:
    with pytest.raises(si.InterpreterError):
        si.get_main().call(operator.add, 1, 2)


# --- call_in_thread -------------------------------------------------------------------------------


def test_call_in_thread_returns_a_future_of_the_result(interp) -> None:
    # Deliberate difference (docs/guide.md, Migrating): CPython returns a started Thread and
    # discards the result; ours returns a concurrent.futures.Future of it.
    future = interp.call_in_thread(operator.mul, 6, 7)
    assert isinstance(future, concurrent.futures.Future), (
        "call_in_thread() returns a concurrent.futures.Future"
    )
    assert future.result(timeout=JOIN) == 42


def test_call_in_thread_runs_on_another_thread(interp) -> None:
    here = threading.get_native_id()
    there = interp.call_in_thread(threading.get_native_id).result(timeout=JOIN)
    assert there != here, "call_in_thread() runs the function in a new thread"


def test_call_in_thread_exception_is_on_the_future(interp) -> None:
    future = interp.call_in_thread(operator.truediv, 1, 0)
    error = future.exception(timeout=JOIN)
    assert isinstance(error, si.ExecutionFailed), "the failure is the future's exception, as call() raises it"
    assert error.excinfo.type.__name__ == "ZeroDivisionError"


# --- is_shareable and what crosses ----------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [None, True, False, 0, 2**100, 1.5, "text", b"bytes", (1, "a", (b"b", None))],
    ids=["None", "True", "False", "int", "bigint", "float", "str", "bytes", "tuple"],
)
def test_is_shareable_true_for_documented_types(obj) -> None:
    assert si.is_shareable(obj), (
        f"{type(obj).__name__} is in the docs' list of shared/efficiently copied types"
    )


def test_is_shareable_true_for_queue_and_memoryview() -> None:
    assert si.is_shareable(si.create_queue()), "Queue actually shares mutable data (docs)"
    assert si.is_shareable(memoryview(bytearray(4))), "memoryview actually shares mutable data (docs)"


@pytest.mark.parametrize(
    "obj", [object(), [object()], {"a": lambda: 0}], ids=["object", "list-of-object", "dict-of-function"]
)
def test_is_shareable_false_for_other_objects(obj) -> None:
    assert not si.is_shareable(obj)


# Deliberate difference (the guide's migration table): lists, dicts and sets cross natively here,
# where CPython 3.14 pickles them (its is_shareable() says False for them).
@pytest.mark.parametrize("obj", [[1], {"a": 1}, {1}], ids=["list", "dict", "set"])
def test_is_shareable_true_for_structured_data(obj) -> None:
    assert si.is_shareable(obj)


def test_memoryview_through_prepare_main_shares_memory(interp) -> None:
    buffer = bytearray(b"abc")
    interp.prepare_main(view=memoryview(buffer))
    interp.exec("view[0] = ord('x')")
    assert bytes(buffer) == b"xbc", "a memoryview's underlying buffer is actually shared (PEP 734)"


def test_memoryview_through_queue_shares_memory() -> None:
    buffer = bytearray(b"abc")
    q = si.create_queue()
    q.put(memoryview(buffer))
    received = q.get(timeout=JOIN)
    assert isinstance(received, memoryview)
    received[1] = ord("y")
    assert bytes(buffer) == b"ayc", "the memoryview taken from the queue uses the same memory"


def test_memoryview_as_call_argument(interp) -> None:
    buffer = bytearray(b"spam")

    def poke(view):
        view[0] = ord("S")
        return bytes(view)

    assert interp.call(poke, memoryview(buffer)) == b"Spam"
    assert bytes(buffer) == b"Spam", "the memoryview argument shares the caller's buffer"


# --- create_queue(maxsize=0, *, unbounditems=UNBOUND) and the markers -----------------------------


def test_create_queue_defaults() -> None:
    q = si.create_queue()
    assert q.maxsize == 0, "maxsize defaults to 0 (unbounded)"
    assert q.unbounditems is si.UNBOUND, "unbounditems defaults to UNBOUND"
    assert isinstance(q.id, int), "Queue.id: the queue's ID"


def test_create_queue_maxsize_positional_and_keyword() -> None:
    assert si.create_queue(3).maxsize == 3
    assert si.create_queue(maxsize=5).maxsize == 5


def test_create_queue_negative_maxsize_is_unbounded() -> None:
    q = si.create_queue(-1)
    for i in range(100):
        q.put_nowait(i)
    assert not q.full(), "PEP 734: zero or negative maxsize means unbounded"


@pytest.mark.parametrize("marker", ["UNBOUND", "UNBOUND_ERROR", "UNBOUND_REMOVE"])
def test_create_queue_unbounditems_markers(marker: str) -> None:
    value = getattr(si, marker)
    q = si.create_queue(unbounditems=value)
    assert q.unbounditems is value, f"create_queue(unbounditems={marker}).unbounditems is {marker}"


def test_unbounditems_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        si.create_queue(0, si.UNBOUND)  # type: ignore[misc]


def test_unbound_repr_names_it() -> None:
    assert "UNBOUND" in repr(si.UNBOUND), "UNBOUND is a marker object whose repr names it"


@pytest.mark.parametrize("bad", [5, "UNBOUND", object()], ids=["int", "str", "object"])
def test_create_queue_bad_unbounditems_raises_not_implemented(bad) -> None:
    # CPython: NotImplementedError("unsupported unbound replacement op ...").
    with pytest.raises(NotImplementedError):
        si.create_queue(unbounditems=bad)


@pytest.mark.parametrize("bad", [5, object()], ids=["int", "object"])
def test_put_bad_unbounditems_raises_not_implemented(bad) -> None:
    q = si.create_queue()
    with pytest.raises(NotImplementedError):
        q.put(1, unbounditems=bad)
    with pytest.raises(NotImplementedError):
        q.put_nowait(1, unbounditems=bad)
    assert q.empty(), "a refused put() queues nothing"


def test_put_and_put_nowait_accept_unbounditems_keyword() -> None:
    q = si.create_queue()
    q.put(1, unbounditems=si.UNBOUND_REMOVE)
    q.put(2, True, None, unbounditems=si.UNBOUND_ERROR)
    q.put_nowait(3, unbounditems=si.UNBOUND)
    q.put(4, unbounditems=None)  # None: the queue's default
    assert drain(q) == [1, 2, 3, 4]
    with pytest.raises(TypeError):
        q.put(5, True, None, si.UNBOUND)  # type: ignore[misc]  # keyword-only


# What becomes of an item whose interpreter is destroyed (3.14's Queue.put docstring): UNBOUND
# replaces it, UNBOUND_ERROR makes get() raise (the next get() works normally), UNBOUND_REMOVE
# removes it from the queue.


def _put_from_closed_interpreter(q: si.Queue, item: str, marker: str = "") -> None:
    """Put item into q from a new interpreter (with unbounditems=<marker> if given), then close it."""
    interp = si.create()
    try:
        interp.prepare_main(q=q, item=item, marker=marker)
        interp.exec(
            "import subinterpreters\n"
            "q.put(item, **({'unbounditems': getattr(subinterpreters, marker)} if marker else {}))"
        )
    finally:
        interp.close()


# Deliberate difference (the guide's migration table): items never depend on the interpreter
# that put them, so whatever unbounditems says, an item outlives its putter and is delivered as
# put. (CPython returns UNBOUND, raises, or drops it.)
@pytest.mark.parametrize("marker", ["UNBOUND", "UNBOUND_ERROR", "UNBOUND_REMOVE"])
def test_items_of_a_destroyed_interpreter_are_delivered_as_put(marker) -> None:
    q = si.create_queue(unbounditems=getattr(si, marker))
    _put_from_closed_interpreter(q, "from a closed interpreter", marker)
    q.put("from here")
    assert q.qsize() == 2, "the closed interpreter's item is still in the queue"
    assert q.get_nowait() == "from a closed interpreter"
    assert q.get_nowait() == "from here"


def test_items_put_by_a_live_interpreter_are_unaffected(interp) -> None:
    q = si.create_queue(unbounditems=si.UNBOUND_REMOVE)
    interp.prepare_main(q=q)
    interp.exec("q.put('still here')")
    assert q.get_nowait() == "still here"


# --- Queue(id) and the queue.Queue API ------------------------------------------------------------


def test_queue_constructor_returns_the_same_object() -> None:
    q = si.create_queue()
    assert si.Queue(q.id) is q, "there is only one Queue object per queue in an interpreter"


def test_queue_constructor_unknown_id_raises_queue_not_found() -> None:
    with pytest.raises(si.QueueNotFoundError):
        si.Queue(1_000_000_000)


@pytest.mark.parametrize("bad", ["1", 1.0, None], ids=["str", "float", "None"])
def test_queue_constructor_non_int_raises_type_error(bad) -> None:
    with pytest.raises(TypeError):
        si.Queue(bad)


def test_queue_hash_and_equality() -> None:
    q, other = si.create_queue(), si.create_queue()
    assert hash(q) == hash(q.id), "PEP 734: a Queue hashes as its id"
    assert q == q and q != other


def test_queue_put_get_fifo_and_sizes() -> None:
    q = si.create_queue(2)
    assert q.empty() and not q.full() and q.qsize() == 0
    q.put("a")
    q.put_nowait(("b", 2))
    assert q.full(), "full(): True when maxsize items are in the queue"
    assert q.qsize() == 2 and not q.empty()
    assert q.get() == "a" and q.get_nowait() == ("b", 2), "first in, first out"
    assert q.empty()


def test_queue_full_raises_queue_full() -> None:
    q = si.create_queue(1)
    q.put(1)
    with pytest.raises(si.QueueFull):
        q.put_nowait(2)
    with pytest.raises(si.QueueFull):
        q.put(2, block=False)
    with pytest.raises(si.QueueFull):
        q.put(2, timeout=0.01)
    assert q.qsize() == 1


def test_queue_empty_raises_queue_empty() -> None:
    q = si.create_queue()
    with pytest.raises(si.QueueEmpty):
        q.get_nowait()
    with pytest.raises(si.QueueEmpty):
        q.get(block=False)
    with pytest.raises(si.QueueEmpty):
        q.get(timeout=0.01)
    with pytest.raises(stdlib_queue.Empty):
        q.get_nowait()


def test_queue_negative_timeout_raises_value_error() -> None:
    q = si.create_queue(1)
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    q.put(1)
    with pytest.raises(ValueError):
        q.put(2, timeout=-1)


def test_queue_carries_pickled_objects_as_copies() -> None:
    q = si.create_queue()
    original = {"a": [1, 2]}
    q.put(original)
    received = q.get_nowait()
    assert received == original and received is not original, "most objects are copied via pickle"


def test_queue_shared_through_prepare_main_is_the_same_queue(interp) -> None:
    q = si.create_queue()
    interp.prepare_main(q=q)
    interp.exec("q.put(('from', 'the other interpreter'))")
    assert q.get(timeout=JOIN) == ("from", "the other interpreter"), "PEP 734: queues are shared"


def test_queue_crossing_back_is_the_same_object(interp) -> None:
    q = si.create_queue()
    assert interp.call(operator.itemgetter(0), (q,)) is q, "one Queue object per queue: it comes back as q"


# --- pickling Interpreter and Queue ---------------------------------------------------------------


def test_pickle_queue_is_the_same_object() -> None:
    q = si.create_queue()
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(q, protocol)) is q, (
            f"pickle round trip (protocol {protocol}) gives q"
        )


def test_pickle_interpreter_is_the_same_object(interp) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(interp, protocol)) is interp, f"protocol {protocol}"
    assert pickle.loads(pickle.dumps(si.get_main())) is si.get_main()


def test_pool_submit_bound_queue_methods() -> None:
    q = si.create_queue()
    with si.InterpreterPoolExecutor(1) as pool:
        pool.submit(q.put, "from a worker").result(timeout=JOIN)
        assert q.get(timeout=JOIN) == "from a worker", "q.put pickles with q: the worker uses the same queue"
        q.put("for a worker")
        assert pool.submit(q.get).result(timeout=JOIN) == "for a worker"


# --- InterpreterPoolExecutor ----------------------------------------------------------------------


def test_pool_is_a_thread_pool_executor() -> None:
    assert issubclass(si.InterpreterPoolExecutor, concurrent.futures.ThreadPoolExecutor), (
        "InterpreterPoolExecutor is a ThreadPoolExecutor subclass"
    )


def test_pool_constructor_positional_arguments() -> None:
    # InterpreterPoolExecutor(max_workers=None, thread_name_prefix='', initializer=None, initargs=())
    with si.InterpreterPoolExecutor(2, "compat-pool", None, ()) as pool:
        assert pool.submit(operator.add, 1, 2).result(timeout=JOIN) == 3
    with si.InterpreterPoolExecutor(
        max_workers=None, thread_name_prefix="", initializer=None, initargs=()
    ) as pool:
        assert list(pool.map(operator.neg, [1, 2, 3])) == [-1, -2, -3]


def test_pool_thread_name_prefix_names_the_worker_threads() -> None:
    with si.InterpreterPoolExecutor(1, thread_name_prefix="compat-prefix") as pool:
        pool.submit(operator.add, 1, 2).result(timeout=JOIN)
        names = [thread.name for thread in threading.enumerate()]
        assert any(name.startswith("compat-prefix") for name in names), (
            f"ThreadPoolExecutor names its threads with thread_name_prefix: {names}"
        )


def test_pool_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        si.InterpreterPoolExecutor(0)


def test_pool_initializer_runs_in_each_worker() -> None:
    def init(value):
        import __main__

        __main__.COMPAT_INIT = value

    def read():
        import __main__

        return __main__.COMPAT_INIT

    with si.InterpreterPoolExecutor(1, initializer=init, initargs=("initialized",)) as pool:
        assert pool.submit(read).result(timeout=JOIN) == "initialized", (
            "the initializer ran in the worker's interpreter"
        )


def test_pool_tasks_run_in_other_interpreters() -> None:
    with si.InterpreterPoolExecutor(1) as pool:
        worker = pool.submit(si.get_current).result(timeout=JOIN)
    assert worker.id != si.get_current().id, "each worker has its own interpreter"


def test_pool_future_carries_the_original_exception_with_execution_failed_cause() -> None:
    with si.InterpreterPoolExecutor(1) as pool:
        error = pool.submit(json.loads, "{").exception(timeout=JOIN)
    assert type(error) is json.JSONDecodeError, (
        f"the worker preserves the exception as-is (got {type(error).__name__})"
    )
    assert isinstance(error.__cause__, si.ExecutionFailed), (
        "its __cause__ is the corresponding ExecutionFailed"
    )
    assert error.__cause__.excinfo.type.__name__ == "JSONDecodeError"


def test_pool_future_builtin_exception_as_is() -> None:
    with si.InterpreterPoolExecutor(1) as pool:
        future = pool.submit(operator.getitem, {}, "missing")
        with pytest.raises(KeyError) as info:
            future.result(timeout=JOIN)
    assert isinstance(info.value.__cause__, si.ExecutionFailed)


def test_pool_exception_that_cannot_be_preserved_is_execution_failed() -> None:
    def fail():
        class LocalError(Exception):
            pass

        raise LocalError("cannot be pickled")

    with si.InterpreterPoolExecutor(1) as pool:
        error = pool.submit(fail).exception(timeout=JOIN)
    assert isinstance(error, si.ExecutionFailed), (
        "when the original cannot be preserved, the future holds the ExecutionFailed instead"
    )
    assert error.excinfo.type.__name__ == "LocalError"


def test_pool_closure_fails_with_not_shareable() -> None:
    captured = 1

    def closure():
        return captured

    with si.InterpreterPoolExecutor(1) as pool:
        future = pool.submit(closure)
        with pytest.raises(si.NotShareableError):
            future.result(timeout=JOIN)


def test_pool_initializer_failure_breaks_the_pool() -> None:
    from concurrent.futures.thread import BrokenThreadPool

    assert issubclass(si.BrokenInterpreterPool, BrokenThreadPool), (
        "BrokenInterpreterPool derives from BrokenThreadPool"
    )
    with si.InterpreterPoolExecutor(1, initializer=operator.truediv, initargs=(1, 0)) as pool:
        future = pool.submit(operator.add, 1, 2)
        with pytest.raises(si.BrokenInterpreterPool):
            future.result(timeout=JOIN)


def test_pool_as_asyncio_default_executor() -> None:
    async def main():
        loop = asyncio.get_running_loop()
        pool = si.InterpreterPoolExecutor(1)
        loop.set_default_executor(pool)  # asyncio requires a ThreadPoolExecutor here
        return await loop.run_in_executor(None, operator.mul, 6, 7)

    assert asyncio.run(main()) == 42


# --- interoperation with CPython's concurrent.interpreters (3.14+) --------------------------------


@pytest.fixture
def ci():
    if not HAS_CPYTHON_INTERPRETERS:
        pytest.skip("concurrent.interpreters exists from CPython 3.14 on")
    from concurrent import interpreters

    return interpreters


@pytest.fixture
def ci_interp(ci):
    made = ci.create()
    yield made
    try:
        made.close()
    except ci.InterpreterNotFoundError:
        pass


def test_interop_cpython_interpreter_is_listed_and_constructible(ci, ci_interp) -> None:
    assert ci_interp.id in [i.id for i in si.list_all()], "list_all() lists every interpreter of the process"
    ours = si.Interpreter(ci_interp.id)
    assert ours.id == ci_interp.id
    assert ours.whence == ci_interp.whence, "whence is what CPython recorded for the interpreter"


def test_interop_exec_call_prepare_main_in_a_cpython_interpreter(ci, ci_interp, ask) -> None:
    ours = si.Interpreter(ci_interp.id)
    ours.prepare_main(spam=21)
    ours.exec("spam *= 2")
    assert ask(ours, "spam") == 42
    assert ours.call(si.get_current).id == ci_interp.id, "the call ran in that interpreter"
    ci_interp.exec("assert spam == 42")  # the same __main__, seen through CPython's module


def test_interop_our_interpreters_seen_by_cpython(ci, interp) -> None:
    ids = [i.id for i in ci.list_all()]
    assert interp.id in ids, "CPython's list_all() sees our interpreter"
    theirs = ci.Interpreter(interp.id)
    assert theirs.whence == interp.whence, "both modules report the same whence"
    assert si.get_main().whence == ci.get_main().whence == "runtime init"


def test_interop_is_running_agrees(ci, interp, running) -> None:
    theirs = ci.Interpreter(interp.id)
    assert theirs.is_running() is False
    release = running(interp)
    assert theirs.is_running() is True, (
        "while our exec() runs, CPython also sees the interpreter running __main__"
    )
    release()


def test_interop_our_queue_through_cpython_call(ci, ci_interp) -> None:
    q = si.create_queue()
    ci_interp.call(q.put, "via concurrent.interpreters")  # q pickled: the same queue on the other side
    assert q.get(timeout=JOIN) == "via concurrent.interpreters"


def test_interop_our_channel_through_cpython_call(ci, ci_interp) -> None:
    recv, send = si.create_channel()
    try:
        ci_interp.call(send.send_nowait, "through a channel end")
        assert recv.recv(timeout=JOIN) == "through a channel end"
    finally:
        recv.close()
        send.close()


def test_interop_our_shared_array_through_cpython_call(ci, ci_interp) -> None:
    array = si.SharedArray(4, "B")

    def poke(shared):
        view = memoryview(shared)
        view[2] = 99

    ci_interp.call(poke, array)
    assert memoryview(array)[2] == 99, "the SharedArray arrived as the same memory"


def test_interop_our_lock_through_cpython_call(ci, ci_interp) -> None:
    lock = si.Lock()
    assert ci_interp.call(lock.acquire, False) is True
    try:
        assert lock.locked(), "the lock acquired in the other interpreter is this lock"
    finally:
        lock.release()


def test_interop_our_queue_through_cpython_prepare_main(ci, ci_interp) -> None:
    try:
        ci_interp.prepare_main(_probe=[1])
    except ci.NotShareableError:
        pytest.skip(
            "this CPython's prepare_main() refuses every non-shareable object (no pickle fallback, "
            "though the docs describe one): only objects registered with CPython's cross-interpreter "
            "data can pass; call() is covered by the other interop tests"
        )
    q = si.create_queue()
    ci_interp.prepare_main(q=q)
    ci_interp.exec("q.put('prepared by concurrent.interpreters')")
    assert q.get(timeout=JOIN) == "prepared by concurrent.interpreters"


def test_interop_cpython_queue_usable_from_our_interpreter(ci, interp) -> None:
    theirs = ci.create_queue()
    interp.prepare_main(q=theirs)
    interp.exec("q.put('from subinterpreters')")
    assert theirs.get(timeout=JOIN) == "from subinterpreters", (
        "a CPython Queue (shareable in CPython) crosses"
    )


# ExecutionFailed, QueueEmpty and QueueFull are Python classes of concurrent.interpreters itself:
# deriving from them would mean importing that module (about 4 ms) in every interpreter that
# imports the package, so they do not (the guide's migration table says so); their bases
# InterpreterError and QueueError do derive from CPython's.
@pytest.mark.parametrize(
    "name",
    ["InterpreterError", "InterpreterNotFoundError", "NotShareableError", "QueueError", "QueueNotFoundError"],
)
def test_interop_exceptions_caught_by_cpython_handlers(ci, name: str) -> None:
    # Code that catches concurrent.interpreters' exceptions (a library written for it, called
    # with our objects) keeps working: ours are the same classes or subclasses of them.
    from concurrent.interpreters import _queues

    theirs = getattr(ci, name, None) or getattr(_queues, name)
    ours = getattr(si, name, None)
    assert ours is not None, f"subinterpreters.{name} is missing"
    assert issubclass(ours, theirs), (
        f"subinterpreters.{name} should derive from concurrent.interpreters' {name}"
    )
