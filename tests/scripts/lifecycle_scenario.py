"""Threads, Ctrl-C and exit as users meet them: lifecycle_scenario.py KIND NAME BACKEND

One scenario per fresh interpreter, against the IOC of the calling test
module (prefix ``lc:``, see ``test_reliability_lifecycle.py``), with the
backend chosen the way users choose it (``CACHANNEL_BACKEND``, set by the
test).  KIND says what is measured:

* ``threads NAME``: many threads waiting at once; prints the slowest call
  and every failure.
* ``sigint NAME``: prints ``READY`` once about to block in NAME, then
  ``INTERRUPTED`` when the KeyboardInterrupt arrives (the test sends a real
  SIGINT), then checks that the next call works.
* ``interrupt NAME``: a KeyboardInterrupt raised at each point, in turn,
  where Python would raise a signal's in our Python code on NAME's way (a
  trace function raises it), each followed by a check that the library
  still works.
* ``exit NAME``: a daemon thread (or a callback) is busy in NAME when the
  main thread ends; prints ``MAIN_END <time.monotonic()>`` just before.
* ``fresh NAME``: calls made before any channel exists.

Each prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import dis
import faulthandler
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit  # noqa: E402

faulthandler.enable()

KIND, NAME = sys.argv[1], sys.argv[2]
MISSING = 'lc:no-such-pv'
WAVE_COUNT = 200_000
IOC_PID = int(os.environ.get('LC_IOC_PID', '0'))

from CaChannel import CaChannel, CaChannelException, ca  # noqa: E402
from CaChannel import util  # noqa: E402
from epicsPV import epicsPV  # noqa: E402

# Long enough that only an interrupt (or exit) can end a wait.
CaChannel.ca_timeout = 30.0
LONG = 30.0


def connected(name: str) -> CaChannel:
    chan = CaChannel(name)
    chan.setTimeout(10.0)
    chan.searchw()
    return chan


def stop_ioc() -> None:
    """The IOC stops answering (SIGSTOP): a request then never completes.

    Returns once every thread of the IOC is seen stopped: a signal is
    delivered asynchronously, and a thread still running could answer.
    """
    os.kill(IOC_PID, signal.SIGSTOP)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f'/proc/{IOC_PID}/task'):
            with open(f'/proc/{IOC_PID}/task/{task}/stat') as stat:
                states.append(stat.read().rsplit(')', 1)[1].split()[0])
        if all(state in ('T', 't') for state in states):
            return
        time.sleep(0.01)
    raise SystemExit(f'IOC {IOC_PID} did not stop: thread states {states}')


# ---------------------------------------------------------------------------
# threads: the slowest call, never one of N woken

def timed(record: List[float], fn: Callable[[], Any]) -> Any:
    start = time.monotonic()
    try:
        return fn()
    finally:
        record.append(time.monotonic() - start)


def run_bodies(bodies: List[Callable[[], None]]) -> List[str]:
    """Run each body in a thread of its own; -> what they raised."""
    failures: List[str] = []

    def guarded(i: int, body: Callable[[], None]) -> None:
        try:
            body()
        except Exception as exc:     # reported, the test fails on it
            failures.append(f'thread {i}: {exc!r}')
    threads = [threading.Thread(target=guarded, args=(i, body))
               for i, body in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return failures


def run_threads(count: int, body: Callable[[int], None]) -> List[str]:
    return run_bodies([lambda i=i: body(i) for i in range(count)])


def threads_pend_io() -> Dict[str, Any]:
    """6 threads: create_channel + pend_io(5) at once; a channel still
    searching in the main thread must not hold them back."""
    ca.create_channel(MISSING)
    durations: List[float] = []
    statuses: List[str] = []

    def body(i: int) -> None:
        for k in range(2):
            status, chid = ca.create_channel(f'lc:ai{i * 2 + k}')
            result = timed(durations, lambda: ca.pend_io(5.0))
            statuses.append(str(result))
            assert ca.state(chid) == ca.ChannelState.CONN, ca.state(chid)
    failures = run_threads(6, body)
    failures += [s for s in statuses if s != str(ca.ECA.NORMAL)]
    return {'slowest': max(durations), 'calls': len(durations), 'failures': failures}


def threads_searchw() -> Dict[str, Any]:
    durations: List[float] = []

    def body(i: int) -> None:
        for k in range(2):
            chan = CaChannel(f'lc:ai{i * 2 + k}')
            timed(durations, chan.searchw)
    failures = run_threads(8, body)
    return {'slowest': max(durations), 'calls': len(durations), 'failures': failures}


def threads_pool() -> Dict[str, Any]:
    """ThreadPoolExecutor(8): searchw/putw/getw on 200 PVs."""
    durations: List[float] = []
    failures: List[str] = []

    def work(i: int) -> None:
        chan = CaChannel(f'lc:ai{i}')
        timed(durations, chan.searchw)
        timed(durations, lambda: chan.putw(i + 0.5))
        value = timed(durations, chan.getw)
        if value != i + 0.5:
            failures.append(f'lc:ai{i} read {value!r}, wrote {i + 0.5}')
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(work, i) for i in range(200)]:
            try:
                future.result(120)
            except Exception as exc:
                failures.append(repr(exc))
    return {'slowest': max(durations), 'calls': len(durations), 'failures': failures,
            'total': time.monotonic() - start}


def threads_util() -> Dict[str, Any]:
    """util.caget of 40 PVs from 8 threads, each in its own order."""
    durations: List[float] = []
    names = [f'lc:ai{i}' for i in range(40)]
    for i, name in enumerate(names):
        util.caput(name, float(i))

    def body(i: int) -> None:
        for k in range(40):
            j = (k * 7 + i * 5) % 40
            value = timed(durations, lambda: util.caget(names[j]))
            assert value == float(j), (names[j], value)
    failures = run_threads(8, body)
    return {'slowest': max(durations), 'calls': len(durations), 'failures': failures}


def threads_values() -> Dict[str, Any]:
    """One thread's pend_io timeouts never make another thread's get
    return NORMAL with data that was never sent."""
    wave = connected('lc:wave')
    expected = [float(i % 1000 + 1) for i in range(WAVE_COUNT)]
    wave.putw(expected)
    stop = time.monotonic() + 3.0
    bad: List[str] = []
    reads = [0]

    def timeouts() -> None:
        n = 0
        while time.monotonic() < stop:
            status, chid = ca.create_channel(f'{MISSING}{n}')
            ca.pend_io(0.02)
            ca.clear_channel(chid)
            n += 1

    def reader(i: int) -> None:
        chan = connected('lc:wave')
        chan.setTimeout(10.0)
        while time.monotonic() < stop:
            value = chan.getw(use_numpy=True)
            reads[0] += 1
            if len(value) != WAVE_COUNT or value[0] != 1.0 or value[-1] != expected[-1] \
                    or float(value.min()) < 1.0:
                bad.append(f'thread {i}: read zeros or a short array')
                return

    failures = run_bodies([timeouts] + [lambda i=i: reader(i) for i in range(7)])
    return {'failures': failures + bad, 'reads': reads[0]}


def threads_searching_elsewhere() -> Dict[str, Any]:
    """A channel still searching in one thread never makes another
    thread's getw time out."""
    durations: List[float] = []
    searching = threading.Event()

    def searcher() -> None:
        chan = CaChannel(MISSING)
        chan.search()
        searching.set()
        try:
            chan.pend_io(3.0)
        except CaChannelException:
            pass

    def reader() -> None:
        searching.wait(10)
        chan = connected('lc:ai3')
        for _ in range(20):
            timed(durations, chan.getw)
    failures = run_bodies([searcher, reader])
    return {'slowest': max(durations), 'calls': len(durations), 'failures': failures}


THREADS = {'pend_io': threads_pend_io, 'searchw': threads_searchw, 'pool': threads_pool,
           'util': threads_util, 'values': threads_values,
           'searching_elsewhere': threads_searching_elsewhere}


# ---------------------------------------------------------------------------
# sigint: each blocking call, Ctrl-C arrives within a moment

def blocking_call(name: str) -> Callable[[], Any]:
    """Set up, and return the call that blocks until interrupted."""
    if name == 'ca.pend_io':
        ca.create_channel(MISSING)
        return lambda: ca.pend_io(LONG)
    if name == 'ca.pend_io(0)':
        ca.create_channel(MISSING)
        return lambda: ca.pend_io(0)
    if name == 'ca.pend_event':
        return lambda: ca.pend_event(LONG)
    if name == 'ca.pend_event(0)':
        return lambda: ca.pend_event(0)
    if name == 'CaChannel.searchw':
        return CaChannel(MISSING).searchw
    if name == 'CaChannel.pend_event':
        return lambda: CaChannel().pend_event(LONG)
    if name == 'epicsPV':
        return lambda: epicsPV(MISSING)
    if name == 'util.caget':
        return lambda: util.caget(MISSING)
    if name == 'epicsMotor.wait':
        from epicsMotor import epicsMotor
        motor = epicsMotor('sim:m1')
        motor.slew_speed = 1.0
        motor.move(90.0)            # 90 s at this speed
        return motor.wait
    # The IOC stops answering once the channels are connected.
    if name == 'stopped:ca.get':
        status, chid = ca.create_channel('lc:ai1')
        assert ca.pend_io(10) == ca.ECA.NORMAL
        stop_ioc()

        def get_and_wait() -> Any:
            ca.get(chid)
            return ca.pend_io(LONG)
        return get_and_wait
    if name == 'stopped:ca.sg_block':
        status, chid = ca.create_channel('lc:ai1')
        assert ca.pend_io(10) == ca.ECA.NORMAL
        status, gid = ca.sg_create()
        stop_ioc()
        ca.sg_get(gid, chid)
        return lambda: ca.sg_block(gid, LONG)
    if name == 'stopped:CaChannel.getw':
        chan = connected('lc:ai1')
        chan.setTimeout(LONG)
        stop_ioc()
        return chan.getw
    if name == 'stopped:epicsPV.getw':
        pv = epicsPV('lc:ai1')
        stop_ioc()
        return pv.getw
    if name == 'stopped:util.caget':
        util.caget('lc:ai1')
        stop_ioc()
        return lambda: util.caget('lc:ai1')
    if name == 'stopped:putWait':
        pv = epicsPV('lc:ai1')
        stop_ioc()
        return lambda: pv.putWait(1.0)
    raise SystemExit(f'unknown call {name}')


def sigint(name: str) -> Dict[str, Any]:
    call = blocking_call(name)
    print('READY', flush=True)
    outcome = 'returned'
    start = time.monotonic()
    try:
        result = call()
        outcome = f'returned {result!r}'
    except KeyboardInterrupt:
        outcome = 'interrupted'
        print('INTERRUPTED', flush=True)
    except CaChannelException as exc:
        outcome = f'raised {exc}'
    blocked = time.monotonic() - start
    print('ENDED', outcome, flush=True)
    # The library is consistent afterwards: the next call works (once the
    # test has let a stopped IOC go on).
    if name.startswith('stopped:'):
        sys.stdin.readline()
    chan = connected('lc:ai2')
    chan.putw(2.5)
    after = chan.getw()
    return {'outcome': outcome, 'blocked': blocked, 'after': after}


# ---------------------------------------------------------------------------
# interrupt: a KeyboardInterrupt at each line of our code on NAME's way

def _our_files() -> List[str]:
    import threading as threading_module
    import CaChannel as package
    folders = [os.path.dirname(package.__file__)]
    if ca.backend == 'caffi':
        import caffi_backend
        folders.append(os.path.dirname(caffi_backend.__file__))
    # threading's own code runs inside our waits (locks, conditions).
    return [os.path.join(folder, '') for folder in folders] + [threading_module.__file__]


def interrupted_call(name: str) -> Callable[[], Any]:
    """Set up (untraced), and return the call to interrupt."""
    if name == 'ca.pend_io-timeout':
        ca.create_channel(MISSING)
        return lambda: ca.pend_io(0.02)
    if name == 'ca.pend_io-woken':
        ca.create_channel('lc:ai7')
        return lambda: ca.pend_io(10)
    if name == 'ca.sg_block':
        status, chid = ca.create_channel('lc:ai8')
        assert ca.pend_io(10) == ca.ECA.NORMAL
        status, gid = ca.sg_create()
        ca.sg_get(gid, chid)
        return lambda: ca.sg_block(gid, 10)
    if name == 'CaChannel.getw':
        chan = connected('lc:ai9')
        return chan.getw
    if name == 'CaChannel.searchw':
        return CaChannel('lc:ai10').searchw
    if name == 'CaChannel.putw':
        # One channel for every run: a watch an interrupt left behind would
        # make the next putw on it wait for ever.
        if name not in _kept:
            _kept[name] = connected('lc:ai11')
        return lambda: _kept[name].putw(1.5)
    if name == 'util.caput-wait':
        return lambda: util.caput('lc:ai12', 2.5, wait=True)
    if name == 'util.caput-wait-list':
        return lambda: util.caput(['lc:ai13', 'lc:ai14'], [1.5, 2.5], wait=True)
    raise SystemExit(f'unknown call {name}')


_kept: Dict[str, Any] = {}


# Where CPython 3.11 and later look for a pending signal: on entering a
# function (RESUME), after a call returns and at a loop's backward jump.  A
# SIGINT's KeyboardInterrupt is raised at one of these points or in a C call
# that waits (lock acquire, sleep), which test_sigint covers.  A trace
# function raising at every line would also strike where no signal can,
# such as between a ``with`` body's end and the call of its ``__exit__``.
_CHECKED_AFTER = frozenset(dis.opmap[name] for name in
                           ('CALL', 'CALL_FUNCTION_EX', 'JUMP_BACKWARD') if name in dis.opmap)
_handlers: Dict[Any, Callable[[int], int]] = {}


def _handler_of(code: Any) -> Callable[[int], int]:
    """offset -> the exception handler that covers it (-1: none)."""
    found = _handlers.get(code)
    if found is None:
        entries = [(e.start, e.end, e.target) for e in dis.Bytecode(code).exception_entries]

        def found(offset: int) -> int:
            return next((target for start, end, target in entries if start <= offset < end), -1)
        _handlers[code] = found
    return found


def interrupt(name: str) -> Dict[str, Any]:
    prefixes = tuple(_our_files())
    outcomes: Dict[str, int] = {}
    failures: List[str] = []
    at = 0
    while True:
        at += 1
        call = interrupted_call(name)
        seen = 0
        # frame -> the handler of the check its last instruction made
        checks_next: Dict[Any, int] = {}

        def strike(frame: Any) -> None:
            nonlocal seen
            seen += 1
            if seen == at:
                raise KeyboardInterrupt

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            if not frame.f_code.co_filename.startswith(prefixes):
                return None
            if event == 'call':
                frame.f_trace_opcodes = True
                frame.f_trace_lines = False
                strike(frame)
            elif event == 'opcode':
                handler_of = _handler_of(frame.f_code)
                # The tracer raises at the instruction after the check: it
                # stands for the check only where both have one handler (not
                # e.g. from a return's call to its inlined finally block).
                if checks_next.pop(frame, None) == handler_of(frame.f_lasti):
                    strike(frame)
                if frame.f_code.co_code[frame.f_lasti] in _CHECKED_AFTER:
                    checks_next[frame] = handler_of(frame.f_lasti)
            elif event == 'return':
                checks_next.pop(frame, None)
            return tracer

        sys.settrace(tracer)
        try:
            call()
            outcome = 'completed'
        except KeyboardInterrupt:
            outcome = 'interrupted'
        except BaseException as exc:    # what an interrupt must never turn into
            outcome = 'failed'
            failures.append(f'check {at}: {type(exc).__name__}: {exc}')
        finally:
            sys.settrace(None)
            checks_next.clear()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        # Whatever the interrupt left half done, the next calls work: a wait
        # that gives up on it, then a channel connected and read.
        try:
            ca.pend_io(0.01)
            status, chid = ca.create_channel('lc:ai3')
            assert ca.pend_io(10) == ca.ECA.NORMAL, 'no connection'
            ca.get(chid)
            assert ca.pend_io(10) == ca.ECA.NORMAL, 'no value'
            ca.clear_channel(chid)
        except BaseException as exc:
            failures.append(f'after check {at}: {type(exc).__name__}: {exc}')
        if seen < at or len(failures) > 20:
            break
        if at > 2000:
            raise SystemExit('more than 2000 checks: the tracer sees more than our code')
    started = time.monotonic()
    ca.destroy_context()
    return {'outcomes': outcomes, 'failures': failures, 'checks': at - 1,
            'destroy_took': time.monotonic() - started}


# ---------------------------------------------------------------------------
# exit: a daemon thread (or a callback) busy when the main thread ends

def in_daemon(body: Callable[[], Any]) -> threading.Event:
    inside = threading.Event()

    def run() -> None:
        inside.set()
        body()
    threading.Thread(target=run, daemon=True).start()
    inside.wait(10)
    time.sleep(0.2)           # well inside the call
    return inside


def put_loop() -> None:
    status, chid = ca.create_channel('lc:ai5')
    ca.pend_io(10)
    n = 0
    while True:
        ca.put(chid, float(n))
        ca.flush_io()
        n += 1


def caget_loop() -> None:
    while True:
        util.caget('lc:ai6')


def object_loop() -> None:
    chan = connected('lc:ai7')
    n = 0
    while True:
        chan.putw(float(n))
        chan.getw()
        n += 1


EXIT_CALLS: Dict[str, Callable[[], Any]] = {
    'pend_io': lambda: (ca.create_channel(MISSING), ca.pend_io(LONG)),
    'pend_io(0)': lambda: (ca.create_channel(MISSING), ca.pend_io(0)),
    'pend_event': lambda: ca.pend_event(LONG),
    'pend_event(0)': lambda: ca.pend_event(0),
    'searchw': lambda: CaChannel(MISSING).searchw(),
    'epicsPV': lambda: epicsPV(MISSING),
    'put_loop': put_loop,
    'caget_loop': caget_loop,
    'object_loop': object_loop,
}


class Writer:
    """A monitor on A whose callback writes to B, B made after A."""

    def __init__(self) -> None:
        self.a = connected('lc:cnt')
        self.b = connected('lc:ai8')
        self.events = 0
        self.a.add_masked_array_event(None, None, None, self.on_update)
        self.a.flush_io()

    def on_update(self, epics_args: Dict[str, Any], _: Any) -> None:
        self.events += 1
        self.b.array_put(float(self.events))
        self.b.flush_io()


def exit_scenario(name: str) -> Dict[str, Any]:
    facts: Dict[str, Any] = {}
    if name in EXIT_CALLS:
        in_daemon(EXIT_CALLS[name])
    elif name in ('callback_holds', 'callback_holds+destroy'):
        writer = Writer()
        deadline = time.monotonic() + 10
        while writer.events < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        facts['events'] = writer.events
        if name.endswith('destroy'):
            ca.destroy_context()
            facts['after_destroy'] = str(writer.b.state())
        globals()['kept'] = writer        # dropped only at interpreter exit
    elif name == 'pend_io_in_callback':
        statuses: List[str] = []
        chan = connected('lc:cnt')
        chan.add_masked_array_event(None, None, None,
                                    lambda args, _: statuses.append(str(ca.pend_io(1.0))))
        chan.flush_io()
        deadline = time.monotonic() + 10
        while not statuses and time.monotonic() < deadline:
            time.sleep(0.05)
        facts['in_callback'] = statuses[:1]
        globals()['kept'] = chan
    else:
        raise SystemExit(f'unknown exit scenario {name}')
    emit(**facts)
    print('MAIN_END', time.monotonic(), flush=True)
    return {}


# ---------------------------------------------------------------------------
# fresh: calls before any channel exists

def fresh(name: str) -> Dict[str, Any]:
    facts: Dict[str, Any] = {}
    if name == 'destroy_first':
        ca.destroy_context()
        chan = connected('lc:ai9')
        chan.putw(9.5)
        facts['value'] = chan.getw()
    elif name == 'poll_only':
        facts['poll'] = str(ca.poll())
    elif name in ('thread_context_left', 'thread_context_left_preemptive'):
        # A thread makes a context of its own, with a channel, and ends
        # without destroying it: the process must still exit cleanly.
        preemptive = name.endswith('preemptive')

        def body() -> None:
            facts['create'] = str(ca.create_context(preemptive))
            status, chid = ca.create_channel('lc:ai11')
            facts['pend'] = str(ca.pend_io(10))
        worker = threading.Thread(target=body)
        worker.start()
        worker.join(30)
    elif name == 'second_context':
        # The main thread leaves the shared context for one of its own.
        ca.poll()
        ca.detach_context()
        facts['create'] = str(ca.create_context(False))
        facts['value'] = connected('lc:ai12').getw()
    elif name == 'every_call':
        # Each in a fresh state as far as possible: none may raise anything
        # but a clear TypeError/ValueError for these dummy arguments.
        results = {}
        calls = {
            'test_io': lambda: ca.test_io(), 'flush_io': lambda: ca.flush_io(),
            'pend_io': lambda: ca.pend_io(0.01), 'pend_event': lambda: ca.pend_event(0.01),
            'poll': lambda: ca.poll(), 'pend': lambda: ca.pend(0.01, True),
            'current_context': lambda: ca.current_context(),
            'show_context': lambda: ca.show_context(),
            'add_exception_event': lambda: ca.add_exception_event(None),
            'replace_printf_handler': lambda: ca.replace_printf_handler(None),
            'sg_create': lambda: ca.sg_create(),
            'message': lambda: ca.message(ca.ECA.NORMAL), 'version': lambda: ca.version(),
            'detach_context': lambda: ca.detach_context(),
            'create_context': lambda: ca.create_context(),
            'destroy_context': lambda: ca.destroy_context(),
            'create_context_again': lambda: ca.create_context(),
        }
        for key, call in calls.items():
            try:
                results[key] = repr(call())
            except (TypeError, ValueError) as exc:
                results[key] = f'{type(exc).__name__}: {exc}'
        facts['results'] = results
        facts['preemptive_after'] = bool(ca.current_context() is not None)
        chan = connected('lc:ai9')
        facts['value'] = chan.getw()
    else:
        raise SystemExit(f'unknown fresh scenario {name}')
    return facts


def main() -> None:
    if KIND == 'threads':
        emit(**THREADS[NAME]())
    elif KIND == 'sigint':
        emit(**sigint(NAME))
    elif KIND == 'interrupt':
        emit(**interrupt(NAME))
    elif KIND == 'exit':
        exit_scenario(NAME)
    elif KIND == 'fresh':
        emit(**fresh(NAME))
    else:
        raise SystemExit(f'unknown kind {KIND}')


main()
