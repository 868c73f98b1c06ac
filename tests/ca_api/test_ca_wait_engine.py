"""The per-thread rule of pend_io and test_io, and the connection
accounting of channels without a connection callback (DEVELOPERS.md, "The
wait engine"), on every backend, against the session softIoc.

A thread waits for what it has outstanding itself: another thread's
channel that is still searching, or its timeout, changes nothing for it.
A single thread sees libca's rules.  Fresh-interpreter scenarios of the
same (threads, Ctrl-C, exit) are in ``test_reliability_lifecycle.py``.
"""

from __future__ import annotations

import threading

from helpers.ca_helpers import TIMEOUT, connect, run_in_thread

MISSING = 'wait-engine:no-such-pv'


def test_pend_io_ignores_other_threads_searching(ca_backend):
    ca = ca_backend
    searching = threading.Event()
    release = threading.Event()

    def other_thread():
        status, chid = ca.create_channel(MISSING)
        assert ca.test_io() == ca.ECA.IOINPROGRESS
        searching.set()
        release.wait(TIMEOUT)
        ca.clear_channel(chid)

    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        assert searching.wait(TIMEOUT)
        status, chid = ca.create_channel('catest')
        # libca's own pend_io would wait for the other thread's channel too
        # and time out.
        assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
        assert ca.state(chid) == ca.ChannelState.CONN
        assert ca.test_io() == ca.ECA.IODONE
        ca.clear_channel(chid)
    finally:
        release.set()
        worker.join(TIMEOUT * 2)


def test_a_new_thread_starts_with_nothing_outstanding(ca_backend):
    """Threads that come and go, as a thread pool's do: what an ended
    thread left outstanding is never a later thread's to wait for, even
    where the system gives the later one the same thread id."""
    ca = ca_backend
    left = []

    def leave_a_search_behind():
        status, chid = ca.create_channel(MISSING)
        left.append(chid)
        return threading.get_ident(), ca.test_io()

    def wait_for_own():
        return threading.get_ident(), ca.test_io(), ca.pend_io(0.2)

    try:
        for _ in range(5):
            ident, before = run_in_thread(leave_a_search_behind)
            assert before == ca.ECA.IOINPROGRESS
            later_ident, test_io, pend_io = run_in_thread(wait_for_own)
            assert (test_io, pend_io) == (ca.ECA.IODONE, ca.ECA.NORMAL), (ident, later_ident)
    finally:
        for chid in left:
            ca.clear_channel(chid)


def test_timeout_elsewhere_keeps_my_get(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'cawave')
    status, value = ca.get(chid)
    assert status == ca.ECA.NORMAL

    def time_out():
        status, missing = ca.create_channel(MISSING)
        result = ca.pend_io(0.05)
        ca.clear_channel(missing)
        return result

    assert run_in_thread(time_out) == ca.ECA.TIMEOUT
    # The other thread's timeout forgot only its own channel.
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
    assert len(value.get()) == ca.element_count(chid)
    ca.clear_channel(chid)


def test_connection_callback_changes_accounting(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel(MISSING)
    assert ca.test_io() == ca.ECA.IOINPROGRESS
    # A connection callback takes the channel out of pend_io's count...
    assert ca.change_connection_event(chid, lambda args: None) == ca.ECA.NORMAL
    assert ca.test_io() == ca.ECA.IODONE
    # ... and removing it, the channel not being connected, puts it back.
    assert ca.change_connection_event(chid, None) == ca.ECA.NORMAL
    assert ca.test_io() == ca.ECA.IOINPROGRESS
    assert ca.pend_io(0.05) == ca.ECA.TIMEOUT
    # The timed-out wait forgot it.
    assert ca.test_io() == ca.ECA.IODONE
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.test_io() == ca.ECA.IODONE


def test_clearing_unconnected_channel_ends_its_count(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel(MISSING)
    assert ca.test_io() == ca.ECA.IOINPROGRESS
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.test_io() == ca.ECA.IODONE
    assert ca.pend_io(0.05) == ca.ECA.NORMAL


def test_channel_with_callback_is_never_counted(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel(MISSING, callback=lambda args: None)
    assert ca.test_io() == ca.ECA.IODONE
    assert ca.pend_io(0.05) == ca.ECA.NORMAL
    assert ca.clear_channel(chid) == ca.ECA.NORMAL


def test_many_threads_all_woken(ca_backend):
    ca = ca_backend
    statuses = []
    lock = threading.Lock()

    def connect_and_read(i):
        status, chid = ca.create_channel('catest')
        result = [ca.pend_io(TIMEOUT)]
        status, value = ca.get(chid)
        result.append(ca.pend_io(TIMEOUT))
        ca.clear_channel(chid)
        with lock:
            statuses.extend(result)

    threads = [threading.Thread(target=connect_and_read, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    assert statuses == [ca.ECA.NORMAL] * 16
