"""Lifetimes only the cffi backend manages in Python: the buffers libca
writes after a get without callback, and the ``ffi.new_handle`` objects
handed to libca as ``usr`` pointers.

The C backend keeps the same rules in C; these tests look at the cffi
backend's own bookkeeping (``caffi_backend._common``) to prove that a
buffer or handle is kept exactly as long as libca may use it.
"""

from __future__ import annotations

import gc
import time

import pytest

from ca_helpers import TIMEOUT, Recorder, connect


@pytest.fixture
def ca():
    from CaChannel import ca as ca_module

    try:
        return ca_module.load_backend('caffi')
    except ImportError as exc:
        pytest.skip(f'cffi backend not available: {exc}')


@pytest.fixture
def internals():
    from caffi_backend import _common

    return _common


def test_get_buffer_kept_until_pend_io_normal(ca, internals):
    chid = connect(ca, 'catest')
    try:
        before = len(internals.pending_io)
        status, value = ca.get(chid, ca.DBR.TIME_DOUBLE)
        assert status == ca.ECA.NORMAL
        del value                 # dropping it early must be safe ...
        gc.collect()
        assert len(internals.pending_io) == before + 1   # ... libca may still write
        assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
        assert len(internals.pending_io) == before
    finally:
        ca.clear_channel(chid)


def test_timed_out_get_buffer_kept_until_channel_cleared(ca, internals):
    chid = connect(ca, 'catest')
    absent_status, absent = ca.create_channel('caffi:test:absent')
    assert absent_status == ca.ECA.NORMAL
    try:
        before = len(internals.pending_io)
        status, value = ca.get(chid)
        assert status == ca.ECA.NORMAL
        # The absent channel (no connection callback) makes pend_io time out,
        # after which a late reply may still be copied into the buffer.
        assert ca.pend_io(0.2) == ca.ECA.TIMEOUT
        assert len(internals.pending_io) == before + 1
        assert ca.clear_channel(chid) == ca.ECA.NORMAL
        assert len(internals.pending_io) == before
    finally:
        ca.clear_channel(absent)
        ca.clear_channel(chid)    # a second clear: BADCHID, no crash


def test_sync_group_buffers_kept_until_block(ca):
    chid = connect(ca, 'calong')
    status, gid = ca.sg_create()
    try:
        status, value = ca.sg_get(gid, chid)
        assert status == ca.ECA.NORMAL
        assert len(gid._buffers) == 1
        assert ca.sg_block(gid, TIMEOUT) == ca.ECA.NORMAL
        assert gid._buffers == []
        assert isinstance(value.get(), int)
    finally:
        ca.sg_delete(gid)
        ca.clear_channel(chid)


def test_subscription_handle_survives_dropped_references(ca, internals):
    chid = connect(ca, 'calong')
    live = internals.live_callbacks()
    recorder = Recorder()
    status, evid = ca.create_subscription(chid, recorder, ca.DBR.LONG)
    assert status == ca.ECA.NORMAL
    assert internals.live_callbacks() == live + 1
    del evid, status
    gc.collect()
    # libca still holds the usr pointer: the handle must still be valid.
    recorder.wait(ca, 1)
    assert ca.put(chid, 4242) == ca.ECA.NORMAL
    ca.flush_io()
    deadline = time.monotonic() + TIMEOUT
    while not any(e['value'] == 4242 for e in recorder.events) and time.monotonic() < deadline:
        ca.pend_event(0.01)
    assert any(e['value'] == 4242 for e in recorder.events)
    # Clearing the channel ends the subscription and releases its handle.
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert internals.live_callbacks() == live - 1   # the channel's own handle too


def test_one_shot_handles_released_after_their_callback(ca, internals):
    chid = connect(ca, 'catest')
    try:
        live = internals.live_callbacks()
        recorder = Recorder()
        for _ in range(5):
            assert ca.get(chid, callback=recorder)[0] == ca.ECA.NORMAL
            assert ca.put(chid, 1.0, callback=recorder) == ca.ECA.NORMAL
        assert internals.live_callbacks() <= live + 10
        recorder.wait(ca, 10)
        assert internals.live_callbacks() == live
    finally:
        ca.clear_channel(chid)
