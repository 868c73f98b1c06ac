/* Contexts, and the calls that work on the calling thread's context:
 * pend_io, pend_event, poll, pend, test_io, flush_io. */
#include "caext.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <epicsThread.h>

/* pointer -> ContextObject, so one C context is always one Python object */
static PyObject *registry;
/* The process's one preemptive context that threads without a context join. */
static ContextObject *process_context;

static void context_dealloc(ContextObject *self)
{
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *context_repr(ContextObject *self)
{
    return PyUnicode_FromFormat("<CA context %p%s>", (void *)self->ctx,
                                self->valid ? "" : " (destroyed)");
}

/* Equality and hash are identity, as in the cffi backend: one C context is
 * one object while it lives (the registry), and a destroyed one never
 * equals a new context libca places at the same address. */
PyTypeObject ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.Context",
    .tp_basicsize = sizeof(ContextObject),
    .tp_dealloc = (destructor)context_dealloc,
    .tp_repr = (reprfunc)context_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Opaque CA client context identifier.",
};

static PyObject *new_record(struct ca_client_context *ctx, PyObject *key)
{
    ContextObject *rec = PyObject_New(ContextObject, &ContextType);
    if (!rec)
        return NULL;
    rec->ctx = ctx;
    rec->valid = 1;
    rec->busy = 0;
    rec->owned = 0;
    rec->account = NULL;
    rec->account_thread = 0;
    rec->preemptive = ca_preemtive_callback_is_enabled();
    if (PyDict_SetItem(registry, key, (PyObject *)rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    Py_DECREF(rec);   /* the registry keeps it */
    return (PyObject *)rec;
}

/* A destroyed context stays in the registry, marked invalid, so that a
 * thread still attached to it is refused instead of reaching freed memory;
 * `fresh` (a context libca has just created, perhaps at the same address)
 * replaces such a record. */
static ContextObject *lookup_record(struct ca_client_context *ctx, int fresh)
{
    /* The record found last (a reference): nearly every call asks for the
     * same context, and the registry needs an int key made each time.  Only
     * a valid record is taken from here; a destroyed one, which a fresh
     * context at its address replaces, is looked up again. */
    static ContextObject *last;
    PyObject *key, *rec;

    if (last && last->ctx == ctx && last->valid)
        return last;
    if (!registry && !(registry = PyDict_New()))
        return NULL;
    key = PyLong_FromVoidPtr(ctx);
    if (!key)
        return NULL;
    rec = PyDict_GetItemWithError(registry, key);
    if ((!rec && !PyErr_Occurred()) || (rec && fresh && !((ContextObject *)rec)->valid))
        rec = new_record(ctx, key);
    Py_DECREF(key);
    if (rec) {
        ContextObject *old = last;
        Py_INCREF(rec);
        last = (ContextObject *)rec;
        Py_XDECREF(old);
    }
    return (ContextObject *)rec;
}

ContextObject *context_record(struct ca_client_context *ctx)
{
    return lookup_record(ctx, 0);
}

ContextObject *context_current(int create)
{
    struct ca_client_context *ctx;
    ContextObject *rec;

    park_if_exiting();   /* every context call passes here */
    ctx = ca_current_context();

    if (ctx)
        return context_record(ctx);
    if (!create)
        return NULL;
    /* The GIL is kept while the context is created so that two threads
     * racing here cannot both create "the" default context. */
    if (process_context && process_context->valid) {
        int status = ca_attach_context(process_context->ctx);
        if (status != ECA_NORMAL) {
            PyErr_Format(PyExc_RuntimeError, "cannot attach to the CA context: %s",
                         ca_message(status));
            return NULL;
        }
        return process_context;
    }
    {
        int status = ca_context_create(ca_enable_preemptive_callback);
        if (status != ECA_NORMAL) {
            PyErr_Format(PyExc_RuntimeError, "cannot create a CA context: %s",
                         ca_message(status));
            return NULL;
        }
    }
    rec = lookup_record(ca_current_context(), 1);
    if (rec) {
        rec->owned = 1;
        process_context = rec;
    }
    return rec;
}

PyObject *py_create_context(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"preemptive_callback", NULL};
    int preemptive = 1, status;
    ContextObject *rec;

    int had_context = ca_current_context() != NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:create_context", kwlist, &preemptive))
        return NULL;
    status = ca_context_create(preemptive ? ca_enable_preemptive_callback
                                          : ca_disable_preemptive_callback);
    /* A context the thread already had (perhaps another library's) is not
     * ours to offer to other threads, nor to destroy at exit. */
    if (status == ECA_NORMAL && !had_context && ca_current_context()) {
        rec = lookup_record(ca_current_context(), 1);
        if (!rec)
            return NULL;
        rec->owned = 1;
        if (rec->preemptive && !(process_context && process_context->valid))
            process_context = rec;
    }
    return ECA_OBJ(status);
}

/* How long destroying a context waits for other threads to leave libca. */
#define DESTROY_GRACE 1.0

/* Refuses new calls on rec and waits (GIL released) a bounded moment for
 * the threads inside libca on it; 0 if some are still there. */
static int drain_context(ContextObject *rec)
{
    double deadline = monotonic_seconds() + DESTROY_GRACE;
    rec->valid = 0;
    while (rec->busy > 0 && monotonic_seconds() < deadline) {
        Py_BEGIN_ALLOW_THREADS
        epicsThreadSleep(1e-3);
        Py_END_ALLOW_THREADS
    }
    return rec->busy == 0;
}

/* Destroys the calling thread's context, rec.  Every channel is marked
 * stale before anything is released, so that no __del__ run by releasing
 * one channel's callbacks reaches libca through another.  If threads stay
 * inside libca on it past the grace period, the context is left alive (and
 * refusing) rather than destroyed under them. */
static PyObject *destroy_record(ContextObject *rec)
{
    Py_INCREF(rec);
    if (process_context == rec)
        process_context = NULL;
    if (channels_mark_stale(rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    if (!drain_context(rec)) {
        Py_DECREF(rec);
        ca_detach_context();
        if (PyErr_WarnEx(PyExc_RuntimeWarning,
                         "CA context left alive: other threads are still inside libca", 1) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    /* libca joins its threads and waits for callbacks in progress, which
     * need the GIL to finish. */
    Py_BEGIN_ALLOW_THREADS
    ca_context_destroy();
    Py_END_ALLOW_THREADS
    if (channels_release(rec) < 0) {
        Py_DECREF(rec);
        return NULL;
    }
    Py_DECREF(rec);
    Py_RETURN_NONE;
}

PyObject *py_destroy_context(PyObject *self, PyObject *unused)
{
    struct ca_client_context *ctx = ca_current_context();
    ContextObject *rec;

    if (!ctx)
        Py_RETURN_NONE;
    rec = context_record(ctx);
    if (!rec)
        return NULL;
    if (!rec->valid) {
        /* Destroyed under this thread by another one: only let go of it. */
        ca_detach_context();
        Py_RETURN_NONE;
    }
    return destroy_record(rec);
}

PyObject *py_attach_context(PyObject *self, PyObject *arg)
{
    ContextObject *rec;
    int status;
    if (!PyObject_TypeCheck(arg, &ContextType)) {
        PyErr_Format(PyExc_TypeError, "expected a CA context, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    rec = (ContextObject *)arg;
    if (!rec->valid || is_shutting_down())
        return ECA_OBJ(ECA_BADCHID);
    status = ca_attach_context(rec->ctx);
    return ECA_OBJ(status);
}

PyObject *py_detach_context(PyObject *self, PyObject *unused)
{
    ca_detach_context();
    Py_RETURN_NONE;
}

PyObject *py_current_context(PyObject *self, PyObject *unused)
{
    ContextObject *rec;
    if (!ca_current_context())
        Py_RETURN_NONE;
    rec = context_current(0);
    if (!rec)
        return NULL;
    Py_INCREF(rec);
    return (PyObject *)rec;
}

PyObject *py_show_context(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"context", "level", NULL};
    PyObject *context = Py_None;
    unsigned int level = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OI:show_context", kwlist,
                                     &context, &level))
        return NULL;
    if (context != Py_None && !PyObject_TypeCheck(context, &ContextType)) {
        PyErr_Format(PyExc_TypeError, "expected a CA context or None, not %.100s",
                     Py_TYPE(context)->tp_name);
        return NULL;
    }
    if (context != Py_None && !((ContextObject *)context)->valid) {
        PyErr_SetString(PyExc_ValueError, "the CA context has been destroyed");
        return NULL;
    }
    /* Python's own stdout buffer goes first so the report lands in order. */
    {
        PyObject *r = PyObject_CallMethod(PySys_GetObject("stdout"), "flush", NULL);
        if (r)
            Py_DECREF(r);
        else
            PyErr_Clear();
    }
    {
        /* Without a context, libca would make a non-preemptive one. */
        ContextObject *rec = context == Py_None ? context_current(1) : (ContextObject *)context;
        int ignored;
        if (!rec)
            return NULL;
        GATED(rec, ignored, 0,
                     (rec->ctx == ca_current_context() ? ca_client_status(level)
                                                       : ca_context_status(rec->ctx, level),
                      fflush(stdout), 0));
        (void)ignored;
    }
    Py_RETURN_NONE;
}

static PyObject *pend_io_with(double timeout)
{
    ContextObject *rec = context_current(1);
    IOAccountObject *account;
    /* As ca_pend_io: a timeout of 0 waits for ever. */
    double deadline = timeout == 0 ? -1 : monotonic_seconds() + timeout;
    int status;
    if (!rec || !(account = io_account(rec)))
        return NULL;
    Py_INCREF(account);   /* a callback run meanwhile may drop the thread's dict entry */
    /* libca counts nothing of ours (every channel has a connection handler,
     * every get a callback): this only flushes, and refuses a wait from
     * inside a callback (ECA_EVDISALLOW). */
    GATED(rec, status, ECA_NOCACTX, ca_pend_io(timeout));
    if (status == ECA_NORMAL)
        status = io_counter_wait(&account->io, deadline, rec);
    /* Every wait that ends moves the account to a new generation, as
     * libca's does for the whole context: after a timeout (or Ctrl-C) what
     * was outstanding is forgotten, so the next pend_io waits only for what
     * comes after, and a channel made before no longer counts when it
     * disconnects later. */
    if (status != ECA_NOCACTX && status != ECA_EVDISALLOW)
        io_counter_reset(&account->io);
    Py_DECREF(account);
    return status < 0 ? NULL : ECA_OBJ(status);
}

static PyObject *pend_event_with(double timeout)
{
    ContextObject *rec = context_current(1);
    int status;
    if (!rec || (status = sliced_pend_event(rec, timeout)) < 0)
        return NULL;
    return ECA_OBJ(status);
}

PyObject *py_pend_io(PyObject *self, PyObject *arg)
{
    double timeout;
    if (timeout_arg(arg, &timeout) < 0)
        return NULL;
    return pend_io_with(timeout);
}

PyObject *py_pend_event(PyObject *self, PyObject *arg)
{
    double timeout;
    if (timeout_arg(arg, &timeout) < 0)
        return NULL;
    return pend_event_with(timeout);
}

PyObject *py_poll(PyObject *self, PyObject *unused)
{
    return pend_event_with(1e-12);
}

PyObject *py_pend(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", "early", NULL};
    PyObject *timeout_obj;
    int early;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Op:pend", kwlist, &timeout_obj, &early))
        return NULL;
    if (timeout_arg(timeout_obj, &timeout) < 0)
        return NULL;
    return early ? pend_io_with(timeout) : pend_event_with(timeout);
}

PyObject *py_test_io(PyObject *self, PyObject *unused)
{
    ContextObject *rec = context_current(1);
    IOAccountObject *account;
    if (!rec || !(account = io_account(rec)))
        return NULL;
    if (is_shutting_down() || !rec->valid)
        return ECA_OBJ(ECA_NOCACTX);
    return ECA_OBJ(account->io.outstanding > 0 ? ECA_IOINPROGRESS : ECA_IODONE);
}

PyObject *py_flush_io(PyObject *self, PyObject *unused)
{
    ContextObject *rec = context_current(1);
    int status;
    if (!rec)
        return NULL;
    GATED(rec, status, ECA_NOCACTX, ca_flush_io());
    return ECA_OBJ(status);
}

#ifdef __GLIBC__
/* libCom's exit handlers (run by C exit() after Python has finalized) wait
 * for libCom's threads to acknowledge shutdown (twdShutdown waits for the
 * task watchdog thread); in a forked child those threads do not exist and
 * exit() would hang forever.  Registered in the child after libCom's own
 * handlers, this one runs first and ends the process with exit()'s status. */
static void exit_without_libcom_handlers(int status, void *unused)
{
    (void)unused;
    fflush(NULL);
    _exit(status);
}
#endif

/* After os.fork() the child inherits, in the forking thread's libca slot,
 * the parent's context pointer but none of its threads: every call on it
 * would wait for threads that do not exist (a hang), and so would destroying
 * it at exit.  The child forgets that context (its memory is leaked on
 * purpose), every identifier of it becomes stale (BADCHID, BADMONID...), and
 * the next CA call creates a fresh context.  Registered with
 * os.register_at_fork(after_in_child=...) by the module's init. */
PyObject *py__after_fork_child(PyObject *self, PyObject *unused)
{
#ifdef __GLIBC__
    /* Only when the parent ran libca (and so libCom's threads). */
    if (ca_current_context() || process_context || (registry && PyDict_Size(registry)))
        on_exit(exit_without_libcom_handlers, NULL);
#endif
    ca_detach_context();
    process_context = NULL;
    if (registry) {
        PyObject *recs = PyDict_Values(registry);
        Py_ssize_t i;
        if (!recs)
            return NULL;
        for (i = 0; i < PyList_GET_SIZE(recs); i++) {
            ContextObject *rec = (ContextObject *)PyList_GET_ITEM(recs, i);
            rec->valid = 0;
        }
        Py_DECREF(recs);
        PyDict_Clear(registry);
    }
    {
        PyObject *snapshot = channels_of(NULL);
        Py_ssize_t i;
        if (!snapshot)
            return NULL;
        for (i = 0; i < PyList_GET_SIZE(snapshot); i++)
            channel_invalidate((ChannelObject *)PyList_GET_ITEM(snapshot, i));
        Py_DECREF(snapshot);
    }
    Py_RETURN_NONE;
}

PyObject *py__shutdown(PyObject *self, PyObject *unused)
{
    /* From here on libca's threads drop callbacks instead of waiting for a
     * GIL that a finalizing interpreter will never give back, and every call
     * is refused; waits in progress return within a slice. */
    PyObject *recs;
    struct ca_client_context *mine = ca_current_context();
    Py_ssize_t i;

    mark_exit_thread();
    set_shutting_down();
    if (!registry)
        Py_RETURN_NONE;
    /* Every context made here goes, not only the default one: a context
     * left alive keeps libca's threads running through finalization. */
    if (!(recs = PyDict_Values(registry)))
        return NULL;
    /* The thread's own first: once detached, a non-preemptive context can
     * not be attached again. */
    if (mine) {
        ContextObject *own = context_record(mine);
        PyObject *done;
        if (own && own->valid && own->owned) {
            if (!(done = destroy_record(own)))
                PyErr_WriteUnraisable(NULL);
            Py_XDECREF(done);
        }
    }
    for (i = 0; i < PyList_GET_SIZE(recs); i++) {
        ContextObject *rec = (ContextObject *)PyList_GET_ITEM(recs, i);
        PyObject *done;
        if (!rec->valid || !rec->owned)
            continue;
        /* ca_context_destroy works on the calling thread's context; a
         * non-preemptive one can only be attached by its own thread. */
        if (rec->ctx != ca_current_context()) {
            ca_detach_context();
            if (ca_attach_context(rec->ctx) != ECA_NORMAL)
                continue;
        }
        if (!(done = destroy_record(rec)))
            PyErr_WriteUnraisable(NULL);
        Py_XDECREF(done);
    }
    Py_DECREF(recs);
    ca_detach_context();
    if (mine && context_record(mine) && context_record(mine)->valid)
        ca_attach_context(mine);
    Py_RETURN_NONE;
}
