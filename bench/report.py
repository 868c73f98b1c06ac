"""Turn the benchmark figures into a text table, a bar chart and the docs page."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path

#: key, label (with {n} placeholders from the config), unit, better, scale
METRICS = [
    ('connect_{scalars}_s', 'connect + read {scalars:,} scalars', 's', 'lower', 1.0),
    ('connect_{n_max}_s', 'connect + read {n_max:,} scalars', 's', 'lower', 1.0),
    ('connect_cpu_{scalars}_s', 'connect + read {scalars:,}: process CPU time', 's', 'lower',
     1.0),
    ('connect_cpu_{n_max}_s', 'connect + read {n_max:,}: process CPU time', 's', 'lower', 1.0),
    ('roundtrip_us', 'getw round trip', 'µs', 'lower', 1.0),
    ('waveform_steady_MBps', '{wf_mb:.0f} MB waveform, steady state (median of {wf_reads})',
     'MB/s', 'higher', 1.0),
    ('waveform_first_MBps', '{wf_mb:.0f} MB waveform, first read of a process', 'MB/s',
     'higher', 1.0),
    ('monitor_cpu_us', 'monitor, object layer: CPU per event ({monitors:,} PVs at 10 Hz)', 'µs',
     'lower', 1.0),
    ('monitor_ca_cpu_us', 'monitor, ca layer: CPU per event', 'µs', 'lower', 1.0),
    ('monitor_delivered', 'monitor, object layer: events delivered / sent', '%', 'higher',
     100.0),
    ('rss_{scalars}', 'memory per channel ({scalars:,} channels)', 'kB', 'lower', 1e-3),
    ('rss_{n_max}', 'memory per channel ({n_max:,} channels)', 'kB', 'lower', 1e-3),
    ('startup_ms', 'start-up: process + import + context', 'ms', 'lower', 1.0),
    ('startup_cpu_ms', 'start-up: process CPU time', 'ms', 'lower', 1.0),
]

#: targets for our backends: (client, metric, kind, limit, text)
TARGETS = [
    ('cachannel-c', 'connect_{scalars}_s', 'ratio<=', 1.2,
     'connect + read {scalars:,}: <= 1.2x C'),
    ('cachannel-c', 'connect_{n_max}_s', 'ratio<=', 1.2, 'connect + read {n_max:,}: <= 1.2x C'),
    ('cachannel-c', 'roundtrip_us', 'ratio<=', 1.05, 'round trip: <= 1.05x C'),
    ('cachannel-c', 'waveform_steady_MBps', 'ratio>=', 1.0, 'waveform steady state: >= 1.0x C'),
    ('cachannel-c', 'waveform_first_MBps', 'ratio>=', 0.9, 'waveform first read: >= 0.9x C'),
    ('cachannel-c', 'monitor_cpu_us', 'value<=', 2.0,
     'monitor through add_masked_array_event(DBR_TIME_DOUBLE): <= 2 µs CPU per event'),
    ('cachannel-cffi', 'monitor_cpu_us', 'value<=', 6.0,
     'cffi monitor through add_masked_array_event(DBR_TIME_DOUBLE): <= 6 µs CPU per event'),
    ('cachannel-c', 'monitor_ca_cpu_us', 'ratio<=', 2.0, 'monitor at the ca layer: <= 2x C'),
    ('cachannel-c', 'monitor_lost', 'zero', 0, 'monitor, object layer: zero lost events'),
    ('cachannel-cffi', 'monitor_lost', 'zero', 0, 'cffi monitor, object layer: zero lost events'),
    ('cachannel-c', 'monitor_ca_lost', 'zero', 0, 'monitor, ca layer: zero lost events'),
    ('cachannel-cffi', 'monitor_ca_lost', 'zero', 0, 'cffi monitor, ca layer: zero lost events'),
    ('cachannel-c', 'rss_{scalars}', 'ratio<=', 1.5,
     'memory per channel at {scalars:,}: <= 1.5x C'),
    ('cachannel-c', 'startup_ms', 'value<=', 30.0, 'start-up: <= 30 ms'),
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

def _fields(cfg: dict) -> dict:
    return dict(cfg, wf_mb=cfg['wf_count'] * 8 / 1e6, n_max=max(cfg['scale_counts']))


def metrics(cfg: dict) -> list[tuple[str, str, str, str, float]]:
    """METRICS with the config's numbers filled into keys and labels."""
    fields = _fields(cfg)
    return [(key.format(**fields), label.format(**fields), unit, better, scale)
            for key, label, unit, better, scale in METRICS]


def targets(cfg: dict) -> list[tuple[str, str, str, float, str]]:
    fields = _fields(cfg)
    return [(client, key.format(**fields), kind, limit, text.format(**fields))
            for client, key, kind, limit, text in TARGETS]


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
    header = ['workload', 'unit', 'better'] + [data['labels'][c] for c in clients]
    table = [header]
    for key, label, unit, better, scale in metrics(data['config']):
        row = [label, unit, better]
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
    for client, key, kind, limit, text in targets(data['config']):
        if client not in data['medians']:
            continue
        if kind == 'zero':
            lost = sum(data['samples'][client].get(key, []))
            results.append((text, lost == 0, '%d lost in all repetitions' % lost))
        elif kind == 'value<=':
            value = data['medians'][client].get(key)
            unit = next(u for k, _, u, *_ in metrics(data['config']) if k == key)
            met = value is not None and value <= limit
            results.append((text, met, '%.3g %s' % (value, unit) if value is not None
                            else 'n/a'))
        else:
            r = ratio(data, client, key)
            met = r is not None and (r <= limit if kind == 'ratio<=' else r >= limit)
            results.append((text, met, '%.2fx' % r if r is not None else 'n/a'))
    return results


def targets_text(data: dict) -> str:
    return '\n'.join('%-4s %s: %s' % ('met' if met else 'NOT', text, evidence)
                     for text, met, evidence in target_results(data))


# --- chart ---------------------------------------------------------------------

def _info_lines(data: dict) -> list[str]:
    env = data['environment']
    cfg = data['config']
    cpu, _, rest = env['machine'].partition(', ')
    lines = ['Medians of %d repetitions' % cfg['repetitions'],
             '(scaling %d, monitors %d, start-up %d)' % (
                 cfg['scale_reps'], cfg['monitor_reps'], cfg['start_reps']),
             'each client in its own process,', 'softIocs on 127.0.0.1',
             'load (1 min) %s' % ' / '.join(data.get('load_averages', [])), '',
             cpu, rest, env['os'], 'Python %s' % env['python']]
    lines += ['%s %s' % item for item in env['versions'].items()]
    lines += ['', env['date']]
    return lines


def write_chart(data: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    clients = list(data['labels'])
    table_metrics = metrics(data['config'])
    rows_n = (len(table_metrics) + 2) // 2
    fig, axes = plt.subplots(rows_n, 2, figsize=(12, 3.1 * rows_n + 0.6))
    axes = axes.ravel()
    order = list(reversed(clients))  # C at the top of each panel
    for ax, (key, title, unit, better, scale) in zip(axes, table_metrics):
        percent = key == 'monitor_delivered'
        shown = [c for c in order if data['medians'][c].get(key) is not None]
        values = []
        for client in shown:
            if percent:
                values.append(data['medians'][client][key] * 100.0)
            else:
                values.append(ratio(data, client, key) or 0.0)
        if not values:
            ax.axis('off')
            continue
        # Ratios spanning more than ~20x (caproto's connect, pyepics'
        # monitor) would flatten the rest: those panels use a log scale.
        log_scale = not percent and max(values) > 20 * max(min(values), 1e-9)
        left = min(0.5 * min(values), 0.5) if log_scale else 0.0
        bars = ax.barh(range(len(shown)), [v - left for v in values], left=left,
                       color=[COLORS[c] for c in shown])
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels([data['labels'][c] for c in shown], fontsize=9)
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
                ax.set_xlim(0, max(values) * 1.45)
        ax.set_title(title, fontsize=10.5, fontweight='bold', loc='left')
        for bar, client, value in zip(bars, shown, values):
            raw = _fmt_value(data['medians'][client].get(key), scale)
            text = '%s %s' % (raw, unit) if percent else '%.2fx  (%s %s)' % (value, raw, unit)
            ax.text(bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2, ' ' + text,
                    va='center', fontsize=8.5)
        ax.spines['top'].set_visible(False)
        ax.spines['right'].set_visible(False)
        ax.tick_params(axis='x', labelsize=8)
    for ax in axes[len(table_metrics) + 1:]:
        ax.axis('off')
    info = axes[len(table_metrics)]
    info.axis('off')
    info.text(0.0, 1.0, '\n'.join(_info_lines(data)), va='top', fontsize=8,
              family='monospace', transform=info.transAxes)
    fig.suptitle('CaChannel performance: ratio to the same work in C on libca',
                 fontsize=14, fontweight='bold')
    fig.tight_layout(rect=(0, 0, 1, 0.975))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scaling_points(data: dict, client: str, per: str) -> list[tuple[int, float]]:
    """(count, µs per channel or bytes per channel) for the counts measured."""
    points = []
    for n in data['config']['scale_counts']:
        key = ('connect_%d_s' if per == 'time' else 'rss_%d') % n
        value = data['medians'][client].get(key)
        if value is not None:
            points.append((n, value * 1e6 / n if per == 'time' else value / 1e3))
    return points


def write_scaling_chart(data: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, per, ylabel in ((left, 'time', 'µs per channel (connect + read)'),
                            (right, 'memory', 'kB per channel (resident memory)')):
        for client, label in data['labels'].items():
            points = scaling_points(data, client, per)
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker='o', color=COLORS[client], label=label,
                    linewidth=2.2 if client.startswith('cachannel') else 1.4)
            skipped = data.get('skipped', {}).get(client, {})
            for n in skipped:
                ax.annotate('%s: no run at %s' % (label, '{:,}'.format(int(n))),
                            xy=(xs[-1], ys[-1]), xytext=(6, -10),
                            textcoords='offset points', fontsize=7.5, color=COLORS[client])
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(data['config']['scale_counts'])
        ax.set_xticklabels(['{:,}'.format(n) for n in data['config']['scale_counts']])
        ax.set_xlabel('channels')
        ax.set_ylabel(ylabel)
        ax.grid(True, which='major', alpha=0.3)
        ax.spines['top'].set_visible(False)
        ax.spines['right'].set_visible(False)
    left.set_title('Time per channel: flat is linear scaling', fontsize=11,
                   fontweight='bold', loc='left')
    right.set_title('Memory per channel', fontsize=11, fontweight='bold', loc='left')
    left.legend(fontsize=8.5, frameon=False)
    fig.suptitle('Connect + read N scalars (medians of %d; lower is better)'
                 % data['config']['scale_reps'], fontsize=13, fontweight='bold')
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def scaling_table(data: dict) -> list[list[str]]:
    """µs per channel at each count, per client; skipped runs say why."""
    clients = list(data['labels'])
    table = [['channels'] + [data['labels'][c] for c in clients]]
    for n in data['config']['scale_counts']:
        row = ['{:,}'.format(n)]
        for client in clients:
            seconds = data['medians'][client].get('connect_%d_s' % n)
            if seconds is None:
                reason = data.get('skipped', {}).get(client, {}).get(str(n), 'not run')
                row.append('not run: ' + reason)
                continue
            cell = '%.1f µs' % (seconds * 1e6 / n)
            r = ratio(data, client, 'connect_%d_s' % n)
            if client != 'c' and r is not None:
                cell += ' (%.2fx)' % r
            row.append(cell)
        table.append(row)
    return table


# --- docs page -----------------------------------------------------------------

def _rst_table(table: list[list[str]]) -> str:
    out = ['.. list-table::', '   :header-rows: 1', '']
    for row in table:
        out.append('   * - ' + row[0])
        out.extend('     - ' + cell for cell in row[1:])
    return '\n'.join(out)


def write_docs(data: dict, docs: Path) -> tuple[Path, Path, Path]:
    png = docs / '_static' / 'performance.png'
    scaling = docs / '_static' / 'scaling.png'
    write_chart(data, png)
    write_scaling_chart(data, scaling)
    rst = docs / 'performance.rst'
    rst.write_text(render_rst(data))
    return rst, png, scaling


def render_rst(data: dict) -> str:
    cfg = data['config']
    fields = _fields(cfg)
    env = data['environment']
    med = data['medians']
    target_lines = '\n'.join('* %s %s (%s)' % ('**met**:' if met else '**not met**:', text, ev)
                              for text, met, ev in target_results(data))
    versions = '\n'.join('* %s: %s' % item for item in env['versions'].items())
    monitor_rate = med['c'].get('monitor_sent_rate', 0.0)
    loads = ' / '.join(data.get('load_averages', [])) or 'n/a'
    counts = ', '.join('{:,}'.format(n) for n in cfg['scale_counts'])
    return f'''.. This page is generated by ``python -m bench``; edit bench/report.py instead.

Performance
===========

How fast is CaChannel next to the same work written in C directly on libca,
and next to the other Python clients, pyepics and caproto's threading client?
One command, run from a clone of the repository, measures all of them on one
machine, one after the other, and rewrites this page and its charts:

.. code-block:: sh

   python -m pip install -e '.[bench]' && python -m bench

It took {data['elapsed_s'] / 60:.1f} minutes on the machine below.
Every IOC and client stays on 127.0.0.1
(``CaChannel.testing.loopback_environ``).

.. image:: _static/performance.png
   :alt: bar chart of each client's figures as ratios to the C program

Results
-------

Medians of {cfg['repetitions']} repetitions (scaling {cfg['scale_reps']},
monitors {cfg['monitor_reps']}, start-up {cfg['start_reps']}); in brackets
the ratio to the C program measured in the same run. For throughput and
delivered events higher is better, for everything else lower. The machine
was shared while this ran (1-minute load averages {loads} at the start
and after each phase), so wall-clock figures carry some noise; monitor figures are
process CPU time.

{_rst_table(rows(data))}

Scaling
-------

Connect + read {counts} channels, each count in fresh processes: the time
per channel should stay flat as the count grows.

.. image:: _static/scaling.png
   :alt: time and memory per channel against the number of channels

{_rst_table(scaling_table(data))}

Targets for our backends
------------------------

{target_lines}

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
  ``getw(use_numpy=True)`` for the waveform; monitors as the documentation
  shows them, ``CaChannel.add_masked_array_event(ca.DBR_TIME_DOUBLE, None,
  None, callback, i)`` with a ``callback(epics_args, user_args)``, and, for
  the ca-layer row, ``ca.create_subscription(chid, callback, ca.DBR_DOUBLE)``.
  The backend is picked with ``CACHANNEL_BACKEND``.
* **pyepics**: the ``epics.ca`` recipe for connecting to a large number of
  PVs (``create_channel(connect=False, auto_cb=False)``, ``connect_channel``,
  ``get(wait=False)``, ``poll``, ``get_complete``), ``ca.get`` for the round
  trip and the waveform (``as_numpy=True``); monitors through
  ``epics.PV(name, callback=...)`` (object layer) and
  ``ca.create_subscription`` (ca layer).
* **caproto**: ``Context.get_pvs`` then one ``Batch`` of reads, ``PV.read()``
  for the round trip and the waveform, ``PV.subscribe`` with one callback for
  monitors (caproto has one API: it appears in the object-layer rows).

The workloads:

* **connect + read**: {cfg['scalars']:,} (and, for the scaling, {counts})
  ``ao`` records, from the first channel creation to all values in hand, the
  CA context already created: wall time, and the process CPU time (all
  threads) over the same span, which a busy machine disturbs less. One
  softIoc serves all {fields['n_max']:,} records. A client whose time at
  the counts before predicts more than {cfg['time_cap']:.0f} s at the next
  is not run there.
* **round trip**: {cfg['rt_calls']:,} sequential reads of one DOUBLE, each
  waiting for its answer.
* **waveform**: a {cfg['wf_count']:,}-element DOUBLE waveform
  ({fields['wf_mb']:.0f} MB). *Steady state*: the median of
  {cfg['wf_reads']} reads in a loop that keeps the previous array
  (``v = chan.getw(...)``), against C reading into one warm buffer.
  *First read*: the first read of a fresh process (numpy already imported,
  as a script asking for numpy arrays has it), against C reading into a
  buffer ``malloc`` has just returned, whose pages the read faults in.
* **monitor**: {cfg['monitors']:,} ``calc`` records that add one to
  themselves at 10 Hz (the IOC posted {monitor_rate:,.0f} events/s during
  the C program's run); each client subscribes to all of them with a callback
  that notes the value and counts the event. After {cfg['monitor_warmup']:g} s
  of warm-up, {cfg['monitor_window']:g} s are measured: process CPU time (all
  threads) per delivered event, and delivered events against those the IOC
  posted (a gap in a counter's values is a lost event). The C program asks
  for ``DBR_TIME_DOUBLE`` in the object-layer row and ``DBR_DOUBLE`` in the
  ca-layer row, what each layer delivers.
* **memory per channel**: the resident set size the connect + read workload
  added, divided by the number of channels (values and channel objects
  included).
* **start-up**: wall and CPU time of a new process that loads the library
  and creates a CA context (for Python: interpreter start, import, context;
  a bare ``python -c pass`` takes {data['python_startup_ms']:.0f} ms here,
  {data.get('python_startup_cpu_ms', 0.0):.0f} ms of CPU, the editable
  install's import hook included). Our sources are byte-compiled first, as
  an installation has them.

Machine and versions
--------------------

* run: {env['date']}, {data['elapsed_s']:.0f} s in all
* machine: {env['machine']}
* OS: {env['os']}
* Python {env['python']}
{versions}
'''
