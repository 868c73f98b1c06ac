"""An IOC that is killed and restarted under a live client, on both backends.

Each scenario runs ``scripts/restart_scenario.py`` in a subprocess with its
own softIoc (catest.db with prefix ``rst:``) on ports of its own: the client
there searches exactly those ports, which the pytest process cannot do since
libca reads its address list once per process.  The IOC is SIGKILLed with
gets and puts in flight and restarted on the same port, and in the 'other'
scenario the last restart is on a second port that the client's
``EPICS_CA_ADDR_LIST`` also lists.

The four scenarios (2 backends x 2 modes) start together and run side by
side; each one's test waits for its own.  A fifth, ``scripts/retype_scenario.py``
(one per backend), restarts an IOC that serves the same PV with another type
and length.  CI runs 2 restarts per scenario;
``CACHANNEL_SOAK=1`` runs 6.  libca finds a restarted IOC through its
beacons (when a CA repeater forwards them) or its search timer (up to about
8 s), so each round allows generous time.
"""

from __future__ import annotations

import pytest

from CaChannel.testing import free_port
from helpers import BACKENDS
from helpers.scenario_lib import SOAK, ScriptRun, loopback_client_env, run_script

ROUNDS = 6 if SOAK else 2
#: per scenario: each round waits for a reconnect of about 8 s
DEADLINE = 60.0 + ROUNDS * 40.0

MODES = ['same', 'other']
SCENARIOS = [(backend, mode) for backend in BACKENDS for mode in MODES]


@pytest.fixture(scope='module')
def restart_runs():
    runs = {}
    try:
        for backend, mode in SCENARIOS:
            ports = [free_port(), free_port()]
            args = [backend, mode, str(ROUNDS)] + [str(p) for p in ports]
            env = loopback_client_env(*ports)
            runs[backend, mode] = ScriptRun('restart_scenario.py', args, env=env)
        yield runs
    finally:
        for run in runs.values():
            if run.outcome is None:
                run.kill()
                run.proc.communicate()


@pytest.mark.parametrize('mode', MODES)
def test_ioc_restart(restart_runs, backend, mode):
    outcome = restart_runs[backend, mode].finish(DEADLINE)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    assert facts['failures'] == [], outcome.report()
    assert facts['survived'] == ROUNDS, outcome.report()
    for round_facts in facts['round_facts']:
        # the requests in flight failed with DISCONN, the dead PV timed out
        assert round_facts['get_status'] == ['ECA.DISCONN'], round_facts
        assert round_facts['put_status'] == ['ECA.DISCONN'], round_facts
        assert round_facts['pend_io_dead'] == 'ECA.TIMEOUT', round_facts
        assert round_facts['host'].endswith(':%d' % round_facts['port']), round_facts
    if mode == 'other':
        assert facts['round_facts'][-1]['port'] != facts['round_facts'][0]['port']
    assert facts['live_callbacks_end'] == 0, facts


def test_ioc_back_with_another_type(backend):
    """A PV that comes back from a restarted IOC as another type and length
    is read, written and subscribed to as what it is now, not as what it
    was (scripts/retype_scenario.py)."""
    port = free_port()
    outcome = run_script('retype_scenario.py', [backend, str(port)],
                         env=loopback_client_env(port), timeout=120.0)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    assert facts['before'] == [['ECA.NORMAL', 1.5]] * 3, facts
    assert facts['before_native'] == ['DBF.DOUBLE', 1], facts
    assert facts['went_down'] and facts['came_up'], facts
    assert facts['get_down'] == 'ECA.DISCONN' and facts['put_down'] == 'ECA.DISCONN', facts
    assert facts['after_native'] == ['DBF.LONG', 5], facts
    assert facts['put_status'] == 'ECA.NORMAL' and facts['put_done'] == ['ECA.NORMAL'], facts
    assert facts['after'] == [['ECA.NORMAL', [1, 2, 3, 4, 5]]] * 3, facts
    assert facts['subscribe_status'] == 'ECA.NORMAL', facts
    assert facts['new_event'] == [['DBR.LONG', 5, [1, 2, 3, 4, 5]]], facts
    assert facts['old_event_types'] == ['DBR.DOUBLE'], facts
    assert facts['live_callbacks_end'] == 0, facts
