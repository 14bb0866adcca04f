"""Module-level functions and classes that tests hand to `Interpreter.call`, the interpreter pool and
`call_async` (issue 5). Other interpreters import this module by reference, so its directory must be
on their sys.path: the test modules add it (see `TESTS_DIR` and `add_tests_dir_source`)."""

from __future__ import annotations

import dataclasses
import os
import threading

import subinterpreters as si

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# Set by init_worker (the pool's initializer) in each worker interpreter.
INIT_RUNS = 0
INIT_TAG: object = None


def add_tests_dir_source() -> str:
    """Source that makes this module importable in the interpreter running it."""
    return f"import sys\nif {TESTS_DIR!r} not in sys.path:\n    sys.path.insert(0, {TESTS_DIR!r})\n"


# --- plain values ----------------------------------------------------------------------------------


def add(a, b=0, *, c=0):
    return a + b + c


def echo(*args, **kwargs):
    return args, kwargs


def current_id() -> int:
    return si.get_current().id


def where() -> tuple[int, int]:
    """(interpreter id, native thread id) of the caller."""
    return si.get_current().id, threading.get_native_id()


def type_names(*args, **kwargs) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The qualified type names of the arguments as the callee sees them."""
    return (
        tuple(f"{type(a).__module__}.{type(a).__qualname__}" for a in args),
        tuple(sorted((k, f"{type(v).__module__}.{type(v).__qualname__}") for k, v in kwargs.items())),
    )


def mutate_and_return(items: list, mapping: dict) -> tuple[list, dict]:
    items.append("added by callee")
    mapping["callee"] = True
    return items, mapping


@dataclasses.dataclass
class Point:
    x: object
    y: object

    def norm1(self):
        return abs(self.x) + abs(self.y)

    @classmethod
    def origin(cls) -> Point:
        return cls(0, 0)


def make_point(x, y) -> Point:
    return Point(x, y)


def swap(point: Point) -> Point:
    return Point(point.y, point.x)


# --- native objects: identity and shared memory -----------------------------------------------------


def fill(arr, value) -> int:
    """Write `value` into every byte of a SharedArray (format 'B'); return how many."""
    view = memoryview(arr).cast("B")
    for i in range(len(view)):
        view[i] = value
    view.release()
    return len(arr)


def new_shared_array(n: int, value: int):
    arr = si.SharedArray(n)
    fill(arr, value)
    return arr


def put(q, item) -> str:
    q.put(item)
    return "put"


def record(q, *rest, **kwargs) -> str:
    """Puts a marker in `q` first thing: proves the function ran."""
    q.put("ran")
    return "ran"


def identity(obj):
    return obj


def hold_lock(lock) -> bool:
    return lock.acquire(timeout=10)


def send_on(send_end, item) -> None:
    send_end.send_nowait(item)


def wait_on(q, timeout=30):
    """Returns the first item put in `q`: a task that runs until the test lets it end."""
    return q.get(timeout=timeout)


def write_text(path, text) -> None:
    """Writes `text` to `path`: proves the function ran."""
    import pathlib

    pathlib.Path(path).write_text(text, encoding="utf-8")


# --- results that cannot go back ------------------------------------------------------------------


def make_lambda():
    # A closure: neither pickle nor CPython 3.14's by-value rule for stateless functions carries it.
    captured = 0
    return lambda: captured


def make_generator():
    yield 1


# --- exceptions -----------------------------------------------------------------------------------


def divide(a, b):
    return a / b


class CustomError(Exception):
    def __init__(self, text, code):
        super().__init__(text, code)
        self.text = text
        self.code = code

    def __str__(self) -> str:
        return f"{self.text} (code {self.code})"


def raise_custom(text, code):
    raise CustomError(text, code)


class UnpicklableError(Exception):
    def __reduce__(self):
        raise TypeError("UnpicklableError refuses to be pickled")


def raise_unpicklable(text):
    raise UnpicklableError(text)


def call_current_interpreter() -> str:
    """Interpreter.call on the interpreter running the caller: the name of what it raised."""
    try:
        si.get_current().call(abs, -1)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return type(exc).__name__
    return "no error"


# --- blocking helpers (bounded: a test never hangs on them) -----------------------------------------


def wait_event(event, result=None, timeout: float = 30):
    """Wait for a shared si.Event, then return `result`; TimeoutError if it never came."""
    if not event.wait(timeout):
        raise TimeoutError("event never set")
    return result


def wait_for_path(path: str, result=None, timeout: float = 30):
    """Wait until `path` exists (for tests whose arguments must all be picklable)."""
    import time

    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)
    return result


def started_then_wait(started_q, event, result=None, timeout: float = 30):
    """Announce the start on a queue, then wait for the event."""
    started_q.put(result)
    return wait_event(event, result, timeout)


def id_after_barrier(barrier) -> int:
    """Return the interpreter id once `barrier.parties` callers wait together."""
    barrier.wait(timeout=30)
    return si.get_current().id


def id_after_event(event) -> int:
    wait_event(event)
    return si.get_current().id


def recv_from(recv_end, timeout: float = 30):
    return recv_end.recv(timeout=timeout)


def get_from(q, timeout: float = 30):
    return q.get(timeout=timeout)


# --- pool initializer -----------------------------------------------------------------------------


def init_worker(tag) -> None:
    global INIT_RUNS, INIT_TAG
    INIT_RUNS += 1
    INIT_TAG = tag


def init_state() -> tuple[int, int, object]:
    """(interpreter id, how many times init_worker ran here, its tag)."""
    return si.get_current().id, INIT_RUNS, INIT_TAG


class BadStrError(Exception):
    """An exception whose str() itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def raise_bad_str() -> None:
    raise BadStrError()


class RefusesToUnpickle:
    """Pickles fine, but cannot be rebuilt (its reduce function raises when called)."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise ValueError("this object refuses to be rebuilt")


def make_refuses_to_unpickle() -> RefusesToUnpickle:
    return RefusesToUnpickle()


class FreedSlowly:
    """Crosses by pickle; a copy made by pickle, when freed, waits in ``__del__`` (up to 10 s)
    until `release` gets an item: shows when a worker frees what a task left behind."""

    def __init__(self, release, armed=False):
        self.release = release
        self.armed = armed

    def __reduce__(self):
        return (FreedSlowly, (self.release, not self.armed))

    def __del__(self):
        if self.armed:
            try:
                self.release.get(timeout=10)
            except Exception:  # noqa: BLE001, S110 - a __del__ must not raise; the test sees the wait
                pass


def returns_freed_slowly(release, gate=None):
    """Returns a FreedSlowly made here (its copy where it lands is not armed); with `gate`, first
    waits for an item there."""
    if gate is not None:
        gate.get(timeout=30)
    return FreedSlowly(release, armed=True)


def takes(_arg, gate=None):
    """Returns None; with `gate`, first waits for an item there."""
    if gate is not None:
        gate.get(timeout=30)
