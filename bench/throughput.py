"""One-way throughput of small ints (issue 3): a producer sends the ints 0, 1, ..., n-1 and then
None to the main thread, which takes them one by one (or a batch at a time), counting and summing
them until the None. A pass is timed from the moment the producer is started (or told to go) until
the main thread has taken the None (measure.time_rounds: one untimed pass of a tenth as many items,
then the timed one); the count and the sum are then checked, so that a lost or duplicated item
fails the run instead of making it look fast. The producers:

* subinterpreters: a worker interpreter (own GIL) on its own thread, `put_nowait()` on an unbounded
  queue, the main thread `get()`; and batched: `put_many()` of chunks, the main thread `get_many()`;
* the stdlib's queues (anchors.py), same shape: CPython 3.13's with `syncobj=True` (ints shared
  natively, as ours) and with their default (every object pickled); CPython 3.14's
  `concurrent.interpreters` queues (ints shared natively);
* a child process (spawn) over `multiprocessing.Queue`;
* a thread of this interpreter over `queue.Queue`.

Targets: item by item at least 5x CPython 3.13's queues (3.13 runs) or 10x 3.14's (3.14+ runs), and
15x multiprocessing.Queue; batched at least 4x our own item-by-item rate.

This module imports nothing heavy at the top: the multiprocessing child (spawned) imports it.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable
from typing import Any

import anchors
import report
from measure import Bench, PeerThread, Row, Workload, import_ours, stop_child, time_rounds

STDLIB_TARGET = 10.0 if anchors.PUBLIC else 5.0  # ours item by item vs the stdlib's queues
MP_QUEUE_TARGET = 15.0  # ours item by item at least this many times multiprocessing.Queue
BATCH_TARGET = 4.0  # ours batched at least this many times ours item by item

# The producer's program in a worker interpreter; `q`, `n` (and `batch`) are bound as globals.
ITEM_SOURCE = "put = q.put_nowait\nfor i in range(n):\n    put(i)\nput(None)\n"
BATCH_SOURCE = (
    "put_many = q.put_many\n"
    "for start in range(0, n, batch):\n"
    "    put_many(range(start, min(start + batch, n)))\n"
    "q.put(None)\n"
)

Pass = tuple[Callable[[], object], Callable[[], tuple[int, int]]]  # (go, consume)


def consume_items(get: Callable[[], Any]) -> tuple[int, int]:
    """Take items one by one until None; return how many there were and their sum."""
    count = total = 0
    while (x := get()) is not None:
        count += 1
        total += x
    return count, total


def consume_batches(get_many: Callable[[int], list[Any]], batch: int) -> tuple[int, int]:
    """Take batches until one ends with None; return how many items there were and their sum."""
    count = total = 0
    while True:
        items = get_many(batch)
        done = bool(items) and items[-1] is None
        if done:
            items.pop()
        count += len(items)
        total += sum(items)
        if done:
            return count, total


class Producer(Workload):
    """One transport. `begin(n)` sets up a pass of n items (untimed) and returns its timed part:
    `go()` (start or tell the producer) then `consume()`; `end(failed)` after the pass."""

    share = 1.0  # fraction of --items this (slower) transport runs, so a pass stays short
    worker: PeerThread | None = None

    def items_for(self, items: int) -> int:
        return max(1000, int(items * self.share))

    def begin(self, n: int) -> Pass:
        raise NotImplementedError

    def end(self, failed: bool) -> None:
        """Wait for the producer thread (if any); a failed pass does not raise again."""
        if self.worker is not None:
            if failed:
                self.worker.join(timeout=10)
            else:
                self.worker.finish(f"producer of {self.name.strip()}")
            self.worker = None

    def measure(self, n: int, warmup: int) -> list[int]:
        """An untimed pass of `warmup` items, then a timed one of `n`."""
        sizes = (warmup, n)
        failed = True

        def check(i: int, result: object, _pass: object) -> None:
            self.end(failed=False)
            count, total = result  # type: ignore[misc]
            want = sizes[i]
            if count != want or total != want * (want - 1) // 2:
                raise RuntimeError(
                    f"{self.name.strip()}: the consumer got {count} items summing to {total}, "
                    f"expected {want} items summing to {want * (want - 1) // 2}"
                )

        def timed(part: Pass) -> tuple[int, int]:
            part[0]()
            return part[1]()

        try:
            samples = time_rounds(timed, 1, 1, prepare=lambda i: self.begin(sizes[i]), check=check)
            failed = False
            return samples
        finally:
            if failed:
                self.end(failed=True)

    def thread_pass(
        self,
        run_producer: Callable[[], object],
        on_error: Callable[[], object],
        consume: Callable[[], tuple[int, int]],
    ) -> Pass:
        """A pass whose producer runs on a thread (an interpreter's run or exec, or plain Python):
        on an error it calls `on_error` (so that the main thread is not left waiting) and
        re-raises."""

        def produce() -> None:
            try:
                run_producer()
            except BaseException:
                on_error()
                raise

        self.worker = PeerThread(produce, name=f"producer-{self.key}")
        return self.worker.start, consume


# --- ours -----------------------------------------------------------------------------------------


class Ours(Producer):
    """A worker interpreter (own GIL) on its own thread puts; the main thread gets."""

    camp = "ours"

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
        self.si = import_ours()
        self.interp = self.si.create()

    def begin(self, n: int) -> Pass:
        self.q = q = self.si.create_queue()
        source = BATCH_SOURCE if self.batched else ITEM_SOURCE
        if self.batched:
            consume = lambda: consume_batches(q.get_many, self.batch)  # noqa: E731
        else:
            consume = lambda: consume_items(q.get)  # noqa: E731
        # On an error, closing the queue wakes the main thread: its get() raises.
        return self.thread_pass(lambda: self.interp.run(source, q=q, n=n, batch=self.batch), q.close, consume)

    def end(self, failed: bool) -> None:
        self.q.close()
        super().end(failed)

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: the stdlib's queues ------------------------------------------------------------------


class Stdlib(Producer):
    """The same producer over the stdlib's queues (anchors.py). Their `get()` polls: it tries once,
    then sleeps 10 ms and tries again."""

    camp = "stdlib"

    def __init__(self, pickled: bool = False) -> None:
        self.pickled = pickled
        if pickled:
            self.key = "stdlib-pickled"
            self.name = "  the same, default (pickles)"
            self.share = 0.5
        else:
            self.key = "stdlib"
            self.name = f"{anchors.PREFIX} queue put_nowait()/get()"

    def open(self) -> None:
        self.interp = anchors.interpreters().create()

    def begin(self, n: int) -> Pass:
        q = anchors.create_queue(self.pickled)
        anchors.bind(self.interp, q=q, n=n)
        # On an error, a None ends the main thread's loop (the count check then fails).
        return self.thread_pass(
            lambda: self.interp.exec(ITEM_SOURCE), lambda: q.put_nowait(None), lambda: consume_items(q.get)
        )

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()


# --- anchor: multiprocessing.Queue ----------------------------------------------------------------


def put_all(put: Callable[[Any], object], n: int) -> None:
    """A plain Python producer: the ints 0..n-1, then None (even if a put fails)."""
    try:
        for i in range(n):
            put(i)
    finally:
        put(None)


def mp_producer(conn: Any, q: Any) -> None:  # runs in the child process
    while (n := conn.recv()) is not None:
        put_all(q.put, n)


class MultiprocessingQueue(Producer):
    """The same producer in a child process (spawn) over `multiprocessing.Queue`; the child lives
    across the runs and is told how many to put."""

    key = "mp"
    name = "multiprocessing.Queue put()/get()"
    camp = "process"
    share = 0.25

    def open(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(target=mp_producer, args=(child_conn, self.queue), daemon=True)
        self.process.start()
        child_conn.close()

    def begin(self, n: int) -> Pass:
        return lambda: self.conn.send(n), lambda: consume_items(self.queue.get)

    def close(self) -> None:
        if hasattr(self, "process"):
            stop_child(self.process, lambda: self.conn.send(None), self.conn, self.queue)


# --- anchor: queue.Queue --------------------------------------------------------------------------


class ThreadQueue(Producer):
    """The same producer on a thread of this interpreter (one GIL) over `queue.Queue`."""

    key = "queue"
    name = "queue.Queue      put()/get()"
    camp = "thread"

    def begin(self, n: int) -> Pass:
        q: queue.Queue[int | None] = queue.Queue()
        return self.thread_pass(lambda: put_all(q.put, n), lambda: None, lambda: consume_items(q.get))


# --- the table ------------------------------------------------------------------------------------


def producers(batch: int) -> list[Producer]:
    """Ours first (the baselines), then the anchors this Python has."""
    stdlib = [Stdlib()] if anchors.PUBLIC else [Stdlib(), Stdlib(pickled=True)]
    return [
        Ours(batched=False, batch=batch),
        Ours(batched=True, batch=batch),
        *stdlib,
        MultiprocessingQueue(),
        ThreadQueue(),
    ]


def run(bench: Bench) -> None:
    rows = []
    for producer in producers(bench.args.batch):
        n = producer.items_for(bench.args.items)
        warmup = max(1000, n // 10)
        rows.append(
            Row(
                producer,
                lambda p=producer, n=n, w=warmup: p.measure(n, w),
                what=f"{warmup} + {n} items",
                per_round=n,
            )
        )
    elapsed = bench.measure("throughput", rows)
    by_key = {row.workload.key: row for row in rows}
    item = by_key["ours-item"]
    section = report.Section(
        "One-way throughput of small ints, producer to main thread",
        "rate",
        "ours item by item",
        short="Throughput of small ints, item by item",
        notes=[
            f"items/s: items / (first put started .. last get), median over the runs; every "
            f"item counted and summed; batches of {bench.args.batch}",
            "runs x rounds: one timed pass per run (after an untimed one of a tenth as many items)",
            anchors.queue_sleeps(),
        ],
    )
    for row in rows:
        shown = report.entry(row, item, kind="rate")
        shown.key = row.workload.key not in ("ours-batch", "stdlib-pickled")
        section.entries.append(shown)
    bench.publish(section, elapsed)
    bench.check_ours(rows)
    bench.targets(
        "issue 3, throughput",
        [
            stdlib_goal(bench),
            report.goal(
                "ours item by item / multiprocessing.Queue, rate",
                *report.ratio(item, by_key["mp"], "rate"),
                MP_QUEUE_TARGET,
            ),
            report.goal(
                "ours batched / ours item by item, rate",
                *report.ratio(by_key["ours-batch"], item, "rate"),
                BATCH_TARGET,
            ),
        ],
    )


def stdlib_goal(bench: Bench, where: str = "") -> str:
    """Ours item by item against the stdlib's queues: 5x on 3.13, 10x on 3.14+ (also a target of
    the real-programs table)."""
    label = f"ours item by item / {anchors.PREFIX} queues, rate{where}"
    return report.goal(
        label,
        *report.ratio(bench.row("throughput/ours-item"), bench.row("throughput/stdlib"), "rate"),
        STDLIB_TARGET,
    )
