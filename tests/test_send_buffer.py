"""send_buffer (issue 4): SendChannel.send_buffer/send_buffer_nowait hand any buffer exporter over
without copying; the receiver gets a read-only memoryview with the exporter's format, shape and
strides over the exporter's memory, within one interpreter and between interpreters both ways; the
exporter stays held until the view is released (or the item is dropped unreceived) and is released
in its own interpreter; non-buffers and timeouts send nothing; closing an interpreter whose buffer is
still viewed elsewhere raises RuntimeError naming the holder. Also non-strict channels
(create_channel(strict=False)), which pickle what cannot cross natively."""

from __future__ import annotations

import array
import ctypes
import mmap
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import subinterpreters as si
from helpers import ADDRESS_SOURCE, buffer_address, evaluate_body, needs_ctypes_in_isolated

SETTLE = 0.2
JOIN_TIMEOUT = 10.0

# Exporters, as source evaluated in whichever interpreter sends them.
EXPORTER_SETUP = "import array, mmap\nimport subinterpreters as si\n"
EXPORTERS = {
    "bytes": "b'abcdef'",
    "bytearray": "bytearray(b'xyz')",
    "array-d": "array.array('d', [1.5, -2.0, 3.25])",
    "2d-cast": "memoryview(bytearray(range(24))).cast('i', (2, 3))",
    "strided": "memoryview(bytearray(range(12)))[::3]",
    "strided-rows": "memoryview(bytes(range(24))).cast('B', (6, 4))[::2]",
    "reversed": "memoryview(bytes(range(6)))[::-1]",
    "zero-dim": "memoryview(array.array('q', [-7])).cast('B').cast('q', ())",
    "shared-array": (
        "si.SharedArray.from_buffer(memoryview(array.array('h', range(6))).cast('B').cast('h', (3, 2)))"
    ),
    "mmap": "mmap.mmap(-1, 16)",
}

# What the receiver reports about the view (tolist as a repr: lists cannot cross a strict channel).
DESCRIBE = (
    "(type(v) is memoryview, v.readonly, v.format, v.itemsize, v.ndim, v.shape, v.strides, "
    "repr(v.tolist()), v.tobytes())"
)


def make(name: str) -> object:
    namespace: dict[str, object] = {"array": array, "mmap": mmap, "si": si}
    return eval(EXPORTERS[name], namespace)


def expected_description(exporter: object) -> tuple:
    v = memoryview(exporter)
    return (True, True, v.format, v.itemsize, v.ndim, v.shape, v.strides, repr(v.tolist()), v.tobytes())


def describe(v: memoryview) -> tuple:
    return eval(DESCRIBE, {"v": v})


def resizable(buf: bytearray) -> bool:
    """True if nothing holds an export of `buf` (a held bytearray refuses to resize)."""
    try:
        buf.append(0)
    except BufferError:
        return False
    buf.pop()
    return True


def close_eventually(interp: si.Interpreter, wait_until) -> bool:
    """Close `interp`, retrying while a release may still be on its way to it."""

    def attempt() -> bool:
        try:
            interp.close()
        except RuntimeError:
            return False
        return True

    return wait_until(attempt)


def names_holder(message: str, holder: si.Interpreter) -> bool:
    return "interpreter" in message.lower() and re.search(rf"\b{holder.id}\b", message) is not None


def close_quietly(interp: si.Interpreter) -> None:
    """Teardown only: close `interp` if nothing blocks it (a failed test may leave a view held)."""
    try:
        interp.close()
    except RuntimeError:
        pass


class RecordingExporter:
    """A Python-level exporter (PEP 688) recording the interpreter that releases each view."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.released: list[int] = []

    def __buffer__(self, flags: int) -> memoryview:
        return memoryview(self.data)

    def __release_buffer__(self, view: memoryview) -> None:
        self.released.append(si.get_current().id)


RECORDING_EXPORTER_SOURCE = """
import subinterpreters as si

class RecordingExporter:
    def __init__(self, data):
        self.data = bytearray(data)
        self.released = []

    def __buffer__(self, flags):
        return memoryview(self.data)

    def __release_buffer__(self, view):
        self.released.append(si.get_current().id)
"""


# --- what the receiver gets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPORTERS))
def test_receiver_gets_read_only_view_with_exporter_layout(name, channel) -> None:
    recv, send = channel
    exporter = make(name)
    send.send_buffer_nowait(exporter)
    got = recv.recv_nowait()
    assert describe(got) == expected_description(exporter)
    assert buffer_address(got) == buffer_address(exporter)
    got.release()


def test_view_is_over_the_exporters_memory(channel) -> None:
    recv, send = channel
    ba = bytearray(b"0123456789")
    send.send_buffer_nowait(ba)
    v = recv.recv_nowait()
    # Zero copy: the same address as ctypes reports for the bytearray, and later writes show.
    assert buffer_address(v) == ctypes.addressof(ctypes.c_char.from_buffer(ba))
    ba[0] = ord("X")
    assert v.tobytes() == b"X123456789"
    with pytest.raises(TypeError):
        v[1] = 0
    v.release()


@pytest.mark.parametrize("name", list(EXPORTERS))
def test_main_to_isolated_interpreter(name, channel, shared_interp) -> None:
    recv, send = channel
    exporter = make(name)
    send.send_buffer_nowait(exporter)
    got = evaluate_body(shared_interp, f"v = r.recv_nowait()\nresult = {DESCRIBE}", r=recv)
    assert got == expected_description(exporter)


@needs_ctypes_in_isolated
def test_isolated_receiver_sees_exporter_address(channel, shared_interp) -> None:
    recv, send = channel
    ba = bytearray(4096)
    send.send_buffer_nowait(ba)
    got = evaluate_body(
        shared_interp, ADDRESS_SOURCE + "v = r.recv_nowait()\nresult = buffer_address(v)\n", r=recv
    )
    assert got == ctypes.addressof(ctypes.c_char.from_buffer(ba))


@pytest.mark.parametrize("name", list(EXPORTERS))
def test_isolated_interpreter_to_main(name, channel, interp, wait_until) -> None:
    recv, send = channel
    interp.run(
        EXPORTER_SETUP + f"exporter = {EXPORTERS[name]}\ns.send_buffer_nowait(exporter)\ndel s",
        s=send,
    )
    v = recv.recv_nowait()
    try:
        assert describe(v) == expected_description(make(name))
        if sys.version_info >= (3, 13):
            address = evaluate_body(interp, ADDRESS_SOURCE + "result = buffer_address(exporter)\n")
            assert address == buffer_address(v)
    finally:
        v.release()
    assert close_eventually(interp, wait_until)  # the view is released: nothing blocks closing


def test_writes_by_exporting_interpreter_are_seen_by_main(channel, interp, wait_until) -> None:
    recv, send = channel
    interp.run("ba = bytearray(8)\ns.send_buffer_nowait(ba)\ndel s", s=send)
    v = recv.recv_nowait()
    interp.exec("ba[2] = 42\nba[7] = 7")
    assert v.tolist() == [0, 0, 42, 0, 0, 0, 0, 7]
    v.release()
    assert close_eventually(interp, wait_until)


def test_between_two_isolated_interpreters(wait_until) -> None:
    recv, send = si.create_channel()
    a, b = si.create(), si.create()
    try:
        a.run("import array\nexp = array.array('i', [1, 2, 3])\ns.send_buffer_nowait(exp)", s=send)
        b.run("v = r.recv_nowait()", r=recv)
        a.exec("exp[1] = 20")
        got = evaluate_body(b, "result = (v.format, v.readonly, tuple(v.tolist()))")
        assert got == ("i", True, (1, 20, 3))
        b.exec("v.release()\ndel v")
        assert close_eventually(a, wait_until)
    finally:
        b.close()
        close_quietly(a)
        recv.close()
        send.close()


def test_blocking_send_buffer_returns_once_received(channel, spawn) -> None:
    recv, send = channel
    ba = bytearray(b"abc")
    task = spawn(send.send_buffer, ba)
    time.sleep(SETTLE)
    assert not task.done, "send_buffer() returned before anyone received"
    v = recv.recv(timeout=JOIN_TIMEOUT)
    assert task.result() is None
    assert v.tobytes() == b"abc" and v.readonly
    v.release()


def test_blocking_send_buffer_from_isolated_interpreter(channel, interp, spawn, wait_until):
    recv, send = channel
    task = spawn(interp.run, "import array\ns.send_buffer(array.array('d', [0.5, 1.5]))", s=send)
    v = recv.recv(timeout=JOIN_TIMEOUT)
    task.result()
    assert (v.format, v.tolist()) == ("d", [0.5, 1.5])
    v.release()
    assert close_eventually(interp, wait_until)


def test_received_through_select_and_iteration(channel) -> None:
    recv, send = channel
    send.send_buffer_nowait(b"one")
    index, v = si.select([recv], timeout=JOIN_TIMEOUT)
    assert index == 0 and type(v) is memoryview and v.tobytes() == b"one" and v.readonly
    send.send_buffer_nowait(array.array("h", [1, -1]))
    send.close()
    views = list(recv)
    assert [(w.format, w.tolist()) for w in views] == [("h", [1, -1])]


def test_mixed_with_ordinary_sends_in_order(channel) -> None:
    recv, send = channel
    send.send_nowait("before")
    send.send_buffer_nowait(b"data")
    send.send_nowait(b"data")
    got = [recv.recv_nowait() for _ in range(3)]
    assert got[0] == "before"
    assert type(got[1]) is memoryview and got[1].tobytes() == b"data"
    assert type(got[2]) is bytes  # plain send() still sends a bytes object


# --- the exporter is held until the view is released ---------------------------------------------------


def test_exporter_held_while_queued_and_viewed_then_released(channel, wait_until) -> None:
    recv, send = channel
    ba = bytearray(16)
    send.send_buffer_nowait(ba)
    assert not resizable(ba), "queued: the exporter must already be held"
    v = recv.recv_nowait()
    with pytest.raises(BufferError):
        ba.extend(b"more")
    v.release()
    assert wait_until(lambda: resizable(ba))


def test_exporter_released_when_view_is_garbage(channel, wait_until) -> None:
    recv, send = channel
    ba = bytearray(16)
    send.send_buffer_nowait(ba)
    v = recv.recv_nowait()
    assert not resizable(ba)
    del v
    assert wait_until(lambda: resizable(ba))


def test_exporter_held_while_isolated_receiver_keeps_view(channel, shared_interp, wait_until):
    recv, send = channel
    ba = bytearray(b"held")
    send.send_buffer_nowait(ba)
    shared_interp.run("v = r.recv_nowait()\ndel r", r=recv)
    try:
        assert evaluate_body(shared_interp, "result = v.tobytes()") == b"held"
        with pytest.raises(BufferError):
            ba.append(0)
        shared_interp.exec("v.release()")
        assert wait_until(lambda: resizable(ba))
    finally:
        shared_interp.exec("del v")


def test_isolated_exporter_held_while_main_keeps_view(channel, interp, wait_until) -> None:
    recv, send = channel
    interp.run("ba = bytearray(b'held')\ns.send_buffer_nowait(ba)\ndel s", s=send)
    probe = (
        "try:\n    ba.append(0)\n    ba.pop()\n    result = True\nexcept BufferError:\n    result = False\n"
    )
    assert evaluate_body(interp, probe) is False
    v = recv.recv_nowait()
    assert evaluate_body(interp, probe) is False
    v.release()
    assert wait_until(lambda: evaluate_body(interp, probe))


def test_exporter_released_in_its_own_interpreter_when_isolated_receiver_releases(
    channel, shared_interp, wait_until
) -> None:
    recv, send = channel
    exporter = RecordingExporter(b"abc")
    send.send_buffer_nowait(exporter)
    assert evaluate_body(shared_interp, "v = r.recv_nowait()\nresult = v.tobytes()", r=recv) == b"abc"
    assert wait_until(lambda: exporter.released)
    assert exporter.released == [si.get_main().id]


def test_exporter_released_in_its_own_interpreter_when_main_releases(channel, interp, wait_until) -> None:
    recv, send = channel
    interp.run(
        RECORDING_EXPORTER_SOURCE + "exp = RecordingExporter(b'xyz')\ns.send_buffer_nowait(exp)\n",
        s=send,
    )
    v = recv.recv_nowait()
    assert v.tobytes() == b"xyz"
    assert evaluate_body(interp, "result = len(exp.released)") == 0
    v.release()
    assert wait_until(lambda: evaluate_body(interp, "result = len(exp.released)") == 1)
    assert evaluate_body(interp, "result = tuple(exp.released)") == (interp.id,)


def test_exporter_released_when_receiving_end_closed(wait_until) -> None:
    recv, send = si.create_channel()
    ba = bytearray(8)
    send.send_buffer_nowait(ba)
    assert not resizable(ba)
    recv.close()
    assert wait_until(lambda: resizable(ba))
    send.close()


def test_exporter_stays_held_after_only_send_end_closed(wait_until) -> None:
    recv, send = si.create_channel()
    try:
        ba = bytearray(b"still here")
        send.send_buffer_nowait(ba)
        send.close()  # queued objects stay for receivers to drain
        assert not resizable(ba)
        v = recv.recv_nowait()
        assert v.tobytes() == b"still here"
        v.release()
        assert wait_until(lambda: resizable(ba))
    finally:
        recv.close()


def test_timed_out_send_buffer_sends_nothing_and_releases(channel, wait_until) -> None:
    recv, send = channel
    ba = bytearray(8)
    with pytest.raises(TimeoutError):
        send.send_buffer(ba, timeout=0.05)
    assert recv.recv_nowait(None) is None
    assert wait_until(lambda: resizable(ba))


def test_send_buffer_on_closed_channel_holds_nothing(channel) -> None:
    recv, send = channel
    send.close()
    ba = bytearray(4)
    with pytest.raises(si.ChannelClosedError):
        send.send_buffer_nowait(ba)
    with pytest.raises(si.ChannelClosedError):
        send.send_buffer(ba, timeout=0.05)
    assert resizable(ba)


# --- non-buffers -------------------------------------------------------------------------------------


NON_BUFFERS = [[1, 2], "text", 42, None, object(), {"a": 1}, (b"x",), 1.5]


@pytest.mark.parametrize("obj", NON_BUFFERS, ids=lambda o: type(o).__name__)
def test_non_buffer_is_type_error_and_nothing_sent(obj, channel) -> None:
    recv, send = channel
    with pytest.raises(TypeError):
        send.send_buffer_nowait(obj)
    with pytest.raises(TypeError):
        send.send_buffer(obj, timeout=0.05)
    assert recv.recv_nowait(None) is None


def test_non_buffer_gives_waiting_receiver_nothing(channel, spawn) -> None:
    recv, send = channel
    task = spawn(recv.recv, timeout=2 * SETTLE + 0.5)
    time.sleep(SETTLE)
    with pytest.raises(TypeError):
        send.send_buffer_nowait(["not", "a", "buffer"])
    send.send_buffer_nowait(b"real")
    got = task.result()
    assert type(got) is memoryview and got.tobytes() == b"real"


def test_non_buffer_refused_inside_isolated_interpreter(channel, shared_interp) -> None:
    recv, send = channel
    got = evaluate_body(
        shared_interp,
        """
        try:
            s.send_buffer_nowait([1, 2, 3])
            result = "sent"
        except TypeError:
            result = "TypeError"
        """,
        s=send,
    )
    assert got == "TypeError"
    assert recv.recv_nowait(None) is None


# --- closing an interpreter whose buffer is viewed elsewhere ----------------------------------------


def test_close_while_another_interpreter_views_its_buffer(wait_until) -> None:
    recv, send = si.create_channel()
    exporter = si.create()
    holder = si.create()
    try:
        exporter.run("ba = bytearray(b'exported')\ns.send_buffer_nowait(ba)\ndel s", s=send)
        holder.run("v = r.recv_nowait()", r=recv)
        with pytest.raises(RuntimeError) as info:
            exporter.close()
        assert names_holder(str(info.value), holder), str(info.value)
        # Nothing was closed: both interpreters still work, the view still reads the memory.
        exporter.exec("ba[0] = ord('E')")
        assert evaluate_body(holder, "result = v.tobytes()") == b"Exported"
        holder.exec("v.release()\ndel v")
        assert close_eventually(exporter, wait_until)
    finally:
        close_quietly(holder)
        close_quietly(exporter)
        recv.close()
        send.close()


def test_close_while_main_views_its_buffer(channel, wait_until) -> None:
    recv, send = channel
    exporter = si.create()
    try:
        exporter.run("import array\na = array.array('d', [1.0])\ns.send_buffer_nowait(a)", s=send)
        v = recv.recv_nowait()
        with pytest.raises(RuntimeError) as info:
            exporter.close()
        assert names_holder(str(info.value), si.get_main()), str(info.value)
        assert v.tolist() == [1.0]
        v.release()
        assert close_eventually(exporter, wait_until)
    finally:
        close_quietly(exporter)


def test_close_while_its_buffer_waits_unreceived_in_a_channel(wait_until) -> None:
    recv, send = si.create_channel()
    exporter = si.create()
    try:
        exporter.run("ba = bytearray(3)\ns.send_buffer_nowait(ba)\ndel s", s=send)
        with pytest.raises(RuntimeError):
            exporter.close()
        exporter.exec("pass")  # still alive
        recv.close()  # drops the unreceived item
        assert close_eventually(exporter, wait_until)
    finally:
        close_quietly(exporter)
        recv.close()
        send.close()


def test_closing_the_holder_releases_its_views(wait_until) -> None:
    recv, send = si.create_channel()
    exporter = si.create()
    holder = si.create()
    try:
        exporter.run("ba = bytearray(5)\ns.send_buffer_nowait(ba)\ndel s", s=send)
        holder.run("v = r.recv_nowait()\ndel r", r=recv)
        with pytest.raises(RuntimeError):
            exporter.close()
        holder.close()
        assert close_eventually(exporter, wait_until)
    finally:
        close_quietly(holder)
        close_quietly(exporter)
        recv.close()
        send.close()


def assert_exits_cleanly(code: str, cwd) -> None:
    """Run `code` in a fresh process: it must print "ready" and exit 0 without a fatal error."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=cwd)
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "ready" in proc.stdout, details
    assert "Fatal Python error" not in proc.stderr, details
    assert "Traceback" not in proc.stderr, details
    assert proc.returncode == 0, details


def test_process_exit_with_views_still_held(tmp_path) -> None:
    # At exit the package closes the holders before the exporters (here created first).
    code = textwrap.dedent(
        """
        import subinterpreters as si
        r, s = si.create_channel()
        exporter = si.create()
        holder = si.create()
        exporter.run("ba = bytearray(b'abc')\\ns.send_buffer_nowait(ba)", s=s)
        holder.run("v = r.recv_nowait()", r=r)
        exporter.run("s.send_buffer_nowait(bytearray(4))", s=s)  # and one left unreceived
        print("ready", flush=True)
        """
    )
    assert_exits_cleanly(code, tmp_path)


# --- non-strict channels -------------------------------------------------------------------------------


def test_channels_are_strict_by_default() -> None:
    recv, send = si.create_channel()
    try:
        assert recv.strict is True and send.strict is True
        with pytest.raises(si.NotShareableError):
            send.send_nowait([1, object()])
        with pytest.raises(si.NotShareableError):
            send.send([1, object()], timeout=0.05)
        assert recv.recv_nowait(None) is None
    finally:
        recv.close()
        send.close()


@pytest.mark.parametrize("strict", [True, False])
def test_strict_property_on_both_ends(strict) -> None:
    recv, send = si.create_channel(strict=strict)
    try:
        assert recv.strict is strict and send.strict is strict
        for end in (recv, send):
            with pytest.raises(AttributeError):
                end.strict = not strict  # type: ignore[misc]
    finally:
        recv.close()
        send.close()


def test_strict_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        si.create_channel(False)  # type: ignore[misc]


def test_strictness_travels_with_the_ends(shared_interp) -> None:
    recv, send = si.create_channel(strict=False)
    try:
        got = evaluate_body(shared_interp, "result = (r.strict, s.strict)", r=recv, s=send)
        assert got == (False, False)
        recv2, send2 = si.create_channel()
        try:
            got = evaluate_body(shared_interp, "result = (r.strict, s.strict)", r=recv2, s=send2)
            assert got == (True, True)
        finally:
            recv2.close()
            send2.close()
    finally:
        recv.close()
        send.close()


PICKLED = [[1, 2, [3]], {"a": 1, "b": [2, 3]}, {1, 2}, bytearray(b"ab"), (1, [2]), complex(1, 2)]


@pytest.fixture
def loose_channel():
    recv, send = si.create_channel(strict=False)
    yield recv, send
    recv.close()
    send.close()


def test_non_strict_channel_pickles_other_objects(loose_channel) -> None:
    recv, send = loose_channel
    for item in PICKLED:
        send.send_nowait(item)
    got = [recv.recv_nowait() for _ in PICKLED]
    assert got == PICKLED
    assert [type(x) for x in got] == [type(x) for x in PICKLED]
    assert all(g is not p for g, p in zip(got, PICKLED, strict=True))


def test_non_strict_send_is_a_snapshot(loose_channel) -> None:
    recv, send = loose_channel
    item = {"k": [1]}
    send.send_nowait(item)
    item["k"].append(2)
    assert recv.recv_nowait() == {"k": [1]}


def test_non_strict_blocking_send(loose_channel, spawn) -> None:
    recv, send = loose_channel
    task = spawn(send.send, [1, {"two": 2}])
    assert recv.recv(timeout=JOIN_TIMEOUT) == [1, {"two": 2}]
    assert task.result() is None


def test_non_strict_channel_across_interpreters(loose_channel, shared_interp) -> None:
    recv, send = loose_channel
    send.send_nowait({"from": "main", "items": [1, 2]})
    got = evaluate_body(
        shared_interp,
        """
        x = r.recv_nowait()
        result = x == {"from": "main", "items": [1, 2]} and type(x) is dict
        s.send_nowait(["from", "sub", {3}])
        """,
        r=recv,
        s=send,
    )
    assert got is True
    assert recv.recv_nowait() == ["from", "sub", {3}]


def _gen():
    yield 1


@pytest.mark.parametrize(
    "make_obj",
    [lambda: lambda: 0, lambda: _gen(), lambda: threading.Lock(), lambda: [1, _gen()]],
    ids=["lambda", "generator", "lock", "list-holding-generator"],
)
def test_non_strict_refuses_unpicklable_and_sends_nothing(make_obj, loose_channel) -> None:
    recv, send = loose_channel
    with pytest.raises(si.NotShareableError):
        send.send_nowait(make_obj())
    with pytest.raises(si.NotShareableError):
        send.send(make_obj(), timeout=0.05)
    assert recv.recv_nowait(None) is None


def test_non_strict_channel_sends_shareable_objects_natively(loose_channel) -> None:
    recv, send = loose_channel
    a = si.SharedArray(4, "i")
    other_recv, other_send = si.create_channel()
    try:
        send.send_nowait((a, other_send, 5, "s"))
        got_a, got_send, n, s = recv.recv_nowait()
        assert (n, s) == (5, "s")
        # Neither could survive a pickle round trip as the same object: they crossed natively.
        assert buffer_address(got_a) == buffer_address(a)
        assert got_send == other_send
        got_send.send_nowait("through")
        assert other_recv.recv_nowait() == "through"
    finally:
        other_recv.close()
        other_send.close()


def test_send_buffer_on_non_strict_channel_is_still_zero_copy(loose_channel) -> None:
    recv, send = loose_channel
    ba = bytearray(b"zero-copy")
    send.send_buffer_nowait(ba)
    v = recv.recv_nowait()
    assert type(v) is memoryview and v.readonly
    assert buffer_address(v) == buffer_address(ba)
    v.release()


@pytest.mark.parametrize(
    "scenario",
    ["main-holds-sub", "cycle"],
)
def test_process_exit_with_views_that_cannot_be_released_first(scenario, tmp_path) -> None:
    # The main interpreter holds a view of a subinterpreter's buffer (the main one is never
    # closed), or two interpreters hold views of each other's: no closing order releases them, so
    # the exit hook abandons those releases and still ends every interpreter cleanly.
    setups = {
        "main-holds-sub": """
            exporter.run("ba = bytearray(b'abc')\\ns.send_buffer_nowait(ba)", s=s)
            view = r.recv_nowait()
            assert bytes(view) == b"abc"
            """,
        "cycle": """
            other = si.create()
            exporter.run("ba = bytearray(b'abc')\\ns.send_buffer_nowait(ba)", s=s)
            other.run("v = r.recv_nowait()\\nbb = bytearray(b'xyz')\\ns.send_buffer_nowait(bb)", r=r, s=s)
            exporter.run("w = r.recv_nowait()", r=r)
            for interp in (exporter, other):
                try:
                    interp.close()
                except RuntimeError as exc:
                    assert "still holds a view" in str(exc), exc
                else:
                    raise AssertionError("closed although another interpreter views its buffer")
            """,
    }
    code = (
        "import subinterpreters as si\n"
        "r, s = si.create_channel()\n"
        "exporter = si.create()\n" + textwrap.dedent(setups[scenario]) + "print('ready', flush=True)\n"
    )
    assert_exits_cleanly(code, tmp_path)
