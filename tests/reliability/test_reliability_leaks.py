"""Leak checks: many gets (with callback, and without: pend_io, sg_block)
and subscribe/clear cycles, both backends.

Against the session softIoc, in this process.  After a warm-up, the
backend's private counter of Python references lent to libca
(``_live_callbacks()``, DEVELOPERS.md) must come back to its starting
value, the number of live Python objects (after ``gc.collect()``) must stay
flat and the resident memory must grow by less than 5%.

CI: 200,000 get callbacks, 200,000 gets without callback and 20,000
subscribe/clear cycles per backend; ``CACHANNEL_SOAK=1``: 1,000,000,
1,000,000 and 100,000.  The counter values are
recorded as test properties (``--junitxml`` shows them).
"""

from __future__ import annotations

import gc

import pytest

from helpers.ca_helpers import connect, wait_until
from helpers.scenario_lib import SOAK, rss_bytes

GETS = 1_000_000 if SOAK else 200_000
CYCLES = 100_000 if SOAK else 20_000
BATCH = 1000
#: objects a run may leave behind anyway (caches, interned ints...)
OBJECT_SLACK = 500


def _state(ca):
    gc.collect()
    return ca._backend_module._live_callbacks(), len(gc.get_objects()), rss_bytes()


def _check_flat(ca, before, after, record_property, what):
    live0, objects0, rss0 = before
    live1, objects1, rss1 = after
    record_property(f'{what}_live_callbacks', f'{live0} -> {live1}')
    record_property(f'{what}_objects', f'{objects0} -> {objects1}')
    record_property(f'{what}_rss', f'{rss0} -> {rss1}')
    assert live1 == live0, f'{what}: live callbacks {live0} -> {live1}'
    assert objects1 - objects0 < OBJECT_SLACK, f'{what}: objects {objects0} -> {objects1}'
    assert (rss1 - rss0) / rss0 < 0.05, f'{what}: RSS {rss0} -> {rss1}'


def test_get_callbacks_do_not_leak(ca_backend, record_property):
    ca = ca_backend
    chid = connect(ca, 'catest')
    done = [0]
    statuses = set()

    def callback(args):
        done[0] += 1
        statuses.add(args['status'])

    def batch():
        start = done[0]
        for _ in range(BATCH):
            status, _ = ca.get(chid, callback=callback)
            assert status == ca.ECA.NORMAL
        assert wait_until(ca, lambda: done[0] - start >= BATCH, 30), 'get callbacks missing'

    try:
        for _ in range(GETS // 10 // BATCH):     # warm-up: 10%
            batch()
        before = _state(ca)
        for _ in range(GETS * 9 // 10 // BATCH):
            batch()
        after = _state(ca)
    finally:
        ca.clear_channel(chid)
    assert done[0] == GETS
    assert statuses == {ca.ECA.NORMAL}
    _check_flat(ca, before, after, record_property, 'gets')
    gc.collect()
    assert ca._backend_module._live_callbacks() == before[0] - 1   # the channel


def test_gets_without_callback_do_not_leak(ca_backend, record_property):
    """Each get holds a request and a DBRValue until answered; half the
    batches go through a sync group."""
    ca = ca_backend
    chid = connect(ca, 'cawave')
    status, gid = ca.sg_create()
    done = [0]

    def batch(in_group):
        if in_group:
            values = [ca.sg_get(gid, chid, ca.DBR.DOUBLE, 5)[1] for _ in range(BATCH)]
            assert ca.sg_block(gid, 30) == ca.ECA.NORMAL
        else:
            values = [ca.get(chid, ca.DBR.DOUBLE, 5, use_numpy=True)[1] for _ in range(BATCH)]
            assert ca.pend_io(30) == ca.ECA.NORMAL
        assert len(values[-1].get()) == 5
        done[0] += len(values)

    try:
        for i in range(GETS // 10 // BATCH):     # warm-up: 10%
            batch(i % 2)
        before = _state(ca)
        for i in range(GETS * 9 // 10 // BATCH):
            batch(i % 2)
        after = _state(ca)
    finally:
        ca.sg_delete(gid)
        ca.clear_channel(chid)
    assert done[0] == GETS
    _check_flat(ca, before, after, record_property, 'gets_without_callback')


def test_subscribe_clear_cycles_do_not_leak(ca_backend, record_property):
    ca = ca_backend
    chid = connect(ca, 'cacalc')
    events = [0]

    def on_event(args):
        events[0] += 1

    def cycles(n):
        for i in range(n):
            status, evid = ca.create_subscription(chid, on_event, use_numpy=bool(i % 2))
            assert status == ca.ECA.NORMAL
            if i % 100 == 0:
                ca.flush_io()
            assert ca.clear_subscription(evid) == ca.ECA.NORMAL
            assert ca.clear_subscription(evid) == ca.ECA.BADMONID

    try:
        cycles(CYCLES // 10)
        before = _state(ca)
        cycles(CYCLES * 9 // 10)
        ca.flush_io()
        after = _state(ca)
    finally:
        ca.clear_channel(chid)
    _check_flat(ca, before, after, record_property, 'subscriptions')
