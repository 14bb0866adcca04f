"""The hand-over of a block of data to a worker (issue 4): ours and the anchors.

Every workload is the same round trip: the main thread hands a buffer of N bytes (1 KiB, 1 MiB,
64 MiB, 1 GiB) to a worker, the worker reads one element (the last byte) and answers with it, and
each round trip is timed until the main thread has the answer (measure.time_rounds, through the
ping-pong's echoes: pingpong.Echo). The data is made once per size, outside the timed part. Before
each timed round (untimed) the main thread writes a new value into the last byte of the data that
it shares, and the answer must be that value: a worker that read a stale copy fails the run
instead of looking fast. The workers:

* subinterpreters: a worker interpreter (own GIL) on its own thread; the main thread `send()`s a
  `SharedArray` (format 'B') through a channel, the worker reads `memoryview(a)[-1]` and
  `send()`s it back on a second channel;
* the stdlib's interpreters (anchors.py): CPython 3.13's channels, `send_buffer()` of a bytearray
  (the blocking call, as ours; the worker gets a read-only memoryview of it); CPython 3.14's
  `concurrent.interpreters` queues, `put()` of a memoryview of a bytearray (shared, not copied);
* a child process (spawn) over `multiprocessing.Queue`, the data as `bytes` (pickled and copied
  through a pipe; up to 64 MiB only, as issue 4 says); the last byte is fixed, as it is a copy;
* a child process (spawn) and `multiprocessing.shared_memory`: the main thread sends the segment's
  name over a `multiprocessing.Pipe`, the child attaches by name, reads the byte, detaches, answers.

Targets (issue 4): ours hands over 64 MiB in under 1 ms, and 1 GiB within 2x of the 1 KiB time.

This module imports nothing heavy at the top: the children (spawned) import it.
"""

from __future__ import annotations

import functools
import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

import anchors
import pingpong
import report
from measure import MIN_ROUNDS, RUN_BUDGET_NS, Bench, Row, Unavailable, stop_child

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
SIZES = [1 * KiB, 1 * MiB, 64 * MiB, 1 * GiB]
HANDOVER_64MIB_TARGET_NS = 1_000_000  # ours hands over 64 MiB in under this (1 ms)
HANDOVER_SCALING_TARGET = 2.0  # ours at 1 GiB at most this many times ours at 1 KiB


def size_text(nbytes: int) -> str:
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if nbytes >= unit and nbytes % unit == 0:
            return f"{nbytes // unit} {name}"
    return f"{nbytes} B"


def marker(i: int) -> int:
    """The value written into the last byte before round i: never 0 (the data is zero-filled)."""
    return i % 255 + 1


class HandOver(pingpong.Echo):
    """One transport, an echo whose worker answers with the last byte of what it gets. `load()`
    makes each size's data once (`make()`), a run hands over the data of one size
    (`select()` sets `payload`, what is sent), `mark(i)` (untimed) writes round i's byte and
    returns it; `close()` frees the data (`free()`)."""

    max_nbytes: int | None = None  # larger sizes are not run
    max_rounds = 200  # timed rounds per run (at most)
    payload: object = None

    def __init__(self, *args: Any) -> None:
        self.loaded: dict[int, Any] = {}  # each size's data
        super().__init__(*args)

    def rounds_for(self, nbytes: int) -> int:
        return self.max_rounds

    def skip_reason(self, nbytes: int) -> str | None:
        if self.max_nbytes is not None and nbytes > self.max_nbytes:
            return f"not run above {size_text(self.max_nbytes)} (as issue 4 says)"
        return None

    def load(self, nbytes: int) -> None:
        self.loaded[nbytes] = self.make(nbytes)

    def make(self, nbytes: int) -> Any:
        raise NotImplementedError

    def free(self, data: Any) -> None:
        pass

    def select(self, data: Any) -> None:
        self.payload = data

    def mark(self, i: int) -> int:
        raise NotImplementedError

    def hand_over(self, nbytes: int, rounds: int, warmup: int) -> list[int]:
        """A run: `warmup` untimed rounds, then up to `rounds` timed ones (fewer once the run
        passes RUN_BUDGET_NS, never fewer than MIN_ROUNDS)."""
        self.select(self.loaded[nbytes])
        return self.measure(rounds, warmup, self.payload, answer=self.mark, budget_ns=RUN_BUDGET_NS)

    def close(self) -> None:
        self.select(None)
        while self.loaded:
            self.free(self.loaded.popitem()[1])
        super().close()


class SharedBytes(HandOver):
    """Data in a buffer this process writes its markers into: `make()` gives (what is sent, the
    writable view)."""

    view: Any = None

    def select(self, data: Any) -> None:
        self.payload, self.view = data if data is not None else (None, None)

    def free(self, data: Any) -> None:
        data[1].release()

    def mark(self, i: int) -> int:
        self.view[-1] = value = marker(i)
        return value


# --- ours -----------------------------------------------------------------------------------------

# The loop ends when the main thread closes its send end of `requests`.
OURS_SOURCE = """\
for a in requests:
    with memoryview(a) as m:
        x = m[-1]
    del a
    replies.send(x)
"""


class Ours(SharedBytes, pingpong.OursChannel):
    """A SharedArray sent through a channel to a worker interpreter (own GIL) on its own thread."""

    def __init__(self) -> None:
        super().__init__("send")
        self.key = "ours"
        self.name = "subinterpreters  send(SharedArray)"
        self.source = OURS_SOURCE

    def open(self) -> None:
        super().open()
        if not hasattr(self.si, "SharedArray"):
            raise Unavailable(f"subinterpreters {self.si.__version__} has no SharedArray")

    def make(self, nbytes: int) -> Any:
        array = self.si.SharedArray(nbytes, "B")
        return array, memoryview(array)  # the main thread's writable view, for the markers


# --- anchors: the stdlib's interpreters -----------------------------------------------------------

# Their RecvChannel is not iterable: None ends the loop. The view is released at once, so that the
# bytearray is not held between rounds.
STDLIB_SOURCE = """\
while (a := requests.{call}()) is not None:
    x = a[-1]
    a.release()
    del a
    replies.{reply}(x)
"""


class StdlibSendBuffer(SharedBytes, pingpong.StdlibChannel):
    """A bytearray handed over with `send_buffer()` of CPython 3.13's channels. Their blocking
    `send_buffer()` returns once the worker took the buffer, which in this round trip usually lets
    each `recv()` find its object already there (with `send_buffer_nowait()` every round pays the
    10 ms sleep). The worker gets a read-only memoryview of the bytearray: no copy."""

    send_timeout = 60  # s: a dead worker is a TimeoutError instead of a hang

    def __init__(self) -> None:
        super().__init__("send")
        self.key = "stdlib"
        self.name = f"{anchors.PREFIX} channels send_buffer(bytearray)"
        self.source = STDLIB_SOURCE.format(call="recv", reply="send")
        self.max_rounds = 200

    def open(self) -> None:
        super().open()
        if not hasattr(self.channels.SendChannel, "send_buffer"):
            raise Unavailable(f"{anchors.PREFIX}'s channels have no send_buffer()")

    def make(self, nbytes: int) -> Any:
        data = bytearray(nbytes)
        return data, memoryview(data)

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        _send, recv = super().start()
        return functools.partial(self.requests_send.send_buffer, timeout=self.send_timeout), recv


class StdlibQueueView(SharedBytes, pingpong.StdlibQueue):
    """A memoryview of a bytearray put on a queue of CPython 3.14's `concurrent.interpreters`
    (memoryviews are shareable there: the worker's view is of the same memory). Their `get()`
    polls (10 ms sleeps), on both sides of the round trip."""

    def __init__(self) -> None:
        super().__init__()
        self.key = "stdlib"
        self.name = f"{anchors.PREFIX} queue put(memoryview)"
        self.source = STDLIB_SOURCE.format(call="get", reply="put")
        self.max_rounds = 30

    def make(self, nbytes: int) -> Any:
        data = bytearray(nbytes)
        return memoryview(data), memoryview(data)


def wait_ready(process, get: Callable[[float], object], empty: type[Exception], what: str) -> None:
    """Wait until the child says "ready" (a child still starting up would slow down the first
    size's runs), or fail if it exits first or takes a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            message = get(0.1)
            break
        except empty:
            if not process.is_alive():
                raise RuntimeError(
                    f"the {what} child exited (code {process.exitcode}) before it was ready"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {what} child did not start within 60 s") from None
    if message != "ready":
        raise RuntimeError(f"the {what} child said {message!r} instead of 'ready'")


# --- anchor: multiprocessing.Queue ----------------------------------------------------------------


def queue_reader(requests, replies) -> None:  # runs in the child process
    replies.put("ready")
    while (data := requests.get()) is not None:
        x = data[-1]
        del data
        replies.put(x)


class MultiprocessingQueue(HandOver):
    """The data as bytes through a `multiprocessing.Queue` to a child process (spawn)."""

    key = "mp-queue"
    name = "multiprocessing.Queue put(bytes)"
    camp = "process"
    max_nbytes = 64 * MiB
    fixed = 42  # the copy's last byte: the same every round

    def rounds_for(self, nbytes: int) -> int:
        if nbytes >= 64 * MiB:
            return 5
        if nbytes >= MiB:
            return 50
        return self.max_rounds

    def open(self) -> None:
        context = multiprocessing.get_context("spawn")  # as the other workloads; start not timed
        self.requests = context.Queue()
        self.replies = context.Queue()
        self.process = context.Process(target=queue_reader, args=(self.requests, self.replies), daemon=True)
        self.process.start()
        wait_ready(
            self.process,
            lambda timeout: self.replies.get(timeout=timeout),
            queue.Empty,
            "multiprocessing.Queue",
        )

    def make(self, nbytes: int) -> Any:
        return bytes(nbytes - 1) + bytes([self.fixed])

    def mark(self, i: int) -> int:
        return self.fixed

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        # The timeout: queue.Empty rather than a hang if the child died.
        return self.requests.put, functools.partial(self.replies.get, timeout=60)

    def close(self) -> None:
        super().close()
        if hasattr(self, "process"):
            stop_child(self.process, lambda: self.requests.put(None), self.requests, self.replies)


# --- anchor: multiprocessing.shared_memory --------------------------------------------------------


def shm_reader(conn) -> None:  # runs in the child process
    from multiprocessing import shared_memory

    conn.send("ready")
    while (request := conn.recv()) is not None:
        name, index = request
        try:  # 3.13: the creator alone tracks (and unlinks) the segment
            shm = shared_memory.SharedMemory(name=name, track=False)
        except TypeError:  # 3.12: no `track`; spawned children share the parent's tracker
            shm = shared_memory.SharedMemory(name=name)
        x = shm.buf[index]
        shm.close()
        conn.send(x)


class SharedMemory(HandOver):
    """A `multiprocessing.shared_memory` segment: the child process (spawn) gets its name over a
    `multiprocessing.Pipe`, attaches by name, reads the byte, detaches and answers."""

    key = "shm"
    name = "multiprocessing.shared_memory by name"
    camp = "process"

    def open(self) -> None:
        from multiprocessing import shared_memory

        self.shared_memory = shared_memory
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=shm_reader, args=(child_conn,), daemon=True)
        self.process.start()
        child_conn.close()
        wait_ready(self.process, self.get_ready, TimeoutError, "shared_memory")

    def get_ready(self, timeout: float) -> object:
        if not self.conn.poll(timeout):
            raise TimeoutError
        return self.conn.recv()

    def make(self, nbytes: int) -> Any:
        shm = self.shared_memory.SharedMemory(create=True, size=nbytes)
        return shm, (shm.name, nbytes - 1)  # the segment and the request the child gets

    def free(self, data: Any) -> None:
        data[0].close()
        data[0].unlink()

    def select(self, data: Any) -> None:
        self.shm, self.payload = data if data is not None else (None, None)

    def mark(self, i: int) -> int:
        self.shm.buf[self.payload[1]] = value = marker(i)
        return value

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        return self.conn.send, self.conn.recv  # EOFError if the child died

    def close(self) -> None:
        super().close()
        if hasattr(self, "process"):
            stop_child(self.process, lambda: self.conn.send(None), self.conn)


# --- the table ------------------------------------------------------------------------------------


def transports() -> list[HandOver]:
    """Ours first (the baseline), then the anchors this Python has."""
    stdlib = StdlibQueueView() if anchors.PUBLIC else StdlibSendBuffer()
    return [Ours(), stdlib, MultiprocessingQueue(), SharedMemory()]


def run(bench: Bench) -> None:
    scale = 0.25 if bench.quick else 1.0
    rows = []
    made = transports()  # one worker each, for every size
    for nbytes in SIZES:
        for transport in made:
            wanted = max(MIN_ROUNDS, int(transport.rounds_for(nbytes) * scale))
            warmup = max(1, wanted // 10)
            rows.append(
                Row(
                    transport,
                    functools.partial(transport.hand_over, nbytes, wanted, warmup),
                    label=f"{size_text(nbytes)}: {transport.name}",
                    what=f"{warmup} + {wanted} rounds",
                    skip=transport.skip_reason(nbytes),
                    setup=functools.partial(transport.load, nbytes),
                )
            )
    elapsed = bench.measure("hand-over", rows)
    ours = {row.label.split(":")[0]: row for row in rows if row.workload.camp == "ours"}
    section = report.Section(
        "Hand-over of a block of data to a worker (round trip)",
        "time",
        "ours (same size)",
        short="Hand-over of 64 MiB, round trip",
        notes=[
            "the worker reads the last byte and answers with it; before each round (untimed) "
            "the main thread writes a new last byte into the data it shares, and the answer "
            "must be that byte (multiprocessing.Queue sends a copy: its last byte is fixed)",
            f"the data of every size is made once, untimed; a run stops once it has taken "
            f"{RUN_BUDGET_NS / 1e9:g} s (after at least {MIN_ROUNDS} rounds)",
            anchors.queue_sleeps(),
        ],
    )
    for row in rows:
        size = row.label.split(":")[0]
        shown = report.entry(row, ours.get(size))
        shown.key = size == size_text(64 * MiB)
        shown.tag = {"mp-queue": "Queue", "shm": "shared_memory"}.get(row.workload.key, "")
        section.entries.append(shown)
    bench.publish(section, elapsed)
    bench.check_ours(rows)
    small, big = ours.get(size_text(SIZES[0])), ours.get(size_text(SIZES[-1]))
    bench.targets(
        "issue 4, hand-over",
        [
            report.time_goal(
                "ours 64 MiB hand-over, round trip", ours.get(size_text(64 * MiB)), HANDOVER_64MIB_TARGET_NS
            ),
            report.goal(
                f"ours {size_text(SIZES[-1])} / ours {size_text(SIZES[0])} hand-over, round trip",
                *report.ratio(big, small),
                HANDOVER_SCALING_TARGET,
                at_most=True,
            ),
        ],
    )
