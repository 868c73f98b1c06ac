"""A Channel Access client inside a test host of CaChannel.testing.netns.

Run by tests/reliability/test_network.py (and bench/network_figures.py) with ``ip netns
exec``, a fresh interpreter per scenario, the backend chosen by
``CACHANNEL_BACKEND`` as users choose it.  Usage::

    net_client.py MODE PREFIX [options as JSON]

It talks to the test through lines: it prints ``READY`` (and ``DISCONNECTED``
in the outage scenario) when the test may apply the fault, and reads
``up <monotonic time>`` when the IOC serves again; CLOCK_MONOTONIC is one
clock for every namespace, so the figures are measured from that moment.
Its one result line is ``RESULT {json}`` (helpers.scenario_lib.emit).  Every wait is
bounded: the script gives up, and says so in its result, rather than hang.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit  # noqa: E402

#: How long anything the script waits for may take before it reports failure.
BOUND = float(os.environ.get('NET_BOUND', '60'))


def read_command(timeout: float = BOUND) -> List[str]:
    """The next line from the test, split; [] if none came in *timeout*."""
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    line = sys.stdin.readline() if ready else ''
    return line.split()


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


def fd_targets() -> Dict[str, str]:
    targets = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            targets[fd] = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            pass
    return targets


class Watched:
    """A CaChannel with connection and monitor callbacks that keep times."""

    def __init__(self, name: str, count: Optional[int] = None) -> None:
        from CaChannel import CaChannel, ca
        self.ca = ca
        self.chan = CaChannel(name)
        self.lock = threading.Lock()
        self.connected = False
        self.connects: List[float] = []
        self.disconnects: List[float] = []
        self.events: List[tuple] = []  # (time, value)
        self.chan.setTimeout(BOUND)
        self.chan.search_and_connect(None, self._on_connection)
        self.count = count
        self.overrun = 0.0  # the longest a failed getw ran past its timeout

    def _on_connection(self, epics_args: Any, _: Any) -> None:
        up = epics_args[1] == self.ca.CA_OP_CONN_UP
        with self.lock:
            self.connected = up
            (self.connects if up else self.disconnects).append(time.monotonic())

    def _on_event(self, epics_args: Dict[str, Any], _: Any) -> None:
        if epics_args['status'] == self.ca.ECA_NORMAL:
            with self.lock:
                self.events.append((time.monotonic(), epics_args['pv_value']))

    def monitor(self) -> None:
        self.chan.add_masked_array_event(None, self.count, None, self._on_event, use_numpy=True)
        self.chan.flush_io()

    def events_after(self, moment: float) -> List[tuple]:
        with self.lock:
            return [event for event in self.events if event[0] > moment]


def wait_connected(channels: List[Watched], timeout: float = BOUND) -> bool:
    channels[0].chan.flush_io()
    return wait_for(lambda: all(w.connected for w in channels), timeout)


def getw_until_it_works(watched: Watched, start: float, attempt_timeout: float) -> Optional[float]:
    """Try getw with *attempt_timeout* until one succeeds; the seconds from
    *start* to that success, None past BOUND.  Also records the longest
    overrun of a failed attempt past the timeout it asked for."""
    from CaChannel import CaChannelException
    watched.chan.setTimeout(attempt_timeout)
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        began = time.monotonic()
        try:
            watched.chan.getw()
            return time.monotonic() - start
        except CaChannelException:
            watched.overrun = max(watched.overrun, time.monotonic() - began - attempt_timeout)
            if time.monotonic() - began < attempt_timeout:
                time.sleep(min(attempt_timeout, 0.05))  # not connected: no wait inside
    return None


# -- scenarios -----------------------------------------------------------------

def discover(options: Dict[str, Any]) -> None:
    """Connect to every PV of options['pvs'] and tell which host served it."""
    from CaChannel import CaChannel, CaChannelException
    started = time.monotonic()
    channels = {}
    for name in options['pvs']:
        chan = CaChannel(name)
        chan.setTimeout(options.get('timeout', 10.0))
        chan.search()
        channels[name] = chan
    found: Dict[str, str] = {}
    values: Dict[str, Any] = {}
    try:
        next(iter(channels.values())).pend_io(options.get('timeout', 10.0))
    except CaChannelException as exc:
        emit(error=f'not every PV connected: {exc}',
             connected=[n for n, c in channels.items() if c.state() == 2])
        return
    connect_time = time.monotonic() - started
    for name, chan in channels.items():
        found[name] = chan.host_name()
        values[name] = chan.getw()
    emit(hosts=found, values=values, connect_time=connect_time)


def reboot(options: Dict[str, Any]) -> None:
    """Monitor a counter; the test kills the IOC and starts a new one."""
    counter = Watched(options['pv'])
    if not wait_connected([counter]):
        emit(error='never connected')
        return
    counter.monitor()
    wait_for(lambda: len(counter.events) >= 2, BOUND)
    print('READY', flush=True)
    if not wait_for(lambda: bool(counter.disconnects), BOUND):
        emit(error='no disconnect callback after the IOC was killed')
        return
    command = read_command()
    if command[:1] != ['up']:
        emit(error=f'expected "up", got {command}')
        return
    up = float(command[1])
    getw_time = getw_until_it_works(counter, up, options.get('attempt_timeout', 1.0))
    wait_for(lambda: bool(counter.connects[1:]) and bool(counter.events_after(counter.connects[-1])),
             BOUND)
    resumed = counter.events_after(up)
    emit(reconnect=(counter.connects[-1] - up) if len(counter.connects) > 1 else None,
         monitor=(resumed[0][0] - up) if resumed else None,
         getw=getw_time, overrun=counter.overrun,
         values_after=[float(v) for _, v in resumed[:3]])


def impaired(options: Dict[str, Any]) -> None:
    """Reads, puts with callback and monitors of a scalar and a waveform
    over a slow, lossy link; every value read back is checked."""
    import numpy
    from CaChannel import ca
    scalar = Watched(options['scalar'])
    wave = Watched(options['waveform'])
    started = time.monotonic()
    if not wait_connected([scalar, wave]):
        emit(error='never connected')
        return
    connect_time = time.monotonic() - started
    scalar.monitor()
    wave.monitor()
    wrong: List[str] = []
    put_done: List[float] = []

    def on_put(epics_args: Dict[str, Any], _: Any) -> None:
        put_done.append(time.monotonic())
        if epics_args['status'] != ca.ECA_NORMAL:
            wrong.append(f'put callback status {epics_args["status"]}')

    # Scalars: put with callback, read back, see the monitor.
    scalar_times = []
    for step in range(options.get('scalar_rounds', 5)):
        value = 100.0 + step
        began = time.monotonic()
        scalar.chan.array_put_callback(value, None, None, on_put)
        scalar.chan.flush_io()
        if not wait_for(lambda: len(put_done) > step, BOUND):
            wrong.append(f'put {value} never completed')
            break
        read = scalar.chan.getw()
        if read != value:
            wrong.append(f'read {read!r} after writing {value!r}')
        if not wait_for(lambda: any(v == value for _, v in scalar.events_after(began)), BOUND):
            wrong.append(f'no monitor event with {value}')
        scalar_times.append(time.monotonic() - began)

    # The waveform: a pattern that tells a wrong or shifted element apart.
    size = options['elements']
    pattern = (numpy.arange(size, dtype=numpy.int64) * 7 + 3) % 251
    pattern = pattern.astype(numpy.int8 if options.get('ftvl') == 'CHAR' else numpy.float64)
    done_before = len(put_done)
    began = time.monotonic()
    wave.chan.array_put_callback(pattern, None, None, on_put)
    wave.chan.flush_io()
    put_ok = wait_for(lambda: len(put_done) > done_before, BOUND * 4)
    put_time = time.monotonic() - began
    began = time.monotonic()
    wave.chan.setTimeout(BOUND * 4)
    read = numpy.asarray(wave.chan.getw(use_numpy=True))
    read_time = time.monotonic() - began
    if not put_ok:
        wrong.append('waveform put never completed')
    if read.shape != pattern.shape or not numpy.array_equal(read.astype(pattern.dtype), pattern):
        wrong.append(f'waveform read differs ({read.shape} elements)')
    seen = wait_for(lambda: any(len(v) == size and numpy.array_equal(
        numpy.asarray(v).astype(pattern.dtype), pattern) for _, v in wave.events), BOUND * 4)
    if not seen:
        wrong.append('no monitor event with the whole waveform')
    nbytes = pattern.nbytes
    emit(wrong=wrong, connect_time=connect_time,
         scalar_round=sum(scalar_times) / max(1, len(scalar_times)),
         wave_put=put_time, wave_read=read_time, wave_bytes=nbytes,
         read_throughput=nbytes / read_time if read_time else None,
         monitor_events=len(wave.events))


def outage(options: Dict[str, Any]) -> None:
    """The IOC's link goes down past EPICS_CA_CONN_TMO and comes back."""
    from CaChannel import ca, CaChannelException
    counter = Watched(options['pv'])
    if not wait_connected([counter]):
        emit(error='never connected')
        return
    counter.monitor()
    wait_for(lambda: len(counter.events) >= 2, BOUND)
    backend = ca._backend_module
    fds, callbacks, threads = open_fds(), backend._live_callbacks(), threading.active_count()
    fds_before = fd_targets()
    print('READY', flush=True)
    command = read_command()
    if command[:1] != ['down']:
        emit(error=f'expected "down", got {command}')
        return
    down = float(command[1])
    # While the link is down and the channel still looks connected: a read
    # must give up when its timeout says so, not when libca notices.
    attempt = options.get('attempt_timeout', 1.0)
    counter.chan.setTimeout(attempt)
    began = time.monotonic()
    try:
        counter.chan.getw()
        blocked_read = 'succeeded'
    except CaChannelException:
        blocked_read = time.monotonic() - began
    if not wait_for(lambda: bool(counter.disconnects), BOUND):
        emit(error='no disconnect callback while the link was down')
        return
    print('DISCONNECTED', flush=True)
    command = read_command()
    if command[:1] != ['up']:
        emit(error=f'expected "up", got {command}')
        return
    up = float(command[1])
    getw_time = getw_until_it_works(counter, up, attempt)
    wait_for(lambda: bool(counter.events_after(up)), BOUND)
    resumed = counter.events_after(up)
    # Give callbacks of the dropped requests a moment to come back to rest.
    wait_for(lambda: backend._live_callbacks() <= callbacks and open_fds() <= fds, 5.0)
    emit(disconnect=counter.disconnects[0] - down,
         reconnect=(counter.connects[-1] - up) if len(counter.connects) > 1 else None,
         monitor=(resumed[0][0] - up) if resumed else None,
         getw=getw_time, blocked_read=blocked_read, attempt_timeout=attempt,
         overrun=counter.overrun,
         new_fds=sorted(set(fd_targets().items()) - set(fds_before.items())),
         leaked={'fds': open_fds() - fds, 'callbacks': backend._live_callbacks() - callbacks,
                 'threads': threading.active_count() - threads})


def util_reboot(options: Dict[str, Any]) -> None:
    """CaChannel.util's camonitor and caget across an IOC reboot."""
    from CaChannel import util
    seen: List[tuple] = []
    util.camonitor(options['pv'], callback=lambda args, _: seen.append(
        (time.monotonic(), args['pv_value'])))
    first = util.caget(options['pv'])
    wait_for(lambda: len(seen) >= 2, BOUND)
    print('READY', flush=True)
    command = read_command()
    if command[:1] != ['up']:
        emit(error=f'expected "up", got {command}')
        return
    up = float(command[1])
    wait_for(lambda: any(t > up for t, _ in seen), BOUND)
    resumed = [(t, v) for t, v in seen if t > up]
    value = None
    deadline = time.monotonic() + BOUND
    while value is None and time.monotonic() < deadline:
        try:
            value = util.caget(options['pv'])
        except Exception:  # CaChannelException while the channel reconnects
            time.sleep(0.1)
    emit(first=first, monitor=(resumed[0][0] - up) if resumed else None,
         caget_after=value, caget_time=time.monotonic() - up)


def aio_reboot(options: Dict[str, Any]) -> None:
    """CaChannel.aio's camonitor (with notify_disconnect) and caget across an IOC reboot."""
    import asyncio

    from CaChannel import aio

    async def scenario() -> None:
        seen: List[tuple] = []
        aio.camonitor(options['pv'], lambda value: seen.append(
            (time.monotonic(), value.ok, +value if value.ok else None)),
            notify_disconnect=True)
        first = await aio.caget(options['pv'], timeout=BOUND)
        deadline = time.monotonic() + BOUND
        while sum(ok for _, ok, _ in seen) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        print('READY', flush=True)
        # The command arrives while the loop keeps delivering updates.
        command = await asyncio.get_running_loop().run_in_executor(None, read_command)
        if command[:1] != ['up']:
            emit(error=f'expected "up", got {command}')
            return
        up = float(command[1])
        deadline = time.monotonic() + BOUND
        while not any(t > up and ok for t, ok, _ in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        resumed = [t for t, ok, _ in seen if t > up and ok]
        value = None
        while value is None and time.monotonic() < deadline:
            try:
                value = +(await aio.caget(options['pv'], timeout=1.0))
            except aio.CANothing:   # while the channel reconnects
                await asyncio.sleep(0.1)
        emit(first=+first, monitor=(resumed[0] - up) if resumed else None,
             disconnect_seen=any(not ok for _, ok, _ in seen),
             caget_after=value, caget_time=time.monotonic() - up)

    asyncio.run(scenario())


def pyepics_reboot(options: Dict[str, Any]) -> None:
    """pyepics under the same reboot, measured the same way (benchmark peer)."""
    import epics
    times: Dict[str, List[float]] = {'connects': [], 'disconnects': [], 'events': []}

    def on_connection(pvname: str = '', conn: bool = False, **_: Any) -> None:
        times['connects' if conn else 'disconnects'].append(time.monotonic())

    def on_value(**_: Any) -> None:
        times['events'].append(time.monotonic())

    pv = epics.PV(options['pv'], callback=on_value, connection_callback=on_connection,
                  auto_monitor=True)
    if not pv.wait_for_connection(BOUND):
        emit(error='never connected')
        return
    wait_for(lambda: len(times['events']) >= 2, BOUND)
    print('READY', flush=True)
    if not wait_for(lambda: bool(times['disconnects']), BOUND):
        emit(error='no disconnect callback after the IOC was killed')
        return
    command = read_command()
    up = float(command[1])
    getw_time = None
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if pv.get(timeout=options.get('attempt_timeout', 1.0), use_monitor=False) is not None:
            getw_time = time.monotonic() - up
            break
        time.sleep(0.05)
    wait_for(lambda: any(t > up for t in times['events']), BOUND)
    resumed = [t for t in times['events'] if t > up]
    emit(reconnect=(times['connects'][-1] - up) if len(times['connects']) > 1 else None,
         monitor=(resumed[0] - up) if resumed else None, getw=getw_time)


SCENARIOS = {'discover': discover, 'reboot': reboot, 'impaired': impaired,
             'outage': outage, 'util_reboot': util_reboot, 'aio_reboot': aio_reboot,
             'pyepics_reboot': pyepics_reboot}

if __name__ == '__main__':
    SCENARIOS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    sys.stdout.flush()
