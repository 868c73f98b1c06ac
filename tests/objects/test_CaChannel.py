"""Tests of the CaChannel class beyond the documentation's examples.

Per-backend runs: the ``object_layer`` fixture sets the module attribute
``ca`` of :mod:`CaChannel.CaChannel` to ``load_backend(name)`` for the test,
so each test runs on 'c' and on 'caffi' in-process (channel objects keep the
backend they were created with).
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any, List

import pytest

import CaChannel as package
from CaChannel import CaChannel, CaChannelException





def connected(name: str) -> CaChannel:
    chan = CaChannel(name)
    chan.searchw()
    return chan


def wait_for(event: threading.Event, chan: CaChannel, timeout: float = 5.0) -> bool:
    """Let callbacks run until *event* is set (works for any context mode)."""
    for _ in range(int(timeout / 0.05)):
        if event.is_set():
            return True
        chan.pend_event(0.05)
    return event.is_set()


def test_exception_message_and_status(object_layer: ModuleType) -> None:
    exc = CaChannelException(object_layer.ECA_TIMEOUT)
    assert str(exc) == object_layer.message(object_layer.ECA_TIMEOUT)
    assert exc.status == object_layer.ECA_TIMEOUT
    assert int(exc) == int(object_layer.ECA_TIMEOUT)


def test_searchw_timeout_raises_with_status(object_layer: ModuleType) -> None:
    chan = CaChannel('no-such-pv-cachannel-test')
    chan.setTimeout(0.5)
    with pytest.raises(CaChannelException) as info:
        chan.searchw()
    assert info.value.status == object_layer.ECA_TIMEOUT
    assert chan.state() == object_layer.ChannelState.NEVER_CONN
    chan.clear_channel()
    assert chan.state() == object_layer.ChannelState.CLOSED


def test_timeouts(object_layer: ModuleType) -> None:
    chan = CaChannel()
    assert chan.getTimeout() == CaChannel.ca_timeout == 3.0
    chan.setTimeout(1.5)
    assert chan.getTimeout() == 1.5
    with pytest.raises(ValueError):
        chan.setTimeout(-1)
    chan.setTimeout(None)
    assert chan.getTimeout() == 3.0


def test_operations_without_channel_raise(object_layer: ModuleType) -> None:
    chan = CaChannel('catest')
    assert chan.state() == object_layer.ChannelState.NEVER_SEARCH
    assert chan.name() == 'catest'
    with pytest.raises(CaChannelException) as info:
        chan.getw()
    assert info.value.status == object_layer.ECA_BADCHID


def test_put_get_roundtrip_types(object_layer: ModuleType) -> None:
    chan = connected('catest')
    chan.putw(2.5)
    assert chan.getw() == 2.5
    assert chan.getw(object_layer.DBR_STRING) == '2.5000'
    assert chan.getw(object_layer.DBR_LONG) == 2
    chan = connected('calong')
    chan.putw(-7)
    assert chan.getw() == -7
    chan = connected('castr')
    chan.putw('hello')
    assert chan.getw() == 'hello'


def test_enum_string_put_and_invalid_string(object_layer: ModuleType) -> None:
    chan = connected('cabo')
    chan.putw('Busy')
    assert chan.getw() == 1
    chan.putw('Done', object_layer.DBR_STRING)
    assert chan.getw(object_layer.DBR_STRING) == 'Done'
    ctrl = chan.getw(object_layer.DBR_CTRL_ENUM)
    assert ctrl['pv_statestrings'] == ('Done', 'Busy')
    assert ctrl['pv_nostrings'] == 2


def test_char_waveform_as_string(object_layer: ModuleType) -> None:
    chan = connected('cawavec')
    chan.putw('abc')
    assert chan.getw(object_layer.DBR_STRING) == 'abc'
    assert chan.getw(object_layer.DBR_STRING, count=2) == 'ab'
    assert chan.getw(count=3) == [97, 98, 99]
    sts = chan.getw(object_layer.DBR_STS_STRING)
    assert sts['pv_value'] == 'abc'
    assert sts['pv_severity'] == object_layer.AlarmSeverity.No


def test_use_numpy_keyword_and_package_flag(object_layer: ModuleType,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    numpy = pytest.importorskip('numpy')
    chan = connected('cawave')
    chan.putw([1, 2, 3])
    assert chan.getw(count=3) == [1.0, 2.0, 3.0]
    value = chan.getw(count=3, use_numpy=True)
    assert isinstance(value, numpy.ndarray) and value.tolist() == [1.0, 2.0, 3.0]
    monkeypatch.setattr(package, 'USE_NUMPY', True)
    assert isinstance(chan.getw(count=3), numpy.ndarray)
    assert chan.getw(count=3, use_numpy=False) == [1.0, 2.0, 3.0]


def test_time_fields_are_epics_epoch(object_layer: ModuleType) -> None:
    import time
    chan = connected('catest')
    chan.putw(1)
    value = chan.getw(object_layer.DBR_TIME_DOUBLE)
    posix = value['pv_seconds'] + object_layer.POSIX_TIME_AT_EPICS_EPOCH
    assert abs(posix - time.time()) < 3600
    assert 0 <= value['pv_nseconds'] < 10**9
    assert value['pv_status'] == object_layer.AlarmCondition.No


def test_connection_callback_args_and_user_args(object_layer: ModuleType) -> None:
    got: List[Any] = []
    event = threading.Event()

    def on_connection(epics_args: Any, user_args: Any) -> None:
        got.append((epics_args, user_args))
        event.set()

    chan = CaChannel()
    chan.search_and_connect('catest', on_connection, 'a', 2)
    assert wait_for(event, chan)
    epics_args, user_args = got[0]
    assert user_args == ('a', 2)
    assert epics_args[1] == object_layer.CA_OP_CONN_UP
    assert epics_args['op'] == epics_args[1]
    assert epics_args['chid'] is epics_args[0]
    assert object_layer.name(epics_args[0]) == 'catest'
    chan.clear_channel()


def test_get_and_put_callbacks_with_user_args(object_layer: ModuleType) -> None:
    chan = connected('catest')
    put_done = threading.Event()
    got: dict = {}

    def on_put(epics_args: Any, user_args: Any) -> None:
        got['put'] = (epics_args, user_args)
        put_done.set()

    chan.array_put_callback(4.5, None, None, on_put, 'x')
    assert wait_for(put_done, chan)
    epics_args, user_args = got['put']
    assert user_args == ('x',)
    assert epics_args['status'] == object_layer.ECA_NORMAL
    assert set(epics_args) == {'chid', 'type', 'count', 'status'}
    assert object_layer.name(epics_args['chid']) == 'catest'

    get_done = threading.Event()

    def on_get(epics_args: Any, user_args: Any) -> None:
        got['get'] = (epics_args, user_args)
        get_done.set()

    chan.array_get_callback(object_layer.DBR_STS_DOUBLE, None, on_get, 1, 2)
    assert wait_for(get_done, chan)
    epics_args, user_args = got['get']
    assert user_args == (1, 2)
    assert set(epics_args) == {'chid', 'type', 'count', 'status',
                               'pv_value', 'pv_status', 'pv_severity'}
    assert epics_args['pv_value'] == 4.5
    assert epics_args['type'] == object_layer.DBR_STS_DOUBLE


def test_monitor_and_clear_event(object_layer: ModuleType) -> None:
    chan = connected('calong')
    chan.putw(0)
    values: List[Any] = []
    event = threading.Event()

    def on_event(epics_args: Any, user_args: Any) -> None:
        values.append(epics_args['pv_value'])
        if epics_args['pv_value'] == 5:
            event.set()

    chan.add_masked_array_event(None, None, None, on_event)
    chan.flush_io()
    writer = connected('calong')
    writer.putw(5)
    assert wait_for(event, chan)
    assert values[-1] == 5
    chan.clear_event()
    chan.clear_event()  # a second clear is a no-op
    count = len(values)
    writer.putw(6)
    chan.pend_event(0.3)
    assert len(values) == count


@pytest.mark.parametrize('pv, req_type, count', [
    ('catest', 'DBR_TIME_DOUBLE', None), ('calong', 'DBR_TIME_LONG', None),
    ('castr', 'DBR_TIME_STRING', None), ('cabo', 'DBR_TIME_ENUM', None),
    ('cashort', 'DBR_TIME_SHORT', None), ('cachar', 'DBR_TIME_CHAR', None),
    ('cafloat', 'DBR_TIME_FLOAT', None), ('cawave', 'DBR_TIME_DOUBLE', 4),
    ('catest', 'DBR_TIME_STRING', None), ('catest', 'DBR_STS_DOUBLE', None)])
def test_monitor_dict_is_the_get_callbacks(object_layer: ModuleType, pv: str, req_type: str,
                                           count: Any) -> None:
    """The ca layer makes a TIME scalar's monitor dict itself (_pv_fields):
    the same keys, order and values as the dict of a get callback, which the
    object layer makes; an array or another type takes the general way."""
    chan = connected(pv)
    dbr_type = getattr(object_layer, req_type)
    got: dict = {}
    done = {name: threading.Event() for name in ('monitor', 'get')}

    def keep(name: str) -> Any:
        def on_value(epics_args: Any, user_args: Any) -> None:
            got.setdefault(name, epics_args)
            done[name].set()
        return on_value

    chan.add_masked_array_event(dbr_type, count, None, keep('monitor'))
    chan.array_get_callback(dbr_type, count, keep('get'))
    chan.flush_io()
    assert wait_for(done['monitor'], chan) and wait_for(done['get'], chan)
    chan.clear_event()
    monitor, get = got['monitor'], got['get']
    assert list(monitor) == list(get)
    assert monitor == get
    assert type(monitor['pv_value']) is type(get['pv_value'])


def test_value_read_is_kept_without_its_buffer(object_layer: ModuleType) -> None:
    """getValue folds an immutable value into the channel once its reply is
    in; a new array_get reads again; before the reply, nothing is folded."""
    chan = connected('calong')
    writer = connected('calong')
    writer.putw(7)
    chan.array_get()
    early = chan.getValue()          # before pend_io: the reply may not be in
    chan.pend_io()
    assert chan.getValue() == 7 and chan.getValue() == 7
    assert early in (0, 7)
    writer.putw(8)
    assert chan.getValue() == 7      # no new read asked for
    chan.array_get()
    chan.pend_io()
    assert chan.getValue() == 8
    chan.array_get(object_layer.DBR_TIME_LONG)
    chan.pend_io()
    first, second = chan.getValue(), chan.getValue()
    assert first == second and first is not second    # a dict is made anew for each call


def test_put_to_disabled_record_reports_failure(object_layer: ModuleType) -> None:
    chan = connected('cadisabled')
    done = threading.Event()
    got: dict = {}

    def on_put(epics_args: Any, _: Any) -> None:
        got['status'] = epics_args['status']
        done.set()

    chan.array_put_callback(3.0, None, None, on_put)
    assert wait_for(done, chan)
    assert got['status'] != object_layer.ECA_NORMAL


def test_put_conversion_errors_propagate(object_layer: ModuleType) -> None:
    chan = connected('catest')
    with pytest.raises(ValueError):
        chan.putw('not a number')


def test_information_methods(object_layer: ModuleType) -> None:
    chan = connected('cawave')
    assert chan.field_type() == object_layer.DBF_DOUBLE
    assert chan.element_count() == 20
    assert chan.name() == 'cawave'
    assert chan.read_access() is True and chan.write_access() is True
    assert chan.host_name() != ''


def test_getValue_without_request_raises(object_layer: ModuleType) -> None:
    chan = connected('catest')
    with pytest.raises(CaChannelException):
        chan.getValue()


def test_garbage_collected_channel_is_cleared(object_layer: ModuleType) -> None:
    live = getattr(object_layer._backend_module, '_live_callbacks', None)
    if live is None:
        pytest.skip('backend has no _live_callbacks counter')
    before = live()
    chan = CaChannel('catest')
    chan.search_and_connect(None, lambda *a: None)
    chan.pend_io(1)
    assert live() == before + 1
    del chan
    import gc
    gc.collect()
    assert live() == before
