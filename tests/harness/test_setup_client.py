"""The motor tests' set-up client tries a dropped circuit again, and nothing else.

:class:`helpers.motor_sim._SetUpClient` wraps caproto's sync client; here a
stand-in for caproto's ``read`` raises caproto's own errors in a chosen
order, so each path is taken on purpose (the drop it guards against is rare
and cannot be provoked on a real IOC).
"""

from __future__ import annotations

from typing import Any, List

import pytest
from caproto import CaprotoError, CaprotoTimeoutError

from helpers import motor_sim

DROPPED = 'Disconnected during initialization'


class Scripted:
    """``read`` that raises the given exceptions in turn, then returns 'value'."""

    def __init__(self, failures: List[BaseException]) -> None:
        self.failures = list(failures)
        self.calls: List[Any] = []

    def read(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        if self.failures:
            raise self.failures.pop(0)
        return 'value'

    write = read


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(motor_sim.time, 'sleep', lambda seconds: None)


def test_a_dropped_circuit_is_tried_again() -> None:
    stand_in = Scripted([CaprotoError(DROPPED),
                         CaprotoError('Disconnected while waiting for write response')])
    client = motor_sim._SetUpClient(stand_in)
    assert client.read('m1.DMOV', timeout=3) == 'value'
    assert stand_in.calls == [(('m1.DMOV',), {'timeout': 3})] * 3


def test_a_circuit_dropped_every_time_raises_after_the_last_try() -> None:
    stand_in = Scripted([CaprotoError(DROPPED)] * 5)
    client = motor_sim._SetUpClient(stand_in)
    with pytest.raises(CaprotoError, match=DROPPED):
        client.write('m1.VAL', 1)
    assert len(stand_in.calls) == motor_sim._SetUpClient.TRIES


def test_other_errors_are_raised_at_once() -> None:
    stand_in = Scripted([CaprotoTimeoutError('Timeout while awaiting channel creation.')])
    client = motor_sim._SetUpClient(stand_in)
    with pytest.raises(CaprotoTimeoutError):
        client.read('m1.DMOV')
    assert len(stand_in.calls) == 1
