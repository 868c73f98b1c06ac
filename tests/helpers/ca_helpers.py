"""Helpers shared by the tests of the low-level ``ca`` layer.

Every test of ``tests/ca_api/`` takes the ``ca_backend`` fixture of
``tests/conftest.py`` (one run per backend) and talks to the session softIoc of
``tests/ioc/catest.db``.  What they all need is here, once:

* :func:`connect` / the ``connect`` fixture: a channel that is connected, and
  cleared again when the test ends;
* :class:`Recorder`: a callback that keeps the dicts libca hands it and can be
  waited on, whether callbacks arrive on libca's threads (preemptive context)
  or inside ``pend_event`` (non-preemptive one);
* :func:`get_value`, :func:`get_callback`, :func:`put_wait`: one get or put,
  checked for its status, waited for with a short timeout;
* :func:`run_in_thread`: run a function in a fresh Python thread and hand its
  result (or exception) back to the test;
* :data:`LOOPBACK_NAMES`: what libca may call the loopback server.

Timeouts are short (the IOC is on the loopback) but generous enough for a
loaded CI machine; nothing here asserts on speed.
"""

from __future__ import annotations

import socket
import threading
import time
from types import ModuleType
from typing import Any, Callable

import pytest

def _loopback_names() -> frozenset:
    names = {'127.0.0.1'}
    try:
        name, aliases, _ = socket.gethostbyaddr('127.0.0.1')
        names.update([name] + aliases)
    except OSError:
        pass
    return frozenset(names)


#: libca names a circuit by its dotted address until an asynchronous reverse
#: lookup (its hostNameCache) replaces that with the host's name, so a host
#: name read at any moment is one of these.
LOOPBACK_NAMES = _loopback_names()

#: Seconds allowed for a connection, a get or a put on the loopback IOC.
TIMEOUT = 5.0

#: Interval of the pend_event loop that waits for callbacks.
POLL = 0.001


def connect(ca: ModuleType, name: str, timeout: float = TIMEOUT) -> Any:
    """Create a channel to *name* without callback and wait until connected."""
    status, chid = ca.create_channel(name)
    assert status == ca.ECA.NORMAL, f'create_channel({name!r}) gave {status!r}'
    assert chid is not None
    status = ca.pend_io(timeout)
    assert status == ca.ECA.NORMAL, f'{name!r} did not connect: {status!r}'
    return chid


@pytest.fixture
def connected(ca_backend: ModuleType):
    """A function ``connected(name) -> chid``; the channels are cleared after
    the test (before the backend fixture's own teardown)."""
    chids: list = []

    def _connect(name: str) -> Any:
        chid = connect(ca_backend, name)
        chids.append(chid)
        return chid

    yield _connect
    for chid in chids:
        ca_backend.clear_channel(chid)
    ca_backend.flush_io()


@pytest.fixture(scope='module')
def channel_cache():
    """Connected channels kept for a whole test module, per backend and name.

    Connecting costs a name search (tens of ms); modules with hundreds of
    parametrized reads share their channels through this.  Tests must not
    clear these channels.
    """
    cache: dict = {}
    yield cache
    for ca, chid in cache.values():
        ca.clear_channel(chid)
    for ca, _ in cache.values():
        ca.flush_io()


@pytest.fixture
def shared(ca_backend: ModuleType, channel_cache: dict):
    """A function ``shared(name) -> chid`` giving a module-wide channel."""
    def _shared(name: str) -> Any:
        key = (ca_backend.backend, name)
        if key not in channel_cache:
            channel_cache[key] = (ca_backend, connect(ca_backend, name))
        return channel_cache[key][1]

    return _shared


def wait_until(ca: ModuleType, predicate: Callable[[], bool],
               timeout: float = TIMEOUT) -> bool:
    """Flush, then run ``pend_event`` in short slices until *predicate* holds.

    pend_event lets a non-preemptive context deliver its callbacks; in a
    preemptive one it only sleeps while libca's threads deliver them.
    Returns the final value of the predicate.
    """
    ca.flush_io()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return predicate()
        ca.pend_event(POLL)
    return True


def settle(ca: ModuleType, seconds: float = 0.2) -> None:
    """Let callbacks that are already on their way arrive."""
    ca.flush_io()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ca.pend_event(POLL)


class Recorder:
    """A callback that records every dict it is called with.

    ``events`` holds the dicts in order, ``threads`` the ident of the thread
    each call ran on.  If *raises* is an exception instance, the recorder
    raises it after recording (to test that backends report and survive it).
    """

    def __init__(self, raises: BaseException | None = None) -> None:
        self.events: list[dict] = []
        self.threads: list[int] = []
        self.raises = raises
        self._lock = threading.RLock()

    def __call__(self, args: dict) -> None:
        with self._lock:
            self.events.append(args)
            self.threads.append(threading.get_ident())
        if self.raises is not None:
            raise self.raises

    def __len__(self) -> int:
        with self._lock:
            return len(self.events)

    @property
    def last(self) -> dict:
        with self._lock:
            return self.events[-1]

    def values(self) -> list:
        with self._lock:
            return [event['value'] for event in self.events]

    def wait(self, ca: ModuleType, count: int = 1, timeout: float = TIMEOUT) -> list[dict]:
        """Wait until at least *count* calls arrived; fail the test otherwise."""
        if not wait_until(ca, lambda: len(self) >= count, timeout):
            pytest.fail(f'expected {count} callback(s) within {timeout} s, got {len(self)}')
        with self._lock:
            return list(self.events)

    def wait_for(self, ca: ModuleType, predicate: Callable[[dict], bool],
                 timeout: float = TIMEOUT) -> dict:
        """Wait for a call whose dict satisfies *predicate*; return that dict."""
        def found() -> bool:
            with self._lock:
                return any(predicate(event) for event in self.events)

        if not wait_until(ca, found, timeout):
            pytest.fail(f'no matching callback within {timeout} s; got {self.events!r}')
        with self._lock:
            return next(event for event in self.events if predicate(event))


def get_value(ca: ModuleType, chid: Any, chtype: Any = None, count: Any = None,
              use_numpy: bool = False) -> Any:
    """One get without callback, completed by pend_io; returns the value."""
    status, dbrvalue = ca.get(chid, chtype, count, use_numpy=use_numpy)
    assert status == ca.ECA.NORMAL, f'get gave {status!r}'
    assert dbrvalue is not None
    status = ca.pend_io(TIMEOUT)
    assert status == ca.ECA.NORMAL, f'pend_io after get gave {status!r}'
    return dbrvalue.get()


def get_callback(ca: ModuleType, chid: Any, chtype: Any = None, count: Any = None,
                 use_numpy: bool = False, timeout: float = TIMEOUT) -> dict:
    """One get with callback; returns the callback's dict."""
    recorder = Recorder()
    status, nothing = ca.get(chid, chtype, count, callback=recorder, use_numpy=use_numpy)
    assert status == ca.ECA.NORMAL, f'get with callback gave {status!r}'
    assert nothing is None
    (event,) = recorder.wait(ca, 1, timeout)
    return event


def put_wait(ca: ModuleType, chid: Any, value: Any, chtype: Any = None,
             count: Any = None, timeout: float = TIMEOUT) -> dict:
    """One put with callback, waited for; returns the put callback's dict."""
    recorder = Recorder()
    status = ca.put(chid, value, chtype, count, callback=recorder)
    assert status == ca.ECA.NORMAL, f'put with callback gave {status!r}'
    (event,) = recorder.wait(ca, 1, timeout)
    return event


def put_ok(ca: ModuleType, chid: Any, value: Any, chtype: Any = None,
           count: Any = None) -> None:
    """A put with callback that must complete with ECA.NORMAL."""
    event = put_wait(ca, chid, value, chtype, count)
    assert event['status'] == ca.ECA.NORMAL, event


def run_in_thread(function: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Run *function* in a new plain Python thread; return its result.

    An exception raised in the thread (an assertion, say) is re-raised here,
    so the test fails with the thread's traceback.
    """
    outcome: dict = {}

    def target() -> None:
        try:
            outcome['result'] = function()
        except BaseException as exc:  # handed over to the test thread
            outcome['error'] = exc

    thread = threading.Thread(target=target, name='ca-test-worker', daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f'thread still running after {timeout} s'
    if 'error' in outcome:
        raise outcome['error']
    return outcome.get('result')
