"""Reads of the ``ca`` layer: every DBR request type, values, counts, numpy.

Each test first writes a known value to the PV it reads, so the expected
result does not depend on the order tests run in.  Runs on every backend.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from CaChannel._dbr_fields import CTRL_LIMITS, GR_LIMITS
from helpers.ca_helpers import (Recorder, channel_cache, connect, connected, get_callback,  # noqa: F401
                        get_value, put_ok, settle, shared)

# name -> (value written first, the numbers any numeric read gives, the
# strings a DBR_STRING read gives or None to compare them as numbers)
KNOWN = {
    'catest': (3.0, [3], ['3.0000']),          # ao with PREC 4
    'calong': (7, [7], ['7']),
    'castr': ('42', [42], ['42']),
    'cabo': (1, [1], ['Busy']),
    'caenum16': (5, [5], ['five']),
    'cashort': (9, [9], None),
    'cachar': (9, [9], None),
    'cafloat': (9.0, [9], None),
    'cawave': (list(range(20)), list(range(20)), None),
    'cawavec': ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], None),
    'cawaveuc': (list(range(150)), list(range(150)), None),
    'cawaves': (['0', '1', '2'], [0, 1, 2], ['0', '1', '2']),
    'cawavef': (list(range(150)), list(range(150)), None),
    'cawaveh': (list(range(150)), list(range(150)), None),
    'cawavel': (list(range(150)), list(range(150)), None),
}

BASES = ['STRING', 'SHORT', 'FLOAT', 'ENUM', 'CHAR', 'LONG', 'DOUBLE']


def bases(name):
    # The IOC does not convert a stringout's text to an enum index (the read
    # fails on the server), so castr is not read as ENUM.
    return [b for b in BASES if not (name == 'castr' and b == 'ENUM')]
FAMILIES = ['', 'STS_', 'TIME_', 'GR_', 'CTRL_']

STS_KEYS = {'value', 'status', 'severity'}
# The one table of limit keys: every GR/CTRL read of both backends (the C
# extension's own key table included) gives exactly these.
LIMIT_KEYS = {field.key for field in GR_LIMITS}
CTRL_LIMIT_KEYS = {field.key for field in CTRL_LIMITS} - LIMIT_KEYS
CALLBACK_KEYS = {'chid', 'type', 'count', 'status', 'value'}

DTYPES = {'SHORT': np.int16, 'FLOAT': np.float32, 'ENUM': np.uint16,
          'CHAR': np.uint8, 'LONG': np.int32, 'DOUBLE': np.float64}
PYTYPES = {'STRING': str, 'SHORT': int, 'FLOAT': float, 'ENUM': int,
           'CHAR': int, 'LONG': int, 'DOUBLE': float}


def expected_keys(family: str, base: str) -> set | None:
    """The key set the contract gives a DBR type's dict (None: not a dict)."""
    if family == '':
        return None
    if family == 'STS_':
        return STS_KEYS
    if family == 'TIME_':
        return STS_KEYS | {'stamp'}
    # GR and CTRL
    if base == 'STRING':
        return STS_KEYS  # dbr_gr_string/dbr_ctrl_string are dbr_sts_string
    if base == 'ENUM':
        return STS_KEYS | {'no_str', 'strs'}
    keys = STS_KEYS | {'units'} | LIMIT_KEYS
    if base in ('FLOAT', 'DOUBLE'):
        keys |= {'precision'}
    if family == 'CTRL_':
        keys |= CTRL_LIMIT_KEYS
    return keys


def write_known(ca, chid, name):
    put_ok(ca, chid, KNOWN[name][0])


def check_value(value, name, base, count, use_numpy=False):
    """Check a plain value read from *name* as DBR type *base*."""
    _, numbers, strings = KNOWN[name]
    if base == 'STRING':
        elements = strings if strings is not None else numbers
    else:
        elements = numbers
    elements = elements[:count]
    if count == 1 and use_numpy:
        # a scalar; whether a Python or a numpy one is not specified
        assert np.ndim(value) == 0, (name, base, value)
        got = [value.item() if isinstance(value, np.generic) else value]
    elif count == 1:
        assert type(value) is PYTYPES[base], (name, base, value)
        got = [value]
    elif use_numpy and base != 'STRING':
        assert isinstance(value, np.ndarray), (name, base, type(value))
        assert value.dtype == DTYPES[base]
        assert value.shape == (count,)
        got = value.tolist()
    else:
        assert type(value) is list, (name, base, type(value))
        assert len(value) == count
        assert all(type(v) is PYTYPES[base] for v in value), (name, base, value)
        got = value
    if base == 'STRING' and strings is None:
        assert [float(s) for s in got] == [float(n) for n in elements], (name, got)
    else:
        assert got == elements, (name, base, got)


def check_dbr(result, ca, name, family, base, count, use_numpy=False):
    """Check what a get of DBR type family+base from *name* returned."""
    keys = expected_keys(family, base)
    if keys is None:
        check_value(result, name, base, count, use_numpy)
        return
    assert type(result) is dict, (name, family + base, result)
    assert set(result) == keys, (name, family + base)
    check_value(result['value'], name, base, count, use_numpy)
    assert type(result['status']) is ca.AlarmCondition
    assert type(result['severity']) is ca.AlarmSeverity
    if name == 'cabo':  # state 1 'Busy' is a MINOR state alarm
        assert (result['status'], result['severity']) == (
            ca.AlarmCondition.State, ca.AlarmSeverity.Minor)
    elif name in ('catest', 'calong', 'castr'):
        assert (result['status'], result['severity']) == (
            ca.AlarmCondition.No, ca.AlarmSeverity.No)
    if family == 'TIME_':
        stamp = result['stamp']
        assert set(stamp) == {'seconds', 'nanoseconds', 'timestamp'}
        assert type(stamp['seconds']) is int
        assert type(stamp['nanoseconds']) is int
        assert 0 <= stamp['nanoseconds'] < 1_000_000_000
        assert stamp['timestamp'] == pytest.approx(
            stamp['seconds'] + stamp['nanoseconds'] * 1e-9, abs=1e-6)
        # The value was written just now; POSIX seconds, not EPICS ones.
        assert abs(stamp['timestamp'] - time.time()) < 60
    if family in ('GR_', 'CTRL_') and base == 'ENUM':
        assert type(result['no_str']) is int
        assert type(result['strs']) is tuple
        assert len(result['strs']) == result['no_str']
        assert all(type(s) is str for s in result['strs'])
        if name not in ('cabo', 'caenum16'):
            assert result['no_str'] == 0
    elif family in ('GR_', 'CTRL_') and base != 'STRING':
        assert type(result['units']) is str
        limit_type = float if base in ('FLOAT', 'DOUBLE') else int
        for key in keys & (LIMIT_KEYS | CTRL_LIMIT_KEYS):
            assert type(result[key]) is limit_type, (key, result[key])
        if 'precision' in keys:
            assert type(result['precision']) is int


@pytest.mark.parametrize('family', FAMILIES, ids=lambda f: f or 'plain')
@pytest.mark.parametrize('name', list(KNOWN))
def test_every_type_without_callback(ca_backend, shared, name, family):
    ca = ca_backend
    chid = shared(name)
    write_known(ca, chid, name)
    count = ca.element_count(chid)
    for base in bases(name):
        dbrtype = ca.DBR[family + base]
        status, dbrvalue = ca.get(chid, dbrtype)
        assert status == ca.ECA.NORMAL, (name, dbrtype, status)
        assert ca.pend_io(5.0) == ca.ECA.NORMAL
        check_dbr(dbrvalue.get(), ca, name, family, base, count)


@pytest.mark.parametrize('family', FAMILIES, ids=lambda f: f or 'plain')
@pytest.mark.parametrize('name', list(KNOWN))
def test_every_type_with_callback(ca_backend, shared, name, family):
    ca = ca_backend
    chid = shared(name)
    write_known(ca, chid, name)
    count = ca.element_count(chid)
    for base in bases(name):
        dbrtype = ca.DBR[family + base]
        event = get_callback(ca, chid, dbrtype)
        assert set(event) == CALLBACK_KEYS
        assert event['chid'] is chid
        assert event['type'] == dbrtype and type(event['type']) is ca.DBR
        assert event['count'] == count
        assert event['status'] == ca.ECA.NORMAL and type(event['status']) is ca.ECA
        check_dbr(event['value'], ca, name, family, base, count)


@pytest.mark.parametrize('family', ['', 'TIME_', 'CTRL_'], ids=lambda f: f or 'plain')
@pytest.mark.parametrize('name', ['cawave', 'cawaveh', 'cawavec', 'cawaves', 'catest'])
def test_every_type_use_numpy(ca_backend, shared, name, family):
    ca = ca_backend
    chid = shared(name)
    write_known(ca, chid, name)
    count = ca.element_count(chid)
    for base in bases(name):
        dbrtype = ca.DBR[family + base]
        value = get_value(ca, chid, dbrtype, use_numpy=True)
        check_dbr(value, ca, name, family, base, count, use_numpy=True)
        event = get_callback(ca, chid, dbrtype, use_numpy=True)
        check_dbr(event['value'], ca, name, family, base, count, use_numpy=True)


@pytest.mark.parametrize('base, dtype', list(DTYPES.items()))
def test_numpy_dtype_and_values(ca_backend, shared, base, dtype):
    ca = ca_backend
    chid = shared('cawaveh')
    put_ok(ca, chid, list(range(150)))
    value = get_value(ca, chid, ca.DBR[base], use_numpy=True)
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(value, np.arange(150, dtype=dtype))
    plain = get_value(ca, chid, ca.DBR[base])
    assert type(plain) is list and plain == list(range(150))


def test_string_array_stays_list_with_numpy(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawaves')
    put_ok(ca, chid, ['a', 'bc', 'def'])
    assert get_value(ca, chid, use_numpy=True) == ['a', 'bc', 'def']
    assert get_value(ca, chid, ca.DBR.STRING) == ['a', 'bc', 'def']


def test_native_type_when_chtype_is_none(ca_backend, connected):
    ca = ca_backend
    expected = {'catest': (ca.DBR.DOUBLE, 3.0), 'calong': (ca.DBR.LONG, 7),
                'castr': (ca.DBR.STRING, '42'), 'cabo': (ca.DBR.ENUM, 1),
                'cafloat': (ca.DBR.FLOAT, 9.0), 'cashort': (ca.DBR.SHORT, 9),
                'cachar': (ca.DBR.CHAR, 9)}
    for name, (dbrtype, value) in expected.items():
        chid = connected(name)
        write_known(ca, chid, name)
        got = get_value(ca, chid)
        assert got == value and type(got) is type(value), (name, got)
        event = get_callback(ca, chid)
        assert event['type'] == dbrtype
        assert event['value'] == value and type(event['value']) is type(value)


@pytest.mark.parametrize('dbrtype', ['GR_DOUBLE', 'CTRL_DOUBLE', 'GR_FLOAT', 'CTRL_FLOAT',
                                     'GR_LONG', 'CTRL_LONG', 'GR_SHORT', 'CTRL_SHORT'])
def test_catest_graphic_and_control_values(ca_backend, shared, dbrtype):
    ca = ca_backend
    chid = shared('catest')
    put_ok(ca, chid, 3.0)
    value = get_value(ca, chid, ca.DBR[dbrtype])
    assert value['value'] == 3
    assert value['units'] == 'mm'
    assert value['upper_disp_limit'] == 20
    assert value['lower_disp_limit'] == -20
    assert value['upper_alarm_limit'] == 20
    assert value['upper_warning_limit'] == 10
    assert value['lower_warning_limit'] == -10
    assert value['lower_alarm_limit'] == -20
    if 'FLOAT' in dbrtype or 'DOUBLE' in dbrtype:
        assert value['precision'] == 4
    else:
        assert 'precision' not in value
    if dbrtype.startswith('CTRL'):
        # DRVH/DRVL are not set in catest.db.
        assert value['upper_ctrl_limit'] == 0
        assert value['lower_ctrl_limit'] == 0
    else:
        assert 'upper_ctrl_limit' not in value


@pytest.mark.parametrize('dbrtype', ['GR_ENUM', 'CTRL_ENUM'])
def test_enum_strings(ca_backend, connected, dbrtype):
    ca = ca_backend
    cabo = connected('cabo')
    put_ok(ca, cabo, 0)
    value = get_value(ca, cabo, ca.DBR[dbrtype])
    assert value['value'] == 0
    assert value['no_str'] == 2
    assert value['strs'] == ('Done', 'Busy')
    assert (value['status'], value['severity']) == (ca.AlarmCondition.No, ca.AlarmSeverity.No)
    enum16 = connected('caenum16')
    event = get_callback(ca, enum16, ca.DBR[dbrtype])
    assert event['value']['no_str'] == 16
    assert event['value']['strs'] == (
        'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight',
        'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen')


def test_alarm_values_in_sts(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    try:
        put_ok(ca, chid, 15.0)
        value = get_value(ca, chid, ca.DBR.STS_DOUBLE)
        assert value == {'value': 15.0, 'status': ca.AlarmCondition.High,
                         'severity': ca.AlarmSeverity.Minor}
        put_ok(ca, chid, -25.0)
        value = get_callback(ca, chid, ca.DBR.TIME_DOUBLE)['value']
        assert value['value'] == -25.0
        assert value['status'] is ca.AlarmCondition.LoLo
        assert value['severity'] is ca.AlarmSeverity.Major
        assert value['severity'].name == 'Major'
    finally:
        put_ok(ca, chid, 0.0)


def test_stsack_string(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, 3.0)
    for value in (get_value(ca, chid, ca.DBR.STSACK_STRING),
                  get_callback(ca, chid, ca.DBR.STSACK_STRING)['value']):
        assert set(value) == STS_KEYS | {'ackt', 'acks'}
        assert value['value'] == '3.0000'
        assert value['status'] is ca.AlarmCondition.No
        assert value['severity'] is ca.AlarmSeverity.No
        assert type(value['ackt']) is int
        assert type(value['acks']) is ca.AlarmSeverity
    chid = connected('cawaves')
    put_ok(ca, chid, ['x', 'y', 'z'])
    value = get_value(ca, chid, ca.DBR.STSACK_STRING)
    assert value['value'] == ['x', 'y', 'z']


@pytest.mark.parametrize('name, record_type', [
    ('catest', 'ao'), ('cabo', 'bo'), ('calong', 'longout'), ('castr', 'stringout'),
    ('cacalc', 'calc'), ('caenum16', 'mbbo'), ('cadisabled', 'ao')])
def test_class_name(ca_backend, connected, name, record_type):
    ca = ca_backend
    chid = connected(name)
    assert get_value(ca, chid, ca.DBR.CLASS_NAME) == record_type
    event = get_callback(ca, chid, ca.DBR.CLASS_NAME)
    assert event['type'] == ca.DBR.CLASS_NAME
    assert event['value'] == record_type


def test_class_name_of_waveform(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawave')
    assert get_value(ca, chid, ca.DBR.CLASS_NAME, 1) == 'waveform'


def test_time_stamp_follows_the_clock(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    before = time.time()
    put_ok(ca, chid, 4.0)
    after = time.time()
    value = get_value(ca, chid, ca.DBR.TIME_DOUBLE)
    stamp = value['stamp']
    # POSIX seconds (the ca layer), not seconds past the EPICS epoch.
    assert stamp['seconds'] > ca.POSIX_TIME_AT_EPICS_EPOCH * 2
    # Same host clock: within a second of the put (allowing clock rounding).
    assert before - 1.0 <= stamp['timestamp'] <= after + 1.0
    again = get_callback(ca, chid, ca.DBR.TIME_DOUBLE)['value']['stamp']
    assert again == stamp


def test_counting_calc_time_stamps_advance(ca_backend, connected):
    ca = ca_backend
    chid = connected('cacalc')
    first = get_value(ca, chid, ca.DBR.TIME_DOUBLE)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        settle(ca, 0.1)
        second = get_value(ca, chid, ca.DBR.TIME_DOUBLE)
        if second['value'] != first['value']:
            break
    assert second['value'] > first['value']
    assert second['stamp']['timestamp'] > first['stamp']['timestamp']


# --- counts ------------------------------------------------------------------

@pytest.fixture
def wave3(ca_backend, shared):
    """cawave (DOUBLE, 20 elements) holding the 3 elements 1, 2, 3."""
    chid = shared('cawave')
    put_ok(ca_backend, chid, [1.0, 2.0, 3.0])
    return chid


@pytest.mark.parametrize('count', [None, 0, -1, -100, 20, 21, 1000])
def test_count_native_without_callback(ca_backend, wave3, count):
    ca = ca_backend
    value = get_value(ca, wave3, ca.DBR.DOUBLE, count)
    assert value == [1.0, 2.0, 3.0] + [0.0] * 17


def test_count_given_without_callback(ca_backend, wave3):
    ca = ca_backend
    assert get_value(ca, wave3, ca.DBR.DOUBLE, 5) == [1.0, 2.0, 3.0, 0.0, 0.0]
    assert get_value(ca, wave3, ca.DBR.DOUBLE, 2) == [1.0, 2.0]
    # count 1 is a scalar, also with use_numpy.
    assert get_value(ca, wave3, ca.DBR.DOUBLE, 1) == 1.0
    one = get_value(ca, wave3, ca.DBR.DOUBLE, 1, use_numpy=True)
    assert np.ndim(one) == 0 and one == 1.0
    assert get_value(ca, wave3, ca.DBR.LONG, np.int64(4)) == [1, 2, 3, 0]


def test_count_zero_with_callback_is_current_length(ca_backend, wave3):
    ca = ca_backend
    event = get_callback(ca, wave3, ca.DBR.DOUBLE, 0)
    assert event['count'] == 3
    assert event['value'] == [1.0, 2.0, 3.0]
    event = get_callback(ca, wave3, ca.DBR.TIME_DOUBLE, 0, use_numpy=True)
    assert event['count'] == 3
    np.testing.assert_array_equal(event['value']['value'], [1.0, 2.0, 3.0])
    put_ok(ca, wave3, [5.0] * 7)
    event = get_callback(ca, wave3, None, 0)
    assert event['count'] == 7
    assert event['value'] == [5.0] * 7


@pytest.mark.parametrize('count, expected', [
    (None, 20), (-1, 20), (1000, 20), (21, 20), (20, 20), (5, 5), (2, 2)])
def test_count_with_callback(ca_backend, wave3, count, expected):
    ca = ca_backend
    event = get_callback(ca, wave3, ca.DBR.DOUBLE, count)
    assert event['count'] == expected
    assert event['value'] == ([1.0, 2.0, 3.0] + [0.0] * 17)[:expected]


def test_count_one_with_callback_is_scalar(ca_backend, wave3):
    ca = ca_backend
    event = get_callback(ca, wave3, ca.DBR.DOUBLE, 1)
    assert event['count'] == 1
    assert event['value'] == 1.0 and type(event['value']) is float


@pytest.mark.parametrize('count', [2.5, '3', 1.0])
def test_non_integer_count_raises_type_error(ca_backend, wave3, count):
    ca = ca_backend
    with pytest.raises(TypeError):
        ca.get(wave3, ca.DBR.DOUBLE, count)
    with pytest.raises(TypeError):
        ca.get(wave3, ca.DBR.DOUBLE, count, callback=Recorder())


def test_single_element_waveform_count_zero(ca_backend, connected):
    ca = ca_backend
    chid = connected('cashort')
    put_ok(ca, chid, 11)
    event = get_callback(ca, chid, ca.DBR.SHORT, 0)
    assert event['count'] == 1
    assert event['value'] == 11


# --- big arrays, strings, failures ---------------------------------------------

def test_huge_waveform_into_numpy(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawavehuge')
    assert ca.element_count(chid) == 4_000_000
    data = np.arange(4_000_000, dtype=np.float64) * 0.5
    event = put_wait_long(ca, chid, data)
    assert event['status'] == ca.ECA.NORMAL
    status, dbrvalue = ca.get(chid, use_numpy=True)
    assert status == ca.ECA.NORMAL
    assert ca.pend_io(30.0) == ca.ECA.NORMAL
    value = dbrvalue.get()
    assert isinstance(value, np.ndarray)
    assert value.dtype == np.float64 and value.shape == (4_000_000,)
    np.testing.assert_array_equal(value, data)
    event = get_callback(ca, chid, ca.DBR.DOUBLE, 0, use_numpy=True, timeout=30.0)
    assert event['count'] == 4_000_000
    np.testing.assert_array_equal(event['value'], data)


def put_wait_long(ca, chid, value):
    recorder = Recorder()
    assert ca.put(chid, value, callback=recorder) == ca.ECA.NORMAL
    (event,) = recorder.wait(ca, 1, timeout=30.0)
    return event


def test_utf8_string_read_as_str(ca_backend, connected):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, 'grüße 10µm')
    assert get_value(ca, chid) == 'grüße 10µm'
    assert get_callback(ca, chid)['value'] == 'grüße 10µm'


def test_invalid_utf8_string_read_as_bytes(ca_backend, connected):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, b'\xff\xfe raw', ca.DBR.STRING)
    value = get_value(ca, chid)
    assert value == b'\xff\xfe raw' and type(value) is bytes
    value = get_callback(ca, chid, ca.DBR.STS_STRING)['value']
    assert value['value'] == b'\xff\xfe raw'


def test_longest_string(ca_backend, connected):
    ca = ca_backend
    chid = connected('castr')
    text = 'x' * 39  # MAX_STRING_SIZE with the terminating 0
    put_ok(ca, chid, text)
    assert get_value(ca, chid) == text


def test_failed_conversion_in_callback_gives_status_and_no_value(ca_backend, connected):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, 'not a number')
    event = get_callback(ca, chid, ca.DBR.DOUBLE)
    assert event['status'] == ca.ECA.GETFAIL
    assert event['value'] is None


def test_dropping_dbrvalue_before_pend_io_is_safe(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawaveh')
    put_ok(ca, chid, list(range(150)))
    for _ in range(20):
        status, dbrvalue = ca.get(chid, ca.DBR.SHORT)
        assert status == ca.ECA.NORMAL
        del dbrvalue
    assert ca.pend_io(5.0) == ca.ECA.NORMAL
    assert get_value(ca, chid, ca.DBR.SHORT) == list(range(150))


@pytest.mark.parametrize('chtype', [99, -1, 1000])
def test_invalid_request_type(ca_backend, shared, chtype):
    ca = ca_backend
    chid = shared('catest')
    assert ca.get(chid, chtype)[0] == ca.ECA.BADTYPE
    assert ca.get(chid, chtype, callback=Recorder())[0] == ca.ECA.BADTYPE


def test_get_on_cleared_channel(ca_backend):
    ca = ca_backend
    chid = connect(ca, 'catest')
    assert ca.clear_channel(chid) == ca.ECA.NORMAL
    assert ca.get(chid)[0] == ca.ECA.BADCHID
    assert ca.get(chid, ca.DBR.TIME_DOUBLE, callback=Recorder())[0] == ca.ECA.BADCHID


def test_get_on_disconnected_channel(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel('ca:test:absent')
    try:
        assert ca.get(chid)[0] == ca.ECA.DISCONN
        assert ca.get(chid, ca.DBR.DOUBLE)[0] == ca.ECA.DISCONN
        assert ca.get(chid, ca.DBR.DOUBLE, callback=Recorder())[0] == ca.ECA.DISCONN
    finally:
        ca.clear_channel(chid)


def test_refused_get_leaves_nothing_outstanding(ca_backend):
    ca = ca_backend
    status, chid = ca.create_channel('ca:test:absent')
    try:
        assert ca.pend_io(0.2) == ca.ECA.TIMEOUT
        assert ca.get(chid, ca.DBR.DOUBLE)[0] == ca.ECA.DISCONN
        # A get that was refused is no IO pend_io has to wait for.
        assert ca.pend_io(0.5) == ca.ECA.NORMAL
        assert ca.test_io() == ca.ECA.IODONE
    finally:
        ca.clear_channel(chid)
