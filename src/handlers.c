/* The context-wide handlers: server exceptions and libca's diagnostic
 * printing.  One Python callable each for the process; installing one puts
 * the C trampoline into the calling thread's context. */
#include "caext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static PyObject *exception_callback;
static PyObject *printf_callback;

static PyObject *optional_text(const char *s)
{
    if (!s)
        return PyUnicode_FromString("");
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static void exception_handler(struct exception_handler_args args)
{
    cb_state gil;
    PyObject *callback, *chan, *d;
    if (!cb_enter(&gil))
        return;
    callback = exception_callback;
    if (callback) {
        Py_INCREF(callback);
        /* Some exceptions concern no channel (chid is NULL). */
        chan = args.chid ? (PyObject *)ca_puser(args.chid) : Py_None;
        d = Py_BuildValue("{O:O,O:N,O:l,O:N,O:N,O:N,O:N,O:N,O:I}",
                          keys[K_chid], chan ? chan : Py_None,
                          keys[K_type], dbr_member(args.type),
                          keys[K_count], args.count,
                          keys[K_addr], PyLong_FromVoidPtr(args.addr),
                          keys[K_stat], ECA_OBJ(args.stat),
                          keys[K_op], enum_member(OP_members, args.op),
                          keys[K_ctx], optional_text(args.ctx),
                          keys[K_file], optional_text(args.pFile),
                          keys[K_lineNo], args.lineNo);
        cb_call(callback, d);
        Py_DECREF(callback);
    }
    cb_leave(gil);
}

/* Parses the one optional callback argument, checks it and stores it in
 * *slot; returns 1 when a callback is installed, 0 for None, -1 on error. */
static int take_handler(PyObject *args, PyObject *kw, const char *format, PyObject **slot)
{
    static char *kwlist[] = {"callback", NULL};
    PyObject *callback = Py_None, *old;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &callback))
        return -1;
    if (check_optional_callback(callback) < 0)
        return -1;
    if (!context_current(1))
        return -1;
    old = *slot;
    *slot = callback == Py_None ? NULL : callback;
    Py_XINCREF(*slot);
    Py_XDECREF(old);
    return *slot != NULL;
}

PyObject *py_add_exception_event(PyObject *self, PyObject *args, PyObject *kw)
{
    ContextObject *rec;
    int status, installed = take_handler(args, kw, "|O:add_exception_event",
                                         &exception_callback);
    /* Without a context, libca would make a non-preemptive one of its own. */
    if (installed < 0 || !(rec = context_current(1)))
        return NULL;
    /* A NULL handler restores libca's default one. */
    GATED(rec, status, ECA_NOCACTX,
                 ca_add_exception_event(installed ? exception_handler : NULL, NULL));
    return ECA_OBJ(status);
}

static int printf_handler(const char *format, va_list args)
{
    cb_state gil;
    char small[512], *text = small;
    int n;
    va_list copy;

    va_copy(copy, args);
    n = vsnprintf(small, sizeof(small), format, copy);
    va_end(copy);
    if (n < 0)
        return n;
    if ((size_t)n >= sizeof(small)) {
        text = malloc((size_t)n + 1);
        if (!text)
            return -1;
        vsnprintf(text, (size_t)n + 1, format, args);
    }
    if (cb_enter(&gil)) {
        PyObject *callback = printf_callback;
        if (callback) {
            Py_INCREF(callback);
            cb_call(callback, PyUnicode_DecodeUTF8(text, n, "replace"));
            Py_DECREF(callback);
        } else {
            fputs(text, stderr);
        }
        cb_leave(gil);
    } else {
        fputs(text, stderr);
    }
    if (text != small)
        free(text);
    return n;
}

PyObject *py_replace_printf_handler(PyObject *self, PyObject *args, PyObject *kw)
{
    ContextObject *rec;
    int status, installed = take_handler(args, kw, "|O:replace_printf_handler",
                                         &printf_callback);
    if (installed < 0 || !(rec = context_current(1)))
        return NULL;
    /* A NULL handler restores libca's printing to stderr. */
    GATED(rec, status, ECA_NOCACTX,
                 ca_replace_printf_handler(installed ? printf_handler : NULL));
    return ECA_OBJ(status);
}
