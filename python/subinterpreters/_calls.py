"""Calling functions in other interpreters: what crosses and how, on both sides of a call.

The caller turns ``fn(*args, **kwargs)`` into a *spec* that is natively shareable (``prepare``):
the function either by value (a "stateless" function, as CPython 3.14 defines it: no closure, no
defaults, no globals but builtins; its code crosses, marshalled) or pickled by reference, and
the arguments as one value: natively when they all can (so a SharedArray, queue or lock keeps
its identity), else pickled together by ``dumps_together`` (identity between them kept) unless
they hold one of the package's handles, else each on its own. In the target,
``Interpreter._invoke`` (Rust) asks ``resolve`` for the function and the arguments, calls the
function itself with no Python frame of ours on the stack (so built-ins that read their
caller's frame, ``eval``/``exec``/``dir``, see the interpreter's ``__main__``, as with
CPython's own ``call()``), and brings back the result, natively or pickled (by ``dumps``),
which the caller rebuilds. A raised exception comes back as text
(and, when pickle can carry it, as the exception itself: ``describe``).

Functions and classes of the caller's ``__main__`` are pickled as references that the receiving
side resolves in its own ``__main__`` first, then in the caller's main script imported there as
``__si_main__`` (as multiprocessing's spawn does, its ``if __name__ == "__main__":`` block does
not run).
"""

from __future__ import annotations

import builtins
import dis
import functools
import importlib
import importlib.util
import io
import marshal
import pickle
import sys
import threading
import time
import traceback
import types
import weakref
from concurrent.futures import Future
from typing import Any

from ._core import (
    Barrier,
    BoundedSemaphore,
    Condition,
    Event,
    Lock,
    NotShareableError,
    Queue,
    RecvChannel,
    RLock,
    Semaphore,
    SendChannel,
    SharedArray,
    _prepare_call,
)

MAIN_ALIAS = "__si_main__"
_MAIN_MODULES = ("__main__", MAIN_ALIAS)
_main_lock = threading.Lock()


# --- pickling with __main__ references ------------------------------------------------------------


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.FunctionType:
            by_value = _by_value(obj)
            if by_value is not None:
                return _function_from_code, by_value
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


class _HandleMet(pickle.PicklingError):
    """A value pickled by ``dumps_together`` holds one of the package's handles."""


# A handle pickles as an id in a table of weak references: the pickle keeps nothing alive, so
# a call's arguments that hold one cross natively, one by one (their payloads hold the objects).
_HANDLE_TYPES = (
    Queue,
    RecvChannel,
    SendChannel,
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Event,
    Condition,
    Barrier,
    SharedArray,  # SharedBuffer too: its subclass
)


class _NoHandlesPickler(_Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _HANDLE_TYPES):
            raise _HandleMet(type(obj).__qualname__)
        return super().reducer_override(obj)


def dumps_together(obj: object) -> bytes:
    """``dumps`` for a call's arguments, all together: refuses (``PicklingError``) a value
    that holds one of the package's handles."""
    buffer = io.BytesIO()
    _NoHandlesPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
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


# --- functions by value ---------------------------------------------------------------------------

_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"})
_NAME_OPS = frozenset({"LOAD_NAME", "STORE_NAME", "DELETE_NAME"})
_CO_OPTIMIZED = 0x0001


@functools.lru_cache(maxsize=1024)
def _global_names(code: types.CodeType) -> frozenset[str]:
    """Every global name the code (and the code nested in it) reads, writes or deletes. In a
    class body (not optimized) a name it binds itself is its own, and ``__name__`` is the
    implicit ``__module__ = __name__`` every class body starts with."""
    instructions = list(dis.get_instructions(code))
    names = {ins.argval for ins in instructions if ins.opname in _GLOBAL_OPS}
    if not code.co_flags & _CO_OPTIMIZED:
        own = {ins.argval for ins in instructions if ins.opname == "STORE_NAME"} | {"__name__"}
        names |= {ins.argval for ins in instructions if ins.opname in _NAME_OPS} - own
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return frozenset(names)


def stateless_code(fn: object) -> types.CodeType | None:
    """The code of ``fn`` if it is a *stateless* function (CPython 3.14's term: a plain function
    with no closure, no defaults and no globals but builtins), else None. Such a function means
    the same in any interpreter, so it can cross by value."""
    if type(fn) is not types.FunctionType:
        return None
    if fn.__closure__ or fn.__defaults__ or fn.__kwdefaults__ or fn.__code__.co_freevars:
        return None
    own_globals = fn.__globals__
    known = fn.__builtins__ if isinstance(fn.__builtins__, dict) else vars(builtins)
    for name in _global_names(fn.__code__):
        if name in own_globals or name not in known:
            return None
    return fn.__code__


def script_code(obj: object) -> bytes:
    """What ``Interpreter.exec(code)`` runs when ``code`` is not a str: a code object, or a
    function taking no arguments and closing over nothing (its body runs with the target's
    ``__main__`` as globals, as in CPython 3.14). Returned marshalled."""
    if isinstance(obj, types.CodeType):
        code = obj
    elif type(obj) is types.FunctionType:
        code = obj.__code__
        if obj.__closure__ or code.co_freevars:
            raise ValueError(f"exec() cannot run {obj.__qualname__}(): it is a closure")
        if (
            code.co_argcount
            or code.co_posonlyargcount
            or code.co_kwonlyargcount
            or (
                code.co_flags & (0x04 | 0x08)  # CO_VARARGS | CO_VARKEYWORDS
            )
        ):
            raise ValueError(
                f"exec() can only run a function that takes no arguments, not {obj.__qualname__}()"
            )
    else:
        raise TypeError(
            f"exec() expects a str of Python code, a code object or a function, not {type(obj).__qualname__}"
        )
    if code.co_freevars:
        raise ValueError("exec() cannot run code that uses free variables")
    return marshal.dumps(code)


# --- functions crossing: by value or by reference ----------------------------------------------------

_PICKLED = 1
_FUNCTION_BY_VALUE = 2


def unwrap(wrapped: tuple[int, object]) -> Any:
    """A function from its spec (see ``_function_spec``)."""
    how, value = wrapped
    if how == _FUNCTION_BY_VALUE:
        return _function_from_code(*value)  # type: ignore[misc]
    return pickle.loads(value)  # type: ignore[arg-type]


def _function_from_code(code: bytes, name: str, qualname: str) -> types.FunctionType:
    """A stateless function sent by value (see ``_by_value``), built on this interpreter's
    ``__main__``."""
    fn = types.FunctionType(marshal.loads(code), vars(sys.modules["__main__"]), name)
    fn.__qualname__ = qualname
    return fn


def _by_value(fn: object) -> tuple[bytes, str, str] | None:
    """``fn`` as its code (marshalled), name and qualname, if it is a stateless function that
    should cross by value (one of the caller's ``__main__``, or one pickle cannot find: a lambda,
    a nested function), as CPython 3.14 shares such functions; None otherwise. The pickler
    sends such functions this way wherever they appear (an argument, a result, inside a list)."""
    code = stateless_code(fn)
    if code is None or not (getattr(fn, "__module__", None) in _MAIN_MODULES or not _findable(fn)):
        return None
    return marshal.dumps(code), fn.__name__, fn.__qualname__  # type: ignore[attr-defined]


# --- the call itself --------------------------------------------------------------------------------


def prepare(fn: object, args: tuple[Any, ...], kwargs: dict[str, Any], keep_result: bool = True) -> Any:
    """The caller's half: ``fn(*args, **kwargs)`` converted for crossing, once (a
    ``_PreparedCall``: the arguments natively, or pickled together when they must be). Without
    ``keep_result`` the result is dropped in the target (an initializer's), not carried back."""
    # The common cases, a built-in or a function sent before, without a call (see _function_spec).
    kind = type(fn)
    if kind is types.BuiltinFunctionType:
        spec = _SPECS.get(fn)
    elif kind is types.FunctionType:
        spec = _SPECS.get((fn, fn.__code__))  # type: ignore[attr-defined]
    else:
        spec = None
    if spec is None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, not {type(fn).__qualname__!r}")
        spec = _function_spec(fn)
    return _prepare_call(spec, args, kwargs, keep_result)


# What a function becomes when it crosses, per function object: a call in a loop (a pool's
# tasks) sends the same one again and again. Bounded: emptied when full.
_SPECS: dict[object, tuple[int, object]] = {}
_CACHE_MAX = 512
_CACHEABLE = (types.FunctionType, types.BuiltinFunctionType, type)


def _function_spec(fn: object) -> tuple[int, object]:
    if type(fn) not in _CACHEABLE and not isinstance(fn, type):
        return _new_function_spec(fn)
    # A function's code may be replaced: it is part of the key.
    key = (fn, fn.__code__) if type(fn) is types.FunctionType else fn  # type: ignore[attr-defined]
    try:
        return _SPECS[key]
    except KeyError:
        pass
    except TypeError:  # a class whose metaclass makes it unhashable
        return _new_function_spec(fn)
    spec = _new_function_spec(fn)
    if len(_SPECS) >= _CACHE_MAX:
        _SPECS.clear()
    _SPECS[key] = spec
    return spec


def _new_function_spec(fn: object) -> tuple[int, object]:
    # A stateless function of the caller's __main__ (or one pickle cannot find: a lambda, a
    # nested function) crosses by value; anything else by reference.
    by_value = _by_value(fn)
    if by_value is not None:
        return _FUNCTION_BY_VALUE, by_value
    try:
        return _PICKLED, dumps(fn)
    except Exception as exc:
        raise NotShareableError(
            f"the function {fn!r} cannot be sent to another interpreter: pickle must find it by "
            f"reference (a module-level function or class), or it must be stateless (no closure, "
            f"defaults or globals), and neither holds ({type(exc).__name__}: {exc})"
        ) from None


def _findable(fn: object) -> bool:
    qualname = getattr(fn, "__qualname__", "<")
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    return "<" not in qualname and module is not None and _lookup(module, qualname) is fn


def resolve(spec: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...], dict[str, Any], bool]:
    """The target's half, before the call: the function, the arguments, the keyword arguments
    and whether the result is wanted. (The call itself is made by the caller of this function,
    with no Python frame around it.)"""
    function, (args, kwargs), keep_result = spec
    try:  # a function resolved before: the common case, without a call
        fn = _FUNCTIONS[function]
    except (KeyError, TypeError):
        fn = _resolve_function(function)
    if kwargs is None:  # no keyword arguments
        kwargs = {}
    elif type(kwargs) is not dict:  # (name, value) pairs, when some had to be pickled
        kwargs = dict(kwargs)
    if _BEFORE_3_14 and type(fn) is types.BuiltinFunctionType and fn in _FRAME_READERS:
        fn, args, kwargs = _with_main_namespace(fn, args, kwargs)
    return fn, args, kwargs, keep_result


# Built-ins that read their caller's frame: before 3.14 they need __main__'s namespace given
# (hashing a built-in function hashes its identity: never an error).
_BEFORE_3_14 = sys.version_info < (3, 14)
_FRAME_READERS = frozenset({eval, exec, dir, vars, locals, globals})


# Functions resolved here, per spec, for the same reason as _SPECS. References to the caller's
# __main__ are not kept: the target's __main__ is searched first, and it may change.
_FUNCTIONS: dict[object, Any] = {}


def _resolve_function(function: tuple[int, Any]) -> Any:
    """A function not found in ``_FUNCTIONS`` (``resolve`` looks there first), kept there when
    it may be."""
    fn = unwrap(function)
    if function[0] == _FUNCTION_BY_VALUE or b"_main_object" not in function[1]:
        if len(_FUNCTIONS) >= _CACHE_MAX:
            _FUNCTIONS.clear()
        _FUNCTIONS[function] = fn
    return fn


def _identity(value: object) -> object:
    return value


def _with_main_namespace(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Before 3.14, built-ins that read their caller's frame fail when called with none; give
    them ``__main__``'s namespace, which is what 3.14 gives them (and CPython's own ``call()``)."""
    if kwargs or type(fn) is not types.BuiltinFunctionType or fn.__self__ is not builtins:
        return fn, args, kwargs
    namespace = vars(sys.modules["__main__"])
    if fn in (eval, exec) and len(args) == 1:
        return fn, (args[0], namespace), kwargs
    if not args:
        if fn is dir:
            return sorted, (namespace,), kwargs
        if fn in (vars, locals, globals):
            return _identity, (namespace,), kwargs
    return fn, args, kwargs


def describe(exc: BaseException) -> tuple[str, str, str, str, bytes | None]:
    """Type qualname, type module, message, traceback text and (if pickle can) the exception
    itself. Never raises, even for an exception whose ``__str__`` does."""
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
    return type(exc).__qualname__, str(type(exc).__module__), message, text, pickled


def call(interp: Any, fn: object, /, *args: object, **kwargs: object) -> Any:
    """``Interpreter.call``: see its docstring."""
    return interp._invoke(prepare(fn, args, kwargs))


# --- futures ----------------------------------------------------------------------------------------


class ThreadFuture(Future[Any]):
    """The future of work running on a thread of its own (``call_in_thread``,
    ``run_in_thread``). Besides the ``concurrent.futures.Future`` API it has the thread's
    ``join(timeout=None)`` and ``is_alive()``, so code written for CPython's
    ``call_in_thread()``, which returns the thread, works unchanged."""

    _thread: threading.Thread | None = None

    def join(self, timeout: float | None = None) -> None:
        """Wait until the work's thread ends (or ``timeout`` seconds pass), as Thread.join."""
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True while the work's thread runs, as Thread.is_alive."""
        return self._thread is not None and self._thread.is_alive()


# The futures of call_in_thread()/run_in_thread(), whose threads are daemon threads,
# and CPython before 3.14 may crash (SIGSEGV) when a daemon thread is still ending while the
# runtime is finalised: it frees the thread's state under it (gh-110052, gh-124878). A program
# that waits for the result and exits at once meets exactly that; so the exit hook waits for the
# threads whose work is over (their future is done) to end.
_futures: weakref.WeakSet[ThreadFuture] = weakref.WeakSet()
_futures_lock = threading.Lock()

# How long the exit hook waits, in all, for those threads to end (a done-callback that blocks must
# not keep the process from exiting).
_ENDING_WAIT = 1.0


def _join_ending_threads() -> None:
    """Called by the exit hook, once it has released every blocked call: waits (at most
    _ENDING_WAIT seconds in all) for the threads of call_in_thread()/run_in_thread() whose work
    is over to end. Threads still running work are not waited for (the hook interrupted it, or
    it ignores that: they stay daemon threads)."""
    deadline = time.monotonic() + _ENDING_WAIT
    with _futures_lock:
        ending = [future._thread for future in _futures if future.done() and future._thread is not None]
    for thread in ending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        thread.join(remaining)


def _in_thread(work: Any, name: str) -> ThreadFuture:
    future = ThreadFuture()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            future.set_exception(exc)
        else:
            future.set_result(result)

    future._thread = threading.Thread(target=target, name=name, daemon=True)
    with _futures_lock:
        _futures.add(future)
    future._thread.start()
    return future


def call_in_thread(interp: Any, fn: object, /, *args: object, **kwargs: object) -> ThreadFuture:
    """``Interpreter.call_in_thread``: see its docstring."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, not {type(fn).__qualname__!r}")
    try:
        spec = prepare(fn, args, kwargs)  # here, so later changes to the arguments do not count
    except NotShareableError as exc:
        failed = ThreadFuture()
        failed.set_exception(exc)
        return failed
    return _in_thread(lambda: interp._invoke(spec), f"subinterpreters-call-{interp.id}")


def run_in_thread(interp: Any, source: str, /, **shared: object) -> ThreadFuture:
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
