"""`make bench`: the benchmark suite's driver. It parses the arguments, shows progress, runs the
workload modules in turn and writes the report; every module measures through the one shared loop
of measure.py (medians of interleaved repeated runs) and the standard library's interpreters are
the anchor of every table (anchors.py: CPython 3.14's public `concurrent.interpreters` and
`concurrent.futures.InterpreterPoolExecutor`; CPython 3.13's private `_interpreters` modules).

The tables, in order (one module each; their docstrings say what is measured and the targets):

  pingpong.py    round trip of a small int, main thread <-> peer (channels, queues, Pipe, threads)
  throughput.py  one-way throughput of small ints through queues, item by item and batched
  handover.py    hand-over of 1 KiB .. 1 GiB of data to a worker that reads one element
  startup.py     create a worker, run a trivial statement, close it
  pool.py        interpreter pool: trivial task, map over 10,000 items, CPU-bound map, RSS
  programs.py    real programs: markdown rendering, records returned and given, records round trip
  capi.py        the C API: a native producer without a GIL vs a Python one, native put/get pairs

While it runs, a progress line on stderr says which table runs (of how many), the time since the
start and what is being measured. A full run then writes (report.py) `bench/results/latest.md`:
the machine (CPU, cores, RAM, kernel, load average at start and end), Python and the anchors used,
the package's version and git commit, the date, one table per workload with every row's median and
its ratio to the baseline, and the target lines (met / NOT met); `bench/results/latest.png`, a
log-scale bar chart per workload with ours highlighted, if matplotlib can be imported (`make bench`
installs it into the benchmark's venv); and the README's latest-run table. A partial run
(`--only`, `--*-only`) writes none of them.

    python bench/run.py [--rounds N] [--items N] [--batch N] [--repeats K] [--quick]
                        [--only TABLE[,TABLE...]] [--handover-only | --startup-only | --pool-only]
                        [--no-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time

import anchors
import capi
import handover
import pingpong
import pool
import programs
import report
import startup
import throughput
from measure import Bench, load_text

TABLES = {  # --only's names, in the order they run
    "pingpong": pingpong.run,
    "throughput": throughput.run,
    "handover": handover.run,
    "startup": startup.run,
    "pool": pool.run,
    "programs": programs.run,
    "capi": capi.run,
}


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
            self.width = 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timed round trips per ping-pong run (default 5000, 1000 with "
        "--quick); the stdlib's polling transports are capped at 30-500",
    )
    parser.add_argument(
        "--items",
        type=int,
        default=None,
        help="items per throughput run (default 200000, 50000 with --quick); "
        "slower anchors run a share: CPython 3.13's pickling queue 1/2, "
        "multiprocessing.Queue 1/4",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1000,
        help="items per put_many() and most items per get_many() (default 1000)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs of each row, interleaved (default 5, 3 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (a smoke run)")
    parser.add_argument(
        "--only",
        default="",
        help="run only these tables (comma-separated: " + ", ".join(TABLES) + "); writes no results",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--handover-only", action="store_true", help="the same as --only handover")
    only.add_argument("--startup-only", action="store_true", help="the same as --only startup")
    only.add_argument("--pool-only", action="store_true", help="the same as --only pool")
    parser.add_argument(
        "--no-results",
        action="store_true",
        help="do not write bench/results/latest.md, latest.png and the README "
        "table (a full run writes them; a partial run never does)",
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1000 if args.quick else 5000)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.items = args.items or (50_000 if args.quick else 200_000)
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if args.items < 1000 or args.batch < 1:
        parser.error("--items must be at least 1000 and --batch at least 1")
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    chosen += [name for name in ("handover", "startup", "pool") if getattr(args, f"{name}_only")]
    unknown = [name for name in chosen if name not in TABLES]
    if unknown:
        parser.error(f"unknown table {', '.join(unknown)}; the tables: {', '.join(TABLES)}")
    args.tables = [name for name in TABLES if name in chosen] or list(TABLES)
    args.partial = bool(chosen)
    return args


def machine_facts() -> list[str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"CPUs:     {os.cpu_count()} ({usable} usable by this process), {report.cpu_model()}",
        f"Python:   {platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        f"Anchors:  {anchors.description()}",
        f"Platform: {platform.platform()}",
        f"Package:  subinterpreters {report.package_version()}",
        f"Load:     {load_text()} (1, 5, 15 min) at start",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    results = report.Report(repeats=args.repeats, quick=args.quick, anchors=anchors.description())
    results.camps["stdlib"] = anchors.header()
    print(f"subinterpreters benchmark: {', '.join(args.tables)}; the anchor: {anchors.header()}")
    for fact in machine_facts():
        print("  " + fact)
    print()
    progress = ProgressLine()
    bench = Bench(args, progress, results)
    for number, name in enumerate(args.tables, 1):
        progress.section(number, len(args.tables), name)
        print(f"== {name} (load {load_text()} at its start) ==")
        TABLES[name](bench)
    results.errors = bench.errors
    results.finish(time.perf_counter() - started)
    if args.partial:
        print("bench/results not written (a partial run; `make bench` writes them)")
    elif args.no_results:
        print("bench/results not written (--no-results)")
    else:
        for line in report.write(results):
            print(line)
    for error in bench.errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if bench.errors or bench.ours_missing else 0


if __name__ == "__main__":
    sys.exit(main())
