"""Interpreter start-up (issue 7): each round makes a fresh worker, has it do something trivial, and
waits until it is gone; the round is timed (measure.time_rounds) from before the creation until the
worker is gone:

* subinterpreters: `si.create()` (an isolated interpreter, its own GIL), `run("x = 1")`, `close()`;
* the stdlib's interpreters (anchors.py: CPython 3.13's `_interpreters`, CPython 3.14's
  `concurrent.interpreters`): `create()`, `exec("x = 1")`, `close()`;
* a `multiprocessing` process whose target (`pool_tasks.noop`) returns at once: `start()`,
  `join()`; spawned (the child imports the main script, as every spawned child does: bench/run.py
  and the modules it imports, nothing heavy at their top), and forked from the forkserver
  (CPython 3.14's default start method);
* a `threading.Thread` whose target returns at once: `start()`, `join()`.

No target: it is there to be seen. This module imports nothing heavy at the top.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import anchors
import pool_tasks
import report
from measure import RUN_BUDGET_NS, Bench, Row, Workload, import_ours, time_rounds

STATEMENT = "x = 1"


class StartUp(Workload):
    """One way to start a worker; `once()` starts one, has it do something trivial and waits
    until it is gone."""

    max_rounds = 30  # timed rounds per run (at most)

    def once(self, _i: int = 0) -> None:
        raise NotImplementedError

    def measure(self, rounds: int) -> list[int]:
        """A run: one untimed round, then up to `rounds` timed ones (fewer once the run passes
        RUN_BUDGET_NS)."""
        try:
            return time_rounds(self.once, rounds, 1, budget_ns=RUN_BUDGET_NS)
        finally:
            gc.collect()


class Interpreters(StartUp):
    """`create()`, run the statement, `close()`: ours or the stdlib's."""

    def __init__(self, ours: bool) -> None:
        self.ours = ours
        self.camp = "ours" if ours else "stdlib"
        self.key = self.camp
        self.name = (
            "subinterpreters  create()/run()/close()" if ours else f"{anchors.PREFIX} create()/exec()/close()"
        )

    def open(self) -> None:
        if self.ours:
            self.create = import_ours().create
            self.run = "run"
        else:
            self.create = anchors.interpreters().create
            self.run = "exec"

    def once(self, _i: int = 0) -> None:
        interp = self.create()
        try:
            getattr(interp, self.run)(STATEMENT)
        finally:
            interp.close()


class Process(StartUp):
    camp = "process"
    max_rounds = 10

    def __init__(self, method: str) -> None:
        self.method = method
        self.key = f"process-{method}"
        self.name = f"multiprocessing.Process ({method})"

    def open(self) -> None:
        import multiprocessing

        # Not fork: forking a process that has threads and subinterpreters is unsafe.
        self.context: Any = multiprocessing.get_context(self.method)

    def once(self, _i: int = 0) -> None:
        process = self.context.Process(target=pool_tasks.noop)
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"the child process exited with {process.exitcode}")
        process.close()


class Thread(StartUp):
    key = "thread"
    name = "threading.Thread start()/join()"
    camp = "thread"
    max_rounds = 300

    def once(self, _i: int = 0) -> None:
        thread = threading.Thread(target=pool_tasks.noop)
        thread.start()
        thread.join()


def starters() -> list[StartUp]:
    """Ours first (the baseline of the ratios), then the anchors."""
    return [
        Interpreters(ours=True),
        Interpreters(ours=False),
        Process("spawn"),
        Process("forkserver"),
        Thread(),
    ]


def run(bench: Bench) -> None:
    scale = 0.25 if bench.quick else 1.0
    rows = []
    for starter in starters():
        wanted = max(3, int(starter.max_rounds * scale))
        rows.append(Row(starter, lambda s=starter, n=wanted: s.measure(n), what=f"1 + {wanted} rounds"))
    elapsed = bench.measure("start-up", rows)
    section = report.Section(
        "Start-up: create a worker, run a trivial statement, close it",
        "time",
        "ours",
        short="Start-up: create, run a statement, close",
        notes=[
            f"interpreters run {STATEMENT!r}; the processes and the thread run a function that "
            "returns; each round timed from before the creation until close() or join() "
            "returns (one untimed round per run first)",
            f"a run stops once it has taken {RUN_BUDGET_NS / 1e9:g} s (after at least 3 "
            "rounds); the spawned child imports the main script, as every spawned child does; "
            "the forkserver (started once, untimed) forks each child",
        ],
    )
    for row in rows:
        shown = report.entry(row, rows[0])
        if isinstance(row.workload, Process):
            shown.tag = row.workload.method
        section.entries.append(shown)
    bench.publish(section, elapsed)
    bench.check_ours(rows)
