"""Clean interpreter exit with CA busy, 20 times in a row per backend.

``scripts/exit_scenario.py`` subscribes 2,000 monitors to counters updated
at 10 Hz (20,000 events/s), starts a put with callback that completes only
later, opens connection callbacks (one still searching), and leaves, under
``python -X dev`` with faulthandler.  Every run must end with status 0 and
without any abort, fatal error or faulthandler dump.  The runs cycle
through three ways of leaving (end of script, sys.exit(), a non-daemon
thread still issuing gets) and run four at a time.

The counters are served by this module's own softIoc (prefix ``ex:``) on
the session's port, so the scripts find it with the session's environment.
"""

from __future__ import annotations

import os
import re

import pytest

from CaChannel.testing import SoftIoc, free_port
from helpers.scenario_lib import ScriptRun

RECORDS = 200
PER_RECORD = 10            # 2,000 monitors
RUNS = 20                  # per backend
PARALLEL = 4
MODES = ('return', 'exit', 'thread')
BAD_TEXT = re.compile(r'FATAL|Fatal Python error|Aborted|abort|core dumped|'
                      r'Segmentation|Traceback|Timeout \(|Assertion', re.IGNORECASE)


def _database() -> str:
    lines = []
    for i in range(RECORDS):
        lines.append(f'record(calc, "ex:cnt{i}") {{\n  field(SCAN, ".1 second")\n'
                     f'  field(CALC, "A+1")\n  field(INPA, "ex:cnt{i}.VAL NPP")\n}}\n')
    # A put to it completes 5 s later: the output delay keeps it active.
    # (VAL of a calcout is not process-passive; the scripts write its A.)
    lines.append('record(calcout, "ex:slow") {\n  field(CALC, "A")\n'
                 '  field(ODLY, "5")\n'
                 '  field(OOPT, "Every Time")\n  field(OUT, "ex:sink PP")\n}\n'
                 'record(ao, "ex:sink") {\n}\n')
    return ''.join(lines)


@pytest.fixture(scope='module')
def exit_ioc():
    # Its own port: the client in each script searches only this IOC.
    env = {'EPICS_CA_SERVER_PORT': str(free_port()),
           'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']}
    with SoftIoc(_database(), env=env, ready_pvs=['ex:cnt0', 'ex:slow']) as ioc:
        yield ioc


def test_exit_with_busy_monitors(exit_ioc, backend):
    client_env = {'EPICS_CA_ADDR_LIST': '127.0.0.1',
                  'EPICS_CA_SERVER_PORT': str(exit_ioc.port)}
    args = lambda n: [backend, str(RECORDS), str(PER_RECORD), MODES[n % len(MODES)]]
    outcomes = []
    running: list = []
    try:
        for n in range(RUNS):
            running.append(ScriptRun('exit_scenario.py', args(n), env=client_env,
                                     dev_mode=True))
            if len(running) == PARALLEL or n == RUNS - 1:
                for run in running:
                    outcomes.append(run.finish(90.0))
                running = []
    finally:
        for run in running:
            if run.outcome is None:
                run.kill()
                run.proc.communicate()
    clean = [o for o in outcomes if o.returncode == 0 and not BAD_TEXT.search(o.stderr)
             and o.result is not None]
    bad = [o for o in outcomes if o not in clean]
    assert not bad, f'{len(bad)} of {RUNS} exits failed; first:\n' + bad[0].report()
    assert len(clean) == RUNS
    for outcome in clean:
        assert outcome.result['monitors'] == RECORDS * PER_RECORD
        assert outcome.result['events'] >= RECORDS * PER_RECORD * 2
        assert outcome.result['put_done'] == 0   # still running at exit
