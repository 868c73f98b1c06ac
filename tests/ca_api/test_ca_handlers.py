"""Exception and printf handlers of the ``ca`` layer, and user callbacks that raise.

Server-side failures are provoked on purpose: a put without callback to
``cadisabled`` (DISP=1) and a text that the server cannot convert to a
number both make the IOC send an error, which libca hands to the exception
handler (ECA_PUTFAIL, CA_OP_PUT).  libca's default exception handler prints
it through the printf handler.  Runs on every backend.
"""

from __future__ import annotations

import sys
import time

import pytest

from helpers.ca_helpers import Recorder, connected, get_callback, put_ok, settle, wait_until  # noqa: F401

EXCEPTION_KEYS = {'chid', 'type', 'count', 'addr', 'stat', 'op', 'ctx', 'file', 'lineNo'}


@pytest.fixture
def restore_handlers(ca_backend):
    """Put libca's default handlers back whatever the test did."""
    yield
    ca_backend.add_exception_event(None)
    ca_backend.replace_printf_handler(None)


def provoke_put_failure(ca, chid, how):
    if how == 'disabled':
        assert ca.put(chid, 5.0) == ca.ECA.NORMAL
    else:
        # The client sends the text; the server's string-to-double fails.
        assert ca.put(chid, 'no number', ca.DBR.STRING) == ca.ECA.NORMAL
    ca.flush_io()


@pytest.mark.parametrize('name, how, dbrtype', [
    ('cadisabled', 'disabled', 'DOUBLE'), ('catest', 'bad text', 'STRING')])
def test_exception_handler_receives_server_error(ca_backend, connected, restore_handlers,
                                                 name, how, dbrtype):
    ca = ca_backend
    chid = connected(name)
    recorder = Recorder()
    assert ca.add_exception_event(recorder) == ca.ECA.NORMAL
    provoke_put_failure(ca, chid, how)
    event = recorder.wait(ca, 1)[0]
    assert set(event) == EXCEPTION_KEYS
    assert event['chid'] is chid
    assert event['stat'] == ca.ECA.PUTFAIL and type(event['stat']) is ca.ECA
    assert event['op'] == ca.CA_OP.PUT and type(event['op']) is ca.CA_OP
    assert event['type'] == ca.DBR[dbrtype]
    assert event['count'] == 1
    assert type(event['ctx']) is str and event['ctx']
    assert type(event['file']) is str and event['file']
    assert type(event['lineNo']) is int and event['lineNo'] > 0


def test_printf_handler_captures_default_exception_report(ca_backend, connected,
                                                           restore_handlers):
    ca = ca_backend
    chid = connected('cadisabled')
    messages: list = []
    assert ca.add_exception_event(None) == ca.ECA.NORMAL   # libca's default
    ca.replace_printf_handler(messages.append)
    provoke_put_failure(ca, chid, 'disabled')
    assert wait_until(ca, lambda: 'cadisabled' in ''.join(messages)), messages
    settle(ca, 0.1)
    assert all(type(message) is str for message in messages)
    text = ''.join(messages)
    assert 'CA.Client.Exception' in text
    assert ca.message(ca.ECA.PUTFAIL) in text


def test_printf_handler_none_restores_stderr(ca_backend, connected, restore_handlers, capfd):
    ca = ca_backend
    chid = connected('cadisabled')
    messages: list = []
    assert ca.add_exception_event(None) == ca.ECA.NORMAL
    ca.replace_printf_handler(messages.append)
    ca.replace_printf_handler(None)
    capfd.readouterr()
    provoke_put_failure(ca, chid, 'disabled')
    err = ''
    deadline = time.monotonic() + 5
    while 'cadisabled' not in err and time.monotonic() < deadline:
        ca.pend_event(0.01)
        err += capfd.readouterr().err   # libca's errlog prints from its own thread
    assert 'CA.Client.Exception' in err
    assert 'cadisabled' in err
    assert messages == []


def test_exception_handler_none_restores_default(ca_backend, connected, restore_handlers):
    ca = ca_backend
    chid = connected('cadisabled')
    recorder, messages = Recorder(), []
    ca.replace_printf_handler(messages.append)
    assert ca.add_exception_event(recorder) == ca.ECA.NORMAL
    assert ca.add_exception_event(None) == ca.ECA.NORMAL
    provoke_put_failure(ca, chid, 'disabled')
    assert wait_until(ca, lambda: 'CA.Client.Exception' in ''.join(messages))
    assert len(recorder) == 0


def test_replacing_exception_handler(ca_backend, connected, restore_handlers):
    ca = ca_backend
    chid = connected('cadisabled')
    first, second = Recorder(), Recorder()
    assert ca.add_exception_event(first) == ca.ECA.NORMAL
    assert ca.add_exception_event(second) == ca.ECA.NORMAL
    provoke_put_failure(ca, chid, 'disabled')
    second.wait(ca, 1)
    settle(ca, 0.1)
    assert len(first) == 0
    assert second.last['stat'] == ca.ECA.PUTFAIL


def test_non_callable_handlers_raise_type_error(ca_backend, restore_handlers):
    ca = ca_backend
    with pytest.raises(TypeError):
        ca.add_exception_event(42)
    with pytest.raises(TypeError):
        ca.replace_printf_handler('print')


# --- user callbacks that raise ------------------------------------------------------

@pytest.fixture
def unraisable(monkeypatch):
    """Collect what the backends report through sys.unraisablehook."""
    reports: list = []
    monkeypatch.setattr(sys, 'unraisablehook', reports.append)
    return reports


def raised(reports, exc_type, text):
    return [r for r in reports
            if isinstance(r.exc_value, exc_type) and text in str(r.exc_value)]


def test_raising_get_callback_is_reported_and_later_callbacks_work(ca_backend, connected,
                                                                   unraisable):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 8.0)
    bad = Recorder(raises=RuntimeError('boom in get callback'))
    assert ca.get(chid, callback=bad)[0] == ca.ECA.NORMAL
    bad.wait(ca, 1)
    assert wait_until(ca, lambda: raised(unraisable, RuntimeError, 'boom in get callback'))
    # Nothing is left broken: the next callbacks arrive with their values.
    assert get_callback(ca, chid)['value'] == 8.0
    put_ok(ca, chid, 9.0)
    assert get_callback(ca, chid)['value'] == 9.0


def test_raising_subscription_keeps_its_events(ca_backend, connected, unraisable):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 0.0)
    bad = Recorder(raises=ValueError('boom in monitor'))
    status, evid = ca.create_subscription(chid, bad)
    assert status == ca.ECA.NORMAL
    try:
        bad.wait(ca, 1)
        put_ok(ca, chid, 1.0)
        put_ok(ca, chid, 2.0)
        bad.wait_for(ca, lambda e: e['value'] == 2.0)
        assert bad.values() == [0.0, 1.0, 2.0]
        assert wait_until(ca, lambda: len(raised(unraisable, ValueError, 'boom in monitor')) >= 3)
    finally:
        assert ca.clear_subscription(evid) == ca.ECA.NORMAL


def test_raising_connection_and_put_callbacks(ca_backend, unraisable):
    ca = ca_backend
    conn = Recorder(raises=KeyError('boom in connection'))
    status, chid = ca.create_channel('calong', conn)
    try:
        conn.wait(ca, 1)
        assert ca.state(chid) is ca.ChannelState.CONN
        done = Recorder(raises=ZeroDivisionError('boom in put'))
        assert ca.put(chid, 12, callback=done) == ca.ECA.NORMAL
        done.wait(ca, 1)
        assert wait_until(ca, lambda: raised(unraisable, ZeroDivisionError, 'boom in put'))
        assert raised(unraisable, KeyError, 'boom in connection')
        assert get_callback(ca, chid)['value'] == 12
    finally:
        ca.clear_channel(chid)


def test_raising_exception_handler(ca_backend, connected, restore_handlers, unraisable):
    ca = ca_backend
    chid = connected('cadisabled')
    bad = Recorder(raises=RuntimeError('boom in exception handler'))
    assert ca.add_exception_event(bad) == ca.ECA.NORMAL
    provoke_put_failure(ca, chid, 'disabled')
    bad.wait(ca, 1)
    provoke_put_failure(ca, chid, 'disabled')
    bad.wait(ca, 2)
    assert wait_until(ca, lambda: len(raised(unraisable, RuntimeError,
                                              'boom in exception handler')) >= 2)
