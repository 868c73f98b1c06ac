"""Reads from the misbehaving server: python bad_client.py BACKEND MODE

MODE 'reads': every read below; 'access': the access checks; 'overrun': only
the gets without callback (plain and in a sync group) of bad:more; 'alarm':
a monitor of bad:alarm through the object layer and a TIME read of it.

The environment (set by the test) points the client at ``tests/helpers/bad_server.py``
only and sets EPICS_CA_MAX_ARRAY_BYTES below the size of ``bad:huge``.
Every read is done with and without callback, in a sync group and as a
monitor, in every DBR family; what came back (value or status) is reported for the test to
check.  Also the access checks: write_access(), put with and without
callback to a read-only PV and to one that refuses puts.  Designed to run
under valgrind as well (then slowly: timeouts are generous).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading

# Run by path in a fresh interpreter: tests/, the folder above, holds the
# helpers package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers.scenario_lib import emit, load_backend, wait_for  # noqa: E402

faulthandler.enable()
backend = sys.argv[1]
mode = sys.argv[2]
ca = load_backend(backend)
TIMEOUT = 30.0
out: dict = {'backend': backend}


class One:
    def __init__(self) -> None:
        self.events: list = []
        self.done = threading.Event()

    def __call__(self, args: dict) -> None:
        self.events.append(args)
        self.done.set()


def summary(args: dict) -> dict:
    value = args.get('value')
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != 'stamp'}
    return {'status': str(args['status']), 'count': args.get('count'), 'value': value}


def connect(name: str) -> object:
    status, chid = ca.create_channel(name)
    assert status == ca.ECA.NORMAL
    assert ca.pend_io(TIMEOUT) == ca.ECA.NORMAL, f'{name} did not connect'
    return chid


def waited(status, dbrvalue, wait) -> object:
    """What a get without callback gave once waited for (pend_io or sg_block)."""
    if status != ca.ECA.NORMAL:
        return str(status)
    status = wait()
    return {'status': str(status),
            'value': summary({'status': status, 'value': dbrvalue.get()})['value']
            if status == ca.ECA.NORMAL else None}


def group_read(chid, chtype, count) -> object:
    _, gid = ca.sg_create()
    status, dbrvalue = ca.sg_get(gid, chid, chtype, count)
    found = waited(status, dbrvalue, lambda: ca.sg_block(gid, TIMEOUT))
    ca.sg_delete(gid)
    return found


def reads(name: str, types, counts=(None,)) -> dict:
    chid = connect(name)
    found = {}
    for chtype in types:
        for count in counts:
            key = f'{ca.dbr_text(chtype)}/{count}'
            got = One()
            status, _ = ca.get(chid, chtype, count, callback=got)
            if status == ca.ECA.NORMAL:
                ca.flush_io()
                got.done.wait(TIMEOUT)
                found['cb ' + key] = summary(got.events[0]) if got.events else 'no callback'
            else:
                found['cb ' + key] = str(status)
            status, dbrvalue = ca.get(chid, chtype, count)
            found['io ' + key] = waited(status, dbrvalue, lambda: ca.pend_io(TIMEOUT))
            found['sg ' + key] = group_read(chid, chtype, count)
            mon = One()
            status, evid = ca.create_subscription(chid, mon, chtype, count)
            if status == ca.ECA.NORMAL:
                ca.flush_io()
                mon.done.wait(TIMEOUT)
                found['mon ' + key] = summary(mon.events[0]) if mon.events else 'no event'
                ca.clear_subscription(evid)
            else:
                found['mon ' + key] = str(status)
    found['native_count'] = ca.element_count(chid)
    found['state_after'] = str(ca.state(chid))
    ca.clear_channel(chid)
    return found


if mode == 'overrun':
    out['more_io'] = reads('bad:more', [ca.DBR_DOUBLE, ca.DBR_TIME_DOUBLE], counts=(4, None))
    out['live_end'] = ca._backend_module._live_callbacks()
    emit(**out)
    sys.exit(0)


def all_reads() -> None:
    strings = [ca.DBR_STRING, ca.DBR_STS_STRING, ca.DBR_TIME_STRING, ca.DBR_CTRL_STRING]
    out['str40'] = reads('bad:str40', strings + [ca.DBR_STSACK_STRING])
    out['enum'] = reads('bad:enum', [ca.DBR_ENUM, ca.DBR_GR_ENUM, ca.DBR_CTRL_ENUM,
                                     ca.DBR_STRING, ca.DBR_TIME_STRING])
    doubles = [ca.DBR_DOUBLE, ca.DBR_TIME_DOUBLE, ca.DBR_CTRL_DOUBLE, ca.DBR_STRING]
    out['fewer'] = reads('bad:fewer', doubles, counts=(None, 4, 0))
    out['more'] = reads('bad:more', doubles, counts=(None, 4, 0))
    out['huge'] = reads('bad:huge', [ca.DBR_DOUBLE], counts=(None, 10))
    # The circuit still serves after all of the above.
    out['ok_after'] = reads('acc:ok', [ca.DBR_DOUBLE])


def all_access() -> None:
    access = {}
    for name in ('acc:ro', 'acc:noput', 'acc:ok'):
        chid = connect(name)
        rights = One()
        ca.replace_access_rights_event(chid, rights)
        rights.done.wait(TIMEOUT)
        entry = {'read_access': ca.read_access(chid), 'write_access': ca.write_access(chid),
                 'rights_callback': ({k: v for k, v in rights.events[0].items() if k != 'chid'}
                                     if rights.events else None)}
        put_cb = One()
        status = ca.put(chid, 7.25, callback=put_cb)
        entry['put_callback_issue'] = str(status)
        if status == ca.ECA.NORMAL:
            ca.flush_io()
            put_cb.done.wait(TIMEOUT)
            entry['put_callback'] = str(put_cb.events[0]['status']) if put_cb.events else None
        entry['put_plain'] = str(ca.put(chid, 8.5))
        ca.flush_io()
        wait_for(lambda: False, 0.3)          # let a server error come back
        status, value = ca.get(chid)
        ca.pend_io(TIMEOUT)
        entry['value_after'] = value.get() if value is not None else None
        entry['state'] = str(ca.state(chid))
        ca.clear_channel(chid)
        access[name] = entry
    out['access'] = access


def odd_alarm() -> None:
    """bad:alarm's alarm numbers as CaChannel's monitor and a TIME get give them."""
    # The object layer takes its backend from the environment at each channel.
    os.environ['CACHANNEL_BACKEND'] = backend
    from CaChannel import CaChannel
    chan = CaChannel('bad:alarm')
    chan.setTimeout(TIMEOUT)
    chan.searchw()
    got = One()
    # CaChannel's callback takes (epics_args, user_args); One records the first.
    chan.add_masked_array_event(ca.DBR_TIME_DOUBLE, None, None,
                                lambda epics_args, user_args: got(epics_args))
    chan.flush_io()
    got.done.wait(TIMEOUT)
    chan.clear_event()
    chan.clear_channel()
    # str(): an int prints as its digits, a member as Class.NAME
    out['monitor'] = ({k: str(v) for k, v in got.events[0].items() if k != 'chid'}
                      if got.events else None)
    chid = connect('bad:alarm')
    status, value = ca.get(chid, ca.DBR_TIME_DOUBLE)
    ca.pend_io(TIMEOUT)
    dbr = value.get()
    out['get'] = {k: str(dbr[k]) for k in ('value', 'status', 'severity')}
    ca.clear_channel(chid)


if mode == 'reads':
    all_reads()
elif mode == 'alarm':
    odd_alarm()
else:
    all_access()
out['live_end'] = ca._backend_module._live_callbacks()
emit(**out)
