"""Reads from a misbehaving caproto server (``tests/helpers/bad_server.py``), both backends.

The client runs in a subprocess (``scripts/bad_client.py``) whose address
list names only the bad server's port, with EPICS_CA_MAX_ARRAY_BYTES at
1,000,000 (below ``bad:huge``'s 24 MB).  Every read is done with callback,
without callback (+ pend_io), in a sync group (+ sg_block) and as a monitor.
What must hold: strings of 40 bytes without a terminator come back as
exactly those 40 characters, enum states as their 26 characters, at most 16
of them although the server claims 20; counts other than asked give the
elements the server sent, with a matching 'count', and a get without
callback gets exactly the count it asked for, never more; the circuit keeps
serving afterwards.

libca's own ca_array_get and ca_sg_array_get copy as many elements as the
server sends into a buffer sized for the count asked (valgrind: "Invalid
write" in getCopy::completion).  Both backends therefore build gets without
callback on ca_array_get_callback with a bounded copy; the valgrind test
below checks that no write goes astray any more.

One libca shortcoming remains, pinned as a strict xfail because the ca layer
cannot see it: libca does not check a reply's element count against its
payload size, so a monitor event claiming 120 elements with 15 in its
payload is handed on as 120 elements (the rest is whatever follows in
libca's receive buffer).

Run all the reads under valgrind with ``CACHANNEL_VALGRIND=1`` (slow).
"""

from __future__ import annotations

import ast
import os
import shutil

import pytest

from helpers import BACKENDS, TESTS
from helpers.bad_server import ODD_ALARM, BadServer
from helpers.scenario_lib import loopback_client_env, run_script

VALGRIND = os.environ.get('CACHANNEL_VALGRIND', '') not in ('', '0')
TEXT40 = 'A' * 40
SUPPRESSIONS = '--suppressions=' + str(TESTS / 'valgrind.supp')
VALGRIND_COMMAND = ['valgrind', '--error-exitcode=99', '--num-callers=20', SUPPRESSIONS]
# Reports are sorted by where the uninitialised bytes came from.
VALGRIND_ORIGINS = ['valgrind', '--track-origins=yes', '--num-callers=20', SUPPRESSIONS]


@pytest.fixture(scope='module')
def bad_server():
    with BadServer() as server:
        yield server


def client(server, backend, mode, timeout=120, prefix=()):
    env = loopback_client_env(server.port)
    env['EPICS_CA_MAX_ARRAY_BYTES'] = '1000000'
    if prefix:
        env['PYTHONMALLOC'] = 'malloc'
    outcome = run_script('bad_client.py', [backend, mode], env=env, timeout=timeout,
                         prefix=prefix)
    return outcome


def entries(section):
    return {k: v for k, v in section.items() if k[:3] in ('cb ', 'io ', 'sg ', 'mon')}


def waited_for(key):
    """A get without callback: plain (pend_io) or in a sync group (sg_block)."""
    return key.startswith(('io ', 'sg '))


def field_bytes(text):
    """The bytes of a string value as the client reported it: the repr of
    bytes when they are not UTF-8 (which the time stamp's bytes decide),
    else the text itself."""
    if text.startswith(("b'", 'b"')):
        return ast.literal_eval(text)
    return text.encode('utf-8')


def value_of(entry):
    assert isinstance(entry, dict), entry
    assert entry['status'] == 'ECA.NORMAL', entry
    value = entry['value']
    return value['value'] if isinstance(value, dict) else value


@pytest.fixture(scope='module')
def reads(bad_server):
    results = {}
    for backend in BACKENDS:
        outcome = client(bad_server, backend, 'reads')
        results[backend] = outcome
    return results


def test_reads_complete(reads, backend):
    outcome = reads[backend]
    assert outcome.returncode == 0, outcome.report()
    assert outcome.result is not None, outcome.report()
    assert outcome.result['live_end'] == 0
    assert 'Fatal Python error' not in outcome.stderr


def test_unterminated_strings(reads, backend):
    facts = reads[backend].result
    for key, entry in entries(facts['str40']).items():
        if 'STSACK' in key:
            # caproto answers STSACK_STRING itself (the alarm, value '')
            assert len(value_of(entry)) <= 40, (key, entry)
            continue
        if 'CTRL_STRING' in key:
            # caproto sends TIME metadata for CTRL_STRING (8 bytes more), so
            # the 40-byte field holds 8 bytes of time stamp, then 32 'A's.
            raw = field_bytes(value_of(entry))
            # Read as a C string within the 40 bytes: all of them, or up to
            # a 0 byte of the time stamp.
            assert (len(raw) == 40 and raw.endswith(b'A' * 32)) or len(raw) < 8, \
                (key, entry)
            continue
        assert value_of(entry) == TEXT40, (key, entry)
    enum = facts['enum']
    for key, entry in entries(enum).items():
        value = entry['value'] if isinstance(entry, dict) else None
        if 'STRING' in key:
            assert value_of(entry) == TEXT40, (key, entry)
        elif 'GR_ENUM' in key or 'CTRL_ENUM' in key:
            assert entry['status'] == 'ECA.NORMAL', entry
            assert value['no_str'] == 20                  # as the server claims
            assert value['strs'] == ['S' * 26] * 16, value  # never beyond the 16
            assert value['value'] == 1
        else:
            assert value_of(entry) == 1, (key, entry)


def test_counts_other_than_asked(reads, backend):
    facts = reads[backend].result
    # fewer: the callback/monitor gets what was sent, counted right
    for key, entry in entries(facts['fewer']).items():
        if 'STRING' in key:
            continue
        value = value_of(entry)
        if waited_for(key):
            # A get without callback has the count it asked for: what was
            # sent, then zeros, never garbage.
            sent = [v for v in value if v]
            assert value[:len(sent) + 1] == [float(i) for i in range(len(sent) + 1)], value
            assert all(v == 0.0 for v in value[len(sent) + 1:]), (key, entry)
            continue
        assert value == [float(i) for i in range(len(value))], (key, entry)
        assert entry['count'] == len(value), (key, entry)
    # more: everything the server sent (15 elements) in the callbacks; a get
    # without callback takes what it asked for (4, or the native 10) and no
    # more.
    native = facts['more']['native_count']
    for key, entry in entries(facts['more']).items():
        if 'STRING' in key or key.startswith('mon DBR_DOUBLE/0') \
                or key.startswith('mon DBR_TIME_DOUBLE/0') or key.startswith('mon DBR_CTRL_DOUBLE/0'):
            continue
        value = value_of(entry)
        assert value == [float(i) for i in range(len(value))], (key, entry)
        if waited_for(key):
            asked = 4 if key.endswith('/4') else native
            assert len(value) == asked, (key, entry)
        else:
            assert entry['count'] == len(value), (key, entry)
    # the huge array: a value or a clear error, never a crash
    for key, entry in entries(facts['huge']).items():
        if isinstance(entry, dict) and entry['status'] == 'ECA.NORMAL':
            assert entry['value'] is not None
        else:
            assert entry in ('ECA.TOLARGE', 'ECA.BADCOUNT') or 'ECA.' in str(entry), entry
    assert value_of(facts['ok_after']['cb DBR_DOUBLE/None']) == 3.5


@pytest.mark.xfail(strict=True, reason=(
    'libca hands a monitor event whose count (120) exceeds its payload '
    '(15 doubles) to the callback as 120 elements: it does not check the '
    'count against the payload size'))
def test_claimed_count_beyond_payload(reads, backend):
    entry = reads[backend].result['more']['mon DBR_DOUBLE/0']
    assert entry['count'] == 15, entry['count']


@pytest.mark.skipif(shutil.which('valgrind') is None, reason='needs valgrind')
def test_get_without_callback_stays_in_bounds_under_valgrind(bad_server, backend):
    """bad:more sends 15 elements for gets of 4 and of the native 10."""
    outcome = client(bad_server, backend, 'overrun', timeout=900,
                     prefix=VALGRIND_COMMAND)
    assert outcome.returncode == 0, outcome.report()
    assert 'Invalid write' not in outcome.stderr, outcome.report()
    facts = outcome.result['more_io']
    for key in ('DBR_DOUBLE/4', 'DBR_TIME_DOUBLE/4', 'DBR_DOUBLE/None', 'DBR_TIME_DOUBLE/None'):
        asked = 4 if key.endswith('/4') else facts['native_count']
        for how in ('io ', 'sg '):
            assert len(value_of(facts[how + key])) == asked, (how + key, facts[how + key])
    assert outcome.result['live_end'] == 0


def unexplained_valgrind_reports(stderr: str) -> list:
    """The memcheck reports of a run that are not libca's known limit.

    Every read of every bad PV includes replies whose header claims more
    elements than their payload holds (``bad:more`` read as strings: 15
    elements of 40 bytes, 120 bytes sent).  libca hands those on unchecked
    (the strict xfail above), so what lies beyond the payload in libca's
    receive buffer (allocated with the circuit, ``tcpiiu``) is read as
    uninitialised.  Those reports are expected; any other, and any invalid
    read or write, is not.
    """
    # A report is a headline and the indented lines below it.
    reports: list = []
    for line in stderr.splitlines():
        if not (line.startswith('==') and '== ' in line):
            continue
        text = line.split('== ', 1)[1]
        if text.strip() and not text[0].isspace():
            reports.append([text])
        elif text.strip() and reports:
            reports[-1].append(text)
    unexplained = []
    for block in reports:
        head = block[0]
        if not any(word in head for word in ('Invalid', 'uninitialised', 'Mismatched',
                                             'overlap', 'free')):
            continue
        if 'uninitialised' in head and any('tcpiiu::tcpiiu' in line for line in block):
            continue
        unexplained.append('\n'.join(block))
    return unexplained


@pytest.mark.skipif(not VALGRIND, reason='set CACHANNEL_VALGRIND=1 (slow)')
def test_reads_under_valgrind(bad_server, backend):
    outcome = client(bad_server, backend, 'reads', timeout=1800,
                     prefix=VALGRIND_ORIGINS)
    assert outcome.returncode == 0, outcome.report()
    assert outcome.result is not None, outcome.report()
    assert 'Invalid read' not in outcome.stderr and 'Invalid write' not in outcome.stderr
    assert unexplained_valgrind_reports(outcome.stderr) == []


def test_alarm_numbers_without_members(bad_server, backend):
    """A server's alarm status and severity that name no condition and no
    severity reach CaChannel's monitor callback and a TIME read as the
    numbers sent, in the keys and order of every other event."""
    outcome = client(bad_server, backend, 'alarm')
    assert outcome.returncode == 0, outcome.report()
    facts = outcome.result
    status, severity = ODD_ALARM
    assert facts['monitor'] == {
        'type': 'DBR.TIME_DOUBLE', 'count': '1', 'status': 'ECA.NORMAL', 'pv_value': '4.5',
        'pv_status': str(status), 'pv_severity': str(severity),
        'pv_seconds': facts['monitor']['pv_seconds'],
        'pv_nseconds': facts['monitor']['pv_nseconds']}, facts
    assert list(facts['monitor']) == ['type', 'count', 'status', 'pv_value', 'pv_status',
                                      'pv_severity', 'pv_seconds', 'pv_nseconds']
    assert int(facts['monitor']['pv_seconds']) > 0
    assert facts['get'] == {'value': '4.5', 'status': str(status), 'severity': str(severity)}
    assert facts['live_end'] == 0
