"""8 threads hammering CA: python -X dev threads_scenario.py BACKEND SECONDS

Starts its own softIoc (prefix ``thr:``, a port of its own that this
process's address list names), then runs 8 plain Python threads for SECONDS
seconds.  Each thread loops over a random mix of: get with callback and get
+ pend_io on shared and private channels, put with callback to its private
record followed by a read-back check (a wrong value is a failure), a
monitor created, left running and cleared, and a private channel cleared
and created again.  The main thread samples the resident memory after the
warm-up (the first quarter) and at the end.  faulthandler dumps every
thread and ends the process if anything stalls.
"""

from __future__ import annotations

import faulthandler
import os
import random
import sys
import threading
import time

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit, ioc_ports, load_backend, rss_bytes, wait_for  # noqa: E402

from CaChannel.testing import SoftIoc, free_port

backend, seconds = sys.argv[1], float(sys.argv[2])
# optional: only these operations (digits), to narrow a failure down
only = [int(c) for c in sys.argv[3]] if len(sys.argv) > 3 else list(range(7))
THREADS = 8
faulthandler.enable()
faulthandler.dump_traceback_later(seconds + 90, exit=True)

DB = ['record(calc, "thr:cnt") {\n field(SCAN, ".1 second")\n field(CALC, "A+1")\n'
      ' field(INPA, "thr:cnt.VAL NPP")\n}\n',
      'record(ao, "thr:shared") {\n field(VAL, "1.5")\n field(PINI, "YES")\n}\n',
      'record(waveform, "thr:wave") {\n field(FTVL, "DOUBLE")\n field(NELM, "100")\n}\n']
DB += [f'record(longout, "thr:long{k}") {{\n}}\n' for k in range(THREADS)]

port = free_port()
ioc = SoftIoc(''.join(DB), env=dict(ioc_ports(), EPICS_CA_SERVER_PORT=str(port)),
              ready_pvs=['thr:cnt', f'thr:long{THREADS - 1}']).start()
# libca reads this when the first context is created, just below.
os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{port}'
os.environ['EPICS_CA_AUTO_ADDR_LIST'] = 'NO'
ca = load_backend(backend)
TIMEOUT = 10.0


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0
        self.bad: list = []

    def __call__(self, args: dict) -> None:
        with self.lock:
            self.n += 1
            if args['status'] != ca.ECA.NORMAL:
                self.bad.append(str(args['status']))


def connect(name: str) -> object:
    up = threading.Event()
    status, chid = ca.create_channel(
        name, callback=lambda a: up.set() if a['op'] == ca.CA_OP.CONN_UP else None)
    assert status == ca.ECA.NORMAL, status
    ca.flush_io()
    assert up.wait(TIMEOUT), f'{name} did not connect'
    return chid


shared = {name: connect('thr:' + name) for name in ('cnt', 'shared', 'wave')}
failures: list = []
ops = [0] * THREADS
stop = threading.Event()


def worker(k: int) -> None:
    rng = random.Random(k)
    mine = connect(f'thr:long{k}')
    callbacks = Counter()     # monitors
    gets = Counter()
    monitors: list = []
    written = 0
    try:
        while not stop.is_set():
            op = rng.choice(only)
            if op == 0:
                # a burst of gets, then wait for all of them: a bounded
                # backlog, so memory measures leaks, not a growing queue
                target = rng.choice(list(shared.values()))
                before = gets.n
                for _ in range(10):
                    assert ca.get(target, callback=gets)[0] == ca.ECA.NORMAL
                ca.flush_io()
                assert wait_for(lambda: gets.n >= before + 10, TIMEOUT), 'get callbacks'
            elif op == 1:
                status, value = ca.get(shared['shared'])
                assert status == ca.ECA.NORMAL, status
                assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
                assert value.get() == 1.5, value.get()
            elif op == 2:
                written = rng.randrange(-2**31, 2**31)
                done = threading.Event()
                result: list = []
                assert ca.put(mine, written,
                              callback=lambda a: (result.append(a), done.set())) == ca.ECA.NORMAL
                ca.flush_io()
                assert done.wait(TIMEOUT), 'put callback missing'
                assert result[0]['status'] == ca.ECA.NORMAL, result
                got = threading.Event()
                read: list = []
                assert ca.get(mine, callback=lambda a: (read.append(a), got.set()))[0] \
                    == ca.ECA.NORMAL
                ca.flush_io()
                assert got.wait(TIMEOUT), 'get callback missing'
                if read[0]['value'] != written:
                    failures.append(f'thread {k}: wrote {written}, read {read[0]["value"]}')
            elif op == 3:
                status, evid = ca.create_subscription(rng.choice(list(shared.values())),
                                                      callbacks, use_numpy=bool(k % 2))
                assert status == ca.ECA.NORMAL, status
                ca.flush_io()
                monitors.append(evid)
            elif op == 4 and monitors:
                assert ca.clear_subscription(monitors.pop(rng.randrange(len(monitors)))) \
                    == ca.ECA.NORMAL
            elif op == 5:
                assert ca.clear_channel(mine) == ca.ECA.NORMAL
                mine = connect(f'thr:long{k}')
            elif op == 6:
                assert ca.put(shared['wave'], [float(k)] * rng.randrange(1, 100)) \
                    == ca.ECA.NORMAL
                ca.flush_io()
            ops[k] += 1
            if len(monitors) > 20:
                assert ca.clear_subscription(monitors.pop(0)) == ca.ECA.NORMAL
    except BaseException as exc:   # handed to the report, the test fails on it
        failures.append(f'thread {k}: {exc!r}')
    finally:
        for evid in monitors:
            ca.clear_subscription(evid)
        ca.clear_channel(mine)
    if callbacks.bad or gets.bad:
        failures.append(f'thread {k}: callbacks with status '
                        f'{sorted(set(callbacks.bad + gets.bad))}')


try:
    threads = [threading.Thread(target=worker, args=(k,), name=f'worker-{k}')
               for k in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds / 4)
    rss_warm = rss_bytes()
    ops_warm = sum(ops)
    time.sleep(seconds * 3 / 4)
    rss_end = rss_bytes()
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT * 3)
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        faulthandler.dump_traceback(all_threads=True)
        failures.append(f'threads still running: {stuck}')
    elapsed = time.monotonic() - started
    for chid in shared.values():
        ca.clear_channel(chid)
    wait_for(lambda: ca._backend_module._live_callbacks() == 0, 5.0)
    emit(backend=backend, threads=THREADS, seconds=round(elapsed, 1), ops=sum(ops),
         ops_after_warmup=sum(ops) - ops_warm, rss_warm=rss_warm, rss_end=rss_end,
         rss_growth=round((rss_end - rss_warm) / rss_warm, 4),
         live_end=ca._backend_module._live_callbacks(), failures=failures)
finally:
    ioc.stop()
