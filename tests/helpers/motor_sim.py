"""A simulated EPICS motor record, served by caproto, for the epicsMotor tests.

Run as a program it serves the motor records named by ``--names`` (default
``sim:m1,sim:m2``) on 127.0.0.1 at ``EPICS_CA_SERVER_PORT``; :class:`MotorSimulator`
starts it as a subprocess with the loopback environment of
:mod:`CaChannel.testing` and waits for its ready line.

What is simulated: the motor record as the real one behaves (the tests run
against both, tests/helpers/motor_ioc.py; where they differed, the record was right):

* coordinates: ``user = dial * sign(DIR) + OFF`` and ``steps = dial / MRES``;
  VAL/DVAL/RVAL are targets, RBV/DRBV/RRBV readbacks (DRBV = RRBV * MRES,
  posted on change only), RLV a relative move (VAL += RLV, RLV back to 0);
* motion at finite speed: a leg takes ``ACCL + distance / VELO`` seconds;
  DMOV goes 0 at once on every new target and back to 1 when the motion
  ends (a target where the motor already is: at once); MOVN is 1 while a
  leg runs; a new target during a move replaces it; STOP=1 stops at the
  current position and the targets take the readback;
* a put-callback (``WriteNotifyRequest``) on VAL/DVAL/RVAL/RLV completes
  when DMOV returns to 1, after the last leg; other requests of the client
  are served meanwhile;
* backlash: against the direction of BDST's sign the motor first goes BDST
  beyond the target (a first leg), then to the target;
* soft limits DHLM/DLLM (HLM/LLM in user coordinates): a target outside them,
  or whose backlash overshoot is outside them, sets LVIO=1, restores the
  targets and does not move (DMOV 1 -> 0 -> 1); DHLM = DLLM = 0 disables them;
  a motor outside them may move back toward them;
* hard limit switches at fixed dial positions :data:`HARD_LOW`/:data:`HARD_HIGH`
  (the real record's Soft Channel support has none): a move running into one
  stops there with LLS or HLS set;
* SET=1 (Set mode, FOFF=Variable): writing VAL changes OFF; writing DVAL or
  RVAL redefines the dial position (as a controller that loads a position)
  and OFF changes so that VAL stays; nothing moves, DMOV goes 1 -> 0 -> 1.

Simulator only (not a motor record field): writing 1 to ``<name>:SIM_RESET``
restores every field to its default, so each test starts from the same state.

Write handlers finish without awaiting anything slow (but a put-callback's
answer, see above), and the server runs with
``CAPROTO_SERVER_WRITE_LOCK_TIMEOUT_SEC`` raised, so a read that follows a
write on the same circuit sees its effect, as with a real IOC.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence

logger = logging.getLogger(__name__)

#: Dial positions of the low and high limit switches.
HARD_LOW = -150.0
HARD_HIGH = 150.0

#: Field defaults, restored by SIM_RESET.
DEFAULTS: Dict[str, Any] = {
    'MRES': 0.001, 'VELO': 50.0, 'VBAS': 0.0, 'ACCL': 0.2, 'BDST': 0.0,
    'DHLM': 100.0, 'DLLM': -100.0, 'OFF': 0.0, 'DIR': 0, 'DESC': 'simulated motor',
}

_TICK = 0.01
_READY = 'MOTOR SIMULATOR READY'

_ENV_ADDR = 'EPICS_CA_ADDR_LIST'
# server kind ('simulator', 'record') -> its port in this process
_reserved_ports: Dict[str, int] = {}

#: The motor records the simulator serves by default.
NAMES = ('sim:m1', 'sim:m2')


# ---------------------------------------------------------------------------
# client side: port reservation and the subprocess
# ---------------------------------------------------------------------------
def reserve_port(server: str = 'simulator') -> int:
    """Pick the port of one motor server and add it to this process's CA address list.

    libca reads ``EPICS_CA_ADDR_LIST`` once, when the first context is made,
    so test modules call this at import (collection happens before any test
    makes a CA call).  One port per *server* kind and process (the
    simulator, the real record of ``motor_ioc.py``); repeated calls return it.
    """
    if server not in _reserved_ports:
        from CaChannel.testing import LOOPBACK, free_port
        port = _reserved_ports[server] = free_port()
        addresses = os.environ.get(_ENV_ADDR, LOOPBACK).split()
        addresses.append('%s:%d' % (LOOPBACK, port))
        os.environ[_ENV_ADDR] = ' '.join(addresses)
    return _reserved_ports[server]


class MotorSimulator:
    """The simulator subprocess on the reserved loopback port; a context manager."""

    def __init__(self, names: Sequence[str] = NAMES, start_timeout: float = 30.0) -> None:
        self.names = list(names)
        self.port = reserve_port()
        self.start_timeout = start_timeout
        self.process: Optional[subprocess.Popen] = None
        self._output: list = []

    def environ(self) -> Dict[str, str]:
        from CaChannel.testing import loopback_environ
        repeater = os.environ.get('EPICS_CA_REPEATER_PORT')
        env = dict(os.environ)
        env.update(loopback_environ(self.port, int(repeater) if repeater else None))
        # caproto beacons to EPICS_CAS_BEACON_PORT: the clients' repeater port
        env['EPICS_CAS_BEACON_PORT'] = env['EPICS_CA_REPEATER_PORT']
        # reads wait for a preceding write on the circuit to finish
        env['CAPROTO_SERVER_WRITE_LOCK_TIMEOUT_SEC'] = '5'
        return env

    def start(self) -> 'MotorSimulator':
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), '--names', ','.join(self.names)],
            env=self.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read_output() -> None:
            assert self.process is not None and self.process.stdout is not None
            waiting = len(self.names)  # one ready line a motor
            for line in self.process.stdout:
                self._output.append(line)
                if _READY in line:
                    waiting -= 1
                    if not waiting:
                        ready.set()
            ready.set()  # process ended: stop waiting

        threading.Thread(target=read_output, daemon=True).start()
        if not ready.wait(self.start_timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError('motor simulator did not start:\n' + self.output())
        return self

    def output(self) -> str:
        return ''.join(self._output)

    def stop(self) -> None:
        from CaChannel.testing import stop_process
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def reset(self, name: str) -> None:
        """Restore motor *name* to :data:`DEFAULTS`, at dial 0."""
        reset_motor(name)

    def __enter__(self) -> 'MotorSimulator':
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

# ---------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------
#: The circuit of the put being handled when its client waits for completion
#: (a put-callback, ``WriteNotifyRequest``); None for a plain put.
_waiting_circuit: ContextVar[Any] = ContextVar('waiting_circuit', default=None)


def _make_group(record: str) -> Any:
    """Build the caproto PVGroup class serving motor record *record*."""
    from caproto import ChannelType, SkipWrite
    from caproto.server import PVGroup, pvproperty

    def double(field: str, value: float = 0.0, **kw: Any) -> Any:
        return pvproperty(name='.' + field, value=value, precision=4, units='mm', **kw)

    def short(field: str, value: int = 0, **kw: Any) -> Any:
        return pvproperty(name='.' + field, value=value, dtype=ChannelType.INT, **kw)

    class Motor(PVGroup):
        val = double('VAL')
        dval = double('DVAL')
        rval = pvproperty(name='.RVAL', value=0, dtype=ChannelType.LONG)
        rlv = double('RLV')
        rbv = double('RBV', read_only=True)
        drbv = double('DRBV', read_only=True)
        rrbv = pvproperty(name='.RRBV', value=0, dtype=ChannelType.LONG, read_only=True)
        dmov = short('DMOV', 1, read_only=True)
        movn = short('MOVN', 0, read_only=True)
        stop = short('STOP')
        set = pvproperty(name='.SET', value='Use', enum_strings=['Use', 'Set'],
                         dtype=ChannelType.ENUM)
        dir = pvproperty(name='.DIR', value='Pos', enum_strings=['Pos', 'Neg'],
                         dtype=ChannelType.ENUM)
        off = double('OFF')
        mres = double('MRES', DEFAULTS['MRES'])
        velo = double('VELO', DEFAULTS['VELO'])
        vbas = double('VBAS', DEFAULTS['VBAS'])
        accl = double('ACCL', DEFAULTS['ACCL'])
        bdst = double('BDST', DEFAULTS['BDST'])
        hlm = double('HLM', DEFAULTS['DHLM'])
        llm = double('LLM', DEFAULTS['DLLM'])
        dhlm = double('DHLM', DEFAULTS['DHLM'])
        dllm = double('DLLM', DEFAULTS['DLLM'])
        hls = short('HLS', 0, read_only=True)
        lls = short('LLS', 0, read_only=True)
        lvio = short('LVIO', 0, read_only=True)
        desc = pvproperty(name='.DESC', value=DEFAULTS['DESC'], dtype=ChannelType.STRING)
        egu = pvproperty(name='.EGU', value='mm', dtype=ChannelType.STRING)
        prec = short('PREC', 4)
        sim_reset = pvproperty(name=':SIM_RESET', value=0, dtype=ChannelType.INT)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.position = 0.0          # actual dial position
            self.legs: list = []         # dial targets still to reach, the current one first
            self.move_from = 0.0
            self.move_start = 0.0
            self.move_time = 0.0
            self.moving = False
            # Set when DMOV returns to 1: what waiting put-callbacks wait for.
            self.done: Optional[asyncio.Event] = None

        # --- coordinate helpers -------------------------------------------
        def sign(self) -> int:
            return -1 if self.dir.value in ('Neg', 1) else 1

        def user(self, dial: float) -> float:
            return dial * self.sign() + self.off.value

        def dial_of_user(self, user: float) -> float:
            return (user - self.off.value) * self.sign()

        def steps(self, dial: float) -> int:
            return int(round(dial / self.mres.value))

        async def post(self, field: Any, value: Any) -> None:
            """Write a field the record computes; subscribers see changes only."""
            if field.value != value:
                await field.write(value, verify_value=False)

        async def show_targets(self, dial: float, user: Optional[float] = None) -> None:
            await self.post(self.val, self.user(dial) if user is None else user)
            await self.post(self.dval, dial)
            await self.post(self.rval, self.steps(dial))

        async def show_readback(self) -> None:
            # The record derives RBV and DRBV from the step count it reads.
            steps = self.steps(self.position)
            await self.post(self.rrbv, steps)
            await self.post(self.drbv, steps * self.mres.value)
            await self.post(self.rbv, self.user(steps * self.mres.value))
            await self.post(self.hls, int(self.position >= HARD_HIGH))
            await self.post(self.lls, int(self.position <= HARD_LOW))

        async def show_user_limits(self) -> None:
            low, high = sorted((self.user(self.dllm.value), self.user(self.dhlm.value)))
            await self.post(self.llm, low)
            await self.post(self.hlm, high)

        async def set_dial_limits_from_user(self, low: float, high: float) -> None:
            dlow, dhigh = sorted((self.dial_of_user(low), self.dial_of_user(high)))
            await self.post(self.dllm, dlow)
            await self.post(self.dhlm, dhigh)

        # --- moving -------------------------------------------------------
        def limit_violation(self, dial: float, backlash_first: bool) -> bool:
            """The record's soft-limit test of a new dial target."""
            low, high = self.dllm.value, self.dhlm.value
            if low == 0 and high == 0:
                return False
            if low > high:
                return True
            last = self.dval.value
            if (high < dial < last) or (last < dial < low):
                return False  # already outside, moving back toward the range
            # Against the backlash direction the overshoot must fit as well.
            checked = dial - self.bdst.value if backlash_first else dial
            return not low <= checked <= high

        async def set_dmov(self, value: int) -> None:
            await self.post(self.dmov, value)
            if value == 0 and self.done is None:
                self.done = asyncio.Event()
            elif value == 1 and self.done is not None:
                self.done.set()
                self.done = None

        @contextlib.asynccontextmanager
        async def processing(self) -> Any:
            """DMOV 1 -> 0 -> 1 around a change without motion (Set mode), as the record."""
            if self.moving:
                yield
                return
            await self.set_dmov(0)
            yield
            await self.set_dmov(1)

        async def request(self, dial: float, user: Optional[float] = None) -> None:
            """A new dial target (*user*: as written to VAL) from VAL/DVAL/RVAL/RLV in Use mode.

            As the record: DMOV goes 0 at once; a target beyond a soft limit
            sets LVIO, restores the targets and ends there (DMOV back to 1);
            a target where the motor is ends at once; against the backlash
            direction (the sign of BDST) the motor first goes BDST beyond
            the target, then comes back to it.
            """
            bdst = self.bdst.value
            backlash_first = (abs(bdst) >= self.mres.value
                              and (dial - self.position > 0) != (bdst > 0))
            await self.set_dmov(0)
            lvio = self.limit_violation(dial, backlash_first)
            await self.post(self.lvio, int(lvio))
            blocked = ((self.position >= HARD_HIGH and dial > self.position)
                       or (self.position <= HARD_LOW and dial < self.position))
            if lvio or blocked:
                await self.show_targets(self.dval.value)
                if not self.moving:
                    await self.set_dmov(1)
                return
            await self.show_targets(dial, user)
            if not self.moving and self.steps(dial) == self.steps(self.position):
                await self.set_dmov(1)
                return
            self.legs = [dial - bdst, dial] if backlash_first else [dial]
            await self.start_leg()

        async def start_leg(self) -> None:
            self.move_from = self.position
            self.move_start = time.monotonic()
            self.move_time = (self.accl.value
                              + abs(self.legs[0] - self.position) / max(self.velo.value, 1e-9))
            self.moving = True
            await self.post(self.movn, 1)

        async def move(self, dial: float, user: Optional[float] = None) -> None:
            """Request a move; if the client waits for this put, answer it
            when the motion has ended, as the record completes a put-callback."""
            await self.request(dial, user)
            circuit = _waiting_circuit.get()
            if circuit is None or self.done is None:
                return
            # Let the client's other requests through meanwhile (caproto
            # holds its reads on this circuit until a write is answered).
            circuit.write_event.set()
            await self.done.wait()

        async def halt(self) -> None:
            """Stop where the motor is; targets follow the readback."""
            self.moving = False
            self.legs = []
            await self.show_readback()
            await self.show_targets(self.steps(self.position) * self.mres.value)
            await self.post(self.movn, 0)
            await self.set_dmov(1)

        async def tick(self) -> None:
            if not self.moving:
                return
            fraction = 1.0
            if self.move_time > 0:
                fraction = min(1.0, (time.monotonic() - self.move_start) / self.move_time)
            if fraction < 1.0:
                self.position = self.move_from + (self.legs[0] - self.move_from) * fraction
            else:
                self.position = self.legs[0]
            if self.position >= HARD_HIGH or self.position <= HARD_LOW:
                self.position = min(max(self.position, HARD_LOW), HARD_HIGH)
                await self.halt()
                return
            await self.show_readback()
            if fraction < 1.0:
                return
            self.legs.pop(0)
            await self.post(self.movn, 0)
            if self.legs:
                await self.start_leg()
            else:
                self.moving = False
                await self.set_dmov(1)

        async def reset(self) -> None:
            self.moving = False
            self.legs = []
            self.position = 0.0
            for field, value in DEFAULTS.items():
                await getattr(self, field.lower()).write(value, verify_value=False)
            await self.set.write('Use', verify_value=False)
            for field in (self.lvio, self.stop, self.rlv):
                await self.post(field, 0)
            await self.show_user_limits()
            await self.halt()

        # --- write handlers ----------------------------------------------
        def set_mode(self) -> bool:
            return self.set.value in ('Set', 1)

        @val.putter
        async def val(self, instance: Any, value: float) -> Any:
            if self.set_mode():
                # Redefine the user position: the offset takes the difference.
                async with self.processing():
                    await self.post(self.off, value - self.dval.value * self.sign())
                    await self.show_readback()
                    await self.show_user_limits()
                return value
            await self.move(self.dial_of_user(value), value)
            raise SkipWrite()  # request() posted the targets, or restored them

        async def redefine_or_move(self, dial: float) -> None:
            if self.set_mode():
                # As a controller loading a position: the dial position is
                # redefined and, with FOFF=Variable, the user position kept.
                async with self.processing():
                    self.position = dial
                    await self.post(self.off, self.val.value - dial * self.sign())
                    await self.post(self.dval, dial)
                    await self.post(self.rval, self.steps(dial))
                    await self.show_readback()
                    await self.show_user_limits()
            else:
                await self.move(dial)
            raise SkipWrite()

        @dval.putter
        async def dval(self, instance: Any, value: float) -> Any:
            await self.redefine_or_move(value)

        @rval.putter
        async def rval(self, instance: Any, value: int) -> Any:
            await self.redefine_or_move(value * self.mres.value)

        @rlv.putter
        async def rlv(self, instance: Any, value: float) -> Any:
            # The record takes RLV as VAL += RLV and clears RLV at once.
            user = self.val.value + value
            await instance.write(value, verify_value=False)
            await instance.write(0.0, verify_value=False)
            await self.move(self.dial_of_user(user), user)
            raise SkipWrite()

        @stop.putter
        async def stop(self, instance: Any, value: int) -> Any:
            if value and self.moving:
                await self.halt()
            return 0

        @off.putter
        async def off(self, instance: Any, value: float) -> Any:
            # store first: the helpers below read the new value
            await instance.write(value, verify_value=False)
            await self.show_targets(self.dval.value)
            await self.show_readback()
            await self.show_user_limits()
            return value

        @dir.putter
        async def dir(self, instance: Any, value: Any) -> Any:
            await instance.write(value, verify_value=False)
            await self.show_targets(self.dval.value)
            await self.show_readback()
            await self.show_user_limits()
            return value

        @mres.putter
        async def mres(self, instance: Any, value: float) -> Any:
            if value == 0:
                raise ValueError('MRES must not be 0')
            await instance.write(value, verify_value=False)
            await self.post(self.rval, self.steps(self.dval.value))
            await self.show_readback()
            return value

        @hlm.putter
        async def hlm(self, instance: Any, value: float) -> Any:
            await self.set_dial_limits_from_user(self.llm.value, value)
            return value

        @llm.putter
        async def llm(self, instance: Any, value: float) -> Any:
            await self.set_dial_limits_from_user(value, self.hlm.value)
            return value

        @dhlm.putter
        async def dhlm(self, instance: Any, value: float) -> Any:
            await instance.write(value, verify_value=False)
            await self.show_user_limits()
            return value

        @dllm.putter
        async def dllm(self, instance: Any, value: float) -> Any:
            await instance.write(value, verify_value=False)
            await self.show_user_limits()
            return value

        @sim_reset.putter
        async def sim_reset(self, instance: Any, value: int) -> Any:
            if value:
                await self.reset()
            return 0

        @val.startup
        async def val(self, instance: Any, async_lib: Any) -> None:
            await self.reset()
            print(_READY, record, flush=True)
            while True:
                await self.tick()
                await async_lib.library.sleep(_TICK)

    return Motor(prefix=record)


def _serve(pvdb: Dict[str, Any], interfaces: Sequence[str]) -> None:
    """caproto's asyncio server, telling the putters which puts a client waits for."""
    from caproto import WriteNotifyRequest
    from caproto.asyncio import server

    class Circuit(server.VirtualCircuit):  # type: ignore[misc]
        async def _process_command(self, command: Any) -> Any:
            # The write task caproto starts from here copies this context.
            token = _waiting_circuit.set(self if isinstance(command, WriteNotifyRequest) else None)
            try:
                return await super()._process_command(command)
            finally:
                _waiting_circuit.reset(token)

    class Context(server.Context):  # type: ignore[misc]
        CircuitClass = Circuit

    async def serve() -> None:
        await Context(pvdb, list(interfaces)).run()  # made in the loop it runs in

    asyncio.run(serve())


def main(argv: Optional[list] = None) -> None:
    from CaChannel.testing import LOOPBACK

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--names', default=','.join(NAMES),
                        help='motor record names, comma-separated')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # No repeater may be listening on the loopback: a refused beacon is
    # expected, not worth a traceback every 15 s.
    logging.getLogger('caproto.ctx').addFilter(
        lambda record: not record.getMessage().startswith('Failed to send beacon'))
    pvdb: Dict[str, Any] = {}
    for name in args.names.split(','):
        pvdb.update(_make_group(name).pvdb)
        # the record name alone addresses VAL, as on an IOC
        pvdb[name] = pvdb[name + '.VAL']
    # bind the loopback only, whatever the environment says
    _serve(pvdb, [LOOPBACK])


if __name__ == '__main__':
    # run by path: the checkout's root (this file is tests/helpers/motor_sim.py),
    # for a CaChannel that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()


class _SetUpClient:
    """caproto's sync client for set-up: ``read`` and ``write`` as caproto's,
    tried again, with a new search and circuit, when the circuit is dropped
    before the answer came.

    caproto opens a circuit per call.  Runs of the whole suite saw such a
    circuit closed under a live IOC that printed nothing, before the channel
    was created or while a write waited for its reply (once in some
    thousands of calls).  The set-up reads and writes absolute values, so
    a call can be repeated; it is independent of the code under test, so a
    few tries are right here.  Any other error is raised at once.
    """

    TRIES = 3

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        from caproto import CaprotoError
        for attempt in range(1, self.TRIES + 1):
            try:
                return call(*args, **kwargs)
            except CaprotoError as exc:
                if not str(exc).startswith('Disconnected') or attempt == self.TRIES:
                    raise
                time.sleep(0.2)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._client.read, *args, **kwargs)

    def write(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._client.write, *args, **kwargs)


@contextlib.contextmanager
def caproto_sync_client() -> Iterator[_SetUpClient]:
    """caproto's synchronous client (see :class:`_SetUpClient`), searching
    from a UDP port of its own.

    The tests set their servers up through it, independent of the code
    under test.  caproto binds each search socket to port 0 with
    SO_REUSEADDR, and Linux may then give it a port that another socket
    with SO_REUSEADDR holds (an IOC's, another client's): the search reply
    goes to that socket and the search times out (seen about once in a few
    hundred calls on a busy machine).  A plain socket gets a port of its own.
    """
    import caproto
    from caproto.sync import client

    def plain_udp_socket(socket_module: Any = socket) -> Any:
        return socket_module.socket(socket_module.AF_INET, socket_module.SOCK_DGRAM)

    original = caproto.bcast_socket
    caproto.bcast_socket = plain_udp_socket
    try:
        yield _SetUpClient(client)
    finally:
        caproto.bcast_socket = original


def reset_motor(name: str = 'sim:m1') -> None:
    """Restore the simulator's defaults (through caproto's client, independent
    of the code under test; it searches the loopback address list only)."""
    with caproto_sync_client() as client:
        client.write(name + ':SIM_RESET', 1, notify=True, timeout=10, repeater=False)


def motor_fixture(names: Sequence[str] = NAMES, scope: str = 'module') -> Any:
    """A pytest fixture running the simulator for the tests of one module.

    Yields the :class:`MotorSimulator`; the simulator is stopped afterwards
    and its output shown if it could not start.
    """
    import pytest

    @pytest.fixture(scope=scope)
    def motor_simulator() -> Any:
        with MotorSimulator(names) as simulator:
            yield simulator
    return motor_simulator
