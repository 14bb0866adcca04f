"""close() and threads left in the interpreter.

CPython aborts the whole process ("Py_EndInterpreter: not the last thread") if an interpreter is
ended while another thread still runs in it. close() joins non-daemon threads, as interpreter
exit does, and refuses with RuntimeError while threads that would not be joined (daemon threads of
legacy interpreters) are alive, leaving the interpreter usable.
"""

from __future__ import annotations

import pytest

import subinterpreters as si
from helpers import dedent


def test_close_joins_non_daemon_threads(interp, channel):
    recv, send = channel
    interp.run(
        dedent(
            """
            import threading
            def work():
                send.send("from thread")
            worker = threading.Thread(target=work)
            worker.start()
            """
        ),
        send=send,
    )
    assert recv.recv(timeout=10) == "from thread"
    interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        interp.exec("pass")


def test_close_refuses_while_a_daemon_thread_runs(legacy_interp, channel):
    recv, send = channel
    legacy_interp.run(
        dedent(
            """
            import threading
            stop = threading.Event()
            def spin():
                while not stop.wait(0.01):
                    pass
            daemon = threading.Thread(target=spin, daemon=True)
            daemon.start()
            """
        )
    )
    with pytest.raises(RuntimeError, match="daemon"):
        legacy_interp.close()
    # Nothing was half-done: the interpreter still works, and closes once the thread is gone.
    legacy_interp.run("stop.set(); daemon.join(); send.send_nowait(daemon.is_alive())", send=send)
    assert recv.recv(timeout=10) is False
    legacy_interp.close()
    with pytest.raises(si.InterpreterNotFoundError):
        legacy_interp.is_running()
