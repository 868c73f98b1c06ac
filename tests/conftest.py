"""Shared fixtures of the CaChannel test suite.

Network rule (DEVELOPERS.md): everything runs on 127.0.0.1 with private
ports.  pytest_configure puts the loopback environment into os.environ before
any test module is imported, because libca reads it once, when the first CA
context of the process is created.

Layout: one folder a concern (``ca_api/``, ``backends/``, ``objects/``,
``aio/``, ``tools/``, ``reliability/``, ``docs/``, ``harness/``), with no
``__init__.py``: pytest imports each test module by its basename, with its
folder put on ``sys.path`` ("prepend" import mode), so basenames are unique
across folders.  This file's folder goes first on ``sys.path`` the same way,
which is how every test and this file import the ``helpers`` package
(``tests/helpers/``, see its docstring).  ``tests/scripts/`` holds the
scripts that tests run as subprocesses.

Choosing a backend: one way.  A test that runs on each backend takes the
``backend`` fixture (the name, 'c' or 'caffi'; ids ``[c]`` and ``[caffi]``)
or a fixture built on it:

* ``backend``: the name only, for tests that hand it to a subprocess
  (``CACHANNEL_BACKEND``) or load the backend themselves;
* ``ca_backend``: the full ``ca`` namespace of that backend, from
  ``CaChannel.ca.load_backend(backend)``, skipped on a developer's machine
  where it cannot be loaded (failed in CI);
* ``object_layer``: the same, with the object layer (CaChannel, epicsPV,
  util) set to use it through ``CACHANNEL_BACKEND``, as users choose.

A test never parametrizes over backend names itself; ``helpers.BACKENDS``
lists them for module fixtures that start something per backend up front.

Other fixtures:

* ``ioc`` (session, autouse): the softIoc serving ``tests/ioc/catest.db`` on
  the ports in os.environ.  Its output is shown at the end of a failed run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Dict, Tuple

import pytest

from CaChannel.testing import (SoftIoc, apply_loopback_environ, free_port, loopback_environ,
                               start_repeater, stop_process)
from helpers import BACKENDS, TESTS

CATEST_DB = TESTS / 'ioc' / 'catest.db'

# Where the session IOC's output is kept for pytest_terminal_summary.
_ioc_log_key = pytest.StashKey[str]()
_repeater_key = pytest.StashKey[subprocess.Popen[bytes]]()


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a shell without job control
    # (`cmd &`, nohup) inherits SIGINT ignored, and so would every process
    # it starts: the tests that send Ctrl-C to a script or a console tool
    # would wait in vain.  A handler here is reset to the default on exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
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
def backend(request: pytest.FixtureRequest) -> str:
    """The name of one backend, 'c' or 'caffi': the one way tests choose."""
    return request.param


@pytest.fixture
def ca_backend(backend: str) -> ModuleType:
    """The complete ``ca`` namespace of *backend*."""
    from CaChannel import ca

    try:
        module = ca.load_backend(backend)
    except ImportError as exc:
        # Only a backend that cannot be imported (not built yet, libca not
        # found) is skipped on a developer's machine; CI must test both, so
        # there it fails instead of passing with half the suite skipped.
        if os.environ.get('CI'):
            pytest.fail(f'backend {backend!r} not available in CI: {exc}')
        pytest.skip(f'backend {backend!r} not available: {exc}')
    keep_circuit_open(module)
    return module


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
    from helpers.ca_helpers import connect

    _circuit_keepers[backend.backend] = (context, connect(backend, 'catest'))


@pytest.fixture
def object_layer(ca_backend: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The object layer (CaChannel, epicsPV, util) on *ca_backend*, chosen
    the way users choose it: ``CACHANNEL_BACKEND``."""
    monkeypatch.setenv('CACHANNEL_BACKEND', ca_backend.backend)
    return ca_backend
