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
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .CaChannel import CaChannel, CaChannelException, _ca

__all__ = ['caget', 'caput', 'camonitor', 'cainfo']

logger = logging.getLogger(__name__)

#: One PV name, or a list of them.
Names = Union[str, List[str], Tuple[str, ...]]

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


def caget(name: Names, as_string: bool = False, count: Optional[int] = None) -> Any:
    """Return PV's current value.

    For enum or char type PV, the string form is returned if *as_string* is
    True. If the PV is of multi-element array, *count* can be used to limit
    the number of elements.

    :param name: pv name, or a list of names: one search round and one
                 read for all of them, CaChannel's default timeout for the
                 whole list, a list of values back
    :param as_string: retrieve enum and char type as string
    :param count: number of element to request
    :return: pv value
    """
    if isinstance(name, (list, tuple)):
        return _caget_many(name, as_string, count)
    chan = _get_or_create_channel(name)
    return chan.getw(_string_request(chan, as_string, _ca().dbf_type_to_DBR), count)


def caput(name: Names, value: Any, wait: bool = False, timeout: Optional[float] = None) -> None:
    """Write *value* to PV *name*.

    :param name: pv name, or a list of names (one search round for all of
                 them; *value* is then a list, one value per name, and
                 *timeout* covers all the writes)
    :param value: value to write
    :param wait: wait for completion (the put callback)
    :param timeout: seconds to wait; ``None`` waits as long as it takes
    :raises CaChannelException: ``ECA_TIMEOUT`` if the put did not complete in
                                *timeout*, or the put's failure status
    """
    if isinstance(name, (list, tuple)):
        _caput_many(name, value, wait, timeout)
        return
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


def cainfo(name: Names) -> None:
    """Print pv information.

    The block lists State, Host, Data type, Element count, Access, and for a
    connected channel Status and Severity, then the state strings of an enum
    or the units, precision and limits of a numeric PV.

    :param name: pv name, or a list of names (searched for in one round,
                 then printed one block each)
    """
    if isinstance(name, (list, tuple)):
        _channels_of(name)
        for one in name:
            cainfo(one)
        return
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


# --- lists of names: one search round and one pend for all of them -------------

def _channels_of(names: Sequence[str]) -> List[CaChannel]:
    """The cached channels of *names*; those not cached yet are searched for
    together and waited for with one ``pend_io`` (CaChannel's default
    timeout, for all of them)."""
    found: Dict[str, CaChannel] = {}
    new: List[CaChannel] = []
    for name in names:
        if name not in found:
            chan = _channel_.get(name)
            if chan is None:
                chan = CaChannel(name)
                chan.search()
                new.append(chan)
            found[name] = chan
    if new:
        new[0].pend_io()
        with _channel_lock:
            for name, chan in list(found.items()):
                found[name] = _channel_.setdefault(name, chan)
    return [found[name] for name in names]


def _caget_many(names: Sequence[str], as_string: bool, count: Optional[int]) -> List[Any]:
    chans = _channels_of(names)
    family = _ca().dbf_type_to_DBR
    for chan in chans:
        chan.array_get(_string_request(chan, as_string, family), count)
    if chans:
        chans[0].pend_io()
    return [chan.getValue() for chan in chans]


def _caput_many(names: Sequence[str], values: Any, wait: bool,
                timeout: Optional[float]) -> None:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError('caput of a list of names takes a list of values, one per name')
    if len(values) != len(names):
        raise ValueError('%d values for %d names' % (len(values), len(names)))
    chans = _channels_of(names)
    if not chans:
        return
    if not wait:
        for chan, value in zip(chans, values):
            chan.array_put(value)
        chans[0].flush_io()
        return
    statuses: List[Any] = []
    all_done = threading.Event()

    def on_put(epics_args: Dict[str, Any], _: Any) -> None:
        statuses.append(epics_args['status'])  # list.append: atomic under the GIL
        if len(statuses) == len(chans):
            all_done.set()

    for chan, value in zip(chans, values):
        chan.array_put_callback(value, None, None, on_put)
    chans[0].flush_io()
    if not all_done.wait(timeout):
        raise CaChannelException(_ca().ECA_TIMEOUT)
    for status in statuses:
        if status != _ca().ECA_NORMAL:
            raise CaChannelException(status)
