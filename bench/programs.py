"""Real programs, not microbenchmarks: work that programs hand to a pool, and the data they pass,
with the peers in the same run (measure.time_rounds, interleaved as every table). Every pool has 2
workers, made and warmed up before timing (pool.py's executors):

* markdown: `pool.map(pool_tasks.render, documents)` over 200 generated documents (headings,
  paragraphs, lists, a table, a fenced code block; deterministic), `render` being
  `markdown.markdown(text, extensions=["tables", "fenced_code"])` (python-markdown from PyPI,
  installed into the benchmark's venv by `make bench`; it imports in isolated interpreters, ours
  and CPython 3.14's: the untimed warm-up map of each row shows it); the HTML is checked against
  the serial run's;
* records returned: 4 tasks at once, each `pool_tasks.make_records(20000, start)` returning 20,000
  records like `{"id": 1, "name": "user1", "score": 0.5, "tags": ["a", "b"]}`; the results are
  checked;
* records as arguments: 4 tasks at once, each `pool_tasks.sum_scores(records)` given such a list;
* a round trip of the 20,000 records between two interpreters: main `put()`s them on a queue, a
  worker interpreter `get()`s them and `put()`s them back on a second queue, main `get()`s them
  (pingpong.Echo with the records as payload), against `pickle.loads(pickle.dumps(records))` in
  one interpreter, the stdlib's queues (pickled), a `multiprocessing.Pipe` to a child and
  `queue.Queue` between threads (no copy at all).

The peers of the pool rows: our `InterpreterPoolExecutor`, CPython's
`concurrent.futures.InterpreterPoolExecutor` (3.14+; n/a on 3.13), `ProcessPoolExecutor`
(forkserver), `ThreadPoolExecutor`, and serial (the main thread).

Targets (ratios of medians of this run): records returned, ours <= 0.5x ProcessPoolExecutor's time
and <= 0.4x the stdlib pool's; records as arguments <= 0.5x ProcessPoolExecutor's; the queue round
trip of the records >= 3x faster than the pickle round trip; markdown within 5% of the fastest
peer; the pool table's trivial task round trip and map(square) with chunksize 1 over 10,000 items
<= ThreadPoolExecutor's; the throughput table's queue item by item >= 5x CPython 3.13's queues
(3.13 runs), >= 10x 3.14's (3.14+ runs).
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from collections.abc import Callable
from typing import Any

import anchors
import pingpong
import pool
import pool_tasks
import report
import throughput
from measure import RUN_BUDGET_NS, Bench, Row, Unavailable, time_rounds

WORKERS = 2
DOCUMENTS = 200
RECORDS = 20_000
RECORD_TASKS = 4
RECORDS_RETURNED_VS_PROCESS = 0.5  # ours at most this times ProcessPoolExecutor's time
RECORDS_RETURNED_VS_STDLIB = 0.4  # ours at most this times the stdlib pool's time
RECORDS_ARGUMENTS_VS_PROCESS = 0.5
QUEUE_VS_PICKLE = 3.0  # the pickle round trip at least this many times our queue round trip
MARKDOWN_SLACK = 1.05  # ours at most this times the fastest peer
VS_THREADS = 1.0  # ours at most ThreadPoolExecutor's time (trivial task, map chunksize 1)
TASKS_BUDGET_NS = 1_000_000_000  # a run of a pool row takes up to 3 rounds, until this long

WORDS = (
    "interpreter",
    "queue",
    "channel",
    "buffer",
    "worker",
    "pool",
    "result",
    "record",
    "thread",
    "process",
    "memory",
    "module",
    "future",
    "latency",
    "throughput",
    "object",
)


def document(i: int) -> str:
    """A deterministic markdown document (about 3 KiB): headings, paragraphs with emphasis, code
    and links, a bulleted and a numbered list, a table and a fenced code block."""

    def words(n: int, seed: int) -> str:
        return " ".join(WORDS[(seed * 7 + k * 3 + k * k) % len(WORDS)] for k in range(n))

    out = [f"# Document {i}: {words(3, i)}", ""]
    for section in range(3):
        seed = i * 10 + section
        out += [
            f"## Section {section + 1}",
            "",
            f"{words(12, seed).capitalize()}, *{words(2, seed + 1)}* and **{words(2, seed + 2)}**"
            f" with `{WORDS[seed % len(WORDS)]}()` and [a link](https://example.org/{seed}). "
            f"{words(20, seed + 3).capitalize()}.",
            "",
        ]
        out += [f"- {words(4, seed + k).capitalize()}" for k in range(5)] + [""]
        out += [f"{k + 1}. {words(6, seed + k + 5)}" for k in range(4)] + [""]
    out += ["| name | count | share | note |", "| --- | ---: | ---: | --- |"]
    out += [
        f"| {WORDS[(i + k) % len(WORDS)]} | {(i * 31 + k * 17) % 1000} | "
        f"{((i + k) % 100) / 100:.2f} | {words(3, i + k)} |"
        for k in range(12)
    ]
    out += [
        "",
        "```python",
        f"def task_{i}(items):",
        "    total = 0",
        "    for item in items:",
        f"        total += item * {i % 9 + 1}  # {words(3, i)}",
        "    return total",
        "```",
        "",
    ]
    out += [words(30, i + 99).capitalize() + "."]
    return "\n".join(out) + "\n"


class Pickle(pingpong.Echo):
    """`pickle.loads(pickle.dumps(obj))` in this interpreter: what a copy by pickle costs, with
    no transport at all."""

    key = "pickle"
    name = "pickle.dumps + pickle.loads, one interpreter"
    camp = None
    blob: bytes = b""

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        dumps, loads = pickle.dumps, pickle.loads

        def send(obj: object) -> None:
            self.blob = dumps(obj)

        return send, lambda: loads(self.blob)


class PickleThereAndBack(Pickle):
    """As `Pickle`, twice: the copies a round trip makes (there, and back), so this row and our
    queue's round trip compare like for like. The target keeps the issue's anchor (`Pickle`)."""

    key = "pickle-twice"
    name = "pickle.dumps + loads twice (there and back)"

    def start(self) -> tuple[Callable[[Any], object], Callable[[], object]]:
        dumps, loads = pickle.dumps, pickle.loads

        def send(obj: object) -> None:
            self.blob = dumps(loads(dumps(obj)))

        return send, lambda: loads(self.blob)


def markdown_available() -> None:
    if importlib.util.find_spec("markdown") is None:
        raise Unavailable("markdown is not installed (make bench installs it into the bench venv)")


def run(bench: Bench) -> None:
    rounds = 1 if bench.quick else 3
    documents = [document(i) for i in range(DOCUMENTS)]
    starts = [k * RECORDS for k in range(RECORD_TASKS)]
    given = [pool_tasks.make_records(RECORDS, start) for start in starts]
    sums = [pool_tasks.sum_scores(records) for records in given]
    html: list[str] = []

    def expect_html() -> None:  # once, before the runs (the serial render, untimed)
        markdown_available()
        if not html:
            html.extend(pool_tasks.render(text) for text in documents)

    def timed(
        workload: pool.PoolWorkload, work: Callable[[], object], wanted: Callable[[], object]
    ) -> Callable[[], list[int]]:
        def check(_i: int, got: object, _p: object) -> None:
            if got != wanted():
                raise RuntimeError(f"{workload.name}: wrong results")

        return lambda: time_rounds(
            lambda _i: work(), rounds, check=check, budget_ns=TASKS_BUDGET_NS, min_rounds=1
        )

    def warm(workload: pool.PoolWorkload) -> None:  # every worker imports markdown, untimed
        expect_html()
        if workload.map(pool_tasks.render, documents) != html:
            raise RuntimeError(f"{workload.name}: wrong HTML")

    rows = []
    for w in pool.executors(WORKERS):
        if w.camp == "stdlib" and not anchors.PUBLIC:
            skip: str | None = f"{anchors.PREFIX} has no InterpreterPoolExecutor (3.14+)"
        else:
            skip = None
        rows += [
            Row(
                w,
                timed(w, functools.partial(w.map, pool_tasks.render, documents), lambda: html),
                key=f"markdown/{w.key}",
                skip=skip,
                setup=functools.partial(warm, w),
                what=f"map over {DOCUMENTS} documents",
            ),
            Row(
                w,
                timed(
                    w,
                    functools.partial(
                        w.run_tasks, pool_tasks.make_records, [(RECORDS, start) for start in starts]
                    ),
                    lambda: given,
                ),
                key=f"returned/{w.key}",
                skip=skip,
                what=f"{RECORD_TASKS} tasks returning {RECORDS:,} records",
            ),
            Row(
                w,
                timed(
                    w,
                    functools.partial(w.run_tasks, pool_tasks.sum_scores, [(records,) for records in given]),
                    lambda: sums,
                ),
                key=f"arguments/{w.key}",
                skip=skip,
                what=f"{RECORD_TASKS} tasks given {RECORDS:,} records",
            ),
        ]
    payload = given[0]
    echoes = [
        pingpong.OursQueue(),
        pingpong.StdlibQueue(pickled=True),
        pingpong.Pipe(),
        pingpong.ThreadQueue(),
        Pickle(),
        PickleThereAndBack(),
    ]
    trips, warmup = (3, 0) if bench.quick else (5, 1)
    rows += [
        Row(
            echo,
            functools.partial(echo.measure, trips, warmup, payload, None, RUN_BUDGET_NS),
            key=f"queue/{echo.key}",
            what=f"round trips of {RECORDS:,} records",
        )
        for echo in echoes
    ]
    elapsed = bench.measure("real programs", rows)
    publish(bench, rows, elapsed)


def publish(bench: Bench, rows: list[Row], elapsed: float) -> None:
    get = bench.row
    part = f"Real programs ({anchors.PREFIX}, {WORKERS} workers in every pool; markdown {markdown_version()})"
    returned = f"{RECORD_TASKS} tasks each returning {RECORDS:,} records"
    given = f"{RECORD_TASKS} tasks each given {RECORDS:,} records"
    tables = {  # key: (title, name in the summary, notes)
        "markdown": (
            f"Markdown: map(render, {DOCUMENTS} documents)",
            f"markdown, {DOCUMENTS} documents (pool.map)",
            "markdown.markdown(text, extensions=['tables', 'fenced_code']) over "
            "generated documents of about 3 KiB (headings, lists, a table, a fenced code "
            "block); time per map; the HTML checked against the serial run's",
        ),
        "returned": (
            f"Records returned: {returned}",
            returned,
            'records like {"id": 1, "name": "user1", "score": 0.5, "tags": ["a", "b"]}, '
            "built by pool_tasks.make_records in the worker; time from the first "
            "submit() until every result is back",
        ),
        "arguments": (
            f"Records as arguments: {given}",
            given,
            "each task sums the scores of its list (pool_tasks.sum_scores); time from "
            "the first submit() until every result is back",
        ),
        "queue": (
            f"Round trip of {RECORDS:,} records between two interpreters",
            f"round trip of {RECORDS:,} records",
            "main puts the list, the worker gets it and puts it back on a second queue, "
            "main gets it (checked equal); the stdlib's queues pickle such a list, a Pipe "
            "pickles it to a child process, queue.Queue passes the object itself (no "
            "copy); pickle: dumps + loads of the same list, no transport (once, the target's "
            "anchor; and twice, the copies our round trip makes); " + anchors.queue_sleeps(),
        ),
    }
    sections = {
        key: report.Section(title, "time", "ours", part=part, short=f"Real: {short}", notes=[notes])
        for key, (title, short, notes) in tables.items()
    }
    for row in rows:
        table = row.key.split("/")[0]
        shown = report.entry(
            row, get(f"real programs/{table}/ours") or get(f"real programs/{table}/ours-queue")
        )
        sections[table].entries.append(shown)
    isolated = [
        name
        for name, key in (("ours", "ours"), (anchors.PREFIX + "'s", "stdlib"))
        if (row := get(f"real programs/markdown/{key}")) and row.median is not None
    ]
    sections["markdown"].notes.append(
        f"markdown imports and renders in isolated interpreters: {' and '.join(isolated)}"
        if isolated
        else "markdown did not run in an isolated interpreter in this run"
    )
    pickled = get("real programs/queue/pickle")
    if pickled is not None and pickled.median is not None:
        sections[
            "queue"
        ].short += f" (pickle dumps + loads alone: {report.value_text('time', pickled.median)})"
    for number, section in enumerate(sections.values()):
        bench.publish(section, elapsed if number == len(sections) - 1 else None)
    bench.check_ours(rows)
    bench.targets("real programs", targets(bench))


def targets(bench: Bench) -> list[str]:
    get = bench.row
    ours = {table: get(f"real programs/{table}/ours") for table in ("markdown", "returned", "arguments")}
    peers = [
        row
        for key, row in bench.rows.items()
        if key.startswith("real programs/markdown/") and not key.endswith("/ours") and row.median is not None
    ]
    fastest = min(peers, key=lambda row: row.median or 0.0, default=None)
    fastest_name = " ".join(fastest.label.split()) if fastest is not None else "no peer"
    return [
        report.goal(
            "ours / ProcessPoolExecutor, time, records returned",
            *report.ratio(ours["returned"], get("real programs/returned/process")),
            RECORDS_RETURNED_VS_PROCESS,
            at_most=True,
        ),
        report.goal(
            f"ours / {anchors.PREFIX} InterpreterPoolExecutor, time, records returned",
            *report.ratio(ours["returned"], get("real programs/returned/stdlib")),
            RECORDS_RETURNED_VS_STDLIB,
            at_most=True,
        ),
        report.goal(
            "ours / ProcessPoolExecutor, time, records as arguments",
            *report.ratio(ours["arguments"], get("real programs/arguments/process")),
            RECORDS_ARGUMENTS_VS_PROCESS,
            at_most=True,
        ),
        report.goal(
            "pickle round trip / our queue round trip of the records",
            *report.ratio(get("real programs/queue/pickle"), get("real programs/queue/ours-queue")),
            QUEUE_VS_PICKLE,
        ),
        report.goal(
            f"ours / the fastest peer ({fastest_name}), markdown",
            *report.ratio(ours["markdown"], fastest),
            MARKDOWN_SLACK,
            at_most=True,
        ),
        report.goal(
            "ours / ThreadPoolExecutor, trivial task round trip (pool table)",
            *report.ratio(get("pool/latency/ours"), get("pool/latency/thread")),
            VS_THREADS,
            at_most=True,
        ),
        report.goal(
            "ours / ThreadPoolExecutor, map chunksize 1 over 10,000 (pool table)",
            *report.ratio(get("pool/map-1/ours"), get("pool/map-1/thread")),
            VS_THREADS,
            at_most=True,
        ),
        throughput.stdlib_goal(bench, " (throughput table)"),
    ]


def markdown_version() -> str:
    try:
        from importlib.metadata import version

        return version("markdown")
    except Exception:
        return "not installed"
