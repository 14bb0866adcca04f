"""A clear error instead of a crashed child: ``os.fork()`` while subinterpreters are alive.

CPython aborts the child of a fork made while other interpreters exist ("Fatal Python error:
PyThreadState_Get", in ``PyOS_AfterFork_Child``; CPython issue gh-101437, 3.12 and 3.13), before
any Python code of the child runs. So, in the main interpreter, the package wraps ``os.fork`` and
``os.forkpty``: while an interpreter created by this package is alive they raise RuntimeError,
and otherwise they fork as before. Channels, queues and shared arrays do not stop a fork: the
child can use or drop them. ``subprocess`` (fork + exec in C) is not affected.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from ._core import list_all


def _guard(real: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(real)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        alive = len(list_all()) - 1  # all but the main interpreter
        if alive > 0:
            raise RuntimeError(
                f"cannot {real.__name__}() while {alive} subinterpreter(s) created by "
                "subinterpreters are alive: CPython aborts the child of such a fork "
                "(gh-101437). Close them first, or start processes with subprocess or "
                "multiprocessing's 'spawn'/'forkserver' start methods."
            )
        return real(*args, **kwargs)

    guarded.__wrapped_by_subinterpreters__ = True  # type: ignore[attr-defined]
    return guarded


def install() -> None:
    """Wrap os.fork and os.forkpty (once; main interpreter only, where fork is allowed)."""
    for name in ("fork", "forkpty"):
        real = getattr(os, name, None)
        if real is not None and not getattr(real, "__wrapped_by_subinterpreters__", False):
            setattr(os, name, _guard(real))
