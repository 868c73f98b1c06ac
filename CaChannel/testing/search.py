"""A minimal Channel Access name search, to tell when PVs are really served.

:class:`~CaChannel.testing.SoftIoc` asks it whether its ``ready_pvs``
answer.  It is written against the protocol (16-byte big-endian headers)
rather than a client library, so that the test harness has no dependency
on a CA backend.
"""

from __future__ import annotations

import socket
import struct
import time

from .environ import LOOPBACK

_CA_PROTO_VERSION = 0
_CA_PROTO_SEARCH = 6
_CA_MINOR_VERSION = 13
_DONT_REPLY = 5  # answer only if the name is found
_HEADER = struct.Struct('!HHHHII')


def _search_datagram(names: list[str], first_cid: int) -> bytes:
    """One UDP datagram: a version message followed by one search per name."""
    parts = [_HEADER.pack(_CA_PROTO_VERSION, 0, 0, _CA_MINOR_VERSION, 0, 0)]
    for offset, name in enumerate(names):
        raw = name.encode() + b'\0'
        raw += b'\0' * (-len(raw) % 8)  # payloads are padded to 8 bytes
        cid = first_cid + offset
        parts.append(_HEADER.pack(_CA_PROTO_SEARCH, len(raw), _DONT_REPLY,
                                  _CA_MINOR_VERSION, cid, cid))
        parts.append(raw)
    return b''.join(parts)


def _found_cids(datagram: bytes) -> set[int]:
    """The client ids of the search replies in one datagram from a server."""
    found = set()
    pos = 0
    while pos + _HEADER.size <= len(datagram):
        command, size, _, _, _, cid = _HEADER.unpack_from(datagram, pos)
        if command == _CA_PROTO_SEARCH:
            found.add(cid)
        pos += _HEADER.size + size
    return found


def search_names(port: int, names: list[str], timeout: float) -> set[str]:
    """Search *names* at 127.0.0.1:*port*; return the names that answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(timeout)
        sock.sendto(_search_datagram(names, 1), (LOOPBACK, port))
        found: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(found) < len(names) and time.monotonic() < deadline:
            try:
                data, _ = sock.recvfrom(65536)
            except socket.timeout:
                break
            found.update(names[cid - 1] for cid in _found_cids(data)
                         if 1 <= cid <= len(names))
        return found


def tcp_accepts(port: int) -> bool:
    """True if something accepts a TCP connection on 127.0.0.1:*port*."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False
