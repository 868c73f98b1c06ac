"""Floors: what the benchmark's workloads cost below any client library.

Three workers that are not libraries, run by the runner beside the clients so
that each target a client misses can be read against what bounds it:

``script-floor``
    The documentation's connect-and-read script (the one ``CaChannelLib``
    runs) over channel objects that do nothing: no Channel Access at all.
    Its CPU time is the script's own Python work, and its memory the
    script's own dicts and value objects -- what every Python client pays
    on top of libca, whatever it does inside.  Its monitor is
    ``CaChannelLib``'s ``ca``-layer callback called with ready-made event
    dicts: the CPU the script's own callback takes per event.

``cffi-floor``
    libca called through cffi (ABI mode, the cffi backend's way) the way
    the cffi backend must call it, and nothing more: a connection callback
    per channel and a read callback per read (the backend counts what
    ``pend_io`` waits for itself), each a line of Python, one C array of
    chids; for monitors one callback that passes each value on.  It is the
    least a cffi client of that design can do per channel and per event.
    Its declarations are its own, a handful, not the backend's.

``contract-floor``
    The cffi floor plus, written inline in the two loops and two callbacks
    with no argument checks and no function of its own, the records the
    ``ca`` contract makes the cffi backend keep: see :class:`ContractFloor`.
    It is what the cffi backend's connect could cost if all of its Python
    were free but that bookkeeping.

They are run as ``python -m bench.workers FLOOR MODE ...`` (mode
``connect``, and ``monitor ca``).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from bench.workers import (TIMEOUT, CaChannelLib, Counters, Library, ca_layer_callback,
                           measure_monitor)

DBR_DOUBLE = 6
DBE_VALUE = 1
ECA_NORMAL = 1
CA_OP_CONN_UP = 6

# Every usr here is an integer (an index or a key) and the context is only
# compared, so they are declared as integers of a pointer's size, as the
# backend's _cdef.py declares its keys and contexts: cffi converts nothing.
# The workloads read DOUBLEs only, so an answer's dbr is declared as a
# DOUBLE's, as the backend's answer view of DBR_DOUBLE declares it: no cast.
_DECLARATIONS = """
typedef struct oldChannelNotify *chid;
typedef struct oldSubscription *evid;
struct event_handler_args {
    intptr_t usr; chid chid; long type; long count; const double *dbr; int status;
};
int ca_context_create(int select);
struct connection_handler_args { chid chid; long op; };
int ca_create_channel(const char *name, void (*callback)(struct connection_handler_args),
                      intptr_t usr, unsigned priority, chid *out);
int ca_array_get_callback(long type, unsigned long count, chid chan,
                          void (*callback)(struct event_handler_args), intptr_t usr);
int ca_create_subscription(long type, unsigned long count, chid chan, long mask,
                           void (*callback)(struct event_handler_args), intptr_t usr,
                           evid *out);
int ca_clear_subscription(evid sub);
int ca_pend_io(double timeout);
int ca_flush_io(void);
intptr_t ca_puser(chid chan);
short ca_field_type(chid chan);
unsigned long ca_element_count(chid chan);
uintptr_t ca_current_context(void);
"""


class ScriptFloor(CaChannelLib):
    """``CaChannelLib``'s connect script, run as it is, over idle channels."""

    class Channel:
        # As small as a Python object with the script's three calls can be.
        __slots__ = ('name',)

        def __init__(self, name: str) -> None:
            self.name = name

        def search(self) -> None:
            pass

        def array_get(self) -> None:
            pass

        def pend_io(self, timeout: float) -> None:
            pass

        def getValue(self) -> float:
            # A new float per channel, as a value read from a server is.
            return float(len(self.name))

    def __init__(self) -> None:
        # No CaChannel import and no CA context: the script's own work only.
        self.CaChannel = self.Channel

    def monitor(self, layer: str, names: list[str], warmup: float, window: float) -> dict:
        """Rounds of one event per channel, each round's value one more,
        handed to ``CaChannelLib``'s ``ca``-layer callback for *window*
        seconds.  The event dicts are made beforehand (making them is the
        ``ca`` layer's work) and the CPU time of the same rounds without the
        callback is subtracted: what is left is the callback's own."""
        if layer != 'ca':
            raise ValueError('the script floor has no object layer')
        counters = Counters(len(names))
        chans = [self.Channel(name) for name in names]
        callback = ca_layer_callback(counters.on_value,
                                     {chan: i for i, chan in enumerate(chans)})
        events = [{'chid': chan, 'type': DBR_DOUBLE, 'count': 1, 'status': ECA_NORMAL,
                   'value': 0.0} for chan in chans]
        wall0, cpu0 = time.perf_counter(), time.process_time()
        rounds = 0
        while time.perf_counter() - wall0 < window:
            rounds += 1
            value = float(rounds)
            for event in events:
                event['value'] = value
                callback(event)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        for again in range(1, rounds + 1):
            value = float(again)
            for event in events:
                event['value'] = value
        cpu2 = time.process_time()
        events_seen, lost = counters.totals()
        return {'events': events_seen, 'lost': lost,
                'cpu': (cpu1 - cpu0) - (cpu2 - cpu1), 'wall': wall1 - wall0}


class CffiFloor(Library):
    """libca through cffi with nothing of a library around it."""

    def __init__(self) -> None:
        import cffi
        from caffi_backend._ffi import libca_path
        self.ffi = cffi.FFI()
        self.ffi.cdef(_DECLARATIONS)
        self.lib = self.ffi.dlopen(libca_path)
        self._check(self.lib.ca_context_create(1), 'ca_context_create')

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != ECA_NORMAL:
            raise RuntimeError('%s returned ECA %d' % (what, status))

    def _connect_all(self, names: list[str]) -> Any:
        """The chids, connected: libca counts them for ``ca_pend_io``."""
        ffi, create = self.ffi, self.lib.ca_create_channel
        chids = ffi.new('chid[]', len(names))
        failed = 0
        for i, name in enumerate(names):
            failed += create(name.encode(), ffi.NULL, 0, 0, chids + i) != ECA_NORMAL
        if failed:
            raise RuntimeError('ca_create_channel failed for %d channels' % failed)
        self._check(self.lib.ca_pend_io(TIMEOUT), 'ca_pend_io (connect)')
        return chids

    def connect_read(self, names: list[str]) -> list[float]:
        """The cffi backend's shape at its least: every channel and every read
        has a callback (the backend counts what pend_io waits for itself,
        see DEVELOPERS.md, "The wait engine"), each a one-line Python body."""
        ffi, lib = self.ffi, self.lib
        n = len(names)
        chids = ffi.new('chid[]', n)
        values = [0.0] * n
        pending = [None] * n
        done = threading.Event()

        def on_connection(args: Any) -> None:
            if args.op == CA_OP_CONN_UP:
                pending.pop()
                if not pending:
                    done.set()

        def on_value(args: Any) -> None:
            values[args.usr] = args.dbr[0]
            pending.pop()
            if not pending:
                done.set()

        connection_cb = ffi.callback('void(*)(struct connection_handler_args)', on_connection)
        value_cb = ffi.callback('void(*)(struct event_handler_args)', on_value)
        failed = 0
        for i, name in enumerate(names):
            failed += lib.ca_create_channel(name.encode(), connection_cb, 0, 0,
                                            chids + i) != ECA_NORMAL
        lib.ca_flush_io()
        if failed or not done.wait(TIMEOUT):
            raise RuntimeError('%d channels failed, %d did not connect' % (failed, len(pending)))
        done.clear()
        pending.extend([None] * n)
        for i in range(n):
            failed += lib.ca_array_get_callback(DBR_DOUBLE, 1, chids[i], value_cb,
                                                i) != ECA_NORMAL
        lib.ca_flush_io()
        if failed or not done.wait(TIMEOUT):
            raise RuntimeError('%d reads failed, %d not answered' % (failed, len(pending)))
        self._keep = chids, connection_cb, value_cb
        return values

    def monitor(self, layer: str, names: list[str], warmup: float, window: float) -> dict:
        if layer != 'ca':
            raise ValueError('the cffi floor has no object layer')
        counters = Counters(len(names))
        on_value = counters.on_value

        # The index travels as the usr: no lookup, no handle.
        def on_event(args: Any) -> None:
            on_value(args.usr, args.dbr[0])

        return self._measure_events(names, on_event, counters, warmup, window)

    def _measure_events(self, names: list[str], on_event: Any, counters: Counters,
                        warmup: float, window: float) -> dict:
        """Connect *names*, subscribe to each (DBR_DOUBLE, its index as the
        usr) with *on_event*, count for the window, clear."""
        ffi, lib = self.ffi, self.lib
        chids = self._connect_all(names)
        callback = ffi.callback('void(*)(struct event_handler_args)', on_event)
        evids = ffi.new('evid[]', len(names))
        for i in range(len(names)):
            self._check(lib.ca_create_subscription(DBR_DOUBLE, 1, chids[i], DBE_VALUE,
                                                   callback, i,
                                                   evids + i), 'ca_create_subscription')
        lib.ca_flush_io()
        result = measure_monitor(counters, warmup, window)
        for i in range(len(names)):
            lib.ca_clear_subscription(evids[i])
        lib.ca_flush_io()
        return result


class ContractFloor(CffiFloor):
    """The cffi floor's connect and read, plus the records the ``ca``
    contract (``docs/maintainers.rst``, DEVELOPERS.md) makes the cffi backend
    keep, each in its least form:

    * a channel object per channel (``create_channel`` returns one), lent
      to libca by a key its callbacks find it by (``ca_puser``);
    * the calling thread's pend_io account in its context, which counts
      the channel until it connects and each read until it is answered
      (pend_io waits per thread, not per context as libca's own does);
    * admission around each libca call (a context being destroyed refuses
      calls and waits for the threads inside libca);
    * per read: the context made current, the channel's native type and
      count read from libca, a value object owning a buffer of that count
      (the reply is copied into it, never more than asked; one element is
      kept as the number instead, as the backend keeps it), and a request
      record lent to libca and linked to its channel (clearing the
      channel releases it).

    Objects have the backend's slots, so that memory compares too.  No
    argument is checked, no error is turned into an exception, and nothing
    is a call of its own but the account's first lookup in a thread: the
    backend's pieces (``request_link``/``request_unlink`` in channel.py,
    ``IOCounter.uncount_connection`` in iowait.py, ``gated``) are written
    out here, not called, because their calls are what the floor leaves out.
    """

    class Channel:
        __slots__ = ('ptr', 'name', 'ctx', 'key', 'conn_callback', 'access_callback',
                     'inflight', 'subs', 'account', 'conn_gen', 'conn_counted', '__weakref__')

    class Request:
        __slots__ = ('chan', 'key', 'prev', 'next', 'callback', 'use_numpy', 'value',
                     'counter', 'generation', 'in_group')

    class Value:
        __slots__ = ('buffer', 'scalar', 'type', 'count', 'use_numpy', 'filled')

    class Account:
        __slots__ = ('pending', 'lock', 'changed')

        def __init__(self) -> None:
            self.pending: list[None] = []
            self.lock = threading.Lock()
            self.changed = threading.Condition(self.lock)

        def wait(self) -> bool:
            with self.lock:
                return self.changed.wait_for(lambda: not self.pending, TIMEOUT)

    def connect_read(self, names: list[str]) -> list[float]:
        ffi, lib = self.ffi, self.lib
        Channel, Request, Value, Account = self.Channel, self.Request, self.Value, self.Account
        channels: dict[int, Any] = {}
        requests: dict[int, Any] = {}
        keys = itertools.count(1).__next__
        # Admission as iowait.gated does it: an entry per thread inside
        # libca, and a flag a drain would clear (never here, but read on
        # every call as the backend reads it).
        inside: list[None] = []
        admitted = [True]
        links = threading.Lock()
        accounts = threading.local()

        def account_of(ctx: int) -> Any:
            by_ctx = getattr(accounts, 'by_ctx', None)
            if by_ctx is None:
                by_ctx = accounts.by_ctx = {}
            found = by_ctx.get(ctx)
            if found is None:
                found = by_ctx[ctx] = Account()
            return found

        def on_connection(args: Any) -> None:
            chan = channels.get(lib.ca_puser(args.chid))
            if chan is None or args.op != CA_OP_CONN_UP:
                return
            account = chan.account
            with account.lock:
                if chan.conn_counted:
                    chan.conn_counted = False
                    pending = chan.conn_gen
                    if pending is account.pending and pending:
                        pending.pop()
                        if not pending:
                            account.changed.notify_all()

        def on_value(args: Any) -> None:
            request = requests.pop(args.usr, None)
            if request is None:
                return
            chan = request.chan
            with links:
                before, after = request.prev, request.next
                if before is not None:
                    before.next = after
                elif chan.inflight is request:
                    chan.inflight = after
                if after is not None:
                    after.prev = before
                request.prev = request.next = None
            value = request.value
            if args.status != ECA_NORMAL or args.type != value.type:
                return
            # never more than asked, nor more than came (dbr.fill)
            if value.buffer is None:
                if args.count:
                    value.scalar = args.dbr[0]
            else:
                ffi.memmove(value.buffer, args.dbr, 8 * min(args.count, value.count))
            value.filled = True
            pending = request.generation
            pending.pop()
            if not pending:
                with request.counter.lock:
                    request.counter.changed.notify_all()

        connection_cb = ffi.callback('void(*)(struct connection_handler_args)', on_connection)
        value_cb = ffi.callback('void(*)(struct event_handler_args)', on_value)
        chans = []
        for name in names:
            ctx = lib.ca_current_context()
            chan = Channel()
            chan.ptr, chan.name, chan.ctx = None, name, ctx
            chan.conn_callback = chan.access_callback = chan.inflight = chan.subs = None
            try:
                account = accounts.by_ctx[ctx]
            except (AttributeError, KeyError):
                account = account_of(ctx)       # the thread's first call in ctx
            chan.account = account
            pending = chan.conn_gen = account.pending
            pending.append(None)
            chan.conn_counted = True
            key = chan.key = keys()
            channels[key] = chan
            out = ffi.new('chid *')
            inside.append(None)
            try:
                status = (lib.ca_create_channel(name.encode(), connection_cb, key, 0, out)
                          if admitted[0] else -1)
            finally:
                inside.pop()
            self._check(status, 'ca_create_channel')
            chan.ptr = out[0]
            chans.append(chan)
        lib.ca_flush_io()
        if not account_of(chans[0].ctx).wait():
            raise RuntimeError('channels did not connect')
        values = []
        for chan in chans:
            ptr = chan.ptr
            inside.append(None)
            try:
                native_type, count = lib.ca_field_type(ptr), lib.ca_element_count(ptr)
            finally:
                inside.pop()
            if native_type != DBR_DOUBLE:
                # its buffers and copies are sized for the benchmark's doubles
                raise RuntimeError('%s is not a double' % chan.name)
            lib.ca_current_context()        # ensure_context's call, on every read
            try:
                account = accounts.by_ctx[chan.ctx]
            except (AttributeError, KeyError):
                account = account_of(chan.ctx)
            value = Value()
            if count == 1:
                value.buffer, value.scalar = None, 0.0
            else:
                value.buffer, value.scalar = ffi.new('double[]', count), None
            value.type, value.count, value.use_numpy, value.filled = native_type, count, False, False
            request = Request()
            request.chan, request.prev, request.callback, request.use_numpy = chan, None, None, False
            request.value, request.counter, request.in_group = value, account, False
            pending = request.generation = account.pending
            pending.append(None)
            key = request.key = keys()
            requests[key] = request
            with links:
                head = request.next = chan.inflight
                if head is not None:
                    head.prev = request
                chan.inflight = request
            inside.append(None)
            try:
                status = (lib.ca_array_get_callback(native_type, count, ptr, value_cb, key)
                          if admitted[0] else -1)
            finally:
                inside.pop()
            self._check(status, 'ca_array_get_callback')
            values.append(value)
        lib.ca_flush_io()
        if not account_of(chans[0].ctx).wait():
            raise RuntimeError('reads were not answered')
        self._keep = chans, values, connection_cb, value_cb
        return [value.scalar if value.buffer is None else value.buffer[0] for value in values]

    def monitor(self, layer: str, names: list[str], warmup: float, window: float) -> dict:
        """The cffi floor's monitor plus what the ``ca`` contract makes of an
        event (``create_subscription``'s callback dict): the subscription
        found by its key and its state checked, the four fields read, and
        the five-key dict with the DBR and ECA members handed to the
        ``ca``-layer callback ``CaChannelLib`` gives (which finds its
        channel by the dict's ``chid``)."""
        if layer != 'ca':
            raise ValueError('the contract floor has no object layer')
        from CaChannel._constants import DBR, ECA
        counters = Counters(len(names))
        on_value = counters.on_value
        members = DBR._value2member_map_
        normal = ECA.NORMAL
        chans = [self.Channel() for _ in names]
        callback = ca_layer_callback(on_value, {chan: i for i, chan in enumerate(chans)})

        class Subscription:
            __slots__ = ('chan', 'callback', 'active')

        subs: dict[int, Any] = {}
        for i, chan in enumerate(chans):
            sub = subs[i] = Subscription()
            sub.chan, sub.callback, sub.active = chan, callback, True

        def on_event(args: Any) -> None:
            sub = subs.get(args.usr)
            if sub is None or not sub.active:
                return
            status, dbrtype, count, dbr = args.status, args.type, args.count, args.dbr
            if status == ECA_NORMAL and dbr:
                sub.callback({'chid': sub.chan, 'type': members[dbrtype], 'count': count,
                              'status': normal, 'value': dbr[0]})

        return self._measure_events(names, on_event, counters, warmup, window)


FLOORS = {'script-floor': ScriptFloor, 'cffi-floor': CffiFloor, 'contract-floor': ContractFloor}
