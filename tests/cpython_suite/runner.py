"""Run CPython's own tests of ``concurrent.interpreters`` (PEP 734) and of
``concurrent.futures.InterpreterPoolExecutor`` against ``subinterpreters``.

Nothing of CPython's test code lives in this repository. At run time (CPython 3.14 or later):

1. The test files are read from the *installed* ``test`` package (Debian/Ubuntu ship it as
   ``libpython3.X-testsuite``): ``test_interpreters/{test_api,test_queues,test_lifecycle,
   test_stress}.py`` with their ``__init__.py`` and ``utils.py``, and
   ``test_concurrent_futures/test_interpreter_pool.py``. (``test_channels`` is left out: channels
   are private in CPython.)
2. Only their import lines are rewritten, one line for one line so that line numbers stay
   CPython's, including the import lines inside the source strings the tests run in other
   interpreters and processes:
   ``from concurrent import interpreters`` -> ``import subinterpreters as interpreters``,
   ``from concurrent.interpreters import X`` -> ``from subinterpreters import X``,
   ``concurrent.interpreters._queues`` -> a small generated module mapping that namespace onto
   ``subinterpreters`` (``create`` = ``create_queue``, ``list_all`` = ``list_all_queues``, every other
   name looked up in ``subinterpreters``), ``concurrent.futures.InterpreterPoolExecutor`` and
   ``concurrent.futures.interpreter.BrokenInterpreterPool`` -> ``subinterpreters``'s (the shared
   ``InterpreterPoolMixin`` of ``test.test_concurrent_futures.util`` is subclassed with our
   executor type). CPython's private modules (``_interpreters``, ``_interpqueues``,
   ``_testinternalcapi``, ``concurrent.interpreters._crossinterp``...) are left as they are. Any
   other import of ``concurrent.interpreters`` makes the rewrite fail loudly, so a change in
   CPython's tests is noticed rather than silently testing CPython's own module.
3. The rewritten files are written as the package ``si_cpython_suite`` into a scratch folder put
   on ``PYTHONPATH``, so that the other interpreters and processes the tests start import the same
   rewritten modules.
4. The tests run with unittest in a child process (a crash or a hang cannot take the caller
   down). The child reports every test as it starts and ends; if it dies or stops making progress
   (``--test-timeout``, default 90 s, a bound for hangs only: SIGABRT first, so faulthandler
   writes every thread's stack to the log, then SIGKILL), the test in flight is recorded as
   ``crash``/``timeout`` and a new child resumes with the tests after it.
5. Every outcome is compared with ``expected.toml`` (next to this file), which lists each test
   expected not to pass, grouped by a one-line reason. A test not listed that fails is a
   REGRESSION; a listed test that passes is an UNEXPECTED PASS (delete it from the list); a listed
   test that no longer exists is STALE. Groups with ``run = false`` are not run at all (tests that
   drive CPython's private modules); ``timeout = N`` shortens the hang bound of tests known to hang
   until fixed; ``versions = [...]`` limits a group to some CPython versions. Outcomes: pass, fail,
   error, skip (unittest's own), xfail/upass (CPython's expectedFailure tests failing/passing: both
   count as passing here, since upass means we support what CPython does not yet), crash, timeout.

Command line (the pytest entry point is ``tests/test_cpython_suite.py``)::

    python tests/cpython_suite/runner.py                       # all modules, table, exit 1 on mismatch
    python tests/cpython_suite/runner.py -m test_queues -k Put  # one module, tests whose id has "Put"
    python tests/cpython_suite/runner.py --isolate             # one child per test (slow; diagnosis)
    python tests/cpython_suite/runner.py --all                  # also run the run=false tests (report only)
    python tests/cpython_suite/runner.py --save out-3.14.json   # keep the outcomes
    python tests/cpython_suite/runner.py --write-expected new.toml out-3.14.json out-3.15.json

``--write-expected`` drafts an expectations file from saved outcomes: reasons already in
``expected.toml`` are kept, new failures are classified by ``classify()`` (a first guess, meant to
be reviewed), and tests failing on only some of the versions get ``versions = [...]``.
On our machines 3.14 and 3.15 run inside ``../shared/ci/newer-pythons``:
``scripts/cpython-suite.sh [3.14 3.15] [-- runner arguments]`` does that for each version.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED_FILE = HERE / "expected.toml"
PACKAGE = "si_cpython_suite"
SHIM = f"{PACKAGE}.queues_shim"
DEFAULT_TEST_TIMEOUT = float(os.environ.get("SI_CPYTHON_SUITE_TEST_TIMEOUT", "90"))


@dataclasses.dataclass(frozen=True)
class Module:
    name: str  # short name, the first part of every test id in tables and in expected.toml
    source: str  # path under the installed `test` package
    target: str  # path under the generated package
    dotted: str  # the generated module's name


MODULES = {
    m.name: m
    for m in (
        Module(
            "test_api",
            "test_interpreters/test_api.py",
            "test_interpreters/test_api.py",
            f"{PACKAGE}.test_interpreters.test_api",
        ),
        Module(
            "test_queues",
            "test_interpreters/test_queues.py",
            "test_interpreters/test_queues.py",
            f"{PACKAGE}.test_interpreters.test_queues",
        ),
        Module(
            "test_lifecycle",
            "test_interpreters/test_lifecycle.py",
            "test_interpreters/test_lifecycle.py",
            f"{PACKAGE}.test_interpreters.test_lifecycle",
        ),
        Module(
            "test_stress",
            "test_interpreters/test_stress.py",
            "test_interpreters/test_stress.py",
            f"{PACKAGE}.test_interpreters.test_stress",
        ),
        Module(
            "test_interpreter_pool",
            "test_concurrent_futures/test_interpreter_pool.py",
            "test_interpreter_pool.py",
            f"{PACKAGE}.test_interpreter_pool",
        ),
    )
}
# Files the test modules import relatively, rewritten the same way.
SUPPORT_FILES = {
    "test_interpreters/__init__.py": "test_interpreters/__init__.py",
    "test_interpreters/utils.py": "test_interpreters/utils.py",
}

# Outcomes. "upass" is unittest's unexpected success: CPython marks a test expectedFailure for
# something CPython does not support yet, and it passed here. "xfail" is the opposite.
GOOD = {"pass", "skip", "xfail", "upass"}
BAD = {"fail", "error", "crash", "timeout"}
REASON_PREFIXES = (
    "TODO:",
    "deliberate difference:",
    "uses CPython private module",
    "uses CPython private API",
    "unfixable for a library:",
)


class Unavailable(Exception):
    """CPython's tests cannot run here (the message says why): a skip, not a failure."""


class RewriteError(Exception):
    """CPython's test sources contain an import this runner does not know how to rewrite."""


# --- locating and rewriting CPython's tests ---------------------------------------------------------


def cpython_test_dir() -> Path:
    """The installed `test` package's folder, or Unavailable saying what is missing."""
    if sys.version_info < (3, 14):
        raise Unavailable(
            f"CPython {sys.version_info[0]}.{sys.version_info[1]} has no concurrent.interpreters "
            "(added in 3.14): its tests cannot describe the behaviour expected here"
        )
    spec = importlib.util.find_spec("test")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = Path(location)
        if all((folder / m.source).is_file() for m in MODULES.values()) and all(
            (folder / s).is_file() for s in SUPPORT_FILES
        ):
            return folder
    where = ", ".join(locations) or "nowhere on sys.path"
    raise Unavailable(
        f"CPython's test suite is not installed (the `test` package, found at: {where}, lacks "
        f"test_interpreters/ or test_concurrent_futures/test_interpreter_pool.py); on Debian/Ubuntu "
        f"install libpython{sys.version_info[0]}.{sys.version_info[1]}-testsuite"
    )


_POOL_MIXIN = (
    "from test.test_concurrent_futures.util import BaseTestCase, InterpreterPoolMixin as "
    "_CPythonInterpreterPoolMixin, setup_module; import subinterpreters as _si_; "
    "InterpreterPoolMixin = type('InterpreterPoolMixin', (_CPythonInterpreterPoolMixin,), "
    "{'executor_type': _si_.InterpreterPoolExecutor, '__module__': __name__})"
)

# (pattern for a whole line, replacement). Applied to every line, inside strings too.
REWRITES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^(\s*)from concurrent import interpreters\s*$"),
        r"\1import subinterpreters as interpreters",
    ),
    (
        re.compile(r"^(\s*)from concurrent\.interpreters import _queues as queues, _crossinterp\s*$"),
        rf"\1import {SHIM} as queues; from concurrent.interpreters import _crossinterp",
    ),
    (
        re.compile(r"^(\s*)from concurrent\.interpreters import _queues as queues\s*$"),
        rf"\1import {SHIM} as queues",
    ),
    (re.compile(r"^(\s*)from concurrent\.interpreters import (?!_)"), r"\1from subinterpreters import "),
    (
        re.compile(r"^(\s*)from concurrent\.futures\.interpreter import BrokenInterpreterPool\s*$"),
        r"\1from subinterpreters import BrokenInterpreterPool",
    ),
    (
        re.compile(r"^(\s*)from concurrent\.futures import InterpreterPoolExecutor\s*$"),
        r"\1from subinterpreters import InterpreterPoolExecutor",
    ),
    (re.compile(r"^(\s*)from \.executor import "), r"\1from test.test_concurrent_futures.executor import "),
    (
        re.compile(r"^(\s*)from \.util import BaseTestCase, InterpreterPoolMixin, setup_module\s*$"),
        r"\1" + _POOL_MIXIN.replace("\\", "\\\\"),
    ),
]
# What may still mention CPython's modules after the rewrite: its private parts (left as they
# are, on purpose) and the one test about importing concurrent.futures without _interpreters.
ALLOWED_LEFTOVERS = re.compile(
    r"from concurrent\.interpreters import _crossinterp|^\s*from concurrent import futures\s*$"
    r"|^\s*from concurrent\.futures import \*\s*$"
)
LEFTOVER = re.compile(r"\b(from|import)\s+concurrent(\.|\s+import\s+)(interpreters|futures)\b")

SHIM_SOURCE = '''\
"""concurrent.interpreters._queues as seen through subinterpreters (generated for CPython's tests):
create = create_queue, list_all = list_all_queues, any other name is subinterpreters'."""
import subinterpreters as _si

create = _si.create_queue
list_all = _si.list_all_queues


def __getattr__(name):
    return getattr(_si, name)
'''


def rewrite_source(text: str, origin: str) -> str:
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        for pattern, replacement in REWRITES:
            new = pattern.sub(replacement, body, count=1)
            if new != body:
                body = new
                break
        if LEFTOVER.search(body) and not ALLOWED_LEFTOVERS.search(body):
            raise RewriteError(f"{origin}:{number}: no rewrite rule for this import: {body.strip()!r}")
        out.append(body + ending)
    return "".join(out)


def build_suite(dest: Path) -> Path:
    """Write the rewritten package into dest (a folder to put on PYTHONPATH); return dest."""
    source_dir = cpython_test_dir()
    package = dest / PACKAGE
    if package.exists():
        shutil.rmtree(package)
    (package / "test_interpreters").mkdir(parents=True)
    (package / "__init__.py").write_text(
        f'"""CPython {sys.version.split()[0]}\'s tests from {source_dir}, '
        'imports rewritten for subinterpreters."""\n'
    )
    (package / "queues_shim.py").write_text(SHIM_SOURCE)
    pairs = [(m.source, m.target) for m in MODULES.values()] + list(SUPPORT_FILES.items())
    for source, target in pairs:
        path = source_dir / source
        (package / target).write_text(
            rewrite_source(path.read_text(encoding="utf-8"), str(path)), encoding="utf-8"
        )
    return dest


def full_id(short: str) -> str:
    module, _, rest = short.partition(".")
    return f"{MODULES[module].dotted}.{rest}" if module in MODULES else short


def short_id(full: str) -> str:
    for module in MODULES.values():
        if full.startswith(module.dotted + "."):
            return module.name + full[len(module.dotted) :]
    return full.replace(f"{PACKAGE}.test_interpreters.", "").replace(f"{PACKAGE}.", "")


# --- the child process -------------------------------------------------------------------------------


def _describe(err: Any, suite_dir: str) -> dict[str, str]:
    exc_type, exc, tb = err
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    message = str(exc).strip().splitlines()
    detail = f"{exc_type.__qualname__}: {message[0]}" if message else exc_type.__qualname__
    frames = traceback.extract_tb(tb)
    where = ""
    for frame in frames:  # the innermost line of CPython's test code
        if frame.filename.startswith(suite_dir):
            where = f"{os.path.basename(frame.filename)}:{frame.lineno}: {(frame.line or '').strip()}"
    raised = ""
    if frames:
        last = frames[-1]
        raised = f"{last.filename}:{last.lineno}"
    suite_lines = [(f.line or "").strip() for f in frames if f.filename.startswith(suite_dir)]
    return {
        "detail": detail[:300],
        "where": where[:300],
        "raised": raised,
        "tb": text,
        "suite_lines": suite_lines,
    }


def _child_recorder(stream: Any, suite_dir: str) -> Any:
    import unittest

    class Recorder(unittest.TestResult):
        def __init__(self) -> None:
            super().__init__()
            self.state: dict[str, Any] | None = None
            self.current: Any = None

        def emit(self, record: dict[str, Any]) -> None:
            stream.write(json.dumps(record) + "\n")
            stream.flush()

        def startTest(self, test: Any) -> None:
            super().startTest(test)
            self.current = test
            self.state = {"problems": [], "skip": None, "xfail": False, "upass": False, "subskips": 0}
            self.emit({"event": "start", "id": test.id(), "t": time.monotonic()})

        def problem(self, test: Any, kind: str, err: Any, label: str = "") -> None:
            info = _describe(err, suite_dir)
            info["kind"] = kind
            if label:
                info["detail"] = f"[{label}] {info['detail']}"[:300]
            if self.state is None or (
                test is not self.current and not isinstance(test, unittest.case._SubTest)
            ):
                # setUpClass / setUpModule / tearDown* of a class or module (an _ErrorHolder)
                self.emit({"event": "fixture", "id": str(test.id()), "outcome": kind, **info})
                return
            self.state["problems"].append(info)

        def addError(self, test: Any, err: Any) -> None:
            super().addError(test, err)
            self.problem(test, "error", err)

        def addFailure(self, test: Any, err: Any) -> None:
            super().addFailure(test, err)
            self.problem(test, "fail", err)

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                kind = "fail" if issubclass(err[0], test.failureException) else "error"
                self.problem(test, kind, err, label=subtest._subDescription().strip())

        def addSkip(self, test: Any, reason: str) -> None:
            super().addSkip(test, reason)
            if isinstance(test, unittest.case._SubTest) and self.state is not None:
                self.state["subskips"] += 1
            elif self.state is not None and test is self.current:
                self.state["skip"] = reason
            else:
                self.emit({"event": "fixture", "id": str(test.id()), "outcome": "skip", "detail": reason})

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            super().addExpectedFailure(test, err)
            if self.state is not None:
                self.state["xfail"] = True

        def addUnexpectedSuccess(self, test: Any) -> None:
            super().addUnexpectedSuccess(test)
            if self.state is not None:
                self.state["upass"] = True

        def stopTest(self, test: Any) -> None:
            state = self.state or {"problems": [], "skip": None, "xfail": False, "upass": False}
            problems = state["problems"]
            record: dict[str, Any] = {"event": "end", "id": test.id()}
            if problems:
                record["outcome"] = "error" if any(p["kind"] == "error" for p in problems) else "fail"
                first = problems[0]
                more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
                record.update(
                    detail=first["detail"] + more,
                    where=first["where"],
                    raised=first["raised"],
                    tb="\n".join(p["tb"] for p in problems),
                    suite_lines=[line for p in problems for line in p["suite_lines"]],
                )
            elif state["upass"]:
                record.update(outcome="upass", detail="unexpected success: CPython marks it expectedFailure")
            elif state["xfail"]:
                record.update(outcome="xfail", detail="expected failure (CPython marks it expectedFailure)")
            elif state["skip"] is not None:
                record.update(outcome="skip", detail=str(state["skip"])[:300])
            else:
                record["outcome"] = "pass"
            self.emit(record)
            self.state = None
            self.current = None
            super().stopTest(test)

    return Recorder()


def child_list(modules: list[str]) -> int:
    """Print {"module": [full test ids...]} or {"module": {"skip"|"error": text}} as JSON."""
    import importlib
    import unittest

    listing: dict[str, Any] = {}
    loader = unittest.TestLoader()
    for name in modules:
        try:
            module = importlib.import_module(MODULES[name].dotted)
        except unittest.SkipTest as exc:
            listing[name] = {"skip": str(exc)}
            continue
        except BaseException:  # noqa: BLE001 - reported to the parent
            listing[name] = {"error": traceback.format_exc()}
            continue
        ids: list[str] = []

        def walk(suite: Any, ids: list[str]) -> None:
            for item in suite:
                if isinstance(item, unittest.TestSuite):
                    walk(item, ids)
                else:
                    ids.append(item.id())

        walk(loader.loadTestsFromModule(module), ids)
        if loader.errors:
            listing[name] = {"error": "\n".join(loader.errors)}
        else:
            listing[name] = ids
    print(json.dumps(listing))
    return 0


def child_run(ids_file: str, results_file: str) -> int:
    import faulthandler
    import unittest

    faulthandler.enable()  # SIGABRT from the parent (a hang) or a crash: every thread's stack
    ids = json.loads(Path(ids_file).read_text())
    spec = importlib.util.find_spec(PACKAGE)
    suite_dir = str(Path(spec.origin).parent) if spec and spec.origin else PACKAGE
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for test_id in ids:
        suite.addTests(loader.loadTestsFromName(test_id))
    with open(results_file, "a", encoding="utf-8") as stream:
        result = _child_recorder(stream, suite_dir)
        suite.run(result)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


# --- the parent: running, resuming, comparing --------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    id: str  # short id
    outcome: str
    detail: str = ""
    where: str = ""
    raised: str = ""
    tb: str = ""
    suite_lines: list[str] = dataclasses.field(default_factory=list)


def child_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(workdir), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def list_tests(workdir: Path, modules: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-list", *modules],
        cwd=workdir,
        env=child_env(workdir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"listing CPython's tests failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _log_tail(log: Path, lines: int = 4) -> str:
    """What the last child left at the end of the log: CPython's fatal error line if there is
    one, else its last lines."""
    try:
        text = log.read_text(errors="replace").split("\n===== child on ")[-1].splitlines()
    except OSError:
        return ""
    fatal = [line.strip() for line in text if line.startswith(("Fatal Python error", "Segmentation fault"))]
    if fatal:
        return fatal[-1][:300]
    keep = [line for line in text if line.strip()][-lines:]
    return " | ".join(line.strip() for line in keep)[-300:]


def _kill_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _run_child(
    workdir: Path, ids: list[str], log: Path, test_timeout: float, timeouts: dict[str, float]
) -> tuple[list[dict[str, Any]], int, bool]:
    """One child on ``ids`` (full ids): its records, exit status, and whether it was killed for a
    hang (no progress for ``test_timeout`` s, or ``timeouts[short id]`` for the test in flight)."""
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    ids_file, results_file = scratch / "ids.json", scratch / "results.jsonl"
    ids_file.write_text(json.dumps(ids))
    results_file.touch()
    hung = False
    with open(log, "ab") as log_stream:
        log_stream.write(f"\n===== child on {len(ids)} test(s), from {short_id(ids[0])} =====\n".encode())
        log_stream.flush()
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child-run", str(ids_file), str(results_file)],
            cwd=scratch,
            env=child_env(workdir),
            stdout=log_stream,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        last_size, last_progress, in_flight = 0, time.monotonic(), ""
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            size = results_file.stat().st_size
            if size != last_size:
                last_size, last_progress = size, time.monotonic()
                in_flight = _in_flight(results_file)
            elif time.monotonic() - last_progress > timeouts.get(short_id(in_flight), test_timeout):
                hung = True
                _kill_group(proc.pid, signal.SIGABRT)  # faulthandler: every thread's stack, in the log
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _kill_group(proc.pid, signal.SIGKILL)
                    proc.wait()
                break
        _kill_group(proc.pid, signal.SIGKILL)  # whatever the tests started and left behind
    records = []
    for line in results_file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            pass
    shutil.rmtree(scratch, ignore_errors=True)
    return records, proc.returncode, hung


def _in_flight(results_file: Path) -> str:
    """The id of the test the child started and has not finished ("" if none)."""
    current = ""
    for line in results_file.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "start":
            current = record["id"]
        elif record.get("event") == "end":
            current = ""
    return current


def _outcome(record: dict[str, Any], **override: Any) -> Outcome:
    fields = {f.name for f in dataclasses.fields(Outcome)}
    data = {k: v for k, v in record.items() if k in fields}
    data.update(override)
    data["id"] = short_id(data["id"])
    return Outcome(**data)


def run_tests(
    workdir: Path,
    ids: list[str],
    log: Path,
    test_timeout: float = DEFAULT_TEST_TIMEOUT,
    isolate: bool = False,
    timeouts: dict[str, float] | None = None,
) -> tuple[dict[str, Outcome], list[Outcome]]:
    """Run full ids; return (outcome per short id, problems outside any test: fixtures, exit).
    ``timeouts`` (short id -> seconds) shortens the hang bound of tests known to hang."""
    timeouts = timeouts or {}
    outcomes: dict[str, Outcome] = {}
    extra: list[Outcome] = []
    pending = list(ids)
    while pending:
        batch = pending[:1] if isolate else pending
        records, status, hung = _run_child(workdir, batch, log, test_timeout, timeouts)
        in_flight = None
        fixture_failure = ""
        for record in records:
            event = record.get("event")
            if event == "start":
                in_flight = record["id"]
            elif event == "end":
                outcomes[short_id(record["id"])] = _outcome(record)
                in_flight = None
            elif event == "fixture":
                extra.append(_outcome(record))
                if record.get("outcome") in BAD and not fixture_failure:
                    fixture_failure = f"{record['id']}: {record.get('detail', '')}"
        died = hung or status != 0
        if in_flight is not None:
            what = "timeout" if hung else "crash"
            bound = timeouts.get(short_id(in_flight), test_timeout)
            why = (
                f"hung: no progress for {bound:.0f} s (killed; stacks in the log)"
                if hung
                else f"the process died ({_status(status)}): {_log_tail(log)}"
            )
            outcomes[short_id(in_flight)] = Outcome(short_id(in_flight), what, why)
        elif died:
            # Died between tests (a class or module fixture) or at exit.
            done = all(short_id(i) in outcomes for i in batch)
            label = "<process exit>" if done else "<between tests>"
            extra.append(
                Outcome(
                    f"{label} after {short_id(batch[-1])}",
                    "timeout" if hung else "crash",
                    f"{_status(status)}: {_log_tail(log)}",
                )
            )
        leftover = [i for i in batch if short_id(i) not in outcomes]
        if not died or len(leftover) == len(batch):
            # The child ended normally (unittest did not run these: a class or module fixture
            # failed), or it died before running anything: record them as not run.
            reason = fixture_failure or f"the child ended first ({_status(status)}): {_log_tail(log)}"
            for test_id in leftover:
                outcomes[short_id(test_id)] = Outcome(short_id(test_id), "error", f"not run: {reason}"[:300])
        pending = [i for i in pending if short_id(i) not in outcomes]
    unique: dict[tuple[str, str], Outcome] = {}
    for item in extra:
        unique.setdefault((item.id, item.detail), item)
    return outcomes, list(unique.values())


def _status(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


# --- expectations --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expectation:
    reason: str
    run: bool = True
    timeout: float | None = None  # a shorter hang bound, for tests known to hang until fixed


def load_expectations(path: Path, version: str) -> dict[str, Expectation]:
    import tomllib

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    expectations: dict[str, Expectation] = {}
    for number, group in enumerate(data.get("group", []), 1):
        reason = group.get("reason", "")
        if not reason.startswith(REASON_PREFIXES):
            raise ValueError(
                f"{path}: group {number}: reason must start with one of {REASON_PREFIXES}: {reason!r}"
            )
        unknown = set(group) - {"reason", "run", "versions", "tests", "timeout"}
        if unknown:
            raise ValueError(f"{path}: group {number}: unknown keys {sorted(unknown)}")
        versions = group.get("versions")
        if versions is not None and version not in versions:
            continue
        for test in group.get("tests", []):
            if test in expectations:
                raise ValueError(f"{path}: {test} is listed twice for CPython {version}")
            timeout = group.get("timeout")
            expectations[test] = Expectation(
                reason, bool(group.get("run", True)), float(timeout) if timeout is not None else None
            )
    return expectations


@dataclasses.dataclass
class Row:
    id: str
    outcome: str
    verdict: str  # "ok", "expected", "expected skip", "REGRESSION", "UNEXPECTED PASS", "STALE"
    reason: str = ""
    detail: str = ""


PROBLEMS = ("REGRESSION", "UNEXPECTED PASS", "STALE")


def compare(
    module: str,
    ids: list[str],
    outcomes: dict[str, Outcome],
    extra: list[Outcome],
    expectations: dict[str, Expectation],
) -> list[Row]:
    rows = []
    listed = set()
    for test_id in ids:
        listed.add(test_id)
        expected = expectations.get(test_id)
        result = outcomes.get(test_id)
        if expected is not None and not expected.run and result is None:
            rows.append(Row(test_id, "not run", "expected skip", expected.reason))
            continue
        assert result is not None, test_id
        if expected is None:
            verdict = "ok" if result.outcome in GOOD else "REGRESSION"
            rows.append(Row(test_id, result.outcome, verdict, "", result.detail))
        elif not expected.run:  # run anyway (--all): reported, never judged
            rows.append(Row(test_id, result.outcome, "expected skip", expected.reason, result.detail))
        else:
            verdict = "expected" if result.outcome in BAD else "UNEXPECTED PASS"
            rows.append(Row(test_id, result.outcome, verdict, expected.reason, result.detail))
    for item in extra:
        expected = expectations.get(item.id)
        if item.outcome in BAD:
            rows.append(
                Row(
                    item.id,
                    item.outcome,
                    "expected" if expected else "REGRESSION",
                    expected.reason if expected else "",
                    item.detail,
                )
            )
    for test_id, expected in expectations.items():
        if test_id.split(".", 1)[0] == module and test_id not in listed and not test_id.startswith("<"):
            rows.append(
                Row(
                    test_id,
                    "absent",
                    "STALE",
                    expected.reason,
                    "listed in expected.toml but not in this CPython's tests "
                    "(limit it with versions = [...]?)",
                )
            )
    return rows


def counts(rows: list[Row]) -> Counter[str]:
    return Counter(row.outcome for row in rows if not row.id.startswith("<"))


def format_table(module: str, rows: list[Row], *, show_all: bool = False) -> str:
    tally = counts(rows)
    verdicts = Counter(row.verdict for row in rows)
    lines = [
        f"{module}: "
        + ", ".join(
            f"{k} {tally[k]}"
            for k in ("pass", "fail", "error", "crash", "timeout", "skip", "xfail", "upass", "not run")
            if tally[k]
        ),
        "  verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())),
    ]
    shown = [r for r in rows if show_all or r.verdict in PROBLEMS]
    if shown:
        width = min(max(len(r.id) for r in shown), 80)
        lines.append(f"  {'test':<{width}}  {'outcome':<8}  {'verdict':<15}  reason / detail")
        for row in shown:
            note = (
                row.reason if row.verdict in ("expected", "expected skip", "UNEXPECTED PASS") else row.detail
            )
            if row.verdict == "REGRESSION" and row.detail:
                note = row.detail + (f"   [{row.reason}]" if row.reason else "")
            lines.append(f"  {row.id:<{width}}  {row.outcome:<8}  {row.verdict:<15}  {note}")
    return "\n".join(lines)


# --- drafting expected.toml ----------------------------------------------------------------------------

PRIVATE_MODULES = [
    ("_testinternalcapi", "_testinternalcapi"),
    ("_testcapi", "_testcapi"),
    ("_interpqueues", "_interpqueues"),
    ("_queues.", "_interpqueues"),  # test_queues' name for it
    ("_crossinterp", "concurrent.interpreters._crossinterp"),
    ("_interpreters.", "_interpreters"),
]

# (pattern searched in the detail and traceback, reason). First match wins; a first guess, to be
# reviewed by hand. The reasons are those of expected.toml, so drafts group with the existing ones.
CLASSIFY_RULES: list[tuple[str, str]] = [
    (
        r"Future' object has no attribute 'join'",
        "deliberate difference: interp.call_in_thread(fn) -> interp.call_in_thread(fn, ...): "
        "returns a concurrent.futures.Future",
    ),
    (
        r"cannot create '[\w.]*Interpreter' instances|Interpreter\(\) takes no arguments",
        "TODO: Interpreter(id) constructor (existing id -> the same object; "
        "unknown -> InterpreterNotFoundError; bad -> TypeError/ValueError)",
    ),
    (
        r"Interpreter\(id=\d+\) is not Interpreter",
        "TODO: one Interpreter object per interpreter "
        "(get_main(), get_current(), list_all() return the same objects)",
    ),
    (
        r"cannot create '[\w.]*Queue' instances|has no attribute 'QueueNotFoundError'",
        "TODO: Queue(id) constructor and QueueNotFoundError",
    ),
    (
        r"has no attribute 'UNBOUND|unbounditems|has no attribute 'ItemInterpreterDestroyed'",
        "TODO: unbounditems: UNBOUND, UNBOUND_ERROR, UNBOUND_REMOVE for items of a destroyed interpreter",
    ),
    (
        r"has no attribute 'excinfo'",
        "TODO: ExecutionFailed.excinfo "
        "(type with __name__/__qualname__/__module__, msg, formatted, errdisplay)",
    ),
    (r"has no attribute 'whence'", "TODO: Interpreter.whence"),
    (r"has no attribute '_id'", "uses CPython private API: Interpreter._id"),
    (
        r"cannot pickle '[\w.]*(Interpreter|Queue)'|object\.__new__\([\w.]*(Interpreter|Queue)\) is not safe",
        "TODO: pickling Interpreter and Queue (pickle.loads(pickle.dumps(x)) is x)",
    ),
    (
        r"prepare_main\(\) takes",
        "TODO: prepare_main(ns=None, /, **kwargs): a dict positionally (ValueError when given nothing)",
    ),
    (
        r"has no attribute '_threads'|has no attribute '_thread_name_prefix'|has no attribute '_max_workers'|"
        r"buffersize|executor must be ThreadPoolExecutor",
        "TODO: InterpreterPoolExecutor as a ThreadPoolExecutor subclass (asyncio default executor, _threads, "
        "_max_workers, _thread_name_prefix, map(buffersize=))",
    ),
    (
        r"RunFailedError'> is not <class|^RunFailedError: \w+(Error|Exception): ",
        "TODO: pool futures carry the original exception, with ExecutionFailed as __cause__",
    ),
    (
        r"Can't pickle local|Can't get local",
        "TODO: stateless functions (no closure, no globals) called by value, wherever they are defined",
    ),
    (
        r"RuntimeError: cannot (close|run|call)|is running code",
        "TODO: InterpreterError (not RuntimeError) for the main, current or running interpreter",
    ),
]


def classify(outcome: Outcome) -> tuple[str, bool, float | None]:
    """A first guess at why a test does not pass: (reason, run, timeout)."""
    timeout = 30.0 if outcome.outcome == "timeout" else None
    for line in outcome.suite_lines:
        for needle, name in PRIVATE_MODULES:
            if needle in line and "import_helper" not in line:
                return f"uses CPython private module {name}", False, None
    text = f"{outcome.detail}\n{outcome.tb}"
    for pattern, reason in CLASSIFY_RULES:
        if re.search(pattern, text):
            return reason, True, timeout
    return f"TODO: unclassified ({outcome.outcome}: {outcome.detail[:120]})", True, timeout


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_expected(path: Path, saved: list[Path], current: Path | None) -> None:
    """Draft an expectations file from saved outcome files (one per CPython version)."""
    old: dict[tuple[str, str], Expectation] = {}
    runs: dict[str, dict[str, Any]] = {}
    for item in saved:
        data = json.loads(item.read_text())
        runs[data["version"]] = data
        if current and current.exists():
            for test, exp in load_expectations(current, data["version"]).items():
                old[(data["version"], test)] = exp
    versions = sorted(runs)
    # (reason, run, timeout) -> test -> versions where it does not pass
    groups: dict[tuple[str, bool, float | None], dict[str, set[str]]] = {}
    for version, data in runs.items():
        for record in data["outcomes"]:
            outcome = Outcome(**record)
            previous = old.get((version, outcome.id))
            if outcome.outcome == "not run" and previous is not None:
                key = (previous.reason, previous.run, previous.timeout)
            elif outcome.outcome in BAD:
                key = (previous.reason, previous.run, previous.timeout) if previous else classify(outcome)
            else:
                continue
            groups.setdefault(key, {}).setdefault(outcome.id, set()).add(version)
    order = {"uses": 0, "unfixable": 1, "deliberate": 2, "TODO": 3}
    lines = [
        "# Tests of CPython's suite (tests/cpython_suite/runner.py) expected NOT to pass with "
        "subinterpreters,",
        "# grouped by reason. A test listed here that passes fails the run (UNEXPECTED PASS: delete it), so",
        "# does an unlisted test that fails (REGRESSION). Reasons start with one of:",
        '#   "uses CPython private module X" (with run = false: not run at all), "uses CPython private API",',
        '#   "unfixable for a library:", "deliberate difference: <migration-table line>", "TODO: <cause>".',
        "# versions = [...] limits a group to those CPython versions; timeout = N shortens the hang bound",
        "# of tests known to hang until fixed. Ids: <module>.<class>.<test>.",
        "",
    ]
    for (reason, run, timeout), tests in sorted(
        groups.items(),
        key=lambda kv: (order.get(kv[0][0].split()[0].rstrip(":"), 9), kv[0][0], kv[0][2] or 0),
    ):
        by_versions: dict[tuple[str, ...], list[str]] = {}
        for test, where in tests.items():
            by_versions.setdefault(tuple(sorted(where)), []).append(test)
        for where, names in sorted(by_versions.items()):
            lines.append("[[group]]")
            lines.append(f"reason = {_toml_string(reason)}")
            if not run:
                lines.append("run = false")
            if timeout is not None:
                lines.append(f"timeout = {timeout:g}")
            if list(where) != versions:
                lines.append(f"versions = {json.dumps(list(where))}")
            lines.append("tests = [")
            lines.extend(f"    {_toml_string(name)}," for name in sorted(names))
            lines.append("]")
            lines.append("")
    path.write_text("\n".join(lines))


# --- command line -------------------------------------------------------------------------------------


def version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def run_modules(
    modules: list[str],
    *,
    workdir: Path,
    expected: Path,
    keyword: str = "",
    isolate: bool = False,
    run_all: bool = False,
    test_timeout: float = DEFAULT_TEST_TIMEOUT,
    log_dir: Path | None = None,
) -> dict[str, tuple[list[Row], dict[str, Outcome]]]:
    build_suite(workdir)
    expectations = load_expectations(expected, version()) if expected.exists() else {}
    listing = list_tests(workdir, modules)
    log_dir = log_dir or workdir
    results = {}
    for module in modules:
        listed = listing[module]
        if isinstance(listed, dict):
            if "skip" in listed:
                raise Unavailable(f"{module}: CPython's module skips itself here: {listed['skip']}")
            raise RuntimeError(f"{module}: CPython's test module could not be loaded:\n{listed['error']}")
        ids = [short_id(i) for i in listed if not keyword or keyword in short_id(i)]
        to_run = [full_id(i) for i in ids if run_all or expectations.get(i, Expectation("", True)).run]
        log = log_dir / f"{module}.log"
        timeouts = {k: v.timeout for k, v in expectations.items() if v.timeout is not None}
        outcomes, extra = (
            run_tests(workdir, to_run, log, test_timeout, isolate, timeouts) if to_run else ({}, [])
        )
        rows = compare(
            module,
            ids,
            outcomes,
            extra,
            expectations if not keyword else {k: v for k, v in expectations.items() if keyword in k},
        )
        results[module] = (rows, outcomes)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child-list"]:
        return child_list(argv[1:])
    if argv[:1] == ["--child-run"]:
        return child_run(argv[1], argv[2])
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-m",
        "--module",
        action="append",
        choices=sorted(MODULES),
        help="run only this module (repeatable); default: all",
    )
    parser.add_argument("-k", "--keyword", default="", help="run only the tests whose id contains this text")
    parser.add_argument("--isolate", action="store_true", help="one child process per test (slow)")
    parser.add_argument(
        "--all", action="store_true", help="also run the tests of run = false groups (never judged)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="list every test, not only the problems")
    parser.add_argument("--expected", type=Path, default=EXPECTED_FILE)
    parser.add_argument(
        "--test-timeout",
        type=float,
        default=DEFAULT_TEST_TIMEOUT,
        help="seconds without progress before a test counts as hung",
    )
    parser.add_argument("--save", type=Path, help="write the outcomes (JSON) for --write-expected")
    parser.add_argument("--log-dir", type=Path, help="keep the child logs here (default: a scratch folder)")
    parser.add_argument(
        "--write-expected",
        type=Path,
        metavar="TOML",
        help="draft an expectations file from the saved outcome files given as arguments",
    )
    parser.add_argument("saved", nargs="*", type=Path, help="outcome files for --write-expected")
    args = parser.parse_args(argv)

    if args.write_expected:
        write_expected(args.write_expected, args.saved, args.expected)
        print(f"wrote {args.write_expected}")
        return 0
    modules = args.module or list(MODULES)
    workdir = Path(tempfile.mkdtemp(prefix="si-cpython-suite-"))
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        results = run_modules(
            modules,
            workdir=workdir,
            expected=args.expected,
            keyword=args.keyword,
            isolate=args.isolate,
            run_all=args.all,
            test_timeout=args.test_timeout,
            log_dir=args.log_dir.resolve() if args.log_dir else None,
        )
    except Unavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"skipped: {exc}")
        return 0
    problems = 0
    print(f"CPython {sys.version.split()[0]}: CPython's tests against subinterpreters")
    for module, (rows, _) in results.items():
        print(format_table(module, rows, show_all=args.verbose))
        problems += sum(row.verdict in PROBLEMS for row in rows)
    total: Counter[str] = Counter()
    for rows, _ in results.values():
        total.update(counts(rows))
    total.pop("absent", None)
    print("total: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    if args.save:
        args.save.write_text(
            json.dumps(
                {
                    "version": version(),
                    "outcomes": [
                        dataclasses.asdict(o) for _, outcomes in results.values() for o in outcomes.values()
                    ]
                    + [
                        {"id": r.id, "outcome": "not run"}
                        for rows, _ in results.values()
                        for r in rows
                        if r.outcome == "not run"
                    ],
                },
                indent=1,
            )
        )
    if args.log_dir or problems:
        print(f"child logs: {args.log_dir or workdir}")
    if not args.log_dir and problems == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
