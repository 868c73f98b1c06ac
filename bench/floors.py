"""Floors: what the benchmark's workloads cost below any client library.

Two workers that are not libraries, run by the runner beside the clients so
that each target a client misses can be read against what bounds it:

``script-floor``
    The documentation's connect-and-read script (the one ``CaChannelLib``
    runs) over channel objects that do nothing: no Channel Access at all.
    Its CPU time is the script's own Python work, and its memory the
    script's own dicts and value objects -- what every Python client pays
    on top of libca, whatever it does inside.

``cffi-floor``
    libca called through cffi (ABI mode, the cffi backend's way) the way
    the cffi backend must call it, and nothing more: a connection callback
    per channel and a read callback per read (the backend counts what
    ``pend_io`` waits for itself), each a line of Python, one C array of
    chids; for monitors one callback that passes each value on.  It is the
    least a cffi client of that design can do per channel and per event.
    Its declarations are its own, a handful, not the backend's.

Both are run as ``python -m bench.workers script-floor|cffi-floor MODE ...``
(modes ``connect`` and, for ``cffi-floor``, ``monitor ca``).
"""

from __future__ import annotations

import threading
from typing import Any

from bench.workers import TIMEOUT, CaChannelLib, Counters, Library, measure_monitor

DBR_DOUBLE = 6
DBE_VALUE = 1
ECA_NORMAL = 1
CA_OP_CONN_UP = 6

_DECLARATIONS = """
typedef struct oldChannelNotify *chid;
typedef struct oldSubscription *evid;
struct event_handler_args {
    void *usr; chid chid; long type; long count; const void *dbr; int status;
};
int ca_context_create(int select);
struct connection_handler_args { chid chid; long op; };
int ca_create_channel(const char *name, void (*callback)(struct connection_handler_args),
                      void *usr, unsigned priority, chid *out);
int ca_array_get_callback(long type, unsigned long count, chid chan,
                          void (*callback)(struct event_handler_args), void *usr);
int ca_create_subscription(long type, unsigned long count, chid chan, long mask,
                           void (*callback)(struct event_handler_args), void *usr,
                           evid *out);
int ca_clear_subscription(evid sub);
int ca_pend_io(double timeout);
int ca_flush_io(void);
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
            failed += create(name.encode(), ffi.NULL, ffi.NULL, 0, chids + i) != ECA_NORMAL
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
            values[int(ffi.cast('intptr_t', args.usr))] = ffi.cast('const double *',
                                                                     args.dbr)[0]
            pending.pop()
            if not pending:
                done.set()

        connection_cb = ffi.callback('void(*)(struct connection_handler_args)', on_connection)
        value_cb = ffi.callback('void(*)(struct event_handler_args)', on_value)
        failed = 0
        for i, name in enumerate(names):
            failed += lib.ca_create_channel(name.encode(), connection_cb, ffi.NULL, 0,
                                            chids + i) != ECA_NORMAL
        lib.ca_flush_io()
        if failed or not done.wait(TIMEOUT):
            raise RuntimeError('%d channels failed, %d did not connect' % (failed, len(pending)))
        done.clear()
        pending.extend([None] * n)
        for i in range(n):
            failed += lib.ca_array_get_callback(DBR_DOUBLE, 1, chids[i], value_cb,
                                                ffi.cast('void *', i)) != ECA_NORMAL
        lib.ca_flush_io()
        if failed or not done.wait(TIMEOUT):
            raise RuntimeError('%d reads failed, %d not answered' % (failed, len(pending)))
        self._keep = chids, connection_cb, value_cb
        return values

    def monitor(self, layer: str, names: list[str], warmup: float, window: float) -> dict:
        if layer != 'ca':
            raise ValueError('the cffi floor has no object layer')
        ffi, lib = self.ffi, self.lib
        counters = Counters(len(names))
        on_value = counters.on_value
        chids = self._connect_all(names)

        # The index travels as the usr pointer: no lookup, no handle.
        def on_event(args: Any) -> None:
            on_value(int(ffi.cast('intptr_t', args.usr)),
                     ffi.cast('const double *', args.dbr)[0])

        callback = ffi.callback('void(*)(struct event_handler_args)', on_event)
        evids = ffi.new('evid[]', len(names))
        for i in range(len(names)):
            self._check(lib.ca_create_subscription(DBR_DOUBLE, 1, chids[i], DBE_VALUE,
                                                   callback, ffi.cast('void *', i),
                                                   evids + i), 'ca_create_subscription')
        lib.ca_flush_io()
        result = measure_monitor(counters, warmup, window)
        for i in range(len(names)):
            lib.ca_clear_subscription(evids[i])
        lib.ca_flush_io()
        return result


FLOORS = {'script-floor': ScriptFloor, 'cffi-floor': CffiFloor}
