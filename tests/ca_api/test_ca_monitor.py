"""Subscriptions of the ``ca`` layer: masks, callback dicts, counts, clearing.

"No event" is checked against a sentinel: a second subscription with
``DBE.VALUE`` on the same channel sees every put, and the server sends the
events of one channel in order, so once the sentinel has seen the last put,
every event the subscription under test could get has arrived too.
Runs on every backend.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from helpers.ca_helpers import Recorder, connect, connected, put_ok, settle  # noqa: F401

EVENT_KEYS = {'chid', 'type', 'count', 'status', 'value'}


class Subscriptions:
    """Subscriptions made by one test, cleared when it ends."""

    def __init__(self, ca):
        self.ca = ca
        self.evids = []

    def __call__(self, chid, chtype=None, count=None, mask=None, use_numpy=False,
                 callback=None):
        recorder = callback if callback is not None else Recorder()
        status, evid = self.ca.create_subscription(chid, recorder, chtype, count, mask,
                                                   use_numpy)
        assert status == self.ca.ECA.NORMAL, status
        assert evid is not None
        self.evids.append(evid)
        return recorder, evid


@pytest.fixture
def subscribe(ca_backend):
    subscriptions = Subscriptions(ca_backend)
    yield subscriptions
    for evid in subscriptions.evids:
        ca_backend.clear_subscription(evid)
    ca_backend.flush_io()


def sentinel_sees(ca, sentinel, value):
    """Wait until the DBE.VALUE sentinel has seen *value*."""
    sentinel.wait_for(ca, lambda e: e['value'] == value)


def test_initial_event_and_callback_dict(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 1.0)
    recorder, evid = subscribe(chid)
    (event,) = recorder.wait(ca, 1)
    assert set(event) == EVENT_KEYS
    assert event['chid'] is chid
    assert event['type'] == ca.DBR.DOUBLE and type(event['type']) is ca.DBR
    assert event['count'] == 1
    assert event['status'] == ca.ECA.NORMAL and type(event['status']) is ca.ECA
    assert event['value'] == 1.0 and type(event['value']) is float


def test_value_mask_sees_every_change(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 0.0)
    recorder, _ = subscribe(chid, ca.DBR.TIME_DOUBLE, mask=ca.DBE.VALUE)
    recorder.wait_for(ca, lambda e: e['value']['value'] == 0.0)
    for value in (1.0, 2.0, 3.5):
        put_ok(ca, chid, value)
    recorder.wait_for(ca, lambda e: e['value']['value'] == 3.5)
    values = [e['value']['value'] for e in recorder.events]
    assert values == [0.0, 1.0, 2.0, 3.5]
    assert all(e['type'] == ca.DBR.TIME_DOUBLE for e in recorder.events)
    stamps = [e['value']['stamp']['timestamp'] for e in recorder.events]
    assert stamps == sorted(stamps)


def test_alarm_mask_fires_only_on_alarm_changes(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('catest')
    try:
        put_ok(ca, chid, 0.0)
        sentinel, _ = subscribe(chid, mask=ca.DBE.VALUE)
        alarms, _ = subscribe(chid, ca.DBR.STS_DOUBLE, mask=ca.DBE.ALARM)
        alarms.wait(ca, 1)  # the initial event
        sentinel.wait(ca, 1)
        for value in (1.0, 2.0, 15.0, 16.0, 25.0, 1.0, 2.0):
            put_ok(ca, chid, value)
        sentinel_sees(ca, sentinel, 2.0)
        settle(ca, 0.1)
        got = [(e['value']['value'], e['value']['severity']) for e in alarms.events]
        assert got == [
            (0.0, ca.AlarmSeverity.No),
            (15.0, ca.AlarmSeverity.Minor),   # crossed HIGH
            (25.0, ca.AlarmSeverity.Major),   # crossed HIHI
            (1.0, ca.AlarmSeverity.No),       # back in range
        ]
        assert alarms.events[1]['value']['status'] is ca.AlarmCondition.High
        assert alarms.events[2]['value']['status'] is ca.AlarmCondition.HiHi
    finally:
        put_ok(ca, chid, 0.0)


@pytest.mark.parametrize('mask_name', ['LOG', 'ARCHIVE'])
def test_log_mask(ca_backend, connected, subscribe, mask_name):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 0.0)
    assert ca.DBE[mask_name] == ca.DBE.LOG
    recorder, _ = subscribe(chid, mask=ca.DBE[mask_name])
    recorder.wait(ca, 1)
    for value in (4.0, 5.0):
        put_ok(ca, chid, value)
    recorder.wait_for(ca, lambda e: e['value'] == 5.0)
    # catest has ADEL 0: every change is an archive event.
    assert recorder.values() == [0.0, 4.0, 5.0]


def test_property_mask(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('catest')
    egu = connected('catest.EGU')
    put_ok(ca, chid, 0.0)
    sentinel, _ = subscribe(chid, mask=ca.DBE.VALUE)
    props, _ = subscribe(chid, ca.DBR.CTRL_DOUBLE, mask=ca.DBE.PROPERTY)
    first = props.wait(ca, 1)[0]
    assert first['value']['units'] == 'mm'
    try:
        # A value change is no property change.
        put_ok(ca, chid, 6.0)
        sentinel_sees(ca, sentinel, 6.0)
        settle(ca, 0.1)
        assert len(props) == 1
        # Changing the engineering units is.
        put_ok(ca, egu, 'cm')
        event = props.wait_for(ca, lambda e: e['value']['units'] == 'cm')
        assert event['value']['value'] == 6.0
        assert event['value']['precision'] == 4
    finally:
        put_ok(ca, egu, 'mm')
        put_ok(ca, chid, 0.0)


def test_default_mask_is_value_and_alarm(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('cabo')
    put_ok(ca, chid, 0)
    recorder, _ = subscribe(chid, ca.DBR.STS_ENUM)
    recorder.wait(ca, 1)
    put_ok(ca, chid, 1)
    event = recorder.wait_for(ca, lambda e: e['value']['value'] == 1)
    assert event['value']['severity'] is ca.AlarmSeverity.Minor
    assert event['value']['status'] is ca.AlarmCondition.State
    put_ok(ca, chid, 0)
    recorder.wait(ca, 3)
    settle(ca, 0.1)
    # One event per change, value and alarm changes of one put come together.
    assert [e['value']['value'] for e in recorder.events] == [0, 1, 0]


def test_use_numpy_subscription(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, list(range(20)))
    recorder, _ = subscribe(chid, use_numpy=True)
    (event,) = recorder.wait(ca, 1)
    assert event['count'] == 20
    assert isinstance(event['value'], np.ndarray)
    assert event['value'].dtype == np.float64
    np.testing.assert_array_equal(event['value'], np.arange(20.0))
    short, _ = subscribe(chid, ca.DBR.TIME_SHORT, 5, use_numpy=True)
    (event,) = short.wait(ca, 1)
    assert event['value']['value'].dtype == np.int16
    np.testing.assert_array_equal(event['value']['value'], np.arange(5))
    plain, _ = subscribe(chid, ca.DBR.LONG, 4)
    (event,) = plain.wait(ca, 1)
    assert event['value'] == [0, 1, 2, 3] and type(event['value']) is list


def test_count_zero_follows_current_length(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, [1.0, 2.0, 3.0])
    recorder, _ = subscribe(chid, ca.DBR.DOUBLE, 0)
    (event,) = recorder.wait(ca, 1)
    assert event['count'] == 3
    assert event['value'] == [1.0, 2.0, 3.0]
    put_ok(ca, chid, [4.0] * 6)
    event = recorder.wait(ca, 2)[1]
    assert event['count'] == 6
    assert event['value'] == [4.0] * 6
    fixed, _ = subscribe(chid, ca.DBR.DOUBLE, None)
    (event,) = fixed.wait(ca, 1)
    assert event['count'] == 20
    assert event['value'] == [4.0] * 6 + [0.0] * 14


def test_clear_subscription_stops_events(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 0.0)
    sentinel, _ = subscribe(chid)
    status, evid = ca.create_subscription(chid, (recorder := Recorder()))
    assert status == ca.ECA.NORMAL
    recorder.wait(ca, 1)
    put_ok(ca, chid, 7.0)
    recorder.wait_for(ca, lambda e: e['value'] == 7.0)
    assert ca.clear_subscription(evid) == ca.ECA.NORMAL
    put_ok(ca, chid, 8.0)
    put_ok(ca, chid, 9.0)
    sentinel_sees(ca, sentinel, 9.0)
    settle(ca, 0.1)
    assert recorder.values() == [0.0, 7.0]
    # Clearing again is reported, never a crash.
    assert ca.clear_subscription(evid) == ca.ECA.BADMONID
    assert ca.clear_subscription(evid) == ca.ECA.BADMONID


def test_clearing_channel_ends_its_subscriptions(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    status, evid = ca.create_subscription(chid, (recorder := Recorder()))
    assert status == ca.ECA.NORMAL
    recorder.wait(ca, 1)
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.clear_subscription(evid) == ca.ECA.BADMONID


@pytest.mark.parametrize('bad', [None, 7, 'evid', object()])
def test_wrong_type_evid_raises_type_error(ca_backend, bad):
    with pytest.raises(TypeError):
        ca_backend.clear_subscription(bad)


def test_counting_calc_updates(ca_backend, connected, subscribe):
    ca = ca_backend
    chid = connected('cacalc')
    recorder, _ = subscribe(chid, ca.DBR.TIME_DOUBLE)
    events = recorder.wait(ca, 3, timeout=10.0)
    values = [e['value']['value'] for e in events[:3]]
    assert values[1] == values[0] + 1
    assert values[2] == values[1] + 1
    stamps = [e['value']['stamp']['timestamp'] for e in events[:3]]
    assert stamps[0] < stamps[1] < stamps[2]
    assert abs(stamps[2] - time.time()) < 60


def test_subscription_type_and_count_checks(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    assert ca.create_subscription(chid, Recorder(), 99)[0] == ca.ECA.BADTYPE
    with pytest.raises(TypeError):
        ca.create_subscription(chid, Recorder(), None, 1.5)


def test_subscription_before_connection(ca_backend, subscribe):
    ca = ca_backend
    status, chid = ca.create_channel('calong')
    try:
        # With an explicit type libca accepts a subscription on a channel
        # that is not connected yet and installs it on connection.
        recorder, evid = subscribe(chid, ca.DBR.LONG)
        assert ca.pend_io(5.0) == ca.ECA.NORMAL
        (event,) = recorder.wait(ca, 1)
        assert event['type'] == ca.DBR.LONG and type(event['value']) is int
    finally:
        subscribe.evids.clear()  # cleared with the channel
        ca.clear_channel(chid)


@pytest.mark.parametrize('pv, chtype, count, made', [
    ('catest', 'TIME_DOUBLE', None, True), ('castr', 'TIME_STRING', None, True),
    ('cabo', 'TIME_ENUM', None, True), ('cachar', 'TIME_CHAR', None, True),
    ('cawave', 'TIME_DOUBLE', 3, False), ('catest', 'STS_DOUBLE', None, False),
    ('catest', 'DOUBLE', None, False)])
def test_pv_fields_events(ca_backend, connected, pv, chtype, count, made):
    """The object layer's ``_pv_fields`` subscriptions: an event of one TIME
    element comes as CaChannel's dict (keys in its order, caPython's epoch
    seconds), any other as the usual dict."""
    ca = ca_backend
    chid = connected(pv)
    recorder = Recorder()
    status, evid = ca.create_subscription(chid, recorder, getattr(ca.DBR, chtype), count,
                                          _pv_fields=True)
    assert status == ca.ECA.NORMAL
    try:
        (event,) = recorder.wait(ca, 1)
    finally:
        ca.clear_subscription(evid)
    if not made:
        assert set(event) == EVENT_KEYS
        return
    assert list(event) == ['chid', 'type', 'count', 'status', 'pv_value', 'pv_status',
                           'pv_severity', 'pv_seconds', 'pv_nseconds']
    assert event['chid'] is chid and event['count'] == 1 and event['status'] == ca.ECA.NORMAL
    status, value = ca.get(chid, getattr(ca.DBR, chtype))
    assert ca.pend_io(5.0) == ca.ECA.NORMAL
    dbr = value.get()
    assert event['pv_value'] == dbr['value'] and type(event['pv_value']) is type(dbr['value'])
    assert event['pv_status'] is dbr['status'] and event['pv_severity'] is dbr['severity']
    assert event['pv_seconds'] == dbr['stamp']['seconds'] - ca.POSIX_TIME_AT_EPICS_EPOCH
    assert event['pv_nseconds'] == dbr['stamp']['nanoseconds']


@pytest.mark.parametrize('kind', ['STRING', 'SHORT', 'FLOAT', 'ENUM', 'CHAR', 'LONG', 'DOUBLE'])
@pytest.mark.parametrize('family', ['', 'TIME_'])
def test_events_and_answers_read_as_gets_do(ca_backend, connected, subscribe, family, kind):
    """A scalar event and a get callback's answer of each plain and TIME type
    hold what a get without callback of that type reads (the cffi backend
    reads the first two through its typed answer views, the third by a
    cast: docs in caffi_backend/_cdef.py)."""
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 7.0)
    dbrtype = getattr(ca.DBR, family + kind)
    recorder, evid = subscribe(chid, dbrtype, mask=ca.DBE.VALUE | ca.DBE.ALARM)
    (event,) = recorder.wait(ca, 1)
    answered = Recorder()
    assert ca.get(chid, dbrtype, callback=answered) == (ca.ECA.NORMAL, None)
    (answer,) = answered.wait(ca, 1)
    status, value = ca.get(chid, dbrtype)
    assert status == ca.ECA.NORMAL and ca.pend_io(5.0) == ca.ECA.NORMAL
    expected = value.get()
    for got in (event, answer):
        assert got['type'] is dbrtype and got['count'] == 1 and got['status'] is ca.ECA.NORMAL
        assert got['value'] == expected
        # the value's own type (str, int or float), or the TIME dict's
        assert type(got['value']) is type(expected)
        if family:
            assert type(got['value']['value']) is type(expected['value'])
    assert float(expected['value'] if family else expected) == 7.0   # '7.0000' at PREC 4
