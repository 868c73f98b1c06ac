"""What putw's refusal check costs: python tests/scripts/putw_cost.py [N]

Run it against the tutorial's PVs, e.g.::

    python -m CaChannel.testing serve -- python tests/scripts/putw_cost.py 2000

For each backend it times N writes of ``catest`` three ways: the old
``putw`` (``array_put`` + ``flush_io``: no round trip, the write is only
sent), the ``putw`` of now (the write and a one-element read, waited for:
one round trip), and ``getw`` (one round trip, for reference).  It prints
microseconds per call (best of 3 runs).  A measurement, not a test.
"""

from __future__ import annotations

import os
import sys
import time


def per_call(call, n: int) -> float:
    best = float('inf')
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            call(i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def measure(n: int) -> None:
    from CaChannel import CaChannel, ca

    chan = CaChannel('catest')
    chan.searchw()

    def old_putw(i: int) -> None:
        chan.array_put(float(i % 10))
        chan.flush_io()

    def drained_old_putw(i: int) -> None:
        old_putw(i)
        if i == n - 1:   # the server has taken them all before the clock stops
            chan.getw()

    results = {
        'putw before (put + flush, 0 round trips)': per_call(drained_old_putw, n),
        'putw now (put + read, 1 round trip)': per_call(lambda i: chan.putw(float(i % 10)), n),
        'getw (1 round trip)': per_call(lambda i: chan.getw(), n),
    }
    for label, micros in results.items():
        print('%-6s %-44s %8.1f us' % (ca.backend, label, micros))
    chan.clear_channel()


if __name__ == '__main__':
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if 'CACHANNEL_BACKEND' not in os.environ:
        import subprocess
        for backend in ('c', 'caffi'):
            subprocess.run([sys.executable, __file__, str(count)],
                           env=dict(os.environ, CACHANNEL_BACKEND=backend), check=True)
    else:
        measure(count)
