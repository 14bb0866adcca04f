"""Property test (hypothesis): any nested shareable value crosses to an isolated interpreter and
back equal and of exactly the same type, through a channel and through a queue.

Values are None, bools, ints (up to thousands of digits), floats (nan, infinities, -0.0,
subnormals), strs (lone surrogates included), bytes and tuples of these, nested up to the
documented limit. A worker interpreter receives each value (by channel or by queue), computes its
signature there, and sends both back (by the other kind); the signature seen inside, the value
back here and the original must agree. The signature spells out every type and value exactly:
floats by ``float.hex`` (nan and -0.0 included), strs by their code points.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import subinterpreters as si
from helpers import SIGNATURE_SOURCE, signature

hypothesis = pytest.importorskip("hypothesis", reason="the property test needs hypothesis")
st = hypothesis.strategies


WORKER_SOURCE = (
    SIGNATURE_SOURCE
    + """
import subinterpreters as si
while True:
    index, value = si.select([by_channel, by_queue])
    if value is si.CLOSED:
        break
    if index == 0:
        back_by_queue.put((value, signature(value)))
    else:
        back_by_channel.send_nowait((value, signature(value)))
"""
)

LIMIT = 200  # the documented nesting limit; the worker adds one level when it answers


def nest(value: object, depth: int) -> object:
    for _ in range(depth):
        value = (value,)
    return value


surrogates = st.integers(0xD800, 0xDFFF).map(chr)
texts = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(surrogates, st.characters()), max_size=12).map("".join),
)
ints = st.one_of(
    st.integers(),
    st.integers(-(2**200), 2**200),
    st.builds(lambda sign, digits: sign * 10**digits + 1, st.sampled_from([1, -1]), st.integers(15, 5000)),
)
floats = st.one_of(
    st.floats(),  # nan, infinities, -0.0 and subnormals included
    st.sampled_from([float("nan"), -float("nan"), -0.0, float("inf"), float("-inf"), 5e-324]),
)
leaves = st.one_of(st.none(), st.booleans(), ints, floats, texts, st.binary(max_size=64))
trees = st.recursive(leaves, lambda children: st.lists(children, max_size=5).map(tuple), max_leaves=25)
deep = st.builds(nest, leaves, st.integers(0, LIMIT - 1))
values = st.one_of(trees, deep)


class Worker:
    def __init__(self) -> None:
        self.interp = si.create()
        self.by_channel_recv, self.by_channel = si.create_channel()
        self.back_by_channel, self.back_by_channel_send = si.create_channel()
        self.by_queue = si.create_queue(strict=True)
        self.back_by_queue = si.create_queue(strict=True)
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.interp.run(
                WORKER_SOURCE,
                by_channel=self.by_channel_recv,
                by_queue=self.by_queue,
                back_by_queue=self.back_by_queue,
                back_by_channel=self.back_by_channel_send,
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc

    def echo_by_channel(self, value: object) -> tuple[object, str]:
        self.by_channel.send(value, timeout=10)
        return self.back_by_queue.get(timeout=10)

    def echo_by_queue(self, value: object) -> tuple[object, str]:
        self.by_queue.put(value, timeout=10)
        return self.back_by_channel.recv(timeout=10)

    def close(self) -> None:
        self.by_channel.close()
        self.by_queue.close()
        self.thread.join(10)
        assert not self.thread.is_alive(), "the worker did not stop"
        self.interp.close()
        for end in (self.by_channel_recv, self.back_by_channel, self.back_by_channel_send):
            end.close()
        if self.failure is not None:
            raise self.failure


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


SETTINGS = hypothesis.settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the work tree
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)


def assert_crossed(value: object, got: object, inside: str) -> None:
    expected = signature(value)
    assert inside == expected, "the worker saw a different value or type"
    assert signature(got) == expected, "a different value or type came back"
    if "fnan" not in expected:  # nan != nan; the signatures compared it
        assert got == value


@SETTINGS
@hypothesis.given(value=values)
def test_values_cross_by_channel_and_back_by_queue_unchanged(worker, value) -> None:
    got, inside = worker.echo_by_channel(value)
    assert_crossed(value, got, inside)


@SETTINGS
@hypothesis.given(value=values)
def test_values_cross_by_queue_and_back_by_channel_unchanged(worker, value) -> None:
    got, inside = worker.echo_by_queue(value)
    assert_crossed(value, got, inside)


@SETTINGS
@hypothesis.given(value=values)
def test_is_shareable_agrees_with_the_strategy(value) -> None:
    assert si.is_shareable(value) is True


def test_signature_tells_apart_what_equality_does_not() -> None:
    # The checker itself: it distinguishes what == would let through.
    pairs = [(1, True), (0, False), (0.0, -0.0), (1, 1.0), ("a", b"a"), ((1,), ((1,),)), ("\ud800", "\udc00")]
    for left, right in pairs:
        assert signature(left) != signature(right), (left, right)
    assert signature(float("nan")) == signature(float("nan"))
