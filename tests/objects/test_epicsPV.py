"""epicsPV on both backends: construction, monitor-served reads, getControl, putWait."""

from __future__ import annotations

from types import ModuleType

import pytest

from CaChannel import CaChannelException
from CaChannel.epicsPV import epicsPV




def test_constructor_waits_by_default(object_layer: ModuleType) -> None:
    pv = epicsPV('catest')
    assert pv.state() == object_layer.ChannelState.CONN
    lazy = epicsPV('calong', wait=False)
    lazy.pend_io()
    assert lazy.state() == object_layer.ChannelState.CONN
    assert epicsPV().state() == object_layer.ChannelState.NEVER_SEARCH


def test_monitor_serves_reads(object_layer: ModuleType) -> None:
    writer = epicsPV('calong')
    writer.putWait(1)
    pv = epicsPV('calong')
    pv.setMonitor()
    for _ in range(100):
        if pv.checkMonitor():
            break
    assert pv.callBack.monitorState == 2
    assert pv.getw() == 1
    writer.putWait(2)
    for _ in range(100):
        if pv.checkMonitor():
            break
    assert pv.getw() == 2 and pv.getValue() == 2 and pv.array_get() == 2
    assert pv.checkMonitor() == 0  # no update since the reads
    pv.clearMonitor()
    assert pv.callBack.monitorState == 0
    writer.putWait(3)
    assert pv.getw() == 3  # read from the server again


def test_monitor_count_slices(object_layer: ModuleType) -> None:
    epicsPV('cawave').putWait([1, 2, 3, 4])
    pv = epicsPV('cawave')
    pv.setMonitor()
    for _ in range(100):
        if pv.checkMonitor():
            break
    assert pv.getw(count=2) == [1.0, 2.0]


def test_get_control(object_layer: ModuleType) -> None:
    pv = epicsPV('catest')
    pv.putWait(0)
    pv.getControl()
    assert pv.callBack.pv_value == 0.0
    assert pv.callBack.pv_units == 'mm'
    assert pv.callBack.pv_precision == 4
    assert pv.callBack.pv_upalarmlim == 20.0
    assert pv.callBack.type == object_layer.DBR_CTRL_DOUBLE


def test_put_wait_failure_raises(object_layer: ModuleType) -> None:
    pv = epicsPV('cadisabled')
    with pytest.raises(CaChannelException):
        pv.putWait(2.0)
    assert pv.callBack.putComplete == 1
