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
from typing import Any, Callable, Dict, Optional

from .CaChannel import CaChannel, CaChannelException, _ca

__all__ = ['caget', 'caput', 'camonitor', 'cainfo']

logger = logging.getLogger(__name__)

#: Channel cache, one connected :class:`CaChannel` per PV name.
_channel_: Dict[str, CaChannel] = {}
_channel_lock = threading.Lock()


def _get_or_create_channel(name: str) -> CaChannel:
    """Return the cached channel of *name*, creating and connecting it if needed.

    The lock guards only the cache, never the network wait: threads reading
    different PVs connect in parallel. Two threads racing for a new name
    both connect, and the first one cached is kept.
    """
    chan = _channel_.get(name)
    if chan is not None:
        return chan
    chan = CaChannel(name)
    chan.searchw()
    with _channel_lock:
        return _channel_.setdefault(name, chan)


def _string_request(chan: CaChannel, as_string: bool, family: Callable[[int], int]) -> int:
    """The request type for *chan*: *family* of the native type, STRING for enum/char if asked."""
    ca = _ca()
    field_type = chan.field_type()
    if as_string and field_type in (ca.DBF_ENUM, ca.DBF_CHAR):
        # CaChannel assembles CHAR arrays read as STRING into a str.
        field_type = ca.DBF_STRING
    return family(field_type)


def caget(name: str, as_string: bool = False, count: Optional[int] = None) -> Any:
    """Return PV's current value.

    For enum or char type PV, the string form is returned if *as_string* is
    True. If the PV is of multi-element array, *count* can be used to limit
    the number of elements.

    :param name: pv name
    :param as_string: retrieve enum and char type as string
    :param count: number of element to request
    :return: pv value
    """
    chan = _get_or_create_channel(name)
    return chan.getw(_string_request(chan, as_string, _ca().dbf_type_to_DBR), count)


def caput(name: str, value: Any, wait: bool = False, timeout: Optional[float] = None) -> None:
    """Write *value* to PV *name*.

    :param name: pv name
    :param value: value to write
    :param wait: wait for completion (the put callback)
    :param timeout: seconds to wait; ``None`` waits as long as it takes
    :raises CaChannelException: ``ECA_TIMEOUT`` if the put did not complete in
                                *timeout*, or the put's failure status
    """
    chan = _get_or_create_channel(name)
    if not wait:
        chan.putw(value)
        return
    done = threading.Event()
    result: Dict[str, Any] = {}

    def on_put(epics_args: Dict[str, Any], _: Any) -> None:
        result['status'] = epics_args['status']
        done.set()

    chan.array_put_callback(value, None, None, on_put)
    chan.flush_io()
    if not done.wait(timeout):
        raise CaChannelException(_ca().ECA_TIMEOUT)
    if result['status'] != _ca().ECA_NORMAL:
        raise CaChannelException(result['status'])


def _print_update(name: str) -> Callable[[Dict[str, Any], Any], None]:
    """The default camonitor callback: one ``name timestamp value`` line per update."""
    def print_update(epics_args: Dict[str, Any], _: Any) -> None:
        seconds = epics_args['pv_seconds'] + _ca().POSIX_TIME_AT_EPICS_EPOCH
        stamp = datetime.datetime.fromtimestamp(seconds + epics_args['pv_nseconds'] * 1e-9)
        print('%s %s %s' % (name, stamp.strftime('%Y-%m-%d %H:%M:%S.%f'),
                            epics_args['pv_value']))
    return print_update


def camonitor(name: str, as_string: bool = False, count: Optional[int] = None,
              callback: Any = None) -> None:
    """Set a *callback* to be invoked when pv value or alarm status change.

    :param name: pv name
    :param as_string: retrieve enum and char type as string
    :param count: number of element to request
    :param callback: ``callback(epics_args, user_args)``. ``None`` prints each
                     update to the console; anything not callable removes
                     the previous callback.
    """
    chan = _get_or_create_channel(name)
    if callback is None:
        callback = _print_update(name)
    elif not callable(callback):
        chan.clear_event()
        chan.flush_io()
        return
    req_type = _string_request(chan, as_string, _ca().dbf_type_to_DBR_TIME)
    chan.add_masked_array_event(req_type, count, None, callback)
    chan.flush_io()


_STATE_TEXT = {0: 'Never connected', 1: 'Previously connected', 2: 'Connected', 3: 'Closed',
               4: 'Never searched'}

# cainfo's metadata lines for numeric PVs: (label, pv_* key).
_NUMERIC_INFO = (
    ('Units', 'pv_units'),
    ('Precision', 'pv_precision'),
    ('Lo disp limit', 'pv_lodislim'),
    ('Hi disp limit', 'pv_updislim'),
    ('Lo alarm limit', 'pv_loalarmlim'),
    ('Lo warn limit', 'pv_lowarnlim'),
    ('Hi warn limit', 'pv_upwarnlim'),
    ('Hi alarm limit', 'pv_upalarmlim'),
    ('Lo ctrl limit', 'pv_loctrllim'),
    ('Hi ctrl limit', 'pv_upctrllim'),
)


def _info_line(label: str, value: Any) -> str:
    return '    %-16s%s' % (label + ':', value)


def cainfo(name: str) -> None:
    """Print pv information.

    The block lists State, Host, Data type, Element count, Access, and for a
    connected channel Status and Severity, then the state strings of an enum
    or the units, precision and limits of a numeric PV.

    :param name: pv name
    """
    ca = _ca()
    chan = _get_or_create_channel(name)
    readable, writable = chan.read_access(), chan.write_access()
    access = ('R' if readable else '') + ('W' if writable else '') or 'No access'
    state = chan.state()
    field_type = chan.field_type()
    lines = [name,
             _info_line('State', _STATE_TEXT.get(int(state), str(state))),
             _info_line('Host', chan.host_name()),
             _info_line('Data type', ca.dbf_text(field_type)),
             _info_line('Element count', chan.element_count()),
             _info_line('Access', access)]
    if state == ca.cs_conn:
        ctrl = chan.getw(ca.dbf_type_to_DBR_CTRL(field_type))
        lines.append(_info_line('Status', ca.alarmStatusString(ctrl['pv_status'])))
        lines.append(_info_line('Severity', ca.alarmSeverityString(ctrl['pv_severity'])))
        if field_type == ca.DBF_ENUM:
            lines.append(_info_line('Enumerates', tuple(ctrl['pv_statestrings'])))
        else:
            for label, key in _NUMERIC_INFO:
                if key in ctrl:
                    lines.append(_info_line(label, ctrl[key]))
    print('\n'.join(lines))
