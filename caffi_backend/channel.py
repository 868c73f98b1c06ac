"""Channels: creation, clearing, connection and access-rights callbacks and the
information calls (the twin of src/channel.c).

Each channel's ``usr`` pointer (``ca_puser``) is the key of its ``Chid`` in
the registry of channels lent to libca (``_common.lent_channels``), from
just before ``ca_create_channel`` until the channel is cleared (or its
context destroyed): libca's callbacks, the exception handler's included,
find the object by it.  C lends the object itself, counted (channel.c);
here a key, because an ``ffi.new_handle`` per channel is one more object
for the collector to track.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from CaChannel._constants import CA_OP, CA_PRIORITY, DBF, ECA, ChannelState

from . import _common, context, iowait
from ._common import (Identifier, address, c_text, check, check_optional_callback, eca,
                      status_pair)
from ._ffi import ffi, lib
from .iowait import gated

__all__ = ['Chid', 'create_channel', 'clear_channel', 'change_connection_event',
           'replace_access_rights_event', 'field_type', 'element_count', 'name',
           'state', 'host_name', 'read_access', 'write_access', 'message', 'version',
           'channel_ptr', 'lookup_channel', 'native_read', 'request_link', 'request_unlink']

Callback = Optional[Callable[[Dict[str, Any]], Any]]


class Chid(Identifier):
    """A channel (``chid``); ``_ptr`` is None once the channel is cleared.

    ``_inflight`` is the first of its one-shot get/put requests libca has not
    answered, linked through their ``prev``/``next`` as in C, and ``_subs``
    its subscriptions: libca drops both when the channel is cleared, so
    they are released then.  ``_subs`` is None while empty: most channels
    have no subscription, and an empty set per channel costs 216 bytes.
    ``_account`` is the pend_io account of the thread that made it (see
    ``iowait``), which counts its connection while ``_conn_counted``.
    ``_native`` is its ``(field type, element count)`` while connected, read
    by the connection callback (``native_read``), else None.
    """

    __slots__ = ('_ptr', '_name', '_ctx', '_key', '_conn_callback',
                 '_access_callback', '_inflight', '_subs', '_account', '_conn_gen',
                 '_conn_counted', '_native', '__weakref__')

    def __repr__(self) -> str:
        state = 'cleared' if self._ptr is None else hex(address(self._ptr))
        return '<chid %r %s>' % (self._name, state)


_channels: Dict[int, Chid] = _common.lent_channels     # usr key -> live channel
_lock = threading.Lock()
# Guards the links of the channels' in-flight lists and the making of their
# subscription sets: an answer on a libca thread unlinks while an issue on
# another thread links (C does both under the GIL, which holds across them).
lists_lock = threading.Lock()

_CA_OP = _common.CA_OP_MEMBERS
_CONN_UP = int(CA_OP.CONN_UP)
_HOST_NAME_BYTES = 256
_DBF: Dict[int, DBF] = DBF._value2member_map_  # type: ignore[assignment]
_STATE: Dict[int, ChannelState] = ChannelState._value2member_map_  # type: ignore[assignment]

# Bit positions of caar's read_access:1 / write_access:1 inside their
# unsigned storage unit: GCC allocates bit fields from the least significant
# bit on little-endian targets and from the most significant on big-endian.
if sys.byteorder == 'little':
    _READ_BIT, _WRITE_BIT = 1, 2
else:
    _READ_BIT, _WRITE_BIT = 1 << 31, 1 << 30


def channel_ptr(chid: Any) -> Any:
    """The live C pointer of *chid*, None if cleared; ``TypeError`` if not a chid."""
    # Every channel call passes here: the checks are written out, not called.
    if _common.shutting_down:
        iowait.park_if_exiting()
    if type(chid) is not Chid:
        check(chid, Chid, 'chid')   # raises the TypeError
    return chid._ptr


# Most channels are scalars of one of the seven field types: their figures
# share one tuple per type instead of a tuple (56 bytes) per channel.
_SCALARS: Dict[Tuple[int, int], Tuple[int, int]] = {(field, 1): (field, 1) for field in range(7)}


def native_read(ptr: Any) -> Tuple[int, int]:
    """``(field type, element count)`` of a channel as libca has it now
    (TYPENOTCONN and 0 when it is not connected)."""
    return lib.ca_field_type(ptr), lib.ca_element_count(ptr)


def lookup_channel(ptr: Any) -> Optional[Chid]:
    """The ``Chid`` of a C pointer libca hands to a callback, or None (a
    channel being cleared, or none at all)."""
    if ptr == ffi.NULL:
        return None
    return _channels.get(lib.ca_puser(ptr))


# ---------------------------------------------------------------------------
# in-flight requests (the twins of the list in getput.c, kept here because
# clearing a channel drops its list; here puts with callback are in it too)

def request_link(request: Any) -> None:
    """Put a request libca is about to get at the head of its channel's list."""
    chan = request.chan
    with lists_lock:
        head = request.next = chan._inflight
        if head is not None:
            head.prev = request
        chan._inflight = request


def request_unlink(request: Any) -> None:
    """Take a request out of its channel's list (nothing if it is not in it)."""
    chan = request.chan
    with lists_lock:
        before, after = request.prev, request.next
        if before is not None:
            before.next = after
        elif chan._inflight is request:
            chan._inflight = after
        else:
            return
        if after is not None:
            after.prev = before
        request.prev = request.next = None


def requests_drop(chan: Chid) -> None:
    """Forget the requests of a channel libca will not answer any more."""
    with lists_lock:
        request, chan._inflight = chan._inflight, None
    lent = _common.lent_requests
    while request is not None:
        lent.pop(request.key, None)
        request.prev, request.next, request = None, None, request.next


def _detach(chan: Chid) -> Any:
    """Mark *chan* stale at once (so a second clear, from any thread, sees
    it gone) and return the C pointer it had, or None if it was stale."""
    with _lock:
        ptr = chan._ptr
        if ptr is None:
            return None
        chan._ptr = None
        _channels.pop(chan._key, None)      # keys are never reused
    return ptr


def _release_all(chan: Chid) -> None:
    """Release what libca held for a channel it can no longer call back for."""
    chan._account.uncount_connection(chan)
    requests_drop(chan)
    subs, chan._subs = chan._subs, None
    for sub in list(subs or ()):
        sub._forget()


def channels_mark_stale(ctx_address: Optional[int]) -> Callable[[], None]:
    """Before a context goes: every channel (and subscription) of it stale;
    returns what releases their handles once libca has let go of them (the
    twins of channels_mark_stale and channels_release in channel.c)."""
    stale = []
    for chan in [c for c in list(_channels.values())
                 if ctx_address is None or c._ctx == ctx_address]:
        if _detach(chan) is not None:
            for sub in list(chan._subs or ()):
                sub._ptr = None
                sub._active = False
            stale.append(chan)

    def channels_release() -> None:
        for chan in stale:
            _release_all(chan)
    return channels_release


context.stale_markers.append(channels_mark_stale)


# ---------------------------------------------------------------------------
# callbacks from libca (created once; the onerror reporter clears exceptions)

def _connection_handler(args: Any) -> None:
    """Installed on every channel: libca then counts no connection in its
    own pend_io, and ours counts those without a user callback per thread."""
    if _common.shutting_down:
        return
    chan = lookup_channel(args.chid)
    if chan is None:
        return                      # being cleared from another thread
    callback = chan._conn_callback
    # What every request needs of the channel, read once per connection
    # rather than for every request (getput.native_of says why).  libca
    # calls this under its callback lock, which its changes of the
    # channel's state take too, so no reconnection can come between its
    # reading and its storing; one store, so a request reads both or neither.
    if args.op == _CONN_UP:
        native = native_read(args.chid)
        chan._native = _SCALARS.get(native, native)
        chan._account.uncount_connection(chan)
    else:
        chan._native = None
        if callback is None:
            chan._account.count_connection(chan)
    if callback is not None:
        callback({'chid': chan, 'op': _CA_OP.get(args.op, args.op)})


def _access_rights_handler(args: Any) -> None:
    if _common.shutting_down:
        return
    chan = lookup_channel(args.chid)
    callback = chan._access_callback if chan is not None else None
    if callback is not None:
        bits = args.ar
        callback({'chid': chan, 'read_access': bool(bits & _READ_BIT),
                  'write_access': bool(bits & _WRITE_BIT)})


_connection_cb = ffi.callback('void(*)(struct connection_handler_args)', _connection_handler,
                              onerror=_common.report_callback_error)
_access_rights_cb = ffi.callback('void(*)(struct access_rights_handler_args)',
                                 _access_rights_handler, onerror=_common.report_callback_error)


# ---------------------------------------------------------------------------
# public functions

def _name_bytes(name: Any) -> bytes:
    if isinstance(name, str):
        raw = name.encode('utf-8')
    elif isinstance(name, bytes):
        raw = name
    else:
        raise TypeError('channel name must be str or bytes, not %s' % type(name).__name__)
    # The byte as an int: for a bytes operand, `in` first tries it as an
    # int and raises (and catches) a TypeError, a tenth of a creation.
    if 0 in raw:
        raise ValueError('channel name contains a NUL character')
    return raw


def create_channel(name: str, callback: Callback = None,
                   priority: int = CA_PRIORITY.DEFAULT) -> Tuple[ECA, Optional[Chid]]:
    """Create a channel (``ca_create_channel``) -> ``(ECA, chid or None)``.

    With a *callback*, it gets ``{'chid', 'op'}`` at each connection change
    and ``pend_io`` does not wait for this channel; without one, libca
    counts the connection as outstanding I/O.
    """
    check_optional_callback(callback)
    raw_name = _name_bytes(name)
    priority = _common.as_int(priority, 'priority')
    ctx_address = context.ensure_context()
    chan = Chid._make()
    chan._ptr = None
    # A str name encoded strictly decodes to an equal str: share the
    # caller's (CaChannel keeps it too), as channel.c does, not a copy.
    chan._name = (name if type(name) is str
                  else raw_name.decode('utf-8', 'surrogateescape'))
    chan._ctx = ctx_address
    chan._conn_callback = callback
    chan._access_callback = None
    chan._inflight = None
    chan._subs = None
    chan._native = None
    account = chan._account = iowait.io_account(chan._ctx)
    # Counted before libca can call back, which may be before it returns.
    chan._conn_counted = callback is None
    chan._conn_gen = account.issue() if callback is None else account.generation
    # Lent before the call: libca may call back before it returns.
    key = chan._key = _common.next_key()
    _channels[key] = chan
    out = ffi.new('chid *')
    status = -1                     # stays so if cffi refuses the priority
    try:
        status = gated(chan._ctx, _common.ECA_NOCACTX, lib.ca_create_channel,
                       raw_name, _connection_cb, key, priority, out)
    finally:
        if status != _common.ECA_NORMAL:
            account.uncount_connection(chan)
            del _channels[key]
    if status != _common.ECA_NORMAL:
        return status_pair(status)
    chan._ptr = out[0]
    return status_pair(status, chan)


def clear_channel(chid: Chid) -> ECA:
    """Clear a channel (``ca_clear_channel``); a cleared one gives ``ECA.BADCHID``.

    libca guarantees no callback for the channel runs after it returns, so
    the handles it held are released here.
    """
    channel_ptr(chid)
    ptr = _detach(chid)
    if ptr is None:
        return _common.ECA_BADCHID
    context.ensure_context(chid._ctx)
    # cffi releases the GIL during the call: libca waits for this channel's
    # callbacks in progress, which need the GIL to finish.
    status = gated(chid._ctx, _common.ECA_BADCHID, lib.ca_clear_channel, ptr)
    # Refused (the context is going away): destroying it releases the rest.
    if status != _common.ECA_BADCHID:
        _release_all(chid)
    return eca(status)


def change_connection_event(chid: Chid, callback: Callback = None) -> ECA:
    """Install or (with None / a non-callable) remove the connection callback.

    libca keeps calling our handler; only the pend_io accounting follows the
    change, as libca's own does for a channel that is not connected.
    """
    ptr = channel_ptr(chid)
    if ptr is None:
        return ECA.BADCHID
    if callable(callback):
        chid._conn_callback = callback
        chid._account.uncount_connection(chid)
        return ECA.NORMAL
    chid._conn_callback = None
    if gated(chid._ctx, ChannelState.CONN, lib.ca_state, ptr) != ChannelState.CONN:
        chid._account.count_connection(chid)
    return ECA.NORMAL


def replace_access_rights_event(chid: Chid, callback: Callback = None) -> ECA:
    """Install or remove the access-rights callback; it gets
    ``{'chid', 'read_access', 'write_access'}`` (libca calls it at once when
    the channel is connected)."""
    ptr = channel_ptr(chid)
    if ptr is None:
        return ECA.BADCHID
    context.ensure_context(chid._ctx)
    if callable(callback):
        chid._access_callback = callback
        return eca(gated(chid._ctx, ECA.BADCHID, lib.ca_replace_access_rights_event,
                         ptr, _access_rights_cb))
    status = gated(chid._ctx, ECA.BADCHID, lib.ca_replace_access_rights_event, ptr, ffi.NULL)
    chid._access_callback = None
    return eca(status)


# ---------------------------------------------------------------------------
# information (no context needed; a cleared channel answers as libca does
# for a channel that is gone)

def field_type(chid: Chid) -> DBF:
    """Native type, ``DBF.NOT_CONNECTED`` (-1) when not connected."""
    ptr = channel_ptr(chid)
    if ptr is None:
        return DBF.NOT_CONNECTED
    value = gated(chid._ctx, DBF.NOT_CONNECTED, lib.ca_field_type, ptr)
    return _DBF.get(value, value)


def element_count(chid: Chid) -> int:
    """Native element count (0 when not connected)."""
    ptr = channel_ptr(chid)
    return 0 if ptr is None else int(gated(chid._ctx, 0, lib.ca_element_count, ptr))


def name(chid: Chid) -> str:
    """The name the channel was created with."""
    return check(chid, Chid, 'chid')._name


def state(chid: Chid) -> ChannelState:
    """Connection state."""
    ptr = channel_ptr(chid)
    if ptr is None:
        return ChannelState.CLOSED
    value = gated(chid._ctx, ChannelState.CLOSED, lib.ca_state, ptr)
    return _STATE.get(value, value)


def host_name(chid: Chid) -> str:
    """The server's host name ('' once cleared)."""
    ptr = channel_ptr(chid)
    if ptr is None:
        return ''
    # ca_get_host_name, not ca_host_name: it copies under libca's lock into
    # a bounded buffer (the C backend's twin does the same).
    host = ffi.new('char[]', _HOST_NAME_BYTES)
    gated(chid._ctx, 0, lib.ca_get_host_name, ptr, host, _HOST_NAME_BYTES)
    return ffi.string(host, _HOST_NAME_BYTES).decode('utf-8', 'replace')


def read_access(chid: Chid) -> bool:
    """Whether the client may read the channel."""
    ptr = channel_ptr(chid)
    return False if ptr is None else bool(gated(chid._ctx, 0, lib.ca_read_access, ptr))


def write_access(chid: Chid) -> bool:
    """Whether the client may write the channel."""
    ptr = channel_ptr(chid)
    return False if ptr is None else bool(gated(chid._ctx, 0, lib.ca_write_access, ptr))


def message(status: int) -> str:
    """The text libca gives for a status code (``ca_message``)."""
    return c_text(lib.ca_message(_common.as_int(status, 'status')))


def version() -> str:
    """libca's version string (``ca_version``)."""
    return c_text(lib.ca_version())
