"""The asyncio comparison: CaChannel.aio (both backends) against aioca.

    python -m bench.aio [--quick]        # the asyncio table alone
    python -m bench                      # the whole run includes it

One softIoc with N scalars and one with 2,000 counters processed at 10 Hz
(``bench.run``'s databases), and for each client a fresh process per
workload and repetition (``python -m bench.aio worker LIB MODE ...``):

``connect PREFIX N``
    ``await connect(names)`` then ``await caget(names)``: wall and CPU
    time, and the resident memory per channel they added.
``monitor PREFIX N WARMUP WINDOW``
    ``camonitor(names, callback, format=FORMAT_TIME, all_updates=True)``
    with the trivial callback of ``bench.workers``; CPU per event and the
    events the IOC posted that the callback never saw (counter gaps).

The synchronous object layer's monitor (``bench.workers cachannel monitor
object``, DBR_TIME_DOUBLE) runs beside them as the reference the asyncio
layer's CPU per event is held to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

#: client -> (library, CACHANNEL_BACKEND or None), in table order.
CLIENTS: Dict[str, Tuple[str, Optional[str]]] = {
    'aioca': ('aioca', None),
    'aio-c': ('aio', 'c'),
    'aio-cffi': ('aio', 'caffi'),
}
LABELS = {'aioca': 'aioca', 'aio-c': 'CaChannel.aio (C backend)',
          'aio-cffi': 'CaChannel.aio (cffi backend)',
          'sync-c': 'CaChannel object layer (C backend, sync)'}
TIMEOUT = 60.0


# --- the worker (a fresh process) -----------------------------------------------

def _library(name: str) -> Any:
    if name == 'aioca':
        import aioca
        return aioca
    import CaChannel.aio
    return CaChannel.aio


async def _connect(lib: Any, prefix: str, n: int) -> Dict[str, float]:
    from bench.workers import rss_bytes
    names = ['%s%d' % (prefix, i) for i in range(n)]
    # The CA context and the first circuit exist before the clock starts,
    # as in the synchronous workers.
    await lib.caget('bench:rt', timeout=TIMEOUT)
    rss0, cpu0, t0 = rss_bytes(), time.process_time(), time.perf_counter()
    await lib.connect(names, timeout=TIMEOUT)
    values = await lib.caget(names, timeout=TIMEOUT)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rss1 = rss_bytes()
    if float(values[-1]) != n - 1:
        raise RuntimeError('read %r from %s%d' % (values[-1], prefix, n - 1))
    return {'connect_seconds': seconds, 'connect_cpu': cpu,
            'rss_per_channel': (rss1 - rss0) / n}


async def _monitor(lib: Any, prefix: str, n: int, warmup: float,
                   window: float) -> Dict[str, float]:
    from bench.workers import Counters
    names = ['%s%d' % (prefix, i) for i in range(n)]
    counters = Counters(n)
    on_value = counters.on_value

    def callback(value: Any, index: int) -> None:
        on_value(index, value)

    await lib.connect(names, timeout=TIMEOUT)
    subs = lib.camonitor(names, callback, format=lib.FORMAT_TIME, all_updates=True)
    await asyncio.sleep(warmup)
    events0, lost0 = counters.totals()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(window)
    events1, lost1 = counters.totals()
    wall1, cpu1 = time.perf_counter(), time.process_time()
    for sub in subs:
        sub.close()
    return {'events': events1 - events0, 'lost': lost1 - lost0,
            'cpu': cpu1 - cpu0, 'wall': wall1 - wall0}


def worker(argv: List[str]) -> int:
    library, mode, *args = argv
    lib = _library(library)
    if mode == 'connect':
        prefix, n = args
        result = asyncio.run(_connect(lib, prefix, int(n)))
    elif mode == 'monitor':
        prefix, n, warmup, window = args
        result = asyncio.run(_monitor(lib, prefix, int(n), float(warmup), float(window)))
    else:
        raise SystemExit('unknown mode %r' % mode)
    sys.stdout.write(json.dumps(result) + '\n')
    return 0


# --- the runner -------------------------------------------------------------------

def _env(ioc: Any, backend: Optional[str]) -> Dict[str, str]:
    from bench.run import client_env
    env = client_env(ioc, 'aioca')
    if backend:
        env['CACHANNEL_BACKEND'] = backend
    return env


def _worker_cmd(library: str, *args: object) -> List[str]:
    return [sys.executable, '-m', 'bench.aio', 'worker', library] + [str(a) for a in args]


def _clients(log: Any) -> Dict[str, Tuple[str, Optional[str]]]:
    """CLIENTS, without aioca where it is not installed (the bench extra has it)."""
    import importlib.util
    if importlib.util.find_spec('aioca') is not None:
        return CLIENTS
    log('aioca is not installed: the asyncio table has no aioca column')
    return {c: spec for c, spec in CLIENTS.items() if c != 'aioca'}


def _median(samples: List[Optional[float]]) -> Optional[float]:
    found = [s for s in samples if s is not None]
    return statistics.median(found) if found else None


def collect(scalars: int, monitors: int, repetitions: int, warmup: float,
            window: float, log: Any = print) -> Dict[str, Dict[str, Optional[float]]]:
    """Figures per client: connect_s, connect_cpu_s, rss_per_channel,
    monitor_cpu_us, monitor_lost, monitor_sent_rate; 'sync-c' has the
    object layer's monitor_cpu_us."""
    from CaChannel.testing import SoftIoc, free_port, loopback_environ
    from bench.run import monitor_database, run_json, scalar_database, worker_cmd
    figures: Dict[str, Dict[str, Optional[float]]] = {c: {} for c in list(CLIENTS) + ['sync-c']}
    with SoftIoc(scalar_database(scalars, 10), env=loopback_environ(free_port()),
                 ready_pvs=['bench:rt', 'bench:s%d' % (scalars - 1)]) as ioc:
        for client, (library, backend) in _clients(log).items():
            runs = [run_json(_worker_cmd(library, 'connect', 'bench:s', scalars),
                             _env(ioc, backend), timeout=300) for _ in range(repetitions)]
            figures[client]['connect_s'] = _median([r['connect_seconds'] for r in runs])
            figures[client]['connect_cpu_s'] = _median([r['connect_cpu'] for r in runs])
            figures[client]['rss_per_channel'] = _median([r['rss_per_channel'] for r in runs])
            log('asyncio connect %s: %s' % (client, figures[client]))
    with SoftIoc(monitor_database(monitors), env=loopback_environ(free_port()),
                 ready_pvs=['bench:m0', 'bench:m%d' % (monitors - 1)]) as ioc:
        args = ('bench:m', monitors, warmup, window)
        for client, (library, backend) in _clients(log).items():
            runs = [run_json(_worker_cmd(library, 'monitor', *args), _env(ioc, backend))
                    for _ in range(repetitions)]
            _monitor_figures(figures[client], runs)
            log('asyncio monitor %s: %s' % (client, figures[client]))
        runs = [run_json(worker_cmd('cachannel-c', 'monitor', 'object', *args),
                         _env(ioc, 'c')) for _ in range(repetitions)]
        _monitor_figures(figures['sync-c'], runs)
        log('sync object-layer monitor: %s' % figures['sync-c'])
    return figures


def _monitor_figures(into: Dict[str, Optional[float]], runs: List[dict]) -> None:
    into['monitor_cpu_us'] = _median([r['cpu'] / r['events'] * 1e6 if r['events'] else None
                                      for r in runs])
    into['monitor_lost'] = float(sum(r['lost'] for r in runs))
    into['monitor_sent_rate'] = _median([(r['events'] + r['lost']) / r['wall']
                                         for r in runs])


#: (client, figure, compared with (client, figure) or None, limit, text)
TARGETS = [
    ('connect_s', 'ratio<=', 0.1, 'connect + read: at least 10x faster than aioca'),
    ('monitor_cpu_us', 'ratio<=', 0.1, 'monitor CPU per event: at most 1/10 of aioca'),
    ('monitor_cpu_us', 'sync<=', 2.0, 'monitor CPU per event: at most 2x the sync object layer'),
    ('rss_per_channel', 'ratio<=', 0.25, 'memory per channel: at most 1/4 of aioca'),
    ('monitor_lost', 'zero', 0.0, 'lost events with all_updates at 20,000 events/s: none'),
]


def target_results(figures: Dict[str, Dict[str, Optional[float]]]) -> List[tuple]:
    """(client, text, met, detail) for each target and CaChannel.aio client."""
    results = []
    for client in ('aio-c', 'aio-cffi'):
        for key, kind, limit, text in TARGETS:
            ours = figures[client].get(key)
            other = figures['sync-c' if kind == 'sync<=' else 'aioca'].get(key)
            if ours is None or (kind != 'zero' and not other):
                results.append((client, text, False, 'not measured'))
                continue
            if kind == 'zero':
                results.append((client, text, ours == 0, '%d lost' % ours))
            else:
                assert other is not None
                results.append((client, text, ours / other <= limit,
                                '%.3gx' % (ours / other)))
    return results


def text_table(figures: Dict[str, Dict[str, Optional[float]]], scalars: int,
               monitors: int) -> str:
    rows = [('connect + read %d PVs (s)' % scalars, 'connect_s', 1.0),
            ('  process CPU (s)', 'connect_cpu_s', 1.0),
            ('memory per channel (kB)', 'rss_per_channel', 1e-3),
            ('monitor CPU per event, FORMAT_TIME, %d PVs at 10 Hz (µs)' % monitors,
             'monitor_cpu_us', 1.0),
            ('events sent per second', 'monitor_sent_rate', 1.0),
            ('lost events (all_updates=True)', 'monitor_lost', 1.0)]
    clients = list(CLIENTS) + ['sync-c']
    header = ['workload'] + [LABELS[c] for c in clients]
    lines = [' | '.join(header)]
    for label, key, scale in rows:
        cells = [label]
        for client in clients:
            value = figures[client].get(key)
            cells.append('-' if value is None else '%.4g' % (value * scale))
        lines.append(' | '.join(cells))
    lines.append('')
    for client, text, met, detail in target_results(figures):
        lines.append('%-8s %-4s %s (%s)' % (client, 'MET' if met else 'MISS', text, detail))
    return '\n'.join(lines)


def run_in_bench(cfg: Any, log: Any = print) -> Dict[str, Dict[str, Optional[float]]]:
    """The asyncio figures of ``python -m bench`` (its Config's sizes and
    repetitions)."""
    return collect(cfg.scalars, cfg.monitors, cfg.monitor_reps, cfg.monitor_warmup,
                   cfg.monitor_window, log)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == 'worker':
        return worker(argv[1:])
    parser = argparse.ArgumentParser(prog='python -m bench.aio',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='small sizes, one repetition')
    parser.add_argument('--repetitions', type=int, default=3)
    parser.add_argument('--json', default=None, help='also write the figures here')
    args = parser.parse_args(argv)
    scalars, monitors = (1000, 500) if args.quick else (10000, 2000)
    repetitions = 1 if args.quick else args.repetitions
    warmup, window = (1.0, 2.0) if args.quick else (3.0, 5.0)
    from CaChannel.testing import shared_repeater_port, start_repeater, stop_process
    repeater = start_repeater(shared_repeater_port())
    try:
        figures = collect(scalars, monitors, repetitions, warmup, window)
    finally:
        stop_process(repeater, 10)
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(figures, out, indent=1)
    print(text_table(figures, scalars, monitors))
    return 0


if __name__ == '__main__':
    sys.exit(main())
