#!/usr/bin/env python3
"""Prints which top-level modules of each crate use which (`crate::X` paths) and fails on a cycle.

A crate's top-level module is a file `src/X.rs` or a directory `src/X/` with everything under it;
cycles inside one such module (a file and its own submodules, `super::` paths) are allowed, cycles
between top-level modules are not: dependencies run one way (docs/architecture.md draws the layers).
Usage: scripts/module-graph.py [crate src folder...]   (default: crates/python/src crates/core/src)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DEFAULT_CRATES = ("crates/python/src", "crates/core/src")
LINE_COMMENT = re.compile(r"//.*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
CRATE_PATH = re.compile(r"(?<![\w$])crate::")
IDENT = re.compile(r"\w+")


def top_level_module(src: Path, file: Path) -> str | None:
    """`channel` for src/channel.rs or src/channel/x.rs; None for the crate root."""
    parts = file.relative_to(src).parts
    if len(parts) == 1:
        return None if parts[0] in ("lib.rs", "main.rs") else parts[0].removesuffix(".rs")
    return parts[0]


def group_heads(text: str, start: int) -> set[str]:
    """The first path segment of every item of the `{...}` group that opens at `start`."""
    depth, item, heads = 0, "", set()
    for char in text[start:]:
        if char == "{":
            depth += 1
            if depth == 1:
                continue
        elif char == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and char == ",":
            heads.update(IDENT.findall(item)[:1])
            item = ""
        elif depth >= 1:
            item += char
    heads.update(IDENT.findall(item)[:1])
    return heads


def used_modules(code: str) -> set[str]:
    """Top-level names that `crate::` paths in `code` (comments and strings removed) start with.

    `super::` paths stay inside a module (its own submodules, or a file's inline test module);
    `$crate::` paths in macros are left out: they resolve where the macro expands, and the module
    expanding it names what it uses itself.
    """
    code = STRING.sub('""', BLOCK_COMMENT.sub("", LINE_COMMENT.sub("", code)))
    names = set()
    for match in CRATE_PATH.finditer(code):
        rest = code[match.end() :]
        if rest.startswith("{"):
            names |= group_heads(code, match.end())
        else:
            names.update(IDENT.findall(rest[:80])[:1])
    return names


def graph_of(src: Path) -> dict[str, set[str]]:
    modules = {top_level_module(src, f) for f in src.rglob("*.rs")} - {None}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for file in sorted(src.rglob("*.rs")):
        module = top_level_module(src, file)
        if module is None:
            continue
        edges[module] |= (used_modules(file.read_text()) & modules) - {module}
    return edges


def cycles_of(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(edges[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def layers_of(edges: dict[str, set[str]]) -> dict[str, int]:
    """A module's layer: 0 if it uses no sibling, else one above the highest it uses (acyclic graphs)."""
    layers: dict[str, int] = {}

    def layer(node: str) -> int:
        if node not in layers:
            layers[node] = -1  # guards against a cycle; only called on acyclic graphs
            layers[node] = 1 + max((layer(n) for n in edges[node]), default=-1)
        return layers[node]

    for node in edges:
        layer(node)
    return layers


def main(folders: list[str]) -> int:
    failed = False
    for folder in folders or DEFAULT_CRATES:
        edges = graph_of(Path(folder))
        cycles = cycles_of(edges)
        print(f"== {folder}")
        layers = layers_of(edges) if not cycles else {m: 0 for m in edges}
        for module in sorted(edges, key=lambda m: (layers[m], m)):
            uses = ", ".join(sorted(edges[module])) or "-"
            prefix = f"L{layers[module]} " if not cycles else ""
            print(f"  {prefix}{module} <- uses: {uses}")
        for cycle in cycles:
            failed = True
            print(f"  CYCLE among {len(cycle)} modules: {', '.join(cycle)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
