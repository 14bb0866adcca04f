"""`make bench`: round-trip latency of a channel ping-pong, ours side by side with the anchors;
then one-way queue throughput and a queue ping-pong (issue 3).

The main thread of the main interpreter sends a small int to a peer, which echoes it back; each
round trip is timed with `time.perf_counter_ns`. The peers (see workloads.py): a worker interpreter
of `subinterpreters` on its own thread; a worker interpreter of CPython 3.13's own channels
(`test.support.interpreters.channels`); a child process over `multiprocessing.Pipe`; a thread over
`queue.Queue`. Every workload is measured `--repeats` times, interleaved, so that noise on this
small machine hits all of them alike; the table shows the median of the per-run medians (and of the
per-run 90th percentiles).

Targets (issue 2): at least 4x faster than the Pipe, more than 500x faster than CPython's channels.

The second table (see throughput.py): the main thread takes small ints that a producer puts, item by
item or in batches, and counts and sums them (a wrong count or sum fails the run); each row shows the
median over the interleaved runs of items per second. After it, the round trip of the same echo over
two of our queues, measured in the same runs as the channel table, against our channel echo.

Targets (issue 3): item by item at least 5x CPython's queues and 15x multiprocessing.Queue; batched
at least 4x our own item-by-item rate; the queue ping-pong within 2x of the channel ping-pong.

The third table (see handover.py): the hand-over of 1 KiB, 1 MiB, 64 MiB and 1 GiB of data to a
worker that reads one element and answers with it, timed from the hand-over until the main thread
has the answer: a SharedArray sent through our channel to a worker interpreter, against CPython
3.13's send_buffer(), a multiprocessing.Queue of the data as bytes (up to 64 MiB) and a
multiprocessing.shared_memory segment attached by name in a child process. Each transport's data of
every size is made once (untimed) and freed at the end of the table; every size of every transport
is measured `--repeats` times, interleaved; slow transports run fewer rounds per run.

Targets (issue 4): ours hands over 64 MiB in under 1 ms, and 1 GiB within 2x of the 1 KiB time.

The fourth table (see pool.py): our InterpreterPoolExecutor against ProcessPoolExecutor,
ThreadPoolExecutor and CPython 3.13's interpreters run through threading, each with
os.cpu_count() workers started before timing: the round trip of a trivial task
(submit(noop).result(), one at a time), map over 10,000 small items, and a CPU-bound map (4 tasks
per worker, each a pure-Python loop of about 75 ms) with its speedup over the same tasks run
serially in the main thread; every row is measured `--repeats` times, interleaved. Then the main
process's RSS before and after 100,000 trivial tasks through our pool (one measurement).

Targets (issue 5): trivial-task latency at least 3x lower than ProcessPoolExecutor; CPU-bound
speedup at least 0.9x the number of cores; RSS growth under 10 MiB over 100,000 tasks.

The start-up table (see startup.py), between the hand-over and the pool tables: each round makes a
worker, has it do something trivial and waits until it is gone: our `si.create()`, `run("x = 1")`,
`close()` against CPython 3.13's `test.support.interpreters` `create()`, `exec("x = 1")`,
`close()`, a spawned `multiprocessing.Process` whose target returns, and a `threading.Thread` whose
target returns; interleaved repeats, like the other tables. No target: it is there to be seen.

While it runs, a progress line on stderr says which table runs (of how many), the time since the
start and what is being measured. A full run then writes (see report.py) `bench/results/latest.md`:
the machine (CPU, cores, RAM, kernel, load average at start and end), Python, the package's version
and git commit, the date, one table per workload with every row's median and its ratio to the
baseline, and the target lines; and `bench/results/latest.png`, a log-scale bar chart per workload
with ours highlighted, if matplotlib can be imported (`make bench` installs it into the benchmark's
venv; without it the run says it skipped the chart). A `--*-only` run writes neither.

    python bench/run.py [--rounds N] [--items N] [--batch N] [--repeats K] [--quick]
                        [--handover-only | --startup-only | --pool-only] [--no-results]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field

import pool
from handover import MIN_ROUNDS, RUN_BUDGET_NS, SIZES, HandOver, all_handovers, size_text
from report import Entry, Report, Section
from report import write as write_report
from startup import MIN_ROUNDS as STARTUP_MIN_ROUNDS
from startup import RUN_BUDGET_NS as STARTUP_BUDGET_NS
from startup import STATEMENT as STARTUP_STATEMENT
from startup import StartUp, all_startups
from throughput import Throughput, all_throughputs
from workloads import Unavailable, Workload, all_workloads, queue_workloads

PIPE_TARGET = 4.0  # ours at least this many times faster than multiprocessing.Pipe
CPYTHON_CHANNELS_TARGET = 500.0  # ours more than this many times faster than CPython's channels
CPYTHON_QUEUES_TARGET = 5.0  # ours item by item at least this many times CPython's queues (items/s)
MP_QUEUE_TARGET = 15.0  # ours item by item at least this many times multiprocessing.Queue
BATCH_TARGET = 4.0  # ours batched at least this many times ours item by item
QUEUE_PINGPONG_TARGET = 2.0  # queue round trip at most this many times the channel round trip
HANDOVER_64MIB_TARGET_NS = 1_000_000  # ours hands over 64 MiB in under this (1 ms)
HANDOVER_SCALING_TARGET = 2.0  # ours at 1 GiB at most this many times ours at 1 KiB
POOL_LATENCY_TARGET = 3.0  # ProcessPoolExecutor's trivial round trip at least this many times ours
POOL_SPEEDUP_PER_CORE = 0.9  # ours CPU-bound speedup over serial at least this times os.cpu_count()
POOL_RSS_TARGET = 10 << 20  # ours RSS growth over 100,000 trivial tasks under this (10 MiB)
POOL_LATENCY_ROUNDS = 2000  # timed round trips per run of the trivial task (500 with --quick)


@dataclass
class Row:
    """The measurements of one workload across the repeats."""

    workload: Workload
    medians: list[float] = field(default_factory=list)  # ns, one per repeat
    p90s: list[float] = field(default_factory=list)
    rounds: int = 0
    unavailable: str | None = None  # why the workload could not run

    @property
    def median(self) -> float | None:
        return statistics.median(self.medians) if self.medians else None

    @property
    def p90(self) -> float | None:
        return statistics.median(self.p90s) if self.p90s else None


@dataclass
class RateRow:
    """The throughput measurements of one transport across the repeats."""

    workload: Throughput
    rates: list[float] = field(default_factory=list)  # items/s, one per repeat
    items: int = 0
    unavailable: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.rates) if self.rates else None

    @property
    def worst(self) -> float | None:
        return min(self.rates) if self.rates else None


@dataclass
class PoolRow:
    """One pool measurement ("latency", "map", "map-chunked" or "cpu") of one executor across the
    repeats: the median and 90th percentile round trip of each run (latency), or each run's time."""

    test: str
    workload: pool.PoolWorkload
    medians: list[float] = field(default_factory=list)  # ns, one per repeat
    p90s: list[float] = field(default_factory=list)
    rounds: int = 0  # timed round trips per run (latency)
    unavailable: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.medians) if self.medians else None

    @property
    def p90(self) -> float | None:
        return statistics.median(self.p90s) if self.p90s else None

    @property
    def worst(self) -> float | None:
        return max(self.medians) if self.medians else None


@dataclass
class HandRow:
    """The hand-over measurements of one transport at one size across the repeats."""

    workload: HandOver
    nbytes: int
    medians: list[float] = field(default_factory=list)  # ns, one per repeat
    p90s: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # timed rounds, one per repeat
    unavailable: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.medians) if self.medians else None

    @property
    def p90(self) -> float | None:
        return statistics.median(self.p90s) if self.p90s else None


# --- machine facts and formatting -----------------------------------------------------------------


def machine_facts() -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1] for line in cpuinfo if line.startswith("model name"))
            model = next(names).strip()
    except (OSError, StopIteration):
        pass
    facts = [
        f"CPUs:     {os.cpu_count()} ({usable} usable by this process), {model}",
        f"Python:   {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"Platform: {platform.platform()}",
    ]
    try:
        import subinterpreters

        facts.append(f"Package:  subinterpreters {subinterpreters.__version__}")
    except ImportError as exc:
        facts.append(f"Package:  subinterpreters NOT importable: {exc}")
    if hasattr(os, "getloadavg"):
        facts.append("Load:     %.2f %.2f %.2f (1, 5, 15 min) at start" % os.getloadavg())
    return facts


def duration(ns: float | None) -> str:
    if ns is None:
        return "n/a"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def rate(per_second: float | None) -> str:
    if per_second is None:
        return "n/a"
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f} k/s"
    return f"{per_second:.0f} /s"


def ratio_text(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:,.1f}x slower than ours"
    return f"{1 / ratio:,.1f}x faster than ours"


class ProgressLine:
    """One status line on stderr, redrawn in place on a terminal: the table being measured (of
    how many), the time since the start, and what runs now."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.width = 0
        self.started = time.perf_counter()
        self.prefix = ""

    def section(self, number: int, count: int, name: str) -> None:
        self.prefix = f"[{number}/{count} {name}]"

    def show(self, text: str) -> None:
        elapsed = time.perf_counter() - self.started
        text = f"{self.prefix} {elapsed:4.0f} s  {text}" if self.prefix else text
        if self.tty:
            # One terminal line at most, or "\r" would not go back over all of it.
            text = text[: max(20, shutil.get_terminal_size().columns - 1)]
            sys.stderr.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed round trips per run (default 5000, 1000 with --quick); "
                             "CPython's channels are capped: 500 with send(), 30 with "
                             "send_nowait()")
    parser.add_argument("--items", type=int, default=None,
                        help="items per throughput run (default 200000, 50000 with --quick); "
                             "slower anchors run a share: CPython's pickling queue 1/2, "
                             "multiprocessing.Queue 1/4")
    parser.add_argument("--batch", type=int, default=1000,
                        help="items per put_many() and most items per get_many() (default 1000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs of each workload, interleaved (default 5, 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (a smoke run)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--handover-only", action="store_true",
                      help="run only the hand-over table (issue 4), not the ping-pong and "
                           "throughput tables")
    only.add_argument("--startup-only", action="store_true",
                      help="run only the interpreter start-up table (issue 7)")
    only.add_argument("--pool-only", action="store_true",
                      help="run only the interpreter-pool table (issue 5)")
    parser.add_argument("--no-results", action="store_true",
                        help="do not write bench/results/latest.md and latest.png (a full run "
                             "writes them; a --*-only run never does)")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1000 if args.quick else 5000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.items = args.items or (50_000 if args.quick else 200_000)
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if args.items < 1000 or args.batch < 1:
        parser.error("--items must be at least 1000 and --batch at least 1")
    return args


def measure_all(rows: list[Row], rounds: int, repeats: int, progress: ProgressLine) -> list[str]:
    """Open every workload, run the interleaved repeats, close them; return the errors met."""
    errors: list[str] = []
    live: list[Row] = []
    for row in rows:
        progress.show(f"starting {row.workload.name.split()[0]} ...")
        try:
            row.workload.open()
            live.append(row)
        except Unavailable as exc:
            row.unavailable = str(exc)
    try:
        for repeat in range(1, repeats + 1):
            for row in list(live):
                wanted = min(rounds, row.workload.max_rounds or rounds)
                warmup = max(3, wanted // 10)
                progress.show(
                    f"run {repeat}/{repeats}: {row.workload.name}, {warmup} + {wanted} rounds ..."
                )
                try:
                    samples = sorted(row.workload.measure(wanted, warmup))
                except Exception as exc:  # report and go on with the other workloads
                    errors.append(f"{row.workload.name.strip()}: {type(exc).__name__}: {exc}")
                    row.unavailable = f"failed: {exc}"
                    live.remove(row)
                    continue
                row.medians.append(statistics.median(samples))
                row.p90s.append(statistics.quantiles(samples, n=10, method="inclusive")[-1])
                row.rounds = wanted
    finally:
        for row in rows:
            try:
                row.workload.close()
            except Exception as exc:
                errors.append(f"closing {row.workload.name.strip()}: {type(exc).__name__}: {exc}")
        progress.clear()
    return errors


def measure_rates(rows: list[RateRow], items: int, repeats: int, progress: ProgressLine) -> list[str]:
    """Open every throughput workload, run the interleaved repeats, close them; return the errors."""
    errors: list[str] = []
    live: list[RateRow] = []
    for row in rows:
        progress.show(f"starting {row.workload.name.strip()} ...")
        try:
            row.workload.open()
            live.append(row)
        except Unavailable as exc:
            row.unavailable = str(exc)
        except Exception as exc:
            errors.append(f"{row.workload.name.strip()}: {type(exc).__name__}: {exc}")
            row.unavailable = f"failed to start: {exc}"
    try:
        for repeat in range(1, repeats + 1):
            for row in list(live):
                wanted = row.workload.items_for(items)
                warmup = max(1000, wanted // 10)
                progress.show(
                    f"throughput run {repeat}/{repeats}: {row.workload.name.strip()}, "
                    f"{warmup} + {wanted} items ..."
                )
                try:
                    elapsed_ns = row.workload.measure(wanted, warmup)
                except Exception as exc:  # report and go on with the other workloads
                    errors.append(f"{row.workload.name.strip()}: {type(exc).__name__}: {exc}")
                    row.unavailable = f"failed: {exc}"
                    live.remove(row)
                    continue
                row.rates.append(wanted * 1e9 / elapsed_ns)
                row.items = wanted
    finally:
        for row in rows:
            try:
                row.workload.close()
            except Exception as exc:
                errors.append(f"closing {row.workload.name.strip()}: {type(exc).__name__}: {exc}")
        progress.clear()
    return errors


def measure_handovers(rows: list[HandRow], repeats: int, scale: float, progress: ProgressLine
                      ) -> list[str]:
    """Open every hand-over transport and make its data of every size once; run the repeats,
    interleaved over sizes and transports; free the data and close them; return the errors met."""
    errors: list[str] = []
    workloads = list(dict.fromkeys(row.workload for row in rows))
    opened: list[HandOver] = []
    for workload in workloads:
        progress.show(f"starting {workload.name} ...")
        try:
            workload.open()
            opened.append(workload)
            continue
        except Unavailable as exc:
            reason = str(exc)
        except Exception as exc:
            errors.append(f"{workload.name}: {type(exc).__name__}: {exc}")
            reason = f"failed to start: {exc}"
        for row in rows:
            if row.workload is workload:
                row.unavailable = reason
    try:
        live: list[HandRow] = []
        for row in rows:
            if row.workload not in opened:
                continue
            row.unavailable = row.workload.skip_reason(row.nbytes)
            if row.unavailable is not None:
                continue
            size = size_text(row.nbytes)
            progress.show(f"hand-over: making {size} for {row.workload.name} ...")
            try:
                row.workload.load(row.nbytes)
                live.append(row)
            except Exception as exc:
                errors.append(f"{row.workload.name} ({size}): {type(exc).__name__}: {exc}")
                row.unavailable = f"failed: {exc}"
        for repeat in range(1, repeats + 1):
            for row in list(live):
                size = size_text(row.nbytes)
                wanted = max(MIN_ROUNDS, int(row.workload.rounds_for(row.nbytes) * scale))
                warmup = max(1, wanted // 10)
                progress.show(
                    f"hand-over run {repeat}/{repeats}: {size}, {row.workload.name}, "
                    f"{warmup} + {wanted} rounds ..."
                )
                try:
                    samples = sorted(row.workload.measure(row.nbytes, wanted, warmup))
                except Exception as exc:  # report and go on with the other rows
                    errors.append(f"{row.workload.name} ({size}): {type(exc).__name__}: {exc}")
                    row.unavailable = f"failed: {exc}"
                    live.remove(row)
                    continue
                row.medians.append(statistics.median(samples))
                row.p90s.append(statistics.quantiles(samples, n=10, method="inclusive")[-1])
                row.rounds.append(len(samples))
    finally:
        for workload in opened:
            try:
                workload.unload()
            except Exception as exc:
                errors.append(f"freeing the data of {workload.name}: {type(exc).__name__}: {exc}")
            try:
                workload.close()
            except Exception as exc:
                errors.append(f"closing {workload.name}: {type(exc).__name__}: {exc}")
        gc.collect()
        progress.clear()
    return errors


def print_handover_table(rows: list[HandRow], repeats: int) -> dict[int, HandRow]:
    """The hand-over table, size by size; returns our row of each size."""
    ours = {row.nbytes: row for row in rows if row.workload.key == "ours"}
    header = (
        f"{'size':<7} {'workload':<40} {'median':>10} {'p90':>10} {'runs x rounds':>14}"
        "  vs ours (same size)"
    )
    print(header)
    print("-" * len(header))
    for nbytes in SIZES:
        first = True
        for row in rows:
            if row.nbytes != nbytes:
                continue
            size = size_text(nbytes) if first else ""
            first = False
            name = row.workload.name
            if row.median is None:
                print(f"{size:<7} {name:<40} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
                continue
            base = ours.get(nbytes)
            if row is base:
                versus = "baseline"
            elif base is None or base.median is None:
                versus = "n/a (ours not measured)"
            else:
                versus = ratio_text(row.median / base.median)
            low, high = min(row.rounds), max(row.rounds)
            runs = f"{len(row.medians)} x {low if low == high else f'{low}-{high}'}"
            print(f"{size:<7} {name:<40} {duration(row.median):>10} {duration(row.p90):>10} "
                  f"{runs:>14}  {versus}")
    print()
    print(f"median, p90: median over {repeats} runs of each run's median and 90th percentile")
    print("runs x rounds: timed rounds per run, after a tenth as many untimed; fewer for the slow")
    print(f"  rows, and a run stops once it has taken {RUN_BUDGET_NS / 1e9:g} s "
          f"(after at least {MIN_ROUNDS} rounds)")
    print("vs ours: this row's median / the median of the subinterpreters row of the same size")
    print("Before each round (untimed) the main thread writes a new last byte into the data it")
    print("shares; the answer must be that byte (multiprocessing.Queue sends a copy: its last byte")
    print("is fixed).")
    return ours


def time_goal_line(label: str, row: HandRow | None, limit_ns: float) -> tuple[str, bool]:
    """A target on a measured median time: under `limit_ns`."""
    need = f"< {limit_ns / 1e6:g} ms"
    if row is None or row.median is None:
        why = row.unavailable if row is not None and row.unavailable else "not measured"
        return f"  {label:<58} need {need:<8} n/a ({why})", False
    met = row.median < limit_ns
    verdict = "met" if met else "NOT met"
    return f"  {label:<58} need {need:<8} measured {duration(row.median):>10}   {verdict}", met


def print_table(rows: list[Row], repeats: int) -> dict[str, Row]:
    ours = {row.workload.shape: row for row in rows if row.workload.key.startswith("ours-")}
    header = (
        f"{'workload':<38} {'median':>10} {'p90':>10} {'runs x rounds':>14}  vs ours (same call)"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        name = row.workload.name
        if row.median is None:
            print(f"{name:<38} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
            continue
        base = ours.get(row.workload.shape)
        if row.workload.key.startswith("ours-"):
            versus = "baseline"
        elif base is None or base.median is None:
            versus = "n/a (ours not measured)"
        else:
            versus = ratio_text(row.median / base.median)
        runs = f"{len(row.medians)} x {row.rounds}"
        print(f"{name:<38} {duration(row.median):>10} {duration(row.p90):>10} {runs:>14}  {versus}")
    print()
    print(f"median, p90: median over {repeats} runs of each run's median and 90th percentile")
    print("vs ours: this row's median / the median of the subinterpreters row using the same call")
    return ours


def target_line(
    label: str, ours: Row | None, anchor: Row | None, target: float, strict: bool
) -> tuple[str, bool]:
    """One target, checked on the measured medians; returns the line and whether it was met."""
    need = f"{'>' if strict else '>='} {target:g}x"
    if ours is None or ours.median is None or anchor is None or anchor.median is None:
        missing = "ours" if ours is None or ours.median is None else "the anchor"
        return f"  {label:<58} need {need:<8} n/a ({missing} not measured)", False
    speedup = anchor.median / ours.median
    met = speedup > target if strict else speedup >= target
    verdict = "met" if met else "NOT met"
    return f"  {label:<58} need {need:<8} measured {speedup:>9,.1f}x   {verdict}", met


def print_rate_table(rows: list[RateRow], repeats: int, batch: int) -> dict[str, RateRow]:
    by_key = {row.workload.key: row for row in rows}
    base = by_key.get("ours-item")
    header = (
        f"{'one way, producer -> main thread':<42} {'items/s':>10} {'worst run':>10} "
        f"{'runs x items':>14}  vs ours item by item"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        name = row.workload.name
        if row.median is None:
            print(f"{name:<42} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
            continue
        if row is base:
            versus = "baseline"
        elif base is None or base.median is None:
            versus = "n/a (ours not measured)"
        else:
            versus = ratio_text(base.median / row.median)
        runs = f"{len(row.rates)} x {row.items}"
        print(f"{name:<42} {rate(row.median):>10} {rate(row.worst):>10} {runs:>14}  {versus}")
    print()
    print(f"items/s: median over {repeats} runs of items / (first put started .. last get), "
          "every item counted and summed")
    print(f"worst run: the slowest of those runs; batches of {batch}; CPython queues: "
          "syncobj=True unless marked")
    return by_key


def print_queue_pingpong(row: Row, channels: dict[str, Row]) -> None:
    print("Queue ping-pong: main put() -> worker get() -> worker put() on a second queue -> main get()")
    print("(round trip, measured in the same interleaved runs as the first table)")
    header = (
        f"{'workload':<38} {'median':>10} {'p90':>10} {'runs x rounds':>14}  vs our channel echo"
    )
    print(header)
    print("-" * len(header))
    name = row.workload.name
    if row.median is None:
        print(f"{name:<38} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
        return
    versus = []
    for shape in ("send_nowait", "send"):
        channel = channels.get(shape)
        if channel is not None and channel.median is not None:
            versus.append(f"{row.median / channel.median:.2f}x {shape}()")
    runs = f"{len(row.medians)} x {row.rounds}"
    print(f"{name:<38} {duration(row.median):>10} {duration(row.p90):>10} {runs:>14}  "
          f"{', '.join(versus) or 'n/a (channels not measured)'}")
    print()
    print("vs our channel echo: this median / the median of the subinterpreters channel row")


def goal_line(label: str, measured: float | None, why: str, target: float,
              at_most: bool = False) -> tuple[str, bool]:
    """A target on a ratio of medians (None: not measured, `why` says what is missing)."""
    need = f"{'<=' if at_most else '>='} {target:g}x"
    if measured is None:
        return f"  {label:<58} need {need:<8} n/a ({why})", False
    met = measured <= target if at_most else measured >= target
    verdict = "met" if met else "NOT met"
    return f"  {label:<58} need {need:<8} measured {measured:>9,.2f}x   {verdict}", met


def speedup(ours: RateRow | Row | HandRow | PoolRow | None,
            other: RateRow | Row | HandRow | PoolRow | None, times: bool = False
            ) -> tuple[float | None, str]:
    """ours / other for rates (other / ours for times), with what is missing if not measured."""
    for row in (ours, other):
        if row is None:
            return None, "not measured"
        if row.median is None:
            name = " ".join(row.workload.name.split())
            return None, f"{name}: {row.unavailable or 'not measured'}"
    assert ours is not None and ours.median is not None
    assert other is not None and other.median is not None
    return (other.median / ours.median if times else ours.median / other.median), ""


# --- the written report (bench/results, see report.py) ---------------------------------------------


def versus_text(value: float, base: float, kind: str = "time") -> str:
    """How a median compares with its baseline's: "3.20x slower", "12.5x faster"."""
    worse = value / base if kind == "time" else base / value
    factor = worse if worse >= 1 else 1 / worse
    shown = f"{factor:.2f}" if factor < 10 else f"{factor:.1f}" if factor < 100 else f"{factor:,.0f}"
    return f"{shown}x {'slower' if worse >= 1 else 'faster'}"


def entry(label: str, row: Row | RateRow | HandRow | PoolRow | StartRow,
          base: Row | RateRow | HandRow | PoolRow | StartRow | None, ours: bool,
          kind: str = "time") -> Entry:
    """The report's row for a measured row, compared with `base` (the baseline row)."""
    label = " ".join(label.split())
    if row.median is None:
        return Entry(label, None, ours=ours, note=row.unavailable or "not measured")
    if row is base:
        versus = "baseline"
    elif base is None or base.median is None:
        versus = "n/a (baseline not measured)"
    else:
        versus = versus_text(row.median, base.median, kind)
    return Entry(label, row.median, ours=ours, versus=versus)


def show_targets(report: Report, title: str, lines: list[tuple[str, bool]]) -> None:
    """Print the target lines and keep them for the report."""
    for line, _ in lines:
        print(line)
    report.targets += [f"{title}:"] + [line for line, _ in lines] + [""]


def pool_report(report: Report, rows: list[PoolRow], plan: PoolPlan, ours: dict[str, PoolRow],
                serial: PoolRow | None) -> None:
    """The pool's three tables in the report (and its RSS measurement as a note)."""
    latency = Section("Pool: trivial task, submit(noop).result() one at a time (round trip)",
                      "time", "ours", short="Pool, trivial task round trip",
                      notes=[f"{plan.workers} workers in every pool"])
    mapping = Section(f"Pool: map(square, range({pool.MAP_ITEMS})) into a list", "time",
                      "ours (same chunksize)",
                      short=f"Pool, map over {pool.MAP_ITEMS:,} items (chunksize 1)",
                      notes=["time per map"])
    cpu = Section(f"Pool: CPU-bound map of {plan.tasks} pure-Python tasks of about "
                  f"{duration(plan.spin_ns)} each", "time", "ours",
                  extra_header="speedup vs serial",
                  short=f"Pool, CPU-bound map ({plan.tasks} tasks, {plan.workers} workers)",
                  notes=[f"time per map, {plan.workers} workers"])
    for row in rows:
        is_ours = row.workload.key == "ours"
        if row.test == "latency":
            latency.entries.append(entry(row.workload.name, row, ours.get("latency"), is_ours))
        elif row.test.startswith("map"):
            chunks = pool.MAP_CHUNKSIZE if row.test == "map-chunked" else 1
            shown = entry(f"{row.workload.name}, chunksize {chunks}", row, ours.get(row.test),
                         is_ours)
            shown.key = chunks == 1
            mapping.entries.append(shown)
        else:
            shown = entry(row.workload.name, row, ours.get("cpu"), is_ours)
            if row.median is not None and serial is not None and serial.median is not None:
                shown.extra = "baseline" if row is serial else f"{serial.median / row.median:.2f}x"
            cpu.entries.append(shown)
    if plan.rss is None:
        cpu.notes.append(f"RSS over {pool.RSS_TASKS:,} tasks: n/a")
    else:
        before, after, _ = plan.rss
        cpu.notes.append(f"our pool's RSS growth over {pool.RSS_TASKS:,} trivial tasks: "
                         f"{mib(after - before)} ({mib(before)} to {mib(after)})")
    report.sections += [latency, mapping, cpu]


# --- interpreter start-up (issue 7) ---------------------------------------------------------------


@dataclass
class StartRow:
    """The start-up measurements of one way to start a worker across the repeats."""

    workload: StartUp
    medians: list[float] = field(default_factory=list)  # ns, one per repeat
    p90s: list[float] = field(default_factory=list)
    rounds: list[int] = field(default_factory=list)  # timed rounds, one per repeat
    unavailable: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.medians) if self.medians else None

    @property
    def p90(self) -> float | None:
        return statistics.median(self.p90s) if self.p90s else None


def measure_startups(rows: list[StartRow], repeats: int, scale: float, progress: ProgressLine
                     ) -> list[str]:
    """Open every start-up workload, run the interleaved repeats, close them; return the errors."""
    errors: list[str] = []
    live: list[StartRow] = []
    for row in rows:
        try:
            row.workload.open()
            live.append(row)
        except Unavailable as exc:
            row.unavailable = str(exc)
        except Exception as exc:
            errors.append(f"{row.workload.name}: {type(exc).__name__}: {exc}")
            row.unavailable = f"failed to start: {exc}"
    try:
        for repeat in range(1, repeats + 1):
            for row in list(live):
                wanted = max(STARTUP_MIN_ROUNDS, int(row.workload.max_rounds * scale))
                progress.show(f"start-up run {repeat}/{repeats}: {row.workload.name}, "
                              f"1 + {wanted} rounds ...")
                try:
                    samples = sorted(row.workload.measure(wanted, 1))
                except Exception as exc:  # report and go on with the other rows
                    errors.append(f"{row.workload.name}: {type(exc).__name__}: {exc}")
                    row.unavailable = f"failed: {exc}"
                    live.remove(row)
                    continue
                row.medians.append(statistics.median(samples))
                row.p90s.append(statistics.quantiles(samples, n=10, method="inclusive")[-1])
                row.rounds.append(len(samples))
    finally:
        for row in rows:
            try:
                row.workload.close()
            except Exception as exc:
                errors.append(f"closing {row.workload.name}: {type(exc).__name__}: {exc}")
        gc.collect()
        progress.clear()
    return errors


def startup_section(args: argparse.Namespace, progress: ProgressLine, report: Report
                    ) -> tuple[list[str], bool]:
    """Measure and print the start-up table (issue 7); return the errors and whether our row is
    missing."""
    rows = [StartRow(workload) for workload in all_startups()]
    load = ""
    if hasattr(os, "getloadavg"):
        load = "; load %.2f %.2f %.2f at its start" % os.getloadavg()
    started = time.perf_counter()
    errors = measure_startups(rows, args.repeats, 0.25 if args.quick else 1.0, progress)
    elapsed = time.perf_counter() - started

    print(f"Start-up: make a worker, have it run {STARTUP_STATEMENT!r} (a process or thread: a")
    print("target that returns at once), and wait until it is gone; each round timed from before")
    print("the creation until close() or join() returns (one untimed round per run first" + load
          + ")")
    base = rows[0]
    header = (f"{'workload':<40} {'median':>10} {'p90':>10} {'runs x rounds':>14}  vs ours")
    print(header)
    print("-" * len(header))
    for row in rows:
        name = row.workload.name
        if row.median is None:
            print(f"{name:<40} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
            continue
        if row is base:
            versus = "baseline"
        elif base.median is None:
            versus = "n/a (ours not measured)"
        else:
            versus = ratio_text(row.median / base.median)
        low, high = min(row.rounds), max(row.rounds)
        runs = f"{len(row.medians)} x {low if low == high else f'{low}-{high}'}"
        print(f"{name:<40} {duration(row.median):>10} {duration(row.p90):>10} {runs:>14}  {versus}")
    print()
    print(f"median, p90: median over {args.repeats} runs of each run's median and 90th percentile;")
    print(f"  a run stops once it has taken {STARTUP_BUDGET_NS / 1e9:g} s (after at least "
          f"{STARTUP_MIN_ROUNDS} rounds)")
    print("  (the spawned child imports the main script, as every spawned child does)")
    print()
    print(f"measured in {elapsed:.1f} s (start-up)")
    section = Section("Start-up: create a worker, run a trivial statement, close it", "time",
                      "ours", short="Start-up: create, run a statement, close", notes=[f"interpreters run {STARTUP_STATEMENT!r}; the process "
                                     "(spawn) and the thread run a function that returns"])
    for row in rows:
        section.entries.append(entry(row.workload.name, row, base, row.workload.key == "ours"))
    report.sections.append(section)
    return errors, base.median is None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report = Report(repeats=args.repeats, quick=args.quick)
    print("subinterpreters benchmark: round trip of a ping-pong between the main thread and a peer;")
    print("then one-way throughput of small ints from a producer to the main thread")
    print("then the hand-over of 1 KiB to 1 GiB of data to a worker that reads one element")
    print("then the start-up of an interpreter against CPython 3.13's, a process and a thread")
    print("then an interpreter pool executor against process, thread and CPython 3.13 pools")
    for fact in machine_facts():
        print("  " + fact)
    print()

    sections = [
        ("ping-pong & throughput", channels_and_queues),
        ("hand-over", handover_section),
        ("start-up", startup_section),
        ("pool", pool_section),
    ]
    only = {"handover_only": "hand-over", "startup_only": "start-up", "pool_only": "pool"}
    chosen = [name for flag, name in only.items() if getattr(args, flag)]
    if chosen:
        sections = [section for section in sections if section[0] in chosen]
    progress = ProgressLine()
    errors: list[str] = []
    missing = False
    for number, (name, measure) in enumerate(sections, 1):
        if number > 1:
            print()
        progress.section(number, len(sections), name)
        more_errors, ours_missing = measure(args, progress, report)
        errors += more_errors
        missing = missing or ours_missing
    report.errors = errors
    report.finish(time.perf_counter() - started)
    print()
    if chosen:
        print("bench/results not written (a partial run; `make bench` writes them)")
    elif args.no_results:
        print("bench/results not written (--no-results)")
    else:
        for line in write_report(report):
            print(line)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors or missing else 0


def handover_section(args: argparse.Namespace, progress: ProgressLine, report: Report
                     ) -> tuple[list[str], bool]:
    """Measure and print the hand-over table (issue 4); return the errors and whether any of our
    rows is missing."""
    workloads = all_handovers()  # one worker (interpreter or process) each, for every size
    rows = [HandRow(workload, nbytes) for nbytes in SIZES for workload in workloads]
    load = ""
    if hasattr(os, "getloadavg"):
        load = "; load %.2f %.2f %.2f at its start" % os.getloadavg()
    started = time.perf_counter()
    errors = measure_handovers(rows, args.repeats, 0.25 if args.quick else 1.0, progress)
    elapsed = time.perf_counter() - started

    print("Hand-over: the main thread hands a block of data to a worker, which reads its last byte")
    print("and answers with it; round trip from the hand-over until the main thread has the answer")
    print("(the data of every size is made once, untimed" + load + ")")
    ours = print_handover_table(rows, args.repeats)
    print()
    print("Targets (issue 4), from the medians above:")
    small, big = ours.get(SIZES[0]), ours.get(SIZES[-1])
    lines = [
        time_goal_line("ours 64 MiB hand-over, round trip", ours.get(64 << 20),
                       HANDOVER_64MIB_TARGET_NS),
        goal_line(f"ours {size_text(SIZES[-1])} / ours {size_text(SIZES[0])} hand-over, round trip",
                  *speedup(small, big, times=True), HANDOVER_SCALING_TARGET, at_most=True),
    ]
    show_targets(report, "Issue 4 (hand-over)", lines)
    print("  (CPython's recv() sleeps 10 ms between polls; with its blocking send_buffer() the")
    print("   worker's recv() usually finds the buffer already there, so this is their fast case.)")
    print()
    print(f"measured in {elapsed:.1f} s (hand-over)")
    section = Section("Hand-over of a block of data to a worker (round trip)", "time",
                      "ours (same size)", short="Hand-over of 64 MiB, round trip",
                      notes=["the worker reads the last byte and answers with it"])
    for row in rows:
        label = f"{size_text(row.nbytes)}: {row.workload.name}"
        shown = entry(label, row, ours.get(row.nbytes), row.workload.key == "ours")
        shown.key = row.nbytes == 64 << 20
        shown.tag = {"mp-queue": "Queue", "shm": "shared_memory"}.get(row.workload.key, "")
        section.entries.append(shown)
    report.sections.append(section)
    return errors, not ours or any(row.median is None for row in ours.values())


@dataclass
class PoolPlan:
    """What the pool table measures, and what it found besides the rows."""

    workers: int
    rounds: int  # timed round trips per latency run
    tasks: int  # CPU-bound tasks per map
    spin_n: int = 0  # the loop length of each CPU-bound task
    spin_ns: int = 0  # one CPU-bound task in the main thread, at calibration
    spin_result: int = 0
    rss: tuple[int, int, int] | None = None  # bytes before, bytes after, ns taken
    rss_unavailable: str | None = None


def measure_pools(rows: list[PoolRow], plan: PoolPlan, repeats: int, progress: ProgressLine
                  ) -> list[str]:
    """Open every executor (starting all its workers), calibrate the CPU-bound task, run the
    repeats interleaved over rows, measure our RSS growth, close the executors; return the errors
    met."""
    errors: list[str] = []
    workloads = list(dict.fromkeys(row.workload for row in rows))
    opened: list[pool.PoolWorkload] = []
    try:
        for workload in workloads:
            if workload.key != "serial":
                progress.show(f"pool: starting {workload.name} ({plan.workers} workers) ...")
            try:
                workload.open(plan.workers)
                opened.append(workload)
                continue
            except Unavailable as exc:
                reason = str(exc)
            except Exception as exc:
                errors.append(f"{workload.name}: {type(exc).__name__}: {exc}")
                reason = f"failed to start: {exc}"
            for row in rows:
                if row.workload is workload:
                    row.unavailable = reason
        progress.show("pool: calibrating the CPU-bound task ...")
        plan.spin_n, plan.spin_ns, plan.spin_result = pool.calibrate_spin()
        live = [row for row in rows if row.workload in opened]
        for repeat in range(1, repeats + 1):
            for row in list(live):
                what = {
                    "latency": f"{max(1, plan.rounds // 10)} + {plan.rounds} trivial round trips",
                    "map": f"map over {pool.MAP_ITEMS} items",
                    "map-chunked": f"map over {pool.MAP_ITEMS} items, "
                                   f"chunksize={pool.MAP_CHUNKSIZE}",
                    "cpu": f"CPU-bound map of {plan.tasks} tasks",
                }[row.test]
                progress.show(f"pool run {repeat}/{repeats}: {row.workload.name}, {what} ...")
                try:
                    if row.test == "latency":
                        warmup = max(1, plan.rounds // 10)
                        samples = sorted(row.workload.latency(plan.rounds, warmup))
                        row.medians.append(statistics.median(samples))
                        row.p90s.append(
                            statistics.quantiles(samples, n=10, method="inclusive")[-1])
                        row.rounds = len(samples)
                    elif row.test == "cpu":
                        row.medians.append(
                            row.workload.cpu_time(plan.tasks, plan.spin_n, plan.spin_result))
                    else:
                        chunksize = pool.MAP_CHUNKSIZE if row.test == "map-chunked" else 1
                        row.medians.append(row.workload.map_time(pool.MAP_ITEMS, chunksize))
                except Exception as exc:  # report and go on with the other rows
                    errors.append(f"{row.workload.name} ({row.test}): {type(exc).__name__}: {exc}")
                    row.unavailable = f"failed: {exc}"
                    live.remove(row)
        ours = next((w for w in opened if isinstance(w, pool.Ours)), None)
        if ours is None:
            plan.rss_unavailable = "ours not started"
        else:
            progress.show(f"pool: RSS over {pool.RSS_WARMUP} + {pool.RSS_TASKS} trivial tasks "
                          "through ours ...")
            try:
                plan.rss = ours.rss_growth(pool.RSS_TASKS, pool.RSS_WARMUP, pool.RSS_BATCH)
            except Unavailable as exc:
                plan.rss_unavailable = str(exc)
            except Exception as exc:
                errors.append(f"{ours.name} (RSS): {type(exc).__name__}: {exc}")
                plan.rss_unavailable = f"failed: {exc}"
    finally:
        for workload in opened:
            if workload.key != "serial":
                progress.show(f"pool: shutting down {workload.name} ...")
            try:
                workload.close()
            except Exception as exc:
                errors.append(f"closing {workload.name}: {type(exc).__name__}: {exc}")
        gc.collect()
        progress.clear()
    return errors


def mib(nbytes: float) -> str:
    return f"{nbytes / (1 << 20):.2f} MiB"


def print_pool_tables(rows: list[PoolRow], plan: PoolPlan, repeats: int) -> dict[str, PoolRow]:
    """The three pool tables; returns our row of each test (and the serial row as "serial")."""
    ours = {row.test: row for row in rows if row.workload.key == "ours"}
    named = {row.test: row for row in rows if row.workload.key == "serial"}
    serial = named.get("cpu")

    print("Trivial task: submit(noop).result(), one at a time (round trip)")
    header = f"{'workload':<40} {'median':>10} {'p90':>10} {'runs x rounds':>14}  vs ours"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.test != "latency":
            continue
        name = row.workload.name
        if row.median is None:
            print(f"{name:<40} {'n/a':>10} {'n/a':>10} {'':>14}  {row.unavailable}")
            continue
        base = ours.get("latency")
        if row is base:
            versus = "baseline"
        elif base is None or base.median is None:
            versus = "n/a (ours not measured)"
        else:
            versus = ratio_text(row.median / base.median)
        runs = f"{len(row.medians)} x {row.rounds}"
        print(f"{name:<40} {duration(row.median):>10} {duration(row.p90):>10} {runs:>14}  {versus}")
    print(f"median, p90: median over {repeats} runs of each run's median and 90th percentile;")
    print("  each run's timed round trips come after a tenth as many untimed")
    print()

    print(f"map(square, range({pool.MAP_ITEMS})) into a list: time per map")
    header = (f"{'workload':<40} {'chunks':>6} {'median':>10} {'items/s':>10} {'worst run':>10} "
              f"{'runs':>5}  vs ours (same chunksize)")
    print(header)
    print("-" * len(header))
    for row in rows:
        if not row.test.startswith("map"):
            continue
        name = row.workload.name
        chunks = str(pool.MAP_CHUNKSIZE if row.test == "map-chunked" else 1)
        if row.median is None:
            print(f"{name:<40} {chunks:>6} {'n/a':>10} {'n/a':>10} {'n/a':>10} {'':>5}  "
                  f"{row.unavailable}")
            continue
        base = ours.get(row.test)
        if row is base:
            versus = "baseline"
        elif base is None or base.median is None:
            versus = "n/a (ours not measured)"
        else:
            versus = ratio_text(row.median / base.median)
        print(f"{name:<40} {chunks:>6} {duration(row.median):>10} "
              f"{rate(pool.MAP_ITEMS / (row.median / 1e9)):>10} {duration(row.worst):>10} "
              f"{len(row.medians):>5}  {versus}")
    print("median: median over the runs of the time of one map (call .. list complete);")
    print("  worst run: the slowest; items/s from the median; no chunked rows for")
    print("  ThreadPoolExecutor and CPython 3.13's interpreters (their map ignores chunksize)")
    print()

    print(f"CPU-bound map(spin, [{plan.spin_n}] * {plan.tasks}): {plan.tasks} pure-Python tasks "
          f"of {duration(plan.spin_ns)} each (in the main thread, at calibration)")
    header = (f"{'workload':<40} {'median':>10} {'worst run':>10} {'runs':>5} "
              f"{'speedup vs serial':>18}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.test != "cpu":
            continue
        name = row.workload.name
        if row.median is None:
            print(f"{name:<40} {'n/a':>10} {'n/a':>10} {'':>5} {'n/a':>18}  {row.unavailable}")
            continue
        if row is serial:
            versus = "baseline"
        elif serial is None or serial.median is None:
            versus = "n/a"
        else:
            versus = f"{serial.median / row.median:.2f}x"
        print(f"{name:<40} {duration(row.median):>10} {duration(row.worst):>10} "
              f"{len(row.medians):>5} {versus:>18}")
    print("median: median over the runs of the time of one map; speedup: the serial row's")
    print(f"  median / this row's median; {plan.workers} workers in every pool (os.cpu_count())")
    print()

    print(f"RSS of the main process (/proc/self/statm), our pool, {pool.RSS_TASKS:,} trivial tasks "
          f"submitted {pool.RSS_BATCH} at a time")
    print(f"  (after {pool.RSS_WARMUP:,} untimed ones and the runs above; gc.collect() before each "
          "reading; one measurement):")
    if plan.rss is None:
        print(f"  n/a ({plan.rss_unavailable or 'not measured'})")
    else:
        before, after, took = plan.rss
        print(f"  before {mib(before)}, after {mib(after)}: growth {mib(after - before)}, "
              f"in {took / 1e9:.2f} s ({rate(pool.RSS_TASKS / (took / 1e9))} tasks)")
    return ours


def pool_section(args: argparse.Namespace, progress: ProgressLine, report: Report
                 ) -> tuple[list[str], bool]:
    """Measure and print the interpreter-pool tables (issue 5); return the errors and whether any
    of our rows is missing."""
    workers = pool.workers()
    plan = PoolPlan(workers=workers, rounds=500 if args.quick else POOL_LATENCY_ROUNDS,
                    tasks=pool.CPU_TASKS_PER_WORKER * workers)
    workloads = pool.all_pools()
    pools = [w for w in workloads if w.key != "serial"]
    rows = [PoolRow("latency", w) for w in pools]
    rows += [PoolRow("map", w) for w in pools]
    rows += [PoolRow("map-chunked", w) for w in pools if w.honours_chunksize]
    rows += [PoolRow("cpu", w) for w in workloads]
    load = ""
    if hasattr(os, "getloadavg"):
        load = "; load %.2f %.2f %.2f at its start" % os.getloadavg()
    started = time.perf_counter()
    errors = measure_pools(rows, plan, args.repeats, progress)
    elapsed = time.perf_counter() - started

    print(f"Interpreter pool: executors of {workers} workers each, every worker started and the")
    print("task module imported before timing; every row measured in each of the interleaved runs")
    print("(CPython 3.13's interpreters: a ThreadPoolExecutor whose threads each run tasks in")
    print(" their own interpreter with Interpreter.call(), results back through a 3.13 queue;")
    print(" " + load.lstrip("; ") + ")" if load else " no load average here)")
    print()
    ours = print_pool_tables(rows, plan, args.repeats)
    print()
    print("Targets (issue 5), from the medians above:")
    serial = next((row for row in rows if row.test == "cpu" and row.workload.key == "serial"), None)
    process = next((row for row in rows
                    if row.test == "latency" and row.workload.key == "process"), None)
    speedup_target = POOL_SPEEDUP_PER_CORE * workers
    measured, why = speedup(ours.get("cpu"), serial, times=True)
    lines = [
        goal_line("ProcessPoolExecutor / ours, trivial-task round trip",
                  *speedup(ours.get("latency"), process, times=True), POOL_LATENCY_TARGET),
        goal_line(f"ours CPU-bound speedup vs serial ({POOL_SPEEDUP_PER_CORE:g} x {workers} cores)",
                  measured, why, round(speedup_target, 2)),
    ]
    for line, _ in lines:
        print(line)
    report.targets += ["Issue 5 (pool):"] + [line for line, _ in lines]
    need = f"< {POOL_RSS_TARGET >> 20} MiB"
    label = f"ours RSS growth over {pool.RSS_TASKS:,} trivial tasks"
    if plan.rss is None:
        rss_line = f"  {label:<58} need {need:<8} n/a ({plan.rss_unavailable or 'not measured'})"
    else:
        growth = plan.rss[1] - plan.rss[0]
        verdict = "met" if growth < POOL_RSS_TARGET else "NOT met"
        rss_line = f"  {label:<58} need {need:<8} measured {mib(growth):>10}   {verdict}"
    print(rss_line)
    report.targets += [rss_line, ""]
    print()
    pool_report(report, rows, plan, ours, serial)
    print(f"measured in {elapsed:.1f} s (pool)")
    missing = not ours or any(row.median is None for row in ours.values()) or plan.rss is None
    return errors, missing


def channels_and_queues(args: argparse.Namespace, progress: ProgressLine, report: Report
                        ) -> tuple[list[str], bool]:
    """Measure and print the ping-pong and throughput tables (issues 2 and 3); return the errors
    and whether any of our rows is missing."""
    rows = [Row(workload) for workload in all_workloads()]
    queue_rows = [Row(workload) for workload in queue_workloads()]
    rate_rows = [RateRow(workload) for workload in all_throughputs(args.batch)]
    started = time.perf_counter()
    # The queue ping-pong runs interleaved with the channel rows it is compared with.
    errors = measure_all(rows[:2] + queue_rows + rows[2:], args.rounds, args.repeats, progress)
    pingpong_elapsed = time.perf_counter() - started
    started = time.perf_counter()
    errors += measure_rates(rate_rows, args.items, args.repeats, progress)
    rates_elapsed = time.perf_counter() - started

    ours = print_table(rows, args.repeats)
    by_key = {row.workload.key: row for row in rows}
    print()
    print("Targets (issue 2), from the medians above:")
    lines = [
        target_line("ours (send) vs multiprocessing.Pipe: at least 4x faster",
                    ours.get("send"), by_key.get("pipe"), PIPE_TARGET, strict=False),
        target_line("ours vs CPython channels, send_nowait() echo (recv waits):",
                    ours.get("send_nowait"), by_key.get("cpython-send_nowait"),
                    CPYTHON_CHANNELS_TARGET, strict=True),
        target_line("ours vs CPython channels, send() echo (same code as ours):",
                    ours.get("send"), by_key.get("cpython-send"),
                    CPYTHON_CHANNELS_TARGET, strict=True),
    ]
    show_targets(report, "Issue 2 (round trip)", lines)
    print("  (CPython's recv() sleeps 10 ms between polls; its blocking send() usually lets the")
    print("   peer's next recv() find the object already there, so that echo seldom pays the sleep.)")
    print()

    rates = print_rate_table(rate_rows, args.repeats, args.batch)
    print()
    queue_row = queue_rows[0]
    print_queue_pingpong(queue_row, ours)
    print()
    print("Targets (issue 3), from the medians above:")
    item = rates.get("ours-item")
    lines = [
        goal_line("ours item by item vs CPython queues (syncobj=True), rate",
                  *speedup(item, rates.get("cpython-shared")), CPYTHON_QUEUES_TARGET),
        goal_line("ours item by item vs multiprocessing.Queue, rate",
                  *speedup(item, rates.get("mp")), MP_QUEUE_TARGET),
        goal_line("ours batched vs ours item by item, rate",
                  *speedup(rates.get("ours-batch"), item), BATCH_TARGET),
        goal_line("queue ping-pong / channel send_nowait() echo, round trip",
                  *speedup(ours.get("send_nowait"), queue_row, times=True),
                  QUEUE_PINGPONG_TARGET, at_most=True),
        goal_line("queue ping-pong / channel send() echo, round trip",
                  *speedup(ours.get("send"), queue_row, times=True),
                  QUEUE_PINGPONG_TARGET, at_most=True),
    ]
    show_targets(report, "Issue 3 (queues)", lines)
    print("  (CPython's queue get() sleeps 10 ms between polls when it finds the queue empty.)")
    print()
    print(f"measured in {pingpong_elapsed:.1f} s (ping-pong) + {rates_elapsed:.1f} s (throughput)")

    section = Section("Round trip of a ping-pong, main thread and a peer", "time",
                      "ours (same call)", short="Round trip, send()/recv() echo",
                      notes=["a small int sent and echoed back; the queue row is ours too, "
                             "compared with our send_nowait() channel echo"])
    for row in rows:
        base = ours.get(row.workload.shape)
        shown = entry(row.workload.name, row, base, row.workload.key.startswith("ours-"))
        shown.key = row.workload.shape == "send"
        section.entries.append(shown)
    base = ours.get("send_nowait")
    queue_entry = entry(queue_row.workload.name, queue_row, base, True)
    queue_entry.key = False
    if queue_entry.value is not None and base is not None and base.median is not None:
        queue_entry.versus += " than our send_nowait() echo"
    section.entries.append(queue_entry)
    report.sections.append(section)
    section = Section("One-way throughput of small ints, producer to main thread", "rate",
                      "ours item by item", short="Throughput of small ints, item by item",
                      notes=[f"batches of {args.batch}; every item counted and summed"])
    for rate_row in rate_rows:
        shown = entry(rate_row.workload.name, rate_row, rates.get("ours-item"),
                     rate_row.workload.key.startswith("ours-"), kind="rate")
        shown.key = rate_row.workload.key not in ("ours-batch", "cpython-pickled")
        section.entries.append(shown)
    report.sections.append(section)
    ours_missing = (
        any(row.median is None for row in ours.values()) or not ours
        or queue_row.median is None
        or any(row.median is None for key, row in rates.items() if key.startswith("ours-"))
    )
    return errors, ours_missing


if __name__ == "__main__":
    sys.exit(main())
