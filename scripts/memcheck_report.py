#!/usr/bin/env python3
"""Reads the valgrind logs of one `make memcheck` run of the Python suite (one log per process: the
pytest process and every child it started) and says whether the binding is clean.

Fails (exit 1) on:
- any memcheck error in any process (invalid read or write, use of uninitialised memory, invalid
  or mismatched free, ...), after scripts/memcheck-python.supp;
- any block definitely lost that the binding allocated itself: Rust allocations, or Python
  objects whose allocation is called from the binding's own code (`_core::...` frames among the
  first frames after the allocator). Blocks CPython allocates on its own behalf — its interned
  strings, the ~1.6 MiB an interpreter leaves behind (gh-110411), modules of the standard library
  in subinterpreters — are counted, not judged.

Usage: memcheck_report.py <folder of logs> [how many binding leaks to print]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Frames of the binding (crate `_core`) and of the core crate: their names, or their source files
# (valgrind shows our files by bare name, `module.rs:88`, and the standard library's under
# `library/`).
OURS = re.compile(r"\b(_core|subinterpreters_core)::|\(\w+\.rs:\d+\)")
# Rust standard library frames (Vec growth, Box, ...), skipped like allocators.
RUST_STD = re.compile(r"\(library/[^)]*\.rs:\d+\)")
# Allocator frames to skip before judging who allocated a block.
ALLOCATORS = re.compile(
    r": (malloc|calloc|realloc|memalign|posix_memalign|aligned_alloc|PyMem_Raw\w+|_PyMem_Raw\w+|"
    r"PyObject_Malloc|PyObject_Calloc|PyObject_Realloc|_PyObject_\w*Malloc\w*|PyMem_\w+|_PyMem_\w+|"
    r"gc_alloc|_PyObject_GC_\w+|PyObject_GC_\w+|PyType_GenericAlloc|_PyType_AllocNoTrack|"
    r"__rust_\w+|__rdl_\w+|alloc::\w+|\S*alloc::alloc::\w+|<alloc::\S+)"
)
# How many frames after the allocator may show the binding for the block to count as its own.
OWN_DEPTH = 4
PREFIX = re.compile(r"^==\d+== ?")


def records(lines: list[str]) -> list[list[str]]:
    """The blocks of a log: an error or a loss record, its frames, up to the next blank line."""
    found: list[list[str]] = []
    current: list[str] | None = None
    for raw in lines:
        line = PREFIX.sub("", raw)
        if not line.strip():
            current = None
            continue
        if current is None:
            current = [line]
            found.append(current)
        else:
            current.append(line)
    return found


def own_leak(record: list[str]) -> bool:
    frames = [line.strip() for line in record[1:] if line.strip().startswith(("at ", "by "))]
    rest = [frame for frame in frames if not ALLOCATORS.search(frame) and not RUST_STD.search(frame)]
    return any(OURS.search(frame) for frame in rest[:OWN_DEPTH])


def main() -> int:
    folder = Path(sys.argv[1])
    show = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    logs = sorted(folder.glob("*.log"))
    processes = errors = definite = 0
    error_samples: list[tuple[Path, list[str]]] = []
    own: list[tuple[Path, list[str]]] = []
    for log in logs:
        lines = log.read_text(errors="replace").splitlines()
        summary = [line for line in lines if "ERROR SUMMARY:" in line]
        if not summary:
            continue  # a fork that exec'd before valgrind summarised it
        processes += 1
        count = int(re.search(r"ERROR SUMMARY: (\d+)", summary[-1]).group(1))
        errors += count
        for record in records(lines):
            head = record[0]
            if "are definitely lost" in head:
                definite += 1
                if own_leak(record):
                    own.append((log, record))
            elif count and re.match(
                r"(Invalid|Conditional|Use of uninitialised|Mismatched|Syscall param|Source and destination)",
                head,
            ):
                error_samples.append((log, record))
    print(
        f"memcheck: {processes} Python processes, {errors} errors, {definite} definitely lost "
        f"loss records, {len(own)} of them allocated by the binding"
    )
    for log, record in error_samples[:show] + own[:show]:
        print(f"--- {log.name}")
        print("\n".join(shorten(record)))
    return 1 if errors or own else 0


def shorten(record: list[str], frames: int = 8) -> list[str]:
    """The record's head and, for each of its stacks (the access, where the block was freed, where
    it was allocated), the first frames that are not Rust's panic and call plumbing."""
    noise = re.compile(r"\((library/(core|std)/src/(panic|panicking|ops/function)\S*)\)")
    kept: list[str] = []
    left = 0
    for line in record:
        stripped = line.strip()
        if not stripped.startswith(("at ", "by ")):
            kept.append(line)
            left = frames
        elif left > 0 and not noise.search(line):
            kept.append(line if len(line) <= 160 else line[:157] + "...")
            left -= 1
    return kept


if __name__ == "__main__":
    sys.exit(main())
