"""Gets without callback (``get`` + ``pend_io``, ``sg_get`` + ``sg_block``)
and the other requests of a sync group (``sg_put``).

Both backends issue gets without callback as ``ca_array_get_callback``
requests of their own that copy at most the count asked (libca's
``ca_array_get`` would copy as many elements as the server sends, past the
end of the buffer), and count them for ``pend_io``/``test_io`` and the
``sg_`` calls; a group's puts are counted the same way, because libca's
``ca_sg_test`` deadlocks with its own receive thread.  These tests pin
down what users of libca's own calls rely on: the value is there after a
NORMAL wait, the waits and tests report progress, a timed-out or reset
request lets go of its buffer once libca is done with it, and every ``usr``
reference comes back (``_live_callbacks``).  Runs on every backend.
"""

from __future__ import annotations

import gc
import threading

import pytest

from helpers.ca_helpers import (TIMEOUT, Recorder, connected, put_ok, run_in_thread,  # noqa: F401
                        wait_until)


def live(ca):
    return ca._backend_module._live_callbacks()


def test_value_after_pend_io_and_one_reference_meanwhile(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 2.5)
    before = live(ca)
    status, value = ca.get(chid, ca.DBR.TIME_DOUBLE)
    assert status == ca.ECA.NORMAL
    # Not flushed yet, so not answered: libca holds one reference.
    assert live(ca) == before + 1
    assert ca.test_io() == ca.ECA.IOINPROGRESS
    assert value.filled is False
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    assert value.filled is True
    assert ca.test_io() == ca.ECA.IODONE
    assert live(ca) == before
    assert value.get()['value'] == 2.5


@pytest.mark.parametrize('kind', ['SHORT', 'FLOAT', 'ENUM', 'CHAR', 'LONG', 'DOUBLE'])
def test_one_number_reads_zero_until_answered(ca_backend, connected, kind):
    """A one-element read of a plain numeric type is the zero of its type
    until the reply is in, then the number read, of the same Python type
    (the cffi backend keeps it without a buffer: caffi_backend/dbr.py)."""
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 3.0)
    status, value = ca.get(chid, getattr(ca.DBR, kind))
    assert status == ca.ECA.NORMAL
    # Not flushed yet, so not answered.
    assert value.filled is False
    zero = value.get()
    assert zero == 0 and type(zero) is (float if kind in ('FLOAT', 'DOUBLE') else int)
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    assert value.filled is True
    read = value.get()
    assert read == 3 and type(read) is type(zero)


def test_dropping_the_value_before_pend_io_is_safe(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawave')
    before = live(ca)
    for _ in range(20):
        status, value = ca.get(chid)
        assert status == ca.ECA.NORMAL
        del value
    gc.collect()
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    assert live(ca) == before


def test_pend_io_zero_waits_until_done(ca_backend, connected):
    """As ca_pend_io, a timeout of 0 waits for ever: here, until the reply."""
    ca = ca_backend
    chid = connected('calong')
    put_ok(ca, chid, 31)
    status, value = ca.get(chid)
    assert status == ca.ECA.NORMAL
    assert ca.pend_io(0) == ca.ECA.NORMAL
    assert value.get() == 31


def test_count_asked_is_the_count_returned(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, list(range(20)))
    status, five = ca.get(chid, ca.DBR.LONG, 5)
    status_all, whole = ca.get(chid, ca.DBR.LONG)
    assert status == status_all == ca.ECA.NORMAL
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    assert five.get() == [0, 1, 2, 3, 4]
    assert whole.get() == list(range(20))


def test_timed_out_get_lets_go_once_answered(ca_backend, connected):
    """A channel that never connects makes pend_io time out; the get issued
    with it is still answered later, copied (as libca copies a late reply)
    and its reference released."""
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 6.25)
    status, absent = ca.create_channel('catest:absent:for:timeout')
    assert status == ca.ECA.NORMAL
    try:
        before = live(ca)
        status, value = ca.get(chid)
        assert status == ca.ECA.NORMAL
        assert ca.pend_io(0.3) == ca.ECA.TIMEOUT
        assert wait_until(ca, lambda: live(ca) == before)
        assert value.get() == 6.25
    finally:
        ca.clear_channel(absent)
    # After the timeout nothing is left outstanding.
    assert ca.test_io() == ca.ECA.IODONE
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL


def test_clearing_the_channel_releases_unanswered_gets(ca_backend):
    """libca never calls back a get whose channel is cleared: the backend
    must release its reference itself, for gets with and without callback."""
    ca = ca_backend
    status, chid = ca.create_channel('catest')
    assert status == ca.ECA.NORMAL
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    before = live(ca)          # includes the channel's own reference
    recorder = Recorder()
    for _ in range(3):
        assert ca.get(chid, callback=recorder)[0] == ca.ECA.NORMAL
        assert ca.get(chid)[0] == ca.ECA.NORMAL
    assert live(ca) == before + 6
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert live(ca) == before - 1
    for event in recorder.events:
        assert event['status'] == ca.ECA.NORMAL
    # As with libca's own ca_array_get, the unanswered gets are still
    # outstanding: the next pend_io times out, and that ends them.
    assert ca.test_io() == ca.ECA.IOINPROGRESS
    assert ca.pend_io(0.1) == ca.ECA.TIMEOUT
    assert ca.test_io() == ca.ECA.IODONE


def test_threads_waiting_on_one_context_all_wake(ca_backend, connected):
    """pend_io waits for every get of the context: with several threads
    waiting at once, none may sleep until its timeout once all are done."""
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 1.5)
    context = ca.current_context()
    results = []

    def reader():
        # pend_io waits for the gets of the calling thread's context.
        assert ca.attach_context(context) == ca.ECA.NORMAL
        for _ in range(50):
            status, value = ca.get(chid)
            assert status == ca.ECA.NORMAL
            results.append((ca.pend_io(TIMEOUT), value.get()))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert results == [(ca.ECA.NORMAL, 1.5)] * 200


def test_non_preemptive_context_pend_io_and_sg_block(ca_backend):
    """A non-preemptive context answers only inside ca_pend_*: the waits
    must drive it."""
    ca = ca_backend

    def work():
        assert ca.create_context(False) == ca.ECA.NORMAL
        status, chid = ca.create_channel('cawave')
        assert status == ca.ECA.NORMAL
        try:
            assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
            put_ok(ca, chid, list(range(3, 23)))
            status, value = ca.get(chid, ca.DBR.SHORT, 4)
            assert status == ca.ECA.NORMAL
            assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
            status, gid = ca.sg_create()
            status, in_group = ca.sg_get(gid, chid, ca.DBR.DOUBLE, 2)
            assert ca.sg_block(gid, TIMEOUT) == ca.ECA.NORMAL
            ca.sg_delete(gid)
            return value.get(), in_group.get()
        finally:
            ca.clear_channel(chid)
            ca.destroy_context()

    assert run_in_thread(work) == ([3, 4, 5, 6], [3.0, 4.0])


def test_sync_group_get_reference_released_by_block(ca_backend, connected):
    ca = ca_backend
    chid = connected('calong')
    put_ok(ca, chid, 77)
    status, gid = ca.sg_create()
    try:
        before = live(ca)
        status, value = ca.sg_get(gid, chid)
        assert status == ca.ECA.NORMAL
        assert live(ca) == before + 1
        assert ca.sg_block(gid, TIMEOUT) == ca.ECA.NORMAL
        assert live(ca) == before
        assert value.get() == 77
    finally:
        ca.sg_delete(gid)


def test_sync_group_reset_cancels_its_gets(ca_backend, connected):
    """libca cancels a reset group's reads: a reply that comes afterwards is
    not copied, and the reference is still given back."""
    ca = ca_backend
    chid = connected('calong')
    put_ok(ca, chid, 78)
    status, gid = ca.sg_create()
    try:
        before = live(ca)
        status, value = ca.sg_get(gid, chid)
        assert status == ca.ECA.NORMAL
        assert ca.sg_reset(gid) == ca.ECA.NORMAL
        assert ca.sg_test(gid) == ca.ECA.IODONE
        assert wait_until(ca, lambda: live(ca) == before)
        assert value.get() == 0
        assert ca.sg_block(gid, 0) == ca.ECA.NORMAL     # nothing outstanding
    finally:
        ca.sg_delete(gid)


def test_sync_group_block_zero_does_not_wait(ca_backend, connected):
    """ca_sg_block with timeout 0 returns at once (unlike pend_io), and
    resets the group as every ca_sg_block does."""
    ca = ca_backend
    chid = connected('calong')
    status, gid = ca.sg_create()
    try:
        status, value = ca.sg_get(gid, chid)
        assert status == ca.ECA.NORMAL
        # NORMAL when the reply came during the flush, else TIMEOUT: no wait.
        assert ca.sg_block(gid, 0) in (ca.ECA.TIMEOUT, ca.ECA.NORMAL)
        assert ca.sg_test(gid) == ca.ECA.IODONE
    finally:
        ca.sg_delete(gid)


def test_sync_group_puts_are_counted(ca_backend, connected):
    ca = ca_backend
    chid = connected('calong')
    status, gid = ca.sg_create()
    try:
        before = live(ca)
        assert ca.sg_put(gid, chid, 91) == ca.ECA.NORMAL
        assert live(ca) == before + 1
        assert ca.sg_test(gid) == ca.ECA.IOINPROGRESS     # not flushed yet
        assert ca.sg_block(gid, TIMEOUT) == ca.ECA.NORMAL
        assert ca.sg_test(gid) == ca.ECA.IODONE
        assert live(ca) == before
        status, value = ca.get(chid)
        assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
        assert value.get() == 91
    finally:
        ca.sg_delete(gid)


def test_sync_group_test_while_replies_arrive(ca_backend, connected):
    """sg_test polled while a group's replies are being delivered (libca's
    own ca_sg_test deadlocks there: glibc aborts the process)."""
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, list(range(20)))
    status, gid = ca.sg_create()
    try:
        for _ in range(30):
            values = [ca.sg_get(gid, chid)[1] for _ in range(20)]
            assert ca.sg_put(gid, chid, list(range(20))) == ca.ECA.NORMAL
            ca.flush_io()
            assert wait_until(ca, lambda: ca.sg_test(gid) == ca.ECA.IODONE)
            assert all(value.get() == list(range(20)) for value in values)
            assert ca.sg_block(gid, TIMEOUT) == ca.ECA.NORMAL
    finally:
        ca.sg_delete(gid)


def test_large_reads_never_overwrite_an_array_still_held(ca_backend, connected):
    """Buffers of 1 MB and more are recycled: one a numpy array (a view on
    it) or a value still refers to is never reused for the next read."""
    import numpy as np
    ca = ca_backend
    chid = connected('cawavehuge')
    n = 200_000                         # 1.6 MB of doubles
    arrays = []
    for fill in (1.0, 2.0, 3.0):
        put_ok(ca, chid, np.full(n, fill))
        status, value = ca.get(chid, count=n, use_numpy=True)
        assert status == ca.ECA.NORMAL and ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
        arrays.append(value.get())
        del value
    for fill, array in zip((1.0, 2.0, 3.0), arrays):
        assert array.shape == (n,) and (array == fill).all()
    # Once no longer held, a buffer is taken again: the read is still right.
    arrays.clear()
    for fill in (4.0, 5.0):
        put_ok(ca, chid, np.full(n, fill))
        status, value = ca.get(chid, count=n, use_numpy=True)
        assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
        assert (value.get() == fill).all()
