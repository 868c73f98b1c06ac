"""The performance page and charts ``python -m bench`` writes (bench/report.py),
rendered from a small fixed result set: a page for users (what was measured,
how, the figures, how to reproduce), no developer targets or machine-load
notes, and charts whose titles, labels and legends fit and do not cover each
other, every ratio on one logarithmic scale.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List

import pytest

from bench import report

CLIENTS = ['c', 'cachannel-c', 'cachannel-cffi', 'pyepics', 'caproto']

#: Per client, in CLIENTS order; None: not measured for that client.
FIGURES: Dict[str, List[Any]] = {
    'connect_10000_s': [0.0669, 0.0907, 0.376, 1.04, 3.91],
    'connect_1000_s': [0.0358, 0.0419, 0.0716, 0.116, 0.293],
    'connect_100000_s': [0.733, 1.74, 7.69, 9.6, None],
    'connect_cpu_10000_s': [0.0368, 0.0756, 0.361, 1.04, 3.41],
    'connect_cpu_100000_s': [0.257, 0.809, 4.58, 9.09, None],
    'roundtrip_us': [128.0, 142.0, 235.0, 304.0, 231.0],
    'waveform_steady_MBps': [1214.0, 1063.0, 557.0, 401.0, 1062.0],
    'waveform_first_MBps': [317.0, 401.0, 265.0, 239.0, 1141.0],
    'monitor_cpu_us': [0.362, 2.41, 6.04, 38.7, 543.0],
    'monitor_ca_cpu_us': [0.357, 1.16, 3.82, 19.4, None],
    'monitor_delivered': [1.0, 1.0, 1.0, 1.0, 1.0],
    'monitor_sent_rate': [19999.0, 19999.0, 19999.0, 19999.0, 19999.0],
    'rss_1000': [900.0, 1200.0, 2200.0, 2300.0, 23000.0],
    'rss_10000': [452.0, 941.0, 2060.0, 1960.0, 41900.0],
    'rss_100000': [362.0, 800.0, 1710.0, 1860.0, None],
    'startup_ms': [4.85, 59.8, 333.0, 223.0, 242.0],
    'startup_cpu_ms': [3.47, 46.7, 307.0, 229.0, 237.0],
    'caget_wf_s': [1.19, 0.91, 1.13, None, None],
}


#: bench.aio.collect's figures: CaChannel.aio on both backends against aioca,
#: and the synchronous object layer's monitor.
AIO: Dict[str, Dict[str, float]] = {
    'aioca': {'connect_s': 2.73, 'connect_cpu_s': 2.51, 'rss_per_channel': 6765.0,
              'monitor_cpu_us': 29.3, 'monitor_lost': 0.0, 'monitor_sent_rate': 19996.0},
    'aio-c': {'connect_s': 0.118, 'connect_cpu_s': 0.115, 'rss_per_channel': 1393.0,
              'monitor_cpu_us': 3.38, 'monitor_lost': 0.0, 'monitor_sent_rate': 19995.0},
    'aio-cffi': {'connect_s': 0.432, 'connect_cpu_s': 0.412, 'rss_per_channel': 2369.0,
                 'monitor_cpu_us': 7.67, 'monitor_lost': 0.0, 'monitor_sent_rate': 19996.0},
    'sync-c': {'monitor_cpu_us': 1.58, 'monitor_lost': 0.0, 'monitor_sent_rate': 19999.0},
}


def result_set() -> Dict[str, Any]:
    medians: Dict[str, Dict[str, float]] = {client: {} for client in CLIENTS}
    for key, values in FIGURES.items():
        for client, value in zip(CLIENTS, values):
            if value is not None:
                medians[client][key] = value
    samples = {client: {key: [value] for key, value in figures.items()}
               for client, figures in medians.items()}
    for client in CLIENTS:
        samples[client]['monitor_lost'] = [0, 0, 0]
    return {
        'medians': medians, 'samples': samples, 'aio': copy.deepcopy(AIO),
        'labels': {'c': 'C on libca', 'cachannel-c': 'CaChannel (C backend)',
                   'cachannel-cffi': 'CaChannel (cffi backend)', 'pyepics': 'pyepics',
                   'caproto': 'caproto threading'},
        'skipped': {'caproto': {'100000': '52 s predicted from 10,000 channels (cap 40 s)'}},
        'not_measured': {}, 'caget_printed_bytes': 33549223,
        'load_averages': ['1.64', '2.07', '3.39', '2.42'],
        'python_startup_ms': 26.0, 'python_startup_cpu_ms': 24.0, 'elapsed_s': 343.0,
        'config': {'scalars': 10000, 'scale_counts': [1000, 10000, 100000], 'rt_calls': 5000,
                   'wf_count': 4000000, 'wf_reads': 20, 'monitors': 2000,
                   'monitor_warmup': 1.5, 'monitor_window': 3.0, 'repetitions': 5,
                   'scale_reps': 3, 'monitor_reps': 3, 'start_reps': 9, 'caget_reps': 3,
                   'time_cap': 40.0},
        'environment': {'date': '2026-12-04 18:00 UTC',
                        'machine': 'AMD EPYC, 2 cores (2 logical), 23.5 GB RAM',
                        'os': 'Linux-6.18-x86_64-with-glibc2.36', 'python': '3.11.7',
                        'versions': {'CaChannel': '4.0.0.dev0 (git 0000000)',
                                     'epicscorelibs (EPICS base, libca)': '7.0.10.99.0.2',
                                     'pyepics': '3.5.10', 'caproto': '1.3.0',
                                     'aioca': '2.1'}},
    }


# --- the page ------------------------------------------------------------------

def test_page_reads_as_user_documentation() -> None:
    page = report.render_rst(result_set())
    lowered = page.lower()
    for internal in ('target', 'not met', 'load average', '1.64'):
        assert internal not in lowered, internal
    for section in ('Results', 'Scaling with the number of channels', 'Console tools',
                    'asyncio: CaChannel.aio and aioca', 'What is measured', 'How to reproduce', 'Machine and versions'):
        assert '\n%s\n%s\n' % (section, '-' * len(section)) in page, section
    assert "python -m pip install -e '.[bench]'" in page and 'python -m bench' in page
    assert 'next to the other Python clients: pyepics, caproto threading.' in ' '.join(page.split())
    assert 'medians of 3 runs' in page and '343 s in all' in page


def test_page_has_the_caget_row_against_base() -> None:
    data = result_set()
    page = report.render_rst(data)
    assert "EPICS base's caget took 1.19 s" in page
    assert '0.91 s on the C backend (0.76x)' in page
    assert '1.13 s on the cffi backend (0.95x)' in page
    row = next(row for row in report.rows(data) if row[0].startswith('caget of a 4,000,000'))
    assert row[3:] == ['1.19', '0.91 (0.76x)', '1.13 (0.95x)', 'n/a', 'n/a']


def test_page_says_why_caget_was_not_measured() -> None:
    data = result_set()
    for client in CLIENTS:
        data['medians'][client].pop('caget_wf_s', None)
    data['not_measured'] = {'caget_wf_s': 'no shared/oracle beside the repository'}
    data['caget_printed_bytes'] = None
    page = report.render_rst(data)
    assert 'This run did not measure it: no shared/oracle beside the repository.' in page
    assert not any(key == 'caget_wf_s' for key, *_ in report.chart_panels(data))


def _aio_row(data: Dict[str, Any], label: str) -> List[str]:
    return next(row for row in report.aio_rows(data) if row[0].startswith(label))


def test_page_has_the_asyncio_table_against_aioca() -> None:
    data = result_set()
    page = report.render_rst(data)
    assert report.aio_rows(data)[0] == [
        'workload', 'unit', 'aioca', 'CaChannel.aio (C backend)',
        'CaChannel.aio (cffi backend)', 'CaChannel object layer (C backend, sync)']
    assert _aio_row(data, 'connect + read 10,000 PVs') == [
        'connect + read 10,000 PVs', 's', '2.73', '0.118 (0.04x)', '0.432 (0.16x)', 'n/a']
    assert _aio_row(data, 'memory per channel (10,000')[2:5] == [
        '6.77', '1.39 (0.21x)', '2.37 (0.35x)']
    assert _aio_row(data, 'monitor: CPU per event (FORMAT_TIME, 2,000 PVs at 10 Hz)')[2:] == [
        '29.3', '3.38 (0.12x)', '7.67 (0.26x)', '1.58 (0.05x)']
    assert _aio_row(data, 'monitor, all_updates=True: lost events at 19,996 events/s')[2:] == [
        '0', '0', '0', '0']
    for row in report.aio_rows(data)[1:]:
        assert '     - %s' % row[3] in page
    assert '.. image:: _static/aio.png' in page
    assert 'format=FORMAT_TIME' in ' '.join(page.split())


def test_page_without_aioca_says_so() -> None:
    """aioca not installed: bench.aio leaves its figures empty."""
    data = result_set()
    data['aio']['aioca'] = {}
    page = report.render_rst(data)
    assert 'aioca was not installed for this run' in ' '.join(page.split())
    assert 'aio.png' not in page
    assert report.aio_rows(data)[0][2:] == [
        'CaChannel.aio (C backend)', 'CaChannel.aio (cffi backend)',
        'CaChannel object layer (C backend, sync)']
    assert _aio_row(data, 'connect + read 10,000 PVs')[2:] == ['0.118', '0.432', 'n/a']
    assert report.aio_chart_panels(data) == []


def test_page_from_a_run_without_the_asyncio_figures() -> None:
    """A run kept from before bench.aio (--report-from) still renders."""
    data = result_set()
    del data['aio']
    page = report.render_rst(data)
    assert 'This run did not measure the asyncio clients' in page
    assert 'aio.png' not in page
    assert report.aio_chart_panels(data) == []


def test_targets_stay_on_the_console() -> None:
    """Developers still see every target met or not when they run the benchmark."""
    text = report.targets_text(result_set())
    assert "met  caget of a 4,000,000-element waveform: <= 1.5x base's caget: 0.76x" in text
    assert 'NOT  round trip: <= 1.05x C: 1.11x' in text


def test_every_chart_panel_on_one_log_scale() -> None:
    data = result_set()
    panels = report.chart_panels(data)
    titles = [title for _, title, _, _ in panels]
    assert 'caget of a 4,000,000-element waveform' in titles
    assert 'monitor: events delivered' not in titles   # not a ratio: in the table
    low, high = report.ratio_limits(panels)
    for _, _, _, bars in panels:
        assert all(low < value < high / 10 for _, value in bars)


def test_asyncio_chart_panels_are_ratios_to_aioca() -> None:
    panels = report.aio_chart_panels(result_set())
    assert [title for _, title, _, _ in panels] == [
        'connect + read 10,000 PVs', 'connect + read 10,000: CPU time',
        'memory per channel (10,000)', 'monitor: CPU per event (FORMAT_TIME)']
    for key, _, _, bars in panels:
        assert bars[0] == ('aioca', 1.0)
        assert [c for c, _ in bars[1:3]] == ['aio-c', 'aio-cffi']
    monitor = dict(panels[-1][3])
    assert monitor['sync-c'] == pytest.approx(1.58 / 29.3)


# --- the charts (matplotlib, the bench extra) -------------------------------------

def _texts_fit(fig: Any) -> None:
    """Every text (titles, tick labels, bar labels) inside the figure and in
    its own column: none runs into the next panel or off the edge."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    for ax in axes:
        column_end = width
        box = ax.get_position()
        for other in axes:
            other_box = other.get_position()
            overlapping_rows = other_box.y0 < box.y1 and box.y0 < other_box.y1
            if other is not ax and overlapping_rows and other_box.x0 > box.x1:
                column_end = min(column_end, other.get_tightbbox(renderer).x0)
        for text in [ax.title, ax._left_title] + ax.texts + ax.get_yticklabels():
            if not text.get_text():
                continue
            extent = text.get_window_extent(renderer)
            assert extent.x0 >= 0 and extent.x1 <= column_end, (text.get_text(), extent)


def test_bar_chart_titles_and_labels_fit() -> None:
    pytest.importorskip('matplotlib', reason='matplotlib, of the bench extra, is not installed')
    figure = report.chart_figure(result_set())
    try:
        _texts_fit(figure)
        bars = [ax for ax in figure.axes if ax.patches]
        assert len(bars) == len(report.chart_panels(result_set()))
        assert {ax.get_xscale() for ax in bars} == {'log'}
        assert len({ax.get_xlim() for ax in bars}) == 1
    finally:
        report._pyplot().close(figure)


def test_asyncio_chart_titles_and_labels_fit() -> None:
    pytest.importorskip('matplotlib', reason='matplotlib, of the bench extra, is not installed')
    data = result_set()
    figure = report.aio_figure(data)
    try:
        _texts_fit(figure)
        bars = [ax for ax in figure.axes if ax.patches]
        assert [ax.get_title(loc='left') for ax in bars] == [
            title for _, title, _, _ in report.aio_chart_panels(data)]
        assert {ax.get_xscale() for ax in bars} == {'log'}
        assert len({ax.get_xlim() for ax in bars}) == 1
        assert figure._suptitle.get_text() == (
            'CaChannel.aio, as multiples of the same work with aioca')
    finally:
        report._pyplot().close(figure)


def test_scaling_chart_legend_covers_nothing() -> None:
    pytest.importorskip('matplotlib', reason='matplotlib, of the bench extra, is not installed')
    data = result_set()
    figure = report.scaling_figure(data)
    try:
        _texts_fit(figure)
        renderer = figure.canvas.get_renderer()
        legend = figure.legends[0].get_window_extent(renderer)
        for ax in figure.axes:
            assert not legend.overlaps(ax.get_tightbbox(renderer))
            assert (ax.get_xscale(), ax.get_yscale()) == ('log', 'log')
        labels = [text.get_text() for text in figure.legends[0].get_texts()]
        assert 'caproto threading (not run at 100,000)' in labels
        assert len(labels) == len(CLIENTS)
    finally:
        report._pyplot().close(figure)


def test_writes_page_and_charts(tmp_path: Any) -> None:
    pytest.importorskip('matplotlib', reason='matplotlib, of the bench extra, is not installed')
    data = copy.deepcopy(result_set())
    rst, *charts = report.write_docs(data, tmp_path)
    assert rst.read_text() == report.render_rst(data)
    assert [chart.name for chart in charts] == ['performance.png', 'scaling.png', 'aio.png']
    for chart in charts:
        assert chart.read_bytes().startswith(b'\x89PNG')


def test_rewritten_without_aioca_drops_the_asyncio_chart(tmp_path: Any) -> None:
    pytest.importorskip('matplotlib', reason='matplotlib, of the bench extra, is not installed')
    report.write_docs(result_set(), tmp_path)
    data = result_set()
    data['aio']['aioca'] = {}
    rst, *charts = report.write_docs(data, tmp_path)
    assert [chart.name for chart in charts] == ['performance.png', 'scaling.png']
    assert not (tmp_path / '_static' / 'aio.png').exists()
    assert 'aio.png' not in rst.read_text()


def test_floors_stay_on_the_console() -> None:
    """The floors are printed beside C and our backends, with the C + script
    column the sum of the two; the page does not show them."""
    data = result_set()
    data['floors'] = {'script-floor': {'connect_10000_s': 0.005, 'rss_10000': 120.0},
                      'cffi-floor': {'connect_10000_s': 0.09, 'rss_10000': 460.0,
                                     'monitor_ca_cpu_us': 1.2}}
    data['floor_labels'] = {'script-floor': 'the script', 'cffi-floor': 'libca via cffi'}
    text = report.floors_text(data)
    row = next(line for line in text.splitlines()
               if line.startswith('memory per channel (10,000 channels)'))
    # C 452 B; + the script's 120 B = 572 B, 1.27x; cffi floor 460 B
    assert '0.572 (1.27x)' in row and '0.46 (1.02x)' in row and '0.941 (2.08x)' in row
    monitor = next(line for line in text.splitlines() if line.startswith('monitor, ca layer'))
    assert '1.2 (3.36x)' in monitor and 'n/a' in monitor   # no script floor for monitors
    assert 'the script' in text and 'libca via cffi' in text
    assert 'floor' not in report.render_rst(data).lower()


def test_floors_absent_from_an_older_run() -> None:
    assert report.floors_text(result_set()) == 'floors: not measured in this run'
