"""The ping-pong workloads that run.py times: ours and the anchors (throughput: throughput.py).

Every workload is the same echo: the main thread sends a small int to a peer, the peer sends it
straight back, and the main thread times each round trip with `time.perf_counter_ns`. Only the
transport and the peer differ:

* subinterpreters: a worker interpreter (own GIL) on its own thread, two channels;
* CPython 3.13's own channels (`test.support.interpreters.channels`), same shape;
* `multiprocessing.Pipe` to a child process;
* `queue.Queue` between two threads of this interpreter;
* and, reported apart (issue 3), the same echo over two queues of ours.

This module imports nothing heavy at the top: the Pipe's child process (spawned) imports it.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import sys
import threading
import time
from collections.abc import Callable


class Unavailable(Exception):
    """The workload cannot run here (its message says why); the table shows "n/a"."""


def time_round_trips(
    send: Callable[[int], object], recv: Callable[[], object], rounds: int, warmup: int
) -> list[int]:
    """Ping-pong `warmup` untimed rounds, then `rounds` timed ones; return each round trip in ns."""
    for i in range(warmup):
        send(i)
        recv()
    clock = time.perf_counter_ns
    samples = [0] * rounds
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection during a round is not the transport's cost
    try:
        for i in range(rounds):
            started = clock()
            send(i)
            reply = recv()
            samples[i] = clock() - started
            if reply != i:
                raise RuntimeError(f"echo returned {reply!r} for {i!r}")
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


class Workload:
    """One transport. `open()` once, `measure()` once per repeat, `close()` at the end."""

    key: str  # a short identifier: "ours-send", "cpython-send_nowait", "pipe", ...
    name: str  # the row label
    shape: str  # "send" or "send_nowait": which call the echo uses (rows compare within a shape)
    max_rounds: int | None = None  # a cap for slow transports

    def open(self) -> None:
        pass

    def measure(self, rounds: int, warmup: int) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _PeerThread(threading.Thread):
    """A thread running `target`; remembers the exception that ended it, if any."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:
            self.error = exc


# --- ours -----------------------------------------------------------------------------------------


class Subinterpreters(Workload):
    """The main thread against a worker interpreter (own GIL) running on its own thread."""

    def __init__(self, shape: str) -> None:
        self.shape = shape
        self.key = f"ours-{shape}"
        self.name = f"subinterpreters  {shape}()/recv()"
        # The worker's whole program; `requests` and `replies` are bound by run(**shared). The
        # loop ends when the main thread closes its send end of `requests`.
        self.source = f"for x in requests:\n    replies.{shape}(x)\n"

    def open(self) -> None:
        try:
            import subinterpreters
        except ImportError as exc:
            raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
        self.si = subinterpreters
        self.interp = subinterpreters.create()

    def measure(self, rounds: int, warmup: int) -> list[int]:
        requests_recv, requests_send = self.si.create_channel()
        replies_recv, replies_send = self.si.create_channel()
        worker = _PeerThread(
            lambda: self.interp.run(self.source, requests=requests_recv, replies=replies_send),
            name="echo-subinterpreter",
        )
        worker.start()
        send = requests_send.send if self.shape == "send" else requests_send.send_nowait
        try:
            samples = time_round_trips(send, replies_recv.recv, rounds, warmup)
        except BaseException:
            replies_recv.close()  # wakes the worker if it is blocked replying
            raise
        finally:
            requests_send.close()  # ends the worker's `for` loop
            worker.join(timeout=10)
            for end in (requests_recv, replies_recv, replies_send):
                end.close()
        if worker.is_alive():
            raise RuntimeError("the echo interpreter did not stop after its channel was closed")
        if worker.error is not None:
            raise RuntimeError(f"the echo interpreter failed: {worker.error!r}")
        return samples

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


class SubinterpreterQueues(Workload):
    """The same echo over two unbounded queues of ours: main put() -> worker get() -> worker put()
    on the second queue -> main get(). Not in the channel table: run.py reports it after it."""

    key = "ours-queue"
    name = "subinterpreters  queue put()/get()"
    shape = "queue"
    # The worker's whole program; None ends its loop.
    source = "while (x := requests.get()) is not None:\n    replies.put(x)\n"

    def open(self) -> None:
        try:
            import subinterpreters
        except ImportError as exc:
            raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
        self.si = subinterpreters
        self.interp = subinterpreters.create()

    def measure(self, rounds: int, warmup: int) -> list[int]:
        requests = self.si.create_queue()
        replies = self.si.create_queue()
        worker = _PeerThread(
            lambda: self.interp.run(self.source, requests=requests, replies=replies),
            name="echo-subinterpreter-queues",
        )
        worker.start()
        try:
            samples = time_round_trips(requests.put, replies.get, rounds, warmup)
        finally:
            requests.put(None)  # ends the worker's loop
            worker.join(timeout=10)
            requests.close()
            replies.close()
        if worker.is_alive():
            raise RuntimeError("the echo interpreter did not stop")
        if worker.error is not None:
            raise RuntimeError(f"the echo interpreter failed: {worker.error!r}")
        return samples

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: CPython 3.13's own channels ----------------------------------------------------------


class CPythonChannels(Workload):
    """The same echo over `test.support.interpreters.channels` (CPython 3.13's private module).

    Their `recv()` polls: it tries once, then sleeps 10 ms and tries again. Their `send()` blocks
    until the object is received, and in a ping-pong that usually lets the peer's next `recv()` find
    its object already there, so the "send" shape rarely hits the 10 ms sleep. With `send_nowait()`
    each `recv()` is called before the reply exists, and the sleep is paid on every round.
    """

    def __init__(self, shape: str) -> None:
        self.shape = shape
        self.key = f"cpython-{shape}"
        self.name = f"CPython channels {shape}()/recv()"
        self.max_rounds = 500 if shape == "send" else 30
        # Their RecvChannel is not iterable: None ends the loop.
        self.source = f"while (x := requests.recv()) is not None:\n    replies.{shape}(x)\n"

    def open(self) -> None:
        try:
            from test.support import interpreters
            from test.support.interpreters import channels
        except ImportError as exc:
            version = "%d.%d" % sys.version_info[:2]
            reason = f"test.support.interpreters.channels is missing on {version}"
            raise Unavailable(reason) from exc
        self.channels = channels
        self.interp = interpreters.create()

    def measure(self, rounds: int, warmup: int) -> list[int]:
        requests_recv, requests_send = self.channels.create()
        replies_recv, replies_send = self.channels.create()
        self.interp.prepare_main(requests=requests_recv, replies=replies_send)
        worker = _PeerThread(lambda: self.interp.exec(self.source), name="echo-cpython-channels")
        worker.start()
        send = requests_send.send if self.shape == "send" else requests_send.send_nowait
        try:
            samples = time_round_trips(send, replies_recv.recv, rounds, warmup)
        finally:
            requests_send.send_nowait(None)  # ends the worker's loop
            worker.join(timeout=10)
            for end in (requests_recv, requests_send, replies_recv, replies_send):
                try:
                    end.close()
                except self.channels.ChannelError:
                    pass  # already closed or gone
        if worker.is_alive():
            raise RuntimeError("the echo interpreter did not stop")
        if worker.error is not None:
            raise RuntimeError(f"the echo interpreter failed: {worker.error!r}")
        return samples

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: multiprocessing.Pipe -----------------------------------------------------------------


def pipe_echo(conn) -> None:  # runs in the child process
    while (x := conn.recv()) is not None:
        conn.send(x)


class Pipe(Workload):
    """The same echo over `multiprocessing.Pipe()` to a child process."""

    key = "pipe"
    name = "multiprocessing.Pipe send()/recv()"
    shape = "send"

    def open(self) -> None:
        # "spawn": forking a process that has threads and subinterpreters is unsafe (and deprecated
        # with threads since 3.12). Start-up is not timed.
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=pipe_echo, args=(child_conn,), daemon=True)
        self.process.start()
        child_conn.close()

    def measure(self, rounds: int, warmup: int) -> list[int]:
        return time_round_trips(self.conn.send, self.conn.recv, rounds, warmup)

    def close(self) -> None:
        if hasattr(self, "process"):
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
            self.conn.close()


# --- anchor: queue.Queue --------------------------------------------------------------------------


class Queues(Workload):
    """The same echo over two `queue.Queue`s between two threads of this interpreter (one GIL)."""

    key = "queue"
    name = "queue.Queue      put()/get()"
    shape = "send"

    def measure(self, rounds: int, warmup: int) -> list[int]:
        requests: queue.Queue[int | None] = queue.Queue()
        replies: queue.Queue[int] = queue.Queue()

        def echo() -> None:
            while (x := requests.get()) is not None:
                replies.put(x)

        worker = _PeerThread(echo, name="echo-queue")
        worker.start()
        try:
            return time_round_trips(requests.put, replies.get, rounds, warmup)
        finally:
            requests.put(None)
            worker.join(timeout=10)


def queue_workloads() -> list[Workload]:
    """The queue ping-pong, measured in the same interleaved runs as the channel table."""
    return [SubinterpreterQueues()]


def all_workloads() -> list[Workload]:
    """Ours first (the baselines), then the anchors."""
    return [
        Subinterpreters("send"),
        Subinterpreters("send_nowait"),
        CPythonChannels("send"),
        CPythonChannels("send_nowait"),
        Pipe(),
        Queues(),
    ]
