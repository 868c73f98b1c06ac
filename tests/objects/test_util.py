"""CaChannel.util beyond the documentation's examples, on both backends."""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any, List

import pytest

from CaChannel import CaChannelException, util


@pytest.fixture
def object_layer(object_layer: ModuleType, backend: str) -> Any:
    """conftest's ``object_layer``, with util's channel cache emptied around
    the test.  (*backend* named here too: pytest 8, the last for Python 3.9,
    does not parametrize through a fixture that overrides one of its name.)"""
    util._channel_.clear()  # cached channels belong to the other backend
    yield object_layer
    for chan in util._channel_.values():
        chan.clear_channel()
    util._channel_.clear()


def test_channels_are_cached(object_layer: ModuleType) -> None:
    util.caput('calong', 3)
    first = util._channel_['calong']
    assert util.caget('calong') == 3
    assert util._channel_['calong'] is first


def test_caget_as_string_and_count(object_layer: ModuleType) -> None:
    util.caput('cawavec', 'hi')
    assert util.caget('cawavec', as_string=True) == 'hi'
    assert util.caget('cawavec', count=2) == [104, 105]
    util.caput('cabo', 0)
    assert util.caget('cabo', as_string=True) == 'Done'
    util.caput('catest', 2.5)
    assert util.caget('catest', as_string=True) == 2.5  # numeric: unaffected


def test_caput_wait(object_layer: ModuleType) -> None:
    util.caput('catest', 7.5, wait=True, timeout=5)
    assert util.caget('catest') == 7.5


def test_caput_wait_failure_raises(object_layer: ModuleType) -> None:
    with pytest.raises(CaChannelException) as info:
        util.caput('cadisabled', 1.0, wait=True, timeout=5)
    assert info.value.status != object_layer.ECA_NORMAL


def test_camonitor_callback_and_removal(object_layer: ModuleType) -> None:
    got: List[Any] = []
    event = threading.Event()

    def callback(epics_args: Any, user_args: Any) -> None:
        got.append(epics_args)
        event.set()

    util.camonitor('cabo', as_string=True, callback=callback)
    assert event.wait(5)
    assert got[0]['pv_value'] in ('Done', 'Busy')
    assert got[0]['type'] == object_layer.DBR_TIME_STRING
    util.camonitor('cabo', callback=0)
    count = len(got)
    util.caput('cabo', 1)
    util.caput('cabo', 0)
    time.sleep(0.3)
    assert len(got) == count


def test_camonitor_default_prints(object_layer: ModuleType, capsys: pytest.CaptureFixture) -> None:
    util.caput('calong', 11)
    util.camonitor('calong')
    deadline = time.monotonic() + 5
    out = ''
    while 'calong' not in out and time.monotonic() < deadline:
        time.sleep(0.05)
        out += capsys.readouterr().out
    util.camonitor('calong', callback=())
    line = out.splitlines()[0].split()
    assert line[0] == 'calong' and line[-1] == '11'


def test_cainfo_numeric(object_layer: ModuleType, capsys: pytest.CaptureFixture) -> None:
    util.caput('catest', 0)
    util.cainfo('catest')
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'catest'
    assert lines[1] == '    State:          Connected'
    assert '    Data type:      DBF_DOUBLE' in lines
    assert '    Access:         RW' in lines
    assert '    Status:         NO_ALARM' in lines
    assert '    Units:          mm' in lines
    assert '    Precision:      4' in lines
    assert '    Hi alarm limit: 20.0' in lines


def test_caget_missing_pv_raises(object_layer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from CaChannel import CaChannel
    monkeypatch.setattr(CaChannel, 'ca_timeout', 0.5)
    with pytest.raises(CaChannelException) as info:
        util.caget('no-such-util-pv')
    assert info.value.status == object_layer.ECA_TIMEOUT
    assert 'no-such-util-pv' not in util._channel_
