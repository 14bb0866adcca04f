"""Every ```python block of the docs (README.md and docs/*.md) runs, each in a fresh process, as
written.

A block that imports a package that is not installed (numpy, dask) is skipped, naming it; `make
test` installs numpy into the test environments, so only the distributed-engine examples are
skipped there.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def doc_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]:
        for index, code in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            blocks.append((f"{page.name}#{index}", code))
    return blocks


def test_the_docs_have_examples() -> None:
    assert doc_blocks(), f"no ```python block found under {DOCS}"


@pytest.mark.parametrize(("where", "code"), doc_blocks(), ids=[where for where, _ in doc_blocks()])
def test_doc_example_runs(where: str, code: str, tmp_path: Path) -> None:
    for module in re.findall(r"^(?:import|from) ([\w.]+)", code, re.M):
        top = module.split(".")[0]
        if importlib.util.find_spec(top) is None:
            pytest.skip(f"this example needs {top}, which is not installed here")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=100, cwd=tmp_path
    )
    assert proc.returncode == 0, f"{where} failed (rc={proc.returncode}):\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, f"{where} printed an error:\n{proc.stderr}"


def test_the_pool_and_asyncio_example_program_runs(tmp_path: Path) -> None:
    example = DOCS.parent / "examples" / "pool_asyncio.py"
    proc = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=100, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "the event loop ticked" in proc.stdout, proc.stdout
