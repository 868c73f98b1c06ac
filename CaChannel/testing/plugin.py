"""The pytest plugin: the ``softioc`` marker and fixture for users' tests.

Installed as the ``pytest11`` entry point ``cachannel``, so pytest loads
this module at start-up; defining the fixtures costs nothing until a test
asks for ``softioc``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from .environ import LOOPBACK, free_port
from .ioc import SoftIoc, SoftIocHandle

_prefix_serial = 0
_prefix_lock = threading.Lock()


def _next_prefix() -> str:
    global _prefix_serial
    with _prefix_lock:
        _prefix_serial += 1
        return 'pytest%d-%d:' % (os.getpid(), _prefix_serial)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        'markers',
        'softioc(database, macros="", prefix=None): the database (file path or '
        'record text) the softioc fixture of CaChannel.testing serves')


def _marker_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker('softioc')
    if marker is None:
        return {}
    settings = dict(marker.kwargs)
    if marker.args:
        settings['database'] = marker.args[0]
    return settings


@pytest.fixture
def softioc_database(request: pytest.FixtureRequest) -> str | os.PathLike[str]:
    """The database of the ``softioc`` fixture: the ``softioc`` marker's
    first argument.  Override this fixture (e.g. in a conftest.py) to give
    one database to many tests."""
    database = _marker_settings(request).get('database')
    if database is None:
        raise pytest.UsageError(
            'the softioc fixture needs a database: mark the test with '
            '@pytest.mark.softioc("record(...) {...}") or a .db path, or '
            'override the softioc_database fixture')
    return database


@pytest.fixture
def softioc(request: pytest.FixtureRequest,
            softioc_database: str | os.PathLike[str]) -> Iterator[SoftIocHandle]:
    """A softIoc serving :func:`softioc_database` on a free loopback port.

    The database is loaded with the macro ``P`` set to a prefix unique in
    the test session (so write record names as ``$(P)name``), plus the
    marker's *macros*.  While the test runs, ``127.0.0.1:<port>`` is added
    to :data:`os.environ`'s ``EPICS_CA_ADDR_LIST``, so CA contexts created
    during the test (and subprocesses) find the IOC; the variable is
    restored and the IOC stopped afterwards.
    """
    settings = _marker_settings(request)
    prefix = settings.get('prefix') or _next_prefix()
    macros = ','.join(m for m in ('P=' + prefix, settings.get('macros', '')) if m)
    saved = os.environ.get('EPICS_CA_ADDR_LIST')
    with SoftIoc(softioc_database, macros=macros,
                 env={'EPICS_CA_SERVER_PORT': str(free_port())}) as ioc:
        addresses = (saved or '').split()
        addresses.append('%s:%d' % (LOOPBACK, ioc.port))
        os.environ['EPICS_CA_ADDR_LIST'] = ' '.join(addresses)
        try:
            yield SoftIocHandle(ioc, prefix)
        finally:
            if saved is None:
                os.environ.pop('EPICS_CA_ADDR_LIST', None)
            else:
                os.environ['EPICS_CA_ADDR_LIST'] = saved
