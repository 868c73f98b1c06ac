"""The benchmark workloads for the Python client libraries.

Run by the runner (``bench/run.py``), one clean process per library and
repetition, with the loopback-only environment of the IOC it talks to::

    python -m bench.workers LIBRARY MODE ARGS...

LIBRARY is ``cachannel`` (the backend comes from ``CACHANNEL_BACKEND``),
``pyepics`` or ``caproto``, or one of the floors of ``bench/floors.py``.  MODE is:

``connect PREFIX N``
    connect and read N scalars (``PREFIX0`` ...) with the library's fastest
    documented idiom; the time (wall and process CPU) from the first channel
    creation to all values in hand and the resident memory the channels and
    values added.
``scalars PREFIX N RT_PV RT_CALLS WF_PV WF_COUNT WF_READS``
    ``connect``, then sequential round trips on RT_PV, then reads of a
    WF_COUNT-element DOUBLE waveform into numpy: the first read of the
    process, then WF_READS more the way a script polls an image
    (``v = read()`` in a loop, so the previous array is alive during each
    read).
``monitor LAYER PREFIX N WARMUP WINDOW``
    subscribe to N counter PVs (each increments by one per scan) with a
    trivial callback; after WARMUP seconds count, for WINDOW seconds, the
    events delivered, the events the IOC posted but the client never saw
    (gaps in the counter), and the process CPU time. LAYER ``ca`` is the
    library's low-level call with plain DOUBLE values, ``object`` the one
    its documentation shows scripts (for CaChannel
    ``CaChannel.add_masked_array_event(ca.DBR_TIME_DOUBLE, None, None,
    callback)``, for pyepics ``epics.PV(name, callback=...)``).

Each mode prints one JSON object on the last line of stdout.  Each library
gets the same work as the C program ``bench/cbench.c`` does on libca.
"""

from __future__ import annotations

import json
import sys
import threading
import time

TIMEOUT = 30.0


def rss_bytes() -> int:
    try:
        import psutil
    except ImportError:
        # Linux without the bench extra (the test suite's environment):
        # resident pages are the second field of /proc/self/statm.
        import os
        with open('/proc/self/statm') as statm:
            return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    return psutil.Process().memory_info().rss


class Counters:
    """Per channel: events received, events skipped, last counter value.

    ``on_value`` is the whole of the "trivial callback" every library runs
    (besides finding the channel's index, done the library's own way).
    """

    def __init__(self, n: int) -> None:
        self.events = [0] * n
        self.lost = [0] * n
        self.last = [0.0] * n

    def on_value(self, i: int, value: float) -> None:
        if self.events[i] and value > self.last[i] + 1.0:
            self.lost[i] += int(value - self.last[i] - 1.0)
        self.last[i] = value
        self.events[i] += 1

    def totals(self) -> tuple[int, int]:
        # Each sum() runs without releasing the GIL, so callbacks in other
        # threads cannot change a list half-way through.
        return sum(self.events), sum(self.lost)


def measure_monitor(counters: Counters, warmup: float, window: float) -> dict:
    time.sleep(warmup)
    events0, lost0 = counters.totals()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    time.sleep(window)
    events1, lost1 = counters.totals()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    return {'events': events1 - events0, 'lost': lost1 - lost0,
            'cpu': cpu1 - cpu0, 'wall': wall1 - wall0}


def ca_layer_callback(on_value, index: dict):
    """The script's monitor callback at the ``ca`` layer: finds the channel's
    index by the event dict's ``chid`` and passes the value on."""
    def callback(args):
        on_value(index[args['chid']], args['value'])
    return callback


def timed_waveform(read, reads: int) -> dict:
    """The first read of the process, then *reads* more as a polling loop does."""
    t0 = time.perf_counter()
    array = read()
    first = time.perf_counter() - t0
    steady = []
    for _ in range(reads):
        t0 = time.perf_counter()
        array = read()  # the previous array is released only now
        steady.append(time.perf_counter() - t0)
    return {'waveform_first': first, 'waveform_steady': steady,
            'waveform_check': float(array[-1])}


def timed_connect(connect_read, names) -> dict:
    rss0 = rss_bytes()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    values = connect_read(names)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rss1 = rss_bytes()
    return {'connect_seconds': seconds, 'connect_cpu': cpu,
            'rss_per_channel': (rss1 - rss0) / len(names),
            'connect_check': float(values[-1]), 'keep': values}


def timed_roundtrip(read, calls: int) -> float:
    for _ in range(calls // 10 + 1):
        read()
    t0 = time.perf_counter()
    for _ in range(calls):
        read()
    return (time.perf_counter() - t0) / calls


class Library:
    """The modes every library shares; subclasses supply the library calls."""

    def connect_read(self, names):  # -> the values, in the order of names
        raise NotImplementedError

    def reader(self, pv, count=None):  # -> a function reading pv once
        raise NotImplementedError

    def connect(self, names) -> dict:
        result = timed_connect(self.connect_read, names)
        del result['keep']
        return result

    def scalars(self, names, rt_pv, rt_calls, wf_pv, wf_count, wf_reads) -> dict:
        result = timed_connect(self.connect_read, names)
        keep = result.pop('keep')  # the channels stay alive, as in a script
        result['roundtrip_seconds'] = timed_roundtrip(self.reader(rt_pv), rt_calls)
        result.update(timed_waveform(self.reader(wf_pv, wf_count), wf_reads))
        del keep
        return result


def _no_mark(step: str) -> None:
    pass


# --- CaChannel (C or cffi backend) -------------------------------------------

class CaChannelLib(Library):
    def __init__(self) -> None:
        from CaChannel import CaChannel, ca
        self.CaChannel = CaChannel
        self.ca = ca
        ca.create_context(True)

    def connect_read(self, names, mark=None):
        # mark(step), called as each step ends, is bench/phases.py's.
        mark = mark or _no_mark
        CaChannel = self.CaChannel
        # The documentation's "Connect Multiple Channels And Get Values".
        chans = {name: CaChannel(name) for name in names}
        mark('objects')
        for chan in chans.values():
            chan.search()
        mark('create')
        first = chans[names[0]]
        first.pend_io(TIMEOUT)
        mark('connect wait')
        for chan in chans.values():
            chan.array_get()
        mark('get')
        first.pend_io(TIMEOUT)
        mark('get wait')
        values = {name: chan.getValue() for name, chan in chans.items()}
        mark('values')
        self._keep = chans, values
        return [values[name] for name in names]

    def reader(self, pv, count=None):
        chan = self.CaChannel(pv)
        chan.setTimeout(TIMEOUT)
        chan.searchw()
        if count is None:
            return chan.getw
        import numpy  # noqa: F401  a script asking for numpy arrays has it
        return lambda: chan.getw(count=count, use_numpy=True)

    def monitor(self, layer, names, warmup, window) -> dict:
        counters = Counters(len(names))
        on_value = counters.on_value
        if layer == 'object':
            return self._monitor_object(names, counters, warmup, window)
        ca = self.ca
        chids = []
        for name in names:
            status, chid = ca.create_channel(name)
            chids.append(chid)
        if ca.pend_io(TIMEOUT) != ca.ECA_NORMAL:
            raise RuntimeError('channels did not connect')
        callback = ca_layer_callback(on_value, {chid: i for i, chid in enumerate(chids)})
        evids = [ca.create_subscription(chid, callback, ca.DBR_DOUBLE)[1] for chid in chids]
        ca.flush_io()
        result = measure_monitor(counters, warmup, window)
        for evid in evids:
            ca.clear_subscription(evid)
        return result

    def _monitor_object(self, names, counters, warmup, window) -> dict:
        ca = self.ca
        on_value = counters.on_value
        chans = [self.CaChannel(name) for name in names]
        for chan in chans:
            chan.search()
        chans[0].pend_io(TIMEOUT)

        # The documentation's monitor callback: (epics_args, user_args).
        def callback(epics_args, user_args):
            on_value(user_args[0], epics_args['pv_value'])

        for i, chan in enumerate(chans):
            chan.add_masked_array_event(ca.DBR_TIME_DOUBLE, None, None, callback, i)
        chans[0].flush_io()
        result = measure_monitor(counters, warmup, window)
        for chan in chans:
            chan.clear_event()
        return result


# --- pyepics -----------------------------------------------------------------

class PyepicsLib(Library):
    def __init__(self) -> None:
        from epics import ca
        self.ca = ca
        ca.initialize_libca()

    def connect_all(self, names):
        # pyepics' "Strategies for connecting to a large number of PVs".
        ca = self.ca
        chids = [ca.create_channel(name, connect=False, auto_cb=False) for name in names]
        for chid in chids:
            ca.connect_channel(chid, timeout=TIMEOUT)
        ca.poll()
        return chids

    def connect_read(self, names):
        ca = self.ca
        chids = self.connect_all(names)
        for chid in chids:
            ca.get(chid, wait=False)
        ca.poll()
        return [ca.get_complete(chid, timeout=TIMEOUT) for chid in chids]

    def reader(self, pv, count=None):
        ca = self.ca
        chid = ca.create_channel(pv, connect=True, auto_cb=False)
        if count is None:
            return lambda: ca.get(chid, timeout=TIMEOUT)
        return lambda: ca.get(chid, count=count, as_numpy=True, timeout=TIMEOUT)

    def monitor(self, layer, names, warmup, window) -> dict:
        index = {name: i for i, name in enumerate(names)}
        counters = Counters(len(names))
        on_value = counters.on_value

        def callback(pvname=None, value=None, **kws):
            on_value(index[pvname], value)

        if layer == 'object':
            import epics
            pvs = [epics.PV(name, callback=callback) for name in names]
            for pv in pvs:
                pv.wait_for_connection(timeout=TIMEOUT)
            result = measure_monitor(counters, warmup, window)
            for pv in pvs:
                pv.clear_callbacks()
            return result
        ca = self.ca
        chids = self.connect_all(names)
        # create_subscription's return value holds the references libca's
        # callbacks need: keep it.
        subscriptions = [ca.create_subscription(chid, callback=callback) for chid in chids]
        ca.flush_io()
        result = measure_monitor(counters, warmup, window)
        for _, _, evid in subscriptions:
            ca.clear_subscription(evid)
        return result


# --- caproto's threading client ----------------------------------------------

class CaprotoLib(Library):
    def __init__(self) -> None:
        from caproto._utils import get_address_list
        from caproto.threading.client import Batch, Context
        # The network rule: caproto must search 127.0.0.1 and nothing else.
        addresses = get_address_list()
        if addresses != ['127.0.0.1']:
            raise RuntimeError('caproto would search %r' % (addresses,))
        self.Batch = Batch
        self.ctx = Context(timeout=TIMEOUT)

    def connect_all(self, names):
        pvs = self.ctx.get_pvs(*names, timeout=TIMEOUT)
        for pv in pvs:
            pv.wait_for_connection(timeout=TIMEOUT)
        return pvs

    def connect_read(self, names):
        # caproto's "Batched Requests": one batch of reads, answers stashed
        # by a callback on caproto's thread.
        pvs = self.connect_all(names)
        values = {}
        done = threading.Event()
        n = len(names)

        def stash(name, response):
            values[name] = response.data[0]
            if len(values) == n:
                done.set()

        with self.Batch(timeout=TIMEOUT) as batch:
            for pv in pvs:
                batch.read(pv, lambda response, name=pv.name: stash(name, response))
        if not done.wait(TIMEOUT):
            raise RuntimeError('caproto: only %d of %d reads arrived' % (len(values), n))
        self._keep = pvs
        return [values[name] for name in names]

    def reader(self, pv, count=None):
        pv, = self.connect_all([pv])
        if count is None:
            return pv.read
        return lambda: pv.read(data_count=count, timeout=TIMEOUT).data

    def monitor(self, layer, names, warmup, window) -> dict:
        # caproto has one API for both layers.
        pvs = self.connect_all(names)
        index = {name: i for i, name in enumerate(names)}
        counters = Counters(len(names))
        on_value = counters.on_value

        def callback(sub, response):
            on_value(index[sub.pv.name], response.data[0])

        subs = [pv.subscribe() for pv in pvs]
        for sub in subs:
            sub.add_callback(callback)  # a weak reference: `callback` stays alive here
        result = measure_monitor(counters, warmup, window)
        for sub in subs:
            sub.clear()
        return result


LIBRARIES = {'cachannel': CaChannelLib, 'pyepics': PyepicsLib, 'caproto': CaprotoLib}


def names_of(prefix: str, n: str) -> list[str]:
    return ['%s%d' % (prefix, i) for i in range(int(n))]


def main(argv: list[str]) -> int:
    library, mode, *args = argv
    from bench.floors import FLOORS
    lib = (LIBRARIES.get(library) or FLOORS[library])()
    if mode == 'connect':
        prefix, n = args
        result = lib.connect(names_of(prefix, n))
    elif mode == 'scalars':
        prefix, n, rt_pv, rt_calls, wf_pv, wf_count, wf_reads = args
        result = lib.scalars(names_of(prefix, n), rt_pv, int(rt_calls), wf_pv,
                             int(wf_count), int(wf_reads))
    elif mode == 'monitor':
        layer, prefix, n, warmup, window = args
        result = lib.monitor(layer, names_of(prefix, n), float(warmup), float(window))
    else:
        raise SystemExit('unknown mode %r' % mode)
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
