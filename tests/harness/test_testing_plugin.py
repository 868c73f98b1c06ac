"""The user-facing pytest plugin of CaChannel.testing (the ``softioc`` fixture).

An inner pytest run (pytester, in a subprocess so its CA context and
environment are its own) uses the fixture the way a user would: a database
given as text by the ``softioc`` marker, read through CaChannel from a
context created inside the test.  The outer test then checks that the IOC
process it reported is gone.
"""

from __future__ import annotations

import os
import re

import pytest

pytest_plugins = ['pytester']

INNER_TESTS = '''
import os
import pytest

DB = """
record(ao, "$(P)setpoint") {
    field(VAL, "2.5")
    field(PINI, "YES")
}
"""


@pytest.mark.softioc(DB)
def test_read_and_write(softioc):
    from CaChannel import CaChannel, ca
    assert softioc.ioc.running
    assert ('127.0.0.1:%d' % softioc.port) in os.environ['EPICS_CA_ADDR_LIST']
    assert softioc.environ['EPICS_CA_ADDR_LIST'] == '127.0.0.1'
    chan = CaChannel(softioc.pv('setpoint'))
    chan.searchw()
    assert chan.getw() == 2.5
    chan.putw(7.0)
    assert chan.getw() == 7.0
    chan.clear_channel()
    print('IOC-PID', softioc.ioc.pid, 'PREFIX', softioc.prefix)


def test_without_database_is_a_usage_error(softioc):
    pass
'''


def test_softioc_fixture_starts_and_stops_an_ioc(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=INNER_TESTS)
    # The inner run gets its own loopback ports; the plugin is loaded from
    # the installed entry point, as for a user.
    result = pytester.runpytest_subprocess('-s', '-v')
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(['*softioc fixture needs a database*'])
    match = re.search(r'IOC-PID (\d+) PREFIX (\S+)', result.stdout.str())
    assert match, result.stdout.str()
    assert match.group(2).startswith('pytest')
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass  # stopped, as it should be
    else:
        pytest.fail('softIoc pid %d still running after the inner session' % pid)
