"""The interpreter pool (issue 5): ours and the anchors, executors of `os.cpu_count()` workers
each, made once and warmed up (every worker started and the task module imported) before anything
is timed, then used for (measure.time_rounds):

* latency: `submit(pool_tasks.noop).result()`, one task at a time, each round trip timed;
* `map(pool_tasks.square, range(10_000))` into a list (chunksize 1, and chunked where the executor
  honours chunksize), timed from the call until the list is complete; the results are checked;
* a CPU-bound `map(pool_tasks.spin, [n] * 4 * workers)`, each task a pure-Python loop calibrated
  to about 75 ms in the main thread, timed the same way; the same tasks run one after the other
  in the main thread give the serial time that the speedups are computed from;
* and for ours only: the main process's resident memory (/proc/self/statm) before and after
  100,000 trivial tasks (after a warm-up).

The executors (also the peers of the real-programs table, programs.py):

* subinterpreters: `InterpreterPoolExecutor`, its initializer `site.addsitedir(bench/)` so that
  its interpreters can import `pool_tasks`;
* the stdlib's interpreters (anchors.py): CPython 3.14's
  `concurrent.futures.InterpreterPoolExecutor` (the same initializer); on CPython 3.13, which has
  no pool, its interpreters run through threading: a ThreadPoolExecutor whose every thread makes
  one interpreter (bench/ on its sys.path, `pool_tasks` imported) and runs each task in it with
  `Interpreter.call()`. 3.13's `call()` takes no arguments and drops the return value, and runs
  the function's code in the interpreter's `__main__`: the trivial task is `call(noop)` (which
  returns None anyway); a task with an argument binds the function's name and the argument in
  `__main__` with `prepare_main()`, then `call(pool_tasks.cpython_task)`, which puts the result
  on a 3.13 queue (syncobj=True) that the thread takes back;
* `concurrent.futures.ProcessPoolExecutor` with the forkserver start method (CPython 3.14's
  default; the children are forked from a server process started for the purpose, never from this
  one, which has threads and interpreters), its children importing `pool_tasks` by name;
* `concurrent.futures.ThreadPoolExecutor` (one GIL: no speedup expected on CPU-bound work).

Targets (issue 5): trivial-task latency at least 3x lower than ProcessPoolExecutor; CPU-bound
speedup at least 0.9x the number of cores; RSS growth under 10 MiB over 100,000 tasks.

This module imports nothing heavy at the top: the ProcessPoolExecutor children import the main
script, which imports it.
"""

from __future__ import annotations

import functools
import gc
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, wait
from typing import Any

import anchors
import pool_tasks
import report
from measure import Bench, Row, Unavailable, Workload, import_ours, time_once, time_rounds

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
MAP_ITEMS = 10_000
MAP_CHUNKSIZE = 100  # the chunked map rows
CPU_TASK_NS = 75_000_000  # each CPU-bound task takes about this long in the main thread
CPU_TASKS_PER_WORKER = 4
RSS_TASKS = 100_000
RSS_WARMUP = 10_000
RSS_BATCH = 1_000  # trivial tasks submitted at once, then waited for, in the RSS measurement
LATENCY_ROUNDS = 2000  # timed round trips per run of the trivial task (500 with --quick)
POOL_LATENCY_TARGET = 3.0  # ProcessPoolExecutor's trivial round trip at least this many times ours
POOL_SPEEDUP_PER_CORE = 0.9  # ours CPU-bound speedup over serial at least this times os.cpu_count()
POOL_RSS_TARGET = 10 << 20  # ours RSS growth over 100,000 trivial tasks under this (10 MiB)


def workers() -> int:
    return os.cpu_count() or 1


class PoolWorkload(Workload):
    """One executor of `count` workers. `open()` makes it and starts every worker; `map()` and
    `run_tasks()` use it; `close()` shuts it down."""

    honours_chunksize = True  # whether map(chunksize=...) sends items in chunks
    executor: Executor | None = None

    def __init__(self, count: int) -> None:
        self.count = count

    def open(self) -> None:
        self.executor = self.make(self.count)
        start_workers(self.executor, self.count)

    def make(self, count: int) -> Executor:
        raise NotImplementedError

    def map(self, fn: Callable[..., Any], items: Iterable[Any], chunksize: int = 1) -> list[Any]:
        assert self.executor is not None
        return list(self.executor.map(fn, items, chunksize=chunksize))

    def run_tasks(self, fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        """Submit `fn(*a)` for every `a` of `args` at once, then take every result in order."""
        assert self.executor is not None
        submit = self.executor.submit
        futures = [submit(fn, *a) for a in args]
        return [future.result() for future in futures]

    def latency(self, rounds: int, warmup: int) -> list[int]:
        """A run: `warmup` untimed round trips of the trivial task, then `rounds` timed ones."""
        assert self.executor is not None
        submit, noop = self.executor.submit, pool_tasks.noop
        return time_rounds(
            lambda _i: submit(noop).result(), rounds, warmup, check=functools.partial(expect, self.name, None)
        )

    def map_time(
        self, fn: Callable[[Any], Any], items: list[Any], chunksize: int, expected: list[Any]
    ) -> list[int]:
        """A run: one map of `fn` over `items` into a list; its results are checked."""
        return time_once(
            lambda: self.map(fn, items, chunksize), functools.partial(expect, self.name, expected, 0, p=None)
        )

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None


def expect(name: str, wanted: object, _i: int, got: object, p: object) -> None:
    if got != wanted:
        raise RuntimeError(f"{name}: wrong results")


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
    camp = "ours"

    def make(self, count: int) -> Executor:
        si = import_ours()
        if not hasattr(si, "InterpreterPoolExecutor"):
            raise Unavailable(f"subinterpreters {si.__version__} has no InterpreterPoolExecutor")
        import site

        return si.InterpreterPoolExecutor(count, initializer=site.addsitedir, initargs=(BENCH_DIR,))

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
    name = "ProcessPoolExecutor (forkserver)"
    camp = "process"

    def make(self, count: int) -> Executor:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("forkserver"))


class Threads(PoolWorkload):
    key = "thread"
    name = "ThreadPoolExecutor"
    camp = "thread"
    honours_chunksize = False  # it accepts chunksize and ignores it

    def make(self, count: int) -> Executor:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(count, thread_name_prefix="bench-pool-thread")


class StdlibPool(PoolWorkload):
    """CPython 3.14's `concurrent.futures.InterpreterPoolExecutor`."""

    key = "stdlib"
    name = f"{anchors.PREFIX} InterpreterPoolExecutor"
    camp = "stdlib"
    honours_chunksize = False  # ThreadPoolExecutor's map: accepts chunksize and ignores it

    def make(self, count: int) -> Executor:
        import site

        anchors.interpreters()  # Unavailable where there is none
        from concurrent.futures import InterpreterPoolExecutor  # type: ignore[attr-defined]

        return InterpreterPoolExecutor(count, initializer=site.addsitedir, initargs=(BENCH_DIR,))


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


class StdlibThreads(PoolWorkload):
    """CPython 3.13's interpreters driven by threads (3.13 has no interpreter pool)."""

    key = "stdlib"
    name = f"{anchors.PREFIX} interpreters via threads"
    camp = "stdlib"
    honours_chunksize = False  # Executor.map's default: accepts chunksize and ignores it

    def make(self, count: int) -> Executor:
        anchors.interpreters()  # Unavailable where there is none
        return CPythonInterpreterPool(count)


def stdlib_pool(count: int) -> PoolWorkload:
    return StdlibPool(count) if anchors.PUBLIC else StdlibThreads(count)


class Serial(PoolWorkload):
    """No executor: the tasks one after the other in the main thread (the baseline of the
    speedups)."""

    key = "serial"
    name = "serial, in the main thread"

    def open(self) -> None:
        pass

    def map(self, fn: Callable[..., Any], items: Iterable[Any], chunksize: int = 1) -> list[Any]:
        return list(map(fn, items))

    def run_tasks(self, fn: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        return [fn(*a) for a in args]


def calibrate_spin(target_ns: int = CPU_TASK_NS) -> tuple[int, int, int]:
    """The `n` for which spin(n) takes about `target_ns` in the main thread; returns n, the time
    spin(n) took once more (ns), and its result (what every CPU-bound task must return)."""
    probe = 300_000
    typical = sorted(time_rounds(lambda _i: pool_tasks.spin(probe), 5))[2]  # the median of 5
    n = max(1000, int(round(probe * target_ns / typical, -3)))
    result: list[int] = []
    took = time_once(lambda: result.append(pool_tasks.spin(n)))[0]
    return n, took, result[0]


def executors(count: int) -> list[PoolWorkload]:
    """Ours first (the baseline), then the anchors; the serial row last."""
    return [Ours(count), stdlib_pool(count), Processes(count), Threads(count), Serial(count)]


class Plan:
    """The CPU-bound task, calibrated once the executors are open."""

    spin_n = spin_ns = spin_result = 0

    def calibrate(self) -> None:
        """Once, by the first CPU-bound row set up (every one has it as its setup)."""
        if not self.spin_n:
            self.spin_n, self.spin_ns, self.spin_result = calibrate_spin()


def run(bench: Bench) -> None:
    count = workers()
    tasks = CPU_TASKS_PER_WORKER * count
    rounds = 500 if bench.quick else LATENCY_ROUNDS
    plan = Plan()
    squares = list(range(MAP_ITEMS))
    squared = [x * x for x in squares]
    every = executors(count)
    pools = every[:-1]
    rows = [
        Row(
            w,
            functools.partial(w.latency, rounds, max(1, rounds // 10)),
            key=f"latency/{w.key}",
            what=f"{rounds // 10} + {rounds} trivial round trips",
        )
        for w in pools
    ]
    for chunks in (1, MAP_CHUNKSIZE):
        rows += [
            Row(
                w,
                functools.partial(w.map_time, pool_tasks.square, squares, chunks, squared),
                label=f"{w.name}, chunksize {chunks}",
                key=f"map-{chunks}/{w.key}",
                what=f"map over {MAP_ITEMS} items, chunksize {chunks}",
            )
            for w in pools
            if chunks == 1 or w.honours_chunksize
        ]
    rows += [
        Row(
            w,
            lambda w=w: w.map_time(pool_tasks.spin, [plan.spin_n] * tasks, 1, [plan.spin_result] * tasks),
            key=f"cpu/{w.key}",
            what=f"CPU-bound map of {tasks} tasks",
            setup=plan.calibrate,
        )
        for w in every
    ]  # calibrated once the executors are open
    ours = every[0]
    assert isinstance(ours, Ours)
    rss: list[tuple[int, int, int]] = []
    rss_why = ["ours not measured"]

    def measure_rss() -> None:  # after the runs, on our pool still open
        if ours.executor is None:
            return
        bench.progress.show(f"pool: RSS over {RSS_WARMUP} + {RSS_TASKS} trivial tasks ...")
        try:
            rss.append(ours.rss_growth(RSS_TASKS, RSS_WARMUP, RSS_BATCH))
        except Unavailable as exc:
            rss_why[0] = str(exc)
        except Exception as exc:
            rss_why[0] = bench.error(f"{ours.name} (RSS)", exc)

    elapsed = bench.measure("pool", rows, after=measure_rss)
    publish(bench, rows, plan, count, tasks, elapsed, rss[0] if rss else None, rss_why[0])


def publish(
    bench: Bench,
    rows: list[Row],
    plan: Plan,
    count: int,
    tasks: int,
    elapsed: float,
    rss: tuple[int, int, int] | None,
    rss_why: str,
) -> None:
    """The three pool tables and the targets of issue 5."""
    get = bench.row
    latency = report.Section(
        "Pool: trivial task, submit(noop).result() one at a time (round trip)",
        "time",
        "ours",
        short="Pool, trivial task round trip",
        notes=[
            f"{count} workers in every pool, every worker started and the task module "
            "imported before timing; each run's timed round trips come after a tenth as many "
            "untimed"
        ],
    )
    mapping = report.Section(
        f"Pool: map(square, range({MAP_ITEMS})) into a list",
        "time",
        "ours (same chunksize)",
        short=f"Pool, map over {MAP_ITEMS:,} items (chunksize 1)",
        notes=[
            "time per map (call .. list complete); no chunked rows for the executors whose "
            "map ignores chunksize"
        ],
    )
    cpu = report.Section(
        f"Pool: CPU-bound map of {tasks} pure-Python tasks of about "
        f"{report.value_text('time', plan.spin_ns)} each",
        "time",
        "ours",
        extra_header="speedup vs serial",
        short=f"Pool, CPU-bound map ({tasks} tasks, {count} workers)",
        notes=[f"time per map, {count} workers; speedup: the serial row's median / this row's"],
    )
    for row in rows:
        test, key = row.key.split("/")
        if test == "latency":
            latency.entries.append(report.entry(row, get("pool/latency/ours")))
        elif test.startswith("map"):
            shown = report.entry(row, get(f"pool/{test}/ours"))
            shown.key = test == "map-1"
            mapping.entries.append(shown)
        else:
            shown = report.entry(row, get("pool/cpu/ours"))
            serial = get("pool/cpu/serial")
            if row.median is not None and serial is not None and serial.median is not None:
                shown.extra = "baseline" if row is serial else f"{serial.median / row.median:.2f}x"
            cpu.entries.append(shown)
    if rss is None:
        cpu.notes.append(f"our pool's RSS over {RSS_TASKS:,} trivial tasks: n/a ({rss_why})")
    else:
        before, after, took = rss
        cpu.notes.append(
            f"our pool's RSS growth over {RSS_TASKS:,} trivial tasks submitted "
            f"{RSS_BATCH} at a time (after {RSS_WARMUP:,} untimed ones; gc.collect() "
            f"before each reading; one measurement): {mib(after - before)} "
            f"({mib(before)} to {mib(after)}, in {took / 1e9:.2f} s)"
        )
    bench.publish(latency)
    bench.publish(mapping)
    bench.publish(cpu, elapsed)
    bench.check_ours(rows)
    if rss is None:
        bench.ours_missing = True
    need = f"< {POOL_RSS_TARGET >> 20} MiB"
    label = f"ours RSS growth over {RSS_TASKS:,} trivial tasks"
    if rss is None:
        rss_line = f"  {label:<68} need {need:<8} n/a ({rss_why})"
    else:
        verdict = "met" if rss[1] - rss[0] < POOL_RSS_TARGET else "NOT met"
        rss_line = f"  {label:<68} need {need:<8} measured {mib(rss[1] - rss[0]):>10}   {verdict}"
    speedup, why = report.ratio(get("pool/cpu/serial"), get("pool/cpu/ours"))
    bench.targets(
        "issue 5, pool",
        [
            report.goal(
                "ProcessPoolExecutor / ours, trivial-task round trip",
                *report.ratio(get("pool/latency/process"), get("pool/latency/ours")),
                POOL_LATENCY_TARGET,
            ),
            report.goal(
                f"ours CPU-bound speedup vs serial ({POOL_SPEEDUP_PER_CORE:g} x {count} cores)",
                speedup,
                why,
                round(POOL_SPEEDUP_PER_CORE * count, 2),
            ),
            rss_line,
        ],
    )


def mib(nbytes: float) -> str:
    return f"{nbytes / (1 << 20):.2f} MiB"
