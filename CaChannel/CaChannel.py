"""The :class:`CaChannel` class: one Channel Access channel as a Python object.

This is the caPython-compatible object layer.  Every method maps onto one or
two :mod:`CaChannel.ca` calls and turns non-normal status returns into
:class:`CaChannelException`.  The callback argument shapes (``pv_*`` keys,
``(chid, op)`` connection arguments, ``user_args`` tuples) are those of the
CaChannel documentation.

Only :mod:`CaChannel.ca` is used, never a backend directly, so the class
works the same on the C extension and on the cffi backend.  The ``ca`` module
is imported on first use rather than at import time: importing the
:mod:`CaChannel` package (for instance for :mod:`CaChannel.testing`) must not
load libca.  Which backend answers is decided at each call by
``_chosen_ca()`` (``CACHANNEL_BACKEND`` may name the other one, as the test
suite does to run the object layer on both in one process), but a channel
keeps the ``ca`` module it was searched with (``_channel_ca``): identifiers
of one backend mean nothing to the other.  (``CaChannel._ca``, a different
thing, is the C extension, one of the two backends.)
"""

from __future__ import annotations

import os as _os
import sys
import types

from ._constants import ECA_BADCHID as _ECA_BADCHID
from ._constants import ECA_DISCONN as _ECA_DISCONN
from ._constants import ECA_EVDISALLOW as _ECA_EVDISALLOW
from ._constants import ECA_GETFAIL as _ECA_GETFAIL
from ._constants import ECA_NORMAL as _ECA_NORMAL
from ._constants import ECA_TIMEOUT as _ECA_TIMEOUT
from ._constants import POSIX_TIME_AT_EPICS_EPOCH as _EPICS_EPOCH
from ._constants import DBR_ENUM as _DBR_ENUM
from ._constants import DBR_STRING as _DBR_STRING
from ._constants import cs_conn as _CS_CONN
from ._constants import cs_never_conn as _CS_NEVER_CONN
from ._constants import dbr_type_is_TIME
from ._dbr_fields import CTRL_LIMITS

# Request types a str is written with as one CA string (the ca layer writes
# a str to an ENUM as its state string).
_STRING_REQUESTS = frozenset((_DBR_STRING, _DBR_ENUM))

# typing and logging cost milliseconds of every script's start-up: the
# annotations are strings, and a log record is only made on a rare error.
_TYPE_CHECKING = False
if _TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    Callback = Callable[..., Any]

__all__ = ['CaChannel', 'CaChannelException']

# CaChannel.ca once imported (the import selects a backend).
_selected: Optional[types.ModuleType] = None

# Keys of the ``ca`` layer's DBR dicts that CaChannel renames; every other
# key ``k`` becomes ``'pv_' + k``.  The names are the caPython ones.
_PV_KEYS = {field.key: field.pv_key for field in CTRL_LIMITS}
_PV_KEYS.update(no_str='pv_nostrings', strs='pv_statestrings')


def _chosen_ca() -> types.ModuleType:
    """The ``ca`` module of the backend chosen the way users choose it.

    That is :mod:`CaChannel.ca` (imported, and so selected, on first use),
    unless ``CACHANNEL_BACKEND`` names the other backend by now: then that
    one, from ``ca.load_backend``; this is how the test suite runs the object
    layer on both backends in one process. Each channel keeps the module it
    was searched with.
    """
    global _selected, _last_choice
    if _selected is None:
        from . import ca as module
        _selected = module
    raw = (_ENVIRON_RAW.get(_BACKEND_KEY) if _ENVIRON_RAW is not None
           else _os.environ.get('CACHANNEL_BACKEND'))
    if not raw:
        return _selected
    if raw == _last_choice[0]:
        return _last_choice[1]
    wanted = _os.fsdecode(raw).strip().lower() if isinstance(raw, bytes) else raw.strip().lower()
    module = (_selected if not wanted or wanted == _selected.backend
              else _selected.load_backend(wanted))
    _last_choice = (raw, module)
    return module


# Every channel creation reads CACHANNEL_BACKEND: os.environ.get costs a
# key encoding and a value decoding each time (a tenth of a connect's time
# per channel on the C backend), so on CPython's POSIX os.environ the raw
# mapping behind it is read instead; the last answer is kept with its value.
_last_choice: Tuple[Any, Any] = (None, None)
try:
    _ENVIRON_RAW = _os.environ._data  # type: ignore[attr-defined]
    _BACKEND_KEY = _os.environ.encodekey('CACHANNEL_BACKEND')  # type: ignore[attr-defined]
except AttributeError:
    _ENVIRON_RAW = None


# The package object itself (complete or not, it is in sys.modules before any
# of its submodules runs); looked up once, not on every read.
_PACKAGE = sys.modules[__name__.rpartition('.')[0]]


def _router(cam: types.ModuleType) -> Any:
    """The exception router of backend *cam* (``_refusals``), imported on
    first use: it needs threading and contextlib, a millisecond of every
    script's start-up, and only putw and the handler methods use it."""
    from . import _refusals
    return _refusals.router(cam)


def _package_use_numpy() -> bool:
    """Read the package flag ``CaChannel.USE_NUMPY`` at call time.

    Users set it on the package (``CaChannel.USE_NUMPY = True``) after import,
    so it cannot be copied into this module once.
    """
    return bool(getattr(_PACKAGE, 'USE_NUMPY', False))


class CaChannelException(Exception):
    """The exception raised by channel access operations.

    ``str(e)`` says what happened and to which PV, e.g. ``'nope:pv' not
    found within 3.0 s``; an exception made from a status alone (as legacy
    code does) reads as the CA status message (``ca.message``).
    ``e.status`` (also ``int(e)``) is the CA status code, ``e.pvname`` the
    name of the PV concerned (None when there is none).
    """

    def __init__(self, status: Any, pvname: Optional[str] = None,
                 what: Optional[str] = None) -> None:
        super().__init__(status)
        self.status = status
        self.pvname = pvname
        self.what = what

    def __reduce__(self) -> Any:
        return (type(self), (self.status, self.pvname, self.what))

    def __int__(self) -> int:
        return int(self.status)

    def __str__(self) -> str:
        if self.what is not None:
            return self.what
        return _status_text(self.status)


def _status_text(status: Any) -> str:
    """The CA message of *status*, or the status itself when there is none."""
    if isinstance(status, int):
        try:
            return _chosen_ca().message(status)
        except Exception:  # a message must never hide the original error
            import logging
            logging.getLogger(__name__).debug('ca.message(%r) failed', status, exc_info=True)
    return str(status)


def _seconds(timeout: float) -> str:
    return '%s s' % (float(timeout),)


def not_found(pvname: Any, timeout: float) -> CaChannelException:
    """The exception of a PV that did not connect within *timeout*."""
    return CaChannelException(_ECA_TIMEOUT, pvname,
                              '%r not found within %s' % (pvname, _seconds(timeout)))


def failure(status: Any, pvname: Any, action: str,
            why: Optional[str] = None) -> CaChannelException:
    """The exception of *action* ('read', 'write', ...) on *pvname* failing with *status*.

    *why* says it in words; without it the CA message does, and for the
    statuses whose CA message misleads a scientist, words of ours.
    """
    if why is None:
        why = _PLAIN_WORDS.get(int(status)) if isinstance(status, int) else None
        if why is None:
            why = _status_text(status)
    return CaChannelException(status, pvname, 'cannot %s %r: %s' % (action, pvname, why))


def refused(status: Any, pvname: Any) -> CaChannelException:
    """The exception of a write that failed with the server's *status*."""
    if isinstance(status, int) and int(status) in _PLAIN_WORDS:
        return failure(status, pvname, 'write')
    return failure(status, pvname, 'write',
                   'the server refused the write (%s)' % _status_text(status))


# Statuses whose CA message would send a scientist the wrong way ("Invalid
# channel identifier" for a channel never searched), in plain words.
_PLAIN_WORDS = {
    int(_ECA_DISCONN): 'not connected (its server went away or cannot be reached)',
    int(_ECA_BADCHID): 'the channel is not open (call searchw() first; '
                       'clear_channel() closes it)',
}


class ConnectionArgs(tuple):
    """The first argument of connection callbacks.

    caPython-era callbacks index it as ``(chid, op)``; it also answers the
    ``ca`` layer's keys ``['chid']`` and ``['op']``.
    """

    _KEYS = ('chid', 'op')

    def __new__(cls, chid: Any, op: Any) -> 'ConnectionArgs':
        return super().__new__(cls, (chid, op))

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                key = self._KEYS.index(key)
            except ValueError:
                raise KeyError(key) from None
        return super().__getitem__(key)

    def keys(self) -> Tuple[str, ...]:
        return self._KEYS


def _chars_to_str(value: Any) -> Any:
    """Assemble a char array (or one char) into a str, up to the first 0.

    Bytes that are not UTF-8 come back as ``bytes``, as the ``ca`` layer does
    for strings.
    """
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, int):
        value = [value]
    raw = bytearray()
    for item in value:
        item = int(item) & 0xFF  # DBR_CHAR may arrive as signed int8 from numpy
        if item == 0:
            break
        raw.append(item)
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return bytes(raw)


# pv_* name of each key of the ca layer's DBR dicts ('stamp' is split in two).
_PV_NAMES = dict(
    {key: 'pv_' + key for key in ('value', 'status', 'severity', 'units', 'precision',
                                  'ackt', 'acks')},
    **_PV_KEYS)

# What putw and the array_put methods look at before a write (_fit_text).
_TEXT = frozenset((str, bytes))
_TEXT_OR_SEQUENCE = _TEXT | {list, tuple}
# The longest string a CA string holds (MAX_STRING_SIZE without its 0).
_MAX_STRING = 39


def _cut_string(text: Any) -> Any:
    """*text* cut to a CA string's 39 bytes, never inside a UTF-8 character."""
    raw = text.encode('utf-8') if isinstance(text, str) else text
    if len(raw) <= _MAX_STRING:
        return text
    if isinstance(text, str):
        return raw[:_MAX_STRING].decode('utf-8', 'ignore')
    return raw[:_MAX_STRING]


# Values that need no conversion unless a char array is read as a string.
_PLAIN_VALUES = frozenset((float, int, str, bytes, type(None)))


def _convert_value(value: Any, use_numpy: bool, as_string: bool) -> Any:
    """A char array read as a string assembled; numpy arrays as lists unless asked for."""
    if as_string:
        return value if value is None else _chars_to_str(value)
    if not use_numpy and value.__class__ not in _PLAIN_VALUES and hasattr(value, 'tolist'):
        return value.tolist()
    return value


def _add_pv_fields(dbr: Any, result: Dict[str, Any]) -> None:
    """Add the ``pv_*`` keys of a ``ca``-layer value (plain value or DBR dict)."""
    if dbr.__class__ is not dict:
        result['pv_value'] = dbr
        return
    for key, item in dbr.items():
        if key == 'stamp':
            # caPython counted seconds from the EPICS epoch; the ca layer
            # gives POSIX seconds.
            result['pv_seconds'] = item['seconds'] - _EPICS_EPOCH
            result['pv_nseconds'] = item['nanoseconds']
        else:
            result[_PV_NAMES.get(key) or 'pv_' + key] = item


def _convert_pv_value(result: Dict[str, Any], use_numpy: bool, as_string: bool) -> Dict[str, Any]:
    value = result.get('pv_value')
    if as_string or value.__class__ not in _PLAIN_VALUES:
        converted = _convert_value(value, use_numpy, as_string)
        if converted is not value:
            result['pv_value'] = converted
    return result


def _format_value(dbr: Any, use_numpy: bool, as_string: bool) -> Dict[str, Any]:
    """Turn a ``ca``-layer value (plain value or DBR dict) into the ``pv_*`` dict.

    The one conversion used by :meth:`CaChannel.getValue` and every get and
    monitor callback path.
    """
    result: Dict[str, Any] = {}
    _add_pv_fields(dbr, result)
    return _convert_pv_value(result, use_numpy, as_string)


def _format_callback_args(args: Dict[str, Any], use_numpy: bool,
                          as_string: bool) -> Dict[str, Any]:
    """The documented get/monitor callback dict: ``chid type count status`` plus ``pv_*``."""
    result = {'chid': args['chid'], 'type': args['type'], 'count': args['count'],
              'status': args['status']}
    _add_pv_fields(args.get('value'), result)
    return _convert_pv_value(result, use_numpy, as_string)


def _report_raised(callback: Any) -> None:
    """Report the exception a user's *callback* raised, naming *callback*.

    Called in the ``except`` block of each wrapper of ours around a user's
    callback.  The report goes to ``sys.unraisablehook``, as the ``ca``
    layer's would, but names the user's function ("Exception ignored in:
    <function on_change ...>"), not our wrapper: pure Python reaches the
    hook only through a finalizer that raises, so the finalizer carries the
    user's function's name.
    """
    error = sys.exc_info()[1]
    if error is None:
        return

    def finalizer(self: Any) -> None:
        raise error

    for attribute in ('__module__', '__name__', '__qualname__'):
        name = getattr(callback, attribute, None)
        if not isinstance(name, str):   # a callable object (functools.partial)
            name = repr(callback)
        setattr(finalizer, attribute, name)
    carrier = type('CallbackError', (), {'__slots__': (), '__del__': finalizer})()
    del carrier


def _time_request(as_string: bool, chtype: Optional[int]) -> bool:
    """A request of a TIME type, no char array read as a string: its scalar
    values get the pv_* dict made in one step."""
    return not as_string and chtype is not None and dbr_type_is_TIME(chtype)


def _callback_adapter(callback: Callback, user_args: Tuple[Any, ...], use_numpy: bool,
                      as_string: bool, chtype: Optional[int]) -> Callback:
    """The ``ca``-layer callback that calls ``callback(epics_args, user_args)``."""
    if not _time_request(as_string, chtype):
        def on_value(args: Dict[str, Any]) -> None:
            try:
                callback(_format_callback_args(args, use_numpy, as_string), user_args)
            except BaseException:
                _report_raised(callback)
        return on_value

    def on_value(args: Dict[str, Any]) -> None:  # type: ignore[no-redef]
        # A scalar of a TIME type, what monitors mostly ask for, in one step:
        # this runs for every event.
        dbr = args['value']
        try:
            if dbr is not None:
                value = dbr['value']
                if value.__class__ in _PLAIN_VALUES:
                    stamp = dbr['stamp']
                    callback({'chid': args['chid'], 'type': args['type'],
                              'count': args['count'], 'status': args['status'],
                              'pv_value': value, 'pv_status': dbr['status'],
                              'pv_severity': dbr['severity'],
                              'pv_seconds': stamp['seconds'] - _EPICS_EPOCH,
                              'pv_nseconds': stamp['nanoseconds']}, user_args)
                    return
            callback(_format_callback_args(args, use_numpy, as_string), user_args)
        except BaseException:
            _report_raised(callback)
    return on_value


def _pv_fields_adapter(callback: Callback, user_args: Tuple[Any, ...],
                       use_numpy: bool) -> Callback:
    """The callback of a subscription made with ``_pv_fields``: an event the
    ca layer could make into the ``pv_*`` dict comes as that dict, any other
    as the ca layer's own."""
    def on_value(args: Dict[str, Any]) -> None:
        try:
            if 'pv_value' in args:
                callback(args, user_args)
            else:
                callback(_format_callback_args(args, use_numpy, False), user_args)
        except BaseException:
            _report_raised(callback)
    return on_value


def _read_value(value: Any, flags: int) -> Any:
    """What getValue/getw return for a completed DBRValue read with _VAL_* flags."""
    dbr = value.get()
    if dbr.__class__ is dict:
        return _format_value(dbr, bool(flags & _VAL_NUMPY), bool(flags & _VAL_STRING))
    if dbr.__class__ in _PLAIN_VALUES and not flags & _VAL_STRING:
        return dbr
    return _convert_value(dbr, bool(flags & _VAL_NUMPY), bool(flags & _VAL_STRING))


# CaChannel._flags: the channel was cleared; how to present the value of the
# last array_get.
# _VAL_READ: _val is no DBRValue but the immutable value it gave once read.
_CLEARED, _VAL_NUMPY, _VAL_STRING, _VAL_READ = 1, 2, 4, 8
# Values getValue can hand out again instead of keeping their DBRValue (and
# its buffer: 80 bytes a channel) for the next call.
_IMMUTABLE_VALUES = frozenset((float, int, str, bytes))


class CaChannel:
    """CaChannel: a Python class with the API of caPython/CaChannel.

    Each method corresponds to a Channel Access C function
    (https://epics.anl.gov/base/R3-14/12-docs/CAref.html#Function); the
    convenience methods :meth:`searchw`, :meth:`getw` and :meth:`putw` connect,
    read and write with default arguments and wait for completion.

    :param pvName: the process variable name, used by the search methods when
                   they are called without one.
    """

    #: Default timeout (seconds) of the waiting methods; see :meth:`setTimeout`.
    ca_timeout: float = 3.0

    # Slots keep a channel small (tens of thousands of them are common): one
    # for each attribute every connect-and-read sets.  The '__dict__' slot
    # keeps scripts' own attributes working (old CaChannel objects took
    # them); Pythons 3.11 and 3.12 give each object its dict's values at
    # creation (32 and 16 bytes), the others when a script sets one.
    __slots__ = ('_pvname', '_channel_ca', '_chid', '_val', '_flags',
                 '__dict__', '__weakref__')

    # Set by few channels, so kept in the object's dict when set: a slot
    # each was 16 bytes more of every channel (112 -> 96).
    _evid: Any = None
    _timeout: Optional[float] = None

    def __init__(self, pvName: Optional[str] = None) -> None:
        self._pvname = pvName
        self._channel_ca: Optional[types.ModuleType] = None
        self._chid: Any = None
        self._val: Any = None
        self._flags = 0

    def __del__(self) -> None:
        # Channels dropped without clear_channel() would stay in libca for the
        # life of the process; free them, quietly, as caPython did.
        try:
            if self._chid is not None:
                self._release()
        except Exception:
            pass

    def __repr__(self) -> str:
        return '<%s %r>' % (type(self).__name__, self._pvname)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    @property
    def _backend(self) -> types.ModuleType:
        """The ``ca`` module of this channel (bound at its first search)."""
        return self._channel_ca if self._channel_ca is not None else _chosen_ca()

    def _chid_or_raise(self, action: str) -> Any:
        if self._chid is None:
            raise failure(_ECA_BADCHID, self._pvname, action)
        return self._chid

    @staticmethod
    def _check(status: Any) -> None:
        """For the calls that concern no channel."""
        # Both backends return the shared ECA members: compare with the
        # constant rather than look the ca module up at every call.
        if status != _ECA_NORMAL:
            raise CaChannelException(status)

    def _check_on(self, status: Any, action: str) -> None:
        if status != _ECA_NORMAL:
            raise failure(status, self._pvname, action)

    def _connected(self) -> bool:
        return self._chid is not None and self._backend.state(self._chid) == _CS_CONN

    def _timed_out(self, timeout: float, action: str) -> CaChannelException:
        """The exception of a wait for *action* on this channel that timed out."""
        if self._chid is not None and not self._connected():
            if self._backend.state(self._chid) == _CS_NEVER_CONN:
                return not_found(self._pvname, timeout)
            return failure(_ECA_TIMEOUT, self._pvname, action,
                           'not connected (its server went away or cannot be reached); '
                           'no answer within %s' % _seconds(timeout))
        return failure(_ECA_TIMEOUT, self._pvname, action,
                       'no answer within %s' % _seconds(timeout))

    def _wait_io(self, timeout: float, action: str) -> None:
        """pend_io for *action* on this channel, raising what it means."""
        status = self._backend.pend_io(float(timeout))
        if status == _ECA_TIMEOUT:
            raise self._timed_out(timeout, action)
        self._check_on(status, action)

    @staticmethod
    def _use_numpy(keywords: Dict[str, Any]) -> bool:
        if 'use_numpy' in keywords:
            return bool(keywords['use_numpy'])
        return _package_use_numpy()

    def _request_type(self, req_type: Optional[int]) -> Tuple[Optional[int], bool]:
        """Map a STRING-family request on a CHAR field to the CHAR family.

        Returns the type to ask the ``ca`` layer for and whether the answer has
        to be assembled into a string (the documented rule for char arrays
        read as ``DBR_STRING``, e.g. a waveform of CHAR holding text).
        """
        if req_type is None or self._chid is None:
            return req_type, False
        cam = self._backend
        if cam.dbr_type_is_STRING(req_type) and cam.field_type(self._chid) == cam.DBF_CHAR:
            # Each DBR family (plain, STS, TIME, GR, CTRL) is laid out in the
            # same order, so CHAR sits at the same distance from STRING.
            return cam.DBR(req_type + (cam.DBR_CHAR - cam.DBR_STRING)), True
        return req_type, False

    def _release(self) -> None:
        """Clear the subscription and the channel, forgetting both."""
        cam = self._backend
        chid, self._chid = self._chid, None
        # None is _evid's class default: written, it would be one more entry
        # in the dict of every channel ever cleared.
        if self._evid is not None:
            self._evid = None
        if chid is not None:
            cam.clear_channel(chid)  # also cancels its subscriptions
            self._flags |= _CLEARED

    # ------------------------------------------------------------------
    # timeout
    # ------------------------------------------------------------------
    def setTimeout(self, timeout: Optional[float]) -> None:
        """Set the timeout for this channel object. It overrides the class timeout.

        :param float timeout: timeout in seconds (``None`` returns to the class timeout)
        :raises ValueError: if *timeout* is negative
        """
        if timeout is not None and timeout < 0:
            raise ValueError('timeout must not be negative: %r' % (timeout,))
        # None is _timeout's class default: store it only over a timeout set.
        if timeout is not None or self._timeout is not None:
            self._timeout = None if timeout is None else float(timeout)

    def getTimeout(self) -> float:
        """Retrieve the timeout set for this channel object.

        :return: timeout in seconds for this channel instance
        """
        return float(self.ca_timeout if self._timeout is None else self._timeout)

    # ------------------------------------------------------------------
    # connect
    # ------------------------------------------------------------------
    def _create(self, pvName: Any, callback: Optional[Callback]) -> None:
        if self._chid is not None:
            self.clear_channel()
        if pvName is None:
            pvName = self._pvname
        if isinstance(pvName, bytes):
            pvName = pvName.decode('utf-8')
        if pvName is None:
            raise ValueError('no process variable name given')
        self._pvname = pvName
        self._channel_ca = cam = _chosen_ca()
        status, chid = cam.create_channel(pvName, callback)
        if status != _ECA_NORMAL:
            raise failure(status, pvName, 'search')
        self._chid = chid
        self._flags &= ~_CLEARED

    def search(self, pvName: Optional[str] = None) -> None:
        """Attempt to establish a connection to a process variable.

        The request is buffered until an execution method (:meth:`pend_io`,
        :meth:`poll`, :meth:`pend_event`, :meth:`flush_io`) is called.

        :param pvName: process variable name (default: the name given before)
        :raises CaChannelException: if error happens
        """
        self._create(pvName, None)

    def search_and_connect(self, pvName: Optional[str], callback: Callback,
                           *user_args: Any) -> None:
        """Attempt to establish a connection and call *callback* on connection changes.

        *callback* is called as ``callback(epics_args, user_args)`` where
        ``epics_args`` is ``(chid, op)`` (also indexable by ``'chid'`` and
        ``'op'``) with ``op`` ``ca.CA_OP_CONN_UP`` or ``ca.CA_OP_CONN_DOWN``,
        and ``user_args`` is the tuple *user_args*.

        :raises CaChannelException: if error happens
        """
        self._create(pvName, self._connection_wrapper(callback, user_args))

    def searchw(self, pvName: Optional[str] = None) -> None:
        """Connect to a process variable and wait for the connection.

        :raises CaChannelException: if timeout or error happens
        """
        self.search(pvName)
        self._wait_io(self.getTimeout(), 'connect to')

    def clear_channel(self) -> None:
        """Close a channel created by one of the search functions.

        The connection handler is not called; any monitor is removed.
        """
        if self._chid is not None:
            self._release()

    @staticmethod
    def _connection_wrapper(callback: Any, user_args: Tuple[Any, ...]) -> Optional[Callback]:
        if not callable(callback):
            return None

        def on_connection(args: Dict[str, Any]) -> None:
            try:
                callback(ConnectionArgs(args['chid'], args['op']), user_args)
            except BaseException:
                _report_raised(callback)
        return on_connection

    def change_connection_event(self, callback: Optional[Callback], *user_args: Any) -> None:
        """Replace the connection callback; ``None`` or a non-callable removes it.

        :raises CaChannelException: if error happens
        """
        self._check_on(self._backend.change_connection_event(
            self._chid_or_raise('watch'), self._connection_wrapper(callback, user_args)),
            'watch')

    # ------------------------------------------------------------------
    # read
    # ------------------------------------------------------------------
    def array_get(self, req_type: Optional[int] = None, count: Optional[int] = None,
                  **keywords: Any) -> None:
        """Request a value; it is available from :meth:`getValue` after :meth:`pend_io`.

        :param req_type: database request type (``ca.DBR_XXXX``), default native
        :param count: number of values, default native
        :keyword use_numpy: return arrays as numpy arrays (default ``CaChannel.USE_NUMPY``)
        :raises CaChannelException: if error happens
        """
        self._val, flags = self._request_value(req_type, count, keywords)
        self._flags = (self._flags & _CLEARED) | flags

    def _request_value(self, req_type: Optional[int], count: Optional[int],
                       keywords: Dict[str, Any]) -> Tuple[Any, int]:
        """Issue a get without callback -> (its DBRValue, its _VAL_* flags)."""
        # _package_use_numpy(), inline: this runs for every read.
        use_numpy = bool(keywords['use_numpy'] if 'use_numpy' in keywords
                         else getattr(_PACKAGE, 'USE_NUMPY', False))
        chid = self._chid
        if chid is None:
            raise failure(_ECA_BADCHID, self._pvname, 'read')
        # The native type needs no char-as-string mapping: skip its queries.
        chtype, as_string = (None, False) if req_type is None else self._request_type(req_type)
        # A channel with a chid has its ca module (set by its search).
        cam = self._channel_ca if self._channel_ca is not None else _chosen_ca()
        status, value = cam.get(chid, chtype, count, None, use_numpy)
        if status != _ECA_NORMAL:
            raise failure(status, self._pvname, 'read')
        return value, (_VAL_NUMPY if use_numpy else 0) | (_VAL_STRING if as_string else 0)

    def getValue(self) -> Any:
        """Return the value(s) after :meth:`array_get` has completed.

        Plain request types give the value; other types a dict of ``pv_*``
        keys as in :meth:`array_get_callback`.
        """
        if self._val is None:
            # nothing was requested: the closest CA status is a failed read
            raise CaChannelException(
                _ECA_GETFAIL, self._pvname,
                'no value of %r has been read yet: call array_get() and pend_io() '
                'before getValue()' % (self._pvname,))
        val, flags = self._val, self._flags
        if flags & _VAL_READ:
            return val
        result = _read_value(val, flags)
        # Folded into the channel once the reply is in: read before it, the
        # value may still change.
        if result.__class__ in _IMMUTABLE_VALUES and val.filled:
            self._val = result
            self._flags = flags | _VAL_READ
        return result

    def array_get_callback(self, req_type: Optional[int], count: Optional[int],
                           callback: Callback, *user_args: Any, **keywords: Any) -> None:
        """Read a value and call ``callback(epics_args, user_args)`` when it arrives.

        ``epics_args`` holds ``chid, type, count, status`` and the ``pv_*``
        keys of the request type (see the documentation's table).

        :raises CaChannelException: if error happens
        """
        use_numpy = self._use_numpy(keywords)
        chid = self._chid_or_raise('read')
        # The native type needs no char-as-string mapping: skip its queries.
        chtype, as_string = (None, False) if req_type is None else self._request_type(req_type)

        on_get = _callback_adapter(callback, user_args, use_numpy, as_string, chtype)
        status, _ = self._backend.get(chid, chtype, count, on_get, use_numpy)
        self._check_on(status, 'read')

    def getw(self, req_type: Optional[int] = None, count: Optional[int] = None,
             **keywords: Any) -> Any:
        """Read the value from a channel and wait for it.

        ``ca.DBR_STRING`` on an ENUM field gives the state string; on a CHAR
        field the characters assembled into a str.

        :return: the value for plain request types, else a dict of ``pv_*`` keys
        :raises CaChannelException: if timeout or error happens
        """
        return self._getw(req_type, count, keywords, self.getTimeout())

    def _getw(self, req_type: Optional[int], count: Optional[int], keywords: Dict[str, Any],
              timeout: float) -> Any:
        # Its own request, not the one array_get keeps for getValue: threads
        # sharing this object each read the reply they waited for.
        value, flags = self._request_value(req_type, count, keywords)
        self._wait_io(timeout, 'read')
        return _read_value(value, flags)

    # ------------------------------------------------------------------
    # write
    # ------------------------------------------------------------------
    def array_put(self, value: Any, req_type: Optional[int] = None,
                  count: Optional[int] = None) -> None:
        """Write a value or array of values (buffered until flushed).

        Fire and forget: a write the server refuses raises nothing here
        (libca prints its ``CA.Client.Exception`` banner); :meth:`putw` and
        :meth:`array_put_callback` report refusals.  Values longer than the
        channel follow the rule of :meth:`putw`.

        :raises CaChannelException: if error happens
        """
        self._put(self._chid_or_raise('write'), value, req_type, count, None)

    def array_put_callback(self, value: Any, req_type: Optional[int], count: Optional[int],
                           callback: Callback, *user_args: Any) -> None:
        """Write and call ``callback(epics_args, user_args)`` when the put completed.

        ``epics_args`` holds ``chid, type, count, status``; a write the
        server refused has a status other than ``ca.ECA_NORMAL``.

        :raises CaChannelException: if error happens
        """
        def on_put(args: Dict[str, Any]) -> None:
            try:
                callback(args, user_args)
            except BaseException:
                _report_raised(callback)

        self._put(self._chid_or_raise('write'), value, req_type, count, on_put)

    def _put(self, chid: Any, value: Any, req_type: Optional[int], count: Optional[int],
             callback: Optional[Callback]) -> None:
        if count is None and value.__class__ in _TEXT_OR_SEQUENCE:
            value = self._fit_text(value, req_type)
        self._check_on(self._backend.put(chid, value, req_type, count, callback), 'write')

    def _fit_text(self, value: Any, req_type: Optional[int]) -> Any:
        """Text for a CA string cut to its 39 bytes, as base's ``caput`` cuts it.

        The ``ca`` layer refuses such text (``ValueError``); what exceeds a
        channel is dropped everywhere else (the original CaChannel's rule,
        kept by the ``ca`` layer: elements beyond the element count,
        characters beyond a CHAR array's length), so here too.
        """
        cam = self._backend
        request = req_type
        if request is None:
            field = cam.field_type(self._chid)
            if field < 0:   # not connected: the put itself says so
                return value
            request = cam.dbf_type_to_DBR(field)
        if isinstance(value, (list, tuple)):
            if request in _STRING_REQUESTS and any(
                    item.__class__ in _TEXT and len(item) > _MAX_STRING for item in value):
                return value.__class__(_cut_string(item) if item.__class__ in _TEXT else item
                                       for item in value)
            return value
        if request in _STRING_REQUESTS:
            return _cut_string(value)
        return value

    def putw(self, value: Any, req_type: Optional[int] = None) -> None:
        """Write a value or array of values and wait until the server has taken it.

        A read of the channel follows the write; the server answers both in
        order, so when the read's answer has come, a refusal of the write
        (a disabled record, a state an enum does not have, a field that
        cannot be changed) has come too, and raises.  This costs one network
        round trip; the record's processing is not waited for (use
        :meth:`array_put_callback` or :meth:`epicsPV.putWait` for that).

        Values longer than the channel: what exceeds it is dropped, silently.
        A sequence longer than its element count is cut to it (a list to a
        scalar writes the first element), text to a CHAR array to its
        length, a string to a string, enum or string array to 39 bytes.

        :raises CaChannelException: if the server refused the write (its
                                    status, e.g. ``ECA_PUTFAIL``), on timeout
                                    or other error
        """
        self._putw(value, req_type, self.getTimeout())

    def _putw(self, value: Any, req_type: Optional[int], timeout: float) -> None:
        chid = self._chid_or_raise('write')
        cam = self._backend
        router = _router(cam)
        router.install()
        waited: Optional[CaChannelException] = None
        with router.watching(chid) as refusals:
            self._put(chid, value, req_type, None, None)
            # Native type, one element: the smallest read the server answers.
            status, _ = cam.get(chid, None, 1)
            if status != _ECA_NORMAL:
                # A channel that cannot be read: the write is only sent.
                self.flush_io()
            else:
                try:
                    self._wait_io(timeout, 'write')
                except CaChannelException as exc:
                    if exc.status != _ECA_EVDISALLOW:
                        waited = exc
                    else:
                        # Inside a CA callback nothing can be waited for
                        # (and pend_io refused before flushing): the write
                        # is only sent, as putw always did there.
                        self.flush_io()
        if refusals:
            raise refused(refusals[0], self._pvname)
        if waited is not None:
            raise waited

    # ------------------------------------------------------------------
    # monitor
    # ------------------------------------------------------------------
    def add_masked_array_event(self, req_type: Optional[int], count: Optional[int],
                               mask: Optional[int], callback: Callback, *user_args: Any,
                               **keywords: Any) -> None:
        """Call ``callback(epics_args, user_args)`` whenever the PV changes.

        One subscription per object: an existing one is cleared first.
        *mask* defaults to ``ca.DBE_VALUE | ca.DBE_ALARM``.

        :raises CaChannelException: if error happens
        """
        use_numpy = self._use_numpy(keywords)
        chid = self._chid_or_raise('monitor')
        if self._evid is not None:
            self.clear_event()
        cam = self._backend
        if mask is None:
            mask = cam.DBE_VALUE | cam.DBE_ALARM
        chtype, as_string = self._request_type(req_type)

        if not _time_request(as_string, chtype):
            on_event = _callback_adapter(callback, user_args, use_numpy, as_string, chtype)
            status, evid = cam.create_subscription(chid, on_event, chtype, count, mask,
                                                   use_numpy)
        else:
            # Monitors mostly ask for a TIME type: the ca layer makes the
            # pv_* dict of each scalar event itself.
            on_event = _pv_fields_adapter(callback, user_args, use_numpy)
            status, evid = cam.create_subscription(chid, on_event, chtype, count, mask,
                                                   use_numpy, _pv_fields=True)
        self._check_on(status, 'monitor')
        self._evid = evid

    def clear_event(self) -> None:
        """Remove the subscription installed by :meth:`add_masked_array_event`.

        :raises CaChannelException: if error happens
        """
        if self._evid is not None:
            evid, self._evid = self._evid, None
            self._check_on(self._backend.clear_subscription(evid), 'stop monitoring')

    # ------------------------------------------------------------------
    # execute
    # ------------------------------------------------------------------
    def pend_io(self, timeout: Optional[float] = None) -> None:
        """Flush and wait for outstanding searches and gets, or *timeout* seconds.

        :param timeout: seconds to wait (default :meth:`getTimeout`)
        :raises CaChannelException: if timeout or other error happens
        """
        if timeout is None:
            timeout = self.getTimeout()
        status = self._backend.pend_io(float(timeout))
        if status == _ECA_TIMEOUT:
            if self._chid is not None and not self._connected():
                raise self._timed_out(timeout, 'connect to')
            # It waits for every search and read of this thread, not only ours.
            raise CaChannelException(
                status, self._pvname,
                'pend_io (of %r): the searches and reads this thread requested were not '
                'all answered within %s' % (self._pvname, _seconds(timeout)))
        self._check_on(status, 'wait for')

    def pend_event(self, timeout: Optional[float] = None) -> Any:
        """Flush and process callbacks for *timeout* seconds (default 0.1).

        :return: ``ca.ECA_TIMEOUT``
        """
        # 0 would mean "forever" to libca; caPython's default was a short slice.
        return self._backend.pend_event(0.1 if timeout is None else float(timeout))

    def poll(self) -> Any:
        """Flush and execute outstanding background activity (``pend_event(1e-12)``).

        :return: ``ca.ECA_TIMEOUT``
        """
        return self._backend.poll()

    def flush_io(self) -> None:
        """Flush the send buffer.

        :raises CaChannelException: if error happens
        """
        self._check_on(self._backend.flush_io(), 'flush the requests of')

    # ------------------------------------------------------------------
    # information
    # ------------------------------------------------------------------
    def field_type(self) -> Any:
        """Native type of the PV in the server, ``ca.DBF_XXXX``."""
        return self._backend.field_type(self._chid_or_raise('ask about'))

    def element_count(self) -> int:
        """Maximum array element count of the PV in the server."""
        return int(self._backend.element_count(self._chid_or_raise('ask about')))

    def name(self) -> Optional[str]:
        """Channel name specified when the channel was created."""
        if self._chid is None:
            return self._pvname
        return self._backend.name(self._chid)

    def state(self) -> Any:
        """Current state of the connection, a ``ca.ChannelState``.

        ``NEVER_SEARCH`` before any search, ``CLOSED`` after :meth:`clear_channel`.
        """
        cam = self._backend
        if self._chid is None:
            return (cam.ChannelState.CLOSED if self._flags & _CLEARED
                    else cam.ChannelState.NEVER_SEARCH)
        return cam.state(self._chid)

    def host_name(self) -> str:
        """Host name that hosts the process variable."""
        return self._backend.host_name(self._chid_or_raise('ask about'))

    def read_access(self) -> bool:
        """True if the channel can be read."""
        return bool(self._backend.read_access(self._chid_or_raise('ask about')))

    def write_access(self) -> bool:
        """True if the channel can be written."""
        return bool(self._backend.write_access(self._chid_or_raise('ask about')))

    # ------------------------------------------------------------------
    # handlers
    # ------------------------------------------------------------------
    def replace_access_rights_event(self, callback: Optional[Callback] = None,
                                    user_args: Any = None) -> None:
        """Install (or with ``None`` remove) the access rights callback.

        It is called as ``callback(epics_args, user_args)`` with ``epics_args``
        holding ``chid``, ``read_access`` and ``write_access``; once right
        away if the channel is connected.

        :raises CaChannelException: if error happens
        """
        wrapper = None
        if callable(callback):
            def wrapper(args: Dict[str, Any]) -> None:
                try:
                    callback(args, user_args)
                except BaseException:
                    _report_raised(callback)
        self._check_on(self._backend.replace_access_rights_event(
            self._chid_or_raise('watch'), wrapper), 'watch')

    @classmethod
    def add_exception_event(cls, callback: Optional[Callback] = None,
                            user_args: Any = None) -> None:
        """Install (or with ``None`` restore the default) context exception handler.

        The callback gets ``(epics_args, user_args)``; ``epics_args`` holds
        ``chid, type, count, state, op, ctx, file, lineNo``.  The default
        prints libca's ``CA.Client.Exception`` banner.  A write refused
        while :meth:`putw` waits for it is raised by that ``putw`` and not
        passed to the handler.  Install handlers here rather than with
        ``ca.add_exception_event``, which would take refusals from ``putw``.
        """
        wrapper = None
        if callable(callback):
            def wrapper(args: Dict[str, Any]) -> None:
                args = dict(args)
                # caPython called the status 'state'; keep the ca name too.
                args.setdefault('state', args.get('stat'))
                try:
                    callback(args, user_args)
                except BaseException:
                    _report_raised(callback)
        router = _router(_chosen_ca())
        router.user_callback = wrapper
        router.install()

    @classmethod
    def replace_printf_handler(cls, callback: Optional[Callback] = None,
                               user_args: Any = None) -> None:
        """Install (or with ``None`` restore stderr) the CA diagnostic message handler.

        The callback gets ``(message, user_args)``.
        """
        wrapper = None
        if callable(callback):
            def wrapper(message: str) -> None:
                try:
                    callback(message, user_args)
                except BaseException:
                    _report_raised(callback)
        cam = _chosen_ca()
        cls._check(cam.replace_printf_handler(wrapper))
        # the exception banners CaChannel prints go the same way
        _router(cam).printer = wrapper
