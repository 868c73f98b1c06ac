/* CaChannel._ca: module state, argument helpers and the method table. */
#include "caext.h"

#include <limits.h>
#include <stddef.h>

#include <alarm.h>
#include <epicsTime.h>

PyObject *eca_normal;
PyObject *ECA_members, *DBR_members, *DBF_members, *State_members,
         *OP_members, *Severity_members, *Condition_members;
PyObject *keys[K__COUNT];
int shutting_down = 0;   /* through is_shutting_down()/set_shutting_down() only */
Py_ssize_t live_usr = 0;

static const char *key_names[K__COUNT] = {
    "chid", "op", "type", "count", "status", "value", "severity", "stamp",
    "seconds", "nanoseconds", "timestamp", "units", "precision",
    "upper_disp_limit", "lower_disp_limit", "upper_alarm_limit",
    "upper_warning_limit", "lower_warning_limit", "lower_alarm_limit",
    "upper_ctrl_limit", "lower_ctrl_limit", "no_str", "strs", "ackt",
    "acks", "read_access", "write_access", "addr", "stat", "ctx", "file",
    "lineNo", "pv_value", "pv_status", "pv_severity", "pv_seconds", "pv_nseconds",
};

PyObject *enum_member(PyObject *members, long value)
{
    PyObject *key = PyLong_FromLong(value), *member;
    if (!key)
        return NULL;
    member = PyDict_GetItemWithError(members, key);
    if (member) {
        Py_DECREF(key);
        Py_INCREF(member);
        return member;
    }
    /* A value the enum does not know (a newer server, a misbehaving one)
     * still reaches the user, as a plain int. */
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    }
    return key;
}

static PyObject *dbr_by_type[LAST_BUFFER_TYPE + 1];

PyObject *dbr_member(long type)
{
    if (dbr_type_is_valid(type)) {
        Py_INCREF(dbr_by_type[type]);
        return dbr_by_type[type];
    }
    return enum_member(DBR_members, type);
}

PyObject *status_pair(int status, PyObject *obj)
{
    PyObject *code = ECA_OBJ(status), *pair;
    if (!code)
        return NULL;
    if (!(pair = PyTuple_New(2))) {
        Py_DECREF(code);
        return NULL;
    }
    obj = obj ? obj : Py_None;
    Py_INCREF(obj);
    PyTuple_SET_ITEM(pair, 0, code);
    PyTuple_SET_ITEM(pair, 1, obj);
    return pair;
}

/* PyArg_ParseTupleAndKeywords would need the arguments as a tuple and parse
 * a format string on every call: on the calls every channel makes (create,
 * get, clear) that and Py_BuildValue's format were a quarter of the
 * instructions of the call (callgrind). */
int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, int n, int required, PyObject **out)
{
    Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int j;
    /* The messages are Python's own, as the cffi backend's functions give. */
    if (nargs > n) {
        if (required == n)
            PyErr_Format(PyExc_TypeError, "%s() takes %d positional argument%s but %zd were given",
                         fname, n, n == 1 ? "" : "s", nargs);
        else
            PyErr_Format(PyExc_TypeError,
                         "%s() takes from %d to %d positional arguments but %zd were given",
                         fname, required, n, nargs);
        return -1;
    }
    for (j = 0; j < n; j++)
        out[j] = j < nargs ? args[j] : NULL;
    for (i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        for (j = 0; j < n; j++)
            if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0)
                break;
        if (j == n) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                         fname, key);
            return -1;
        }
        if (out[j]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         fname, names[j]);
            return -1;
        }
        out[j] = args[nargs + i];
    }
    for (j = 0; j < required; j++) {
        if (!out[j]) {
            PyErr_Format(PyExc_TypeError, "%s() missing 1 required positional argument: '%s'",
                         fname, names[j]);
            return -1;
        }
    }
    return 0;
}

int int_arg(PyObject *obj, int *out)
{
    long value = PyLong_AsLong(obj);
    if (value == -1 && PyErr_Occurred())
        return -1;
    if (value < INT_MIN || value > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "signed integer is out of range for an int");
        return -1;
    }
    *out = (int)value;
    return 0;
}

#if PY_VERSION_HEX >= 0x030D0000
#define IS_FINALIZING() Py_IsFinalizing()
#else
#define IS_FINALIZING() _Py_IsFinalizing()
#endif

/* A Python thread state for each libca thread, made on its first callback
 * and kept for the thread's life: PyGILState_Ensure/Release on a foreign
 * thread would build and tear one down for every single event. */
static _Thread_local PyThreadState *libca_tstate;

int cb_enter(cb_state *state)
{
    /* Taking the GIL while the interpreter finalizes can park this libca
     * thread forever while it holds libca's locks; drop the event instead. */
    if (is_shutting_down() || !Py_IsInitialized() || IS_FINALIZING())
        return 0;
    if (libca_tstate) {
        PyEval_RestoreThread(libca_tstate);
        *state = CB_OWN_TSTATE;
    } else if (PyGILState_GetThisThreadState()) {
        /* a Python thread, e.g. inside pend_event of a non-preemptive context */
        *state = PyGILState_Ensure() == PyGILState_LOCKED ? CB_GILSTATE_LOCKED
                                                           : CB_GILSTATE_UNLOCKED;
    } else {
        /* This Ensure is never released: its thread state stays. */
        PyGILState_Ensure();
        libca_tstate = PyThreadState_Get();
        *state = CB_OWN_TSTATE;
    }
    return 1;
}

void cb_leave(cb_state state)
{
    if (PyErr_Occurred())
        PyErr_WriteUnraisable(NULL);
    if (state == CB_OWN_TSTATE)
        PyEval_SaveThread();
    else
        PyGILState_Release(state == CB_GILSTATE_LOCKED ? PyGILState_LOCKED
                                                       : PyGILState_UNLOCKED);
}

void cb_call(PyObject *callback, PyObject *arg)
{
    PyObject *result;
    if (!arg) {
        PyErr_WriteUnraisable(callback);
        return;
    }
    result = PyObject_CallOneArg(callback, arg);
    Py_DECREF(arg);
    if (result)
        Py_DECREF(result);
    else
        PyErr_WriteUnraisable(callback);
}

int check_optional_callback(PyObject *callback)
{
    if (callback == Py_None || PyCallable_Check(callback))
        return 0;
    PyErr_SetString(PyExc_TypeError, "callback must be callable or None");
    return -1;
}

/* timeout argument: a number, not NaN, not negative (0: for ever) */
int timeout_arg(PyObject *arg, double *timeout)
{
    *timeout = PyFloat_AsDouble(arg);
    if (*timeout == -1.0 && PyErr_Occurred())
        return -1;
    if (*timeout != *timeout) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be NaN");
        return -1;
    }
    if (*timeout < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must not be negative");
        return -1;
    }
    return 0;
}

/* A channel that is not connected has a native count of 0, and so has its
 * request (cffi's request_count alike): libca answers ECA_DISCONN where the
 * request needs a connection, and a subscription made before the
 * connection gets the server's length. */
int request_count(PyObject *obj, unsigned long native, int allow_zero,
                unsigned long *count)
{
    long long requested;
    if (obj == NULL || obj == Py_None) {
        *count = native;
        return 0;
    }
    if (!PyIndex_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "count must be an int or None, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    {
        PyObject *index = PyNumber_Index(obj);
        int overflow;
        if (!index)
            return -1;
        requested = PyLong_AsLongLongAndOverflow(index, &overflow);
        Py_DECREF(index);
        if (overflow)
            requested = overflow > 0 ? (long long)native + 1 : -1;
    }
    if (requested == 0 && allow_zero)
        *count = 0;
    else if (requested <= 0 || (unsigned long long)requested > native)
        *count = native;
    else
        *count = (unsigned long)requested;
    return 0;
}

static PyObject *py__live_callbacks(PyObject *self, PyObject *unused)
{
    return PyLong_FromSsize_t(live_usr);
}

static int add_int(PyObject *d, const char *name, long value)
{
    PyObject *v = PyLong_FromLong(value);
    int rc = v ? PyDict_SetItemString(d, name, v) : -1;
    Py_XDECREF(v);
    return rc;
}

static int add_strings(PyObject *d, const char *name, const char *const *table,
                       Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    Py_ssize_t i;
    int rc;
    if (!t)
        return -1;
    for (i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(table[i] ? table[i] : "");
        if (!s) {
            Py_DECREF(t);
            return -1;
        }
        PyTuple_SET_ITEM(t, i, s);
    }
    rc = PyDict_SetItemString(d, name, t);
    Py_DECREF(t);
    return rc;
}

typedef struct {
    const char *name;
    size_t offset;
} field_offset;

/* d[name] = (size, {field: offset}) */
static int add_layout(PyObject *d, const char *name, size_t size,
                      const field_offset *fields, size_t nfields)
{
    PyObject *offsets = PyDict_New(), *entry = NULL;
    size_t i;
    int rc = -1;
    if (!offsets)
        return -1;
    for (i = 0; i < nfields; i++) {
        PyObject *v = PyLong_FromSize_t(fields[i].offset);
        int bad = !v || PyDict_SetItemString(offsets, fields[i].name, v) < 0;
        Py_XDECREF(v);
        if (bad)
            goto done;
    }
    entry = Py_BuildValue("(nO)", (Py_ssize_t)size, offsets);
    if (entry)
        rc = PyDict_SetItemString(d, name, entry);
done:
    Py_XDECREF(entry);
    Py_DECREF(offsets);
    return rc;
}

/* The structures caffi_backend/_ffi.py declares by hand, as the headers lay
 * them out: tests/test_constants.py compares them with cffi's sizes and
 * offsets field by field. */
static PyObject *struct_layouts(void)
{
    PyObject *d = PyDict_New();
    int rc = 0;
    if (!d)
        return NULL;
#define AT(f) {#f, offsetof(layout_struct, f)}
#define LAYOUT(s, ...) do {                                                   \
        typedef struct s layout_struct;                                       \
        static const field_offset fields_[] = {__VA_ARGS__};                  \
        rc |= add_layout(d, #s, sizeof(layout_struct), fields_,               \
                         sizeof(fields_) / sizeof(fields_[0]));               \
    } while (0)
    LAYOUT(epicsTimeStamp, AT(secPastEpoch), AT(nsec));
    LAYOUT(dbr_sts_string, AT(status), AT(severity), AT(value));
    LAYOUT(dbr_stsack_string, AT(status), AT(severity), AT(ackt), AT(acks), AT(value));
    LAYOUT(dbr_sts_short, AT(status), AT(severity), AT(value));
    LAYOUT(dbr_sts_float, AT(status), AT(severity), AT(value));
    LAYOUT(dbr_sts_enum, AT(status), AT(severity), AT(value));
    LAYOUT(dbr_sts_char, AT(status), AT(severity), AT(RISC_pad), AT(value));
    LAYOUT(dbr_sts_long, AT(status), AT(severity), AT(value));
    LAYOUT(dbr_sts_double, AT(status), AT(severity), AT(RISC_pad), AT(value));
    LAYOUT(dbr_time_string, AT(status), AT(severity), AT(stamp), AT(value));
    LAYOUT(dbr_time_short, AT(status), AT(severity), AT(stamp), AT(RISC_pad),
           AT(value));
    LAYOUT(dbr_time_float, AT(status), AT(severity), AT(stamp), AT(value));
    LAYOUT(dbr_time_enum, AT(status), AT(severity), AT(stamp), AT(RISC_pad), AT(value));
    LAYOUT(dbr_time_char, AT(status), AT(severity), AT(stamp), AT(RISC_pad0),
           AT(RISC_pad1), AT(value));
    LAYOUT(dbr_time_long, AT(status), AT(severity), AT(stamp), AT(value));
    LAYOUT(dbr_time_double, AT(status), AT(severity), AT(stamp), AT(RISC_pad),
           AT(value));
    LAYOUT(dbr_gr_short, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(value));
    LAYOUT(dbr_gr_float, AT(status), AT(severity), AT(precision), AT(RISC_pad0),
           AT(units), AT(upper_disp_limit), AT(lower_disp_limit), AT(upper_alarm_limit),
           AT(upper_warning_limit), AT(lower_warning_limit), AT(lower_alarm_limit),
           AT(value));
    LAYOUT(dbr_gr_enum, AT(status), AT(severity), AT(no_str), AT(strs), AT(value));
    LAYOUT(dbr_gr_char, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(RISC_pad), AT(value));
    LAYOUT(dbr_gr_long, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(value));
    LAYOUT(dbr_gr_double, AT(status), AT(severity), AT(precision), AT(RISC_pad0),
           AT(units), AT(upper_disp_limit), AT(lower_disp_limit), AT(upper_alarm_limit),
           AT(upper_warning_limit), AT(lower_warning_limit), AT(lower_alarm_limit),
           AT(value));
    LAYOUT(dbr_ctrl_short, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(upper_ctrl_limit),
           AT(lower_ctrl_limit), AT(value));
    LAYOUT(dbr_ctrl_float, AT(status), AT(severity), AT(precision), AT(RISC_pad),
           AT(units), AT(upper_disp_limit), AT(lower_disp_limit), AT(upper_alarm_limit),
           AT(upper_warning_limit), AT(lower_warning_limit), AT(lower_alarm_limit),
           AT(upper_ctrl_limit), AT(lower_ctrl_limit), AT(value));
    LAYOUT(dbr_ctrl_enum, AT(status), AT(severity), AT(no_str), AT(strs), AT(value));
    LAYOUT(dbr_ctrl_char, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(upper_ctrl_limit),
           AT(lower_ctrl_limit), AT(RISC_pad), AT(value));
    LAYOUT(dbr_ctrl_long, AT(status), AT(severity), AT(units), AT(upper_disp_limit),
           AT(lower_disp_limit), AT(upper_alarm_limit), AT(upper_warning_limit),
           AT(lower_warning_limit), AT(lower_alarm_limit), AT(upper_ctrl_limit),
           AT(lower_ctrl_limit), AT(value));
    LAYOUT(dbr_ctrl_double, AT(status), AT(severity), AT(precision), AT(RISC_pad0),
           AT(units), AT(upper_disp_limit), AT(lower_disp_limit), AT(upper_alarm_limit),
           AT(upper_warning_limit), AT(lower_warning_limit), AT(lower_alarm_limit),
           AT(upper_ctrl_limit), AT(lower_ctrl_limit), AT(value));
    LAYOUT(connection_handler_args, AT(chid), AT(op));
    LAYOUT(event_handler_args, AT(usr), AT(chid), AT(type), AT(count), AT(dbr),
           AT(status));
    LAYOUT(exception_handler_args, AT(usr), AT(chid), AT(type), AT(count), AT(addr),
           AT(stat), AT(op), AT(ctx), AT(pFile), AT(lineNo));
#undef LAYOUT
#undef AT
    if (rc) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* Every constant as the C headers define it, for the test that proves the
 * pure-Python definitions in CaChannel._constants agree with them; under
 * "struct_layouts", the layouts of the structures cffi declares. */
static PyObject *py__header_constants(PyObject *self, PyObject *unused)
{
    PyObject *d = PyDict_New(), *layouts;
    int rc = 0;
    if (!d)
        return NULL;
#define I(name) rc |= add_int(d, #name, (long)(name))
    I(ECA_NORMAL); I(ECA_MAXIOC); I(ECA_UKNHOST); I(ECA_UKNSERV);
    I(ECA_SOCK); I(ECA_CONN); I(ECA_ALLOCMEM); I(ECA_UKNCHAN);
    I(ECA_UKNFIELD); I(ECA_TOLARGE); I(ECA_TIMEOUT); I(ECA_NOSUPPORT);
    I(ECA_STRTOBIG); I(ECA_DISCONNCHID); I(ECA_BADTYPE); I(ECA_CHIDNOTFND);
    I(ECA_CHIDRETRY); I(ECA_INTERNAL); I(ECA_DBLCLFAIL); I(ECA_GETFAIL);
    I(ECA_PUTFAIL); I(ECA_ADDFAIL); I(ECA_BADCOUNT); I(ECA_BADSTR);
    I(ECA_DISCONN); I(ECA_DBLCHNL); I(ECA_EVDISALLOW); I(ECA_BUILDGET);
    I(ECA_NEEDSFP); I(ECA_OVEVFAIL); I(ECA_BADMONID); I(ECA_NEWADDR);
    I(ECA_NEWCONN); I(ECA_NOCACTX); I(ECA_DEFUNCT); I(ECA_EMPTYSTR);
    I(ECA_NOREPEATER); I(ECA_NOCHANMSG); I(ECA_DLCKREST); I(ECA_SERVBEHIND);
    I(ECA_NOCAST); I(ECA_BADMASK); I(ECA_IODONE); I(ECA_IOINPROGRESS);
    I(ECA_BADSYNCGRP); I(ECA_PUTCBINPROG); I(ECA_NORDACCESS);
    I(ECA_NOWTACCESS); I(ECA_ANACHRONISM); I(ECA_NOSEARCHADDR);
    I(ECA_NOCONVERT); I(ECA_BADCHID); I(ECA_BADFUNCPTR); I(ECA_ISATTACHED);
    I(ECA_UNAVAILINSERV); I(ECA_CHANDESTROY); I(ECA_BADPRIORITY);
    I(ECA_NOTTHREADED); I(ECA_16KARRAYCLIENT); I(ECA_CONNSEQTMO);
    I(ECA_UNRESPTMO);
    I(CA_K_INFO); I(CA_K_ERROR); I(CA_K_SUCCESS); I(CA_K_WARNING);
    I(CA_K_SEVERE); I(CA_K_FATAL);
    I(DBF_STRING); I(DBF_INT); I(DBF_SHORT); I(DBF_FLOAT); I(DBF_ENUM);
    I(DBF_CHAR); I(DBF_LONG); I(DBF_DOUBLE); I(DBF_NO_ACCESS);
    I(DBR_STRING); I(DBR_INT); I(DBR_SHORT); I(DBR_FLOAT); I(DBR_ENUM);
    I(DBR_CHAR); I(DBR_LONG); I(DBR_DOUBLE);
    I(DBR_STS_STRING); I(DBR_STS_SHORT); I(DBR_STS_INT); I(DBR_STS_FLOAT);
    I(DBR_STS_ENUM); I(DBR_STS_CHAR); I(DBR_STS_LONG); I(DBR_STS_DOUBLE);
    I(DBR_TIME_STRING); I(DBR_TIME_SHORT); I(DBR_TIME_INT); I(DBR_TIME_FLOAT);
    I(DBR_TIME_ENUM); I(DBR_TIME_CHAR); I(DBR_TIME_LONG); I(DBR_TIME_DOUBLE);
    I(DBR_GR_STRING); I(DBR_GR_SHORT); I(DBR_GR_INT); I(DBR_GR_FLOAT);
    I(DBR_GR_ENUM); I(DBR_GR_CHAR); I(DBR_GR_LONG); I(DBR_GR_DOUBLE);
    I(DBR_CTRL_STRING); I(DBR_CTRL_SHORT); I(DBR_CTRL_INT); I(DBR_CTRL_FLOAT);
    I(DBR_CTRL_ENUM); I(DBR_CTRL_CHAR); I(DBR_CTRL_LONG); I(DBR_CTRL_DOUBLE);
    I(DBR_PUT_ACKT); I(DBR_PUT_ACKS); I(DBR_STSACK_STRING); I(DBR_CLASS_NAME);
    I(DBE_VALUE); I(DBE_LOG); I(DBE_ARCHIVE); I(DBE_ALARM); I(DBE_PROPERTY);
    I(cs_never_conn); I(cs_prev_conn); I(cs_conn); I(cs_closed);
    I(CA_OP_GET); I(CA_OP_PUT); I(CA_OP_CREATE_CHANNEL); I(CA_OP_ADD_EVENT);
    I(CA_OP_CLEAR_EVENT); I(CA_OP_OTHER); I(CA_OP_CONN_UP); I(CA_OP_CONN_DOWN);
    I(CA_PRIORITY_MAX); I(CA_PRIORITY_MIN); I(CA_PRIORITY_DEFAULT);
    I(CA_PRIORITY_DB_LINKS); I(CA_PRIORITY_ARCHIVE); I(CA_PRIORITY_OPI);
    I(MAX_STRING_SIZE); I(MAX_UNITS_SIZE); I(MAX_ENUM_STRING_SIZE);
    I(MAX_ENUM_STATES); I(POSIX_TIME_AT_EPICS_EPOCH); I(TYPENOTCONN);
    I(NO_ALARM); I(MINOR_ALARM); I(MAJOR_ALARM); I(INVALID_ALARM);
    I(READ_ALARM); I(WRITE_ALARM); I(HIHI_ALARM); I(HIGH_ALARM);
    I(LOLO_ALARM); I(LOW_ALARM); I(STATE_ALARM); I(COS_ALARM);
    I(COMM_ALARM); I(TIMEOUT_ALARM); I(HW_LIMIT_ALARM); I(CALC_ALARM);
    I(SCAN_ALARM); I(LINK_ALARM); I(SOFT_ALARM); I(BAD_SUB_ALARM);
    I(UDF_ALARM); I(DISABLE_ALARM); I(SIMM_ALARM); I(READ_ACCESS_ALARM);
    I(WRITE_ACCESS_ALARM);
#undef I
    rc |= add_strings(d, "dbr_text", dbr_text, LAST_BUFFER_TYPE + 1);
    rc |= add_strings(d, "dbf_text", dbf_text, LAST_TYPE + 3);
    rc |= add_strings(d, "epicsAlarmSeverityStrings", epicsAlarmSeverityStrings,
                      ALARM_NSEV);
    rc |= add_strings(d, "epicsAlarmConditionStrings", epicsAlarmConditionStrings,
                      ALARM_NSTATUS);
    layouts = struct_layouts();
    rc |= !layouts || PyDict_SetItemString(d, "struct_layouts", layouts) < 0;
    Py_XDECREF(layouts);
    if (rc) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* The single-argument calls also take their argument by the contract's name
 * (docs/maintainers.rst). */
#define ONE_ARG(fn, argname)                                                  \
    static PyObject *fn##_kw(PyObject *self, PyObject *const *args,           \
                             Py_ssize_t nargs, PyObject *kwnames)             \
    {                                                                         \
        static const char *const names[] = {argname};                        \
        PyObject *arg;                                                        \
        if (parse_args(#fn, args, nargs, kwnames, names, 1, 1, &arg) < 0)     \
            return NULL;                                                      \
        return py_##fn(self, arg);                                            \
    }
ONE_ARG(attach_context, "context")
ONE_ARG(pend_io, "timeout")
ONE_ARG(pend_event, "timeout")
ONE_ARG(clear_channel, "chid")
ONE_ARG(field_type, "chid")
ONE_ARG(element_count, "chid")
ONE_ARG(name, "chid")
ONE_ARG(state, "chid")
ONE_ARG(host_name, "chid")
ONE_ARG(read_access, "chid")
ONE_ARG(write_access, "chid")
ONE_ARG(clear_subscription, "evid")
ONE_ARG(sg_delete, "gid")
ONE_ARG(sg_test, "gid")
ONE_ARG(sg_reset, "gid")
ONE_ARG(message, "status")

/* Docstrings start with a text signature so inspect.signature() sees the
 * same parameters as the cffi backend's. */
#define KW(fn, sig, doc) \
    {#fn, (PyCFunction)(void (*)(void))fn##_kw, METH_FASTCALL | METH_KEYWORDS, \
     #fn "($module, " sig ")\n--\n\n" doc}
/* The calls every channel makes, which parse their own arguments (parse_args). */
#define FAST(fn, sig, doc) \
    {#fn, (PyCFunction)(void (*)(void))py_##fn, METH_FASTCALL | METH_KEYWORDS, \
     #fn "($module, " sig ")\n--\n\n" doc}
#define KWP(fn, sig, doc) \
    {#fn, (PyCFunction)(void (*)(void))py_##fn, METH_VARARGS | METH_KEYWORDS, \
     #fn "($module, " sig ")\n--\n\n" doc}
#define NOARG(fn, doc) \
    {#fn, (PyCFunction)py_##fn, METH_NOARGS, #fn "($module)\n--\n\n" doc}

static PyMethodDef methods[] = {
    KWP(create_context, "preemptive_callback=True",
        "Create a CA context for the calling thread -> ECA."),
    NOARG(destroy_context, "Destroy the calling thread's CA context."),
    KW(attach_context, "context", "Attach the calling thread to a context -> ECA."),
    NOARG(detach_context, "Detach the calling thread from its context."),
    NOARG(current_context, "The calling thread's context, or None."),
    KWP(show_context, "context=None, level=0", "Print the state of a context."),
    KW(pend_io, "timeout", "Flush and wait for outstanding gets and searches -> ECA."),
    KW(pend_event, "timeout", "Flush and process background work for timeout s -> ECA."),
    NOARG(poll, "Flush and process background work once -> ECA."),
    KWP(pend, "timeout, early", "pend_io if early, else pend_event -> ECA."),
    NOARG(test_io, "ECA.IODONE or ECA.IOINPROGRESS."),
    NOARG(flush_io, "Send buffered requests -> ECA."),
    FAST(create_channel, "name, callback=None, priority=0",
        "Create a channel -> (ECA, chid or None)."),
    KW(clear_channel, "chid", "Clear a channel -> ECA."),
    KWP(change_connection_event, "chid, callback=None",
        "Replace the connection callback -> ECA."),
    KWP(replace_access_rights_event, "chid, callback=None",
        "Replace the access rights callback -> ECA."),
    KW(field_type, "chid", "Native type of the channel -> DBF."),
    KW(element_count, "chid", "Native element count of the channel."),
    KW(name, "chid", "Name the channel was created with."),
    KW(state, "chid", "Connection state -> ChannelState."),
    KW(host_name, "chid", "Server of the channel."),
    KW(read_access, "chid", "True if the channel may be read."),
    KW(write_access, "chid", "True if the channel may be written."),
    FAST(get, "chid, chtype=None, count=None, callback=None, use_numpy=False",
        "Read a channel -> (ECA, DBRValue or None)."),
    KWP(put, "chid, value, chtype=None, count=None, callback=None",
        "Write a channel -> ECA."),
    KWP(create_subscription,
        "chid, callback, chtype=None, count=None, mask=None, use_numpy=False, *, _pv_fields=False",
        "Monitor a channel -> (ECA, evid or None)."),
    KW(clear_subscription, "evid", "Stop a monitor -> ECA."),
    NOARG(sg_create, "Create a synchronous group -> (ECA, gid or None)."),
    KW(sg_delete, "gid", "Delete a synchronous group -> ECA."),
    KWP(sg_get, "gid, chid, chtype=None, count=None, use_numpy=False",
        "Read within a group -> (ECA, DBRValue or None)."),
    KWP(sg_put, "gid, chid, value, chtype=None, count=None", "Write within a group -> ECA."),
    KWP(sg_block, "gid, timeout", "Wait for a group's requests -> ECA."),
    KW(sg_test, "gid", "ECA.IODONE or ECA.IOINPROGRESS for a group."),
    KW(sg_reset, "gid", "Forget a group's outstanding requests -> ECA."),
    KWP(add_exception_event, "callback=None",
        "Replace the context's exception handler (None: libca's) -> ECA."),
    KWP(replace_printf_handler, "callback=None",
        "Replace libca's diagnostic printing (None: stderr) -> ECA."),
    KW(message, "status", "Text of an ECA status."),
    NOARG(version, "libca's protocol version, e.g. '4.13'."),
    NOARG(_live_callbacks, "Number of Python references lent to libca (leak tests)."),
    NOARG(_header_constants, "Constants and structure layouts as the C headers define them."),
    NOARG(_after_fork_child, "Forget the parent's contexts in a forked child (os.register_at_fork)."),
    NOARG(_shutdown, "Stop callbacks into Python and destroy the default context (atexit)."),
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "CaChannel._ca",
    "C extension backend of CaChannel.ca: one function per libca call.",
    -1, methods,
};

static PyObject *member_map(PyObject *constants, const char *enum_name)
{
    PyObject *cls = PyObject_GetAttrString(constants, enum_name), *map;
    if (!cls)
        return NULL;
    map = PyObject_GetAttrString(cls, "_value2member_map_");
    Py_DECREF(cls);
    return map;
}

/* os.register_at_fork(after_in_child=_after_fork_child): a forked child
 * must not use the parent's context (see context.c); and atexit runs
 * _shutdown before the interpreter finalizes, registered by the backend
 * itself (as caffi_backend does), so a backend loaded beside the selected
 * one is covered too. */
static int register_process_hooks(PyObject *m)
{
    PyObject *os = PyImport_ImportModule("os"), *reg = NULL, *hook = NULL,
             *empty = NULL, *kw = NULL, *r = NULL, *atexit = NULL, *r2 = NULL;
    if (os && (reg = PyObject_GetAttrString(os, "register_at_fork")) &&
        (hook = PyObject_GetAttrString(m, "_after_fork_child")) &&
        (empty = PyTuple_New(0)) &&
        (kw = Py_BuildValue("{s:O}", "after_in_child", hook)))
        r = PyObject_Call(reg, empty, kw);
    if (r && (atexit = PyImport_ImportModule("atexit")))
        r2 = PyObject_CallMethod(atexit, "register", "N", PyObject_GetAttrString(m, "_shutdown"));
    Py_XDECREF(os);
    Py_XDECREF(reg);
    Py_XDECREF(hook);
    Py_XDECREF(empty);
    Py_XDECREF(kw);
    Py_XDECREF(atexit);
    Py_XDECREF(r);
    if (!r2)
        return -1;
    Py_DECREF(r2);
    return 0;
}

static const struct {
    const char *name;
    PyTypeObject *type;
} exported_types[] = {
    {"DBRValue", &DBRValueType}, {"Chid", &ChannelType}, {"Evid", &SubscriptionType},
    {"Context", &ContextType}, {"SyncGroup", &SyncGroupType},
};

PyMODINIT_FUNC PyInit__ca(void)
{
    PyObject *m, *constants;
    int i;

    for (i = 0; i < K__COUNT; i++) {
        keys[i] = PyUnicode_InternFromString(key_names[i]);
        if (!keys[i])
            return NULL;
    }
    constants = PyImport_ImportModule("CaChannel._constants");
    if (!constants)
        return NULL;
    ECA_members = member_map(constants, "ECA");
    DBR_members = member_map(constants, "DBR");
    DBF_members = member_map(constants, "DBF");
    State_members = member_map(constants, "ChannelState");
    OP_members = member_map(constants, "CA_OP");
    Severity_members = member_map(constants, "AlarmSeverity");
    Condition_members = member_map(constants, "AlarmCondition");
    Py_DECREF(constants);
    if (ECA_members) {
        PyObject *key = PyLong_FromLong(ECA_NORMAL);
        eca_normal = key ? PyDict_GetItemWithError(ECA_members, key) : NULL;
        Py_XINCREF(eca_normal);
        Py_XDECREF(key);
    }
    if (!eca_normal || !ECA_members || !DBR_members || !DBF_members || !State_members ||
        !OP_members || !Severity_members || !Condition_members)
        return NULL;
    for (i = 0; i <= LAST_BUFFER_TYPE; i++) {
        dbr_by_type[i] = enum_member(DBR_members, i);
        if (!dbr_by_type[i])
            return NULL;
    }

    if (PyType_Ready(&ContextType) < 0 || PyType_Ready(&ChannelType) < 0 ||
        PyType_Ready(&SubscriptionType) < 0 || PyType_Ready(&SyncGroupType) < 0 ||
        PyType_Ready(&DBRValueType) < 0 || PyType_Ready(&IOAccountType) < 0)
        return NULL;

    m = PyModule_Create(&moduledef);
    if (!m)
        return NULL;
    /* _names.TYPES: for isinstance() and annotations; none of them can be
       instantiated from Python (no tp_new). */
    for (i = 0; i < (int)(sizeof(exported_types) / sizeof(exported_types[0])); i++) {
        PyTypeObject *type = exported_types[i].type;
        Py_INCREF(type);
        if (PyModule_AddObject(m, exported_types[i].name, (PyObject *)type) < 0) {
            Py_DECREF(type);
            Py_DECREF(m);
            return NULL;
        }
    }
    if (register_process_hooks(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
