/* Counting and waiting for gets without callback: the part of pend_io,
 * test_io and the sg_ calls that libca no longer does for us (see caext.h). */
#include "caext.h"

#include <epicsTime.h>
#include <unistd.h>

/* Waits are cut into slices so that Ctrl-C reaches a long pend_io. */
#define WAIT_SLICE 0.1
/* Non-preemptive contexts: ca_pend_event always sleeps its whole timeout,
 * so it is called with short, growing timeouts. */
#define POLL_FIRST 1e-4
#define POLL_MAX 1e-2

double monotonic_seconds(void)
{
    return (double)epicsMonotonicGet() * 1e-9;
}

int io_counter_init(io_counter *c)
{
    c->outstanding = 0;
    c->generation = 0;
    c->waiters = 0;
    c->owner_pid = (long)getpid();
    c->done = epicsEventCreate(epicsEventEmpty);
    if (!c->done) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

void io_counter_fini(io_counter *c)
{
    /* In a forked child a parent's thread may have been waiting on the
     * event, and destroying a condition variable with waiters can block for
     * ever: the child leaks it instead. */
    if (c->done && c->owner_pid == (long)getpid())
        epicsEventDestroy(c->done);
    c->done = NULL;
}

unsigned long io_counter_issue(io_counter *c)
{
    c->outstanding++;
    return c->generation;
}

void io_counter_complete(io_counter *c, unsigned long generation)
{
    if (generation != c->generation || c->outstanding <= 0)
        return;
    if (--c->outstanding == 0)
        epicsEventSignal(c->done);
}

void io_counter_reset(io_counter *c)
{
    c->generation++;
    c->outstanding = 0;
    /* As in libca, other threads waiting on the same context or group see
     * nothing outstanding any more. */
    if (c->waiters > 0)
        epicsEventSignal(c->done);
}

int io_counter_wait(io_counter *c, double deadline, int preemptive)
{
    double poll = POLL_FIRST;
    int status = ECA_NORMAL;

    c->waiters++;
    while (c->outstanding > 0) {
        double slice = WAIT_SLICE;
        if (deadline >= 0) {
            double remaining = deadline - monotonic_seconds();
            if (remaining <= 0) {
                status = ECA_TIMEOUT;
                break;
            }
            if (remaining < slice)
                slice = remaining;
        }
        if (preemptive) {
            Py_BEGIN_ALLOW_THREADS
            epicsEventWaitWithTimeout(c->done, slice);
            Py_END_ALLOW_THREADS
        } else {
            if (poll < slice)
                slice = poll;
            poll = poll * 2 < POLL_MAX ? poll * 2 : POLL_MAX;
            Py_BEGIN_ALLOW_THREADS
            ca_pend_event(slice);
            Py_END_ALLOW_THREADS
        }
        if (PyErr_CheckSignals() < 0) {
            status = -1;
            break;
        }
    }
    c->waiters--;
    /* The event wakes one waiter: pass the news on to the others. */
    if (c->outstanding == 0 && c->waiters > 0)
        epicsEventSignal(c->done);
    return status;
}
