"""Shareable data: every shareable type round-trips equal and of the same type through a channel and
through run(**shared) into isolated (and legacy) interpreters; everything else is refused with
NotShareableError (nothing sent or bound); is_shareable() agrees exactly with send()."""

from __future__ import annotations

import collections
import enum
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest

import subinterpreters as si


def nest(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = (value,)
    return value


def assert_same(got: object, expected: object) -> None:
    """Equal and of exactly the same type, recursively; nan equals nan, -0.0 keeps its sign."""
    assert type(got) is type(expected), (type(got), type(expected))
    if isinstance(expected, float):
        if math.isnan(expected):
            assert math.isnan(got)  # type: ignore[arg-type]
        else:
            assert got == expected
            assert math.copysign(1.0, got) == math.copysign(1.0, expected)  # type: ignore[arg-type]
    elif isinstance(expected, tuple):
        assert len(got) == len(expected)  # type: ignore[arg-type]
        # Iterative for deep nesting: compare element by element without Python recursion limits.
        stack = [(got, expected)]
        while stack:
            g, e = stack.pop()
            assert type(g) is type(e)
            if isinstance(e, tuple):
                assert len(g) == len(e)
                stack.extend(zip(g, e, strict=True))
            elif isinstance(e, float):
                assert_same(g, e)
            else:
                assert g == e
    else:
        assert got == expected


class Ctx(NamedTuple):
    recv: si.RecvChannel
    send: si.SendChannel
    interp: si.Interpreter


@pytest.fixture(scope="module")
def ctx() -> Iterator[Ctx]:
    recv, send = si.create_channel()
    interp = si.create()
    yield Ctx(recv, send, interp)
    interp.close()
    recv.close()
    send.close()


SHAREABLE: dict[str, Callable[[Ctx], object]] = {
    "None": lambda c: None,
    "True": lambda c: True,
    "False": lambda c: False,
    "zero": lambda c: 0,
    "negative-int": lambda c: -12345,
    "int64-max": lambda c: 2**63 - 1,
    "int64-min": lambda c: -(2**63),
    "beyond-64-bit": lambda c: 2**64,
    "huge-negative-int": lambda c: -(2**100_000) + 7,
    "int-over-4300-digits": lambda c: 10**5000 + 1,
    "float": lambda c: 1.5,
    "zero-float": lambda c: 0.0,
    "negative-zero": lambda c: -0.0,
    "nan": lambda c: float("nan"),
    "inf": lambda c: float("inf"),
    "-inf": lambda c: float("-inf"),
    "tiny-float": lambda c: 5e-324,
    "empty-str": lambda c: "",
    "ascii": lambda c: "hello",
    "latin1": lambda c: "héllo\xff",
    "bmp": lambda c: "日本語",
    "astral": lambda c: "emoji 😀 𝄞",
    "nul-in-str": lambda c: "a\x00b",
    "lone-surrogate": lambda c: "\ud800",
    "surrogates-mixed": lambda c: "a\udfffb\ud83d",
    "empty-bytes": lambda c: b"",
    "bytes": lambda c: b"\x00\xff binary",
    "large-bytes": lambda c: bytes(range(256)) * 32768,  # 8 MiB
    "empty-tuple": lambda c: (),
    "tuple": lambda c: (1, "two", 3.0, b"four", None, True),
    "nested-tuple": lambda c: ((1, (2, ("a", b"b", ()))), (None, (False, -0.0))),
    "wide-tuple": lambda c: tuple(range(50_000)),
    "deep-tuple": lambda c: nest(150),
    "recv-end": lambda c: c.recv,
    "send-end": lambda c: c.send,
    "interpreter": lambda c: c.interp,
    "main-interpreter": lambda c: si.get_main(),
    "tuple-of-handles": lambda c: (c.recv, (c.send, c.interp), 1),
    # Structured data crosses natively too (the native-data round): exact types only.
    "list": lambda c: [1, 2],
    "empty-list": lambda c: [],
    "dict": lambda c: {"a": 1, 2: [3.5, None]},
    "empty-dict": lambda c: {},
    "set": lambda c: {1, "two", (3,)},
    "frozenset": lambda c: frozenset({1, frozenset({2})}),
    "bytearray": lambda c: bytearray(b"x\x00y"),
    "complex": lambda c: complex(1.5, -2.0),
    "tuple-holding-list": lambda c: (1, [2]),
    "tuple-holding-dict-deep": lambda c: ((1, (2, (3, {4: 5}))),),
    "channel-ends-pair-in-list": lambda c: [c.recv, c.send],
    "records": lambda c: [{"id": i, "name": f"user{i}", "tags": ["a", "b"]} for i in range(1000)],
}


class MyInt(int):
    pass


class MyList(list):
    pass


class MyFloat(float):
    pass


class MyStr(str):
    pass


class MyBytes(bytes):
    pass


class MyTuple(tuple):  # noqa: SLOT001
    pass


class Color(enum.IntEnum):
    RED = 1


class Mode(enum.StrEnum):
    FAST = "fast"


Point = collections.namedtuple("Point", "x y")


class Record(NamedTuple):
    a: int


UNSHAREABLE: dict[str, Callable[[Ctx], object]] = {
    "list-holding-object": lambda c: [1, object()],
    "dict-holding-function": lambda c: {"a": lambda: 0},
    "dict-subclass": lambda c: collections.OrderedDict(a=1),
    "defaultdict": lambda c: collections.defaultdict(int),
    "list-subclass": lambda c: MyList([1]),
    "set-holding-subclass": lambda c: {MyInt(1)},
    "object": lambda c: object(),
    "function": lambda c: lambda: 0,
    "builtin-function": lambda c: len,
    "type": lambda c: int,
    "module": lambda c: math,
    "exception": lambda c: ValueError("x"),
    "range": lambda c: range(3),
    "ellipsis": lambda c: ...,
    "tuple-holding-dict-holding-object": lambda c: ((1, (2, (3, {4: object()}))),),
    "int-subclass": lambda c: MyInt(1),
    "float-subclass": lambda c: MyFloat(1.0),
    "str-subclass": lambda c: MyStr("s"),
    "bytes-subclass": lambda c: MyBytes(b"b"),
    "tuple-subclass": lambda c: MyTuple((1, 2)),
    "int-enum": lambda c: Color.RED,
    "str-enum": lambda c: Mode.FAST,
    "namedtuple": lambda c: Point(1, 2),
    "typing-namedtuple": lambda c: Record(1),
    "tuple-holding-subclass": lambda c: (1, MyInt(2)),
    "very-deep-tuple": lambda c: nest(100_000),
    "very-deep-list": lambda c: functools.reduce(lambda inner, _: [inner], range(300), []),
}


@pytest.fixture(params=list(SHAREABLE))
def shareable(request, ctx) -> object:
    return SHAREABLE[request.param](ctx)


@pytest.fixture(params=list(UNSHAREABLE))
def unshareable(request, ctx) -> object:
    return UNSHAREABLE[request.param](ctx)


# --- shareable values round-trip ----------------------------------------------------------------------


def test_is_shareable_true(shareable) -> None:
    assert si.is_shareable(shareable) is True


def test_round_trip_through_channel_in_same_interpreter(shareable, channel) -> None:
    recv, send = channel
    assert send.send_nowait(shareable) is False
    assert_same(recv.recv_nowait(), shareable)


ECHO_TYPE = "out.send_nowait((v, type(v).__name__))\ndel v\n"


def test_round_trip_through_run_shared_into_isolated_interpreter(shareable, ctx, channel) -> None:
    recv, send = channel
    ctx.interp.run(ECHO_TYPE, v=shareable, out=send)
    got, type_name_inside = recv.recv_nowait()
    assert type_name_inside == type(shareable).__name__
    assert_same(got, shareable)


def test_round_trip_through_channel_into_isolated_interpreter(shareable, ctx, channel) -> None:
    recv, send = channel
    to_sub_r, to_sub_s = si.create_channel()
    try:
        to_sub_s.send_nowait(shareable)
        ctx.interp.run("v = r.recv_nowait()\n" + ECHO_TYPE + "del r\n", r=to_sub_r, out=send)
        got, type_name_inside = recv.recv_nowait()
    finally:
        to_sub_r.close()
        to_sub_s.close()
    assert type_name_inside == type(shareable).__name__
    assert_same(got, shareable)


def test_round_trip_by_rendezvous_from_isolated_interpreter(shareable, ctx, channel, spawn):
    # The value travels main -> sub via run(**shared), then back with a blocking send().
    recv, send = channel
    task = spawn(ctx.interp.run, "out.send(v, timeout=10)\ndel v, out\n", v=shareable, out=send)
    got = recv.recv(timeout=10)
    task.result()
    assert_same(got, shareable)


@pytest.mark.parametrize(
    "name", ["True", "huge-negative-int", "negative-zero", "nan", "lone-surrogate", "nested-tuple"]
)
def test_round_trip_through_legacy_interpreter(name, ctx, channel, legacy_interp) -> None:
    recv, send = channel
    value = SHAREABLE[name](ctx)
    legacy_interp.run(ECHO_TYPE, v=value, out=send)
    got, type_name_inside = recv.recv_nowait()
    assert type_name_inside == type(value).__name__
    assert_same(got, value)


def test_bool_stays_bool_and_int_stays_int(channel, ctx, ask) -> None:
    assert ask(ctx.interp, "(type(a) is bool, type(b) is int, a is True)", a=True, b=1) == (
        True,
        True,
        True,
    )


def test_values_seen_inside_isolated_interpreter_are_correct(ctx, ask) -> None:
    setup = "import math"
    assert ask(ctx.interp, "math.copysign(1.0, z)", setup=setup, z=-0.0) == -1.0
    assert ask(ctx.interp, "math.isnan(n)", setup=setup, n=float("nan")) is True
    assert ask(ctx.interp, "(len(s), ord(s[0]))", s="\ud800") == (1, 0xD800)
    assert ask(ctx.interp, "big % 1000003", big=10**5000 + 1) == (10**5000 + 1) % 1000003
    assert ask(ctx.interp, "big.bit_length()", big=-(2**100_000)) == 100_001
    assert ask(ctx.interp, "len(b)", b=bytes(1 << 20)) == 1 << 20


def test_received_value_is_a_fresh_equal_object(channel) -> None:
    recv, send = channel
    value = ("x" * 100, (b"y" * 100,))
    send.send_nowait(value)
    got = recv.recv_nowait()
    assert got == value


# --- unshareable values -------------------------------------------------------------------------------


def test_is_shareable_false(unshareable) -> None:
    assert si.is_shareable(unshareable) is False


def test_send_refuses_unshareable_and_sends_nothing(unshareable, channel) -> None:
    recv, send = channel
    with pytest.raises(si.NotShareableError) as info:
        send.send_nowait(unshareable)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    with pytest.raises(si.NotShareableError):
        send.send(unshareable, timeout=0)
    with pytest.raises(si.NotShareableError):
        send.send(unshareable)  # checked before waiting: must not block
    assert recv.recv_nowait("nothing") == "nothing"


def test_run_shared_refuses_unshareable_and_binds_nothing(unshareable, ctx, ask) -> None:
    ctx.interp.exec("globals().pop('v', None)")
    with pytest.raises(si.NotShareableError):
        ctx.interp.run("v_ran = True", v=unshareable)
    with pytest.raises(si.NotShareableError):
        ctx.interp.prepare_main(v=unshareable)
    assert ask(ctx.interp, "('v' in globals(), 'v_ran' in globals())") == (False, False)


def test_failed_send_gives_waiting_receiver_nothing(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=1.0)
    with pytest.raises(si.NotShareableError):
        send.send([1, object()], timeout=5)
    with pytest.raises(si.NotShareableError):
        send.send_nowait({"a": object()})
    assert isinstance(task.exception(), TimeoutError)


def test_not_shareable_error_inside_subinterpreter(ctx, ask) -> None:
    setup = """
import subinterpreters as si
try:
    r2, s2 = si.create_channel()
    s2.send_nowait([object()])
except si.NotShareableError as exc:
    outcome = (isinstance(exc, ValueError), isinstance(exc, TypeError))
"""
    assert ask(ctx.interp, "outcome", setup=setup) == (True, True)


# --- is_shareable agrees exactly with send -------------------------------------------------------------


def _send_accepts(send: si.SendChannel, recv: si.RecvChannel, value: object) -> bool:
    try:
        send.send_nowait(value)
    except si.NotShareableError:
        return False
    recv.recv_nowait()
    return True


def _prepare_accepts(interp: si.Interpreter, value: object) -> bool:
    try:
        interp.prepare_main(probe=value)
    except si.NotShareableError:
        return False
    interp.exec("del probe")
    return True


def _agreement_candidates(ctx: Ctx) -> list[Any]:
    values = [f(ctx) for f in SHAREABLE.values()] + [f(ctx) for f in UNSHAREABLE.values()]
    values += [1j, NotImplemented, nest(5, [1]), nest(5, MyInt(2))]
    values += [nest(d) for d in range(190, 211)]  # around the documented depth limit (200)
    values += [nest(d, c_value) for d in (1, 50) for c_value in (ctx.recv, "s", b"b", -0.0)]
    return values


def test_is_shareable_agrees_exactly_with_send(ctx, channel) -> None:
    recv, send = channel
    for value in _agreement_candidates(ctx):
        verdict = si.is_shareable(value)
        assert type(verdict) is bool
        assert verdict == _send_accepts(send, recv, value), repr(value)[:80]


def test_is_shareable_agrees_exactly_with_run_shared(ctx) -> None:
    for value in _agreement_candidates(ctx):
        assert si.is_shareable(value) == _prepare_accepts(ctx.interp, value), repr(value)[:80]


def test_is_shareable_inside_subinterpreter(ctx, ask) -> None:
    setup = "import subinterpreters as si"
    assert ask(ctx.interp, "si.is_shareable((1, 'a', b'b', None, 2.5, (True,)))", setup=setup)
    assert ask(ctx.interp, "si.is_shareable((1, [2], {3: {4}}))", setup=setup) is True
    assert ask(ctx.interp, "si.is_shareable((1, [object()]))", setup=setup) is False
    assert ask(ctx.interp, "si.is_shareable(si.get_current())", setup=setup) is True


# --- the nesting limit -----------------------------------------------------------------------------------


def test_deep_nesting_limit_is_refused_cleanly(channel, ctx) -> None:
    recv, send = channel
    deep = nest(100_000)
    assert si.is_shareable(deep) is False
    with pytest.raises(si.NotShareableError):
        send.send_nowait(deep)
    with pytest.raises(si.NotShareableError):
        ctx.interp.prepare_main(deep=deep)
    assert recv.recv_nowait("nothing") == "nothing"


def test_documented_depth_200_is_shareable_and_deeper_is_not(channel) -> None:
    # api-decisions.md: tuples nested up to depth 200 cross; deeper ones are not shareable.
    recv, send = channel
    assert si.is_shareable(nest(199)) is True
    send.send_nowait(nest(199))
    assert_same(recv.recv_nowait(), nest(199))
    assert si.is_shareable(nest(300)) is False


def test_memoryview_crosses_sharing_its_memory_and_its_writability(ctx, ask) -> None:
    # CPython 3.14's rule: the receiver's memoryview is over the same memory (not a copy).
    data = bytearray(b"abc")
    assert si.is_shareable(memoryview(data))
    ctx.interp.run("view[0] = ord('x'); del view", view=memoryview(data))
    assert data == bytearray(b"xbc")
    readonly = ask(ctx.interp, "view.readonly", view=memoryview(b"abc"))
    assert readonly is True
