"""A PV that comes back with another type and length: python retype_scenario.py BACKEND PORT

The IOC on PORT serves ``rty:pv`` as a DOUBLE scalar.  The client connects,
reads it several times and subscribes to it with its native type; then the
IOC is killed and another one started on the same port, serving ``rty:pv``
as a waveform of five LONGs.  While it is down a get and a put say
DISCONN.  Once it is back, the channel's native type and count are the new
ones for every request made without a type: a put writes five integers, a
get reads them back as five integers, and a new subscription gets them.
(The cffi backend keeps a channel's native type and count from its
connection callback: this is what must not go stale.)
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import tempfile

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import Events, emit, ioc_ports, load_backend, wait_for  # noqa: E402

from CaChannel.testing import SoftIoc

faulthandler.enable()
faulthandler.dump_traceback_later(120, exit=True)

backend, port = sys.argv[1], int(sys.argv[2])
PV = 'rty:pv'
TIMEOUT = 20.0   # reconnection relies on libca's search timer after a restart
DATABASES = {
    'double': 'record(ao, "%s") { field(VAL, "1.5") field(PINI, "YES") }\n' % PV,
    'longs': 'record(waveform, "%s") { field(FTVL, "LONG") field(NELM, "5") }\n' % PV,
}


def start_ioc(folder: str, kind: str) -> SoftIoc:
    path = os.path.join(folder, kind + '.db')
    with open(path, 'w') as db:
        db.write(DATABASES[kind])
    env = dict(ioc_ports(), EPICS_CA_SERVER_PORT=str(port))
    return SoftIoc(path, env=env, ready_pvs=[PV]).start()


def read(ca, chid) -> tuple:
    status, value = ca.get(chid)
    if status != ca.ECA.NORMAL:
        return str(status), None
    return str(ca.pend_io(TIMEOUT)), value.get()


ca = load_backend(backend)
facts: dict = {'backend': backend}
iocs: list = []
with tempfile.TemporaryDirectory() as folder:
    try:
        ioc = start_ioc(folder, 'double')
        iocs.append(ioc)
        connections = Events()
        status, chid = ca.create_channel(PV, callback=connections)
        assert status == ca.ECA.NORMAL, status
        assert wait_for(lambda: connections.ops(ca.CA_OP.CONN_UP) == 1, TIMEOUT, ca=ca)
        facts['before'] = [read(ca, chid) for _ in range(3)]
        facts['before_native'] = [str(ca.field_type(chid)), ca.element_count(chid)]
        old_events = Events()
        status, old_sub = ca.create_subscription(chid, old_events)
        assert status == ca.ECA.NORMAL, status
        assert wait_for(lambda: len(old_events) >= 1, TIMEOUT, ca=ca)

        ioc.process.send_signal(signal.SIGKILL)
        ioc.process.wait(10)
        ioc.stop()
        facts['went_down'] = wait_for(
            lambda: connections.ops(ca.CA_OP.CONN_DOWN) == 1, TIMEOUT, ca=ca)
        facts['get_down'] = str(ca.get(chid)[0])
        facts['put_down'] = str(ca.put(chid, 2.5))

        ioc = start_ioc(folder, 'longs')
        iocs.append(ioc)
        facts['came_up'] = wait_for(
            lambda: connections.ops(ca.CA_OP.CONN_UP) == 2, TIMEOUT, ca=ca)
        facts['after_native'] = [str(ca.field_type(chid)), ca.element_count(chid)]
        done = Events()
        facts['put_status'] = str(ca.put(chid, [1, 2, 3, 4, 5], callback=done))
        wait_for(lambda: len(done) == 1, TIMEOUT, ca=ca)
        facts['put_done'] = [str(event['status']) for event in done.snapshot()]
        facts['after'] = [read(ca, chid) for _ in range(3)]
        new_events = Events()
        status, new_sub = ca.create_subscription(chid, new_events)
        facts['subscribe_status'] = str(status)
        wait_for(lambda: len(new_events) >= 1, TIMEOUT, ca=ca)
        facts['new_event'] = [[str(event['type']), event['count'], event['value']]
                              for event in new_events.snapshot()[:1]]
        # The subscription made before keeps its type, as libca's does.
        facts['old_event_types'] = sorted({str(event['type'])
                                           for event in old_events.snapshot()})
        for sub in (old_sub, new_sub):
            ca.clear_subscription(sub)
        ca.clear_channel(chid)
        facts['live_callbacks_end'] = ca._backend_module._live_callbacks()
    finally:
        for each in iocs:
            each.stop()

emit(**facts)
