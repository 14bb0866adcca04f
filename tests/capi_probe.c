/* _capi_probe: a test extension over the subinterpreters C API (tests/test_capi.py, bench/capi.py).
 *
 * It exposes every function of the API to Python one to one. Handles and blocks cross as ints
 * (their addresses), so any interpreter may use them. Every call runs with the GIL released, and
 * with native=True on a fresh pthread that never ran Python (this thread waits for it, its GIL
 * released). Results are the API's codes, as ints.
 *
 * Besides: native producer and consumer threads (started, then joined), a put/get loop timed in
 * C, and plain reads and writes of a block's memory (to see it is shared). Multi-phase init with
 * per-interpreter GIL support, so isolated interpreters can import it too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "subinterpreters.h"

/* Process-wide and never freed (see SubinterpretersCAPI_Import): fine in a C static. */
static const SubinterpretersCAPI *api;

enum { CLONE, RELEASE, KIND, PUT_BYTES, PUT_BLOCK, GET, ITEM_CLEAR, CLOSE, BLOCK_NEW, BUFFER_NEW, BLOCK_INFO, BLOCK_RELEASE };

typedef struct {
    int op;
    SubinterpretersHandle *handle;
    SubinterpretersBlock *block;
    const char *data;
    size_t size;
    double timeout;
    const char *format;
    int ndim;
    Py_ssize_t shape[8];
    SubinterpretersHandle *new_handle;
    SubinterpretersBlock *new_block;
    SubinterpretersItem item;
    SubinterpretersBlockInfo info;
    int rc;
} Call;

static void *run_call(void *arg)
{
    Call *c = arg;
    switch (c->op) {
    case CLONE: c->rc = api->handle_clone(c->handle, &c->new_handle); break;
    case RELEASE: c->rc = api->handle_release(c->handle); break;
    case KIND: c->rc = api->handle_kind(c->handle); break;
    case PUT_BYTES: c->rc = api->put_bytes(c->handle, c->data, c->size, c->timeout); break;
    case PUT_BLOCK: c->rc = api->put_block(c->handle, c->block, c->timeout); break;
    case GET: c->rc = api->get(c->handle, c->timeout, &c->item); break;
    case ITEM_CLEAR: c->rc = api->item_clear(&c->item); break;
    case CLOSE: c->rc = api->close(c->handle); break;
    case BLOCK_NEW: c->rc = api->block_new(c->format, c->ndim, c->shape, &c->new_block); break;
    case BUFFER_NEW: c->rc = api->buffer_new(c->size, &c->new_block); break;
    case BLOCK_INFO: c->rc = api->block_info(c->block, &c->info); break;
    case BLOCK_RELEASE: c->rc = api->block_release(c->block); break;
    }
    return NULL;
}

/* Runs the call with the GIL released: here, or on a new native thread. */
static int perform(Call *c, int native)
{
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    if (native) {
        pthread_t thread;
        failed = pthread_create(&thread, NULL, run_call, c) != 0;
        if (!failed) {
            pthread_join(thread, NULL);
        }
    } else {
        run_call(c);
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return -1;
    }
    return 0;
}

static void *as_pointer(PyObject *address)
{
    return PyLong_AsVoidPtr(address);
}

#define ADDRESS(p) PyLong_FromVoidPtr((void *)(p))

static PyObject *probe_handle(PyObject *self, PyObject *obj)
{
    SubinterpretersHandle *handle = api->handle_from_object(obj);
    return handle == NULL ? NULL : ADDRESS(handle);
}

static PyObject *probe_handle_of_null(PyObject *self, PyObject *unused)
{
    SubinterpretersHandle *handle = api->handle_from_object(NULL);
    return handle == NULL ? NULL : ADDRESS(handle);
}

static PyObject *probe_raise_error(PyObject *self, PyObject *code)
{
    int value = PyLong_AsLong(code);
    if (value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return api->raise_error(value);
}

static PyObject *probe_table(PyObject *self, PyObject *unused)
{
    return Py_BuildValue("(In)", api->abi_version, (Py_ssize_t)api->struct_size);
}

/* op(handle_or_block, native) -> rc, for the calls that take one pointer and give a code. */
static PyObject *simple(int op, PyObject *args)
{
    PyObject *address;
    int native = 0;
    Call c = {.op = op};
    if (!PyArg_ParseTuple(args, "O|p", &address, &native)) {
        return NULL;
    }
    void *pointer = as_pointer(address);
    if (pointer == NULL && PyErr_Occurred()) {
        return NULL;
    }
    c.handle = pointer;
    c.block = pointer;
    if (perform(&c, native) < 0) {
        return NULL;
    }
    return PyLong_FromLong(c.rc);
}

static PyObject *probe_release(PyObject *self, PyObject *args) { return simple(RELEASE, args); }
static PyObject *probe_kind(PyObject *self, PyObject *args) { return simple(KIND, args); }
static PyObject *probe_close(PyObject *self, PyObject *args) { return simple(CLOSE, args); }
static PyObject *probe_block_release(PyObject *self, PyObject *args) { return simple(BLOCK_RELEASE, args); }

static PyObject *probe_clone(PyObject *self, PyObject *args)
{
    PyObject *address;
    int native = 0;
    Call c = {.op = CLONE};
    if (!PyArg_ParseTuple(args, "O|p", &address, &native)) {
        return NULL;
    }
    c.handle = as_pointer(address);
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    return Py_BuildValue("(iN)", c.rc, ADDRESS(c.new_handle));
}

static PyObject *probe_put_bytes(PyObject *self, PyObject *args)
{
    PyObject *address;
    Py_buffer data;
    double timeout;
    int native = 0;
    Call c = {.op = PUT_BYTES};
    if (!PyArg_ParseTuple(args, "Oz*d|p", &address, &data, &timeout, &native)) {
        return NULL;
    }
    c.handle = as_pointer(address);
    c.data = data.buf;
    c.size = data.buf == NULL ? 0 : (size_t)data.len;
    c.timeout = timeout;
    int failed = PyErr_Occurred() || perform(&c, native) < 0;
    PyBuffer_Release(&data);
    return failed ? NULL : PyLong_FromLong(c.rc);
}

static PyObject *probe_put_block(PyObject *self, PyObject *args)
{
    PyObject *handle, *block;
    double timeout;
    int native = 0;
    Call c = {.op = PUT_BLOCK};
    if (!PyArg_ParseTuple(args, "OOd|p", &handle, &block, &timeout, &native)) {
        return NULL;
    }
    c.handle = as_pointer(handle);
    c.block = as_pointer(block);
    c.timeout = timeout;
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    return PyLong_FromLong(c.rc);
}

/* put_bytes with arguments Python cannot pass: (NULL data of size 1, SIZE_MAX bytes) -> (rc, rc) */
static PyObject *probe_put_bytes_invalid(PyObject *self, PyObject *address)
{
    SubinterpretersHandle *handle = as_pointer(address);
    if (PyErr_Occurred()) {
        return NULL;
    }
    return Py_BuildValue("(ii)", api->put_bytes(handle, NULL, 1, SUBINTERPRETERS_NOWAIT),
                         api->put_bytes(handle, "x", SIZE_MAX, SUBINTERPRETERS_NOWAIT));
}

/* get(handle, timeout, native) -> (rc, kind, value): bytes (the item cleared here) or the block's
 * address (the item left to item_clear_block()). */
static PyObject *probe_get(PyObject *self, PyObject *args)
{
    PyObject *address;
    double timeout;
    int native = 0;
    Call c = {.op = GET};
    if (!PyArg_ParseTuple(args, "Od|p", &address, &timeout, &native)) {
        return NULL;
    }
    c.handle = as_pointer(address);
    c.timeout = timeout;
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    if (c.rc != SUBINTERPRETERS_OK) {
        int zeroed = c.item.kind == 0 && c.item.data == NULL && c.item.size == 0 && c.item.block == NULL;
        return Py_BuildValue("(iiO)", c.rc, zeroed ? 0 : -1, Py_None);
    }
    if (c.item.kind == SUBINTERPRETERS_ITEM_BLOCK) {
        return Py_BuildValue("(iiN)", c.rc, c.item.kind, ADDRESS(c.item.block));
    }
    PyObject *value = PyBytes_FromStringAndSize(c.item.data, (Py_ssize_t)c.item.size);
    c.op = ITEM_CLEAR;
    if (value == NULL || perform(&c, native) < 0) {
        Py_XDECREF(value);
        return NULL;
    }
    if (c.rc != SUBINTERPRETERS_OK || c.item.kind != 0 || c.item.data != NULL) {
        Py_DECREF(value);
        PyErr_SetString(PyExc_AssertionError, "item_clear did not clear a bytes item");
        return NULL;
    }
    return Py_BuildValue("(iiN)", SUBINTERPRETERS_OK, SUBINTERPRETERS_ITEM_BYTES, value);
}

/* item_clear of a block item get() returned (or of any address, to see it refused). */
static PyObject *probe_item_clear_block(PyObject *self, PyObject *args)
{
    PyObject *address;
    int native = 0;
    Call c = {.op = ITEM_CLEAR};
    if (!PyArg_ParseTuple(args, "O|p", &address, &native)) {
        return NULL;
    }
    c.item.kind = SUBINTERPRETERS_ITEM_BLOCK;
    c.item.block = as_pointer(address);
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    return PyLong_FromLong(c.rc);
}

static PyObject *probe_item_clear_null(PyObject *self, PyObject *unused)
{
    SubinterpretersItem zeroed = {0};
    return Py_BuildValue("(ii)", api->item_clear(NULL), api->item_clear(&zeroed));
}

static PyObject *probe_block_new(PyObject *self, PyObject *args)
{
    const char *format;
    PyObject *shape;
    int native = 0;
    Call c = {.op = BLOCK_NEW};
    if (!PyArg_ParseTuple(args, "zO!|p", &format, &PyTuple_Type, &shape, &native)) {
        return NULL;
    }
    c.format = format;
    c.ndim = (int)PyTuple_GET_SIZE(shape);
    if (c.ndim > 8) {
        c.ndim = 65; /* more than the buffer protocol allows: refused */
    }
    for (int i = 0; i < c.ndim && i < 8; i++) {
        c.shape[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
    }
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    return Py_BuildValue("(iN)", c.rc, ADDRESS(c.new_block));
}

static PyObject *probe_buffer_new(PyObject *self, PyObject *args)
{
    Py_ssize_t nbytes;
    int native = 0;
    Call c = {.op = BUFFER_NEW};
    if (!PyArg_ParseTuple(args, "n|p", &nbytes, &native)) {
        return NULL;
    }
    c.size = (size_t)nbytes;
    if (perform(&c, native) < 0) {
        return NULL;
    }
    return Py_BuildValue("(iN)", c.rc, ADDRESS(c.new_block));
}

/* block_info(block, native) -> (rc, info dict or None) */
static PyObject *probe_block_info(PyObject *self, PyObject *args)
{
    PyObject *address;
    int native = 0;
    Call c = {.op = BLOCK_INFO};
    if (!PyArg_ParseTuple(args, "O|p", &address, &native)) {
        return NULL;
    }
    c.block = as_pointer(address);
    if (PyErr_Occurred() || perform(&c, native) < 0) {
        return NULL;
    }
    if (c.rc != SUBINTERPRETERS_OK) {
        return Py_BuildValue("(iO)", c.rc, Py_None);
    }
    PyObject *shape = PyTuple_New(c.info.ndim), *strides = PyTuple_New(c.info.ndim);
    if (shape == NULL || strides == NULL) {
        Py_XDECREF(shape);
        Py_XDECREF(strides);
        return NULL;
    }
    for (int i = 0; i < c.info.ndim; i++) {
        PyTuple_SET_ITEM(shape, i, PyLong_FromSsize_t(c.info.shape[i]));
        PyTuple_SET_ITEM(strides, i, PyLong_FromSsize_t(c.info.strides[i]));
    }
    return Py_BuildValue("(i{s:N,s:n,s:n,s:s,s:N,s:N,s:O,s:O,s:n})", c.rc, "data", ADDRESS(c.info.data), "nbytes",
                         (Py_ssize_t)c.info.nbytes, "itemsize", (Py_ssize_t)c.info.itemsize, "format",
                         c.info.format, "shape", shape, "strides", strides, "readonly",
                         c.info.readonly ? Py_True : Py_False, "is_buffer", c.info.is_buffer ? Py_True : Py_False,
                         "aligned", (Py_ssize_t)((uintptr_t)c.info.data % 64));
}

/* Reads or writes a block's memory directly (through block_info's data pointer). */
static PyObject *probe_block_write(PyObject *self, PyObject *args)
{
    PyObject *address;
    Py_ssize_t offset;
    Py_buffer data;
    SubinterpretersBlockInfo info;
    if (!PyArg_ParseTuple(args, "Ony*", &address, &offset, &data)) {
        return NULL;
    }
    int rc = api->block_info(as_pointer(address), &info);
    if (rc == SUBINTERPRETERS_OK && (offset < 0 || (size_t)(offset + data.len) > info.nbytes)) {
        rc = SUBINTERPRETERS_INVALID_ARGUMENT;
    }
    if (rc == SUBINTERPRETERS_OK) {
        memcpy((char *)info.data + offset, data.buf, (size_t)data.len);
    }
    PyBuffer_Release(&data);
    return PyLong_FromLong(rc);
}

static PyObject *probe_block_read(PyObject *self, PyObject *args)
{
    PyObject *address;
    Py_ssize_t offset, size;
    SubinterpretersBlockInfo info;
    if (!PyArg_ParseTuple(args, "Onn", &address, &offset, &size)) {
        return NULL;
    }
    if (api->block_info(as_pointer(address), &info) != SUBINTERPRETERS_OK || offset < 0 || size < 0 ||
        (size_t)(offset + size) > info.nbytes) {
        PyErr_SetString(PyExc_ValueError, "bad block or range");
        return NULL;
    }
    return PyBytes_FromStringAndSize((char *)info.data + offset, size);
}

/* ---- native threads that produce and consume ---------------------------------------------------- */

typedef struct {
    pthread_t thread;
    SubinterpretersHandle *handle;
    long long count;     /* producer: items to put; consumer: items taken */
    size_t size;         /* producer: bytes per item (>= 8: the index comes first) */
    double timeout;
    long long sum;       /* consumer: sum of the indexes taken */
    long long done;      /* producer: items put */
    int producer;
    int retry;           /* on a timeout (full, empty), try again rather than stop */
    long long retries;
    int rc;              /* the code that ended the loop (OK for a producer that put them all) */
} Worker;

static int timed_out(int rc)
{
    return rc == SUBINTERPRETERS_QUEUE_FULL || rc == SUBINTERPRETERS_QUEUE_EMPTY || rc == SUBINTERPRETERS_TIMEOUT ||
           rc == SUBINTERPRETERS_CHANNEL_EMPTY;
}

/* Puts items 0..count-1 (each `size` bytes starting with its index), with no GIL, on a thread
 * that never ran Python. Stops at the first error (with retry: the first one not a timeout). */
static void *produce(void *arg)
{
    Worker *w = arg;
    char buffer[4096] = {0};
    w->rc = SUBINTERPRETERS_OK;
    for (long long i = 0; i < w->count; i++) {
        memcpy(buffer, &i, sizeof i);
        w->rc = api->put_bytes(w->handle, buffer, w->size, w->timeout);
        if (w->retry && timed_out(w->rc)) {
            w->retries++;
            i--; /* the same item again: nothing was put */
            continue;
        }
        if (w->rc != SUBINTERPRETERS_OK) {
            break;
        }
        w->done++;
    }
    return NULL;
}

/* Gets until an error (with retry: until one that is not a timeout), counting items and summing
 * their indexes. */
static void *consume(void *arg)
{
    Worker *w = arg;
    SubinterpretersItem item;
    for (;;) {
        w->rc = api->get(w->handle, w->timeout, &item);
        if (w->retry && timed_out(w->rc)) {
            w->retries++;
            continue;
        }
        if (w->rc != SUBINTERPRETERS_OK) {
            break;
        }
        long long index = 0;
        if (item.kind == SUBINTERPRETERS_ITEM_BYTES && item.size >= sizeof index) {
            memcpy(&index, item.data, sizeof index);
        }
        w->sum += index;
        w->count++;
        api->item_clear(&item);
    }
    return NULL;
}

static void worker_free(PyObject *capsule)
{
    free(PyCapsule_GetPointer(capsule, "_capi_probe.worker"));
}

static PyObject *start(void *(*body)(void *), PyObject *args, int producer)
{
    PyObject *address;
    long long count = 0;
    Py_ssize_t size = 8;
    double timeout;
    int retry = 0, ok;
    if (producer) {
        ok = PyArg_ParseTuple(args, "OLnd|p", &address, &count, &size, &timeout, &retry);
    } else {
        ok = PyArg_ParseTuple(args, "Od|p", &address, &timeout, &retry);
    }
    if (!ok) {
        return NULL;
    }
    if (size < 8 || size > 4096) {
        PyErr_SetString(PyExc_ValueError, "size must be 8 to 4096");
        return NULL;
    }
    Worker *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return PyErr_NoMemory();
    }
    w->handle = as_pointer(address);
    w->producer = producer;
    w->retry = retry;
    w->count = producer ? count : 0;
    w->size = (size_t)size;
    w->timeout = timeout;
    PyObject *token = PyCapsule_New(w, "_capi_probe.worker", worker_free);
    if (token == NULL) {
        free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, body, w) != 0) {
        Py_DECREF(token);
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return NULL;
    }
    return token;
}

/* start_producer(handle, count, size, timeout, retry=False) -> token;
 * start_consumer(handle, timeout, retry=False) -> token */
static PyObject *probe_start_producer(PyObject *self, PyObject *args) { return start(produce, args, 1); }
static PyObject *probe_start_consumer(PyObject *self, PyObject *args) { return start(consume, args, 0); }

/* join(token) -> (rc, count, sum, retries): a producer's count is the items it put. Once per
 * token. */
static PyObject *probe_join(PyObject *self, PyObject *token)
{
    Worker *w = PyCapsule_GetPointer(token, "_capi_probe.worker");
    if (w == NULL) {
        return NULL;
    }
    if (w->handle == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "joined already");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    pthread_join(w->thread, NULL);
    Py_END_ALLOW_THREADS
    w->handle = NULL;
    return Py_BuildValue("(iLLL)", w->rc, w->producer ? w->done : w->count, w->sum, w->retries);
}

/* pairs(handle, count, size) -> (rc, ns): put_bytes then get, `count` times, on this thread with
 * the GIL released; the time taken in nanoseconds (CLOCK_MONOTONIC). */
static PyObject *probe_pairs(PyObject *self, PyObject *args)
{
    PyObject *address;
    long long count;
    Py_ssize_t size;
    char buffer[4096] = {0};
    if (!PyArg_ParseTuple(args, "OLn", &address, &count, &size)) {
        return NULL;
    }
    if (size < 0 || size > 4096) {
        PyErr_SetString(PyExc_ValueError, "size must be 0 to 4096");
        return NULL;
    }
    SubinterpretersHandle *handle = as_pointer(address);
    int rc = SUBINTERPRETERS_OK;
    struct timespec begin, end;
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_MONOTONIC, &begin);
    for (long long i = 0; i < count && rc == SUBINTERPRETERS_OK; i++) {
        SubinterpretersItem item;
        rc = api->put_bytes(handle, buffer, (size_t)size, SUBINTERPRETERS_NOWAIT);
        if (rc == SUBINTERPRETERS_OK) {
            rc = api->get(handle, SUBINTERPRETERS_NOWAIT, &item);
        }
        if (rc == SUBINTERPRETERS_OK) {
            rc = api->item_clear(&item);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    Py_END_ALLOW_THREADS
    long long ns = (end.tv_sec - begin.tv_sec) * 1000000000LL + (end.tv_nsec - begin.tv_nsec);
    return Py_BuildValue("(iL)", rc, ns);
}

static PyMethodDef probe_methods[] = {
    {"handle", probe_handle, METH_O, "handle_from_object(obj) as an address."},
    {"handle_of_null", probe_handle_of_null, METH_NOARGS, "handle_from_object(NULL): raises TypeError."},
    {"raise_error", probe_raise_error, METH_O, "raise_error(code)."},
    {"table", probe_table, METH_NOARGS, "(abi_version, struct_size)."},
    {"clone", probe_clone, METH_VARARGS, "clone(handle, native=False) -> (rc, handle)."},
    {"release", probe_release, METH_VARARGS, "release(handle, native=False) -> rc."},
    {"kind", probe_kind, METH_VARARGS, "kind(handle, native=False) -> kind or rc."},
    {"put_bytes", probe_put_bytes, METH_VARARGS, "put_bytes(handle, data, timeout, native=False) -> rc."},
    {"put_bytes_invalid", probe_put_bytes_invalid, METH_O, "put_bytes(NULL, 1) and (data, SIZE_MAX) -> rcs."},
    {"put_block", probe_put_block, METH_VARARGS, "put_block(handle, block, timeout, native=False) -> rc."},
    {"get", probe_get, METH_VARARGS, "get(handle, timeout, native=False) -> (rc, kind, value)."},
    {"item_clear_block", probe_item_clear_block, METH_VARARGS, "item_clear of a block item -> rc."},
    {"item_clear_null", probe_item_clear_null, METH_NOARGS, "(item_clear(NULL), item_clear(zeroed))."},
    {"close", probe_close, METH_VARARGS, "close(handle, native=False) -> rc."},
    {"block_new", probe_block_new, METH_VARARGS, "block_new(format, shape, native=False) -> (rc, block)."},
    {"buffer_new", probe_buffer_new, METH_VARARGS, "buffer_new(nbytes, native=False) -> (rc, block)."},
    {"block_info", probe_block_info, METH_VARARGS, "block_info(block, native=False) -> (rc, dict)."},
    {"block_release", probe_block_release, METH_VARARGS, "block_release(block, native=False) -> rc."},
    {"block_write", probe_block_write, METH_VARARGS, "block_write(block, offset, data) -> rc."},
    {"block_read", probe_block_read, METH_VARARGS, "block_read(block, offset, size) -> bytes."},
    {"start_producer", probe_start_producer, METH_VARARGS, "start_producer(handle, count, size, timeout, retry=False)."},
    {"start_consumer", probe_start_consumer, METH_VARARGS, "start_consumer(handle, timeout, retry=False)."},
    {"join", probe_join, METH_O, "join(token) -> (rc, count, sum, retries)."},
    {"pairs", probe_pairs, METH_VARARGS, "pairs(handle, count, size) -> (rc, ns)."},
    {NULL, NULL, 0, NULL},
};

static int probe_exec(PyObject *module)
{
    api = SubinterpretersCAPI_Import();
    return api == NULL ? -1 : 0;
}

static PyModuleDef_Slot probe_slots[] = {
    {Py_mod_exec, probe_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT, "_capi_probe", "Test extension over the subinterpreters C API.", 0, probe_methods,
    probe_slots,
};

PyMODINIT_FUNC PyInit__capi_probe(void)
{
    return PyModuleDef_Init(&probe_module);
}
