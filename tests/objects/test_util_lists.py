"""CaChannel.util's list forms: caget/caput/cainfo of a list of names, both backends.

A list is searched for in one round and read in one pend (one timeout for
the search of all of them, one for all the reads); errors name the PVs;
single names keep their behaviour (test_util.py).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

NE = 'util:lists:does-not-exist'


@pytest.fixture
def util(object_layer: ModuleType) -> Any:
    from CaChannel import util as module
    return module


def test_caget_and_caput_of_a_list(util: Any) -> None:
    names = ['calong', 'castr', 'catest', 'calong']
    util.caput(names[:3], [5, 'listed', 1.25], wait=True)
    assert util.caget(names) == [5, 'listed', 1.25, 5]
    assert util.caget(('cabo',), as_string=True) == ['Done']
    util.caput(['calong', 'catest'], [0, 0])
    assert util.caget(['calong', 'catest']) == [0, 0]
    assert util.caget([]) == []


def test_cainfo_of_a_list(util: Any, capsys: Any) -> None:
    util.cainfo(['calong', 'castr'])
    out = capsys.readouterr().out
    assert out.index('calong') < out.index('castr')
    assert out.count('State:') == 2


def test_bad_lists_raise(util: Any) -> None:
    from CaChannel import CaChannelException
    with pytest.raises(ValueError):
        util.caput(['calong', 'catest'], [1])
    with pytest.raises(TypeError):
        util.caput(['calong', 'catest'], 1)
    with pytest.raises(CaChannelException) as caught:
        util.caget(['calong', NE], timeout=0.5)
    assert repr(NE) in str(caught.value) and 'not found' in str(caught.value)


@pytest.mark.parametrize('wait', [False, True])
def test_a_refused_write_in_a_list_names_its_pv(util: Any, wait: bool) -> None:
    from CaChannel import CaChannelException
    with pytest.raises(CaChannelException) as caught:
        util.caput(['catest', 'cabo'], [2.5, 'Nope'], wait=wait)
    assert 'cabo' in str(caught.value) and 'catest' not in str(caught.value)
    assert util.caget('catest') == 2.5
