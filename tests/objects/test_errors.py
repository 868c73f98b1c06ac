"""What the object layer says when something goes wrong, on both backends.

* writes the server refuses raise from ``putw``, ``util.caput`` and
  ``epicsPV.putWait``, with the server's status and the PV's name, and
  without libca's banner; ``array_put`` stays fire-and-forget (the banner
  is its report);
* every ``CaChannelException`` names its PV and says what happened, and
  keeps ``.status``;
* over-long writes: what exceeds the channel is dropped;
* the ``pv_*`` keys come in one order on both backends; a raising callback
  is reported under the user's function's name.

The IOC restart case of the ``util`` functions is in
``test_util_restart.py`` (a fresh interpreter per backend).
"""

from __future__ import annotations

import pickle
import sys
import threading
from types import ModuleType
from typing import Any, Dict, Iterator, List

import pytest

from CaChannel import CaChannel, CaChannelException, util
from CaChannel.epicsPV import epicsPV

MISSING = 'no:such:pv:errors'
SHORT = 0.3
BANNER = 'CA.Client.Exception'
#: what every call that searches MISSING with the default timeout says
NOT_FOUND = "'%s' not found within %s s" % (MISSING, SHORT)


@pytest.fixture
def layer(object_layer: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The object layer on one backend, with a short default timeout and
    the util channel cache of this backend only."""
    monkeypatch.setattr(CaChannel, 'ca_timeout', SHORT)
    util._channel_.clear()
    yield object_layer
    for chan in util._channel_.values():
        chan.clear_channel()
    util._channel_.clear()


def connected(name: str) -> CaChannel:
    chan = CaChannel(name)
    chan.setTimeout(5.0)
    chan.searchw()
    return chan


# --- refused writes ---------------------------------------------------------

@pytest.mark.parametrize('name,value', [
    ('cabo', 'Nope'),            # not a state of the bo
    ('cadisabled', 5.0),         # DISP=1
    ('catest.RTYP', 'ai'),       # a field no one may change
])
def test_putw_raises_a_refused_write(layer: ModuleType, capfd: pytest.CaptureFixture,
                                     name: str, value: Any) -> None:
    chan = connected(name)
    before = chan.getw()
    with pytest.raises(CaChannelException) as info:
        chan.putw(value)
    assert info.value.status == layer.ECA_PUTFAIL
    assert info.value.pvname == name
    assert str(info.value) == ("cannot write %r: the server refused the write "
                               "(Channel write request failed)" % name)
    assert chan.getw() == before
    # raised once, not also printed
    assert BANNER not in capfd.readouterr().err
    chan.clear_channel()


def test_putw_after_a_refusal_is_accepted(layer: ModuleType) -> None:
    chan = connected('cabo')
    with pytest.raises(CaChannelException):
        chan.putw('Nope')
    chan.putw('Busy')
    assert chan.getw() == 1
    chan.putw(0)
    assert chan.getw() == 0
    chan.clear_channel()


def test_write_access_denied_names_the_pv(layer: ModuleType) -> None:
    chan = connected('catest.NAME')
    with pytest.raises(CaChannelException) as info:
        chan.putw('renamed')
    assert info.value.status == layer.ECA_NOWTACCESS
    assert "'catest.NAME'" in str(info.value)
    chan.clear_channel()


def test_util_caput_raises_a_refused_write(layer: ModuleType) -> None:
    with pytest.raises(CaChannelException) as info:
        util.caput('cadisabled', 5)
    assert info.value.status == layer.ECA_PUTFAIL
    assert "'cadisabled'" in str(info.value)
    with pytest.raises(CaChannelException) as info:
        util.caput('cadisabled', 5, wait=True, timeout=5)
    assert info.value.status == layer.ECA_PUTFAIL
    assert "'cadisabled'" in str(info.value)
    util.caput('calong', 4)
    assert util.caget('calong') == 4


def test_epicsPV_putw_and_putWait_raise_a_refused_write(layer: ModuleType) -> None:
    pv = epicsPV('cadisabled')
    for write in (pv.putw, pv.putWait):
        with pytest.raises(CaChannelException) as info:
            write(3.0)
        assert info.value.status == layer.ECA_PUTFAIL
        assert "'cadisabled'" in str(info.value)
    pv.clear_channel()


def test_array_put_refusal_goes_to_the_banner(layer: ModuleType,
                                              capfd: pytest.CaptureFixture) -> None:
    chan = connected('cadisabled')
    with pytest.raises(CaChannelException):
        chan.putw(2.0)
    capfd.readouterr()
    chan.array_put(4.0)
    chan.flush_io()
    chan.getw()   # answered after the refusal
    err = capfd.readouterr().err
    assert BANNER in err
    assert 'Channel write request failed' in err
    assert 'channel=cadisabled' in err
    chan.clear_channel()


def test_exception_handler_gets_refusals_putw_does_not_raise(layer: ModuleType) -> None:
    got: List[Dict[str, Any]] = []
    CaChannel.add_exception_event(lambda epics_args, _: got.append(epics_args))
    try:
        chan = connected('cadisabled')
        with pytest.raises(CaChannelException):
            chan.putw(2.0)
        assert got == []
        chan.array_put(4.0)
        chan.flush_io()
        chan.getw()
        assert [(args['stat'], args['op']) for args in got] == [
            (layer.ECA_PUTFAIL, layer.CA_OP_PUT)]
        assert got[0]['state'] == layer.ECA_PUTFAIL
        chan.clear_channel()
    finally:
        CaChannel.add_exception_event(None)


def _putw_from_threads(layer: ModuleType, chans: List[CaChannel], count: int) -> List[List[Any]]:
    """Each channel written *count* times by a thread of its own (a channel
    may be listed more than once); -> each thread's outcomes, 'ok' or the
    status raised."""
    # The channels' context: a thread without one would join the process's
    # default context of this backend, which in this process (both backends
    # loaded) need not be the one the channels were made in.
    context = layer.current_context()
    outcomes: List[List[Any]] = [[] for _ in chans]

    def writer(index: int) -> None:
        layer.attach_context(context)
        for i in range(count):
            try:
                chans[index].putw(i)
                outcomes[index].append('ok')
            except CaChannelException as exc:
                outcomes[index].append(exc.status)

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(len(chans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_refusals_of_two_threads_go_to_their_own_putw(layer: ModuleType) -> None:
    refused = connected('cadisabled')
    accepted = connected('calong')
    outcomes = _putw_from_threads(layer, [refused, accepted], 20)
    assert outcomes[0] == [layer.ECA_PUTFAIL] * 20
    assert outcomes[1] == ['ok'] * 20
    refused.clear_channel()
    accepted.clear_channel()


def test_two_threads_writing_one_refusing_channel_take_turns(
        layer: ModuleType, capfd: pytest.CaptureFixture) -> None:
    """Each putw on one channel watches it in turn: every refusal is raised
    by the putw that made it, none is lost to the banner or raised twice."""
    refused = connected('cadisabled')
    outcomes = _putw_from_threads(layer, [refused] * 3, 15)
    for outcome in outcomes:
        assert outcome == [layer.ECA_PUTFAIL] * 15, outcomes
    assert 'CA.Client.Exception' not in capfd.readouterr().err
    refused.clear_channel()


def test_putw_inside_a_callback_sends_the_write(layer: ModuleType) -> None:
    """A CA callback cannot wait (pend_io says ECA_EVDISALLOW there): putw
    then only sends the write, as it always did."""
    writer = connected('calong')
    watched = connected('catest')
    writer.putw(0)
    outcome: List[Any] = []
    done = threading.Event()

    def on_change(epics_args: Any, _: Any) -> None:
        try:
            writer.putw(41)
            outcome.append('sent')
        except CaChannelException as exc:
            outcome.append(exc.status)
        done.set()

    watched.add_masked_array_event(None, None, None, on_change)
    watched.flush_io()
    for _ in range(100):
        if done.is_set():
            break
        watched.pend_event(0.05)
    assert outcome[:1] == ['sent']
    assert writer.getw() == 41
    watched.clear_channel()
    writer.clear_channel()


# --- what exceptions say ----------------------------------------------------

def test_epicsMotor_names_the_fields_not_found(layer: ModuleType) -> None:
    from CaChannel.epicsMotor import epicsMotor
    with pytest.raises(CaChannelException) as info:
        epicsMotor(MISSING)
    assert str(info.value) == "motor record '%s' not found within %s s" % (MISSING, SHORT)
    assert info.value.status == layer.ECA_TIMEOUT
    # an ao record has VAL and DESC, but no motor fields
    with pytest.raises(CaChannelException) as info:
        epicsMotor('catest')
    text = str(info.value)
    assert text.startswith("motor record 'catest': fields DVAL, RLV, DRBV, RRBV, DMOV, ")
    assert text.endswith(', OFF not found within %s s' % SHORT)
    for field in ('VAL', 'RVAL', 'RBV', 'DESC'):   # an ao record's own
        assert ' %s,' % field not in text
    assert info.value.pvname == 'catest.DVAL'


def test_pend_io_says_what_it_waited_for(layer: ModuleType) -> None:
    chan = connected('catest')
    missing = CaChannel(MISSING)
    missing.search()
    with pytest.raises(CaChannelException) as info:
        chan.pend_io(SHORT)
    assert info.value.status == layer.ECA_TIMEOUT
    assert str(info.value) == ("pend_io (of 'catest'): the searches and reads this thread "
                               "requested were not all answered within %s s" % SHORT)
    # that pend_io forgot the search (libca's rule): search again
    missing.search()
    with pytest.raises(CaChannelException) as info:
        missing.pend_io(SHORT)
    assert str(info.value) == NOT_FOUND
    missing.clear_channel()
    chan.clear_channel()


def test_searchw_names_the_missing_pv(layer: ModuleType) -> None:
    chan = CaChannel(MISSING)
    chan.setTimeout(SHORT)
    with pytest.raises(CaChannelException) as info:
        chan.searchw()
    assert str(info.value) == NOT_FOUND
    assert info.value.status == layer.ECA_TIMEOUT
    assert int(info.value) == int(layer.ECA_TIMEOUT)
    assert info.value.pvname == MISSING
    chan.clear_channel()


def test_epicsPV_names_the_missing_pv(layer: ModuleType) -> None:
    with pytest.raises(CaChannelException) as info:
        epicsPV(MISSING)
    assert str(info.value) == NOT_FOUND
    assert info.value.status == layer.ECA_TIMEOUT


def test_getw_before_searchw_says_so(layer: ModuleType) -> None:
    with pytest.raises(CaChannelException) as info:
        CaChannel('catest').getw()
    assert info.value.status == layer.ECA_BADCHID
    assert str(info.value).startswith("cannot read 'catest': ")
    assert 'searchw()' in str(info.value)


def test_getValue_before_a_read_says_so(layer: ModuleType) -> None:
    pv = epicsPV('catest', wait=0)
    pv.pend_io(5)
    with pytest.raises(CaChannelException) as info:
        pv.getValue()
    assert info.value.status == layer.ECA_GETFAIL
    assert "'catest'" in str(info.value)
    assert 'array_get()' in str(info.value)
    pv.clear_channel()


@pytest.mark.parametrize('call', [
    lambda: util.caget(MISSING),
    lambda: util.caput(MISSING, 1),
    lambda: util.caput(MISSING, 1, wait=True),
    lambda: util.camonitor(MISSING),
    lambda: util.cainfo(MISSING),
], ids=['caget', 'caput', 'caput-wait', 'camonitor', 'cainfo'])
def test_util_names_the_missing_pv(layer: ModuleType, call: Any) -> None:
    with pytest.raises(CaChannelException) as info:
        call()
    assert str(info.value) == NOT_FOUND
    assert info.value.status == layer.ECA_TIMEOUT
    assert MISSING not in util._channel_


def test_util_timeout_keyword(layer: ModuleType) -> None:
    for call in (util.caget, util.cainfo, util.camonitor):
        with pytest.raises(CaChannelException) as info:
            call(MISSING, timeout=0.1)
        assert str(info.value) == "'%s' not found within 0.1 s" % MISSING
    with pytest.raises(CaChannelException) as info:
        util.caput(MISSING, 1, timeout=0.1)
    assert str(info.value) == "'%s' not found within 0.1 s" % MISSING
    with pytest.raises(ValueError):
        util.caget('catest', timeout=-1)
    assert util.caget('catest', timeout=5) is not None


def test_legacy_exception_reads_as_the_status_message(layer: ModuleType) -> None:
    exc = CaChannelException(layer.ECA_TIMEOUT)
    assert str(exc) == layer.message(layer.ECA_TIMEOUT)
    assert exc.pvname is None
    named = CaChannelException(layer.ECA_TIMEOUT, 'x', "'x' not found within 1.0 s")
    copy = pickle.loads(pickle.dumps(named))
    assert (copy.status, copy.pvname, str(copy)) == (named.status, 'x', str(named))


# --- over-long writes -------------------------------------------------------

def test_over_long_writes_drop_the_excess(layer: ModuleType) -> None:
    scalar = connected('catest')
    scalar.putw([3.5, 4.5, 5.5])        # the original CaChannel's ca_test.py
    assert scalar.getw() == 3.5
    wave = connected('cawave')
    wave.putw([float(i) for i in range(22)])
    assert wave.getw() == [float(i) for i in range(20)]
    chars = connected('cawavec')
    chars.putw('toolongtext!!')          # the user documentation's caput example
    assert chars.getw(layer.DBR_STRING) == 'toolo'
    for chan in (scalar, wave, chars):
        chan.clear_channel()


def test_over_long_string_is_cut_to_39_bytes(layer: ModuleType) -> None:
    text = ''.join(chr(ord('a') + i % 26) for i in range(60))
    chan = connected('castr')
    chan.putw(text)                       # base's caput cuts it so
    assert chan.getw() == text[:39]
    chan.putw('\u00e9' * 30)              # 60 bytes: cut at a character boundary
    assert chan.getw() == '\u00e9' * 19
    util.caput('castr', text)
    assert util.caget('castr') == text[:39]
    strings = connected('cawaves')
    strings.putw([text, 'b', 'c', 'd'])
    assert strings.getw() == [text[:39], 'b', 'c']
    chan.clear_channel()
    strings.clear_channel()


# --- key order and callback reports -----------------------------------------

@pytest.mark.parametrize('request_name,pv', [
    ('DBR_GR_DOUBLE', 'catest'), ('DBR_CTRL_DOUBLE', 'catest'),
    ('DBR_GR_FLOAT', 'cafloat'), ('DBR_CTRL_FLOAT', 'cafloat'),
    ('DBR_CTRL_LONG', 'calong'), ('DBR_CTRL_ENUM', 'cabo'), ('DBR_TIME_DOUBLE', 'catest'),
])
def test_pv_keys_come_in_one_order_on_both_backends(monkeypatch: pytest.MonkeyPatch,
                                                     request_name: str, pv: str) -> None:
    from CaChannel import ca
    orders = {}
    for backend in ('c', 'caffi'):
        try:
            module = ca.load_backend(backend)
        except ImportError as exc:
            pytest.skip(f'backend {backend!r} not available: {exc}')
        monkeypatch.setenv('CACHANNEL_BACKEND', backend)
        chan = connected(pv)
        orders[backend] = list(chan.getw(getattr(module, request_name)))
        chan.clear_channel()
    assert orders['c'] == orders['caffi']
    if request_name.endswith(('FLOAT', 'DOUBLE')) and 'TIME' not in request_name:
        assert orders['c'][-1] == 'pv_precision'   # as the original CaChannel


def test_raising_callback_is_reported_under_its_name(layer: ModuleType,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    reports: List[Any] = []
    reported = threading.Event()

    def hook(args: Any) -> None:
        reports.append((args.exc_type, args.object))
        reported.set()

    monkeypatch.setattr(sys, 'unraisablehook', hook)

    def broken_callback(epics_args: Any, user_args: Any) -> None:
        raise RuntimeError('broken on purpose')

    chan = connected('catest')
    chan.array_get_callback(None, None, broken_callback)
    chan.flush_io()
    for _ in range(100):
        if reported.is_set():
            break
        chan.pend_event(0.05)
    assert reports, 'no report'
    exc_type, obj = reports[0]
    assert exc_type is RuntimeError
    assert obj.__qualname__.endswith('broken_callback')
    assert 'on_value' not in repr(obj)
    chan.clear_channel()
