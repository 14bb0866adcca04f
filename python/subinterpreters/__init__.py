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

from typing import TYPE_CHECKING

from ._core import (
    CLOSED,
    UNBOUND,
    UNBOUND_ERROR,
    UNBOUND_REMOVE,
    Barrier,
    BoundedSemaphore,
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
    RecvChannel,
    RLock,
    RunFailedError,
    Semaphore,
    SendChannel,
    SharedArray,
    SharedBuffer,
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

if TYPE_CHECKING:
    from ._pool import BrokenInterpreterPool, InterpreterPoolExecutor


def get_include() -> str:
    """Return the folder holding ``subinterpreters.h``, the header of the package's C API (as
    ``numpy.get_include()`` does): compile extensions with ``-I`` this folder. The API itself is
    the capsule ``subinterpreters._core._C_API``; see docs/c-api.md."""
    import os

    return os.path.join(os.path.dirname(__file__), "include")


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
    "get_include",
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

        atexit.register(_at_exit)
        _fork.install()
        _watch_exit_join()


def _at_exit() -> None:
    # The native hook closes every interpreter we created, releasing the calls blocked in the
    # package; then the threads of call_in_thread()/run_in_thread() that finished are let end
    # before CPython finalises (see _calls._join_ending_threads).
    from . import _calls
    from ._core import _shutdown

    _shutdown()
    _calls._join_ending_threads()


def _watch_exit_join() -> None:
    # Python's exit first joins the non-daemon threads (threading._shutdown, which also runs the
    # threading._register_atexit hooks, the pool's among them), and only then runs atexit hooks,
    # ours included. A thread blocked for ever in a package call keeps it waiting there, as with
    # the standard library: wrap that join so that a watchdog names such threads on stderr.
    import functools
    import threading

    from ._core import _exit_join_begins

    join = getattr(threading, "_shutdown", None)
    if join is None or getattr(join, "_subinterpreters_watched", False):
        return

    @functools.wraps(join)
    def _shutdown() -> None:
        try:
            current = threading.current_thread()
            _exit_join_begins(
                tuple(
                    (thread.ident, thread.name)
                    for thread in threading.enumerate()
                    if not thread.daemon and thread is not current and thread.ident is not None
                )
            )
        except Exception:  # noqa: BLE001 - the report is a courtesy; the join must happen
            pass
        join()

    _shutdown._subinterpreters_watched = True  # type: ignore[attr-defined]
    threading._shutdown = _shutdown  # type: ignore[attr-defined]


_register_exit_hook()
