"""Shared fixtures of the CaChannel test suite.

Network rule (DEVELOPERS.md): everything runs on 127.0.0.1 with private
ports.  pytest_configure puts the loopback environment into os.environ before
any test module is imported, because libca reads it once, when the first CA
context of the process is created.

Fixtures:

* ``ioc`` (session, autouse): the softIoc serving ``tests/ioc/catest.db`` on
  the ports in os.environ.  Its output is shown at the end of a failed run.
* ``ca_backend`` (parametrized 'c', 'caffi'): the full ``ca`` namespace of
  one backend, from ``CaChannel.ca.load_backend(name)``.
* ``object_layer``: the same, with the object layer set to use it through
  ``CACHANNEL_BACKEND``, as users select a backend.
* ``ca_module``: ``CaChannel.ca`` itself, with the backend it selected.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Tuple

import pytest

from CaChannel.testing import (SoftIoc, apply_loopback_environ, free_port, loopback_environ,
                               start_repeater, stop_process)

CATEST_DB = Path(__file__).parent / 'ioc' / 'catest.db'

BACKENDS = ['c', 'caffi']

# Where the session IOC's output is kept for pytest_terminal_summary.
_ioc_log_key = pytest.StashKey[str]()
_repeater_key = pytest.StashKey[subprocess.Popen[bytes]]()


def pytest_configure(config: pytest.Config) -> None:
    # One set of ports for the whole session: the test process's CA client
    # and the session IOC must agree on them.
    env = loopback_environ(free_port())
    apply_loopback_environ(env)
    config.stash[_ioc_log_key] = ''
    # Our own repeater first, on the session's port: otherwise the first IOC
    # or client would start caRepeater from PATH and leave it running.
    config.stash[_repeater_key] = start_repeater(int(env['EPICS_CA_REPEATER_PORT']))


def pytest_unconfigure(config: pytest.Config) -> None:
    repeater = config.stash.get(_repeater_key, None)
    if repeater is not None:
        stop_process(repeater)


@pytest.fixture(scope='session', autouse=True)
def ioc(request: pytest.FixtureRequest) -> Iterator[SoftIoc]:
    """The session's softIoc serving catest.db at EPICS_CA_SERVER_PORT.

    autouse so every test may assume the documentation PVs exist; it starts
    once (well under a second) per session.
    """
    ports = {key: os.environ[key] for key in os.environ
             if key.startswith('EPICS_') and key.endswith('_PORT')}
    softioc = SoftIoc(CATEST_DB, env=ports, ready_pvs=['catest'])
    softioc.start()
    try:
        yield softioc
    finally:
        softioc.stop()
        request.config.stash[_ioc_log_key] = softioc.log_text()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    # Session fixtures are torn down before the summary, so the log is
    # complete here; show it only when something went wrong.
    log = config.stash.get(_ioc_log_key, '')
    if log and exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        terminalreporter.write_sep('-', 'softIoc output (catest.db)')
        terminalreporter.write_line(log)


@pytest.fixture(params=BACKENDS)
def ca_backend(request: pytest.FixtureRequest) -> ModuleType:
    """The complete ``ca`` namespace of one backend ('c' or 'caffi')."""
    from CaChannel import ca

    try:
        backend = ca.load_backend(request.param)
    except ImportError as exc:
        # Only a backend that cannot be imported (not built yet, libca not
        # found) is skipped on a developer's machine; CI must test both, so
        # there it fails instead of passing with half the suite skipped.
        if os.environ.get('CI'):
            pytest.fail(f'backend {request.param!r} not available in CI: {exc}')
        pytest.skip(f'backend {request.param!r} not available: {exc}')
    keep_circuit_open(backend)
    return backend


#: backend name -> (the main thread's context, a channel to the session IOC)
_circuit_keepers: Dict[str, Tuple[Any, Any]] = {}


def keep_circuit_open(backend: ModuleType) -> None:
    """Keep one channel to the session IOC in the main thread's context.

    libca closes a circuit when its last channel is cleared.  A search reply
    that arrives while it closes installs the new channel on the closing
    circuit (``cac::findOrCreateVirtCircuit`` hands back a circuit that is no
    longer alive), which then reports "Virtual circuit disconnect", and libca's
    disconnect governor delays the channel's next search by seconds.  Tests
    clear their channels one after another, so about one run in two lost a
    connection that way; with a channel held here the circuit never closes.
    No context is made here: the first test of the main thread makes it.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    context = backend.current_context()
    if context is None:
        return
    held = _circuit_keepers.get(backend.backend)
    if held is not None and held[0] == context:
        return
    from ca_helpers import connect

    _circuit_keepers[backend.backend] = (context, connect(backend, 'catest'))


@pytest.fixture
def object_layer(ca_backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The object layer (CaChannel, epicsPV, util) on *ca_backend*, chosen
    the way users choose it: ``CACHANNEL_BACKEND``."""
    monkeypatch.setenv('CACHANNEL_BACKEND', ca_backend.backend)
    return ca_backend


@pytest.fixture
def ca_module() -> ModuleType:
    """``CaChannel.ca`` as users import it, with the selected backend."""
    from CaChannel import ca

    return ca
