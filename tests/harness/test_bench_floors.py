"""The benchmark's floors (bench/floors.py) run against a real softIoc and
measure what they say: the script floor reads nothing, keeps its objects
and hands made-up events to the script's monitor callback, the cffi floor
reads every value through libca and passes on every monitor event, the
contract floor reads every value through its records.
Figures are printed by ``python -m bench``; nothing here asserts a speed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from bench.run import monitor_database, scalar_database
from CaChannel.testing import SoftIoc, free_port, loopback_environ

ROOT = Path(__file__).resolve().parents[2]
N = 200


@pytest.fixture(scope='module')
def floor_ioc() -> Iterator[SoftIoc]:
    database = scalar_database(N, 10) + monitor_database(4)
    with SoftIoc(database, env=loopback_environ(free_port()),
                 ready_pvs=['bench:s%d' % (N - 1), 'bench:m3'], start_timeout=60) as ioc:
        yield ioc


def run_worker(ioc: SoftIoc, *args: object) -> Dict[str, Any]:
    env = dict(os.environ)
    env.update(ioc.environ)
    proc = subprocess.run([sys.executable, '-m', 'bench.workers'] + [str(a) for a in args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_cffi_floor_reads_every_channel(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'cffi-floor', 'connect', 'bench:s', N)
    # bench:sI holds I: the last channel's value read through libca
    assert result['connect_check'] == N - 1
    assert result['connect_seconds'] > 0 and result['connect_cpu'] > 0


def test_contract_floor_reads_every_channel_through_its_records(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'contract-floor', 'connect', 'bench:s', N)
    assert result['connect_check'] == N - 1
    # its waits returned: every connection and every reply was counted down
    assert result['connect_seconds'] > 0 and result['connect_cpu'] > 0


def test_script_floor_runs_the_script_without_ca(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'script-floor', 'connect', 'bench:s', N)
    assert set(result) == {'connect_seconds', 'connect_cpu', 'rss_per_channel',
                           'connect_check'}
    assert result['connect_cpu'] > 0


def test_script_floor_hands_every_event_to_the_script_s_callback(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'script-floor', 'monitor', 'ca', 'bench:m', 4, 0.5, 0.5)
    # whole rounds of one event per channel, each value one more than the
    # last: the callback counted them all and found no gap
    assert result['events'] > 0 and result['events'] % 4 == 0
    assert result['lost'] == 0
    assert set(result) == {'events', 'lost', 'cpu', 'wall'} and result['wall'] >= 0.5


def test_cffi_floor_passes_every_event_on(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'cffi-floor', 'monitor', 'ca', 'bench:m', 4, 0.5, 1.0)
    # four counters at 10 Hz for a second: events arrive, none is skipped
    assert result['events'] >= 20
    assert result['lost'] == 0


def test_contract_floor_passes_every_event_on_as_the_contract_s_dict(floor_ioc: SoftIoc) -> None:
    result = run_worker(floor_ioc, 'contract-floor', 'monitor', 'ca', 'bench:m', 4, 0.5, 1.0)
    # CaChannelLib's callback reads the dict's chid and value: every event
    # arrived as that dict, none was skipped
    assert result['events'] >= 20
    assert result['lost'] == 0


def test_cffi_floor_says_how_many_channels_did_not_connect(floor_ioc: SoftIoc) -> None:
    env = dict(os.environ)
    env.update(floor_ioc.environ)
    code = ('import bench.floors as f, bench.workers as w; w.TIMEOUT = 1.0; '
            'f.TIMEOUT = 1.0; f.CffiFloor().connect_read(["bench:s0", "bench:nosuch"])')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert '1 did not connect' in proc.stderr
