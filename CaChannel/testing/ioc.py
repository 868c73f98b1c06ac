"""The softIoc lifecycle: start an IOC on loopback ports, wait until it
serves, stop it.

:class:`SoftIoc` runs the softIoc of the epicscorelibs wheel
(``epicscorelibs.ioc``, a real IOC) in a subprocess with the environment of
:func:`~CaChannel.testing.loopback_environ`, serving Channel Access only:
without the pvAccess server, whose UDP sockets would bind every interface
of the machine; :func:`softioc_fixture` makes a pytest fixture of one, and
:class:`SoftIocHandle` is what the plugin's ``softioc`` fixture yields.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Literal

from .environ import LOOPBACK, free_port, loopback_environ
from .process import stop_process
from .search import search_names, tcp_accepts

logger = logging.getLogger(__name__)

#: How long :meth:`SoftIoc.start` waits for the IOC before giving up.
DEFAULT_START_TIMEOUT = 20.0

#: Interval between readiness checks; short so tests start quickly.
_POLL_INTERVAL = 0.05

#: Large enough for the 4M-element DOUBLE waveform of the test database.
IOC_MAX_ARRAY_BYTES = '100000000'

# epicscorelibs.ioc's main() loads the pvAccess server (qsrv) unless told
# not to; older releases, from before it served pvAccess, take no arguments.
_CA_ONLY_IOC = (
    'import inspect\n'
    'from epicscorelibs.ioc import main\n'
    "ca_only = 'extra_dbd_load' in inspect.signature(main).parameters\n"
    'main(**(dict(extra_dbd_load=(), extra_dso_load=()) if ca_only else {}))\n')

#: The server ports EPICS accepts: libCom takes 5064 instead of any other
#: (envGetInetPortConfigParam: above IPPORT_USERRESERVED, 16 bits).
SERVER_PORTS = range(5001, 65536)

# What rsrv prints when its TCP port is taken: it then serves on another
# port, while its UDP searches arrive on the configured one.
_PORT_TAKEN = 'Configured TCP port was unavailable'


class SoftIocError(RuntimeError):
    """The softIoc did not start.  ``str()`` has the IOC's whole output;
    :attr:`reason` says why in one line."""

    def __init__(self, reason: str, log: str = '') -> None:
        super().__init__(reason + ('; its output:\n' + log if log else ''))
        self.reason = reason


def _first_error(log: str) -> str:
    """The IOC's first error as one line (the database parser's message and
    the place it names), or its last line when it printed no error."""
    lines = [re.sub(r'\x1b\[[0-9;]*m', '', line).strip() for line in log.splitlines()]
    found: list[str] = []
    for line in lines:
        if line.startswith('ERROR:'):
            line = line[len('ERROR:'):].strip()
        elif not (found and line.startswith('at or before')):
            continue
        if line.startswith('Failed to load'):
            break
        found.append(line)
        if line.startswith('at or before'):
            break
    if found:
        return ' '.join(found)
    return next((line for line in reversed(lines) if line), 'no output')


def softioc_python() -> str:
    """The interpreter that runs ``epicscorelibs.ioc``: this one, unless
    ``CACHANNEL_SOFTIOC_PYTHON`` names another (a client installed without
    epicscorelibs, on a site EPICS base, still gets its test IOCs)."""
    return os.environ.get('CACHANNEL_SOFTIOC_PYTHON') or sys.executable


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
        (``EPICS_CA_SERVER_PORT``, ``EPICS_CA_REPEATER_PORT``) are used; the
        loopback address settings always win, so the IOC cannot be pointed
        at another interface by accident.  Without a server port, the IOC
        gets a free one of its own; a server port that another server holds
        is refused (:class:`SoftIocError`).
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

        Raises :class:`SoftIocError` (a RuntimeError) with the IOC's output
        if its port is served already, or it exits or is not ready within
        ``start_timeout`` seconds.
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
                if self.port not in SERVER_PORTS:
                    raise SoftIocError(f'port {self.port} is not one EPICS serves on '
                                       f'({SERVER_PORTS.start}-{SERVER_PORTS.stop - 1})')
                if tcp_accepts(self.port):
                    # rsrv would take another TCP port and still answer
                    # searches on this one: two IOCs behind one address.
                    raise SoftIocError(f'port {self.port} of {LOOPBACK} is served already')
                self._log_path = Path(self._tmpdir) / 'ioc.log'
                self._log_file = open(self._log_path, 'wb')
                full_env = dict(os.environ)
                full_env.update(self._environ)
                # PYTHONUNBUFFERED: the IOC's prints reach the log at once,
                # so a failure report shows everything up to the failure.
                full_env['PYTHONUNBUFFERED'] = '1'
                # '-m' must come before '-d': epicscorelibs.ioc pairs each
                # database with the macros given so far.
                cmd = [softioc_python(), '-c', _CA_ONLY_IOC,
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
            log = self.log_text()
            if _PORT_TAKEN in log:
                raise SoftIocError(f'port {self.port} of {LOOPBACK} is served already', log)
            if self._proc.poll() is not None:
                raise SoftIocError(
                    f'softIoc exited with status {self._proc.returncode} before it was '
                    f'ready: {_first_error(log)}', log)
            if 'IOC Running' in log and tcp_accepts(self.port):
                if pending:
                    found = search_names(self.port, pending, timeout=_POLL_INTERVAL * 4)
                    pending = [name for name in pending if name not in found]
                if not pending:
                    logger.debug('softIoc pid %s ready on port %s', self.pid, self.port)
                    return
            if time.monotonic() > deadline:
                what = f'PVs {pending} not found' if pending else 'not running'
                raise SoftIocError(
                    f'softIoc on port {self._port} {what} after {self.start_timeout} s',
                    self.log_text())
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
                    stop_process(proc, 2.0)
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
    they were set there (by :func:`~CaChannel.testing.apply_loopback_environ`), so clients in
    the test process find the IOC; otherwise the IOC picks its own.
    pytest is imported here, not at module level, so the harness works
    without it.
    """
    import pytest

    ready = list(ready_pvs) if ready_pvs is not None else None

    @pytest.fixture(scope=scope, autouse=autouse, name=name)
    def _softioc() -> Iterator[SoftIoc]:
        ioc_env = dict(env) if env is not None else {
            key: os.environ[key] for key in ('EPICS_CA_SERVER_PORT', 'EPICS_CA_REPEATER_PORT')
            if key in os.environ}
        with SoftIoc(database, macros=macros, env=ioc_env, ready_pvs=ready) as ioc:
            yield ioc

    return _softioc


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
