"""epicsMotor against the real motor record and against tests/motor_sim.py, on both backends.

SERVERS RUN
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest

import motor_ioc
import motor_sim

motor_sim.reserve_port()  # before any CA context reads EPICS_CA_ADDR_LIST
motor_sim.reserve_port('record')

from CaChannel.epicsMotor import epicsMotor, epicsMotorException  # noqa: E402
from CaChannel.epicsPV import epicsPV  # noqa: E402

motor_simulator = motor_sim.motor_fixture()
motor_kit = motor_ioc.motor_kit_fixture()
motor_record = motor_ioc.motor_ioc_fixture()


@pytest.fixture(scope='module', params=['record', 'simulator'])
def motor_server(request: pytest.FixtureRequest) -> Any:
    """The real motor record's IOC, or the simulator (one at a time)."""
    return request.getfixturevalue('motor_' + request.param)


@pytest.fixture
def motor(ca_backend: ModuleType, monkeypatch: pytest.MonkeyPatch,
          motor_server: Any) -> epicsMotor:
    monkeypatch.setenv('CACHANNEL_BACKEND', ca_backend.backend)
    motor_server.reset(motor_server.names[0])
    return epicsMotor(motor_server.names[0])


@pytest.fixture
def sim_motor(ca_backend: ModuleType, monkeypatch: pytest.MonkeyPatch,
              motor_simulator: Any) -> epicsMotor:
    """A motor of the simulator only, for what the real record cannot show."""
    monkeypatch.setenv('CACHANNEL_BACKEND', ca_backend.backend)
    motor_simulator.reset(motor_simulator.names[0])
    return epicsMotor(motor_simulator.names[0])


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


def test_absolute_move_steps(motor: epicsMotor) -> None:
    motor.move(3000, step=True)
    motor.wait()
    assert motor.get_position(step=True, readback=True) == 3000
    assert motor.get_position(readback=True) == pytest.approx(3.0)


def test_relative_moves_in_each_coordinate(motor: epicsMotor) -> None:
    motor.move(10)
    motor.wait()
    motor.move(2, relative=True)
    motor.wait()
    assert motor.get_position(readback=True) == pytest.approx(12)
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


def test_wait_start_and_stop_together(motor: epicsMotor) -> None:
    motor.move(5)
    motor.wait(start=True, stop=True)
    assert motor.done_moving == 1
    assert motor.get_position(readback=True) == pytest.approx(5)


def test_soft_limit_violation(motor: epicsMotor) -> None:
    with pytest.raises(epicsMotorException, match='Soft limit'):
        motor.move(200)
    assert motor.get_position(readback=True) == 0
    motor.move(200, ignore_limits=True)  # no exception, still no move
    assert motor.get_position() == 0
    motor.move(1)
    motor.wait()
    assert motor.get_position(readback=True) == pytest.approx(1)


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


def test_set_position_user_dial_step(motor: epicsMotor) -> None:
    motor.move(10)
    motor.wait()
    motor.set_position(100)
    assert motor.offset == pytest.approx(90)
    assert motor.get_position(readback=True) == pytest.approx(100)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(10)
    motor.set_position(30, dial=True)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(30)
    assert motor.get_position(readback=True) == pytest.approx(120)
    motor.set_position(5000, step=True)
    assert motor.get_position(dial=True, readback=True) == pytest.approx(5)
    assert motor.pvs['set'].getw() == 0  # back in Use mode
    assert motor.done_moving == 1


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
    with pytest.raises(AttributeError):
        motor.done_moving = 0


def test_dial_and_step_are_exclusive(motor: epicsMotor) -> None:
    with pytest.raises(ValueError):
        motor.move(1, dial=True, step=True)
    with pytest.raises(ValueError):
        motor.get_position(dial=True, step=True)
