"""Lifetimes only the cffi backend manages in Python: the ``ffi.new_handle``
objects handed to libca as ``usr`` pointers.

The C backend keeps the same rules in C; these tests look at the cffi
backend's own bookkeeping (``caffi_backend._common``) to prove that a
handle is kept exactly as long as libca may use it.  The gets without
callback, on both backends, are in ``test_ca_get_without_callback.py``.
"""

from __future__ import annotations

import gc
import time

import pytest

from helpers.ca_helpers import TIMEOUT, Recorder, connect


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
