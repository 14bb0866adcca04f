"""The interpreter start-up workloads that run.py times (issue 7): ours and the anchors.

Each round makes a fresh worker, has it do something trivial, and waits until it is gone; the
round is timed with `time.perf_counter_ns` from before the creation until the worker is gone:

* subinterpreters: `si.create()` (an isolated interpreter, its own GIL), `run("x = 1")`, `close()`;
* CPython 3.13's own interpreters (`test.support.interpreters`): `create()`, `exec("x = 1")`,
  `close()`;
* a `multiprocessing` process (spawn, as the other tables' children) whose target
  (`pool_tasks.noop`) returns at once: `start()`, `join()`; the child imports the main script as
  every spawned child does (bench/run.py and the modules it imports, nothing heavy at their top);
* a `threading.Thread` whose target returns at once: `start()`, `join()`.

This module imports nothing heavy at the top: spawned children import the main script, which
imports it.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

import pool_tasks
from workloads import Unavailable

RUN_BUDGET_NS = 2_000_000_000  # a run stops once it has taken this long (after MIN_ROUNDS rounds)
MIN_ROUNDS = 3
STATEMENT = "x = 1"


class StartUp:
    """One way to start a worker. `open()` once, `measure()` once per repeat, `close()` at the end;
    a subclass provides `once()`: start one worker, have it do something trivial, wait until it is
    gone."""

    key: str  # "ours", "cpython", "process", "thread"
    name: str  # the row label
    max_rounds: int = 30  # timed rounds per run (at most)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def once(self) -> None:
        raise NotImplementedError

    def measure(self, rounds: int, warmup: int) -> list[int]:
        """`warmup` untimed rounds, then up to `rounds` timed ones (fewer once the run passes
        RUN_BUDGET_NS, never fewer than MIN_ROUNDS); return each round in ns."""
        for _ in range(warmup):
            self.once()
        clock = time.perf_counter_ns
        samples: list[int] = []
        gc_was_enabled = gc.isenabled()
        gc.disable()  # as timeit does: a collection during a round is not the start-up's cost
        try:
            deadline = clock() + RUN_BUDGET_NS
            for _ in range(rounds):
                started = clock()
                self.once()
                ended = clock()
                samples.append(ended - started)
                if len(samples) >= MIN_ROUNDS and ended > deadline:
                    break
        finally:
            if gc_was_enabled:
                gc.enable()
                gc.collect()
        return samples


class Ours(StartUp):
    key = "ours"
    name = "subinterpreters  create()/run()/close()"

    def open(self) -> None:
        import subinterpreters

        self.create = subinterpreters.create

    def once(self) -> None:
        interp = self.create()
        try:
            interp.run(STATEMENT)
        finally:
            interp.close()


class CPythonInterpreters(StartUp):
    key = "cpython"
    name = "CPython 3.13 create()/exec()/close()"

    def open(self) -> None:
        try:
            from test.support import interpreters
        except ImportError as exc:
            version = "%d.%d" % sys.version_info[:2]
            raise Unavailable(f"test.support.interpreters is missing on {version}") from exc
        self.create = interpreters.create

    def once(self) -> None:
        interp = self.create()
        try:
            interp.exec(STATEMENT)
        finally:
            interp.close()


class Process(StartUp):
    key = "process"
    name = "multiprocessing.Process (spawn)"
    max_rounds = 10

    def open(self) -> None:
        import multiprocessing

        # "spawn": forking a process that has threads and subinterpreters is unsafe.
        self.context = multiprocessing.get_context("spawn")

    def once(self) -> None:
        process = self.context.Process(target=pool_tasks.noop)
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"the child process exited with {process.exitcode}")
        process.close()


class Thread(StartUp):
    key = "thread"
    name = "threading.Thread start()/join()"
    max_rounds = 300

    def once(self) -> None:
        thread = threading.Thread(target=pool_tasks.noop)
        thread.start()
        thread.join()


def all_startups() -> list[StartUp]:
    """Ours first (the baseline of the ratios), then the anchors."""
    return [Ours(), CPythonInterpreters(), Process(), Thread()]
