"""The wait engine of pend_io, test_io and the sg_ calls (the twin of src/iowait.c).

libca's own ``ca_pend_io`` waits on one event that wakes one waiter and
counts every channel of the context, whichever thread made it; its
``ca_array_get`` copies as many elements as the server sends. So what
pend_io waits for (gets without callback, connections of channels made
without a connection callback) is counted here: per thread and context
(:func:`io_account`) or per sync group, in an :class:`IOCounter` whose every
change wakes all its waiters.

Each context also has a :class:`ContextRecord`: every libca call on it
passes through :func:`gated`, which refuses it once the context is being destroyed
or the interpreter exits, and counts the threads inside libca so that
destroying the context waits for them (a bounded moment).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _common
from ._ffi import lib

__all__ = ['IOCounter', 'io_account', 'ContextRecord', 'context_record', 'owned_records', 'gated',
           'new_epoch', 'sliced_pend_event', 'park_if_exiting', 'mark_exit_thread', 'WAIT_SLICE',
           'DESTROY_GRACE']

# Waits are cut into slices so that Ctrl-C and interpreter exit reach a long
# pend_io.
WAIT_SLICE = 0.1
# How long destroying a context waits for other threads to leave libca.
DESTROY_GRACE = 1.0
# A non-preemptive context calls back only from inside ca_pend_*, and
# ca_pend_event always sleeps its whole timeout: waits there are a series of
# short, growing ca_pend_event calls.
_POLL_FIRST = 1e-4
_POLL_MAX = 1e-2


class ContextRecord:
    """What this backend knows of one context (the twin of ContextObject in
    caext.h): admission to libca (``busy``, ``valid``: False once it is
    being destroyed), whether its callbacks are preemptive, and whether it
    was made here (``owned``: destroyed at exit).  The C record is also the
    ``Context`` identifier; here identifiers are made only when
    ``current_context()`` asks, and a record exists for every context a call
    passes through."""

    # busy is the length of _inside, one entry per thread inside a libca
    # call: list.append and list.remove are atomic under the GIL, so the path
    # every libca call takes needs no lock (C counts under the GIL it holds
    # until GATED releases it).
    __slots__ = ('_inside', 'valid', 'preemptive', 'owned', 'ptr')

    def __init__(self, ptr: Optional[int] = None, preemptive: Optional[bool] = None) -> None:
        self._inside: List[object] = []
        self.valid = True
        self.preemptive = preemptive    # None: a context made elsewhere
        self.owned = ptr is not None    # made here, by new_epoch
        self.ptr = ptr

    @property
    def busy(self) -> int:
        return len(self._inside)

    def drain(self, grace: float = DESTROY_GRACE) -> bool:
        """Refuse from now on, then wait up to *grace* seconds for the
        threads inside libca; False if some are still there (the twin of
        drain_context in context.c)."""
        self.valid = False
        deadline = time.monotonic() + grace
        while self._inside and time.monotonic() < deadline:
            time.sleep(1e-3)
        return not self._inside


# context address -> its record, and an epoch object per context made here:
# an account or a record left by a destroyed context is never reused by a new
# one that libca places at the same address.
_records: Dict[int, ContextRecord] = {}
_epochs: Dict[int, object] = {}
_lock = threading.Lock()


def new_epoch(ctx_address: int, preemptive: bool) -> None:
    """This backend has just created the context at *ctx_address*: a fresh
    record (owned) and fresh accounts."""
    with _lock:
        _records[ctx_address] = ContextRecord(ctx_address, preemptive)
        _epochs[ctx_address] = object()


def context_record(ctx_address: int) -> ContextRecord:
    """The record of the context at *ctx_address* (the twin of
    context_record in context.c), made for a context made elsewhere."""
    found = _records.get(ctx_address)
    if found is None:
        with _lock:
            found = _records.setdefault(ctx_address, ContextRecord())
    return found


def owned_records() -> List[ContextRecord]:
    """The records of the contexts made here that are not destroyed yet."""
    with _lock:
        return [rec for rec in _records.values() if rec.owned and rec.valid]


def forget_all() -> None:
    """In a forked child: the parent's contexts are gone."""
    global _lock
    _lock = threading.Lock()
    for found in _records.values():
        found.valid = False
    _records.clear()
    _epochs.clear()


_exit_thread: Optional[int] = None


def mark_exit_thread() -> None:
    global _exit_thread
    _exit_thread = threading.get_ident()


def park_if_exiting() -> None:
    """Once the interpreter exits, a CA call of any thread but the exiting
    one (a daemon thread: the others were joined) sleeps until the process
    ends, as Python stops daemon threads, instead of returning an error
    into a thread about to vanish."""
    if _common.shutting_down and threading.get_ident() != _exit_thread:
        while True:
            time.sleep(60.0)


def gated(ctx_address: int, refused: Any, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` (a libca function) unless the context refuses it: the
    twin of GATED in caext.h, and as there the admission is written out
    here, not called, since every libca call passes through it."""
    rec = _records.get(ctx_address) or context_record(ctx_address)
    inside = rec._inside
    # An entry of its own, appended inside the try and removed only if
    # there: a KeyboardInterrupt raised as the append returns cannot leave
    # this thread counted for ever (destroying the context would wait for
    # it in vain), nor one raised before it (Python 3.9 checks for signals
    # between most instructions) remove another thread's entry.
    entry = object()
    try:
        inside.append(entry)
        # Checked after the append: a drain that cleared valid before it
        # either sees this entry and waits, or is seen here.
        if rec.valid and not _common.shutting_down:
            return call(*args)
    finally:
        try:
            inside.remove(entry)
        except ValueError:
            pass
    park_if_exiting()
    return refused


class IOCounter:
    """What pend_io (one thread's account) or sg_block (a group) waits for.

    The generation moves on when a wait gives up or a group is reset:
    replies to older requests no longer count.

    The requests of the current generation are the entries of one list,
    ``_pending``, and the generation a request was counted in is that list
    itself: ``list.append`` and ``list.pop`` are atomic under the GIL, so
    issuing and answering requests take no lock, and a reset starts a new
    list.  A lock there made the main thread, issuing thousands of reads,
    queue behind libca's thread answering them (each blocked the other
    until the GIL's switch interval).  ``_lock`` guards the connection
    flags and the waiters.  C's io_counter is a count and a generation
    number, guarded by the GIL its callers hold.

    As in C, every thread waiting on a counter registers its own event
    (:func:`thread_event`), and every change signals all of them.  The
    counter's lock is never held while a thread waits: a
    ``threading.Condition`` wait takes its lock back in Python code, where a
    KeyboardInterrupt can leave it released under the ``with`` that then
    releases it again ("release unlocked lock" instead of the interrupt).
    """

    __slots__ = ('_pending', '_lock', '_waiters')

    def __init__(self) -> None:
        self._pending: List[None] = []
        self._lock = threading.Lock()
        self._waiters: List[_ThreadEvent] = []

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    @property
    def generation(self) -> List[None]:
        """The current generation: compare with ``is``."""
        return self._pending

    def issue(self) -> List[None]:
        """Count one more request; -> its generation."""
        pending = self._pending
        pending.append(None)
        return pending

    def complete(self, generation: List[None]) -> None:
        try:
            generation.pop()
        except IndexError:
            return                  # its generation was reset and emptied
        if not generation and generation is self._pending:
            self._wake()

    def reset(self) -> None:
        with self._lock:
            self._pending = []
            self._wake_waiters()

    def _wake(self) -> None:
        with self._lock:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Signal every waiter's event (with ``_lock`` held)."""
        for event in self._waiters:
            event.signal()

    def count_connection(self, chan: Any) -> None:
        """A channel without connection callback is outstanding I/O until it
        connects, and again while disconnected unless a wait gave up since
        it was made, as in libca."""
        with self._lock:
            if not chan._conn_counted and chan._conn_gen is self._pending:
                self._pending.append(None)
                chan._conn_counted = True

    def uncount_connection(self, chan: Any) -> None:
        with self._lock:
            if not chan._conn_counted:
                return
            chan._conn_counted = False
            generation = chan._conn_gen
            if generation is self._pending and generation:
                generation.pop()
                if not generation:
                    self._wake_waiters()

    def wait(self, deadline: Optional[float], ctx_address: int) -> int:
        """``ECA.NORMAL`` once nothing is outstanding, ``ECA.TIMEOUT`` once
        ``time.monotonic()`` reaches *deadline* (None: never),
        ``ECA.NOCACTX`` when the context at ``ctx_address`` (the calling
        thread's for pend_io, the group's for sg_block) goes away."""
        rec = context_record(ctx_address)
        preemptive = rec.preemptive
        if preemptive is None:
            preemptive = bool(lib.ca_preemtive_callback_is_enabled())
        if not preemptive:
            return self._poll(deadline, ctx_address, rec)
        event = thread_event()
        try:
            with self._lock:
                self._waiters.append(event)
            # Registered before the first look at _pending: a change after
            # it signals the event, so none is missed.
            while self._pending:
                if not rec.valid or _common.shutting_down:
                    park_if_exiting()
                    return _common.ECA_NOCACTX
                step = _step(deadline, WAIT_SLICE)
                if step is None:
                    return _common.ECA_TIMEOUT
                event.wait(step)
            return _common.ECA_NORMAL
        finally:
            with self._lock:
                # Not there if an interrupt came before the append; and an
                # entry an interrupt leaves behind is harmless: it is only
                # signalled.
                if event in self._waiters:
                    self._waiters.remove(event)

    def _poll(self, deadline: Optional[float], ctx_address: int, rec: ContextRecord) -> int:
        poll = _POLL_FIRST
        while self.outstanding:
            if not rec.valid or _common.shutting_down:
                park_if_exiting()
                return _common.ECA_NOCACTX
            step = _step(deadline, poll)
            if step is None:
                return _common.ECA_TIMEOUT
            gated(ctx_address, None, lib.ca_pend_event, step)
            poll = min(poll * 2, _POLL_MAX)
        return _common.ECA_NORMAL


class _ThreadEvent:
    """A thread's wake-up event (the twin of thread_event's epicsEvent in
    iowait.c): set by any number of signals, cleared by the wait that sees
    it.  Only its own thread waits on it, and only a counter's waker, with
    that counter's lock held, signals it."""

    __slots__ = ('_lock',)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()            # held: not signalled

    def signal(self) -> None:
        # Callers hold a counter's lock, and a thread's event may be
        # registered on several counters: a set event is left as it is, as
        # epicsEventSignal leaves it.
        if self._lock.locked():
            try:
                self._lock.release()
            except RuntimeError:
                pass                    # signalled meanwhile by another counter's waker

    def wait(self, timeout: float) -> bool:
        return self._lock.acquire(True, timeout)


def _step(deadline: Optional[float], longest: float) -> Optional[float]:
    """The next slice of a wait: at most *longest*, None once *deadline*
    (None: never) has passed."""
    if deadline is None:
        return longest
    remaining = deadline - time.monotonic()
    return min(longest, remaining) if remaining > 0 else None


class _Accounts(threading.local):
    def __init__(self) -> None:
        self.by_context: Dict[int, Tuple[Optional[object], IOCounter]] = {}
        self.event = _ThreadEvent()


_accounts = _Accounts()


def thread_event() -> _ThreadEvent:
    """The calling thread's own wake-up event."""
    return _accounts.event


def io_account(ctx_address: int) -> IOCounter:
    """The calling thread's account in the context at *ctx_address*.

    (The C twin keeps the last one found in its context record: its
    accounts sit in the thread's dict, two lookups a call; here the
    threading.local is one attribute.)
    """
    epoch = _epochs.get(ctx_address)
    found = _accounts.by_context.get(ctx_address)
    if found is not None and found[0] is epoch:
        return found[1]
    counter = IOCounter()
    _accounts.by_context[ctx_address] = (epoch, counter)
    return counter


def sliced_pend_event(ctx_address: int, timeout: float) -> int:
    """``ca_pend_event(timeout)`` cut into slices, so Ctrl-C gets through."""
    # As ca_pend_event: a timeout of 0 waits for ever.
    deadline = None if timeout == 0 else time.monotonic() + timeout
    while True:
        step = WAIT_SLICE
        if deadline is not None:
            # ca_poll's 1e-12 still makes one call: it flushes and, in a
            # non-preemptive context, runs the callbacks that are due.
            step = max(min(step, deadline - time.monotonic()), 1e-12)
        status = gated(ctx_address, _common.ECA_NOCACTX, lib.ca_pend_event, step)
        if status != _common.ECA_TIMEOUT:
            return status           # EVDISALLOW inside a callback, or refused
        if deadline is not None and time.monotonic() >= deadline:
            return status
