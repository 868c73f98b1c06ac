"""Reads, writes, subscriptions and synchronous groups (the twin of src/getput.c).

Handle lifetimes (each counted by ``_live_callbacks()``):

* a get (with or without callback) or a put with callback: its request
  record, lent by key (``_common.lent_requests``) and in its channel's
  in-flight list from the request until its callback (or until the channel
  is cleared, when libca drops the request);
* a subscription: its ``Evid``, lent by key
  (``_common.lent_subscriptions``) from creation until
  ``clear_subscription`` or the channel is cleared.

Gets without callback (``get``, ``sg_get``) are ``ca_array_get_callback``
requests of our own that copy at most the count asked into the
``DBRValue``'s buffer, counted by the issuing thread's or the group's
``IOCounter`` for pend_io / sg_block (see ``iowait`` and DEVELOPERS.md).
Every libca call goes through ``iowait.gated``, refused once its context
is being destroyed.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from CaChannel._constants import DBE, DBR, ECA

from . import _common, context, iowait
from ._cdef import ANSWER_VIEWS
from ._common import (Identifier, as_int, check, check_optional_callback, eca, request_count,
                      status_pair)
from .channel import Chid, channel_ptr, lists_lock, native_read, request_link, request_unlink
from .iowait import IOCounter, gated
from .dbr import (GET_TYPES, PUT_TYPES, DBRValue, encode, event_dict, fill, new_value,
                  pv_event_dict)
from ._ffi import ffi, lib

__all__ = ['Evid', 'SyncGroup', 'get', 'put', 'create_subscription',
           'clear_subscription', 'sg_create', 'sg_delete', 'sg_get', 'sg_put',
           'sg_block', 'sg_test', 'sg_reset']

Callback = Callable[[Dict[str, Any]], Any]

_ECA = _common.ECA_MEMBERS
_DBR = _common.DBR_MEMBERS
_NORMAL = int(ECA.NORMAL)
_BADCHID, _DISCONN, _BADTYPE = _common.ECA_BADCHID, _common.ECA_DISCONN, _common.ECA_BADTYPE
# PUT_ACKT/PUT_ACKS are write-only
_GET_TYPES = GET_TYPES
_DEFAULT_MASK = DBE.VALUE | DBE.ALARM


class Evid(Identifier):
    """A subscription (``evid``); ``_ptr`` is None once cleared."""

    __slots__ = ('_ptr', '_active', '_chan', '_callback', '_use_numpy', '_pv_fields',
                 '_key', '__weakref__')

    def _forget(self) -> None:
        """Called once libca can no longer call back for this subscription."""
        self._ptr = None
        self._active = False
        _common.lent_subscriptions.pop(self._key, None)

    def __repr__(self) -> str:
        return '<evid of %r%s>' % (self._chan._name, ' cleared' if self._ptr is None else '')


# ---------------------------------------------------------------------------
# shared argument handling

_NATIVE_UNKNOWN = (-1, 0)           # TYPENOTCONN, no count: not connected


def native_of(chan: Chid, ptr: Any) -> Tuple[int, int]:
    """``(field type, element count)`` of a connected channel, else
    ``(-1, 0)``: what every request needs (the twin of native_of in
    getput.c).

    Kept by the connection callback (``Chid._native``), where C reads libca
    under one admission: here the two reads and their admission cost 7,500
    instructions and GIL hand-overs a request (callgrind), in C two C
    calls.  Read from libca while the callback of a new connection has not
    run yet.  A channel that went down
    before its callback ran keeps its last figures until it does: libca
    then refuses a get or put with ECA_DISCONN, as this would have, and
    keeps a subscription for the reconnection, as for any subscription
    made with its type on a disconnected channel.  (The figures read from
    libca in C are as old by the time the request reaches it.)
    """
    known: Optional[Tuple[int, int]] = chan._native
    if known is not None:
        return known
    result: Tuple[int, int] = gated(chan._ctx, _NATIVE_UNKNOWN, native_read, ptr)
    return result


def request_type(native_type: int, chtype: Any, allowed: frozenset) -> Union[int, ECA]:
    """The request type (*chtype*, None for the channel's *native_type*), or
    the ECA status that refuses the request."""
    if chtype is None:
        if native_type < 0:
            return _DISCONN
        return native_type          # dbf_type_to_DBR is the identity on 0..6
    dbrtype = as_int(chtype, 'chtype')
    return dbrtype if dbrtype in allowed else _BADTYPE


def prepare_put(chan: Chid, ptr: Any, value: Any, chtype: Any,
                count: Any) -> Union[ECA, Tuple[int, int, Any]]:
    """Resolves the request type and builds the buffer (the twin of
    prepare_put in getput.c): the ECA status that stops the put before it
    starts, or ``(type, count, buffer)`` to send."""
    native_type, native_count = native_of(chan, ptr)
    dbrtype = request_type(native_type, chtype, PUT_TYPES)
    if type(dbrtype) is ECA:
        return dbrtype
    return encode(value, dbrtype, count, native_count)


def _check_callback(callback: Any) -> None:
    """A callback that must be there (a subscription's)."""
    if not callable(callback):
        raise TypeError('callback must be callable, not %s' % type(callback).__name__)


class _GetRequest:
    """The usr of a one-shot get (the twin of GetRequest in getput.c): the
    callback's, or, for a get without callback, the value its reply is
    copied into and the counter it is outstanding in (the issuing thread's
    account, or a group).

    getput.c's record shares a field between the callback and the value,
    and one between use_numpy and the counter's owner, to fit pymalloc's
    48-byte class; here the one shared field would leave this object in
    its 112-byte class (nine slots or ten), so each keeps its own name."""

    __slots__ = ('chan', 'key', 'prev', 'next', 'callback', 'use_numpy', 'value', 'counter',
                 'generation', 'in_group')

    def __init__(self, chan: Chid, callback: Optional[Callback] = None, use_numpy: bool = False,
                 value: Optional[DBRValue] = None, counter: Optional[IOCounter] = None,
                 in_group: bool = False) -> None:
        self.chan = chan
        self.key = 0                    # its usr, once issued
        self.prev: Optional[Request] = None
        self.next: Optional[Request] = None
        self.callback = callback
        self.use_numpy = use_numpy
        self.value = value
        self.counter = counter
        self.generation: Any = None     # the counter's, once issued
        self.in_group = in_group


class _PutRequest:
    """The usr of a put with callback or in a group (the twin of PutRequest
    in getput.c): the type and count sent, which libca does not hand put
    callbacks, or the group's counter.

    Unlike the C record it names its channel: for the callback's ``'chid'``
    (C reads it from ``ca_puser``), and so that clearing the channel or
    destroying its context releases it (the channel's in-flight list) even
    if libca never answers; the C record is freed only by its put callback.
    """

    __slots__ = ('chan', 'key', 'prev', 'next', 'callback', 'type', 'count', 'counter',
                 'generation')

    def __init__(self, chan: Chid, dbrtype: int, count: int,
                 callback: Optional[Callback] = None,
                 counter: Optional[IOCounter] = None) -> None:
        self.chan = chan
        self.key = 0
        self.prev: Optional[Request] = None
        self.next: Optional[Request] = None
        self.callback = callback
        self.type = dbrtype
        self.count = count
        self.counter = counter
        self.generation: Any = None


Request = Union[_GetRequest, _PutRequest]


def _end_request(request: Request) -> None:
    """libca will not call back for *request* any more: forget it."""
    _common.lent_requests.pop(request.key, None)
    request_unlink(request)


def _answered(args: Any) -> Optional[Request]:
    """The request an answer is for, forgotten; None while the interpreter
    exits (no callback runs then), or if it was forgotten already (its
    channel cleared or its context destroyed meanwhile)."""
    if _common.shutting_down:
        return None
    request = _common.lent_requests.pop(args.usr, None)
    if request is not None:
        request_unlink(request)
    return request


def request_issue(request: Request, call: Callable[..., int], *args: Any) -> int:
    """Lend *request* to libca as the usr of ``call(*args, usr)``, a libca
    request admitted by its channel's context and counted in the request's
    counter if it has one; withdrawn again if libca refuses it (the twin of
    request_issue in getput.c)."""
    counter = request.counter
    if counter is not None:
        request.generation = counter.issue()
    key = request.key = _common.next_key()
    _common.lent_requests[key] = request
    request_link(request)
    status = gated(request.chan._ctx, _BADCHID, call, *args, key)
    if status != _NORMAL:
        _end_request(request)
        if counter is not None:
            counter.complete(request.generation)
    return status


# ---------------------------------------------------------------------------
# callbacks from libca

def _get_handler(args: Any) -> None:
    request = _answered(args)
    if request is None:
        return
    request.callback(event_dict(request.chan, args, request.use_numpy))


def _fill_handler(args: Any) -> None:
    """A get without callback answered: copy what fits, count it done."""
    request = _answered(args)
    if request is None:
        return
    value = request.value
    # A failed read stays outstanding, as libca's own does: the wait for it
    # times out.
    if args.status != _NORMAL or not args.dbr or args.type != value._type:
        return
    counter = request.counter
    if request.in_group and request.generation is not counter.generation:
        return                      # libca cancels the reads of a reset group
    if value._buffer is None:       # one plain number, through its view
        if args.count:
            value._scalar = args.dbr[0]
    else:
        fill(value._buffer, value._type, value._count, args.count, args.dbr)
    value._filled = True
    counter.complete(request.generation)


def _group_put_handler(args: Any) -> None:
    request = _answered(args)
    if request is None:
        return
    # A failed put stays outstanding, as in libca's own groups: sg_block
    # times out.
    if args.status == _NORMAL:
        request.counter.complete(request.generation)


def _put_handler(args: Any) -> None:
    request = _answered(args)
    if request is None:
        return
    status = args.status
    request.callback({'chid': request.chan, 'type': _DBR.get(request.type, request.type),
                      'count': request.count, 'status': _ECA.get(status, status)})


def _subscription_handler(args: Any) -> None:
    if _common.shutting_down:
        return
    sub = _common.lent_subscriptions.get(args.usr)
    if sub is None or not sub._active:
        return                      # cleared, or being cleared from another thread
    found = pv_event_dict(sub._chan, args) if sub._pv_fields else None
    sub._callback(found if found is not None else event_dict(sub._chan, args, sub._use_numpy))


# Function pointer spelling: the compiled FFI's type parser reads no bare
# function type.  Answers and events carry the key of their request or
# subscription as usr (_cdef.py's request_handler_args).
_ANSWER_SIGNATURE = 'void(*)(struct request_handler_args)'
# The callbacks handed to libca: the casts given to it do not keep them alive.
_callbacks: List[Any] = []


def _libca_callback(handler: Callable[[Any], None], signature: str = _ANSWER_SIGNATURE) -> Any:
    """*handler* as a libca callback of *signature*, cast to the answer
    signature libca's calls are declared with."""
    callback = ffi.callback(signature, handler, onerror=_common.report_callback_error)
    _callbacks.append(callback)
    return ffi.cast(_ANSWER_SIGNATURE, callback)


def _viewed(handler: Callable[[Any], None]) -> Dict[int, Any]:
    """request type -> *handler* as the callback of the type's answer view
    (_cdef.ANSWER_VIEWS), through which the handler reads the value
    uncast; a type without a view takes the untyped callback."""
    return {DBR[name]: _libca_callback(handler, 'void(*)(%s)' % view)
            for name, view in ANSWER_VIEWS.items()}


_fill_cb = _libca_callback(_fill_handler)
_fill_cbs = _viewed(_fill_handler)
_group_put_cb = _libca_callback(_group_put_handler)
_put_cb = _libca_callback(_put_handler)
_get_cb = _libca_callback(_get_handler)
_get_cbs = _viewed(_get_handler)
_event_cb = _libca_callback(_subscription_handler)
_event_cbs = _viewed(_subscription_handler)


# ---------------------------------------------------------------------------
# get / put / subscriptions

def get(chid: Chid, chtype: Optional[int] = None, count: Optional[int] = None,
        callback: Optional[Callback] = None,
        use_numpy: bool = False) -> Tuple[ECA, Optional[DBRValue]]:
    """Read a channel (``ca_array_get_callback``, also without *callback*).

    Without *callback*: ``(ECA, DBRValue)``, the value valid after a
    ``pend_io`` returns NORMAL (never more elements than asked, whatever the
    server sends). With one: ``(ECA, None)`` and the callback
    gets ``{'chid', 'type', 'count', 'status', 'value'}``.
    """
    ptr = channel_ptr(chid)
    check_optional_callback(callback)
    if ptr is None:
        return status_pair(_BADCHID)
    native_type, native = native_of(chid, ptr)
    dbrtype = request_type(native_type, chtype, _GET_TYPES)
    if type(dbrtype) is ECA:
        return status_pair(dbrtype)
    context.ensure_context(chid._ctx)
    if callback is not None:
        n = request_count(count, native, zero_means_server=True)
        status = request_issue(_GetRequest(chid, callback, bool(use_numpy)),
                               lib.ca_array_get_callback, dbrtype, n, ptr,
                               _get_cbs.get(dbrtype, _get_cb))
        return status_pair(status)
    if native == 0:
        # Not connected: no native count to size the buffer by.
        return status_pair(_DISCONN)
    return _get_into_value(chid, ptr, dbrtype, request_count(count, native), use_numpy,
                           iowait.io_account(chid._ctx), False)


def _get_into_value(chid: Chid, ptr: Any, dbrtype: int, count: int, use_numpy: bool,
                    counter: IOCounter, in_group: bool) -> Tuple[ECA, Optional[DBRValue]]:
    """get and sg_get without callback (the twin of get_into_value in getput.c)."""
    value = new_value(dbrtype, count, bool(use_numpy))
    status = request_issue(_GetRequest(chid, None, use_numpy, value, counter, in_group),
                           lib.ca_array_get_callback, dbrtype, count, ptr,
                           _fill_cbs.get(dbrtype, _fill_cb))
    return status_pair(status, value if status == _NORMAL else None)


def put(chid: Chid, value: Any, chtype: Optional[int] = None, count: Optional[int] = None,
        callback: Optional[Callback] = None) -> ECA:
    """Write a channel (``ca_array_put`` / ``ca_array_put_callback``).

    The value is converted by the request type before anything is sent (see
    ``dbr.encode``); the callback gets ``{'chid', 'type', 'count', 'status'}``.
    """
    ptr = channel_ptr(chid)
    check_optional_callback(callback)
    if ptr is None:
        return _BADCHID
    prepared = prepare_put(chid, ptr, value, chtype, count)
    if type(prepared) is ECA:
        return prepared
    put_type, n, buffer = prepared
    context.ensure_context(chid._ctx)
    # libca copies the data before returning, so the buffer may go now.
    if callback is None:
        return eca(gated(chid._ctx, _BADCHID, lib.ca_array_put, put_type, n, ptr, buffer))
    return eca(request_issue(_PutRequest(chid, put_type, n, callback=callback),
                             lib.ca_array_put_callback, put_type, n, ptr, buffer, _put_cb))


def create_subscription(chid: Chid, callback: Callback, chtype: Optional[int] = None,
                        count: Optional[int] = None, mask: Optional[int] = None,
                        use_numpy: bool = False, *,
                        _pv_fields: bool = False) -> Tuple[ECA, Optional[Evid]]:
    """Subscribe (``ca_create_subscription``) -> ``(ECA, evid or None)``.

    *mask* defaults to ``DBE.VALUE | DBE.ALARM``; count 0 asks for the
    server's current length; the callback gets the dict of a get callback.
    ``_pv_fields`` is the object layer's: the events ``pv_event_dict`` can
    make come as it makes them.
    """
    ptr = channel_ptr(chid)
    _check_callback(callback)
    mask = _DEFAULT_MASK if mask is None else as_int(mask, 'mask')
    if ptr is None:
        return status_pair(_BADCHID)
    native_type, native = native_of(chid, ptr)
    dbrtype = request_type(native_type, chtype, _GET_TYPES)
    if type(dbrtype) is ECA:
        return status_pair(dbrtype)
    n = request_count(count, native, zero_means_server=True)
    context.ensure_context(chid._ctx)
    sub = Evid._make()
    sub._ptr = None
    sub._active = True              # events may come before libca returns
    sub._chan = chid
    sub._callback = callback
    sub._use_numpy = bool(use_numpy)
    sub._pv_fields = bool(_pv_fields)
    sub._key = _common.next_key()
    _common.lent_subscriptions[sub._key] = sub
    with lists_lock:   # two threads subscribing at once keep one set
        if chid._subs is None:
            chid._subs = set()
        chid._subs.add(sub)
    out = ffi.new('evid *')
    status = gated(chid._ctx, _BADCHID, lib.ca_create_subscription,
                   dbrtype, n, ptr, mask, _event_cbs.get(dbrtype, _event_cb), sub._key, out)
    if status != _NORMAL:
        if chid._subs is not None:   # None if the channel was released meanwhile
            chid._subs.discard(sub)
        sub._forget()
        return status_pair(status)
    sub._ptr = out[0]
    return status_pair(status, sub)


def clear_subscription(evid: Evid) -> ECA:
    """Cancel a subscription; a cleared one gives ``ECA.BADMONID``.

    libca waits for a callback of this subscription that is running on
    another thread, so its key can be forgotten when it returns.
    """
    iowait.park_if_exiting()
    check(evid, Evid, 'evid')
    ptr = evid._ptr
    if ptr is None:
        return ECA.BADMONID
    # Stale at once, so that a second clear from another thread cannot
    # reach libca with the same evid.
    evid._ptr = None
    evid._active = False
    context.ensure_context()
    status = gated(evid._chan._ctx, ECA.BADMONID, lib.ca_clear_subscription, ptr)
    # Refused (the context is going away): destroying it forgets the key.
    if status != ECA.BADMONID and evid._chan._subs is not None:
        evid._chan._subs.discard(evid)
        evid._forget()
    return eca(status)


# ---------------------------------------------------------------------------
# synchronous groups

class SyncGroup(Identifier):
    """A synchronous group (``CA_SYNC_GID``); ``_id`` is None once deleted."""

    __slots__ = ('_id', '_ctx', '_io', '__weakref__')

    def __repr__(self) -> str:
        return '<sync group %s>' % ('deleted' if self._id is None else self._id)


_groups: Dict[Tuple[int, int], SyncGroup] = {}     # (context, id) -> group
_groups_lock = threading.Lock()


def _forget_group(group: SyncGroup) -> None:
    with _groups_lock:
        if group._id is not None:
            _groups.pop((group._ctx, group._id), None)
            group._id = None


def groups_mark_stale(ctx_address: Optional[int]) -> Callable[[], None]:
    """Before a context goes: its sync groups stale (in C a group checks its
    context's record instead)."""
    for group in [g for g in list(_groups.values())
                  if ctx_address is None or g._ctx == ctx_address]:
        _forget_group(group)
    return lambda: None             # a group holds no handle


context.stale_markers.append(groups_mark_stale)


def _group_id(gid: Any) -> Optional[int]:
    iowait.park_if_exiting()
    return check(gid, SyncGroup, 'gid')._id


def sg_create() -> Tuple[ECA, Optional[SyncGroup]]:
    """Create a synchronous group (``ca_sg_create``) -> ``(ECA, gid or None)``."""
    ctx_address = context.ensure_context()
    out = ffi.new('CA_SYNC_GID *')
    status = gated(ctx_address, _common.ECA_NOCACTX, lib.ca_sg_create, out)
    if status != _NORMAL:
        return status_pair(status)
    key = (ctx_address, int(out[0]))
    with _groups_lock:
        group = _groups.get(key)
        if group is None:
            group = SyncGroup._make()
            group._id = key[1]
            group._ctx = key[0]
            group._io = IOCounter()
            _groups[key] = group
    return status_pair(status, group)


def sg_delete(gid: SyncGroup) -> ECA:
    """Delete a group; a deleted one gives ``ECA.BADSYNCGRP``."""
    ident = _group_id(gid)
    if ident is None:
        return ECA.BADSYNCGRP
    context.ensure_context()
    status = gated(gid._ctx, ECA.BADSYNCGRP, lib.ca_sg_delete, ident)
    # Gone whatever libca answered, as in the C backend: a group whose
    # delete failed is no group to use again.
    _forget_group(gid)
    gid._io.reset()
    return eca(status)


def sg_get(gid: SyncGroup, chid: Chid, chtype: Optional[int] = None,
           count: Optional[int] = None,
           use_numpy: bool = False) -> Tuple[ECA, Optional[DBRValue]]:
    """Queue a read in a group; valid after ``sg_block`` (a bounded
    ``ca_array_get_callback`` counted by the group, not ``ca_sg_array_get``)."""
    ident = _group_id(gid)
    ptr = channel_ptr(chid)
    if ident is None:
        return status_pair(ECA.BADSYNCGRP)
    if ptr is None:
        return status_pair(_BADCHID)
    native_type, native = native_of(chid, ptr)
    dbrtype = request_type(native_type, chtype, _GET_TYPES)
    if type(dbrtype) is ECA:
        return status_pair(dbrtype)
    if native == 0:
        return status_pair(_DISCONN)    # as get(): nothing half-issued
    context.ensure_context(chid._ctx)
    return _get_into_value(chid, ptr, dbrtype, request_count(count, native), use_numpy,
                           gid._io, True)


def sg_put(gid: SyncGroup, chid: Chid, value: Any, chtype: Optional[int] = None,
           count: Optional[int] = None) -> ECA:
    """Queue a write in a group, converted as ``put`` (a put with callback
    counted by the group, not ``ca_sg_array_put``: see ``sg_test``)."""
    ident = _group_id(gid)
    ptr = channel_ptr(chid)
    if ident is None:
        return ECA.BADSYNCGRP
    if ptr is None:
        return _BADCHID
    prepared = prepare_put(chid, ptr, value, chtype, count)
    if type(prepared) is ECA:
        return prepared
    put_type, n, buffer = prepared
    context.ensure_context(chid._ctx)
    return eca(request_issue(_PutRequest(chid, put_type, n, counter=gid._io),
                             lib.ca_array_put_callback, put_type, n, ptr, buffer,
                             _group_put_cb))


def sg_block(gid: SyncGroup, timeout: float) -> ECA:
    """Wait for a group's requests (``ca_sg_block``, which resets the group
    however the wait ends)."""
    ident = _group_id(gid)
    timeout = _common.timeout_arg(timeout)
    if ident is None:
        return ECA.BADSYNCGRP
    context.ensure_context()
    deadline = time.monotonic() + timeout
    # libca's own group is empty: this flushes our requests and refuses
    # (ECA.EVDISALLOW) a wait from inside a callback.
    status = gated(gid._ctx, ECA.BADSYNCGRP, lib.ca_sg_block, ident, timeout)
    # ca_sg_block resets the group however the wait ended (Ctrl-C too).
    try:
        if status == _NORMAL:
            status = gid._io.wait(deadline, gid._ctx)
    except BaseException:
        gid._io.reset()
        raise
    if status == _NORMAL or status == ECA.TIMEOUT:
        gid._io.reset()
    return eca(status)


def sg_test(gid: SyncGroup) -> ECA:
    """``ECA.IODONE`` or ``ECA.IOINPROGRESS``.

    Not ``ca_sg_test``: it takes libca's context lock before the callback
    lock, the reverse of libca's receive thread, and deadlocks with a reply
    being delivered. Every request of a group is counted here anyway.
    """
    if _group_id(gid) is None:
        return ECA.BADSYNCGRP
    return ECA.IOINPROGRESS if gid._io.outstanding else ECA.IODONE


def sg_reset(gid: SyncGroup) -> ECA:
    """Discard a group's outstanding requests (``ca_sg_reset``)."""
    ident = _group_id(gid)
    if ident is None:
        return ECA.BADSYNCGRP
    context.ensure_context()
    status = gated(gid._ctx, ECA.BADSYNCGRP, lib.ca_sg_reset, ident)
    if status == _NORMAL:
        gid._io.reset()
    return eca(status)
