"""The hand-over between libca's threads and an event loop, and the channel
cache of each loop.

libca calls back in its own threads; none of them runs user code or touches
a loop object.  A reply (a connection change, a get or put completion, a
monitor event) is appended to its loop's reply queue, and the first reply
of a batch schedules one ``call_soon_threadsafe`` wake-up.  The "wake-up
pending" flag is set before the wake-up is asked for and cleared by the loop
before it drains the queue, so a reply either joins a drain still to come or
asks for a wake-up of its own: no reply waits unseen.  Requests made during a loop turn are flushed to the
server once, at the next turn.

Each event loop has a :class:`LoopState` (its channel cache), made on first
use in that loop.  A closed loop's replies are dropped in libca's thread
(nothing is delivered, nothing printed).  The first call of the next loop
takes over its channels when both use one CA context (its subscriptions and
waiting calls end); otherwise they are cleared then, by
:func:`purge_channel_caches`, or at exit.
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time
from types import ModuleType
from typing import Any, Callable, Deque, Dict, List, Optional

from .. import _constants as C
from ._values import Request

#: loop -> its state; guarded by _states_lock (loops may live in any thread).
_states: Dict[asyncio.AbstractEventLoop, 'LoopState'] = {}
_states_lock = threading.Lock()


class LoopState:
    """One event loop's channel cache and reply hand-over."""

    __slots__ = ('loop', 'ca', 'thread', 'context', 'channels', 'requests', 'closed',
                 'replies', 'wake_pending', '_flush_pending', '__weakref__')

    def __init__(self, loop: asyncio.AbstractEventLoop, ca: ModuleType) -> None:
        self.loop = loop
        self.ca = ca
        self.thread = threading.get_ident()
        #: the CA context of this loop's channels (known from the first one)
        self.context: Any = None
        self.channels: Dict[str, Channel] = {}
        #: every Request made in this loop, by kind (few: one per type of PV)
        self.requests: Dict[Any, Request] = {}
        self.closed = False
        self.replies: Deque[Any] = collections.deque()
        self.wake_pending: Optional[str] = None
        self._flush_pending = False

    # -- libca's threads --------------------------------------------------

    # Entries of the queue: a (handler, reply) tuple, or an object (a monitor
    # value, a get or put awaiting its reply) whose ``_target._arrived(entry)``
    # takes it; those are one object per reply, not three (tuple, bound
    # method, reply), for the garbage collector to follow.

    def post(self, handler: Callable[[Any], None], reply: Any) -> None:
        """Queue ``handler(reply)`` for the loop and wake it now (called in
        libca's threads, for connection changes)."""
        self.post_entry((handler, reply))

    def post_entry(self, entry: Any) -> None:
        """Queue *entry* (see above) and wake the loop now: someone awaits it."""
        # No lock: deque.append and the flag's reads and writes are each
        # atomic under the GIL, and _deliver clears the flag before it
        # drains.  An entry that finds the flag set is appended before that
        # drain ends, so the drain takes it; one that finds it clear (or
        # only a deferred wake-up pending) asks for a wake-up itself: at
        # worst one too many, never one too few.
        if self.closed:
            return
        self.replies.append(entry)
        if self.wake_pending is not _WAKE_NOW:
            self.wake_pending = _WAKE_NOW
            self.wake()

    # Monitor events take the same path inline (Subscription._received, one
    # Python call less per event): append to ``replies`` unless closed, and
    # if no wake-up is pending, :meth:`wake_soon`.

    def wake_soon(self) -> None:
        """Have the loop woken a moment from now (see :class:`_Waker`), so a
        burst of monitor events is one batch."""
        self.wake_pending = _WAKE_SOON
        _waker.request(self)

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:
            # The loop is closed: what it would have received goes nowhere.
            self.closed = True
            self.replies.clear()

    # -- the loop ---------------------------------------------------------

    def _deliver(self) -> None:
        self.wake_pending = None
        replies = self.replies
        pop = replies.popleft
        while replies:
            entry = pop()
            try:
                if entry.__class__ is tuple:
                    handler, reply = entry
                    handler(reply)
                else:
                    entry._target._arrived(entry)
            except Exception as exc:  # a bug of ours: report it, keep the batch going
                self.loop.call_exception_handler(
                    {'message': 'CaChannel.aio reply handler failed', 'exception': exc})

    def want_flush(self) -> None:
        """Send the requests of this loop turn at the next one, all at once."""
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if not self.closed:
            self.ca.flush_io()

    def channel(self, name: str) -> 'Channel':
        """The cached channel of *name*, created (and searched for) if new."""
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(self, name)
            if self.context is None:
                self.context = self.ca.current_context()
        return channel

    def purge(self) -> None:
        """Close every subscription and clear every channel of this loop."""
        channels = list(self.channels.values())
        self.channels.clear()
        for channel in channels:
            channel.purge()
        if not self.closed and not self.loop.is_closed():
            self.ca.flush_io()


#: shared by every channel without subscriptions (most of them): an empty
#: dict per channel would be a tenth of its memory
_NO_SUBSCRIPTIONS: Dict[Any, None] = {}

_WAKE_NOW = 'now'
_WAKE_SOON = 'soon'


class _Waker:
    """Wakes loops a moment after the first monitor event of a batch.

    libca's receive thread takes and releases the GIL once per event.  A
    loop thread woken at the first event of a burst waits for the GIL for
    the rest of it, and every one of those releases then wakes it for
    nothing: measured here, that tripled the CPU time per event.  Monitor
    events therefore ask this thread, which sleeps without the GIL, to wake
    their loop :data:`DELAY` seconds later, when the burst is over; replies
    that someone awaits (connections, gets, puts) still wake the loop at
    once.
    """

    #: Seconds between a batch's first event and its delivery.
    DELAY = 0.002

    def __init__(self) -> None:
        self._wanted: Deque[LoopState] = collections.deque()
        self._signal = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()

    def request(self, state: LoopState) -> None:
        self._wanted.append(state)
        self._signal.set()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name='CaChannel.aio waker',
                                          daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        wanted, signal, sleep = self._wanted, self._signal, time.sleep
        while True:
            signal.wait()
            signal.clear()
            sleep(self.DELAY)
            while wanted:
                state = wanted.popleft()
                if state.wake_pending is _WAKE_SOON:
                    state.wake()


_waker = _Waker()


def _forget_after_fork() -> None:
    # A forked child has none of the parent's threads (the waker) and its
    # CA layer forgets the parent's contexts: it starts afresh.
    global _waker
    _waker = _Waker()
    _states.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


class Channel:
    """One cached CA channel of a loop: its connection state, what waits for
    it to connect, and the subscriptions that follow its connection."""

    __slots__ = ('state', 'name', 'chid', 'connected', 'waiters', 'subscriptions',
                 'last_request', 'last_datatype')

    def __init__(self, state: LoopState, name: str) -> None:
        self.state = state
        self.name = name
        self.connected = False
        #: callables to call (with this channel) when it connects; None when
        #: nothing waits (most channels, most of the time).
        self.waiters: Optional[List[Any]] = None
        #: the subscriptions following this channel (a dict: ordered)
        self.subscriptions: Dict[Any, None] = _NO_SUBSCRIPTIONS
        #: the latest read's Request on this connection, and the datatype it
        #: was asked with (slots, not a tuple: one object less per channel)
        self.last_request: Optional[Request] = None
        self.last_datatype: Any = None
        status, chid = state.ca.create_channel(name, self._connection_reply)
        if status != C.ECA_NORMAL or chid is None:
            from ._errors import CANothing
            raise CANothing(name, status)
        self.chid = chid
        state.want_flush()

    def _connection_reply(self, args: Dict[str, Any]) -> None:
        # libca's thread: only the hand-over.
        self.state.post(self._connection_changed, args['op'])

    def _connection_changed(self, op: int) -> None:
        if self.chid is None:
            return
        up = op == C.CA_OP.CONN_UP
        self.connected = up
        # Type and count may differ after a reconnection (an IOC reloaded).
        self.last_request = None
        if up and self.waiters:
            waiters, self.waiters = self.waiters, None
            for waiter in waiters:
                waiter.connected(self)
        for subscription in list(self.subscriptions):
            subscription._connection_changed(up)

    def follow(self, subscription: Any) -> None:
        if self.subscriptions is _NO_SUBSCRIPTIONS:
            self.subscriptions = {}
        self.subscriptions[subscription] = None

    def when_connected(self, waiter: Any) -> None:
        """Call ``waiter.connected(self)`` now if connected, else once it connects."""
        if self.connected:
            waiter.connected(self)
        elif self.waiters is None:
            self.waiters = [waiter]
        else:
            self.waiters.append(waiter)

    def forget_waiter(self, waiter: Any) -> None:
        # Mostly one waiter per channel: a list is smaller than a dict.
        if self.waiters is not None and waiter in self.waiters:
            self.waiters.remove(waiter)

    def field_type(self) -> int:
        return int(self.state.ca.field_type(self.chid))

    def element_count(self) -> int:
        return int(self.state.ca.element_count(self.chid))

    def request(self, datatype: Any, format: int) -> Request:
        """The :class:`~._values.Request` for a read (the channel's last one
        while it stays connected, else the loop's of the same kind)."""
        last = self.last_request
        if last is not None and self.last_datatype is datatype and last.format == format:
            return last
        key = (datatype, format, int(self.state.ca.field_type(self.chid)),
               int(self.state.ca.element_count(self.chid)), self.name.endswith('$'))
        requests = self.state.requests
        try:
            request = requests.get(key)
        except TypeError:  # an unhashable datatype: Request says what is wrong
            request = None
        if request is None:
            request = Request(*key[:4], long_string=key[4])
            requests[key] = request
        self.last_request = request
        self.last_datatype = datatype
        return request

    def _end_uses(self) -> None:
        for subscription in list(self.subscriptions):
            subscription.close()
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            # The calls waiting for it end now rather than at their timeout.
            waiter.lost(C.ECA_DISCONN)

    def move_to(self, state: LoopState) -> None:
        """Serve *state*'s loop from now on, connection kept: the loop of
        this one closed (see _hand_over)."""
        self._end_uses()
        self.state = state
        self.last_request = None
        # The connection changes of the time no loop ran were dropped with
        # the closed loop's replies: ask libca.  Asked after the switch, so a
        # change from now on reaches the new loop and sets this again.
        self.connected = state.ca.state(self.chid) == C.ChannelState.CONN

    def purge(self) -> None:
        self._end_uses()
        chid, self.chid = self.chid, None
        self.connected = False
        if chid is not None:
            self.state.ca.clear_channel(chid)


def current_state() -> LoopState:
    """The running loop's state, made on its first use."""
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is not None and not state.closed:
        return state
    from ..CaChannel import _chosen_ca
    with _states_lock:
        stale = [s for s in _states.values() if s.closed or s.loop.is_closed()]
        for old in stale:
            del _states[old.loop]
        state = _states.get(loop)
        if state is None:
            state = _states[loop] = LoopState(loop, _chosen_ca())
    for old in stale:
        _hand_over(old, state)
    return state


def _hand_over(old: LoopState, new: LoopState) -> None:
    """Release the state of a closed loop; *new* takes its channels if
    they are of the CA context this thread uses.

    Connected channels make the next ``asyncio.run`` of a script quick, and
    clearing them would expose a libca race: the last channel cleared on a
    server starts the shutdown of its circuit, and a channel searched for at
    once can be installed on that dying circuit.  It is then disconnected
    with the circuit ("Virtual circuit disconnect") and searched for again
    only after libca's 10 s disconnect governor, longer than a caget waits.
    """
    old.closed = True  # its replies dropped from here on
    if old.ca is new.ca and old.context is not None and old.context == _context_here(new.ca):
        channels, old.channels = old.channels, {}
        for name, channel in channels.items():
            if name in new.channels:  # taken from another closed loop already
                channel.purge()
            else:
                new.channels[name] = channel
                channel.move_to(new)
        new.context = old.context
    _release(old)


def _context_here(ca: ModuleType) -> Any:
    """The CA context this thread's channels are made in."""
    if ca.current_context() is None:
        # A thread without a context joins the process's one at its first
        # CA call, as a loop's first channel would: join it now.
        ca.flush_io()
    return ca.current_context()


def _release(state: LoopState) -> None:
    state.closed = True
    state.replies.clear()
    state.purge()


def purge_channel_caches() -> None:
    """Close every subscription and clear every channel of every loop.

    A loop running in another thread does it itself, at its next turn.
    """
    with _states_lock:
        states = list(_states.values())
        _states.clear()
    here = threading.get_ident()
    for state in states:
        loop = state.loop
        if state.thread == here or loop.is_closed() or not loop.is_running():
            if loop.is_closed():
                _release(state)
            else:
                state.purge()
        else:
            try:
                loop.call_soon_threadsafe(state.purge)
            except RuntimeError:  # closed meanwhile
                _release(state)


def states() -> List[LoopState]:
    with _states_lock:
        return list(_states.values())
