"""Ports and environment variables that keep Channel Access on 127.0.0.1.

Channel Access uses one port number for TCP (circuits) and UDP (name
searches), so a port is handed out only when both are free.  Every client
and IOC of one process tree shares one repeater port, so they share one
repeater: libca starts ``caRepeater`` from ``PATH`` when none answers, and
:func:`start_repeater` runs ours there first, so that nothing is left
running when the tests end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

#: The only address tests and benchmarks may talk to.
LOOPBACK = '127.0.0.1'

# Ports handed out by free_port() in this process.  The kernel may offer a
# port again as soon as our probe sockets are closed, so without this two
# consecutive calls could return the same number before either is in use.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()

_repeater_port: int | None = None


def port_is_free(port: int) -> bool:
    """True if *port* on 127.0.0.1 can be bound for both TCP and UDP now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """Return a port number currently free for TCP *and* UDP on 127.0.0.1.

    The kernel picks a free TCP port; the same number is then checked for
    UDP.  A number is never returned twice by one process.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = tcp.getsockname()[1]
        with _handed_out_lock:
            if port in _handed_out or not port_is_free(port):
                continue
            _handed_out.add(port)
        return port
    raise RuntimeError('no port free for both TCP and UDP on 127.0.0.1')


def _in_loopback_environ() -> bool:
    return (os.environ.get('EPICS_CA_AUTO_ADDR_LIST', '').upper() == 'NO'
            and os.environ.get('EPICS_CA_ADDR_LIST', '').split()[:1] == [LOOPBACK]
            and os.environ.get('EPICS_CA_REPEATER_PORT', '').isdigit())


def shared_repeater_port() -> int:
    """The CA repeater port of this process's loopback environment."""
    global _repeater_port
    with _handed_out_lock:
        if _repeater_port is None and _in_loopback_environ():
            _repeater_port = int(os.environ['EPICS_CA_REPEATER_PORT'])
    if _repeater_port is None:
        port = free_port()
        with _handed_out_lock:
            if _repeater_port is None:
                _repeater_port = port
    return _repeater_port


def wait_until_bound(port: int, proc: subprocess.Popen[Any], timeout: float) -> bool:
    """Wait until *port* on 127.0.0.1 is taken (by *proc*, presumably).

    Returns True once it is; False if *proc* exits or *timeout* seconds
    pass first.
    """
    deadline = time.monotonic() + timeout
    while port_is_free(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start_repeater(port: int, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Run our ``caRepeater`` on *port* and return once it listens.

    With a repeater already answering, no client or IOC of the session
    starts one of its own that would outlive the session; the caller stops
    this one (:func:`~CaChannel.testing.stop_process`).
    """
    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(port))
    proc = subprocess.Popen([sys.executable, '-m', 'CaChannel.repeater'], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not wait_until_bound(port, proc, timeout):
        proc.kill()
        proc.wait()
        raise RuntimeError('caRepeater did not start on port %d' % port)
    return proc


def loopback_environ(server_port: int, repeater_port: int | None = None) -> dict[str, str]:
    """Return the environment that keeps CA and pvAccess on the loopback.

    :param server_port: CA server port (``EPICS_CA_SERVER_PORT``), for the
        IOC and for the clients that search it.
    :param repeater_port: CA repeater port; if None, the one of the loopback
        environment this process already runs in, else a free one picked
        once per process (:func:`shared_repeater_port`).

    The pvAccess ports are always picked fresh: :class:`SoftIoc` serves CA
    only, but ``python -m epicscorelibs.ioc`` or another IOC started with
    this environment serves pvAccess too, and a private port keeps it from
    colliding with any other one on this host.
    """
    if repeater_port is None:
        repeater_port = shared_repeater_port()
    pva_server_port = free_port()
    pva_broadcast_port = free_port()
    return {
        # Clients: search only 127.0.0.1, never the broadcast addresses of
        # the interfaces, and no TCP name servers from the user's setup.
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': LOOPBACK,
        'EPICS_CA_NAME_SERVERS': '',
        'EPICS_CA_SERVER_PORT': str(server_port),
        'EPICS_CA_REPEATER_PORT': str(repeater_port),
        # Servers: bind to 127.0.0.1 only and send beacons only there.
        # EPICS_CAS_SERVER_PORT would override EPICS_CA_SERVER_PORT in the
        # IOC if the user's environment had it, so pin it to the same value.
        'EPICS_CAS_INTF_ADDR_LIST': LOOPBACK,
        'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
        'EPICS_CAS_BEACON_ADDR_LIST': LOOPBACK,
        'EPICS_CAS_SERVER_PORT': str(server_port),
        # The same for pvAccess, client and server side.
        'EPICS_PVA_AUTO_ADDR_LIST': 'NO',
        'EPICS_PVA_ADDR_LIST': LOOPBACK,
        'EPICS_PVA_NAME_SERVERS': '',
        'EPICS_PVA_SERVER_PORT': str(pva_server_port),
        'EPICS_PVA_BROADCAST_PORT': str(pva_broadcast_port),
        'EPICS_PVAS_INTF_ADDR_LIST': LOOPBACK,
        'EPICS_PVAS_AUTO_BEACON_ADDR_LIST': 'NO',
        'EPICS_PVAS_BEACON_ADDR_LIST': LOOPBACK,
        'EPICS_PVAS_SERVER_PORT': str(pva_server_port),
        'EPICS_PVAS_BROADCAST_PORT': str(pva_broadcast_port),
    }


def apply_loopback_environ(env: Mapping[str, str]) -> None:
    """Put *env* (from :func:`loopback_environ`) into :data:`os.environ`.

    libca reads these variables when the first CA context of the process is
    created, so call this before anything creates one.
    """
    os.environ.update({str(k): str(v) for k, v in env.items()})
