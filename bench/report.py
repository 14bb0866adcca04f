"""The report of a benchmark run: the tables as the terminal shows them (`table_lines()`), the rows'
comparisons (`entry()`: ratios of medians, "3.20x slower" meaning the row is 3.2 times slower than
its baseline, ours) and target lines (`goal()`, `time_goal()`, `rate_goal()`: met / NOT met); and
what a full `make bench` run writes (issue 7): `bench/results/latest.md` (the machine, the Python
and the anchors it used, the package version and commit, a summary table with a column per camp
(ours, the stdlib's interpreters named after the CPython version, multiprocessing, threading), one
table per workload with every row's median and its ratio to the baseline, and the targets),
`bench/results/latest.png` (a log-scale horizontal bar chart per workload, ours highlighted) and
the README's latest-run table. The workload modules fill a `Report` (through measure.Bench) while
they print their tables.

The chart needs matplotlib (installed in the benchmark's venv only, by `make bench`); without it
the markdown is still written and the run says that it skipped the chart.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")


@dataclass
class Entry:
    """One row: its median (ns for a time, items/s for a rate) and how it compares."""

    label: str
    value: float | None  # None: not measured (`note` says why)
    ours: bool = False  # highlighted in the chart
    versus: str = ""  # the ratio text, "baseline" for the baseline row
    extra: str = ""  # the section's extra column, if it has one
    note: str = ""
    key: bool = True  # shown in the summary table too
    tag: str = ""  # its name in a summary cell that holds more than one row
    camp: str | None = None  # its summary column (a key of CAMPS); None: not in the summary
    spread: float | None = None  # the p90 (time) or the worst run (rate)
    runs: str = ""  # "runs x rounds"


# The summary table's columns: camp -> header. "stdlib" is named after the CPython anchors the run
# used (see anchors.py): run.py sets it, e.g. "CPython 3.14 concurrent.interpreters".
CAMPS = {
    "ours": "subinterpreters",
    "stdlib": "CPython interpreters",
    "process": "multiprocessing",
    "thread": "threading",
}


def versus_text(value: float, base: float, kind: str = "time") -> str:
    """How a median compares with its baseline's: "3.20x slower", "12.5x faster"."""
    worse = value / base if kind == "time" else base / value
    factor = worse if worse >= 1 else 1 / worse
    shown = f"{factor:.2f}" if factor < 10 else f"{factor:.1f}" if factor < 100 else f"{factor:,.0f}"
    return f"{shown}x {'slower' if worse >= 1 else 'faster'}"


def entry(row: Any, base: Any, kind: str = "time", label: str | None = None) -> Entry:
    """The report's row for a measured row (a measure.Row), compared with `base` (the baseline
    row, or None for none)."""
    label = " ".join((label or row.label).split())
    camp = row.workload.camp
    ours = camp == "ours"
    if row.median is None:
        return Entry(label, None, ours=ours, note=row.why, camp=camp)
    value = row.rate if kind == "rate" else row.median
    # The spread: the p90 of the rounds, or the slowest run where a run is one round.
    spread = row.worst if max(row.counts) == 1 else row.p90
    if kind == "rate":
        spread = row.per_round * 1e9 / row.worst
    if row is base:
        versus = "baseline"
    elif base is None or base.median is None:
        versus = "n/a (baseline not measured)"
    else:
        versus = versus_text(value, base.rate if kind == "rate" else base.median, kind)
    return Entry(label, value, ours=ours, versus=versus, camp=camp, spread=spread, runs=row.runs_text())


# --- target lines ---------------------------------------------------------------------------------


def ratio(numerator: Any, denominator: Any, kind: str = "time") -> tuple[float | None, str]:
    """numerator's median / denominator's (rates: the items/s), with what is missing if a row
    was not measured."""
    for row in (numerator, denominator):
        if row is None:
            return None, "not measured in this run"
        if row.median is None:
            return None, f"{' '.join(row.label.split())}: {row.why}"
    if kind == "rate":
        return numerator.rate / denominator.rate, ""
    return numerator.median / denominator.median, ""


def goal(
    label: str, measured: float | None, why: str, target: float, at_most: bool = False, strict: bool = False
) -> str:
    """A target on a ratio of medians: "need >= 4x measured 28.2x met" (None: `why` says what is
    missing)."""
    need = f"{'<=' if at_most else '>' if strict else '>='} {target:g}x"
    if measured is None:
        return f"  {label:<68} need {need:<8} n/a ({why})"
    if at_most:
        met = measured <= target
    else:
        met = measured > target if strict else measured >= target
    shown = f"{measured:,.1f}x" if measured >= 100 else f"{measured:.2f}x"
    return f"  {label:<68} need {need:<8} measured {shown:>10}   {'met' if met else 'NOT met'}"


def time_goal(label: str, row: Any, limit_ns: float) -> str:
    """A target on a median time: under `limit_ns`."""
    need = f"< {tick_text('time', limit_ns)}"
    if row is None or row.median is None:
        return f"  {label:<68} need {need:<8} n/a ({row.why if row is not None else 'not run'})"
    verdict = "met" if row.median < limit_ns else "NOT met"
    return f"  {label:<68} need {need:<8} measured {value_text('time', row.median):>10}   {verdict}"


def rate_goal(label: str, row: Any, floor: float) -> str:
    """A target on a median rate: at least `floor` items/s."""
    need = f">= {tick_text('rate', floor)}"
    if row is None or row.median is None:
        return f"  {label:<68} need {need:<8} n/a ({row.why if row is not None else 'not run'})"
    verdict = "met" if row.rate >= floor else "NOT met"
    return f"  {label:<68} need {need:<8} measured {value_text('rate', row.rate):>10}   {verdict}"


@dataclass
class Section:
    """One workload: a table on the terminal and in the markdown, a subplot in the chart."""

    title: str
    kind: str  # "time" (lower is better) or "rate" (items/s, higher is better)
    baseline: str  # what the "vs" column compares with
    short: str = ""  # its name in the summary table
    entries: list[Entry] = field(default_factory=list)
    extra_header: str = ""
    notes: list[str] = field(default_factory=list)
    part: str = ""  # a heading over a group of sections ("Real programs ...")


def table_lines(section: Section) -> list[str]:
    """The section as a table for the terminal, with its notes below it."""
    better = "lower is better" if section.kind == "time" else "higher is better"
    value_header = "median" if section.kind == "time" else "items/s"
    spread_header = "p90/worst" if section.kind == "time" else "worst run"
    width = max([40] + [len(e.label) for e in section.entries])
    header = (
        f"{'workload':<{width}} {value_header:>10} {spread_header:>10} "
        f"{'runs x rounds':>14}  vs {section.baseline}"
    )
    if section.extra_header:
        header += f"  | {section.extra_header}"
    lines = [f"{section.title} ({better})", header, "-" * len(header)]
    for item in section.entries:
        if item.value is None:
            lines.append(f"{item.label:<{width}} {'n/a':>10} {'n/a':>10} {'':>14}  {item.note}")
            continue
        line = (
            f"{item.label:<{width}} {value_text(section.kind, item.value):>10} "
            f"{value_text(section.kind, item.spread):>10} {item.runs:>14}  {item.versus}"
        )
        if section.extra_header:
            line += f"  | {item.extra}"
        lines.append(line)
    lines += [f"  {note}" for note in section.notes]
    lines.append(
        "  median: of the runs' medians; "
        + (
            "p90/worst: of the runs' 90th percentiles (the slowest run where a run is one round)"
            if section.kind == "time"
            else "worst run: the slowest run's rate"
        )
    )
    return lines


@dataclass
class Report:
    started: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
    load_start: tuple[float, float, float] | None = field(
        default_factory=lambda: os.getloadavg() if hasattr(os, "getloadavg") else None
    )
    load_end: tuple[float, float, float] | None = None
    seconds: float = 0.0
    repeats: int = 0
    quick: bool = False
    sections: list[Section] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    camps: dict[str, str] = field(default_factory=lambda: dict(CAMPS))  # the summary's headers
    anchors: str = ""  # which CPython anchors this run used (anchors.py)

    def finish(self, seconds: float) -> None:
        self.seconds = seconds
        if hasattr(os, "getloadavg"):
            self.load_end = os.getloadavg()


# --- facts ----------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def ram_text() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def git_commit() -> str:
    """`git rev-parse --short HEAD`, with "-dirty" if tracked files differ from it (the results
    folder aside); "unknown" outside a git work tree. Reads only (no optional index refresh)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "--no-optional-locks", "-C", REPO_DIR, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git work tree)"
    return commit + ("-dirty" if changes else "")


def package_version() -> str:
    try:
        import subinterpreters

        return subinterpreters.__version__
    except ImportError as exc:
        return f"not importable ({exc})"


def load_text(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def machine_lines(report: Report) -> list[tuple[str, str]]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores ({usable} usable)"),
        ("RAM", ram_text()),
        ("Kernel", f"{platform.system()} {platform.release()} ({platform.machine()})"),
        (
            "Load average (1, 5, 15 min)",
            f"{load_text(report.load_start)} at start, {load_text(report.load_end)} at end",
        ),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Anchors", report.anchors or "n/a"),
        ("subinterpreters", f"{package_version()}, commit {git_commit()}"),
        ("Date", report.started.strftime("%Y-%m-%d %H:%M UTC")),
        (
            "Run",
            f"{report.seconds:.0f} s, {report.repeats} interleaved runs of every row, "
            "medians of the per-run medians" + (" (--quick)" if report.quick else ""),
        ),
    ]


# --- markdown -------------------------------------------------------------------------------------


def value_text(kind: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if kind == "rate":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f} k/s"
        return f"{value:.0f} /s"
    if value >= 1e9:
        return f"{value / 1e9:.2f} s"
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:.1f} µs"
    return f"{value:.0f} ns"


def tick_text(kind: str, value: float) -> str:
    """A compact axis label: 10 µs, 1 ms, 100 k/s."""
    units = (
        ((1e6, "M/s"), (1e3, "k/s"), (1.0, "/s"))
        if kind == "rate"
        else ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns"))
    )
    for size, unit in units:
        if value >= size * 0.999:
            return f"{value / size:g} {unit}"
    return f"{value:g}"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(report: Report, chart: str | None, skipped: str = "") -> str:
    out = ["# subinterpreters benchmark: latest run", ""]
    out.append(
        "Written by `make bench` (`bench/run.py`); medians over the interleaved runs, "
        "ratios of medians. The full output, with p90s and the details of every "
        "workload, is what `make bench` prints."
    )
    out.append("")
    out += ["| machine | |", "| --- | --- |"]
    out += [f"| {name} | {cell(value)} |" for name, value in machine_lines(report)]
    out.append("")
    if chart:
        out += [f"![benchmark chart: one log-scale bar chart per workload]({chart})", ""]
    else:
        out += [f"(No chart in this run: {skipped or 'not made'}.)", ""]
    out += summary(report)
    part = ""
    for section in report.sections:
        better = "lower is better" if section.kind == "time" else "higher is better"
        if section.part and section.part != part:
            out += [f"## {section.part}", ""]
        part = section.part
        out += [f"{'###' if part else '##'} {section.title}", ""]
        header = [
            "workload",
            "median" if section.kind == "time" else "items/s (median)",
            f"vs {section.baseline}",
        ]
        if section.extra_header:
            header.append(section.extra_header)
        out.append("| " + " | ".join(header) + " |")
        out.append("| --- | " + " | ".join("---:" for _ in header[1:]) + " |")
        for entry in section.entries:
            label = f"**{cell(entry.label)}**" if entry.ours else cell(entry.label)
            versus = entry.versus if entry.value is not None else f"n/a: {entry.note}"
            row = [label, value_text(section.kind, entry.value), cell(versus)]
            if section.extra_header:
                row.append(cell(entry.extra))
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        out.append(f"({better}; " + "; ".join(section.notes) + ")" if section.notes else f"({better})")
        out.append("")
    if report.targets:
        out += ["## Targets", "", "```"] + report.targets + ["```", ""]
    if report.errors:
        out += ["## Errors", ""] + [f"- {cell(error)}" for error in report.errors] + [""]
    return "\n".join(out)


def summary(report: Report) -> list[str]:
    """The key rows: one line per workload, ours and the anchors side by side."""
    camps = list(report.camps)
    out = [
        "## Summary",
        "",
        "| workload | " + " | ".join(report.camps[c] for c in camps) + " |",
        "| --- | " + " | ".join("---:" for _ in camps) + " |",
    ]
    for section in report.sections:
        cells: dict[str, list[str]] = {c: [] for c in camps}
        for item in section.entries:
            where = item.camp
            if not item.key or where not in cells:
                continue
            text = value_text(section.kind, item.value)
            if item.value is not None and item.versus and item.versus != "baseline":
                text += f" ({item.versus})"
            if item.value is not None and item.extra and section.extra_header:
                text += f", {section.extra_header} {item.extra}"
            cells[where].append(f"{item.tag}: {text}" if item.tag else text)
        name = section.short or section.title
        out.append(f"| {cell(name)} | " + " | ".join(cell("; ".join(cells[c])) or "–" for c in camps) + " |")
    out += ["", "(the anchors' ratios are to ours; every row of every workload is below)", ""]
    return out


# --- chart ----------------------------------------------------------------------------------------


def chart(report: Report, path: str) -> str | None:
    """Draw the chart into `path`; return why it was skipped, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except Exception as exc:  # ImportError, or a broken install: never fail the run for it
        return f"matplotlib not importable ({type(exc).__name__}: {exc})"
    sections = [s for s in report.sections if any(e.value is not None for e in s.entries)]
    if not sections:
        return "nothing was measured"
    heights = [max(2, len(s.entries)) for s in sections]
    figure, axes = plt.subplots(
        len(sections),
        1,
        figsize=(11, 1.0 * len(sections) + 0.3 * sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
        layout="constrained",
    )
    ours_colour, other_colour = "#d9480f", "#868e96"
    for ax, section in zip(axes[:, 0], sections, strict=True):
        entries = section.entries
        labels = [" ".join(e.label.split()) for e in entries]
        values = [e.value for e in entries]
        plotted = [v if v is not None else 0 for v in values]  # ns, or items/s
        positions = range(len(entries))
        bars = ax.barh(positions, plotted, color=[ours_colour if e.ours else other_colour for e in entries])
        ax.set_yticks(list(positions), labels, fontsize=8)
        for tick, entry in zip(ax.get_yticklabels(), entries, strict=True):
            if entry.ours:
                tick.set_fontweight("bold")
                tick.set_color(ours_colour)
        ax.invert_yaxis()
        ax.set_xscale("log")
        present = [v for v in plotted if v > 0]
        low = min(present) / 3
        # Room right of the longest bar for its text, and at least two decades for the ticks.
        ax.set_xlim(low, max(max(present) * 150, low * 100))
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos, kind=section.kind: tick_text(kind, x)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        for bar, entry, value in zip(bars, entries, values, strict=True):
            text = value_text(section.kind, value)
            if value is None:
                ax.text(
                    low * 1.1,
                    bar.get_y() + bar.get_height() / 2,
                    "n/a",
                    va="center",
                    fontsize=7,
                    color="#495057",
                )
                continue
            if entry.versus and entry.versus != "baseline":
                text += f"  ({entry.versus})"
            if entry.extra and section.extra_header:
                text += f"  [{section.extra_header}: {entry.extra}]"
            ax.text(bar.get_width() * 1.08, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
        better = "lower is better" if section.kind == "time" else "higher is better"
        unit = "items/s" if section.kind == "rate" else "time"
        title = f"Real programs: {section.title}" if section.part else section.title
        ax.set_title(f"{title}  ({unit}, log scale, {better})", fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", which="major", alpha=0.3)
    commit = git_commit()
    figure.suptitle(
        f"subinterpreters {package_version()} ({commit}), Python {platform.python_version()} "
        f"(anchor: {report.camps['stdlib']}), "
        f"{cpu_model()}, {os.cpu_count()} cores, {report.started:%Y-%m-%d}",
        fontsize=10,
    )
    try:
        figure.savefig(path, dpi=110)
    except Exception as exc:
        return f"could not write the chart ({type(exc).__name__}: {exc})"
    finally:
        plt.close(figure)
    return None


def write(report: Report, directory: str = RESULTS_DIR) -> list[str]:
    """Write latest.md and latest.png into `directory` (made if missing); return what to print."""
    os.makedirs(directory, exist_ok=True)
    png = os.path.join(directory, "latest.png")
    md = os.path.join(directory, "latest.md")
    try:
        skipped = chart(report, png)
    except Exception as exc:  # never fail the run for the chart
        skipped = f"the chart failed ({type(exc).__name__}: {exc})"
    with open(md, "w", encoding="utf-8") as out:
        out.write(markdown(report, None if skipped else "latest.png", skipped or ""))
    lines = [f"wrote {os.path.relpath(md)}"]
    if skipped:
        lines.append(f"skipped the chart: {skipped}")
    else:
        lines.append(f"wrote {os.path.relpath(png)}")
    if update_readme(report):
        lines.append("updated the latest-run table in README.md")
    return lines


README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
README_START = "<!-- latest-bench:start (written by make bench) -->"
README_END = "<!-- latest-bench:end -->"


def update_readme(report: Report, path: str = README) -> bool:
    """Replace the README's latest-run block (between the markers) with this run's machine line
    and summary table, so the README always shows the run the results files hold."""
    try:
        with open(path, encoding="utf-8") as source:
            text = source.read()
    except OSError:
        return False
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    facts = dict(machine_lines(report))
    block = [
        README_START,
        f"Latest run: {facts['Date']}, {facts['CPU']}, {facts['RAM']} RAM, {facts['Kernel']}, "
        f"{facts['Python']} (anchor: {report.camps['stdlib']}), subinterpreters "
        f"{facts['subinterpreters']}; load average "
        f"{facts['Load average (1, 5, 15 min)']}; {facts['Run']}.",
        "",
        *summary(report)[2:],  # the table, without its heading
    ]
    with open(path, "w", encoding="utf-8") as out:
        out.write(text[:start] + "\n".join(block).rstrip() + "\n" + text[end:])
    return True


if __name__ == "__main__":
    sys.exit("run bench/run.py: it measures, then writes the report with this module")
