"""The C API (include/subinterpreters.h, docs/c-api.md), through a test extension built against the
header during the run (tests/capi_probe.c, built by tests/capi_build.py): every function of the
table, called on a native thread that never ran Python (native=True) and here with the GIL released;
handles used across isolated interpreters; native producers and consumers racing with closes and
timeouts, every item accounted for; bad handles refused; and the example extension of the docs,
built from the docs' own source, running the docs' session.

Without a C compiler or CPython's headers the module is skipped, saying which is missing.
"""

from __future__ import annotations

import doctest
import gc
import importlib.metadata
import math
import re
import struct
from pathlib import Path
from types import ModuleType

import pytest

import capi_build
import subinterpreters as si
from helpers import assert_clean_exit, run_script

OK = 0
CHANNEL_CLOSED = -1
CHANNEL_EMPTY = -2
TIMEOUT = -3
QUEUE_CLOSED = -4
QUEUE_EMPTY = -5
QUEUE_FULL = -6
BAD_HANDLE = -7
WRONG_KIND = -8
UNSUPPORTED_ITEM = -9
INVALID_ARGUMENT = -10
NO_MEMORY = -11
INTERNAL_ERROR = -12
QUEUE, SEND_END, RECV_END = 1, 2, 3
ITEM_BYTES, ITEM_BLOCK = 1, 2
NOWAIT, FOREVER = 0.0, -1.0
SHORT = 0.01  # a timeout that is meant to expire: nothing will come

HEADER = Path(si.get_include()) / "subinterpreters.h"


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("capi")


@pytest.fixture(scope="module")
def probe(build_dir: Path) -> ModuleType:
    try:
        return capi_build.build_probe(build_dir)
    except capi_build.CannotBuild as exc:
        pytest.skip(f"cannot build C extensions here: {exc}")


@pytest.fixture(params=[False, True], ids=["gil-released", "native-thread"])
def native(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def code_of(table: str, name: str) -> int:
    found = re.search(rf"#define SUBINTERPRETERS_{name} \(?(-?\d+)\)?", table)
    assert found, name
    return int(found.group(1))


# --- the capsule, the header, the table ---------------------------------------------------------


def test_the_header_ships_with_the_package_and_its_constants_are_the_tests() -> None:
    text = HEADER.read_text(encoding="utf-8")
    assert Path(si.get_include()).is_dir() and "get_include" in si.__all__
    assert code_of(text, "CAPI_VERSION") == 1
    codes = {
        "OK": OK,
        "CHANNEL_CLOSED": CHANNEL_CLOSED,
        "CHANNEL_EMPTY": CHANNEL_EMPTY,
        "TIMEOUT": TIMEOUT,
        "QUEUE_CLOSED": QUEUE_CLOSED,
        "QUEUE_EMPTY": QUEUE_EMPTY,
        "QUEUE_FULL": QUEUE_FULL,
        "BAD_HANDLE": BAD_HANDLE,
        "WRONG_KIND": WRONG_KIND,
        "UNSUPPORTED_ITEM": UNSUPPORTED_ITEM,
        "INVALID_ARGUMENT": INVALID_ARGUMENT,
        "NO_MEMORY": NO_MEMORY,
        "INTERNAL_ERROR": INTERNAL_ERROR,
    }
    for name, value in codes.items():
        assert code_of(text, name) == value, name


@pytest.mark.parametrize("cxx", [False, True], ids=["C99", "C++11"])
def test_the_header_compiles_strictly_as_c_and_as_cpp(probe: ModuleType, cxx: bool) -> None:
    try:
        capi_build.check_header(cxx)
    except capi_build.CannotBuild as exc:
        pytest.skip(f"cannot compile here: {exc}")


def test_the_header_is_in_the_distribution_record() -> None:
    files = importlib.metadata.files("subinterpreters")
    assert files is not None
    assert "subinterpreters/include/subinterpreters.h" in {str(f).replace("\\", "/") for f in files}


def test_the_capsule_holds_a_table_of_this_version(probe: ModuleType) -> None:
    assert type(si._core._C_API).__name__ == "PyCapsule"
    assert 'capsule object "subinterpreters._core._C_API"' in repr(si._core._C_API)
    version, size = probe.table()
    assert version == 1
    # Two header fields, then one pointer per function.
    assert size == 8 + 8 + 8 * len(TABLE_FUNCTIONS)


TABLE_FUNCTIONS = [
    "handle_from_object",
    "raise_error",
    "handle_clone",
    "handle_release",
    "handle_kind",
    "put_bytes",
    "put_block",
    "get",
    "item_clear",
    "close",
    "block_new",
    "buffer_new",
    "block_info",
    "block_release",
]


def test_every_function_of_the_header_is_documented_and_tested_here() -> None:
    text = HEADER.read_text(encoding="utf-8")
    table = text[text.index("typedef struct SubinterpretersCAPI {") : text.index("} SubinterpretersCAPI;")]
    declared = re.findall(r"\(\*(\w+)\)", table)
    assert declared == TABLE_FUNCTIONS
    for name in declared:
        # A comment block right before each declaration says what it does.
        before = table[: table.index(f"(*{name})")].rstrip()
        assert before.rsplit("\n", 1)[0].rstrip().endswith("*/"), f"{name} is not documented"
    tests = Path(__file__).read_text(encoding="utf-8")
    for name in declared:
        probe_name = {"handle_from_object": "handle", "handle_clone": "clone", "handle_release": "release"}
        probe_name |= {"handle_kind": "kind", "item_clear": "item_clear_block"}
        assert f"probe.{probe_name.get(name, name)}(" in tests, name


# --- handles ------------------------------------------------------------------------------------


def test_null_is_a_type_error(probe: ModuleType) -> None:
    with pytest.raises(TypeError, match="not NULL"):
        probe.handle_of_null()


def test_handles_of_queues_and_channel_ends(probe: ModuleType, native: bool) -> None:
    q = si.create_queue()
    recv, send = si.create_channel()
    handles = [probe.handle(q), probe.handle(send), probe.handle(recv)]
    assert [probe.kind(h, native) for h in handles] == [QUEUE, SEND_END, RECV_END]
    rc, clone = probe.clone(handles[0], native)
    assert rc == OK and clone not in handles and probe.kind(clone, native) == QUEUE
    for h in [*handles, clone]:
        assert probe.release(h, native) == OK
        assert probe.release(h, native) == BAD_HANDLE
        assert probe.kind(h, native) == BAD_HANDLE


@pytest.mark.parametrize(
    "make",
    [
        lambda: 1,
        lambda: None,
        lambda: b"bytes",
        lambda: si.SharedArray(3),
        lambda: si.get_current(),
        lambda: si.Lock(),
        lambda: object(),
    ],
    ids=["int", "None", "bytes", "SharedArray", "Interpreter", "Lock", "object"],
)
def test_anything_else_is_a_type_error(probe: ModuleType, make: object) -> None:
    obj = make()  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected a subinterpreters Queue, SendChannel or RecvChannel"):
        probe.handle(obj)


def test_bad_handles_are_refused_by_every_function(probe: ModuleType, native: bool) -> None:
    q = si.create_queue()
    released = probe.handle(q)
    assert probe.release(released) == OK
    rc, block = probe.block_new("d", (2,))
    assert rc == OK
    not_ours = id(q)  # a PyObject *, not a handle
    for bad in [0, released, block, not_ours]:
        assert probe.kind(bad, native) == BAD_HANDLE
        assert probe.clone(bad, native) == (BAD_HANDLE, 0)
        assert probe.release(bad, native) == BAD_HANDLE
        assert probe.put_bytes(bad, b"x", NOWAIT, native) == BAD_HANDLE
        assert probe.get(bad, NOWAIT, native) == (BAD_HANDLE, 0, None)
        assert probe.close(bad, native) == BAD_HANDLE
    live = probe.handle(q)
    for bad_block in [0, released, live, not_ours]:
        assert probe.put_block(live, bad_block, NOWAIT, native) == BAD_HANDLE
        assert probe.block_info(bad_block, native) == (BAD_HANDLE, None)
        assert probe.block_release(bad_block, native) == BAD_HANDLE
        assert probe.item_clear_block(bad_block, native) == BAD_HANDLE
    assert probe.item_clear_null() == (INVALID_ARGUMENT, OK)
    assert probe.put_bytes(live, b"x", math.nan, native) == INVALID_ARGUMENT
    assert probe.put_bytes_invalid(live) == (INVALID_ARGUMENT, INVALID_ARGUMENT)
    assert probe.get(live, math.nan, native) == (INVALID_ARGUMENT, 0, None)
    assert q.empty()  # nothing was put by any refused call
    assert probe.block_release(block) == OK
    assert probe.release(live) == OK


def test_a_handle_holds_its_queue_as_a_python_object_does(probe: ModuleType, native: bool) -> None:
    q = si.create_queue()
    qid = q.id
    h = probe.handle(q)
    del q
    gc.collect()
    assert qid in [queue.id for queue in si.list_all_queues()]
    assert probe.put_bytes(h, b"kept", NOWAIT, native) == OK
    assert si.Queue(qid).get_nowait() == b"kept"
    gc.collect()
    rc, clone = probe.clone(h, native)
    assert probe.release(h, native) == OK
    assert qid in [queue.id for queue in si.list_all_queues()]  # the clone holds it
    assert probe.release(clone, native) == OK
    assert qid not in [queue.id for queue in si.list_all_queues()]  # the last holder went


def test_a_handle_holds_its_channel_end_open(probe: ModuleType, native: bool) -> None:
    recv, send = si.create_channel()
    h = probe.handle(send)
    del send
    gc.collect()
    assert probe.put_bytes(h, b"still open", NOWAIT, native) == OK
    assert recv.recv_nowait() == b"still open"
    assert probe.release(h, native) == OK  # the last holder of the send end: it closes
    with pytest.raises(si.ChannelClosedError):
        recv.recv_nowait()


# --- items: bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", bytes(range(256)) * 40], ids=["empty", "one", "10KiB"])
def test_bytes_cross_between_c_and_python(probe: ModuleType, native: bool, data: bytes) -> None:
    q = si.create_queue()
    recv, send = si.create_channel()
    qh, sh, rh = probe.handle(q), probe.handle(send), probe.handle(recv)
    assert probe.put_bytes(qh, data, NOWAIT, native) == OK
    got = q.get_nowait()
    assert type(got) is bytes and got == data
    q.put(data)
    assert probe.get(qh, NOWAIT, native) == (OK, ITEM_BYTES, data)
    assert probe.put_bytes(sh, data, NOWAIT, native) == OK  # send_nowait: queued
    assert recv.recv_nowait() == data
    send.send_nowait(data)
    assert probe.get(rh, FOREVER, native) == (OK, ITEM_BYTES, data)
    for h in (qh, sh, rh):
        probe.release(h)


def test_queue_codes_for_every_waiting_form(probe: ModuleType, native: bool) -> None:
    q = si.create_queue(1)
    h = probe.handle(q)
    assert probe.get(h, NOWAIT, native) == (QUEUE_EMPTY, 0, None)
    assert probe.get(h, SHORT, native) == (QUEUE_EMPTY, 0, None)
    assert probe.put_bytes(h, b"1", NOWAIT, native) == OK
    assert probe.put_bytes(h, b"2", NOWAIT, native) == QUEUE_FULL
    assert probe.put_bytes(h, b"3", SHORT, native) == QUEUE_FULL
    assert probe.get(h, FOREVER, native) == (OK, ITEM_BYTES, b"1")
    assert probe.put_bytes(h, b"4", FOREVER, native) == OK
    assert probe.close(h, native) == OK
    assert q.is_closed
    assert probe.put_bytes(h, b"5", NOWAIT, native) == QUEUE_CLOSED
    assert probe.get(h, FOREVER, native) == (OK, ITEM_BYTES, b"4")  # drained first
    assert probe.get(h, FOREVER, native) == (QUEUE_CLOSED, 0, None)
    assert probe.kind(h, native) == QUEUE  # still a valid handle
    assert probe.release(h, native) == OK


def test_channel_codes_for_every_waiting_form(probe: ModuleType, native: bool) -> None:
    recv, send = si.create_channel()
    sh, rh = probe.handle(send), probe.handle(recv)
    assert probe.get(rh, NOWAIT, native) == (CHANNEL_EMPTY, 0, None)
    assert probe.get(rh, SHORT, native) == (TIMEOUT, 0, None)
    # A send with a timeout is a rendezvous: no receiver, so the item is withdrawn.
    assert probe.put_bytes(sh, b"withdrawn", SHORT, native) == TIMEOUT
    with pytest.raises(si.ChannelEmptyError):
        recv.recv_nowait()
    assert probe.get(sh, NOWAIT, native) == (WRONG_KIND, 0, None)
    assert probe.put_bytes(rh, b"x", NOWAIT, native) == WRONG_KIND
    assert probe.put_bytes(sh, b"queued", NOWAIT, native) == OK
    assert probe.close(sh, native) == OK
    assert send.is_closed
    assert probe.put_bytes(sh, b"late", NOWAIT, native) == CHANNEL_CLOSED
    assert probe.get(rh, FOREVER, native) == (OK, ITEM_BYTES, b"queued")
    assert probe.get(rh, FOREVER, native) == (CHANNEL_CLOSED, 0, None)
    assert probe.close(rh, native) == OK and recv.is_closed
    probe.release(sh)
    probe.release(rh)


def test_a_rendezvous_send_from_c_completes_when_python_receives(probe: ModuleType) -> None:
    recv, send = si.create_channel()
    sh = probe.handle(send)
    token = probe.start_producer(sh, 3, 8, FOREVER)  # each send waits for its receiver
    got = [struct.unpack_from("q", recv.recv())[0] for _ in range(3)]
    assert got == [0, 1, 2]
    assert probe.join(token)[:2] == (OK, 3)
    probe.release(sh)


# --- the codes are the Python exceptions ----------------------------------------------------------


def python_raises(situation: str) -> type[BaseException]:
    """The exception Python raises in the situation the code describes."""
    q = si.create_queue(1)
    recv, send = si.create_channel()
    try:
        if situation == "queue-empty":
            q.get_nowait()
        elif situation == "queue-full":
            q.put_nowait(1)
            q.put_nowait(2)
        elif situation == "queue-closed":
            q.close()
            q.put(1)
        elif situation == "channel-empty":
            recv.recv_nowait()
        elif situation == "channel-timeout":
            recv.recv(timeout=SHORT)
        elif situation == "channel-closed":
            send.close()
            send.send_nowait(1)
    except BaseException as exc:
        return type(exc)
    raise AssertionError(f"{situation}: nothing raised")


@pytest.mark.parametrize(
    ("code", "situation", "expected"),
    [
        (QUEUE_EMPTY, "queue-empty", si.QueueEmpty),
        (QUEUE_FULL, "queue-full", si.QueueFull),
        (QUEUE_CLOSED, "queue-closed", si.QueueClosedError),
        (CHANNEL_EMPTY, "channel-empty", si.ChannelEmptyError),
        (TIMEOUT, "channel-timeout", TimeoutError),
        (CHANNEL_CLOSED, "channel-closed", si.ChannelClosedError),
    ],
)
def test_each_outcome_code_raises_what_python_raises(
    probe: ModuleType, code: int, situation: str, expected: type[BaseException]
) -> None:
    assert python_raises(situation) is expected
    with pytest.raises(BaseException) as raised:
        probe.raise_error(code)
    assert type(raised.value) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (BAD_HANDLE, ValueError),
        (WRONG_KIND, TypeError),
        (UNSUPPORTED_ITEM, TypeError),
        (INVALID_ARGUMENT, ValueError),
        (NO_MEMORY, MemoryError),
        (INTERNAL_ERROR, SystemError),
        (OK, SystemError),
        (-99, SystemError),
    ],
)
def test_the_other_codes_raise_builtin_exceptions(probe: ModuleType, code: int, expected: type) -> None:
    with pytest.raises(BaseException) as raised:
        probe.raise_error(code)
    assert type(raised.value) is expected


def test_raise_error_in_an_isolated_interpreter_uses_its_classes(probe: ModuleType, build_dir: Path) -> None:
    with si.create() as interp:
        interp.run(
            "import sys\nsys.path.insert(0, folder)\nimport _capi_probe\nimport subinterpreters as si\n"
            "try:\n    _capi_probe.raise_error(-5)\nexcept si.QueueEmpty:\n    pass\n"
            "else:\n    raise AssertionError('no QueueEmpty')\n",
            folder=str(build_dir),
        )


# --- items: shared blocks -----------------------------------------------------------------------


def test_a_block_made_in_c_arrives_as_a_shared_array_over_the_same_memory(
    probe: ModuleType, native: bool
) -> None:
    rc, block = probe.block_new("d", (3, 4), native)
    assert rc == OK
    rc, info = probe.block_info(block, native)
    assert rc == OK
    assert info["nbytes"] == 96 and info["itemsize"] == 8 and info["format"] == "d"
    assert info["shape"] == (3, 4) and info["strides"] == (32, 8) and info["aligned"] == 0
    assert info["readonly"] is False and info["is_buffer"] is False
    assert probe.block_read(block, 0, 96) == bytes(96)  # zero-filled
    assert probe.block_write(block, 8, struct.pack("d", 2.5)) == OK
    q = si.create_queue()
    h = probe.handle(q)
    assert probe.put_block(h, block, NOWAIT, native) == OK
    array = q.get_nowait()
    assert type(array) is si.SharedArray and array.format == "d" and array.shape == (3, 4)
    assert array.tolist()[0][:2] == [0.0, 2.5]
    memoryview(array).cast("B")[16:24] = struct.pack("d", 7.0)  # Python writes, C sees it
    assert probe.block_read(block, 16, 8) == struct.pack("d", 7.0)
    assert probe.block_release(block, native) == OK
    assert probe.block_release(block, native) == BAD_HANDLE
    assert array.tolist()[0][:3] == [0.0, 2.5, 7.0]  # the Python handle keeps the memory
    probe.release(h)


def test_a_buffer_made_in_c_arrives_as_a_shared_buffer(probe: ModuleType, native: bool) -> None:
    rc, block = probe.buffer_new(16, native)
    assert rc == OK
    assert probe.block_info(block, native)[1]["is_buffer"] is True
    assert probe.block_write(block, 0, b"zero-copy") == OK
    recv, send = si.create_channel()
    sh = probe.handle(send)
    assert probe.put_block(sh, block, NOWAIT, native) == OK
    got = recv.recv_nowait()
    assert type(got) is si.SharedBuffer and bytes(got)[:9] == b"zero-copy" and got.nbytes == 16
    probe.block_release(block)
    probe.release(sh)


def test_a_shared_array_put_from_python_arrives_in_c_as_a_block(probe: ModuleType, native: bool) -> None:
    q = si.create_queue()
    h = probe.handle(q)
    array = si.SharedArray((2, 3), "i")
    memoryview(array).cast("B")[:4] = struct.pack("i", 42)
    q.put(array)
    q.put(array.readonly())
    rc, kind, block = probe.get(h, NOWAIT, native)
    assert (rc, kind) == (OK, ITEM_BLOCK)
    info = probe.block_info(block, native)[1]
    assert info["format"] == "i" and info["shape"] == (2, 3) and info["strides"] == (12, 4)
    assert info["readonly"] is False and probe.block_read(block, 0, 4) == struct.pack("i", 42)
    assert probe.block_write(block, 4, struct.pack("i", 43)) == OK
    assert array.tolist()[0][:2] == [42, 43]  # the same memory
    assert probe.item_clear_block(block, native) == OK
    assert probe.item_clear_block(block, native) == BAD_HANDLE  # cleared already
    rc, kind, readonly = probe.get(h, NOWAIT, native)
    assert probe.block_info(readonly, native)[1]["readonly"] is True
    assert probe.block_release(readonly, native) == OK
    buffer = si.SharedBuffer(5)
    q.put(buffer)
    rc, kind, block = probe.get(h, NOWAIT, native)
    info = probe.block_info(block, native)[1]
    assert info["is_buffer"] is True and info["nbytes"] == 5 and info["format"] == "B"
    assert probe.item_clear_block(block, native) == OK
    probe.release(h)


@pytest.mark.parametrize(
    ("format_", "shape"),
    [("x", (2,)), ("dd", (2,)), ("d", (-1,)), ("d", tuple([1] * 9)), ("d", (2**62, 2**62))],
    ids=["unknown-format", "two-items", "negative-extent", "too-many-dimensions", "too-large"],
)
def test_invalid_block_shapes_are_refused(probe: ModuleType, format_: str, shape: tuple[int, ...]) -> None:
    assert probe.block_new(format_, shape) == (INVALID_ARGUMENT, 0)


def test_a_block_of_default_format_and_no_dimensions(probe: ModuleType) -> None:
    rc, block = probe.block_new(None, ())
    info = probe.block_info(block)[1]
    assert rc == OK and info["format"] == "B" and info["shape"] == () and info["nbytes"] == 1
    probe.block_release(block)


# --- items C cannot take stay in place ----------------------------------------------------------


@pytest.mark.parametrize("item", [1, "text", bytearray(b"x"), {"a": 1}, (b"x",)], ids=repr)
def test_an_item_c_cannot_take_stays_first_in_line(probe: ModuleType, native: bool, item: object) -> None:
    q = si.create_queue()
    h = probe.handle(q)
    q.put(item)
    q.put(b"after")
    assert probe.get(h, FOREVER, native) == (UNSUPPORTED_ITEM, 0, None)
    assert probe.get(h, NOWAIT, native) == (UNSUPPORTED_ITEM, 0, None)  # still there, still first
    assert q.get_nowait() == item
    assert probe.get(h, NOWAIT, native) == (OK, ITEM_BYTES, b"after")
    recv, send = si.create_channel()
    rh = probe.handle(recv)
    send.send_nowait(1)
    assert probe.get(rh, NOWAIT, native) == (UNSUPPORTED_ITEM, 0, None)
    assert recv.recv_nowait() == 1
    probe.release(h)
    probe.release(rh)


# --- across isolated interpreters ---------------------------------------------------------------


def test_handles_cross_isolated_interpreters(probe: ModuleType, build_dir: Path) -> None:
    q = si.create_queue()
    main_handle = probe.handle(q)
    source = (
        "import sys\nsys.path.insert(0, folder)\nimport _capi_probe as probe\n"
        # The main interpreter's handle, used here; and this interpreter's own, left to main.
        "assert probe.put_bytes(main_handle, b'from the worker', 0.0, True) == 0\n"
        "mine = probe.handle(q)\n"
        "assert probe.put_bytes(mine, b'own handle', 0.0) == 0\n"
        "out.send_nowait(mine)\n"
    )
    recv, out = si.create_channel()
    with si.create() as interp:
        interp.run(source, folder=str(build_dir), main_handle=main_handle, q=q, out=out)
        assert q.get_nowait() == b"from the worker"
        assert q.get_nowait() == b"own handle"
        worker_handle = recv.recv_nowait()
        # A C consumer in the worker, a C producer here, on the worker's handle.
        interp.run("import _capi_probe as probe\ntoken = probe.start_consumer(h, -1.0)\n", h=worker_handle)
        token = probe.start_producer(main_handle, 100, 8, FOREVER)
        assert probe.join(token)[:2] == (OK, 100)
        probe.close(main_handle)
        interp.run("result = probe.join(token)\nout.send_nowait(result)\n", out=out)
        assert recv.recv_nowait() == (QUEUE_CLOSED, 100, sum(range(100)), 0)
    # The worker is gone; its handle is not.
    assert probe.kind(worker_handle, True) == QUEUE
    assert probe.release(worker_handle, True) == OK
    assert probe.release(main_handle, True) == OK


# --- native threads racing ----------------------------------------------------------------------


def test_native_producers_and_consumers_account_for_every_item(probe: ModuleType) -> None:
    q = si.create_queue(16)  # small: producers block for room
    h = probe.handle(q)
    producers = [probe.start_producer(h, 5000, 8, FOREVER) for _ in range(3)]
    consumers = [probe.start_consumer(h, FOREVER) for _ in range(3)]
    produced = [probe.join(token) for token in producers]
    assert all(rc == OK and count == 5000 for rc, count, _, _ in produced)
    probe.close(h)  # the consumers drain, then see the queue closed
    consumed = [probe.join(token) for token in consumers]
    assert all(rc == QUEUE_CLOSED for rc, *_ in consumed)
    assert sum(count for _, count, _, _ in consumed) == 15000
    assert sum(total for _, _, total, _ in consumed) == 3 * sum(range(5000))
    probe.release(h)


@pytest.mark.parametrize("kind", ["queue", "channel"])
def test_closes_and_timeouts_racing_lose_nothing(probe: ModuleType, kind: str) -> None:
    """Producers and consumers with short timeouts (retried) on a small queue or a rendezvous
    channel; the producing end is closed while they run. Every item a producer counts as put is
    taken exactly once: by a consumer, or by the drain after."""
    if kind == "queue":
        q = si.create_queue(4)
        put_handle = get_handle = probe.handle(q)
        closed = QUEUE_CLOSED
    else:
        recv, send = si.create_channel()
        put_handle, get_handle = probe.handle(send), probe.handle(recv)
        closed = CHANNEL_CLOSED
    producers = [probe.start_producer(put_handle, 10**9, 8, 0.0005, True) for _ in range(2)]
    consumers = [probe.start_consumer(get_handle, 0.0005, True) for _ in range(2)]
    # Let items flow: this thread takes 200 too (the consumers race it for them), then closes.
    for _ in range(200):
        assert probe.get(get_handle, FOREVER)[:2] == (OK, ITEM_BYTES)
    probe.close(put_handle)
    produced = [probe.join(token) for token in producers]
    consumed = [probe.join(token) for token in consumers]
    assert all(rc == closed for rc, *_ in produced + consumed)
    drained = 0
    while (got := probe.get(get_handle, NOWAIT))[0] == OK:
        drained += 1
    assert got[0] == closed
    put = sum(count for _, count, _, _ in produced)
    taken = 200 + drained + sum(count for _, count, _, _ in consumed)
    assert put == taken
    for h in {put_handle, get_handle}:
        probe.release(h)


def test_consumers_blocked_for_ever_are_woken_by_a_close_from_python(probe: ModuleType) -> None:
    recv, send = si.create_channel()
    rh = probe.handle(recv)
    consumers = [probe.start_consumer(rh, FOREVER) for _ in range(4)]
    send.close()
    assert [probe.join(token)[:2] for token in consumers] == [(CHANNEL_CLOSED, 0)] * 4
    probe.release(rh)


def test_the_process_exits_cleanly_under_native_threads_still_using_handles(
    probe: ModuleType, build_dir: Path, tmp_path: Path
) -> None:
    """Exit without closing anything while a native producer blocks on a full queue, a native
    consumer blocks on an empty channel and an isolated interpreter holds a handle: the exit hook
    closes them, which wakes both threads, and the process ends normally."""
    proc = run_script(
        tmp_path,
        f"""
        import sys
        sys.path.insert(0, {str(build_dir)!r})
        import _capi_probe as probe
        import subinterpreters as si

        q = si.create_queue(2)
        recv, send = si.create_channel()
        producer = probe.start_producer(probe.handle(q), 10**9, 8, -1.0)
        consumer = probe.start_consumer(probe.handle(recv), -1.0)
        interp = si.create()
        interp.run("import sys; sys.path.insert(0, folder); import _capi_probe; h = _capi_probe.handle(q)",
                   folder={str(build_dir)!r}, q=q)
        assert q.get() == bytes(8)  # the producer runs
        print("ready", flush=True)
        """,
    )
    assert_clean_exit(proc, 0, ready=True)


# --- the example of the docs --------------------------------------------------------------------


def test_the_docs_example_extension_builds_and_its_session_runs(probe: ModuleType, tmp_path: Path) -> None:
    capi_build.build_doc_example(tmp_path)
    text = capi_build.DOC.read_text(encoding="utf-8")
    session = re.search(r"<!-- the example session -->\n```pycon\n(.*?)```", text, re.S)
    assert session is not None
    test = doctest.DocTestParser().get_doctest(session.group(1), {}, "c-api.md", str(capi_build.DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)
    assert runner.tries > 10
