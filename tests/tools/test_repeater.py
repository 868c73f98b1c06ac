"""The caRepeater console script runs libca's CA repeater.

The repeater gets a private port from CaChannel.testing.free_port() (never
the default 5065), is checked with the protocol's own handshake on
127.0.0.1 (REPEATER_REGISTER answered by REPEATER_CONFIRM), and is
terminated by its pid at the end of each test.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from CaChannel.testing import (LOOPBACK, free_port, loopback_environ, stop_process,
                               wait_until_bound)

_HEADER = struct.Struct('!HHHHII')
_REPEATER_CONFIRM = 17
_REPEATER_REGISTER = 24

SCRIPT = Path(sys.executable).parent / 'caRepeater'


def repeater_command() -> List[str]:
    if SCRIPT.exists():
        return [str(SCRIPT)]
    return [sys.executable, '-m', 'CaChannel.repeater']


@pytest.fixture
def repeater(backend: str) -> Iterator[int]:
    port = free_port()
    env = dict(os.environ)
    env.update(loopback_environ(free_port(), port))
    env['CACHANNEL_BACKEND'] = backend
    proc = subprocess.Popen(repeater_command(), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        bound = wait_until_bound(port, proc, timeout=15)
        assert proc.poll() is None, proc.stdout.read().decode()
        assert bound, 'caRepeater never bound its port'
        yield port
    finally:
        stop_process(proc)


def test_repeater_confirms_registration(repeater: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(5)
        address = struct.unpack('!I', socket.inet_aton(LOOPBACK))[0]
        sock.sendto(_HEADER.pack(_REPEATER_REGISTER, 0, 0, 0, 0, address), (LOOPBACK, repeater))
        reply, sender = sock.recvfrom(1024)
    command, _, _, _, _, confirmed = _HEADER.unpack_from(reply)
    assert command == _REPEATER_CONFIRM
    assert confirmed == address
    assert sender[0] == LOOPBACK


def test_client_with_a_repeater_prints_no_warning(repeater: int) -> None:
    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(repeater))
    result = subprocess.run([sys.executable, '-m', 'CaChannel', 'caget', '-t', 'catest'],
                            capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert 'repeater' not in result.stderr.lower()


def test_libca_path_names_an_existing_library() -> None:
    from CaChannel import repeater
    assert os.path.isfile(repeater.libca_path())


def test_help_and_bad_arguments() -> None:
    shown = subprocess.run(repeater_command() + ['-h'], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and 'EPICS_CA_REPEATER_PORT' in shown.stdout
    bad = subprocess.run(repeater_command() + ['x'], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
