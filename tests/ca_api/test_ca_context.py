"""CA client contexts of the ``ca`` layer.

Contexts belong to threads, so every test that creates, attaches, detaches or
destroys one does it in a fresh Python thread (:func:`run_in_thread`) and
leaves the test thread's own context alone.  Runs on every backend.
"""

from __future__ import annotations

import ctypes
import threading
import time

import pytest

from helpers.ca_helpers import (Recorder, connect, get_callback, get_value, put_ok, run_in_thread,
                        wait_until)


def flush_c_stdio() -> None:
    # libca prints the context status with printf; flush C's stdout buffer
    # so that capfd sees it now rather than at exit.
    ctypes.CDLL(None).fflush(None)


def test_fresh_thread_has_no_context(ca_backend):
    ca = ca_backend
    assert run_in_thread(ca.current_context) is None


def test_create_and_destroy_preemptive_context(ca_backend):
    ca = ca_backend

    def work():
        assert ca.create_context(True) == ca.ECA.NORMAL
        context = ca.current_context()
        assert context is not None
        # The same C pointer gives the same object.
        assert ca.current_context() is context
        assert hash(ca.current_context()) == hash(context)
        # Creating again in a thread that has a context is a no-op.
        assert ca.create_context(True) == ca.ECA.NORMAL
        assert ca.current_context() is context
        chid = connect(ca, 'catest')
        put_ok(ca, chid, 2.5)
        value = get_value(ca, chid)
        assert ca.clear_channel(chid) == ca.ECA.NORMAL
        assert ca.destroy_context() is None
        assert ca.current_context() is None
        return value

    assert run_in_thread(work) == 2.5


def test_default_argument_is_preemptive(ca_backend):
    ca = ca_backend

    def work():
        assert ca.create_context() == ca.ECA.NORMAL
        try:
            # A preemptive context can be attached from another thread.
            context = ca.current_context()
            return run_in_thread(lambda: (ca.attach_context(context), ca.detach_context()))
        finally:
            ca.destroy_context()

    status, detached = run_in_thread(work)
    assert status == ca.ECA.NORMAL
    assert detached is None


def test_attach_detach_and_isattached(ca_backend):
    ca = ca_backend
    owner_ready = threading.Event()
    guest_done = threading.Event()
    shared: dict = {}

    def owner():
        assert ca.create_context(True) == ca.ECA.NORMAL
        shared['context'] = ca.current_context()
        owner_ready.set()
        assert guest_done.wait(20)
        # Attaching any context to a thread that has one: ISATTACHED.
        assert ca.attach_context(shared['context']) == ca.ECA.ISATTACHED
        assert ca.destroy_context() is None
        assert ca.current_context() is None

    def guest():
        assert owner_ready.wait(20)
        context = shared['context']
        assert ca.current_context() is None
        assert ca.attach_context(context) == ca.ECA.NORMAL
        assert ca.current_context() is context
        assert ca.attach_context(context) == ca.ECA.ISATTACHED
        # Channels work in the attached context.
        chid = connect(ca, 'calong')
        put_ok(ca, chid, 31)
        shared['value'] = get_value(ca, chid)
        assert ca.clear_channel(chid) == ca.ECA.NORMAL
        assert ca.detach_context() is None
        assert ca.current_context() is None
        guest_done.set()

    owner_thread = threading.Thread(target=lambda: _record(shared, 'owner', owner))
    owner_thread.start()
    run_in_thread(guest)
    owner_thread.join(20)
    assert not owner_thread.is_alive()
    assert shared.get('owner') is None, shared.get('owner')
    assert shared['value'] == 31


def _record(shared: dict, key: str, function) -> None:
    try:
        function()
        shared[key] = None
    except BaseException as exc:
        shared[key] = exc


def test_non_preemptive_context(ca_backend):
    """Callbacks of a non-preemptive context run only while its thread is
    inside pend_event (libca may run them on its own threads meanwhile); no
    other thread may attach to it."""
    ca = ca_backend

    def work():
        assert ca.create_context(False) == ca.ECA.NORMAL
        context = ca.current_context()
        assert context is not None
        # The thread has a non-preemptive context: a preemptive one cannot be
        # asked for, and nobody can attach to this one.
        assert ca.create_context(True) == ca.ECA.NOTTHREADED
        assert run_in_thread(lambda: ca.attach_context(context)) == ca.ECA.NOTTHREADED
        connection = Recorder()
        status, chid = ca.create_channel('catest', connection)
        assert status == ca.ECA.NORMAL
        try:
            ca.flush_io()
            time.sleep(0.5)       # long enough to connect on the loopback
            assert len(connection) == 0
            connection.wait(ca, 1)   # pend_event delivers it
            assert connection.last['op'] == ca.CA_OP.CONN_UP
            got = Recorder()
            assert ca.get(chid, ca.DBR.DOUBLE, callback=got)[0] == ca.ECA.NORMAL
            ca.flush_io()
            time.sleep(0.3)
            assert len(got) == 0
            got.wait(ca, 1)
            assert got.last['status'] == ca.ECA.NORMAL
            assert type(got.last['value']) is float
            # pend_io completes a get without callback in this context too.
            put_ok(ca, chid, 1.75)
            return get_value(ca, chid)
        finally:
            ca.clear_channel(chid)
            ca.destroy_context()
            assert ca.current_context() is None

    assert run_in_thread(work) == 1.75


def test_plain_threads_share_the_preemptive_context(ca_backend):
    """Threads that never call create_context join one preemptive context."""
    ca = ca_backend
    names = ['catest', 'calong', 'castr', 'cawave', 'cabo', 'caenum16']
    results: dict = {}
    barrier = threading.Barrier(len(names))

    def work(index, name):
        barrier.wait(10)
        # Callbacks only: pend_io counts the outstanding IO of the whole
        # context, which these threads share.
        connection = Recorder()
        status, chid = ca.create_channel(name, connection)
        assert status == ca.ECA.NORMAL
        try:
            connection.wait(ca, 1)
            context = ca.current_context()
            assert context is not None
            event = get_callback(ca, chid, ca.DBR.STRING, 1)
            assert event['status'] == ca.ECA.NORMAL
            results[index] = (context, event['value'], connection.threads[0])
        finally:
            ca.clear_channel(chid)

    threads, errors = [], {}
    for index, name in enumerate(names):
        thread = threading.Thread(target=lambda i=index, n=name: _record(errors, i, lambda: work(i, n)))
        threads.append(thread)
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [errors.get(i) for i in range(len(names))] == [None] * len(names), errors
    contexts = [results[i][0] for i in range(len(names))]
    assert all(context is contexts[0] for context in contexts)
    # A later thread joins the same one.  (The test thread is not compared:
    # with both backends in one process it may sit in the other backend's.)
    assert run_in_thread(lambda: (ca.pend_event(0.001), ca.current_context())[1]) is contexts[0]
    # Preemptive: the connection callbacks ran on libca's threads.
    workers = {thread.ident for thread in threads}
    assert not workers & {results[i][2] for i in range(len(names))}
    assert all(type(results[i][1]) is str for i in range(len(names)))


def test_concurrent_gets_from_threads(ca_backend):
    ca = ca_backend
    # Created in a plain thread, so the channel lives in the backend's shared
    # preemptive context, which the worker threads join.
    chid = run_in_thread(lambda: connect(ca, 'cawaveh'))
    try:
        run_in_thread(lambda: put_ok(ca, chid, list(range(150))))
        errors: dict = {}

        def work(index):
            for _ in range(20):
                recorder = Recorder()
                assert ca.get(chid, ca.DBR.SHORT, callback=recorder)[0] == ca.ECA.NORMAL
                (event,) = recorder.wait(ca, 1)
                assert event['value'] == list(range(150))

        threads = [threading.Thread(target=lambda i=i: _record(errors, i, lambda: work(i)))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == {i: None for i in range(4)}
    finally:
        run_in_thread(lambda: ca.clear_channel(chid))


def test_show_context_prints(ca_backend, capfd):
    ca = ca_backend
    ca.pend_event(0.001)   # make sure the test thread has its context
    context = ca.current_context()
    capfd.readouterr()
    assert ca.show_context() is None
    flush_c_stdio()
    out = capfd.readouterr().out
    assert 'ca_client_context' in out
    assert ca.show_context(context, 1) is None
    flush_c_stdio()
    detailed = capfd.readouterr().out
    assert 'ca_client_context' in detailed
    assert len(detailed) >= len(out)


def test_wrong_type_context_raises_type_error(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    try:
        for bad in (None, 42, 'context', chid):
            with pytest.raises(TypeError):
                ca.attach_context(bad)
        for bad in (42, 'context', chid):
            with pytest.raises(TypeError):
                ca.show_context(bad)
    finally:
        ca.clear_channel(chid)


def test_destroy_without_context_is_harmless(ca_backend):
    ca = ca_backend

    def work():
        assert ca.destroy_context() is None
        assert ca.detach_context() is None
        return ca.current_context()

    assert run_in_thread(work) is None


def test_channel_of_destroyed_context_is_gone(ca_backend):
    ca = ca_backend

    def work():
        assert ca.create_context(True) == ca.ECA.NORMAL
        chid = connect(ca, 'catest')
        ca.destroy_context()
        return chid

    chid = run_in_thread(work)
    # The channel went with its context: no crash, a status.
    assert ca.clear_channel(chid) == ca.ECA.BADCHID
    assert ca.state(chid) is ca.ChannelState.CLOSED
    assert ca.get(chid)[0] == ca.ECA.BADCHID


def test_pend_event_timeout_is_normal_return(ca_backend):
    ca = ca_backend
    assert ca.pend_event(0.01) == ca.ECA.TIMEOUT
    assert ca.poll() == ca.ECA.TIMEOUT
    assert ca.flush_io() == ca.ECA.NORMAL
    assert ca.test_io() == ca.ECA.IODONE
    assert ca.pend(0.01, True) == ca.ECA.NORMAL
    assert ca.pend(0.01, False) == ca.ECA.TIMEOUT
    assert wait_until(ca, lambda: True)
