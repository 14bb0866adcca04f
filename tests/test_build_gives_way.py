"""A long build of structured data (a large list received in this interpreter) lets the threads of
ours that wait for this interpreter's GIL run now and then: a thread coming back from another
interpreter (``exec``, ``call``, a pool's worker) or from a blocking ``get`` does not wait until
the build ends. While they run, nothing half built is visible to them (the lists and tuples being
filled are hidden from the garbage collector, which stays paused for the build).
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


def test_a_thread_back_from_another_interpreter_runs_during_the_build(interp):
    scene = Scene(interp)

    def helper():
        scene.away()  # comes back to this interpreter while the main thread builds
        scene.back()
        gc.collect()

    scene.helper(helper)
    assert scene.receive(), "the waiting thread only ran once the build had ended"


def test_a_thread_back_from_a_blocking_get_runs_during_the_build(interp):
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


def test_a_list_being_filled_is_out_of_sight_of_the_collector(interp):
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


def test_the_collector_stays_paused_for_the_build_and_an_enable_made_meanwhile_stands(interp):
    # The thread let in finds the collector paused (were it running, its first allocation would
    # collect everything built so far while the build waits); the gc.enable() it makes stands.
    scene, seen = Scene(interp), []

    def helper():
        scene.away()
        scene.back()
        gc.enable()
        seen.append(gc.isenabled())

    scene.helper(helper)
    with collector(enabled=False):
        assert scene.receive()
        assert seen == [True]
        assert gc.isenabled()


def test_an_enabled_collector_is_paused_for_the_build_and_enabled_after(interp):
    scene, seen = Scene(interp), []

    def helper():
        scene.away()
        seen.append(gc.isenabled())
        scene.back()

    scene.helper(helper)
    with collector(enabled=True):
        assert scene.receive()
        assert seen == [False]
        assert gc.isenabled()


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
