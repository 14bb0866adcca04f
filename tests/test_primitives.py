"""Sync primitives (issue 3): si.Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition and
Barrier have the method names, arguments (keyword names included), return values and exceptions of
their `threading` counterparts, work as context managers, and work between threads of one
interpreter.

Where practical a scenario runs against both `threading.X` and `si.X` (parametrized `mod`): the
threading run is the control proving the asserted outcome is threading's own behaviour.
Cross-interpreter behaviour is in test_primitives_interpreters.py, Ctrl-C in
test_primitives_signals.py."""

from __future__ import annotations

import inspect
import sys
import threading
import time

import pytest

import subinterpreters as si
from helpers import wait_until

SETTLE = 0.2
JOIN = 10.0

KINDS = {
    "Lock": lambda: si.Lock(),
    "RLock": lambda: si.RLock(),
    "Semaphore": lambda: si.Semaphore(),
    "BoundedSemaphore": lambda: si.BoundedSemaphore(),
    "Event": lambda: si.Event(),
    "Condition": lambda: si.Condition(),
    "Barrier": lambda: si.Barrier(2),
}

both = pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])


def elapsed(fn, *args, **kwargs):
    """(result, seconds) of fn(*args, **kwargs)."""
    start = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - start


def raises_after(exc_type, fn, *args, **kwargs) -> float:
    start = time.monotonic()
    with pytest.raises(exc_type):
        fn(*args, **kwargs)
    return time.monotonic() - start


def in_thread(fn, *args, **kwargs):
    """Run fn in another thread of this interpreter and return its result or exception."""
    out: list = []

    def main() -> None:
        try:
            out.append(("ok", fn(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001
            out.append(("exc", exc))

    t = threading.Thread(target=main, daemon=True)
    t.start()
    t.join(JOIN)
    assert not t.is_alive(), "thread still blocked"
    return out[0]


# --- the API: names, types, signatures -----------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_exported_from_package(name) -> None:
    assert name in si.__all__
    assert isinstance(KINDS[name](), getattr(si, name))


EXPECTED_PARAMS = {
    # threading's parameter names (threading.Lock's are from its documentation: 3.12 has no
    # introspectable signature for it).
    ("Lock", "acquire"): ["blocking", "timeout"],
    ("Lock", "release"): [],
    ("Lock", "locked"): [],
    ("RLock", "acquire"): ["blocking", "timeout"],
    ("RLock", "release"): [],
    ("Semaphore", "acquire"): ["blocking", "timeout"],
    ("Semaphore", "release"): ["n"],
    ("BoundedSemaphore", "acquire"): ["blocking", "timeout"],
    ("BoundedSemaphore", "release"): ["n"],
    ("Event", "set"): [],
    ("Event", "clear"): [],
    ("Event", "is_set"): [],
    ("Event", "wait"): ["timeout"],
    ("Condition", "acquire"): ["blocking", "timeout"],
    ("Condition", "release"): [],
    ("Condition", "wait"): ["timeout"],
    ("Condition", "wait_for"): ["predicate", "timeout"],
    ("Condition", "notify"): ["n"],
    ("Condition", "notify_all"): [],
    ("Barrier", "wait"): ["timeout"],
    ("Barrier", "reset"): [],
    ("Barrier", "abort"): [],
}


@pytest.mark.parametrize(("kind", "method"), list(EXPECTED_PARAMS), ids="-".join)
def test_method_parameters_match_threading(kind, method) -> None:
    obj = KINDS[kind]()
    params = list(inspect.signature(getattr(obj, method)).parameters)
    assert params == EXPECTED_PARAMS[(kind, method)]
    try:
        threading_params = list(
            inspect.signature(
                getattr(getattr(threading, kind)(*([2] if kind == "Barrier" else [])), method)
            ).parameters
        )
    except ValueError:  # a C method without a text signature
        return
    assert params == threading_params


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("Semaphore", ["value"]),
        ("BoundedSemaphore", ["value"]),
        ("Condition", ["lock"]),
        ("Barrier", ["parties", "timeout"]),
    ],
)
def test_constructor_parameters_match_threading(kind, params) -> None:
    assert list(inspect.signature(getattr(si, kind)).parameters) == params
    threading_params = list(inspect.signature(getattr(threading, kind)).parameters)
    # si.Barrier has no `action` (a callable cannot be shared across interpreters).
    assert [p for p in threading_params if p != "action"] == params


def test_keyword_arguments_are_accepted() -> None:
    sem = si.Semaphore(value=2)
    assert sem.acquire(blocking=True, timeout=1.0) is True
    assert sem.acquire(blocking=False) is True
    assert sem.acquire(blocking=False) is False
    sem.release(n=2)
    bsem = si.BoundedSemaphore(value=1)
    assert bsem.acquire(blocking=True, timeout=None) is True
    bsem.release(n=1)
    lock = si.Lock()
    assert lock.acquire(blocking=True, timeout=1.0) is True
    assert lock.acquire(blocking=True, timeout=0.01) is False
    lock.release()
    rlock = si.RLock()
    assert rlock.acquire(blocking=False, timeout=-1) is True
    rlock.release()
    event = si.Event()
    assert event.wait(timeout=0.01) is False
    cond = si.Condition(lock=si.Lock())
    assert cond.acquire(blocking=True, timeout=1.0) is True
    assert cond.wait(timeout=0.01) is False
    assert cond.wait_for(lambda: 7, timeout=0.01) == 7
    cond.notify(n=1)
    cond.release()
    barrier = si.Barrier(parties=1, timeout=1.0)
    assert barrier.wait(timeout=1.0) == 0


@pytest.mark.parametrize("name", list(KINDS))
def test_equal_and_hashable_by_identity_within_an_interpreter(name) -> None:
    a, b = KINDS[name](), KINDS[name]()
    assert a == a and not (a != a)
    assert a != b and not (a == b)
    assert hash(a) == hash(a)
    assert len({a, a, b}) == 2
    assert a != None  # noqa: E711
    assert a != object()


def test_different_kinds_never_compare_equal() -> None:
    objs = [make() for make in KINDS.values()]
    for i, x in enumerate(objs):
        for j, y in enumerate(objs):
            assert (x == y) == (i == j)


def test_barrier_attributes_are_read_only_properties() -> None:
    b = si.Barrier(3)
    assert b.parties == 3 and type(b.parties) is int
    assert b.n_waiting == 0 and type(b.n_waiting) is int
    assert b.broken is False
    for attr in ("parties", "n_waiting", "broken"):
        with pytest.raises(AttributeError):
            setattr(b, attr, 1)


# --- Lock ----------------------------------------------------------------------------------------


@both
def test_lock_acquire_release_locked(mod) -> None:
    lock = mod.Lock()
    assert lock.locked() is False
    assert lock.acquire() is True
    assert lock.locked() is True
    assert lock.release() is None
    assert lock.locked() is False


@both
def test_lock_non_blocking_acquire_of_held_lock_returns_false(mod) -> None:
    lock = mod.Lock()
    lock.acquire()
    (result, took) = elapsed(lock.acquire, blocking=False)
    assert result is False
    assert lock.acquire(False) is False
    assert lock.acquire(timeout=0) is False
    assert took < 1.0
    assert lock.locked() is True
    lock.release()
    assert lock.acquire(blocking=False) is True
    lock.release()


@both
def test_lock_acquire_timeout_expires_false(mod) -> None:
    lock = mod.Lock()
    lock.acquire()
    result, took = elapsed(lock.acquire, timeout=0.1)
    assert result is False
    assert 0.09 <= took < 5.0
    result, took = elapsed(lock.acquire, True, 0.1)
    assert result is False and 0.09 <= took < 5.0
    lock.release()


@both
def test_lock_timeout_with_non_blocking_is_value_error(mod) -> None:
    lock = mod.Lock()
    with pytest.raises(ValueError):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError):
        lock.acquire(False, 0.5)
    assert lock.locked() is False
    # -1 is "no timeout", allowed with blocking=False.
    assert lock.acquire(blocking=False, timeout=-1) is True
    lock.release()


@both
def test_lock_negative_timeout_other_than_minus_one_is_value_error(mod) -> None:
    lock = mod.Lock()
    with pytest.raises(ValueError):
        lock.acquire(timeout=-2)
    with pytest.raises(ValueError):
        lock.acquire(True, -0.5)
    assert lock.locked() is False
    assert lock.acquire(timeout=-1) is True  # no limit: free lock taken at once
    lock.release()


@both
def test_lock_release_unlocked_is_runtime_error(mod) -> None:
    lock = mod.Lock()
    with pytest.raises(RuntimeError):
        lock.release()
    lock.acquire()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.locked() is False


@both
def test_lock_may_be_released_by_another_thread(mod) -> None:
    lock = mod.Lock()
    lock.acquire()
    assert in_thread(lock.release) == ("ok", None)
    assert lock.locked() is False


@both
def test_lock_context_manager(mod) -> None:
    lock = mod.Lock()
    with lock as value:
        assert value is True
        assert lock.locked() is True
        assert lock.acquire(False) is False
    assert lock.locked() is False
    with pytest.raises(ZeroDivisionError):
        with lock:
            raise ZeroDivisionError
    assert lock.locked() is False


def test_lock_blocked_acquire_is_woken_by_release_in_another_thread(spawn) -> None:
    lock = si.Lock()
    lock.acquire()
    task = spawn(lock.acquire, timeout=JOIN)
    time.sleep(SETTLE)
    assert not task.done
    lock.release()
    assert task.result() is True
    assert lock.locked() is True  # now held by the woken thread's acquisition
    lock.release()


def test_lock_excludes_threads_of_one_interpreter(spawn) -> None:
    lock = si.Lock()
    state = {"inside": 0, "overlap": 0, "count": 0}

    def work() -> None:
        for _ in range(2000):
            with lock:
                state["inside"] += 1
                if state["inside"] != 1:
                    state["overlap"] += 1
                n = state["count"]
                if _ % 50 == 0:
                    time.sleep(0)  # invite a thread switch inside the critical section
                state["count"] = n + 1
                state["inside"] -= 1

    tasks = [spawn(work) for _ in range(4)]
    for task in tasks:
        task.result()
    assert state == {"inside": 0, "overlap": 0, "count": 8000}


# --- RLock ---------------------------------------------------------------------------------------


@both
def test_rlock_is_reentrant_and_counts_acquisitions(mod) -> None:
    rlock = mod.RLock()
    assert rlock.acquire() is True
    assert rlock.acquire(blocking=False) is True
    assert rlock.acquire(timeout=0.01) is True
    assert in_thread(rlock.acquire, blocking=False) == ("ok", False)
    rlock.release()
    rlock.release()
    assert in_thread(rlock.acquire, blocking=False) == ("ok", False)  # still held once
    rlock.release()
    with pytest.raises(RuntimeError):
        rlock.release()


@both
def test_rlock_release_without_holding_is_runtime_error(mod) -> None:
    with pytest.raises(RuntimeError):
        mod.RLock().release()


@both
def test_rlock_release_by_another_thread_is_runtime_error(mod) -> None:
    rlock = mod.RLock()
    rlock.acquire()
    kind, exc = in_thread(rlock.release)
    assert kind == "exc" and isinstance(exc, RuntimeError)
    # Still held by this thread: another thread cannot take it; the owner can release it.
    assert in_thread(rlock.acquire, blocking=False) == ("ok", False)
    rlock.release()
    assert in_thread(lambda: (rlock.acquire(blocking=False), rlock.release())) == ("ok", (True, None))


@both
def test_rlock_held_by_another_thread_times_out(mod) -> None:
    rlock = mod.RLock()
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with rlock:
            held.set()
            done.wait(JOIN)

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    assert held.wait(JOIN)
    try:
        assert rlock.acquire(blocking=False) is False
        result, took = elapsed(rlock.acquire, timeout=0.1)
        assert result is False and 0.09 <= took < 5.0
        with pytest.raises(RuntimeError):
            rlock.release()
    finally:
        done.set()
        t.join(JOIN)
    assert not t.is_alive()
    assert rlock.acquire(blocking=False) is True
    rlock.release()


@both
def test_rlock_timeout_with_non_blocking_is_value_error(mod) -> None:
    with pytest.raises(ValueError):
        mod.RLock().acquire(blocking=False, timeout=1)


@both
def test_rlock_context_manager_nests(mod) -> None:
    rlock = mod.RLock()
    with rlock as outer:
        with rlock as inner:
            assert outer is True and inner is True
            assert in_thread(rlock.acquire, blocking=False) == ("ok", False)
        assert in_thread(rlock.acquire, blocking=False) == ("ok", False)
    with pytest.raises(RuntimeError):
        rlock.release()


def test_rlock_blocked_acquire_is_woken_when_owner_releases_last_level(spawn) -> None:
    rlock = si.RLock()
    rlock.acquire()
    rlock.acquire()
    task = spawn(lambda: (rlock.acquire(timeout=JOIN), rlock.release()))
    rlock.release()
    time.sleep(SETTLE)
    assert not task.done, "woken while the owner still held one level"
    rlock.release()
    assert task.result() == (True, None)


# --- Semaphore / BoundedSemaphore ----------------------------------------------------------------


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_counts_permits(mod, kind) -> None:
    sem = getattr(mod, kind)(3)
    assert [sem.acquire(blocking=False) for _ in range(4)] == [True, True, True, False]
    result, took = elapsed(sem.acquire, timeout=0.1)
    assert result is False and 0.09 <= took < 5.0
    assert sem.acquire(timeout=0) is False
    sem.release()
    assert sem.acquire(False) is True
    sem.release(2)
    assert [sem.acquire(blocking=False) for _ in range(3)] == [True, True, False]


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_default_value_is_one(mod, kind) -> None:
    sem = getattr(mod, kind)()
    assert sem.acquire(blocking=False) is True
    assert sem.acquire(blocking=False) is False


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_zero_starts_empty(mod, kind) -> None:
    sem = getattr(mod, kind)(0)
    assert sem.acquire(blocking=False) is False


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
@pytest.mark.parametrize("value", [-1, -10])
def test_semaphore_negative_initial_value_is_value_error(mod, kind, value) -> None:
    with pytest.raises(ValueError):
        getattr(mod, kind)(value)
    with pytest.raises(ValueError):
        getattr(mod, kind)(value=value)


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_errors(mod, kind) -> None:
    sem = getattr(mod, kind)(1)
    with pytest.raises(ValueError):
        sem.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError):
        sem.release(0)
    with pytest.raises(ValueError):
        sem.release(n=-1)
    # Nothing changed: one permit still.
    assert sem.acquire(blocking=False) is True
    assert sem.acquire(blocking=False) is False


@both
def test_semaphore_may_be_released_above_initial_value(mod) -> None:
    sem = mod.Semaphore(1)
    sem.release()
    sem.release(n=2)
    assert [sem.acquire(blocking=False) for _ in range(5)] == [True] * 4 + [False]


@both
def test_bounded_semaphore_over_release_is_value_error(mod) -> None:
    sem = mod.BoundedSemaphore(2)
    with pytest.raises(ValueError):
        sem.release()
    sem.acquire()
    with pytest.raises(ValueError):
        sem.release(2)  # would exceed the bound: nothing released
    assert sem.acquire(blocking=False) is True  # the one permit left
    assert sem.acquire(blocking=False) is False
    sem.release(2)
    with pytest.raises(ValueError):
        sem.release()
    assert [sem.acquire(blocking=False) for _ in range(3)] == [True, True, False]


@both
@pytest.mark.parametrize("kind", ["Semaphore", "BoundedSemaphore"])
def test_semaphore_context_manager(mod, kind) -> None:
    sem = getattr(mod, kind)(1)
    with sem as value:
        assert value is True
        assert sem.acquire(blocking=False) is False
    assert sem.acquire(blocking=False) is True
    sem.release()
    with pytest.raises(KeyError):
        with sem:
            raise KeyError
    assert sem.acquire(blocking=False) is True


def test_bounded_semaphore_context_manager_exit_over_release_is_value_error() -> None:
    sem = si.BoundedSemaphore(1)
    with pytest.raises(ValueError):
        with sem:
            sem.release()  # the with block's own release then exceeds the bound


def test_semaphore_release_n_wakes_n_waiters(spawn) -> None:
    sem = si.Semaphore(0)
    woken = []
    lock = threading.Lock()

    def waiter(i: int) -> bool:
        ok = sem.acquire(timeout=JOIN)
        with lock:
            woken.append(i)
        return ok

    tasks = [spawn(waiter, i) for i in range(3)]
    time.sleep(SETTLE)
    assert woken == []
    sem.release(2)
    assert wait_until_len(woken, 2)
    time.sleep(SETTLE)
    assert len(woken) == 2, "release(2) woke more than two waiters"
    sem.release()
    assert [t.result() for t in tasks] == [True, True, True]
    assert sem.acquire(blocking=False) is False


def wait_until_len(items: list, n: int, timeout: float = JOIN) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(items) >= n:
            return True
        time.sleep(0.005)
    return len(items) >= n


def test_semaphore_limits_concurrent_holders_among_threads(spawn) -> None:
    sem = si.BoundedSemaphore(2)
    guard = threading.Lock()
    state = {"inside": 0, "max": 0}

    def work() -> None:
        for _ in range(30):
            with sem:
                with guard:
                    state["inside"] += 1
                    state["max"] = max(state["max"], state["inside"])
                time.sleep(0.001)
                with guard:
                    state["inside"] -= 1

    tasks = [spawn(work) for _ in range(5)]
    for task in tasks:
        task.result()
    assert state["inside"] == 0
    assert 1 <= state["max"] <= 2
    assert [sem.acquire(blocking=False) for _ in range(3)] == [True, True, False]


# --- Event ---------------------------------------------------------------------------------------


@both
def test_event_set_clear_is_set_wait(mod) -> None:
    event = mod.Event()
    assert event.is_set() is False
    assert event.wait(0) is False
    result, took = elapsed(event.wait, timeout=0.1)
    assert result is False and 0.09 <= took < 5.0
    assert event.set() is None
    assert event.is_set() is True
    assert event.wait() is True
    assert event.wait(0) is True
    assert event.wait(timeout=5) is True
    event.set()  # idempotent
    assert event.is_set() is True
    assert event.clear() is None
    assert event.is_set() is False
    assert event.wait(0.01) is False


def test_event_set_wakes_every_waiter(spawn) -> None:
    event = si.Event()
    tasks = [spawn(event.wait, JOIN) for _ in range(4)] + [spawn(event.wait) for _ in range(2)]
    time.sleep(SETTLE)
    assert not any(t.done for t in tasks)
    event.set()
    assert [t.result() for t in tasks] == [True] * 6


@both
def test_event_waiter_woken_even_if_cleared_right_after_set(mod, spawn) -> None:
    # threading: a set() wakes the waiters present at that moment even if clear() follows.
    event = mod.Event()
    task = spawn(event.wait, JOIN)
    time.sleep(SETTLE)
    event.set()
    event.clear()
    result = task.result()
    assert result is True


# --- Condition -----------------------------------------------------------------------------------


@both
def test_condition_default_lock_is_reentrant(mod) -> None:
    cond = mod.Condition()
    with cond as value:
        assert value is True
        with cond:
            assert cond.acquire(blocking=False) is True
            cond.release()
            assert in_thread(cond.acquire, blocking=False) == ("ok", False)
            cond.notify()
            assert cond.wait(0.01) is False  # releases every level, then restores them
        assert in_thread(cond.acquire, blocking=False) == ("ok", False)
    with pytest.raises(RuntimeError):
        cond.release()


@both
def test_condition_over_a_lock(mod) -> None:
    lock = mod.Lock()
    cond = mod.Condition(lock)
    assert cond.acquire() is True
    assert lock.locked() is True
    assert cond.acquire(blocking=False) is False  # a Lock is not reentrant
    cond.notify_all()
    assert cond.wait(timeout=0.01) is False
    assert lock.locked() is True  # taken back after the wait
    cond.release()
    assert lock.locked() is False
    # The lock itself may be used to hold the condition.
    with lock:
        cond.notify()
    with pytest.raises(RuntimeError):
        cond.release()


@both
def test_condition_over_an_rlock_given_by_keyword(mod) -> None:
    rlock = mod.RLock()
    cond = mod.Condition(lock=rlock)
    with rlock:
        cond.notify()  # held through the lock itself
        with cond:
            assert cond.wait(0.01) is False
    assert in_thread(rlock.acquire, blocking=False) == ("ok", True)


def test_condition_refuses_a_lock_that_is_not_shared() -> None:
    with pytest.raises((TypeError, ValueError)):
        si.Condition(threading.Lock())
    with pytest.raises((TypeError, ValueError)):
        si.Condition(lock=object())


@both
@pytest.mark.parametrize("lock_kind", ["default", "Lock", "RLock"])
def test_condition_methods_without_the_lock_are_runtime_error(mod, lock_kind) -> None:
    cond = mod.Condition() if lock_kind == "default" else mod.Condition(getattr(mod, lock_kind)())
    with pytest.raises(RuntimeError):
        cond.wait()
    with pytest.raises(RuntimeError):
        cond.wait(timeout=0.01)
    with pytest.raises(RuntimeError):
        cond.notify()
    with pytest.raises(RuntimeError):
        cond.notify(n=2)
    with pytest.raises(RuntimeError):
        cond.notify_all()
    with pytest.raises(RuntimeError):
        cond.wait_for(lambda: False, timeout=0.01)
    with pytest.raises(RuntimeError):
        cond.release()


@both
def test_condition_rlock_held_by_another_thread_is_not_held(mod) -> None:
    cond = mod.Condition()
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with cond:
            held.set()
            done.wait(JOIN)

    t = threading.Thread(target=holder, daemon=True)
    t.start()
    assert held.wait(JOIN)
    try:
        with pytest.raises(RuntimeError):
            cond.notify()
        with pytest.raises(RuntimeError):
            cond.wait(0.01)
        assert cond.acquire(blocking=False) is False
    finally:
        done.set()
        t.join(JOIN)
    assert not t.is_alive()


@both
def test_condition_wait_timeout_returns_false_and_keeps_lock(mod) -> None:
    cond = mod.Condition()
    with cond:
        result, took = elapsed(cond.wait, timeout=0.1)
        assert result is False and 0.09 <= took < 5.0
        assert in_thread(cond.acquire, blocking=False) == ("ok", False)


@both
def test_condition_wait_for_returns_last_predicate_value(mod) -> None:
    cond = mod.Condition()
    with cond:
        assert cond.wait_for(lambda: "ready") == "ready"  # true at once: no wait
        assert cond.wait_for(lambda: 0, timeout=0) == 0
        returned: list[list] = []

        def predicate() -> list:
            returned.append([])  # a new falsy object per call
            return returned[-1]

        result, took = elapsed(cond.wait_for, predicate, timeout=0.1)
        assert result is returned[-1] and result == []
        assert len(returned) >= 2  # checked before and after waiting
        assert 0.09 <= took < 5.0


def test_condition_wait_returns_true_when_notified(spawn) -> None:
    cond = si.Condition()
    ready = threading.Event()

    def waiter() -> tuple[bool, bool]:
        with cond:
            ready.set()
            woke = cond.wait(timeout=JOIN)
            # The lock is held again on return: nobody else can take it.
            return woke, in_thread(cond.acquire, blocking=False) == ("ok", False)

    task = spawn(waiter)
    assert ready.wait(JOIN)
    with cond:  # only possible once the waiter released the lock in wait()
        assert not task.done
        cond.notify()
        time.sleep(0.05)
        assert not task.done, "the waiter returned while the notifier still held the lock"
    assert task.result() == (True, True)


def test_condition_wait_releases_every_rlock_level_and_restores_them(spawn) -> None:
    rlock = si.RLock()
    cond = si.Condition(rlock)
    ready = threading.Event()

    def waiter() -> list:
        rlock.acquire()
        rlock.acquire()
        ready.set()
        woke = cond.wait(timeout=JOIN)
        out = [woke]
        rlock.release()
        rlock.release()
        try:
            rlock.release()
            out.append("third release allowed")
        except RuntimeError:
            out.append("restored two levels")
        return out

    task = spawn(waiter)
    assert ready.wait(JOIN)
    assert rlock.acquire(timeout=JOIN) is True  # free while the owner waits
    cond.notify()
    rlock.release()
    assert task.result() == [True, "restored two levels"]


def test_condition_over_lock_wait_releases_and_retakes_it(spawn) -> None:
    lock = si.Lock()
    cond = si.Condition(lock)
    ready = threading.Event()

    def waiter() -> tuple[bool, bool]:
        with cond:
            ready.set()
            woke = cond.wait(timeout=JOIN)
            return woke, lock.locked()

    task = spawn(waiter)
    assert ready.wait(JOIN)
    assert lock.acquire(timeout=JOIN) is True
    cond.notify()
    lock.release()
    assert task.result() == (True, True)
    assert lock.locked() is False


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_condition_notify_n_wakes_at_most_n(mod, spawn) -> None:
    cond = mod.Condition()
    state = {"ready": 0, "woken": 0}

    def waiter() -> bool:
        with cond:
            state["ready"] += 1
            woke = cond.wait(timeout=JOIN)
            state["woken"] += 1
            return woke

    tasks = [spawn(waiter) for _ in range(4)]
    assert wait_until(lambda: state["ready"] == 4)
    with cond:  # every waiter is inside wait(): each released the lock there
        cond.notify()
    assert wait_until(lambda: state["woken"] == 1)
    with cond:
        cond.notify(n=2)
    assert wait_until(lambda: state["woken"] == 3)
    time.sleep(SETTLE)
    assert state["woken"] == 3
    with cond:
        cond.notify(5)  # more than are waiting: fine
    assert [t.result() for t in tasks] == [True] * 4


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_condition_notify_all_wakes_every_waiter(mod, spawn) -> None:
    cond = mod.Condition(mod.Lock())
    state = {"ready": 0}

    def waiter() -> bool:
        with cond:
            state["ready"] += 1
            return cond.wait(timeout=JOIN)

    tasks = [spawn(waiter) for _ in range(5)]
    assert wait_until(lambda: state["ready"] == 5)
    with cond:
        cond.notify_all()
    assert [t.result() for t in tasks] == [True] * 5


def test_condition_notify_with_nobody_waiting_is_not_remembered() -> None:
    cond = si.Condition()
    with cond:
        cond.notify()
        cond.notify_all()
        assert cond.wait(0.05) is False


def test_condition_wait_for_wakes_when_predicate_becomes_true(spawn) -> None:
    cond = si.Condition()
    items: list[int] = []

    def consumer():
        with cond:
            return cond.wait_for(lambda: len(items) >= 3 and list(items), timeout=JOIN)

    task = spawn(consumer)
    for i in range(3):
        time.sleep(0.05)
        with cond:
            items.append(i)
            cond.notify()
    assert task.result() == [0, 1, 2]


# --- Barrier -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mod",
    [
        pytest.param(
            threading,
            id="threading",
            marks=pytest.mark.skipif(
                sys.version_info < (3, 13), reason="threading.Barrier checks parties since 3.13"
            ),
        ),
        pytest.param(si, id="si"),
    ],
)
@pytest.mark.parametrize("parties", [0, -1])
def test_barrier_needs_at_least_one_party(mod, parties) -> None:
    with pytest.raises(ValueError):
        mod.Barrier(parties)


@both
def test_barrier_of_one_party_passes_at_once(mod) -> None:
    b = mod.Barrier(1)
    assert [b.wait() for _ in range(3)] == [0, 0, 0]
    assert (b.parties, b.n_waiting, b.broken) == (1, 0, False)


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_barrier_indices_distinct_in_range_each_round(mod, spawn) -> None:
    parties, rounds = 4, 5
    b = mod.Barrier(parties)

    def party() -> list[int]:
        return [b.wait(timeout=JOIN) for _ in range(rounds)]

    tasks = [spawn(party) for _ in range(parties)]
    results = [t.result() for t in tasks]
    for r in range(rounds):
        assert sorted(res[r] for res in results) == list(range(parties))
    assert (b.n_waiting, b.broken) == (0, False)


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_barrier_n_waiting_counts_parties_waiting(mod, spawn) -> None:
    b = mod.Barrier(3)
    first = spawn(b.wait, JOIN)
    assert wait_until(lambda: b.n_waiting == 1)
    second = spawn(b.wait, JOIN)
    assert wait_until(lambda: b.n_waiting == 2)
    assert not first.done and not second.done
    last = b.wait(timeout=JOIN)
    assert sorted([first.result(), second.result(), last]) == [0, 1, 2]
    assert b.n_waiting == 0


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_barrier_abort_breaks_waiters_and_later_waits(mod, spawn) -> None:
    b = mod.Barrier(3)
    tasks = [spawn(b.wait, JOIN) for _ in range(2)]
    assert wait_until(lambda: b.n_waiting == 2)
    assert b.abort() is None
    for t in tasks:
        assert isinstance(t.exception(), threading.BrokenBarrierError)
    assert b.broken is True
    took = raises_after(threading.BrokenBarrierError, b.wait, JOIN)
    assert took < 5.0
    assert b.parties == 3


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_barrier_reset_restores_and_breaks_current_waiters(mod, spawn) -> None:
    b = mod.Barrier(2)
    b.abort()
    assert b.broken is True
    assert b.reset() is None
    assert b.broken is False
    # Reset while a party waits: it gets BrokenBarrierError; the barrier stays usable.
    task = spawn(b.wait, JOIN)
    assert wait_until(lambda: b.n_waiting == 1)
    b.reset()
    assert isinstance(task.exception(), threading.BrokenBarrierError)
    assert b.broken is False
    assert b.n_waiting == 0
    task = spawn(b.wait, JOIN)
    assert sorted([b.wait(timeout=JOIN), task.result()]) == [0, 1]


@pytest.mark.parametrize("mod", [threading, si], ids=["threading", "si"])
def test_barrier_wait_timeout_breaks_the_barrier(mod, spawn) -> None:
    b = mod.Barrier(3)
    other = spawn(b.wait, JOIN)
    assert wait_until(lambda: b.n_waiting == 1)
    took = raises_after(threading.BrokenBarrierError, b.wait, timeout=0.1)
    assert 0.09 <= took < 5.0
    assert isinstance(other.exception(), threading.BrokenBarrierError)
    assert b.broken is True
    b.reset()
    assert b.broken is False


@both
def test_barrier_default_timeout(mod) -> None:
    b = mod.Barrier(2, timeout=0.1)
    took = raises_after(threading.BrokenBarrierError, b.wait)
    assert 0.09 <= took < 5.0
    assert b.broken is True
    b.reset()
    # An explicit timeout overrides the default.
    took = raises_after(threading.BrokenBarrierError, b.wait, 0.3)
    assert 0.29 <= took < 5.0


def test_barrier_error_is_threadings() -> None:
    b = si.Barrier(2)
    b.abort()
    with pytest.raises(threading.BrokenBarrierError) as info:
        b.wait()
    assert isinstance(info.value, RuntimeError)  # as threading.BrokenBarrierError is
