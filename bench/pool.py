"""The interpreter-pool workloads that run.py times (issue 5): ours and the anchors.

Every workload is an executor of `os.cpu_count()` workers, made once and warmed up (every worker
started and the task module imported) before anything is timed, then used for:

* latency: `submit(pool_tasks.noop).result()`, one task at a time, each round trip timed with
  `time.perf_counter_ns`;
* `map(pool_tasks.square, range(10_000))` into a list (chunksize 1, and chunked where the executor
  honours chunksize), timed from the call until the list is complete; the results are checked;
* a CPU-bound `map(pool_tasks.spin, [n] * 4 * workers)`, each task a pure-Python loop calibrated
  to about 75 ms in the main thread, timed the same way; the same tasks run one after the other
  in the main thread give the serial time that the speedups are computed from;
* and for ours only: the main process's resident memory (/proc/self/statm) before and after
  100,000 trivial tasks (after a warm-up).

The executors:

* subinterpreters: `InterpreterPoolExecutor`, its initializer `site.addsitedir(bench/)` so that
  its interpreters can import `pool_tasks`;
* `concurrent.futures.ProcessPoolExecutor` with spawned children (as the other tables' children;
  spawn passes this process's sys.path, so they import `pool_tasks` by name);
* `concurrent.futures.ThreadPoolExecutor` (one GIL: no speedup expected on CPU-bound work);
* CPython 3.13's interpreters (`test.support.interpreters`) run through threading, the closest that
  3.13 has to an interpreter pool: a ThreadPoolExecutor whose every thread makes one interpreter
  (bench/ on its sys.path, `pool_tasks` imported) and runs each task in it with
  `Interpreter.call()`. 3.13's `call()` takes no arguments and drops the return value, and runs
  the function's code in the interpreter's `__main__`: the trivial task is `call(noop)` (which
  returns None anyway); a task with an argument binds the function's name and the argument in
  `__main__` with `prepare_main()`, then `call(pool_tasks.cpython_task)`, which puts the result
  on a queue of `test.support.interpreters.queues` (syncobj=True) that the thread takes back.

This module imports nothing heavy at the top: the ProcessPoolExecutor children (spawned) import
the main script, which imports it.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, wait
from typing import Any

import pool_tasks
from workloads import Unavailable

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
MAP_ITEMS = 10_000
MAP_CHUNKSIZE = 100  # the chunked map rows
CPU_TASK_NS = 75_000_000  # each CPU-bound task takes about this long in the main thread
CPU_TASKS_PER_WORKER = 4
RSS_TASKS = 100_000
RSS_WARMUP = 10_000
RSS_BATCH = 1_000  # trivial tasks submitted at once, then waited for, in the RSS measurement


def workers() -> int:
    return os.cpu_count() or 1


class PoolWorkload:
    """One executor. `open()` once (makes it and starts every worker), then `latency()`,
    `map_time()` and `cpu_time()` once per repeat each, `close()` at the end."""

    key: str  # "ours", "process", "thread", "cpython", "serial"
    name: str  # the row label
    honours_chunksize = True  # whether map(chunksize=...) sends items in chunks
    executor: Executor | None = None

    def open(self, count: int) -> None:
        self.executor = self.make(count)
        start_workers(self.executor, count)

    def make(self, count: int) -> Executor:
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], items: Iterable[Any], chunksize: int = 1) -> list[Any]:
        assert self.executor is not None
        return list(self.executor.map(fn, items, chunksize=chunksize))

    def latency(self, rounds: int, warmup: int) -> list[int]:
        """`warmup` untimed round trips of the trivial task, then `rounds` timed ones (ns)."""
        assert self.executor is not None
        submit, noop = self.executor.submit, pool_tasks.noop
        for _ in range(warmup):
            submit(noop).result()
        clock = time.perf_counter_ns
        samples = [0] * rounds
        with collector_off():
            for i in range(rounds):
                started = clock()
                reply = submit(noop).result()
                samples[i] = clock() - started
                if reply is not None:
                    raise RuntimeError(f"noop() returned {reply!r}")
        return samples

    def map_time(self, items: int, chunksize: int) -> int:
        """One map of `square` over range(items), into a list; its ns. The results are checked."""
        with collector_off():
            started = time.perf_counter_ns()
            results = self.map(pool_tasks.square, range(items), chunksize)
            elapsed = time.perf_counter_ns() - started
        if results != [x * x for x in range(items)]:
            raise RuntimeError(f"{self.name}: map(square) returned wrong results")
        return elapsed

    def cpu_time(self, tasks: int, n: int, expected: int) -> int:
        """One map of `spin(n)` over `tasks` tasks, into a list; its ns. The results are checked."""
        with collector_off():
            started = time.perf_counter_ns()
            results = self.map(pool_tasks.spin, [n] * tasks)
            elapsed = time.perf_counter_ns() - started
        if results != [expected] * tasks:
            raise RuntimeError(f"{self.name}: map(spin) returned wrong results")
        return elapsed

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None


class collector_off:
    """As timeit does: a collection during a timed part is not the executor's cost."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


def start_workers(executor: Executor, count: int) -> None:
    """Make every worker start (executors start them lazily, when no worker is idle) and import
    the task module, so that the first timed run pays for none of it."""
    futures = [executor.submit(pool_tasks.pause, 0.2) for _ in range(count)]
    done, not_done = wait(futures, timeout=120)
    if not_done:
        raise RuntimeError("the workers did not start within 120 s")
    for future in done:
        future.result()  # raises what a worker met
    for _ in range(100):
        executor.submit(pool_tasks.noop).result()


# --- ours -----------------------------------------------------------------------------------------


class Ours(PoolWorkload):
    key = "ours"
    name = "subinterpreters  InterpreterPoolExecutor"

    def make(self, count: int) -> Executor:
        try:
            import subinterpreters
        except ImportError as exc:
            raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
        if not hasattr(subinterpreters, "InterpreterPoolExecutor"):
            version = subinterpreters.__version__
            raise Unavailable(f"subinterpreters {version} has no InterpreterPoolExecutor")
        import site

        return subinterpreters.InterpreterPoolExecutor(
            count, initializer=site.addsitedir, initargs=(BENCH_DIR,)
        )

    def rss_growth(self, tasks: int, warmup: int, batch: int) -> tuple[int, int, int]:
        """The main process's resident bytes before and after `tasks` trivial tasks (after
        `warmup` untimed ones), submitted `batch` at a time and waited for; and the ns taken."""
        assert self.executor is not None
        run_trivial(self.executor, warmup, batch)
        gc.collect()
        before = resident_bytes()
        started = time.perf_counter_ns()
        run_trivial(self.executor, tasks, batch)
        elapsed = time.perf_counter_ns() - started
        gc.collect()
        return before, resident_bytes(), elapsed


def run_trivial(executor: Executor, tasks: int, batch: int) -> None:
    submit, noop = executor.submit, pool_tasks.noop
    for start in range(0, tasks, batch):
        futures = [submit(noop) for _ in range(min(batch, tasks - start))]
        wait(futures)
        for future in futures:
            if future.result() is not None:
                raise RuntimeError("noop() returned something")


def resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError) as exc:
        raise Unavailable(f"cannot read /proc/self/statm: {exc}") from exc
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


# --- anchors --------------------------------------------------------------------------------------


class Processes(PoolWorkload):
    key = "process"
    name = "ProcessPoolExecutor (spawn)"

    def make(self, count: int) -> Executor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))


class Threads(PoolWorkload):
    key = "thread"
    name = "ThreadPoolExecutor"
    honours_chunksize = False  # it accepts chunksize and ignores it

    def make(self, count: int) -> Executor:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(count, thread_name_prefix="bench-pool-thread")


# Run once in each of CPython 3.13's worker interpreters; `_bench_dir` is bound by prepare_main().
CPYTHON_SETUP = """\
import sys
if _bench_dir not in sys.path:
    sys.path.insert(0, _bench_dir)
import pool_tasks as _m
from test.support.interpreters import queues as _queues
"""


class CPythonInterpreterPool(Executor):
    """CPython 3.13's interpreters run through threading: a ThreadPoolExecutor whose every thread
    makes one interpreter and runs each task in it with `Interpreter.call()` (see the module's
    docstring). Only `fn()` and `fn(arg)`, with `fn` a function of pool_tasks, are supported."""

    def __init__(self, count: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from test.support import interpreters
        from test.support.interpreters import queues

        self.interpreters, self.queues = interpreters, queues
        self.local = threading.local()
        self.lock = threading.Lock()
        self.made: list[Any] = []
        self.threads = ThreadPoolExecutor(
            count, thread_name_prefix="bench-cpython-interp", initializer=self.make_interpreter
        )

    def make_interpreter(self) -> None:  # the initializer of each thread
        interp = self.interpreters.create()
        with self.lock:
            self.made.append(interp)
        interp.prepare_main(_bench_dir=BENCH_DIR)
        interp.exec(CPYTHON_SETUP)
        results = self.queues.create(0, syncobj=True)
        interp.prepare_main(_q=results)
        self.local.interp, self.local.results = interp, results

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> object:  # in a pool thread
        interp = self.local.interp
        if not args:
            interp.call(fn)  # 3.13 drops the return value: used for noop(), which has none
            return None
        interp.prepare_main(_name=fn.__name__, _arg=args[0])
        interp.call(pool_tasks.cpython_task)
        return self.local.results.get_nowait()  # put before call() returned

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs or len(args) > 1 or getattr(fn, "__module__", None) != "pool_tasks":
            raise TypeError("only fn() and fn(arg) with fn a function of pool_tasks")
        return self.threads.submit(self.run, fn, args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            with self.lock:
                made, self.made = self.made, []
            for interp in made:
                interp.close()


class CPythonInterpreters(PoolWorkload):
    key = "cpython"
    name = "CPython 3.13 interpreters via threads"
    honours_chunksize = False  # Executor.map's default: accepts chunksize and ignores it

    def make(self, count: int) -> Executor:
        try:
            return CPythonInterpreterPool(count)
        except ImportError as exc:
            version = "%d.%d" % sys.version_info[:2]
            reason = f"test.support.interpreters is missing on {version}"
            raise Unavailable(reason) from exc


class Serial(PoolWorkload):
    """No executor: the CPU-bound tasks one after the other in the main thread (the baseline of
    the speedups)."""

    key = "serial"
    name = "serial, in the main thread"

    def open(self, count: int) -> None:
        pass

    def map(self, fn: Callable[..., Any], items: Iterable[Any], chunksize: int = 1) -> list[Any]:
        return list(map(fn, items))


def calibrate_spin(target_ns: int = CPU_TASK_NS) -> tuple[int, int, int]:
    """The `n` for which spin(n) takes about `target_ns` in the main thread; returns n, the time
    spin(n) took once more (ns), and its result (what every CPU-bound task must return)."""
    probe = 300_000
    typical = sorted(_timed_spin(probe)[0] for _ in range(5))[2]  # the median of 5
    n = max(1000, int(round(probe * target_ns / typical, -3)))
    took, result = _timed_spin(n)
    return n, took, result


def _timed_spin(n: int) -> tuple[int, int]:
    with collector_off():
        started = time.perf_counter_ns()
        result = pool_tasks.spin(n)
        return time.perf_counter_ns() - started, result


def all_pools() -> list[PoolWorkload]:
    """Ours first (the baseline), then the anchors; the serial row (CPU-bound only) last."""
    return [Ours(), Processes(), Threads(), CPythonInterpreters(), Serial()]
