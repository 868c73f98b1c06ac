"""A simulated EPICS motor record, served by caproto, for the epicsMotor tests.

Run as a program it serves one motor record named by ``--name`` (default
``sim:m1``) on 127.0.0.1 at ``EPICS_CA_SERVER_PORT``; :class:`MotorSimulator`
starts it as a subprocess with the loopback environment of
:mod:`CaChannel.testing` and waits for its ready line.

What is simulated (the motor record behaviour epicsMotor relies on):

* coordinates: ``user = dial * sign(DIR) + OFF`` and ``steps = dial / MRES``;
  VAL/DVAL/RVAL are targets, RBV/DRBV/RRBV readbacks, RLV a relative move;
* motion at finite speed: a move takes ``ACCL + distance / VELO`` seconds,
  DMOV is 0 and MOVN 1 meanwhile; STOP=1 stops at the current position;
* soft limits DHLM/DLLM (HLM/LLM in user coordinates): a target outside them
  sets LVIO=1 and does not move (both 0 disables them);
* hard limit switches at fixed dial positions :data:`HARD_LOW`/:data:`HARD_HIGH`:
  a move running into one stops there with LLS or HLS set;
* SET=1 (Set mode): writing VAL changes OFF, writing DVAL or RVAL redefines
  the dial position; nothing moves;
* after a stop (STOP, limit switch) the targets are set to the readback.

Simulator only (not a motor record field): writing 1 to ``<name>:SIM_RESET``
restores every field to its default, so each test starts from the same state.

Every write handler finishes without awaiting anything slow, and the server
runs with ``CAPROTO_SERVER_WRITE_LOCK_TIMEOUT_SEC`` raised, so a read that
follows a write on the same circuit sees its effect, as with a real IOC.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

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
_reserved_port: Optional[int] = None


# ---------------------------------------------------------------------------
# client side: port reservation and the subprocess
# ---------------------------------------------------------------------------
def reserve_port() -> int:
    """Pick the simulator's port and add it to this process's CA address list.

    libca reads ``EPICS_CA_ADDR_LIST`` once, when the first context is made,
    so test modules call this at import (collection happens before any test
    makes a CA call).  One port per process; repeated calls return it.
    """
    global _reserved_port
    if _reserved_port is None:
        from CaChannel.testing import LOOPBACK, free_port
        _reserved_port = free_port()
        addresses = os.environ.get(_ENV_ADDR, LOOPBACK).split()
        addresses.append('%s:%d' % (LOOPBACK, _reserved_port))
        os.environ[_ENV_ADDR] = ' '.join(addresses)
    return _reserved_port


class MotorSimulator:
    """The simulator subprocess on the reserved loopback port; a context manager."""

    def __init__(self, name: str = 'sim:m1', start_timeout: float = 30.0) -> None:
        self.name = name
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
            [sys.executable, str(Path(__file__).resolve()), '--name', self.name],
            env=self.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read_output() -> None:
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self._output.append(line)
                if _READY in line:
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

    def __enter__(self) -> 'MotorSimulator':
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# ---------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------
def _make_group(record: str) -> Any:
    """Build the caproto PVGroup class serving motor record *record*."""
    from caproto import ChannelType
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
            self.move_from = 0.0
            self.move_to = 0.0
            self.move_start = 0.0
            self.move_time = 0.0
            self.moving = False

        # --- coordinate helpers -------------------------------------------
        def sign(self) -> int:
            return -1 if self.dir.value in ('Neg', 1) else 1

        def user(self, dial: float) -> float:
            return dial * self.sign() + self.off.value

        def dial_of_user(self, user: float) -> float:
            return (user - self.off.value) * self.sign()

        def steps(self, dial: float) -> int:
            return int(round(dial / self.mres.value))

        async def show_targets(self, dial: float) -> None:
            await self.val.write(self.user(dial), verify_value=False)
            await self.dval.write(dial, verify_value=False)
            await self.rval.write(self.steps(dial), verify_value=False)

        async def show_readback(self) -> None:
            await self.rbv.write(self.user(self.position), verify_value=False)
            await self.drbv.write(self.position, verify_value=False)
            await self.rrbv.write(self.steps(self.position), verify_value=False)
            await self.hls.write(int(self.position >= HARD_HIGH), verify_value=False)
            await self.lls.write(int(self.position <= HARD_LOW), verify_value=False)

        async def show_user_limits(self) -> None:
            low, high = sorted((self.user(self.dllm.value), self.user(self.dhlm.value)))
            await self.llm.write(low, verify_value=False)
            await self.hlm.write(high, verify_value=False)

        async def set_dial_limits_from_user(self, low: float, high: float) -> None:
            dlow, dhigh = sorted((self.dial_of_user(low), self.dial_of_user(high)))
            await self.dllm.write(dlow, verify_value=False)
            await self.dhlm.write(dhigh, verify_value=False)

        # --- moving -------------------------------------------------------
        def within_soft_limits(self, dial: float) -> bool:
            low, high = self.dllm.value, self.dhlm.value
            if low == 0 and high == 0:
                return True
            return low <= dial <= high

        async def request(self, dial: float) -> bool:
            """A new dial target from VAL/DVAL/RVAL/RLV in Use mode; False if refused."""
            if not self.within_soft_limits(dial):
                await self.lvio.write(1, verify_value=False)
                return False
            await self.lvio.write(0, verify_value=False)
            if ((self.position >= HARD_HIGH and dial > self.position)
                    or (self.position <= HARD_LOW and dial < self.position)):
                return False  # the switch is active in that direction
            await self.show_targets(dial)
            self.move_from, self.move_to = self.position, dial
            self.move_start = time.monotonic()
            self.move_time = self.accl.value + abs(dial - self.position) / max(self.velo.value, 1e-9)
            self.moving = True
            await self.dmov.write(0, verify_value=False)
            await self.movn.write(1, verify_value=False)
            return True

        async def halt(self) -> None:
            """Stop where the motor is; targets follow the readback."""
            self.moving = False
            await self.show_readback()
            await self.show_targets(self.position)
            await self.movn.write(0, verify_value=False)
            await self.dmov.write(1, verify_value=False)

        async def tick(self) -> None:
            if not self.moving:
                return
            fraction = 1.0
            if self.move_time > 0:
                fraction = min(1.0, (time.monotonic() - self.move_start) / self.move_time)
            self.position = self.move_from + (self.move_to - self.move_from) * fraction
            if self.position >= HARD_HIGH or self.position <= HARD_LOW:
                self.position = min(max(self.position, HARD_LOW), HARD_HIGH)
                await self.halt()
            elif fraction >= 1.0:
                self.position = self.move_to
                await self.halt()
            else:
                await self.show_readback()

        async def reset(self) -> None:
            self.moving = False
            self.position = 0.0
            for field, value in DEFAULTS.items():
                await getattr(self, field.lower()).write(value, verify_value=False)
            await self.set.write('Use', verify_value=False)
            for field in (self.lvio, self.stop, self.rlv):
                await field.write(0, verify_value=False)
            await self.show_user_limits()
            await self.halt()

        # --- write handlers ----------------------------------------------
        @val.putter
        async def val(self, instance: Any, value: float) -> Any:
            if self.set.value in ('Set', 1):
                await self.off.write(value - self.position * self.sign(), verify_value=False)
                await self.show_targets(self.position)
                await self.show_readback()
                await self.show_user_limits()
                return value
            if not await self.request(self.dial_of_user(value)):
                return instance.value
            return value

        async def redefine_or_move(self, instance: Any, dial: float, value: Any) -> Any:
            if self.set.value in ('Set', 1):
                self.position = dial
                await self.show_targets(dial)
                await self.show_readback()
                return value
            if not await self.request(dial):
                return instance.value
            return value

        @dval.putter
        async def dval(self, instance: Any, value: float) -> Any:
            return await self.redefine_or_move(instance, value, value)

        @rval.putter
        async def rval(self, instance: Any, value: int) -> Any:
            return await self.redefine_or_move(instance, value * self.mres.value, value)

        @rlv.putter
        async def rlv(self, instance: Any, value: float) -> Any:
            await self.request(self.dial_of_user(self.val.value + value))
            return 0.0  # the record clears RLV once the move is requested

        @stop.putter
        async def stop(self, instance: Any, value: int) -> Any:
            if value:
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
            await self.rval.write(self.steps(self.dval.value), verify_value=False)
            await self.rrbv.write(self.steps(self.position), verify_value=False)
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
            print(_READY, flush=True)
            while True:
                await self.tick()
                await async_lib.library.sleep(_TICK)

    return Motor(prefix=record)


def main(argv: Optional[list] = None) -> None:
    from caproto.server import run
    from CaChannel.testing import LOOPBACK

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--name', default='sim:m1', help='motor record name')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # No repeater may be listening on the loopback: a refused beacon is
    # expected, not worth a traceback every 15 s.
    logging.getLogger('caproto.ctx').addFilter(
        lambda record: not record.getMessage().startswith('Failed to send beacon'))
    group = _make_group(args.name)
    pvdb = dict(group.pvdb)
    # the record name alone addresses VAL, as on an IOC
    pvdb[args.name] = pvdb[args.name + '.VAL']
    # bind the loopback only, whatever the environment says
    run(pvdb, interfaces=[LOOPBACK])


if __name__ == '__main__':
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()


def reset_motor(name: str = 'sim:m1') -> None:
    """Restore the simulator's defaults (through caproto's client, independent
    of the code under test; it searches the loopback address list only)."""
    from caproto.sync.client import write
    write(name + ':SIM_RESET', 1, notify=True, timeout=10)


def motor_fixture(name: str = 'sim:m1', scope: str = 'module') -> Any:
    """A pytest fixture running the simulator for the tests of one module.

    Yields the :class:`MotorSimulator`; the simulator is stopped afterwards
    and its output shown if it could not start.
    """
    import pytest

    @pytest.fixture(scope=scope)
    def motor_simulator() -> Any:
        with MotorSimulator(name) as simulator:
            yield simulator
    return motor_simulator
