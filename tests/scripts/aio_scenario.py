"""CaChannel.aio lifecycle scenarios, one per fresh interpreter.

    python aio_scenario.py SCENARIO PREFIX

The IOC (started by tests/aio/test_aio_lifecycle.py) serves ``PREFIX:tick`` (a
counter processed at 20 Hz), ``PREFIX:ao`` and ``PREFIX:wave``; the backend
comes from ``CACHANNEL_BACKEND``.  Each scenario prints ``RESULT {json}``
(helpers.scenario_lib.emit) with what it saw; stderr must stay free of errors.

``loop-closes-in-flight``
    a loop ends with gets pending, a monitor ticking and callbacks queued;
    the program goes on (libca keeps replying to the closed loop), then a
    second loop reads again.  The values delivered before the close have
    no gaps.
``sigint``
    Ctrl-C (a real SIGINT the process sends itself from another thread) under
    ``asyncio.run`` while a caget waits for a PV that never answers and a
    monitor runs: KeyboardInterrupt reaches the caller, the cancelled call
    released its libca callbacks, and a new loop works afterwards.
``exit-live``
    the main thread returns while subscriptions of two loops (the main
    one's, and a daemon thread's running loop) are receiving.
``loop-after-loop``
    ``asyncio.run`` after ``asyncio.run``, each reading a PV (``PREFIX:ok``,
    ``PREFIX:ro``, ``PREFIX:ok``) of one server, which is slow to close a
    circuit: every read succeeds, and the last loop holds both channels.
``foreign-context``
    a context created and attached by another library (ctypes on
    epicscorelibs' libca, as pyepics does) is adopted by the thread's loop
    and still attached, undestroyed, when CaChannel exits.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import sys
import threading
import time
from typing import Any, List

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit  # noqa: E402


def _counter_gaps(values: List[float]) -> int:
    return sum(1 for a, b in zip(values, values[1:]) if b != a + 1)


def loop_closes_in_flight(prefix: str) -> None:
    import CaChannel.aio as aio
    from CaChannel import ca
    ticks: List[float] = []

    async def first() -> None:
        aio.camonitor(prefix + ':tick', ticks.append, all_updates=True)
        while len(ticks) < 5:
            await asyncio.sleep(0.02)
        # Requests whose replies arrive after the loop is gone.
        for _ in range(50):
            asyncio.ensure_future(aio.caget([prefix + ':ao', prefix + ':wave']))
        await asyncio.sleep(0)

    asyncio.run(first())
    delivered = list(ticks)
    time.sleep(1.0)  # the monitor keeps ticking into the closed loop

    async def second() -> Any:
        return await aio.caget(prefix + ':ao')

    value = asyncio.run(second())
    emit(delivered=len(delivered), gaps=_counter_gaps(delivered),
         after_close=len(ticks) - len(delivered), second_read=float(value),
         live_callbacks=ca._live_callbacks())


def loop_after_loop(prefix: str) -> None:
    import CaChannel.aio as aio
    values = [float(asyncio.run(aio.caget('%s:%s' % (prefix, name))))
              for name in ('ok', 'ro', 'ok')]

    async def cached() -> List[str]:
        return [info.name for info in aio.get_channel_infos()]

    emit(values=values, channels=asyncio.run(cached()))


def sigint(prefix: str) -> None:
    import CaChannel.aio as aio
    from CaChannel import CaChannel, ca
    ticks: List[float] = []
    # The first loop's channels are released when it closes; a channel held
    # across the two loops keeps libca from attaching the second loop's to
    # the closing circuit (docs/threads.rst, "A libca race"), which stalls it
    # for up to 10 s.
    keeper = CaChannel(prefix + ':ao')
    keeper.searchw()

    async def main() -> None:
        aio.camonitor(prefix + ':tick', ticks.append)
        await aio.connect(prefix + ':ao')
        # The signal comes while the caget below is pending.
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: threading.Thread(
            target=os.kill, args=(os.getpid(), signal.SIGINT)).start())
        await aio.caget(prefix + ':never', timeout=None)

    interrupted = False
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        interrupted = True

    async def again() -> Any:
        return await aio.caget(prefix + ':ao')

    value = asyncio.run(again())
    keeper.clear_channel()
    emit(interrupted=interrupted, ticks=len(ticks), read_after=float(value),
         live_callbacks=ca._live_callbacks())


def exit_live(prefix: str) -> None:
    import CaChannel.aio as aio
    started = threading.Event()

    def other_loop() -> None:
        async def forever() -> None:
            aio.camonitor(prefix + ':tick', lambda v: started.set(), all_updates=True)
            aio.camonitor(prefix + ':wave', lambda v: None, count=-1)
            while True:
                await asyncio.sleep(1)
        asyncio.run(forever())

    threading.Thread(target=other_loop, daemon=True).start()
    seen: List[Any] = []

    async def main() -> None:
        aio.camonitor([prefix + ':tick', prefix + ':ao'], lambda v, i: seen.append(i))
        while not (seen and started.is_set()):
            await asyncio.sleep(0.02)

    asyncio.run(main())
    emit(seen=len(seen), other_loop=started.is_set())
    print('EXITING', flush=True)


def foreign_context(prefix: str) -> None:
    import ctypes

    from epicscorelibs.ca import cadef
    libca = cadef.libca
    libca.ca_current_context.restype = ctypes.c_void_p
    # Another library makes the thread's context first.
    libca.ca_context_create(1)
    theirs = libca.ca_current_context()
    # Registered before CaChannel's own hooks, so it runs after them: the
    # owner destroys its context at exit, which would crash had CaChannel
    # destroyed it already.
    atexit.register(libca.ca_context_destroy)

    import CaChannel.aio as aio
    from CaChannel import ca

    async def main() -> Any:
        return await aio.caget(prefix + ':ao')

    value = asyncio.run(main())
    same = libca.ca_current_context() == theirs
    emit(created=bool(theirs), value=float(value), same_context=same,
         ours_is_theirs=ca.current_context() is not None)


SCENARIOS = {'loop-closes-in-flight': loop_closes_in_flight, 'sigint': sigint,
             'exit-live': exit_live, 'foreign-context': foreign_context,
             'loop-after-loop': loop_after_loop}

if __name__ == '__main__':
    SCENARIOS[sys.argv[1]](sys.argv[2])
    sys.stdout.flush()
