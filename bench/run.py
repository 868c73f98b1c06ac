"""Run the whole CaChannel performance comparison and write the report.

    python -m bench            # from the repository root

What it does, in about five minutes on a 2-core machine:

1. compiles ``bench/cbench.c`` (the same workloads written directly on libca)
   against the epicscorelibs wheel;
2. starts a softIoc on loopback (``CaChannel.testing.SoftIoc``) with a
   generated database: 10,000 scalars, one round-trip PV and a
   4,000,000-element DOUBLE waveform, and runs, for every client, the
   scalar workloads in a fresh process per repetition;
3. starts a second softIoc with 2,000 counters processed at 10 Hz and runs
   the monitor workload, again one fresh process per client and repetition;
4. times the start of a process that imports the library and creates a CA
   context;
5. prints the table (each figure also as a ratio to the C program of the
   same run, medians of the repetitions) and writes ``docs/performance.rst``
   and ``docs/_static/performance.png``.

Every IOC and client gets the environment of
``CaChannel.testing.loopback_environ``: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from CaChannel.testing import SoftIoc, free_port, loopback_environ

from . import report

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / 'bench'
BUILD = BENCH / 'build'

#: client key -> label, in table order; 'c' is the reference.
CLIENTS = {
    'c': 'C on libca',
    'cachannel-c': 'CaChannel (C backend)',
    'cachannel-cffi': 'CaChannel (cffi backend)',
    'pyepics': 'pyepics',
    'caproto': 'caproto threading',
}

# Channel Access client side: large arrays for every client alike (pyepics
# would otherwise set 16 MB, too small for the 32 MB waveform).
MAX_ARRAY_BYTES = '100000000'


class Config:
    def __init__(self, quick: bool, repetitions: int | None) -> None:
        self.scalars = 1000 if quick else 10000
        self.rt_calls = 300 if quick else 5000
        self.wf_count = 400000 if quick else 4000000
        self.wf_reps = 3
        self.monitors = 200 if quick else 2000
        self.monitor_warmup = 1.0 if quick else 2.0
        self.monitor_window = 1.5 if quick else 4.0
        self.repetitions = repetitions or (1 if quick else 5)
        self.start_reps = 3 if quick else 7


# --- building and databases --------------------------------------------------

def build_cbench() -> Path:
    """Compile cbench.c against the epicscorelibs headers and libraries."""
    import epicscorelibs.path
    from epicscorelibs.config import get_config_var

    include = Path(epicscorelibs.path.include_path)
    ca_lib = Path(epicscorelibs.path.get_lib('ca'))
    com_lib = Path(epicscorelibs.path.get_lib('Com'))
    BUILD.mkdir(exist_ok=True)
    exe = BUILD / 'cbench'
    defines = ['-D%s' % k if v is None else '-D%s=%s' % (k, v)
               for k, v in get_config_var('CPPFLAGS')]
    cmd = (['gcc', '-O2', '-Wall', '-o', str(exe), str(BENCH / 'cbench.c')]
           + defines
           + ['-I%s' % include, '-I%s' % (include / 'os' / 'Linux'),
              '-I%s' % (include / 'compiler' / 'gcc'),
              str(ca_lib), str(com_lib),
              '-Wl,-rpath,%s' % ca_lib.parent]
           + ['-l%s' % lib for lib in get_config_var('LDADD')] + ['-lpthread'])
    subprocess.run(cmd, check=True)
    return exe


def scalar_database(n: int, wf_count: int) -> str:
    lines = ['record(ao, "bench:rt") {\n    field(VAL, "1.5")\n}\n',
             'record(waveform, "bench:wf") {\n    field(FTVL, "DOUBLE")\n'
             '    field(NELM, "%d")\n}\n' % wf_count]
    lines += ['record(ao, "bench:s%d") {\n    field(VAL, "%d")\n}\n' % (i, i)
              for i in range(n)]
    return ''.join(lines)


def monitor_database(n: int) -> str:
    # Each record adds one to itself ten times a second, and every change
    # posts a monitor: a gap in the values a client sees is a lost event.
    return ''.join(
        'record(calc, "bench:m%d") {\n    field(SCAN, ".1 second")\n'
        '    field(INPA, "bench:m%d NPP")\n    field(CALC, "A+1")\n}\n' % (i, i)
        for i in range(n))


# --- running clients ------------------------------------------------------------

def client_env(ioc: SoftIoc, client: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ioc.environ)
    env['EPICS_CA_MAX_ARRAY_BYTES'] = MAX_ARRAY_BYTES
    env.pop('PYEPICS_LIBCA', None)
    env.pop('CACHANNEL_BACKEND', None)
    if client == 'cachannel-c':
        env['CACHANNEL_BACKEND'] = 'c'
    elif client == 'cachannel-cffi':
        env['CACHANNEL_BACKEND'] = 'caffi'
    return env


def run_json(cmd: list[str], env: dict[str, str], timeout: float = 180.0) -> dict:
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (%s):\n%s%s' % (' '.join(cmd), proc.returncode,
                                                     proc.stdout, proc.stderr))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_cmd(client: str, *args: object) -> list[str]:
    library = 'cachannel' if client.startswith('cachannel') else client
    return [sys.executable, '-m', 'bench.workers', library] + [str(a) for a in args]


def run_scalars(exe: Path, client: str, ioc: SoftIoc, cfg: Config) -> dict:
    env = client_env(ioc, client)
    if client == 'c':
        connect = run_json([str(exe), 'connect', 'bench:s', str(cfg.scalars)], env)
        rt = run_json([str(exe), 'roundtrip', 'bench:rt', str(cfg.rt_calls)], env)
        wf = run_json([str(exe), 'waveform', 'bench:wf', str(cfg.wf_count),
                       str(cfg.wf_reps)], env)
        raw = {'connect_seconds': connect['seconds'],
               'rss_per_channel': connect['rss_per_channel'],
               'connect_check': connect['check'],
               'roundtrip_seconds': rt['seconds_per_call'],
               'waveform_seconds': wf['seconds'], 'waveform_check': wf['check']}
    else:
        raw = run_json(worker_cmd(client, 'scalars', 'bench:s', cfg.scalars, 'bench:rt',
                                  cfg.rt_calls, 'bench:wf', cfg.wf_count, cfg.wf_reps), env)
    if float(raw['connect_check']) != cfg.scalars - 1:
        raise RuntimeError('%s read %r from bench:s%d' % (client, raw['connect_check'],
                                                           cfg.scalars - 1))
    if float(raw['waveform_check']) != cfg.wf_count - 1:
        raise RuntimeError('%s read %r as last waveform element' % (client,
                                                                    raw['waveform_check']))
    wf_bytes = cfg.wf_count * 8
    return {
        'connect_s': raw['connect_seconds'],
        'roundtrip_us': raw['roundtrip_seconds'] * 1e6,
        'waveform_MBps': wf_bytes / statistics.median(raw['waveform_seconds']) / 1e6,
        'rss_per_channel': raw['rss_per_channel'],
    }


def run_monitor(exe: Path, client: str, ioc: SoftIoc, cfg: Config) -> dict:
    env = client_env(ioc, client)
    args = ('bench:m', cfg.monitors, cfg.monitor_warmup, cfg.monitor_window)
    if client == 'c':
        raw = run_json([str(exe), 'monitor'] + [str(a) for a in args], env)
    else:
        raw = run_json(worker_cmd(client, 'monitor', *args), env)
    sent = raw['events'] + raw['lost']
    return {
        'monitor_cpu_us': raw['cpu'] / max(raw['events'], 1) * 1e6,
        'monitor_delivered': raw['events'] / sent if sent else 0.0,
        'monitor_lost': raw['lost'],
        'monitor_sent_rate': sent / raw['wall'],
    }


STARTUP_CODE = {
    'cachannel-c': 'import CaChannel\nfrom CaChannel import ca\nca.create_context(True)',
    'cachannel-cffi': 'import CaChannel\nfrom CaChannel import ca\nca.create_context(True)',
    'pyepics': 'import epics\nepics.ca.initialize_libca()',
    'caproto': 'from caproto.threading.client import Context\nContext()',
}


def run_startup(exe: Path, client: str, env_ioc: SoftIoc) -> dict:
    """Wall time of a fresh process that loads the library and makes a context."""
    env = client_env(env_ioc, client)
    cmd = [str(exe), 'start'] if client == 'c' else [sys.executable, '-c', STARTUP_CODE[client]]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, timeout=60)
    return {'startup_ms': (time.perf_counter() - t0) * 1e3}


def python_startup_ms(env: dict[str, str], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, '-c', 'pass'], env=env, check=True)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# --- main -------------------------------------------------------------------

def log(message: str) -> None:
    print('[%6.1fs] %s' % (time.perf_counter() - _T0, message), flush=True)


_T0 = time.perf_counter()


def collect(cfg: Config, clients: list[str]) -> dict:
    samples: dict[str, dict[str, list[float]]] = {c: {} for c in clients}

    def add(client: str, figures: dict) -> None:
        for key, value in figures.items():
            samples[client].setdefault(key, []).append(value)

    exe = build_cbench()
    log('built %s' % exe.relative_to(ROOT))

    with SoftIoc(scalar_database(cfg.scalars, cfg.wf_count),
                 env=loopback_environ(free_port()),
                 ready_pvs=['bench:rt', 'bench:wf', 'bench:s%d' % (cfg.scalars - 1)],
                 start_timeout=60) as ioc:
        log('scalar IOC on 127.0.0.1:%d' % ioc.port)
        run_json([str(exe), 'fill', 'bench:wf', str(cfg.wf_count)], client_env(ioc, 'c'))
        # Repetitions outermost: a slow phase of the machine hits every client.
        for rep in range(cfg.repetitions):
            for client in clients:
                figures = run_scalars(exe, client, ioc, cfg)
                add(client, figures)
                log('scalars rep %d %-15s %s' % (rep + 1, client, _fmt(figures)))
        for rep in range(cfg.start_reps):
            for client in clients:
                add(client, run_startup(exe, client, ioc))
        python_ms = python_startup_ms(client_env(ioc, 'pyepics'), cfg.start_reps)
        log('start-up times done')

    with SoftIoc(monitor_database(cfg.monitors), env=loopback_environ(free_port()),
                 ready_pvs=['bench:m0', 'bench:m%d' % (cfg.monitors - 1)],
                 start_timeout=60) as ioc:
        log('monitor IOC on 127.0.0.1:%d' % ioc.port)
        for rep in range(cfg.repetitions):
            for client in clients:
                figures = run_monitor(exe, client, ioc, cfg)
                add(client, figures)
                log('monitor rep %d %-15s %s' % (rep + 1, client, _fmt(figures)))

    medians = {c: {k: statistics.median(v) for k, v in figs.items()}
               for c, figs in samples.items()}
    return {'samples': samples, 'medians': medians, 'python_startup_ms': python_ms,
            'config': vars(cfg)}


def _fmt(figures: dict) -> str:
    return ' '.join('%s=%.4g' % item for item in figures.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small sizes and one repetition (a smoke test); no report')
    parser.add_argument('--repetitions', type=int, default=None,
                        help='repetitions of each workload (default 5)')
    parser.add_argument('--clients', default=','.join(CLIENTS),
                        help='comma-separated subset of %s' % ', '.join(CLIENTS))
    parser.add_argument('--json', type=Path, default=None,
                        help='also write the raw samples to this file')
    parser.add_argument('--no-report', action='store_true',
                        help='print the table only; leave docs/ alone')
    args = parser.parse_args(argv)
    clients = [c.strip() for c in args.clients.split(',') if c.strip()]
    unknown = set(clients) - set(CLIENTS)
    if unknown or 'c' not in clients:
        parser.error('clients must include c and come from %s' % ', '.join(CLIENTS))

    cfg = Config(args.quick, args.repetitions)
    started = time.perf_counter()
    data = collect(cfg, clients)
    data['elapsed_s'] = time.perf_counter() - started
    data['environment'] = report.environment()
    data['labels'] = {c: CLIENTS[c] for c in clients}
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    print()
    print(report.text_table(data))
    print()
    print(report.targets_text(data))
    if not (args.quick or args.no_report):
        rst, png = report.write_docs(data, ROOT / 'docs')
        log('wrote %s and %s' % (rst.relative_to(ROOT), png.relative_to(ROOT)))
    log('total %.0f s' % data['elapsed_s'])
    return 0
