"""numpy round trips (issue 4): numpy.asarray(SharedArray) is a zero-copy array of the right dtype
and shape; SharedArray.from_buffer keeps a numpy array's dtype and shape; numpy arrays sent with
send_buffer reach isolated interpreters as typed memoryviews; arrays written by isolated workers are
seen by numpy in the main interpreter. numpy loads in only one interpreter per process, so the
legacy-interpreter round trip runs in a child process whose main interpreter never imports numpy.
Importing numpy in an isolated interpreter fails with ImportError (workers use memoryviews)."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

import subinterpreters as si
from helpers import dedent, evaluate_body, run_python

np = pytest.importorskip(
    "numpy", reason="numpy is not installed in this environment (make python-test installs it)"
)

CHILD_TIMEOUT = 100


def data_pointer(arr) -> int:
    return arr.__array_interface__["data"][0]


def shared_address(a: si.SharedArray) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(memoryview(a).cast("B")))


def run_child(tmp_path, code: str) -> subprocess.CompletedProcess[str]:
    return run_python("-c", dedent(code), timeout=CHILD_TIMEOUT, cwd=tmp_path, what="child")


# --- the main interpreter -------------------------------------------------------------------------


def test_asarray_of_shared_array_is_zero_copy() -> None:
    a = si.SharedArray((2, 3), "d")
    arr = np.asarray(a)
    assert arr.dtype == np.float64
    assert arr.shape == (2, 3)
    assert arr.strides == (24, 8)
    assert arr.flags.writeable and arr.flags.c_contiguous
    assert data_pointer(arr) == shared_address(a)
    assert data_pointer(arr) % 64 == 0
    arr[0, 1] = 2.5
    assert memoryview(a)[0, 1] == 2.5
    memoryview(a)[1, 2] = 7.0
    assert arr[1, 2] == 7.0
    assert a.tolist() == [[0.0, 2.5, 0.0], [0.0, 0.0, 7.0]]


@pytest.mark.parametrize("code", list("bBhHiIlLqQfde?"))
def test_asarray_dtype_matches_format(code) -> None:
    a = si.SharedArray((4, 2), code)
    arr = np.asarray(a)
    assert arr.dtype == np.dtype(code)
    assert arr.shape == (4, 2)
    assert not arr.any()  # zero-filled


def test_asarray_of_read_only_array_is_not_writeable() -> None:
    a = si.SharedArray(5, "i")
    arr = np.asarray(a.readonly())
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    memoryview(a)[0] = 3
    assert arr[0] == 3


def test_numpy_view_outlives_the_handle() -> None:
    a = si.SharedArray(1000, "q")
    arr = np.asarray(a)
    del a
    arr[:] = np.arange(1000)
    assert int(arr.sum()) == 999 * 1000 // 2


def test_from_buffer_keeps_numpy_dtype_and_shape() -> None:
    src = np.arange(12, dtype=np.int64).reshape(3, 4)
    a = si.SharedArray.from_buffer(src)
    assert a.format == memoryview(src).format  # numpy reports int64 as 'l' or 'q'
    assert a.shape == (3, 4)
    assert a.itemsize == 8
    assert a.strides == (32, 8)
    arr = np.asarray(a)
    assert arr.dtype == np.int64
    assert np.array_equal(arr, src)
    src[0, 0] = 100  # a copy: the source changing later does not show
    assert arr[0, 0] == 0
    assert data_pointer(arr) != data_pointer(src)


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(12.0).reshape(3, 4)[:, ::2],
        lambda: np.arange(12, dtype=np.int32).reshape(3, 4).T,
        lambda: np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        lambda: np.array(3.5),
        lambda: np.array([True, False, True]),
    ],
    ids=["strided", "transposed", "fortran", "0-d", "bool"],
)
def test_from_buffer_of_any_numpy_layout(make) -> None:
    src = make()
    a = si.SharedArray.from_buffer(src)
    assert a.shape == src.shape
    assert np.asarray(a).dtype == src.dtype
    assert np.array_equal(np.asarray(a), src)
    assert np.asarray(a).flags.c_contiguous


def test_numpy_array_sent_with_send_buffer_is_typed_in_isolated_interpreter(channel, shared_interp) -> None:
    recv, send = channel
    src = np.arange(6, dtype=np.float64).reshape(2, 3) / 2
    send.send_buffer_nowait(src)
    got = evaluate_body(
        shared_interp,
        """
        v = r.recv_nowait()
        result = (v.format, v.itemsize, v.shape, v.strides, v.readonly, repr(v.tolist()), v[1, 2])
        """,
        r=recv,
    )
    assert got == ("d", 8, (2, 3), (24, 8), True, repr(src.tolist()), 2.5)


def test_strided_numpy_array_keeps_strides_through_send_buffer(channel, shared_interp) -> None:
    recv, send = channel
    src = np.arange(24, dtype=np.int32).reshape(4, 6)[::2, ::3]
    send.send_buffer_nowait(src)
    got = evaluate_body(
        shared_interp, "v = r.recv_nowait()\nresult = (v.shape, v.strides, repr(v.tolist()))", r=recv
    )
    assert got == ((2, 2), src.strides, repr(src.tolist()))


@pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="CPython 3.12's _ctypes cannot be imported in isolated interpreters to read the address",
)
def test_send_buffer_of_numpy_array_is_zero_copy(channel, shared_interp) -> None:
    recv, send = channel
    src = np.zeros(1024)
    send.send_buffer_nowait(src)
    got = evaluate_body(
        shared_interp,
        """
        import ctypes
        v = r.recv_nowait()
        # The view is read-only, so ctypes.c_char.from_buffer refuses it: ask the C API.
        class Py_buffer(ctypes.Structure):
            _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                        ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                        ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                        ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                        ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                        ("internal", ctypes.c_void_p)]
        get = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.POINTER(Py_buffer),
                                ctypes.c_int)(("PyObject_GetBuffer", ctypes.pythonapi))
        rel = ctypes.PYFUNCTYPE(None, ctypes.POINTER(Py_buffer))(("PyBuffer_Release", ctypes.pythonapi))
        view = Py_buffer()
        get(v, ctypes.byref(view), 0x011C)
        result = view.buf
        rel(ctypes.byref(view))
        """,
        r=recv,
    )
    assert got == data_pointer(src)


def test_shared_array_filled_by_isolated_worker_is_seen_by_numpy(shared_interp) -> None:
    a = si.SharedArray((3, 4), "d")
    arr = np.asarray(a)
    shared_interp.run(
        dedent(
            """
            v = memoryview(grid)
            for i in range(3):
                for j in range(4):
                    v[i, j] = i * 10.0 + j
            del v, grid
            """
        ),
        grid=a,
    )
    expected = np.array([[i * 10.0 + j for j in range(4)] for i in range(3)])
    assert np.array_equal(arr, expected)


def test_numpy_writes_in_main_are_seen_by_isolated_worker(shared_interp) -> None:
    a = si.SharedArray.from_buffer(np.zeros((2, 2), dtype=np.int64))
    np.asarray(a)[1, 0] = 41
    got = evaluate_body(shared_interp, "v = memoryview(grid)\nresult = (v.format, v[1, 0])", grid=a)
    assert got == (memoryview(np.zeros(1, dtype=np.int64)).format, 41)


def test_array_made_by_a_closed_worker_is_kept_alive_by_numpy(channel) -> None:
    recv, send = channel
    with si.create() as worker:
        worker.run(
            "import subinterpreters as si\n"
            "a = si.SharedArray((100, 100), 'f')\n"
            "memoryview(a)[99, 99] = 1.25\n"
            "s.send_nowait(a)\n",
            s=send,
        )
    got = recv.recv_nowait()
    arr = np.asarray(got)
    del got
    assert arr.dtype == np.float32 and arr.shape == (100, 100)
    assert arr[99, 99] == 1.25 and float(arr.sum()) == 1.25


def test_importing_numpy_in_isolated_interpreter_fails(interp) -> None:
    # numpy's extension modules are single-phase: isolated interpreters cannot load them (numpy
    # #24755). Workers use memoryview(shared_array) instead, which is typed and n-dimensional.
    got = evaluate_body(
        interp,
        """
        try:
            import numpy
            result = "imported"
        except ImportError as exc:
            result = "ImportError"
        """,
    )
    assert got == "ImportError"


# --- a legacy interpreter (child process: numpy loads once per process) -------------------------


def test_numpy_in_legacy_interpreter_round_trip(tmp_path) -> None:
    proc = run_child(
        tmp_path,
        """
        import ctypes, json, sys, time
        import subinterpreters as si

        a = si.SharedArray((2, 3), "d")
        recv, send = si.create_channel()
        legacy = si.create(isolated=False)
        legacy.run(
            '''
        import numpy as np
        import subinterpreters as si
        arr = np.asarray(a)
        out.send_nowait((str(arr.dtype), arr.shape, bool(arr.flags.writeable),
                         arr.__array_interface__["data"][0]))
        arr[...] = np.arange(6).reshape(2, 3) * 1.5
        # numpy arrays and SharedArrays made there reach the main interpreter without numpy
        out.send_buffer_nowait(np.arange(4, dtype=np.int32).reshape(2, 2) * 3)
        out.send_nowait(si.SharedArray.from_buffer(np.linspace(0.0, 1.0, 5)))
        del arr, a, out
        ''',
            a=a, out=send,
        )
        dtype, shape, writeable, pointer = recv.recv_nowait()
        view = recv.recv_nowait()
        copied = recv.recv_nowait()
        report = {
            "dtype": dtype,
            "shape": list(shape),
            "writeable": writeable,
            "same_address": pointer == ctypes.addressof(
                ctypes.c_char.from_buffer(memoryview(a).cast("B"))
            ),
            "written": memoryview(a).tolist(),
            "view": [view.format, list(view.shape), view.readonly, view.tolist()],
            "copied": [copied.format, list(copied.shape), copied.tolist()],
        }
        view.release()
        del view
        deadline = time.monotonic() + 10
        while True:  # the release may reach the legacy interpreter asynchronously
            try:
                legacy.close()
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        report["numpy_in_main"] = "numpy" in sys.modules
        print(json.dumps(report))
        """,
    )
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    assert "Fatal Python error" not in proc.stderr, details
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {
        "dtype": "float64",
        "shape": [2, 3],
        "writeable": True,
        "same_address": True,
        "written": [[0.0, 1.5, 3.0], [4.5, 6.0, 7.5]],
        "view": ["i", [2, 2], True, [[0, 3], [6, 9]]],
        "copied": ["d", [5], [0.0, 0.25, 0.5, 0.75, 1.0]],
        "numpy_in_main": False,
    }, details


def test_numpy_loads_in_only_one_interpreter_per_process(tmp_path) -> None:
    # Documents the limit behind the design: a second interpreter (even a legacy one) cannot import
    # numpy once another one has, so only one interpreter per process uses numpy directly.
    proc = run_child(
        tmp_path,
        """
        import subinterpreters as si
        recv, send = si.create_channel()
        probe = '''
        try:
            import numpy
            out.send_nowait("imported")
        except ImportError:
            out.send_nowait("ImportError")
        del out
        '''
        first = si.create(isolated=False)
        second = si.create(isolated=False)
        first.run(probe, out=send)
        second.run(probe, out=send)
        print(recv.recv_nowait(), recv.recv_nowait())
        second.close()
        first.close()
        """,
    )
    details = f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, details
    assert proc.stdout.split() == ["imported", "ImportError"], details
