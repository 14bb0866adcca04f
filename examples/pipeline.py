"""A CSP pipeline over isolated interpreters, timed against the same pipeline on threads.

    producer ──tasks──▶ worker interpreter 1 ─┐
      (thread)     ├──▶ worker interpreter 2 ─┼──results──▶ collector (main thread)
                   └──▶ ...          N ───────┘

* The producer (a thread of the main interpreter) sends work items through the `tasks` channel and
  closes its end after the last one.
* Each worker is an isolated interpreter, with its own GIL, driven by its own thread:
  ``interp.run(WORKER_SOURCE, tasks=..., results=..., worker_id=...)``. It loops with
  ``for item in tasks:`` (the loop ends once the channel is closed and drained) and sends each
  result with ``results.send(...)``, which returns when the collector has taken it.
* The collector (the main thread) knows how many results to expect, shows progress, and checks each
  result against an independent computation.

The work is CPU-bound pure Python: counting the primes in a range by trial division. The same
pipeline is then built from `queue.Queue` and `threading.Thread` in this one interpreter, where the
single GIL lets only one thread run Python code at a time, and both wall times are printed.

Run it with ``make demo``, or ``python examples/pipeline.py --help`` once the package is installed.
Exit status: 0 when every result is right, 1 when a result is wrong, 2 when the pipeline failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from itertools import compress
from math import isqrt

import subinterpreters as si

# The work, as source text: every worker interpreter runs it, and the thread version execs the very
# same text, so both pipelines execute identical code.
PRIME_SOURCE = """
def count_primes(lo, hi):
    '''Count the primes p with lo <= p < hi by trial division (deliberately CPU-bound).'''
    count = 0
    for n in range(max(lo, 2), hi):
        if n < 4:
            count += 1
        elif n % 2:
            d = 3
            while d * d <= n:
                if n % d == 0:
                    break
                d += 2
            else:
                count += 1
    return count
"""

# What each worker interpreter runs. `tasks`, `results` and `worker_id` are globals of the
# interpreter's __main__, bound by `Interpreter.run(..., tasks=..., results=..., worker_id=...)`.
WORKER_SOURCE = (
    PRIME_SOURCE
    + """
for index, lo, hi in tasks:          # ends when the producer has closed `tasks` and it is drained
    results.send((index, worker_id, count_primes(lo, hi)))
"""
)

Item = tuple[int, int, int]  # (index, lo, hi): count the primes in [lo, hi)
Result = tuple[int, int, int]  # (index, worker_id, prime count)


# --- the pipeline on isolated interpreters --------------------------------------------------------


def run_on_interpreters(items: list[Item], workers: int) -> tuple[dict[int, Result], float]:
    """Run the pipeline on `workers` isolated interpreters; return the results and the time spent
    creating the interpreters (included in the caller's wall time)."""
    tasks_recv, tasks_send = si.create_channel()
    results_recv, results_send = si.create_channel()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                tasks_send.send(item)  # rendezvous: returns once a worker has taken the item
        except si.ChannelClosedError:
            pass  # the collector gave up and closed the channel
        finally:
            tasks_send.close()  # end of stream: the workers' `for` loops end once drained

    def work(interp: si.Interpreter, worker_id: int) -> None:
        try:
            # Runs WORKER_SOURCE in the worker interpreter, on this thread; this thread's hold on
            # the main GIL is released meanwhile, so the workers really run in parallel.
            interp.run(WORKER_SOURCE, tasks=tasks_recv, results=results_send, worker_id=worker_id)
        except si.RunFailedError as exc:
            failures.append(exc)

    with ExitStack() as stack:  # closes, in reverse order: the interpreters, then the channel ends
        for end in (tasks_recv, tasks_send, results_recv, results_send):
            stack.enter_context(end)
        started = time.perf_counter()
        interps = [stack.enter_context(si.create()) for _ in range(workers)]
        creation = time.perf_counter() - started

        threads = [threading.Thread(target=produce, name="producer")]
        threads += [
            threading.Thread(target=work, args=(interp, worker_id), name=f"worker-{worker_id}")
            for worker_id, interp in enumerate(interps)
        ]
        try:
            for thread in threads:
                thread.start()
            results = collect(results_recv.recv, len(items), "interpreters", threads, failures)
        except BaseException:
            # Wake every blocked producer and worker with ChannelClosedError so they stop.
            tasks_recv.close()
            results_recv.close()
            raise
        finally:
            for thread in threads:
                if thread.ident is not None:  # started
                    thread.join()  # an interpreter cannot be closed while it runs code
    return results, creation


# --- the same pipeline on threads (one interpreter, one GIL) --------------------------------------


def run_on_threads(items: list[Item], workers: int) -> dict[int, Result]:
    """Run the pipeline on `workers` threads of this interpreter, connected by queue.Queue."""
    namespace: dict[str, object] = {}
    exec(PRIME_SOURCE, namespace)  # the same code the interpreters run
    count_primes = namespace["count_primes"]
    tasks: queue.Queue[Item | None] = queue.Queue(maxsize=workers)
    results: queue.Queue[Result] = queue.Queue()
    failures: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        for item in [*items, *[None] * workers]:  # one None per worker marks the end of stream
            while not stop.is_set():
                try:
                    tasks.put(item, timeout=0.1)
                    break
                except queue.Full:
                    pass

    def work(worker_id: int) -> None:
        try:
            for index, lo, hi in iter(tasks.get, None):
                if stop.is_set():
                    return
                results.put((index, worker_id, count_primes(lo, hi)))  # type: ignore[operator]
        except Exception as exc:
            failures.append(exc)

    def receive(timeout: float) -> Result:
        try:
            return results.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None

    threads = [threading.Thread(target=produce, name="producer")]
    threads += [threading.Thread(target=work, args=(i,), name=f"worker-{i}") for i in range(workers)]
    try:
        for thread in threads:
            thread.start()
        return collect(receive, len(items), "threads", threads, failures)
    except BaseException:
        stop.set()
        for _ in range(workers):  # unblock workers waiting for an item
            try:
                tasks.put_nowait(None)
            except queue.Full:
                break
        raise
    finally:
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join()


# --- collector, progress and check ----------------------------------------------------------------


def collect(
    receive: Callable[[float], Result],
    expected: int,
    label: str,
    threads: list[threading.Thread],
    failures: list[BaseException],
) -> dict[int, Result]:
    """Receive `expected` results (keyed by item index), updating a progress line as they arrive."""
    results: dict[int, Result] = {}
    progress = Progress(label, expected)
    while len(results) < expected:
        try:
            index, worker_id, count = receive(0.5)  # wake up now and then to notice dead workers
        except TimeoutError:
            if failures:
                raise RuntimeError(f"a worker ({label}) failed:\n{failures[0]}") from failures[0]
            if not any(thread.is_alive() for thread in threads):
                raise RuntimeError(f"the {label} workers stopped after {len(results)} results") from None
            progress.show(len(results))
            continue
        if index in results:
            raise RuntimeError(f"item {index} was delivered twice")
        results[index] = (index, worker_id, count)
        progress.show(len(results))
    progress.done()
    return results


class Progress:
    """A progress line, redrawn in place on a terminal (every 25% otherwise)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.started = time.perf_counter()
        self.tty = sys.stdout.isatty()
        self.last_quarter = -1

    def show(self, done: int) -> None:
        width = 24
        filled = width * done // self.total
        line = (
            f"  {self.label:<13}[{'#' * filled}{'.' * (width - filled)}] "
            f"{done:>{len(str(self.total))}}/{self.total} items  "
            f"{time.perf_counter() - self.started:5.1f} s"
        )
        if self.tty:
            print("\r" + line, end="", flush=True)
        elif 4 * done // self.total > self.last_quarter:
            self.last_quarter = 4 * done // self.total
            print(line, flush=True)

    def done(self) -> None:
        self.show(self.total)
        if self.tty:
            print()


def sieve_count(lo: int, hi: int) -> int:
    """Count the primes in [lo, hi) with a segmented sieve of Eratosthenes: a check that shares no
    code with the trial division the workers run."""
    lo = max(lo, 2)
    if hi <= lo:
        return 0
    limit = isqrt(hi - 1)
    small = bytearray([1]) * (limit + 1)
    small[:2] = b"\0\0"
    for p in range(2, isqrt(limit) + 1):
        if small[p]:
            small[p * p :: p] = bytes(len(range(p * p, limit + 1, p)))
    segment = bytearray([1]) * (hi - lo)
    for p in compress(range(limit + 1), small):
        first = max(p * p, -(-lo // p) * p)  # first multiple of p in range, never p itself
        segment[first - lo :: p] = bytes(len(range(first - lo, hi - lo, p)))
    return segment.count(1)


def check(results: dict[int, Result], expected: list[int]) -> list[str]:
    """Describe every missing or wrong result (an empty list: all right)."""
    problems = []
    for index, want in enumerate(expected):
        if index not in results:
            problems.append(f"item {index}: no result")
        elif results[index][2] != want:
            problems.append(f"item {index}: got {results[index][2]} primes, expected {want}")
    return problems


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def per_worker(results: Iterable[Result], workers: int) -> str:
    counts = Counter(worker_id for _, worker_id, _ in results)
    return ", ".join(str(counts[w]) for w in range(workers))


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
        return value

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers",
        type=positive,
        default=os.cpu_count() or 1,
        help="worker interpreters (and worker threads); default: the CPU count",
    )
    parser.add_argument("--items", type=positive, default=48, help="work items (default: 48)")
    parser.add_argument(
        "--size", type=positive, default=12_000, help="numbers tested per item (default: 12000)"
    )
    parser.add_argument(
        "--start", type=positive, default=10_000_000, help="first number tested (default: 10000000)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bounds = [args.start + i * args.size for i in range(args.items + 1)]
    items = [(i, bounds[i], bounds[i + 1]) for i in range(args.items)]
    print(
        f"CSP pipeline: {args.items} items (count the primes in [{args.start:,}, "
        f"{items[-1][2]:,}), {args.size:,} numbers per item) on "
        f"{plural(args.workers, 'worker')}; CPython {platform.python_version()}, "
        f"{plural(os.cpu_count() or 1, 'CPU')}"
    )
    expected = [sieve_count(lo, hi) for _, lo, hi in items]

    try:
        print("1. isolated interpreters, one per worker thread, joined by channels")
        started = time.perf_counter()
        on_interpreters, creation = run_on_interpreters(items, args.workers)
        interpreters_time = time.perf_counter() - started

        print("2. threads in this interpreter, joined by queue.Queue")
        started = time.perf_counter()
        on_threads = run_on_threads(items, args.workers)
        threads_time = time.perf_counter() - started
    except (RuntimeError, si.InterpreterError) as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the workers were released and joined on the way out
        print("\ninterrupted", file=sys.stderr)
        return 130

    problems = [f"interpreters, {p}" for p in check(on_interpreters, expected)]
    problems += [f"threads, {p}" for p in check(on_threads, expected)]
    print()
    for problem in problems:
        print(f"WRONG: {problem}")
    print(
        f"check:        {'all' if not problems else 'NOT all'} results match an independent sieve "
        f"({sum(expected):,} primes in {len(expected)} items)"
    )
    print(
        f"interpreters: {interpreters_time:6.2f} s  (incl. {creation:.2f} s to create "
        f"{plural(args.workers, 'interpreter')}; "
        f"items per worker: {per_worker(on_interpreters.values(), args.workers)})"
    )
    print(
        f"threads:      {threads_time:6.2f} s  "
        f"(items per worker: {per_worker(on_threads.values(), args.workers)})"
    )
    print(
        f"speedup:      {threads_time / interpreters_time:6.2f}x  (interpreters vs threads, "
        f"{plural(args.workers, 'worker')} on {plural(os.cpu_count() or 1, 'CPU')})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
