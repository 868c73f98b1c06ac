"""CaChannel.aio's lifecycle, one fresh interpreter per scenario, both backends.

``scripts/aio_scenario.py`` holds the scenarios: a loop closing with replies
in flight, Ctrl-C under ``asyncio.run``, exit with live subscriptions in two
loops, a context another library attached first, and loop after loop on a
server slow to close its circuits.  Each must end with
status 0 and nothing on stderr that reads as an error (no "Event loop is
closed", no "Exception ignored", no crash).
"""

from __future__ import annotations

import os
import sys
from typing import Union

import pytest

from CaChannel.testing import SoftIoc, free_port
from helpers.bad_server import BadServer
from helpers.scenario_lib import BAD_TEXT, SCRIPTS, ScriptResult, run_script

PREFIX = 'aiolc'
#: Anything that reads as an error on a scenario's stderr.
NOT_CLEAN = ('Event loop is closed', 'Traceback', 'Error')


def _database() -> str:
    return ('record(calc, "%s:tick") {\n  field(SCAN, ".1 second")\n  field(CALC, "A+1")\n'
            '  field(INPA, "%s:tick.VAL NPP")\n}\n'
            'record(ao, "%s:ao") {\n  field(VAL, "2.5")\n  field(PINI, "YES")\n}\n'
            'record(waveform, "%s:wave") {\n  field(FTVL, "DOUBLE")\n  field(NELM, "1000")\n}\n'
            % (PREFIX, PREFIX, PREFIX, PREFIX))


@pytest.fixture(scope='module')
def aio_ioc():
    env = {'EPICS_CA_SERVER_PORT': str(free_port()),
           'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']}
    with SoftIoc(_database(), env=env, ready_pvs=[PREFIX + ':tick', PREFIX + ':ao']) as ioc:
        yield ioc


#: Seconds the lingering server keeps a circuit its client closed: a search
#: made at once is answered well within them.
LINGER = 2.0


@pytest.fixture(scope='module')
def lingering_server():
    with BadServer(linger=LINGER) as server:
        yield server


def run(server: Union[SoftIoc, BadServer], backend: str, name: str,
        prefix: str = PREFIX) -> ScriptResult:
    env = {'EPICS_CA_ADDR_LIST': '127.0.0.1', 'EPICS_CA_AUTO_ADDR_LIST': 'NO',
           'EPICS_CA_SERVER_PORT': str(server.port), 'CACHANNEL_BACKEND': backend,
           'PYTHONPATH': os.pathsep.join([str(SCRIPTS)] + sys.path)}
    return run_script('aio_scenario.py', [name, prefix], env=env, timeout=90)


def _clean(outcome: ScriptResult) -> dict:
    assert outcome.returncode == 0, outcome.report()
    assert not BAD_TEXT.search(outcome.stderr), outcome.report()
    for text in NOT_CLEAN:
        assert text not in outcome.stderr, outcome.report()
    assert outcome.result is not None, outcome.report()
    return outcome.result


def test_loop_closes_with_replies_in_flight(aio_ioc, backend):
    facts = _clean(run(aio_ioc, backend, 'loop-closes-in-flight'))
    assert facts['delivered'] >= 5 and facts['gaps'] == 0, facts
    # Nothing reaches a closed loop's callbacks.
    assert facts['after_close'] == 0, facts
    assert facts['second_read'] == 2.5, facts


def test_loop_after_loop_on_a_server_slow_to_close(lingering_server, backend):
    # Clearing the last channel on a server starts closing its circuit, and
    # libca installs a channel found meanwhile on that circuit, to lose it
    # with the circuit and search again only 10 s later: the next loop
    # takes over the closed one's channels rather than clearing them.
    facts = _clean(run(lingering_server, backend, 'loop-after-loop', prefix='acc'))
    assert facts['values'] == [3.5, 1.5, 3.5], facts
    assert facts['channels'] == ['acc:ok', 'acc:ro'], facts


def test_ctrl_c_under_asyncio_run(aio_ioc, backend):
    facts = _clean(run(aio_ioc, backend, 'sigint'))
    assert facts['interrupted'] is True and facts['read_after'] == 2.5, facts


def test_exit_with_live_subscriptions(aio_ioc, backend):
    facts = _clean(run(aio_ioc, backend, 'exit-live'))
    assert facts['seen'] > 0 and facts['other_loop'] is True, facts


def test_context_of_another_library_is_adopted(aio_ioc, backend):
    pytest.importorskip('epicscorelibs.ca.cadef', reason='needs epicscorelibs.ca to make '
                        'a context the way another library does')
    facts = _clean(run(aio_ioc, backend, 'foreign-context'))
    assert facts['created'] and facts['value'] == 2.5 and facts['same_context'], facts


if __name__ == '__main__':
    sys.exit(pytest.main([__file__]))
