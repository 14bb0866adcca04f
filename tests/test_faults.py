"""Faults (issue 6): a worker interpreter that raises, one closed while it holds channel ends or
has items in flight, one closed while a peer waits on it. The promise: nothing sent is lost, and
no call hangs when its peer is gone. (Ctrl-C: test_signals, test_queue_signals,
test_primitives_signals; process exit: test_exit, test_pool; fork: test_fork.)"""

from __future__ import annotations

import threading

import pytest

import subinterpreters as si

JOIN = 10.0


@pytest.mark.parametrize("isolated", [True, False])
def test_channel_items_sent_by_a_closed_interpreter_are_still_delivered(isolated) -> None:
    recv, send = si.create_channel()
    interp = si.create(isolated=isolated)
    interp.run(
        "for i in range(100):\n    send.send_nowait(('item', i, 'x' * i))\nsend.send_nowait(list_holder)\n",
        send=send,
        list_holder=("nested", (1.5, None, b"bytes")),
    )
    interp.close()
    got = [recv.recv_nowait() for _ in range(101)]
    assert got[:100] == [("item", i, "x" * i) for i in range(100)]
    assert got[100] == ("nested", (1.5, None, b"bytes"))
    send.close()
    recv.close()


def test_a_worker_that_raises_leaves_its_channels_usable() -> None:
    recv, send = si.create_channel()
    with si.create() as interp:
        with pytest.raises(si.RunFailedError) as caught:
            interp.run("send.send_nowait('before')\nraise ValueError('worker failed')", send=send)
        assert caught.value.type_name == "ValueError"
        assert recv.recv_nowait() == "before"
        interp.run("send.send_nowait('after')", send=send)  # the interpreter itself is fine too
        assert recv.recv_nowait() == "after"


def test_closing_the_interpreter_that_held_the_only_send_end_wakes_a_waiting_receiver() -> None:
    recv, send = si.create_channel()
    interp = si.create()
    interp.prepare_main(send=send)
    del send  # the worker's __main__ now holds the only send end
    outcome: list[object] = []

    def receive() -> None:
        try:
            outcome.append(recv.recv(timeout=JOIN))
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=receive)
    waiter.start()
    interp.close()
    waiter.join(JOIN)
    assert not waiter.is_alive(), "the receiver still waits for a sender that is gone"
    assert len(outcome) == 1 and isinstance(outcome[0], si.ChannelClosedError), outcome


def test_closing_the_interpreter_that_held_the_only_queue_handle_frees_it() -> None:
    queue = si.create_queue()
    queue_id = queue.id
    interp = si.create()
    interp.prepare_main(q=queue)
    del queue
    assert queue_id in {q.id for q in si.list_all_queues()}
    interp.close()
    assert queue_id not in {q.id for q in si.list_all_queues()}


def test_a_pool_task_whose_worker_raises_repeatedly_never_hangs_the_pool() -> None:
    with si.InterpreterPoolExecutor(2) as pool:
        futures = [pool.submit(divmod, 1, 0) for _ in range(20)] + [pool.submit(abs, -3)]
        for future in futures[:-1]:
            with pytest.raises(ZeroDivisionError):
                future.result(timeout=JOIN)
        assert futures[-1].result(timeout=JOIN) == 3
