"""Negative timeouts of the shared primitives read as threading reads them: for Lock and RLock
acquire, -1 means no limit and other negative values are a ValueError; for Semaphore.acquire and
every wait(), a negative timeout has already expired (a Barrier then breaks)."""

from __future__ import annotations

import threading

import pytest

import subinterpreters as si

MODULES = [pytest.param(threading, id="threading"), pytest.param(si, id="subinterpreters")]


@pytest.mark.parametrize("mod", MODULES)
def test_semaphore_acquire_with_negative_timeout_returns_false_at_once(mod) -> None:
    assert mod.Semaphore(0).acquire(timeout=-1) is False
    assert mod.Semaphore(0).acquire(timeout=-0.5) is False


@pytest.mark.parametrize("mod", MODULES)
def test_event_and_condition_wait_with_negative_timeout_return_false(mod) -> None:
    assert mod.Event().wait(-1) is False
    condition = mod.Condition()
    with condition:
        assert condition.wait(-1) is False


@pytest.mark.parametrize("mod", MODULES)
def test_lock_acquire_refuses_negative_timeouts_other_than_minus_one(mod) -> None:
    for lock in (mod.Lock(), mod.RLock()):
        assert lock.acquire(timeout=-1) is True
        with pytest.raises(ValueError):
            lock.acquire(timeout=-0.5)
        lock.release()


@pytest.mark.parametrize("mod", MODULES)
def test_barrier_wait_with_negative_timeout_breaks_it(mod) -> None:
    barrier = mod.Barrier(2)
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(-1)
    assert barrier.broken
