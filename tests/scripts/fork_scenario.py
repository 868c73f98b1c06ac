"""fork with a live CA client: python fork_scenario.py BACKEND

The parent connects to the session softIoc (catest, cacalc) and keeps a
monitor running, then forks in three ways:

* os.fork(), the child reads through a fresh context and leaves with
  os._exit;
* os.fork(), the child reads and leaves through sys.exit (atexit handlers
  run: they must not wait for the parent's libca threads);
* multiprocessing with the 'fork' start method, the child reads and sends
  the value back through a queue.

In every child the parent's identifiers are stale (BADCHID) instead of
leading into the parent's context.  The parent keeps working throughout.
"""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import sys
import time

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit, load_backend, wait_for  # noqa: E402

faulthandler.enable()
faulthandler.dump_traceback_later(60, exit=True)

backend = sys.argv[1]
ca = load_backend(backend)
TIMEOUT = 5.0


def read(name: str) -> object:
    status, chid = ca.create_channel(name)
    assert status == ca.ECA.NORMAL, status
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL, 'no connection'
    status, value = ca.get(chid, ca.DBR_CTRL_DOUBLE)
    assert status == ca.ECA.NORMAL, status
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL, 'no reply'
    result = value.get()
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    return result


def child_report(stale_chid: object, stale_evid: object) -> dict:
    """What a child sees: stale parent identifiers, then a working read."""
    report = {
        'stale_get': str(ca.get(stale_chid)[0]),
        'stale_put': str(ca.put(stale_chid, 1.0)),
        'stale_clear': str(ca.clear_channel(stale_chid)),
        'stale_clear_sub': str(ca.clear_subscription(stale_evid)),
        'stale_state': str(ca.state(stale_chid)),
    }
    value = read('catest')
    report['units'] = value['units']
    report['value'] = value['value']
    report['live_after_read'] = ca._backend_module._live_callbacks()
    return report


def wait_child(pid: int, timeout: float) -> int:
    """waitpid with a deadline; a child still alive then is killed (-9)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def mp_child(queue: multiprocessing.Queue, stale_chid: object, stale_evid: object) -> None:
    queue.put(child_report(stale_chid, stale_evid))


results: dict = {'backend': backend}
parent_events: list = []
status, chid = ca.create_channel('catest')
assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
status, counter = ca.create_channel('cacalc')
assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL
status, evid = ca.create_subscription(counter, parent_events.append)
assert status == ca.ECA.NORMAL
ca.flush_io()
assert wait_for(lambda: len(parent_events) >= 1, TIMEOUT)
results['parent_before'] = read('catest')['value']

# 1 and 2: os.fork, leaving with os._exit and with sys.exit.
for how in ('os_exit', 'sys_exit'):
    read_fd, write_fd = os.pipe()
    # faulthandler's watchdog thread would not survive the fork, and
    # re-arming it in the child would wait for that thread forever.
    faulthandler.cancel_dump_traceback_later()
    pid = os.fork()
    if pid == 0:
        faulthandler.dump_traceback_later(20, exit=True)
        os.close(read_fd)
        code = 0
        try:
            report = child_report(chid, evid)
        except BaseException as exc:   # reported to the parent, never raised on
            report = {'error': repr(exc)}
            code = 1
        os.write(write_fd, json.dumps(report, default=str).encode())
        os.close(write_fd)
        if how == 'os_exit':
            os._exit(code)
        sys.exit(code)
    faulthandler.dump_traceback_later(60, exit=True)
    os.close(write_fd)
    code = wait_child(pid, 30)
    with os.fdopen(read_fd, 'rb') as pipe:
        raw = pipe.read()
    results[how] = {'exit': code, 'report': json.loads(raw) if raw else None}
    # The parent is unaffected.
    results[how]['parent_after'] = read('catest')['value']

# 3: multiprocessing with fork.
mp = multiprocessing.get_context('fork')
faulthandler.cancel_dump_traceback_later()
queue = mp.Queue()
process = mp.Process(target=mp_child, args=(queue, chid, evid))
process.start()
faulthandler.dump_traceback_later(60, exit=True)
try:
    report = queue.get(timeout=30)
except Exception as exc:   # queue.Empty: reported, the test fails on it
    report = {'error': repr(exc)}
process.join(30)
if process.is_alive():
    process.kill()
    process.join()
results['multiprocessing'] = {'exit': process.exitcode, 'report': report}

# The parent's monitor still runs after all that.
seen = len(parent_events)
results['parent_monitor_resumed'] = wait_for(lambda: len(parent_events) >= seen + 2, 5.0)
results['parent_after'] = read('catest')['value']
assert ca.clear_subscription(evid) == ca.ECA.NORMAL
assert ca.clear_channel(counter) == ca.ECA.NORMAL
assert ca.clear_channel(chid) == ca.ECA.NORMAL
results['parent_live_end'] = ca._backend_module._live_callbacks()
emit(**results)
