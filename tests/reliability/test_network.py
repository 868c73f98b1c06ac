"""Channel Access across a private network of test hosts (issue 23).

Three IOC hosts and a client host in network namespaces on one switch
(:mod:`CaChannel.testing.netns`; its network rule applies to all of this).
Every client is a fresh interpreter inside the client host, on both
backends.  The figures each scenario measures are printed (``-s`` shows
them; ``python -m bench.network_figures`` prints the table); bounds here
are hang guards only, never assertions on speed.

Needs root, iproute2 and network namespaces; skips with the reason without.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from CaChannel.testing import netns
from helpers.scenario_lib import SCRIPTS

# tests/scripts/net_scenarios.py stays beside the scripts it runs (bench/network_figures.py
# imports it from there too).
sys.path.insert(0, str(SCRIPTS))
import net_scenarios as scenarios  # noqa: E402

REASON = netns.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f'no test network: {REASON}')

#: A bound no healthy run comes near (seconds past what the script asked for).
HANG_GUARD = 20.0


@pytest.fixture(scope='module')
def bed() -> Iterator[scenarios.Testbed]:
    with scenarios.Testbed() as testbed:
        yield testbed


def clean(result: Dict[str, Any]) -> Dict[str, Any]:
    """*result* without the client's output, printed as the figures."""
    output = result.pop('output', ('', ''))
    assert result.get('returncode') == 0 and 'error' not in result, \
        f'{result}\n--- stdout ---\n{output[0]}\n--- stderr ---\n{output[1]}'
    print('FIGURES', result)
    return result


# -- the harness itself ------------------------------------------------------------

def test_every_process_runs_in_a_test_namespace(bed: scenarios.Testbed) -> None:
    """The switch, the IOCs and a client all run inside the network's own
    namespaces, none in the namespace the test runs in."""
    run = bed.client('reboot', 'c', {'pv': bed.prefix(0) + 'count'},
                     {'EPICS_CA_AUTO_ADDR_LIST': 'YES'})
    try:
        run.expect('READY')
        live = [p for p in bed.network.processes if p.poll() is None]
        assert run.proc in live and bed.network.switch in live
        assert len([ioc for ioc in bed.iocs if ioc and ioc.proc in live]) == 3
        assert bed.network.strays() == []
        mine = netns.namespace_inode(None)
        assert all(netns.process_namespace_inode(p.pid) != mine for p in live)
    finally:
        run.proc.kill()
        run.finish(10.0)


def test_hosts_have_no_default_route(bed: scenarios.Testbed) -> None:
    for host in bed.network.hosts:
        routes = subprocess.run(['ip', '-n', host.name, 'route', 'show'], capture_output=True,
                                text=True, check=True, timeout=10).stdout
        assert 'default' not in routes and host.address.rsplit('.', 1)[0] in routes


def test_namespaces_are_deleted_and_stale_ones_removed() -> None:
    with netns.Network(hosts=1) as net:
        made = net.namespaces
        assert set(made) <= set(netns._namespaces())
    assert not set(made) & set(netns._namespaces())
    # One left by a run that was killed: its process id no longer exists.
    dead = subprocess.Popen(['true'])
    dead.wait()
    stale = f'{netns.PREFIX}-{dead.pid}-leftover'
    subprocess.run(['ip', 'netns', 'add', stale], check=True, timeout=10)
    assert stale in netns.remove_stale_namespaces()
    assert stale not in netns._namespaces()


def test_sigterm_deletes_the_namespaces() -> None:
    """A process holding a network that is terminated leaves nothing behind."""
    code = ('import sys, time; from CaChannel.testing.netns import Network\n'
            'net = Network(hosts=1).start(); print(*net.namespaces, flush=True)\n'
            'time.sleep(60)\n')
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        made = proc.stdout.readline().split()
        assert len(made) == 2 and set(made) <= set(netns._namespaces())
        proc.terminate()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not set(made) & set(netns._namespaces())


def test_broadcast_discovery_only_inside_test_hosts() -> None:
    """The test process (root namespace) never searches by broadcast; the
    hosts' environment is built from scratch, without its EPICS settings."""
    assert os.environ.get('EPICS_CA_AUTO_ADDR_LIST', 'YES').upper() == 'NO'
    assert not [k for k in netns.host_environ() if k.startswith('EPICS_CA')]


# -- discovery -----------------------------------------------------------------------

@pytest.mark.parametrize('how', ['broadcast', 'addr_list', 'name_servers'])
def test_discovery(bed: scenarios.Testbed, backend: str, how: str) -> None:
    """PVs of three IOC hosts found by broadcast, by an address list naming
    the hosts, and by TCP name servers (rsrv answers searches on its TCP
    port, so every IOC is a name server for its own PVs)."""
    result = clean(scenarios.discovery(bed, backend, how))
    assert result['hosts'] == result['expected']
    for pv, value in result['values'].items():
        if pv.endswith('host'):
            assert value == pv.split(':')[0] + ':'


# -- an IOC host rebooted -------------------------------------------------------------

@pytest.mark.parametrize('repeater', [True, False], ids=['repeater', 'no-repeater'])
def test_reboot(bed: scenarios.Testbed, backend: str, repeater: bool) -> None:
    result = clean(scenarios.reboot(bed, backend, repeater))
    assert result['strays'] == []
    assert result['reconnect'] is not None, 'the channel never reconnected'
    assert result['monitor'] is not None, 'the monitor never resumed'
    assert result['getw'] is not None, 'getw never worked again'
    # The new IOC counts from 0 again: the values are its own.
    assert result['values_after'] and result['values_after'][0] < 1000


def test_util_survives_reboot(bed: scenarios.Testbed, backend: str) -> None:
    result = clean(scenarios.reboot(bed, backend, repeater=False, mode='util_reboot'))
    assert result['monitor'] is not None and result['caget_after'] is not None


def test_aio_survives_reboot(bed: scenarios.Testbed, backend: str) -> None:
    """The asyncio API: a subscription reports the disconnect and resumes
    with the new IOC's values; caget works again."""
    result = clean(scenarios.reboot(bed, backend, repeater=False, mode='aio_reboot'))
    assert result['disconnect_seen'], result
    assert result['monitor'] is not None and result['caget_after'] is not None, result


def test_camonitor_survives_reboot(bed: scenarios.Testbed, backend: str) -> None:
    result = scenarios.camonitor_reboot(bed, backend)
    print('FIGURES', {k: v for k, v in result.items() if k != 'lines'})
    assert result['lines_before'] >= 1, result['lines']
    assert result['alive_until_stopped'], result['lines']
    # It printed the disconnect, then values of the new IOC.
    assert result['disconnected'] is not None, result['lines']
    assert result['after'], result['lines']


@pytest.mark.skipif(importlib.util.find_spec('epics') is None,
                    reason='pyepics is not installed (pip install pyepics, or the bench extra)')
def test_pyepics_reboot_for_comparison(bed: scenarios.Testbed) -> None:
    """pyepics under the same fault: the peer our reconnect times are set
    beside in the figures."""
    result = clean(scenarios.reboot(bed, 'c', repeater=False, mode='pyepics_reboot'))
    assert result['reconnect'] is not None and result['monitor'] is not None


# -- a slow, lossy link --------------------------------------------------------------

def test_latency_and_loss(bed: scenarios.Testbed, backend: str) -> None:
    """200 ms and 5 % loss on what the IOC sends: scalars and the
    1,000,000-element waveform read, written with callback and monitored,
    every value checked."""
    result = clean(scenarios.impaired(bed, backend))
    assert result['wrong'] == []
    assert result['wave_bytes'] == scenarios.WAVE_ELEMENTS * 8
    assert result['monitor_events'] >= 1


# -- a link down past EPICS_CA_CONN_TMO -------------------------------------------------

def test_link_outage(bed: scenarios.Testbed, backend: str) -> None:
    result = clean(scenarios.outage(bed, backend))
    assert result['disconnect'] is not None
    assert result['reconnect'] is not None and result['monitor'] is not None
    assert result['getw'] is not None
    # A read while the link was down gave up (its timeout), not hung.
    assert isinstance(result['blocked_read'], float)
    assert result['blocked_read'] < result['attempt_timeout'] + HANG_GUARD
    assert result['overrun'] < HANG_GUARD
    # With the host's repeater running (libca starts none in the client).
    assert result['leaked'] == {'fds': 0, 'callbacks': 0, 'threads': 0}, result['new_fds']


# -- the documentation's examples ----------------------------------------------------

@pytest.mark.parametrize('how', ['broadcast', 'addr_list', 'name_servers'])
def test_doc_example_find(bed: scenarios.Testbed, how: str) -> None:
    """docs/network.rst's script, with each way of finding IOCs it shows."""
    hosts = [bed.ioc_host(index) for index in range(3)]
    env = scenarios.finding_env(bed, how)
    script = str(Path(scenarios.HERE) / 'net_example_find.py')
    done = bed.client_host.run([sys.executable, script, 'net2:host', 'net3:ao'],
                               env={**env, 'PATH': scenarios.PLAIN_PATH}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f'net2:host {hosts[1].ca_address} net2:',
                                        f'net3:ao {hosts[2].ca_address} 0.0']


def test_doc_example_harness() -> None:
    script = Path(scenarios.HERE) / 'net_example_harness.py'
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env={**os.environ})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith('demo:setpoint 10.231.') and
                                   line.endswith(' 1.5') for line in lines)
