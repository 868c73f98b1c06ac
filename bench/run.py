"""Run the whole CaChannel performance comparison and write the report.

    python -m bench            # from the repository root

What it does, in about seven minutes on a 2-core machine:

1. compiles ``bench/cbench.c`` (the same workloads written directly on libca)
   against the epicscorelibs wheel, and byte-compiles CaChannel as an
   installation does;
2. starts a softIoc on loopback (``CaChannel.testing.SoftIoc``) with a
   generated database: 100,000 scalars, one round-trip PV and a
   4,000,000-element DOUBLE waveform, and runs, for every client, the
   scalar workloads in a fresh process per repetition (connect + read
   10,000 channels, round trips, a waveform's first read and its steady
   state);
   Then times ``caget`` of that waveform: EPICS base's own caget (built
   from ``shared/oracle`` beside the repository, as the console-tool parity
   test builds it; the row is left out, saying why, without it) against
   ours on each backend, which must print the same bytes;
3. connects and reads 1,000 and 100,000 channels (the scaling curve; a
   client whose time per channel predicts more than the time cap is not
   run at the larger count), and runs the floors of ``bench/floors.py``
   (the connect script over idle objects, libca through bare cffi, and
   that plus the records the ``ca`` contract keeps) at the table's count
   and the largest;
4. times the start of a process that imports the library and creates a CA
   context, in a fresh virtual environment where ``pip install`` put the
   wheel built from this checkout and the peers (``bench.installed``);
5. starts a second softIoc with 2,000 counters processed at 10 Hz (20,000
   events/s) and runs the monitor workload through the low-level layer and
   through the object layer scripts use, one fresh process per client,
   layer and repetition (and the cffi and contract floors' monitors);
6. prints the table (each figure also as a ratio to the C program of the
   same run, medians of the repetitions), the targets and the floors, and
   writes ``docs/performance.rst``,
   ``docs/_static/performance.png`` and ``docs/_static/scaling.png``.

Every IOC and client gets the environment of
``CaChannel.testing.loopback_environ``: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from CaChannel.testing import (SoftIoc, free_port, loopback_environ, shared_repeater_port,
                               start_repeater, stop_process)

from . import installed, report

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

#: the floors of bench/floors.py, measured beside the clients (console and
#: --json only, not on the page): what bounds each client's figures.
FLOORS = {
    'script-floor': "the connect script and the ca-layer monitor's callback over idle "
                    'Python objects, no CA',
    'cffi-floor': 'libca through cffi, the callbacks the cffi backend needs, nothing more',
    'contract-floor': 'the cffi floor plus the records and event dict of the ca contract, inline',
}

#: clients of the caget row: 'c' is EPICS base's caget, the others ours.
CAGET_CLIENTS = ('c', 'cachannel-c', 'cachannel-cffi')

#: monitor layers each client is measured through (caproto has one API).
MONITOR_LAYERS = {
    'c': ('ca', 'object'), 'cachannel-c': ('ca', 'object'),
    'cachannel-cffi': ('ca', 'object'), 'pyepics': ('ca', 'object'),
    'caproto': ('object',),
}

# Channel Access client side: large arrays for every client alike (pyepics
# would otherwise set 16 MB, too small for the 32 MB waveform).
MAX_ARRAY_BYTES = '100000000'


class Config:
    def __init__(self, quick: bool, repetitions: int | None) -> None:
        self.scalars = 1000 if quick else 10000
        self.scale_counts = [100, 1000, 3000] if quick else [1000, 10000, 100000]
        self.rt_calls = 300 if quick else 5000
        self.wf_count = 400000 if quick else 4000000
        self.wf_reads = 5 if quick else 20
        self.monitors = 200 if quick else 2000
        self.monitor_warmup = 1.0 if quick else 1.5
        self.monitor_window = 1.5 if quick else 3.0
        self.repetitions = repetitions or (1 if quick else 5)
        self.scale_reps = min(self.repetitions, 3)
        self.monitor_reps = min(self.repetitions, 3)
        self.start_reps = 3 if quick else 9
        self.caget_reps = min(self.repetitions, 3)
        # A run predicted (from the client's time per channel at the count
        # before) to take longer than this many seconds is not started.
        self.time_cap = 20.0 if quick else 40.0
        if self.scalars not in self.scale_counts:
            raise ValueError('the table count must be one of the scaling counts')


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


def find_oracle() -> Path | None:
    """``shared/oracle`` beside the repository or beside a folder above it
    (the place tests/test_cli_parity.py looks), or None."""
    for folder in [ROOT] + list(ROOT.parents):
        candidate = folder.parent / 'shared' / 'oracle'
        if (candidate / 'build-base-tools.sh').is_file():
            return candidate
    return None


def build_base_caget() -> tuple[Path | None, str]:
    """EPICS base's caget built against this interpreter's epicscorelibs,
    or None and why not."""
    oracle = find_oracle()
    if oracle is None:
        return None, 'no shared/oracle beside the repository (base\'s tool sources)'
    out = BUILD / 'base-tools'
    built = subprocess.run(['bash', str(oracle / 'build-base-tools.sh'), str(out), sys.executable],
                           capture_output=True, text=True)
    if built.returncode != 0:
        return None, 'base\'s tools did not build: %s' % (built.stderr.strip() or built.stdout.strip())
    return out / 'caget', ''


def caget_command(client: str, base_caget: Path) -> list[str]:
    """The caget a user runs: base's, or our console script (else ``-m CaChannel``)."""
    if client == 'c':
        return [str(base_caget)]
    script = Path(sys.executable).parent / 'caget'
    return [str(script)] if script.exists() else [sys.executable, '-m', 'CaChannel', 'caget']


def run_caget(client: str, base_caget: Path, ioc: SoftIoc, pv: str) -> tuple[float, bytes]:
    """Wall seconds of one caget of *pv*, from process start to exit, and what it printed."""
    t0 = time.perf_counter()
    proc = subprocess.run(caget_command(client, base_caget) + [pv], env=client_env(ioc, client),
                          cwd=ROOT, capture_output=True, timeout=180)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError('%s caget failed (%s): %s' % (client, proc.returncode,
                                                         proc.stderr.decode(errors='replace')))
    return seconds, proc.stdout


def scalar_database(n: int, wf_count: int) -> str:
    lines = ['record(ao, "bench:rt") {\n    field(VAL, "1.5")\n}\n',
             'record(waveform, "bench:wf") {\n    field(FTVL, "DOUBLE")\n'
             '    field(NELM, "%d")\n}\n' % wf_count]
    lines += ['record(ao, "bench:s%d") {\n    field(VAL, "%d")\n}\n' % (i, i)
              for i in range(n)]
    return ''.join(lines)


def byte_compile() -> None:
    """Write the .pyc files an installation would have (pip compiles on
    install), so start-up times do not include compiling our sources; and
    the cffi backend's compiled declarations, which setup.py writes."""
    from caffi_backend import _cdef, _ffi
    if not _ffi.compiled:
        _cdef.write_compiled(str(ROOT / 'caffi_backend' / '_ffi_compiled.py'))
    for package in ('CaChannel', 'caffi_backend', 'bench'):
        compileall.compile_dir(str(ROOT / package), quiet=1)


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


def check_connect(client: str, raw: dict, n: int) -> None:
    if client == 'script-floor':
        return                      # it reads nothing
    if float(raw['connect_check']) != n - 1:
        raise RuntimeError('%s read %r from bench:s%d' % (client, raw['connect_check'], n - 1))


def connect_figures(raw: dict, n: int) -> dict:
    return {'connect_%d_s' % n: raw['connect_seconds'],
            'connect_cpu_%d_s' % n: raw['connect_cpu'],
            'rss_%d' % n: raw['rss_per_channel']}


def run_scalars(exe: Path, client: str, ioc: SoftIoc, cfg: Config) -> dict:
    env = client_env(ioc, client)
    if client == 'c':
        connect = run_json([str(exe), 'connect', 'bench:s', str(cfg.scalars)], env)
        rt = run_json([str(exe), 'roundtrip', 'bench:rt', str(cfg.rt_calls)], env)
        wf = run_json([str(exe), 'waveform', 'bench:wf', str(cfg.wf_count),
                       str(cfg.wf_reads)], env)
        raw = {'connect_seconds': connect['seconds'], 'connect_cpu': connect['cpu'],
               'rss_per_channel': connect['rss_per_channel'],
               'connect_check': connect['check'],
               'roundtrip_seconds': rt['seconds_per_call'],
               'waveform_first': wf['first'], 'waveform_steady': wf['steady'],
               'waveform_check': wf['check']}
    else:
        raw = run_json(worker_cmd(client, 'scalars', 'bench:s', cfg.scalars, 'bench:rt',
                                  cfg.rt_calls, 'bench:wf', cfg.wf_count, cfg.wf_reads), env)
    check_connect(client, raw, cfg.scalars)
    if float(raw['waveform_check']) != cfg.wf_count - 1:
        raise RuntimeError('%s read %r as last waveform element' % (client,
                                                                    raw['waveform_check']))
    wf_mb = cfg.wf_count * 8 / 1e6
    figures = connect_figures(raw, cfg.scalars)
    figures.update({
        'roundtrip_us': raw['roundtrip_seconds'] * 1e6,
        'waveform_steady_MBps': wf_mb / statistics.median(raw['waveform_steady']),
        'waveform_first_MBps': wf_mb / raw['waveform_first'],
    })
    return figures


def run_connect(exe: Path, client: str, ioc: SoftIoc, n: int, timeout: float) -> dict:
    env = client_env(ioc, client)
    if client == 'c':
        raw = run_json([str(exe), 'connect', 'bench:s', str(n)], env, timeout)
        raw = {'connect_seconds': raw['seconds'], 'connect_cpu': raw['cpu'],
               'rss_per_channel': raw['rss_per_channel'], 'connect_check': raw['check']}
    else:
        raw = run_json(worker_cmd(client, 'connect', 'bench:s', n), env, timeout)
    check_connect(client, raw, n)
    return connect_figures(raw, n)


def run_monitor(exe: Path, client: str, layer: str, ioc: SoftIoc, cfg: Config) -> dict:
    env = client_env(ioc, client)
    args = ('bench:m', cfg.monitors, cfg.monitor_warmup, cfg.monitor_window)
    if client == 'c':
        # The C twin of each layer asks for what that layer delivers.
        dbr = 'DBR_TIME_DOUBLE' if layer == 'object' else 'DBR_DOUBLE'
        raw = run_json([str(exe), 'monitor'] + [str(a) for a in args] + [dbr], env)
    else:
        raw = run_json(worker_cmd(client, 'monitor', layer, *args), env)
    sent = raw['events'] + raw['lost']
    prefix = 'monitor_' if layer == 'object' else 'monitor_ca_'
    return {
        # A run that saw no event has no CPU per event (caproto's
        # subscriptions sometimes deliver nothing in the window).
        prefix + 'cpu_us': raw['cpu'] / raw['events'] * 1e6 if raw['events'] else None,
        prefix + 'delivered': raw['events'] / sent if sent else 0.0,
        prefix + 'lost': raw['lost'],
        prefix + 'sent_rate': sent / raw['wall'],
    }


STARTUP_CODE = {
    'cachannel-c': 'import CaChannel\nfrom CaChannel import ca\nca.create_context(True)',
    'cachannel-cffi': 'import CaChannel\nfrom CaChannel import ca\nca.create_context(True)',
    'pyepics': 'import epics\nepics.ca.initialize_libca()',
    'caproto': 'from caproto.threading.client import Context\nContext()',
}


def timed_process(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU milliseconds of a process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True, timeout=60)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall * 1e3, cpu * 1e3


class StartupPython:
    """The interpreter the start-up workload runs and where: a fresh
    environment with the installed wheel (``bench.installed``), else this
    one in the checkout, saying why."""

    def __init__(self, clients: list[str]) -> None:
        python, workdir, self.why_not_installed = installed.make_environment(clients, log)
        self.installed = python is not None
        self.python = str(python) if python is not None else sys.executable
        self.cwd = workdir if workdir is not None else ROOT
        self._workdir = workdir

    def remove(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)


def run_startup(exe: Path, client: str, env_ioc: SoftIoc, startup: StartupPython) -> dict:
    """Wall and CPU time of a fresh process that loads the library and makes a context."""
    env = client_env(env_ioc, client)
    if client == 'c':
        wall, cpu = timed_process([str(exe), 'start'], env)
    else:
        wall, cpu = timed_process([startup.python, '-c', STARTUP_CODE[client]], env,
                                  startup.cwd)
    return {'startup_ms': wall, 'startup_cpu_ms': cpu}


def python_startup(env: dict[str, str], startup: StartupPython) -> tuple[float, float]:
    """Wall and CPU milliseconds of one ``python -c pass``: the interpreter's
    own part of every Python client's start-up."""
    return timed_process([startup.python, '-c', 'pass'], env, startup.cwd)


# --- main -------------------------------------------------------------------

def log(message: str) -> None:
    print('[%6.1fs] %s' % (time.perf_counter() - _T0, message), flush=True)


_T0 = time.perf_counter()


def load_average() -> str:
    """The 1-minute load average: how busy the shared machine was."""
    try:
        return '%.2f' % os.getloadavg()[0]
    except OSError:
        return 'n/a'


def collect(cfg: Config, clients: list[str]) -> dict:
    samples: dict[str, dict[str, list[float]]] = {c: {} for c in clients}
    skipped: dict[str, dict[int, str]] = {c: {} for c in clients}
    loads = [load_average()]
    #: metric -> why it has no figures in this run
    not_measured: dict[str, str] = {}

    floor_samples: dict[str, dict[str, list[float]]] = {f: {} for f in FLOORS}

    def add(client: str, figures: dict, into: dict = samples) -> None:
        for key, value in figures.items():
            into[client].setdefault(key, []).append(value)

    def add_floor(floor: str, figures: dict) -> None:
        add(floor, figures, floor_samples)

    exe = build_cbench()
    byte_compile()
    log('built %s; load average %s' % (exe.relative_to(ROOT), loads[0]))
    base_caget, why = build_base_caget()
    caget_clients = [c for c in clients if c in CAGET_CLIENTS]
    if base_caget is None:
        caget_clients = []
        not_measured['caget_wf_s'] = why
        log('caget row skipped: %s' % why)

    n_max = max(cfg.scale_counts)
    with SoftIoc(scalar_database(n_max, cfg.wf_count),
                 env=loopback_environ(free_port()),
                 ready_pvs=['bench:rt', 'bench:wf', 'bench:s%d' % (n_max - 1)],
                 start_timeout=120) as ioc:
        log('scalar IOC (%d records) on 127.0.0.1:%d' % (n_max, ioc.port))
        run_json([str(exe), 'fill', 'bench:wf', str(cfg.wf_count)], client_env(ioc, 'c'))
        # Repetitions outermost: a slow phase of the machine hits every client.
        for rep in range(cfg.repetitions):
            for client in clients:
                figures = run_scalars(exe, client, ioc, cfg)
                add(client, figures)
                log('scalars rep %d %-15s %s' % (rep + 1, client, _fmt(figures)))
        printed: bytes | None = None
        for rep in range(cfg.caget_reps if caget_clients else 0):
            for client in caget_clients:
                seconds, out = run_caget(client, base_caget, ioc, 'bench:wf')  # type: ignore[arg-type]
                # Base's caget comes first: every other must print its bytes.
                if printed is None:
                    printed = out
                elif out != printed:
                    raise RuntimeError('%s caget printed other bytes than base\'s caget' % client)
                add(client, {'caget_wf_s': seconds})
                log('caget rep %d %-15s %.3f s, %.1f MB printed' % (rep + 1, client, seconds,
                                                                    len(out) / 1e6))
        loads.append(load_average())
        for n in cfg.scale_counts:
            if n == cfg.scalars:
                continue
            for rep in range(cfg.scale_reps):
                for client in clients:
                    if n in skipped[client]:
                        continue
                    reason = predicted_over_cap(samples[client], n, cfg.time_cap)
                    if reason is None:
                        try:
                            figures = run_connect(exe, client, ioc, n, cfg.time_cap + 20)
                        except subprocess.TimeoutExpired:
                            reason = 'did not finish within %.0f s' % (cfg.time_cap + 20)
                    if reason is not None:
                        skipped[client][n] = reason
                        log('scale %d %-15s skipped: %s' % (n, client, reason))
                        continue
                    add(client, figures)
                    log('scale %d rep %d %-15s %s' % (n, rep + 1, client, _fmt(figures)))
        for rep in range(cfg.scale_reps):
            for floor in FLOORS:
                for n in (cfg.scalars, n_max):
                    figures = run_connect(exe, floor, ioc, n, cfg.time_cap + 20)
                    add_floor(floor, figures)
                    log('floor %d rep %d %-15s %s' % (n, rep + 1, floor, _fmt(figures)))
        loads.append(load_average())
        startup = StartupPython(clients)
        python_runs = []
        python_env = client_env(ioc, 'pyepics')
        try:
            for rep in range(cfg.start_reps):
                for client in clients:
                    add(client, run_startup(exe, client, ioc, startup))
                # In the same rotation as the clients, not after them: this
                # machine's speed drifts by a third within minutes, and what
                # a client adds to the interpreter is read against the
                # interpreter timed under the same conditions.
                python_runs.append(python_startup(python_env, startup))
        finally:
            startup.remove()
        python_ms = statistics.median(run[0] for run in python_runs)
        python_cpu_ms = statistics.median(run[1] for run in python_runs)
        log('start-up times done')

    with SoftIoc(monitor_database(cfg.monitors), env=loopback_environ(free_port()),
                 ready_pvs=['bench:m0', 'bench:m%d' % (cfg.monitors - 1)],
                 start_timeout=60) as ioc:
        log('monitor IOC on 127.0.0.1:%d' % ioc.port)
        for rep in range(cfg.monitor_reps):
            for client in clients:
                for layer in MONITOR_LAYERS[client]:
                    figures = run_monitor(exe, client, layer, ioc, cfg)
                    add(client, figures)
                    log('monitor rep %d %-15s %-6s %s' % (rep + 1, client, layer,
                                                         _fmt(figures)))
            for floor in FLOORS:
                figures = run_monitor(exe, floor, 'ca', ioc, cfg)
                add_floor(floor, figures)
                log('monitor rep %d %-15s %-6s %s' % (rep + 1, floor, 'ca', _fmt(figures)))
        loads.append(load_average())

    def medians_of(by_client: dict) -> dict:
        return {c: {k: statistics.median(x for x in v if x is not None)
                    for k, v in figs.items() if any(x is not None for x in v)}
                for c, figs in by_client.items()}

    return {'samples': samples, 'medians': medians_of(samples),
            'floors': medians_of(floor_samples), 'floor_labels': FLOORS,
            'python_startup_ms': python_ms,
            'python_startup_cpu_ms': python_cpu_ms,
            'startup_installed': startup.installed,
            'startup_not_installed_why': startup.why_not_installed,
            'skipped': {c: {str(n): r for n, r in s.items()} for c, s in skipped.items()},
            'load_averages': loads, 'not_measured': not_measured,
            'caget_printed_bytes': len(printed) if printed is not None else None,
            'config': vars(cfg)}


def predicted_over_cap(samples: dict, n: int, cap: float) -> str | None:
    """Why a connect run of n channels is not started, or None to start it.

    The prediction extrapolates the growth between the two counts below n
    (never less than linear): a client whose time per channel grows with
    the count (caproto's does) is stopped before it runs for minutes.
    """
    times = {int(k.split('_')[1]): statistics.median(v) for k, v in samples.items()
             if k.startswith('connect_') and k.endswith('_s') and k.count('_') == 2}
    known = sorted(m for m in times if m < n)
    if not known:
        return None
    m = known[-1]
    exponent = 1.0
    if len(known) > 1 and times[known[-2]] > 0:
        low = known[-2]
        exponent = max(1.0, math.log(times[m] / times[low]) / math.log(m / low))
    predicted = times[m] * (n / m) ** exponent
    if predicted > cap:
        return ('%.0f s predicted from %s channels (cap %.0f s)'
                % (predicted, '{:,}'.format(m), cap))
    return None


def _fmt(figures: dict) -> str:
    return ' '.join('%s=%s' % (k, 'n/a' if v is None else '%.4g' % v)
                    for k, v in figures.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small sizes and one repetition (a smoke test); no report')
    parser.add_argument('--repetitions', type=int, default=None,
                        help='repetitions of the scalar workloads (default 5; scaling and '
                             'monitors: at most 3)')
    parser.add_argument('--clients', default=','.join(CLIENTS),
                        help='comma-separated subset of %s' % ', '.join(CLIENTS))
    parser.add_argument('--json', type=Path, default=None,
                        help='also write the raw samples to this file')
    parser.add_argument('--no-report', action='store_true',
                        help='print the table only; leave docs/ alone')
    parser.add_argument('--report-from', type=Path, default=None, metavar='JSON',
                        help='measure nothing: write the page and charts from a file of --json')
    args = parser.parse_args(argv)
    if args.report_from:
        written = report.write_docs(json.loads(args.report_from.read_text()), ROOT / 'docs')
        log('wrote %s' % ', '.join(str(p.relative_to(ROOT)) for p in written))
        return 0
    clients = [c.strip() for c in args.clients.split(',') if c.strip()]
    unknown = set(clients) - set(CLIENTS)
    if unknown or 'c' not in clients:
        parser.error('clients must include c and come from %s' % ', '.join(CLIENTS))

    cfg = Config(args.quick, args.repetitions)
    started = time.perf_counter()
    # Our own repeater on the run's private port, stopped at the end:
    # otherwise the first client would start caRepeater from PATH and leave
    # it running.
    repeater = start_repeater(shared_repeater_port())
    try:
        data = collect(cfg, clients)
        from . import aio  # the asyncio comparison (CaChannel.aio against aioca)
        data['aio'] = aio.run_in_bench(cfg, log)
    finally:
        stop_process(repeater, 10)
    data['elapsed_s'] = time.perf_counter() - started
    data['environment'] = report.environment()
    data['labels'] = {c: CLIENTS[c] for c in clients}
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    print()
    print(report.text_table(data))
    print()
    print(report.targets_text(data))
    print()
    print(report.floors_text(data))
    print()
    print(aio.text_table(data['aio'], cfg.scalars, cfg.monitors))
    if not (args.quick or args.no_report):
        written = report.write_docs(data, ROOT / 'docs')
        log('wrote %s' % ', '.join(str(p.relative_to(ROOT)) for p in written))
    log('load averages (1 min) at the start and after each phase: %s'
        % ' / '.join(data['load_averages']))
    log('total %.0f s' % data['elapsed_s'])
    return 0
