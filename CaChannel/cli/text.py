"""Text conversions of the console tools, at the byte level of EPICS base.

The base tools parse their arguments with the C library (``sscanf``,
``strtod``) and print with ``printf`` and libCom's escaping and time-stamp
functions.  Scripts compare what they print, so these functions reproduce
those conversions, bytes in and bytes out, rather than Python's nearest
equivalents (``int()`` refuses ``"5abc"``, ``float()`` refuses hex floats,
``%g`` spells a negative NaN ``nan``).
"""
from __future__ import annotations

import math
import re
import time
from typing import Optional, Tuple

from CaChannel._constants import POSIX_TIME_AT_EPICS_EPOCH

#: Bytes C's isspace() accepts in the "C" locale (the tools never call setlocale).
_SPACE = b' \t\n\v\f\r'

_DECIMAL = re.compile(rb'[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?')
_HEX = re.compile(rb'([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)')
_SPECIAL = re.compile(rb'([+-]?)(inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)', re.IGNORECASE)
_INTEGER = re.compile(rb'[+-]?\d+')


def strtod(text: bytes) -> Tuple[Optional[float], int, bool]:
    """C ``strtod``: (value or None, bytes consumed, out of range).

    Consumes the longest number at the start (after white space), as the C
    function does, so ``b'1x'`` gives 1.0 and leaves ``b'x'``.
    """
    start = len(text) - len(text.lstrip(_SPACE))
    rest = text[start:]
    special = _SPECIAL.match(rest)
    if special:
        sign = -1.0 if special.group(1) == b'-' else 1.0
        value = math.inf if special.group(2)[:1] in b'iI' else math.nan
        return math.copysign(value, sign), start + special.end(), False
    hexa = _HEX.match(rest)
    if hexa:
        body = hexa.group(2)
        if b'p' not in body.lower():
            body += b'p0'
        try:
            value = float.fromhex(body.decode('ascii'))
        except OverflowError:
            value = math.inf
        value = -value if hexa.group(1) == b'-' else value
        return value, start + hexa.end(), _out_of_range(value, body)
    decimal = _DECIMAL.match(rest)
    if not decimal:
        return None, 0, False
    value = float(decimal.group())
    return value, start + decimal.end(), _out_of_range(value, decimal.group())


def _out_of_range(value: float, text: bytes) -> bool:
    """What makes strtod set ERANGE: overflow, or underflow of a non-zero number."""
    if math.isinf(value):
        return True
    mantissa = re.split(rb'[eEpP]', text)[0]
    nonzero = any(c in b'123456789abcdefABCDEF' for c in mantissa.lstrip(b'+-').lstrip(b'0xX'))
    return (value == 0.0 and nonzero) or (value != 0.0 and abs(value) < 2.2250738585072014e-308)


def scan_double(text: bytes) -> Optional[float]:
    """libCom's ``epicsScanDouble``: the whole text must be one number in range."""
    value, used, out_of_range = strtod(text)
    if value is None or out_of_range or text[used:].strip(_SPACE):
        return None
    return value


def _scan_integer(text: bytes) -> Optional[int]:
    match = _INTEGER.match(text.lstrip(_SPACE))
    return int(match.group()) if match else None


def scan_int(text: bytes) -> Optional[int]:
    """``sscanf(text, "%d", &i)``: a leading integer, stored in a C int."""
    value = _scan_integer(text)
    if value is None:
        return None
    value = max(-2**63, min(2**63 - 1, value))   # strtol saturates
    value &= 0xFFFFFFFF                          # then the store truncates
    return value - 2**32 if value >= 2**31 else value


def scan_unsigned(text: bytes, bits: int = 32) -> Optional[int]:
    """``sscanf(text, "%u")`` (``bits`` 64: ``"%lu"``): strtoul's reading of a sign."""
    value = _scan_integer(text)
    if value is None:
        return None
    if abs(value) > 2**64 - 1:
        value = 2**64 - 1
    elif value < 0:
        value = 2**64 + value
    return value & (2**bits - 1)


# --- escapes (libCom epicsString.c) -------------------------------------------

_ESCAPES = {7: b'\\a', 8: b'\\b', 12: b'\\f', 10: b'\\n', 13: b'\\r', 9: b'\\t', 11: b'\\v',
            0x5C: b'\\\\', 0x27: b"\\'", 0x22: b'\\"', 0: b'\\0'}
_UNESCAPES = {ord('a'): 7, ord('b'): 8, ord('f'): 12, ord('n'): 10, ord('r'): 13, ord('t'): 9,
              ord('v'): 11, ord('\\'): 0x5C, ord("'"): 0x27, ord('"'): 0x22, ord('0'): 0}
_HEXDIGITS = b'0123456789abcdefABCDEF'


#: What epicsStrnEscapedFromRaw writes for each byte.
_ESCAPED = [_ESCAPES.get(c) or (bytes([c]) if 0x20 <= c < 0x7F else b'\\x%02x' % c) for c in range(256)]
#: The bytes it does not copy as they are.
_TO_ESCAPE = re.compile(rb'[^\x20-\x7e]|[\\\'"]')


def escape(raw: bytes) -> bytes:
    """``epicsStrnEscapedFromRaw``: C escapes, ``\\xhh`` for other unprintables."""
    return _TO_ESCAPE.sub(lambda match: _ESCAPED[match.group()[0]], raw)


def unescape(text: bytes, size: int) -> bytes:
    """``epicsStrnRawFromEscaped(out, size, text, size)``.

    At most *size* bytes of *text* are read and at most ``size - 1`` written,
    as caput does for a 40-byte CA string; a 0 byte ends the input.
    """
    out = bytearray()
    room = size - 1
    src = memoryview(text)[:size].tobytes()
    i = 0

    def put(c: int) -> None:
        if len(out) < room:
            out.append(c)

    while i < len(src):
        c = src[i]
        i += 1
        if c == 0:
            break
        if c != 0x5C:
            put(c)
            continue
        if i >= len(src) or src[i] == 0:
            break
        c = src[i]
        i += 1
        if c != ord('x'):
            put(_UNESCAPES.get(c, c))
            continue
        # \x with one or two hex digits; anything else is read as plain text.
        digits = b''
        while len(digits) < 2 and i < len(src) and src[i] in _HEXDIGITS and src[i] != 0:
            digits += src[i:i + 1]
            i += 1
        if digits:
            put(int(digits, 16))
        elif i >= len(src) or src[i] == 0:
            break
    return bytes(out)


# --- printf ------------------------------------------------------------------------

def c_double(fmt: str, value: float) -> bytes:
    """``printf(fmt, value)`` for one of %g %e %f with flags and precision.

    Python spells NaN without its sign; glibc prints ``-nan``.
    """
    text = fmt % value
    if math.isnan(value) and math.copysign(1.0, value) < 0:
        text = text.replace('nan', '-nan')
    return text.encode('ascii')


def to_int32(value: float) -> int:
    """A double converted to a 32-bit int as x86 does: truncation, INT_MIN when out of range."""
    if math.isnan(value) or not -2**31 <= value < 2**31:
        return -2**31
    return int(value)


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# --- time stamps (libCom epicsTime.cpp) -----------------------------------------------



def format_stamp(seconds: int, nanoseconds: int, fmt: str = '%Y-%m-%d %H:%M:%S.', digits: int = 6) -> bytes:
    """``epicsTimeToStrftime`` with a fraction of *digits* digits at the end.

    The fraction is rounded, never into the next second; the EPICS epoch
    itself is a stamp nobody set and reads ``<undefined>``.
    """
    if seconds == POSIX_TIME_AT_EPICS_EPOCH and nanoseconds == 0:
        return b'<undefined>'
    text = time.strftime(fmt, time.localtime(seconds)).encode()
    if nanoseconds >= 1000000000:
        return text + b'OVF'
    divisor = 10 ** (9 - digits)
    fraction = min(nanoseconds + divisor // 2, 999999999) // divisor
    return text + b'%0*d' % (digits, fraction)


def now() -> Tuple[int, int]:
    """The client's clock as (POSIX seconds, nanoseconds)."""
    ns = time.time_ns()
    return ns // 1000000000, ns % 1000000000


def stamp_difference(left: Tuple[int, int], right: Tuple[int, int]) -> float:
    """``epicsTimeDiffInSeconds``: seconds and nanoseconds subtracted apart."""
    return float(left[0] - right[0]) + float(left[1] - right[1]) / 1e9
