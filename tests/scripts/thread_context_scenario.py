"""A thread with no CA context uses channels made in a context it did not make.

``thread_context_scenario.py FIRST SECOND``: the main thread reads a PV
through backend FIRST (which makes the context) and then through backend
SECOND (which finds that context already attached, as it would find
pyepics' or another library's); then a new thread, with no context, reads
and writes through SECOND's channel, then FIRST's. Each read must wait for its
reply (a thread joining some other context used to get the unfilled value,
0.0) and each write must be sent (flushed by the channel's own context).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Dict, List

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit  # noqa: E402

from CaChannel.testing import SoftIoc, apply_loopback_environ, free_port, loopback_environ

DB = 'record(ao, "tc:value") {\n    field(VAL, "50")\n    field(PINI, "YES")\n}\n'


def main() -> None:
    order = sys.argv[1:]
    facts: Dict[str, Any] = {'order': order}
    # An IOC of its own, before any context reads the address list.
    apply_loopback_environ(loopback_environ(free_port()))
    with SoftIoc(DB, env=os.environ, ready_pvs=['tc:value']):
        from CaChannel.epicsPV import epicsPV
        pvs = {}
        for backend in order:
            os.environ['CACHANNEL_BACKEND'] = backend
            pvs[backend] = epicsPV('tc:value')
            facts['main_' + backend] = pvs[backend].getw()
        seen: List[Any] = []

        def in_a_new_thread() -> None:
            # The backend that found the context in use first: the thread
            # has no context when it reaches that backend's channel.
            for number, backend in enumerate(reversed(order)):
                seen.append((backend, 'read', pvs[backend].getw()))
                pvs[backend].putw(60.0 + number)
                seen.append((backend, 'read back', pvs[backend].getw()))

        worker = threading.Thread(target=in_a_new_thread)
        worker.start()
        worker.join(30)
        facts['thread_done'] = not worker.is_alive()
        facts['thread'] = seen
        facts['main_after'] = pvs[order[-1]].getw()
        for pv in pvs.values():
            pv.clear_channel()
    emit(**facts)


if __name__ == '__main__':
    main()
