"""Interpreters: create (isolated vs legacy), list_all/get_current/get_main, id/eq/hash/repr,
is_running, close (twice, context manager), and Interpreter objects being shareable."""

from __future__ import annotations

import gc
import sys
import textwrap

import pytest

import subinterpreters as si

SINGLE_PHASE = "_testsinglephase"  # a single-phase-init extension shipped with CPython 3.12/3.13


def _has_single_phase_module() -> bool:
    try:
        __import__(SINGLE_PHASE)
    except ImportError:
        return False
    return True


# How an isolated interpreter refuses a single-phase extension: CPython's own check (ImportError)
# on 3.13; on 3.12 the package marks the standard library's single-phase modules absent before
# CPython's check can run (that check corrupts memory on 3.12.1, gh-115649), so the import
# stops at once with ModuleNotFoundError (an ImportError).
REFUSED_AS = "ImportError" if sys.version_info >= (3, 13) else "ModuleNotFoundError"

needs_single_phase = pytest.mark.skipif(
    not _has_single_phase_module(),
    reason=f"this CPython build has no {SINGLE_PHASE} test module (built without test modules)",
)


# --- create: isolated vs legacy -------------------------------------------------------------------


def test_create_returns_interpreter_listed_until_closed() -> None:
    interp = si.create()
    try:
        assert type(interp) is si.Interpreter
        assert interp in si.list_all()
    finally:
        interp.close()
    assert interp not in si.list_all()


def test_create_isolated_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        si.create(True)  # type: ignore[misc]


@needs_single_phase
def test_isolated_interpreter_refuses_single_phase_extension(interp: si.Interpreter) -> None:
    with pytest.raises(si.RunFailedError) as info:
        interp.exec(f"import {SINGLE_PHASE}")
    assert info.value.type_name == REFUSED_AS


@needs_single_phase
def test_default_create_is_isolated() -> None:
    with si.create() as interp:
        with pytest.raises(si.RunFailedError) as info:
            interp.exec(f"import {SINGLE_PHASE}")
        assert info.value.type_name == REFUSED_AS


@needs_single_phase
def test_explicit_isolated_true_refuses_single_phase_extension() -> None:
    with si.create(isolated=True) as interp:
        with pytest.raises(si.RunFailedError) as info:
            interp.exec(f"import {SINGLE_PHASE}")
        assert info.value.type_name == REFUSED_AS


@needs_single_phase
def test_legacy_interpreter_imports_single_phase_extension(legacy_interp, ask) -> None:
    assert ask(legacy_interp, f"{SINGLE_PHASE}.__name__", setup=f"import {SINGLE_PHASE}") == (SINGLE_PHASE)


def test_isolated_interpreter_has_separate_modules(interp, ask) -> None:
    # Isolation: state in one interpreter's modules is invisible to another.
    import sys

    sys.modules["__si_marker__"] = sys  # type: ignore[assignment]
    try:
        assert ask(interp, "'__si_marker__' in sys.modules", setup="import sys") is False
    finally:
        del sys.modules["__si_marker__"]


# --- list_all / get_current / get_main ------------------------------------------------------------


def test_get_main_and_get_current_in_main_interpreter() -> None:
    main = si.get_main()
    assert type(main) is si.Interpreter
    assert main.id == 0
    assert si.get_current() == main
    assert main in si.list_all()


def test_list_all_contains_every_live_created_interpreter() -> None:
    created = [si.create(), si.create(isolated=False)]
    try:
        ids = [i.id for i in si.list_all()]
        assert 0 in ids
        for interp in created:
            assert interp.id in ids
        assert all(type(i) is si.Interpreter for i in si.list_all())
        assert len(ids) == len(set(ids))
    finally:
        for interp in created:
            interp.close()
    ids = [i.id for i in si.list_all()]
    for interp in created:
        assert interp.id not in ids


def test_get_current_and_get_main_inside_subinterpreter(interp, ask) -> None:
    setup = "import subinterpreters as si"
    assert ask(interp, "si.get_current().id", setup=setup) == interp.id
    assert ask(interp, "si.get_main().id", setup=setup) == 0
    assert ask(interp, "si.get_current()", setup=setup) == interp
    assert ask(interp, "si.get_main()", setup=setup) == si.get_main()
    ids = ask(interp, "tuple(i.id for i in si.list_all())", setup=setup)
    assert 0 in ids and interp.id in ids


def test_get_current_inside_legacy_interpreter(legacy_interp, ask) -> None:
    setup = "import subinterpreters as si"
    assert ask(legacy_interp, "si.get_current().id", setup=setup) == legacy_interp.id


# --- id, equality, hash, repr ---------------------------------------------------------------------


def test_id_is_int_and_never_reused() -> None:
    seen: set[int] = set()
    for _ in range(5):
        interp = si.create()
        assert type(interp.id) is int
        assert interp.id not in seen
        assert interp.id != 0
        seen.add(interp.id)
        interp.close()
    # Still distinct after all of the above were destroyed.
    with si.create() as interp:
        assert interp.id not in seen


def test_equality_and_hash_by_id(interp) -> None:
    same = next(i for i in si.list_all() if i.id == interp.id)
    assert same == interp
    assert not (same != interp)
    assert hash(same) == hash(interp)
    assert len({same, interp}) == 1
    assert interp != si.get_main()
    assert hash(si.get_main()) == hash(si.get_current())
    with si.create() as other:
        assert other != interp
        assert len({interp, other, same}) == 2


def test_equality_with_other_types_is_false(interp) -> None:
    assert interp != interp.id
    assert not (interp == interp.id)
    assert interp != "Interpreter"
    assert interp is not None and interp != None  # noqa: E711


def test_repr_shows_id(interp) -> None:
    assert str(interp.id) in repr(interp)
    assert repr(interp) == f"Interpreter({interp.id})"  # CPython's concurrent.interpreters form
    assert repr(si.get_main()) == "Interpreter(0)"


def test_id_is_read_only(interp) -> None:
    with pytest.raises(AttributeError):
        interp.id = 12345  # type: ignore[misc]


# --- shareable Interpreter objects ----------------------------------------------------------------


def test_interpreter_is_shareable_through_channel(interp, channel) -> None:
    recv, send = channel
    assert si.is_shareable(interp)
    assert si.is_shareable(si.get_main())
    send.send_nowait(interp)
    got = recv.recv_nowait()
    assert type(got) is si.Interpreter
    assert got == interp and hash(got) == hash(interp)


def test_interpreter_shared_into_subinterpreter_refers_to_same_one(interp, ask) -> None:
    with si.create() as other:
        assert ask(interp, "other.id", other=other) == other.id
        assert ask(interp, "other", other=other) == other
        assert (
            ask(
                interp,
                "main == si.get_main()",
                setup="import subinterpreters as si",
                main=si.get_main(),
            )
            is True
        )
        # Using it from inside `interp` acts on `other`: the binding lands in other's __main__.
        interp.exec("other.exec('marker = 41 + 1')")
        assert ask(other, "marker") == 42


def test_interpreter_received_through_channel_inside_subinterpreter(interp, ask, channel) -> None:
    recv, send = channel
    send.send_nowait(si.get_main())
    send.send_nowait(interp)
    assert ask(
        interp,
        "(a.id, b.id, b == si.get_current())",
        setup=textwrap.dedent(
            """
        import subinterpreters as si
        a = r.recv_nowait()
        b = r.recv_nowait()
        """
        ),
        r=recv,
    ) == (0, interp.id, True)


# --- is_running -----------------------------------------------------------------------------------


def test_is_running_while_code_runs_in_another_thread(interp, spawn, wait_until) -> None:
    recv, send = si.create_channel()
    assert interp.is_running() is False
    task = spawn(interp.run, "r.recv()", r=recv)
    try:
        assert wait_until(interp.is_running), "is_running() never became True"
        assert task.done is False
    finally:
        send.send(None, timeout=10)
    task.result()
    assert interp.is_running() is False
    recv.close()
    send.close()


def test_main_interpreter_counts_as_running() -> None:
    assert si.get_main().is_running() is True


def test_is_running_inside_itself(interp, ask) -> None:
    assert ask(interp, "si.get_current().is_running()", setup="import subinterpreters as si") is True


# --- close ----------------------------------------------------------------------------------------


def test_close_destroys_and_second_close_is_noop() -> None:
    interp = si.create()
    interp.exec("x = 1")
    interp.close()
    assert interp not in si.list_all()
    interp.close()  # nothing happens
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.exec("pass")


@pytest.mark.parametrize(
    "use",
    [
        lambda i: i.run("pass"),
        lambda i: i.run("pass", x=1),
        lambda i: i.exec("pass"),
        lambda i: i.prepare_main(x=1),
        lambda i: i.is_running(),
    ],
    ids=["run", "run-shared", "exec", "prepare_main", "is_running"],
)
def test_using_closed_interpreter_raises_not_found(use) -> None:
    interp = si.create()
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        use(interp)
    assert issubclass(si.InterpreterNotFoundError, si.InterpreterError)


def test_closed_interpreter_still_has_id_eq_hash_repr() -> None:
    interp = si.create()
    ident = interp.id
    interp.close()
    assert interp.id == ident
    assert repr(interp) == f"Interpreter({ident})"
    assert interp == interp and hash(interp) == hash(interp)


def test_context_manager_closes_on_exit() -> None:
    with si.create() as interp:
        assert type(interp) is si.Interpreter
        assert interp in si.list_all()
        interp.exec("x = 1")
    assert interp not in si.list_all()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.exec("pass")


def test_context_manager_closes_on_exception_and_propagates_it() -> None:
    with pytest.raises(KeyError):
        with si.create() as interp:
            raise KeyError("boom")
    assert interp not in si.list_all()


def test_context_manager_of_legacy_interpreter() -> None:
    with si.create(isolated=False) as interp:
        assert interp in si.list_all()
    assert interp not in si.list_all()


def test_interpreter_is_not_closed_by_garbage_collection() -> None:
    # api-decisions.md: Interpreter objects do not close their interpreter when collected.
    ident = si.create().id
    gc.collect()
    alive = [i for i in si.list_all() if i.id == ident]
    assert alive, "interpreter vanished when its Interpreter object was collected"
    alive[0].exec("pass")
    alive[0].close()


def test_close_main_interpreter_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        si.get_main().close()
    assert si.get_main() in si.list_all()


def test_close_running_interpreter_raises_runtime_error(interp, spawn, wait_until) -> None:
    recv, send = si.create_channel()
    task = spawn(interp.run, "r.recv()", r=recv)
    try:
        assert wait_until(interp.is_running)
        with pytest.raises(RuntimeError):
            interp.close()
        assert interp in si.list_all()
    finally:
        send.send(None, timeout=10)
    task.result()
    recv.close()
    send.close()
    interp.exec("pass")  # still usable


def test_close_current_interpreter_from_inside_raises_runtime_error(interp, ask) -> None:
    setup = textwrap.dedent(
        """
        import subinterpreters as si
        try:
            si.get_current().close()
        except RuntimeError as exc:
            outcome = type(exc).__name__, isinstance(exc, si.InterpreterError)
        else:
            outcome = "no error"
        """
    )
    assert ask(interp, "outcome", setup=setup) == ("InterpreterRunningError", True)
    interp.exec("pass")
    assert interp in si.list_all()


def test_close_main_from_inside_subinterpreter_raises_runtime_error(interp, ask) -> None:
    setup = textwrap.dedent(
        """
        import subinterpreters as si
        try:
            si.get_main().close()
        except RuntimeError:
            outcome = "RuntimeError"
        else:
            outcome = "no error"
        """
    )
    assert ask(interp, "outcome", setup=setup) == "RuntimeError"


def test_subinterpreter_can_create_and_close_another(interp, ask) -> None:
    setup = textwrap.dedent(
        """
        import subinterpreters as si
        inner = si.create()
        inner.exec("y = 2")
        inner_id = inner.id
        listed = inner in si.list_all()
        inner.close()
        gone = inner not in si.list_all()
        """
    )
    inner_id, listed, gone = ask(interp, "(inner_id, listed, gone)", setup=setup)
    assert listed and gone
    assert inner_id not in [i.id for i in si.list_all()]


@pytest.mark.parametrize("module", ["datetime", "decimal", "xml.etree.ElementTree"])
def test_stdlib_modules_with_single_phase_accelerators_work_in_isolated_interpreters(module) -> None:
    # They fall back to their pure-Python versions; creating and closing interpreters that
    # imported them again and again must not corrupt anything (CPython 3.12.1 would: gh-115649).
    for _ in range(5):
        with si.create() as interp:
            interp.exec(f"import {module}")
