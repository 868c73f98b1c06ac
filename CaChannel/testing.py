"""Loopback-only Channel Access environment and a softIoc launcher for tests.

Every test and benchmark of CaChannel talks to a real IOC, and the machines
they run on must never send Channel Access (or pvAccess) traffic beyond the
loopback interface.  This module is the one place that knows how to arrange
both:

* :func:`free_port` picks a port number free for both TCP and UDP on
  127.0.0.1 (CA uses one number for both).
* :func:`loopback_environ` returns the ``EPICS_CA*``/``EPICS_PVA*`` variables
  that confine clients and servers to 127.0.0.1 and to private ports;
  :func:`apply_loopback_environ` puts them into :data:`os.environ` for the
  current process (libca reads them when its first context is created, so do
  that before any CA call).
* :class:`SoftIoc` runs ``python -m epicscorelibs.ioc`` (a real softIoc from
  the epicscorelibs wheel) in a subprocess with that environment, waits until
  it really serves Channel Access and stops it again.
* :func:`softioc_fixture` makes a pytest fixture out of a database.

Typical use in a ``conftest.py``::

    from CaChannel.testing import SoftIoc, apply_loopback_environ, free_port, loopback_environ

    def pytest_configure(config):
        apply_loopback_environ(loopback_environ(free_port()))

    @pytest.fixture(scope='session')
    def ioc():
        with SoftIoc('tests/ioc/catest.db') as ioc:   # port from os.environ
            yield ioc

or simply ``ioc = softioc_fixture('tests/ioc/catest.db')``.

This module deliberately imports neither :mod:`CaChannel.ca` nor any backend:
it has to work before the C extension is built, and it is what the backend
tests themselves stand on.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Literal

__all__ = [
    'LOOPBACK',
    'free_port',
    'loopback_environ',
    'apply_loopback_environ',
    'shared_repeater_port',
    'start_repeater',
    'SoftIoc',
    'softioc_fixture',
]

logger = logging.getLogger(__name__)

#: The only address tests and benchmarks may talk to.
LOOPBACK = '127.0.0.1'

#: How long :meth:`SoftIoc.start` waits for the IOC before giving up.
DEFAULT_START_TIMEOUT = 20.0

#: Interval between readiness checks; short so tests start quickly.
_POLL_INTERVAL = 0.05

#: Large enough for the 4M-element DOUBLE waveform of the test database.
IOC_MAX_ARRAY_BYTES = '100000000'


def softioc_python() -> str:
    """The interpreter that runs ``epicscorelibs.ioc``: this one, unless
    ``CACHANNEL_SOFTIOC_PYTHON`` names another (a client installed without
    epicscorelibs, on a site EPICS base, still gets its test IOCs)."""
    return os.environ.get('CACHANNEL_SOFTIOC_PYTHON') or sys.executable

# Ports handed out by free_port() in this process.  The kernel may offer a
# port again as soon as our probe sockets are closed, so without this two
# consecutive calls could return the same number before either is in use.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def _bindable(port: int) -> bool:
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

    Channel Access servers listen on the same number for TCP (circuits) and
    UDP (name searches), so a port is only useful if both are free.  The
    kernel picks a free TCP port; the same number is then checked for UDP.
    A number is never returned twice by one process.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = tcp.getsockname()[1]
        with _handed_out_lock:
            if port in _handed_out or not _bindable(port):
                continue
            _handed_out.add(port)
        return port
    raise RuntimeError('no port free for both TCP and UDP on 127.0.0.1')


_repeater_port: int | None = None


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


def start_repeater(port: int, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    """Run our ``caRepeater`` on *port* and return once it listens.

    With a repeater already answering, no client or IOC of the session
    starts one of its own that would outlive the session; the caller stops
    this one (``proc.terminate()``).
    """
    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(port))
    proc = subprocess.Popen([sys.executable, '-m', 'CaChannel.repeater'], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while _bindable(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError('caRepeater did not start on port %d' % port)
        time.sleep(0.02)
    return proc


def loopback_environ(server_port: int, repeater_port: int | None = None) -> dict[str, str]:
    """Return the environment that keeps CA and pvAccess on the loopback.

    :param server_port: CA server port (``EPICS_CA_SERVER_PORT``), for the
        IOC and for the clients that search it.
    :param repeater_port: CA repeater port; if None, the one of the loopback
        environment this process already runs in, else a free one picked
        once per process.

    Every client and IOC of one process tree shares one repeater port, so
    they share one repeater (libca starts ``caRepeater`` from ``PATH`` when
    none answers): one process to stop afterwards, not one per IOC.

    The pvAccess ports are always picked fresh: the softIoc also starts a
    pvAccess server, and a private port keeps it from colliding with any
    other one on this host.
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


# --- a minimal CA name search, to tell when PVs are really served -----------
#
# Only used for SoftIoc(ready_pvs=...).  It is written against the protocol
# (16-byte big-endian headers) rather than a client library so that this
# module has no dependency on a CA backend.

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


def _search(port: int, names: list[str], timeout: float) -> set[str]:
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


def _tcp_accepts(port: int) -> bool:
    """True if something accepts a TCP connection on 127.0.0.1:*port*."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- the IOC -----------------------------------------------------------------

# Every SoftIoc between start() and stop(); the atexit hook stops those the
# caller forgot, so an interpreter exit never leaves an IOC behind.
_running: set['SoftIoc'] = set()
_running_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        leftovers = list(_running)
    for ioc in leftovers:
        logger.warning('stopping %r at exit', ioc)
        ioc.stop()


def _looks_like_path(database: str | os.PathLike[str]) -> bool:
    """Tell a database file name from database text.

    An existing file is a path; otherwise text always contains a newline or
    the parenthesis of ``record(``, which file names practically never do.
    """
    if isinstance(database, os.PathLike) or os.path.isfile(database):
        return True
    return '\n' not in database and '(' not in database


class SoftIoc:
    """A softIoc subprocess serving a database on loopback-only ports.

    :param database: path of a ``.db`` file, or database text (anything with
        a newline or a parenthesis is taken as text and written to a temporary
        file).
    :param macros: macro definitions for ``dbLoadRecords``, e.g. ``'P=x:'``.
    :param env: extra environment for the IOC.  Ports given here
        (``EPICS_CA_SERVER_PORT``, ``EPICS_CA_REPEATER_PORT``,
        ``EPICS_PVA*_PORT``) are used; the loopback address settings always
        win, so the IOC cannot be pointed at another interface by accident.
        Without a server port, the IOC gets a free one of its own.
    :param ready_pvs: names that must answer a CA name search before
        :meth:`start` returns; by default the IOC is ready when it printed
        'IOC Running' and its CA TCP port accepts connections.
    :param start_timeout: seconds :meth:`start` waits for readiness.

    Use as a context manager (``with SoftIoc(db) as ioc:``) or call
    :meth:`start` and :meth:`stop`.  Clients find the IOC with
    ``ioc.environ`` (see :func:`apply_loopback_environ`).
    """

    def __init__(
        self,
        database: str | os.PathLike[str],
        macros: str = '',
        env: Mapping[str, str] | None = None,
        ready_pvs: Iterable[str] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self._database = database
        self.macros = macros
        self._user_env = dict(env or {})
        self.ready_pvs = list(ready_pvs) if ready_pvs is not None else None
        self.start_timeout = start_timeout
        self._port: int | None = None
        self._environ: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: str | None = None
        self._log_path: Path | None = None
        self._log_file: Any = None
        self._final_log: str | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = 'running' if self.running else 'stopped'
        return f'<SoftIoc port={self._port} {state} pid={self.pid}>'

    # -- properties ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The CA server port (TCP and UDP) on 127.0.0.1; known after start()."""
        if self._port is None:
            raise RuntimeError('SoftIoc not started yet')
        return self._port

    @property
    def environ(self) -> dict[str, str]:
        """The EPICS variables the IOC runs with (a copy); clients use them to
        find it."""
        return dict(self._environ)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The subprocess, for tests that need to kill it on purpose."""
        return self._proc

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """Everything the IOC printed so far (also after stop())."""
        if self._final_log is not None:
            return self._final_log
        if self._log_path is None:
            return ''
        try:
            return self._log_path.read_text(errors='replace')
        except OSError:
            return ''

    # -- lifecycle ----------------------------------------------------------

    def _build_environ(self) -> dict[str, str]:
        if self._environ:
            # A restart keeps its ports, so clients reconnect to the same IOC
            # address (fault tests stop and start the same SoftIoc).
            return self._environ
        user = self._user_env
        server_port = int(user['EPICS_CA_SERVER_PORT']) if 'EPICS_CA_SERVER_PORT' in user else free_port()
        repeater = int(user['EPICS_CA_REPEATER_PORT']) if 'EPICS_CA_REPEATER_PORT' in user else None
        loop = loopback_environ(server_port, repeater)
        # pvAccess ports may be chosen by the caller too (e.g. to talk pva).
        for key in ('EPICS_PVA_SERVER_PORT', 'EPICS_PVA_BROADCAST_PORT',
                    'EPICS_PVAS_SERVER_PORT', 'EPICS_PVAS_BROADCAST_PORT'):
            if key in user:
                loop[key] = str(user[key])
        environ = {k: str(v) for k, v in user.items()}
        environ.setdefault('EPICS_CA_MAX_ARRAY_BYTES', IOC_MAX_ARRAY_BYTES)
        environ.update(loop)  # loopback settings always win
        self._port = server_port
        return environ

    def _database_path(self) -> str:
        if _looks_like_path(self._database):
            path = Path(self._database)
            if not path.is_file():
                raise FileNotFoundError(f'database file not found: {path}')
            return str(path.resolve())
        assert self._tmpdir is not None
        path = Path(self._tmpdir) / 'ioc.db'
        path.write_text(str(self._database))
        return str(path)

    def start(self) -> 'SoftIoc':
        """Start the IOC and wait until it serves CA; returns self.

        Raises RuntimeError, with the IOC's output, if it exits or is not
        ready within ``start_timeout`` seconds.
        """
        with self._lock:
            if self.running:
                return self
            self._cleanup_files()
            self._final_log = None
            self._tmpdir = tempfile.mkdtemp(prefix='cachannel-softioc-')
            try:
                db_path = self._database_path()
                self._environ = self._build_environ()
                self._log_path = Path(self._tmpdir) / 'ioc.log'
                self._log_file = open(self._log_path, 'wb')
                full_env = dict(os.environ)
                full_env.update(self._environ)
                # PYTHONUNBUFFERED: the IOC's prints reach the log at once,
                # so a failure report shows everything up to the failure.
                full_env['PYTHONUNBUFFERED'] = '1'
                # '-m' must come before '-d': epicscorelibs.ioc pairs each
                # database with the macros given so far.
                cmd = [softioc_python(), '-m', 'epicscorelibs.ioc',
                       '-m', self.macros, '-d', db_path]
                logger.debug('starting %s on port %s', cmd, self._port)
                # stdin is a pipe the IOC's interactive shell reads: closing
                # it is the clean way to stop it, and if this process dies
                # the pipe closes and the IOC follows.  A new session keeps a
                # Ctrl-C in the terminal from reaching it; stop() ends it.
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=self._log_file,
                    stderr=subprocess.STDOUT, env=full_env,
                    start_new_session=True)
                with _running_lock:
                    _running.add(self)
                self._wait_ready()
            except BaseException:
                # Also on KeyboardInterrupt: never leave a half-started IOC.
                self.stop()
                raise
            return self

    def _wait_ready(self) -> None:
        """Poll until the IOC is ready, it died, or the timeout expires."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        pending = list(self.ready_pvs or [])
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f'softIoc exited with status {self._proc.returncode} '
                    f'before it was ready; its output:\n{self.log_text()}')
            if 'IOC Running' in self.log_text() and _tcp_accepts(self.port):
                if pending:
                    found = _search(self.port, pending, timeout=_POLL_INTERVAL * 4)
                    pending = [name for name in pending if name not in found]
                if not pending:
                    logger.debug('softIoc pid %s ready on port %s', self.pid, self.port)
                    return
            if time.monotonic() > deadline:
                what = f'PVs {pending} not found' if pending else 'not running'
                raise RuntimeError(
                    f'softIoc on port {self._port} {what} after '
                    f'{self.start_timeout} s; its output:\n{self.log_text()}')
            time.sleep(_POLL_INTERVAL)

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the IOC; returns its exit status.  Safe to call repeatedly.

        Closing stdin lets the IOC exit by itself (running the EPICS exit
        handlers); it is terminated, then killed, if it takes longer than
        *timeout* seconds.
        """
        with self._lock:
            proc = self._proc
            if proc is not None:
                if proc.stdin is not None and not proc.stdin.closed:
                    try:
                        proc.stdin.close()
                    except OSError:
                        pass  # already gone: the pipe is broken
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    logger.warning('softIoc pid %s did not exit; terminating', proc.pid)
                    proc.terminate()
                    try:
                        proc.wait(2.0)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            with _running_lock:
                _running.discard(self)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            if self._tmpdir is not None and self._final_log is None:
                self._final_log = self.log_text()
            self._cleanup_files()
            return proc.returncode if proc is not None else None

    def _cleanup_files(self) -> None:
        if self._tmpdir is not None and not self.running:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self._log_path = None

    def __enter__(self) -> 'SoftIoc':
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def softioc_fixture(
    database: str | os.PathLike[str],
    *,
    macros: str = '',
    env: Mapping[str, str] | None = None,
    ready_pvs: Iterable[str] | None = None,
    scope: Literal['session', 'package', 'module', 'class', 'function'] = 'session',
    autouse: bool = False,
    name: str | None = None,
) -> Callable[..., Any]:
    """Make a pytest fixture that yields a running :class:`SoftIoc`.

    In a ``conftest.py``::

        from CaChannel.testing import softioc_fixture
        ioc = softioc_fixture('tests/ioc/catest.db', env=my_loopback_env)

    The IOC starts when the fixture is first used and stops at the end of
    its *scope*.  Without *env*, the ports come from :data:`os.environ` when
    they were set there (by :func:`apply_loopback_environ`), so clients in
    the test process find the IOC; otherwise the IOC picks its own.
    pytest is imported here, not at module level, so the module works
    without it.
    """
    import pytest

    ready = list(ready_pvs) if ready_pvs is not None else None

    @pytest.fixture(scope=scope, autouse=autouse, name=name)
    def _softioc() -> Iterator[SoftIoc]:
        ioc_env = dict(env) if env is not None else {
            key: os.environ[key] for key in (
                'EPICS_CA_SERVER_PORT', 'EPICS_CA_REPEATER_PORT',
                'EPICS_PVA_SERVER_PORT', 'EPICS_PVA_BROADCAST_PORT',
                'EPICS_PVAS_SERVER_PORT', 'EPICS_PVAS_BROADCAST_PORT')
            if key in os.environ}
        with SoftIoc(database, macros=macros, env=ioc_env, ready_pvs=ready) as ioc:
            yield ioc

    return _softioc


# --- the pytest plugin for users ---------------------------------------------
#
# Installed as the ``pytest11`` entry point ``cachannel``: pytest loads this
# module at start-up, which registers the ``softioc`` marker and the
# ``softioc_database`` / ``softioc`` fixtures below.  Defining them costs
# nothing until a test asks for ``softioc``.

_prefix_serial = 0
_prefix_lock = threading.Lock()


def _next_prefix() -> str:
    global _prefix_serial
    with _prefix_lock:
        _prefix_serial += 1
        return 'pytest%d-%d:' % (os.getpid(), _prefix_serial)


class SoftIocHandle:
    """What the ``softioc`` fixture yields: a running IOC and how to reach it.

    :ivar ioc: the :class:`SoftIoc` itself.
    :ivar port: its CA server port on 127.0.0.1.
    :ivar prefix: the value of the macro ``P`` the database was loaded with.
    :ivar environ: the loopback environment of the IOC; give it to client
        subprocesses (``subprocess.run(..., env={**os.environ, **h.environ})``).
    """

    def __init__(self, ioc: SoftIoc, prefix: str) -> None:
        self.ioc = ioc
        self.port = ioc.port
        self.prefix = prefix
        self.environ = ioc.environ

    def pv(self, name: str) -> str:
        """The full PV name of record *name* of the database (prefix + name)."""
        return self.prefix + name

    def __repr__(self) -> str:
        return '<SoftIocHandle port=%d prefix=%r>' % (self.port, self.prefix)


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        'markers',
        'softioc(database, macros="", prefix=None): the database (file path or '
        'record text) the softioc fixture of CaChannel.testing serves')


def _marker_settings(request: Any) -> dict[str, Any]:
    marker = request.node.get_closest_marker('softioc')
    if marker is None:
        return {}
    settings = dict(marker.kwargs)
    if marker.args:
        settings['database'] = marker.args[0]
    return settings


def _define_plugin_fixtures() -> None:
    try:
        import pytest
    except ImportError:  # the module is usable without pytest
        return

    @pytest.fixture
    def softioc_database(request: Any) -> str | os.PathLike[str]:
        """The database of the ``softioc`` fixture: the ``softioc`` marker's
        first argument.  Override this fixture (e.g. in a conftest.py) to
        give one database to many tests."""
        database = _marker_settings(request).get('database')
        if database is None:
            raise pytest.UsageError(
                'the softioc fixture needs a database: mark the test with '
                '@pytest.mark.softioc("record(...) {...}") or a .db path, or '
                'override the softioc_database fixture')
        return database

    @pytest.fixture
    def softioc(request: Any, softioc_database: Any) -> Iterator[SoftIocHandle]:
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

    globals()['softioc_database'] = softioc_database
    globals()['softioc'] = softioc


_define_plugin_fixtures()


if __name__ == '__main__':
    # python -m CaChannel.testing serve [-- command]: see CaChannel/_serve.py.
    from CaChannel._serve import main
    sys.exit(main())
