/* Channels: creation and clearing, connection and access-rights handlers,
 * and the information calls. */
#include "caext.h"

#include <string.h>

/* The live list (see ChannelObject): each entry is a strong reference. */
static ChannelObject *live_first;

static void live_link(ChannelObject *chan)
{
    Py_INCREF(chan);
    chan->live_prev = NULL;
    chan->live_next = live_first;
    if (live_first)
        live_first->live_prev = chan;
    live_first = chan;
    chan->linked = 1;
}

/* -> 1 when chan was in the list (its reference is now the caller's), else 0. */
static int live_unlink(ChannelObject *chan)
{
    if (!chan->linked)
        return 0;
    if (chan->live_prev)
        chan->live_prev->live_next = chan->live_next;
    else
        live_first = chan->live_next;
    if (chan->live_next)
        chan->live_next->live_prev = chan->live_prev;
    chan->live_prev = chan->live_next = NULL;
    chan->linked = 0;
    return 1;
}

static void channel_dealloc(ChannelObject *self)
{
    /* Unreachable while linked: the list holds a reference. */
    Py_CLEAR(self->conn_callback);
    Py_CLEAR(self->access_callback);
    Py_CLEAR(self->subscriptions);
    Py_XDECREF(self->context);
    Py_XDECREF(self->name);
    Py_XDECREF(self->conn_account);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *channel_repr(ChannelObject *self)
{
    return PyUnicode_FromFormat("<chid %R %p%s>", self->name, (void *)self->cid,
                                self->valid ? "" : " (cleared)");
}

PyTypeObject ChannelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.Chid",
    .tp_basicsize = sizeof(ChannelObject),
    .tp_dealloc = (destructor)channel_dealloc,
    .tp_repr = (reprfunc)channel_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Opaque CA channel identifier.",
};

ChannelObject *channel_arg(PyObject *obj)
{
    park_if_exiting();   /* every channel call passes here */
    if (!PyObject_TypeCheck(obj, &ChannelType)) {
        PyErr_Format(PyExc_TypeError, "expected a chid, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return (ChannelObject *)obj;
}

/* ---- pend_io accounting of connections ----------------------------------- */

/* A channel without a connection callback is outstanding I/O of the thread
 * that made it until it connects, and again while it is disconnected
 * (unless a wait gave up since), as in libca. */
static void connection_count(ChannelObject *chan)
{
    if (chan->conn_counted || !chan->conn_account)
        return;
    io_counter_recount(&chan->conn_account->io, chan->conn_generation);
    chan->conn_counted = chan->conn_generation == chan->conn_account->io.generation;
}

static void connection_uncount(ChannelObject *chan)
{
    if (!chan->conn_counted)
        return;
    chan->conn_counted = 0;
    io_counter_complete(&chan->conn_account->io, chan->conn_generation);
}

/* ---- stale channels -------------------------------------------------------- */

/* Drops every reference lent to libca for this channel, once, and marks it
 * stale.  Called once libca can no longer call back for it: after
 * ca_clear_channel returned, or after its context was destroyed. */
void channel_invalidate(ChannelObject *chan)
{
    chan->valid = 0;
    if (!live_unlink(chan))
        return;   /* released already */
    /* The list's reference, dropped at the end. */
    live_usr--;
    if (chan->subscriptions) {
        PyObject *subs = PySequence_List(chan->subscriptions);
        Py_ssize_t i;
        if (subs) {
            for (i = 0; i < PyList_GET_SIZE(subs); i++)
                ((SubscriptionObject *)PyList_GET_ITEM(subs, i))->valid = 0;
            live_usr -= PyList_GET_SIZE(subs);
            Py_DECREF(subs);
            PySet_Clear(chan->subscriptions);
        } else {
            PyErr_WriteUnraisable(NULL);
        }
    }
    connection_uncount(chan);
    Py_CLEAR(chan->conn_callback);
    Py_CLEAR(chan->access_callback);
    get_requests_drop(chan);
    Py_DECREF(chan);
}

PyObject *channels_of(ContextObject *rec)
{
    PyObject *mine = PyList_New(0);
    ChannelObject *chan;
    /* Nothing here runs Python code, so the list cannot change meanwhile. */
    for (chan = live_first; mine && chan; chan = chan->live_next) {
        if ((!rec || chan->context == rec) && PyList_Append(mine, (PyObject *)chan) < 0)
            Py_CLEAR(mine);
    }
    return mine;
}

int channels_mark_stale(ContextObject *rec)
{
    PyObject *chans = channels_of(rec);
    Py_ssize_t i;
    if (!chans)
        return -1;
    /* A subscription is stale with its channel: calls on it check both. */
    for (i = 0; i < PyList_GET_SIZE(chans); i++)
        ((ChannelObject *)PyList_GET_ITEM(chans, i))->valid = 0;
    Py_DECREF(chans);
    return 0;
}

int channels_release(ContextObject *rec)
{
    PyObject *chans = channels_of(rec);
    Py_ssize_t i;
    if (!chans)
        return -1;
    for (i = 0; i < PyList_GET_SIZE(chans); i++)
        channel_invalidate((ChannelObject *)PyList_GET_ITEM(chans, i));
    Py_DECREF(chans);
    return 0;
}

/* ---- callbacks from libca --------------------------------------------------- */

/* Installed on every channel: libca then counts no connection in its own
 * pend_io, and ours counts those without a user callback per thread. */
static void connection_handler(struct connection_handler_args args)
{
    cb_state gil;
    ChannelObject *chan;
    if (!cb_enter(&gil))
        return;
    chan = (ChannelObject *)ca_puser(args.chid);
    if (chan) {
        PyObject *callback = chan->conn_callback;
        Py_INCREF(chan);
        /* The handler can fire before ca_create_channel has returned. */
        if (!chan->cid)
            chan->cid = args.chid;
        if (!chan->valid)
            callback = NULL;
        else if (args.op == CA_OP_CONN_UP)
            connection_uncount(chan);
        else if (!callback)
            connection_count(chan);
        if (callback) {
            PyObject *d = PyDict_New(), *op = enum_member(OP_members, args.op);
            Py_INCREF(callback);
            if (d && op && PyDict_SetItem(d, keys[K_chid], (PyObject *)chan) == 0 &&
                PyDict_SetItem(d, keys[K_op], op) == 0) {
                cb_call(callback, d);
            } else {
                Py_XDECREF(d);
                cb_call(callback, NULL);
            }
            Py_XDECREF(op);
            Py_DECREF(callback);
        }
        Py_DECREF(chan);
    }
    cb_leave(gil);
}

/* libca -> Python: access rights changes */
static void access_rights_handler(struct access_rights_handler_args args)
{
    cb_state gil;
    ChannelObject *chan;
    if (!cb_enter(&gil))
        return;
    chan = (ChannelObject *)ca_puser(args.chid);
    if (chan && chan->access_callback && chan->valid) {
        PyObject *callback = chan->access_callback;
        PyObject *d = Py_BuildValue("{O:O,O:O,O:O}",
                                    keys[K_chid], (PyObject *)chan,
                                    keys[K_read_access], args.ar.read_access ? Py_True : Py_False,
                                    keys[K_write_access], args.ar.write_access ? Py_True : Py_False);
        Py_INCREF(chan);
        Py_INCREF(callback);
        cb_call(callback, d);
        Py_DECREF(callback);
        Py_DECREF(chan);
    }
    cb_leave(gil);
}

static int name_arg(PyObject *name, PyObject **bytes_out)
{
    PyObject *bytes;
    if (PyUnicode_Check(name))
        bytes = PyUnicode_AsUTF8String(name);
    else if (PyBytes_Check(name)) {
        bytes = name;
        Py_INCREF(bytes);
    } else {
        PyErr_Format(PyExc_TypeError, "channel name must be str or bytes, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    if (!bytes)
        return -1;
    if (strlen(PyBytes_AS_STRING(bytes)) != (size_t)PyBytes_GET_SIZE(bytes)) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_ValueError, "channel name contains a NUL character");
        return -1;
    }
    *bytes_out = bytes;
    return 0;
}

PyObject *py_create_channel(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    static const char *const names[] = {"name", "callback", "priority"};
    PyObject *arg[3], *name, *callback, *bytes, *result;
    int priority = CA_PRIORITY_DEFAULT, status;
    ContextObject *rec;
    IOAccountObject *account;
    ChannelObject *chan;
    chid cid = NULL;

    if (parse_args("create_channel", args, nargs, kwnames, names, 3, 1, arg) < 0 ||
        (arg[2] && int_arg(arg[2], &priority) < 0))
        return NULL;
    name = arg[0];
    callback = arg[1] ? arg[1] : Py_None;
    if (check_optional_callback(callback) < 0)
        return NULL;
    if (name_arg(name, &bytes) < 0)
        return NULL;
    if (!(rec = context_current(1)) || !(account = io_account(rec))) {
        Py_DECREF(bytes);
        return NULL;
    }
    if (is_shutting_down() || !rec->valid) {
        Py_DECREF(bytes);
        return status_pair(ECA_NOCACTX, NULL);
    }
    chan = PyObject_New(ChannelObject, &ChannelType);
    if (!chan) {
        Py_DECREF(bytes);
        return NULL;
    }
    chan->cid = NULL;
    chan->valid = 1;
    chan->linked = 0;
    chan->live_prev = chan->live_next = NULL;
    chan->context = rec;
    Py_INCREF(rec);
    /* A str name encoded strictly, so decoding would give an equal str:
     * share the caller's (CaChannel keeps it too) instead of a copy per
     * channel. */
    if (PyUnicode_CheckExact(name)) {
        chan->name = name;
        Py_INCREF(name);
    } else {
        chan->name = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes),
                                          "surrogateescape");
    }
    chan->conn_callback = callback == Py_None ? NULL : callback;
    Py_XINCREF(chan->conn_callback);
    chan->access_callback = NULL;
    /* Made on first use: most channels never need them, and thousands of
     * channels each carrying an empty set and list add up. */
    chan->subscriptions = NULL;
    chan->inflight = NULL;
    chan->conn_account = account;
    Py_INCREF(account);
    /* Counted before libca can call back, which may be before it returns. */
    chan->conn_counted = !chan->conn_callback;
    chan->conn_generation = chan->conn_counted ? io_counter_issue(&account->io)
                                               : account->io.generation;
    if (!chan->name) {
        connection_uncount(chan);
        Py_DECREF(bytes);
        Py_DECREF(chan);
        return NULL;
    }
    live_link(chan);
    live_usr++;   /* the live list's entry is the usr reference */
    GATED(rec, status, ECA_NOCACTX,
                 ca_create_channel(PyBytes_AS_STRING(bytes), connection_handler,
                                   chan, priority, &cid));
    Py_DECREF(bytes);
    if (status != ECA_NORMAL) {
        channel_invalidate(chan);
        Py_DECREF(chan);
        return status_pair(status, NULL);
    }
    chan->cid = cid;
    result = status_pair(status, (PyObject *)chan);
    Py_DECREF(chan);
    return result;
}

PyObject *py_clear_channel(PyObject *self, PyObject *arg)
{
    ChannelObject *chan = channel_arg(arg);
    int status;
    if (!chan)
        return NULL;
    if (!chan->valid || !chan->context->valid)
        return ECA_OBJ(ECA_BADCHID);
    /* Stale first, so a second clear from another thread while libca works
     * cannot free the channel twice. */
    chan->valid = 0;
    Py_INCREF(chan);
    /* Waits for this channel's callbacks in progress, which need the GIL. */
    GATED(chan->context, status, ECA_BADCHID, ca_clear_channel(chan->cid));
    /* Refused (the context is going away): destroying it releases the rest. */
    if (status != ECA_BADCHID)
        channel_invalidate(chan);
    Py_DECREF(chan);
    return ECA_OBJ(status);
}

static int replace_callback(PyObject **slot, PyObject *callback)
{
    PyObject *old = *slot;
    if (callback && PyCallable_Check(callback)) {
        Py_INCREF(callback);
        *slot = callback;
    } else {
        *slot = NULL;
    }
    Py_XDECREF(old);
    return *slot != NULL;
}

PyObject *py_change_connection_event(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chid", "callback", NULL};
    PyObject *obj, *callback = Py_None;
    ChannelObject *chan;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:change_connection_event", kwlist,
                                     &obj, &callback))
        return NULL;
    if (!(chan = channel_arg(obj)))
        return NULL;
    if (!chan->valid || !chan->context->valid)
        return ECA_OBJ(ECA_BADCHID);
    /* libca keeps calling our handler; only the pend_io accounting follows
     * the change, as libca's own does for a channel not connected. */
    if (replace_callback(&chan->conn_callback, callback))
        connection_uncount(chan);
    else if (ca_state(chan->cid) != cs_conn)   /* GIL held: no handler runs in between */
        connection_count(chan);
    return ECA_OBJ(ECA_NORMAL);
}

PyObject *py_replace_access_rights_event(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chid", "callback", NULL};
    PyObject *obj, *callback = Py_None;
    ChannelObject *chan;
    int status, installed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:replace_access_rights_event",
                                     kwlist, &obj, &callback))
        return NULL;
    if (!(chan = channel_arg(obj)))
        return NULL;
    if (!chan->valid || !chan->context->valid)
        return ECA_OBJ(ECA_BADCHID);
    installed = replace_callback(&chan->access_callback, callback);
    /* libca calls the new handler at once, from this thread, when the
     * channel is connected. */
    GATED(chan->context, status, ECA_BADCHID,
                 ca_replace_access_rights_event(chan->cid,
                                                installed ? access_rights_handler : NULL));
    return ECA_OBJ(status);
}

/* A thread with no context that uses a channel joins the channel's context:
 * only that context's flush sends the channel's requests and only its
 * pend_io waits for them.  Joining the process context instead would make
 * a read return before its reply whenever the channel was made in another
 * context (one the cffi backend or another library, pyepics, made first).
 * libca refuses another thread's non-preemptive context (ECA_NOTTHREADED),
 * and then the thread gets the process context as before.  Twin of
 * ensure_context(channel_context) in caffi's context.py. */
ChannelObject *live_channel(PyObject *obj, int *gone)
{
    ChannelObject *chan = channel_arg(obj);
    *gone = chan && (!chan->valid || !chan->context->valid);
    if (chan && !*gone && !ca_current_context())
        ca_attach_context(chan->context->ctx);
    return chan;
}

/* The information calls below answer for a cleared channel as libca does
 * for one that is not connected, instead of touching freed memory.  They
 * are gated like every other libca call (libca takes its context lock for
 * them), as in the cffi backend. */

PyObject *py_field_type(PyObject *self, PyObject *arg)
{
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        return enum_member(DBF_members, TYPENOTCONN);
    {
        short field;
        GATED(chan->context, field, TYPENOTCONN, ca_field_type(chan->cid));
        return enum_member(DBF_members, field);
    }
}

PyObject *py_element_count(PyObject *self, PyObject *arg)
{
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        return PyLong_FromLong(0);
    {
        unsigned long count;
        GATED(chan->context, count, 0, ca_element_count(chan->cid));
        return PyLong_FromUnsignedLong(count);
    }
}

PyObject *py_name(PyObject *self, PyObject *arg)
{
    ChannelObject *chan = channel_arg(arg);
    if (!chan)
        return NULL;
    Py_INCREF(chan->name);
    return chan->name;
}

PyObject *py_state(PyObject *self, PyObject *arg)
{
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        return enum_member(State_members, cs_closed);
    {
        enum channel_state state;
        GATED(chan->context, state, cs_closed, ca_state(chan->cid));
        return enum_member(State_members, state);
    }
}

PyObject *py_host_name(PyObject *self, PyObject *arg)
{
    char host[256];
    unsigned len;
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        return PyUnicode_FromString("");
    host[0] = 0;
    GATED(chan->context, len, 0, ca_get_host_name(chan->cid, host, sizeof(host)));
    (void)len;
    return PyUnicode_DecodeUTF8(host, strnlen(host, sizeof(host)), "replace");
}

PyObject *py_read_access(PyObject *self, PyObject *arg)
{
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        Py_RETURN_FALSE;
    {
        int readable;
        GATED(chan->context, readable, 0, ca_read_access(chan->cid));
        return PyBool_FromLong(readable);
    }
}

PyObject *py_write_access(PyObject *self, PyObject *arg)
{
    int gone;
    ChannelObject *chan = live_channel(arg, &gone);
    if (!chan)
        return NULL;
    if (gone)
        Py_RETURN_FALSE;
    {
        int writable;
        GATED(chan->context, writable, 0, ca_write_access(chan->cid));
        return PyBool_FromLong(writable);
    }
}

/* Not about one channel, but libca's own information calls; here as in the
 * cffi backend's channel.py. */
PyObject *py_message(PyObject *self, PyObject *arg)
{
    long status = PyLong_AsLong(arg);
    if (status == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(ca_message(status));
}

PyObject *py_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(ca_version());
}
