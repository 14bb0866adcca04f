"""Identity within one value, as pickle keeps it, on every kind of object that has one: a tuple,
list, dict, set, frozenset or bytearray reached twice arrives as one object reached twice, also
when what it holds is referred to by it alone (reached twice only through it); a tuple that
contains itself (through a list or dict) is not shareable (strict paths refuse it, with nothing
sent; queues pickle it and it arrives exactly); the arguments of one call are one value, also
when one of them has to be pickled (`Interpreter.call()` and the pool). Each case goes to another
interpreter and back, so both directions build it."""

from __future__ import annotations

import collections
import site
from typing import Any

import pytest

import callee_module as callee
import subinterpreters as si
from helpers import channel_worker

TESTS_DIR = str(__import__("pathlib").Path(__file__).resolve().parent)
JOIN = 30.0

ECHO = """
for value in inbox:
    outbox.send_nowait(value)
"""


@pytest.fixture(scope="module")
def echo():
    """A strict channel to an interpreter that sends each value back on another."""
    with channel_worker(ECHO) as (inbox, outbox):

        def there_and_back(value: object) -> Any:
            inbox.send_nowait(value)
            return outbox.recv(timeout=JOIN)

        yield there_and_back


def through_a_queue(value: object) -> Any:
    q = si.create_queue()
    q.put(value)
    return q.get(timeout=JOIN)


# --- one object reached twice --------------------------------------------------------------------


def test_a_bytearray_reached_twice_arrives_as_one(echo) -> None:
    blob = bytearray(b"x")
    got = echo([blob, {"again": blob}, bytearray(b"x")])
    assert type(got[0]) is bytearray and got[0] == bytearray(b"x")
    assert got[0] is got[1]["again"]
    assert got[2] is not got[0], "an equal bytearray is another object"
    got[0].append(0x79)
    assert got[1]["again"] == bytearray(b"xy")


def test_a_tuple_reached_twice_arrives_as_one(echo) -> None:
    pair = tuple([1, "two"])  # not a constant: the literal below is another object
    got = echo([pair, pair, tuple([1, "two"]), {"key": pair}])
    assert got[0] is got[1] is got[3]["key"]
    assert got[2] == pair and got[2] is not got[0]


@pytest.mark.parametrize(
    "make",
    [list, dict.fromkeys, set, bytearray],
    ids=["list", "dict", "set", "bytearray"],
)
def test_what_only_a_shared_tuple_holds_arrives_once(echo, make) -> None:
    # The inner object's one reference is the tuple's: it is met twice only through the tuple.
    pair = (1, make([2]))
    got = echo([pair, pair])
    assert got[0] is got[1]
    assert got[0][1] is got[1][1]
    assert got == [(1, make([2])), (1, make([2]))]


def test_a_cycle_through_a_list_held_only_by_a_tuple_keeps_its_shape(echo) -> None:
    # t -> l -> t', and t' is t: the list is referred to by the tuple alone.
    inner: list[Any] = []
    outer = [inner]
    inner.append(outer)  # a list cycle, reached from a tuple twice
    pair = (outer,)
    got = echo([pair, pair])
    assert got[0] is got[1]
    assert got[0][0][0][0] is got[0][0], "the cycle arrives as a cycle"


def test_sharing_through_tuples_matches_pickle(echo) -> None:
    import pickle

    shared = [1]
    t1 = (shared, bytearray(b"b"))
    value = {"a": (t1, t1), "b": [t1, shared], "c": frozenset({(1, 2)})}
    value["d"] = value["c"]
    got = echo(value)
    want = pickle.loads(pickle.dumps(value))
    for name, probe in {
        "t1 twice": lambda v: v["a"][0] is v["a"][1] is v["b"][0],
        "list in t1 and b": lambda v: v["a"][0][0] is v["b"][1],
        "bytearray once": lambda v: v["a"][1][1] is v["b"][0][1],
        "frozenset twice": lambda v: v["c"] is v["d"],
    }.items():
        assert probe(got) == probe(want), name
    assert got == value


# --- a tuple that contains itself ----------------------------------------------------------------


def self_containing_tuple(kind: str) -> tuple[Any, ...]:
    holder: Any = [None] if kind == "list" else {"k": None}
    pair = (holder, "x")
    if kind == "list":
        holder[0] = pair
    else:
        holder["k"] = pair
    return pair


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_tuple_that_contains_itself_is_not_shareable_and_nothing_is_sent(kind) -> None:
    pair = self_containing_tuple(kind)
    assert not si.is_shareable(pair)
    assert not si.is_shareable([pair])
    recv, send = si.create_channel()
    with pytest.raises(si.NotShareableError, match="a tuple that contains itself"):
        send.send_nowait([1, pair])
    with pytest.raises(si.ChannelEmptyError):
        recv.recv_nowait()
    strict = si.create_queue(strict=True)
    with pytest.raises(si.NotShareableError, match="a tuple that contains itself"):
        strict.put(pair)
    assert strict.qsize() == 0


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_tuple_that_contains_itself_crosses_a_queue_by_pickle(kind) -> None:
    got = through_a_queue(self_containing_tuple(kind))
    holder = got[0]
    assert type(got) is tuple and got[1] == "x"
    assert (holder[0] if kind == "list" else holder["k"]) is got, "the cycle arrives as a cycle"


# --- the arguments of one call are one value -----------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    pool = si.InterpreterPoolExecutor(1, initializer=site.addsitedir, initargs=(TESTS_DIR,))
    yield pool
    pool.shutdown(wait=True)


def test_call_keeps_identity_between_arguments_when_one_is_pickled(target) -> None:
    shared = [1]
    args, kwargs = target.call(callee.echo, shared, [collections.OrderedDict(a=1), shared], k=shared)
    assert type(args[1][0]) is collections.OrderedDict
    assert args[0] is args[1][1] is kwargs["k"]
    args, kwargs = target.call(callee.echo, shared, [shared], k=shared)  # all native
    assert args[0] is args[1][0] is kwargs["k"]


def test_pool_keeps_identity_between_arguments_when_one_is_pickled(pool) -> None:
    shared = {"n": 1}
    args, kwargs = pool.submit(callee.echo, shared, collections.Counter("ab"), k=shared).result(timeout=JOIN)
    assert args[0] is kwargs["k"]
    assert type(args[1]) is collections.Counter


def test_arguments_nested_to_the_limit_keep_their_identity(target) -> None:
    # 199 levels: within the 200 a value may nest, not with the call's own tuple around it.
    deep: list[Any] = []
    for _ in range(198):
        deep = [deep]
    args, kwargs = target.call(callee.echo, deep, k=deep)
    assert args[0] is kwargs["k"]


def test_a_handle_beside_a_pickled_argument_stays_alive_until_the_task_runs(pool) -> None:
    # A handle pickles as a weak id: the arguments then cross one by one, the handle natively,
    # its payload keeping the object alive while the task waits (the pool has one worker).
    import gc
    import time

    blocker = pool.submit(time.sleep, 0.3)
    queued = pool.submit(
        callee.type_names, si.SharedArray(4), si.create_queue(), si.Lock(), collections.OrderedDict()
    )
    gc.collect()
    blocker.result(timeout=JOIN)
    names, _ = queued.result(timeout=JOIN)
    assert names[3] == "collections.OrderedDict"
    assert [name.rsplit(".", 1)[1] for name in names[:3]] == ["SharedArray", "Queue", "Lock"]
