"""Shared arrays (issue 4): SharedArray/SharedBuffer construction (shapes, every supported format,
zero-filled) and the exact error for every bad input; the read-only properties, len() and tolist();
the buffer protocol (typed n-d memoryviews, writable unless read-only, 64-byte aligned memory);
from_buffer() copying any exporter once (format and shape kept); readonly() views of the same
memory; zero-copy crossing to other interpreters through channels, queues, select and run(**shared)
(same address, writes seen both ways, typed memoryviews there, read-only and SharedBuffer kept);
and the memory being freed once the last handle in any interpreter is gone."""

from __future__ import annotations

import array
import ctypes
import gc
import os
import struct
import subprocess
import sys

import pytest

import subinterpreters as si
from helpers import (
    ADDRESS_SOURCE,
    PyBUF_WRITABLE,
    buffer_address,
    dedent,
    evaluate_body,
    needs_ctypes_in_isolated,
)

JOIN_TIMEOUT = 10.0

# The struct codes the contract supports, each also accepted with a '@' prefix.
CODES = "bBhHiIlLqQnNfde?c"


def fill(a: si.SharedArray, values) -> None:
    """Write `values` (flat, C order) into `a` through a memoryview."""
    flat = memoryview(a).cast("B").cast(a.format.lstrip("@"))
    flat[:] = array.array(a.format.lstrip("@"), values)
    flat.release()


def address(a: object) -> int:
    return buffer_address(a)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


ROUTES = ["channel", "queue", "strict-queue", "select", "run"]


def deliver(route: str, interp: si.Interpreter, obj: object, name: str = "x") -> None:
    """Hand `obj` to `interp` by `route` and bind what arrives there as the global `name`."""
    if route == "run":
        interp.run(f"{name} = _obj\ndel _obj", _obj=obj)
        return
    if route in ("queue", "strict-queue"):
        q = si.create_queue(strict=route == "strict-queue")
        q.put(obj)
        interp.run(f"{name} = _q.get_nowait()\ndel _q", _q=q)
        q.close()
        return
    recv, send = si.create_channel()
    try:
        send.send_nowait(obj)
        if route == "channel":
            interp.run(f"{name} = _r.recv_nowait()\ndel _r", _r=recv)
        else:
            interp.run(
                f"import subinterpreters as si\n_i, {name} = si.select([_r], timeout=10)\n"
                "assert _i == 0\ndel _r, _i",
                _r=recv,
            )
    finally:
        recv.close()
        send.close()


# --- construction ---------------------------------------------------------------------------------


def test_int_shape_is_one_dimensional_bytes_by_default() -> None:
    a = si.SharedArray(5)
    assert type(a) is si.SharedArray
    assert a.shape == (5,)
    assert a.format == "B"
    assert a.itemsize == 1
    assert a.nbytes == 5
    assert a.ndim == 1
    assert a.strides == (1,)
    assert len(a) == 5


def test_tuple_shape_and_format_keyword() -> None:
    a = si.SharedArray((2, 3, 4), format="d")
    assert a.shape == (2, 3, 4)
    assert a.format == "d"
    assert a.itemsize == 8
    assert a.nbytes == 2 * 3 * 4 * 8
    assert a.ndim == 3
    assert a.strides == (96, 32, 8)
    assert len(a) == 2


def test_int_shape_equals_one_tuple() -> None:
    assert si.SharedArray(7, "i").shape == si.SharedArray((7,), "i").shape == (7,)


def test_zero_dimensional_array_holds_one_item() -> None:
    a = si.SharedArray((), "d")
    assert a.shape == ()
    assert a.ndim == 0
    assert a.strides == ()
    assert a.nbytes == a.itemsize == 8
    assert a.tolist() == 0.0
    with pytest.raises(TypeError):
        len(a)
    mv = memoryview(a)
    assert mv.ndim == 0 and mv.shape == () and mv.format == "d"
    mv[()] = 2.5
    assert a.tolist() == 2.5


@pytest.mark.parametrize("shape", [0, (0,), (3, 0), (0, 5, 2)])
def test_empty_arrays(shape) -> None:
    a = si.SharedArray(shape, "q")
    expected_shape = (shape,) if isinstance(shape, int) else shape
    assert a.shape == expected_shape
    assert a.nbytes == 0
    assert memoryview(a).tobytes() == b""
    assert a.tolist() == memoryview(a).tolist()


@pytest.mark.parametrize("code", list(CODES))
def test_every_supported_format_has_struct_itemsize(code) -> None:
    a = si.SharedArray((2, 3), code)
    size = struct.calcsize(code)
    assert a.format == code
    assert a.itemsize == size
    assert a.nbytes == 6 * size
    assert a.strides == (3 * size, size)
    mv = memoryview(a)
    assert mv.format == code
    assert mv.itemsize == size
    assert mv.shape == (2, 3)
    assert mv.strides == (3 * size, size)


@pytest.mark.parametrize("code", list(CODES))
def test_at_prefixed_format_is_the_native_code(code) -> None:
    a = si.SharedArray(4, "@" + code)
    # The contract does not say whether the '@' is kept in .format: either spelling is native.
    assert a.format in (code, "@" + code)
    assert struct.calcsize(a.format) == struct.calcsize(code)
    assert a.itemsize == struct.calcsize(code)
    assert memoryview(a).format == a.format


@pytest.mark.parametrize("code", list(CODES))
def test_new_arrays_are_zero_filled(code) -> None:
    a = si.SharedArray((3, 5), code)
    assert memoryview(a).tobytes() == bytes(a.nbytes)
    zero = {"?": False, "c": b"\x00", "e": 0.0, "f": 0.0, "d": 0.0}.get(code, 0)
    assert a.tolist() == [[zero] * 5] * 3


def test_shared_buffer_is_a_one_dimensional_byte_array() -> None:
    b = si.SharedBuffer(16)
    assert isinstance(b, si.SharedArray)
    assert type(b) is si.SharedBuffer
    assert b.shape == (16,)
    assert b.format == "B"
    assert b.itemsize == 1 and b.nbytes == 16 and b.ndim == 1 and b.strides == (1,)
    assert memoryview(b).tobytes() == bytes(16)
    assert len(si.SharedBuffer(0)) == 0


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", ["3", b"3", 3.0, [2, 3], (2, "3"), (2, 3.0), (2, None), None, {3: 1}, ((2,), 3)]
)
def test_shape_of_wrong_type_is_type_error(shape) -> None:
    with pytest.raises(TypeError):
        si.SharedArray(shape)


@pytest.mark.parametrize("shape", [-1, (-1,), (2, -3), (0, -1), (-(2**70),)])
def test_negative_dimension_is_value_error(shape) -> None:
    with pytest.raises((ValueError, OverflowError)) as info:
        si.SharedArray(shape)
    # -2**70 cannot even be a Py_ssize_t; every other negative dimension is a ValueError.
    if shape != (-(2**70),):
        assert info.type is ValueError


@pytest.mark.parametrize(
    "fmt", ["", "x", "P", "dd", "2d", "<d", ">i", "=q", "!h", "@", "@@d", "s", "Zd", "T{d}", " d", "D"]
)
def test_unsupported_format_is_value_error_naming_the_codes(fmt) -> None:
    with pytest.raises(ValueError) as info:
        si.SharedArray(3, fmt)
    message = str(info.value)
    missing = [code for code in CODES if code not in message]
    assert not missing, f"error message does not name every supported code: {message!r}"


@pytest.mark.parametrize("fmt", [b"d", 100, ord("d"), ("d",), ["d"]])
def test_format_of_wrong_type_is_type_error(fmt) -> None:
    with pytest.raises(TypeError):
        si.SharedArray(3, fmt)


@pytest.mark.parametrize(
    "shape, fmt",
    [
        (2**64, "B"),  # not even a Py_ssize_t
        ((2**40, 2**40), "B"),  # the product overflows
        ((2**31, 2**31, 4), "B"),
        (2**62, "q"),  # the byte size overflows
        ((2**33, 2**33), "d"),
    ],
)
def test_overflowing_size_is_overflow_error(shape, fmt) -> None:
    with pytest.raises(OverflowError):
        si.SharedArray(shape, fmt)
    # The failed call left nothing broken behind.
    assert si.SharedArray(4, fmt).nbytes == 4 * struct.calcsize(fmt)


def test_impossible_allocation_is_memory_error_not_an_abort(tmp_path) -> None:
    # 2 EiB fits a Py_ssize_t but no address space: the allocation fails. Run in a child process so
    # that an allocator that aborts instead of raising cannot take the test session down with it.
    code = dedent(
        """
        import subinterpreters as si
        for shape in [2**61, (2**30, 2**31), (2**59,)]:
            try:
                si.SharedArray(shape, "B" if shape != (2**59,) else "q")
            except (MemoryError, OverflowError) as exc:
                print(type(exc).__name__)
            else:
                print("created")
        print(si.SharedArray(8).nbytes)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    lines = proc.stdout.split()
    assert len(lines) == 4, details
    assert all(line in ("MemoryError", "OverflowError") for line in lines[:3]), details
    assert lines[3] == "8", details


@pytest.mark.parametrize("bad", [-1, "16", 16.0, None])
def test_shared_buffer_bad_size(bad) -> None:
    with pytest.raises(ValueError if bad == -1 else TypeError):
        si.SharedBuffer(bad)


# --- properties, len, tolist, repr ------------------------------------------------------------------


def test_properties_are_read_only() -> None:
    a = si.SharedArray((2, 3), "i")
    for name, value in [
        ("shape", (6,)),
        ("format", "B"),
        ("itemsize", 1),
        ("nbytes", 1),
        ("ndim", 1),
        ("strides", (4,)),
    ]:
        with pytest.raises(AttributeError):
            setattr(a, name, value)
    assert a.shape == (2, 3) and a.format == "i" and a.strides == (12, 4)


def test_property_types() -> None:
    a = si.SharedArray((2, 3), "h")
    assert type(a.shape) is tuple and all(type(n) is int for n in a.shape)
    assert type(a.strides) is tuple and all(type(n) is int for n in a.strides)
    assert type(a.format) is str
    assert type(a.itemsize) is int and type(a.nbytes) is int and type(a.ndim) is int


def test_tolist_is_nested_like_memoryview_tolist() -> None:
    a = si.SharedArray((2, 3, 2), "i")
    fill(a, range(-6, 6))
    expected = memoryview(a).tolist()
    assert expected == [[[-6, -5], [-4, -3], [-2, -1]], [[0, 1], [2, 3], [4, 5]]]
    assert a.tolist() == expected


def test_len_is_first_dimension() -> None:
    assert len(si.SharedArray((4, 9), "d")) == 4
    assert len(si.SharedArray((0, 9), "d")) == 0


def test_repr() -> None:
    a = si.SharedArray((2, 3), "d")
    assert repr(a) == "SharedArray(shape=(2, 3), format='d')"
    assert repr(a.readonly()) == "SharedArray(shape=(2, 3), format='d', readonly=True)"
    assert repr(si.SharedBuffer(4)).startswith("SharedBuffer(")


def test_equality_is_identity() -> None:
    a = si.SharedArray(4)
    r = a.readonly()
    assert a == a and r == r
    assert a != r and not (a == r)
    assert a != si.SharedArray(4)
    assert len({a, r, a}) == 2


# --- buffer protocol ------------------------------------------------------------------------------


def test_memoryview_is_typed_n_dimensional_and_writable() -> None:
    a = si.SharedArray((2, 3, 4), "f")
    mv = memoryview(a)
    assert mv.format == "f"
    assert mv.itemsize == 4
    assert mv.ndim == 3
    assert mv.shape == (2, 3, 4)
    assert mv.strides == (48, 16, 4)
    assert mv.readonly is False
    assert mv.c_contiguous
    assert mv.nbytes == a.nbytes
    mv[1, 2, 3] = 1.5
    mv[0, 0, 0] = -2.0
    assert a.tolist()[1][2][3] == 1.5
    assert a.tolist()[0][0][0] == -2.0
    assert memoryview(a)[1, 2, 3] == 1.5  # a second view sees the same memory


def test_views_outlive_the_handle() -> None:
    a = si.SharedArray((3,), "q")
    mv = memoryview(a)
    del a
    gc.collect()
    mv[2] = 99
    assert mv.tolist() == [0, 0, 99]
    mv.release()


def test_readonly_shares_memory_and_refuses_writes() -> None:
    a = si.SharedArray((2, 2), "i")
    r = a.readonly()
    assert type(r) is si.SharedArray
    assert (r.shape, r.format, r.strides, r.nbytes) == (a.shape, a.format, a.strides, a.nbytes)
    assert address(r) == address(a)
    memoryview(a)[1, 0] = 42
    rv = memoryview(r)
    assert rv.readonly is True
    assert rv[1, 0] == 42
    assert r.tolist() == [[0, 0], [42, 0]]
    with pytest.raises(TypeError):
        rv[0, 0] = 1
    assert a.tolist() == [[0, 0], [42, 0]]


def test_a_pickled_view_revives_as_itself_whichever_view_of_the_memory_was_pickled_first() -> None:
    # Pickles of handles are ids in a weak table: a read-only view pickled after a writable one
    # of the same memory (or the other way round) must not revive as the first one.
    import pickle

    a = si.SharedArray((2, 2), "i")
    r = a.readonly()
    buffer = si.SharedBuffer(4)
    for first, second in [(a, r), (r, a), (buffer, buffer.readonly())]:
        pickles = [pickle.dumps(first), pickle.dumps(second)]
        for original, pickled in zip((first, second), pickles, strict=True):
            revived = pickle.loads(pickled)
            assert type(revived) is type(original)
            assert memoryview(revived).readonly is memoryview(original).readonly
            assert (revived.shape, revived.format) == (original.shape, original.format)
            assert address(revived) == address(original)
    q = si.create_queue()
    q.put([a, r, __import__("collections").OrderedDict()])  # pickled as a whole (a queue allows it)
    got = q.get(timeout=10)
    assert [memoryview(view).readonly for view in got[:2]] == [False, True]


def test_writable_buffer_request_on_read_only_is_buffer_error() -> None:
    r = si.SharedArray(8).readonly()
    with pytest.raises(BufferError):
        buffer_address(r, PyBUF_WRITABLE)
    # Python-level writers convert the refusal into their own TypeError.
    with pytest.raises(TypeError):
        struct.pack_into("B", r, 0, 1)
    with pytest.raises((TypeError, BufferError)):
        ctypes.c_char.from_buffer(r)


def test_readonly_of_readonly_stays_read_only() -> None:
    a = si.SharedArray(4)
    rr = a.readonly().readonly()
    assert memoryview(rr).readonly is True
    assert address(rr) == address(a)


def test_shared_buffer_readonly_is_read_only_same_memory() -> None:
    b = si.SharedBuffer(8)
    r = b.readonly()
    assert isinstance(r, si.SharedArray)
    assert memoryview(r).readonly is True
    memoryview(b)[3] = 7
    assert memoryview(r)[3] == 7


@pytest.mark.parametrize(
    "shape, fmt", [(1, "B"), (3, "B"), ((7, 3), "d"), ((), "h"), (1000, "q"), ((5, 5, 5), "c")]
)
def test_memory_is_64_byte_aligned(shape, fmt) -> None:
    arrays = [si.SharedArray(shape, fmt) for _ in range(8)]
    for a in arrays:
        writable = ctypes.addressof(ctypes.c_char.from_buffer(memoryview(a).cast("B")))
        assert writable % 64 == 0, hex(writable)
        assert address(a.readonly()) == writable
    for n in (1, 63, 65, 4097):
        assert address(si.SharedBuffer(n)) % 64 == 0


# --- from_buffer ----------------------------------------------------------------------------------


def test_from_buffer_copies_bytes() -> None:
    a = si.SharedArray.from_buffer(b"hello")
    assert type(a) is si.SharedArray
    assert (a.shape, a.format) == ((5,), "B")
    assert memoryview(a).tobytes() == b"hello"
    assert memoryview(a).readonly is False  # a writable copy of a read-only source
    memoryview(a)[0] = ord("j")
    assert memoryview(a).tobytes() == b"jello"


def test_from_buffer_copies_bytearray() -> None:
    src = bytearray(b"abcdef")
    a = si.SharedArray.from_buffer(src)
    assert (a.shape, a.format) == ((6,), "B")
    assert address(a) != address(src)
    src[0] = ord("Z")
    src.extend(b"more")  # no export is kept on the source
    assert memoryview(a).tobytes() == b"abcdef"


@pytest.mark.parametrize("code", ["d", "f", "i", "q", "l", "H", "b"])
def test_from_buffer_keeps_array_format(code) -> None:
    values = [1, 2, 3, 4, 5]
    src = array.array(code, values)
    a = si.SharedArray.from_buffer(src)
    assert a.format == memoryview(src).format == code
    assert a.shape == (5,)
    assert a.itemsize == src.itemsize
    assert a.tolist() == src.tolist()
    src[0] = 100
    assert a.tolist()[0] == values[0]


def test_from_buffer_keeps_memoryview_shape() -> None:
    src = memoryview(array.array("h", range(12))).cast("B").cast("h", (3, 4))
    a = si.SharedArray.from_buffer(src)
    assert (a.shape, a.format, a.strides) == ((3, 4), "h", (8, 2))
    assert a.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


def test_from_buffer_of_non_contiguous_slices() -> None:
    # Rows 0, 2, 4 of a 6x4 view (strides (8, 1) over 24 bytes): not contiguous.
    rows = memoryview(bytes(range(24))).cast("B", (6, 4))[::2]
    assert not rows.contiguous
    a = si.SharedArray.from_buffer(rows)
    assert (a.shape, a.format, a.strides) == ((3, 4), "B", (4, 1))
    assert a.tolist() == [[0, 1, 2, 3], [8, 9, 10, 11], [16, 17, 18, 19]]
    # Every third double, and a reversed view (negative stride).
    src = array.array("d", [float(i) for i in range(9)])
    a = si.SharedArray.from_buffer(memoryview(src)[::3])
    assert (a.shape, a.format, a.strides) == ((3,), "d", (8,))
    assert a.tolist() == [0.0, 3.0, 6.0]
    a = si.SharedArray.from_buffer(memoryview(b"abc")[::-1])
    assert memoryview(a).tobytes() == b"cba" and a.strides == (1,)


def test_from_buffer_of_zero_dimensional_and_empty() -> None:
    src = memoryview(struct.pack("d", 6.25)).cast("d", ())
    a = si.SharedArray.from_buffer(src)
    assert (a.shape, a.format, a.tolist()) == ((), "d", 6.25)
    e = si.SharedArray.from_buffer(b"")
    assert (e.shape, e.nbytes) == ((0,), 0)


def test_from_buffer_of_shared_array_is_a_copy() -> None:
    a = si.SharedArray((2, 2), "q")
    fill(a, [1, 2, 3, 4])
    for source in (a, a.readonly()):
        b = si.SharedArray.from_buffer(source)
        assert address(b) != address(a)
        assert (b.shape, b.format) == ((2, 2), "q")
        assert memoryview(b).readonly is False
        memoryview(a)[0, 0] = 100
        assert b.tolist() == [[1, 2], [3, 4]]
        memoryview(a)[0, 0] = 1


def test_from_buffer_is_64_byte_aligned() -> None:
    for n in (1, 5, 100):
        assert address(si.SharedArray.from_buffer(bytes(n))) % 64 == 0


@pytest.mark.parametrize("bad", [[1, 2], "text", 5, None, object(), {"a": 1}])
def test_from_buffer_of_non_buffer_is_type_error(bad) -> None:
    with pytest.raises(TypeError):
        si.SharedArray.from_buffer(bad)
    with pytest.raises(TypeError):
        si.SharedBuffer.from_buffer(bad)


def test_shared_buffer_from_buffer_holds_the_bytes() -> None:
    src = array.array("d", [1.0, -2.0])
    b = si.SharedBuffer.from_buffer(src)
    assert type(b) is si.SharedBuffer
    assert (b.shape, b.format) == ((16,), "B")
    assert memoryview(b).tobytes() == src.tobytes()
    grid = si.SharedBuffer.from_buffer(memoryview(bytes(range(6))).cast("B", (2, 3)))
    assert (grid.shape, memoryview(grid).tobytes()) == ((6,), bytes(range(6)))


# --- crossing interpreters: zero copy ---------------------------------------------------------------


def test_shared_arrays_are_shareable() -> None:
    a = si.SharedArray((2, 2), "d")
    assert si.is_shareable(a)
    assert si.is_shareable(a.readonly())
    assert si.is_shareable(si.SharedBuffer(3))
    assert si.is_shareable(("meta", (a, si.SharedBuffer(1))))


def test_round_trip_within_main_is_same_memory_new_handle(channel) -> None:
    recv, send = channel
    a = si.SharedArray((2, 3), "d")
    send.send_nowait(a)
    got = recv.recv_nowait()
    assert type(got) is si.SharedArray
    assert got is not a and got != a
    assert (got.shape, got.format, got.strides) == ((2, 3), "d", (24, 8))
    assert address(got) == address(a)
    memoryview(got)[1, 1] = 3.5
    assert memoryview(a)[1, 1] == 3.5


@pytest.mark.parametrize("route", ROUTES)
def test_writes_are_seen_both_ways_across_interpreters(route, shared_interp) -> None:
    a = si.SharedArray((4, 8), "q")
    deliver(route, shared_interp, a)
    try:
        mv = memoryview(a)
        mv[1, 2] = 12345
        mv[3, 7] = -1
        got = evaluate_body(
            shared_interp,
            """
            import subinterpreters as si
            v = memoryview(x)
            result = (type(x) is si.SharedArray, x.shape, x.format, v[1, 2], v[3, 7])
            v[0, 0] = 777
            v[2, 5] = -42
            """,
        )
        assert got == (True, (4, 8), "q", 12345, -1)
        assert mv[0, 0] == 777 and mv[2, 5] == -42
        # Later writes keep being seen: the memory is shared, not a snapshot.
        mv[1, 2] = 6
        assert evaluate_body(shared_interp, "result = memoryview(x)[1, 2]") == 6
    finally:
        shared_interp.exec("del x")


@needs_ctypes_in_isolated  # write visibility on 3.12 is tested separately
@pytest.mark.parametrize("route", ROUTES)
def test_receiver_sees_the_same_address(route, shared_interp) -> None:
    a = si.SharedArray(1024, "d")
    deliver(route, shared_interp, a)
    try:
        got = evaluate_body(shared_interp, ADDRESS_SOURCE + "result = buffer_address(x)\n")
        assert got == address(a)
    finally:
        shared_interp.exec("del x")


def test_receiver_sees_the_same_address_in_legacy_interpreter(legacy_interp) -> None:
    a = si.SharedArray((16, 16), "i")
    deliver("channel", legacy_interp, a)
    assert evaluate_body(legacy_interp, ADDRESS_SOURCE + "result = buffer_address(x)\n") == address(a)


def test_array_inside_a_tuple_crosses(channel, shared_interp) -> None:
    recv, send = channel
    a = si.SharedArray(3, "i")
    send.send_nowait(("frame", 7, a))
    got = evaluate_body(
        shared_interp,
        """
        tag, n, arr = r.recv_nowait()
        memoryview(arr)[n % 3] = 5
        result = (tag, n, arr.shape)
        """,
        r=recv,
    )
    assert got == ("frame", 7, (3,))
    assert a.tolist() == [0, 5, 0]


@pytest.mark.parametrize("via", ["channel", "queue"])
def test_array_made_in_isolated_interpreter_is_shared_with_main(via, interp) -> None:
    recv, send = si.create_channel()
    q = si.create_queue()
    try:
        interp.run(
            dedent(
                """
                import subinterpreters as si
                mine = si.SharedArray((3, 3), "i")
                memoryview(mine)[1, 1] = 11
                if via == "channel":
                    s.send_nowait(mine)
                else:
                    q.put(mine)
                del s, q, via
                """
            ),
            s=send,
            q=q,
            via=via,
        )
        got = recv.recv_nowait() if via == "channel" else q.get_nowait()
        assert type(got) is si.SharedArray
        assert (got.shape, got.format) == ((3, 3), "i")
        mv = memoryview(got)
        assert mv[1, 1] == 11
        interp.exec("memoryview(mine)[2, 0] = -3")
        assert mv[2, 0] == -3
        mv[0, 2] = 8
        assert evaluate_body(interp, "result = memoryview(mine)[0, 2]") == 8
        if sys.version_info >= (3, 13):
            assert evaluate_body(interp, ADDRESS_SOURCE + "result = buffer_address(mine)\n") == address(got)
    finally:
        recv.close()
        send.close()
        q.close()


def test_array_shared_between_two_isolated_interpreters() -> None:
    q = si.create_queue()
    with si.create() as a, si.create() as b:
        a.run("import subinterpreters as si\nmine = si.SharedArray(4, 'd')\nq.put(mine)", q=q)
        b.run("theirs = q.get_nowait()\nmemoryview(theirs)[2] = 2.5", q=q)
        assert evaluate_body(a, "result = memoryview(mine)[2]") == 2.5
        a.exec("memoryview(mine)[0] = -1.0")
        assert evaluate_body(b, "result = tuple(memoryview(theirs).tolist())") == (-1.0, 0.0, 2.5, 0.0)


def test_typed_n_dimensional_memoryviews_in_isolated_interpreter(shared_interp) -> None:
    a = si.SharedArray((2, 3, 4), "d")
    fill(a, [i / 4 for i in range(24)])
    deliver("channel", shared_interp, a)
    try:
        got = evaluate_body(
            shared_interp,
            """
            v = memoryview(x)
            result = (
                v.format, v.itemsize, v.ndim, v.shape, v.strides, v.readonly, v.c_contiguous,
                repr(v.tolist()), v[1, 2, 3],
                x.shape, x.format, x.itemsize, x.nbytes, x.ndim, x.strides, len(x),
                repr(x.tolist()),
            )
            """,
        )
        expected_list = repr(a.tolist())
        assert got == (
            "d", 8, 3, (2, 3, 4), (96, 32, 8), False, True, expected_list, 23 / 4,
            (2, 3, 4), "d", 8, 192, 3, (96, 32, 8), 2, expected_list,
        )  # fmt: skip
    finally:
        shared_interp.exec("del x")


def test_every_format_is_typed_inside_isolated_interpreter(shared_interp) -> None:
    got = evaluate_body(
        shared_interp,
        f"""
        import struct
        import subinterpreters as si
        out = []
        for code in {CODES!r}:
            a = si.SharedArray((2, 3), code)
            v = memoryview(a)
            out.append((code, a.itemsize == v.itemsize == struct.calcsize(code), v.format, v.shape,
                        v.strides == (3 * a.itemsize, a.itemsize), v.tobytes() == bytes(a.nbytes)))
        result = tuple(out)
        """,
    )
    assert got == tuple((code, True, code, (2, 3), True, True) for code in CODES)


@pytest.mark.parametrize("route", ["channel", "run", "queue"])
def test_read_only_stays_read_only_after_crossing(route, shared_interp) -> None:
    a = si.SharedArray(4, "i")
    deliver(route, shared_interp, a.readonly())
    try:
        memoryview(a)[1] = 9
        got = evaluate_body(
            shared_interp,
            """
            v = memoryview(x)
            try:
                v[0] = 1
                refused = False
            except TypeError:
                refused = True
            again = memoryview(x.readonly()).readonly
            result = (v.readonly, refused, v[1], repr(x), again)
            """,
        )
        assert got == (True, True, 9, "SharedArray(shape=(4,), format='i', readonly=True)", True)
        assert a.tolist() == [0, 9, 0, 0]
    finally:
        shared_interp.exec("del x")


def test_read_only_comes_back_read_only(channel, shared_interp) -> None:
    recv, send = channel
    shared_interp.run(
        "import subinterpreters as si\ns.send_nowait(si.SharedArray(2, 'q').readonly())\ndel s",
        s=send,
    )
    got = recv.recv_nowait()
    assert memoryview(got).readonly is True
    with pytest.raises(TypeError):
        memoryview(got)[0] = 1


def test_shared_buffer_crosses_as_shared_buffer(channel, shared_interp) -> None:
    recv, send = channel
    b = si.SharedBuffer(32)
    memoryview(b)[0] = 200
    deliver("channel", shared_interp, b)
    try:
        got = evaluate_body(
            shared_interp,
            """
            import subinterpreters as si
            result = (type(x) is si.SharedBuffer, isinstance(x, si.SharedArray), x.shape,
                      x.format, memoryview(x)[0])
            s.send_nowait(x)
            """,
            s=send,
        )
        assert got == (True, True, (32,), "B", 200)
        back = recv.recv_nowait()
        assert type(back) is si.SharedBuffer
        assert address(back) == address(b)
    finally:
        shared_interp.exec("del x")


# --- lifetime ---------------------------------------------------------------------------------------


def test_array_received_by_a_closed_interpreter_keeps_working_in_main() -> None:
    a = si.SharedArray(8, "q")
    interp = si.create()
    try:
        deliver("channel", interp, a)
        interp.exec("memoryview(x)[3] = 33")
    finally:
        interp.close()
    gc.collect()
    mv = memoryview(a)
    assert mv[3] == 33
    mv[4] = 44
    assert a.tolist() == [0, 0, 0, 33, 44, 0, 0, 0]


def test_array_made_by_a_closed_interpreter_keeps_working_in_main(channel) -> None:
    recv, send = channel
    interp = si.create()
    try:
        interp.run(
            "import subinterpreters as si\n"
            "a = si.SharedArray((64, 1024), 'B')\n"
            "memoryview(a)[63, 1023] = 7\n"
            "s.send_nowait(a)\n",
            s=send,
        )
    finally:
        interp.close()
    got = recv.recv_nowait()
    gc.collect()
    mv = memoryview(got)
    assert mv[63, 1023] == 7
    mv[0, 0] = 1
    assert mv.tobytes().count(0) == 64 * 1024 - 2


def test_array_kept_by_an_interpreter_outlives_the_creator_interpreter() -> None:
    q = si.create_queue()
    with si.create() as keeper:
        with si.create() as maker:
            maker.run(
                "import subinterpreters as si\na = si.SharedArray(3, 'i')\nmemoryview(a)[0] = 5\nq.put(a)",
                q=q,
            )
            keeper.run("kept = q.get_nowait()", q=q)
        keeper.exec("memoryview(kept)[1] = 6")
        assert evaluate_body(keeper, "result = tuple(kept.tolist())") == (5, 6, 0)


CYCLES = 10_000
WARMUP = 1_000
ITEM = 64 * 1024
RSS_LIMIT = 8 * 1024 * 1024

TO_WORKER = """
ok = True
for _ in range(n):
    a = source.recv() if hasattr(source, "recv") else source.get()
    v = memoryview(a)
    ok = ok and v[0] == 1 and v[-1] == 1 and a.nbytes == {item}
    v.release()
    del a, v
done.send_nowait(ok)
del source, done
"""

FROM_WORKER = """
import subinterpreters as si
ones = b"\\x01" * {item}
for _ in range(n):
    a = si.SharedArray({item})
    memoryview(a)[:] = ones  # touch every page: a leak would show in RSS
    if hasattr(sink, "send"):
        sink.send(a)
    else:
        sink.put(a)
    del a
done.send_nowait(True)
del sink, done
"""


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm (Linux)"
)
@pytest.mark.parametrize("direction", ["main-to-worker", "worker-to-main"])
@pytest.mark.parametrize("via", ["channel", "queue"])
def test_memory_is_freed_over_many_create_send_drop_cycles(via, direction, interp, spawn) -> None:
    # 64 KiB arrays, filled so their pages are resident: leaking them all would be 625 MiB.
    recv, send = si.create_channel()
    done_r, done_s = si.create_channel()
    q = si.create_queue(maxsize=4)
    ones = b"\x01" * ITEM

    def cycles(n: int) -> None:
        if direction == "main-to-worker":
            source = recv if via == "channel" else q
            task = spawn(interp.run, TO_WORKER.format(item=ITEM), source=source, n=n, done=done_s)
            for _ in range(n):
                a = si.SharedArray(ITEM)
                memoryview(a)[:] = ones
                if via == "channel":
                    send.send(a, timeout=JOIN_TIMEOUT)
                else:
                    q.put(a, timeout=JOIN_TIMEOUT)
                del a
        else:
            sink = send if via == "channel" else q
            task = spawn(interp.run, FROM_WORKER.format(item=ITEM), sink=sink, n=n, done=done_s)
            for _ in range(n):
                a = recv.recv(timeout=JOIN_TIMEOUT) if via == "channel" else q.get(timeout=JOIN_TIMEOUT)
                v = memoryview(a)
                assert v[0] == 1 and v[-1] == 1
                v.release()
                del a, v
        task.result(timeout=60)
        assert done_r.recv_nowait() is True

    try:
        cycles(WARMUP)
        gc.collect()
        before = rss_bytes()
        cycles(CYCLES)
        gc.collect()
        growth = rss_bytes() - before
    finally:
        for end in (recv, send, done_r, done_s):
            end.close()
        q.close()
    assert growth < RSS_LIMIT, (
        f"RSS grew by {growth / 2**20:.1f} MiB over {CYCLES} cycles of {ITEM // 1024} KiB arrays "
        f"({via}, {direction}); a full leak would be {CYCLES * ITEM / 2**20:.0f} MiB"
    )


@pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm (Linux)"
)
def test_memory_is_freed_when_handles_and_views_go_in_main(channel) -> None:
    recv, send = channel
    ones = b"\x01" * ITEM

    def cycles(n: int) -> None:
        for _ in range(n):
            a = si.SharedArray(ITEM)
            memoryview(a)[:] = ones
            send.send_nowait((a, a.readonly()))
            got, ro = recv.recv_nowait()
            v = memoryview(ro)
            del a, got, ro
            assert v[0] == 1  # the view alone keeps the memory alive
            v.release()

    cycles(WARMUP)
    gc.collect()
    before = rss_bytes()
    cycles(CYCLES)
    gc.collect()
    growth = rss_bytes() - before
    assert growth < RSS_LIMIT, (
        f"RSS grew by {growth / 2**20:.1f} MiB over {CYCLES} cycles of {ITEM // 1024} KiB arrays; "
        f"a full leak would be {CYCLES * ITEM / 2**20:.0f} MiB"
    )


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3)])
def test_an_array_is_true_even_when_empty_or_zero_dimensional(shape) -> None:
    # len() of a 0-d array raises TypeError, so truth must not fall back on it.
    assert bool(si.SharedArray(shape, "d")) is True
