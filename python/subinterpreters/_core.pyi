"""Compiled core of `subinterpreters`: interpreters, channels, errors (see the package docstring)."""

from types import TracebackType
from typing import Final, Self, TypeVar, final, overload

_T = TypeVar("_T")

__version__: Final[str]

# --- errors -------------------------------------------------------------------------------------

class InterpreterError(Exception):
    """Base class for errors about interpreters."""

class InterpreterNotFoundError(InterpreterError):
    """The interpreter was closed (or never existed)."""

class RunFailedError(InterpreterError):
    """Code run in another interpreter raised an exception it did not catch."""

    type_name: str
    """Qualified name of the remote exception's type, e.g. ``"ZeroDivisionError"``."""
    msg: str
    """``str()`` of the remote exception."""
    traceback: str
    """The remote traceback, formatted as Python prints it."""

ExecutionFailed = RunFailedError

class NotShareableError(ValueError, TypeError):
    """The object cannot cross to another interpreter; nothing was sent or bound."""

class ChannelError(RuntimeError):
    """Base class for channel errors."""

class ChannelClosedError(ChannelError):
    """The channel (the end needed by the call) is closed."""

class ChannelEmptyError(ChannelError):
    """``recv_nowait()`` found nothing ready and no default was given."""

# --- interpreters --------------------------------------------------------------------------------

@final
class Interpreter:
    """An interpreter in this process. Equal and hashable by id; shareable."""

    @property
    def id(self) -> int:
        """The interpreter's id (never reused within the process)."""

    def run(self, source: str, /, **shared: object) -> None:
        """Bind each shared value as a global of the interpreter's ``__main__``, then run
        ``source`` there, on the calling thread, with the caller's GIL released."""

    def exec(self, source: str, /) -> None:
        """``run()`` without shared values (the name CPython 3.14 uses)."""

    def prepare_main(self, /, **shared: object) -> None:
        """Bind each shared value as a global of the interpreter's ``__main__``."""

    def is_running(self) -> bool:
        """True while the interpreter runs code."""

    def close(self) -> None:
        """Destroy the interpreter, joining its non-daemon threads first; a second call does
        nothing. RuntimeError for the main or current interpreter, while it runs code, or while
        daemon threads of a legacy interpreter are alive."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def create(*, isolated: bool = True) -> Interpreter:
    """Create an interpreter: isolated (own GIL, multi-phase extensions only) or legacy."""

def list_all() -> list[Interpreter]:
    """The main interpreter and every interpreter created by this package and still alive."""

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

    def recv(self, /, timeout: float | None = None) -> object:
        """Receive the next object, waiting up to ``timeout`` seconds (None: no limit)."""

    @overload
    def recv_nowait(self, /) -> object:
        """Receive the next object if one is ready, else raise ChannelEmptyError."""
    @overload
    def recv_nowait(self, /, default: _T) -> object | _T:
        """Receive the next object if one is ready, else return ``default``. (The runtime text
        signature shows the missing default as ``...``; passing ``...`` means "no default".)"""
    def close(self) -> None:
        """Close the receiving end: queued objects are dropped, senders get ChannelClosedError."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
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

    def send(self, obj: object, /, timeout: float | None = None) -> None:
        """Send ``obj`` and wait until a receiver has taken it (rendezvous)."""

    def send_nowait(self, obj: object, /) -> bool:
        """Hand ``obj`` to a waiting receiver (True) or queue it (False)."""

    def close(self) -> None:
        """Close the sending end: receivers drain what is queued, then get ChannelClosedError."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

def create_channel() -> tuple[RecvChannel, SendChannel]:
    """Create a channel and return its two ends."""

def list_all_channels() -> list[tuple[RecvChannel, SendChannel]]:
    """Every channel with an open end, as (RecvChannel, SendChannel) pairs."""

def is_shareable(obj: object) -> bool:
    """True if ``obj`` can be sent through a channel or bound by ``run(**shared)``."""

def _shutdown() -> None:
    """Release blocked calls and close every interpreter (registered with atexit)."""
