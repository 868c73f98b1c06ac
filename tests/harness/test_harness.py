"""Self-test of CaChannel.testing, independent of our own ca module.

The session IOC and a second one are checked with caproto's pure-Python
synchronous client, so a broken backend cannot hide a broken harness (or the
other way round).
"""

from __future__ import annotations

import os
import socket
import sys

import pytest
from caproto.sync.client import read, write

from CaChannel.testing import (
    LOOPBACK, SoftIoc, SoftIocError, apply_loopback_environ, free_port, loopback_environ)

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
    with pytest.raises(RuntimeError, match='NOSUCHFIELD') as raised:
        broken.start()
    assert not broken.running
    assert broken.process.poll() is not None
    # Besides the whole output, one line saying what the parser refused.
    assert isinstance(raised.value, SoftIocError)
    assert 'NOSUCHFIELD' in raised.value.reason and '\n' not in raised.value.reason


def inet_sockets(pid: int) -> list:
    """(protocol, local address, local port) of every IPv4 socket of *pid*
    (what ``ss -uatnp`` shows for it)."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue  # closed meanwhile
        if target.startswith('socket:['):
            inodes.add(target[len('socket:['):-1])
    found = []
    for protocol in ('udp', 'tcp'):
        with open('/proc/%d/net/%s' % (pid, protocol)) as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[9] in inodes:
                    address, port = fields[1].split(':')
                    # The kernel prints the address in host byte order.
                    packed = int(address, 16).to_bytes(4, sys.byteorder)
                    found.append((protocol, socket.inet_ntoa(packed), int(port, 16)))
    return found


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_ioc_serves_channel_access_only_on_loopback(ioc):
    """No pvAccess server: its UDP sockets bound every interface's address,
    its broadcast address and a multicast group."""
    sockets = inet_sockets(ioc.pid)
    assert ('tcp', LOOPBACK, ioc.port) in sockets and ('udp', LOOPBACK, ioc.port) in sockets
    assert {address for _, address, _ in sockets} <= {LOOPBACK, '0.0.0.0'}, sockets
    pva_ports = {int(ioc.environ[key]) for key in ioc.environ if key.startswith('EPICS_PVA')
                 and key.endswith('_PORT')}
    # A pvAccess server would listen on loopback (its interface list) on its
    # ports; the wildcard sockets below take ephemeral ports, which may
    # happen to be the number the environment names for pvAccess.
    assert pva_ports, ioc.environ
    assert not pva_ports & {port for _, address, port in sockets if address == LOOPBACK}, sockets
    # Wildcard sockets are the IOC's own CA client (links between records)
    # and its beacon sender, on ports of their own: nothing listens on a
    # known port from other interfaces.
    wildcard = [(protocol, port) for protocol, address, port in sockets if address == '0.0.0.0']
    assert all(protocol == 'udp' for protocol, _ in wildcard), sockets
    known = {ioc.port, int(ioc.environ['EPICS_CA_REPEATER_PORT'])}
    assert not known & {port for _, port in wildcard}, sockets


def test_port_served_already_is_refused(ioc):
    """rsrv would serve TCP elsewhere and answer searches on the shared UDP
    port: two IOCs behind one address, and a port reported that is not the
    IOC's."""
    second = SoftIoc(SECOND_DB, macros='P=harness:',
                     env={'EPICS_CA_SERVER_PORT': str(ioc.port)})
    with pytest.raises(SoftIocError, match='port %d of 127.0.0.1 is served already' % ioc.port):
        second.start()
    assert not second.running
    assert ioc.running and _accepts(ioc.port)


def test_port_taken_without_a_listener_is_refused():
    """A port bound by something that accepts no connection yet: rsrv moves
    to another TCP port and says so; the harness refuses it."""
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, port))
        second = SoftIoc(SECOND_DB, macros='P=harness:', env={'EPICS_CA_SERVER_PORT': str(port)})
        with pytest.raises(SoftIocError, match='port %d of 127.0.0.1 is served already' % port):
            second.start()
        assert not second.running
        assert second.process.poll() is not None


def test_port_epics_would_replace_is_refused():
    """libCom serves on 5064 instead of a port at or below 5000."""
    low = SoftIoc(SECOND_DB, macros='P=harness:', env={'EPICS_CA_SERVER_PORT': '4000'})
    with pytest.raises(SoftIocError, match='port 4000 is not one EPICS serves on'):
        low.start()
    assert low.process is None


def test_apply_loopback_environ(monkeypatch):
    env = loopback_environ(free_port())
    for key in env:
        monkeypatch.delenv(key, raising=False)
    apply_loopback_environ(env)
    assert all(os.environ[key] == value for key, value in env.items())
