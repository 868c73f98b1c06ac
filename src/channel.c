/* Channels: creation and clearing, connection and access-rights handlers,
 * and the information calls. */
#include "caext.h"

#include <string.h>

PyObject *live_channels;

static int channel_traverse(ChannelObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->conn_callback);
    Py_VISIT(self->access_callback);
    Py_VISIT(self->subscriptions);
    return 0;
}

static int channel_clear_refs(ChannelObject *self)
{
    Py_CLEAR(self->conn_callback);
    Py_CLEAR(self->access_callback);
    Py_CLEAR(self->subscriptions);
    return 0;
}

static void channel_dealloc(ChannelObject *self)
{
    PyObject_GC_UnTrack(self);
    channel_clear_refs(self);
    Py_XDECREF(self->context);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *channel_repr(ChannelObject *self)
{
    return PyUnicode_FromFormat("<chid %R %p%s>", self->name, (void *)self->cid,
                                self->valid ? "" : " (cleared)");
}

static Py_hash_t channel_hash(ChannelObject *self)
{
    return _Py_HashPointer(self);
}

PyTypeObject ChannelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.chid",
    .tp_basicsize = sizeof(ChannelObject),
    .tp_dealloc = (destructor)channel_dealloc,
    .tp_repr = (reprfunc)channel_repr,
    .tp_hash = (hashfunc)channel_hash,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)channel_traverse,
    .tp_clear = (inquiry)channel_clear_refs,
    .tp_doc = "Opaque CA channel identifier.",
};

ChannelObject *channel_arg(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &ChannelType)) {
        PyErr_Format(PyExc_TypeError, "expected a chid, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return (ChannelObject *)obj;
}

/* Drops every reference lent to libca for this channel.  Called once libca
 * can no longer call back for it: after ca_clear_channel returned, or after
 * its context was destroyed. */
void channel_invalidate(ChannelObject *chan)
{
    if (!chan->valid)
        return;
    chan->valid = 0;
    Py_INCREF(chan);
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
    Py_CLEAR(chan->conn_callback);
    Py_CLEAR(chan->access_callback);
    get_requests_drop(chan);
    if (PySet_Discard(live_channels, (PyObject *)chan) == 1)
        live_usr--;
    else
        PyErr_Clear();
    Py_DECREF(chan);
}

/* libca -> Python: connection state changes */
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
        if (callback && chan->valid) {
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

PyObject *py_create_channel(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "callback", "priority", NULL};
    PyObject *name, *callback = Py_None, *bytes, *result;
    int priority = CA_PRIORITY_DEFAULT, status;
    ContextObject *rec;
    ChannelObject *chan;
    chid cid = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|Oi:create_channel", kwlist,
                                     &name, &callback, &priority))
        return NULL;
    if (check_optional_callback(callback) < 0)
        return NULL;
    if (name_arg(name, &bytes) < 0)
        return NULL;
    if (!live_channels && !(live_channels = PySet_New(NULL))) {
        Py_DECREF(bytes);
        return NULL;
    }
    rec = context_current(1);
    if (!rec) {
        Py_DECREF(bytes);
        return NULL;
    }
    chan = PyObject_GC_New(ChannelObject, &ChannelType);
    if (!chan) {
        Py_DECREF(bytes);
        return NULL;
    }
    chan->cid = NULL;
    chan->valid = 1;
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
    PyObject_GC_Track(chan);
    if (!chan->name ||
        PySet_Add(live_channels, (PyObject *)chan) < 0) {
        Py_DECREF(bytes);
        Py_DECREF(chan);
        return NULL;
    }
    live_usr++;   /* the live_channels entry is the usr reference */
    Py_BEGIN_ALLOW_THREADS
    status = ca_create_channel(PyBytes_AS_STRING(bytes),
                               callback == Py_None ? NULL : connection_handler,
                               chan, priority, &cid);
    Py_END_ALLOW_THREADS
    Py_DECREF(bytes);
    if (status != ECA_NORMAL) {
        chan->valid = 0;
        if (PySet_Discard(live_channels, (PyObject *)chan) == 1)
            live_usr--;
        Py_DECREF(chan);
        return Py_BuildValue("(NO)", ECA_OBJ(status), Py_None);
    }
    chan->cid = cid;
    result = Py_BuildValue("(NO)", ECA_OBJ(status), (PyObject *)chan);
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
    /* Invalidate first, so a second clear from another thread while libca
     * works cannot free the channel twice. */
    chan->valid = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Waits for this channel's callbacks in progress, which need the GIL. */
    status = ca_clear_channel(chan->cid);
    Py_END_ALLOW_THREADS
    chan->valid = 1;
    channel_invalidate(chan);
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
    int status, installed;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:change_connection_event", kwlist,
                                     &obj, &callback))
        return NULL;
    if (!(chan = channel_arg(obj)))
        return NULL;
    if (!chan->valid)
        return ECA_OBJ(ECA_BADCHID);
    installed = replace_callback(&chan->conn_callback, callback);
    Py_BEGIN_ALLOW_THREADS
    status = ca_change_connection_event(chan->cid, installed ? connection_handler : NULL);
    Py_END_ALLOW_THREADS
    return ECA_OBJ(status);
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
    if (!chan->valid)
        return ECA_OBJ(ECA_BADCHID);
    installed = replace_callback(&chan->access_callback, callback);
    /* libca calls the new handler at once, from this thread, when the
     * channel is connected. */
    Py_BEGIN_ALLOW_THREADS
    status = ca_replace_access_rights_event(chan->cid,
                                            installed ? access_rights_handler : NULL);
    Py_END_ALLOW_THREADS
    return ECA_OBJ(status);
}

/* Information calls answer for a cleared channel as libca does for one
 * that is not connected, instead of touching freed memory. */
#define LIVE_CHANNEL(arg, chan, gone)                  \
    ChannelObject *chan = channel_arg(arg);            \
    if (!chan)                                         \
        return NULL;                                   \
    if (!chan->valid || !chan->context->valid)         \
        gone;

PyObject *py_field_type(PyObject *self, PyObject *arg)
{
    LIVE_CHANNEL(arg, chan, return enum_member(DBF_members, TYPENOTCONN))
    return enum_member(DBF_members, ca_field_type(chan->cid));
}

PyObject *py_element_count(PyObject *self, PyObject *arg)
{
    LIVE_CHANNEL(arg, chan, return PyLong_FromLong(0))
    return PyLong_FromUnsignedLong(ca_element_count(chan->cid));
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
    LIVE_CHANNEL(arg, chan, return enum_member(State_members, cs_closed))
    return enum_member(State_members, ca_state(chan->cid));
}

PyObject *py_host_name(PyObject *self, PyObject *arg)
{
    char host[256];
    unsigned len;
    LIVE_CHANNEL(arg, chan, return PyUnicode_FromString(""))
    Py_BEGIN_ALLOW_THREADS
    len = ca_get_host_name(chan->cid, host, sizeof(host));
    Py_END_ALLOW_THREADS
    (void)len;
    return PyUnicode_DecodeUTF8(host, strnlen(host, sizeof(host)), "replace");
}

PyObject *py_read_access(PyObject *self, PyObject *arg)
{
    LIVE_CHANNEL(arg, chan, Py_RETURN_FALSE)
    return PyBool_FromLong(ca_read_access(chan->cid));
}

PyObject *py_write_access(PyObject *self, PyObject *arg)
{
    LIVE_CHANNEL(arg, chan, Py_RETURN_FALSE)
    return PyBool_FromLong(ca_write_access(chan->cid));
}
