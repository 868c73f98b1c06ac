"""The util functions across an IOC restart: python util_restart_scenario.py BACKEND PORT

The object layer runs on BACKEND (``CACHANNEL_BACKEND``, set by the test).
A softIoc (catest.db, prefix ``urs:``) on PORT is read and written through
``CaChannel.util``, stopped, and started again on the same port.  While it
is down, caget/caput/camonitor/cainfo on the cached channels wait up to
their timeout and raise ECA.DISCONN naming the PV (they raised ECA.BADTYPE,
"The data type specified is invalid", at once); right after the restart a
caget with a long timeout waits for the channel to come back and returns the
restarted IOC's value.
"""

from __future__ import annotations

import faulthandler
import os
import sys

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import CATEST_DB, emit, ioc_ports, wait_for  # noqa: E402

from CaChannel.testing import SoftIoc

faulthandler.enable()
# Never hang: dump every thread and exit if the whole scenario stalls.
faulthandler.dump_traceback_later(150, exit=True)

backend, port = sys.argv[1], int(sys.argv[2])
P = 'urs:'
DOWN_TIMEOUT = 1.0
#: libca finds a restarted IOC through beacons or its search timer (~8 s)
BACK_TIMEOUT = 30.0


def start_ioc() -> SoftIoc:
    env = dict(ioc_ports(), EPICS_CA_SERVER_PORT=str(port))
    return SoftIoc(CATEST_DB, macros=f'P={P}', env=env, ready_pvs=[P + 'catest']).start()


def outcome(call) -> dict:
    """What *call* did: its value, or its exception's type, status and text."""
    try:
        return {'value': call()}
    except Exception as exc:  # the facts are checked by the test
        return {'error': type(exc).__name__, 'status': str(getattr(exc, 'status', None)),
                'text': str(exc)}


from CaChannel import ca, util  # noqa: E402

facts: dict = {'backend': ca.backend}
iocs = []
try:
    iocs.append(start_ioc())
    util.caput(P + 'catest', 2.5, timeout=10)
    facts['before'] = outcome(lambda: util.caget(P + 'catest', timeout=10))
    util.camonitor(P + 'cacalc', callback=lambda *args: None, timeout=10)
    util.camonitor(P + 'cacalc', callback=())
    chan = util._channel_[P + 'catest']

    iocs[-1].stop()
    facts['went_down'] = wait_for(lambda: chan.state() == ca.cs_prev_conn, BACK_TIMEOUT, ca=ca)
    facts['down'] = {
        'caget': outcome(lambda: util.caget(P + 'catest', timeout=DOWN_TIMEOUT)),
        'caget_as_string': outcome(lambda: util.caget(P + 'catest', as_string=True,
                                                      timeout=DOWN_TIMEOUT)),
        'caput': outcome(lambda: util.caput(P + 'catest', 1.0, timeout=DOWN_TIMEOUT)),
        'camonitor': outcome(lambda: util.camonitor(P + 'cacalc', callback=lambda *a: None,
                                                    timeout=DOWN_TIMEOUT)),
        'cainfo': outcome(lambda: util.cainfo(P + 'catest', timeout=DOWN_TIMEOUT)),
    }

    iocs.append(start_ioc())
    # at once: the channel is not back yet, caget waits for it
    facts['state_at_restart'] = str(chan.state())
    facts['after'] = outcome(lambda: util.caget(P + 'catest', timeout=BACK_TIMEOUT))
    facts['caput_after'] = outcome(lambda: util.caput(P + 'calong', 7, timeout=BACK_TIMEOUT))
    facts['caget_after'] = outcome(lambda: util.caget(P + 'calong', timeout=BACK_TIMEOUT))
    facts['same_channel'] = util._channel_[P + 'catest'] is chan
finally:
    for ioc in iocs:
        ioc.stop()
emit(**facts)
