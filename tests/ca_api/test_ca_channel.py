"""Channels of the ``ca`` layer: create, connect, information, handlers, clear.

Runs on every backend (``ca_backend``) against the session softIoc.
"""

from __future__ import annotations

import os

import pytest

from helpers.ca_helpers import Recorder, connect, connected, get_value, settle, wait_until  # noqa: F401

MISSING = 'ca:test:no:such:pv'

# (PV, native field type, native element count) of the test database.
NATIVE = [
    ('catest', 'DOUBLE', 1),
    ('cabo', 'ENUM', 1),
    ('calong', 'LONG', 1),
    ('castr', 'STRING', 1),
    ('cacalc', 'DOUBLE', 1),
    ('cawave', 'DOUBLE', 20),
    ('cawavec', 'CHAR', 5),
    ('cawaveuc', 'CHAR', 150),
    ('cawaves', 'STRING', 3),
    ('cawavef', 'FLOAT', 150),
    ('cawaveh', 'SHORT', 150),
    ('cawavel', 'LONG', 150),
    ('cawavehuge', 'DOUBLE', 4000000),
    ('caenum16', 'ENUM', 1),
    ('cashort', 'SHORT', 1),
    ('cachar', 'CHAR', 1),
    ('cafloat', 'FLOAT', 1),
]


def test_create_channel_without_callback_connects_in_pend_io(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel('catest')
    try:
        assert status == ca.ECA.NORMAL
        assert type(status) is ca.ECA
        assert chid is not None
        assert ca.pend_io(5.0) == ca.ECA.NORMAL
        assert ca.state(chid) == ca.ChannelState.CONN
        assert type(ca.state(chid)) is ca.ChannelState
    finally:
        assert ca.clear_channel(chid) == ca.ECA.NORMAL


@pytest.mark.parametrize('name, dbf, count', NATIVE)
def test_information_of_connected_channel(ca_backend, connected, name, dbf, count):
    ca = ca_backend
    chid = connected(name)
    field_type = ca.field_type(chid)
    assert field_type == ca.DBF[dbf]
    assert type(field_type) is ca.DBF
    assert ca.element_count(chid) == count
    assert type(ca.element_count(chid)) is int
    assert ca.name(chid) == name
    assert ca.state(chid) is ca.ChannelState.CONN
    assert ca.read_access(chid) is True
    assert ca.write_access(chid) is True


def test_host_name_is_the_loopback_server(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    host = ca.host_name(chid)
    assert isinstance(host, str)
    # libca gives "host:port" of the circuit; the IOC serves on our port.
    assert host.endswith(':' + os.environ['EPICS_CA_SERVER_PORT'])
    assert len(host) > len(os.environ['EPICS_CA_SERVER_PORT']) + 1


def test_connection_callback_receives_conn_up(ca_backend):
    ca = ca_backend
    recorder = Recorder()
    status, chid = ca.create_channel('calong', recorder)
    try:
        assert status == ca.ECA.NORMAL
        (event,) = recorder.wait(ca, 1)
        assert set(event) == {'chid', 'op'}
        assert event['op'] == ca.CA_OP.CONN_UP
        assert type(event['op']) is ca.CA_OP
        # The identifier handed to the callback is the very one returned.
        assert event['chid'] is chid
        assert event['chid'] == chid
        assert hash(event['chid']) == hash(chid)
        assert {chid: 'calong'}[event['chid']] == 'calong'
        assert ca.state(chid) == ca.ChannelState.CONN
        settle(ca, 0.1)
        assert len(recorder) == 1
    finally:
        assert ca.clear_channel(chid) == ca.ECA.NORMAL


def test_connection_callback_with_priority(ca_backend):
    ca = ca_backend
    recorder = Recorder()
    status, chid = ca.create_channel('castr', recorder, ca.CA_PRIORITY.MAX)
    try:
        assert status == ca.ECA.NORMAL
        recorder.wait(ca, 1)
        assert recorder.last['op'] == ca.CA_OP.CONN_UP
        assert ca.field_type(chid) == ca.DBF.STRING
    finally:
        ca.clear_channel(chid)


def test_channel_with_callback_is_not_waited_for_by_pend_io(ca_backend):
    ca = ca_backend
    recorder = Recorder()
    status, chid = ca.create_channel(MISSING, recorder)
    try:
        assert status == ca.ECA.NORMAL
        # A channel with a connection callback is no outstanding IO of pend_io.
        assert ca.pend_io(0.3) == ca.ECA.NORMAL
        assert len(recorder) == 0
    finally:
        ca.clear_channel(chid)


def test_identifiers_of_distinct_channels_differ(ca_backend, connected):
    ca = ca_backend
    first = connected('catest')
    second = connected('catest')
    assert first is not second
    assert first != second
    assert len({first, second}) == 2
    assert ca.name(first) == ca.name(second) == 'catest'


def test_change_connection_event_replaces_callback(ca_backend):
    ca = ca_backend
    old, new = Recorder(), Recorder()
    status, chid = ca.create_channel('catest', old)
    try:
        assert status == ca.ECA.NORMAL
        # Replaced before libca had a chance to connect (nothing flushed yet).
        assert ca.change_connection_event(chid, new) == ca.ECA.NORMAL
        (event,) = new.wait(ca, 1)
        assert event['op'] == ca.CA_OP.CONN_UP
        assert event['chid'] is chid
        assert len(old) == 0
    finally:
        ca.clear_channel(chid)


@pytest.mark.parametrize('remove_with', [None, 'not callable'])
def test_change_connection_event_removes_callback(ca_backend, remove_with):
    ca = ca_backend
    old = Recorder()
    status, chid = ca.create_channel('catest', old)
    try:
        assert status == ca.ECA.NORMAL
        assert ca.change_connection_event(chid, remove_with) == ca.ECA.NORMAL
        # Without a connection handler the channel is outstanding IO again,
        # so pend_io waits for its connection.
        assert ca.pend_io(5.0) == ca.ECA.NORMAL
        assert ca.state(chid) == ca.ChannelState.CONN
        settle(ca, 0.1)
        assert len(old) == 0
    finally:
        ca.clear_channel(chid)


def test_change_connection_event_on_connected_channel(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    recorder = Recorder()
    assert ca.change_connection_event(chid, recorder) == ca.ECA.NORMAL
    # Connected already: nothing happens until the connection changes.
    settle(ca, 0.1)
    assert len(recorder) == 0
    assert ca.change_connection_event(chid, None) == ca.ECA.NORMAL


def test_replace_access_rights_event(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    recorder = Recorder()
    assert ca.replace_access_rights_event(chid, recorder) == ca.ECA.NORMAL
    # libca calls the handler at once for a connected channel.
    (event,) = recorder.wait(ca, 1)
    assert set(event) == {'chid', 'read_access', 'write_access'}
    assert event['chid'] is chid
    assert event['read_access'] is True
    assert event['write_access'] is True
    assert ca.replace_access_rights_event(chid, None) == ca.ECA.NORMAL
    assert ca.replace_access_rights_event(chid) == ca.ECA.NORMAL
    assert ca.read_access(chid) is True


def test_access_rights_handler_installed_before_connection(ca_backend):
    ca = ca_backend
    recorder = Recorder()
    status, chid = ca.create_channel('calong')
    try:
        assert ca.replace_access_rights_event(chid, recorder) == ca.ECA.NORMAL
        assert ca.pend_io(5.0) == ca.ECA.NORMAL
        event = recorder.wait_for(ca, lambda e: e['read_access'])
        assert event == {'chid': chid, 'read_access': True, 'write_access': True}
    finally:
        ca.clear_channel(chid)


def test_cleared_channel_information(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.state(chid) is ca.ChannelState.CLOSED
    assert ca.field_type(chid) == ca.DBF.NOT_CONNECTED == -1
    assert ca.element_count(chid) == 0
    assert ca.name(chid) == 'catest'
    assert ca.host_name(chid) == ''
    assert ca.read_access(chid) is False
    assert ca.write_access(chid) is False


def test_cleared_channel_status_calls_give_badchid(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.clear_channel(chid) == ca.ECA.BADCHID
    assert ca.clear_channel(chid) == ca.ECA.BADCHID
    assert ca.get(chid)[0] == ca.ECA.BADCHID
    assert ca.get(chid, ca.DBR.DOUBLE)[0] == ca.ECA.BADCHID
    assert ca.get(chid, ca.DBR.DOUBLE, callback=Recorder())[0] == ca.ECA.BADCHID
    assert ca.put(chid, 1.0) == ca.ECA.BADCHID
    assert ca.put(chid, 1.0, ca.DBR.DOUBLE, callback=Recorder()) == ca.ECA.BADCHID
    assert ca.create_subscription(chid, Recorder())[0] == ca.ECA.BADCHID
    assert ca.change_connection_event(chid, Recorder()) == ca.ECA.BADCHID
    assert ca.replace_access_rights_event(chid, Recorder()) == ca.ECA.BADCHID


def test_clear_channel_with_callback_releases_it(ca_backend):
    ca = ca_backend
    recorder = Recorder()
    status, chid = ca.create_channel('catest', recorder)
    recorder.wait(ca, 1)
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.clear_channel(chid) == ca.ECA.BADCHID
    settle(ca, 0.1)
    assert [e['op'] for e in recorder.events] == [ca.CA_OP.CONN_UP]


@pytest.mark.parametrize('bad', [None, 42, 'catest', 1.5, object()])
def test_wrong_type_identifier_raises_type_error(ca_backend, bad):
    ca = ca_backend
    for call in (ca.clear_channel, ca.state, ca.field_type, ca.element_count,
                 ca.name, ca.host_name, ca.read_access, ca.write_access,
                 ca.get):
        with pytest.raises(TypeError):
            call(bad)
    with pytest.raises(TypeError):
        ca.put(bad, 1.0)
    with pytest.raises(TypeError):
        ca.create_subscription(bad, Recorder())
    with pytest.raises(TypeError):
        ca.change_connection_event(bad, None)
    with pytest.raises(TypeError):
        ca.replace_access_rights_event(bad, None)


def test_other_identifiers_are_not_channels(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    status, evid = ca.create_subscription(chid, Recorder())
    assert status == ca.ECA.NORMAL
    try:
        context = ca.current_context()
        assert context is not None
        for wrong in (evid, context):
            with pytest.raises(TypeError):
                ca.state(wrong)
            with pytest.raises(TypeError):
                ca.clear_channel(wrong)
        with pytest.raises(TypeError):
            ca.clear_subscription(chid)
    finally:
        assert ca.clear_subscription(evid) == ca.ECA.NORMAL


def test_missing_pv_times_out(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel(MISSING)
    try:
        assert status == ca.ECA.NORMAL
        assert ca.pend_io(0.5) == ca.ECA.TIMEOUT
        assert ca.state(chid) is ca.ChannelState.NEVER_CONN
        assert ca.field_type(chid) == ca.DBF.NOT_CONNECTED
        assert ca.element_count(chid) == 0
        assert ca.name(chid) == MISSING
        assert ca.read_access(chid) is False
        assert ca.write_access(chid) is False
        # The timed-out channel does not weigh on the next pend_io.
        assert ca.pend_io(0.2) == ca.ECA.NORMAL
        # chtype None needs the native type: a disconnected channel has none.
        assert ca.get(chid)[0] == ca.ECA.DISCONN
        assert ca.get(chid, callback=Recorder())[0] == ca.ECA.DISCONN
        assert ca.put(chid, 1.0) == ca.ECA.DISCONN
        assert ca.create_subscription(chid, Recorder())[0] == ca.ECA.DISCONN
        # With an explicit type libca itself refuses a get or put.
        assert ca.get(chid, ca.DBR.DOUBLE)[0] == ca.ECA.DISCONN
        assert ca.put(chid, 1.0, ca.DBR.DOUBLE) == ca.ECA.DISCONN
    finally:
        assert ca.clear_channel(chid) == ca.ECA.NORMAL


def test_name_is_str_and_unicode_roundtrips(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel('ca:test:nö:such')
    try:
        assert status == ca.ECA.NORMAL
        assert ca.name(chid) == 'ca:test:nö:such'
    finally:
        ca.clear_channel(chid)


def test_live_callbacks_balance(ca_backend):
    """Every reference handed to libca is released exactly when libca is done."""
    ca = ca_backend
    live = getattr(ca._backend_module, '_live_callbacks', None)
    if live is None:
        pytest.fail('backend lacks _live_callbacks() (DEVELOPERS.md)')
    settle(ca, 0.05)
    before = live()
    recorder = Recorder()
    status, chid = ca.create_channel('catest', recorder)
    recorder.wait(ca, 1)
    assert live() > before
    with_channel = live()
    # One-shot get and put callbacks are released after their call.
    got = Recorder()
    assert ca.get(chid, callback=got)[0] == ca.ECA.NORMAL
    got.wait(ca, 1)
    done = Recorder()
    assert ca.put(chid, 1.25, callback=done) == ca.ECA.NORMAL
    done.wait(ca, 1)
    assert wait_until(ca, lambda: live() == with_channel, 2.0), (live(), with_channel)
    # A subscription holds one until cleared.
    status, evid = ca.create_subscription(chid, Recorder())
    assert live() > with_channel
    assert ca.clear_subscription(evid) == ca.ECA.NORMAL
    assert wait_until(ca, lambda: live() == with_channel, 2.0)
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert wait_until(ca, lambda: live() == before, 2.0), (live(), before)

