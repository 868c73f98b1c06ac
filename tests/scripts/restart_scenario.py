"""IOC restart under a live client: python restart_scenario.py BACKEND MODE ROUNDS PORT_A [PORT_B]

MODE 'same': the IOC is killed (SIGKILL) and restarted on PORT_A, ROUNDS
times.  MODE 'other': the same, but the last restart is on PORT_B (the
client's EPICS_CA_ADDR_LIST, set by the test, lists both ports).

Before each kill the IOC is stopped (SIGSTOP) and gets and puts with
callback are issued, so they are certainly in flight when it dies.  After
the kill the script checks: connection callbacks report CONN_DOWN, state()
is PREV_CONN, every pending get/put callback arrives with a failure status,
pend_io on a dead PV times out, a get on a disconnected channel says
DISCONN.  After the restart: CONN_UP, state() CONN, the monitors (never
re-added) deliver the restarted IOC's values, and puts work again.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import (CATEST_DB, Events, emit, ioc_ports, load_backend,  # noqa: E402
                                  wait_for)

from CaChannel.testing import SoftIoc

faulthandler.enable()
# Never hang: dump every thread and exit if the whole scenario stalls.
faulthandler.dump_traceback_later(150, exit=True)

backend, mode, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
port_a = int(sys.argv[4])
port_b = int(sys.argv[5]) if len(sys.argv) > 5 else None
P = 'rst:'
TIMEOUT = 20.0   # reconnection relies on libca's search timer after a restart


def all_threads_stopped(pid: int) -> bool:
    """True once every thread of *pid* is in the stopped state (SIGSTOP is
    delivered asynchronously: a thread running on another core could still
    answer a request sent right after kill() returned)."""
    import os
    try:
        tasks = os.listdir(f'/proc/{pid}/task')
        states = []
        for task in tasks:
            with open(f'/proc/{pid}/task/{task}/stat') as stat:
                states.append(stat.read().rsplit(')', 1)[1].split()[0])
    except OSError:
        return False
    return bool(states) and all(state in ('T', 't') for state in states)


def start_ioc(port: int) -> SoftIoc:
    env = dict(ioc_ports(), EPICS_CA_SERVER_PORT=str(port))
    return SoftIoc(CATEST_DB, macros=f'P={P}', env=env, ready_pvs=[P + 'catest']).start()


ca = load_backend(backend)
iocs: list = []
failures: list = []
facts: dict = {'backend': backend, 'mode': mode, 'rounds': rounds, 'survived': 0,
               'round_facts': []}


def check(condition: bool, what: str) -> None:
    if not condition:
        failures.append(what)


try:
    ioc = start_ioc(port_a)
    iocs.append(ioc)

    conn = {name: Events() for name in ('catest', 'calong', 'cacalc')}
    chids = {}
    for name, recorder in conn.items():
        status, chids[name] = ca.create_channel(P + name, callback=recorder)
        assert status == ca.ECA.NORMAL, status
    assert wait_for(lambda: all(ca.state(c) == ca.ChannelState.CONN for c in chids.values()),
                    TIMEOUT, ca=ca), 'channels did not connect'
    mon_value, mon_calc = Events(), Events()
    status, evid_value = ca.create_subscription(chids['catest'], mon_value)
    assert status == ca.ECA.NORMAL, status
    status, evid_calc = ca.create_subscription(chids['cacalc'], mon_calc)
    assert status == ca.ECA.NORMAL, status
    done = Events()
    assert ca.put(chids['catest'], 5.0, callback=done) == ca.ECA.NORMAL
    assert wait_for(lambda: any(e['value'] == 5.0 for e in mon_value.snapshot()), TIMEOUT, ca=ca)

    for round_no in range(1, rounds + 1):
        last = round_no == rounds
        new_port = port_b if (mode == 'other' and last) else ioc.port
        here: dict = {'round': round_no, 'port': new_port}
        downs_before = {n: r.ops(ca.CA_OP.CONN_DOWN)
                        for n, r in conn.items()}
        ups_before = {n: r.ops(ca.CA_OP.CONN_UP)
                      for n, r in conn.items()}

        # Freeze the IOC so that requests are surely in flight, then kill it.
        ioc.process.send_signal(signal.SIGSTOP)
        check(wait_for(lambda: all_threads_stopped(ioc.pid), 5.0),
              f'round {round_no}: the IOC did not stop')
        gets, puts = Events(), Events()
        for _ in range(3):
            check(ca.get(chids['catest'], callback=gets)[0] == ca.ECA.NORMAL, 'get issue')
            check(ca.put(chids['calong'], round_no, callback=puts) == ca.ECA.NORMAL, 'put issue')
        ca.flush_io()
        time.sleep(0.2)
        check(len(gets) == 0 and len(puts) == 0, f'round {round_no}: replies from a stopped IOC')
        ioc.process.send_signal(signal.SIGKILL)
        ioc.process.wait(10)
        ioc.stop()

        # Down: connection callbacks, state(), failed in-flight requests.
        went_down = wait_for(lambda: all(
            r.ops(ca.CA_OP.CONN_DOWN) > downs_before[n]
            for n, r in conn.items()), TIMEOUT, ca=ca)
        check(went_down, f'round {round_no}: no CONN_DOWN for every channel')
        states = {n: ca.state(c) for n, c in chids.items()}
        check(all(s == ca.ChannelState.PREV_CONN for s in states.values()),
              f'round {round_no}: states while down {states}')
        check(wait_for(lambda: len(gets) == 3 and len(puts) == 3, TIMEOUT, ca=ca),
              f'round {round_no}: pending callbacks {len(gets)} gets, {len(puts)} puts of 3')
        here['get_status'] = sorted({str(e['status']) for e in gets.snapshot()})
        here['put_status'] = sorted({str(e['status']) for e in puts.snapshot()})
        check(all(e['status'] != ca.ECA.NORMAL and e['value'] is None for e in gets.snapshot()),
              f'round {round_no}: a get in flight reported success {gets.snapshot()}')
        check(all(e['status'] != ca.ECA.NORMAL for e in puts.snapshot()),
              f'round {round_no}: a put in flight reported success {puts.snapshot()}')
        # A dead PV: pend_io times out (cleanly, within its timeout).
        status, dead = ca.create_channel(P + 'catest')
        t0 = time.monotonic()
        here['pend_io_dead'] = str(ca.pend_io(1.0))
        here['pend_io_seconds'] = round(time.monotonic() - t0, 2)
        check(here['pend_io_dead'] == str(ca.ECA.TIMEOUT), f'pend_io on a dead PV: {here}')
        check(here['pend_io_seconds'] < 5, 'pend_io did not keep its timeout')
        check(ca.clear_channel(dead) == ca.ECA.NORMAL, 'clear of the dead channel')
        here['get_down'] = str(ca.get(chids['catest'])[0])
        check(here['get_down'] == str(ca.ECA.DISCONN), f'get while down: {here["get_down"]}')
        check(ca.put(chids['catest'], 1.0) == ca.ECA.DISCONN, 'put while down')

        # Up again, on the same or on the other port.
        values_before = len(mon_value)
        calc_before = len(mon_calc)
        t0 = time.monotonic()
        ioc = start_ioc(new_port)
        iocs.append(ioc)
        came_up = wait_for(lambda: all(
            r.ops(ca.CA_OP.CONN_UP) > ups_before[n]
            for n, r in conn.items()), TIMEOUT, ca=ca)
        here['reconnect_seconds'] = round(time.monotonic() - t0, 2)
        check(came_up, f'round {round_no}: no CONN_UP for every channel')
        check(all(ca.state(c) == ca.ChannelState.CONN for c in chids.values()),
              f'round {round_no}: state after restart')
        # The restarted IOC starts at 0: the old monitor sees it, un-re-added.
        check(wait_for(lambda: any(e['value'] == 0.0 for e in mon_value.snapshot()[values_before:]),
                       TIMEOUT, ca=ca), f'round {round_no}: no monitor event of the new IOC')
        check(wait_for(lambda: len(mon_calc) >= calc_before + 2, TIMEOUT, ca=ca),
              f'round {round_no}: the counter monitor did not resume')
        put_back = Events()
        target = 100.0 + round_no
        check(ca.put(chids['catest'], target, callback=put_back) == ca.ECA.NORMAL, 'put after')
        check(wait_for(lambda: len(put_back) == 1, TIMEOUT, ca=ca)
              and put_back.snapshot()[0]['status'] == ca.ECA.NORMAL,
              f'round {round_no}: put after restart')
        check(wait_for(lambda: any(e['value'] == target for e in mon_value.snapshot()),
                       TIMEOUT, ca=ca), f'round {round_no}: monitor missed the new value')
        here['host'] = ca.host_name(chids['catest'])
        facts['round_facts'].append(here)
        if not failures:
            facts['survived'] = round_no

    check(ca.clear_subscription(evid_value) == ca.ECA.NORMAL, 'clear_subscription')
    check(ca.clear_subscription(evid_calc) == ca.ECA.NORMAL, 'clear_subscription')
    for chid in chids.values():
        check(ca.clear_channel(chid) == ca.ECA.NORMAL, 'clear_channel')
    facts['live_callbacks_end'] = ca._backend_module._live_callbacks()
finally:
    for each in iocs:
        each.stop()

facts['failures'] = failures
emit(**facts)
