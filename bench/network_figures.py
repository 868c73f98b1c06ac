"""The figures of the network scenarios (tests/scripts/net_scenarios.py):
reconnect times after an IOC reboot with and without a repeater, beside
pyepics' under the same fault; a link outage past EPICS_CA_CONN_TMO; reads
and writes over 200 ms latency and 5 % loss.

    python -m bench.network_figures [--long-down SECONDS] [--default-timers]

As root with iproute2 (CaChannel.testing.netns).  ``--long-down`` adds a
reboot whose IOC stays away that long (where the repeater's beacons show);
``--default-timers`` adds the outage and reboot with libca's default
EPICS_CA_CONN_TMO (30 s) and beacon period (15 s).  Prints one table.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'tests' / 'scripts'))
import net_scenarios as scenarios  # noqa: E402

from CaChannel.testing.netns import unavailable  # noqa: E402

DEFAULTS = {'EPICS_CA_CONN_TMO': '30', 'EPICS_CA_BEACON_PERIOD': '15'}


def seconds(value: Any) -> str:
    return f'{value:.2f} s' if isinstance(value, (int, float)) else str(value)


#: Seconds between the client's start and the reboot, across libca's 10 s
#: disconnect-governor period.
SETTLE = (0.0, 2.5, 5.0, 7.5)


def spread(results: List[Dict[str, Any]], keys: List[str]) -> Dict[str, Any]:
    """One result of several runs: each figure as 'min-max (mean)'."""
    failed = [r for r in results if r.get('returncode') != 0 or 'error' in r]
    if failed:
        return failed[0]
    merged: Dict[str, Any] = {'returncode': 0}
    for key in keys:
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        merged[key] = (f'{min(values):.1f}-{max(values):.1f} s '
                       f'(mean {sum(values) / len(values):.1f})') if values else None
    return merged


def row(rows: List[List[str]], scenario: str, peer: str, result: Dict[str, Any],
        keys: List[str]) -> None:
    if result.get('returncode') not in (0, None) or 'error' in result:
        figures = 'FAILED: ' + str(result.get('error', result.get('output')))[:80]
    else:
        figures = ', '.join(f'{k} {seconds(result.get(k))}' for k in keys)
    rows.append([scenario, peer, figures])
    # As it comes, too: a long run interrupted keeps what it measured.
    print('..', scenario, '|', peer, '|', figures, file=sys.stderr, flush=True)


def measure(long_down: Optional[float], default_timers: bool) -> List[List[str]]:
    rows: List[List[str]] = []
    peers: List[tuple] = [('c', 'reboot'), ('caffi', 'reboot')]
    if importlib.util.find_spec('epics') is not None:
        peers.append(('c', 'pyepics_reboot'))
    reboot_keys = ['reconnect', 'monitor', 'getw']

    def name(backend: str, mode: str) -> str:
        return 'pyepics' if mode == 'pyepics_reboot' else f'CaChannel {backend}'

    with scenarios.Testbed() as bed:
        for backend in ('c', 'caffi'):
            result = scenarios.discovery(bed, backend, 'broadcast')
            row(rows, 'connect 6 PVs on 3 hosts, broadcast', name(backend, ''), result,
                ['connect_time'])
            result = scenarios.discovery(bed, backend, 'name_servers')
            row(rows, 'connect 6 PVs on 3 hosts, name servers', name(backend, ''), result,
                ['connect_time'])
        # The reboot at four points of libca's 10 s re-search period.
        for repeater in (True, False):
            for backend, mode in peers if repeater else [('c', 'reboot')]:
                results = [scenarios.reboot(bed, backend, repeater, mode=mode, settle=settle)
                           for settle in SETTLE]
                row(rows, f'reboot, down {scenarios.DOWN_TIME:.0f} s, '
                    f'{"with" if repeater else "no"} repeater', name(backend, mode),
                    spread(results, reboot_keys), reboot_keys)
        if long_down:
            # The C backend alone: the figure is libca's schedule, and each
            # run costs the whole down time.
            for repeater in (True, False):
                for backend, mode in [('c', 'reboot')]:
                    result = scenarios.reboot(bed, backend, repeater, mode=mode,
                                              down_time=long_down)
                    row(rows, f'reboot, down {long_down:.0f} s, '
                        f'{"with" if repeater else "no"} repeater', name(backend, mode),
                        result, reboot_keys)
        for backend in ('c', 'caffi'):
            result = scenarios.outage(bed, backend)
            row(rows, 'link down past CONN_TMO=3 s', name(backend, ''), result,
                ['disconnect', 'reconnect', 'monitor', 'blocked_read'])
            result = scenarios.impaired(bed, backend)
            if 'read_throughput' in result:
                result['MB/s read'] = f"{result['read_throughput'] / 1e6:.2f}"
            row(rows, '200 ms + 5 % loss, 8 MB waveform', name(backend, ''), result,
                ['connect_time', 'scalar_round', 'wave_put', 'wave_read', 'MB/s read'])
    if default_timers:
        with scenarios.Testbed(ioc_env={}) as bed:
            for backend, mode in peers:
                result = scenarios.reboot(bed, backend, True, mode=mode, env=DEFAULTS)
                row(rows, 'reboot, default timers, repeater', name(backend, mode), result,
                    reboot_keys)
            result = scenarios.outage(bed, 'c', conn_tmo=30.0)
            row(rows, 'link down past CONN_TMO=30 s', name('c', ''), result,
                ['disconnect', 'reconnect', 'monitor'])
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--long-down', type=float, default=None)
    parser.add_argument('--default-timers', action='store_true')
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print('no test network:', reason)
        return 1
    rows = measure(args.long_down, args.default_timers)
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    print('Seconds after the new IOC serves (reboot) / the link is up again (outage).')
    for scenario, peer, figures in rows:
        print(f'{scenario:<{widths[0]}}  {peer:<{widths[1]}}  {figures}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
