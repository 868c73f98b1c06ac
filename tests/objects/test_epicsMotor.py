"""epicsMotor against the real motor record and against tests/helpers/motor_sim.py, on both backends.

Every test that takes the ``motor`` fixture runs four times: against the
real motor record (the EPICS motor module's record and Soft Channel device
support, built from ``../shared/motor`` by tests/helpers/motor_ioc.py) and against
the caproto simulator of tests/helpers/motor_sim.py, each with the C and the cffi
backend.  Where the two servers disagreed the record was right, and the
simulator was fixed to match it.  The record tests skip, saying why, where
``../shared/motor`` or a C++ compiler is missing (never in CI).

The tests that take ``sim_motor`` need what only the simulator can give:
limit switches, and a position that a controller loads in Set mode (the
record's Soft Channel device support ignores that command).

Both servers reset a motor to the same state before every test: dial 0,
offset 0, MRES 0.001, VELO 50, ACCL 0.2, BDST 0, soft limits -100..100
(dial); the simulator's limit switches are at dial -150 and +150.
"""

from __future__ import annotations

import _thread
import threading
import time
from types import ModuleType
from typing import Any, Dict, List

import pytest

from helpers import motor_ioc
from helpers import motor_sim

# Before any CA context reads EPICS_CA_ADDR_LIST: the two servers' ports.
motor_sim.reserve_port()
motor_sim.reserve_port('record')

from CaChannel import ca  # noqa: E402
from CaChannel.epicsMotor import _FIELDS, epicsMotor, epicsMotorException  # noqa: E402
from CaChannel.epicsPV import epicsPV  # noqa: E402

motor_simulator = motor_sim.motor_fixture()
motor_kit = motor_ioc.motor_kit_fixture()
motor_record = motor_ioc.motor_ioc_fixture()

#: Generous bound on waiting for monitor events that must come (never a timing assertion).
EVENT_WAIT = 30.0


@pytest.fixture(scope='module', params=['record', 'simulator'])
def motor_server(request: pytest.FixtureRequest) -> Any:
    """The real motor record's IOC, or the simulator: ``names`` and ``reset(name)``."""
    return request.getfixturevalue('motor_' + request.param)


def _motor(server: Any, index: int = 0) -> epicsMotor:
    server.reset(server.names[index])
    return epicsMotor(server.names[index])


@pytest.fixture
def motor(object_layer: ModuleType, motor_server: Any) -> epicsMotor:
    return _motor(motor_server)


@pytest.fixture
def motor2(object_layer: ModuleType, motor_server: Any) -> epicsMotor:
    """The second motor of the same server."""
    return _motor(motor_server, 1)


@pytest.fixture
def sim_motor(object_layer: ModuleType, motor_simulator: Any) -> epicsMotor:
    """A motor of the simulator only, for what the real record cannot show."""
    return _motor(motor_simulator)


def wait_until(condition: Any) -> None:
    """Wait (bounded, generously) for something that must happen."""
    deadline = time.monotonic() + EVENT_WAIT
    while not condition():
        assert time.monotonic() < deadline, 'not reached in %s s' % EVENT_WAIT
        time.sleep(0.01)


class Events:
    """The values a subscription to one field delivers, kept as they arrive."""

    def __init__(self, pv_name: str) -> None:
        self.values: List[Any] = []
        self._changed = threading.Condition()
        self.pv = epicsPV(pv_name)
        self.pv.add_masked_array_event(None, None, ca.DBE_VALUE, self._store)
        self.pv.flush_io()
        self.wait_for(lambda values: len(values) >= 1)  # the current value

    def _store(self, epics_args: Dict[str, Any], user_args: Any) -> None:
        with self._changed:
            self.values.append(epics_args['pv_value'])
            self._changed.notify_all()

    def wait_for(self, condition: Any) -> List[Any]:
        """Wait until condition(values) holds (bounded); return the values."""
        with self._changed:
            assert self._changed.wait_for(lambda: condition(self.values), EVENT_WAIT), self.values
            return list(self.values)


# --- moves in each coordinate -------------------------------------------------

def test_absolute_move_user(motor: epicsMotor) -> None:
    motor.move(10)
    motor.wait()
    assert motor.get_position() == 10
    assert motor.get_position(readback=True) == pytest.approx(10)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(10)
    assert motor.get_position(step=True, readback=True) == 10000
    assert motor.done_moving == 1


def test_absolute_move_dial_with_offset(motor: epicsMotor) -> None:
    motor.offset = 5
    motor.move(20, dial=True)
    motor.wait()
    assert motor.get_position(dial=True, readback=True) == pytest.approx(20)
    assert motor.get_position(readback=True) == pytest.approx(25)
    assert motor.get_position() == pytest.approx(25)


def test_absolute_move_steps(motor: epicsMotor) -> None:
    motor.move(3000, step=True)
    motor.wait()
    assert motor.get_position(step=True, readback=True) == 3000
    assert motor.get_position(step=True) == 3000
    assert motor.get_position(readback=True) == pytest.approx(3.0)


def test_relative_moves_in_each_coordinate(motor: epicsMotor) -> None:
    motor.move(10)
    motor.wait()
    motor.move(2, relative=True)
    motor.wait()
    assert motor.get_position(readback=True) == pytest.approx(12)
    assert motor.pvs['rlv'].getw() == 0  # the record clears RLV once it took it
    motor.move(-4, dial=True, relative=True)
    motor.wait()
    assert motor.get_position(dial=True, readback=True) == pytest.approx(8)
    motor.move(500, step=True, relative=True)
    motor.wait()
    assert motor.get_position(step=True, readback=True) == 8500


def test_negative_direction(motor: epicsMotor) -> None:
    epicsPV(motor.name + '.DIR').putw('Neg')  # user = -dial + OFF
    motor.move(10)
    motor.wait()
    assert motor.get_position(dial=True, readback=True) == pytest.approx(-10)
    assert motor.get_position(readback=True) == pytest.approx(10)


def test_dial_and_step_are_exclusive(motor: epicsMotor) -> None:
    with pytest.raises(ValueError):
        motor.move(1, dial=True, step=True)
    with pytest.raises(ValueError):
        motor.get_position(dial=True, step=True)
    with pytest.raises(ValueError):
        motor.set_position(1, dial=True, step=True)
    assert motor.done_moving == 1  # nothing was written


# --- waiting and stopping -----------------------------------------------------

def test_wait_start_and_stop_and_stop(motor: epicsMotor) -> None:
    motor.slew_speed = 5
    motor.move(50)
    motor.wait(start=True)
    assert motor.done_moving == 0
    time.sleep(0.3)  # let it travel a little (the whole move takes 10 s)
    motor.stop()
    motor.wait(stop=True)
    position = motor.get_position(readback=True)
    assert 0 < position < 50
    # after a stop the target follows the readback
    assert motor.get_position() == pytest.approx(position)
    assert motor.get_position(step=True) == motor.get_position(step=True, readback=True)


def test_wait_start_and_stop_together(motor: epicsMotor) -> None:
    motor.move(5)
    motor.wait(start=True, stop=True)
    assert motor.done_moving == 1
    assert motor.get_position(readback=True) == pytest.approx(5)


def test_wait_start_after_a_move_that_is_over(motor: epicsMotor) -> None:
    """A one-step move can end before wait() looks: it still counts as the start."""
    motor.move(1, step=True, relative=True)
    wait_until(lambda: motor.done_moving == 1)
    # Waiting for a start that never comes would block for ever: a watchdog
    # interrupts it (no CA call in that thread).
    watchdog = threading.Timer(EVENT_WAIT, _thread.interrupt_main)
    watchdog.start()
    try:
        motor.wait(start=True, stop=True)
    except KeyboardInterrupt:
        pytest.fail('wait(start=True) missed a move that was over')
    finally:
        watchdog.cancel()
    assert motor.get_position(step=True, readback=True) == 1


def test_put_wait_completes_when_the_move_ends(motor: epicsMotor) -> None:
    motor.slew_speed = 20
    epicsPV(motor.name + '.VAL').putWait(10)
    # the put-callback came with the end of the motion, not with the write
    assert motor.done_moving == 1
    assert motor.get_position(readback=True) == pytest.approx(10)
    epicsPV(motor.name + '.RLV').putWait(-4)
    assert motor.done_moving == 1
    assert motor.get_position(readback=True) == pytest.approx(6)
    epicsPV(motor.name + '.DVAL').putWait(2)
    assert motor.done_moving == 1
    assert motor.get_position(dial=True, readback=True) == pytest.approx(2)


def test_rbv_monitor_follows_the_move(motor: epicsMotor) -> None:
    """An epicsPV monitor of .RBV sees the motor travel, and its last value is the target."""
    motor.slew_speed = 5
    rbv = epicsPV(motor.name + '.RBV')
    rbv.setMonitor()
    wait_until(rbv.checkMonitor)  # its first value
    seen = [rbv.getValue()]
    motor.move(5)

    def at_target() -> bool:
        if rbv.checkMonitor():
            seen.append(rbv.getValue())
        return bool(seen[-1] == pytest.approx(5))

    wait_until(at_target)
    motor.wait()
    rbv.clearMonitor()
    assert seen[0] == 0
    assert seen == sorted(seen)  # one way, never past the target
    assert [value for value in seen if 0 < value < 5]  # seen on its way


def test_two_motors_move_at_once(motor: epicsMotor, motor2: epicsMotor) -> None:
    motor.slew_speed = motor2.slew_speed = 5
    motor.move(50)
    motor2.move(-50)
    # both moves take 10 s: both are under way at once
    assert (motor.done_moving, motor2.done_moving) == (0, 0)
    motor.move(2)  # a new target during a move
    motor2.move(-3)
    motor.wait()
    motor2.wait()
    assert motor.get_position(readback=True) == pytest.approx(2)
    assert motor2.get_position(readback=True) == pytest.approx(-3)


# --- backlash -----------------------------------------------------------------

def test_backlash_move_ends_after_the_last_leg(motor: epicsMotor) -> None:
    motor.slew_speed = 20
    motor.backlash = 2  # the preferred direction is positive
    drbv = Events(motor.name + '.DRBV')
    dmov = Events(motor.name + '.DMOV')
    motor.move(10)      # in that direction: straight there
    motor.wait()
    first = drbv.wait_for(lambda values: values[-1] == pytest.approx(10))
    assert max(first) == pytest.approx(10)
    # against it: 2 beyond the target, then back; the put-callback and DMOV
    # come only at the end of the second leg
    epicsPV(motor.name + '.VAL').putWait(5)
    assert motor.done_moving == 1
    assert motor.get_position(dial=True, readback=True) == pytest.approx(5)
    second = drbv.wait_for(lambda values: values[-1] == pytest.approx(5))[len(first):]
    assert min(second) == pytest.approx(3)
    assert second.index(min(second)) < len(second) - 1  # then came back
    # DMOV: 1 -> 0 -> 1 around each move, never 1 between the legs
    assert dmov.wait_for(lambda values: len(values) >= 5) == [1, 0, 1, 0, 1]


def test_backlash_overshoot_beyond_a_soft_limit_is_refused(motor: epicsMotor) -> None:
    motor.backlash = 2
    motor.dial_low_limit = -10
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.move(-9)  # within the limits, but the first leg ends at -11
    assert motor.get_position() == 0
    motor.move(-7)
    motor.wait()
    assert motor.get_position(readback=True) == pytest.approx(-7)


# --- limits -------------------------------------------------------------------

def test_soft_limit_violation(motor: epicsMotor) -> None:
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.move(200)
    assert motor.get_position(readback=True) == 0
    assert motor.get_position() == 0  # the record restored the target
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.wait()
    motor.wait(ignore_limits=True)
    motor.move(200, ignore_limits=True)  # no exception, still no move
    assert motor.get_position() == 0
    # a put-callback of a refused move comes at once
    epicsPV(motor.name + '.VAL').putWait(-300)
    assert motor.done_moving == 1
    assert motor.pvs['lvio'].getw() == 1
    motor.move(1)
    motor.wait()
    assert motor.get_position(readback=True) == pytest.approx(1)
    assert motor.pvs['lvio'].getw() == 0


def test_relative_move_beyond_a_soft_limit(motor: epicsMotor) -> None:
    motor.high_limit = 10
    motor.move(5)
    motor.wait()
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.move(10, relative=True)
    assert motor.get_position() == pytest.approx(5)
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.move(10000, step=True, relative=True)
    assert motor.get_position(readback=True) == pytest.approx(5)


def test_user_and_dial_limits_follow_offset(motor: epicsMotor) -> None:
    motor.offset = 10
    assert motor.high_limit == pytest.approx(110)
    assert motor.low_limit == pytest.approx(-90)
    motor.high_limit = 50
    assert motor.dial_high_limit == pytest.approx(40)
    motor.dial_low_limit = -20
    assert motor.low_limit == pytest.approx(-10)
    with pytest.raises(epicsMotorException):
        motor.move(60)


def test_hard_limit_switches(sim_motor: epicsMotor) -> None:
    motor = sim_motor
    motor.dial_high_limit = 0  # both soft limits 0: disabled
    motor.dial_low_limit = 0
    motor.slew_speed = 500
    motor.move(200)
    with pytest.raises(epicsMotorException, match='High hard limit'):
        motor.wait()
    assert motor.get_position(dial=True, readback=True) == pytest.approx(motor_sim.HARD_HIGH)
    # still on the high switch when the move starts: ignore that one
    motor.move(-200, ignore_limits=True)
    with pytest.raises(epicsMotorException, match='Low hard limit'):
        motor.wait()
    motor.move(0, ignore_limits=True)
    motor.wait()
    motor.check_limits()  # off the switches again


# --- set_position and the properties ------------------------------------------

def test_set_position_user_dial_step(motor: epicsMotor) -> None:
    motor.move(10)
    motor.wait()
    motor.set_position(100)
    assert motor.offset == pytest.approx(90)
    assert motor.get_position(readback=True) == pytest.approx(100)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(10)
    # a new dial position keeps the user position: the offset changes
    motor.set_position(30, dial=True)
    assert motor.get_position(dial=True) == pytest.approx(30)
    assert motor.get_position() == pytest.approx(100)
    assert motor.offset == pytest.approx(70)
    motor.set_position(5000, step=True)
    assert motor.get_position(step=True) == 5000
    assert motor.get_position(dial=True) == pytest.approx(5)
    assert motor.get_position() == pytest.approx(100)
    assert motor.offset == pytest.approx(95)
    assert motor.pvs['set'].getw() == 0  # back in Use mode
    # the record loads a position asynchronously (DMOV 1 -> 0 -> 1)
    motor.wait()
    assert motor.done_moving == 1


def test_set_position_redefines_the_readback(sim_motor: epicsMotor) -> None:
    """A controller that loads a position reads back the new dial position."""
    motor = sim_motor
    motor.move(10)
    motor.wait()
    motor.set_position(30, dial=True)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(30)
    assert motor.get_position(readback=True) == pytest.approx(10)
    motor.set_position(5000, step=True)
    assert motor.get_position(step=True, readback=True) == 5000
    assert motor.get_position(readback=True) == pytest.approx(10)


def test_properties(motor: epicsMotor) -> None:
    motor.acceleration = 0.1
    assert motor.acceleration == pytest.approx(0.1)
    motor.base_speed = 1
    assert motor.base_speed == 1
    motor.backlash = 0.5
    assert motor.backlash == 0.5
    motor.description = 'slit'
    assert motor.description == 'slit'
    assert motor.resolution == pytest.approx(0.001)
    assert motor.slew_speed == 50
    motor.slew_speed = 12.5
    assert motor.slew_speed == 12.5
    motor.offset = -2
    assert motor.offset == -2
    assert motor.high_limit == pytest.approx(98)
    motor.low_limit = -50
    assert motor.low_limit == pytest.approx(-50)
    assert motor.dial_low_limit == pytest.approx(-48)
    assert motor.dial_high_limit == pytest.approx(100)
    assert motor.done_moving == 1
    with pytest.raises(AttributeError):
        motor.done_moving = 0


def test_simulator_serves_the_record_field_types(object_layer: ModuleType, motor_simulator: Any,
                                                 motor_record: Any) -> None:
    """Every field epicsMotor uses has the same native type and count on both servers."""
    def types(name: str) -> Dict[str, Any]:
        pvs = {field: epicsPV('%s.%s' % (name, field)) for field in _FIELDS + ('MOVN', 'DIR')}
        return {field: (pv.field_type(), pv.element_count()) for field, pv in pvs.items()}

    assert types(motor_simulator.names[0]) == types(motor_record.names[0])
