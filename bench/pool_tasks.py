"""The functions that the pool and real-programs tables (pool.py, programs.py) run in their workers.

They live in a module of their own, importable by name, because every worker is somewhere else:
an interpreter of our pool or of CPython 3.14's (their initializer adds bench/ to its sys.path), a
child process of ProcessPoolExecutor (the forkserver passes the parent's sys.path), a thread of
this interpreter, or an interpreter of CPython 3.13 (bench/ is added to its sys.path when it is
made). Nothing is imported at the top: a worker pays only for this module (and `render` for
markdown).
"""


def noop() -> None:
    """The trivial task."""


def square(x: int) -> int:
    """The small task of `map` over 10,000 items."""
    return x * x


def spin(n: int) -> int:
    """The CPU-bound task: a pure-Python loop of `n` steps (holds its GIL all along)."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def pause(seconds: float) -> None:
    """Used to start every worker of a pool before timing (tasks that overlap)."""
    import time

    time.sleep(seconds)


def cpython_task() -> None:
    """Run by CPython 3.13's `Interpreter.call()` in the worker's `__main__` (3.13 ships the code
    and runs it with `__main__`'s globals, passes no arguments and drops the return value): calls
    `_m.<_name>(_arg)` and puts the result on the queue `_q` for the thread to take. `_m`, `_q`,
    `_name` and `_arg` are globals of that `__main__`, bound by the benchmark."""
    _q.put_nowait(getattr(_m, _name)(_arg))  # type: ignore[name-defined]  # noqa: F821


# --- the real-programs table (programs.py) --------------------------------------------------------


def render(text: str) -> str:
    """Markdown to HTML, as a program would render documents (python-markdown, installed into the
    benchmark's venv by `make bench`)."""
    import markdown

    return markdown.markdown(text, extensions=["tables", "fenced_code"])


def make_records(n: int, start: int = 0) -> list[dict[str, object]]:
    """`n` records like a program's rows: {"id": 1, "name": "user1", "score": 0.5, "tags": [...]}."""
    return [
        {"id": i, "name": f"user{i}", "score": (i % 100) / 100, "tags": ["a", "b"]}
        for i in range(start, start + n)
    ]


def sum_scores(records: list[dict[str, object]]) -> float:
    """A task given records: the sum of their scores."""
    return sum(record["score"] for record in records)  # type: ignore[misc]
