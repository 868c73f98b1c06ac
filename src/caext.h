/* Shared declarations of the CaChannel._ca extension.
 *
 * The module is split by concern: context.c (contexts and the pend/flush
 * family), channel.c (channels, their handlers and information calls),
 * getput.c (get, put, subscriptions, synchronous groups), iowait.c (what
 * pend_io, test_io and sg_block wait for, and how), dbr.c (conversion
 * between DBR buffers and Python objects), handlers.c (exception and printf
 * handlers) and module.c (module state and the method table).
 *
 * Threading rules kept everywhere:
 *  - every libca call that can block or take libca's locks runs with the GIL
 *    released, because libca's callback threads hold those locks while they
 *    wait for the GIL, and goes through GATED, which refuses it once
 *    its context is being destroyed;
 *  - callbacks from libca threads enter through cb_enter() and leave through
 *    cb_leave(), and never let a Python exception escape into libca;
 *  - each Python object lent to libca as a `usr` pointer is held by a
 *    record of ours (the live channel list, a channel's subscriptions, a request)
 *    and counted in live_usr when lent and out when libca is done with it;
 *    _live_callbacks() reports the balance for leak tests.
 */
#ifndef CAEXT_H
#define CAEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cadef.h>
#include <db_access.h>
#include <epicsEvent.h>

/* ---- the wait engine (iowait.c) ------------------------------------------ */

/* What pend_io / test_io / sg_block wait for: gets without callback (issued
 * with a callback of ours that copies no more than was asked) and the
 * connections of channels made without a connection callback (every channel
 * has our connection handler, so libca counts none of them).  Counted per
 * thread and context (IOAccountObject) or per sync group.  Touched with the
 * GIL held. */
typedef struct {
    Py_ssize_t outstanding;
    /* Bumped when a wait gives up or the group is reset: replies to older
     * requests no longer count. */
    unsigned long generation;
    /* The events of the threads waiting now: every change wakes them all. */
    epicsEventId *waiters;
    int nwaiters, capacity;
} io_counter;

void io_counter_init(io_counter *c);
void io_counter_fini(io_counter *c);
unsigned long io_counter_issue(io_counter *c);   /* -> its generation */
/* Counts a request again (a channel that lost its connection) unless a
 * wait gave up since it was issued, as libca does. */
void io_counter_recount(io_counter *c, unsigned long generation);
void io_counter_complete(io_counter *c, unsigned long generation);
void io_counter_reset(io_counter *c);
double monotonic_seconds(void);

/* ---- identifiers ---------------------------------------------------- */

/* The record of one context (the twin of iowait.ContextRecord).  Here it is
 * also the Context identifier users hold; cffi keeps the two apart, since
 * it makes a Context object only when current_context() asks for one. */
typedef struct {
    PyObject_HEAD
    struct ca_client_context *ctx;
    int valid;            /* 0 once destroyed or being destroyed */
    int preemptive;
    int busy;             /* threads inside a libca call on this context */
    int owned;            /* created by this module: destroyed at exit */
    /* The account io_account found last, for the thread with this thread
     * state id (borrowed: the thread's dict holds it while the thread
     * lives, and an id is never given to another thread).  The accounts
     * sit in the thread's dict, two lookups a call; cffi's threading.local
     * is one attribute and needs no such cache. */
    struct IOAccountObject *account;
    uint64_t account_thread;
} ContextObject;

typedef struct IOAccountObject {
    PyObject_HEAD
    ContextObject *context;
    io_counter io;
} IOAccountObject;

/* The calling thread's account in ctx (borrowed; NULL with an exception). */
IOAccountObject *io_account(ContextObject *ctx);
/* Waits until nothing is outstanding: ECA_NORMAL, ECA_TIMEOUT once
 * monotonic_seconds() reaches `deadline` (< 0: never), ECA_NOCACTX when the
 * context goes away or the interpreter exits, or -1 with an exception (a
 * signal).  Sliced, so Ctrl-C gets through; a non-preemptive context only
 * calls back from inside ca_pend_*, so there it polls with ca_pend_event. */
int io_counter_wait(io_counter *c, double deadline, ContextObject *ctx);
/* ca_pend_event(timeout) cut into slices with signal checks. */
int sliced_pend_event(ContextObject *ctx, double timeout);
/* Once the interpreter exits, a CA call of any thread but the exiting one
 * (a daemon thread: the others were joined) sleeps, GIL released, until the
 * process ends, as Python stops daemon threads, instead of returning an
 * error into a thread about to vanish. */
void park_if_exiting(void);
void mark_exit_thread(void);

/* Admission to libca (the twin of iowait.gated): runs a libca call with the
 * GIL released, counted in its context record's busy count (destroying the
 * context waits for it); refused with `refused` once the context is being
 * destroyed or the interpreter is exiting, so no thread reaches libca with a
 * context that is gone.  A macro, not a function as in cffi, because the
 * call is any libca expression and its result any type. */
#define GATED(rec, result, refused, call) do {                      \
        ContextObject *rec_ = (rec);                                \
        if (is_shutting_down() || !rec_->valid) {                   \
            park_if_exiting();                                      \
            (result) = (refused);                                   \
            break;                                                  \
        }                                                           \
        Py_INCREF(rec_);                                            \
        rec_->busy++;                                               \
        Py_BEGIN_ALLOW_THREADS                                      \
        (result) = (call);                                          \
        Py_END_ALLOW_THREADS                                        \
        rec_->busy--;                                               \
        Py_DECREF(rec_);                                            \
    } while (0)

typedef struct GetRequest GetRequest;

typedef struct ChannelObject ChannelObject;
/* Not a GC type: a channel takes part in no garbage cycle.  While libca can
 * call back for it, the live list (channel.c) holds it; once released it
 * holds no callback and its subscriptions' set is empty.  Untracked, 100,000
 * channels add nothing to the collector's scans and 16 bytes less each. */
struct ChannelObject {
    PyObject_HEAD
    chid cid;
    int valid;
    /* Flags in the padding after valid: a channel object stays within
     * 112 bytes, pymalloc's size class below 128 (100,000 channels: 1.6 MB). */
    unsigned char linked;     /* in the live list: the usr reference */
    unsigned char conn_counted;   /* see conn_account below */
    /* The live list: every channel libca may call back for (the twin of
     * cffi's _channels registry).  Intrusive: no set entry per channel. */
    ChannelObject *live_prev, *live_next;
    ContextObject *context;
    PyObject *name;           /* str, kept to answer name() after clearing */
    PyObject *conn_callback;  /* NULL or callable */
    PyObject *access_callback;
    PyObject *subscriptions;  /* set of live SubscriptionObject (usr refs) */
    GetRequest *inflight;     /* one-shot gets libca has not answered yet */
    /* pend_io accounting of the connection (iowait.c): the creating
     * thread's account and the generation it counted this channel in
     * (conn_counted, above: whether it counts it now). */
    IOAccountObject *conn_account;
    unsigned long conn_generation;
};
#if SIZEOF_VOID_P == 8
/* A field added past this size costs every channel 16 bytes: say so here. */
_Static_assert(sizeof(struct ChannelObject) <= 112, "ChannelObject outgrew 112 bytes");
#endif

typedef struct {
    PyObject_HEAD
    evid eid;
    int valid;
    ChannelObject *channel;
    PyObject *callback;
    int use_numpy;
    int pv_fields;            /* events as pv_event_dict makes them, when it can */
} SubscriptionObject;

typedef struct {
    PyObject_HEAD
    CA_SYNC_GID gid;
    int valid;
    ContextObject *context;
    io_counter io;            /* its gets and puts not answered yet */
} SyncGroupObject;

typedef struct {
    PyObject_HEAD
    void *buffer;
    long type;
    unsigned long count;
    int use_numpy;
    int filled;               /* a reply has been copied in */
    /* A small value's buffer (dbr.c, INLINE_BUFFER_BYTES): inside its object,
     * one allocation a get instead of two, 16 bytes less a DOUBLE. */
    max_align_t inline_buffer[];
} DBRValueObject;

extern PyTypeObject ContextType, ChannelType, SubscriptionType,
                    SyncGroupType, DBRValueType, IOAccountType;

/* ---- module state (module.c) --------------------------------------- */

/* value -> member maps of the shared IntEnums (CaChannel._constants) */
extern PyObject *ECA_members, *DBR_members, *DBF_members, *State_members,
                *OP_members, *Severity_members, *Condition_members;

/* Interned dictionary keys of the callback and value dicts. */
enum {
    K_chid, K_op, K_type, K_count, K_status, K_value, K_severity, K_stamp,
    K_seconds, K_nanoseconds, K_timestamp, K_units, K_precision,
    K_upper_disp_limit, K_lower_disp_limit, K_upper_alarm_limit,
    K_upper_warning_limit, K_lower_warning_limit, K_lower_alarm_limit,
    K_upper_ctrl_limit, K_lower_ctrl_limit, K_no_str, K_strs, K_ackt,
    K_acks, K_read_access, K_write_access, K_addr, K_stat, K_ctx, K_file,
    K_lineNo, K_pv_value, K_pv_status, K_pv_severity, K_pv_seconds, K_pv_nseconds,
    K__COUNT
};
extern PyObject *keys[K__COUNT];

PyObject *enum_member(PyObject *members, long value);   /* new reference */
/* The DBR member of a request type (new reference), from a table filled at
 * import: every event names its type, and enum_member would build an int
 * key and search a dict each time.  cffi's DBR_MEMBERS.get is already that
 * one lookup, without the key to build. */
PyObject *dbr_member(long type);
/* ECA.NORMAL, the status nearly every call returns, is kept at hand: a
 * member lookup builds an int key and searches a dict each time. */
extern PyObject *eca_normal;
static inline PyObject *eca_obj(long status)
{
    if (status == ECA_NORMAL) {
        Py_INCREF(eca_normal);
        return eca_normal;
    }
    return enum_member(ECA_members, status);
}
#define ECA_OBJ(s) eca_obj((long)(s))
/* (ECA member, obj or None): what the calls that make something return
 * (new reference; NULL with an exception). */
PyObject *status_pair(int status, PyObject *obj);

/* The arguments of a METH_FASTCALL | METH_KEYWORDS call, given by position
 * or by name, into out[0 .. n) as borrowed references, NULL where not
 * given; the first `required` must be given.  -> 0, or -1 with a
 * TypeError naming fname. */
int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, int n, int required, PyObject **out);
/* An int argument as PyArg's "i" reads it: -> 0, or -1 with an exception. */
int int_arg(PyObject *obj, int *out);

/* Set once at interpreter exit (_shutdown): callbacks are dropped, calls
 * refused.  libca's threads read it before they take the GIL, so it is an
 * atomic: the release store makes everything _shutdown did before it visible
 * to a thread whose acquire load sees it set. */
extern int shutting_down;
static inline int is_shutting_down(void)
{
    return __atomic_load_n(&shutting_down, __ATOMIC_ACQUIRE);
}
static inline void set_shutting_down(void)
{
    __atomic_store_n(&shutting_down, 1, __ATOMIC_RELEASE);
}
/* How cb_enter took the GIL, so cb_leave gives it back the same way. */
typedef enum { CB_GILSTATE_LOCKED, CB_GILSTATE_UNLOCKED, CB_OWN_TSTATE } cb_state;
int cb_enter(cb_state *state);   /* 0: do not touch Python */
void cb_leave(cb_state state);
/* Calls callback(arg) and reports its exception; takes over the reference
 * to arg (NULL: the error building it is reported). */
void cb_call(PyObject *callback, PyObject *arg);

/* Python objects lent to libca as usr now (touched with the GIL held). */
extern Py_ssize_t live_usr;

/* ---- context.c ------------------------------------------------------- */
/* The calling thread's context (borrowed; NULL = none/error).  One that was
 * destroyed under the thread comes back marked invalid, and GATED
 * refuses it. */
ContextObject *context_current(int create);
ContextObject *context_record(struct ca_client_context *ctx);  /* borrowed */
PyObject *py_create_context(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_destroy_context(PyObject *self, PyObject *unused);
PyObject *py_attach_context(PyObject *self, PyObject *arg);
PyObject *py_detach_context(PyObject *self, PyObject *unused);
PyObject *py_current_context(PyObject *self, PyObject *unused);
PyObject *py_show_context(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_pend_io(PyObject *self, PyObject *arg);
PyObject *py_pend_event(PyObject *self, PyObject *arg);
PyObject *py_poll(PyObject *self, PyObject *unused);
PyObject *py_pend(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_test_io(PyObject *self, PyObject *unused);
PyObject *py_flush_io(PyObject *self, PyObject *unused);
PyObject *py__shutdown(PyObject *self, PyObject *unused);
PyObject *py__after_fork_child(PyObject *self, PyObject *unused);

/* ---- channel.c ------------------------------------------------------- */
ChannelObject *channel_arg(PyObject *obj);  /* borrowed; NULL+TypeError */
/* channel_arg, and *gone set when the channel (or its context) is stale. */
ChannelObject *live_channel(PyObject *obj, int *gone);
/* Releases what libca held for the channel (once); marks it stale. */
void channel_invalidate(ChannelObject *chan);
/* Destroying a context: first every channel (and subscription) of rec is
 * marked stale, then, once libca has let go of them, what it held for them
 * is released.  Two calls, where cffi's marker hands back its release: the
 * one registry here (the live list) keeps a stale channel until released. */
/* Every live channel (rec NULL) or those of rec, as a new list. */
PyObject *channels_of(ContextObject *rec);
int channels_mark_stale(ContextObject *rec);
int channels_release(ContextObject *rec);
PyObject *py_create_channel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames);
PyObject *py_clear_channel(PyObject *self, PyObject *arg);
PyObject *py_change_connection_event(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_replace_access_rights_event(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_field_type(PyObject *self, PyObject *arg);
PyObject *py_element_count(PyObject *self, PyObject *arg);
PyObject *py_name(PyObject *self, PyObject *arg);
PyObject *py_state(PyObject *self, PyObject *arg);
PyObject *py_host_name(PyObject *self, PyObject *arg);
PyObject *py_read_access(PyObject *self, PyObject *arg);
PyObject *py_write_access(PyObject *self, PyObject *arg);
PyObject *py_message(PyObject *self, PyObject *arg);
PyObject *py_version(PyObject *self, PyObject *unused);

/* ---- getput.c -------------------------------------------------------- */
PyObject *py_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                 PyObject *kwnames);
PyObject *py_put(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_create_subscription(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_clear_subscription(PyObject *self, PyObject *arg);
PyObject *py_sg_create(PyObject *self, PyObject *unused);
PyObject *py_sg_delete(PyObject *self, PyObject *arg);
PyObject *py_sg_get(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_sg_put(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_sg_block(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_sg_test(PyObject *self, PyObject *arg);
PyObject *py_sg_reset(PyObject *self, PyObject *arg);
/* Drops the gets libca will not answer: those of a cleared channel. */
void get_requests_drop(ChannelObject *chan);

/* ---- dbr.c ----------------------------------------------------------- */
/* Value of a DBR buffer.  With `owner` (an object exporting the buffer),
 * numpy arrays are views on it; without, data are copied once. */
PyObject *dbr_to_python(long type, unsigned long count, const void *dbr,
                        int use_numpy, PyObject *owner);
/* Builds the C buffer to write `value` as request type *type (which may be
 * changed, e.g. ENUM by string becomes STRING). *count holds the requested
 * count (0: none) on entry and the count to send on exit. */
int dbr_encode(PyObject *value, long *type, unsigned long native_count,
                  unsigned long *count, void **buffer);
/* chan: the ChannelObject the event is for, which the caller's record
 * names (as in caffi_backend/dbr.py). */
PyObject *event_dict(PyObject *chan, struct event_handler_args *args, int use_numpy);
/* The object layer's monitor dict (CaChannel's epics_args) of an event
 * holding one element of a TIME type, made in one step instead of
 * event_dict's three dicts and the fourth CaChannel would make of them;
 * NULL with no exception for any other event (the caller then makes
 * event_dict).  The twin of pv_event_dict in caffi_backend/dbr.py. */
PyObject *pv_event_dict(PyObject *chan, struct event_handler_args *args);
PyObject *dbr_new_value(long type, unsigned long count, int use_numpy);
/* Copies a reply into the value, at most the count asked; zeros the rest. */
void dbr_fill(DBRValueObject *value, unsigned long count, const void *dbr);

/* ---- handlers.c ------------------------------------------------------ */
PyObject *py_add_exception_event(PyObject *self, PyObject *args, PyObject *kw);
PyObject *py_replace_printf_handler(PyObject *self, PyObject *args, PyObject *kw);

/* ---- argument helpers (module.c) ----------------------------------- */
/* callback argument: None or a callable; -1 with a TypeError otherwise */
int check_optional_callback(PyObject *callback);
/* timeout argument: a number, not NaN, not negative (0: for ever) */
int timeout_arg(PyObject *arg, double *timeout);
/* count argument normalisation (docs/maintainers.rst, "Counts") */
int request_count(PyObject *obj, unsigned long native, int allow_zero,
                unsigned long *count);

#endif
