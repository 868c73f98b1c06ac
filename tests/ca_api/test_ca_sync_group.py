"""Synchronous groups of the ``ca`` layer (ca_sg_*).  Runs on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.ca_helpers import connect, connected, get_value, put_ok  # noqa: F401


@pytest.fixture
def group(ca_backend):
    """A sync group, deleted after the test unless the test deleted it."""
    ca = ca_backend
    status, gid = ca.sg_create()
    assert status == ca.ECA.NORMAL
    assert type(status) is ca.ECA
    assert gid is not None
    yield gid
    ca.sg_delete(gid)


def test_put_then_get_values(ca_backend, connected, group):
    ca = ca_backend
    catest, calong, castr = connected('catest'), connected('calong'), connected('castr')
    assert ca.sg_put(group, catest, 5.5) == ca.ECA.NORMAL
    assert ca.sg_put(group, calong, 77) == ca.ECA.NORMAL
    assert ca.sg_put(group, castr, 'in a group', ca.DBR.STRING) == ca.ECA.NORMAL
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    assert ca.sg_test(group) == ca.ECA.IODONE
    results = [ca.sg_get(group, chid) for chid in (catest, calong, castr)]
    assert [status for status, _ in results] == [ca.ECA.NORMAL] * 3
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    assert [dbrvalue.get() for _, dbrvalue in results] == [5.5, 77, 'in a group']
    assert get_value(ca, catest) == 5.5


def test_get_types_and_numpy(ca_backend, connected, group):
    ca = ca_backend
    wave = connected('cawave')
    catest = connected('catest')
    put_ok(ca, wave, list(range(20)))
    put_ok(ca, catest, 2.0)
    status, as_numpy = ca.sg_get(group, wave, use_numpy=True)
    assert status == ca.ECA.NORMAL
    status, as_list = ca.sg_get(group, wave, ca.DBR.LONG, 4)
    assert status == ca.ECA.NORMAL
    status, ctrl = ca.sg_get(group, catest, ca.DBR.CTRL_DOUBLE)
    assert status == ca.ECA.NORMAL
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    value = as_numpy.get()
    assert isinstance(value, np.ndarray) and value.dtype == np.float64
    np.testing.assert_array_equal(value, np.arange(20.0))
    assert as_list.get() == [0, 1, 2, 3]
    ctrl = ctrl.get()
    assert ctrl['value'] == 2.0
    assert ctrl['units'] == 'mm'
    assert ctrl['precision'] == 4
    assert ctrl['upper_disp_limit'] == 20.0


def test_put_array_and_count(ca_backend, connected, group):
    ca = ca_backend
    wave = connected('cawaveh')
    assert ca.sg_put(group, wave, np.arange(10, dtype=np.float64), None, 6) == ca.ECA.NORMAL
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    assert get_value(ca, wave, ca.DBR.SHORT, 8) == [0, 1, 2, 3, 4, 5, 0, 0]


def test_test_reports_progress_and_reset_discards(ca_backend, connected, group):
    ca = ca_backend
    catest = connected('catest')
    put_ok(ca, catest, 1.0)
    assert ca.sg_test(group) == ca.ECA.IODONE
    status, dbrvalue = ca.sg_get(group, catest)
    assert status == ca.ECA.NORMAL
    # Nothing has been flushed yet, so no reply can have arrived.
    assert ca.sg_test(group) == ca.ECA.IOINPROGRESS
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    assert ca.sg_test(group) == ca.ECA.IODONE
    assert dbrvalue.get() == 1.0
    status, _ = ca.sg_get(group, catest)
    assert ca.sg_test(group) == ca.ECA.IOINPROGRESS
    assert ca.sg_reset(group) == ca.ECA.NORMAL
    assert ca.sg_test(group) == ca.ECA.IODONE
    # The group is usable after a reset.
    assert ca.sg_put(group, catest, 4.0) == ca.ECA.NORMAL
    assert ca.sg_block(group, 5.0) == ca.ECA.NORMAL
    assert get_value(ca, catest) == 4.0


def test_disconnected_channel_in_group(ca_backend, group):
    ca = ca_backend
    status, chid = ca.create_channel('ca:test:sg:absent')
    try:
        # Refused at once; nothing is left outstanding in the group.
        assert ca.sg_get(group, chid, ca.DBR.DOUBLE)[0] == ca.ECA.DISCONN
        assert ca.sg_get(group, chid)[0] == ca.ECA.DISCONN
        assert ca.sg_put(group, chid, 1.0, ca.DBR.DOUBLE) == ca.ECA.DISCONN
        assert ca.sg_test(group) == ca.ECA.IODONE
        assert ca.sg_block(group, 0.5) == ca.ECA.NORMAL
    finally:
        ca.clear_channel(chid)


def test_deleted_group_gives_badsyncgrp(ca_backend, connected):
    ca = ca_backend
    catest = connected('catest')
    status, gid = ca.sg_create()
    assert status == ca.ECA.NORMAL
    assert ca.sg_delete(gid) == ca.ECA.NORMAL
    assert ca.sg_delete(gid) == ca.ECA.BADSYNCGRP
    assert ca.sg_block(gid, 0.5) == ca.ECA.BADSYNCGRP
    assert ca.sg_test(gid) == ca.ECA.BADSYNCGRP
    assert ca.sg_reset(gid) == ca.ECA.BADSYNCGRP
    assert ca.sg_get(gid, catest)[0] == ca.ECA.BADSYNCGRP
    assert ca.sg_put(gid, catest, 1.0) == ca.ECA.BADSYNCGRP


def test_groups_are_distinct_identifiers(ca_backend, group):
    ca = ca_backend
    status, other = ca.sg_create()
    assert status == ca.ECA.NORMAL
    try:
        assert other != group
        assert len({group, other}) == 2
    finally:
        assert ca.sg_delete(other) == ca.ECA.NORMAL


def test_cleared_channel_in_group(ca_backend, group):
    ca = ca_backend
    chid = connect(ca, 'catest')
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.sg_get(group, chid)[0] == ca.ECA.BADCHID
    assert ca.sg_put(group, chid, 1.0) == ca.ECA.BADCHID


@pytest.mark.parametrize('bad', [None, 3, 'gid', object()])
def test_wrong_type_gid_raises_type_error(ca_backend, connected, bad):
    ca = ca_backend
    catest = connected('catest')
    for call in (ca.sg_delete, ca.sg_test, ca.sg_reset):
        with pytest.raises(TypeError):
            call(bad)
    with pytest.raises(TypeError):
        ca.sg_block(bad, 1.0)
    with pytest.raises(TypeError):
        ca.sg_get(bad, catest)
    with pytest.raises(TypeError):
        ca.sg_put(bad, catest, 1.0)


def test_put_conversion_errors_in_group(ca_backend, connected, group):
    ca = ca_backend
    calong = connected('calong')
    with pytest.raises(OverflowError):
        ca.sg_put(group, calong, 2 ** 40)
    with pytest.raises(ValueError):
        ca.sg_put(group, calong, 'not a number')
    with pytest.raises(TypeError):
        ca.sg_put(group, calong, None)
    assert ca.sg_test(group) == ca.ECA.IODONE
