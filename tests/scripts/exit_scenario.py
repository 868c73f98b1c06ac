"""Interpreter exit with CA busy: python -X dev exit_scenario.py BACKEND RECORDS PER_RECORD MODE

Subscribes PER_RECORD monitors to each of RECORDS counters that the IOC
(``test_reliability_exit.py``'s, prefix ``ex:``) updates at 10 Hz, starts a
put with callback that the IOC completes only seconds later (a calcout with
an output delay), opens a channel with a connection callback to a PV that
does not exist (its search is running) and one to a PV that does, then
leaves while events are pouring in.  MODE says how: 'return' (end of the
script), 'exit' (sys.exit(0) from a function), 'thread' (a non-daemon
Python thread is still doing CA work when the main thread ends).

The test asserts exit status 0 and no abort/FATAL text.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit, load_backend, wait_for  # noqa: E402

faulthandler.enable()
faulthandler.dump_traceback_later(60, exit=True)

backend, records, per_record, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ca = load_backend(backend)

events = [0]
lock = threading.Lock()


def on_event(args: dict) -> None:
    # Some Python work per event, as a real monitor callback does.
    if args['status'] == ca.ECA.NORMAL:
        with lock:
            events[0] += 1


connections: list = []
chids = []
for i in range(records):
    status, chid = ca.create_channel(f'ex:cnt{i}', callback=connections.append)
    assert status == ca.ECA.NORMAL
    chids.append(chid)
assert wait_for(lambda: all(ca.state(c) == ca.ChannelState.CONN for c in chids), 20), \
    'counters did not connect'
evids = []
for chid in chids:
    for _ in range(per_record):
        status, evid = ca.create_subscription(chid, on_event)
        assert status == ca.ECA.NORMAL
        evids.append(evid)
ca.flush_io()
# Wait until the monitors run at full rate: at least one second's worth.
assert wait_for(lambda: events[0] >= records * per_record * 2, 20), 'no events'

put_done: list = []
status, slow = ca.create_channel('ex:slow.A')
assert ca.pend_io(5) == ca.ECA.NORMAL
assert ca.put(slow, 1.0, callback=put_done.append) == ca.ECA.NORMAL
status, missing = ca.create_channel('ex:does-not-exist', callback=connections.append)
status, other = ca.create_channel('ex:cnt0', callback=connections.append)
ca.flush_io()
time.sleep(0.05)

emit(backend=backend, monitors=len(evids), events=events[0], put_done=len(put_done), mode=mode)
sys.stdout.flush()

if mode == 'thread':
    def busy() -> None:
        # gets with callback until the interpreter is shutting down
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            ca.get(chids[0], callback=on_event)
            ca.flush_io()
            time.sleep(0.001)

    threading.Thread(target=busy).start()
elif mode == 'exit':
    def leave() -> None:
        sys.exit(0)

    leave()
# 'return' and 'thread': the main thread simply ends here.
