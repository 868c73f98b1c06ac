"""The documentation's ``>>>`` examples, run as doctests on both backends.

The examples live in ``tests/docs/doc_examples/*.txt``, one file per documented
section, with the site PV names mapped to the test IOC's and the motor
simulator's; every adaptation is explained at the top of its file (connect,
misc, epicsMotor, epicsPV).

Backend selection: each file runs once per backend, in-process, through the
``object_layer`` fixture: it sets ``CACHANNEL_BACKEND`` as users do, so the
object layer picks that backend when it makes a channel, and the doctest's
``ca`` is the same backend's ``CaChannel.ca.load_backend(name)`` view.  This
is cheaper than a subprocess per file and backend and keeps failures
reported with the doctest's own diff.

Context: each file runs in a thread of its own with a fresh CA context.
The CaChannel sections were written for callbacks that run inside
``pend_event`` (their outputs appear under the ``pend_event`` line), so they
get a non-preemptive context, which makes that output deterministic.  The
util section needs callbacks while the main thread sleeps (``camonitor``),
so it gets a preemptive one.  The context is destroyed after the run, once
every channel of the file has been cleared.
"""

from __future__ import annotations

import doctest
import gc
import io
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Dict

import pytest

from helpers import motor_sim
from helpers.ca_helpers import connect

motor_sim.reserve_port()  # before any CA context reads EPICS_CA_ADDR_LIST

EXAMPLES = Path(__file__).parent / 'doc_examples'

# file -> preemptive context?
FILES = {
    'cachannel_class.txt': False,
    'connect.txt': False,
    'read.txt': False,
    'write.txt': False,
    'monitor.txt': False,
    'information.txt': False,
    'misc.txt': False,
    'epicsPV.txt': False,
    'epicsMotor.txt': False,
    'util.txt': True,
}

motor_simulator = motor_sim.motor_fixture()


def _globs(ca_view: ModuleType) -> Dict[str, Any]:
    from CaChannel import CaChannel, CaChannelException
    from CaChannel.epicsMotor import epicsMotor, epicsMotorException
    from CaChannel.epicsPV import epicsPV
    from CaChannel.util import cainfo, caget, camonitor, caput

    return dict(ca=ca_view, CaChannel=CaChannel, CaChannelException=CaChannelException,
                epicsPV=epicsPV, epicsMotor=epicsMotor, epicsMotorException=epicsMotorException,
                caget=caget, caput=caput, camonitor=camonitor, cainfo=cainfo)


class CallbackOutput:
    """The doctest's stdout when callbacks print from CA's threads.

    A monitor's first update can arrive while ``camonitor(...)`` is still
    returning, and doctest would count it as that example's output, where
    the documentation shows it under the ``time.sleep`` that follows (what a
    user sees at the prompt). So a line printed by another thread goes to
    the example only while the example thread is blocked in a call made by
    the example itself (its top frame is the example's code: ``time.sleep``);
    otherwise it waits for the next example. Whole lines are routed, and
    doctest's reads of the output take the same lock, so no line is split,
    lost between two examples, or given to an example already compared.
    """

    def __init__(self, spoof: Any, example_thread: int) -> None:
        self._spoof = spoof
        self._example_thread = example_thread
        self._lock = threading.Lock()
        self._partial: Dict[int, str] = {}
        self._waiting: list = []

    def _example_is_blocked(self) -> bool:
        frame = sys._current_frames().get(self._example_thread)
        return frame is not None and frame.f_code.co_filename.startswith('<doctest ')

    def write(self, text: str) -> int:
        with self._lock:
            thread = threading.get_ident()
            if thread == self._example_thread:
                self._spoof.write(text)
                return len(text)
            text = self._partial.pop(thread, '') + text
            lines, newline, rest = text.rpartition('\n')
            if rest:
                self._partial[thread] = rest
            if newline:
                if self._example_is_blocked():
                    self._spoof.write(lines + newline)
                else:
                    self._waiting.append(lines + newline)
        return len(text)

    def release_waiting(self) -> None:
        """Hand the lines that waited to the example about to run."""
        with self._lock:
            self._spoof.write(''.join(self._waiting))
            self._waiting.clear()

    def getvalue(self) -> str:
        with self._lock:
            return self._spoof.getvalue()

    def truncate(self, size: int = 0) -> int:
        with self._lock:
            return self._spoof.truncate(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spoof, name)


class CallbackDocTestRunner(doctest.DocTestRunner):
    """A runner whose stdout is a :class:`CallbackOutput`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # doctest points sys.stdout at _fakeout for the run and reads each
        # example's output from it.
        self._fakeout = CallbackOutput(self._fakeout, threading.get_ident())

    def report_start(self, out: Any, test: doctest.DocTest, example: doctest.Example) -> None:
        self._fakeout.release_waiting()
        super().report_start(out, test, example)


def _run_file(path: Path, ca_view: ModuleType, preemptive: bool) -> str:
    """Run one example file in its own thread and CA context; return the report ('' if passed)."""
    from CaChannel import util

    report = io.StringIO()
    outcome: Dict[str, Any] = {}

    def run() -> None:
        ca_view.create_context(preemptive)
        # The examples drop a channel and make the next at once; a channel
        # held here keeps libca from attaching that one to a closing circuit
        # (docs/threads.rst, "A libca race").
        keeper = connect(ca_view, 'catest')
        try:
            parser = doctest.DocTestParser()
            test = parser.get_doctest(path.read_text(), _globs(ca_view), path.name, str(path), 0)
            # Non-preemptive: callbacks run only while the example waits in
            # pend_event, so what they print is that example's output.
            runner_class = CallbackDocTestRunner if preemptive else doctest.DocTestRunner
            runner = runner_class(optionflags=doctest.ELLIPSIS)
            runner.run(test, out=report.write)
            outcome['result'] = runner.summarize(verbose=False)
        except BaseException as exc:  # reported to the test, not lost in the thread
            outcome['error'] = exc
        finally:
            # channels cached by util belong to this context
            for chan in util._channel_.values():
                chan.clear_channel()
            util._channel_.clear()
            gc.collect()
            ca_view.clear_channel(keeper)
            ca_view.destroy_context()

    thread = threading.Thread(target=run, name='doctest-' + path.stem)
    thread.start()
    thread.join(300)
    assert not thread.is_alive(), '%s did not finish' % path.name
    if 'error' in outcome:
        raise outcome['error']
    failed, attempted = outcome['result']
    assert attempted > 0, 'no examples found in %s' % path.name
    return report.getvalue() if failed else ''




@pytest.mark.parametrize('name', sorted(FILES))
def test_doc_examples(name: str, object_layer: ModuleType, motor_simulator: Any) -> None:
    if name in ('epicsMotor.txt', 'epicsPV.txt'):
        motor_sim.reset_motor()
    failures = _run_file(EXAMPLES / name, object_layer, FILES[name])
    assert failures == '', failures
