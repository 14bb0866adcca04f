"""Runs CPython's own tests of ``concurrent.interpreters`` and ``InterpreterPoolExecutor`` against
``subinterpreters`` (see ``runner.py``; the pytest entry point is ``tests/test_cpython_suite.py``)."""
