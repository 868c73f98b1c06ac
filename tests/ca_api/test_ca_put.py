"""Writes of the ``ca`` layer: every value conversion of the contract and its errors.

Values are checked by reading them back from the IOC.  Runs on every backend.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from CaChannel._dbr_fields import INTEGER_RANGES
from helpers.ca_helpers import Recorder, connected, get_callback, get_value, put_ok, put_wait  # noqa: F401

PUT_CALLBACK_KEYS = {'chid', 'type', 'count', 'status'}


def current(ca, chid, chtype=None):
    """The value with the waveform's current length (callback, count 0)."""
    event = get_callback(ca, chid, chtype, 0)
    assert event['status'] == ca.ECA.NORMAL
    return event['value']


# --- the put callback ---------------------------------------------------------

def test_put_callback_dict(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    event = put_wait(ca, chid, 1.5)
    assert set(event) == PUT_CALLBACK_KEYS
    assert event['chid'] is chid
    assert type(event['type']) is ca.DBR
    assert type(event['count']) is int
    assert event['status'] == ca.ECA.NORMAL and type(event['status']) is ca.ECA
    assert get_value(ca, chid) == 1.5


@pytest.mark.parametrize('name, value, chtype, count, expected_type, expected_count', [
    ('catest', 1.5, None, None, 'DOUBLE', 1),
    ('catest', 2, 'LONG', None, 'LONG', 1),
    ('cabo', 'Busy', None, None, 'STRING', 1),      # enum by string
    ('cabo', 'Done', 'ENUM', None, 'STRING', 1),
    ('caenum16', 15, None, None, 'ENUM', 1),
    ('cawavec', 'abc', None, None, 'CHAR', 4),       # bytes + terminating 0
    ('cawavec', 'abcdefgh', None, None, 'CHAR', 5),  # truncated to native
    ('cawave', list(range(30)), None, None, 'DOUBLE', 20),
    ('cawave', list(range(10)), None, 3, 'DOUBLE', 3),
    ('cawave', [1.0, 2.0], None, 10, 'DOUBLE', 2),
    ('cawaves', ['a', 'b'], None, None, 'STRING', 2),
    ('cawaveh', np.arange(7.0), None, None, 'SHORT', 7)])
def test_put_callback_reports_request_type_and_count(ca_backend, connected, name, value,
                                                     chtype, count, expected_type,
                                                     expected_count):
    # The user documentation: 'type' is the database request type and
    # 'count' the number of values transferred (libca itself hands put
    # callbacks TYPENOTCONN and 0, so a backend must fill them in).
    ca = ca_backend
    chid = connected(name)
    chtype = None if chtype is None else ca.DBR[chtype]
    event = put_wait(ca, chid, value, chtype, count)
    assert event['status'] == ca.ECA.NORMAL
    assert (event['type'], event['count']) == (ca.DBR[expected_type], expected_count)


def test_put_without_callback(ca_backend, connected):
    ca = ca_backend
    chid = connected('calong')
    assert ca.put(chid, 1234) == ca.ECA.NORMAL
    # Requests of one circuit are served in order: the get sees the put.
    assert get_value(ca, chid) == 1234
    assert ca.put(chid, 4321, ca.DBR.LONG) == ca.ECA.NORMAL
    assert ca.flush_io() == ca.ECA.NORMAL
    assert get_value(ca, chid) == 4321


def test_put_to_disabled_record_fails(ca_backend, connected):
    ca = ca_backend
    chid = connected('cadisabled')
    before = get_value(ca, chid)
    event = put_wait(ca, chid, before + 1.0)
    # DISP=1: the server refuses the put and libca reports ECA_PUTFAIL.
    assert event['status'] == ca.ECA.PUTFAIL
    assert event['chid'] is chid
    assert get_value(ca, chid) == before


# --- strings --------------------------------------------------------------------

@pytest.mark.parametrize('text', ['hello', '', 'grüße', 'x' * 39, 'é' * 19 + 'x'])
def test_str_to_string(ca_backend, connected, text):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, text)
    assert get_value(ca, chid) == text
    put_ok(ca, chid, 'something else')
    put_ok(ca, chid, text, ca.DBR.STRING)
    assert get_value(ca, chid, ca.DBR.STRING) == text


def test_bytes_to_string(ca_backend, connected):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, b'raw bytes', ca.DBR.STRING)
    assert get_value(ca, chid) == 'raw bytes'


@pytest.mark.parametrize('text', ['x' * 40, 'é' * 20, 'x' * 100])
def test_string_longer_than_39_bytes_raises_value_error(ca_backend, connected, text):
    ca = ca_backend
    chid = connected('castr')
    put_ok(ca, chid, 'unchanged')
    with pytest.raises(ValueError):
        ca.put(chid, text)
    with pytest.raises(ValueError):
        ca.put(chid, text, ca.DBR.STRING, callback=Recorder())
    with pytest.raises(ValueError):
        ca.put(chid, text.encode(), ca.DBR.STRING)
    assert get_value(ca, chid) == 'unchanged'


def test_string_array(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawaves')
    put_ok(ca, chid, ['one', 'two', 'three'])
    assert get_value(ca, chid) == ['one', 'two', 'three']
    assert current(ca, chid) == ['one', 'two', 'three']
    # One str is one string (count 1), not a sequence of characters.
    put_ok(ca, chid, 'solo')
    assert current(ca, chid) == 'solo'


@pytest.mark.parametrize('value, expected', [
    ('Busy', 1), ('Done', 0)])
def test_enum_by_string_becomes_string_request(ca_backend, connected, value, expected):
    ca = ca_backend
    chid = connected('cabo')
    put_ok(ca, chid, 1 - expected)
    put_ok(ca, chid, value)
    assert get_value(ca, chid) == expected
    put_ok(ca, chid, 1 - expected)
    put_ok(ca, chid, value, ca.DBR.ENUM)
    assert get_value(ca, chid) == expected
    assert get_value(ca, chid, ca.DBR.STRING) == value


def test_enum_by_number_and_16_states(ca_backend, connected):
    ca = ca_backend
    chid = connected('caenum16')
    put_ok(ca, chid, 'twelve')
    assert get_value(ca, chid) == 12
    put_ok(ca, chid, 15)
    assert get_value(ca, chid, ca.DBR.STRING) == 'fifteen'
    put_ok(ca, chid, 3, ca.DBR.ENUM)
    assert get_value(ca, chid, ca.DBR.STRING) == 'three'


def test_str_to_char_waveform_gets_terminating_zero(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawavec')
    put_ok(ca, chid, 'abc')
    assert current(ca, chid) == [97, 98, 99, 0]
    assert get_value(ca, chid) == [97, 98, 99, 0, 0]
    # Longer than the native count (5): truncated to it.
    put_ok(ca, chid, 'abcdefgh')
    assert current(ca, chid) == [97, 98, 99, 100, 101]


def test_str_to_single_char_is_first_byte(ca_backend, connected):
    # A str for DBR_CHAR is bytes, even if it looks like a number.
    ca = ca_backend
    chid = connected('cachar')
    put_ok(ca, chid, '200')
    assert get_value(ca, chid) == ord('2')


def test_str_to_uchar_waveform(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawaveuc')
    put_ok(ca, chid, 'héllo', ca.DBR.CHAR)
    assert bytes(current(ca, chid)) == 'héllo'.encode() + b'\0'


# --- numbers --------------------------------------------------------------------

@pytest.mark.parametrize('name, text, expected', [
    ('catest', '3.5', 3.5), ('catest', '-1e1', -10.0),
    ('calong', '-42', -42), ('calong', '123456', 123456),
    ('cashort', '17', 17), ('cafloat', '0.25', 0.25)])
def test_numeric_string_to_number(ca_backend, connected, name, text, expected):
    ca = ca_backend
    chid = connected(name)
    put_ok(ca, chid, text)
    value = get_value(ca, chid)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize('name, value, expected', [
    ('catest', 5, 5.0), ('catest', -0.125, -0.125), ('catest', np.float32(1.5), 1.5),
    ('catest', np.int64(6), 6.0), ('calong', 2 ** 31 - 1, 2 ** 31 - 1),
    ('calong', -2 ** 31, -2 ** 31), ('calong', np.int16(-5), -5),
    ('calong', True, 1), ('cashort', -32768, -32768), ('cashort', 32767, 32767),
    ('cachar', 255, 255), ('cachar', 0, 0), ('cafloat', 0.5, 0.5)])
def test_scalar_numbers(ca_backend, connected, name, value, expected):
    ca = ca_backend
    chid = connected(name)
    put_ok(ca, chid, value)
    got = get_value(ca, chid)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize('value, expected', [(2.9, 2), (-2.9, -2), (0.5, 0), (1e9, 10 ** 9)])
def test_float_to_integer_truncates_toward_zero(ca_backend, connected, value, expected):
    ca = ca_backend
    chid = connected('calong')
    put_ok(ca, chid, value)
    assert get_value(ca, chid) == expected
    put_ok(ca, chid, [value], ca.DBR.LONG)
    assert get_value(ca, chid) == expected


def test_float64_array_to_short_waveform_by_value(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawaveh')
    data = np.arange(10, dtype=np.float64)
    put_ok(ca, chid, data)
    assert current(ca, chid) == list(range(10))
    put_ok(ca, chid, data[::-1], ca.DBR.SHORT)
    assert current(ca, chid) == list(range(9, -1, -1))
    put_ok(ca, chid, np.array([1.9, -1.9, 2.5, -32768.0, 32767.0]))
    assert current(ca, chid) == [1, -1, 2, -32768, 32767]


@pytest.mark.parametrize('dtype', [np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                   np.int64, np.uint64])
def test_int_array_to_double_waveform(ca_backend, connected, dtype):
    ca = ca_backend
    chid = connected('cawave')
    data = np.arange(12, dtype=dtype)
    put_ok(ca, chid, data)
    value = current(ca, chid)
    assert value == [float(i) for i in range(12)]
    assert all(type(v) is float for v in value)


def test_float32_array_to_float_waveform(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawavef')
    data = np.linspace(-1, 1, 150, dtype=np.float32)
    put_ok(ca, chid, data)
    value = get_value(ca, chid, use_numpy=True)
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, data)
    # The same numbers to a DOUBLE waveform, converted by value.
    wave = connected('cawave')
    put_ok(ca, wave, data[:20])
    np.testing.assert_array_equal(get_value(ca, wave, use_numpy=True),
                                  data[:20].astype(np.float64))


@pytest.mark.parametrize('dtype', [np.int16, np.float64])
def test_two_dimensional_array_is_written_row_by_row(ca_backend, connected, dtype):
    # An image to a waveform: flattened in C order, also when not contiguous.
    ca = ca_backend
    chid = connected('cawaveh')
    image = np.arange(12, dtype=dtype).reshape(3, 4)
    put_ok(ca, chid, image)
    assert current(ca, chid)[:12] == list(range(12))
    put_ok(ca, chid, image[::-1])
    assert current(ca, chid)[:12] == [8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3]


def test_sequences_are_written_element_wise(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawavel')
    put_ok(ca, chid, [1, -2, 3])
    assert current(ca, chid) == [1, -2, 3]
    put_ok(ca, chid, (4, 5))
    assert current(ca, chid) == [4, 5]
    put_ok(ca, chid, np.array([7, 8, 9], dtype=np.int16))
    assert current(ca, chid) == [7, 8, 9]
    put_ok(ca, chid, [1.5, 2.5, -3.5])
    assert current(ca, chid) == [1, 2, -3]
    uc = connected('cawaveuc')
    put_ok(ca, uc, np.array([0, 128, 255], dtype=np.uint8))
    assert current(ca, uc) == [0, 128, 255]
    put_ok(ca, uc, [200, 201])
    assert current(ca, uc) == [200, 201]


@pytest.mark.parametrize('count, length, expected', [
    (3, 10, 3), (None, 30, 20), (10, 2, 2), (0, 3, 3), (-1, 4, 4), (100, 25, 20),
    (np.int32(5), 8, 5)])
def test_count_is_smallest_of_requested_native_and_length(ca_backend, connected,
                                                          count, length, expected):
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, list(range(length)), None, count)
    assert current(ca, chid) == [float(i) for i in range(expected)]


def test_sequence_to_scalar_writes_first_element(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    put_ok(ca, chid, [2.25, 9.0])
    assert get_value(ca, chid) == 2.25


def test_non_integer_count_raises_type_error(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawave')
    with pytest.raises(TypeError):
        ca.put(chid, [1.0, 2.0], None, 1.5)
    with pytest.raises(TypeError):
        ca.put(chid, [1.0, 2.0], None, '2')


# --- conversion errors raise before anything is sent --------------------------------

@pytest.mark.parametrize('name, value, chtype', [
    ('calong', 2 ** 31, None), ('calong', -2 ** 31 - 1, None), ('calong', 2 ** 64, None),
    ('cashort', 32768, None), ('cashort', -32769, None), ('cawaveh', [1, 40000], None),
    ('cachar', 256, None), ('catest', 70000, 'SHORT'),
    ('catest', 256, 'CHAR'), ('catest', 65536, 'ENUM'), ('catest', -1, 'ENUM'),
    ('catest', 1e39, 'FLOAT'), ('cafloat', -1e300, None), ('catest', 2 ** 1030, None),
    ('calong', np.int64(2 ** 40), None), ('cawavel', np.array([0, 2 ** 40]), None)])
def test_out_of_range_raises_overflow_error(ca_backend, connected, name, value, chtype):
    ca = ca_backend
    chid = connected(name)
    chtype = None if chtype is None else ca.DBR[chtype]
    before = get_value(ca, chid)
    with pytest.raises(OverflowError):
        ca.put(chid, value, chtype)
    with pytest.raises(OverflowError):
        ca.put(chid, value, chtype, callback=Recorder())
    assert get_value(ca, chid) == before


@pytest.mark.parametrize('dbr_type', sorted(INTEGER_RANGES), ids=lambda t: t.name)
def test_integer_puts_take_exactly_the_shared_ranges(ca_backend, connected, dbr_type):
    """The one table of ranges (CaChannel._dbr_fields) is what both backends
    enforce; the C extension's own copy (dbr.c, from <stdint.h>) included."""
    ca = ca_backend
    chid = connected('catest')
    before = get_value(ca, chid)
    low, high = INTEGER_RANGES[dbr_type]
    try:
        for edge in (low, high):
            put_ok(ca, chid, edge, dbr_type)
        for beyond in (low - 1, high + 1):
            with pytest.raises(OverflowError):
                ca.put(chid, beyond, dbr_type)
    finally:
        put_ok(ca, chid, before)


@pytest.mark.parametrize('name', ['catest', 'calong', 'castr', 'cabo', 'cawave', 'cawavec'])
@pytest.mark.parametrize('value', [None, object(), [None, 1.0]], ids=['None', 'object', 'list-None'])
def test_unconvertible_value_raises_type_error(ca_backend, connected, name, value):
    ca = ca_backend
    if name == 'castr' and isinstance(value, list):
        pytest.skip('a list for a scalar string PV is a sequence, covered elsewhere')
    chid = connected(name)
    with pytest.raises(TypeError):
        ca.put(chid, value)
    with pytest.raises(TypeError):
        ca.put(chid, value, callback=Recorder())


@pytest.mark.parametrize('name, text', [
    ('catest', 'abc'), ('catest', '1.5mm'), ('calong', 'twelve'), ('cashort', '')])
def test_non_numeric_string_raises_value_error(ca_backend, connected, name, text):
    ca = ca_backend
    chid = connected(name)
    before = get_value(ca, chid)
    with pytest.raises(ValueError):
        ca.put(chid, text)
    with pytest.raises(ValueError):
        ca.put(chid, text, ca.dbf_type_to_DBR(ca.field_type(chid)), callback=Recorder())
    assert get_value(ca, chid) == before


@pytest.mark.parametrize('name, value, chtype', [
    ('calong', math.nan, None), ('cashort', float('nan'), None),
    ('catest', math.nan, 'LONG'), ('cawaveh', np.array([1.0, np.nan]), None),
    ('cachar', np.float32('nan'), None), ('cabo', math.nan, None)])
def test_nan_to_integer_raises_value_error(ca_backend, connected, name, value, chtype):
    ca = ca_backend
    chid = connected(name)
    chtype = None if chtype is None else ca.DBR[chtype]
    before = get_value(ca, chid)
    with pytest.raises(ValueError):
        ca.put(chid, value, chtype)
    assert get_value(ca, chid) == before


def test_nan_to_double_is_written(ca_backend, connected):
    ca = ca_backend
    chid = connected('cawave')
    put_ok(ca, chid, [1.0, math.nan, 3.0])
    value = current(ca, chid)
    assert value[0] == 1.0 and math.isnan(value[1]) and value[2] == 3.0


@pytest.mark.parametrize('chtype', ['TIME_DOUBLE', 'STS_DOUBLE', 'GR_DOUBLE', 'CTRL_DOUBLE',
                                    'STSACK_STRING', 'CLASS_NAME'])
def test_put_with_non_plain_type_is_badtype(ca_backend, connected, chtype):
    ca = ca_backend
    chid = connected('catest')
    assert ca.put(chid, 1.0, ca.DBR[chtype]) == ca.ECA.BADTYPE
    assert ca.put(chid, 1.0, ca.DBR[chtype], callback=Recorder()) == ca.ECA.BADTYPE
    assert ca.put(chid, 1.0, 99) == ca.ECA.BADTYPE


# --- alarm acknowledgement ------------------------------------------------------

def test_put_ackt_and_acks(ca_backend, connected):
    ca = ca_backend
    chid = connected('catest')
    try:
        assert ca.put(chid, 0, ca.DBR.PUT_ACKT) == ca.ECA.NORMAL
        assert get_value(ca, chid, ca.DBR.STSACK_STRING)['ackt'] == 0
        assert ca.put(chid, 1, ca.DBR.PUT_ACKT) == ca.ECA.NORMAL
        assert get_value(ca, chid, ca.DBR.STSACK_STRING)['ackt'] == 1
        # Acknowledge whatever is outstanding, raise a MINOR alarm and clear it:
        # with transient acknowledgement on, MINOR stays unacknowledged.
        assert ca.put(chid, 3, ca.DBR.PUT_ACKS) == ca.ECA.NORMAL
        put_ok(ca, chid, 15.0)
        put_ok(ca, chid, 0.0)
        value = get_value(ca, chid, ca.DBR.STSACK_STRING)
        assert value['severity'] is ca.AlarmSeverity.No
        assert value['acks'] is ca.AlarmSeverity.Minor
        assert ca.put(chid, ca.AlarmSeverity.Minor, ca.DBR.PUT_ACKS) == ca.ECA.NORMAL
        assert get_value(ca, chid, ca.DBR.STSACK_STRING)['acks'] is ca.AlarmSeverity.No
    finally:
        ca.put(chid, 1, ca.DBR.PUT_ACKT)
        put_ok(ca, chid, 0.0)
