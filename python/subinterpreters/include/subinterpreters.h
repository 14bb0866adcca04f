/*
 * subinterpreters.h: the C API of the subinterpreters package.
 *
 * Extension modules and native threads put items into the package's queues and channels, and take
 * them out, without any GIL. Items are bytes (copied once, when put) and shared memory blocks
 * (never copied: they arrive in Python as SharedArray or SharedBuffer over the same memory). The
 * API is a table of function pointers in a capsule, subinterpreters._core._C_API, as numpy's and
 * datetime's are:
 *
 *     #include "subinterpreters.h"          // compile with -I subinterpreters.get_include()
 *
 *     static const SubinterpretersCAPI *si_api;
 *     ...in the module's exec function (with the GIL):
 *     si_api = SubinterpretersCAPI_Import();
 *     if (si_api == NULL) return -1;         // ImportError or a version mismatch is set
 *
 * Two rules:
 * - Functions marked "GIL" need the GIL of some interpreter, held by the calling thread. Every
 *   other function may be called from any thread, with or without a GIL, including threads that
 *   never ran Python; those never take a GIL themselves (a blocking call holding a GIL blocks that
 *   interpreter: release it around long waits with Py_BEGIN_ALLOW_THREADS).
 * - Handles and blocks are plain pointers, valid in every thread and interpreter until released.
 *   Like free(), releasing one must not race with another call on it. A released pointer, NULL,
 *   or a pointer of the other type is refused with SUBINTERPRETERS_BAD_HANDLE (a released pointer
 *   is recognised until its memory is reused for a later handle, as a closed file descriptor is).
 *
 * Every function returning int returns SUBINTERPRETERS_OK (0) or one of the negative codes below.
 * The first six mean what the Python exception of the same row means, and raise_error() raises
 * exactly that exception. An operation that fails has no effect: a failed put keeps nothing (the
 * caller's bytes and block are untouched), a failed get takes nothing.
 */
#ifndef SUBINTERPRETERS_H
#define SUBINTERPRETERS_H

#include <Python.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the table below. The table's first field holds the version of the installed
 * package; SubinterpretersCAPI_Import() refuses a table of another version. */
#define SUBINTERPRETERS_CAPI_VERSION 1

/* The capsule's name: module subinterpreters._core, attribute _C_API. */
#define SUBINTERPRETERS_CAPSULE_NAME "subinterpreters._core._C_API"

/* ---- result codes ------------------------------------------------------------------------------ */

#define SUBINTERPRETERS_OK 0
/* A channel end needed by the call is closed; for a receive: closed and drained.  ChannelClosedError */
#define SUBINTERPRETERS_CHANNEL_CLOSED (-1)
/* A non-blocking receive found nothing ready (as recv_nowait()).                    ChannelEmptyError */
#define SUBINTERPRETERS_CHANNEL_EMPTY (-2)
/* A channel send or receive with a timeout did not complete in time; a send's item was
 * withdrawn and will never be delivered.                                                  TimeoutError */
#define SUBINTERPRETERS_TIMEOUT (-3)
/* The queue is closed (for a get: closed and drained).                              QueueClosedError */
#define SUBINTERPRETERS_QUEUE_CLOSED (-4)
/* A get found nothing (at once, or before its timeout).                                   QueueEmpty */
#define SUBINTERPRETERS_QUEUE_EMPTY (-5)
/* A put found no room (at once, or before its timeout); nothing was put.                   QueueFull */
#define SUBINTERPRETERS_QUEUE_FULL (-6)
/* Not a live handle (or block) of this API: NULL, released, or something else.            ValueError */
#define SUBINTERPRETERS_BAD_HANDLE (-7)
/* The handle cannot do that: a get on a send end, a put on a receive end.                   TypeError */
#define SUBINTERPRETERS_WRONG_KIND (-8)
/* The next item is neither bytes nor a shared block (Python put another object). It was not
 * taken: it stays first in line, for a Python consumer.                                     TypeError */
#define SUBINTERPRETERS_UNSUPPORTED_ITEM (-9)
/* An argument is invalid: a NULL pointer where one is needed, a NaN timeout, an unknown format,
 * a negative extent or too many dimensions, an unknown code.                               ValueError */
#define SUBINTERPRETERS_INVALID_ARGUMENT (-10)
/* Memory could not be allocated.                                                          MemoryError */
#define SUBINTERPRETERS_NO_MEMORY (-11)
/* A bug in the package was caught before it crossed into C (please report it).           SystemError */
#define SUBINTERPRETERS_INTERNAL_ERROR (-12)

/* ---- timeouts (seconds, a double) -------------------------------------------------------------- */

/* Wait as long as it takes (any negative number or +infinity). */
#define SUBINTERPRETERS_FOREVER (-1.0)
/* Do not wait: the non-blocking form (put_nowait / get_nowait, send_nowait / recv_nowait). */
#define SUBINTERPRETERS_NOWAIT 0.0
/* Any positive number waits that many seconds at most. */

/* ---- what a handle is on (handle_kind) --------------------------------------------------------- */

#define SUBINTERPRETERS_QUEUE 1    /* a Queue: put and get */
#define SUBINTERPRETERS_SEND_END 2 /* a SendChannel: put (send) only */
#define SUBINTERPRETERS_RECV_END 3 /* a RecvChannel: get (receive) only */

/* ---- items ------------------------------------------------------------------------------------- */

#define SUBINTERPRETERS_ITEM_BYTES 1 /* Python bytes */
#define SUBINTERPRETERS_ITEM_BLOCK 2 /* a shared memory block: Python SharedArray or SharedBuffer */

/* A queue, or one end of a channel. Opaque. */
typedef struct SubinterpretersHandle SubinterpretersHandle;

/* A handle on a shared memory block (what a SharedArray or SharedBuffer object carries). Opaque.
 * The memory lives while any handle on it does, in C or in Python. */
typedef struct SubinterpretersBlock SubinterpretersBlock;

/* An item taken by get(). Owned by the caller until item_clear(); do not change its fields. */
typedef struct SubinterpretersItem {
    int kind;                    /* SUBINTERPRETERS_ITEM_BYTES or SUBINTERPRETERS_ITEM_BLOCK */
    void *data;                  /* bytes: the bytes; block: the block's memory */
    size_t size;                 /* bytes: their number; block: the block's size in bytes */
    SubinterpretersBlock *block; /* block: the handle (released by item_clear); bytes: NULL */
} SubinterpretersItem;

/* How a block reads as an array (PEP 3118 terms). Its pointers live as long as the block handle. */
typedef struct SubinterpretersBlockInfo {
    void *data;                 /* the first byte, 64-byte aligned */
    size_t nbytes;              /* size of the data in bytes */
    size_t itemsize;            /* bytes per item */
    const char *format;         /* struct format of one item, e.g. "d" (NUL-terminated) */
    int ndim;                   /* number of dimensions (0 to 64) */
    const Py_ssize_t *shape;    /* ndim extents */
    const Py_ssize_t *strides;  /* ndim strides in bytes */
    int readonly;               /* 1 for a read-only view (SharedArray.readonly()): do not write */
    int is_buffer;              /* 1 for a SharedBuffer (1-D bytes), 0 for a SharedArray */
} SubinterpretersBlockInfo;

/* ---- the table --------------------------------------------------------------------------------- */

typedef struct SubinterpretersCAPI {
    /* SUBINTERPRETERS_CAPI_VERSION of the installed package. Always the first field. */
    unsigned int abi_version;
    /* sizeof(SubinterpretersCAPI) of the installed package: later versions only add fields at
     * the end. */
    size_t struct_size;

    /* GIL. A new handle on the queue or channel end `obj` (a subinterpreters Queue, SendChannel
     * or RecvChannel of the current interpreter). The handle counts as one more holder, as a
     * Python object does: the queue stays alive, and the channel end open, until every Python
     * object and every handle on it is gone (or it is closed). NULL with TypeError set for any
     * other object (or NULL). */
    SubinterpretersHandle *(*handle_from_object)(PyObject *obj);

    /* GIL. Raises the Python exception of `code` in the current interpreter (see the codes
     * above; the package's classes of that interpreter, which imports subinterpreters._core if
     * it has not) and returns NULL, so `return api->raise_error(rc);` ends a C function. */
    PyObject *(*raise_error)(int code);

    /* Any thread. Another handle on the same queue or channel end, counted as one more holder;
     * stored in *out. BAD_HANDLE, INVALID_ARGUMENT (out NULL), NO_MEMORY. */
    int (*handle_clone)(const SubinterpretersHandle *handle, SubinterpretersHandle **out);

    /* Any thread. Releases the handle. If it was the last holder of a channel end, that end
     * closes; of a queue, the queue and its items are freed (as when the last Python object goes).
     * BAD_HANDLE if already released. */
    int (*handle_release)(SubinterpretersHandle *handle);

    /* Any thread. SUBINTERPRETERS_QUEUE, _SEND_END or _RECV_END; BAD_HANDLE. */
    int (*handle_kind)(const SubinterpretersHandle *handle);

    /* Any thread, no GIL needed. Puts a copy of the `size` bytes at `data` into the queue, or
     * sends it on the channel (the send end): it arrives in Python as `bytes`. `timeout` is
     * SUBINTERPRETERS_NOWAIT (queue: put_nowait, QUEUE_FULL if there is no room; channel:
     * send_nowait, queued at once, never blocks), SUBINTERPRETERS_FOREVER, or seconds (queue: wait
     * for room, QUEUE_FULL after; channel: wait until a receiver took it, TIMEOUT after, the item
     * withdrawn). QUEUE_CLOSED / CHANNEL_CLOSED, WRONG_KIND on a receive end, BAD_HANDLE,
     * INVALID_ARGUMENT (data NULL with size > 0, size > PY_SSIZE_T_MAX, NaN timeout), NO_MEMORY. */
    int (*put_bytes)(SubinterpretersHandle *handle, const void *data, size_t size, double timeout);

    /* As put_bytes, for a shared memory block: nothing is copied, the receiver gets a
     * SharedArray (or SharedBuffer) over the same memory. The caller keeps its block handle (the
     * item holds its own) and releases it when done with it. */
    int (*put_block)(SubinterpretersHandle *handle, const SubinterpretersBlock *block, double timeout);

    /* Any thread, no GIL needed. Takes the oldest item of the queue, or receives the next one
     * from the channel (the receive end), into *item, which the caller owns until item_clear().
     * `timeout` as for put_bytes: SUBINTERPRETERS_NOWAIT gives QUEUE_EMPTY / CHANNEL_EMPTY when
     * nothing is ready, a timeout in seconds QUEUE_EMPTY / TIMEOUT when nothing came in time.
     * QUEUE_CLOSED / CHANNEL_CLOSED once closed and drained, WRONG_KIND on a send end,
     * UNSUPPORTED_ITEM if the next item is not bytes or a block (it stays first in line; a
     * Python consumer can take it), BAD_HANDLE, INVALID_ARGUMENT (item NULL, NaN timeout),
     * NO_MEMORY. On any error *item is zeroed. */
    int (*get)(SubinterpretersHandle *handle, double timeout, SubinterpretersItem *item);

    /* Any thread. Frees an item's bytes or releases its block handle, and zeroes it; a zeroed item
     * is left alone. INVALID_ARGUMENT for NULL or an unknown kind, BAD_HANDLE for an item whose
     * block is not live (cleared already, or released with block_release). */
    int (*item_clear)(SubinterpretersItem *item);

    /* Any thread. Closes the queue (puts fail, gets drain it and then fail), or the channel end
     * of the handle for every holder (as the Python close()); calls blocked on it return at once.
     * The handle stays valid until released. BAD_HANDLE. */
    int (*close)(SubinterpretersHandle *handle);

    /* Any thread. A new zero-filled, C-contiguous shared array of `ndim` dimensions of the given
     * extents (shape may be NULL when ndim is 0) and item `format` (a native struct code: one of
     * b B c ? h H e i I f l L q Q n N d, optionally after '@'; NULL means "B"); it arrives in
     * Python as a SharedArray. Stored in *out. INVALID_ARGUMENT, NO_MEMORY. */
    int (*block_new)(const char *format, int ndim, const Py_ssize_t *shape, SubinterpretersBlock **out);

    /* Any thread. A new zero-filled block of `nbytes` bytes that arrives in Python as a
     * SharedBuffer (1-D, format "B"). Stored in *out. INVALID_ARGUMENT, NO_MEMORY. */
    int (*buffer_new)(size_t nbytes, SubinterpretersBlock **out);

    /* Any thread. Describes the block in *info (see SubinterpretersBlockInfo). BAD_HANDLE,
     * INVALID_ARGUMENT (info NULL). */
    int (*block_info)(const SubinterpretersBlock *block, SubinterpretersBlockInfo *info);

    /* Any thread. Releases the block handle; the memory goes when no handle on it remains, in C
     * or in Python. BAD_HANDLE if already released. */
    int (*block_release)(SubinterpretersBlock *block);
} SubinterpretersCAPI;

/* GIL. Imports subinterpreters._core and returns its table, or NULL with an exception set
 * (ImportError if the package is missing; ImportError too if its table has another version than
 * this header). Call it once per module (e.g. in its exec function); the table is process-wide
 * and never freed, so the pointer may be kept in a C static and used from any thread. */
static inline const SubinterpretersCAPI *SubinterpretersCAPI_Import(void)
{
    const SubinterpretersCAPI *api =
        (const SubinterpretersCAPI *)PyCapsule_Import(SUBINTERPRETERS_CAPSULE_NAME, 0);
    if (api == NULL) {
        return NULL;
    }
    if (api->abi_version != SUBINTERPRETERS_CAPI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "subinterpreters C API version %u, but this module was built for version %d: "
                     "rebuild it against the installed package",
                     api->abi_version, SUBINTERPRETERS_CAPI_VERSION);
        return NULL;
    }
    return api;
}

#ifdef __cplusplus
}
#endif

#endif /* SUBINTERPRETERS_H */
