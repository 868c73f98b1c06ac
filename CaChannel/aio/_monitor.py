"""``camonitor`` and :class:`Subscription`.

Events reach a subscription through its loop's reply hand-over
(:mod:`._core`), in the order libca received them.  A plain callback is
called for each event as the batch is handed over.  A coroutine callback is
awaited by one task of the subscription, one call at a time; events that
arrive meanwhile wait in ``pending_values``: all of them with
``all_updates=True``, otherwise only the latest (each one it replaces counts
in ``dropped_callbacks``).  A callback that raises closes its subscription,
and the traceback goes to standard error (there is no caller to raise to).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import sys
import traceback
from typing import Any, Awaitable, Callable, Deque, List, Optional, Union, cast

from .. import _constants as C
from ._core import Channel, LoopState, current_state
from ._errors import CANothing
from ._ops import Timeout, _delay
from ._values import FORMAT_CTRL, FORMAT_RAW, FORMAT_TIME

Callback = Callable[[Any], Union[None, Awaitable[Any]]]

_DEFAULT_EVENTS = {
    FORMAT_RAW: C.DBE_VALUE,
    FORMAT_TIME: C.DBE_VALUE | C.DBE_ALARM,
    FORMAT_CTRL: C.DBE_VALUE | C.DBE_ALARM | C.DBE_PROPERTY,
}


class Subscription:
    """A live ``camonitor`` of one PV; :meth:`close` ends it."""

    #: ``state``: waiting for the first connection.
    OPENING = 0
    #: ``state``: subscribed.
    OPEN = 1
    #: ``state``: closed; no callback is called any more.
    CLOSED = 2

    __slots__ = ('name', 'callback', 'all_updates', 'notify_disconnect', 'state',
                 'dropped_callbacks', 'pending_values', 'channel', 'dbr_to_value',
                 '_loop_state', '_events', '_datatype', '_format', '_count', '_evid',
                 '_is_async', '_task', '_wakeup', '_timer', '_reply')

    def __init__(self, name: str, callback: Callback, events: Optional[int] = None,
                 datatype: Any = None, format: int = FORMAT_RAW, count: int = 0,
                 all_updates: bool = False, notify_disconnect: bool = False,
                 connect_timeout: Timeout = None) -> None:
        if format not in _DEFAULT_EVENTS:
            raise ValueError('format %r is not FORMAT_RAW, FORMAT_TIME or FORMAT_CTRL'
                             % (format,))
        state = current_state()
        self.name = name
        #: Called with each value (and CANothing for a disconnection when
        #: notify_disconnect, or a connect_timeout expiring).
        self.callback = callback
        self.all_updates = all_updates
        self.notify_disconnect = notify_disconnect
        self.state = self.OPENING
        #: Events replaced by a later one while a coroutine callback ran.
        self.dropped_callbacks = 0
        #: Values waiting for a coroutine callback to finish.
        self.pending_values: Deque[Any] = collections.deque(
            maxlen=None if all_updates else 1)
        #: Turns a reply's value into the augmented value (set on subscribing).
        self.dbr_to_value: Callable[..., Any] = _not_subscribed
        self._loop_state: LoopState = state
        self._events = _DEFAULT_EVENTS[format] if events is None else events
        self._datatype = datatype
        self._format = format
        self._count = count
        self._evid: Any = None
        self._is_async: Optional[bool] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._wakeup: Optional[asyncio.Future[None]] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._reply = self._received
        self.channel: Channel = state.channel(name)
        self.channel.follow(self)
        if self.channel.connected:
            self._subscribe()
        else:
            delay = _delay(connect_timeout)
            if delay is not None:
                self._timer = state.loop.call_later(max(delay, 0.0), self._connect_expired)

    def __repr__(self) -> str:
        return '<Subscription %r %s>' % (self.name, ('OPENING', 'OPEN', 'CLOSED')[self.state])

    # -- connection ---------------------------------------------------------

    def _connect_expired(self) -> None:
        self._timer = None
        if self.state == self.OPENING:
            # Told whatever notify_disconnect says; the subscription still
            # opens when the channel connects.
            self._give(CANothing(self.name, C.ECA_TIMEOUT))

    def _connection_changed(self, up: bool) -> None:
        if self.state == self.CLOSED:
            return
        if up:
            if self._evid is None:
                self._subscribe()
        elif self.notify_disconnect:
            self._give(CANothing(self.name, C.ECA_DISCONN))

    def _subscribe(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        channel = self.channel
        try:
            request = channel.request(self._datatype, self._format)
        except Exception:
            self._fail(sys.exc_info())
            return
        count = self._count
        if count < 0:
            count = request.element_count
        elif count > 0:
            count = min(count, request.element_count)
        self.dbr_to_value = request.value
        state = channel.state
        status, evid = state.ca.create_subscription(
            channel.chid, self._reply, request.chtype, count, self._events, True)
        if status != C.ECA_NORMAL:
            self._give(CANothing(self.name, status))
            return
        self._evid = evid
        self.state = self.OPEN
        state.want_flush()

    # -- events -------------------------------------------------------------

    def _received(self, args: Any) -> None:
        """An event, in libca's thread: made into its value at once, so the
        reply's dicts are freed here instead of waiting in the queue for the
        garbage collector to walk them; the value goes to the loop."""
        if self.state == self.CLOSED:
            return
        status = args['status']
        if status != C.ECA_NORMAL:
            if self.notify_disconnect:
                self._loop_state.post(self._arrived, CANothing(self.name, status))
            return
        state = self._loop_state
        try:
            value = self.dbr_to_value(args['value'], self.name)
            value._target = self
        except Exception:
            state.post(self._failed, sys.exc_info())
            return
        # LoopState.post_entry's hand-over, inline, without the wake-up now.
        if state.closed:
            return
        state.replies.append(value)
        if state.wake_pending is None:
            state.wake_soon()

    def _failed(self, exc_info: Any) -> None:
        if self.state != self.CLOSED:
            self._fail(exc_info)

    def _arrived(self, value: Any) -> None:
        if self.state == self.CLOSED:
            return
        if self._is_async is False:
            # The common case, inline: a plain callback, known to be one.
            try:
                self.callback(value)
            except Exception:
                self._fail(sys.exc_info())
            return
        self._give(value)

    def _give(self, value: Any) -> None:
        """Hand *value* to the callback, now or after the running coroutine."""
        if self._is_async:
            pending = self.pending_values
            if pending.maxlen is not None and pending:
                self.dropped_callbacks += 1
            pending.append(value)
            wakeup = self._wakeup
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)
            return
        try:
            result = self.callback(value)
        except Exception:
            self._fail(sys.exc_info())
            return
        if self._is_async is None:
            self._is_async = inspect.isawaitable(result)
            if self._is_async:
                self._task = self._loop_state.loop.create_task(
                    self._serve(cast(Awaitable[Any], result)))

    async def _serve(self, first: Awaitable[Any]) -> None:
        """The coroutine callback's task: one call at a time, in order."""
        try:
            await first
            pending = self.pending_values
            while self.state != self.CLOSED:
                if not pending:
                    self._wakeup = self._loop_state.loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                result = self.callback(pending.popleft())
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            raise
        except Exception:
            self._fail(sys.exc_info())

    def _fail(self, exc_info: Any) -> None:
        print('Subscription %s callback raised an exception; closing it:' % self.name,
              file=sys.stderr)
        traceback.print_exception(*exc_info, file=sys.stderr)
        self.close()

    # -- the end ------------------------------------------------------------

    def close(self) -> None:
        """End the subscription: no callback is called after this returns,
        not even for values already received."""
        if self.state == self.CLOSED:
            return
        self.state = self.CLOSED
        self.pending_values.clear()
        self.channel.subscriptions.pop(self, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        evid, self._evid = self._evid, None
        state = self._loop_state
        if evid is not None:
            state.ca.clear_subscription(evid)
            if not state.loop.is_closed():
                state.want_flush()
        task, self._task = self._task, None
        if task is not None and not state.loop.is_closed():
            task.cancel()


def _not_subscribed(*args: Any) -> Any:
    raise RuntimeError('no value conversion before the subscription is made')


def camonitor(pv: Any, callback: Callable[..., Any], events: Optional[int] = None,
              datatype: Any = None, format: int = FORMAT_RAW, count: int = 0,
              all_updates: bool = False, notify_disconnect: bool = False,
              connect_timeout: Timeout = None) -> Any:
    """Subscribe to one PV (a :class:`Subscription`) or a list (a list of
    them, the callback then getting ``(value, index)``).  Needs a running
    event loop; the subscription lives until closed, whether kept or not.

    :param events: a ``DBE_*`` mask; by default DBE_VALUE, with DBE_ALARM
        for FORMAT_TIME, and DBE_PROPERTY too for FORMAT_CTRL.
    :param all_updates: call a coroutine callback for every event, instead
        of the latest when it is free again.
    :param notify_disconnect: call the callback with a ``CANothing`` when
        the channel disconnects.
    :param connect_timeout: call the callback with a ``CANothing`` if the
        channel has not connected by then (it still subscribes when it does).
    """
    options = dict(events=events, datatype=datatype, format=format, count=count,
                   all_updates=all_updates, notify_disconnect=notify_disconnect,
                   connect_timeout=connect_timeout)
    if isinstance(pv, (list, tuple)):
        return [Subscription(name, _indexed(callback, index), **options)
                for index, name in enumerate(pv)]
    return Subscription(pv, callback, **options)


def _indexed(callback: Callable[[Any, int], Any], index: int) -> Callback:
    def indexed(value: Any) -> Any:
        return callback(value, index)
    return indexed


__all__: List[str] = ['Subscription', 'camonitor']
