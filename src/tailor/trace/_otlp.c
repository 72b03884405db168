/* tailor.trace._otlp: a batch of tailor's spans as one OTLP ExportTraceServiceRequest.
 *
 * Why C: encoding a home's seven spans in Python cost ~43k instructions of the worker's CPU
 * (the interpreter's loop and small C helpers per field), most of tracing's budget at 100%
 * sampling (docs/observability.md). This writes the same bytes in one call per batch.
 *
 * The spans are tailor.trace.span's msgspec structs. bind() finds each field's slot offset
 * once (their member descriptors), so a field is read as a pointer at an offset, not through
 * getattr. The field numbers are those of opentelemetry/proto/trace/v1/trace.proto and
 * common/v1/common.proto; tests decode the output with opentelemetry-proto.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <pthread.h>
#include <sys/random.h>

/* ---- output: a buffer, and writers that advance a cursor into it ---------------------- */

/* Each writer reserves room first (buf_reserve), then writes through a local cursor `o` and
 * stores the length once: a store through a char pointer may alias anything, so writing
 * through `b->data[b->len++]` would reload both after every byte. */
typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int
buf_grow(Buf *b, Py_ssize_t more)
{
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int
buf_reserve(Buf *b, Py_ssize_t more)
{
    return b->len + more <= b->cap ? 0 : buf_grow(b, more);
}

static inline Py_ssize_t
varint_size(uint64_t n)
{
    Py_ssize_t size = 1;
    while (n >= 0x80) {
        n >>= 7;
        size++;
    }
    return size;
}

static inline char *
w_varint(char *o, uint64_t n)
{
    while (n >= 0x80) {
        *o++ = (char)((n & 0x7F) | 0x80);
        n >>= 7;
    }
    *o++ = (char)n;
    return o;
}

static inline char *
w_fixed64(char *o, uint64_t n)
{
#if PY_LITTLE_ENDIAN
    memcpy(o, &n, 8);
#else
    for (int i = 0; i < 8; i++)
        o[i] = (char)(n >> (8 * i));
#endif
    return o + 8;
}

/* Most strings written are a few bytes (a part's name, "closed", "GET"): copied inline, as a
 * call to memcpy costs more than they do. */
static inline __attribute__((always_inline)) char *
w_mem(char *o, const void *data, Py_ssize_t size)
{
    const char *from = data;
    if (__builtin_constant_p(size) || size > 16)
        memcpy(o, from, size); /* a constant size is a few moves, inlined */
    else if (size >= 8) {      /* two overlapping words */
        memcpy(o, from, 8);
        memcpy(o + size - 8, from + size - 8, 8);
    }
    else if (size >= 4) {
        memcpy(o, from, 4);
        memcpy(o + size - 4, from + size - 4, 4);
    }
    else {
        for (Py_ssize_t i = 0; i < size; i++)
            o[i] = from[i];
    }
    return o + size;
}

/* ---- values ------------------------------------------------------------------------ */

/* A str's UTF-8 bytes: an ASCII string's own (no call), else CPython's cached UTF-8; a string
 * that has none (a lone surrogate) is written with its bad code points replaced, never failing
 * the batch (`keep` then holds the replacement). */
typedef struct {
    const char *data;
    Py_ssize_t size;
    PyObject *keep;
} Text;

static int
text_of(PyObject *s, Text *t)
{
    t->keep = NULL;
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "a span's text field is %.100s, not str",
                     Py_TYPE(s)->tp_name);
        return -1;
    }
    if (PyUnicode_IS_COMPACT_ASCII(s)) {
        t->data = (const char *)PyUnicode_DATA(s);
        t->size = PyUnicode_GET_LENGTH(s);
        return 0;
    }
    t->data = PyUnicode_AsUTF8AndSize(s, &t->size);
    if (t->data != NULL)
        return 0;
    PyErr_Clear();
    t->keep = PyUnicode_AsEncodedString(s, "utf-8", "replace");
    if (t->keep == NULL)
        return -1;
    t->size = PyBytes_GET_SIZE(t->keep);
    t->data = PyBytes_AS_STRING(t->keep);
    return 0;
}

static inline void
text_done(Text *t)
{
    Py_CLEAR(t->keep);
}

static inline int
is_empty(PyObject *s)
{
    return PyUnicode_Check(s) && PyUnicode_GET_LENGTH(s) == 0;
}

/* Nothing here calls back into Python (no __index__, no __bool__, no __repr__ but in an
 * error's message): the batch cannot change while it is read. */
static int
not_int(PyObject *v)
{
    PyErr_Format(PyExc_TypeError, "a span's int field is %.100s, not int", Py_TYPE(v)->tp_name);
    return -1;
}

/* An int64 attribute value (a varint of its two's complement); beyond int64, an error. */
static int
as_i64(PyObject *v, int64_t *out)
{
    if (!PyLong_Check(v))
        return not_int(v);
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "a span's int field is beyond int64");
        return -1;
    }
    if (n == -1 && PyErr_Occurred())
        return -1;
    *out = n;
    return 0;
}

/* A time (fixed64): up to 2**64 - 1; a negative one is an error. */
static int
as_u64(PyObject *v, uint64_t *out)
{
    if (!PyLong_Check(v))
        return not_int(v);
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0 && n >= 0) {
        *out = (uint64_t)n;
        return 0;
    }
    if (n == -1 && PyErr_Occurred())
        return -1;
    unsigned long long u = PyLong_AsUnsignedLongLong(v); /* beyond int64, or negative */
    if (u == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *out = u;
    return 0;
}

/* A length-delimited field: tag, length, bytes. */
static int
put_bytes(Buf *b, unsigned char tag, const char *data, Py_ssize_t size)
{
    if (buf_reserve(b, 11 + size) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = (char)tag;
    o = w_varint(o, (uint64_t)size);
    o = w_mem(o, data, size);
    b->len = o - b->data;
    return 0;
}

static int
put_str(Buf *b, unsigned char tag, PyObject *s)
{
    Text t;
    if (text_of(s, &t) < 0)
        return -1;
    int rc = put_bytes(b, tag, t.data, t.size);
    text_done(&t);
    return rc;
}

static signed char HEX[256];

/* Hex digits as bytes, exactly `size` of them, as a field with `tag`. */
static int
put_hex(Buf *b, unsigned char tag, PyObject *s, Py_ssize_t size)
{
    if (!PyUnicode_Check(s) || !PyUnicode_IS_COMPACT_ASCII(s) ||
        PyUnicode_GET_LENGTH(s) != 2 * size) {
        PyErr_Format(PyExc_ValueError, "a span id is not %zd hex digits: %R", 2 * size, s);
        return -1;
    }
    const unsigned char *hex = (const unsigned char *)PyUnicode_DATA(s);
    if (buf_reserve(b, 2 + size) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = (char)tag;
    *o++ = (char)size;
    int bad = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        int hi = HEX[hex[2 * i]], lo = HEX[hex[2 * i + 1]];
        bad |= hi | lo;
        o[i] = (char)(hi << 4 | lo);
    }
    if (bad < 0) {
        PyErr_Format(PyExc_ValueError, "a span id is not hex: %R", s);
        return -1;
    }
    b->len = o + size - b->data;
    return 0;
}

/* A message whose length is known only once written (a span, the envelopes): its body goes
 * after two bytes kept for the length, and is moved when the length takes another number. */
static inline int
open_message(Buf *b, unsigned char tag, Py_ssize_t *at)
{
    if (buf_reserve(b, 3) < 0)
        return -1;
    b->data[b->len] = (char)tag;
    *at = b->len + 1;
    b->len += 3;
    return 0;
}

static int
close_message(Buf *b, Py_ssize_t at)
{
    Py_ssize_t body = b->len - at - 2;
    Py_ssize_t size = varint_size((uint64_t)body);
    if (size != 2) {
        if (buf_reserve(b, size - 2) < 0)
            return -1;
        memmove(b->data + at + size, b->data + at + 2, body);
        b->len += size - 2;
    }
    w_varint(b->data + at, (uint64_t)body);
    return 0;
}

/* ---- attributes: KeyValue (key 1, value 2: AnyValue), lengths computed, nothing moved ---- */

/* A KeyValue up to its value: its tag and length, the key, the AnyValue's tag and length;
 * room reserved for `value` more bytes. */
static inline __attribute__((always_inline)) char *
kv_head(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_size, Py_ssize_t any_size,
        Py_ssize_t value)
{
    Py_ssize_t kv = 1 + varint_size((uint64_t)key_size) + key_size + 1 +
                    varint_size((uint64_t)any_size) + any_size;
    if (buf_reserve(b, 33 + key_size + value) < 0) /* a tag and a varint each, a key, a tag */
        return NULL;
    char *o = b->data + b->len;
    *o++ = (char)tag;
    o = w_varint(o, (uint64_t)kv);
    *o++ = 0x0A;
    o = w_varint(o, (uint64_t)key_size);
    o = w_mem(o, key, key_size);
    *o++ = 0x12;
    return w_varint(o, (uint64_t)any_size);
}

/* string_value (1) */
static inline __attribute__((always_inline)) int
kv_text(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_size, const char *value,
        Py_ssize_t size)
{
    Py_ssize_t any = 1 + varint_size((uint64_t)size) + size;
    char *o = kv_head(b, tag, key, key_size, any, any);
    if (o == NULL)
        return -1;
    *o++ = 0x0A;
    o = w_varint(o, (uint64_t)size);
    o = w_mem(o, value, size);
    b->len = o - b->data;
    return 0;
}

static inline __attribute__((always_inline)) int
kv_str(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_size, PyObject *value)
{
    Text t;
    if (text_of(value, &t) < 0)
        return -1;
    int rc = kv_text(b, tag, key, key_size, t.data, t.size);
    text_done(&t);
    return rc;
}

/* int_value (3) */
static inline __attribute__((always_inline)) int
kv_int(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_size, int64_t value)
{
    Py_ssize_t any = 1 + varint_size((uint64_t)value);
    char *o = kv_head(b, tag, key, key_size, any, any);
    if (o == NULL)
        return -1;
    *o++ = 0x18;
    o = w_varint(o, (uint64_t)value);
    b->len = o - b->data;
    return 0;
}

/* bool_value (2) */
static inline __attribute__((always_inline)) int
kv_bool(Buf *b, unsigned char tag, const char *key, Py_ssize_t key_size, int value)
{
    char *o = kv_head(b, tag, key, key_size, 2, 2);
    if (o == NULL)
        return -1;
    *o++ = 0x10;
    *o++ = (char)(value ? 1 : 0);
    b->len = o - b->data;
    return 0;
}

/* A constant key: its bytes and their number. */
#define KEY(k) k, (Py_ssize_t)(sizeof(k) - 1)

/* An attribute of a dict: a str, bool, int (int64) or float (double_value, 4) value. */
static int
kv_any(Buf *b, PyObject *key, PyObject *value)
{
    Text k;
    if (text_of(key, &k) < 0)
        return -1;
    int rc;
    if (PyUnicode_Check(value))
        rc = kv_str(b, 0x4A, k.data, k.size, value);
    else if (PyBool_Check(value))
        rc = kv_bool(b, 0x4A, k.data, k.size, value == Py_True);
    else if (PyLong_Check(value)) {
        int64_t n;
        rc = as_i64(value, &n) < 0 ? -1 : kv_int(b, 0x4A, k.data, k.size, n);
    }
    else if (PyFloat_Check(value)) {
        double d = PyFloat_AS_DOUBLE(value);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        char *o = kv_head(b, 0x4A, k.data, k.size, 9, 9);
        rc = -1;
        if (o != NULL) {
            *o++ = 0x21;
            o = w_fixed64(o, bits);
            b->len = o - b->data;
            rc = 0;
        }
    }
    else {
        PyErr_Format(PyExc_TypeError, "attribute %R is %.100s, not str, bool, int or float", key,
                     Py_TYPE(value)->tp_name);
        rc = -1;
    }
    text_done(&k);
    return rc;
}

/* A failed span's Status (15): message (2), code (3) ERROR (2). */
static int
put_error(Buf *b, PyObject *message)
{
    Text t;
    if (text_of(message, &t) < 0)
        return -1;
    Py_ssize_t status = 1 + varint_size((uint64_t)t.size) + t.size + 2;
    int rc = -1;
    if (buf_reserve(b, 24 + t.size) == 0) {
        char *o = b->data + b->len;
        *o++ = 0x7A;
        o = w_varint(o, (uint64_t)status);
        *o++ = 0x12;
        o = w_varint(o, (uint64_t)t.size);
        o = w_mem(o, t.data, t.size);
        *o++ = 0x18;
        *o++ = 0x02;
        b->len = o - b->data;
        rc = 0;
    }
    text_done(&t);
    return rc;
}

/* ---- the span records: what a request writes into, one store per value ---------------- */

/* A Part's and a request's server span are written on the hot path: by the engine, the
 * upstream client, the resilient transport and the trace stage, some thirty stores a home.
 * A msgspec struct's store goes through its own setattr (~290 instructions); these records
 * keep the interpreter's own (PyObject_GenericSetAttr) over plain object slots, which it
 * specializes to a store at an offset (~80), and are made by one call without a frame.
 * They hold str, int and bool values only, so they are not tracked by the collector. */
typedef struct {
    const char *name;
    const char *const *fields;
    int n;
    int required;
    PyObject **defaults; /* per field, NULL for the required ones */
} RecordSpec;

#define PART_N 15
#define SERVER_N 12
static const char *const PART_RECORD[PART_N] = {
    "trace_id", "span_id", "parent_id", "name", "upstream", "start_ns", "end_ns",
    "deadline_ms", "attempts", "breaker", "status", "hedged", "cache", "error", "headers"};
static const char *const SERVER_RECORD[SERVER_N] = {
    "trace_id", "span_id", "parent_id", "start_ns", "end_ns", "method", "route", "status",
    "cache", "degraded", "error", "tracestate"};
static PyObject *part_defaults[PART_N], *server_defaults[SERVER_N];
static PyObject *part_names[PART_N], *server_names[SERVER_N];
static const RecordSpec PART_SPEC = {"PartSpanRecord", PART_RECORD, PART_N, 6, part_defaults};
static const RecordSpec SERVER_SPEC = {"ServerSpanRecord", SERVER_RECORD, SERVER_N, 4,
                                       server_defaults};

typedef struct {
    PyObject_HEAD
    PyObject *f[PART_N];
} PartRecord;

typedef struct {
    PyObject_HEAD
    PyObject *f[SERVER_N];
} ServerRecord;

#define FIELDS(self) ((PyObject **)((char *)(self) + offsetof(PartRecord, f)))

/* A field deleted (`del span.status`) leaves its slot empty: the readers below refuse such a
 * record (the encoder too) rather than read through it. */
static int
complete(PyObject *self, int n)
{
    PyObject **f = FIELDS(self);
    for (int i = 0; i < n; i++) {
        if (f[i] == NULL) {
            PyErr_Format(PyExc_AttributeError, "a %.100s without a field", Py_TYPE(self)->tp_name);
            return 0;
        }
    }
    return 1;
}


static PyObject *
record_new(PyTypeObject *type, PyObject *args, PyObject *kwds, const RecordSpec *spec,
           PyObject **names)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n > spec->n) {
        PyErr_Format(PyExc_TypeError, "%s takes at most %d arguments", type->tp_name, spec->n);
        return NULL;
    }
    PyObject *self = type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    PyObject **f = FIELDS(self);
    for (Py_ssize_t i = 0; i < n; i++)
        f[i] = Py_NewRef(PyTuple_GET_ITEM(args, i));
    if (kwds != NULL) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kwds, &pos, &key, &value)) {
            int at = -1;
            for (int i = 0; i < spec->n && at < 0; i++) {
                if (key == names[i] || PyUnicode_Compare(key, names[i]) == 0)
                    at = i;
            }
            if (at < 0 || f[at] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s got %s argument %R", type->tp_name,
                             at < 0 ? "an unexpected" : "a repeated", key);
                Py_DECREF(self);
                return NULL;
            }
            f[at] = Py_NewRef(value);
        }
    }
    for (int i = 0; i < spec->n; i++) {
        if (f[i] != NULL)
            continue;
        if (i < spec->required) {
            PyErr_Format(PyExc_TypeError, "%s missing argument '%s'", type->tp_name,
                         spec->fields[i]);
            Py_DECREF(self);
            return NULL;
        }
        f[i] = Py_NewRef(spec->defaults[i]);
    }
    return self;
}

static PyObject *
part_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return record_new(type, args, kwds, &PART_SPEC, part_names);
}

static PyObject *
server_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return record_new(type, args, kwds, &SERVER_SPEC, server_names);
}

/* A call of the class with positional arguments only (the hot path: RequestTrace.child,
 * Tracer.start) makes the record without an argument tuple. */
static PyObject *
record_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames,
                  const RecordSpec *spec, PyObject **names,
                  PyObject *(*slow)(PyTypeObject *, PyObject *, PyObject *))
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || n < spec->required || n > spec->n) {
        PyObject *tuple = PyTuple_New(n);
        if (tuple == NULL)
            return NULL;
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
        PyObject *kwds = NULL;
        if (kwnames != NULL) {
            kwds = PyDict_New();
            for (Py_ssize_t i = 0; kwds != NULL && i < PyTuple_GET_SIZE(kwnames); i++) {
                if (PyDict_SetItem(kwds, PyTuple_GET_ITEM(kwnames, i), args[n + i]) < 0)
                    Py_CLEAR(kwds);
            }
            if (kwds == NULL) {
                Py_DECREF(tuple);
                return NULL;
            }
        }
        PyObject *self = slow((PyTypeObject *)type, tuple, kwds);
        Py_DECREF(tuple);
        Py_XDECREF(kwds);
        return self;
    }
    PyTypeObject *t = (PyTypeObject *)type;
    PyObject *self = t->tp_alloc(t, 0);
    if (self == NULL)
        return NULL;
    PyObject **f = FIELDS(self);
    for (Py_ssize_t i = 0; i < n; i++)
        f[i] = Py_NewRef(args[i]);
    for (Py_ssize_t i = n; i < spec->n; i++)
        f[i] = Py_NewRef(spec->defaults[i]);
    return self;
}

static PyObject *
part_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return record_vectorcall(type, args, nargsf, kwnames, &PART_SPEC, part_names, part_new);
}

static PyObject *
server_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    return record_vectorcall(type, args, nargsf, kwnames, &SERVER_SPEC, server_names,
                             server_new);
}

/* What the OTLP span carries as attributes, as a dict: for reading (tests, the benchmark's
 * opentelemetry-proto comparison), never on the hot path. The encoder writes the same. */
static int
set_if(PyObject *d, const char *key, PyObject *value, int keep)
{
    return keep ? PyDict_SetItemString(d, key, value) : 0;
}

static PyObject *
part_attributes(PyObject *self, void *closure)
{
    if (!complete(self, PART_N))
        return NULL;
    PyObject **f = FIELDS(self);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    int deadline = PyLong_Check(f[7]) && PyLong_AsLong(f[7]) >= 0;
    if (set_if(d, "bff.part", f[3], 1) < 0 || set_if(d, "peer.service", f[4], 1) < 0 ||
        set_if(d, "bff.deadline_ms", f[7], deadline) < 0 ||
        set_if(d, "bff.attempts", f[8], PyObject_IsTrue(f[8]) == 1) < 0 ||
        set_if(d, "bff.breaker", f[9], PyObject_IsTrue(f[9]) == 1) < 0 ||
        set_if(d, "http.response.status_code", f[10], PyObject_IsTrue(f[10]) == 1) < 0 ||
        set_if(d, "bff.hedged", f[11], PyObject_IsTrue(f[11]) == 1) < 0 ||
        set_if(d, "bff.cache", f[12], PyObject_IsTrue(f[12]) == 1) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *
server_attributes(PyObject *self, void *closure)
{
    if (!complete(self, SERVER_N))
        return NULL;
    PyObject **f = FIELDS(self);
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    if (set_if(d, "http.request.method", f[5], 1) < 0 || set_if(d, "http.route", f[6], 1) < 0 ||
        set_if(d, "http.response.status_code", f[7], 1) < 0 ||
        set_if(d, "bff.cache", f[8], PyObject_IsTrue(f[8]) == 1) < 0 ||
        set_if(d, "bff.degraded", f[9], PyObject_IsTrue(f[9]) == 1) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* A server span's name: "METHOD route". */
static PyObject *
server_name(PyObject *self, void *closure)
{
    if (!complete(self, SERVER_N))
        return NULL;
    PyObject **f = FIELDS(self);
    return PyUnicode_FromFormat("%S %S", f[5], f[6]);
}

static PyGetSetDef part_getset[] = {
    {"attributes", part_attributes, NULL, "The OTLP span's attributes, as a dict.", NULL},
    {NULL},
};

static PyGetSetDef server_getset[] = {
    {"attributes", server_attributes, NULL, "The OTLP span's attributes, as a dict.", NULL},
    {"name", server_name, NULL, "METHOD route", NULL},
    {NULL},
};

static void
record_dealloc(PyObject *self, int n)
{
    PyObject **f = FIELDS(self);
    for (int i = 0; i < n; i++)
        Py_CLEAR(f[i]);
    Py_TYPE(self)->tp_free(self);
}

static void
part_dealloc(PyObject *self)
{
    record_dealloc(self, PART_N);
}

static void
server_dealloc(PyObject *self)
{
    record_dealloc(self, SERVER_N);
}

static PyObject *
record_repr(PyObject *self, const RecordSpec *spec)
{
    if (!complete(self, spec->n))
        return NULL;
    PyObject **f = FIELDS(self);
    PyObject *parts = PyList_New(0);
    if (parts == NULL)
        return NULL;
    for (int i = 0; i < spec->n; i++) {
        PyObject *one = PyUnicode_FromFormat("%s=%R", spec->fields[i], f[i]);
        if (one == NULL || PyList_Append(parts, one) < 0) {
            Py_XDECREF(one);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(one);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *joined = sep ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    if (joined == NULL)
        return NULL;
    PyObject *out = PyUnicode_FromFormat("%s(%U)", _PyType_Name(Py_TYPE(self)), joined);
    Py_DECREF(joined);
    return out;
}

static PyObject *
part_repr(PyObject *self)
{
    return record_repr(self, &PART_SPEC);
}

static PyObject *
server_repr(PyObject *self)
{
    return record_repr(self, &SERVER_SPEC);
}

#define MEMBER(T, i, name) {name, T_OBJECT_EX, offsetof(T, f) + (i) * sizeof(PyObject *), 0, NULL}

static PyMemberDef part_members[] = {
    MEMBER(PartRecord, 0, "trace_id"),   MEMBER(PartRecord, 1, "span_id"),
    MEMBER(PartRecord, 2, "parent_id"),  MEMBER(PartRecord, 3, "name"),
    MEMBER(PartRecord, 4, "upstream"),   MEMBER(PartRecord, 5, "start_ns"),
    MEMBER(PartRecord, 6, "end_ns"),     MEMBER(PartRecord, 7, "deadline_ms"),
    MEMBER(PartRecord, 8, "attempts"),   MEMBER(PartRecord, 9, "breaker"),
    MEMBER(PartRecord, 10, "status"),    MEMBER(PartRecord, 11, "hedged"),
    MEMBER(PartRecord, 12, "cache"),     MEMBER(PartRecord, 13, "error"),
    MEMBER(PartRecord, 14, "headers"),
    {NULL},
};

static PyMemberDef server_members[] = {
    MEMBER(ServerRecord, 0, "trace_id"),  MEMBER(ServerRecord, 1, "span_id"),
    MEMBER(ServerRecord, 2, "parent_id"), MEMBER(ServerRecord, 3, "start_ns"),
    MEMBER(ServerRecord, 4, "end_ns"),    MEMBER(ServerRecord, 5, "method"),
    MEMBER(ServerRecord, 6, "route"),     MEMBER(ServerRecord, 7, "status"),
    MEMBER(ServerRecord, 8, "cache"),     MEMBER(ServerRecord, 9, "degraded"),
    MEMBER(ServerRecord, 10, "error"),    MEMBER(ServerRecord, 11, "tracestate"),
    {NULL},
};

#define PART_DOC                                                                             \
    "PartSpan(trace_id, span_id, parent_id, name, upstream, start_ns, end_ns=0, deadline_ms=-1, " \
    "attempts=0, breaker='', status=0, hedged=False, cache='', error='', headers=())\n--\n\n"  \
    "A Part's client span: the values the engine, the upstream client and the resilient\n"       \
    "transport write (its budget, attempts, hedge, breaker state, status, cache outcome), each\n" \
    "in a slot of its own. deadline_ms -1: no call was made. ``attributes`` is the dict the\n"   \
    "OTLP span carries, for reading. ``headers``: the trace headers of the Part's call (not\n" \
    "encoded), made with the record by start_part().\n\n"                                     \
    ">>> span = PartSpan('a' * 32, 'b' * 16, 'c' * 16, 'me', 'users', 1)\n"                    \
    ">>> span.attempts, span.breaker = 1, 'closed'\n"                                           \
    ">>> span.attributes\n"                                                                     \
    "{'bff.part': 'me', 'peer.service': 'users', 'bff.attempts': 1, 'bff.breaker': 'closed'}\n"
#define SERVER_DOC                                                                           \
    "ServerSpan(trace_id, span_id, parent_id, start_ns, end_ns=0, method='', route='', "        \
    "status=0, cache='', degraded='', error='', tracestate='')\n--\n\n"                        \
    "A request's server span, in slots the trace stage writes as the response goes out;\n"     \
    "named ``GET /v1/home``. cache: the x-cache answer; degraded: the parts that degraded,\n"  \
    "comma-separated.\n\n"                                                                     \
    ">>> span = ServerSpan('a' * 32, 'b' * 16, '', 1, method='GET', route='/v1/home', status=200)\n" \
    ">>> span.name, span.attributes['http.route']\n"                                           \
    "('GET /v1/home', '/v1/home')\n"

static PyTypeObject PartRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tailor.trace.span.PartSpan",
    .tp_basicsize = sizeof(PartRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PART_DOC,
    .tp_vectorcall = part_vectorcall,
    .tp_getset = part_getset,
    .tp_new = part_new,
    .tp_dealloc = part_dealloc,
    .tp_repr = part_repr,
    .tp_members = part_members,
};

static PyTypeObject ServerRecordType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tailor.trace.span.ServerSpan",
    .tp_basicsize = sizeof(ServerRecord),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = SERVER_DOC,
    .tp_vectorcall = server_vectorcall,
    .tp_getset = server_getset,
    .tp_new = server_new,
    .tp_dealloc = server_dealloc,
    .tp_repr = server_repr,
    .tp_members = server_members,
};

static int
records_ready(PyObject *m)
{
    PyObject *zero = PyLong_FromLong(0), *minus_one = PyLong_FromLong(-1);
    PyObject *empty = PyUnicode_New(0, 0);
    if (zero == NULL || minus_one == NULL || empty == NULL)
        return -1;
    PyObject *no_headers = PyTuple_New(0);
    if (no_headers == NULL)
        return -1;
    /* PartSpan: end_ns 0, deadline_ms -1 (no call made), attempts 0, breaker "", status 0,
     * hedged False, cache "", error "", headers () */
    PyObject *part[PART_N] = {NULL, NULL, NULL, NULL, NULL,  NULL,     zero,      minus_one,
                              zero, empty, zero, Py_False, empty, empty, no_headers};
    /* ServerSpan: end_ns 0, method "", route "", status 0, cache, degraded, error, tracestate "" */
    PyObject *server[SERVER_N] = {NULL,  NULL,  NULL, NULL,  zero,  empty,
                                  empty, zero,  empty, empty, empty, empty};
    for (int i = 0; i < PART_N; i++) {
        part_defaults[i] = Py_XNewRef(part[i]);
        if ((part_names[i] = PyUnicode_InternFromString(PART_RECORD[i])) == NULL)
            return -1;
    }
    for (int i = 0; i < SERVER_N; i++) {
        server_defaults[i] = Py_XNewRef(server[i]);
        if ((server_names[i] = PyUnicode_InternFromString(SERVER_RECORD[i])) == NULL)
            return -1;
    }
    Py_DECREF(zero);
    Py_DECREF(minus_one);
    Py_DECREF(no_headers);
    Py_DECREF(empty); /* the empty str is a singleton: the defaults hold it */
    if (PyType_Ready(&PartRecordType) < 0 || PyType_Ready(&ServerRecordType) < 0)
        return -1;
    /* OTLP's SpanKind of each (CLIENT 3, SERVER 2); a Part carries no tracestate of its own */
    PyObject *client = PyLong_FromLong(3), *server_kind = PyLong_FromLong(2);
    int rc = client == NULL || server_kind == NULL ||
             PyDict_SetItemString(PartRecordType.tp_dict, "kind", client) < 0 ||
             PyDict_SetItemString(PartRecordType.tp_dict, "tracestate", empty) < 0 ||
             PyDict_SetItemString(ServerRecordType.tp_dict, "kind", server_kind) < 0;
    Py_XDECREF(client);
    Py_XDECREF(server_kind);
    if (rc)
        return -1;
    PyType_Modified(&PartRecordType);
    PyType_Modified(&ServerRecordType);
    if (PyModule_AddObjectRef(m, "PartSpan", (PyObject *)&PartRecordType) < 0 ||
        PyModule_AddObjectRef(m, "ServerSpan", (PyObject *)&ServerRecordType) < 0)
        return -1;
    return 0;
}

/* ---- a Part's span and its call's headers, in one call ------------------------------- */

static PyObject *TRACEPARENT, *TRACESTATE;

/* "00-{trace_id}-{span_id}-{flags}": a call's traceparent, copied straight from the ids'
 * ASCII (any other text goes through the formatter, as an f-string would). */
static PyObject *
traceparent_value(PyObject *trace_id, PyObject *span_id, int sampled)
{
    const char *flags = sampled ? "-01" : "-00";
    if (!PyUnicode_Check(trace_id) || !PyUnicode_Check(span_id) ||
        !PyUnicode_IS_ASCII(trace_id) || !PyUnicode_IS_ASCII(span_id))
        return PyUnicode_FromFormat("00-%S-%S%s", trace_id, span_id, flags);
    Py_ssize_t t = PyUnicode_GET_LENGTH(trace_id), n = PyUnicode_GET_LENGTH(span_id);
    PyObject *out = PyUnicode_New(t + n + 7, 127);
    if (out == NULL)
        return NULL;
    char *o = (char *)PyUnicode_1BYTE_DATA(out);
    memcpy(o, "00-", 3);
    memcpy(o + 3, PyUnicode_1BYTE_DATA(trace_id), (size_t)t);
    o[3 + t] = '-';
    memcpy(o + 4 + t, PyUnicode_1BYTE_DATA(span_id), (size_t)n);
    memcpy(o + 4 + t + n, flags, 3);
    return out;
}

/* ((traceparent, value),) or, with a tracestate, ((traceparent, value), (tracestate, it)). */
static PyObject *
headers_of(PyObject *trace_id, PyObject *span_id, int sampled, PyObject *tracestate)
{
    PyObject *value = traceparent_value(trace_id, span_id, sampled);
    if (value == NULL)
        return NULL;
    PyObject *parent = PyTuple_Pack(2, TRACEPARENT, value);
    Py_DECREF(value);
    if (parent == NULL)
        return NULL;
    PyObject *headers;
    if (PyUnicode_GET_LENGTH(tracestate) == 0) {
        headers = PyTuple_Pack(1, parent);
    } else {
        PyObject *state = PyTuple_Pack(2, TRACESTATE, tracestate);
        headers = state == NULL ? NULL : PyTuple_Pack(2, parent, state);
        Py_XDECREF(state);
    }
    Py_DECREF(parent);
    return headers;
}

static PyObject *
trace_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyUnicode_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "trace_headers(trace_id, span_id, sampled, tracestate: str)");
        return NULL;
    }
    int sampled = PyObject_IsTrue(args[2]);
    if (sampled < 0)
        return NULL;
    return headers_of(args[0], args[1], sampled, args[3]);
}

/* ---- random ids ------------------------------------------------------------------------ */

/* Random bytes from the kernel (getrandom), a pool at a time: one system call per
 * sizeof(pool) bytes, not one per id. A forked child drops what its parent read (the
 * pthread_atfork handler), so it never hands out the same ids. */
static unsigned char pool[4096];
static size_t pool_at = sizeof(pool);

static void
drop_pool(void)
{
    pool_at = sizeof(pool);
}

static const char DIGITS[] = "0123456789abcdef";

/* ``digits`` random lower-case hex digits (even, 2 to 64: checked by the callers). */
static PyObject *
random_hex(Py_ssize_t digits)
{
    size_t bytes = (size_t)digits / 2;
    if (pool_at + bytes > sizeof(pool)) {
        size_t got = 0;
        while (got < sizeof(pool)) {
            ssize_t n = getrandom(pool + got, sizeof(pool) - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return PyErr_SetFromErrno(PyExc_OSError);
            }
            got += (size_t)n;
        }
        pool_at = 0;
    }
    PyObject *out = PyUnicode_New(digits, 127);
    if (out == NULL)
        return NULL;
    char *o = (char *)PyUnicode_1BYTE_DATA(out);
    const unsigned char *in = pool + pool_at;
    for (size_t i = 0; i < bytes; i++) {
        o[2 * i] = DIGITS[in[i] >> 4];
        o[2 * i + 1] = DIGITS[in[i] & 15];
    }
    pool_at += bytes;
    return out;
}

static PyObject *
random_id(PyObject *module, PyObject *arg)
{
    Py_ssize_t digits = PyLong_AsSsize_t(arg);
    if (digits == -1 && PyErr_Occurred())
        return NULL;
    if (digits <= 0 || digits % 2 || digits > 64) {
        PyErr_SetString(PyExc_ValueError, "random_id: an even number of digits, 2 to 64");
        return NULL;
    }
    return random_hex(digits);
}

static PyObject *EMPTY;

/* cls(tracer, trace_id, span_id, "", None, headers): a request's unsampled trace, its span id
 * fresh (and its trace id, when None), its calls' headers naming that span as the unsampled
 * parent; the ids, the headers and the record made in one call. */
static PyObject *
unsampled_trace(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "unsampled_trace(cls, tracer, trace_id | None)");
        return NULL;
    }
    PyObject *trace_id = args[2] == Py_None ? random_hex(32) : Py_NewRef(args[2]);
    if (trace_id == NULL)
        return NULL;
    PyObject *span_id = random_hex(16);
    PyObject *headers = span_id == NULL ? NULL : headers_of(trace_id, span_id, 0, EMPTY);
    PyObject *out = NULL;
    if (headers != NULL) {
        PyObject *call[6] = {args[1], trace_id, span_id, EMPTY, Py_None, headers};
        out = PyObject_Vectorcall(args[0], call, 6, NULL);
    }
    Py_DECREF(trace_id);
    Py_XDECREF(span_id);
    Py_XDECREF(headers);
    return out;
}

static PyObject *
start_part(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "start_part(trace_id, span_id, parent_id, name, upstream, tracestate)");
        return NULL;
    }
    PyObject *tracestate = args[5];
    if (!PyUnicode_Check(tracestate)) {
        PyErr_SetString(PyExc_TypeError, "start_part: tracestate must be a str");
        return NULL;
    }
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    PyObject *headers = headers_of(args[0], args[1], 1, tracestate);
    if (headers == NULL)
        return NULL;
    PyObject *start = PyLong_FromLongLong((long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    PyObject *self = start == NULL ? NULL : PartRecordType.tp_alloc(&PartRecordType, 0);
    if (self == NULL) {
        Py_XDECREF(start);
        Py_DECREF(headers);
        return NULL;
    }
    PyObject **f = FIELDS(self);
    for (int i = 0; i < 5; i++)
        f[i] = Py_NewRef(args[i]);
    f[5] = start;
    for (int i = 6; i < PART_N - 1; i++)
        f[i] = Py_NewRef(part_defaults[i]);
    f[PART_N - 1] = headers;
    return self;
}

/* ---- the span types' layouts --------------------------------------------------------- */

enum { F_TRACE, F_SPAN, F_PARENT, F_START, F_END, F_ERROR, F_COMMON };
/* Span */
enum { S_NAME = F_COMMON, S_KIND, S_ATTRIBUTES, S_TRACESTATE, S_FIELDS };
/* PartSpan */
enum {
    P_NAME = F_COMMON, P_UPSTREAM, P_DEADLINE, P_ATTEMPTS, P_BREAKER, P_STATUS, P_HEDGED,
    P_CACHE, P_FIELDS
};
/* ServerSpan */
enum {
    V_METHOD = F_COMMON, V_ROUTE, V_STATUS, V_CACHE, V_DEGRADED, V_TRACESTATE, V_FIELDS
};
#define MAX_FIELDS 16

static const char *const COMMON[] = {"trace_id", "span_id", "parent_id", "start_ns", "end_ns",
                                     "error"};
static const char *const SPAN_FIELDS[] = {"name", "kind", "attributes", "tracestate"};
static const char *const PART_FIELDS[] = {"name", "upstream", "deadline_ms", "attempts",
                                          "breaker", "status", "hedged", "cache"};
static const char *const SERVER_FIELDS[] = {"method", "route", "status", "cache", "degraded",
                                            "tracestate"};

typedef struct {
    PyTypeObject *type;
    Py_ssize_t offsets[MAX_FIELDS];
} Layout;

enum { L_SPAN, L_PART, L_SERVER, L_COUNT };
static Layout layouts[L_COUNT];

static int
find_offsets(Layout *layout, PyObject *type, const char *const *extra, int n_extra)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "bind() takes the span classes");
        return -1;
    }
    for (int i = 0; i < F_COMMON + n_extra; i++) {
        const char *name = i < F_COMMON ? COMMON[i] : extra[i - F_COMMON];
        PyObject *key = PyUnicode_InternFromString(name);
        if (key == NULL)
            return -1;
        PyObject *descr = _PyType_Lookup((PyTypeObject *)type, key);
        Py_DECREF(key);
        if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "%.100s.%s is not a struct field",
                         ((PyTypeObject *)type)->tp_name, name);
            return -1;
        }
        layout->offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_XSETREF(layout->type, (PyTypeObject *)Py_NewRef(type));
    return 0;
}

static PyObject *
bind(PyObject *module, PyObject *args)
{
    PyObject *span, *part, *server;
    if (!PyArg_ParseTuple(args, "OOO:bind", &span, &part, &server))
        return NULL;
    if (find_offsets(&layouts[L_SPAN], span, SPAN_FIELDS, S_FIELDS - F_COMMON) < 0 ||
        find_offsets(&layouts[L_PART], part, PART_FIELDS, P_FIELDS - F_COMMON) < 0 ||
        find_offsets(&layouts[L_SERVER], server, SERVER_FIELDS, V_FIELDS - F_COMMON) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* A field's value: a borrowed reference, never NULL (an unset slot is an error). */
static inline PyObject *
slot(PyObject *span, const Layout *layout, int field)
{
    PyObject *v = *(PyObject **)((char *)span + layout->offsets[field]);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "a %.100s without a field", Py_TYPE(span)->tp_name);
    return v;
}

#define GET(var, field)                                                                      \
    PyObject *var = slot(s, layout, field);                                                  \
    if (var == NULL)                                                                         \
        return -1

/* ---- one span: field 2 of the ScopeSpans ---------------------------------------------- */

/* A request's spans share its trace id and its parts their parent (the same str objects,
 * from its RequestTrace): the bytes of the last ones written are copied, not decoded again. */
typedef struct {
    PyObject *trace;
    PyObject *parent;
    Py_ssize_t size;
    char bytes[2 + 16 + 2 + 8];
} Ids;

/* trace_id (1), parent_span_id (4) when there is one. */
static int
put_ids(Buf *b, PyObject *s, const Layout *layout, Ids *last)
{
    GET(trace, F_TRACE);
    GET(parent, F_PARENT);
    if (trace == last->trace && parent == last->parent) {
        if (buf_reserve(b, last->size) < 0)
            return -1;
        memcpy(b->data + b->len, last->bytes, last->size);
        b->len += last->size;
        return 0;
    }
    Py_ssize_t at = b->len;
    if (put_hex(b, 0x0A, trace, 16) < 0 || (!is_empty(parent) && put_hex(b, 0x22, parent, 8) < 0))
        return -1;
    last->trace = trace;
    last->parent = parent;
    last->size = b->len - at;
    memcpy(last->bytes, b->data + at, last->size);
    return 0;
}

/* span_id (2), start (7) and end (8) times, fixed64 each. */
static int
put_span_id_times(Buf *b, PyObject *s, const Layout *layout)
{
    GET(span, F_SPAN);
    GET(start, F_START);
    GET(end, F_END);
    uint64_t start_ns, end_ns;
    if (put_hex(b, 0x12, span, 8) < 0 || as_u64(start, &start_ns) < 0 || as_u64(end, &end_ns) < 0 ||
        buf_reserve(b, 18) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = 0x39;
    o = w_fixed64(o, start_ns);
    *o++ = 0x41;
    o = w_fixed64(o, end_ns);
    b->len = o - b->data;
    return 0;
}

static int
put_kind(Buf *b, int64_t kind)
{
    if (buf_reserve(b, 11) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = 0x30;
    o = w_varint(o, (uint64_t)kind);
    b->len = o - b->data;
    return 0;
}

/* What a Part's and the server's span end with: the error (when there is one), then the
 * request's ids, the span's own id and its times. */
static int
put_tail(Buf *b, PyObject *s, const Layout *layout, Ids *last, PyObject *error)
{
    if (!is_empty(error) && put_error(b, error) < 0)
        return -1;
    if (put_ids(b, s, layout, last) < 0)
        return -1;
    return put_span_id_times(b, s, layout);
}

/* A Part's client span: name, kind, its part and upstream, then what it was told (the call's
 * deadline, attempts, breaker state, status, hedge, cache answer), its error, ids and times. */
static int
put_part(Buf *b, PyObject *s, Ids *last)
{
    const Layout *layout = &layouts[L_PART];
    GET(name, P_NAME);
    GET(upstream, P_UPSTREAM);
    GET(deadline, P_DEADLINE);
    GET(attempts, P_ATTEMPTS);
    GET(breaker, P_BREAKER);
    GET(status, P_STATUS);
    GET(hedged, P_HEDGED);
    GET(cache, P_CACHE);
    GET(error, F_ERROR);
    int64_t deadline_ms, n_attempts, n_status;
    if (as_i64(deadline, &deadline_ms) < 0 || as_i64(attempts, &n_attempts) < 0 ||
        as_i64(status, &n_status) < 0)
        return -1;
    if (!PyBool_Check(hedged)) {
        PyErr_Format(PyExc_TypeError, "hedged is %.100s, not bool", Py_TYPE(hedged)->tp_name);
        return -1;
    }
    Text n;
    if (text_of(name, &n) < 0)
        return -1;
    int rc = put_bytes(b, 0x2A, n.data, n.size) < 0 || put_kind(b, 3) < 0 ||
                     kv_text(b, 0x4A, KEY("bff.part"), n.data, n.size) < 0
                 ? -1
                 : 0;
    text_done(&n);
    if (rc < 0 || kv_str(b, 0x4A, KEY("peer.service"), upstream) < 0)
        return -1;
    if (deadline_ms >= 0 && kv_int(b, 0x4A, KEY("bff.deadline_ms"), deadline_ms) < 0)
        return -1;
    if (n_attempts && kv_int(b, 0x4A, KEY("bff.attempts"), n_attempts) < 0)
        return -1;
    if (!is_empty(breaker) && kv_str(b, 0x4A, KEY("bff.breaker"), breaker) < 0)
        return -1;
    if (n_status && kv_int(b, 0x4A, KEY("http.response.status_code"), n_status) < 0)
        return -1;
    if (hedged == Py_True && kv_bool(b, 0x4A, KEY("bff.hedged"), 1) < 0)
        return -1;
    if (!is_empty(cache) && kv_str(b, 0x4A, KEY("bff.cache"), cache) < 0)
        return -1;
    return put_tail(b, s, layout, last, error);
}

/* A request's server span: "METHOD route", kind, method, route, status, and what only some
 * have: the cache's answer, the parts that degraded, the caller's tracestate, an error. */
static int
put_server(Buf *b, PyObject *s, Ids *last)
{
    const Layout *layout = &layouts[L_SERVER];
    GET(method, V_METHOD);
    GET(route, V_ROUTE);
    GET(status, V_STATUS);
    GET(cache, V_CACHE);
    GET(degraded, V_DEGRADED);
    GET(tracestate, V_TRACESTATE);
    GET(error, F_ERROR);
    int64_t n_status;
    if (as_i64(status, &n_status) < 0)
        return -1;
    Text m, r;
    if (text_of(method, &m) < 0)
        return -1;
    if (text_of(route, &r) < 0) {
        text_done(&m);
        return -1;
    }
    int rc = -1;
    if (buf_reserve(b, 11 + m.size + 1 + r.size) == 0) {
        char *o = b->data + b->len;
        *o++ = 0x2A;
        o = w_varint(o, (uint64_t)(m.size + 1 + r.size));
        o = w_mem(o, m.data, m.size);
        *o++ = ' ';
        o = w_mem(o, r.data, r.size);
        b->len = o - b->data;
        rc = 0;
    }
    if (rc == 0 &&
        (put_kind(b, 2) < 0 || kv_text(b, 0x4A, KEY("http.request.method"), m.data, m.size) < 0 ||
         kv_text(b, 0x4A, KEY("http.route"), r.data, r.size) < 0))
        rc = -1;
    text_done(&m);
    text_done(&r);
    if (rc < 0 || kv_int(b, 0x4A, KEY("http.response.status_code"), n_status) < 0)
        return -1;
    if (!is_empty(cache) && kv_str(b, 0x4A, KEY("bff.cache"), cache) < 0)
        return -1;
    if (!is_empty(degraded) && kv_str(b, 0x4A, KEY("bff.degraded"), degraded) < 0)
        return -1;
    if (!is_empty(tracestate) && put_str(b, 0x1A, tracestate) < 0)
        return -1;
    return put_tail(b, s, layout, last, error);
}

/* Any other span: its ids, name, kind, times, attribute dict as it is, tracestate, error. */
static int
put_span(Buf *b, PyObject *s, Ids *last)
{
    const Layout *layout = &layouts[L_SPAN];
    GET(name, S_NAME);
    GET(kind, S_KIND);
    GET(attributes, S_ATTRIBUTES);
    GET(tracestate, S_TRACESTATE);
    GET(error, F_ERROR);
    GET(span, F_SPAN);
    GET(start, F_START);
    GET(end, F_END);
    int64_t n_kind;
    uint64_t start_ns, end_ns;
    if (as_i64(kind, &n_kind) < 0 || as_u64(start, &start_ns) < 0 || as_u64(end, &end_ns) < 0)
        return -1;
    if (!PyDict_Check(attributes)) {
        PyErr_SetString(PyExc_TypeError, "a span's attributes are not a dict");
        return -1;
    }
    if (put_ids(b, s, layout, last) < 0 || put_hex(b, 0x12, span, 8) < 0 ||
        put_str(b, 0x2A, name) < 0 || put_kind(b, n_kind) < 0 || buf_reserve(b, 18) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = 0x39;
    o = w_fixed64(o, start_ns);
    *o++ = 0x41;
    o = w_fixed64(o, end_ns);
    b->len = o - b->data;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(attributes, &pos, &key, &value)) {
        if (kv_any(b, key, value) < 0)
            return -1;
    }
    if (!is_empty(tracestate) && put_str(b, 0x1A, tracestate) < 0)
        return -1;
    if (!is_empty(error) && put_error(b, error) < 0)
        return -1;
    return 0;
}

/* ---- the request ------------------------------------------------------------------------ */

/* Resource (1) of ResourceSpans: service.name and telemetry.sdk.name. */
static int
put_resource(Buf *b, PyObject *service)
{
    Py_ssize_t at;
    if (open_message(b, 0x0A, &at) < 0 || kv_str(b, 0x0A, KEY("service.name"), service) < 0 ||
        kv_text(b, 0x0A, KEY("telemetry.sdk.name"), KEY("tailor")) < 0)
        return -1;
    return close_message(b, at);
}

/* InstrumentationScope (1) of ScopeSpans: name "tailor", and its version when known. */
static int
put_scope(Buf *b, PyObject *version)
{
    Py_ssize_t at;
    if (open_message(b, 0x0A, &at) < 0 || put_bytes(b, 0x0A, KEY("tailor")) < 0)
        return -1;
    if (!is_empty(version) && put_str(b, 0x12, version) < 0)
        return -1;
    return close_message(b, at);
}

static int
put_spans(Buf *b, PyObject *spans)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(spans);
    PyObject **items = PySequence_Fast_ITEMS(spans);
    Ids last = {NULL, NULL, 0, {0}};
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = items[i];
        PyTypeObject *type = Py_TYPE(s);
        Py_ssize_t at;
        if (open_message(b, 0x12, &at) < 0)
            return -1;
        int rc;
        if (type == layouts[L_PART].type)
            rc = put_part(b, s, &last);
        else if (type == layouts[L_SERVER].type)
            rc = put_server(b, s, &last);
        else if (type == layouts[L_SPAN].type)
            rc = put_span(b, s, &last);
        else {
            PyErr_Format(PyExc_TypeError, "not a span: %.100s", type->tp_name);
            rc = -1;
        }
        if (rc < 0 || close_message(b, at) < 0)
            return -1;
    }
    return 0;
}

static PyObject *
encode(PyObject *module, PyObject *args)
{
    PyObject *spans, *service, *version;
    if (!PyArg_ParseTuple(args, "OUU:encode", &spans, &service, &version))
        return NULL;
    if (layouts[L_SPAN].type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "bind() the span classes first");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(spans, "spans must be a sequence");
    if (seq == NULL)
        return NULL;
    /* The resource and the scope apart, then the spans behind room for the envelopes' heads:
     * their lengths known at the end, the heads are written right in front of the spans, and
     * the batch is copied once, into the bytes returned. */
    Buf head = {NULL, 0, 0}, b = {NULL, 0, 0};
    PyObject *out = NULL;
    Py_ssize_t scope_at;
    if (put_resource(&head, service) < 0 || (scope_at = head.len, put_scope(&head, version)) < 0)
        goto done;
    Py_ssize_t room = head.len + 22;
    if (buf_reserve(&b, room + 256 * (PySequence_Fast_GET_SIZE(seq) + 1)) < 0)
        goto done;
    b.len = room;
    if (put_spans(&b, seq) < 0)
        goto done;
    Py_ssize_t scope = head.len - scope_at, resource = scope_at;
    uint64_t scope_spans = (uint64_t)(scope + b.len - room);
    uint64_t resource_spans = (uint64_t)(resource + 1 + varint_size(scope_spans)) + scope_spans;
    Py_ssize_t start = room - (1 + varint_size(resource_spans) + resource + 1 +
                               varint_size(scope_spans) + scope);
    char *o = b.data + start;
    *o++ = 0x0A;
    o = w_varint(o, resource_spans);
    o = w_mem(o, head.data, resource);
    *o++ = 0x12;
    o = w_varint(o, scope_spans);
    w_mem(o, head.data + scope_at, scope);
    out = PyBytes_FromStringAndSize(b.data + start, b.len - start);
done:
    PyMem_Free(head.data);
    PyMem_Free(b.data);
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(Span, PartSpan, ServerSpan): the span classes whose fields encode() reads."},
    {"start_part", (PyCFunction)(void (*)(void))start_part, METH_FASTCALL,
     "start_part(trace_id, span_id, parent_id, name, upstream, tracestate) -> PartSpan:\n"
     "a Part's span started now, with the headers of its call (traceparent naming it as\n"
     "the sampled parent, then tracestate when not empty) in ``headers``."},
    {"trace_headers", (PyCFunction)(void (*)(void))trace_headers, METH_FASTCALL,
     "trace_headers(trace_id, span_id, sampled, tracestate) -> the headers of a call whose\n"
     "parent is span_id: traceparent (flags 01 or 00), then tracestate when not empty."},
    {"unsampled_trace", (PyCFunction)(void (*)(void))unsampled_trace, METH_FASTCALL,
     "unsampled_trace(cls, tracer, trace_id | None) -> cls(tracer, trace_id, span_id, '',\n"
     "None, headers): an unsampled trace with a fresh span id (and trace id when None) and\n"
     "the headers of its calls."},
    {"random_id", random_id, METH_O,
     "random_id(digits) -> str: ``digits`` random lower-case hex digits (from getrandom)."},
    {"encode", encode, METH_VARARGS,
     "encode(spans, service, version) -> bytes: an ExportTraceServiceRequest of the spans."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "tailor.trace._otlp",
    "tailor's spans as OTLP protobuf, in one call per batch.", -1, methods,
};

PyMODINIT_FUNC
PyInit__otlp(void)
{
    for (int c = 0; c < 256; c++)
        HEX[c] = c >= '0' && c <= '9'   ? c - '0'
                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                        : -1;
    if (pthread_atfork(NULL, NULL, drop_pool) != 0) {
        PyErr_SetString(PyExc_OSError, "pthread_atfork failed");
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    TRACEPARENT = PyUnicode_InternFromString("traceparent");
    TRACESTATE = PyUnicode_InternFromString("tracestate");
    EMPTY = PyUnicode_New(0, 0);
    if (TRACEPARENT == NULL || TRACESTATE == NULL || EMPTY == NULL) {
        Py_XDECREF(m);
        return NULL;
    }
    if (m == NULL || records_ready(m) < 0) {
        Py_XDECREF(m);
        return NULL;
    }
    return m;
}
