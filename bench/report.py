"""Turn the benchmark figures into a text table, a bar chart and the docs page."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

#: key, label (with {n} placeholders from the config), unit, better, scale
METRICS = [
    ('connect_s', 'connect + read {scalars:,} scalars', 's', 'lower', 1.0),
    ('roundtrip_us', 'getw round trip', 'µs', 'lower', 1.0),
    ('waveform_MBps', '{wf_mb:.0f} MB DOUBLE waveform into numpy', 'MB/s', 'higher', 1.0),
    ('monitor_cpu_us', 'monitor: CPU per event ({monitors:,} PVs at 10 Hz)', 'µs', 'lower', 1.0),
    ('monitor_delivered', 'monitor: events delivered / sent', '%', 'higher', 100.0),
    ('rss_per_channel', 'memory per channel ({scalars:,} channels)', 'kB', 'lower', 1e-3),
    ('startup_ms', 'start-up: process + import + context', 'ms', 'lower', 1.0),
]

#: targets for our backends: (client, metric, kind, limit, text)
TARGETS = [
    ('cachannel-c', 'connect_s', 'ratio<=', 1.3, 'connect + read: <= 1.3x C'),
    ('cachannel-c', 'roundtrip_us', 'ratio<=', 1.05, 'round trip: <= 1.05x C'),
    ('cachannel-c', 'waveform_MBps', 'ratio>=', 1.0, 'waveform throughput: >= 1.0x C'),
    ('cachannel-c', 'monitor_cpu_us', 'value<=', 5.0, 'monitor: <= 5 µs CPU per event'),
    ('cachannel-c', 'monitor_lost', 'zero', 0, 'monitor: zero lost events'),
    ('cachannel-c', 'rss_per_channel', 'ratio<=', 1.5, 'memory per channel: <= 1.5x C'),
    ('cachannel-cffi', 'monitor_cpu_us', 'value<=', 15.0, 'cffi monitor: <= 15 µs CPU per event'),
]

COLORS = {'c': '#7f7f7f', 'cachannel-c': '#1f5fa8', 'cachannel-cffi': '#6fa8dc',
          'pyepics': '#e69138', 'caproto': '#6aa84f'}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return 'not installed'


def _cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _git_commit() -> str:
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or 'unknown'
    except OSError:
        return 'unknown'


def _gcc_version() -> str:
    try:
        out = subprocess.run(['gcc', '-dumpfullversion'], capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return 'unknown'


def environment() -> dict:
    import psutil
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'machine': '%s, %d cores (%d logical), %.1f GB RAM' % (
            _cpu_model(), psutil.cpu_count(logical=False) or 0, psutil.cpu_count() or 0,
            psutil.virtual_memory().total / 2**30),
        'os': platform.platform(),
        'python': platform.python_version(),
        'versions': {
            'CaChannel': '%s (git %s)' % (_version('CaChannel'), _git_commit()),
            'epicscorelibs (EPICS base, libca)': _version('epicscorelibs'),
            'pyepics': _version('pyepics'),
            'caproto': _version('caproto'),
            'numpy': _version('numpy'),
            'cffi': _version('cffi'),
            'gcc': _gcc_version(),
        },
    }


# --- figures -------------------------------------------------------------------

def _labels(cfg: dict) -> dict:
    fields = dict(cfg, wf_mb=cfg['wf_count'] * 8 / 1e6)
    return {key: label.format(**fields) for key, label, *_ in METRICS}


def ratio(data: dict, client: str, key: str) -> float | None:
    med = data['medians']
    ref = med['c'].get(key)
    value = med[client].get(key)
    if ref in (None, 0) or value is None:
        return None
    return value / ref


def _fmt_value(value: float | None, scale: float) -> str:
    if value is None:
        return 'n/a'
    value *= scale
    if value >= 100:
        return '%.0f' % value
    if value >= 10:
        return '%.1f' % value
    return '%.3g' % value


def rows(data: dict) -> list[list[str]]:
    """Header plus one row per metric: value (ratio to C) per client."""
    clients = list(data['labels'])
    labels = _labels(data['config'])
    header = ['workload', 'unit', 'better'] + [data['labels'][c] for c in clients]
    table = [header]
    for key, _, unit, better, scale in METRICS:
        row = [labels[key], unit, better]
        for client in clients:
            value = data['medians'][client].get(key)
            cell = _fmt_value(value, scale)
            r = ratio(data, client, key)
            if client != 'c' and r is not None:
                cell += ' (%.2fx)' % r
            row.append(cell)
        table.append(row)
    return table


def text_table(data: dict) -> str:
    table = rows(data)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)) for row in table]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def target_results(data: dict) -> list[tuple[str, bool, str]]:
    """(text, met, evidence) for each target whose client was measured."""
    results = []
    for client, key, kind, limit, text in TARGETS:
        if client not in data['medians']:
            continue
        if kind == 'zero':
            lost = sum(data['samples'][client].get(key, []))
            results.append((text, lost == 0, '%d lost in all repetitions' % lost))
        elif kind == 'value<=':
            value = data['medians'][client][key]
            results.append((text, value <= limit, '%.2f µs' % value))
        else:
            r = ratio(data, client, key)
            met = r is not None and (r <= limit if kind == 'ratio<=' else r >= limit)
            results.append((text, met, '%.2fx' % r if r is not None else 'n/a'))
    return results


def targets_text(data: dict) -> str:
    return '\n'.join('%-4s %s: %s' % ('met' if met else 'NOT', text, evidence)
                     for text, met, evidence in target_results(data))


# --- chart ---------------------------------------------------------------------

def write_chart(data: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clients = list(data['labels'])
    labels = _labels(data['config'])
    fig, axes = plt.subplots(4, 2, figsize=(12, 13))
    axes = axes.ravel()
    order = list(reversed(clients))  # C at the top of each panel
    for ax, (key, _, unit, better, scale) in zip(axes, METRICS):
        percent = key == 'monitor_delivered'
        values = []
        for client in order:
            if percent:
                values.append(data['medians'][client].get(key, 0.0) * 100.0)
            else:
                values.append(ratio(data, client, key) or 0.0)
        # Ratios spanning more than ~20x (caproto's connect, pyepics'
        # monitor) would flatten the rest: those panels use a log scale.
        log_scale = not percent and max(values) > 20 * max(min(values), 1e-9)
        left = 0.5 * min(values) if log_scale else 0.0
        left = min(left, 0.5) if log_scale else 0.0
        bars = ax.barh(range(len(order)), [v - left for v in values], left=left,
                       color=[COLORS[c] for c in order])
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([data['labels'][c] for c in order], fontsize=9)
        title = labels[key]
        if percent:
            ax.set_xlim(0, 118)
            ax.set_xlabel('% of events the IOC posted (higher is better)', fontsize=9)
        else:
            ax.axvline(1.0, color='black', linewidth=0.8)
            ax.set_xlabel('times the C program (%s is better)' % better, fontsize=9)
            if log_scale:
                ax.set_xscale('log')
                ax.set_xlim(left, max(values) * 12)
                ax.xaxis.set_major_formatter(
                    matplotlib.ticker.FuncFormatter(lambda x, _: '%gx' % x))
            else:
                ax.set_xlim(0, max(values) * 1.4)
        ax.set_title(title, fontsize=11, fontweight='bold', loc='left')
        for bar, client, shown in zip(bars, order, values):
            raw = _fmt_value(data['medians'][client].get(key), scale)
            text = '%s %s' % (raw, unit) if percent else '%.2fx  (%s %s)' % (shown, raw, unit)
            ax.text(bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2, ' ' + text,
                    va='center', fontsize=8.5)
        ax.spines['top'].set_visible(False)
        ax.spines['right'].set_visible(False)
        ax.tick_params(axis='x', labelsize=8)
    env = data['environment']
    info = axes[len(METRICS)]
    info.axis('off')
    cpu, _, rest = env['machine'].partition(', ')
    lines = ['Medians of %d repetitions (start-up: %d)' % (data['config']['repetitions'],
                                                           data['config']['start_reps']),
             'each client in its own process,', 'softIocs on 127.0.0.1', '',
             cpu, rest, env['os'], 'Python %s' % env['python']]
    lines += ['%s %s' % item for item in env['versions'].items()]
    lines += ['', env['date']]
    info.text(0.0, 1.0, '\n'.join(lines), va='top', fontsize=8.5, family='monospace',
              transform=info.transAxes)
    fig.suptitle('CaChannel performance: ratio to the same work in C on libca',
                 fontsize=14, fontweight='bold')
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --- docs page -----------------------------------------------------------------

def _rst_table(table: list[list[str]]) -> str:
    out = ['.. list-table::', '   :header-rows: 1', '']
    for row in table:
        out.append('   * - ' + row[0])
        out.extend('     - ' + cell for cell in row[1:])
    return '\n'.join(out)


def write_docs(data: dict, docs: Path) -> tuple[Path, Path]:
    png = docs / '_static' / 'performance.png'
    write_chart(data, png)
    rst = docs / 'performance.rst'
    rst.write_text(render_rst(data))
    return rst, png


def render_rst(data: dict) -> str:
    cfg = data['config']
    env = data['environment']
    med = data['medians']
    targets = '\n'.join('* %s %s (%s)' % ('**met**:' if met else '**not met**:', text, ev)
                        for text, met, ev in target_results(data))
    versions = '\n'.join('* %s: %s' % item for item in env['versions'].items())
    monitor_rate = med['c'].get('monitor_sent_rate', 0.0)
    return f'''.. This page is generated by ``python -m bench``; edit bench/report.py instead.

Performance
===========

How fast is CaChannel next to the same work written in C directly on libca,
and next to the other Python clients, pyepics and caproto's threading client?
One command, run from a clone of the repository, measures all of them on one
machine, one after the other, and rewrites this page and its chart:

.. code-block:: sh

   python -m pip install -e '.[bench]' && python -m bench

It takes about {data['elapsed_s'] / 60:.0f} minutes on the machine below.
Every IOC and client stays on 127.0.0.1
(``CaChannel.testing.loopback_environ``).

.. image:: _static/performance.png
   :alt: bar chart of each client's figures as ratios to the C program

Results
-------

Medians of {cfg['repetitions']} repetitions (start-up: {cfg['start_reps']}); in
brackets the ratio to the C program measured in the same run. For
throughput and delivered events higher is better, for everything else lower.

{_rst_table(rows(data))}

Targets for our backends
------------------------

{targets}

What is measured
----------------

Each client runs in a fresh process per repetition with the same environment,
against a softIoc (``CaChannel.testing.SoftIoc``) serving a generated
database; each uses its fastest documented idiom.

* **C on libca**: ``bench/cbench.c``, compiled by the runner with gcc
  against the epicscorelibs headers and libraries; the reference every ratio
  is taken against.
* **CaChannel**: the documented recipe "Connect Multiple Channels And Get
  Values" (``search`` on every channel, ``pend_io``, ``array_get`` on every
  channel, ``pend_io``, ``getValue``), ``getw()`` for the round trip and
  ``getw(use_numpy=True)`` for the waveform; monitors through ``CaChannel.ca``
  (``create_subscription``), the layer whose speed the backends decide. The
  backend is picked with ``CACHANNEL_BACKEND``.
* **pyepics**: the ``epics.ca`` recipe for connecting to a large number of
  PVs (``create_channel(connect=False, auto_cb=False)``, ``connect_channel``,
  ``get(wait=False)``, ``poll``, ``get_complete``), ``ca.get`` for the round
  trip and the waveform (``as_numpy=True``), ``ca.create_subscription`` for
  monitors.
* **caproto**: ``Context.get_pvs`` then one ``Batch`` of reads, ``PV.read()``
  for the round trip and the waveform, ``PV.subscribe`` with one callback for
  monitors.

The workloads:

* **connect + read**: {cfg['scalars']:,} ``ao`` records, from the first
  channel creation to all values in hand, the CA context already created.
* **round trip**: {cfg['rt_calls']:,} sequential reads of one DOUBLE, each
  waiting for its answer.
* **waveform**: a {cfg['wf_count']:,}-element DOUBLE waveform
  ({cfg['wf_count'] * 8 / 1e6:.0f} MB) read {cfg['wf_reps']} times per process;
  MB/s of the median read.
* **monitor**: {cfg['monitors']:,} ``calc`` records that add one to
  themselves at 10 Hz (the IOC posted {monitor_rate:,.0f} events/s during
  the C program's run); each client subscribes to all of them with a callback
  that notes the value and counts the event. After {cfg['monitor_warmup']:g} s
  of warm-up, {cfg['monitor_window']:g} s are measured: process CPU time (all
  threads) per delivered event, and delivered events against those the IOC
  posted (a gap in a counter's values is a lost event).
* **memory per channel**: the resident set size the connect + read workload
  added, divided by the number of channels (values and channel objects
  included).
* **start-up**: wall time of a new process that loads the library and
  creates a CA context (for Python: interpreter start, import, context; a
  bare ``python -c pass`` takes {data['python_startup_ms']:.0f} ms here).

Machine and versions
--------------------

* run: {env['date']}, {data['elapsed_s']:.0f} s in all
* machine: {env['machine']}
* OS: {env['os']}
* Python {env['python']}
{versions}
'''
