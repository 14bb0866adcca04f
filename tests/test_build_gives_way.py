"""A long build of structured data (a large list received in this interpreter) lets the threads of
ours that wait for this interpreter's GIL run now and then: a thread coming back from another
interpreter (``exec``, ``call``, a pool's worker) or from a blocking ``get`` does not wait until
the build ends. While they run, no half-filled list or tuple is reachable (those being filled are
hidden from the garbage collector), and what they decide about the collector stands.

The tests that check *when* a helper comes back run with the collector off: with it on, the
helper's first allocation may run a collection of everything built so far, after which the
build (no longer asked to give way) may finish before the helper counts.
"""

import contextlib
import gc
import itertools
import operator
import threading
import time

import pytest

import subinterpreters

# Large enough that building it takes far longer than the waiter's pause (100-400 ms here).
ITEMS = 500_000
# The code a helper thread runs in another interpreter: it says it is there (so it is not waiting
# for this interpreter's GIL when the build starts), pauses, then (optionally) wakes a waiter.
AWAY = "entered.put(1)\nimport time\ntime.sleep(0.03)\n"


def big_value(probe: str) -> list:
    """The large value; each of its dicts has the key ``probe`` (one per test: see
    ``Scene.back``)."""
    return [(i, [i, f"s{i}"], {probe: i, "t": (i, None)}) for i in range(ITEMS)]


def copy_every_sequence(objects: list) -> list:
    """Copies every list and tuple in ``objects`` (slicing takes a reference to every item: a
    NULL slot of one being filled would crash here). All in C, so the interpreter's loop does
    not hand the GIL back to the building thread before it is done."""
    is_sequence = map(operator.contains, itertools.repeat((list, tuple)), map(type, objects))
    return list(map(operator.itemgetter(slice(None)), itertools.compress(objects, is_sequence)))


@pytest.fixture
def interp():
    interp = subinterpreters.create()
    yield interp
    interp.close()


class Scene:
    """``big_value()`` put on a queue, then got (built) here while helper threads run; each helper
    must be away from this interpreter (in another one, or blocked in a get) when the build
    starts, else it waits for this interpreter's GIL like any thread (see ``away``)."""

    def __init__(self, interp) -> None:
        self.interp = interp
        self.entered = subinterpreters.create_queue()
        self.wake = subinterpreters.create_queue()
        interp.prepare_main(entered=self.entered, wake=self.wake)
        self.came_back = threading.Event()
        self.built_when_back = -1
        self.probe = f"probe-{id(self)}-{time.monotonic_ns()}"
        self.failures: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.helpers: list = []

    def start(self, target) -> None:
        """Runs ``target`` in a thread now."""

        def run():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.failures.append(exc)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def helper(self, target) -> None:
        """Runs ``target`` in a thread once the value is on the queue (see ``receive``)."""
        self.helpers.append(target)

    def away(self, then: str = "") -> None:
        """In a helper thread: the pause in the other interpreter (then ``then`` there)."""
        self.interp.exec(AWAY + then)

    def back(self) -> None:
        """In a helper back in this interpreter: notes how much of the value was built then (the
        dicts with the key ``probe``: fewer than ITEMS while it is being built, as the sender's
        copy was freed), then reads every item of the lists and tuples the collector sees."""
        objects = gc.get_objects()
        copy_every_sequence(objects)
        self.built_when_back = sum(1 for obj in objects if type(obj) is dict and self.probe in obj)
        self.came_back.set()
        del objects

    def receive(self, value=None) -> bool:
        """Starts the helpers once ``value`` (default: ``big_value()``, checked equal; the sender's
        copy is freed at once) is on a queue, waits until one is in the other interpreter, gets
        the value and returns whether a helper came back (``back()``) while it was being built."""
        queue = subinterpreters.create_queue()
        queue.put(big_value(self.probe) if value is None else value)
        for target in self.helpers:
            self.start(target)
        assert self.entered.get(timeout=60) == 1
        got = queue.get()
        for thread in self.threads:
            thread.join(60)
        assert not self.failures, self.failures
        if value is None:
            assert got == big_value(self.probe)
        self.got = got
        return self.came_back.is_set() and 0 <= self.built_when_back < ITEMS


def test_a_thread_back_from_another_interpreter_runs_during_the_build(interp, collector_off):
    scene = Scene(interp)

    def helper():
        scene.away()  # comes back to this interpreter while the main thread builds
        scene.back()
        gc.collect()  # a collection while the build waits: no NULL slot met

    scene.helper(helper)
    assert scene.receive(), "the waiting thread only ran once the build had ended"


def test_a_thread_back_from_a_blocking_get_runs_during_the_build(interp, collector_off):
    scene = Scene(interp)
    ready = threading.Event()

    def waiter():
        ready.set()
        assert scene.wake.get(timeout=60) == 1
        scene.back()

    def waker():
        scene.start(waiter)
        assert ready.wait(60)
        time.sleep(0.01)  # the waiter blocks in get() (a microsecond's work) meanwhile
        scene.away(then="wake.put(1)\n")

    scene.helper(waker)
    assert scene.receive(), "the waiting thread only ran once the build had ended"


def test_a_list_being_filled_is_out_of_sight_of_the_collector(interp, collector_off):
    # Floats are not tracked by the collector: the sender's list, and the one being filled, are
    # the only sequences of that length.
    scene = Scene(interp)
    floats = 3_000_000
    seen: list[int] = []

    def helper():
        scene.away()
        copies = copy_every_sequence(gc.get_objects())  # crashes on a NULL slot
        seen.append(sum(1 for copy in copies if len(copy) == floats))
        scene.came_back.set()

    scene.helper(helper)
    sent = [float(i) for i in range(floats)]
    scene.receive(sent)
    assert scene.got == sent
    # The sender's list alone: the one being filled was out of sight (after the build, it is not).
    assert seen == [1], "the helper came back after the build, or saw the list being filled"


@contextlib.contextmanager
def collector(enabled: bool):
    """The collector enabled (or not) for the block, as it was after."""
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        yield
    finally:
        (gc.enable if was else gc.disable)()


@pytest.fixture
def collector_off():
    with collector(enabled=False):
        yield


@pytest.mark.parametrize("enabled_before", [True, False])
def test_what_a_thread_let_in_decides_about_the_collector_stands(interp, enabled_before):
    scene, seen = Scene(interp), []

    def helper():
        scene.away()
        if enabled_before:
            gc.disable()  # first: with the collector on, an allocation may run a collection
            scene.back()
        else:
            scene.back()  # counted while the collector is still off
            gc.enable()
        seen.append(gc.isenabled())

    scene.helper(helper)
    with collector(enabled=enabled_before):
        assert scene.receive(), "the waiting thread only ran once the build had ended"
        assert seen == [not enabled_before]
        assert gc.isenabled() is not enabled_before


def test_a_value_with_a_cycle_still_arrives_whole_with_a_waiter(interp):
    # A reference back to a container stops the build from giving way (a finished object could
    # lead to one being filled); the value is built as before.
    scene = Scene(interp)
    shared = [1, 2]
    value: list = [(i, shared) for i in range(ITEMS)]
    value.append(value)

    def helper():
        scene.away()
        copy_every_sequence(gc.get_objects())

    scene.helper(helper)
    scene.receive(value)  # not compared: == on a list holding itself recurses for ever
    got = scene.got
    assert got[-1] is got
    assert len(got) == ITEMS + 1
    assert all(item[1] is got[0][1] for item in got[:-1])
    assert got[0][1] == [1, 2]
