"""Builds C extensions against the package's C API (include/subinterpreters.h) while tests and
benchmarks run: the compiler is called directly with this Python's include folder (sysconfig) and
the package's (subinterpreters.get_include()), into a folder of the caller's choosing. Shared by
tests/test_capi.py and bench/capi.py.

`build()` raises `CannotBuild` (saying exactly what is missing) where no C compiler or no CPython
headers exist; the tests turn that into a skip with that reason.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
PROBE_SOURCE = HERE / "capi_probe.c"
DOC = HERE.parent / "docs" / "c-api.md"
# The example extension of docs/c-api.md: the ```c block after this marker line.
DOC_EXAMPLE_MARKER = "<!-- the example extension: feeder.c -->"


class CannotBuild(Exception):
    """No C compiler, or no CPython headers, here."""


def compiler() -> list[str]:
    """The C compiler: $CC, else sysconfig's CC, else cc or gcc on PATH."""
    for candidate in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc"):
        if candidate:
            words = shlex.split(candidate)
            if words and shutil.which(words[0]):
                return words
    raise CannotBuild("no C compiler: neither $CC, sysconfig's CC, cc nor gcc is on PATH")


def python_includes() -> list[str]:
    folders = list(dict.fromkeys([sysconfig.get_paths()["include"], sysconfig.get_paths()["platinclude"]]))
    if not any(Path(folder, "Python.h").is_file() for folder in folders):
        raise CannotBuild(f"no Python.h in {folders}: this CPython's development headers are not installed")
    return folders


def build(source: Path, name: str, out_dir: Path) -> Path:
    """Compiles `source` into the extension module `name` in `out_dir`; returns its path."""
    import subinterpreters

    target = out_dir / f"{name}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}"
    includes = [*python_includes(), subinterpreters.get_include()]
    command = [
        *compiler(),
        "-shared",
        "-fPIC",
        "-O2",
        "-Wall",
        "-Werror",
        *[f"-I{folder}" for folder in includes],
        "-o",
        str(target),
        str(source),
        "-pthread",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"building {source.name} failed:\n{shlex.join(command)}\n{done.stdout}{done.stderr}"
        )
    return target


def check_header(cxx: bool = False) -> None:
    """Compiles (syntax only, warnings as errors) a unit that includes the header and calls its
    import helper: as strict C99, or as C++11 with `cxx`."""
    import subinterpreters

    if cxx:
        candidates = (os.environ.get("CXX"), "c++", "g++", "clang++")
        found = next((c for c in candidates if c and shutil.which(c)), None)
        if found is None:
            raise CannotBuild("no C++ compiler: neither $CXX, c++, g++ nor clang++ is on PATH")
        command = [found, "-std=c++11", "-x", "c++"]
    else:
        command = [*compiler(), "-std=c99", "-pedantic", "-x", "c"]
    includes = [*python_includes(), subinterpreters.get_include()]
    unit = '#include "subinterpreters.h"\nint main(void) { return SubinterpretersCAPI_Import() == 0; }\n'
    command += ["-Wall", "-Wextra", "-Werror", "-fsyntax-only", *[f"-I{folder}" for folder in includes], "-"]
    done = subprocess.run(command, input=unit, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the header does not compile:\n{shlex.join(command)}\n{done.stdout}{done.stderr}")


def load(path: Path, name: str) -> ModuleType:
    """Imports the extension at `path` as `name` (in this interpreter; others import it by name
    with its folder on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_probe(out_dir: Path) -> ModuleType:
    """The test extension (tests/capi_probe.c), built and imported."""
    return load(build(PROBE_SOURCE, "_capi_probe", out_dir), "_capi_probe")


def doc_example_source() -> str:
    """The C source of the example extension, exactly as docs/c-api.md shows it."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(re.escape(DOC_EXAMPLE_MARKER) + r"\n```c\n(.*?)```", text, re.S)
    if found is None:
        raise RuntimeError(f"{DOC} has no ```c block after {DOC_EXAMPLE_MARKER!r}")
    return found.group(1)


def build_doc_example(out_dir: Path) -> ModuleType:
    """The example extension of docs/c-api.md (module `feeder`), built and imported."""
    source = out_dir / "feeder.c"
    source.write_text(doc_example_source(), encoding="utf-8")
    return load(build(source, "feeder", out_dir), "feeder")
