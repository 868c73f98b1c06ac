"""Command-line-tool-like helpers: :func:`caget`, :func:`caput`, :func:`camonitor`, :func:`cainfo`.

Each function takes a PV name; the :class:`CaChannel.CaChannel` object behind
it is created and connected on first use and kept in :data:`_channel_`, so
repeated calls on the same name reuse one connection.

:func:`cainfo` and the default :func:`camonitor` callback print to standard
output, like the EPICS base tools they are named after.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ._constants import _CHANNEL_STATE_TEXT, ChannelState
from ._dbr_fields import LIMIT_LINES
from .CaChannel import (CaChannel, CaChannelException, _chosen_ca, _read_value, failure,
                        not_found, refused)

__all__ = ['caget', 'caput', 'camonitor', 'cainfo']

logger = logging.getLogger(__name__)

#: One PV name, or a list of them.
Names = Union[str, List[str], Tuple[str, ...]]

#: Channel cache, one connected :class:`CaChannel` per PV name.
_channel_: Dict[str, CaChannel] = {}
_channel_lock = threading.Lock()


def _timeout(timeout: Optional[float]) -> float:
    """The seconds each wait of a util function may take (None: the CaChannel default)."""
    if timeout is None:
        return float(CaChannel.ca_timeout)
    if timeout < 0:
        raise ValueError('timeout must not be negative: %r' % (timeout,))
    return float(timeout)


def _connected_channel(name: str, timeout: float, action: str) -> CaChannel:
    """The cached channel of *name*, connected; a new one is searched first.

    The lock guards only the cache, never the network wait: threads reading
    different PVs connect in parallel. Two threads racing for a new name
    both connect, and the first one cached is kept.  A cached channel whose
    server went away (an IOC reboot) is waited for, up to *timeout*: its
    field type is unknown meanwhile, and a request would fail.
    """
    chan = _channel_.get(name)
    if chan is None or chan.state() in _GONE:
        chan = CaChannel(name)
        chan.search()
        chan._wait_io(timeout, 'connect to')
        with _channel_lock:
            return _channel_.setdefault(name, chan)
    if chan.state() != _chosen_ca().cs_conn:
        _wait_for_reconnection(chan, timeout, action)
    return chan


# a cached channel in one of these states is made again (cleared by its user)
_GONE = (ChannelState.CLOSED, ChannelState.NEVER_SEARCH)

# polling slices while a channel reconnects: short first, as it is usually
# back soon after its server; pend_event runs callbacks in any context mode
_FIRST_SLICE, _LONGEST_SLICE = 0.001, 0.05


def _wait_for_reconnection(chan: CaChannel, timeout: float, action: str) -> None:
    ca = _chosen_ca()
    deadline = time.monotonic() + timeout
    pause = _FIRST_SLICE
    while chan.state() != ca.cs_conn:
        left = deadline - time.monotonic()
        if left <= 0:
            if chan.state() == ca.cs_never_conn:
                raise not_found(chan.name(), timeout)
            raise failure(ca.ECA_DISCONN, chan.name(), action,
                          'disconnected (its server went away or cannot be reached), and '
                          'not back within %s s' % (timeout,))
        ca.pend_event(min(pause, left))
        pause = min(pause * 2, _LONGEST_SLICE)


def _native_type(chan: CaChannel, action: str) -> int:
    """The channel's field type; raise if it disconnected since the check."""
    field_type = chan.field_type()
    if field_type < 0:
        raise failure(_chosen_ca().ECA_DISCONN, chan.name(), action)
    return field_type


def _string_request(chan: CaChannel, as_string: bool, family: Callable[[int], int],
                    action: str) -> int:
    """The request type for *chan*: *family* of the native type, STRING for enum/char if asked."""
    ca = _chosen_ca()
    field_type = _native_type(chan, action)
    if as_string and field_type in (ca.DBF_ENUM, ca.DBF_CHAR):
        # CaChannel assembles CHAR arrays read as STRING into a str.
        field_type = ca.DBF_STRING
    return family(field_type)


def caget(name: Names, as_string: bool = False, count: Optional[int] = None,
          timeout: Optional[float] = None) -> Any:
    """Return PV's current value.

    For enum or char type PV, the string form is returned if *as_string* is
    True. If the PV is of multi-element array, *count* can be used to limit
    the number of elements.

    :param name: pv name, or a list of names: one search round and one
                 read for all of them, CaChannel's default timeout for the
                 whole list, a list of values back
    :param as_string: retrieve enum and char type as string
    :param count: number of element to request
    :param timeout: seconds to wait for the connection (or, after the
                    server went away, the reconnection), and again for the
                    value; default ``CaChannel.ca_timeout`` (3 s)
    :return: pv value
    :raises CaChannelException: naming the PV, if it is not found, does not
                                come back or does not answer in time
    """
    seconds = _timeout(timeout)
    if isinstance(name, (list, tuple)):
        return _caget_many(name, as_string, count, seconds)
    chan = _connected_channel(name, seconds, 'read')
    return chan._getw(_string_request(chan, as_string, _chosen_ca().dbf_type_to_DBR, 'read'),
                      count, {}, seconds)


class _Done:
    """What a wait for a put callback waits on, set from libca's thread.

    Not a ``threading.Event``: its ``wait`` takes its condition's lock in
    Python code, and a Ctrl-C raised just after that lock is taken leaves it
    held; the callback's ``set`` then blocks libca's callback thread for
    good, and with it every later callback of the process.  A bare lock's
    acquire and release are each one C call.
    """

    __slots__ = ('_pending',)

    def __init__(self) -> None:
        self._pending = threading.Lock()
        self._pending.acquire()

    def set(self) -> None:
        try:
            self._pending.release()
        except RuntimeError:
            pass                # set already (two last callbacks at once)

    def wait(self, timeout: Optional[float]) -> bool:
        return self._pending.acquire(True, -1 if timeout is None else timeout)


def caput(name: Names, value: Any, wait: bool = False, timeout: Optional[float] = None) -> None:
    """Write *value* to PV *name*.

    Without *wait* the write is followed by a read, as :meth:`CaChannel.putw`
    does, so a write the server refuses raises; with *wait* the put callback
    reports it once the record has processed.

    :param name: pv name, or a list of names (one search round for all of
                 them; *value* is then a list, one value per name)
    :param value: value to write
    :param wait: wait for completion (the put callback)
    :param timeout: seconds to wait for the connection (or reconnection),
                    then for the server's answer (default
                    ``CaChannel.ca_timeout``); with *wait*, the completion
                    is waited for up to *timeout* too, or as long as it takes
                    when *timeout* is ``None``
    :raises CaChannelException: naming the PV: ``ECA_TIMEOUT`` if it did not
                                answer or the put did not complete in time,
                                or the server's status of a refused write
    """
    seconds = _timeout(timeout)
    if isinstance(name, (list, tuple)):
        _caput_many(name, value, wait, seconds, timeout)
        return
    chan = _connected_channel(name, seconds, 'write')
    if not wait:
        chan._putw(value, None, seconds)
        return
    done = _Done()
    result: Dict[str, Any] = {}

    def on_put(epics_args: Dict[str, Any], _: Any) -> None:
        result['status'] = epics_args['status']
        done.set()

    chan.array_put_callback(value, None, None, on_put)
    chan.flush_io()
    if not done.wait(timeout):
        raise failure(_chosen_ca().ECA_TIMEOUT, name, 'write',
                      'the put was not completed within %s s' % (timeout,))
    if result['status'] != _chosen_ca().ECA_NORMAL:
        raise refused(result['status'], name)


def _print_update(name: str) -> Callable[[Dict[str, Any], Any], None]:
    """The default camonitor callback: one ``name timestamp value`` line per update."""
    def print_update(epics_args: Dict[str, Any], _: Any) -> None:
        seconds = epics_args['pv_seconds'] + _chosen_ca().POSIX_TIME_AT_EPICS_EPOCH
        stamp = datetime.datetime.fromtimestamp(seconds + epics_args['pv_nseconds'] * 1e-9)
        print('%s %s %s' % (name, stamp.strftime('%Y-%m-%d %H:%M:%S.%f'),
                            epics_args['pv_value']))
    return print_update


def camonitor(name: str, as_string: bool = False, count: Optional[int] = None,
              callback: Any = None, timeout: Optional[float] = None) -> None:
    """Set a *callback* to be invoked when pv value or alarm status change.

    :param name: pv name
    :param as_string: retrieve enum and char type as string
    :param count: number of element to request
    :param callback: ``callback(epics_args, user_args)``. ``None`` prints each
                     update to the console; anything not callable removes
                     the previous callback.
    :param timeout: seconds to wait for the connection (or reconnection);
                    default ``CaChannel.ca_timeout``
    :raises CaChannelException: naming the PV, if it is not found or does
                                not come back in time
    """
    chan = _connected_channel(name, _timeout(timeout), 'monitor')
    if callback is None:
        callback = _print_update(name)
    elif not callable(callback):
        chan.clear_event()
        chan.flush_io()
        return
    req_type = _string_request(chan, as_string, _chosen_ca().dbf_type_to_DBR_TIME, 'monitor')
    chan.add_masked_array_event(req_type, count, None, callback)
    chan.flush_io()


_STATE_TEXT = {state: text.capitalize() for state, text in _CHANNEL_STATE_TEXT.items()}

# cainfo's metadata lines for numeric PVs: (label, pv_* key).
_NUMERIC_INFO = (('Units', 'pv_units'), ('Precision', 'pv_precision')) + tuple(
    (field.label, field.pv_key) for field in LIMIT_LINES)


def _info_line(label: str, value: Any) -> str:
    return '    %-16s%s' % (label + ':', value)


def cainfo(name: Names, timeout: Optional[float] = None) -> None:
    """Print pv information.

    The block lists State, Host, Data type, Element count, Access, and for a
    connected channel Status and Severity, then the state strings of an enum
    or the units, precision and limits of a numeric PV.

    :param name: pv name, or a list of names (searched for in one round,
                 then printed one block each)
    :param timeout: seconds to wait for the connection (or reconnection),
                    and again for the metadata; default ``CaChannel.ca_timeout``
    :raises CaChannelException: naming the PV, if it is not found, does not
                                come back or does not answer in time
    """
    seconds = _timeout(timeout)
    if isinstance(name, (list, tuple)):
        _channels_of(name, seconds, 'ask about')
        for one in name:
            cainfo(one, seconds)
        return
    ca = _chosen_ca()
    chan = _connected_channel(name, seconds, 'ask about')
    readable, writable = chan.read_access(), chan.write_access()
    access = ('R' if readable else '') + ('W' if writable else '') or 'No access'
    state = chan.state()
    field_type = _native_type(chan, 'ask about')
    lines = [name,
             _info_line('State', _STATE_TEXT.get(int(state), str(state))),
             _info_line('Host', chan.host_name()),
             _info_line('Data type', ca.dbf_text(field_type)),
             _info_line('Element count', chan.element_count()),
             _info_line('Access', access)]
    if state == ca.cs_conn:
        ctrl = chan._getw(ca.dbf_type_to_DBR_CTRL(field_type), None, {}, seconds)
        lines.append(_info_line('Status', ca.alarmStatusString(ctrl['pv_status'])))
        lines.append(_info_line('Severity', ca.alarmSeverityString(ctrl['pv_severity'])))
        if field_type == ca.DBF_ENUM:
            lines.append(_info_line('Enumerates', tuple(ctrl['pv_statestrings'])))
        else:
            for label, key in _NUMERIC_INFO:
                if key in ctrl:
                    lines.append(_info_line(label, ctrl[key]))
    print('\n'.join(lines))


# --- lists of names: one search round and one pend for all of them -------------

def _channels_of(names: Sequence[str], timeout: float, action: str) -> List[CaChannel]:
    """The cached channels of *names*, connected.

    Those not cached yet are searched for together and waited for with one
    ``pend_io`` of *timeout*; cached ones whose server went away are then
    waited for within what is left of it.
    """
    deadline = time.monotonic() + timeout
    found: Dict[str, CaChannel] = {}
    new: Dict[str, CaChannel] = {}
    for name in names:
        if name not in found:
            chan = _channel_.get(name)
            if chan is None or chan.state() in _GONE:
                chan = new[name] = CaChannel(name)
                chan.search()
            found[name] = chan
    if new:
        try:
            next(iter(new.values()))._wait_io(timeout, 'connect to')
        except CaChannelException as exc:
            if exc.status != _chosen_ca().ECA_TIMEOUT:
                raise
            missing = [name for name, chan in new.items()
                       if chan.state() != _chosen_ca().cs_conn]
            raise not_found(missing[0] if len(missing) == 1 else missing, timeout) from None
        with _channel_lock:
            for name, chan in new.items():
                found[name] = _channel_.setdefault(name, chan)
    for chan in found.values():
        if chan.state() != _chosen_ca().cs_conn:
            _wait_for_reconnection(chan, max(deadline - time.monotonic(), 0.0), action)
    return [found[name] for name in names]


def _caget_many(names: Sequence[str], as_string: bool, count: Optional[int],
                timeout: float) -> List[Any]:
    """One read request per name, then one ``pend_io`` for all of them."""
    chans = _channels_of(names, timeout, 'read')
    if not chans:
        return []
    family = _chosen_ca().dbf_type_to_DBR
    requests = [chan._request_value(_string_request(chan, as_string, family, 'read'), count, {})
                for chan in chans]
    try:
        chans[0]._wait_io(timeout, 'read')
    except CaChannelException as exc:
        if exc.status != _chosen_ca().ECA_TIMEOUT:
            raise
        raise failure(exc.status, list(names), 'read',
                      'not every PV answered within %s s' % (timeout,)) from None
    return [_read_value(value, flags) for value, flags in requests]


def _caput_many(names: Sequence[str], values: Any, wait: bool, seconds: float,
                timeout: Optional[float]) -> None:
    """Write ``values[i]`` to ``names[i]``; *seconds* bounds each wait of the
    search and the confirmations, *timeout* (None: for ever) the completions."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError('caput of a list of names takes a list of values, one per name')
    if len(values) != len(names):
        raise ValueError('%d values for %d names' % (len(values), len(names)))
    chans = _channels_of(names, seconds, 'write')
    if not chans:
        return
    if not wait:
        # Each write is confirmed by a read, as putw does, so that a refusal
        # raises naming its PV.
        for chan, value in zip(chans, values):
            chan._putw(value, None, seconds)
        return
    statuses: Dict[int, Any] = {}
    all_done = _Done()

    def on_put_of(index: int) -> Callable[[Dict[str, Any], Any], None]:
        def on_put(epics_args: Dict[str, Any], _: Any) -> None:
            statuses[index] = epics_args['status']  # dict item set: atomic under the GIL
            if len(statuses) == len(chans):
                all_done.set()
        return on_put

    for index, (chan, value) in enumerate(zip(chans, values)):
        chan.array_put_callback(value, None, None, on_put_of(index))
    chans[0].flush_io()
    if not all_done.wait(timeout):
        pending = [names[index] for index in range(len(chans)) if index not in statuses]
        raise failure(_chosen_ca().ECA_TIMEOUT, pending[0] if len(pending) == 1 else pending, 'write',
                      'the put was not completed within %s s' % (timeout,))
    for index in range(len(chans)):
        if statuses[index] != _chosen_ca().ECA_NORMAL:
            raise refused(statuses[index], names[index])
