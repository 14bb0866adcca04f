"""The hand-over workloads that run.py times (issue 4): ours and the anchors.

Every workload is the same round trip: the main thread hands a buffer of N bytes (1 KiB, 1 MiB,
64 MiB, 1 GiB) to a worker, the worker reads one element (the last byte) and answers with it, and
the main thread times each round trip with `time.perf_counter_ns` until it has the answer. The data
is made once per size, outside the timed part. Before each timed round (untimed) the main thread
writes a new value into the last byte of the data that it shares, and the answer must be that value:
a worker that read a stale copy fails the run instead of looking fast. The workers:

* subinterpreters: a worker interpreter (own GIL) on its own thread; the main thread `send()`s a
  `SharedArray` (format 'B') through a channel, the worker reads `memoryview(a)[-1]` and
  `send()`s it back on a second channel;
* CPython 3.13's own channels (`test.support.interpreters.channels`), same shape: `send_buffer()` of
  a bytearray (the blocking call, as ours), the worker gets a read-only memoryview of it;
* a child process (spawn) over `multiprocessing.Queue`, the data as `bytes` (pickled and copied
  through a pipe; up to 64 MiB only, as issue 4 says); the last byte is fixed, as it is a copy;
* a child process (spawn) and `multiprocessing.shared_memory`: the main thread sends the segment's
  name over a `multiprocessing.Pipe`, the child attaches by name, reads the byte, detaches, answers.

This module imports nothing heavy at the top: the children (spawned) import it.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import sys
import time
from collections.abc import Callable

from workloads import Unavailable, _PeerThread

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
SIZES = [1 * KiB, 1 * MiB, 64 * MiB, 1 * GiB]

RUN_BUDGET_NS = 2_000_000_000  # a run stops taking rounds after this long (at least MIN_ROUNDS)
MIN_ROUNDS = 3


def size_text(nbytes: int) -> str:
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if nbytes >= unit and nbytes % unit == 0:
            return f"{nbytes // unit} {name}"
    return f"{nbytes} B"


def marker(i: int) -> int:
    """The value written into the last byte before round i: never 0 (the data is zero-filled)."""
    return i % 255 + 1


class HandOver:
    """One transport. `open()` once, `load()` each size's data once, `measure()` once per size and
    repeat, `unload()` (frees the data), `close()` at the end. A subclass provides `make()`/`free()`
    (one size's data), `select()` (the data the next run hands over), `start()`/`stop()` (around
    the rounds of one run), `mark(i)` (untimed: returns the answer round i must bring),
    `hand_over()` and `answer()`."""

    key: str  # "ours", "cpython", "mp-queue", "shm"
    name: str  # the row label
    max_nbytes: int | None = None  # larger sizes are not run
    max_rounds: int = 200  # timed rounds per run (at most)

    def rounds_for(self, nbytes: int) -> int:
        return self.max_rounds

    def skip_reason(self, nbytes: int) -> str | None:
        if self.max_nbytes is not None and nbytes > self.max_nbytes:
            return f"not run above {size_text(self.max_nbytes)} (as issue 4 says)"
        return None

    def __init__(self) -> None:
        self.loaded: dict[int, object] = {}  # each size's data

    def open(self) -> None:
        pass

    def load(self, nbytes: int) -> None:
        """Make the data of one size (not timed)."""
        self.loaded[nbytes] = self.make(nbytes)

    def unload(self) -> None:
        """Free the data of every size."""
        self.select(None)
        while self.loaded:
            self.free(self.loaded.popitem()[1])

    def close(self) -> None:
        pass

    def make(self, nbytes: int) -> object:
        raise NotImplementedError

    def free(self, data: object) -> None:
        pass

    def select(self, data: object) -> None:
        self.data = data

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def abort(self) -> None:
        """Called (before `stop()`) when a run fails: wake the worker if it is blocked."""

    def mark(self, i: int) -> int:
        raise NotImplementedError

    def hand_over(self) -> None:
        raise NotImplementedError

    def answer(self) -> object:
        raise NotImplementedError

    def measure(self, nbytes: int, rounds: int, warmup: int) -> list[int]:
        """Hand over the data of size `nbytes`: `warmup` untimed rounds, then up to `rounds` timed
        ones (fewer if the run passes RUN_BUDGET_NS, never fewer than MIN_ROUNDS); return each
        round trip in ns."""
        clock = time.perf_counter_ns
        self.select(self.loaded[nbytes])
        self.start()
        try:
            for i in range(warmup):
                expected = self.mark(i)
                self.hand_over()
                self._check(self.answer(), expected)
            samples: list[int] = []
            gc_was_enabled = gc.isenabled()
            gc.disable()  # as timeit does: a collection during a round is not the transport's cost
            try:
                deadline = clock() + RUN_BUDGET_NS
                for i in range(warmup, warmup + rounds):
                    expected = self.mark(i)
                    started = clock()
                    self.hand_over()
                    reply = self.answer()
                    ended = clock()
                    samples.append(ended - started)
                    self._check(reply, expected)
                    if len(samples) >= MIN_ROUNDS and ended > deadline:
                        break
            finally:
                if gc_was_enabled:
                    gc.enable()
        except BaseException:
            self.abort()
            raise
        finally:
            self.stop()
        return samples

    def _check(self, reply: object, expected: int) -> None:
        if reply != expected:
            raise RuntimeError(f"the worker answered {reply!r}, expected {expected!r}")


# --- ours -----------------------------------------------------------------------------------------

# The worker interpreter's whole program; `requests` and `replies` are bound by run(**shared). The
# loop ends when the main thread closes its send end of `requests`.
OURS_SOURCE = """\
for a in requests:
    with memoryview(a) as m:
        x = m[-1]
    del a
    replies.send(x)
"""


class Subinterpreters(HandOver):
    """A SharedArray sent through a channel to a worker interpreter (own GIL) on its own thread."""

    key = "ours"
    name = "subinterpreters  send(SharedArray)"

    def open(self) -> None:
        try:
            import subinterpreters
        except ImportError as exc:
            raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
        if not hasattr(subinterpreters, "SharedArray"):
            version = subinterpreters.__version__
            raise Unavailable(f"subinterpreters {version} has no SharedArray; run `make bench`")
        self.si = subinterpreters
        self.interp = subinterpreters.create()

    def make(self, nbytes: int) -> object:
        array = self.si.SharedArray(nbytes, "B")
        return array, memoryview(array)  # the main thread's writable view, for the markers

    def free(self, data: object) -> None:
        data[1].release()  # type: ignore[index]

    def select(self, data: object) -> None:
        self.array, self.view = data if data is not None else (None, None)  # type: ignore[misc]

    def start(self) -> None:
        self.requests_recv, self.requests_send = self.si.create_channel()
        self.replies_recv, self.replies_send = self.si.create_channel()
        requests, replies = self.requests_recv, self.replies_send

        def work() -> None:
            try:
                self.interp.run(OURS_SOURCE, requests=requests, replies=replies)
            except BaseException:
                requests.close()  # wakes the main thread: its send() or recv() raises
                replies.close()
                raise

        self.worker = _PeerThread(work, name="handover-subinterpreter")
        self.worker.start()

    def abort(self) -> None:
        self.replies_recv.close()  # wakes the worker if it is blocked replying

    def stop(self) -> None:
        self.requests_send.close()  # ends the worker's `for` loop
        self.worker.join(timeout=10)
        for end in (self.requests_recv, self.replies_recv, self.replies_send):
            end.close()
        if self.worker.is_alive():
            raise RuntimeError("the worker interpreter did not stop after its channel was closed")
        if self.worker.error is not None:
            raise RuntimeError(f"the worker interpreter failed: {self.worker.error!r}")

    def mark(self, i: int) -> int:
        self.view[-1] = value = marker(i)
        return value

    def hand_over(self) -> None:
        self.requests_send.send(self.array)

    def answer(self) -> object:
        return self.replies_recv.recv()

    def close(self) -> None:
        self.unload()
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: CPython 3.13's send_buffer -----------------------------------------------------------

# Their RecvChannel is not iterable: None ends the loop. The view is released at once, so that the
# bytearray is not held between rounds.
CPYTHON_SOURCE = """\
while (a := requests.recv()) is not None:
    x = a[-1]
    a.release()
    del a
    replies.send(x)
"""


class CPythonSendBuffer(HandOver):
    """A bytearray handed over with `send_buffer()` of `test.support.interpreters.channels`.

    Their `recv()` polls: it tries once, then sleeps 10 ms and tries again. Their blocking
    `send_buffer()` returns once the worker took the buffer, which in this round trip usually lets
    each `recv()` find its object already there (with `send_buffer_nowait()` every round pays the
    sleep). The worker gets a read-only memoryview of the bytearray: no copy.
    """

    key = "cpython"
    name = "CPython channels send_buffer(bytearray)"
    send_timeout = 60  # s

    def open(self) -> None:
        try:
            from test.support import interpreters
            from test.support.interpreters import channels
        except ImportError as exc:
            version = "%d.%d" % sys.version_info[:2]
            reason = f"test.support.interpreters.channels is missing on {version}"
            raise Unavailable(reason) from exc
        if not hasattr(channels.SendChannel, "send_buffer"):
            raise Unavailable("this CPython's channels have no send_buffer()")
        self.channels = channels
        self.interp = interpreters.create()

    def make(self, nbytes: int) -> object:
        return bytearray(nbytes)

    def start(self) -> None:
        self.requests_recv, self.requests_send = self.channels.create()
        self.replies_recv, self.replies_send = self.channels.create()
        self.interp.prepare_main(requests=self.requests_recv, replies=self.replies_send)
        replies = self.replies_send

        def work() -> None:
            try:
                self.interp.exec(CPYTHON_SOURCE)
            except BaseException:
                replies.send_nowait(None)  # wakes the main thread: the answer check then fails
                raise

        self.worker = _PeerThread(work, name="handover-cpython-channels")
        self.worker.start()

    def abort(self) -> None:
        try:
            self.replies_recv.close()  # wakes the worker if it is blocked replying
        except self.channels.ChannelError:
            pass

    def stop(self) -> None:
        self.requests_send.send_nowait(None)  # ends the worker's loop
        self.worker.join(timeout=10)
        for end in (self.requests_recv, self.requests_send, self.replies_recv, self.replies_send):
            try:
                end.close()
            except self.channels.ChannelError:
                pass  # already closed or gone
        if self.worker.is_alive():
            raise RuntimeError("the worker interpreter did not stop")
        if self.worker.error is not None:
            raise RuntimeError(f"the worker interpreter failed: {self.worker.error!r}")

    def mark(self, i: int) -> int:
        self.data[-1] = value = marker(i)
        return value

    def hand_over(self) -> None:
        # The timeout costs nothing on the way (their blocking wait takes one either way) and
        # turns a dead worker into a TimeoutError instead of a hang.
        self.requests_send.send_buffer(self.data, timeout=self.send_timeout)

    def answer(self) -> object:
        return self.replies_recv.recv()

    def close(self) -> None:
        self.unload()
        if hasattr(self, "interp"):
            self.interp.close()


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
        self.process = context.Process(
            target=queue_reader, args=(self.requests, self.replies), daemon=True
        )
        self.process.start()
        wait_ready(self.process, lambda timeout: self.replies.get(timeout=timeout), queue.Empty,
                   "multiprocessing.Queue")

    def make(self, nbytes: int) -> object:
        return bytes(nbytes - 1) + bytes([self.fixed])

    def mark(self, i: int) -> int:
        return self.fixed

    def hand_over(self) -> None:
        self.requests.put(self.data)

    def answer(self) -> object:
        return self.replies.get(timeout=60)  # queue.Empty rather than a hang if the child died

    def close(self) -> None:
        self.unload()
        if hasattr(self, "process"):
            try:
                self.requests.put(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
            for q in (self.requests, self.replies):
                q.close()
                q.join_thread()


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

    def make(self, nbytes: int) -> object:
        shm = self.shared_memory.SharedMemory(create=True, size=nbytes)
        return shm, (shm.name, nbytes - 1)  # the segment and the request the child gets

    def free(self, data: object) -> None:
        shm = data[0]  # type: ignore[index]
        shm.close()
        shm.unlink()

    def select(self, data: object) -> None:
        self.shm, self.request = data if data is not None else (None, None)  # type: ignore[misc]

    def mark(self, i: int) -> int:
        self.shm.buf[self.request[1]] = value = marker(i)
        return value

    def hand_over(self) -> None:
        self.conn.send(self.request)

    def answer(self) -> object:
        return self.conn.recv()  # EOFError if the child died

    def close(self) -> None:
        self.unload()
        if hasattr(self, "process"):
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.kill()
            self.conn.close()


def all_handovers() -> list[HandOver]:
    """Ours first (the baseline), then the anchors."""
    return [Subinterpreters(), CPythonSendBuffer(), MultiprocessingQueue(), SharedMemory()]
