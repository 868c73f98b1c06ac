"""Turn the benchmark figures into a text table, a bar chart and the docs page."""

from __future__ import annotations

import datetime
import math
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: key, table label, chart title (both with {n} placeholders from the
#: config), unit, better, scale.  Chart titles stay short enough for a
#: panel of the two-column chart.
METRICS = [
    ('connect_{scalars}_s', 'connect + read {scalars:,} scalars',
     'connect + read {scalars:,} channels', 's', 'lower', 1.0),
    ('connect_{n_max}_s', 'connect + read {n_max:,} scalars',
     'connect + read {n_max:,} channels', 's', 'lower', 1.0),
    ('connect_cpu_{scalars}_s', 'connect + read {scalars:,}: process CPU time',
     'connect + read {scalars:,}: CPU time', 's', 'lower', 1.0),
    ('connect_cpu_{n_max}_s', 'connect + read {n_max:,}: process CPU time',
     'connect + read {n_max:,}: CPU time', 's', 'lower', 1.0),
    ('roundtrip_us', 'getw round trip', 'round trip (one getw)', 'µs', 'lower', 1.0),
    ('waveform_steady_MBps', '{wf_mb:.0f} MB waveform, steady state (median of {wf_reads})',
     '{wf_mb:.0f} MB waveform, repeated reads', 'MB/s', 'higher', 1.0),
    ('waveform_first_MBps', '{wf_mb:.0f} MB waveform, first read of a process',
     '{wf_mb:.0f} MB waveform, first read', 'MB/s', 'higher', 1.0),
    ('monitor_cpu_us', 'monitor, object layer: CPU per event ({monitors:,} PVs at 10 Hz)',
     'monitor, object layer: CPU per event', 'µs', 'lower', 1.0),
    ('monitor_ca_cpu_us', 'monitor, ca layer: CPU per event',
     'monitor, ca layer: CPU per event', 'µs', 'lower', 1.0),
    ('monitor_delivered', 'monitor, object layer: events delivered / sent',
     'monitor: events delivered', '%', 'higher', 100.0),
    ('rss_{scalars}', 'memory per channel ({scalars:,} channels)',
     'memory per channel ({scalars:,})', 'kB', 'lower', 1e-3),
    ('rss_{n_max}', 'memory per channel ({n_max:,} channels)',
     'memory per channel ({n_max:,})', 'kB', 'lower', 1e-3),
    ('startup_ms', 'start-up: process + import + context',
     'start-up: process + import + context', 'ms', 'lower', 1.0),
    ('startup_cpu_ms', 'start-up: process CPU time', 'start-up: CPU time', 'ms', 'lower', 1.0),
    ('caget_wf_s', 'caget of a {wf_count:,}-element waveform (console tool; C: base\'s caget)',
     'caget of a {wf_count:,}-element waveform', 's', 'lower', 1.0),
]

#: Metrics whose figures are no ratio to C worth a chart panel (every
#: client delivers all events): the table shows them.
TABLE_ONLY = ('monitor_delivered',)

#: The project's targets for our backends, which ``python -m bench`` checks
#: on the console (not on the page): (client, metric, kind, limit, text)
TARGETS = [
    # Performance, round three (connect, memory, monitors, waveform, start-up).
    ('cachannel-c', 'connect_{scalars}_s', 'ratio<=', 1.15,
     'connect + read {scalars:,}: <= 1.15x C'),
    ('cachannel-c', 'connect_{n_max}_s', 'ratio<=', 1.2, 'connect + read {n_max:,}: <= 1.2x C'),
    ('cachannel-cffi', 'connect_{scalars}_s', 'ratio<=', 3.0,
     'cffi connect + read {scalars:,}: <= 3x C'),
    ('cachannel-cffi', 'connect_{n_max}_s', 'ratio<=', 3.0,
     'cffi connect + read {n_max:,}: <= 3x C'),
    ('cachannel-c', 'rss_{scalars}', 'ratio<=', 1.5,
     'memory per channel at {scalars:,}: <= 1.5x C'),
    ('cachannel-c', 'rss_{n_max}', 'ratio<=', 1.5,
     'memory per channel at {n_max:,}: <= 1.5x C'),
    ('cachannel-cffi', 'rss_{scalars}', 'ratio<=', 3.0,
     'cffi memory per channel at {scalars:,}: <= 3x C'),
    ('cachannel-cffi', 'rss_{n_max}', 'ratio<=', 3.0,
     'cffi memory per channel at {n_max:,}: <= 3x C'),
    ('cachannel-c', 'monitor_ca_cpu_us', 'ratio<=', 2.0, 'monitor at the ca layer: <= 2x C'),
    ('cachannel-cffi', 'monitor_ca_cpu_us', 'ratio<=', 6.0,
     'cffi monitor at the ca layer: <= 6x C'),
    ('cachannel-c', 'monitor_cpu_us', 'value<=', 1.5,
     'monitor through add_masked_array_event(DBR_TIME_DOUBLE): <= 1.5 µs CPU per event'),
    ('cachannel-cffi', 'monitor_cpu_us', 'value<=', 4.0,
     'cffi monitor through add_masked_array_event(DBR_TIME_DOUBLE): <= 4 µs CPU per event'),
    ('cachannel-c', 'waveform_steady_MBps', 'ratio>=', 1.0, 'waveform steady state: >= 1.0x C'),
    ('cachannel-cffi', 'waveform_steady_MBps', 'ratio>=', 0.8,
     'cffi waveform steady state: >= 0.8x C'),
    ('cachannel-c', 'startup_ms', 'value<=', 25.0, 'start-up: <= 25 ms'),
    ('cachannel-cffi', 'startup_ms', 'value<=', 80.0, 'cffi start-up: <= 80 ms'),
    # Kept from the earlier rounds.
    ('cachannel-c', 'roundtrip_us', 'ratio<=', 1.05, 'round trip: <= 1.05x C'),
    ('cachannel-c', 'waveform_first_MBps', 'ratio>=', 0.9, 'waveform first read: >= 0.9x C'),
    ('cachannel-c', 'monitor_lost', 'zero', 0, 'monitor, object layer: zero lost events'),
    ('cachannel-cffi', 'monitor_lost', 'zero', 0, 'cffi monitor, object layer: zero lost events'),
    ('cachannel-c', 'monitor_ca_lost', 'zero', 0, 'monitor, ca layer: zero lost events'),
    ('cachannel-cffi', 'monitor_ca_lost', 'zero', 0, 'cffi monitor, ca layer: zero lost events'),
    ('cachannel-c', 'caget_wf_s', 'ratio<=', 1.5,
     'caget of a {wf_count:,}-element waveform: <= 1.5x base\'s caget'),
    ('cachannel-cffi', 'caget_wf_s', 'ratio<=', 1.5,
     'cffi caget of a {wf_count:,}-element waveform: <= 1.5x base\'s caget'),
]

COLORS = {'c': '#7f7f7f', 'cachannel-c': '#1f5fa8', 'cachannel-cffi': '#6fa8dc',
          'pyepics': '#e69138', 'caproto': '#6aa84f',
          # the asyncio chart's clients (bench.aio.CLIENTS and its sync reference)
          'aioca': '#8e7cc3', 'aio-c': '#1f5fa8', 'aio-cffi': '#6fa8dc', 'sync-c': '#0b2e59'}


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
            'aioca': _version('aioca'),
            'numpy': _version('numpy'),
            'cffi': _version('cffi'),
            'gcc': _gcc_version(),
        },
    }


# --- figures -------------------------------------------------------------------

def _fields(cfg: dict) -> dict:
    return dict(cfg, wf_mb=cfg['wf_count'] * 8 / 1e6, n_max=max(cfg['scale_counts']))


def metrics(cfg: dict) -> list[tuple[str, str, str, str, float]]:
    """METRICS with the config's numbers filled into keys and table labels."""
    fields = _fields(cfg)
    return [(key.format(**fields), label.format(**fields), unit, better, scale)
            for key, label, _, unit, better, scale in METRICS]


def chart_titles(cfg: dict) -> dict[str, str]:
    """Metric key -> its chart panel's title."""
    fields = _fields(cfg)
    return {key.format(**fields): title.format(**fields) for key, _, title, *_ in METRICS}


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


def _aligned(table: list[list[str]]) -> str:
    """A header row, a rule, the rows: columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths)) for row in table]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def text_table(data: dict) -> str:
    return _aligned(rows(data))


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


def floor_rows(data: dict) -> list[list[str]]:
    """The floors beside C and our backends, on the metrics the floors have.

    "C + script" adds the script floor to the C program's figure: what an
    object layer costs at the least on top of libca in C, whatever the
    client does inside (for wall time an upper bound of that least: the
    script's own work and the network's waiting may overlap).
    """
    floors = data.get('floors') or {}
    if not floors:
        return []
    med = data['medians']
    ours = [c for c in ('cachannel-c', 'cachannel-cffi') if c in med]
    header = (['workload', 'unit', 'C'] + list(floors) + ['C + script']
              + [data['labels'][c] for c in ours])
    table = [header]
    for key, label, unit, _, scale in metrics(data['config']):
        if not any(key in figures for figures in floors.values()):
            continue
        ref = med['c'].get(key)

        def cell(value: float | None) -> str:
            text = _fmt_value(value, scale)
            if value is not None and ref:
                text += ' (%.2fx)' % (value / ref)
            return text
        row = [label, unit, _fmt_value(ref, scale)]
        row += [cell(floors[f].get(key)) for f in floors]
        script = floors.get('script-floor', {}).get(key)
        row.append(cell(ref + script) if ref is not None and script is not None else 'n/a')
        row += [cell(med[c].get(key)) for c in ours]
        table.append(row)
    return table


def floors_text(data: dict) -> str:
    table = floor_rows(data)
    if not table:
        return 'floors: not measured in this run'
    labels = data.get('floor_labels', {})
    return '\n'.join(['floors (bench/floors.py): ratios to C in brackets'] +
                     ['  %s: %s' % item for item in labels.items()] + ['', _aligned(table)])


# --- chart ---------------------------------------------------------------------

#: How the chart names a client where the metric's C program is someone else's.
CLIENT_LABELS = {'caget_wf_s': {'c': "EPICS base's caget"}}


def _client_label(data: dict, key: str, client: str) -> str:
    return CLIENT_LABELS.get(key, {}).get(client, data['labels'][client])


def _info_lines(data: dict) -> list[str]:
    env = data['environment']
    cfg = data['config']
    cpu, _, rest = env['machine'].partition(', ')
    lines = ['Medians of %d repetitions' % cfg['repetitions'],
             '(scaling %d, monitors %d, start-up %d)' % (
                 cfg['scale_reps'], cfg['monitor_reps'], cfg['start_reps']),
             'each client in its own process,', 'softIocs on 127.0.0.1', '',
             cpu, rest, env['os'], 'Python %s' % env['python']]
    lines += ['%s %s' % item for item in env['versions'].items()]
    lines += ['', env['date']]
    return lines


def chart_panels(data: dict) -> list[tuple[str, str, str, list[tuple[str, float]]]]:
    """The bar chart's panels: (key, title, better, [(client, ratio to C)]),
    C first; metrics without any ratio (not measured) have no panel."""
    clients = list(data['labels'])
    titles = chart_titles(data['config'])
    panels = []
    for key, _, _, better, _ in metrics(data['config']):
        if key in TABLE_ONLY:
            continue
        bars = [(c, r) for c in clients for r in [ratio(data, c, key)] if r is not None]
        if len(bars) > 1:
            panels.append((key, titles[key], better, bars))
    return panels


def ratio_limits(panels: list) -> tuple[float, float]:
    """One logarithmic x range for every panel, so that equal bars mean equal
    ratios everywhere, with room right of the longest bar for its label."""
    values = [r for *_, bars in panels for _, r in bars] or [1.0]
    low = 10.0 ** math.floor(math.log10(min(min(values), 1.0) * 0.9))
    return low, max(max(values), 1.0) * 40.0


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)


def write_chart(data: dict, path: Path) -> None:
    _save(chart_figure(data), path)


def _ratio_panel(ax: Any, title: str, xlabel: str, bars: list[tuple[str, float]],
                 limits: tuple[float, float], names: dict[str, str],
                 figures: dict[str, str]) -> None:
    """One horizontal bar per client, the reference (1x) at the top, on a
    logarithmic ratio axis; each bar labelled with its ratio and figure."""
    import matplotlib.ticker
    shown = list(reversed(bars))
    values = [r for _, r in shown]
    low, high = limits
    drawn = ax.barh(range(len(shown)), [v - low for v in values], left=low,
                    color=[COLORS[c] for c, _ in shown])
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([names[c] for c, _ in shown], fontsize=9)
    ax.set_xscale('log')
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10.0))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: '{:,g}x'.format(x)))
    ax.axvline(1.0, color='black', linewidth=0.8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_title(title, fontsize=10.5, fontweight='bold', loc='left')
    for bar, (client, value) in zip(drawn, shown):
        # Right of the 1x line too, where a bar ends left of it.
        ax.text(max(value, 1.0), bar.get_y() + bar.get_height() / 2,
                ' %.2fx  (%s)' % (value, figures[client]), va='center', fontsize=8.5)
    ax.spines['top'].set_visible(False)
    ax.spines['right'].set_visible(False)
    ax.tick_params(axis='x', labelsize=8)


def chart_figure(data: dict) -> Any:
    """The bar chart: a panel per metric, ratios to C on one log scale."""
    plt = _pyplot()

    panels = chart_panels(data)
    low, high = ratio_limits(panels)
    rows_n = (len(panels) + 2) // 2
    fig, axes = plt.subplots(rows_n, 2, figsize=(12, 2.9 * rows_n + 0.8))
    axes = axes.ravel()
    for ax, (key, title, better, bars) in zip(axes, panels):
        scale = next(m[4] for m in metrics(data['config']) if m[0] == key)
        unit = next(m[2] for m in metrics(data['config']) if m[0] == key)
        reference = _client_label(data, key, 'c')
        xlabel = 'times %s (%s is better)' % (
            'the C program' if reference == data['labels']['c'] else reference, better)
        _ratio_panel(ax, title, xlabel, bars, (low, high),
                     {c: _client_label(data, key, c) for c, _ in bars},
                     {c: '%s %s' % (_fmt_value(data['medians'][c].get(key), scale), unit)
                      for c, _ in bars})
    for ax in axes[len(panels) + 1:]:
        ax.axis('off')
    info = axes[len(panels)]
    info.axis('off')
    info.text(0.0, 1.0, '\n'.join(_info_lines(data)), va='top', fontsize=8,
              family='monospace', transform=info.transAxes)
    fig.suptitle('CaChannel and other clients, as multiples of the same work in C on libca',
                 fontsize=13, fontweight='bold')
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.9 * rows_n + 0.8)))
    return fig


def scaling_points(data: dict, client: str, per: str) -> list[tuple[int, float]]:
    """(count, µs per channel or bytes per channel) for the counts measured."""
    points = []
    for n in data['config']['scale_counts']:
        key = ('connect_%d_s' if per == 'time' else 'rss_%d') % n
        value = data['medians'][client].get(key)
        if value is not None:
            points.append((n, value * 1e6 / n if per == 'time' else value / 1e3))
    return points


def scaling_label(data: dict, client: str) -> str:
    """A client's legend entry, saying at which counts it was not run."""
    skipped = sorted(int(n) for n in data.get('skipped', {}).get(client, {}))
    label = data['labels'][client]
    if skipped:
        label += ' (not run at %s)' % ', '.join('{:,}'.format(n) for n in skipped)
    return label


def write_scaling_chart(data: dict, path: Path) -> None:
    _save(scaling_figure(data), path)


def scaling_figure(data: dict) -> Any:
    """Time and memory per channel against the channel count, log-log."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.4))
    for ax, per, ylabel in ((left, 'time', 'µs per channel (connect + read)'),
                            (right, 'memory', 'kB per channel (resident memory)')):
        for client in data['labels']:
            points = scaling_points(data, client, per)
            if not points:
                continue
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker='o', color=COLORS[client], label=scaling_label(data, client),
                    linewidth=2.2 if client.startswith('cachannel') else 1.4)
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(data['config']['scale_counts'])
        ax.set_xticklabels(['{:,}'.format(n) for n in data['config']['scale_counts']])
        ax.set_xlabel('channels')
        ax.set_ylabel(ylabel)
        ax.grid(True, which='major', alpha=0.3)
        ax.spines['top'].set_visible(False)
        ax.spines['right'].set_visible(False)
    left.set_title('Time per channel (flat: linear scaling)', fontsize=11,
                   fontweight='bold', loc='left')
    right.set_title('Memory per channel', fontsize=11, fontweight='bold', loc='left')
    handles, labels = left.get_legend_handles_labels()
    # Below both panels, where no line or point can be.
    fig.legend(handles, labels, loc='lower center', ncol=3, fontsize=9, frameon=False)
    fig.suptitle('Connect + read N scalars: medians of %d runs, lower is better'
                 % data['config']['scale_reps'], fontsize=13, fontweight='bold')
    fig.tight_layout(rect=(0, 0.14, 1, 0.93))
    return fig


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


# --- the asyncio comparison (data['aio'], from bench.aio.collect) -------------------

#: key in bench.aio's figures, table label, chart title (None: table only),
#: unit, scale; {n} placeholders from the config and the event rate.
AIO_METRICS = [
    ('connect_s', 'connect + read {scalars:,} PVs', 'connect + read {scalars:,} PVs',
     's', 1.0),
    ('connect_cpu_s', 'connect + read {scalars:,}: process CPU time',
     'connect + read {scalars:,}: CPU time', 's', 1.0),
    ('rss_per_channel', 'memory per channel ({scalars:,} channels)',
     'memory per channel ({scalars:,})', 'kB', 1e-3),
    ('monitor_cpu_us', 'monitor: CPU per event (FORMAT_TIME, {monitors:,} PVs at 10 Hz)',
     'monitor: CPU per event (FORMAT_TIME)', 'µs', 1.0),
    ('monitor_lost', 'monitor, all_updates=True: lost events at {rate:,.0f} events/s '
     '(all runs)', None, 'events', 1.0),
]

#: The client every asyncio ratio is taken against.
AIO_REFERENCE = 'aioca'


def aio_clients(data: dict) -> list[str]:
    """bench.aio's clients that have figures in this run, in table order."""
    from . import aio
    figures = data.get('aio') or {}
    return [c for c in list(aio.CLIENTS) + ['sync-c'] if figures.get(c)]


def aio_event_rate(data: dict) -> float:
    """Events per second the monitor IOC posted (median over the clients)."""
    import statistics
    rates = [f['monitor_sent_rate'] for f in (data.get('aio') or {}).values()
             if f.get('monitor_sent_rate')]
    return statistics.median(rates) if rates else 0.0


def aio_metrics(data: dict) -> list[tuple[str, str, str | None, str, float]]:
    """AIO_METRICS with the config's numbers filled in."""
    fields = dict(data['config'], rate=aio_event_rate(data))
    return [(key, label.format(**fields), title and title.format(**fields), unit, scale)
            for key, label, title, unit, scale in AIO_METRICS]


def aio_ratio(data: dict, client: str, key: str) -> float | None:
    figures = data['aio']
    ref = figures.get(AIO_REFERENCE, {}).get(key)
    value = figures.get(client, {}).get(key)
    if ref in (None, 0) or value is None:
        return None
    return value / ref


def aio_rows(data: dict) -> list[list[str]]:
    """Header plus one row per metric: value (ratio to aioca) per client."""
    from . import aio
    clients = aio_clients(data)
    table = [['workload', 'unit'] + [aio.LABELS[c] for c in clients]]
    for key, label, _, unit, scale in aio_metrics(data):
        row = [label, unit]
        for client in clients:
            value = data['aio'][client].get(key)
            cell = '%d' % value if key == 'monitor_lost' and value is not None \
                else _fmt_value(value, scale)
            r = aio_ratio(data, client, key)
            if client != AIO_REFERENCE and r is not None and key != 'monitor_lost':
                cell += ' (%.2fx)' % r
            row.append(cell)
        table.append(row)
    return table


def aio_chart_panels(data: dict) -> list[tuple[str, str, str, list[tuple[str, float]]]]:
    """The asyncio chart's panels, (key, title, better, [(client, ratio to
    aioca)]) with aioca first; none without aioca's figures."""
    if 'aio' not in data:
        return []
    panels = []
    for key, _, title, _, _ in aio_metrics(data):
        bars = [(c, r) for c in aio_clients(data) for r in [aio_ratio(data, c, key)]
                if r is not None]
        if title and len(bars) > 1:
            panels.append((key, title, 'lower', bars))
    return panels


def write_aio_chart(data: dict, path: Path) -> None:
    _save(aio_figure(data), path)


def aio_figure(data: dict) -> Any:
    """CaChannel.aio (and, for monitors, the sync object layer) as multiples
    of aioca, every panel on one log scale."""
    from . import aio
    plt = _pyplot()
    panels = aio_chart_panels(data)
    limits = ratio_limits(panels)
    units = {key: (unit, scale) for key, _, _, unit, scale in aio_metrics(data)}
    rows_n = (len(panels) + 1) // 2
    height = 2.7 * rows_n + 0.8
    fig, axes = plt.subplots(rows_n, 2, figsize=(12, height), squeeze=False)
    axes = axes.ravel()
    for ax, (key, title, better, bars) in zip(axes, panels):
        unit, scale = units[key]
        _ratio_panel(ax, title, 'times aioca (%s is better)' % better, bars, limits,
                     {c: aio.LABELS[c] for c, _ in bars},
                     {c: '%s %s' % (_fmt_value(data['aio'][c][key], scale), unit)
                      for c, _ in bars})
    for ax in axes[len(panels):]:
        ax.axis('off')
    fig.suptitle('CaChannel.aio, as multiples of the same work with aioca',
                 fontsize=13, fontweight='bold')
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / height))
    return fig


def _aio_section(data: dict) -> str:
    """The page's asyncio section: figures, chart and what they measure, or
    why this run has none."""
    cfg = data['config']
    if not data.get('aio'):
        return ('This run did not measure the asyncio clients; ``python -m bench`` '
                'measures them when it is run again.')
    clients = aio_clients(data)
    if AIO_REFERENCE in clients:
        figure = ('In brackets the ratio to aioca; the chart shows the same ratios\n'
                  'on one logarithmic scale.\n\n'
                  '.. image:: _static/aio.png\n'
                  '   :alt: for each asyncio workload, CaChannel.aio\'s time, CPU time or\n'
                  '         memory as a multiple of aioca\'s, on one logarithmic scale')
    else:
        figure = ('aioca was not installed for this run (the ``bench`` extra installs\n'
                  'it), so the table has no aioca column and there is no chart.')
    return f"""CaChannel.aio (:doc:`aio`) on each backend next to aioca, the asyncio
client whose interface it shares, doing the same work in coroutines under
``asyncio.run``: medians of {cfg['monitor_reps']} runs, each in a fresh process.
The last column is CaChannel's synchronous object layer, for the monitor
row (its other figures are in the results above).

{figure}

{_rst_table(aio_rows(data))}

* **connect + read**: ``await connect(names)`` for {cfg['scalars']:,} ``ao``
  records, then ``await caget(names)``, the CA context already created:
  wall time, process CPU time, and the resident memory this added, divided
  by the number of channels.
* **monitor**: ``camonitor(names, callback, format=FORMAT_TIME,
  all_updates=True)`` on the {cfg['monitors']:,} counters of the monitor
  workload below, with the callback of that workload (it notes the value and
  counts the event).  After {cfg['monitor_warmup']:g} s of warm-up, process CPU
  time per delivered event over {cfg['monitor_window']:g} s, and the events the
  IOC posted that never reached the callback, summed over all runs.
"""


# --- docs page -----------------------------------------------------------------

def _rst_table(table: list[list[str]]) -> str:
    out = ['.. list-table::', '   :header-rows: 1', '']
    for row in table:
        out.append('   * - ' + row[0])
        out.extend('     - ' + cell for cell in row[1:])
    return '\n'.join(out)


def write_docs(data: dict, docs: Path) -> tuple[Path, ...]:
    """The page and its charts; the asyncio chart only where the run has
    aioca's figures to compare with (the page then refers to none)."""
    png = docs / '_static' / 'performance.png'
    scaling = docs / '_static' / 'scaling.png'
    aio_png = docs / '_static' / 'aio.png'
    write_chart(data, png)
    write_scaling_chart(data, scaling)
    written = [png, scaling]
    if aio_chart_panels(data):
        write_aio_chart(data, aio_png)
        written.append(aio_png)
    elif aio_png.exists():
        aio_png.unlink()   # a previous run's, which this page no longer shows
    rst = docs / 'performance.rst'
    rst.write_text(render_rst(data))
    return (rst, *written)


def _caget_text(data: dict) -> str:
    """The console-tool section's figures, or why there are none."""
    cfg = data['config']
    why = data.get('not_measured', {}).get('caget_wf_s')
    med = data['medians']
    base = med.get('c', {}).get('caget_wf_s')
    if why or base is None:
        return 'This run did not measure it: %s.' % (why or 'no figures')
    ours = ['%.2f s on the %s backend (%.2fx)' % (seconds, backend, seconds / base)
            for client, backend in (('cachannel-c', 'C'), ('cachannel-cffi', 'cffi'))
            for seconds in [med.get(client, {}).get('caget_wf_s')] if seconds is not None]
    printed = data.get('caget_printed_bytes')
    text = ('From process start to exit, printing all {count:,} elements{size}: EPICS '
            "base's caget took {base:.2f} s, ours {ours}; medians of {reps} runs. Both "
            'print the same bytes; the benchmark checks it.')
    return text.format(count=cfg['wf_count'], base=base, ours=' and '.join(ours),
                       size=' (%.0f MB of text)' % (printed / 1e6) if printed else '',
                       reps=cfg.get('caget_reps', cfg['repetitions']))


def _startup_where(data: dict) -> str:
    """Where the Python clients' start-up was timed (bench.installed)."""
    if data.get('startup_installed'):
        return ('Timed in a fresh virtual environment where ``pip install`` put the '
                'wheel built from this checkout and the peers, run outside the '
                'checkout: what a user\'s installation starts with.')
    why = data.get('startup_not_installed_why')
    return ('Timed in the development environment (its editable install adds an '
            'import hook to every interpreter)%s; our sources are byte-compiled '
            'first, as an installation has them.' % (': %s' % why if why else ''))


def render_rst(data: dict) -> str:
    cfg = data['config']
    fields = _fields(cfg)
    env = data['environment']
    med = data['medians']
    versions = '\n'.join('* %s: %s' % item for item in env['versions'].items())
    monitor_rate = med['c'].get('monitor_sent_rate', 0.0)
    counts = ', '.join('{:,}'.format(n) for n in cfg['scale_counts'])
    others = [data['labels'][c] for c in data['labels'] if c != 'c' and not c.startswith('cachannel')]
    other_clients = ('next to the other Python clients: %s' % ', '.join(others) if others
                     else 'on each of its backends')
    return f""".. This page is generated by ``python -m bench``; edit bench/report.py instead.

Performance
===========

How long common Channel Access work takes with CaChannel, next to the same
work written in C directly on libca (the reference, 1x in the first chart) and
{other_clients}.  CaChannel.aio, the asyncio interface, is compared with
aioca in a section of its own.  Every figure comes from one run of the
benchmark in the repository on the machine described at the end; each
client ran in processes of its own against softIocs on the same machine, so
network latency plays no part.

.. image:: _static/performance.png
   :alt: for each workload, each client's time, memory or throughput as a
         multiple of the C program's, on one logarithmic scale

Each bar is a client's figure divided by the C program's in the same run, on
the same logarithmic scale in every panel: a bar ending left of the 1x line
took less time (or memory) than C, for the two waveform panels it moved less
data per second.  The label gives the ratio and the figure itself.

Results
-------

Medians of {cfg['repetitions']} repetitions (scaling {cfg['scale_reps']},
monitors {cfg['monitor_reps']}, start-up {cfg['start_reps']}); in brackets the
ratio to the C program.  For throughput and delivered events higher is
better, for everything else lower.  Wall-clock times vary with whatever else
the machine is doing; the CPU-time rows vary less.

{_rst_table(rows(data))}

Scaling with the number of channels
-----------------------------------

Connect + read {counts} channels, each count in fresh processes.  With
linear scaling the time and memory per channel stay flat as the count grows.

.. image:: _static/scaling.png
   :alt: time and memory per channel against the number of channels, on
         logarithmic axes

Time per channel:

{_rst_table(scaling_table(data))}

Console tools
-------------

``caget`` of the {cfg['wf_count']:,}-element DOUBLE waveform: our console
tool (:doc:`tools`) against EPICS base's own ``caget`` (base's tool
sources, built against the same libca), which stands in the C column of
that row.  {_caget_text(data)}

asyncio: CaChannel.aio and aioca
--------------------------------

{_aio_section(data)}
What is measured
----------------

Each client runs in a fresh process per repetition with the same environment,
against a softIoc (``CaChannel.testing.SoftIoc``) serving a generated
database; each uses its fastest documented idiom.

* **C on libca**: ``bench/cbench.c``, compiled with gcc against the
  epicscorelibs headers and libraries; the reference every ratio is taken
  against.
* **CaChannel**: the documented recipe "Connect Multiple Channels And Get
  Values" (``search`` on every channel, ``pend_io``, ``array_get`` on every
  channel, ``pend_io``, ``getValue``), ``getw()`` for the round trip and
  ``getw(use_numpy=True)`` for the waveform; monitors as the documentation
  shows them, ``CaChannel.add_masked_array_event(ca.DBR_TIME_DOUBLE, None,
  None, callback, i)`` with a ``callback(epics_args, user_args)``, and, for
  the ca-layer row, ``ca.create_subscription(chid, callback, ca.DBR_DOUBLE)``.
  The backend is chosen with ``CACHANNEL_BACKEND``.
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
  threads) over the same span. One softIoc serves all {fields['n_max']:,}
  records. A client whose times at the smaller counts predict more than
  {cfg['time_cap']:.0f} s at the next is not run there.
* **round trip**: {cfg['rt_calls']:,} sequential reads of one DOUBLE, each
  waiting for its answer.
* **waveform**: a {cfg['wf_count']:,}-element DOUBLE waveform
  ({fields['wf_mb']:.0f} MB). *Repeated reads*: the median of
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
  a bare ``python -c pass``, timed in the same rotation, takes
  {data['python_startup_ms']:.0f} ms there,
  {data.get('python_startup_cpu_ms', 0.0):.0f} ms of CPU). {_startup_where(data)}
* **caget**: the console tool run as a user runs it, from process start to
  exit, its output read through a pipe.

How to reproduce
----------------

From a clone of the repository, with gcc on the machine:

.. code-block:: sh

   python -m pip install -e '.[bench]'
   python -m bench

This run took {data['elapsed_s'] / 60:.1f} minutes. It rewrites this page and
its charts; ``python -m bench --no-report`` prints the table only,
``--quick`` runs small sizes once as a smoke test, ``--clients`` picks the
clients (``c`` is always needed), ``--json FILE`` keeps every sample and
``--report-from FILE`` writes the page and charts again from such a file.
``python -m bench.aio`` runs the asyncio comparison alone and prints its
table (aioca comes with the ``bench`` extra).
The ``caget`` row needs EPICS base's tool sources in ``shared/oracle`` beside
the repository (the console tools' parity test uses the same); without them
the row says it was not measured.  Every IOC and client stays on 127.0.0.1
(``CaChannel.testing.loopback_environ``). For steady figures run it on an
otherwise idle machine.

Machine and versions
--------------------

* run: {env['date']}, {data['elapsed_s']:.0f} s in all
* machine: {env['machine']}
* OS: {env['os']}
* Python {env['python']}
{versions}
"""
