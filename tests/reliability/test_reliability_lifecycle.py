"""Threads, Ctrl-C and interpreter exit, each scenario in a fresh interpreter, both backends.

``scripts/lifecycle_scenario.py`` does what users do: many plain threads
waiting at once (the slowest call is bounded: a hang detector with a wide
margin, not a benchmark), a real SIGINT sent while blocked in each blocking
call of ``ca``, ``CaChannel``, ``epicsPV`` and ``util`` (with the IOC
answering, and with it stopped by SIGSTOP), exit while a daemon thread is
inside each blocking call or writing in a loop, callbacks that hold other
channels at exit and at ``destroy_context``, and calls before any channel
exists.  The backend is chosen as users choose it, with
``CACHANNEL_BACKEND``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pytest

from helpers import motor_sim
from CaChannel.testing import SoftIoc, free_port
from helpers.scenario_lib import BAD_TEXT, SCRIPTS, ScriptResult

SCRIPT = SCRIPTS / 'lifecycle_scenario.py'
#: The slowest single call of the thread scenarios: connections here take
#: milliseconds; a call that waited for another thread's wake-up or a
#: timeout takes seconds.
SLOWEST_CALL = 2.5
#: From SIGINT to KeyboardInterrupt (waits are cut into 0.1 s slices).
SIGINT_LATENCY = 1.5
#: From the main thread's end to the process's end.
EXIT_WITHIN = 2.0
EXITS_PER_SCENARIO = 5
PARALLEL = 4
#: libca closes a circuit when its last channel is cleared; a search reply that
#: arrives meanwhile installs its channel on the closing circuit, which then
#: disconnects it, and libca's disconnect governor delays its next search by
#: up to 10 s (docs/threads.rst).  Private channels cleared by pool workers can
#: meet it; that stall is libca's, told apart by the exception libca prints.
LIBCA_CIRCUIT_RACE = 'Virtual circuit disconnect'

def _database() -> str:
    lines = [f'record(ao, "lc:ai{i}") {{\n  field(VAL, "0")\n  field(PINI, "YES")\n}}\n'
             for i in range(200)]
    lines.append('record(waveform, "lc:wave") {\n  field(FTVL, "DOUBLE")\n'
                 '  field(NELM, "200000")\n}\n')
    lines.append('record(calc, "lc:cnt") {\n  field(SCAN, ".1 second")\n'
                 '  field(CALC, "A+1")\n  field(INPA, "lc:cnt.VAL NPP")\n}\n')
    return ''.join(lines)


motor_simulator = motor_sim.motor_fixture()


@pytest.fixture(scope='module')
def lc_ioc():
    env = {'EPICS_CA_SERVER_PORT': str(free_port()),
           'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']}
    with SoftIoc(_database(), env=env, ready_pvs=['lc:ai0', 'lc:wave', 'lc:cnt']) as ioc:
        yield ioc


def _env(ioc: SoftIoc, backend: str) -> Dict[str, str]:
    env = dict(os.environ)
    # The IOC at the script's server port, and the motor simulator.
    addresses = f'127.0.0.1 127.0.0.1:{motor_sim.reserve_port()}'
    env.update({'EPICS_CA_ADDR_LIST': addresses, 'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_SERVER_PORT': str(ioc.port), 'LC_IOC_PID': str(ioc.pid),
                'CACHANNEL_BACKEND': backend, 'PYTHONUNBUFFERED': '1',
                'PYTHONPATH': os.pathsep.join([str(SCRIPT.parent)] + sys.path)})
    return env


class Scenario:
    """One run of the script, its output lines readable as they come."""

    def __init__(self, ioc: SoftIoc, backend: str, kind: str, name: str) -> None:
        self.what = f'{kind} {name} [{backend}]'
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), kind, name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(ioc, backend),
            cwd=str(SCRIPT.parent), text=True, errors='replace', start_new_session=True)
        self.lines: 'queue.Queue[str]' = queue.Queue()
        self.stdout: List[str] = []
        self.stderr = ''
        self.ended_at: Optional[float] = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line)
            self.lines.put(line)
        self.ended_at = time.monotonic()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise AssertionError(f'{self.what}: no {prefix!r} line in {timeout} s\n'
                                     + self.report())
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(prefix):
                return line

    def finish(self, timeout: float) -> ScriptResult:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f'{self.what} did not end within {timeout} s\n'
                                 + self.report())
        self._reader.join(10)
        self._err_reader.join(10)
        return ScriptResult(self.proc.returncode, ''.join(self.stdout), self.stderr)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._reader.join(10)
        self._err_reader.join(10)

    def report(self) -> str:
        return (f'--- stdout ---\n{"".join(self.stdout)[-4000:]}\n'
                f'--- stderr ---\n{self.stderr[-4000:]}')


def _check_clean(outcome: ScriptResult) -> None:
    assert outcome.returncode == 0, outcome.report()
    assert not BAD_TEXT.search(outcome.stderr), outcome.report()
    assert outcome.result is not None, outcome.report()


# --- many threads waiting at once ---------------------------------------------

@pytest.mark.parametrize('name', ['pend_io', 'searchw', 'pool', 'util', 'values',
                                  'searching_elsewhere'])
def test_threads(lc_ioc, backend, name):
    outcome = Scenario(lc_ioc, backend, 'threads', name).finish(180)
    _check_clean(outcome)
    facts = outcome.result
    assert facts['failures'] == [], facts
    if 'slowest' in facts:
        assert facts['calls'] > 0
        if facts['slowest'] >= SLOWEST_CALL and LIBCA_CIRCUIT_RACE in outcome.stderr:
            pytest.xfail(f'libca installed a channel on a closing circuit: {facts}')
        assert facts['slowest'] < SLOWEST_CALL, facts
    else:
        assert facts['reads'] > 0, facts


# --- a real SIGINT in every blocking call ------------------------------------

SIGINT_CALLS = ['ca.pend_io', 'ca.pend_io(0)', 'ca.pend_event', 'ca.pend_event(0)',
                'CaChannel.searchw', 'CaChannel.pend_event', 'epicsPV', 'util.caget',
                'epicsMotor.wait',
                'stopped:ca.get', 'stopped:ca.sg_block', 'stopped:CaChannel.getw',
                'stopped:epicsPV.getw', 'stopped:util.caget', 'stopped:putWait']


@pytest.mark.parametrize('call', SIGINT_CALLS)
def test_sigint(lc_ioc, backend, call, request):
    if call == 'epicsMotor.wait':
        request.getfixturevalue('motor_simulator')
        motor_sim.reset_motor()
    run = Scenario(lc_ioc, backend, 'sigint', call)
    try:
        run.wait_line('READY', 60)
        time.sleep(0.5)          # inside the call by now
        sent = time.monotonic()
        os.kill(run.proc.pid, signal.SIGINT)
        run.wait_line('INTERRUPTED', 10)
        latency = time.monotonic() - sent
    finally:
        if call.startswith('stopped:'):
            os.kill(lc_ioc.pid, signal.SIGCONT)
    if call.startswith('stopped:'):
        assert run.proc.stdin is not None
        run.proc.stdin.write('\n')
        run.proc.stdin.flush()
    outcome = run.finish(60)
    if call == 'epicsMotor.wait':
        motor_sim.reset_motor()
    _check_clean(outcome)
    assert outcome.result['outcome'] == 'interrupted', outcome.result
    assert outcome.result['after'] == 2.5, outcome.result
    assert latency < SIGINT_LATENCY, (latency, outcome.report())


# --- a KeyboardInterrupt at every point of our code on a call's way ----------

#: destroy_context waits up to 1 s (DESTROY_GRACE) for threads it counts
#: inside libca: an interrupt that left a thread counted shows here.
DESTROY_WITHIN = 0.9


@pytest.mark.parametrize('name', ['ca.pend_io-timeout', 'ca.pend_io-woken', 'ca.sg_block',
                                  'CaChannel.getw', 'CaChannel.searchw', 'CaChannel.putw',
                                  'util.caput-wait', 'util.caput-wait-list'])
@pytest.mark.skipif(sys.version_info < (3, 11),
                    reason='the scenario models where CPython 3.11 and later check for signals')
def test_interrupt_at_every_point(lc_ioc, backend, name):
    """A signal's KeyboardInterrupt can be raised at any call's return, loop
    or function entry of our Python code: at each one, in turn, it reaches
    the caller as a KeyboardInterrupt and leaves the library working (CI
    once saw a Condition's wait turn it into "release unlocked lock"; a
    thread left counted inside libca made destroy_context wait in vain; an
    Event's lock left held blocked libca's callback thread for good)."""
    outcome = Scenario(lc_ioc, backend, 'interrupt', name).finish(300)
    _check_clean(outcome)
    facts = outcome.result
    assert facts['failures'] == [], facts
    assert facts['outcomes'].get('completed') == 1, facts
    # The C backend's ca functions run no Python of ours.
    if backend == 'caffi' or name.startswith('CaChannel'):
        assert facts['checks'] > 0, facts
    assert facts['outcomes'].get('interrupted', 0) == facts['checks'], facts
    assert facts['destroy_took'] < DESTROY_WITHIN, facts


# --- exit with a daemon thread busy, and callbacks holding other channels -----

EXIT_SCENARIOS = ['pend_io', 'pend_io(0)', 'pend_event', 'pend_event(0)', 'searchw',
                  'epicsPV', 'put_loop', 'caget_loop', 'object_loop', 'callback_holds',
                  'callback_holds+destroy', 'pend_io_in_callback']


@pytest.mark.parametrize('name', EXIT_SCENARIOS)
def test_exit(lc_ioc, backend, name):
    runs: List[Scenario] = []
    outcomes = []
    for n in range(EXITS_PER_SCENARIO):
        runs.append(Scenario(lc_ioc, backend, 'exit', name))
        if len(runs) == PARALLEL or n == EXITS_PER_SCENARIO - 1:
            for run in runs:
                line = run.wait_line('MAIN_END', 60)
                main_end = float(line.split()[1])
                outcome = run.finish(30)
                outcomes.append((outcome, run.ended_at - main_end))
            runs = []
    for outcome, took in outcomes:
        _check_clean(outcome)
        assert took < EXIT_WITHIN, (took, outcome.report())
        # Daemon threads are stopped, not handed errors to raise at exit.
        assert 'Traceback' not in outcome.stderr, outcome.report()
    facts = outcomes[0][0].result
    if name.startswith('callback_holds'):
        assert facts['events'] >= 5, facts
    if name == 'callback_holds+destroy':
        assert facts['after_destroy'] == 'ChannelState.CLOSED', facts
    if name == 'pend_io_in_callback':
        assert facts['in_callback'] == ['ECA.EVDISALLOW'], facts


# --- calls before any channel -------------------------------------------------

@pytest.mark.parametrize('name', ['every_call', 'destroy_first', 'poll_only',
                                  'thread_context_left', 'thread_context_left_preemptive',
                                  'second_context'])
def test_fresh_process(lc_ioc, backend, name):
    outcome = Scenario(lc_ioc, backend, 'fresh', name).finish(60)
    _check_clean(outcome)
    facts = outcome.result
    if name == 'every_call':
        assert not any('Error' in text for text in facts['results'].values()), facts
        assert isinstance(facts['value'], float), facts
    if name == 'destroy_first':
        assert facts['value'] == 9.5, facts
    if name == 'poll_only':
        assert facts['poll'] == 'ECA.TIMEOUT', facts
    if name.startswith('thread_context_left'):
        assert facts == {'create': 'ECA.NORMAL', 'pend': 'ECA.NORMAL'}, facts
    if name == 'second_context':
        assert facts['create'] == 'ECA.NORMAL' and isinstance(facts['value'], float), facts
