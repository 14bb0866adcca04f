"""The standard library's interpreters, the anchor of every table, as this CPython has them.

* CPython 3.14 and later: the public `concurrent.interpreters` (`create()`, `exec()`,
  `prepare_main()`, `close()`; `create_queue()`, whose queues share what is shareable and pickle
  the rest) and `concurrent.futures.InterpreterPoolExecutor`. No channels: the round-trip and
  hand-over anchors use its queues.
* CPython 3.13: the private `_interpreters`, `_interpqueues` and `_interpchannels` modules, through
  their thin wrappers in `test.support.interpreters` (the same calls; queues made with
  `syncobj=True` share what is shareable and refuse the rest, the default pickles everything);
  channels with `send_buffer()`; no interpreter pool (pool.py drives these interpreters through
  threads instead).
* CPython 3.12: none of them (the rows say n/a).

Every module that measures an anchor asks this one; the report names what it said (`header()`,
`description()`). This module imports nothing heavy at the top.
"""

from __future__ import annotations

import sys
from typing import Any

from measure import Unavailable

VERSION = "{}.{}".format(*sys.version_info[:2])
PUBLIC = sys.version_info >= (3, 14)  # concurrent.interpreters and its pool exist
PREFIX = f"CPython {VERSION}"  # the start of every stdlib row's label


def header() -> str:
    """The summary table's column of the stdlib anchors."""
    if PUBLIC:
        return f"{PREFIX} concurrent.interpreters"
    return f"{PREFIX} _interpreters"


def description() -> str:
    """What this run compares with (the report's "Anchors" line)."""
    process = "ProcessPoolExecutor (forkserver), multiprocessing children (spawn), threading"
    if PUBLIC:
        return (
            f"{PREFIX} concurrent.interpreters (queues; create/exec/close) and "
            f"concurrent.futures.InterpreterPoolExecutor; {process}"
        )
    if VERSION == "3.13":
        return (
            f"{PREFIX}'s private _interpreters/_interpqueues/_interpchannels (through "
            f"test.support.interpreters), driven by threads for the pool rows; {process}"
        )
    return f"no interpreters module in {PREFIX} (those rows are n/a); {process}"


def interpreters() -> Any:
    """The module with `create()`; Unavailable where there is none."""
    try:
        if PUBLIC:
            import concurrent.interpreters as module
        else:
            from test.support import interpreters as module
    except ImportError as exc:
        raise Unavailable(
            f"{PREFIX} has no interpreters module (3.13's private one or 3.14's concurrent.interpreters)"
        ) from exc
    return module


def create_queue(pickled: bool = False) -> Any:
    """An unbounded queue of the stdlib. 3.13: shared objects only (`syncobj=True`), or with
    `pickled` every object pickled (the default there); 3.14+: shareable objects shared, the rest
    pickled, whatever `pickled` says."""
    interpreters()  # Unavailable where there is none
    if PUBLIC:
        import concurrent.interpreters

        return concurrent.interpreters.create_queue()
    from test.support.interpreters import queues

    return queues.create(0, syncobj=not pickled)


def bind(interp: Any, **objects: Any) -> None:
    """`interp.prepare_main(**objects)`; on 3.13 binding a queue needs its module imported in the
    interpreter first."""
    if not PUBLIC:
        interp.exec("from test.support.interpreters import queues")
    interp.prepare_main(**objects)


def channels() -> Any:
    """CPython 3.13's channels module; Unavailable elsewhere (3.14 made no channels public)."""
    if PUBLIC:
        raise Unavailable(f"{PREFIX} has no public channels (concurrent.interpreters has queues)")
    interpreters()
    from test.support.interpreters import channels as module

    return module


def queue_sleeps() -> str:
    """A note for the tables whose anchor waits on a stdlib queue or channel."""
    return (
        f"{PREFIX}'s queue get() and channel recv() poll: they sleep 10 ms between tries "
        "when nothing is there"
        if not PUBLIC
        else f"{PREFIX}'s queue get() polls: it sleeps 10 ms between tries when the queue is empty"
    )
