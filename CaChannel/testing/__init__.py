"""Loopback-only Channel Access environment and a softIoc launcher for tests.

Every test and benchmark of CaChannel talks to a real IOC, and the machines
they run on must never send Channel Access (or pvAccess) traffic beyond the
loopback interface.  This package is the one place that knows how to
arrange both, one module a job:

* :mod:`~CaChannel.testing.environ`: :func:`free_port` picks a port number
  free for both TCP and UDP on 127.0.0.1 (CA uses one number for both);
  :func:`loopback_environ` returns the ``EPICS_CA*``/``EPICS_PVA*``
  variables that confine clients and servers to 127.0.0.1 and to private
  ports, and :func:`apply_loopback_environ` puts them into
  :data:`os.environ` (libca reads them when its first context is created,
  so do that before any CA call); :func:`start_repeater` runs the shared
  repeater.
* :mod:`~CaChannel.testing.search`: a raw CA name search, to tell when an
  IOC really serves its PVs.
* :mod:`~CaChannel.testing.ioc`: :class:`SoftIoc` runs the softIoc of the
  epicscorelibs wheel (a real IOC, Channel Access only) in a subprocess with
  that environment, waits until it serves Channel Access and stops it
  again, refusing a port another server holds (:class:`SoftIocError`);
  :func:`softioc_fixture` makes a pytest fixture of a database.
* :mod:`~CaChannel.testing.plugin`: the pytest plugin (the ``softioc``
  marker and fixture), loaded by pytest through its entry point.
* :mod:`~CaChannel.testing.process`: :func:`stop_process`, terminate, wait,
  then kill.

Typical use in a ``conftest.py``::

    from CaChannel.testing import SoftIoc, apply_loopback_environ, free_port, loopback_environ

    def pytest_configure(config):
        apply_loopback_environ(loopback_environ(free_port()))

    @pytest.fixture(scope='session')
    def ioc():
        with SoftIoc('tests/ioc/catest.db', env=os.environ) as ioc:   # the ports above
            yield ioc

or simply ``ioc = softioc_fixture('tests/ioc/catest.db')``.

The package deliberately imports neither :mod:`CaChannel.ca` nor any
backend, nor pytest outside the plugin: it has to work before the C
extension is built, and it is what the backend tests themselves stand on.
"""

from .environ import (LOOPBACK, apply_loopback_environ, free_port, loopback_environ,
                      port_is_free, shared_repeater_port, start_repeater, wait_until_bound)
from .ioc import (DEFAULT_START_TIMEOUT, IOC_MAX_ARRAY_BYTES, SoftIoc, SoftIocError,
                  SoftIocHandle, softioc_fixture, softioc_python)
from .process import stop_process

__all__ = [
    'LOOPBACK',
    'free_port',
    'port_is_free',
    'loopback_environ',
    'apply_loopback_environ',
    'shared_repeater_port',
    'start_repeater',
    'wait_until_bound',
    'stop_process',
    'SoftIoc',
    'SoftIocError',
    'SoftIocHandle',
    'softioc_fixture',
    'softioc_python',
    'DEFAULT_START_TIMEOUT',
    'IOC_MAX_ARRAY_BYTES',
]
