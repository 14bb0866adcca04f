"""The C API (issue 15, docs/c-api.md): small `bytes` items produced without a GIL by native code.

The C helper is the tests' extension (tests/capi_probe.c), built at the start of the table by the
tests' builder (tests/capi_build.py: the compiler called directly, into a temporary folder); where
no compiler or no CPython headers exist the rows say so ("n/a"). The rows:

* native producer: a native thread (a pthread that never ran Python) puts 1,000,000 items of 8 bytes
  with `put_bytes()` (non-blocking form) into an unbounded queue, while the main interpreter takes
  them with `Queue.get()`; timed from the thread's start until the main thread has taken the last;
* Python producer (the baseline): the same items put by `put_nowait()` in a worker interpreter (own
  GIL) on its own thread, taken the same way;
* native put/get pairs: native code alone, with no GIL, puts an 8-byte item and gets it back, a
  million times (timed in C, CLOCK_MONOTONIC), on one thread.

Every taken item is counted; a short count fails the run. Targets: at least 10 M put/get pairs per
second, and the native producer at least as fast as the Python producer (both feed the same Python
consumer, which bounds both rates).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import report
from measure import Bench, PeerThread, Row, Unavailable, Workload, import_ours, time_rounds

# The builder lives with the tests, which build the same extension.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import capi_build  # noqa: E402

ITEM_SIZE = 8
PAIRS_TARGET = 10e6  # put/get pairs per second, native code alone
PRODUCER_TARGET = 1.0  # native producer / Python producer, rate

PYTHON_PRODUCER = "put = q.put_nowait\nitem = bytes(size)\nfor _ in range(n):\n    put(item)\n"


def consume(get: Any, n: int) -> int:
    """Take n items one by one; return how many were bytes of the expected size."""
    good = 0
    for _ in range(n):
        good += len(get()) == ITEM_SIZE
    return good


class Probe(Workload):
    """The C helper, built once for the table (in a temporary folder, removed at the end)."""

    camp = "ours"

    def open(self) -> None:
        self.si = import_ours()
        self.folder = Path(tempfile.mkdtemp(prefix="bench-capi-"))
        try:
            self.probe = capi_build.build_probe(self.folder)
        except capi_build.CannotBuild as exc:
            raise Unavailable(f"cannot build the C helper: {exc}") from exc

    def close(self) -> None:
        if hasattr(self, "folder"):
            shutil.rmtree(self.folder, ignore_errors=True)


class NativeProducer(Probe):
    key = "native-producer"
    name = "native thread put_bytes() -> main get()"

    def run(self, n: int) -> list[int]:
        def timed(q: Any) -> int:
            handle = self.probe.handle(q)
            token = self.probe.start_producer(handle, n, ITEM_SIZE, 0.0)
            try:
                return consume(q.get, n)
            finally:
                rc, put, _, _ = self.probe.join(token)
                self.probe.release(handle)
                if rc != 0 or put != n:
                    raise RuntimeError(f"the native producer stopped with code {rc} after {put} items")

        return time_rounds(timed, 1, prepare=lambda _i: self.si.create_queue(), check=check(n))


class PythonProducer(Workload):
    key = "python-producer"
    name = "worker interpreter put_nowait() -> main get()"
    camp = "ours"

    def open(self) -> None:
        self.si = import_ours()
        self.interp = self.si.create()

    def close(self) -> None:
        if hasattr(self, "interp"):
            self.interp.close()

    def run(self, n: int) -> list[int]:
        def timed(q: Any) -> int:
            worker = PeerThread(
                lambda: self.interp.run(PYTHON_PRODUCER, q=q, n=n, size=ITEM_SIZE), "producer"
            )
            worker.start()
            try:
                return consume(q.get, n)
            finally:
                worker.finish("Python producer")

        return time_rounds(timed, 1, prepare=lambda _i: self.si.create_queue(), check=check(n))


class NativePairs(Probe):
    key = "native-pairs"
    name = "native put_bytes() + get() pairs, no GIL"

    def run(self, n: int) -> list[int]:
        q = self.si.create_queue()
        handle = self.probe.handle(q)
        try:
            rc, ns = self.probe.pairs(handle, n, ITEM_SIZE)
        finally:
            self.probe.release(handle)
        if rc != 0:
            raise RuntimeError(f"a put/get pair failed with code {rc}")
        return [ns]  # timed in C, around the loop alone


def check(n: int) -> Any:
    def checked(_i: int, good: object, _prepared: object) -> None:
        if good != n:
            raise RuntimeError(f"the consumer got {good} good items of {n}")

    return checked


def run(bench: Bench) -> None:
    n = 100_000 if bench.quick else 1_000_000
    native, python, pairs = NativeProducer(), PythonProducer(), NativePairs()
    rows = [
        Row(native, lambda: native.run(n), what=f"{n} items", per_round=n),
        Row(python, lambda: python.run(n), what=f"{n} items", per_round=n),
        Row(pairs, lambda: pairs.run(n), what=f"{n} pairs", per_round=n),
    ]
    elapsed = bench.measure("capi", rows)
    by_key = {row.workload.key: row for row in rows}
    section = report.Section(
        "C API: small bytes produced by native code without a GIL",
        "rate",
        "the Python producer",
        short="C API, native producer",
        notes=[
            f"items/s: {n:,} items of {ITEM_SIZE} bytes / (producer started .. last get), median over "
            "the runs; the pairs row: pairs / the C loop's own time",
            "the consumer of both producer rows is the main interpreter's Queue.get(): it bounds both",
        ],
    )
    for row in rows:
        shown = report.entry(row, by_key["python-producer"], kind="rate")
        shown.key = row.workload.key == "native-producer"
        section.entries.append(shown)
    bench.publish(section, elapsed)
    bench.check_ours(rows)
    bench.targets(
        "issue 15, C API",
        [
            report.rate_goal("native put/get pairs, no GIL, items/s", by_key["native-pairs"], PAIRS_TARGET),
            report.goal(
                "native producer / Python producer (Python consumer), rate",
                *report.ratio(by_key["native-producer"], by_key["python-producer"], "rate"),
                PRODUCER_TARGET,
            ),
        ],
    )
