"""bench/phases.py against a real softIoc: every client reads every channel
and reports each step of the connect, and the CPU time of its threads.
Nothing here asserts a speed; the figures are for reading (DEVELOPERS.md,
"Costs per channel and per event")."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

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
    lines = proc.stdout.rstrip().splitlines()
    ratio = next(i for i, line in enumerate(lines) if line.startswith('wall / C'))
    if not HAS_SCHEDSTAT:
        assert lines[ratio + 1].startswith('(no CPU time by thread')
        return
    # then, by thread: the caller and libca's receive thread, which runs the
    # connection and read callbacks, in every client
    assert lines[ratio + 2].startswith('CPU by thread')
    assert set(result['threads']) == set(phases.CLIENTS)
    for client, threads in result['threads'].items():
        assert threads['main'] > 0, client
        assert threads.get('CAC-TCP-recv', 0) > 0, client
    rows = {line.split()[0] for line in lines[ratio + 4:]}
    assert {'main', 'CAC-TCP-recv'} <= rows


HAS_SCHEDSTAT = os.path.exists('/proc/self/schedstat')


@pytest.mark.skipif(not HAS_SCHEDSTAT, reason='no per-thread scheduler statistics '
                    '(/proc/self/task/*/schedstat) on this system')
def test_the_clock_counts_each_threads_cpu() -> None:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    clock = phases.StepClock()
    worker = threading.Thread(target=spin)
    worker.start()
    try:
        stop.wait(0.2)
        threads = clock.threads()   # while the thread runs: an ended one leaves /proc
    finally:
        stop.set()
        worker.join()
    # The caller is "main"; a thread started after the clock counts from 0
    # (Python names no OS thread, so the spinner has the process's name).
    assert [name for name, _ in threads].count('main') == 1
    assert max(seconds for name, seconds in threads if name != 'main') > 0.01


def test_the_table_gives_microseconds_per_channel() -> None:
    results = {'c': {'create': [0.001, 0.0005]},
               'object[c]': {'objects': [0.002, 0.002], 'create': [0.003, 0.001]}}
    lines = phases.table(results, 1000).splitlines()
    create = next(line for line in lines if line.startswith('create'))
    assert create.split()[1:] == ['1.00', '(0.50)', '3.00', '(1.00)']
    objects = next(line for line in lines if line.startswith('objects'))
    assert objects.split()[1:] == ['-', '2.00', '(2.00)']
    assert lines[-1].split()[-2:] == ['1.00×', '5.00×']


def test_the_thread_table_puts_the_caller_first() -> None:
    threads = {'c': {'main': 0.001, 'CAC-UDP': 0.002},
               'ca[cffi]': {'main': 0.01, 'CAC-TCP-recv': 0.005, 'CAC-UDP': 0.002}}
    lines = phases.thread_table(threads, 1000).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ['main', 'CAC-TCP-recv', 'CAC-UDP']
    assert lines[2].split()[1:] == ['1.00', '10.00']
    assert lines[3].split()[1:] == ['-', '5.00']
