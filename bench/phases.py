"""Where a connect's time goes: the connect-and-read workload, step by step.

``python -m bench`` gives one figure per client for connecting and reading
N scalars.  When that figure is above C's, this tells which step holds the
difference::

    python -m bench.phases [--channels N] [--repetitions R] [--json FILE]

It starts the benchmark's scalar IOC and runs the same workload, each time
in a fresh process:

``c``
    ``bench/cbench.c``'s ``connect``, which reports its steps;
``ca[c]``, ``ca[cffi]``
    the ``ca`` layer: ``ca.create_channel`` per name, ``ca.pend_io``,
    ``ca.get`` per channel, ``ca.pend_io``, ``DBRValue.get()`` per value;
``object[c]``, ``object[cffi]``
    the documentation's script through ``CaChannel`` objects, as
    ``python -m bench`` runs it (``bench.workers.CaChannelLib``).

For each step it prints the wall and the process CPU time per channel
(median of the repetitions), in microseconds.  CPU time counts every
thread: in the wait steps it is libca's threads running the connection and
read callbacks.  A second table splits the CPU time of the whole workload
by thread (Linux, from ``/proc/self/task``): ``main``, the thread that
makes the calls, and each of libca's by its name (``CAC-TCP-recv``
receives the replies and runs the callbacks).  The steps are:

``objects``       making the ``CaChannel`` objects (object layer only)
``create``        one channel creation per name
``connect wait``  the ``pend_io`` that waits for the connections
``get``           one read request per channel
``get wait``      the ``pend_io`` that waits for the replies
``values``        turning each reply into a Python value (Python only)

Nothing is asserted about speed: this is for reading, beside the report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

STEPS = ('objects', 'create', 'connect wait', 'get', 'get wait', 'values')
CLIENTS = ('c', 'ca[c]', 'ca[cffi]', 'object[c]', 'object[cffi]')
PREFIX = 'bench:s'

Steps = Dict[str, List[float]]      # step -> [wall s, cpu s]
Threads = List[Tuple[str, float]]   # [(thread name, cpu s)], one per thread


def read_threads() -> Dict[int, Tuple[str, float]]:
    """The threads of this process: tid -> (name, CPU seconds run so far),
    from Linux's scheduler statistics (nanoseconds); empty elsewhere.  The
    calling process's first thread is named ``main``, as in cbench.c."""
    found: Dict[int, Tuple[str, float]] = {}
    try:
        tids = os.listdir('/proc/self/task')
    except OSError:
        return found
    me = os.getpid()
    for tid in tids:
        try:
            with open('/proc/self/task/%s/schedstat' % tid) as f:
                ns = int(f.read().split()[0])
            with open('/proc/self/task/%s/comm' % tid) as f:
                name = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue                # the thread ended meanwhile
        found[int(tid)] = ('main' if int(tid) == me else name, ns * 1e-9)
    return found


class StepClock:
    """``clock(step)`` as a step ends: its wall and process CPU time since
    the previous step (or since the clock was made); ``threads()`` is the
    CPU time each thread ran since the clock was made, of the threads alive
    when it is called: before the workload's channels are let go, whose
    last release ends libca's circuit threads."""

    def __init__(self) -> None:
        self.steps: Steps = {}
        self._threads0 = read_threads()
        self._last = (time.perf_counter(), time.process_time())

    def __call__(self, step: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.steps[step] = [now[0] - self._last[0], now[1] - self._last[1]]
        self._last = now

    def threads(self) -> Threads:
        before = self._threads0
        return [(name, seconds - before.get(tid, (name, 0.0))[1])
                for tid, (name, seconds) in read_threads().items()]


# --- workers (one process each) ----------------------------------------------

def ca_layer(names: List[str]) -> Tuple[Steps, Threads]:
    """The workload on ``CaChannel.ca`` alone."""
    from bench.workers import TIMEOUT
    from CaChannel import ca
    ca.create_context(True)
    clock = StepClock()
    chids = [ca.create_channel(name)[1] for name in names]
    clock('create')
    if ca.pend_io(TIMEOUT) != ca.ECA_NORMAL:
        raise RuntimeError('channels did not connect')
    clock('connect wait')
    replies = [ca.get(chid)[1] for chid in chids]
    clock('get')
    if ca.pend_io(TIMEOUT) != ca.ECA_NORMAL:
        raise RuntimeError('reads were not answered')
    clock('get wait')
    values = [reply.get() for reply in replies]
    clock('values')
    _check(values, len(names))
    return clock.steps, clock.threads()


def object_layer(names: List[str]) -> Tuple[Steps, Threads]:
    """The workload as ``python -m bench`` runs it through CaChannel."""
    from bench.workers import CaChannelLib
    lib = CaChannelLib()
    clock = StepClock()
    values = lib.connect_read(names, clock)
    _check(values, len(names))
    return clock.steps, clock.threads()


def _check(values: List[Any], n: int) -> None:
    # bench:sI holds I: the last value read is the last record's.
    if float(values[-1]) != n - 1:
        raise RuntimeError('read %r from %s%d' % (values[-1], PREFIX, n - 1))


WORKERS: Dict[str, Callable[[List[str]], Tuple[Steps, Threads]]] = {
    'ca': ca_layer, 'object': object_layer}


def worker_main(layer: str, n: int) -> None:
    steps, threads = WORKERS[layer](['%s%d' % (PREFIX, i) for i in range(n)])
    sys.stdout.write(json.dumps({'steps': steps, 'threads': threads}) + '\n')


# --- runner ------------------------------------------------------------------

def run_client(client: str, exe: Any, ioc: Any, n: int) -> Tuple[Steps, Dict[str, float]]:
    """One run: its steps, and the CPU seconds of its threads summed by name."""
    from bench.run import client_env, run_json
    if client == 'c':
        raw = run_json([str(exe), 'connect', PREFIX, str(n)], client_env(ioc, 'c'))
    else:
        layer, backend = client.rstrip(']').split('[')
        env = client_env(ioc, 'cachannel-' + backend)
        raw = run_json([sys.executable, '-m', 'bench.phases', 'worker', layer, str(n)], env)
    by_name: Dict[str, float] = {}
    for name, seconds in raw['threads']:
        by_name[name] = by_name.get(name, 0.0) + seconds
    return raw['steps'], by_name


def medians(runs: List[Steps]) -> Steps:
    return {step: [statistics.median(run[step][i] for run in runs) for i in (0, 1)]
            for step in STEPS if step in runs[0]}


def thread_medians(runs: List[Dict[str, float]]) -> Dict[str, float]:
    """Per thread name, the median over the runs (0 in a run without it)."""
    names = {name for run in runs for name in run}
    return {name: statistics.median(run.get(name, 0.0) for run in runs) for name in names}


def _row(label: str, cells: Any) -> str:
    """One line of a table: the label, then a right-aligned column per client."""
    return '%-14s' % label + ''.join('%17s' % cell for cell in cells)


def table(results: Dict[str, Steps], n: int) -> str:
    """Microseconds per channel: wall (CPU) of each step and the total."""
    lines = [_row('per channel', results), _row('µs wall (cpu)', ())]

    def cell(figures: List[float] | None) -> str:
        if figures is None:
            return '-'
        return '%.2f (%.2f)' % (figures[0] * 1e6 / n, figures[1] * 1e6 / n)

    for step in STEPS:
        lines.append(_row(step, (cell(r.get(step)) for r in results.values())))
    totals = {c: [sum(f[i] for f in r.values()) for i in (0, 1)] for c, r in results.items()}
    lines.append(_row('total', (cell(t) for t in totals.values())))
    c_total = totals.get('c')
    if c_total:
        lines.append(_row('wall / C', ('%.2f×' % (t[0] / c_total[0]) for t in totals.values())))
    return '\n'.join(lines)


def thread_table(results: Dict[str, Dict[str, float]], n: int) -> str:
    """Microseconds of CPU per channel that each thread ran, ``main`` first,
    then libca's threads, the busiest first."""
    names = sorted({name for r in results.values() for name in r} - {'main'},
                   key=lambda name: -max(r.get(name, 0.0) for r in results.values()))
    lines = [_row('CPU by thread', results), _row('µs per channel', ())]
    for name in ['main'] + names:
        lines.append(_row(name, ('-' if name not in r else '%.2f' % (r[name] * 1e6 / n)
                                 for r in results.values())))
    return '\n'.join(lines)


def main(argv: List[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['worker']:
        worker_main(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog='python -m bench.phases',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--channels', type=int, default=10000)
    parser.add_argument('--repetitions', type=int, default=5)
    parser.add_argument('--json', help='also write the medians to this file')
    args = parser.parse_args(argv)

    from bench.run import build_cbench, byte_compile, scalar_database
    from CaChannel.testing import SoftIoc, free_port, loopback_environ
    exe = build_cbench()
    byte_compile()
    n = args.channels
    runs: Dict[str, List[Steps]] = {client: [] for client in CLIENTS}
    thread_runs: Dict[str, List[Dict[str, float]]] = {client: [] for client in CLIENTS}
    with SoftIoc(scalar_database(n, 10), env=loopback_environ(free_port()),
                 ready_pvs=['%s%d' % (PREFIX, n - 1)], start_timeout=120) as ioc:
        for _ in range(args.repetitions):
            # Interleaved, so a slow moment of the machine touches every client.
            for client in CLIENTS:
                steps, by_thread = run_client(client, exe, ioc, n)
                runs[client].append(steps)
                thread_runs[client].append(by_thread)
    results = {client: medians(r) for client, r in runs.items()}
    threads = {client: thread_medians(r) for client, r in thread_runs.items()}
    print('connect + read %d scalars, median of %d runs' % (n, args.repetitions))
    print(table(results, n))
    if any(threads.values()):
        print()
        print(thread_table(threads, n))
    else:
        print('(no CPU time by thread: this system has no /proc/self/task/*/schedstat)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'channels': n, 'repetitions': args.repetitions, 'steps': results,
                       'threads': threads}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
