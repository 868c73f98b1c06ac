"""A misbehaving Channel Access server, for the robustness tests of the client.

Run as ``python tests/helpers/bad_server.py PORT`` (the tests start it through
:class:`BadServer`).  It listens on 127.0.0.1 only (``--interfaces`` and
``EPICS_CAS_INTF_ADDR_LIST``), sends its beacons to 127.0.0.1 only, and
serves, with caproto:

``bad:str40``
    a DBF_STRING whose value is 40 bytes without a terminating 0, in every
    DBR type (plain, STS, TIME...).
``bad:enum``
    a DBF_ENUM whose GR/CTRL metadata claim 20 states (the structure holds
    16) and fill every 26-byte state string without a terminator; read as
    DBR_STRING it is 40 unterminated bytes as well.
``bad:fewer`` / ``bad:more``
    10-element DOUBLE arrays answering every read with a different count
    than asked: half of it, or 5 more (also beyond the native count).
``bad:huge``
    3,000,000 doubles (24 MB): above the client's EPICS_CA_MAX_ARRAY_BYTES
    in the tests.
``bad:alarm``
    a DOUBLE of 4.5 whose alarm status and severity are numbers that name
    no condition and no severity (ODD_ALARM): a real IOC sends none such.
``acc:ro``
    a DOUBLE whose access rights deny write.
``acc:noput``
    a DOUBLE whose puts are refused by the server (the put fails).
``acc:ok``
    a well-behaved DOUBLE, to show the circuit still works.

With ``--linger SECONDS`` (``BadServer(linger=...)``) it keeps each circuit
open that long after its client has shut down its side, as a busy IOC can,
while it goes on answering searches: the window in which libca installs a
newly found channel on a circuit that is closing.
"""

from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

STRING_TYPES_TEXT = b'A' * 40          # a full DBR_STRING field, no NUL
ENUM_CLAIMED_STATES = 20
ENUM_STATE = b'S' * 26                 # a full enum state field, no NUL
HUGE_COUNT = 3_000_000
ODD_ALARM = (99, 9)                    # (status, severity) beyond alarm.h's tables


class Raw(bytes):
    """A payload sent exactly as built: caproto trims a reply to the count
    asked for by slicing it, which would cut raw bytes, not elements."""

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, slice):
            return self
        return bytes.__getitem__(self, key)


def _serve(port: int, linger: Optional[float]) -> None:
    import numpy
    from caproto import AccessRights, ChannelType
    from caproto import ChannelAlarm, ChannelDouble, ChannelEnum, ChannelString
    from caproto.asyncio.server import run

    class String40(ChannelString):
        async def _read(self, data_type):
            metadata, _ = await super()._read(data_type)
            return metadata, Raw(STRING_TYPES_TEXT)

        def calculate_length(self, value):
            return 1

    class BadEnum(ChannelEnum):
        async def _read(self, data_type):
            metadata, values = await super()._read(data_type)
            if data_type in (ChannelType.GR_ENUM, ChannelType.CTRL_ENUM):
                # status, severity, no_str, then 16 state strings of 26 bytes
                header = struct.pack('>hhh', 0, 0, ENUM_CLAIMED_STATES)
                return Raw(header + ENUM_STATE * 16), Raw(struct.pack('>H', 1))
            if ChannelType(data_type).name.endswith('STRING'):
                return metadata, Raw(STRING_TYPES_TEXT)
            return metadata, values

    class Fewer(ChannelDouble):
        def calculate_length(self, value):
            # the data were trimmed to the count asked; send half of them
            return max(1, len(value) // 2)

    class ReadOnly(ChannelDouble):
        def check_access(self, hostname, username):
            return AccessRights.READ

    class NoPut(ChannelDouble):
        async def verify_value(self, value):
            raise RuntimeError('puts are disabled on this PV')

    more_values = numpy.arange(15, dtype=float)
    pvdb = {
        'bad:str40': String40(value='x'),
        'bad:enum': BadEnum(value='one', enum_strings=['zero', 'one', 'two']),
        'bad:fewer': Fewer(value=list(numpy.arange(10, dtype=float)), max_length=10),
        'bad:more': ChannelDouble(value=list(numpy.arange(10, dtype=float))),
        'bad:huge': ChannelDouble(value=numpy.zeros(HUGE_COUNT)),
        'bad:alarm': ChannelDouble(value=4.5, alarm=ChannelAlarm(status=ODD_ALARM[0],
                                                                 severity=ODD_ALARM[1])),
        'acc:ro': ReadOnly(value=1.5),
        'acc:noput': NoPut(value=2.5),
        'acc:ok': ChannelDouble(value=3.5),
    }
    # bad:more sends 15 elements whatever is asked: more than asked, more
    # than its 10 native ones; its payload holds all 15 (no over-read).
    more = pvdb['bad:more']

    async def more_read(data_type, _orig=more._read):
        metadata, _ = await _orig(data_type)
        if ChannelType(data_type).name.endswith('STRING'):
            return metadata, Raw(b'1' + b'\0' * 39)
        return metadata, Raw(numpy.asarray(more_values, '>f8').tobytes())

    more._read = more_read
    more.calculate_length = lambda value: 15
    print('bad server ready', flush=True)
    if linger is None:
        run(pvdb, interfaces=['127.0.0.1'])
    else:
        asyncio.run(_serve_lingering(pvdb, linger))


async def _serve_lingering(pvdb: dict, linger: float) -> None:
    from caproto.asyncio.server import Context, VirtualCircuit

    class Lingering(VirtualCircuit):
        async def _on_disconnect(self):
            await asyncio.sleep(linger)
            await super()._on_disconnect()

    class LingeringContext(Context):
        CircuitClass = Lingering

    # Made in the running loop: caproto's queues must be.
    await LingeringContext(pvdb, ['127.0.0.1']).run()


class BadServer:
    """Starts this server on a free loopback port and stops it again."""

    def __init__(self, linger: Optional[float] = None) -> None:
        from CaChannel.testing import free_port, loopback_environ
        self.port = free_port()
        self.linger = linger
        self.environ: Dict[str, str] = loopback_environ(self.port)
        self.environ['EPICS_CA_REPEATER_PORT'] = os.environ.get(
            'EPICS_CA_REPEATER_PORT', self.environ['EPICS_CA_REPEATER_PORT'])
        self.proc: Optional[subprocess.Popen] = None
        self.log = b''

    def start(self, timeout: float = 30.0) -> 'BadServer':
        env = dict(os.environ)
        env.update(self.environ)
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.port)]
            + ([] if self.linger is None else ['--linger', str(self.linger)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        import socket
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('bad server exited: ' + self.proc.stdout.read().decode())
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'bad server not listening on {self.port} after {timeout} s')

    def stop(self) -> None:
        from CaChannel.testing import stop_process
        if self.proc is not None:
            stop_process(self.proc)
        if self.proc is not None and self.proc.stdout is not None:
            self.log = self.proc.stdout.read()
            self.proc.stdout.close()
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()

    def __enter__(self) -> 'BadServer':
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == '__main__':
    # Loopback only, whatever the caller's environment says.
    os.environ['EPICS_CAS_INTF_ADDR_LIST'] = '127.0.0.1'
    os.environ['EPICS_CAS_AUTO_BEACON_ADDR_LIST'] = 'NO'
    os.environ['EPICS_CAS_BEACON_ADDR_LIST'] = '127.0.0.1'
    os.environ['EPICS_CA_SERVER_PORT'] = os.environ['EPICS_CAS_SERVER_PORT'] = sys.argv[1]
    _serve(int(sys.argv[1]), float(sys.argv[3]) if sys.argv[2:3] == ['--linger'] else None)
