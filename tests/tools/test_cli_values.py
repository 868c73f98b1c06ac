"""The console tools' element formatting against the C library's printf.

Base's tools print every element with ``sprintf`` (tool_lib.c's val2str);
ours format whole arrays at once.  These tests put both side by side for
every format the options can choose (``%g``, ``-e/-f/-g`` 0..18, the
integer radixes) over values that print in every shape, through the same
snprintf of the C library base's tools are linked with (ctypes), so a
difference between Python's and C's number formatting shows here before a
parity run.  The byte-for-byte comparison with base's tools themselves is
tests/tools/test_cli_parity.py.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import random
import struct
from typing import Any, List

import pytest

from CaChannel.cli.tool import MAX_DIGITS, Settings
from CaChannel.cli.values import PV, values_text
from CaChannel._constants import DBR, MAX_ENUM_STATES

_libc_name = ctypes.util.find_library('c')
if _libc_name is None:  # pragma: no cover - every Linux has one
    pytest.skip('no C library found for ctypes', allow_module_level=True)
LIBC = ctypes.CDLL(_libc_name)

SEPARATORS = [b' ', b',', b'%', b'\0']


def c_printf(fmt: bytes, value: Any) -> bytes:
    buffer = ctypes.create_string_buffer(1024)
    LIBC.snprintf(buffer, len(buffer), fmt, value)
    return buffer.value


def doubles() -> List[float]:
    generator = random.Random(18)
    values = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, -5e-324,
              2.2250738585072014e-308, 1.7976931348623157e308, 123456.5, 1234565.0, 0.5, 1.5,
              2.5, -2.5, 0.125, 1e15, 1e16, 2.0 ** 53 + 2, 0.1, 1 / 3, 2147483647.5,
              -2147483648.6, 4294967296.0, 9.9999995, 99999.95, 1e-5, 0.0001, 123456789.0]
    values += [generator.uniform(-1, 1) * 10.0 ** generator.randint(-40, 40) for _ in range(400)]
    values += [float(generator.randint(-10 ** 7, 10 ** 7)) / 8 for _ in range(100)]
    return values


def formats() -> List[str]:
    return ['%g'] + ['%%-.%d%s' % (digits, letter) for letter in 'efg'
                     for digits in range(MAX_DIGITS + 1)]


def printed(dbr_type: int, values: List[Any], settings: Settings, count: int = -1,
            record: Any = None) -> bytes:
    pv = PV(b'pv')
    pv.take(dbr_type, len(values) if count < 0 else count,
            values if record is None else dict(record, value=values))
    return values_text(pv, settings)


@pytest.mark.parametrize('fmt', formats())
def test_doubles_as_printf(fmt: str) -> None:
    values = doubles()
    for sep in SEPARATORS:
        settings = Settings(double_format=fmt, separator=sep)
        expected = sep.join(c_printf(fmt.encode(), ctypes.c_double(value)) for value in values)
        assert printed(DBR.DOUBLE, values, settings) == expected, (fmt, sep)


def test_floats_as_printf() -> None:
    # A DBR_FLOAT element is a float32, promoted to double by printf's varargs.
    values = [struct.unpack('f', struct.pack('f', value))[0] for value in doubles()
              if not abs(value) > 3.4e38]
    for fmt in formats():
        settings = Settings(double_format=fmt)
        expected = b' '.join(c_printf(fmt.encode(), ctypes.c_double(value)) for value in values)
        assert printed(DBR.TIME_FLOAT, values, settings) == expected, fmt


def test_negative_nans_among_many() -> None:
    """glibc's "-nan" wherever a negative NaN sits in a long array."""
    values = [float(i) for i in range(1000)]
    for i in (0, 1, 500, 501, 999):
        values[i] = -math.nan
    values[250] = math.nan
    expected = b' '.join(c_printf(b'%g', ctypes.c_double(value)) for value in values)
    assert printed(DBR.DOUBLE, values, Settings()) == expected


def base_binary(value: int) -> bytes:
    """tool_lib.c's sprint_long for binary: the bits of a 32-bit int, no leading zeros."""
    bits = ''.join('1' if value >> bit & 1 else '0' for bit in range(31, -1, -1))
    return (bits.lstrip('0') or '0').encode()


def c_radix(value: int, kind: str) -> bytes:
    if kind == 'bin':
        return base_binary(value)
    fmt = {'dec': b'%d', 'hex': b'0x%X', 'oct': b'0o%o'}[kind]
    return c_printf(fmt, ctypes.c_int(value))


def c_round(value: float) -> int:
    """val2str's rounding; a double out of a C int's range converts to INT_MIN on x86."""
    rounded = value + 0.5 if value > 0.0 else value - 0.5
    if math.isnan(rounded) or not -2 ** 31 <= rounded < 2 ** 31:
        return -2 ** 31
    return int(rounded)


@pytest.mark.parametrize('kind', ['dec', 'hex', 'oct', 'bin'])
def test_integers_in_every_radix(kind: str) -> None:
    generator = random.Random(5)
    longs = [0, 1, -1, 2 ** 31 - 1, -2 ** 31, 255, -256] + \
        [generator.randint(-2 ** 31, 2 ** 31 - 1) for _ in range(300)]
    shorts = [0, 1, -1, 32767, -32768] + [generator.randint(-32768, 32767) for _ in range(300)]
    for dbr_type, values in ((DBR.LONG, longs), (DBR.TIME_SHORT, shorts), (DBR.ENUM, [0, 3, 15])):
        settings = Settings(int_format=kind, separator=b'%')
        assert printed(dbr_type, values, settings) == \
            b'%'.join(c_radix(value, kind if dbr_type != DBR.ENUM else 'dec') for value in values)


@pytest.mark.parametrize('kind', ['hex', 'oct', 'bin'])
def test_doubles_rounded_to_integers(kind: str) -> None:
    """-lx, -lo, -lb: rounded half away from zero to a C int, then printed in the radix."""
    settings = Settings(float_int_format=kind)
    values = doubles()
    assert printed(DBR.DOUBLE, values, settings) == \
        b' '.join(c_radix(c_round(value), kind) for value in values)


def test_chars_as_signed_c_chars() -> None:
    values = list(range(256))
    expected = b' '.join(c_printf(b'%d', ctypes.c_int(ctypes.c_byte(value).value)) for value in values)
    assert printed(DBR.CHAR, values, Settings()) == expected


def test_strings_escaped() -> None:
    values = ['plain', 'tab\there', 'quote " \' \\', 'bell\x07', 'é', b'\xff\x01', 'cut\0here', '']
    assert printed(DBR.STRING, values, Settings(separator=b',')) == \
        b'plain,tab\\there,quote \\" \\\' \\\\,bell\\a,\\xc3\\xa9,\\xff\\x01,cut,'


def test_enum_states_from_gr_and_ctrl() -> None:
    record = {'status': 0, 'severity': 0, 'no_str': 3, 'strs': ('Zero', 'One', 'Two Words')}
    values = [2, 0, 3, MAX_ENUM_STATES, 1, 2]
    expected = b'Two Words;Zero;Enum Index Overflow (3);Illegal Value (16);One;Two Words'
    for dbr_type in (DBR.GR_ENUM, DBR.CTRL_ENUM):
        assert printed(dbr_type, values, Settings(separator=b';'), record=record) == expected
    assert printed(DBR.CTRL_ENUM, values, Settings(enum_as_number=True), record=record) == \
        b'2 0 3 16 1 2'
    assert printed(DBR.TIME_ENUM, values, Settings(), record={'status': 0}) == b'2 0 3 16 1 2'


def test_counts_beyond_the_data_and_invalid_types() -> None:
    assert printed(DBR.DOUBLE, [1.5, 2.0], Settings(), count=4) == b'1.5 2 !!! !!!'
    assert printed(DBR.DOUBLE, [1.5, 2.0, 3.0], Settings(), count=2) == b'1.5 2'
    assert printed(DBR.DOUBLE, [], Settings(), count=0) == b''
    assert printed(39, [1, 2], Settings(separator=b',')) == b'*** invalid type,*** invalid type'
