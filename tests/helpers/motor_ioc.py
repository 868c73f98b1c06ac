"""The real EPICS motor record, served by a soft IOC on loopback, for the epicsMotor tests.

The motor record (the motor module's ``motorRecord.cc`` and its Soft Channel
device support) comes from the kit in ``shared/motor/``, found as
:mod:`helpers.shared_folder` finds the rest of ``shared/``.
Its ``build.sh`` compiles it against the ``epicscorelibs`` wheel in about two
seconds; :func:`motor_kit_fixture` does that once per test run, into the
run's temporary folder.  :class:`MotorIoc` runs the kit's
``start-motor-ioc.py`` with the loopback environment of
:mod:`CaChannel.testing` on a port reserved in this process's address list
(:func:`helpers.motor_sim.reserve_port`), and stops it by closing its stdin.
Standard base records in the kit's database simulate each axis: it moves
``VELO / 10`` every 0.1 s and has no limit switches (see the kit's README).

This harness lives beside ``tests/helpers/motor_sim.py`` rather than in
:mod:`CaChannel.testing`: the kit is a folder of the development checkout,
not something the installed package ships or can find, so the kit is looked
for relative to these test files (the installed-package runs of CI run them
from outside the checkout).

Where the kit or a C++ compiler is missing, the fixtures skip, saying which;
CI has both and fails on such a skip.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Optional

from CaChannel.testing import (DEFAULT_START_TIMEOUT, loopback_environ, softioc_python,
                               stop_process)
from CaChannel.testing.search import search_names

from helpers import motor_sim, shared_folder


#: The real IOC's prefix and motors: it serves ``rec:m1`` and ``rec:m2``
#: (the simulator's are ``sim:m1`` and ``sim:m2``).
PREFIX = 'rec:'
MOTORS = ('m1', 'm2')

#: Speed of the move that brings a motor home between tests: any distance
#: within the soft limits in one or two 0.1 s steps of the simulated axis.
_HOMING_SPEED = 2000.0

# python interpreter -> folder the kit was built into, so that any number of
# fixtures of one run share one build.
_builds: Dict[str, Path] = {}


class MotorKitUnavailable(Exception):
    """The kit cannot be built here; the message says why."""


def build_motor_kit(out: Path, python: str) -> Path:
    """Build the kit into *out* for *python* (its epicscorelibs), once per process.

    Returns the folder holding ``start-motor-ioc.py``.
    :raises MotorKitUnavailable: no kit, no C++ compiler, or the build failed.
    """
    if python in _builds:
        return _builds[python]
    kit = shared_folder.find('motor', 'build.sh')
    if kit is None:
        raise MotorKitUnavailable(
            'no shared/motor beside the repository (nor where %s names): the real motor '
            'record is not available' % shared_folder.VARIABLE)
    # build.sh compiles with $CXX, else g++; CXX may carry flags.
    compiler = (shlex.split(os.environ.get('CXX', '')) or ['g++'])[0]
    if shutil.which(compiler) is None:
        raise MotorKitUnavailable(f'no C++ compiler ({compiler}) to build the motor record')
    built = subprocess.run(['bash', str(kit / 'build.sh'), str(out), python],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise MotorKitUnavailable('the motor record kit did not build: %s'
                                  % (built.stderr.strip() or built.stdout.strip()))
    _builds[python] = out
    return out


def motor_macros(defaults: Dict[str, Any] = motor_sim.DEFAULTS) -> str:
    """The kit database's macros that give the simulator's defaults."""
    return ','.join(['VELO=%s' % defaults['VELO'], 'MRES=%s' % defaults['MRES'],
                     'HLM=%s' % defaults['DHLM'], 'LLM=%s' % defaults['DLLM'],
                     'BDST=%s' % defaults['BDST']])


class MotorIoc:
    """The kit's soft IOC serving motor records *prefix* + *motors* on *port* (127.0.0.1).

    :param build: the folder :func:`build_motor_kit` built into; the IOC's
        output goes to a log file there.
    :param port: CA server port; clients find it through their address list
        (by default the one :func:`motor_sim.reserve_port` put there).
    """

    def __init__(self, build: Path, prefix: str = PREFIX, motors: Sequence[str] = MOTORS,
                 port: Optional[int] = None,
                 start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.build = build
        self.prefix = prefix
        self.motors = list(motors)
        self.names = [prefix + motor for motor in motors]
        self.port = port if port is not None else motor_sim.reserve_port('record')
        self.start_timeout = start_timeout
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.log_path = build / ('ioc-%d.log' % self.port)

    def environ(self) -> Dict[str, str]:
        repeater = os.environ.get('EPICS_CA_REPEATER_PORT')
        env = dict(os.environ)
        # The IOC's device support is a CA client of the IOC's own server:
        # EPICS_CA_ADDR_LIST=127.0.0.1 at this server port finds it.
        env.update(loopback_environ(self.port, int(repeater) if repeater else None))
        env['PYTHONUNBUFFERED'] = '1'
        return env

    def start(self) -> 'MotorIoc':
        # No --pva: its UDP listener may bind beyond the loopback (kit README).
        command = [softioc_python(), str(self.build / 'start-motor-ioc.py'), '-P', self.prefix,
                   '--motors', ','.join(self.motors), '-m', motor_macros()]
        # stdin is the IOC's console: closing it stops the IOC, also when
        # this process dies.  A new session keeps a terminal's Ctrl-C away.
        with open(self.log_path, 'wb') as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.environ(),
                                            start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while not search_names(self.port, self.names, timeout=0.2) >= set(self.names):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the motor record IOC did not start on port %d; its output:\n%s'
                                   % (self.port, self.log_text()))
            time.sleep(0.05)

    def log_text(self) -> str:
        """Everything the IOC printed so far."""
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()
            except OSError:
                pass  # already gone
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            stop_process(process)

    def reset(self, name: str) -> None:
        """Bring motor *name* back to the simulator's defaults: stopped, in Use
        mode, dial 0, offset 0 (through caproto's client, independent of the
        code under test)."""
        try:
            reset_record(name)
        except Exception as exc:
            raise RuntimeError('could not reset %s: %s; the IOC printed:\n%s'
                               % (name, exc, self.log_text())) from exc

    def __enter__(self) -> 'MotorIoc':
        return self.start()

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()


def reset_record(name: str, defaults: Dict[str, Any] = motor_sim.DEFAULTS,
                 timeout: float = 30.0) -> None:
    """Restore motor record *name* to *defaults* (see :func:`MotorIoc.reset`)."""
    with motor_sim.caproto_sync_client() as client:
        def put(field: str, value: Any) -> None:
            # repeater=False: the session runs one; caproto would spawn its own.
            client.write('%s.%s' % (name, field), value, notify=True, timeout=timeout,
                         repeater=False)

        def get(field: str) -> Any:
            return client.read('%s.%s' % (name, field), timeout=timeout).data[0]

        put('STOP', 1)
        put('SET', 0)
        # Coordinates first, then the limits they translate, then home at a
        # speed that gets there at once; the put-callback ends with the move.
        for field in ('DIR', 'OFF', 'MRES', 'DHLM', 'DLLM', 'BDST'):
            put(field, defaults[field])
        put('VELO', _HOMING_SPEED)
        put('DVAL', 0.0)
        for field in ('VELO', 'VBAS', 'ACCL', 'DESC'):
            put(field, defaults[field])
        deadline = time.monotonic() + timeout
        while not (get('DMOV') == 1 and get('DRBV') == 0):
            if time.monotonic() > deadline:
                raise RuntimeError('motor %s did not come home' % name)
            time.sleep(0.05)


def motor_kit_fixture() -> Any:
    """A session fixture: the folder the kit was built into, or a skip saying why."""
    import pytest

    @pytest.fixture(scope='session')
    def motor_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
        try:
            return build_motor_kit(tmp_path_factory.mktemp('motor-kit'), softioc_python())
        except MotorKitUnavailable as exc:
            pytest.skip(str(exc))
    return motor_kit


def motor_ioc_fixture(scope: str = 'module') -> Any:
    """A fixture running the real motor record IOC (it needs ``motor_kit``)."""
    import pytest

    @pytest.fixture(scope=scope)
    def motor_record(motor_kit: Path) -> Iterator[MotorIoc]:
        with MotorIoc(motor_kit) as ioc:
            yield ioc
    return motor_record
