"""Access: a PV whose access rights deny write and one that refuses puts.

Served by ``tests/helpers/bad_server.py`` (caproto): ``acc:ro`` grants read only,
``acc:noput`` grants read and write but its server refuses every put,
``acc:ok`` behaves.  The client runs in a subprocess
(``scripts/bad_client.py BACKEND access``) that searches only that server.
For ``acc:ro``: ``write_access()`` is False, the access rights callback says
so, puts with and without callback return ``ECA.NOWTACCESS`` at once and
the value stays.  For ``acc:noput``: the put callback gets ``ECA.PUTFAIL``
and the value stays.  Nothing crashes; the session IOC's ``cadisabled``
record (a put that the IOC ignores) is covered in the process as well.
"""

from __future__ import annotations

import pytest

from helpers.bad_server import BadServer
from helpers.ca_helpers import connect, put_wait, get_value
from helpers.scenario_lib import loopback_client_env, run_script



@pytest.fixture(scope='module')
def access_server():
    with BadServer() as server:
        yield server


def test_access_rights(access_server, backend):
    outcome = run_script('bad_client.py', [backend, 'access'],
                         env=loopback_client_env(access_server.port), timeout=120)
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    assert facts is not None, outcome.report()
    access = facts['access']

    ro = access['acc:ro']
    assert ro['read_access'] is True
    assert ro['write_access'] is False
    assert ro['rights_callback'] == {'read_access': True, 'write_access': False}
    assert ro['put_callback_issue'] == 'ECA.NOWTACCESS'
    assert ro['put_plain'] == 'ECA.NOWTACCESS'
    assert ro['value_after'] == 1.5
    assert ro['state'] == 'ChannelState.CONN'

    noput = access['acc:noput']
    assert noput['write_access'] is True
    assert noput['put_callback_issue'] == 'ECA.NORMAL'
    assert noput['put_callback'] == 'ECA.PUTFAIL'
    assert noput['value_after'] == 2.5          # nothing written
    assert noput['state'] == 'ChannelState.CONN'

    ok = access['acc:ok']
    assert ok['put_callback'] == 'ECA.NORMAL'
    assert ok['value_after'] == 8.5
    assert facts['live_end'] == 0


def test_disabled_record(ca_backend):
    """The session IOC's cadisabled (DISP=1): the put 'completes' but the
    value does not change; nothing crashes."""
    ca = ca_backend
    chid = connect(ca, 'cadisabled')
    try:
        before = get_value(ca, chid)
        event = put_wait(ca, chid, before + 1.0)
        assert event['status'] in (ca.ECA.NORMAL, ca.ECA.PUTFAIL)
        assert get_value(ca, chid) == before
        assert ca.write_access(chid) is True
    finally:
        ca.clear_channel(chid)
