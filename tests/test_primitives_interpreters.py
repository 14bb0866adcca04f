"""Sync primitives across interpreters (issue 3): every primitive is shareable (run(**shared), a
channel, a queue) and the receiver gets the same primitive (equal and hashable by identity, state
seen from both sides); they work between interpreters; an RLock's owner is the (interpreter, thread)
pair; cross-interpreter lock exclusion; waiting releases the GIL and never polls."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

import subinterpreters as si
from helpers import dedent, wait_until

SETTLE = 0.2
JOIN = 10.0


KINDS = {
    "Lock": lambda: si.Lock(),
    "RLock": lambda: si.RLock(),
    "Semaphore": lambda: si.Semaphore(2),
    "BoundedSemaphore": lambda: si.BoundedSemaphore(2),
    "Event": lambda: si.Event(),
    "Condition": lambda: si.Condition(),
    "Barrier": lambda: si.Barrier(2),
}
CONSTRUCT = {
    "Lock": "si.Lock()",
    "RLock": "si.RLock()",
    "Semaphore": "si.Semaphore(2)",
    "BoundedSemaphore": "si.BoundedSemaphore(2)",
    "Event": "si.Event()",
    "Condition": "si.Condition()",
    "Barrier": "si.Barrier(2)",
}
TRANSPORTS = ["run", "channel", "queue", "strict-queue"]


def deliver(interp: si.Interpreter, obj: object, transport: str, name: str = "p") -> None:
    """Make `obj` the global `name` of `interp`'s __main__, carried by `transport`."""
    if transport == "run":
        interp.run("pass", **{name: obj})
    elif transport == "channel":
        r, s = si.create_channel()
        try:
            s.send_nowait(obj)
            interp.run(f"{name} = _r.recv_nowait()\ndel _r", _r=r)
        finally:
            r.close()
            s.close()
    else:
        q = si.create_queue(strict=transport == "strict-queue")
        q.put(obj)
        interp.run(f"{name} = _q.get_nowait()\ndel _q", _q=q)
        assert q.empty()


@pytest.fixture(scope="module")
def pool():
    """Four isolated interpreters for the tests that run several at once."""
    interps = [si.create() for _ in range(4)]
    for interp in interps:
        interp.exec("import subinterpreters as si, threading, time")
    yield interps
    for interp in interps:
        interp.close()


# --- shareable: the receiver gets the same primitive ---------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_primitives_are_shareable(kind) -> None:
    assert si.is_shareable(KINDS[kind]()) is True


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_received_handle_is_equal_with_same_hash(kind, transport, shared_interp, ask) -> None:
    obj = KINDS[kind]()
    deliver(shared_interp, obj, transport)
    assert ask(shared_interp, f"type(p) is si.{kind}", setup="import subinterpreters as si")
    # In the receiver: equal to another handle of the same primitive, not to a new one.
    assert ask(
        shared_interp,
        f"(p == again, hash(p) == hash(again), p != {CONSTRUCT[kind]}, len({{p, again}}))",
        setup="import subinterpreters as si",
        again=obj,
    ) == (True, True, True, 1)
    # Back in the sender: the returned handle is the same primitive.
    back = ask(shared_interp, "p")
    assert type(back) is type(obj)
    assert back == obj and hash(back) == hash(obj)
    assert back != KINDS[kind]()
    assert len({obj, back}) == 1
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lock_state_is_shared(transport, shared_interp, ask) -> None:
    lock = si.Lock()
    deliver(shared_interp, lock, transport)
    lock.acquire()
    assert ask(shared_interp, "(p.locked(), p.acquire(blocking=False))") == (True, False)
    ask(shared_interp, "p.release()")  # a Lock may be released by anyone
    assert lock.locked() is False
    assert ask(shared_interp, "p.acquire(blocking=False)") is True
    assert lock.locked() is True
    assert lock.acquire(blocking=False) is False
    lock.release()
    assert ask(shared_interp, "p.locked()") is False
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rlock_state_is_shared(transport, shared_interp, ask) -> None:
    rlock = si.RLock()
    deliver(shared_interp, rlock, transport)
    rlock.acquire()
    assert ask(shared_interp, "p.acquire(blocking=False)") is False
    rlock.release()
    assert ask(shared_interp, "p.acquire(blocking=False)") is True
    assert rlock.acquire(blocking=False) is False
    ask(shared_interp, "p.release()")
    assert rlock.acquire(blocking=False) is True
    rlock.release()
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_permits_are_shared(kind, transport, shared_interp, ask) -> None:
    sem = getattr(si, kind)(2)
    deliver(shared_interp, sem, transport)
    assert sem.acquire(blocking=False) is True
    assert ask(shared_interp, "(p.acquire(blocking=False), p.acquire(blocking=False))") == (True, False)
    assert sem.acquire(blocking=False) is False
    ask(shared_interp, "p.release(2)")
    assert [sem.acquire(blocking=False) for _ in range(3)] == [True, True, False]
    sem.release(2)
    over = ask(
        shared_interp,
        "r",
        setup="""
        try:
            p.release()
            r = "released"
        except ValueError:
            r = "ValueError"
        """,
    )
    assert over == ("ValueError" if kind == "BoundedSemaphore" else "released")
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_event_flag_is_shared(transport, shared_interp, ask) -> None:
    event = si.Event()
    deliver(shared_interp, event, transport)
    assert ask(shared_interp, "(p.is_set(), p.wait(0))") == (False, False)
    event.set()
    assert ask(shared_interp, "(p.is_set(), p.wait(0), p.wait())") == (True, True, True)
    ask(shared_interp, "p.clear()")
    assert event.is_set() is False
    ask(shared_interp, "p.set()")
    assert event.wait(0) is True
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("lock_kind", ["default", "Lock", "RLock"])
def test_condition_and_its_lock_are_shared(lock_kind, transport, shared_interp, ask) -> None:
    lock = None if lock_kind == "default" else getattr(si, lock_kind)()
    cond = si.Condition(lock)
    deliver(shared_interp, cond, transport)
    cond.acquire()
    assert ask(shared_interp, "p.acquire(blocking=False)") is False
    if lock is not None:
        assert ask(shared_interp, "lk.acquire(blocking=False)", lk=lock) is False
    cond.release()
    assert ask(shared_interp, "p.acquire(blocking=False)") is True
    assert cond.acquire(blocking=False) is False
    if lock is not None:
        assert lock.acquire(blocking=False) is False
    ask(shared_interp, "p.release()")
    assert cond.acquire(blocking=False) is True
    cond.release()
    shared_interp.exec("del p")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_barrier_is_shared(transport, shared_interp, ask, spawn) -> None:
    barrier = si.Barrier(2)
    deliver(shared_interp, barrier, transport)
    assert ask(shared_interp, "(p.parties, p.n_waiting, p.broken)") == (2, 0, False)
    task = spawn(ask, shared_interp, "p.wait(timeout=10)")
    assert wait_until(lambda: barrier.n_waiting == 1)
    mine = barrier.wait(timeout=JOIN)
    assert sorted([mine, task.result()]) == [0, 1]
    barrier.abort()
    assert ask(shared_interp, "p.broken") is True
    ask(shared_interp, "p.reset()")
    assert barrier.broken is False
    shared_interp.exec("del p")


def test_barrier_default_timeout_crosses_with_it(shared_interp, ask) -> None:
    barrier = si.Barrier(2, timeout=0.2)
    took = ask(
        shared_interp,
        "(r, time.monotonic() - t0)",
        setup="""
        import threading, time
        t0 = time.monotonic()
        try:
            p.wait()
            r = "passed"
        except threading.BrokenBarrierError:
            r = "broken"
        """,
        p=barrier,
    )
    assert took[0] == "broken"
    assert 0.19 <= took[1] < 5.0
    assert barrier.broken is True


@pytest.mark.parametrize("kind", list(KINDS))
def test_primitive_outlives_the_interpreter_that_created_it(kind, ask) -> None:
    interp = si.create()
    try:
        obj = ask(interp, CONSTRUCT[kind], setup="import subinterpreters as si")
    finally:
        interp.close()
    assert type(obj) is getattr(si, kind)
    if kind in ("Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition"):
        assert obj.acquire(blocking=False) is True
        obj.release()
    elif kind == "Event":
        obj.set()
        assert obj.wait(0) is True
    else:
        assert obj.parties == 2 and obj.broken is False


def test_lock_acquired_by_closed_interpreter_stays_locked(ask) -> None:
    interp = si.create()
    try:
        lock = ask(interp, "(lk, lk.acquire())[0]", setup="import subinterpreters as si\nlk = si.Lock()")
    finally:
        interp.close()
    assert lock.locked() is True
    lock.release()
    assert lock.acquire(blocking=False) is True
    lock.release()


def test_primitives_work_with_a_legacy_interpreter(legacy_interp, ask, spawn) -> None:
    lock, event = si.Lock(), si.Event()
    lock.acquire()
    task = spawn(ask, legacy_interp, "(p.acquire(timeout=10), e.wait(10))", p=lock, e=event)
    time.sleep(SETTLE)
    assert not task.done
    lock.release()
    time.sleep(0.05)
    event.set()
    assert task.result() == (True, True)
    assert lock.locked() is True


# --- between interpreters ------------------------------------------------------------------------


def test_acquire_in_interpreter_waits_for_release_in_main(shared_interp, ask, spawn) -> None:
    lock = si.Lock()
    lock.acquire()
    task = spawn(ask, shared_interp, "p.acquire(timeout=10)", p=lock)
    time.sleep(SETTLE)
    assert not task.done
    lock.release()
    assert task.result() is True
    assert lock.locked() is True
    lock.release()


def test_acquire_in_main_waits_for_release_in_interpreter(shared_interp, spawn) -> None:
    lock = si.Lock()
    shared_interp.run("p.acquire()", p=lock)
    task = spawn(shared_interp.run, "import time\ntime.sleep(0.2)\np.release()")
    start = time.monotonic()
    assert lock.acquire(timeout=JOIN) is True
    assert time.monotonic() - start >= 0.1
    task.result()
    lock.release()


def test_semaphore_between_interpreters(pool, spawn) -> None:
    sem = si.Semaphore(0)
    out_r, out_s = si.create_channel()
    try:
        code = "out.send_nowait((k, p.acquire(timeout=10)))"
        tasks = [spawn(interp.run, code, p=sem, k=k, out=out_s) for k, interp in enumerate(pool[:3])]
        time.sleep(SETTLE)
        assert out_r.recv_nowait(None) is None
        sem.release(2)
        got = [out_r.recv(timeout=JOIN), out_r.recv(timeout=JOIN)]
        time.sleep(SETTLE)
        assert out_r.recv_nowait(None) is None, "release(2) woke a third waiter"
        sem.release()
        got.append(out_r.recv(timeout=JOIN))
        for task in tasks:
            task.result()
    finally:
        out_r.close()
        out_s.close()
    assert sorted(got) == [(0, True), (1, True), (2, True)]
    assert sem.acquire(blocking=False) is False


def test_event_set_in_main_wakes_waiters_in_every_interpreter(pool, spawn) -> None:
    event = si.Event()
    out_r, out_s = si.create_channel()
    try:
        tasks = [spawn(interp.run, "out.send_nowait(e.wait(10))", e=event, out=out_s) for interp in pool]
        time.sleep(SETTLE)
        assert not any(t.done for t in tasks)
        event.set()
        for task in tasks:
            task.result()
        assert [out_r.recv_nowait() for _ in pool] == [True] * len(pool)
    finally:
        out_r.close()
        out_s.close()


def test_event_set_in_interpreter_wakes_main(shared_interp, spawn) -> None:
    event = si.Event()
    task = spawn(shared_interp.run, "import time\ntime.sleep(0.1)\ne.set()", e=event)
    assert event.wait(timeout=JOIN) is True
    task.result()


def test_condition_between_interpreters(pool, spawn) -> None:
    # Waiters in three interpreters; a notify from another interpreter; notify(n) counts.
    cond = si.Condition()
    items = si.create_queue()
    out_r, out_s = si.create_channel()
    waiter = dedent(
        """
        with c:
            ready.put(1)
            ok = c.wait_for(lambda: not items.empty(), timeout=10)
            out.send_nowait(items.get_nowait() if ok else "timed out")
        """
    )
    ready = si.create_queue()
    try:
        tasks = [spawn(i.run, waiter, c=cond, items=items, out=out_s, ready=ready) for i in pool[:3]]
        assert wait_until(lambda: ready.qsize() == 3)
        # Notify from a fourth interpreter, one object and one waiter at a time.
        pool[3].run("with c:\n    items.put('a')\n    c.notify()", c=cond, items=items)
        assert out_r.recv(timeout=JOIN) == "a"
        time.sleep(SETTLE)
        assert out_r.recv_nowait(None) is None
        with cond:
            items.put_many(["b", "c"])
            cond.notify_all()
        got = {out_r.recv(timeout=JOIN), out_r.recv(timeout=JOIN)}
        for task in tasks:
            task.result()
    finally:
        out_r.close()
        out_s.close()
    assert got == {"b", "c"}


def test_condition_wait_in_main_notified_from_interpreter(shared_interp, spawn) -> None:
    cond = si.Condition(si.Lock())
    flag = si.Event()
    with cond:
        task = spawn(shared_interp.run, "with c:\n    f.set()\n    c.notify()", c=cond, f=flag)
        assert cond.wait_for(flag.is_set, timeout=JOIN) is True
    task.result()


def test_condition_not_held_in_interpreter_is_runtime_error(shared_interp, ask) -> None:
    cond = si.Condition()
    cond.acquire()  # held by the main interpreter's main thread, not by the interpreter's
    try:
        got = ask(
            shared_interp,
            "errs",
            setup="""
            errs = ()
            for call in (c.notify, c.notify_all, lambda: c.wait(0.01), c.release):
                try:
                    call()
                    errs += (None,)
                except RuntimeError:
                    errs += ("RuntimeError",)
            """,
            c=cond,
        )
    finally:
        cond.release()
    assert got == ("RuntimeError",) * 4


def test_barrier_between_interpreters(pool, spawn) -> None:
    parties, rounds = len(pool) + 1, 3
    barrier = si.Barrier(parties)
    out_r, out_s = si.create_channel()
    code = "out.send_nowait((k, tuple(b.wait(timeout=10) for _ in range(rounds))))"
    try:
        tasks = [spawn(i.run, code, b=barrier, k=k, out=out_s, rounds=rounds) for k, i in enumerate(pool)]
        mine = [barrier.wait(timeout=JOIN) for _ in range(rounds)]
        for task in tasks:
            task.result()
        results = [out_r.recv_nowait()[1] for _ in pool] + [tuple(mine)]
    finally:
        out_r.close()
        out_s.close()
    for r in range(rounds):
        assert sorted(res[r] for res in results) == list(range(parties))


def test_barrier_abort_in_main_breaks_waiters_in_interpreters(pool, spawn) -> None:
    barrier = si.Barrier(len(pool) + 1)
    out_r, out_s = si.create_channel()
    code = dedent(
        """
        try:
            b.wait(10)
            out.send_nowait("passed")
        except threading.BrokenBarrierError:
            out.send_nowait("broken")
        """
    )
    try:
        tasks = [spawn(i.run, code, b=barrier, out=out_s) for i in pool[:2]]
        assert wait_until(lambda: barrier.n_waiting == 2)
        barrier.abort()
        for task in tasks:
            task.result()
        assert [out_r.recv_nowait(), out_r.recv_nowait()] == ["broken", "broken"]
    finally:
        out_r.close()
        out_s.close()
    assert barrier.broken is True


def test_barrier_reset_in_interpreter_breaks_waiter_in_main(shared_interp, spawn) -> None:
    barrier = si.Barrier(2)
    task = spawn(barrier.wait, JOIN)
    assert wait_until(lambda: barrier.n_waiting == 1)
    shared_interp.run("b.reset()", b=barrier)
    assert isinstance(task.exception(), threading.BrokenBarrierError)
    assert barrier.broken is False


# --- RLock: the owner is the (interpreter, thread) pair ------------------------------------------

OWNER_PROBE = """
result = {}
result["same-thread"] = threading.get_ident() == main_ident
result["nonblocking"] = r.acquire(blocking=False)
t0 = time.monotonic()
result["timeout"] = r.acquire(timeout=0.2)
result["waited"] = time.monotonic() - t0 >= 0.15
try:
    r.release()
    result["release"] = "released"
except RuntimeError:
    result["release"] = "RuntimeError"
"""


def test_rlock_held_by_main_interpreter_is_not_owned_by_another_on_the_same_thread(
    shared_interp, ask
) -> None:
    rlock = si.RLock()
    rlock.acquire()
    try:
        # run() executes on this very thread: same thread id, another interpreter.
        got = ask(
            shared_interp,
            "tuple(sorted(result.items()))",
            setup="import threading, time\n" + OWNER_PROBE,
            r=rlock,
            main_ident=threading.get_ident(),
        )
    finally:
        rlock.release()
    assert dict(got) == {
        "same-thread": True,
        "nonblocking": False,
        "timeout": False,
        "waited": True,
        "release": "RuntimeError",
    }
    # Released by its owner: now free for the interpreter.
    assert ask(shared_interp, "(r.acquire(blocking=False), r.release())") == (True, None)


def test_rlock_held_by_interpreter_is_not_owned_by_main_on_the_same_thread(shared_interp, ask) -> None:
    rlock = si.RLock()
    shared_interp.run("r.acquire()", r=rlock)  # owner: (shared_interp, this thread)
    assert rlock.acquire(blocking=False) is False
    result, took = timed(rlock.acquire, timeout=0.2)
    assert result is False and took >= 0.15
    with pytest.raises(RuntimeError):
        rlock.release()
    # The owner (same interpreter, same thread) re-enters and releases.
    assert ask(shared_interp, "r.acquire(blocking=False)") is True
    shared_interp.exec("r.release()")
    assert rlock.acquire(blocking=False) is False  # still held once
    shared_interp.exec("r.release()")
    assert rlock.acquire(blocking=False) is True
    rlock.release()


def test_rlock_owned_by_one_subinterpreter_not_by_another_on_the_same_thread(pool, ask) -> None:
    a, b = pool[0], pool[1]
    rlock = si.RLock()
    a.run("r.acquire()", r=rlock)
    try:
        got = ask(
            b,
            "tuple(sorted(result.items()))",
            setup="import threading, time\n" + OWNER_PROBE,
            r=rlock,
            main_ident=threading.get_ident(),
        )
    finally:
        a.exec("r.release()")
    assert dict(got)["nonblocking"] is False
    assert dict(got)["timeout"] is False
    assert dict(got)["release"] == "RuntimeError"
    assert rlock.acquire(blocking=False) is True
    rlock.release()


def test_rlock_context_manager_in_interpreter_and_main_exclude(shared_interp, spawn) -> None:
    rlock = si.RLock()
    inside = si.Event()
    leave = si.Event()
    code = "with r:\n    with r:\n        inside.set()\n        leave.wait(10)\n"
    task = spawn(shared_interp.run, code, r=rlock, inside=inside, leave=leave)
    assert inside.wait(JOIN)
    assert rlock.acquire(blocking=False) is False
    leave.set()
    assert rlock.acquire(timeout=JOIN) is True
    task.result()
    rlock.release()


def timed(fn, *args, **kwargs):
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


# --- cross-interpreter lock exclusion -----------------------------------------------------------

# Each worker increments a counter kept in a queue (the queue holds exactly one int) under the
# shared lock. Two holders at once would make one of them find the queue empty (QueueEmpty) or
# lose an increment, and the `inside` event (set while a holder is inside) would record an overlap.
EXCLUSION = """
overlaps = 0
start.wait(timeout=10)
for _ in range(n):
    with guard:
        {inner}
out.send_nowait(overlaps)
"""
INNER = """
if inside.is_set():
            overlaps += 1
        inside.set()
        v = counter.get_nowait()
        if _ % 16 == 0:
            time.sleep(0)
        counter.put_nowait(v + 1)
        inside.clear()
"""
GUARDS = {
    "Lock": lambda: si.Lock(),
    "RLock": lambda: si.RLock(),
    "Semaphore(1)": lambda: si.Semaphore(1),
    "BoundedSemaphore(1)": lambda: si.BoundedSemaphore(1),
    "Condition": lambda: si.Condition(),
    "Condition(Lock)": lambda: si.Condition(si.Lock()),
}


@pytest.mark.parametrize("guard_kind", list(GUARDS))
def test_cross_interpreter_lock_exclusion(guard_kind, pool, spawn) -> None:
    n = 400
    guard = GUARDS[guard_kind]()
    counter = si.create_queue()
    counter.put(0)
    inside = si.Event()
    start = si.Barrier(len(pool))
    out_r, out_s = si.create_channel()
    inner = INNER.strip("\n")
    if guard_kind == "RLock":  # re-entered by its owner inside the critical section
        inner = "with guard:\n            " + inner.replace("\n        ", "\n            ")
    source = EXCLUSION.format(inner=inner)
    try:
        tasks = [
            spawn(i.run, source, guard=guard, counter=counter, inside=inside, start=start, n=n, out=out_s)
            for i in pool
        ]
        for task in tasks:
            task.result(timeout=60)
        overlaps = [out_r.recv_nowait() for _ in pool]
    finally:
        out_r.close()
        out_s.close()
    assert overlaps == [0] * len(pool)
    assert counter.get_nowait() == n * len(pool)
    assert counter.empty()
    assert inside.is_set() is False


def test_cross_interpreter_lock_exclusion_with_counter_passed_through_channels(pool, spawn) -> None:
    # The counter travels as a value: taken from a channel and sent on after the increment, under
    # the lock; with a missing lock, two workers would both find nothing (recv_nowait raises) or
    # send two values.
    n = 300
    lock = si.Lock()
    r, s = si.create_channel()
    out_r, out_s = si.create_channel()
    source = dedent(
        """
        start.wait(timeout=10)
        for _ in range(n):
            with lock:
                v = r.recv_nowait()
                s.send_nowait(v + 1)
        out.send_nowait("done")
        """
    )
    start = si.Barrier(len(pool))
    try:
        s.send_nowait(0)
        tasks = [spawn(i.run, source, lock=lock, r=r, s=s, n=n, start=start, out=out_s) for i in pool]
        for task in tasks:
            task.result(timeout=60)
        assert [out_r.recv_nowait() for _ in pool] == ["done"] * len(pool)
        assert r.recv_nowait() == n * len(pool)
        assert r.recv_nowait(None) is None
    finally:
        for end in (r, s, out_r, out_s):
            end.close()
        for i in pool:
            i.exec("r = s = None")


def test_semaphore_limits_holders_across_interpreters(pool, spawn) -> None:
    # At most two holders of a Semaphore(2) at any time, counted under a second shared lock.
    sem = si.BoundedSemaphore(2)
    guard = si.Lock()
    holders = si.create_queue()
    holders.put(0)
    peak = si.create_queue()
    source = dedent(
        """
        for _ in range(40):
            with sem:
                with guard:
                    h = holders.get_nowait() + 1
                    holders.put_nowait(h)
                    peak.put_nowait(h)
                time.sleep(0.0005)
                with guard:
                    holders.put_nowait(holders.get_nowait() - 1)
        """
    )
    tasks = [spawn(i.run, source, sem=sem, guard=guard, holders=holders, peak=peak) for i in pool]
    for task in tasks:
        task.result(timeout=60)
    seen = peak.get_many(10_000, timeout=0)
    assert len(seen) == 40 * len(pool)
    assert max(seen) <= 2
    assert holders.get_nowait() == 0


# --- waiting releases the GIL --------------------------------------------------------------------


def _blocker(kind: str, interp: si.Interpreter, in_wait: threading.Event):
    """(blocking call for a main-interpreter thread, wake-up source run by `interp` on the calling
    thread, expected result of the call). The call sets `in_wait` just before it blocks."""
    prim = {
        "Lock": si.Lock,
        "RLock": si.RLock,
        "Semaphore": lambda: si.Semaphore(0),
        "BoundedSemaphore": lambda: si.BoundedSemaphore(1),
        "Event": si.Event,
        "Condition": si.Condition,
        "Barrier": lambda: si.Barrier(2),
    }[kind]()
    interp.run("pass", p=prim)
    if kind in ("Lock", "RLock", "BoundedSemaphore"):
        interp.exec("p.acquire()")  # held by the interpreter (on this thread)

    def call():
        if kind == "Condition":
            with prim:
                in_wait.set()  # the notifier can take the lock only once this waits
                return prim.wait(5)
        in_wait.set()
        if kind == "Event":
            return prim.wait(5)
        if kind == "Barrier":
            return prim.wait(5)
        return prim.acquire(timeout=5)

    wake = {
        "Event": "p.set()",
        "Condition": "with p:\n    p.notify()",
        "Barrier": "p.wait(5)",
    }.get(kind, "p.release()")
    return call, wake, 0 if kind == "Barrier" else True


@pytest.mark.parametrize("kind", list(KINDS))
def test_waiting_releases_the_gil(kind, interp, spawn) -> None:
    # A thread of the main interpreter waits on a primitive held/unset by another interpreter.
    # Meanwhile the main thread (same interpreter, same GIL) must run Python code. If the waiter
    # kept the GIL, the main thread could not run until the wait timed out (5 s): the waiter would
    # be done (False) by the time the main thread checks.
    in_wait = threading.Event()
    call, wake, expected = _blocker(kind, interp, in_wait)
    task = spawn(call)
    assert in_wait.wait(JOIN)
    time.sleep(0.05)
    n, end = 0, time.monotonic() + 0.3
    while time.monotonic() < end:
        n += 1
    assert n > 0
    assert not task.done, "the waiter returned: it was not blocked, or held the GIL until timeout"
    interp.exec(wake)
    assert task.result() == expected


def test_waiting_in_subinterpreter_thread_releases_its_gil(interp, ask) -> None:
    lock = si.Lock()
    lock.acquire()
    got = ask(
        interp,
        "(alive, n > 0, res)",
        setup="""
        import threading, time
        res = []
        started = threading.Event()
        def w():
            started.set()
            res.append(p.acquire(timeout=5))
        t = threading.Thread(target=w)
        t.start()
        started.wait(10)
        time.sleep(0.05)
        n, end = 0, time.monotonic() + 0.3
        while time.monotonic() < end:
            n += 1
        alive = t.is_alive()
        p.release()
        t.join(10)
        res = tuple(res)
        """,
        p=lock,
    )
    assert got == (True, True, (True,))
    lock.release()


# --- waiting never polls -------------------------------------------------------------------------


def test_parked_waiters_use_no_cpu(interp, shared_interp, spawn) -> None:
    # Waiters blocked on every kind of primitive, with and without a timeout, in threads of this
    # interpreter and of a subinterpreter, plus the main thread itself: process CPU time over the
    # wait stays far below wall time (a spinning or busy-polling waiter would burn a core).
    lock, rlock = si.Lock(), si.RLock()
    sem, bsem = si.Semaphore(0), si.BoundedSemaphore(1)
    event, cond, barrier = si.Event(), si.Condition(), si.Barrier(20)
    interp.run("p.acquire()\nq.acquire()\nb.acquire()", p=lock, q=rlock, b=bsem)
    cond_ready = si.create_queue()

    def take(prim, **kw) -> bool:
        ok = prim.acquire(**kw)
        if ok:
            prim.release()
        return ok

    def cond_wait(timeout) -> bool:
        with cond:
            cond_ready.put(1)
            return cond.wait(timeout)

    calls = []
    for timeout in (None, 30):
        calls += [
            (take, (lock,), {"timeout": -1 if timeout is None else timeout}),
            (take, (rlock,), {"timeout": -1 if timeout is None else timeout}),
            (take, (bsem,), {"timeout": timeout}),
            (sem.acquire, (), {"timeout": timeout}),
            (event.wait, (), {"timeout": timeout}),
            (cond_wait, (), {"timeout": timeout}),
            (barrier.wait, (), {"timeout": timeout}),
        ]
    tasks = [spawn(fn, *args, **kw) for fn, args, kw in calls]
    sub = spawn(shared_interp.run, "got = (e.wait(), l2.acquire(timeout=30))", e=event, l2=lock)
    assert wait_until(lambda: cond_ready.qsize() == 2 and barrier.n_waiting == 2)
    time.sleep(SETTLE)
    cpu_start, wall_start = time.process_time(), time.monotonic()
    assert si.Event().wait(0.6) is False  # the main thread waits too
    cpu = time.process_time() - cpu_start
    wall = time.monotonic() - wall_start
    assert not any(t.done for t in tasks) and not sub.done
    # Wake everything up.
    sem.release(2)
    with cond:
        cond.notify_all()
    barrier.abort()
    event.set()
    interp.exec("p.release()\nq.release()\nb.release()")
    for t in tasks:
        t.join()
    sub.result()
    shared_interp.exec("l2.release()\ndel e, l2")
    assert cpu < 0.2, f"{cpu:.3f} s CPU while {len(tasks) + 2} waiters idled for {wall:.3f} s"


def test_waiter_is_woken_by_its_peer_not_by_a_timer(interp, spawn) -> None:
    # Hand-offs between this interpreter and another through two Locks used as binary semaphores
    # (a Lock may be released by any thread). A waiter that polled on a timer (e.g. a 5-10 ms
    # sleep loop) would make each round trip cost about a polling period; the bound is generous
    # for a direct wake-up and below one such period per round trip.
    rounds = 200
    ping, pong = si.Lock(), si.Lock()
    ping.acquire()
    pong.acquire()
    task = spawn(
        interp.run,
        "for _ in range(n):\n    assert ping.acquire(timeout=10)\n    pong.release()\n",
        ping=ping,
        pong=pong,
        n=rounds,
    )
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        ping.release()
        assert pong.acquire(timeout=JOIN) is True
        samples.append(time.perf_counter() - start)
    task.result()
    assert statistics.median(samples) < 0.004, f"median round trip {statistics.median(samples)}"
