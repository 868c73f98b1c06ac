/* Conversion between DBR buffers and Python objects, both ways, and the
 * DBRValue type that holds the result of a get without callback. */
#include "caext.h"

#include <float.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* ---- numpy, imported on first use so that plain users never pay for it */

static PyObject *np_frombuffer;
static PyObject *np_dtype[DBR_DOUBLE + 1];

static int numpy_ready(void)
{
    static const char *codes[DBR_DOUBLE + 1] = {
        NULL, "=i2", "=f4", "=u2", "=u1", "=i4", "=f8"};
    PyObject *numpy, *dtype;
    int i;
    if (np_frombuffer)
        return 0;
    numpy = PyImport_ImportModule("numpy");
    if (!numpy)
        return -1;
    dtype = PyObject_GetAttrString(numpy, "dtype");
    for (i = 1; dtype && i <= DBR_DOUBLE; i++) {
        np_dtype[i] = PyObject_CallFunction(dtype, "s", codes[i]);
        if (!np_dtype[i])
            break;
    }
    np_frombuffer = dtype && !PyErr_Occurred()
                    ? PyObject_GetAttrString(numpy, "frombuffer") : NULL;
    Py_XDECREF(dtype);
    Py_DECREF(numpy);
    return np_frombuffer ? 0 : -1;
}

/* ---- reading ---------------------------------------------------------- */

/* A C string read from a fixed-size field never runs past the field, even
 * when a server fills all of it without a terminating 0. */
static PyObject *bounded_string(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    PyObject *text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "strict");
    if (!text && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        text = PyBytes_FromStringAndSize(s, (Py_ssize_t)n);
    }
    return text;
}

static PyObject *element(int plain, const char *p)
{
    switch (plain) {
    case DBR_STRING: return bounded_string(p, MAX_STRING_SIZE);
    case DBR_SHORT:  return PyLong_FromLong(*(const dbr_short_t *)p);
    case DBR_FLOAT:  return PyFloat_FromDouble(*(const dbr_float_t *)p);
    case DBR_ENUM:   return PyLong_FromLong(*(const dbr_enum_t *)p);
    case DBR_CHAR:   return PyLong_FromLong(*(const dbr_char_t *)p);
    case DBR_LONG:   return PyLong_FromLong(*(const dbr_long_t *)p);
    case DBR_DOUBLE: return PyFloat_FromDouble(*(const dbr_double_t *)p);
    }
    PyErr_Format(PyExc_SystemError, "no element conversion for type %d", plain);
    return NULL;
}

static PyObject *numpy_array(int plain, unsigned long count, const char *p,
                             PyObject *owner, const void *owner_base)
{
    Py_ssize_t nbytes = (Py_ssize_t)count * dbr_value_size[plain];
    PyObject *source, *array;
    Py_ssize_t offset = 0;
    if (numpy_ready() < 0)
        return NULL;
    if (owner) {
        /* A view on the DBRValue's own buffer: no copy at all. */
        source = owner;
        Py_INCREF(source);
        offset = p - (const char *)owner_base;
    } else {
        /* The callback's buffer dies with the callback: one copy. */
        source = PyByteArray_FromStringAndSize(p, nbytes);
        if (!source)
            return NULL;
    }
    array = PyObject_CallFunction(np_frombuffer, "OOnn", source, np_dtype[plain],
                                  (Py_ssize_t)count, offset);
    Py_DECREF(source);
    return array;
}

static PyObject *value_object(int plain, unsigned long count, const char *p,
                              int use_numpy, PyObject *owner, const void *base)
{
    PyObject *list;
    unsigned long i;
    size_t size = dbr_value_size[plain];
    if (count == 1)
        return element(plain, p);
    if (use_numpy && plain != DBR_STRING)
        return numpy_array(plain, count, p, owner, base);
    list = PyList_New((Py_ssize_t)count);
    if (!list)
        return NULL;
    for (i = 0; i < count; i++) {
        PyObject *item = element(plain, p + i * size);
        if (!item) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    return list;
}

static int set_item(PyObject *d, int key, PyObject *value)
{
    int rc;
    if (!value)
        return -1;
    rc = PyDict_SetItem(d, keys[key], value);
    Py_DECREF(value);
    return rc;
}

static int set_alarm(PyObject *d, long status, long severity)
{
    if (set_item(d, K_status, enum_member(Condition_members, status)) < 0)
        return -1;
    return set_item(d, K_severity, enum_member(Severity_members, severity));
}

/* Built item by item: a monitor of a TIME type makes one for every event,
 * and Py_BuildValue would parse its format string each time. */
static int set_stamp(PyObject *d, const epicsTimeStamp *stamp)
{
    unsigned long long seconds = (unsigned long long)stamp->secPastEpoch +
                                 POSIX_TIME_AT_EPICS_EPOCH;
    PyObject *s = PyDict_New();
    if (!s ||
        set_item(s, K_seconds, PyLong_FromUnsignedLongLong(seconds)) < 0 ||
        set_item(s, K_nanoseconds, PyLong_FromUnsignedLong(stamp->nsec)) < 0 ||
        set_item(s, K_timestamp, PyFloat_FromDouble((double)seconds + stamp->nsec * 1e-9)) < 0) {
        Py_XDECREF(s);
        return -1;
    }
    return set_item(d, K_stamp, s);
}

static int set_enum_strings(PyObject *d, short no_str, char strs[][MAX_ENUM_STRING_SIZE])
{
    /* A server may claim more states than the structure can hold. */
    int n = no_str < 0 ? 0 : no_str > MAX_ENUM_STATES ? MAX_ENUM_STATES : no_str;
    PyObject *t = PyTuple_New(n);
    int i;
    if (!t)
        return -1;
    for (i = 0; i < n; i++) {
        PyObject *s = bounded_string(strs[i], MAX_ENUM_STRING_SIZE);
        if (!s) {
            Py_DECREF(t);
            return -1;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    if (set_item(d, K_no_str, PyLong_FromLong(no_str)) < 0) {
        Py_DECREF(t);
        return -1;
    }
    return set_item(d, K_strs, t);
}

/* units and the six display/alarm limits, and for CTRL types the control
 * limits, into dict d: the same field names in every numeric GR/CTRL
 * structure (whose types differ, hence macros). */
#define GR_LIMITS(d, p, conv) \
    (set_item(d, K_units, bounded_string((p)->units, MAX_UNITS_SIZE)) < 0 ||    \
     set_item(d, K_upper_disp_limit, conv((p)->upper_disp_limit)) < 0 ||       \
     set_item(d, K_lower_disp_limit, conv((p)->lower_disp_limit)) < 0 ||       \
     set_item(d, K_upper_alarm_limit, conv((p)->upper_alarm_limit)) < 0 ||     \
     set_item(d, K_upper_warning_limit, conv((p)->upper_warning_limit)) < 0 || \
     set_item(d, K_lower_warning_limit, conv((p)->lower_warning_limit)) < 0 || \
     set_item(d, K_lower_alarm_limit, conv((p)->lower_alarm_limit)) < 0)
#define CTRL_LIMITS(d, p, conv) \
    (GR_LIMITS(d, p, conv) ||                                                      \
     set_item(d, K_upper_ctrl_limit, conv((p)->upper_ctrl_limit)) < 0 ||       \
     set_item(d, K_lower_ctrl_limit, conv((p)->lower_ctrl_limit)) < 0)
/* precision comes after the limits, as in caffi_backend/dbr.py and the
 * original CaChannel: the keys of a dict come in the same order on both
 * backends (tests/test_errors.py compares them). */
#define PRECISION(d, p) set_item(d, K_precision, PyLong_FromLong((p)->precision))

static PyObject *from_long(long v) { return PyLong_FromLong(v); }
static PyObject *from_double(double v) { return PyFloat_FromDouble(v); }

/* The metadata of a non-plain DBR structure, added to dict d. */
static int metadata(PyObject *d, long type, const void *dbr)
{
    const struct dbr_sts_short *sts = dbr;   /* status/severity lead them all */
    if (type == DBR_STSACK_STRING) {
        const struct dbr_stsack_string *p = dbr;
        return (set_alarm(d, p->status, p->severity) < 0 ||
                set_item(d, K_ackt, PyLong_FromLong(p->ackt)) < 0 ||
                set_item(d, K_acks, enum_member(Severity_members, p->acks)) < 0) ? -1 : 0;
    }
    if (set_alarm(d, sts->status, sts->severity) < 0)
        return -1;
    if (dbr_type_is_TIME(type))
        return set_stamp(d, &((const struct dbr_time_short *)dbr)->stamp);
    switch (type) {
    case DBR_GR_SHORT:   return GR_LIMITS(d, (const struct dbr_gr_short *)dbr, from_long) ? -1 : 0;
    case DBR_GR_CHAR:    return GR_LIMITS(d, (const struct dbr_gr_char *)dbr, from_long) ? -1 : 0;
    case DBR_GR_LONG:    return GR_LIMITS(d, (const struct dbr_gr_long *)dbr, from_long) ? -1 : 0;
    case DBR_GR_FLOAT:
        return (GR_LIMITS(d, (const struct dbr_gr_float *)dbr, from_double) ||
                PRECISION(d, (const struct dbr_gr_float *)dbr) < 0) ? -1 : 0;
    case DBR_GR_DOUBLE:
        return (GR_LIMITS(d, (const struct dbr_gr_double *)dbr, from_double) ||
                PRECISION(d, (const struct dbr_gr_double *)dbr) < 0) ? -1 : 0;
    case DBR_CTRL_SHORT: return CTRL_LIMITS(d, (const struct dbr_ctrl_short *)dbr, from_long) ? -1 : 0;
    case DBR_CTRL_CHAR:  return CTRL_LIMITS(d, (const struct dbr_ctrl_char *)dbr, from_long) ? -1 : 0;
    case DBR_CTRL_LONG:  return CTRL_LIMITS(d, (const struct dbr_ctrl_long *)dbr, from_long) ? -1 : 0;
    case DBR_CTRL_FLOAT:
        return (CTRL_LIMITS(d, (const struct dbr_ctrl_float *)dbr, from_double) ||
                PRECISION(d, (const struct dbr_ctrl_float *)dbr) < 0) ? -1 : 0;
    case DBR_CTRL_DOUBLE:
        return (CTRL_LIMITS(d, (const struct dbr_ctrl_double *)dbr, from_double) ||
                PRECISION(d, (const struct dbr_ctrl_double *)dbr) < 0) ? -1 : 0;
    case DBR_GR_ENUM: {
        const struct dbr_gr_enum *p = dbr;
        return set_enum_strings(d, p->no_str, (char (*)[MAX_ENUM_STRING_SIZE])p->strs);
    }
    case DBR_CTRL_ENUM: {
        const struct dbr_ctrl_enum *p = dbr;
        return set_enum_strings(d, p->no_str, (char (*)[MAX_ENUM_STRING_SIZE])p->strs);
    }
    }
    return 0;   /* STS types, and GR/CTRL of STRING which are STS */
}

static int plain_of(long type)
{
    if (type == DBR_STSACK_STRING || type == DBR_CLASS_NAME)
        return DBR_STRING;
    return (int)(type % (LAST_TYPE + 1));
}

PyObject *dbr_to_python(long type, unsigned long count, const void *dbr,
                        int use_numpy, PyObject *owner)
{
    const char *p = (const char *)dbr + dbr_value_offset[type];
    PyObject *value, *d;
    value = value_object(plain_of(type), count, p, use_numpy, owner, dbr);
    if (!value || dbr_type_is_plain(type) || type == DBR_CLASS_NAME)
        return value;
    d = PyDict_New();
    if (!d || set_item(d, K_value, value) < 0 || metadata(d, type, dbr) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

/* A new dict holding the keys every callback dict starts with: chid, type,
 * count, status (event_dict and pv_event_dict).  The caller names the
 * channel from its own record: ca_puser would take the channel's libca
 * mutex on every event. */
static PyObject *event_head(PyObject *chan, struct event_handler_args *args)
{
    PyObject *d = PyDict_New();
    if (d && (set_item(d, K_chid, (Py_INCREF(chan), chan)) < 0 ||
              set_item(d, K_type, dbr_member(args->type)) < 0 ||
              set_item(d, K_count, PyLong_FromLong(args->count)) < 0 ||
              set_item(d, K_status, ECA_OBJ(args->status)) < 0))
        Py_CLEAR(d);
    return d;
}

/* args->dbr is read here by its type; the cffi twin registers its handlers
 * once per request type with args->dbr declared as that type (its answer
 * views, caffi_backend/_cdef.py), since through cffi the cast of an untyped
 * pointer is a sixth of a scalar event's cost. */
PyObject *event_dict(PyObject *chan, struct event_handler_args *args, int use_numpy)
{
    PyObject *d = event_head(chan, args), *value;
    if (!d)
        return NULL;
    if (args->status == ECA_NORMAL && args->dbr && dbr_type_is_valid(args->type) &&
        args->type != DBR_PUT_ACKT && args->type != DBR_PUT_ACKS) {
        value = dbr_to_python(args->type, (unsigned long)args->count, args->dbr,
                              use_numpy, NULL);
    } else {
        value = Py_None;
        Py_INCREF(value);
    }
    if (set_item(d, K_value, value) < 0)
        goto fail;
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

PyObject *pv_event_dict(PyObject *chan, struct event_handler_args *args)
{
    /* status, severity and stamp lead every TIME structure */
    const struct dbr_time_short *time = args->dbr;
    PyObject *d;
    if (args->status != ECA_NORMAL || !args->dbr || args->count != 1 ||
        !dbr_type_is_valid(args->type) || !dbr_type_is_TIME(args->type))
        return NULL;
    d = event_head(chan, args);
    if (!d)
        return NULL;
    /* An alarm number no member has goes in as an int; the cffi twin
     * leaves such an event to event_dict's way, which puts the same int in
     * the same key, because its member lookup is cheapest as a subscript. */
    if (set_item(d, K_pv_value, element(plain_of(args->type), (const char *)args->dbr +
                                                               dbr_value_offset[args->type])) < 0 ||
        set_item(d, K_pv_status, enum_member(Condition_members, time->status)) < 0 ||
        set_item(d, K_pv_severity, enum_member(Severity_members, time->severity)) < 0 ||
        /* caPython's seconds count from the EPICS epoch */
        set_item(d, K_pv_seconds, PyLong_FromUnsignedLong(time->stamp.secPastEpoch)) < 0 ||
        set_item(d, K_pv_nseconds, PyLong_FromUnsignedLong(time->stamp.nsec)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* ---- DBRValue ----------------------------------------------------------- */

/* Every value has a buffer here, one plain number too: its memcpy is cheap
 * in C, and a small buffer lies inside its object (below).  The cffi twin
 * keeps one plain number as the Python number instead, where the buffer's
 * allocation, copy and cast cost a fifth of its get (caffi_backend/dbr.py,
 * DBRValue). */

/* Buffers up to this size (every scalar DBR type but CTRL_ENUM's 422
 * bytes) are allocated with their object: a connect-and-read of 100,000
 * scalars made 100,000 callocs of 8 bytes, 32 each in glibc's heap, which
 * stayed resident after their values were read and freed. */
#define INLINE_BUFFER_BYTES 256

/* Large get buffers are recycled: a fresh 32 MB buffer costs thousands of
 * page faults on every read of an area detector image, a reused one none.
 * Only touched with the GIL held. */
#define RECYCLE_MIN_BYTES (1u << 20)
#define RECYCLE_SLOTS 2
static struct { void *buffer; size_t size; } recycled[RECYCLE_SLOTS];

static void *get_buffer_alloc(size_t size)
{
    int i;
    if (size >= RECYCLE_MIN_BYTES)
        for (i = 0; i < RECYCLE_SLOTS; i++)
            if (recycled[i].buffer && recycled[i].size == size) {
                void *buffer = recycled[i].buffer;
                recycled[i].buffer = NULL;
                return buffer;   /* old data until the reply overwrites it */
            }
    /* Zeroed, so a value read before its reply came is zeros, not garbage. */
    return calloc(1, size);
}

static void get_buffer_free(void *buffer, size_t size)
{
    int i;
    if (buffer && size >= RECYCLE_MIN_BYTES)
        for (i = 0; i < RECYCLE_SLOTS; i++)
            if (!recycled[i].buffer) {
                recycled[i].buffer = buffer;
                recycled[i].size = size;
                return;
            }
    free(buffer);
}

/* Bytes of the buffer of a value of type and count (room for one element
 * at least). */
static size_t buffer_size(long type, unsigned long count)
{
    return dbr_size_n(type, count ? count : 1);
}

static size_t dbrvalue_size(DBRValueObject *v)
{
    return buffer_size(v->type, v->count);
}

static void dbrvalue_dealloc(DBRValueObject *self)
{
    if (self->buffer != (void *)self->inline_buffer)
        get_buffer_free(self->buffer, dbrvalue_size(self));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int dbrvalue_getbuffer(DBRValueObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->buffer,
                             dbrvalue_size(self), 0, flags);
}

static PyBufferProcs dbrvalue_as_buffer = {
    (getbufferproc)dbrvalue_getbuffer, NULL,
};

static PyObject *dbrvalue_get(DBRValueObject *self, PyObject *unused)
{
    return dbr_to_python(self->type, self->count, self->buffer, self->use_numpy,
                         (PyObject *)self);
}

static PyObject *dbrvalue_filled(DBRValueObject *self, void *unused)
{
    return PyBool_FromLong(self->filled);
}

static PyGetSetDef dbrvalue_getset[] = {
    {"filled", (getter)dbrvalue_filled, NULL,
     "True once the reply has been copied in (get() then gives the value read).", NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyObject *dbrvalue_repr(DBRValueObject *self)
{
    PyObject *type = dbr_member(self->type), *r;
    if (!type)
        return NULL;
    r = PyUnicode_FromFormat("<DBRValue %S count=%lu>", type, self->count);
    Py_DECREF(type);
    return r;
}

static PyMethodDef dbrvalue_methods[] = {
    {"get", (PyCFunction)dbrvalue_get, METH_NOARGS,
     "The value, once the pend_io() after the get returned ECA.NORMAL."},
    {NULL, NULL, 0, NULL}
};

PyTypeObject DBRValueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.DBRValue",
    .tp_basicsize = sizeof(DBRValueObject),
    .tp_dealloc = (destructor)dbrvalue_dealloc,
    .tp_repr = (reprfunc)dbrvalue_repr,
    .tp_as_buffer = &dbrvalue_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Value of a get without callback: at most the count asked is copied in.",
    .tp_methods = dbrvalue_methods,
    .tp_getset = dbrvalue_getset,
};

PyObject *dbr_new_value(long type, unsigned long count, int use_numpy)
{
    size_t size = buffer_size(type, count);
    size_t inline_bytes = size <= INLINE_BUFFER_BYTES ? size : 0;
    DBRValueObject *v = PyObject_Malloc(sizeof(DBRValueObject) + inline_bytes);
    if (!v)
        return PyErr_NoMemory();
    PyObject_Init((PyObject *)v, &DBRValueType);
    v->type = type;
    v->count = count;
    v->use_numpy = use_numpy;
    v->filled = 0;
    if (inline_bytes) {
        /* Zeroed, as get_buffer_alloc's: read before its reply, it is zeros. */
        memset(v->inline_buffer, 0, inline_bytes);
        v->buffer = v->inline_buffer;
    } else if (!(v->buffer = get_buffer_alloc(size))) {
        Py_DECREF(v);
        return PyErr_NoMemory();
    }
    return (PyObject *)v;
}

/* Large copies let other threads run, as libca's own copy did. */
#define COPY_WITHOUT_GIL_BYTES (1u << 20)

void dbr_fill(DBRValueObject *value, unsigned long count, const void *dbr)
{
    size_t meta = dbr_size[value->type] - dbr_value_size[value->type];
    size_t room = dbrvalue_size(value);
    size_t bytes = meta + (size_t)(count < value->count ? count : value->count) *
                              dbr_value_size[value->type];
    char *buffer = value->buffer;

    if (bytes >= COPY_WITHOUT_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        memcpy(buffer, dbr, bytes);
        Py_END_ALLOW_THREADS
    } else {
        memcpy(buffer, dbr, bytes);
    }
    /* Fewer elements than asked: the rest reads as zeros, not as whatever
     * a recycled buffer held. */
    if (bytes < room)
        memset(buffer + bytes, 0, room - bytes);
    value->filled = 1;
}

/* ---- writing ------------------------------------------------------------ */

static int text_bytes(PyObject *item, PyObject **bytes)
{
    if (PyUnicode_Check(item))
        *bytes = PyUnicode_AsUTF8String(item);
    else if (PyBytes_Check(item) || PyByteArray_Check(item))
        *bytes = PyBytes_FromObject(item);
    else
        return 0;
    return *bytes ? 1 : -1;
}

static int put_string(PyObject *item, char *out)
{
    PyObject *bytes;
    int is_text = text_bytes(item, &bytes);
    if (is_text < 0)
        return -1;
    if (!is_text) {
        if (item == Py_None || !PyNumber_Check(item)) {
            PyErr_Format(PyExc_TypeError, "cannot write %.100s as a CA string",
                         Py_TYPE(item)->tp_name);
            return -1;
        }
        {
            PyObject *text = PyObject_Str(item);
            if (!text)
                return -1;
            bytes = PyUnicode_AsUTF8String(text);
            Py_DECREF(text);
            if (!bytes)
                return -1;
        }
    }
    if (PyBytes_GET_SIZE(bytes) >= MAX_STRING_SIZE) {
        PyErr_Format(PyExc_ValueError,
                     "string of %zd bytes does not fit a CA string (at most %d)",
                     PyBytes_GET_SIZE(bytes), MAX_STRING_SIZE - 1);
        Py_DECREF(bytes);
        return -1;
    }
    memset(out, 0, MAX_STRING_SIZE);
    memcpy(out, PyBytes_AS_STRING(bytes), (size_t)PyBytes_GET_SIZE(bytes));
    Py_DECREF(bytes);
    return 0;
}

/* A number from a numeric string, for writing text to numeric types. */
static PyObject *number_of_text(PyObject *item)
{
    PyObject *bytes, *number;
    if (text_bytes(item, &bytes) <= 0)
        return NULL;
    number = PyLong_FromString(PyBytes_AS_STRING(bytes), NULL, 0);
    if (!number) {
        PyErr_Clear();
        number = PyFloat_FromString(bytes);
    }
    if (!number) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%R is not a number", item);
    }
    Py_DECREF(bytes);
    return number;
}

static int put_integer(PyObject *item, int plain, char *out)
{
    /* The C types' own limits (CHAR also takes the bytes of a signed CHAR
     * field); CaChannel/_dbr_fields.py INTEGER_RANGES must agree (tested). */
    static const long long lo[] = {0, INT16_MIN, 0, 0, INT8_MIN, INT32_MIN, 0};
    static const long long hi[] = {0, INT16_MAX, 0, UINT16_MAX, UINT8_MAX, INT32_MAX, 0};
    long long v;
    PyObject *number = NULL;

    if (PyUnicode_Check(item) || PyBytes_Check(item)) {
        if (!(number = number_of_text(item)))
            return -1;
        item = number;
    }
    if (PyFloat_Check(item) || (!PyIndex_Check(item) && PyNumber_Check(item) &&
                                Py_TYPE(item)->tp_as_number->nb_float)) {
        double d = PyFloat_AsDouble(item);
        if (d == -1.0 && PyErr_Occurred())
            goto fail;
        if (isnan(d)) {
            PyErr_SetString(PyExc_ValueError, "cannot write NaN to an integer type");
            goto fail;
        }
        d = trunc(d);
        if (d < (double)lo[plain] || d > (double)hi[plain])
            goto overflow;
        v = (long long)d;
    } else if (PyIndex_Check(item)) {
        int overflow;
        PyObject *index = PyNumber_Index(item);
        if (!index)
            goto fail;
        v = PyLong_AsLongLongAndOverflow(index, &overflow);
        Py_DECREF(index);
        if (overflow || v < lo[plain] || v > hi[plain])
            goto overflow;
    } else {
        PyErr_Format(PyExc_TypeError, "cannot write %.100s as a CA number",
                     Py_TYPE(item)->tp_name);
        goto fail;
    }
    Py_XDECREF(number);
    switch (plain) {
    case DBR_SHORT: *(dbr_short_t *)out = (dbr_short_t)v; break;
    case DBR_ENUM:  *(dbr_enum_t *)out = (dbr_enum_t)v; break;
    /* -128..-1 are the same bytes a signed CHAR field holds */
    case DBR_CHAR:  *(dbr_char_t *)out = (dbr_char_t)(v & 0xff); break;
    case DBR_LONG:  *(dbr_long_t *)out = (dbr_long_t)v; break;
    }
    return 0;
overflow:
    PyErr_Format(PyExc_OverflowError, "%R is out of range for %s", item,
                 dbr_text[plain]);
fail:
    Py_XDECREF(number);
    return -1;
}

static int put_real(PyObject *item, int plain, char *out)
{
    PyObject *number = NULL;
    double d;
    if (PyUnicode_Check(item) || PyBytes_Check(item)) {
        if (!(number = number_of_text(item)))
            return -1;
        item = number;
    }
    if (item == Py_None || !PyNumber_Check(item)) {
        PyErr_Format(PyExc_TypeError, "cannot write %.100s as a CA number",
                     Py_TYPE(item)->tp_name);
        Py_XDECREF(number);
        return -1;
    }
    d = PyFloat_AsDouble(item);
    Py_XDECREF(number);
    if (d == -1.0 && PyErr_Occurred())
        return -1;
    if (plain == DBR_FLOAT) {
        if (isfinite(d) && fabs(d) > FLT_MAX) {
            /* PyErr_Format has no %g (3.12 refuses it): the float's repr. */
            PyObject *shown = PyFloat_FromDouble(d);
            if (shown) {
                PyErr_Format(PyExc_OverflowError, "%R is out of range of DBR_FLOAT", shown);
                Py_DECREF(shown);
            }
            return -1;
        }
        *(dbr_float_t *)out = (dbr_float_t)d;
    } else {
        *(dbr_double_t *)out = d;
    }
    return 0;
}

/* Complex numbers (Python's, numpy's) are no CA value: refused instead of
 * writing their real part (numpy's __float__) or their text.  Complex is a
 * numbers.Complex that is no numbers.Real, as in the cffi backend; the
 * abstract classes are asked only for what is neither int nor float.
 * -1 with an exception if the numbers module cannot be read. */
static int is_complex(PyObject *item)
{
    static PyObject *complex_abc, *real_abc;
    int answer;
    if (PyLong_Check(item) || PyFloat_Check(item))
        return 0;
    if (PyComplex_Check(item))
        return 1;
    if (!complex_abc) {
        PyObject *numbers = PyImport_ImportModule("numbers");
        if (!numbers)
            return -1;
        complex_abc = PyObject_GetAttrString(numbers, "Complex");
        real_abc = PyObject_GetAttrString(numbers, "Real");
        Py_DECREF(numbers);
        if (!complex_abc || !real_abc) {
            Py_CLEAR(complex_abc);
            Py_CLEAR(real_abc);
            return -1;
        }
    }
    answer = PyObject_IsInstance(item, complex_abc);
    if (answer != 1)
        return answer;
    answer = PyObject_IsInstance(item, real_abc);
    return answer < 0 ? -1 : !answer;
}

static int put_element(PyObject *item, int plain, char *out)
{
    int complex_number = is_complex(item);
    if (complex_number < 0)
        return -1;
    if (complex_number) {
        PyErr_Format(PyExc_TypeError, "cannot write %.100s to CA",
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    switch (plain) {
    case DBR_STRING: return put_string(item, out);
    case DBR_FLOAT:
    case DBR_DOUBLE: return put_real(item, plain, out);
    default:         return put_integer(item, plain, out);
    }
}

/* The buffer-protocol format that holds exactly the request type's C type,
 * so a matching numpy array is copied as it is. */
static int format_matches(const Py_buffer *view, int plain)
{
    const char *f = view->format ? view->format : "B";
    char code;
    if (*f == '@' || *f == '=' || *f == '<' || *f == '>' || *f == '!') {
        int little = 1;
        little = *(const char *)&little;
        if ((*f == '<' && !little) || ((*f == '>' || *f == '!') && little))
            return 0;
        f++;
    }
    if (f[0] == 0 || f[1] != 0)
        return 0;
    code = f[0];
    switch (plain) {
    case DBR_SHORT:  return code == 'h';
    case DBR_FLOAT:  return code == 'f';
    case DBR_ENUM:   return code == 'H';
    case DBR_CHAR:   return code == 'B';
    case DBR_LONG:   return (code == 'i' || code == 'l') && view->itemsize == 4;
    case DBR_DOUBLE: return code == 'd';
    }
    return 0;
}

/* Sequences are written element by element; numpy scalars and 0-d arrays
 * (which have a buffer but no length) are single numbers. */
static int is_sequence(PyObject *value)
{
    Py_ssize_t n;
    if (!PySequence_Check(value))
        return 0;
    n = PyObject_Size(value);
    if (n < 0) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* Text to a char array: its bytes and a terminating 0, at most `limit`. */
static int encode_chars(PyObject *value, unsigned long limit, void **buffer,
                        unsigned long *count)
{
    PyObject *bytes;
    unsigned long n;
    if (text_bytes(value, &bytes) < 0)
        return -1;
    n = (unsigned long)PyBytes_GET_SIZE(bytes) + 1;
    if (n > limit)
        n = limit;
    *buffer = calloc(1, n ? n : 1);
    if (!*buffer) {
        Py_DECREF(bytes);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*buffer, PyBytes_AS_STRING(bytes),
           n <= (unsigned long)PyBytes_GET_SIZE(bytes) ? n : n - 1);
    Py_DECREF(bytes);
    *count = n;
    return 0;
}

/* A contiguous buffer (a numpy array) whose items are exactly the request
 * type's C type is copied as it is, without converting each element.
 * -> 1 done, 0 not such a buffer (*multidim says whether it has several
 * dimensions), -1 with an exception. */
static int encode_as_is(PyObject *value, int plain, unsigned long limit, void **buffer,
                        unsigned long *count, int *multidim)
{
    Py_buffer view;
    unsigned long n;
    *multidim = 0;
    if (!PyObject_CheckBuffer(value))
        return 0;
    if (PyObject_GetBuffer(value, &view, PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        return 0;
    }
    if (plain == DBR_STRING || !PyBuffer_IsContiguous(&view, 'C') ||
        !format_matches(&view, plain) ||
        view.itemsize != (Py_ssize_t)dbr_value_size[plain]) {
        *multidim = view.ndim > 1;
        PyBuffer_Release(&view);
        return 0;
    }
    n = (unsigned long)(view.len / view.itemsize);
    if (n > limit)
        n = limit;
    *buffer = malloc(n ? n * view.itemsize : 1);
    if (*buffer)
        memcpy(*buffer, view.buf, n * view.itemsize);
    PyBuffer_Release(&view);
    if (!*buffer) {
        PyErr_NoMemory();
        return -1;
    }
    *count = n;
    return 1;
}

/* The elements of a sequence; an image written to a waveform goes in row
 * by row, flattened.  New reference (PySequence_Fast) or NULL. */
static PyObject *flat_items(PyObject *value, int multidim)
{
    PyObject *flat = multidim ? PyObject_CallMethod(value, "reshape", "i", -1) : NULL, *seq;
    if (multidim && !flat)
        return NULL;
    seq = PySequence_Fast(flat ? flat : value, "value must be a number, a string or a sequence");
    Py_XDECREF(flat);
    return seq;
}

/* n elements, each converted by value: those of `seq`, or `value` itself. */
static int encode_elements(PyObject *seq, PyObject *value, unsigned long n, int plain,
                           void **buffer)
{
    size_t size = dbr_value_size[plain];
    unsigned long i;
    char *out = calloc(n ? n : 1, size);
    if (!out) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = seq ? PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i) : value;
        if (put_element(item, plain, out + i * size) < 0) {
            free(out);
            return -1;
        }
    }
    *buffer = out;
    return 0;
}

int dbr_encode(PyObject *value, long *type, unsigned long native_count,
               unsigned long *count, void **buffer)
{
    int plain, multidim, status;
    unsigned long limit, n;
    PyObject *seq;

    if (value == Py_None) {
        PyErr_SetString(PyExc_TypeError, "cannot write None");
        return -1;
    }
    if (*type == DBR_PUT_ACKT || *type == DBR_PUT_ACKS)
        plain = DBR_ENUM;   /* both are one dbr_put_ack*_t, an unsigned short */
    else
        plain = (int)*type;
    limit = native_count ? native_count : ULONG_MAX;
    if (*count && *count < limit)
        limit = *count;

    if (PyUnicode_Check(value) || PyBytes_Check(value)) {
        if (plain == DBR_ENUM && *type == DBR_ENUM)
            *type = plain = DBR_STRING;   /* the server looks the state up */
        if (plain == DBR_CHAR)
            return encode_chars(value, limit, buffer, count);
        /* one string, or one number parsed from it */
        *count = 1;
        return encode_elements(NULL, value, 1, plain, buffer);
    }
    if (!is_sequence(value)) {
        *count = 1;
        return encode_elements(NULL, value, 1, plain, buffer);
    }
    if ((status = encode_as_is(value, plain, limit, buffer, count, &multidim)) != 0)
        return status < 0 ? -1 : 0;
    if (!(seq = flat_items(value, multidim)))
        return -1;
    n = (unsigned long)PySequence_Fast_GET_SIZE(seq);
    if (n > limit)
        n = limit;
    status = encode_elements(seq, NULL, n, plain, buffer);
    Py_DECREF(seq);
    if (status == 0)
        *count = n;
    return status;
}
