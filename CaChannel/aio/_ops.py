"""``caget``, ``caput``, ``connect`` and ``cainfo``: one policy for all four.

A call on one PV or on a list is one :class:`_Batch`: an item per PV, one
future for the whole call, one deadline.  Each item waits for its channel
to connect, issues its request, and settles with a value or a
:class:`CANothing`.  No task per PV: the items are steps run by the
connection and reply hand-overs of :mod:`._core`.

``throw=True`` ends the call at the first failure (raised); ``throw=False``
waits for every item, a failed one giving its ``CANothing``.  The timeout
covers the whole call.  However the call ends (result, failure, timeout,
cancellation), every item still pending is released: it leaves its
channel's waiters, and a reply that arrives for it later is dropped.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, List, Optional, Sequence, Union

from .. import _constants as C
from ._core import Channel, LoopState, current_state
from ._errors import CANothing
from ._values import FORMAT_RAW, put_request

DEFAULT_TIMEOUT = 5.0

Timeout = Union[None, float, tuple]


def _delay(timeout: Timeout) -> Optional[float]:
    """Seconds from now until *timeout* (None: no limit)."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        return timeout[0] - time.time()
    return float(timeout)


class _Batch:
    """One call's items, results and future."""

    __slots__ = ('state', 'future', 'results', 'remaining', 'throw', 'items', 'timer')

    def __init__(self, state: LoopState, count: int, throw: bool) -> None:
        self.state = state
        self.future: asyncio.Future[List[Any]] = state.loop.create_future()
        self.results: List[Any] = [None] * count
        self.remaining = count
        self.throw = throw
        self.items: List[_Item] = []
        self.timer: Optional[asyncio.TimerHandle] = None

    def settle(self, item: '_Item', result: Any) -> None:
        if self.future.done():
            return
        if self.throw and isinstance(result, CANothing) and not result.ok:
            self.future.set_exception(result)
            return
        self.results[item.index] = result
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(self.results)

    def fail(self, exc: BaseException) -> None:
        # A Python error (a value that cannot be written ...) is raised
        # whatever throw says, as aioca does.
        if not self.future.done():
            self.future.set_exception(exc)

    def expire(self) -> None:
        self.timer = None
        if self.future.done():
            return
        pending = [item for item in self.items if not item.done]
        if self.throw:
            self.future.set_exception(CANothing(pending[0].name, C.ECA_TIMEOUT))
            return
        for item in pending:
            item.done = True
            self.settle(item, CANothing(item.name, C.ECA_TIMEOUT))

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for item in self.items:
            if not item.done:
                item.abandon()
        self.items = []

    async def run(self, timeout: Timeout) -> List[Any]:
        delay = _delay(timeout)
        try:
            if self.remaining and delay is not None and not self.future.done():
                self.timer = self.state.loop.call_later(max(delay, 0.0), self.expire)
            if not self.future.done() and self.remaining == 0:
                self.future.set_result(self.results)
            return await self.future
        finally:
            self.release()


class _Item:
    """One PV of a call: wait for the channel, act, settle."""

    __slots__ = ('batch', 'index', 'name', 'channel', 'done', 'reply', '_target')

    def __init__(self, batch: _Batch, index: int, channel: Channel) -> None:
        self.batch = batch
        self.index = index
        self.name = channel.name
        self.channel = channel
        self.done = False
        self.reply: Any = None
        # The queue's protocol (see LoopState): the item takes its own reply.
        self._target = self
        batch.items.append(self)

    def start(self, wait: bool = True) -> None:
        if wait:
            self.channel.when_connected(self)
        else:
            self.connected(self.channel)

    def connected(self, channel: Channel) -> None:
        try:
            self.act(channel)
        except Exception as exc:
            self.done = True
            self.batch.fail(exc)

    def act(self, channel: Channel) -> None:
        raise NotImplementedError

    def lost(self, status: int) -> None:
        """The channel went away (purged) while this item waited for it."""
        self.finish(CANothing(self.name, status))

    def finish(self, result: Any) -> None:
        if not self.done:
            self.done = True
            self.batch.settle(self, result)

    def abandon(self) -> None:
        self.done = True
        self.channel.forget_waiter(self)

    def _received(self, args: Any) -> None:
        # libca's thread: only the hand-over.
        self.reply = args
        self.batch.state.post_entry(self)

    def _arrived(self, item: '_Item') -> None:
        raise NotImplementedError


class _Connect(_Item):
    __slots__ = ()

    def act(self, channel: Channel) -> None:
        self.finish(CANothing(self.name))


class _Info(_Item):
    __slots__ = ()

    def act(self, channel: Channel) -> None:
        self.finish(CAInfo(self.name, channel))


class _Get(_Item):
    __slots__ = ('datatype', 'format', 'count', 'request')

    def __init__(self, batch: _Batch, index: int, channel: Channel, datatype: Any,
                 format: int, count: int) -> None:
        super().__init__(batch, index, channel)
        self.datatype = datatype
        self.format = format
        self.count = count
        self.request: Any = None

    def act(self, channel: Channel) -> None:
        request = self.request = channel.request(self.datatype, self.format)
        count = self.count
        if count < 0:
            count = request.element_count
        elif count > 0:
            count = min(count, request.element_count)
        status, _ = channel.state.ca.get(channel.chid, request.chtype, count,
                                         self._received, True)
        if status != C.ECA_NORMAL:
            self.finish(CANothing(self.name, status))
            return
        channel.state.want_flush()

    def _arrived(self, item: _Item) -> None:
        args, self.reply = self.reply, None
        if self.done:
            return  # the call ended meanwhile: nothing arrives later
        status = args['status']
        if status != C.ECA_NORMAL:
            self.finish(CANothing(self.name, status))
            return
        try:
            value = self.request.value(args['value'], self.name)
        except Exception as exc:
            self.done = True
            self.batch.fail(exc)
            return
        self.finish(value)


class _Put(_Item):
    __slots__ = ('value', 'datatype', 'wait')

    def __init__(self, batch: _Batch, index: int, channel: Channel, value: Any,
                 datatype: Any, wait: bool) -> None:
        super().__init__(batch, index, channel)
        self.value = value
        self.datatype = datatype
        self.wait = wait

    def act(self, channel: Channel) -> None:
        chtype, value = put_request(self.datatype, channel.field_type(), self.name,
                                    self.value)
        ca = channel.state.ca
        if self.wait:
            status = ca.put(channel.chid, value, chtype, None, self._received)
        else:
            status = ca.put(channel.chid, value, chtype)
        channel.state.want_flush()
        if status != C.ECA_NORMAL:
            self.finish(CANothing(self.name, status))
        elif not self.wait:
            self.finish(CANothing(self.name))

    def _arrived(self, item: _Item) -> None:
        args, self.reply = self.reply, None
        if not self.done:
            self.finish(CANothing(self.name, args['status']))


def _names(pv: Any) -> Optional[Sequence[str]]:
    """The list of names of a list call, None for one PV."""
    if isinstance(pv, (list, tuple)):
        return pv
    return None


async def _call(pv: Any, make: Callable[[_Batch, int, Channel], _Item],
                timeout: Timeout, throw: bool, wait: bool = True) -> Any:
    state = current_state()
    names = _names(pv)
    batch = _Batch(state, 1 if names is None else len(names), throw)
    try:
        for index, name in enumerate([pv] if names is None else names):
            make(batch, index, state.channel(name)).start(wait)
    except BaseException:
        batch.release()
        raise
    results = await batch.run(timeout)
    return results[0] if names is None else results


async def caget(pv: Any, datatype: Any = None, format: int = FORMAT_RAW, count: int = 0,
                timeout: Timeout = DEFAULT_TIMEOUT, throw: bool = True) -> Any:
    """Read one PV (an augmented value) or a list of PVs (a list of them).

    :param datatype: None (the channel's type), a DBR code, ``DBR_CHAR_STR``
        and its siblings, ``DBR_ENUM_STR``, a Python type or a numpy dtype.
    :param format: ``FORMAT_RAW``, ``FORMAT_TIME`` or ``FORMAT_CTRL``.
    :param count: 0 (the server's current length), -1 (the channel's full
        length) or at most this many elements.
    :param timeout: seconds, None for ever, or ``(deadline,)`` in
        ``time.time()`` seconds; for a list, for the whole list.
    :param throw: False returns a failed PV's :class:`CANothing` instead of
        raising it.
    """
    def make(batch: _Batch, index: int, channel: Channel) -> _Item:
        return _Get(batch, index, channel, datatype, format, count)
    return await _call(pv, make, timeout, throw)


async def caput(pv: Any, value: Any, repeat_value: bool = False, datatype: Any = None,
                wait: bool = False, timeout: Timeout = DEFAULT_TIMEOUT,
                throw: bool = True) -> Any:
    """Write one PV, or a list of PVs (each its own value, or one value for
    all with ``repeat_value=True`` or a str).

    ``wait=True`` waits for the server's completion (a put with callback).
    Returns ``CANothing`` (or a list of them) telling success.
    """
    names = _names(pv)
    if names is not None:
        if repeat_value or isinstance(value, (str, bytes)):
            values = [value] * len(names)
        else:
            try:
                values = list(value)
            except TypeError:
                values = [value] * len(names)
        if len(values) != len(names):
            raise ValueError('%d values for %d PVs' % (len(values), len(names)))
    else:
        values = [value]

    def make(batch: _Batch, index: int, channel: Channel) -> _Item:
        return _Put(batch, index, channel, values[index], datatype, wait)
    return await _call(pv, make, timeout, throw)


async def connect(pv: Any, wait: bool = True, timeout: Timeout = DEFAULT_TIMEOUT,
                  throw: bool = True) -> Any:
    """Connect one PV or a list; ``wait=False`` only starts the search.

    Returns ``CANothing`` (or a list) telling success.
    """
    if not wait:
        state = current_state()
        names = _names(pv)
        for name in [pv] if names is None else names:
            state.channel(name)
        return CANothing(pv) if names is None else [CANothing(n) for n in names]
    return await _call(pv, _Connect, timeout, throw)


async def cainfo(pv: Any, wait: bool = True, timeout: Timeout = DEFAULT_TIMEOUT,
                 throw: bool = True) -> Any:
    """The :class:`CAInfo` of one PV or a list; ``wait=False`` does not wait
    for the connection."""
    return await _call(pv, _Info, timeout, throw, wait)


class CAInfo:
    """What ``cainfo`` tells of a channel."""

    #: ``state`` as text.
    state_strings = ['never connected', 'previously connected', 'connected', 'closed']
    #: ``datatype`` (a DBF code, 7 for none) as text.
    datatype_strings = ['string', 'short', 'float', 'enum', 'char', 'long', 'double',
                        'no access']

    def __init__(self, name: str, channel: Channel) -> None:
        ca = channel.state.ca
        chid = channel.chid
        #: Always True: a failed cainfo is a CANothing.
        self.ok = True
        self.name = name
        #: The channel state (``ChannelState``: 0 never connected ... 3 closed).
        self.state = int(ca.state(chid))
        #: The server's host:port, or libca's placeholder.
        self.host = ca.host_name(chid)
        self.read = bool(ca.read_access(chid))
        self.write = bool(ca.write_access(chid))
        if self.state == C.ChannelState.CONN:
            self.count = int(ca.element_count(chid))
            self.datatype = int(ca.field_type(chid))
        else:
            self.count = 0
            self.datatype = int(C.DBF_NO_ACCESS)

    def __str__(self) -> str:
        return ('%s:\n    State: %s\n    Host: %s\n    Access: %s, %s\n'
                '    Data type: %s\n    Count: %d'
                % (self.name, self.state_strings[self.state], self.host, self.read,
                   self.write, self.datatype_strings[self.datatype], self.count))
