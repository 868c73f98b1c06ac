"""CaChannel.aio against the session softIoc (catest.db), on both backends.

Each test runs its own event loop (``asyncio.run``), whose channel cache
takes over the last test's channels; its backend is the one the
``object_layer`` fixture selects through ``CACHANNEL_BACKEND``, as users
select it (channels of the other backend are cleared).  What needs a fresh
interpreter (Ctrl-C, exit, a closing loop) is in test_aio_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from types import ModuleType
from typing import Any, List, Tuple

import numpy
import pytest

import CaChannel.aio as aio
from CaChannel.aio import _core
from CaChannel.aio.types import AugmentedValue

WAIT = 10.0  # generous: the machine is shared; never a timed assertion
NE = 'aio:test:does-not-exist'


@pytest.fixture(autouse=True)
def circuit_kept(object_layer: ModuleType) -> None:
    """A channel to the session IOC held in the main thread's context, which
    the loops of the main thread share: releasing a loop's channels then
    never closes the circuit (see conftest.keep_circuit_open)."""
    from conftest import keep_circuit_open
    object_layer.flush_io()  # joins the process's context, as any CA call does
    keep_circuit_open(object_layer)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def live_callbacks(backend: ModuleType) -> int:
    return backend._backend_module._live_callbacks()


async def until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('gave up waiting for ' + what)
        await asyncio.sleep(0.01)


# --- values, formats, datatypes ------------------------------------------------------

def test_values_and_formats(object_layer: ModuleType) -> None:
    async def main() -> None:
        await aio.caput('catest', 2.5, wait=True)
        raw = await aio.caget('catest')
        assert raw == 2.5 and isinstance(raw, float)
        assert raw.name == 'catest' and raw.ok and raw.datatype == aio.DBR_DOUBLE
        assert raw.element_count == 1
        assert type(+raw) is float
        with pytest.raises(AttributeError):
            raw.timestamp
        timed = await aio.caget('catest', format=aio.FORMAT_TIME)
        assert timed.severity == 0 and timed.status == 0
        seconds, nanoseconds = timed.raw_stamp
        assert abs(timed.timestamp - (seconds + nanoseconds * 1e-9)) < 1e-6
        assert abs(timed.timestamp - time.time()) < 3600
        assert timed.datetime.year >= 2024
        ctrl = await aio.caget('catest', format=aio.FORMAT_CTRL)
        assert ctrl.units == 'mm' and ctrl.precision == 4
        assert (ctrl.upper_disp_limit, ctrl.lower_disp_limit) == (20, -20)
        assert (ctrl.upper_alarm_limit, ctrl.upper_warning_limit) == (20, 10)
        assert (ctrl.lower_warning_limit, ctrl.lower_alarm_limit) == (-10, -20)
        enum = await aio.caget('cabo', format=aio.FORMAT_CTRL)
        assert enum == 0 and enum.enums == ['Done', 'Busy']
        assert await aio.caget('cabo', datatype=aio.DBR_ENUM_STR) == 'Done'
        assert await aio.caget('catest', datatype=str) == '2.5000'
        assert await aio.caget('catest', datatype=int) == 2
        assert await aio.caget('catest', datatype=numpy.float32) == 2.5
        assert await aio.caget('cabo', datatype=aio.DBR_CLASS_NAME) == 'bo'
        await aio.caput('catest', 0, wait=True)
    run(main())


def test_arrays_strings_and_counts(object_layer: ModuleType) -> None:
    async def main() -> None:
        await aio.caput('cawave', [1, 2, 3], wait=True)
        value = await aio.caget('cawave')
        assert isinstance(value, numpy.ndarray) and value.dtype == numpy.float64
        assert list(value) == [1, 2, 3] and value.element_count == 20
        assert type(+value) is numpy.ndarray
        assert list(await aio.caget('cawave', count=2)) == [1, 2]
        assert len(await aio.caget('cawave', count=-1)) == 20
        single = await aio.caget('cawave', count=1)
        assert isinstance(single, numpy.ndarray) and list(single) == [1]
        await aio.caput('cawaveuc', 'hello text', datatype=aio.DBR_CHAR_STR, wait=True)
        assert await aio.caget('cawaveuc', datatype=aio.DBR_CHAR_STR) == 'hello text'
        assert await aio.caget('cawaveuc', datatype=aio.DBR_CHAR_BYTES) == b'hello text'
        await aio.caput('cawaves', ['a', 'bb', 'ccc'], wait=True)
        strings = await aio.caget('cawaves')
        assert list(strings) == ['a', 'bb', 'ccc']
        await aio.caput('castr', 'some text', wait=True)
        assert await aio.caget('castr') == 'some text'
        await aio.caput('castr', 12, wait=True)
        assert await aio.caget('castr') == '12'
        await aio.caput('cawave', numpy.arange(4.0), wait=True)
        echoed = await aio.caget('cawave')
        await aio.caput('cawave', echoed, wait=True)  # an augmented value goes back plain
        assert list(await aio.caget('cawave')) == [0, 1, 2, 3]
    run(main())


def test_bad_requests_raise_clear_errors(object_layer: ModuleType) -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await aio.caget('catest', datatype=12345)
        with pytest.raises(ValueError):
            await aio.caget('catest', format=7)
        with pytest.raises(ValueError):
            await aio.caget('catest', datatype=complex)
        with pytest.raises(ValueError):
            await aio.caput(['catest', 'calong'], [1, 2, 3])
        with pytest.raises(ValueError):
            await aio.caput('calong', 'not a number', datatype=int, wait=True)
        # The call that failed released what it held.
        assert all(not channel.waiters for channel in _core.current_state().channels.values())
    run(main())


def test_failures_throw_or_return(object_layer: ModuleType) -> None:
    async def main() -> None:
        with pytest.raises(aio.CANothing) as raised:
            await aio.caget(NE, timeout=0.3)
        assert raised.value.errorcode == object_layer.ECA_TIMEOUT
        assert raised.value.name == NE and not raised.value
        assert str(raised.value).startswith(NE + ': ')
        result = await aio.caget(NE, timeout=(time.time() + 0.3,), throw=False)
        assert isinstance(result, aio.CANothing) and not result.ok
        done = await aio.caput('calong', 3, wait=True)
        assert isinstance(done, aio.CANothing) and done.ok
        info = await aio.cainfo('calong')
        assert info.ok and info.datatype == object_layer.DBF_LONG and info.count == 1
        assert info.state_strings[info.state] == 'connected'
        assert 'Data type: long' in str(info)
        never = await aio.cainfo(NE, wait=False)
        assert never.state_strings[never.state] == 'never connected' and never.count == 0
    run(main())


# --- lists ------------------------------------------------------------------------------

def test_lists_in_parallel_under_one_timeout(object_layer: ModuleType) -> None:
    async def main() -> None:
        names = ['catest', 'calong', 'castr', 'cabo']
        assert all(await aio.connect(names))
        await aio.caput(names, [1.5, 7, 'x', 1], wait=True)
        assert await aio.caget(names) == [1.5, 7, 'x', 1]
        assert await aio.caget(tuple(names[:2])) == [1.5, 7]
        await aio.caput(['calong', 'catest'], 4, wait=True)
        assert await aio.caget(['calong', 'catest']) == [4, 4]
        mixed = await aio.caget(['calong', NE], timeout=0.5, throw=False)
        assert mixed[0] == 4 and mixed[0].ok
        assert isinstance(mixed[1], aio.CANothing) and not mixed[1].ok
        with pytest.raises(aio.CANothing) as raised:
            await aio.caget(['calong', NE], timeout=0.5)
        assert raised.value.name == NE
        infos = await aio.cainfo(['calong', 'castr'])
        assert [i.datatype for i in infos] == [object_layer.DBF_LONG, object_layer.DBF_STRING]
        assert await aio.caget([]) == []
        await aio.caput(names, [0, 0, '', 0], wait=True)
    run(main())


def test_channel_cache_per_loop(object_layer: ModuleType) -> None:
    async def main(names: List[str]) -> Tuple[List[Any], List[str], List[bool]]:
        before = [(i.name, i.connected, i.subscriber_count) for i in aio.get_channel_infos()]
        await aio.caget(names)
        await aio.caget(names[0])
        # The states of closed loops were released by the first call.
        closed = [state.loop.is_closed() for state in _core.states()]
        return before, [i.name for i in aio.get_channel_infos()], closed
    aio.purge_channel_caches()
    assert run(main(['calong', 'catest'])) == ([], ['calong', 'catest'], [False])
    # The next loop takes over the closed one's channels, still connected.
    before, names, closed = run(main(['castr', 'calong']))
    assert before == [('calong', True, 0), ('catest', True, 0)], before
    assert names == ['calong', 'catest', 'castr'] and closed == [False]


def test_next_loop_takes_channels_not_subscriptions(object_layer: ModuleType) -> None:
    got: List[Any] = []

    async def first() -> Any:
        sub = aio.camonitor('calong', got.append)
        await until(lambda: got, 'a monitor value')
        return sub

    aio.purge_channel_caches()
    sub = run(first())
    seen = len(got)

    async def second() -> Tuple[List[Any], Any]:
        infos = [(i.name, i.connected, i.subscriber_count) for i in aio.get_channel_infos()]
        await aio.caput('calong', 7, wait=True)
        return infos, await aio.caget('calong')

    infos, value = run(second())
    # The closed loop's subscription ended with it; its channel serves on.
    assert infos == [('calong', True, 0)] and value == 7
    assert sub.state == sub.CLOSED and len(got) == seen


def test_loop_in_a_new_thread_takes_the_channels(object_layer: ModuleType) -> None:
    outcome: List[Any] = []

    async def main() -> Any:
        infos = [(i.name, i.connected) for i in aio.get_channel_infos()]
        return infos, await aio.caget('calong')

    def thread() -> None:
        # No context yet in this thread: it joins the process's, as the
        # thread before it did.
        try:
            outcome.append((object_layer.current_context(), asyncio.run(main())))
        except BaseException as exc:  # reported below
            outcome.append(exc)

    aio.purge_channel_caches()
    for _ in range(2):
        t = threading.Thread(target=thread)
        t.start()
        t.join(60)
    assert len(outcome) == 2 and not any(isinstance(o, BaseException) for o in outcome), outcome
    (first_context, (first, _)), (second_context, (second, value)) = outcome
    assert first_context is None and second_context is None
    assert first == [] and second == [('calong', True)] and value is not None


def test_loop_of_another_context_clears_the_channels(object_layer: ModuleType) -> None:
    aio.purge_channel_caches()
    assert run(aio.caget('calong')) is not None
    old = _core.states()
    outcome: List[Any] = []

    def thread() -> None:
        # A context of its own: the main thread's channels are of no use here.
        object_layer.create_context(True)
        try:
            async def main() -> Any:
                infos = [i.name for i in aio.get_channel_infos()]
                return infos, await aio.caget('catest')
            outcome.append(asyncio.run(main()))
            aio.purge_channel_caches()
        except BaseException as exc:  # reported below
            outcome.append(exc)
        finally:
            object_layer.destroy_context()

    t = threading.Thread(target=thread)
    t.start()
    t.join(60)
    assert outcome and not isinstance(outcome[0], BaseException), outcome
    infos, value = outcome[0]
    assert infos == [] and value is not None
    assert old[0].channels == {} and old[0].closed


# --- monitors --------------------------------------------------------------------------

def test_monitor_every_update_in_order(object_layer: ModuleType) -> None:
    async def main() -> None:
        await aio.caput('calong', 0, wait=True)
        got: List[int] = []
        sub = aio.camonitor('calong', got.append, all_updates=True)
        await until(lambda: got == [0], 'the first value')
        # Each write completes before the next, so the server has no reason
        # to merge events; any gap would be ours.
        for i in range(1, 201):
            await aio.caput('calong', i, wait=True)
        await until(lambda: got[-1] == 200, 'the last update (got %s)' % got[-5:])
        assert got == list(range(201))
        sub.close()
        assert sub.state == sub.CLOSED
    run(main())


def test_coroutine_callback_merges_unless_all_updates(object_layer: ModuleType) -> None:
    async def main() -> None:
        await aio.caput('calong', 0, wait=True)
        for all_updates in (False, True):
            got: List[int] = []
            release = asyncio.Event()

            async def slow(value: AugmentedValue) -> None:
                got.append(+value)
                await release.wait()

            sub = aio.camonitor('calong', slow, all_updates=all_updates)
            await until(lambda: got == [0] or got == [3], 'the first value')
            first = got[0]
            for i in range(1, 4):
                await aio.caput('calong', i, wait=True)
            # Merged, the one pending value is replaced as updates arrive:
            # wait for the last one, not only for one to be there.
            await until(lambda: first == 3 or (
                len(sub.pending_values) == 3 - first if all_updates
                else len(sub.pending_values) == 1 and +sub.pending_values[0] == 3),
                'pending values')
            release.set()
            await until(lambda: got[-1] == 3, 'the last value')
            if all_updates:
                assert got == list(range(first, 4)) and sub.dropped_callbacks == 0
            else:
                assert got == [first, 3] or first == 3
                assert sub.dropped_callbacks == max(0, 3 - first - 1)
            sub.close()
            await aio.caput('calong', 0, wait=True)
    run(main())


def test_monitor_list_formats_and_errors(object_layer: ModuleType, capsys: Any) -> None:
    async def main() -> None:
        got: List[Tuple[Any, int]] = []
        subs = aio.camonitor(['catest', 'cabo'], lambda v, i: got.append((v, i)),
                             format=aio.FORMAT_TIME)
        await until(lambda: {i for _, i in got} == {0, 1}, 'both PVs')
        for value, index in got:
            assert value.name == ['catest', 'cabo'][index] and value.timestamp > 0
        for sub in subs:
            sub.close()
        never: List[Any] = []
        sub = aio.camonitor(NE, never.append, connect_timeout=0.2)
        await until(lambda: len(never) == 1, 'the connection timeout')
        assert not never[0].ok and sub.state == sub.OPENING
        sub.close()

        def boom(value: Any) -> None:
            raise RuntimeError('boom in a callback')
        failing = aio.camonitor('calong', boom)
        await until(lambda: failing.state == failing.CLOSED, 'the failing subscription')
        infos = {i.name: i for i in aio.get_channel_infos()}
        assert infos['calong'].subscriber_count == 0
    run(main())
    assert 'RuntimeError: boom in a callback' in capsys.readouterr().err


# --- cancellation and leaks ------------------------------------------------------------

def test_cancelled_calls_release_what_they_held(object_layer: ModuleType) -> None:
    async def main() -> None:
        await aio.connect('calong')
        base = live_callbacks(object_layer)
        for _ in range(20):
            task = asyncio.ensure_future(aio.caget(NE, timeout=None))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        channel = _core.current_state().channels[NE]
        assert not channel.waiters
        # Gets cancelled while their reply is on the way: the replies are
        # dropped on arrival and their callbacks released.
        for _ in range(20):
            task = asyncio.ensure_future(aio.caget('calong'))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for _ in range(50):
            await aio.caget('calong', timeout=0.01, throw=False)
        await until(lambda: live_callbacks(object_layer) <= base + 1, 'callbacks released')
    run(main())
    gc.collect()


# --- threads, loops, and the synchronous API ------------------------------------------

def test_many_loops_in_many_threads(object_layer: ModuleType) -> None:
    results: List[Any] = []
    errors: List[BaseException] = []

    async def work(n: int) -> Any:
        await aio.caput('calong', n, wait=True)
        values = await aio.caget(['calong', 'catest', 'castr'])
        got: List[Any] = []
        sub = aio.camonitor('catest', got.append)
        await until(lambda: got, 'a monitor value')
        sub.close()
        return values

    def thread(n: int) -> None:
        try:
            for _ in range(3):
                results.append(asyncio.run(work(n)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 18 and all(len(r) == 3 for r in results)


def test_mixed_with_the_synchronous_api(object_layer: ModuleType) -> None:
    from CaChannel import CaChannel, util

    chan = CaChannel('calong')
    chan.searchw()

    async def main() -> None:
        await aio.caput('calong', 0, wait=True)
        got: List[int] = []
        sub = aio.camonitor('calong', got.append, all_updates=True)
        await until(lambda: got == [0], 'the first value')
        # Blocking calls of the object layer from the loop's own thread and
        # from another thread: one context, every write seen by the monitor.
        chan.putw(11)
        await asyncio.get_running_loop().run_in_executor(None, util.caput, 'calong', 12)
        await until(lambda: got[-1:] == [12], 'the synchronous writes')
        assert 11 in got
        assert await aio.caget('calong') == 12 == chan.getw() == util.caget('calong')
        sub.close()
    run(main())
    assert object_layer.current_context() is not None


def test_purge_ends_waiting_calls_and_subscriptions(object_layer: ModuleType) -> None:
    async def main() -> None:
        waiting = asyncio.ensure_future(aio.caget(NE, timeout=None))
        got: List[Any] = []
        sub = aio.camonitor('calong', got.append)
        await until(lambda: got, 'a monitor value')
        await asyncio.sleep(0.05)
        aio.purge_channel_caches()
        with pytest.raises(aio.CANothing) as raised:
            await waiting
        assert raised.value.errorcode == object_layer.ECA_DISCONN
        assert sub.state == sub.CLOSED and aio.get_channel_infos() == []
        # The cache fills again on the next call.
        assert await aio.caget('calong') == await aio.caget('calong')
    run(main())
