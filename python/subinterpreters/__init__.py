"""Isolated CPython interpreters in one process, each with its own GIL, joined by channels.

    import subinterpreters as si

    recv, send = si.create_channel()
    with si.create() as interp:                 # an isolated interpreter: its own GIL
        interp.run("send.send(sum(range(10**6)))", send=send)   # blocks until received...

Data crosses natively (no pickle): None, bool, int, float, str, bytes, tuples of these, channel
ends, queues, Interpreter objects and the shared locks, semaphores, events, conditions and
barriers, and SharedArray/SharedBuffer (zero-copy shared memory); see ``is_shareable``. Queues
(and channels made with strict=False) also carry any picklable object. ``send_buffer`` lends any
buffer (bytes, numpy array, ...) to another interpreter without a copy.
"""

from ._core import (
    Barrier,
    BoundedSemaphore,
    CLOSED,
    ChannelClosedError,
    ChannelEmptyError,
    ChannelError,
    Condition,
    Event,
    ExecutionFailed,
    Interpreter,
    InterpreterError,
    InterpreterNotFoundError,
    InterpreterRunningError,
    Lock,
    NotShareableError,
    Queue,
    QueueClosedError,
    QueueEmpty,
    QueueError,
    QueueFull,
    QueueNotFoundError,
    RLock,
    RecvChannel,
    RunFailedError,
    Semaphore,
    SendChannel,
    SharedArray,
    SharedBuffer,
    UNBOUND,
    UNBOUND_ERROR,
    UNBOUND_REMOVE,
    __version__,
    create,
    create_channel,
    create_queue,
    get_current,
    get_main,
    is_shareable,
    list_all,
    list_all_channels,
    list_all_queues,
    select,
)

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._pool import BrokenInterpreterPool, InterpreterPoolExecutor


def __getattr__(name: str) -> object:
    # The pool pulls in concurrent.futures: imported on first use, not by every interpreter
    # that imports the package.
    if name in ("InterpreterPoolExecutor", "BrokenInterpreterPool"):
        from . import _pool

        return getattr(_pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Barrier",
    "BrokenInterpreterPool",
    "InterpreterPoolExecutor",
    "BoundedSemaphore",
    "CLOSED",
    "ChannelClosedError",
    "ChannelEmptyError",
    "ChannelError",
    "Condition",
    "Event",
    "ExecutionFailed",
    "Interpreter",
    "InterpreterError",
    "InterpreterNotFoundError",
    "InterpreterRunningError",
    "Lock",
    "NotShareableError",
    "Queue",
    "QueueClosedError",
    "QueueEmpty",
    "QueueError",
    "QueueFull",
    "QueueNotFoundError",
    "RLock",
    "RecvChannel",
    "RunFailedError",
    "Semaphore",
    "SendChannel",
    "SharedArray",
    "SharedBuffer",
    "UNBOUND",
    "UNBOUND_ERROR",
    "UNBOUND_REMOVE",
    "__version__",
    "create",
    "create_channel",
    "create_queue",
    "get_current",
    "get_main",
    "is_shareable",
    "list_all",
    "list_all_channels",
    "list_all_queues",
    "select",
]


def _register_exit_hook() -> None:
    # Only the main interpreter runs the shutdown: it closes every interpreter we created after
    # releasing the calls blocked in the package, so the process exits cleanly (on 3.12 a live
    # subinterpreter at exit is a fatal error).
    if get_current() == get_main():
        import atexit

        from . import _fork
        from ._core import _shutdown

        atexit.register(_shutdown)
        _fork.install()


_register_exit_hook()
