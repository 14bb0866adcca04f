"""The installed package: importable, its public API, stub and typing marker, docstrings and
signatures, and the error classes (the same hierarchy importable in every interpreter)."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import pydoc
import textwrap
from pathlib import Path

import pytest

import subinterpreters as si
from subinterpreters import _core

PACKAGE_DIR = Path(si.__file__).parent

PUBLIC_FUNCTIONS = [
    "create",
    "create_channel",
    "get_current",
    "get_main",
    "is_shareable",
    "list_all",
    "list_all_channels",
]
PUBLIC_METHODS = {
    "Interpreter": ["run", "exec", "prepare_main", "is_running", "close"],
    "RecvChannel": ["recv", "recv_nowait", "close"],
    "SendChannel": ["send", "send_nowait", "close"],
}
PUBLIC_PROPERTIES = {
    "Interpreter": ["id"],
    "RecvChannel": ["id", "is_closed"],
    "SendChannel": ["id", "is_closed"],
}
ERRORS = [
    "InterpreterError",
    "InterpreterNotFoundError",
    "RunFailedError",
    "NotShareableError",
    "ChannelError",
    "ChannelClosedError",
    "ChannelEmptyError",
]


# --- importable, __all__, files installed next to the package ------------------------------------


def test_all_names_resolve_and_cover_the_public_api() -> None:
    assert isinstance(si.__all__, list)
    for name in si.__all__:
        assert hasattr(si, name), name
    for name in PUBLIC_FUNCTIONS + list(PUBLIC_METHODS) + ERRORS + ["ExecutionFailed", "__version__"]:
        assert name in si.__all__, name


def test_star_import_exports_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from subinterpreters import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(si.__all__)


def test_version_matches_installed_metadata() -> None:
    assert isinstance(si.__version__, str) and si.__version__
    assert si.__version__ == importlib.metadata.version("subinterpreters")


def test_compiled_module_stub_and_typing_marker_installed_next_to_package() -> None:
    assert Path(_core.__file__).parent == PACKAGE_DIR
    assert Path(_core.__file__).suffix in {".so", ".pyd"}
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "_core.pyi").is_file()


def test_stub_and_typing_marker_are_in_the_distribution_record() -> None:
    files = importlib.metadata.files("subinterpreters")
    assert files is not None
    names = {str(f).replace("\\", "/") for f in files}
    assert "subinterpreters/py.typed" in names
    assert "subinterpreters/_core.pyi" in names
    assert "subinterpreters/__init__.py" in names


def _stub_tree() -> ast.Module:
    return ast.parse((PACKAGE_DIR / "_core.pyi").read_text(encoding="utf-8"))


def test_stub_declares_exactly_what_the_compiled_module_has() -> None:
    declared: set[str] = set()
    for node in _stub_tree().body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
        elif isinstance(node, ast.Assign):
            declared.update(t.id for t in node.targets if isinstance(t, ast.Name))
    declared -= {"_T", "_R"}  # type variables of the stub only
    for name in declared:
        assert hasattr(_core, name), f"stub declares {name!r}, missing at runtime"
    runtime_public = {n for n in dir(_core) if not n.startswith("_")}
    assert runtime_public <= declared, f"undeclared in stub: {runtime_public - declared}"


def test_stub_methods_exist_on_runtime_classes() -> None:
    for node in _stub_tree().body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(_core, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name}"
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    # Instance attributes set when raised (RunFailedError).
                    assert item.target.id in ("type_name", "msg", "traceback", "excinfo"), item.target.id


# --- docstrings and signatures --------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_has_docstring_and_signature(name: str) -> None:
    fn = getattr(si, name)
    assert fn.__doc__ and fn.__doc__.strip()
    inspect.signature(fn)


@pytest.mark.parametrize(
    ("cls", "method"), [(c, m) for c, methods in PUBLIC_METHODS.items() for m in methods]
)
def test_public_method_has_docstring_and_signature(cls: str, method: str) -> None:
    fn = getattr(getattr(si, cls), method)
    assert fn.__doc__ and fn.__doc__.strip()
    sig = inspect.signature(fn)
    assert next(iter(sig.parameters)) == "self"


@pytest.mark.parametrize(("cls", "prop"), [(c, p) for c, props in PUBLIC_PROPERTIES.items() for p in props])
def test_public_property_has_docstring(cls: str, prop: str) -> None:
    attr = inspect.getattr_static(getattr(si, cls), prop)
    assert attr.__doc__ and attr.__doc__.strip()


@pytest.mark.parametrize("name", list(PUBLIC_METHODS) + ERRORS)
def test_public_class_has_docstring(name: str) -> None:
    cls = getattr(si, name)
    assert cls.__doc__ and cls.__doc__.strip()


def test_signatures_match_the_contract() -> None:
    P = inspect.Parameter

    create = inspect.signature(si.create).parameters
    assert list(create) == ["isolated"]
    assert create["isolated"].kind is P.KEYWORD_ONLY and create["isolated"].default is True

    run = inspect.signature(si.Interpreter.run).parameters
    assert run["source"].kind is P.POSITIONAL_ONLY
    assert run["shared"].kind is P.VAR_KEYWORD

    # CPython 3.14's names: exec(code, /), prepare_main(ns=None, /, **kwargs).
    exec_ = inspect.signature(si.Interpreter.exec).parameters
    assert list(exec_) == ["self", "code"]
    assert exec_["code"].kind is P.POSITIONAL_ONLY

    prepare = inspect.signature(si.Interpreter.prepare_main).parameters
    assert [p.kind for n, p in prepare.items() if n != "self"] == [P.POSITIONAL_ONLY, P.VAR_KEYWORD]
    assert prepare["ns"].default is None

    send = inspect.signature(si.SendChannel.send).parameters
    assert send["obj"].kind is P.POSITIONAL_ONLY
    assert send["timeout"].default is None

    send_nowait = inspect.signature(si.SendChannel.send_nowait).parameters
    assert list(send_nowait) == ["self", "obj"]

    recv = inspect.signature(si.RecvChannel.recv).parameters
    assert recv["timeout"].default is None

    recv_nowait = inspect.signature(si.RecvChannel.recv_nowait).parameters
    assert "default" in recv_nowait

    assert list(inspect.signature(si.is_shareable).parameters) == ["obj"]
    for name in ["get_current", "get_main", "list_all", "list_all_channels"]:
        assert list(inspect.signature(getattr(si, name)).parameters) == [], name
    strict = inspect.signature(si.create_channel).parameters["strict"]
    assert strict.kind is inspect.Parameter.KEYWORD_ONLY and strict.default is True


# --- errors ---------------------------------------------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(si.InterpreterError, Exception)
    assert issubclass(si.InterpreterNotFoundError, si.InterpreterError)
    assert issubclass(si.RunFailedError, si.InterpreterError)
    assert si.ExecutionFailed is si.RunFailedError
    assert issubclass(si.NotShareableError, ValueError)
    assert issubclass(si.NotShareableError, TypeError)
    assert issubclass(si.ChannelError, Exception)
    assert issubclass(si.ChannelClosedError, si.ChannelError)
    assert issubclass(si.ChannelEmptyError, si.ChannelError)
    assert not issubclass(si.ChannelClosedError, si.ChannelEmptyError)
    assert not issubclass(si.ChannelEmptyError, si.ChannelClosedError)
    assert not issubclass(si.ChannelError, si.InterpreterError)


def test_api_decision_error_bases() -> None:
    # api-decisions.md: ChannelError derives from RuntimeError; timeouts raise the builtin.
    assert issubclass(si.ChannelError, RuntimeError)


def test_error_classes_importable_in_every_interpreter(ask, interp, legacy_interp) -> None:
    check = textwrap.dedent(
        """
        from subinterpreters import (
            InterpreterError, InterpreterNotFoundError, RunFailedError, ExecutionFailed,
            NotShareableError, ChannelError, ChannelClosedError, ChannelEmptyError,
        )
        ok = (
            issubclass(InterpreterNotFoundError, InterpreterError)
            and issubclass(RunFailedError, InterpreterError)
            and ExecutionFailed is RunFailedError
            and issubclass(NotShareableError, ValueError)
            and issubclass(NotShareableError, TypeError)
            and issubclass(ChannelClosedError, ChannelError)
            and issubclass(ChannelEmptyError, ChannelError)
        )
        """
    )
    assert ask(interp, "ok", setup=check) is True
    assert ask(legacy_interp, "ok", setup=check) is True


def test_errors_raised_in_a_subinterpreter_are_its_own_classes(ask, interp) -> None:
    # The package's errors raised by calls made inside a subinterpreter are catchable there with
    # that interpreter's classes.
    setup = textwrap.dedent(
        """
        import subinterpreters as si
        r, s = si.create_channel()
        caught = []
        try:
            r.recv_nowait()
        except si.ChannelEmptyError:
            caught.append("empty")
        try:
            s.send_nowait([object()])
        except si.NotShareableError:
            caught.append("notshareable")
        r.close()
        try:
            s.send_nowait(1)
        except si.ChannelClosedError:
            caught.append("closed")
        try:
            r.recv(timeout=0)
        except si.ChannelClosedError:
            caught.append("closed-recv")
        """
    )
    assert ask(interp, "tuple(caught)", setup=setup) == (
        "empty",
        "notshareable",
        "closed",
        "closed-recv",
    )


def test_package_imports_in_isolated_and_legacy_interpreters(ask, interp, legacy_interp) -> None:
    for target in (interp, legacy_interp):
        assert ask(target, "subinterpreters.__name__", setup="import subinterpreters") == ("subinterpreters")
        same_all = ask(
            target,
            "sorted(subinterpreters.__all__) == sorted(names)",
            setup="import subinterpreters",
            names=tuple(si.__all__),
        )
        assert same_all is True


# --- every public name, discovered (issue 7: help() and inspect.signature work everywhere) -------


def _public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in si.__all__:
        obj = getattr(si, name)
        if inspect.isclass(obj):
            found.append((name, obj))
            if issubclass(obj, BaseException):
                continue
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr not in ("__enter__", "__exit__", "__new__"):
                    continue
                if callable(value) or isinstance(value, (classmethod, staticmethod)):
                    found.append((f"{name}.{attr}", getattr(obj, attr)))
        elif callable(obj):
            found.append((name, obj))
    return found


@pytest.mark.parametrize(("name", "obj"), _public_callables(), ids=[n for n, _ in _public_callables()])
def test_every_public_callable_has_a_docstring_and_a_signature(name: str, obj: object) -> None:
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{name} has no docstring"
    if not inspect.isclass(obj) or not issubclass(obj, BaseException):
        inspect.signature(obj)  # raises ValueError if no signature can be found
    text = pydoc.plain(pydoc.render_doc(obj))  # what help() shows
    assert getattr(obj, "__name__", name.split(".")[-1]) in text  # (aliases show their real name)
