"""The IOC the documentation's examples run against.

``ensure_ioc()`` is called before every doctest group.  The first call
decides:

* if ``CACHANNEL_DOCS_IOC=running`` is set, an IOC serving
  ``tests/ioc/catest.db`` is already reachable with the current environment
  (the test suite's session IOC; ``tests/docs/test_docs.py`` sets this), so
  nothing is started;
* otherwise a softIoc is started from ``tests/ioc/catest.db`` with the
  loopback environment of :mod:`CaChannel.testing`, and that environment is
  put into ``os.environ`` before any CA context exists.  It is stopped when
  the build process exits.

Either way, nothing leaves 127.0.0.1.
"""
import atexit
import os

_DB = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'ioc', 'catest.db')
_ioc = None
_repeater = None


def ensure_ioc():
    global _ioc, _repeater
    if _ioc is not None or os.environ.get('CACHANNEL_DOCS_IOC') == 'running':
        return
    from CaChannel.testing import (SoftIoc, apply_loopback_environ, free_port,
                                   loopback_environ, start_repeater)
    env = loopback_environ(free_port())
    apply_loopback_environ(env)
    # Our repeater on the private port, stopped with the IOC: otherwise
    # libca starts caRepeater from PATH and it outlives the build.
    _repeater = start_repeater(int(env['EPICS_CA_REPEATER_PORT']))
    ports = {key: value for key, value in os.environ.items()
             if key.startswith('EPICS_') and key.endswith('_PORT')}
    _ioc = SoftIoc(os.path.abspath(_DB), env=ports, ready_pvs=['catest'])
    _ioc.start()
    atexit.register(_stop)


def _stop():
    # The clients first: libca would report the IOC's disappearance as a
    # "Virtual circuit disconnect" if their channels were still open.
    import sys

    from CaChannel.testing import stop_process
    ca = sys.modules.get('CaChannel.ca')
    try:
        if ca is not None and hasattr(ca._backend_module, '_shutdown'):
            ca._backend_module._shutdown()
    finally:
        _ioc.stop()
        stop_process(_repeater)
