"""Calling functions in other interpreters: what crosses and how, on both sides of a call.

The caller turns ``fn(*args, **kwargs)`` into a *spec* that is natively shareable: the function
pickled by reference, and each argument either as itself (when shareable, so a SharedArray,
queue or lock keeps its identity) or pickled. The target (``invoke``, run there by
``Interpreter._invoke``) rebuilds and runs it and returns an *outcome* in the same form: the
result, or a description of the exception (type name, message, traceback text, and the
exception pickled when pickle can).

Functions and classes of the caller's ``__main__`` are pickled as references that the receiving
side resolves in its own ``__main__`` first, then in the caller's main script imported there as
``__si_main__`` (as multiprocessing's spawn does, its ``if __name__ == "__main__":`` block does
not run).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import pickle
import sys
import threading
import traceback
import types
from concurrent.futures import Future
from typing import Any

from ._core import NotShareableError, RunFailedError, is_shareable

MAIN_ALIAS = "__si_main__"
_MAIN_MODULES = ("__main__", MAIN_ALIAS)
_main_lock = threading.Lock()


# --- pickling with __main__ references ------------------------------------------------------------


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        module_name = getattr(obj, "__module__", None)
        if isinstance(obj, (types.FunctionType, type)) and module_name in _MAIN_MODULES:
            qualname = obj.__qualname__
            # Only what that name really finds (not a lambda, a local, or a wrapper that copied
            # another function's name): anything else fails as plain pickle says.
            if "<" not in qualname and _lookup(sys.modules.get(module_name), qualname) is obj:
                return _main_object, (qualname, *_main_origin())
        return NotImplemented


def _main_origin() -> tuple[str | None, str | None]:
    """Where this interpreter's main code comes from: (script path, module name for -m)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(main, "__file__", None), getattr(spec, "name", None)


def dumps(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _lookup(namespace: object, qualname: str) -> Any:
    for part in qualname.split("."):
        namespace = getattr(namespace, part, None)
        if namespace is None:
            return None
    return namespace


def _main_object(qualname: str, path: str | None, module_name: str | None) -> Any:
    """Resolve a reference to the caller's ``__main__.<qualname>`` here (see the module docs)."""
    found = _lookup(sys.modules.get("__main__"), qualname)
    if isinstance(found, (types.FunctionType, type)):
        return found
    module = _caller_main(path, module_name)
    found = None if module is None else _lookup(module, qualname)
    if not isinstance(found, (types.FunctionType, type)):
        where = path or module_name or "an interactive session"
        raise AttributeError(
            f"{qualname!r} is not defined in this interpreter's __main__ nor in the caller's main "
            f"code ({where}); define it in an importable module, or in this interpreter with exec()"
        )
    return found


def _caller_main(path: str | None, module_name: str | None) -> types.ModuleType | None:
    with _main_lock:
        module = sys.modules.get(MAIN_ALIAS)
        if module is not None:
            return module
        if module_name and (module_name == "__main__" or module_name.endswith(".__main__")):
            # `python -m package`: its __main__ is command-line code, not to be re-run here (as
            # multiprocessing does not either).
            return None
        if module_name:
            return importlib.import_module(module_name)
        if not path:
            return None
        spec = importlib.util.spec_from_file_location(MAIN_ALIAS, path)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[MAIN_ALIAS] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[MAIN_ALIAS]
            raise
        return module


# --- values: native or pickled --------------------------------------------------------------------


# A value travels inside a spec or an outcome a few tuples deep; the native conversion refuses
# more than 200 levels in all, so values nested close to that go by pickle instead.
_NATIVE_DEPTH = 195


def _tuple_depth(value: object, limit: int) -> int:
    """How deep ``value`` nests tuples, counting up to ``limit`` at most."""
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [item for outer in level if isinstance(outer, tuple) for item in outer]
        depth += 1
    return depth


def wrap(value: object, what: str) -> tuple[bool, object]:
    """``(False, value)`` if it crosses natively, else ``(True, pickled)``; NotShareableError if
    neither can carry it."""
    if is_shareable(value) and (not isinstance(value, tuple) or _tuple_depth(value, _NATIVE_DEPTH) < _NATIVE_DEPTH):
        return False, value
    try:
        return True, dumps(value)
    except Exception as exc:
        raise NotShareableError(
            f"{what} of type {type(value).__qualname__!r} cannot cross to another interpreter: it is "
            f"not shareable and pickle refused it ({type(exc).__name__}: {exc})"
        ) from None


def unwrap(wrapped: tuple[bool, object]) -> Any:
    pickled, value = wrapped
    return pickle.loads(value) if pickled else value  # type: ignore[arg-type]


# --- the call itself --------------------------------------------------------------------------------


def prepare(fn: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The caller's half: a shareable spec of ``fn(*args, **kwargs)``."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__qualname__!r}")
    try:
        function = dumps(fn)
    except Exception as exc:
        raise NotShareableError(
            f"the function {fn!r} cannot be sent to another interpreter: pickle must find it by "
            f"reference (a module-level function or class), and refused it ({type(exc).__name__}: {exc})"
        ) from None
    return (
        function,
        tuple(wrap(arg, f"argument {index}") for index, arg in enumerate(args)),
        tuple((name, wrap(value, f"argument {name!r}")) for name, value in kwargs.items()),
    )


def invoke(spec: tuple[Any, ...], keep_result: bool = True) -> tuple[Any, ...]:
    """The target's half: run the spec; ``(True, wrapped result)`` or ``(False, description)``.
    Without ``keep_result`` the result is dropped (an initializer's), not carried back."""
    try:
        function, args, kwargs = spec
        fn = pickle.loads(function)
        result = fn(*[unwrap(arg) for arg in args], **{name: unwrap(value) for name, value in kwargs})
        return True, wrap(result if keep_result else None, "the result")
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
        return False, describe(exc)


def describe(exc: BaseException) -> tuple[str, str, str, bytes | None]:
    """Type name, message, traceback text and (if pickle can) the exception itself. Never
    raises, even for an exception whose ``__str__`` does."""
    try:
        pickled: bytes | None = dumps(exc)
    except BaseException:
        pickled = None
    try:
        message = str(exc)
    except BaseException:
        message = f"<str() of the {type(exc).__qualname__} failed>"
    try:
        text = "".join(traceback.format_exception(exc))
    except BaseException:
        text = f"{type(exc).__qualname__}: {message}\n"
    return type(exc).__qualname__, message, text, pickled


def finish(outcome: tuple[Any, ...]) -> Any:
    """The caller's half again: the result, or RunFailedError (with ``__cause__`` if rebuilt)."""
    ok, value = outcome
    if not ok:
        raise run_failed(value)
    try:
        return unwrap(value)
    except Exception as exc:
        error = RunFailedError(
            f"the call returned, but its result cannot be rebuilt here ({type(exc).__qualname__}: {exc})"
        )
        error.type_name, error.msg = type(exc).__qualname__, str(exc)
        error.traceback = "".join(traceback.format_exception(exc))
        raise error from exc


def run_failed(description: tuple[Any, ...]) -> RunFailedError:
    type_name, message, text, pickled = description
    error = RunFailedError(f"{type_name}: {message}" if message else type_name)
    error.type_name = type_name
    error.msg = message
    error.traceback = text
    if pickled is not None:
        try:
            cause = pickle.loads(pickled)
        except Exception:
            cause = None
        if isinstance(cause, BaseException):
            error.__cause__ = cause
    return error


def call(interp: Any, fn: object, /, *args: object, **kwargs: object) -> Any:
    """``Interpreter.call``: see its docstring."""
    return finish(interp._invoke(prepare(fn, args, kwargs)))


# --- futures ----------------------------------------------------------------------------------------


def _in_thread(work: Any, name: str) -> Future[Any]:
    future: Future[Any] = Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def call_in_thread(interp: Any, fn: object, /, *args: object, **kwargs: object) -> Future[Any]:
    """``Interpreter.call_in_thread``: see its docstring."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__qualname__!r}")
    try:
        spec = prepare(fn, args, kwargs)  # here, so later changes to the arguments do not count
    except NotShareableError as exc:
        failed: Future[Any] = Future()
        failed.set_exception(exc)
        return failed
    return _in_thread(lambda: finish(interp._invoke(spec)), f"subinterpreters-call-{interp.id}")


def run_in_thread(interp: Any, source: str, /, **shared: object) -> Future[Any]:
    """``Interpreter.run_in_thread``: see its docstring."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str of Python code, not {type(source).__qualname__}")
    return _in_thread(lambda: interp.run(source, **shared), f"subinterpreters-run-{interp.id}")


async def call_async(interp: Any, fn: object, /, *args: object, **kwargs: object) -> Any:
    """``Interpreter.call_async``: see its docstring."""
    import asyncio

    return await asyncio.wrap_future(call_in_thread(interp, fn, *args, **kwargs))


async def run_async(interp: Any, source: str, /, **shared: object) -> None:
    """``Interpreter.run_async``: see its docstring."""
    import asyncio

    await asyncio.wrap_future(run_in_thread(interp, source, **shared))
