"""The network scenarios of tests/reliability/test_network.py and bench/network_figures.py.

A :class:`Testbed` is a :class:`CaChannel.testing.netns.Network` of four
hosts: three IOC hosts (``ioc1``..``ioc3``, each serving ``netK:`` PVs) and
one client host.  Each scenario function runs ``net_client.py`` inside the
client host in a fresh interpreter, applies its fault at the moment the
client says ``READY`` and returns the client's result (the figures).  Every
wait has a bound; nothing here asserts on time.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from CaChannel.testing import stop_process
from CaChannel.testing.netns import Host, Network, NetIoc

HERE = Path(__file__).resolve().parent
CLIENT = str(HERE / 'net_client.py')
BIN = Path(sys.executable).parent

#: The client hosts' PATH: no caRepeater on it, so libca cannot start that
#: program; the testbed runs one (Host.start_repeater), as a host would, or
#: holds its port (Host.block_repeater) for the runs without, else libca
#: would run one in a thread of the client itself.
PLAIN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'

#: Short timers, so reboots and outages are noticed in seconds: libca's echo
#: probe after CONN_TMO seconds of silence, and the server's beacon period.
FAST = {'EPICS_CA_CONN_TMO': '3', 'EPICS_CA_BEACON_PERIOD': '1'}
FAST_IOC = {'EPICS_CAS_BEACON_PERIOD': '1'}

#: Elements of the big waveform of every IOC.
WAVE_ELEMENTS = 1_000_000

#: How long a rebooted IOC host stays down before its new IOC starts.
DOWN_TIME = 5.0

#: Bound of one client run; a run past it is killed and reported.
RUN_BOUND = 240.0


def database(prefix: str) -> str:
    return (f'record(calc, "{prefix}count") {{ field(SCAN, ".1 second") field(CALC, "VAL+1") }}\n'
            f'record(ao, "{prefix}ao") {{ field(PREC, "3") }}\n'
            f'record(stringin, "{prefix}host") {{ field(VAL, "{prefix}") }}\n'
            f'record(waveform, "{prefix}wf") {{ field(FTVL, "DOUBLE") field(NELM, "{WAVE_ELEMENTS}") }}\n')


class Testbed:
    """Three IOC hosts and a client host on one switch; the client host
    runs a caRepeater."""

    def __init__(self, ioc_env: Optional[Mapping[str, str]] = None) -> None:
        self.network = Network(hosts=4)
        self.ioc_env = dict(FAST_IOC if ioc_env is None else ioc_env)
        self.iocs: List[Optional[NetIoc]] = [None, None, None]
        self.repeater: Optional[subprocess.Popen[Any]] = None

    def __enter__(self) -> 'Testbed':
        self.network.start()
        try:
            for index in range(3):
                self.start_ioc(index)
            self.repeater = self.client_host.start_repeater()
        except BaseException:
            self.network.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.network.close()

    @property
    def client_host(self) -> Host:
        return self.network.hosts[3]

    def ioc_host(self, index: int) -> Host:
        return self.network.hosts[index]

    @staticmethod
    def prefix(index: int) -> str:
        return f'net{index + 1}:'

    def start_ioc(self, index: int) -> NetIoc:
        ioc = self.ioc_host(index).start_ioc(database(self.prefix(index)), env=self.ioc_env)
        self.iocs[index] = ioc
        return ioc

    def reboot(self, index: int, down_time: float = DOWN_TIME) -> float:
        """Kill the IOC of host *index*, start a new one after *down_time*;
        returns the monotonic time at which the new one serves."""
        ioc = self.iocs[index]
        assert ioc is not None
        ioc.kill()
        time.sleep(down_time)
        self.start_ioc(index)
        return time.monotonic()

    @contextlib.contextmanager
    def without_repeater(self) -> Iterator[None]:
        """The client host without a repeater for a while: its port held
        by a silent socket, so libca starts none either."""
        assert self.repeater is not None
        stop_process(self.repeater)
        blocker = self.client_host.block_repeater()
        try:
            yield
        finally:
            stop_process(blocker)
            self.repeater = self.client_host.start_repeater()

    def client_env(self, backend: str, extra: Mapping[str, str]) -> Dict[str, str]:
        env = {'CACHANNEL_BACKEND': backend, 'PATH': PLAIN_PATH,
               'PYTHONPATH': os.pathsep.join(p for p in sys.path if p)}
        env.update(extra)
        return env

    def client(self, mode: str, backend: str, options: Mapping[str, Any],
               env: Mapping[str, str]) -> 'ClientRun':
        return ClientRun(self, mode, backend, options, env)


class ClientRun:
    """net_client.py running in the client host, spoken to by lines."""

    def __init__(self, bed: Testbed, mode: str, backend: str, options: Mapping[str, Any],
                 env: Mapping[str, str]) -> None:
        self.bed = bed
        self.started = time.monotonic()
        self.proc = bed.client_host.popen(
            [sys.executable, CLIENT, mode, json.dumps(dict(options))],
            bed.client_env(backend, env), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.lines: List[str] = []

    def expect(self, word: str, timeout: float = 60.0) -> None:
        """Wait for the client's line *word*; RuntimeError with its output
        if it exits or stays silent for *timeout* seconds."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                self.lines.append(line)
                if line.strip() == word:
                    return
                if line.startswith('RESULT '):
                    break
        raise RuntimeError(f'client did not say {word}: {self.finish(5.0)}')

    def send(self, *words: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(' '.join(str(w) for w in words) + '\n')
        self.proc.stdin.flush()

    def finish(self, timeout: float = RUN_BOUND) -> Dict[str, Any]:
        """The client's result, with its exit status and output; killed
        after *timeout* seconds."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            err += f'\n[killed after {timeout} s]'
        out = ''.join(self.lines) + out
        result: Dict[str, Any] = {}
        for line in out.splitlines():
            if line.startswith('RESULT '):
                result = json.loads(line[len('RESULT '):])
        result['returncode'] = self.proc.returncode
        result['output'] = (out[-3000:], err[-3000:])
        result['elapsed'] = time.monotonic() - self.started
        return result


# -- the scenarios ----------------------------------------------------------------

def finding_env(bed: Testbed, how: str) -> Dict[str, str]:
    """The client variables that find the three IOC hosts by *how*:
    'broadcast', 'addr_list' (naming the hosts) or 'name_servers' (TCP)."""
    hosts = [bed.ioc_host(index) for index in range(3)]
    return {'broadcast': {'EPICS_CA_AUTO_ADDR_LIST': 'YES'},
            'addr_list': {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                          'EPICS_CA_ADDR_LIST': ' '.join(h.address for h in hosts)},
            'name_servers': {'EPICS_CA_AUTO_ADDR_LIST': 'NO', 'EPICS_CA_ADDR_LIST': '',
                             'EPICS_CA_NAME_SERVERS': ' '.join(h.ca_address for h in hosts)},
            }[how]


def discovery(bed: Testbed, backend: str, how: str) -> Dict[str, Any]:
    """Connect to PVs of all three IOC hosts, found by *how*: 'broadcast',
    'addr_list' or 'name_servers'."""
    hosts = [bed.ioc_host(index) for index in range(3)]
    env = finding_env(bed, how)
    pvs = [bed.prefix(index) + name for index in range(3) for name in ('host', 'ao')]
    run = bed.client('discover', backend, {'pvs': pvs, 'timeout': 15.0}, env)
    result = run.finish()
    result['expected'] = {pv: hosts[int(pv[3]) - 1].ca_address for pv in pvs}
    return result


def reboot(bed: Testbed, backend: str, repeater: bool, mode: str = 'reboot',
           env: Optional[Mapping[str, str]] = None,
           down_time: float = DOWN_TIME, settle: float = 0.0) -> Dict[str, Any]:
    """Kill IOC 1 under a monitoring client, *settle* seconds after it is
    ready, and start a new one *down_time* seconds later.

    libca re-searches disconnected channels on a 10 s timer that runs from
    the client's start (its disconnect governor), so *settle* moves the
    reboot across that period."""
    with contextlib.nullcontext() if repeater else bed.without_repeater():
        client_env = {'EPICS_CA_AUTO_ADDR_LIST': 'YES', **FAST,
                      'NET_BOUND': str(max(60.0, down_time + 60.0)), **(env or {})}
        run = bed.client(mode, backend, {'pv': bed.prefix(0) + 'count'}, client_env)
        run.expect('READY')
        strays = bed.network.strays()
        time.sleep(settle)
        up = bed.reboot(0, down_time)
        run.send('up', repr(up))
        result = run.finish()
    result['strays'] = strays
    result['down_time'] = down_time
    return result


def impaired(bed: Testbed, backend: str, delay: float = 0.2, loss: float = 0.05) -> Dict[str, Any]:
    """Scalars and the 1,000,000-element waveform of IOC 2 over a link that
    delays what the IOC sends by *delay* s and drops *loss* of it."""
    host = bed.ioc_host(1)
    host.impair(delay=delay, loss=loss)
    try:
        run = bed.client('impaired', backend,
                         {'scalar': bed.prefix(1) + 'ao', 'waveform': bed.prefix(1) + 'wf',
                          'elements': WAVE_ELEMENTS, 'scalar_rounds': 5},
                         {'EPICS_CA_AUTO_ADDR_LIST': 'YES', 'NET_BOUND': '120'})
        result = run.finish()
    finally:
        host.impair()
    result['delay'], result['loss'] = delay, loss
    return result


def outage(bed: Testbed, backend: str, conn_tmo: float = 3.0) -> Dict[str, Any]:
    """IOC 3's link down until the client saw the disconnect, then up."""
    host = bed.ioc_host(2)
    run = bed.client('outage', backend, {'pv': bed.prefix(2) + 'count', 'attempt_timeout': 1.0},
                     {'EPICS_CA_AUTO_ADDR_LIST': 'YES', **FAST,
                      'EPICS_CA_CONN_TMO': str(conn_tmo)})
    try:
        run.expect('READY')
        host.link_down()
        down = time.monotonic()
        run.send('down', repr(down))
        run.expect('DISCONNECTED', timeout=conn_tmo + 60)
        host.link_up()
        up = time.monotonic()
        run.send('up', repr(up))
        result = run.finish()
    finally:
        host.link_up()
    result['conn_tmo'] = conn_tmo
    result['link_down_for'] = up - down
    return result


def camonitor_reboot(bed: Testbed, backend: str) -> Dict[str, Any]:
    """CaChannel's camonitor in the client host while IOC 1 reboots."""
    pv = bed.prefix(0) + 'count'
    proc = bed.client_host.popen(
        [str(BIN / 'camonitor'), pv],
        bed.client_env(backend, {'EPICS_CA_AUTO_ADDR_LIST': 'YES', **FAST}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: List[tuple] = []

    def read_lines() -> None:
        # Stamped as they come: the fault is applied meanwhile.
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip('\n')))

    def value_after(moment: float) -> bool:
        return any(t > moment and text.startswith(pv) and 'disconnected' not in text
                   for t, text in list(lines))

    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    try:
        time.sleep(3.0)
        before = len(lines)
        killed = time.monotonic()
        up = bed.reboot(0)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not value_after(up):
            time.sleep(0.05)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(10)
    after = [(t - up, text) for t, text in lines
             if t > up and text.startswith(pv) and 'disconnected' not in text]
    disconnected = [t - killed for t, text in lines
                    if t > killed and text.startswith(pv) and 'disconnected' in text]
    return {'lines_before': before, 'lines': [text for _, text in lines],
            'disconnected': disconnected[0] if disconnected else None,
            'after': after[:3], 'monitor': after[0][0] if after else None,
            'alive_until_stopped': alive}
