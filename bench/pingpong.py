"""Round trip of a ping-pong (issues 2 and 3): the main thread sends a small int to a peer, the
peer sends it straight back, and each round trip is timed (measure.time_rounds). Only the
transport and the peer differ:

* subinterpreters: a worker interpreter (own GIL) on its own thread, two channels (`send()` and
  `send_nowait()`), and the same echo over two of our queues;
* the stdlib's interpreters (anchors.py): CPython 3.13's channels (`send()`, `send_nowait()`) and
  queues; CPython 3.14's `concurrent.interpreters` queues;
* `multiprocessing.Pipe` to a child process (spawn; its start is not timed);
* `queue.Queue` between two threads of this interpreter.

Rows compare within a shape (the same call of ours). The echo workloads take any payload: the
real-programs table (programs.py) sends 20,000 records through the same echoes.

Targets (issue 2): at least 4x faster than the Pipe, more than 500x faster than the stdlib's
channels (3.13) or queues (3.14+). Issue 3: the queue ping-pong within 2x of the channel one.

This module imports nothing heavy at the top: the Pipe's child process (spawned) imports it.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

import anchors
import report
from measure import Bench, PeerThread, Row, Workload, import_ours, stop_child, time_rounds

PIPE_TARGET = 4.0  # ours at least this many times faster than multiprocessing.Pipe
STDLIB_TARGET = 500.0  # ours more than this many times faster than the stdlib's echo
QUEUE_PINGPONG_TARGET = 2.0  # our queue round trip at most this many times our channel round trip


class Echo(Workload):
    """One echo. `start()` before the rounds of a run (returns its send and receive calls),
    `stop(failed)` after them."""

    shape = "send"  # rows compare with ours of the same shape: "send", "send_nowait", "queue"
    max_rounds: int | None = None  # a cap for slow transports

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        raise NotImplementedError

    def stop(self, failed: bool) -> None:
        pass

    def measure(
        self,
        rounds: int,
        warmup: int,
        payload: object = None,
        answer: Callable[[int], object] | None = None,
        budget_ns: int | None = None,
    ) -> list[int]:
        """A run: the rounds of the echo of `payload` (None: of the round's number, an int). The
        reply must be what was sent, or with `answer` what `answer(i)` (called untimed before
        round i) says."""
        send, recv = self.start()
        failed = True
        try:
            if payload is None:
                one_round: Callable[[Any], object] = send
            else:
                one_round = lambda _p: send(payload)  # noqa: E731
            if answer is None and payload is not None:
                check = lambda _i, got, _p: _same(got, payload)  # noqa: E731
            else:
                check = lambda _i, got, wanted: _same(got, wanted)  # noqa: E731
            samples = time_rounds(
                one_round, rounds, warmup, reply=recv, prepare=answer, check=check, budget_ns=budget_ns
            )
            failed = False
            return samples
        finally:
            self.stop(failed)


def _same(got: object, wanted: object) -> None:
    if got != wanted:
        shown = repr(got) if len(repr(got)) < 80 else f"a different {type(got).__name__}"
        raise RuntimeError(f"the peer answered {shown}")


class InterpreterEcho(Echo):
    """An echo by a worker interpreter running `source` on its own thread (ours or the stdlib's):
    subclasses make the interpreter (`open()`) and the two ends (`ends()`), and start the worker
    (`serve()`); `None` or closing the requests ends the worker's loop."""

    def ends(self) -> tuple[Any, Any, Any, Any]:
        """(requests' send end, requests' receive end, replies' send end, replies' receive end);
        a queue is both ends of itself."""
        raise NotImplementedError

    def serve(self, requests: Any, replies: Any) -> None:
        raise NotImplementedError

    send_call = "put"
    recv_call = "get"

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        self.requests_send, requests, replies, self.replies_recv = self.ends()
        self.all_ends = (self.requests_send, requests, replies, self.replies_recv)

        def serve() -> None:
            try:
                self.serve(requests, replies)
            except BaseException:
                self.wake_main(requests, replies)  # the main thread must not wait forever
                raise

        self.worker = PeerThread(serve, name=f"echo-{self.key}")
        self.worker.start()
        send = getattr(self.requests_send, self.send_call)
        return send, getattr(self.replies_recv, self.recv_call)

    def wake_main(self, requests: Any, replies: Any) -> None:
        """Called in the worker's thread when it failed."""
        raise NotImplementedError

    def stop(self, failed: bool) -> None:
        self.end_worker(failed)
        self.worker.join(timeout=10)
        for end in dict.fromkeys(self.all_ends):
            try:
                end.close()
            except Exception:
                pass  # already closed or gone
        if not failed:
            self.worker.finish("echo interpreter", timeout=0)

    def end_worker(self, failed: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- ours -----------------------------------------------------------------------------------------


class Ours(InterpreterEcho):
    camp = "ours"

    def open(self) -> None:
        self.si = import_ours()
        self.interp = self.si.create()

    def serve(self, requests: Any, replies: Any) -> None:
        self.interp.run(self.source, requests=requests, replies=replies)

    def wake_main(self, requests: Any, replies: Any) -> None:
        requests.close()  # the main thread's send() or recv() raises
        replies.close()


class OursChannel(Ours):
    """The main thread against a worker interpreter (own GIL) on its own thread, two channels."""

    recv_call = "recv"

    def __init__(self, shape: str) -> None:
        self.shape = self.send_call = shape
        self.key = f"ours-{shape}"
        self.name = f"subinterpreters  {shape}()/recv()"
        # The loop ends when the main thread closes its send end of `requests`.
        self.source = f"for x in requests:\n    replies.{shape}(x)\n"

    def ends(self) -> tuple[Any, Any, Any, Any]:
        requests_recv, requests_send = self.si.create_channel()
        replies_recv, replies_send = self.si.create_channel()
        return requests_send, requests_recv, replies_send, replies_recv

    def end_worker(self, failed: bool) -> None:
        if failed:
            self.replies_recv.close()  # wakes the worker if it is blocked replying
        self.requests_send.close()  # ends the worker's `for` loop


class OursQueue(Ours):
    """The same echo over two unbounded queues of ours: main put() -> worker get() -> worker put()
    on the second queue -> main get()."""

    key = "ours-queue"
    name = "subinterpreters  queue put()/get()"
    shape = "queue"
    source = "while (x := requests.get()) is not None:\n    replies.put(x)\n"

    def ends(self) -> tuple[Any, Any, Any, Any]:
        requests, replies = self.si.create_queue(), self.si.create_queue()
        return requests, requests, replies, replies

    def end_worker(self, failed: bool) -> None:
        self.requests_send.put(None)


# --- anchors: the stdlib's interpreters -----------------------------------------------------------


class Stdlib(InterpreterEcho):
    camp = "stdlib"
    nowait_call = "put_nowait"

    def open(self) -> None:
        self.interp = anchors.interpreters().create()

    def serve(self, requests: Any, replies: Any) -> None:
        anchors.bind(self.interp, requests=requests, replies=replies)
        self.interp.exec(self.source)

    def wake_main(self, requests: Any, replies: Any) -> None:
        getattr(replies, self.nowait_call)(None)  # the main thread's answer check then fails

    def end_worker(self, failed: bool) -> None:
        getattr(self.requests_send, self.nowait_call)(None)  # ends the worker's loop


class StdlibChannel(Stdlib):
    """The same echo over CPython 3.13's channels. Their `recv()` polls (10 ms sleeps); their
    `send()` blocks until the object is received, which in a ping-pong usually lets the peer's next
    `recv()` find its object already there, so the "send" shape rarely pays the sleep; with
    `send_nowait()` every round pays it."""

    recv_call = "recv"
    nowait_call = "send_nowait"

    def __init__(self, shape: str) -> None:
        self.shape = self.send_call = shape
        self.key = f"stdlib-{shape}"
        self.name = f"{anchors.PREFIX} channels {shape}()/recv()"
        self.max_rounds = 500 if shape == "send" else 30
        self.source = f"while (x := requests.recv()) is not None:\n    replies.{shape}(x)\n"

    def open(self) -> None:
        self.channels = anchors.channels()
        super().open()

    def ends(self) -> tuple[Any, Any, Any, Any]:
        requests_recv, requests_send = self.channels.create()
        replies_recv, replies_send = self.channels.create()
        return requests_send, requests_recv, replies_send, replies_recv


class StdlibQueue(Stdlib):
    """The same echo over two queues of the stdlib (their `get()` polls with 10 ms sleeps).
    `pickled`: on 3.13, queues that pickle (for payloads that are not shareable)."""

    shape = "queue"
    key = "stdlib-queue"
    max_rounds = 30
    source = "while (x := requests.get()) is not None:\n    replies.put(x)\n"

    def __init__(self, pickled: bool = False) -> None:
        self.pickled = pickled
        self.name = f"{anchors.PREFIX} queue put()/get()"

    def ends(self) -> tuple[Any, Any, Any, Any]:
        requests = anchors.create_queue(self.pickled)
        replies = anchors.create_queue(self.pickled)
        return requests, requests, replies, replies


# --- anchor: multiprocessing.Pipe -----------------------------------------------------------------


def pipe_echo(conn: Any) -> None:  # runs in the child process
    while (x := conn.recv()) is not None:
        conn.send(x)


class Pipe(Echo):
    """The same echo over `multiprocessing.Pipe()` to a child process (spawn: forking a process
    that has threads and subinterpreters is unsafe; its start is not timed)."""

    key = "pipe"
    name = "multiprocessing.Pipe send()/recv()"
    camp = "process"

    def open(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=pipe_echo, args=(child_conn,), daemon=True)
        self.process.start()
        child_conn.close()

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        return self.conn.send, self.conn.recv

    def close(self) -> None:
        if hasattr(self, "process"):
            stop_child(self.process, lambda: self.conn.send(None), self.conn)


# --- anchor: queue.Queue --------------------------------------------------------------------------


class ThreadQueue(Echo):
    """The same echo over two `queue.Queue`s between two threads of this interpreter (one GIL; the
    object itself is passed, never copied)."""

    key = "thread-queue"
    name = "queue.Queue      put()/get()"
    camp = "thread"

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        self.requests: queue.Queue[Any] = queue.Queue()
        self.replies: queue.Queue[Any] = queue.Queue()
        requests, replies = self.requests, self.replies

        def echo() -> None:
            while (x := requests.get()) is not None:
                replies.put(x)

        self.worker = PeerThread(echo, name="echo-queue")
        self.worker.start()
        return requests.put, replies.get

    def stop(self, failed: bool) -> None:
        self.requests.put(None)
        self.worker.finish("echo thread", timeout=10)


# --- the table ------------------------------------------------------------------------------------


def echoes() -> list[Echo]:
    """Ours first (the baselines), then the anchors this Python has."""
    stdlib: list[Echo] = [StdlibQueue()]
    if not anchors.PUBLIC:
        stdlib = [StdlibChannel("send"), StdlibChannel("send_nowait"), *stdlib]
    return [OursChannel("send"), OursChannel("send_nowait"), OursQueue(), *stdlib, Pipe(), ThreadQueue()]


def run(bench: Bench) -> None:
    rounds = bench.args.rounds
    rows = []
    for echo in echoes():
        wanted = min(rounds, echo.max_rounds or rounds)
        warmup = max(3, wanted // 10)
        rows.append(
            Row(
                echo,
                lambda echo=echo, n=wanted, w=warmup: echo.measure(n, w),
                what=f"{warmup} + {wanted} rounds",
            )
        )
    elapsed = bench.measure("ping-pong", rows)
    ours = {row.workload.shape: row for row in rows if row.workload.camp == "ours"}
    section = report.Section(
        "Round trip of a ping-pong, main thread and a peer",
        "time",
        "ours (same call)",
        short="Round trip, echo of a small int",
        notes=[
            "a small int sent and echoed back; rows compare with ours of the same call "
            "(the queue rows with our queue echo)",
            "each run's timed rounds come after a tenth as many untimed",
            anchors.queue_sleeps(),
        ],
    )
    for row in rows:
        shown = report.entry(row, ours.get(row.workload.shape))
        # The summary: our send() echo and the others of its shape; on 3.14+ also the queues.
        shown.key = row.workload.shape == "send" or (anchors.PUBLIC and row.workload.shape == "queue")
        if anchors.PUBLIC and row.workload.camp in ("ours", "stdlib"):
            shown.tag = "queue" if row.workload.shape == "queue" else "channel"
        section.entries.append(shown)
    bench.publish(section, elapsed)
    bench.check_ours(rows)

    by_key = {row.workload.key: row for row in rows}
    lines = [
        report.goal(
            "ours send() echo vs multiprocessing.Pipe, times faster",
            *report.ratio(by_key["pipe"], ours["send"]),
            PIPE_TARGET,
        )
    ]
    for row in rows:
        if row.workload.camp == "stdlib":
            shape = row.workload.shape
            lines.append(
                report.goal(
                    f"ours vs {' '.join(row.label.split())}",
                    *report.ratio(row, ours[shape]),
                    STDLIB_TARGET,
                    strict=True,
                )
            )
    lines += [
        report.goal(
            f"our queue ping-pong / our channel {shape}() echo, round trip",
            *report.ratio(ours["queue"], ours[shape]),
            QUEUE_PINGPONG_TARGET,
            at_most=True,
        )
        for shape in ("send_nowait", "send")
    ]
    bench.targets("issues 2 and 3, round trip", lines)
