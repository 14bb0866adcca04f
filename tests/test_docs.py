"""Every ```python block of the docs (README.md and docs/*.md) runs, each in a fresh process, as
written, with warnings turned into errors as in the suite (pyproject's filterwarnings = error); no
process it started may outlive it.

A block that imports a package that is not installed (numpy, dask) is skipped, naming it. `make
test` installs both into the test environments (Makefile, TEST_REQUIREMENTS), so under CI (CI set)
a missing one fails instead: the Dask example runs against a real `distributed.LocalCluster` whose
workers are processes of this machine.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# How long processes a block started may take to finish exiting after it did (multiprocessing's
# resource tracker exits when it reads the end of its pipe). Only reached when one is left running.
EXIT_GRACE = 10.0
# Log records a block may print without failing, each with its reason. Distributed's worker, when
# closed, stops its heartbeat callback and then closes its connections, so a heartbeat still in
# flight at that moment is logged as an ERROR with a CommClosedError traceback: the cluster still
# closes and the results are right (dask/distributed#7105, open). It takes a loaded machine: about
# 1 run in 30 of the Dask example with 4 busy loops on this 2-core machine, and once in a full
# `make python-test`.
TOLERATED_LOGS = [
    re.compile(
        r"^[\d-]+ [\d:,]+ - distributed\.worker - ERROR - "
        r"Failed to communicate with scheduler during heartbeat\.\n"
        r"(?:(?![\d-]+ [\d:,]+ - ).*\n)*?"  # its traceback: lines up to the exception's
        r"distributed\.comm\.core\.CommClosedError: in <TCP \(closed\) ConnectionPool\.heartbeat_worker .*: "
        r"Stream is closed(?:\n|\Z)",
        re.M,
    ),
]


def doc_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]:
        for index, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            blocks.append((f"{page.name}#{index}", code))
    return blocks


def session_processes(session: int) -> list[str]:
    """The live (not zombie) processes of a session, as "pid command line" (Linux: /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process has just gone
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        state, _ppid, _pgrp, sid = text[text.rindex(")") + 2 :].split()[:4]
        if int(sid) == session and state != "Z":
            found.append(f"{stat.parent.name} {cmdline.strip()}")
    return found


def run_in_own_session(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs args in a new session; fails if a process it started outlives it (then kills them).

    Output goes to files, not pipes: a process left running would hold a pipe open, and waiting
    for the end of the output would wait for it instead of noticing it.
    """
    with (cwd / "stdout.txt").open("w+") as out, (cwd / "stderr.txt").open("w+") as err:
        proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, text=True, start_new_session=True)
        try:
            proc.wait(timeout=100)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if Path("/proc/self/stat").exists():
            deadline = time.monotonic() + EXIT_GRACE
            while (left := session_processes(proc.pid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            if left:
                os.killpg(proc.pid, signal.SIGKILL)
            assert not left, f"processes still running {EXIT_GRACE} s after the example exited: {left}"
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())


def test_the_docs_have_examples() -> None:
    assert doc_blocks(), f"no ```python block found under {DOCS}"


@pytest.mark.parametrize(("where", "code"), doc_blocks(), ids=[where for where, _ in doc_blocks()])
def test_doc_example_runs(where: str, code: str, tmp_path: Path) -> None:
    for module in re.findall(r"^(?:import|from) ([\w.]+)", code, re.M):
        top = module.split(".")[0]
        if importlib.util.find_spec(top) is None:
            if os.environ.get("CI"):
                pytest.fail(
                    f"{where} needs {top}, which is not installed: under CI the test requirements "
                    "(Makefile, TEST_REQUIREMENTS) must provide every package the docs import"
                )
            pytest.skip(f"this example needs {top}, which is not installed here")
    proc = run_in_own_session([sys.executable, "-W", "error", "-c", code], cwd=tmp_path)
    assert proc.returncode == 0, f"{where} failed (rc={proc.returncode}):\n{proc.stderr}"
    stderr = proc.stderr
    for tolerated in TOLERATED_LOGS:
        stderr = tolerated.sub("", stderr)
    assert "Traceback" not in stderr, f"{where} printed an error:\n{proc.stderr}"


def test_the_pool_and_asyncio_example_program_runs(tmp_path: Path) -> None:
    example = DOCS.parent / "examples" / "pool_asyncio.py"
    proc = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=100, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "the event loop ticked" in proc.stdout, proc.stdout
