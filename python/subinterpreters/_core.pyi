"""Compiled core of `subinterpreters`: interpreters, channels, errors (see the package docstring)."""

import queue as _stdlib_queue
from collections.abc import Buffer, Callable, Iterable, Mapping, Sequence
from types import CodeType, SimpleNamespace, TracebackType
from typing import Any, Final, Self, TypeVar, final, overload

from typing_extensions import disjoint_base

from ._calls import ThreadFuture

_R = TypeVar("_R")
_T = TypeVar("_T")

__version__: Final[str]
# The C API's table of functions, as a capsule (include/subinterpreters.h, docs/c-api.md).
_C_API: Final[object]

# --- errors -------------------------------------------------------------------------------------

class InterpreterError(Exception):
    """Base class for errors about interpreters (on 3.13+ also CPython's own
    ``InterpreterError``)."""

class InterpreterNotFoundError(InterpreterError):
    """The interpreter was closed (or never existed)."""

class InterpreterRunningError(InterpreterError, RuntimeError):
    """The interpreter is running code, so it cannot run more or be closed now (the main
    interpreter and the caller's own always are)."""

class ExecutionFailed(InterpreterError):
    """Code run in another interpreter raised an exception it did not catch."""

    excinfo: SimpleNamespace
    """The remote exception, as CPython 3.14's ``ExecutionFailed.excinfo`` describes it:
    ``type`` (with ``__name__``, ``__qualname__``, ``__module__``), ``msg``, ``formatted``
    (``"Type: message"``) and ``errdisplay`` (the remote traceback)."""

    type_name: str
    """Qualified name of the remote exception's type, e.g. ``"ZeroDivisionError"``."""
    msg: str
    """``str()`` of the remote exception."""
    traceback: str
    """The remote traceback, formatted as Python prints it."""

RunFailedError = ExecutionFailed

class NotShareableError(ValueError, TypeError):
    """The object cannot cross to another interpreter; nothing was sent or bound."""

class ChannelError(RuntimeError):
    """Base class for channel errors."""

class ChannelClosedError(ChannelError):
    """The channel (the end needed by the call) is closed."""

class ChannelEmptyError(ChannelError):
    """``recv_nowait()`` found nothing ready and no default was given."""

class QueueError(RuntimeError):
    """Base class for queue errors."""

class QueueEmpty(QueueError, _stdlib_queue.Empty):
    """``get()`` found nothing before its timeout (or at once, when not blocking)."""

class QueueFull(QueueError, _stdlib_queue.Full):
    """``put()`` found no room before its timeout (or at once, when not blocking)."""

class QueueClosedError(QueueError):
    """The queue is closed (for ``get``: closed and drained)."""

class QueueNotFoundError(QueueError):
    """No live queue has the id given to ``Queue(id)``."""

# --- interpreters --------------------------------------------------------------------------------

@final
class Interpreter:
    """An interpreter in this process. One object per id; equal and hashable by id; shareable
    and picklable (within the process)."""

    def __new__(cls, id: int, /) -> Self: ...
    @property
    def id(self) -> int:
        """The interpreter's id (never reused within the process)."""

    @property
    def whence(self) -> str:
        """Where the interpreter came from, in CPython's words ('runtime init', 'C-API', ...)."""

    def run(self, source: str, /, **shared: object) -> None:
        """Bind each shared value as a global of the interpreter's ``__main__``, then run
        ``source`` there, on the calling thread, with the caller's GIL released."""

    def exec(self, code: str | CodeType | Callable[[], object], /) -> None:
        """Run source (or a code object, or the body of a function taking no arguments) in the
        interpreter's ``__main__`` (CPython 3.14's ``exec``)."""

    def prepare_main(
        self, ns: Mapping[str, object] | Iterable[tuple[str, object]] | None = None, /, **shared: object
    ) -> None:
        """Bind each value of ``dict(ns, **shared)`` as a global of the interpreter's ``__main__``."""

    def call(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> _R:
        """Call fn(*args, **kwargs) in the interpreter on this thread and return the result."""

    def call_in_thread(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> ThreadFuture:
        """Start call() on a new thread; return a concurrent.futures.Future of its result (which
        also has the thread's join() and is_alive())."""

    def run_in_thread(self, source: str, /, **shared: object) -> ThreadFuture:
        """Start run() on a new thread; return a concurrent.futures.Future."""

    async def call_async(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> _R:
        """Awaitable call(): the event loop keeps running meanwhile."""

    async def run_async(self, source: str, /, **shared: object) -> None:
        """Awaitable run(): the event loop keeps running meanwhile."""

    def _invoke(self, call: _PreparedCall, defer: bool = False, /) -> Any: ...
    def _serve(
        self,
        queue: _TaskQueue,
        settle: Callable[[list[tuple[int, bool | None, Any]]], object],
        workers: int,
        /,
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def is_running(self) -> bool:
        """True while the interpreter runs code."""

    def close(self) -> None:
        """Destroy the interpreter, first running its threading._register_atexit hooks and
        joining its non-daemon threads (in the main thread, Ctrl-C interrupts that wait and
        leaves the interpreter open); a second call does nothing. RuntimeError for the main or
        current interpreter, while it runs code, or while daemon threads of a legacy interpreter
        are alive."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
        /,
    ) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def create(*, isolated: bool = True) -> Interpreter:
    """Create an interpreter: isolated (own GIL, multi-phase extensions only) or legacy."""

def list_all() -> list[Interpreter]:
    """Every live interpreter (the main one, ours, and on 3.13+ those made by other code)."""

def get_current() -> Interpreter:
    """The interpreter running the caller."""

def get_main() -> Interpreter:
    """The main interpreter."""

# --- channels ------------------------------------------------------------------------------------

@final
class RecvChannel:
    """The receiving end of a channel. Shareable; equal and hashable by (id, end)."""

    @property
    def id(self) -> int:
        """The channel's id, the same for both ends."""

    @property
    def is_closed(self) -> bool:
        """True once nothing more can be received."""

    @property
    def strict(self) -> bool:
        """False if the channel pickles objects that cannot cross natively."""

    def recv(self, /, timeout: float | None = None) -> object:
        """Receive the next object, waiting up to ``timeout`` seconds (None: no limit)."""

    async def recv_async(self, /, timeout: float | None = None) -> object:
        """Awaitable recv(); cancelling the task withdraws the receive (nothing is lost)."""

    def _start_recv(self, notifier: _AsyncNotifier, timeout: float | None = None, /) -> Any: ...
    @overload
    def recv_nowait(self, /) -> object:
        """Receive the next object if one is ready, else raise ChannelEmptyError."""
    @overload
    def recv_nowait(self, /, default: _T) -> object | _T:
        """Receive the next object if one is ready, else return ``default``. (The runtime text
        signature shows the missing default as ``...``; passing ``...`` means "no default".)"""
    def close(self) -> None:
        """Close the receiving end: queued objects are dropped, senders get ChannelClosedError."""

    def __reduce__(self) -> tuple[Any, ...]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
        /,
    ) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> object: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SendChannel:
    """The sending end of a channel. Shareable; equal and hashable by (id, end)."""

    @property
    def id(self) -> int:
        """The channel's id, the same for both ends."""

    @property
    def is_closed(self) -> bool:
        """True once nothing more can be sent."""

    @property
    def strict(self) -> bool:
        """False if the channel pickles objects that cannot cross natively."""

    def send(self, obj: object, /, timeout: float | None = None) -> None:
        """Send ``obj`` and wait until a receiver has taken it (rendezvous)."""

    def send_nowait(self, obj: object, /) -> bool:
        """Hand ``obj`` to a waiting receiver (True) or queue it (False)."""

    async def send_async(self, obj: object, /, timeout: float | None = None) -> None:
        """Awaitable send(); cancelling the task withdraws obj unless a receiver took it."""

    def _start_send(self, obj: object, notifier: _AsyncNotifier, timeout: float | None = None, /) -> Any: ...
    def send_buffer(self, obj: Buffer, /, timeout: float | None = None) -> None:
        """Lend ``obj``'s buffer without a copy and wait until a receiver took it; the receiver
        gets a read-only memoryview with its format, shape and strides."""

    def send_buffer_nowait(self, obj: Buffer, /) -> bool:
        """As send_buffer(), without waiting: handed to a waiting receiver (True) or queued."""

    def close(self) -> None:
        """Close the sending end: receivers drain what is queued, then get ChannelClosedError."""

    def __reduce__(self) -> tuple[Any, ...]: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
        /,
    ) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def create_channel(*, strict: bool = True) -> tuple[RecvChannel, SendChannel]:
    """Create a channel and return its two ends; strict=False pickles what cannot cross natively."""

@disjoint_base
class SharedArray:
    """Zero-filled, C-contiguous n-d array in memory shared by every interpreter (64-byte aligned),
    with the buffer protocol. Shareable in O(1): receivers get the same memory."""

    def __new__(cls, shape: int | tuple[int, ...], format: str = "B") -> Self: ...
    @classmethod
    def from_buffer(cls, obj: Buffer, /) -> Self:
        """Copy any buffer exporter once into new shared memory, keeping format and shape."""

    def readonly(self) -> Self:
        """A read-only SharedArray over the same memory."""

    def tolist(self) -> Any:
        """The items as nested lists (a single value for a 0-d array)."""

    def __reduce__(self) -> tuple[Any, ...]: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def format(self) -> str: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def ndim(self) -> int: ...
    @property
    def strides(self) -> tuple[int, ...]: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

@final
class SharedBuffer(SharedArray):
    """A SharedArray of ``nbytes`` bytes: 1-D, format 'B'."""

    def __new__(cls, nbytes: int) -> Self: ...

def list_all_channels() -> list[tuple[RecvChannel, SendChannel]]:
    """Every channel with an open end, as (RecvChannel, SendChannel) pairs."""

def is_shareable(obj: object, /) -> bool:
    """True if ``obj`` can be sent through a channel or bound by ``run(**shared)``."""

# --- queues --------------------------------------------------------------------------------------

@final
class _UnboundMarker:
    """The type of ``UNBOUND``, ``UNBOUND_ERROR`` and ``UNBOUND_REMOVE``."""

UNBOUND: Final[_UnboundMarker]
UNBOUND_ERROR: Final[_UnboundMarker]
UNBOUND_REMOVE: Final[_UnboundMarker]

@final
class Queue:
    """A FIFO queue shared by producers and consumers in any interpreters (``queue.Queue``'s API).
    ``Queue(id)`` is the object of a live queue. One object per queue in each interpreter;
    shareable and picklable (within the process); freed when no handle remains anywhere."""

    def __new__(cls, id: int, /) -> Self: ...
    @property
    def id(self) -> int:
        """The queue's id."""

    @property
    def maxsize(self) -> int:
        """Most objects the queue holds (0: unbounded)."""

    @property
    def strict(self) -> bool:
        """True if objects that cannot cross natively are refused rather than pickled."""

    @property
    def is_closed(self) -> bool:
        """True once the queue was closed."""

    @property
    def unbounditems(self) -> _UnboundMarker:
        """The ``unbounditems`` given to ``create_queue()``."""

    def put(
        self, obj: object, /, block: bool = True, timeout: float | None = None, *, unbounditems: object = None
    ) -> None:
        """Put ``obj``, waiting for room if the queue is full (QueueFull on timeout or when not
        blocking; QueueClosedError if closed)."""

    def put_nowait(self, obj: object, /, *, unbounditems: object = None) -> None:
        """``put(obj, block=False)``."""

    def put_many(self, items: Iterable[object], /, block: bool = True, timeout: float | None = None) -> int:
        """Put every object of ``items`` in order and return how many were put."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the oldest object, waiting for one if the queue is empty."""

    def get_nowait(self) -> Any:
        """``get(block=False)``."""

    async def get_async(self, /, timeout: float | None = None) -> Any:
        """Awaitable get(); cancelling the task withdraws the get (nothing is lost)."""

    async def put_async(self, obj: object, /, timeout: float | None = None) -> None:
        """Awaitable put(); cancelling the task withdraws obj unless it entered the queue."""

    def _start_get(self, notifier: _AsyncNotifier, timeout: float | None = None, /) -> Any: ...
    def _start_put(self, obj: object, notifier: _AsyncNotifier, timeout: float | None = None, /) -> Any: ...
    def get_many(self, max_items: int, /, timeout: float | None = None) -> list[Any]:
        """Wait for at least one object, then return up to ``max_items`` ready ones.

        If one cannot be rebuilt here (it fails to unpickle), the objects before it are returned
        and it stays at the front of the queue, with those after it; the next get raises its error.
        """

    def qsize(self) -> int:
        """Number of objects in the queue."""

    def empty(self) -> bool:
        """True if the queue holds nothing."""

    def full(self) -> bool:
        """True if the queue holds ``maxsize`` objects."""

    def close(self) -> None:
        """Close the queue: puts fail, gets drain and then fail; blocked calls wake at once."""

    def __reduce__(self) -> tuple[Any, ...]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def create_queue(
    maxsize: int = 0, *, unbounditems: _UnboundMarker | None = None, strict: bool = False
) -> Queue:
    """Create a queue (``maxsize <= 0``: unbounded). Non-shareable objects are pickled unless
    ``strict``. ``unbounditems`` (default ``UNBOUND``) is accepted for compatibility: items
    never depend on the interpreter that put them."""

def list_all_queues() -> list[Queue]:
    """Every live queue."""

# --- select --------------------------------------------------------------------------------------

@final
class _PreparedCall:
    """A call converted for crossing (see _prepare_call); Interpreter._invoke runs it, once."""

@final
class _ReturnedValue:
    """A call's result, not built yet (see Interpreter._invoke); build() builds it, once."""

    def build(self) -> Any:
        """Build the result in this interpreter and return it (once: RuntimeError after)."""

@final
class _TaskQueue:
    """An InterpreterPoolExecutor's work queue (see Interpreter._serve)."""

    def __init__(self) -> None: ...
    @overload
    def put(self, call: None, /) -> None: ...
    @overload
    def put(self, call: _PreparedCall, task_id: int = 0, group: int = 0, /) -> _TaskCell: ...
    def qsize(self) -> int:
        """The number of tasks and stop signals queued."""

    def idle(self) -> int:
        """The number of workers waiting for a task now."""

    def cancel_queued(self) -> list[int]:
        """Cancel every queued task; return the ids of those whose futures are watched."""

    def fail_queued(self, why: str, /) -> list[int]:
        """Finish every queued task as broken; return the ids of those watched."""

@final
class _TaskCell:
    """Where a task of an InterpreterPoolExecutor stands."""

    def cancel(self) -> bool:
        """Cancel the task if no worker has taken it."""

    def running(self) -> bool:
        """True once a worker took the task, until it finishes."""

    def wait(self) -> bool:
        """Spin a few microseconds, the GIL released, until the task finishes."""

    def claim(self) -> tuple[int, Any] | None:
        """Claim the outcome of a finished (or cancelled) task: (kind, value), or None."""

    def watch(self) -> tuple[int, Any] | None:
        """Mark the task watched; claim it as claim() does if it finished."""

    def forget(self) -> None:
        """Drop the pair a claim kept (the future is settled)."""

@final
class _ClosedType:
    """The type of ``CLOSED``."""

CLOSED: Final[_ClosedType]
"""What ``select`` yields for a receive case whose channel or queue is closed and drained."""

@overload
def select(
    cases: Sequence[RecvChannel | Queue | tuple[SendChannel | Queue, object]],
    /,
    *,
    timeout: float | None = None,
) -> tuple[int, Any]: ...
@overload
def select[T](
    cases: Sequence[RecvChannel | Queue | tuple[SendChannel | Queue, object]],
    /,
    *,
    timeout: float | None = None,
    default: T,
) -> tuple[int, Any] | tuple[None, T]: ...

# --- sync primitives shared across interpreters ------------------------------------------------

@final
class Lock:
    """``threading.Lock`` shared by threads of any interpreters."""

    def __new__(cls) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock; True if acquired."""
    def release(self) -> None:
        """Release the lock; RuntimeError if unlocked."""
    def locked(self) -> bool:
        """True if the lock is held."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self, exc_type: object = None, exc_value: object = None, traceback: object = None, /
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RLock:
    """``threading.RLock`` shared by threads of any interpreters; owned by an (interpreter, thread)."""

    def __new__(cls) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the lock (again, by its owner); True if acquired."""
    def release(self) -> None:
        """Release one acquisition; RuntimeError if not the owner."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self, exc_type: object = None, exc_value: object = None, traceback: object = None, /
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Semaphore:
    """``threading.Semaphore`` shared by threads of any interpreters."""

    def __new__(cls, value: int = 1) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a permit; True if taken."""
    def release(self, n: int = 1) -> None:
        """Release n permits."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self, exc_type: object = None, exc_value: object = None, traceback: object = None, /
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class BoundedSemaphore:
    """``threading.BoundedSemaphore`` shared by threads of any interpreters."""

    def __new__(cls, value: int = 1) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a permit; True if taken."""
    def release(self, n: int = 1) -> None:
        """Release n permits; ValueError above the initial value."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self, exc_type: object = None, exc_value: object = None, traceback: object = None, /
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Event:
    """``threading.Event`` shared by threads of any interpreters."""

    def __new__(cls) -> Self: ...
    def set(self) -> None:
        """Set the flag, waking every waiter."""
    def clear(self) -> None:
        """Clear the flag."""
    def is_set(self) -> bool:
        """The flag."""
    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the flag; return it."""
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Condition:
    """``threading.Condition`` over a shared ``Lock`` or ``RLock`` (default: a new ``RLock``)."""

    def __new__(cls, lock: Lock | RLock | None = None) -> Self: ...
    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Acquire the underlying lock."""
    def release(self) -> None:
        """Release the underlying lock."""
    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock, wait for a notify, take the lock back; False on timeout."""
    def wait_for(self, predicate: Callable[[], _T], /, timeout: float | None = None) -> _T:
        """Wait until ``predicate()`` is true; return its last value."""
    def notify(self, n: int = 1) -> None:
        """Wake up to n waiters."""
    def notify_all(self) -> None:
        """Wake every waiter."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self, exc_type: object = None, exc_value: object = None, traceback: object = None, /
    ) -> None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Barrier:
    """``threading.Barrier`` (without action) for parties threads of any interpreters."""

    def __new__(cls, parties: int, timeout: float | None = None) -> Self: ...
    def wait(self, timeout: float | None = None) -> int:
        """Wait for all parties; return this party's arrival index."""
    def reset(self) -> None:
        """Return to the initial state; waiters get BrokenBarrierError."""
    def abort(self) -> None:
        """Break the barrier."""
    @property
    def parties(self) -> int:
        """The number of parties."""
    @property
    def n_waiting(self) -> int:
        """Parties waiting now."""
    @property
    def broken(self) -> bool:
        """True if the barrier is broken."""
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def _prepare_call(
    function: object, args: tuple[Any, ...], kwargs: dict[str, Any], keep_result: bool, /
) -> _PreparedCall: ...
def _revive(pid: int, kind: int, id: int, /) -> Any: ...
def _shutdown() -> None:
    """Release blocked calls and close every interpreter (registered with atexit)."""

def _exit_join_begins(threads: tuple[tuple[int, str], ...], /) -> None:
    """Python's exit joins these non-daemon threads now: name those waiting in the package."""

@final
class _AsyncNotifier:
    """Internal: the pipe an event loop watches for parked asyncio operations."""

    def fileno(self) -> int: ...
    def drain(self) -> None: ...
