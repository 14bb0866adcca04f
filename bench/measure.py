"""The benchmark's one measuring loop, shared by every workload module.

Two levels, each written once:

* `time_rounds()` times the rounds of one run: `warmup` untimed rounds, then up to `rounds` timed
  ones, each timed with `time.perf_counter_ns` around the round alone (an untimed `prepare(i)`
  before it and an untimed `check(i, result, prepared)` after it), with the collector off (as
  timeit does: a collection during a round is not the workload's cost); a run may stop early once
  it has taken `budget_ns` (after at least `min_rounds` rounds). A workload measured "once per
  run" (a throughput pass, one map) is a run of one round.
* `Bench.measure()` runs the repeats of a table: it opens every workload of the table once, then
  runs every row once per repeat, interleaved (row 1, row 2, ..., row 1, row 2, ...), so that noise
  on a small machine hits every row alike, and closes the workloads. Each run gives the median (and
  90th percentile) of its rounds; a row's figure is the median of those per-run medians.

A workload module builds `Row`s (a workload and a function doing one run), has them measured, then
publishes a `report.Section` and its target lines through the `Bench`, which prints them and keeps
them for bench/results. This module imports nothing heavy: spawned children import the main script,
which imports it.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import report

MIN_ROUNDS = 3  # a run with a budget stops early only after this many timed rounds
RUN_BUDGET_NS = 2_000_000_000  # the usual budget of one run of a slow workload


class Unavailable(Exception):
    """The workload cannot run here (its message says why); the table shows "n/a"."""


def time_rounds(
    one_round: Callable[[Any], object],
    rounds: int,
    warmup: int = 0,
    *,
    reply: Callable[[], object] | None = None,
    prepare: Callable[[int], object] | None = None,
    check: Callable[[int, object, object], None] | None = None,
    budget_ns: int | None = None,
    min_rounds: int = MIN_ROUNDS,
) -> list[int]:
    """Run `warmup` untimed rounds, then up to `rounds` timed ones; return each timed round in ns.

    Round i is `one_round(p)` with p = `prepare(i)` (untimed; i itself without `prepare`), then
    `reply()` if given (a ping-pong's send and receive, with no call of ours in between); its
    result is `reply()`'s, or `one_round`'s. `check(i, result, p)` runs after the round, untimed
    (a check raises to fail the run). With `budget_ns`, the run stops once its timed rounds have
    taken that long and number at least `min_rounds`."""
    clock = time.perf_counter_ns
    samples: list[int] = []
    deadline = None
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(warmup + rounds):
            prepared = prepare(i) if prepare is not None else i
            if reply is None:
                started = clock()
                result = one_round(prepared)
                ended = clock()
            else:
                started = clock()
                one_round(prepared)
                result = reply()
                ended = clock()
            if check is not None:
                check(i, result, prepared)
            # Freed here, untimed: a large result (a pool's records) would otherwise be freed
            # inside the next round's timing, by the assignment of its result.
            result = prepared = None
            if i < warmup:
                continue
            samples.append(ended - started)
            if budget_ns is not None:
                deadline = deadline or started + budget_ns  # from the first timed round
                if len(samples) >= min_rounds and ended > deadline:
                    break
    finally:
        if was_enabled:
            gc.enable()
    return samples


def time_once(one_run: Callable[[], object], check: Callable[[object], None] | None = None) -> list[int]:
    """A run of one timed round (one map, one batch of tasks): `[ns]`; `check(result)` after it,
    untimed."""
    return time_rounds(
        lambda _i: one_run(), 1, check=None if check is None else lambda _i, result, _p: check(result)
    )


class Workload:
    """One transport, executor or way of starting a worker. `open()` once before the runs (raise
    `Unavailable` if it cannot run here), `close()` once after them."""

    key: str = ""  # a short identifier, unique in its table
    name: str = ""  # the row label
    camp: str | None = None  # its column in the summary: see report.CAMPS

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def import_ours() -> Any:
    """The package, or Unavailable if this Python cannot import it."""
    try:
        import subinterpreters
    except ImportError as exc:
        raise Unavailable(f"cannot import subinterpreters ({exc}); run `make bench`") from exc
    return subinterpreters


@dataclass(eq=False)
class Row:
    """One row of a table: a workload and what one run of it does; then its figures."""

    workload: Workload
    run: Callable[[], list[int]]  # one run: its timed rounds in ns
    label: str = ""  # defaults to the workload's name
    key: str = ""  # its name in Bench.rows; defaults to the workload's key (or the label, if
    #                several rows of the table share the workload)
    what: str = ""  # the progress line's text for a run
    setup: Callable[[], None] | None = None  # once after open(), before the runs (untimed)
    skip: str | None = None  # not run here, and why
    per_round: float = 1.0  # items per round (rate rows: items/s = per_round / median s)
    medians: list[float] = field(default_factory=list)  # ns, one per run
    p90s: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # timed rounds, one per run
    unavailable: str | None = None  # why it has no figures

    def __post_init__(self) -> None:
        self.label = self.label or self.workload.name

    @property
    def median(self) -> float | None:
        return statistics.median(self.medians) if self.medians else None

    @property
    def p90(self) -> float | None:
        return statistics.median(self.p90s) if self.p90s else None

    @property
    def worst(self) -> float | None:
        return max(self.medians) if self.medians else None

    @property
    def rate(self) -> float | None:
        """Items per second from the median (rate rows)."""
        return None if self.median is None else self.per_round * 1e9 / self.median

    @property
    def why(self) -> str:
        return self.unavailable or self.skip or "not measured"

    def add(self, samples: list[int]) -> None:
        if not samples:
            raise RuntimeError("a run took no timed round")
        ordered = sorted(samples)
        self.medians.append(statistics.median(ordered))
        self.p90s.append(
            statistics.quantiles(ordered, n=10, method="inclusive")[-1] if len(ordered) > 1 else ordered[0]
        )
        self.counts.append(len(ordered))

    def runs_text(self) -> str:
        """ "5 x 200": runs x timed rounds per run (a range where runs stopped early)."""
        if not self.counts:
            return ""
        low, high = min(self.counts), max(self.counts)
        return f"{len(self.counts)} x {low if low == high else f'{low}-{high}'}"


class PeerThread(threading.Thread):
    """A thread running `target`; remembers the exception that ended it, if any."""

    def __init__(self, target: Callable[[], object], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:
            self.error = exc

    def finish(self, what: str, timeout: float = 30) -> None:
        """Join; fail if it is still running or ended with an exception."""
        self.join(timeout=timeout)
        if self.is_alive():
            raise RuntimeError(f"the {what} did not stop")
        if self.error is not None:
            raise RuntimeError(f"the {what} failed: {self.error!r}")


def stop_child(process: Any, say_goodbye: Callable[[], object], *closing: Any) -> None:
    """End a benchmark's child process: tell it to stop, join it (kill it after 10 s), then close
    what talked to it (pipes or queues)."""
    try:
        say_goodbye()
    except (OSError, ValueError):
        pass  # it is gone already
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
    for end in closing:
        end.close()
        if hasattr(end, "join_thread"):
            end.join_thread()


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


class Bench:
    """What a workload module needs from the driver: the arguments, the progress line, the
    report being filled, the errors met and the rows measured so far (for targets that compare
    rows of different tables)."""

    def __init__(self, args: Any, progress: Any, report_: report.Report) -> None:
        self.args = args
        self.progress = progress
        self.report = report_
        self.errors: list[str] = []
        self.rows: dict[str, Row] = {}  # "table/key" -> row, for targets across tables
        self.ours_missing = False

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    @property
    def repeats(self) -> int:
        return int(self.args.repeats)

    def error(self, what: str, exc: BaseException) -> str:
        self.errors.append(f"{what}: {type(exc).__name__}: {exc}")
        return f"failed: {exc}"

    def measure(self, table: str, rows: list[Row], after: Callable[[], None] | None = None) -> float:
        """THE loop: open each workload of `rows` once, set up each row once, run every row once
        per repeat (interleaved), call `after()` (a measurement of its own, on the workloads still
        open), then close the workloads; return the seconds it took. Rows are
        kept as `self.rows["table/key"]` (key: the workload's key, or the row's label if several
        rows share a workload)."""
        started = time.perf_counter()
        show = self.progress.show
        workloads = list(dict.fromkeys(row.workload for row in rows if row.skip is None))
        opened: list[Workload] = []
        try:
            for workload in workloads:
                show(f"{table}: starting {workload.name} ...")
                try:
                    workload.open()
                    opened.append(workload)
                    continue
                except Unavailable as exc:
                    reason = str(exc)
                except Exception as exc:
                    reason = self.error(workload.name, exc)
                for row in rows:
                    if row.workload is workload:
                        row.unavailable = reason
            live: list[Row] = []
            for row in rows:
                if row.workload not in opened or row.skip is not None:
                    continue
                try:
                    if row.setup is not None:
                        show(f"{table}: setting up {row.label} ...")
                        row.setup()
                    live.append(row)
                except Unavailable as exc:
                    row.unavailable = str(exc)
                except Exception as exc:
                    row.unavailable = self.error(row.label, exc)
            for repeat in range(1, self.repeats + 1):
                for row in list(live):
                    show(
                        f"{table} run {repeat}/{self.repeats}: {row.label}"
                        + (f", {row.what}" if row.what else "")
                        + " ..."
                    )
                    try:
                        row.add(row.run())
                    except Unavailable as exc:
                        row.unavailable = str(exc)
                        live.remove(row)
                    except Exception as exc:  # report and go on with the other rows
                        row.unavailable = self.error(row.label, exc)
                        live.remove(row)
            if after is not None:
                after()
        finally:
            for workload in opened:
                try:
                    workload.close()
                except Exception as exc:
                    self.error(f"closing {workload.name}", exc)
            gc.collect()
            self.progress.clear()
        shared = {row.workload for row in rows if sum(r.workload is row.workload for r in rows) > 1}
        for row in rows:
            key = row.key or (row.label if row.workload in shared else row.workload.key)
            self.rows[f"{table}/{key}"] = row
        return time.perf_counter() - started

    def row(self, name: str) -> Row | None:
        return self.rows.get(name)

    def publish(self, section: report.Section, elapsed: float | None = None) -> None:
        """Print the table and keep it for the written report."""
        for line in report.table_lines(section):
            print(line)
        if elapsed is not None:
            print(f"measured in {elapsed:.1f} s")
        print()
        self.report.sections.append(section)

    def targets(self, title: str, lines: list[str]) -> None:
        print(f"Targets ({title}), from the medians above:")
        for line in lines:
            print(line)
        print()
        self.report.targets += [f"{title}:", *lines, ""]

    def check_ours(self, rows: list[Row]) -> None:
        """A run with one of our rows unmeasured fails (exit 1)."""
        for row in rows:
            if row.workload.camp == "ours" and row.median is None and row.skip is None:
                self.ours_missing = True
                print(f"ours not measured: {row.label}: {row.why}", file=sys.stderr)
