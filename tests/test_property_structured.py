"""Property test (hypothesis): structured data (lists, dicts, sets, frozensets, tuples,
bytearrays, complex numbers, nested with scalars) crosses to an isolated interpreter and back
exactly: same types, equal values, dict order, and the same identity pattern (a tuple, list,
dict, set or bytearray reached twice arrives as one object reached twice; cycles arrive as
cycles).

The signature spells out every type and value, and numbers each tuple, list, dict, set, frozenset
and bytearray the first time it is met, writing a reference to that number when it is met again
(a list reached only through a tuple reached twice is met once: the pattern pickle keeps); two
values with equal
signatures are equal in value *and* in the shape of their sharing. It is computed in the worker
on what it received, and here on what came back.
"""

from __future__ import annotations

from typing import Any

import pytest

import subinterpreters as si
from helpers import SIGNATURE_SOURCE, channel_worker, signature

hypothesis = pytest.importorskip("hypothesis", reason="the property test needs hypothesis")
st = hypothesis.strategies


WORKER_SOURCE = (
    SIGNATURE_SOURCE
    + """
for value in inbox:
    outbox.send_nowait((value, signature(value)))
"""
)

hashable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False)
    | st.complex_numbers(allow_nan=False)
    | st.text(max_size=8)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
    | st.binary(max_size=8),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)


@st.composite
def structured(draw: Any) -> object:
    """A nested value that may share containers and hold cycles."""
    pool: list[Any] = []

    def make(depth: int) -> object:
        choice = draw(st.integers(0, 9 if depth < 4 else 2))
        if choice <= 2:
            return draw(hashable)
        if choice == 3 and pool:
            return draw(st.sampled_from(pool))  # a container met again: shared
        if choice == 4:
            made_bytes = bytearray(draw(st.binary(max_size=6)))
            pool.append(made_bytes)
            return made_bytes
        if choice == 5:
            # Shared once complete (a tuple is never inside itself): what it holds may be
            # referred to by it alone, and still be met twice through it.
            made_tuple = tuple(make(depth + 1) for _ in range(draw(st.integers(0, 3))))
            pool.append(made_tuple)
            return made_tuple
        if choice == 6:
            return set(draw(st.lists(hashable, max_size=3)))
        if choice == 7:
            made: dict[Any, Any] = {}
            pool.append(made)
            for key in draw(st.lists(hashable, max_size=3)):
                made[key] = make(depth + 1)
            if draw(st.booleans()):
                made["self"] = made  # a cycle
            return made
        made_list: list[Any] = []
        pool.append(made_list)
        made_list.extend(make(depth + 1) for _ in range(draw(st.integers(0, 3))))
        if draw(st.integers(0, 5)) == 0:
            made_list.append(made_list)  # a cycle
        return made_list

    return make(0)


@pytest.fixture(scope="module")
def worker():
    with channel_worker(WORKER_SOURCE) as ends:
        yield ends


@hypothesis.settings(max_examples=300, deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(value=structured())
def test_structured_values_round_trip_exactly(worker, value) -> None:
    inbox, outbox = worker
    assert si.is_shareable(value)
    expected = signature(value)
    inbox.send_nowait(value)
    back, seen_inside = outbox.recv(timeout=30)
    assert seen_inside == expected, "the worker received a different value"
    assert signature(back) == expected, "the value came back different"


def test_the_signature_tells_sharing_apart() -> None:
    # A check of the checker: equal values with different sharing have different signatures.
    shared = [1]
    assert signature([shared, shared]) != signature([[1], [1]])
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert signature(cyclic) == "l1(|@0|)"
    pair = (1, [2])
    assert signature([pair, pair]) != signature([(1, [2]), (1, [2])])
    blob = bytearray(b"x")
    assert signature([blob, blob]) != signature([bytearray(b"x"), bytearray(b"x")])
