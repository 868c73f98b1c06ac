/* Get, put, subscriptions and synchronous groups. */
#include "caext.h"

/* ---- subscription identifier --------------------------------------------- */

static int subscription_traverse(SubscriptionObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->callback);
    return 0;
}

static int subscription_clear_refs(SubscriptionObject *self)
{
    Py_CLEAR(self->callback);
    return 0;
}

static void subscription_dealloc(SubscriptionObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->callback);
    Py_XDECREF(self->channel);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *subscription_repr(SubscriptionObject *self)
{
    return PyUnicode_FromFormat("<evid %R %p%s>", self->channel->name, (void *)self->eid,
                                self->valid ? "" : " (cleared)");
}

PyTypeObject SubscriptionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.Evid",
    .tp_basicsize = sizeof(SubscriptionObject),
    .tp_dealloc = (destructor)subscription_dealloc,
    .tp_repr = (reprfunc)subscription_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)subscription_traverse,
    .tp_clear = (inquiry)subscription_clear_refs,
    .tp_doc = "Opaque CA subscription identifier.",
};

/* ---- synchronous group identifier ---------------------------------------- */

static void syncgroup_dealloc(SyncGroupObject *self)
{
    io_counter_fini(&self->io);
    Py_XDECREF(self->context);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *syncgroup_repr(SyncGroupObject *self)
{
    return PyUnicode_FromFormat("<CA sync group %u%s>", self->gid,
                                self->valid ? "" : " (deleted)");
}

PyTypeObject SyncGroupType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "CaChannel._ca.SyncGroup",
    .tp_basicsize = sizeof(SyncGroupObject),
    .tp_dealloc = (destructor)syncgroup_dealloc,
    .tp_repr = (reprfunc)syncgroup_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Opaque CA synchronous group identifier.",
};

/* ---- one-shot gets and the callbacks from libca -------------------------- */

/* The usr of every one-shot get.  libca answers each exactly once, except
 * when the channel is cleared (ECA_CHANDESTROY: no call at all), so each is
 * listed with its channel until answered, and dropped with the channel.
 * 48 bytes, pymalloc's class for every get in flight (80 with a field per
 * member): a get with callback needs no account and a get without one
 * carries use_numpy in its value, so the two share a field, and what a
 * target or an owner is, their type says. */
struct GetRequest {
    GetRequest *prev, *next;    /* the channel's in-flight list */
    ChannelObject *channel;
    /* The callback, or the DBRValue a get without callback copies to. */
    PyObject *target;
    union {
        int use_numpy;          /* with a callback */
        /* Without: the SyncGroup that counts it in sg_block, or the
         * issuing thread's IOAccount that counts it in pend_io. */
        PyObject *owner;
    } u;
    unsigned long generation;
};
_Static_assert(sizeof(GetRequest) <= 48, "GetRequest outgrew 48 bytes");

static int request_copies(GetRequest *req)
{
    return Py_TYPE(req->target) == &DBRValueType;
}

/* Of a get without callback: counted in a group's sg_block, not pend_io. */
static int request_in_group(GetRequest *req)
{
    return Py_TYPE(req->u.owner) == &SyncGroupType;
}

static io_counter *request_counter(GetRequest *req)
{
    return request_in_group(req) ? &((SyncGroupObject *)req->u.owner)->io
                                 : &((IOAccountObject *)req->u.owner)->io;
}

/* A get with callback (value NULL), or without, copying to value. */
static GetRequest *request_new(ChannelObject *chan, PyObject *callback, int use_numpy,
                               DBRValueObject *value, SyncGroupObject *group)
{
    PyObject *owner = NULL;
    GetRequest *req;
    if (value && !(owner = group ? (PyObject *)group : (PyObject *)io_account(chan->context)))
        return NULL;
    if (!(req = PyMem_Malloc(sizeof(GetRequest)))) {
        PyErr_NoMemory();
        return NULL;
    }
    req->channel = chan;
    Py_INCREF(chan);
    if (value) {
        req->target = (PyObject *)value;
        req->u.owner = owner;
        Py_INCREF(owner);
        req->generation = io_counter_issue(request_counter(req));
    } else {
        req->target = callback;
        req->u.use_numpy = use_numpy;
        req->generation = 0;
    }
    Py_INCREF(req->target);
    req->prev = NULL;
    req->next = chan->inflight;
    if (chan->inflight)
        chan->inflight->prev = req;
    chan->inflight = req;
    live_usr++;
    return req;
}

static void request_unlink(GetRequest *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else if (req->channel->inflight == req)
        req->channel->inflight = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

static void request_free(GetRequest *req)
{
    request_unlink(req);
    live_usr--;
    if (request_copies(req))
        Py_DECREF(req->u.owner);
    Py_DECREF(req->target);
    Py_DECREF(req->channel);
    PyMem_Free(req);
}

/* A request libca refused: it will never be answered. */
static void request_withdraw(GetRequest *req)
{
    if (request_copies(req))
        io_counter_complete(request_counter(req), req->generation);
    request_free(req);
}

void get_requests_drop(ChannelObject *chan)
{
    /* A get without callback dropped here stays outstanding, as in libca:
     * the pend_io waiting for it times out. */
    while (chan->inflight)
        request_free(chan->inflight);
}

/* A get without callback answered: copy what fits and count it done. */
static void request_deliver(GetRequest *req, struct event_handler_args *args)
{
    io_counter *counter = request_counter(req);
    DBRValueObject *value = (DBRValueObject *)req->target;
    /* A failed read stays outstanding, as libca's own does: the wait for it
     * times out. */
    if (args->status != ECA_NORMAL || !args->dbr || args->type != value->type)
        return;
    /* libca cancels the reads of a group that was reset. */
    if (request_in_group(req) && req->generation != counter->generation)
        return;
    dbr_fill(value, args->count, args->dbr);
    io_counter_complete(counter, req->generation);
}

static void get_handler(struct event_handler_args args)
{
    cb_state gil;
    GetRequest *req = args.usr;
    if (!cb_enter(&gil))
        return;
    /* First, because the callback may clear this request's channel. */
    request_unlink(req);
    if (request_copies(req))
        request_deliver(req, &args);
    else
        cb_call(req->target, event_dict((PyObject *)req->channel, &args, req->u.use_numpy));
    request_free(req);
    cb_leave(gil);
}

/* Issues one get; the request is withdrawn if libca refuses it. */
static int request_issue(GetRequest *req, long type, unsigned long count)
{
    int status;
    chid cid = req->channel->cid;
    GATED(req->channel->context, status, ECA_BADCHID,
                 ca_array_get_callback(type, count, cid, get_handler, req));
    /* Answered or not, req may be gone once libca has accepted it. */
    if (status != ECA_NORMAL)
        request_withdraw(req);
    return status;
}

/* ---- puts with callback and in groups ------------------------------------ */

/* The usr of a put with callback, or of a put in a group: the type and
 * count sent (libca reports neither to put callbacks), or the group that
 * counts it.  libca calls every put callback, also when the channel is
 * cleared (ECA_CHANDESTROY), so the record is freed there.  It names no
 * channel (the callback's chid comes from ca_puser); cffi's names one, so
 * that clearing it releases the cffi handle even if libca never answers. */
typedef struct {
    PyObject *callback;         /* NULL: a put in a group */
    long type;
    unsigned long count;
    SyncGroupObject *group;
    unsigned long generation;
} PutRequest;

static PutRequest *put_request_new(PyObject *callback, long type, unsigned long count,
                                   SyncGroupObject *group)
{
    PutRequest *req = PyMem_Malloc(sizeof(PutRequest));
    if (!req) {
        PyErr_NoMemory();
        return NULL;
    }
    req->callback = callback;
    Py_XINCREF(callback);
    req->type = type;
    req->count = count;
    req->group = group;
    Py_XINCREF(group);
    req->generation = group ? io_counter_issue(&group->io) : 0;
    live_usr++;
    return req;
}

static void put_request_free(PutRequest *req)
{
    live_usr--;
    Py_XDECREF(req->callback);
    Py_XDECREF(req->group);
    PyMem_Free(req);
}

static void put_handler(struct event_handler_args args)
{
    cb_state gil;
    PutRequest *req = args.usr;
    if (!cb_enter(&gil))
        return;
    cb_call(req->callback,
            Py_BuildValue("{O:O,O:N,O:k,O:N}",
                          keys[K_chid], (PyObject *)ca_puser(args.chid),
                          keys[K_type], dbr_member(req->type),
                          keys[K_count], req->count,
                          keys[K_status], ECA_OBJ(args.status)));
    put_request_free(req);
    cb_leave(gil);
}

static void group_put_handler(struct event_handler_args args)
{
    cb_state gil;
    PutRequest *req = args.usr;
    if (!cb_enter(&gil))
        return;
    /* A failed put stays outstanding, as in libca's own groups: sg_block
     * times out. */
    if (args.status == ECA_NORMAL)
        io_counter_complete(&req->group->io, req->generation);
    put_request_free(req);
    cb_leave(gil);
}

/* Issues a put with callback (or in a group); the request is withdrawn if
 * libca refuses it. */
static int put_request_issue(PutRequest *req, ChannelObject *chan, const void *buffer)
{
    int status;
    chid cid = chan->cid;
    /* libca copies the value into its send buffer before returning. */
    GATED(chan->context, status, ECA_BADCHID,
                 ca_array_put_callback(req->type, req->count, cid, buffer,
                                       req->group ? group_put_handler : put_handler, req));
    if (status != ECA_NORMAL) {
        if (req->group)
            io_counter_complete(&req->group->io, req->generation);
        put_request_free(req);
    }
    return status;
}

static void subscription_handler(struct event_handler_args args)
{
    cb_state gil;
    SubscriptionObject *sub = args.usr;
    if (!cb_enter(&gil))
        return;
    /* The callback may clear this very subscription. */
    Py_INCREF(sub);
    if (sub->valid && sub->callback) {
        PyObject *callback = sub->callback, *d = NULL;
        Py_INCREF(callback);
        if (sub->pv_fields)
            d = pv_event_dict((PyObject *)sub->channel, &args);
        if (!d && !PyErr_Occurred())
            d = event_dict((PyObject *)sub->channel, &args, sub->use_numpy);
        cb_call(callback, d);
        Py_DECREF(callback);
    }
    Py_DECREF(sub);
    cb_leave(gil);
}

/* ---- argument checks shared by the calls below ---------------------------- */

/* What every request needs of its channel: the native field type
 * (TYPENOTCONN when not connected) and element count (0), read under one
 * admission, since each admission lets go of the GIL (the twin of
 * native_of in caffi_backend/getput.py).  The cffi backend keeps them from
 * the connection callback instead, since through cffi these two reads and
 * their admission cost 7,500 instructions a request (callgrind); here they
 * are two C calls, and keeping them would take 16 bytes more of every
 * channel object, past its 112. */
typedef struct {
    short field;
    unsigned long count;
} Native;

static Native native_read(chid cid)
{
    Native native;
    native.field = ca_field_type(cid);
    native.count = ca_element_count(cid);
    return native;
}

static Native native_of(ChannelObject *chan)
{
    static const Native unknown = {TYPENOTCONN, 0};
    Native native;
    GATED(chan->context, native, unknown, native_read(chan->cid));
    return native;
}

/* The request type of a get (writing 0) or put (writing 1): chtype None is
 * the channel's native type (native_field).  -> 0, the ECA status that
 * refuses the request (ECA_DISCONN with no native type yet, ECA_BADTYPE),
 * or -1 with an exception for an argument that is no integer (the twin of
 * request_type in caffi_backend/getput.py). */
static int request_type(PyObject *chtype, short native_field, int writing, long *type)
{
    if (chtype == NULL || chtype == Py_None) {
        if (native_field < 0)
            return ECA_DISCONN;
        *type = dbf_type_to_DBR(native_field);
    } else {
        if (!PyIndex_Check(chtype)) {
            PyErr_Format(PyExc_TypeError, "chtype must be an int or None, not %.100s",
                         Py_TYPE(chtype)->tp_name);
            return -1;
        }
        *type = PyLong_AsLong(chtype);
        if (*type == -1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError))
                return -1;
            PyErr_Clear();
            return ECA_BADTYPE;
        }
    }
    if (*type == DBR_PUT_ACKT || *type == DBR_PUT_ACKS)
        return writing ? 0 : ECA_BADTYPE;   /* write-only */
    if (writing ? !dbr_type_is_plain(*type) : !dbr_type_is_valid(*type))
        return ECA_BADTYPE;
    return 0;
}

/* ---- get ------------------------------------------------------------------ */

/* get and sg_get without callback -> (ECA, DBRValue or None) */
static PyObject *get_into_value(ChannelObject *chan, SyncGroupObject *group, long type,
                                unsigned long count, int use_numpy)
{
    PyObject *value, *result;
    GetRequest *req;
    int status;
    if (count == 0)   /* a disconnected channel has no native count */
        return status_pair(ECA_DISCONN, NULL);
    value = dbr_new_value(type, count, use_numpy);
    if (!value)
        return NULL;
    req = request_new(chan, NULL, use_numpy, (DBRValueObject *)value, group);
    if (!req) {
        Py_DECREF(value);
        return NULL;
    }
    status = request_issue(req, type, count);
    result = status_pair(status, status == ECA_NORMAL ? value : NULL);
    Py_DECREF(value);
    return result;
}

PyObject *py_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"chid", "chtype", "count", "callback", "use_numpy"};
    PyObject *arg[5], *obj, *chtype, *count_obj, *callback;
    int use_numpy = 0, gone, status;
    long type;
    unsigned long count;
    ChannelObject *chan;
    Native native;

    if (parse_args("get", args, nargs, kwnames, names, 5, 1, arg) < 0 ||
        (arg[4] && (use_numpy = PyObject_IsTrue(arg[4])) < 0))
        return NULL;
    obj = arg[0];
    chtype = arg[1] ? arg[1] : Py_None;
    count_obj = arg[2] ? arg[2] : Py_None;
    callback = arg[3] ? arg[3] : Py_None;
    if (!(chan = live_channel(obj, &gone)))
        return NULL;
    if (check_optional_callback(callback) < 0)
        return NULL;
    if (gone)
        return status_pair(ECA_BADCHID, NULL);
    native = native_of(chan);
    if ((status = request_type(chtype, native.field, 0, &type)) < 0 ||
        request_count(count_obj, native.count, callback != Py_None, &count) < 0)
        return NULL;
    if (status)
        return status_pair(status, NULL);

    if (callback != Py_None) {
        GetRequest *req = request_new(chan, callback, use_numpy, NULL, NULL);
        if (!req)
            return NULL;
        return status_pair(request_issue(req, type, count), NULL);
    }
    return get_into_value(chan, NULL, type, count, use_numpy);
}

/* ---- put ------------------------------------------------------------------ */

/* Resolves the request type and builds the buffer; returns an ECA status
 * that stops the put before it starts (0: go on) or -1 with an exception. */
static int prepare_put(ChannelObject *chan, PyObject *value, PyObject *chtype,
                       PyObject *count_obj, long *type, unsigned long *count,
                       void **buffer)
{
    Native native = native_of(chan);
    int status;
    if ((status = request_type(chtype, native.field, 1, type)) != 0)
        return status;
    if (count_obj == Py_None)
        *count = 0;
    else if (request_count(count_obj, ULONG_MAX, 0, count) < 0)
        return -1;
    else if (*count == ULONG_MAX)
        *count = 0;   /* <= 0: no limit from the caller */
    if (dbr_encode(value, type, native.count, count, buffer) < 0)
        return -1;
    return 0;
}

PyObject *py_put(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chid", "value", "chtype", "count", "callback", NULL};
    PyObject *obj, *value, *chtype = Py_None, *count_obj = Py_None, *callback = Py_None;
    ChannelObject *chan;
    int gone, status;
    long type;
    unsigned long count;
    void *buffer = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOO:put", kwlist, &obj, &value,
                                     &chtype, &count_obj, &callback))
        return NULL;
    if (!(chan = live_channel(obj, &gone)))
        return NULL;
    if (check_optional_callback(callback) < 0)
        return NULL;
    if (gone)
        return ECA_OBJ(ECA_BADCHID);
    status = prepare_put(chan, value, chtype, count_obj, &type, &count, &buffer);
    if (status < 0)
        return NULL;
    if (status)
        return ECA_OBJ(status);
    if (callback != Py_None) {
        PutRequest *req = put_request_new(callback, type, count, NULL);
        if (!req) {
            free(buffer);
            return NULL;
        }
        status = put_request_issue(req, chan, buffer);
    } else {
        GATED(chan->context, status, ECA_BADCHID,
                     ca_array_put(type, count, chan->cid, buffer));
    }
    free(buffer);
    return ECA_OBJ(status);
}

/* ---- subscriptions -------------------------------------------------------- */

PyObject *py_create_subscription(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"chid", "callback", "chtype", "count", "mask", "use_numpy",
                             "_pv_fields", NULL};
    PyObject *obj, *callback, *chtype = Py_None, *count_obj = Py_None, *mask_obj = Py_None;
    int use_numpy = 0, pv_fields = 0, gone, status;
    long type, mask = DBE_VALUE | DBE_ALARM;
    unsigned long count;
    ChannelObject *chan;
    SubscriptionObject *sub;
    evid eid = NULL;
    Native native;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOOp$p:create_subscription", kwlist,
                                     &obj, &callback, &chtype, &count_obj, &mask_obj,
                                     &use_numpy, &pv_fields))
        return NULL;
    if (!(chan = live_channel(obj, &gone)))
        return NULL;
    if (!PyCallable_Check(callback)) {
        PyErr_SetString(PyExc_TypeError, "callback must be callable");
        return NULL;
    }
    if (mask_obj != Py_None) {
        mask = PyLong_AsLong(mask_obj);
        if (mask == -1 && PyErr_Occurred())
            return NULL;
    }
    if (gone)
        return status_pair(ECA_BADCHID, NULL);
    native = native_of(chan);
    if ((status = request_type(chtype, native.field, 0, &type)) < 0 ||
        request_count(count_obj, native.count, 1, &count) < 0)
        return NULL;
    if (status)
        return status_pair(status, NULL);

    sub = PyObject_GC_New(SubscriptionObject, &SubscriptionType);
    if (!sub)
        return NULL;
    sub->eid = NULL;
    sub->valid = 1;
    sub->channel = chan;
    Py_INCREF(chan);
    sub->callback = callback;
    Py_INCREF(callback);
    sub->use_numpy = use_numpy;
    sub->pv_fields = pv_fields;
    PyObject_GC_Track(sub);
    /* The channel's set holds the reference lent to libca as usr. */
    if ((!chan->subscriptions && !(chan->subscriptions = PySet_New(NULL))) ||
        PySet_Add(chan->subscriptions, (PyObject *)sub) < 0) {
        Py_DECREF(sub);
        return NULL;
    }
    live_usr++;
    GATED(chan->context, status, ECA_BADCHID,
                 ca_create_subscription(type, count, chan->cid, mask, subscription_handler,
                                        sub, &eid));
    if (status != ECA_NORMAL) {
        sub->valid = 0;
        if (PySet_Discard(chan->subscriptions, (PyObject *)sub) == 1)
            live_usr--;
        Py_DECREF(sub);
        return status_pair(status, NULL);
    }
    sub->eid = eid;
    {
        PyObject *result = status_pair(status, (PyObject *)sub);
        Py_DECREF(sub);
        return result;
    }
}

PyObject *py_clear_subscription(PyObject *self, PyObject *arg)
{
    SubscriptionObject *sub;
    int status;
    park_if_exiting();
    if (!PyObject_TypeCheck(arg, &SubscriptionType)) {
        PyErr_Format(PyExc_TypeError, "expected an evid, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    sub = (SubscriptionObject *)arg;
    if (!sub->valid || !sub->channel->valid || !sub->channel->context->valid)
        return ECA_OBJ(ECA_BADMONID);
    sub->valid = 0;
    Py_INCREF(sub);
    /* Waits for this subscription's callback in progress, which needs the GIL. */
    GATED(sub->channel->context, status, ECA_BADMONID,
                 ca_clear_subscription(sub->eid));
    if (sub->channel->subscriptions &&
        PySet_Discard(sub->channel->subscriptions, (PyObject *)sub) == 1)
        live_usr--;
    Py_DECREF(sub);
    return ECA_OBJ(status);
}

/* ---- synchronous groups --------------------------------------------------- */

static SyncGroupObject *group_arg(PyObject *obj, int *gone)
{
    SyncGroupObject *group;
    park_if_exiting();
    if (!PyObject_TypeCheck(obj, &SyncGroupType)) {
        PyErr_Format(PyExc_TypeError, "expected a sync group id, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    group = (SyncGroupObject *)obj;
    *gone = !group->valid || !group->context->valid;
    return group;
}

PyObject *py_sg_create(PyObject *self, PyObject *unused)
{
    ContextObject *rec = context_current(1);
    SyncGroupObject *group;
    CA_SYNC_GID gid = 0;
    int status;
    PyObject *result;
    if (!rec)
        return NULL;
    GATED(rec, status, ECA_NOCACTX, ca_sg_create(&gid));
    if (status != ECA_NORMAL)
        return status_pair(status, NULL);
    group = PyObject_New(SyncGroupObject, &SyncGroupType);
    if (!group)
        return NULL;
    group->gid = gid;
    group->valid = 1;
    group->context = rec;
    Py_INCREF(rec);
    io_counter_init(&group->io);
    result = status_pair(status, (PyObject *)group);
    Py_DECREF(group);
    return result;
}

PyObject *py_sg_delete(PyObject *self, PyObject *arg)
{
    int gone, status;
    SyncGroupObject *group = group_arg(arg, &gone);
    if (!group)
        return NULL;
    if (gone)
        return ECA_OBJ(ECA_BADSYNCGRP);
    group->valid = 0;
    GATED(group->context, status, ECA_BADSYNCGRP, ca_sg_delete(group->gid));
    io_counter_reset(&group->io);
    return ECA_OBJ(status);
}

PyObject *py_sg_get(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"gid", "chid", "chtype", "count", "use_numpy", NULL};
    PyObject *gobj, *cobj, *chtype = Py_None, *count_obj = Py_None;
    int use_numpy = 0, ggone, cgone, status;
    SyncGroupObject *group;
    ChannelObject *chan;
    long type;
    unsigned long count;
    Native native;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOp:sg_get", kwlist, &gobj, &cobj,
                                     &chtype, &count_obj, &use_numpy))
        return NULL;
    if (!(group = group_arg(gobj, &ggone)) || !(chan = live_channel(cobj, &cgone)))
        return NULL;
    if (ggone)
        return status_pair(ECA_BADSYNCGRP, NULL);
    if (cgone)
        return status_pair(ECA_BADCHID, NULL);
    native = native_of(chan);
    if ((status = request_type(chtype, native.field, 0, &type)) < 0 ||
        request_count(count_obj, native.count, 0, &count) < 0)
        return NULL;
    if (status)
        return status_pair(status, NULL);
    return get_into_value(chan, group, type, count, use_numpy);
}

PyObject *py_sg_put(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"gid", "chid", "value", "chtype", "count", NULL};
    PyObject *gobj, *cobj, *value, *chtype = Py_None, *count_obj = Py_None;
    int ggone, cgone, status;
    SyncGroupObject *group;
    ChannelObject *chan;
    PutRequest *req;
    long type;
    unsigned long count;
    void *buffer = NULL;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|OO:sg_put", kwlist, &gobj, &cobj,
                                     &value, &chtype, &count_obj))
        return NULL;
    if (!(group = group_arg(gobj, &ggone)) || !(chan = live_channel(cobj, &cgone)))
        return NULL;
    if (ggone)
        return ECA_OBJ(ECA_BADSYNCGRP);
    if (cgone)
        return ECA_OBJ(ECA_BADCHID);
    status = prepare_put(chan, value, chtype, count_obj, &type, &count, &buffer);
    if (status < 0)
        return NULL;
    if (status)
        return ECA_OBJ(status);
    if (!(req = put_request_new(NULL, type, count, group))) {
        free(buffer);
        return NULL;
    }
    status = put_request_issue(req, chan, buffer);
    free(buffer);
    return ECA_OBJ(status);
}

PyObject *py_sg_block(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"gid", "timeout", NULL};
    PyObject *gobj, *timeout_obj;
    SyncGroupObject *group;
    double timeout, deadline;
    int gone, status;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:sg_block", kwlist, &gobj, &timeout_obj))
        return NULL;
    if (!(group = group_arg(gobj, &gone)) || timeout_arg(timeout_obj, &timeout) < 0)
        return NULL;
    if (gone)
        return ECA_OBJ(ECA_BADSYNCGRP);
    deadline = monotonic_seconds() + timeout;
    Py_INCREF(group);   /* another thread may delete it meanwhile */
    /* libca's own group is empty: this flushes our requests and refuses
     * (ECA_EVDISALLOW) a wait from inside a callback. */
    GATED(group->context, status, ECA_BADSYNCGRP, ca_sg_block(group->gid, timeout));
    if (status == ECA_NORMAL)
        status = io_counter_wait(&group->io, deadline, group->context);
    /* ca_sg_block resets the group however the wait ended (Ctrl-C too). */
    if (status == ECA_NORMAL || status == ECA_TIMEOUT || status < 0)
        io_counter_reset(&group->io);
    Py_DECREF(group);
    return status < 0 ? NULL : ECA_OBJ(status);
}

PyObject *py_sg_test(PyObject *self, PyObject *arg)
{
    /* Not ca_sg_test: it takes libca's context lock before the callback
     * lock, the reverse of libca's receive thread, and deadlocks with a
     * reply being delivered (glibc aborts on the priority-inheritance
     * mutexes).  Every request of a group is counted here anyway. */
    int gone;
    SyncGroupObject *group = group_arg(arg, &gone);
    if (!group)
        return NULL;
    if (gone)
        return ECA_OBJ(ECA_BADSYNCGRP);
    return ECA_OBJ(group->io.outstanding > 0 ? ECA_IOINPROGRESS : ECA_IODONE);
}

PyObject *py_sg_reset(PyObject *self, PyObject *arg)
{
    int gone, status;
    SyncGroupObject *group = group_arg(arg, &gone);
    if (!group)
        return NULL;
    if (gone)
        return ECA_OBJ(ECA_BADSYNCGRP);
    GATED(group->context, status, ECA_BADSYNCGRP, ca_sg_reset(group->gid));
    if (status == ECA_NORMAL)
        io_counter_reset(&group->io);
    return ECA_OBJ(status);
}
