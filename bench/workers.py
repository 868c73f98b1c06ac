"""The benchmark workloads for the Python client libraries.

Run by the runner (``bench/run.py``), one clean process per library and
repetition, with the loopback-only environment of the IOC it talks to::

    python -m bench.workers LIBRARY MODE ARGS...

LIBRARY is ``cachannel`` (the backend comes from ``CACHANNEL_BACKEND``),
``pyepics`` or ``caproto``.  MODE is:

``scalars PREFIX N RT_PV RT_CALLS WF_PV WF_COUNT WF_REPS``
    connect and read N scalars (``PREFIX0`` ...) with the library's fastest
    documented idiom and the resident memory they added, then sequential
    round trips on RT_PV, then WF_REPS reads of a WF_COUNT-element DOUBLE
    waveform into numpy.
``monitor PREFIX N WARMUP WINDOW``
    subscribe to N counter PVs (each increments by one per scan) with a
    trivial callback; after WARMUP seconds count, for WINDOW seconds, the
    events delivered, the events the IOC posted but the client never saw
    (gaps in the counter), and the process CPU time.

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
    import psutil
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


def timed_waveform(read, reps: int) -> tuple[list[float], float]:
    times = []
    last = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        array = read()
        times.append(time.perf_counter() - t0)
        last = float(array[-1])
        del array
    return times, last


# --- CaChannel (C or cffi backend) -------------------------------------------

class CaChannelLib:
    def __init__(self) -> None:
        from CaChannel import CaChannel, ca
        self.CaChannel = CaChannel
        self.ca = ca
        ca.create_context(True)

    def scalars(self, names, rt_pv, rt_calls, wf_pv, wf_count, wf_reps) -> dict:
        CaChannel = self.CaChannel
        result = {}
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        # The documentation's "Connect Multiple Channels And Get Values".
        chans = {name: CaChannel(name) for name in names}
        for chan in chans.values():
            chan.search()
        first = chans[names[0]]
        first.pend_io(TIMEOUT)
        for chan in chans.values():
            chan.array_get()
        first.pend_io(TIMEOUT)
        values = {name: chan.getValue() for name, chan in chans.items()}
        result['connect_seconds'] = time.perf_counter() - t0
        result['rss_per_channel'] = (rss_bytes() - rss0) / len(names)
        result['connect_check'] = values[names[-1]]

        chan = CaChannel(rt_pv)
        chan.setTimeout(TIMEOUT)
        chan.searchw()
        for _ in range(rt_calls // 10 + 1):
            chan.getw()
        t0 = time.perf_counter()
        for _ in range(rt_calls):
            chan.getw()
        result['roundtrip_seconds'] = (time.perf_counter() - t0) / rt_calls

        wf = CaChannel(wf_pv)
        wf.setTimeout(TIMEOUT)
        wf.searchw()
        result['waveform_seconds'], result['waveform_check'] = timed_waveform(
            lambda: wf.getw(count=wf_count, use_numpy=True), wf_reps)
        return result

    def monitor(self, names, warmup, window) -> dict:
        ca = self.ca
        chids = []
        for name in names:
            status, chid = ca.create_channel(name)
            chids.append(chid)
        if ca.pend_io(TIMEOUT) != ca.ECA_NORMAL:
            raise RuntimeError('channels did not connect')
        index = {chid: i for i, chid in enumerate(chids)}
        counters = Counters(len(names))
        on_value = counters.on_value

        def callback(args):
            on_value(index[args['chid']], args['value'])

        evids = [ca.create_subscription(chid, callback, ca.DBR_DOUBLE)[1] for chid in chids]
        ca.flush_io()
        result = measure_monitor(counters, warmup, window)
        for evid in evids:
            ca.clear_subscription(evid)
        return result


# --- pyepics -----------------------------------------------------------------

class PyepicsLib:
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

    def scalars(self, names, rt_pv, rt_calls, wf_pv, wf_count, wf_reps) -> dict:
        ca = self.ca
        result = {}
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        chids = self.connect_all(names)
        for chid in chids:
            ca.get(chid, wait=False)
        ca.poll()
        values = [ca.get_complete(chid, timeout=TIMEOUT) for chid in chids]
        result['connect_seconds'] = time.perf_counter() - t0
        result['rss_per_channel'] = (rss_bytes() - rss0) / len(names)
        result['connect_check'] = values[-1]

        chid = ca.create_channel(rt_pv, connect=True, auto_cb=False)
        for _ in range(rt_calls // 10 + 1):
            ca.get(chid, timeout=TIMEOUT)
        t0 = time.perf_counter()
        for _ in range(rt_calls):
            ca.get(chid, timeout=TIMEOUT)
        result['roundtrip_seconds'] = (time.perf_counter() - t0) / rt_calls

        wf = ca.create_channel(wf_pv, connect=True, auto_cb=False)
        result['waveform_seconds'], result['waveform_check'] = timed_waveform(
            lambda: ca.get(wf, count=wf_count, as_numpy=True, timeout=TIMEOUT), wf_reps)
        return result

    def monitor(self, names, warmup, window) -> dict:
        ca = self.ca
        chids = self.connect_all(names)
        index = {name: i for i, name in enumerate(names)}
        counters = Counters(len(names))
        on_value = counters.on_value

        def callback(pvname=None, value=None, **kws):
            on_value(index[pvname], value)

        # create_subscription's return value holds the references libca's
        # callbacks need: keep it.
        subscriptions = [ca.create_subscription(chid, callback=callback) for chid in chids]
        ca.flush_io()
        result = measure_monitor(counters, warmup, window)
        for _, _, evid in subscriptions:
            ca.clear_subscription(evid)
        return result


# --- caproto's threading client ----------------------------------------------

class CaprotoLib:
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

    def scalars(self, names, rt_pv, rt_calls, wf_pv, wf_count, wf_reps) -> dict:
        result = {}
        rss0 = rss_bytes()
        t0 = time.perf_counter()
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
        result['connect_seconds'] = time.perf_counter() - t0
        result['rss_per_channel'] = (rss_bytes() - rss0) / n
        result['connect_check'] = float(values[names[-1]])

        pv, = self.connect_all([rt_pv])
        for _ in range(rt_calls // 10 + 1):
            pv.read()
        t0 = time.perf_counter()
        for _ in range(rt_calls):
            pv.read()
        result['roundtrip_seconds'] = (time.perf_counter() - t0) / rt_calls

        wf, = self.connect_all([wf_pv])
        result['waveform_seconds'], result['waveform_check'] = timed_waveform(
            lambda: wf.read(data_count=wf_count, timeout=TIMEOUT).data, wf_reps)
        return result

    def monitor(self, names, warmup, window) -> dict:
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


def main(argv: list[str]) -> int:
    library, mode, *args = argv
    lib = LIBRARIES[library]()
    if mode == 'scalars':
        prefix, n, rt_pv, rt_calls, wf_pv, wf_count, wf_reps = args
        names = ['%s%d' % (prefix, i) for i in range(int(n))]
        result = lib.scalars(names, rt_pv, int(rt_calls), wf_pv, int(wf_count), int(wf_reps))
    elif mode == 'monitor':
        prefix, n, warmup, window = args
        names = ['%s%d' % (prefix, i) for i in range(int(n))]
        result = lib.monitor(names, float(warmup), float(window))
    else:
        raise SystemExit('unknown mode %r' % mode)
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
