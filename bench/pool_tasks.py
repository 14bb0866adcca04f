"""The functions that the pool benchmark (pool.py) runs in its workers.

They live in a module of their own, importable by name, because every worker is somewhere else:
an interpreter of our pool (its initializer adds bench/ to its sys.path), a child process of
ProcessPoolExecutor (spawn passes the parent's sys.path), a thread of this interpreter, or an
interpreter of CPython 3.13 (bench/ is added to its sys.path when it is made). Nothing is imported
here: a worker pays only for this module.
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
