/* The wait engine of pend_io, test_io and the sg_ calls (see caext.h).
 *
 * libca's own ca_pend_io waits on one event that wakes one waiter and
 * counts every channel of the context, whichever thread made it; and its
 * ca_array_get copies as many elements as the server sends.  So the
 * requests pend_io waits for (gets without callback, connections of
 * channels without a connection callback) are counted here instead: per
 * thread and context (IOAccount) or per sync group, and every thread waiting
 * on a counter has an event of its own that each change wakes. */
#include "caext.h"

#include <epicsThread.h>
#include <epicsTime.h>
#include <stdlib.h>

/* Waits are cut into slices so that Ctrl-C and interpreter exit reach a
 * long pend_io. */
#define WAIT_SLICE 0.1
/* Non-preemptive contexts: ca_pend_event always sleeps its whole timeout,
 * so it is called with short, growing timeouts. */
#define POLL_FIRST 1e-4
#define POLL_MAX 1e-2

double monotonic_seconds(void)
{
    return (double)epicsMonotonicGet() * 1e-9;
}

/* ---- interpreter exit ------------------------------------------------------ */

static unsigned long exit_thread;

void mark_exit_thread(void)
{
    exit_thread = PyThread_get_thread_ident();
}

void park_if_exiting(void)
{
    if (!is_shutting_down() || PyThread_get_thread_ident() == exit_thread)
        return;
    Py_BEGIN_ALLOW_THREADS
    for (;;)
        epicsThreadSleep(60.0);
    Py_END_ALLOW_THREADS
}

/* ---- counters ------------------------------------------------------------ */

void io_counter_init(io_counter *c)
{
    c->outstanding = 0;
    c->generation = 0;
    c->waiters = NULL;
    c->nwaiters = c->capacity = 0;
}

void io_counter_fini(io_counter *c)
{
    PyMem_Free(c->waiters);
    c->waiters = NULL;
    c->nwaiters = c->capacity = 0;
}

static void wake_waiters(io_counter *c)
{
    int i;
    for (i = 0; i < c->nwaiters; i++)
        epicsEventSignal(c->waiters[i]);
}

unsigned long io_counter_issue(io_counter *c)
{
    c->outstanding++;
    return c->generation;
}

void io_counter_recount(io_counter *c, unsigned long generation)
{
    if (generation == c->generation)
        c->outstanding++;
}

void io_counter_complete(io_counter *c, unsigned long generation)
{
    if (generation != c->generation || c->outstanding <= 0)
        return;
    if (--c->outstanding == 0)
        wake_waiters(c);
}

void io_counter_reset(io_counter *c)
{
    c->generation++;
    c->outstanding = 0;
    wake_waiters(c);
}

static int add_waiter(io_counter *c, epicsEventId event)
{
    if (c->nwaiters == c->capacity) {
        int capacity = c->capacity ? 2 * c->capacity : 4;
        epicsEventId *grown = PyMem_Realloc(c->waiters, capacity * sizeof(epicsEventId));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        c->waiters = grown;
        c->capacity = capacity;
    }
    c->waiters[c->nwaiters++] = event;
    return 0;
}

static void remove_waiter(io_counter *c, epicsEventId event)
{
    int i;
    for (i = 0; i < c->nwaiters; i++) {
        if (c->waiters[i] == event) {
            c->waiters[i] = c->waiters[--c->nwaiters];
            return;
        }
    }
}

/* ---- per-thread state ----------------------------------------------------- */

/* Both live in the thread state's dict, so they go with the thread. */
static PyObject *event_key, *accounts_key;

static void event_capsule_destroy(PyObject *capsule)
{
    epicsEventId event = PyCapsule_GetPointer(capsule, "CaChannel._ca.event");
    /* At exit Python clears the thread states of daemon threads while they
     * are still parked on their events: destroying one then fails ("mutex
     * busy"), so the process's end takes them instead. */
    if (event && !is_shutting_down())
        epicsEventDestroy(event);
}

static PyObject *thread_dict(void)
{
    PyObject *d = PyThreadState_GetDict();
    if (!d && !PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "no thread state dictionary");
    return d;
}

static int intern_key(PyObject **key, const char *text)
{
    if (!*key && !(*key = PyUnicode_InternFromString(text)))
        return -1;
    return 0;
}

/* The calling thread's own wake-up event (NULL with an exception). */
static epicsEventId thread_event(void)
{
    PyObject *d = thread_dict(), *capsule;
    epicsEventId event;
    if (!d || intern_key(&event_key, "CaChannel._ca.event") < 0)
        return NULL;
    capsule = PyDict_GetItemWithError(d, event_key);
    if (capsule)
        return PyCapsule_GetPointer(capsule, "CaChannel._ca.event");
    if (PyErr_Occurred())
        return NULL;
    if (!(event = epicsEventCreate(epicsEventEmpty))) {
        PyErr_NoMemory();
        return NULL;
    }
    capsule = PyCapsule_New(event, "CaChannel._ca.event", event_capsule_destroy);
    if (!capsule) {
        epicsEventDestroy(event);
        return NULL;
    }
    if (PyDict_SetItem(d, event_key, capsule) < 0)
        event = NULL;
    Py_DECREF(capsule);
    return event;
}

static void account_dealloc(IOAccountObject *self)
{
    io_counter_fini(&self->io);
    Py_XDECREF(self->context);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject IOAccountType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca._IOAccount",
    .tp_basicsize = sizeof(IOAccountObject),
    .tp_dealloc = (destructor)account_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What one thread has outstanding for pend_io in one context.",
};

IOAccountObject *io_account(ContextObject *ctx)
{
    uint64_t thread = PyThreadState_GetID(PyThreadState_Get());
    PyObject *d, *accounts;
    IOAccountObject *account;
    if (ctx->account && ctx->account_thread == thread)
        return ctx->account;
    d = thread_dict();
    if (!d || intern_key(&accounts_key, "CaChannel._ca.accounts") < 0)
        return NULL;
    accounts = PyDict_GetItemWithError(d, accounts_key);
    if (!accounts) {
        if (PyErr_Occurred() || !(accounts = PyDict_New()))
            return NULL;
        if (PyDict_SetItem(d, accounts_key, accounts) < 0) {
            Py_DECREF(accounts);
            return NULL;
        }
        Py_DECREF(accounts);
    }
    /* Keyed by the C pointer: an account left by a destroyed context at the
     * same address is replaced, never reused. */
    account = (IOAccountObject *)PyDict_GetItemWithError(accounts, (PyObject *)ctx);
    if (account && account->context == ctx)
        goto found;
    if (PyErr_Occurred())
        return NULL;
    account = PyObject_New(IOAccountObject, &IOAccountType);
    if (!account)
        return NULL;
    io_counter_init(&account->io);
    account->context = ctx;
    Py_INCREF(ctx);
    if (PyDict_SetItem(accounts, (PyObject *)ctx, (PyObject *)account) < 0) {
        Py_DECREF(account);
        return NULL;
    }
    Py_DECREF(account);   /* the thread's dict keeps it */
found:
    ctx->account = account;
    ctx->account_thread = thread;
    return account;
}

/* ---- waiting -------------------------------------------------------------- */

int io_counter_wait(io_counter *c, double deadline, ContextObject *ctx)
{
    double poll = POLL_FIRST;
    int status = ECA_NORMAL;
    epicsEventId event = NULL;

    if (ctx->preemptive && (!(event = thread_event()) || add_waiter(c, event) < 0))
        return -1;
    Py_INCREF(ctx);
    while (c->outstanding > 0) {
        double slice = WAIT_SLICE;
        if (is_shutting_down() || !ctx->valid) {
            park_if_exiting();
            status = ECA_NOCACTX;
            break;
        }
        if (deadline >= 0) {
            double remaining = deadline - monotonic_seconds();
            if (remaining <= 0) {
                status = ECA_TIMEOUT;
                break;
            }
            if (remaining < slice)
                slice = remaining;
        }
        if (event) {
            Py_BEGIN_ALLOW_THREADS
            epicsEventWaitWithTimeout(event, slice);
            Py_END_ALLOW_THREADS
        } else {
            int ignored;
            if (poll < slice)
                slice = poll;
            poll = poll * 2 < POLL_MAX ? poll * 2 : POLL_MAX;
            GATED(ctx, ignored, ECA_NOCACTX, ca_pend_event(slice));
            (void)ignored;
        }
        if (PyErr_CheckSignals() < 0) {
            status = -1;
            break;
        }
    }
    if (event)
        remove_waiter(c, event);
    Py_DECREF(ctx);
    return status;
}

int sliced_pend_event(ContextObject *ctx, double timeout)
{
    /* As ca_pend_event: a timeout of 0 waits for ever. */
    double deadline = timeout == 0 ? -1 : monotonic_seconds() + timeout;
    int status;
    Py_INCREF(ctx);
    for (;;) {
        double slice = WAIT_SLICE;
        if (deadline >= 0) {
            double remaining = deadline - monotonic_seconds();
            /* ca_poll's 1e-12 still makes one call: it flushes and, in a
             * non-preemptive context, runs the callbacks that are due. */
            if (remaining < slice)
                slice = remaining > 1e-12 ? remaining : 1e-12;
        }
        GATED(ctx, status, ECA_NOCACTX, ca_pend_event(slice));
        if (status != ECA_TIMEOUT)
            break;    /* EVDISALLOW inside a callback, or refused */
        if (PyErr_CheckSignals() < 0) {
            status = -1;
            break;
        }
        if (deadline >= 0 && monotonic_seconds() >= deadline)
            break;
    }
    Py_DECREF(ctx);
    return status;
}
