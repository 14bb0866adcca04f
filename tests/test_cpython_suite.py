"""CPython's own tests of ``concurrent.interpreters`` and ``InterpreterPoolExecutor`` (test_api,
test_queues, test_lifecycle, test_stress of ``test.test_interpreters``, and
``test.test_concurrent_futures.test_interpreter_pool``), read from the installed CPython 3.14+ at
run time, imports rewritten to ``subinterpreters``, run in child processes, every outcome compared
with ``tests/cpython_suite/expected.toml``. See ``tests/cpython_suite/runner.py`` for how, and for
the command line (tables of every test, one module, one child per test, drafting expected.toml).

One test per CPython module: it fails on a REGRESSION (a test not listed in expected.toml that does
not pass), an UNEXPECTED PASS (a listed test that passes: delete it from the list) or a STALE entry
(a listed test that this CPython does not have), printing the table of those.

Skipped before CPython 3.14 (no concurrent.interpreters to be compatible with) and when CPython's
test package is not installed (Debian/Ubuntu: libpython3.X-testsuite).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cpython_suite import runner

# Each module's tests run in one child (resumed after a crash or a hang). The runner bounds a hang
# (no progress) per test; this bounds the whole module, tests known to hang included.
MODULE_TIMEOUT = 1500


def test_expectations_file_is_well_formed() -> None:
    """expected.toml parses, every reason has a known prefix, no test is listed twice for a version
    and every id names one of the runner's modules (checked on every CPython, 3.12 and 3.13 too)."""
    for version in ("3.14", "3.15"):
        expectations = runner.load_expectations(runner.EXPECTED_FILE, version)
        assert expectations, f"no expectation at all for {version}?"
        unknown = sorted(t for t in expectations if t.split(".", 1)[0] not in runner.MODULES)
        assert not unknown, f"ids not starting with one of {sorted(runner.MODULES)}: {unknown}"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    try:
        runner.cpython_test_dir()
    except runner.Unavailable as exc:
        pytest.skip(str(exc))
    workdir = tmp_path_factory.mktemp("cpython-suite")
    runner.build_suite(workdir)
    listing = runner.list_tests(workdir, list(runner.MODULES))
    return workdir, listing


@pytest.mark.timeout(MODULE_TIMEOUT)
@pytest.mark.parametrize("module", list(runner.MODULES))
def test_cpython_module(module: str, suite: tuple[Path, dict]) -> None:
    workdir, listing = suite
    listed = listing[module]
    if isinstance(listed, dict):
        if "skip" in listed:
            pytest.skip(f"CPython's {module} skips itself here: {listed['skip']}")
        pytest.fail(f"CPython's {module} could not be loaded after the rewrite:\n{listed['error']}")
    expectations = runner.load_expectations(runner.EXPECTED_FILE, runner.version())
    ids = [runner.short_id(i) for i in listed]
    to_run = [runner.full_id(i) for i in ids if expectations.get(i, runner.Expectation("")).run]
    timeouts = {k: v.timeout for k, v in expectations.items() if v.timeout is not None}
    log = workdir / f"{module}.log"
    outcomes, extra = runner.run_tests(workdir, to_run, log, timeouts=timeouts)
    rows = runner.compare(module, ids, outcomes, extra, expectations)
    print(runner.format_table(module, rows, show_all=True))
    problems = [row for row in rows if row.verdict in runner.PROBLEMS]
    assert not problems, (
        f"CPython {sys.version.split()[0]}'s {module} against subinterpreters: {len(problems)} mismatch(es) "
        f"with tests/cpython_suite/expected.toml (child log: {log})\n" + runner.format_table(module, rows)
    )
