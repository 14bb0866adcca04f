"""The one-way throughput workloads that run.py times: ours and the anchors.

A producer sends the ints 0, 1, ..., n-1 and then None to the main thread of the main interpreter,
which takes them one by one (or a batch at a time), counting them and summing them until the None.
A pass is timed with `time.perf_counter_ns` from the moment the producer is started (or told to go)
until the main thread has taken the None; the count and the sum are then checked, so that a lost or
duplicated item fails the run instead of making it look fast. The producers:

* subinterpreters: a worker interpreter (own GIL) on its own thread, `put_nowait()` on an unbounded
  queue, the main thread `get()`; and batched: `put_many()` of chunks, the main thread `get_many()`;
* CPython 3.13's own queues (`test.support.interpreters.queues`), same shape, with `syncobj=True`
  (ints are shared natively, as ours does) and with their default (every object pickled);
* a child process (spawn) over `multiprocessing.Queue`;
* a thread of this interpreter over `queue.Queue`.

This module imports nothing heavy at the top: the multiprocessing child (spawned) imports it.
"""

from __future__ import annotations

import gc
import multiprocessing
import queue
import sys
import threading
import time
from collections.abc import Callable

from workloads import Unavailable, _PeerThread

# The producer's program in a worker interpreter; `q`, `n` (and `batch`) are bound as globals.
ITEM_SOURCE = "put = q.put_nowait\nfor i in range(n):\n    put(i)\nput(None)\n"
BATCH_SOURCE = (
    "put_many = q.put_many\n"
    "for start in range(0, n, batch):\n"
    "    put_many(range(start, min(start + batch, n)))\n"
    "q.put(None)\n"
)


def consume_items(get: Callable[[], object]) -> tuple[int, int]:
    """Take items one by one until None; return how many there were and their sum."""
    count = total = 0
    while (x := get()) is not None:
        count += 1
        total += x  # type: ignore[operator]
    return count, total


def consume_batches(get_many: Callable[[int], list], batch: int) -> tuple[int, int]:
    """Take batches until one ends with None; return how many items there were and their sum."""
    count = total = 0
    while True:
        items = get_many(batch)
        if items and items[-1] is None:
            items.pop()
            count += len(items)
            total += sum(items)
            return count, total
        count += len(items)
        total += sum(items)


def check(name: str, n: int, count: int, total: int) -> None:
    """Fail loudly unless exactly the ints 0..n-1 arrived (count and sum)."""
    if count != n or total != n * (n - 1) // 2:
        raise RuntimeError(
            f"{name}: the consumer got {count} items summing to {total}, "
            f"expected {n} items summing to {n * (n - 1) // 2}"
        )


def timed(run_pass: Callable[[], tuple[int, int]]) -> tuple[int, int, int]:
    """Run one pass with the collector off (as timeit does); return (ns, count, total)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter_ns()
        count, total = run_pass()
        elapsed = time.perf_counter_ns() - started
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed, count, total


class Throughput:
    """One transport. `open()` once, `measure()` once per repeat, `close()` at the end."""

    key: str  # "ours-item", "ours-batch", "cpython-shared", "cpython-pickled", "mp", "queue"
    name: str  # the row label
    share: float = 1.0  # fraction of --items this (slower) transport runs, so a pass stays short

    def items_for(self, items: int) -> int:
        return max(1000, int(items * self.share))

    def open(self) -> None:
        pass

    def measure(self, n: int, warmup: int) -> int:
        """An untimed pass of `warmup` items, then a timed one of `n`; return its ns."""
        self.one_pass(warmup)
        return self.one_pass(n)

    def one_pass(self, n: int) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _finish(worker: _PeerThread, what: str) -> None:
    worker.join(timeout=30)
    if worker.is_alive():
        raise RuntimeError(f"the {what} did not stop")
    if worker.error is not None:
        raise RuntimeError(f"the {what} failed: {worker.error!r}")


# --- ours -----------------------------------------------------------------------------------------


class OursThroughput(Throughput):
    """A worker interpreter (own GIL) on its own thread puts; the main thread gets."""

    def __init__(self, batched: bool, batch: int) -> None:
        self.batched = batched
        self.batch = batch
        if batched:
            self.key = "ours-batch"
            self.name = f"subinterpreters  put_many()/get_many({batch})"
        else:
            self.key = "ours-item"
            self.name = "subinterpreters  put_nowait()/get()"

    def open(self) -> None:
        try:
            import subinterpreters
        except ImportError as exc:
            raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
        self.si = subinterpreters
        self.interp = subinterpreters.create()

    def one_pass(self, n: int) -> int:
        q = self.si.create_queue()
        source = BATCH_SOURCE if self.batched else ITEM_SOURCE

        def produce() -> None:
            try:
                self.interp.run(source, q=q, n=n, batch=self.batch)
            except BaseException:
                q.close()  # wakes the main thread: its get() raises QueueClosedError
                raise

        worker = _PeerThread(produce, name="producer-subinterpreter")
        if self.batched:
            consume = lambda: consume_batches(q.get_many, self.batch)  # noqa: E731
        else:
            consume = lambda: consume_items(q.get)  # noqa: E731

        def run_pass() -> tuple[int, int]:
            worker.start()
            return consume()

        try:
            elapsed, count, total = timed(run_pass)
        except self.si.QueueClosedError:
            _finish(worker, "producer interpreter")
            raise
        finally:
            q.close()
        _finish(worker, "producer interpreter")
        check(self.name, n, count, total)
        return elapsed

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: CPython 3.13's own queues ------------------------------------------------------------


class CPythonQueues(Throughput):
    """The same producer over `test.support.interpreters.queues` (CPython 3.13's private module).

    Their `get()` polls: it tries once, then sleeps 10 ms and tries again; their `put_nowait()`
    pickles every object unless the queue was created with `syncobj=True`.
    """

    def __init__(self, syncobj: bool) -> None:
        self.syncobj = syncobj
        if syncobj:
            self.key = "cpython-shared"
            self.name = "CPython queues   put_nowait()/get()"
        else:
            self.key = "cpython-pickled"
            self.name = "  the same, default (pickles)"
            self.share = 0.5

    def open(self) -> None:
        try:
            from test.support import interpreters
            from test.support.interpreters import queues
        except ImportError as exc:
            version = "%d.%d" % sys.version_info[:2]
            reason = f"test.support.interpreters.queues is missing on {version}"
            raise Unavailable(reason) from exc
        self.queues = queues
        self.interp = interpreters.create()
        # Binding a queue in __main__ needs the module imported in the interpreter first.
        self.interp.exec("from test.support.interpreters import queues")

    def one_pass(self, n: int) -> int:
        q = self.queues.create(0, syncobj=self.syncobj)
        self.interp.prepare_main(q=q, n=n)

        def produce() -> None:
            try:
                self.interp.exec(ITEM_SOURCE)
            except BaseException:
                q.put_nowait(None)  # ends the main thread's loop; the count check then fails
                raise

        worker = _PeerThread(produce, name="producer-cpython-queues")

        def run_pass() -> tuple[int, int]:
            worker.start()
            return consume_items(q.get)

        elapsed, count, total = timed(run_pass)
        _finish(worker, "producer interpreter")
        check(self.name.strip(), n, count, total)
        return elapsed

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: multiprocessing.Queue ----------------------------------------------------------------


def mp_producer(conn, q) -> None:  # runs in the child process
    while (n := conn.recv()) is not None:
        put = q.put
        try:
            for i in range(n):
                put(i)
        finally:
            put(None)


class MultiprocessingQueue(Throughput):
    """The same producer in a child process (spawn) over `multiprocessing.Queue`."""

    key = "mp"
    name = "multiprocessing.Queue put()/get()"
    share = 0.25

    def open(self) -> None:
        # "spawn", as for the Pipe; the child lives across the runs and is told how many to put.
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=mp_producer, args=(child_conn, self.queue), daemon=True
        )
        self.process.start()
        child_conn.close()

    def one_pass(self, n: int) -> int:
        def run_pass() -> tuple[int, int]:
            self.conn.send(n)
            return consume_items(self.queue.get)

        elapsed, count, total = timed(run_pass)
        check(self.name, n, count, total)
        return elapsed

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
            self.queue.close()
            self.queue.join_thread()


# --- anchor: queue.Queue --------------------------------------------------------------------------


class ThreadQueue(Throughput):
    """The same producer on a thread of this interpreter (one GIL) over `queue.Queue`."""

    key = "queue"
    name = "queue.Queue      put()/get()"

    def one_pass(self, n: int) -> int:
        q: queue.Queue[int | None] = queue.Queue()

        def produce() -> None:
            put = q.put
            try:
                for i in range(n):
                    put(i)
            finally:
                put(None)

        worker = _PeerThread(produce, name="producer-thread")

        def run_pass() -> tuple[int, int]:
            worker.start()
            return consume_items(q.get)

        elapsed, count, total = timed(run_pass)
        _finish(worker, "producer thread")
        check(self.name, n, count, total)
        return elapsed


def all_throughputs(batch: int) -> list[Throughput]:
    """Ours first (the baselines), then the anchors."""
    return [
        OursThroughput(batched=False, batch=batch),
        OursThroughput(batched=True, batch=batch),
        CPythonQueues(syncobj=True),
        CPythonQueues(syncobj=False),
        MultiprocessingQueue(),
        ThreadQueue(),
    ]
