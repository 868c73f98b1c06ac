"""bench/phases.py against a real softIoc: every client reads every channel
and reports each step of the connect.  Nothing here asserts a speed; the
figures are for reading (DEVELOPERS.md, "Costs per channel and per event")."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench import phases

ROOT = Path(__file__).resolve().parents[2]
N = 200


def test_every_client_reports_its_steps(tmp_path: Path) -> None:
    out = tmp_path / 'phases.json'
    env = {k: v for k, v in os.environ.items() if k != 'CACHANNEL_BACKEND'}
    proc = subprocess.run([sys.executable, '-m', 'bench.phases', '--channels', str(N),
                           '--repetitions', '1', '--json', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result['channels'] == N
    steps = result['steps']
    assert set(steps) == set(phases.CLIENTS)
    # C has no Python objects or values to make; the ca layer no objects.
    assert list(steps['c']) == ['create', 'connect wait', 'get', 'get wait']
    for backend in ('c', 'cffi'):
        assert list(steps['ca[%s]' % backend]) == list(phases.STEPS[1:])
        assert list(steps['object[%s]' % backend]) == list(phases.STEPS)
    for client, figures in steps.items():
        for step, (wall, cpu) in figures.items():
            assert wall > 0 and cpu >= 0, (client, step)
    # the table names every client and ends with the ratio to C
    assert all(client in proc.stdout for client in phases.CLIENTS)
    assert proc.stdout.rstrip().splitlines()[-1].startswith('wall / C')


def test_the_table_gives_microseconds_per_channel() -> None:
    results = {'c': {'create': [0.001, 0.0005]},
               'object[c]': {'objects': [0.002, 0.002], 'create': [0.003, 0.001]}}
    lines = phases.table(results, 1000).splitlines()
    create = next(line for line in lines if line.startswith('create'))
    assert create.split()[1:] == ['1.00', '(0.50)', '3.00', '(1.00)']
    objects = next(line for line in lines if line.startswith('objects'))
    assert objects.split()[1:] == ['-', '2.00', '(2.00)']
    assert lines[-1].split()[-2:] == ['1.00×', '5.00×']
