"""CaChannel.util across an IOC restart, on both backends, each in a fresh interpreter.

``scripts/util_restart_scenario.py`` runs a softIoc of its own on a port of
its own (the client there searches only that port), stops it and starts it
again on the same port.  After the stop, the util functions on the cached
channels raise ECA.DISCONN naming the PV once their timeout has passed (not
ECA.BADTYPE at once); after the restart they wait for the channel to come
back.  The two backends run side by side.
"""

from __future__ import annotations

import pytest

from CaChannel.testing import free_port
from helpers import BACKENDS
from helpers.scenario_lib import ScriptRun, loopback_client_env

DEADLINE = 150.0


@pytest.fixture(scope='module')
def runs():
    started = {}
    try:
        for backend in BACKENDS:
            port = free_port()
            env = dict(loopback_client_env(port), CACHANNEL_BACKEND=backend)
            started[backend] = ScriptRun('util_restart_scenario.py', [backend, str(port)],
                                         env=env)
        yield started
    finally:
        for run in started.values():
            if run.outcome is None:
                run.kill()
                run.proc.communicate()


def test_util_functions_across_an_ioc_restart(runs, backend: str) -> None:
    outcome = runs[backend].finish(DEADLINE)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    assert facts['backend'] == backend
    assert facts['before'] == {'value': 2.5}, facts
    assert facts['went_down'], facts
    for call, result in facts['down'].items():
        pv = 'urs:cacalc' if call == 'camonitor' else 'urs:catest'
        assert result.get('status') == 'ECA.DISCONN', (call, result)
        assert repr(pv) in result['text'], (call, result)
        assert result['text'].endswith('disconnected (its server went away or cannot be '
                                       'reached), and not back within 1.0 s'), (call, result)
    assert facts['after'] == {'value': 0.0}, facts      # the restarted IOC's value
    assert facts['caput_after'] == {'value': None}, facts
    assert facts['caget_after'] == {'value': 7}, facts
    assert facts['same_channel'] is True
