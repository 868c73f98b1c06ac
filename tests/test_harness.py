"""Self-test of CaChannel.testing, independent of our own ca module.

The session IOC and a second one are checked with caproto's pure-Python
synchronous client, so a broken backend cannot hide a broken harness (or the
other way round).
"""

from __future__ import annotations

import os
import socket

import pytest
from caproto.sync.client import read, write

from CaChannel.testing import (
    LOOPBACK, SoftIoc, apply_loopback_environ, free_port, loopback_environ)

# Records of the second IOC; the macro prefix keeps the names apart from the
# session IOC's, which shares the loopback address list.
SECOND_DB = '''
record(ao, "$(P)value") {
    field(VAL, "42.5")
    field(PINI, "YES")
}
record(stringout, "$(P)text") {
    field(VAL, "from text")
    field(PINI, "YES")
}
'''


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


def _caread(name: str, **kwargs):
    # repeater=False: caproto would otherwise spawn a caproto-repeater
    # process that outlives the test run.
    return read(name, repeater=False, timeout=2.0, **kwargs)


def test_free_port_is_free_for_tcp_and_udp():
    ports = {free_port() for _ in range(5)}
    assert len(ports) == 5  # never the same number twice
    for port in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind((LOOPBACK, port))


def test_loopback_environ_only_loopback():
    env = loopback_environ(5064)
    assert env['EPICS_CA_SERVER_PORT'] == '5064'
    assert int(env['EPICS_CA_REPEATER_PORT']) not in (0, 5064)
    for key in ('EPICS_CA_AUTO_ADDR_LIST', 'EPICS_CAS_AUTO_BEACON_ADDR_LIST',
                'EPICS_PVA_AUTO_ADDR_LIST', 'EPICS_PVAS_AUTO_BEACON_ADDR_LIST'):
        assert env[key] == 'NO'
    for key in ('EPICS_CA_ADDR_LIST', 'EPICS_CAS_INTF_ADDR_LIST',
                'EPICS_CAS_BEACON_ADDR_LIST', 'EPICS_PVA_ADDR_LIST',
                'EPICS_PVAS_INTF_ADDR_LIST', 'EPICS_PVAS_BEACON_ADDR_LIST'):
        assert env[key] == '127.0.0.1'
    for key in ('EPICS_PVA_SERVER_PORT', 'EPICS_PVA_BROADCAST_PORT',
                'EPICS_PVAS_SERVER_PORT', 'EPICS_PVAS_BROADCAST_PORT'):
        assert int(env[key]) > 0
    assert loopback_environ(6000, 6001)['EPICS_CA_REPEATER_PORT'] == '6001'


def test_process_environ_is_loopback():
    # conftest applied it before any test could create a CA context.
    assert os.environ['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    # Test modules may add servers of their own (the motor simulator), each
    # on 127.0.0.1 with its own port.
    entries = os.environ['EPICS_CA_ADDR_LIST'].split()
    assert entries and entries[0] == '127.0.0.1'
    assert all(e.split(':')[0] == '127.0.0.1' for e in entries), entries


def test_session_ioc_is_ready(ioc):
    assert ioc.running
    assert ioc.port == int(os.environ['EPICS_CA_SERVER_PORT'])
    assert ioc.environ['EPICS_CA_SERVER_PORT'] == str(ioc.port)
    assert 'IOC Running' in ioc.log_text()
    assert _accepts(ioc.port)


def test_caproto_reads_session_ioc(ioc):
    response = _caread('catest', data_type='control')
    meta = response.metadata
    assert response.data_count == 1
    assert meta.units == b'mm'
    assert meta.precision == 4
    assert (meta.lower_disp_limit, meta.upper_disp_limit) == (-20.0, 20.0)
    assert (meta.lower_alarm_limit, meta.lower_warning_limit,
            meta.upper_warning_limit, meta.upper_alarm_limit) == (-20.0, -10.0, 10.0, 20.0)
    assert (meta.lower_ctrl_limit, meta.upper_ctrl_limit) == (0.0, 0.0)

    # Round trip a value, then put the old one back for the other tests.
    old = float(response.data[0])
    try:
        write('catest', [12.5], notify=True, repeater=False, timeout=2.0)
        assert float(_caread('catest').data[0]) == 12.5
    finally:
        write('catest', [old], notify=True, repeater=False, timeout=2.0)

    enum = _caread('cabo', data_type='control')
    assert tuple(enum.metadata.enum_strings) == (b'Done', b'Busy')


def test_second_ioc_from_text(ioc, monkeypatch):
    second = SoftIoc(SECOND_DB, macros='P=harness:',
                     ready_pvs=['harness:value', 'harness:text'])
    with second:
        assert second.running
        assert second.port != ioc.port
        assert _accepts(second.port)
        # caproto reads the environment at call time: point it at the
        # second IOC only.
        monkeypatch.setenv('EPICS_CA_SERVER_PORT', str(second.port))
        assert float(_caread('harness:value').data[0]) == 42.5
        assert _caread('harness:text').data == [b'from text']
        process = second.process
        pid = second.pid
    # The with block stopped it: the process is gone, its port closed.
    assert not second.running
    assert process.returncode == 0  # it exited by itself when stdin closed
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not _accepts(second.port)
    assert 'IOC Running' in second.log_text()  # the log outlives the IOC
    assert second.stop() == 0  # idempotent


def test_broken_database_raises_with_log():
    broken = SoftIoc('record(ao, "harness:broken") { field(NOSUCHFIELD, "1") }\n',
                     start_timeout=20.0)
    with pytest.raises(RuntimeError, match='NOSUCHFIELD'):
        broken.start()
    assert not broken.running
    assert broken.process.poll() is not None


def test_apply_loopback_environ(monkeypatch):
    env = loopback_environ(free_port())
    for key in env:
        monkeypatch.delenv(key, raising=False)
    apply_loopback_environ(env)
    assert all(os.environ[key] == value for key, value in env.items())
