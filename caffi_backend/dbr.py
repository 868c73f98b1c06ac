"""DBR conversions both ways (the twin of src/dbr.c).

Reading (:func:`to_python`): a libca buffer of a DBR type and count becomes
a scalar (count 1), a list, or a numpy array with ``use_numpy`` (one copy
out of libca's buffer); STS/TIME/GR/CTRL types become the contract's dicts (docs/maintainers.rst).
Every string is read within its C field (40 bytes for values, 8 for units,
26 for enum states), never past it, and decoded as UTF-8, falling back to
the bytes.

Writing (:func:`encode`): a Python value becomes a C buffer of the request
type, converted by value (never by reinterpreting bytes), with the range
checks of DEVELOPERS.md ("Put conversion errors") done before anything is
sent.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from CaChannel._constants import (DBR, MAX_STRING_SIZE, POSIX_TIME_AT_EPICS_EPOCH,
                                  AlarmCondition, AlarmSeverity)
from CaChannel._dbr_fields import CTRL_LIMITS, GR_LIMITS, INTEGER_RANGES

from ._cdef import VALUE_KINDS
from ._common import DBR_MEMBERS, ECA_MEMBERS, Identifier, as_int, decode
from ._ffi import ffi, libc

__all__ = ['DBRValue', 'new_value', 'event_dict', 'GET_TYPES', 'to_python', 'buffer_size', 'new_buffer', 'fill', 'encode',
           'PUT_TYPES']

_CONDITION: Dict[int, AlarmCondition] = AlarmCondition._value2member_map_  # type: ignore
_SEVERITY: Dict[int, AlarmSeverity] = AlarmSeverity._value2member_map_  # type: ignore

# Value kinds: the seven DBF types in db_access.h order, plus the unsigned
# short of DBR_PUT_ACKT/DBR_PUT_ACKS.
STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE, USHORT = range(8)

# kind -> (C element type, numpy dtype name or None).  numpy is imported on
# first use, as by the C backend: scripts that never ask for arrays never
# pay for it.
_ELEMENTS: Tuple[Tuple[str, Optional[str]], ...] = (
    ('dbr_string_t', None),
    ('dbr_short_t', 'int16'),
    ('dbr_float_t', 'float32'),
    ('dbr_enum_t', 'uint16'),
    ('dbr_char_t', 'uint8'),
    ('dbr_long_t', 'int32'),
    ('dbr_double_t', 'float64'),
    ('dbr_ushort_t', 'uint16'),
)

_INT_RANGES: Dict[int, Tuple[int, int]] = dict(INTEGER_RANGES)
# ackt/acks are dbr_ushort_t, the C type of dbr_enum_t (epicsUInt16).
_INT_RANGES[USHORT] = INTEGER_RANGES[DBR.ENUM]
_FLT_MAX = 3.4028234663852886e+38          # FLT_MAX, the largest finite float32


def _numpy() -> Any:
    import numpy
    return numpy


def _is_ndarray(value: Any) -> bool:
    # No numpy imported: no numpy array can exist.
    numpy = sys.modules.get('numpy')
    if numpy is None:
        return False
    ndarray = getattr(numpy, 'ndarray', None)
    if ndarray is None:             # another thread is importing it: wait
        ndarray = _numpy().ndarray
    return isinstance(value, ndarray)


def is_complex(item: Any) -> bool:
    """Complex numbers (Python's, numpy's) are no CA value: refused, never
    written as their real part (the twin of is_complex in dbr.c)."""
    return isinstance(item, numbers.Complex) and not isinstance(item, numbers.Real)

Meta = Optional[Callable[[Any, Dict[str, Any]], None]]


# ---------------------------------------------------------------------------
# reading

def _text(field: Any, size: int) -> Any:
    return decode(ffi.string(field, size))


def _sts(s: Any, out: Dict[str, Any]) -> None:
    status = s.status
    severity = s.severity
    out['status'] = _CONDITION.get(status, status)
    out['severity'] = _SEVERITY.get(severity, severity)


def _time(s: Any, out: Dict[str, Any]) -> None:
    _sts(s, out)
    stamp = s.stamp
    seconds = stamp.secPastEpoch + POSIX_TIME_AT_EPICS_EPOCH
    nanoseconds = stamp.nsec
    out['stamp'] = {'seconds': seconds, 'nanoseconds': nanoseconds,
                    'timestamp': seconds + nanoseconds * 1e-9}


# The dict keys are the structures' field names.
_GR_KEYS = tuple(field.key for field in GR_LIMITS)
_CTRL_ONLY_KEYS = tuple(field.key for field in CTRL_LIMITS[len(GR_LIMITS):])


def _limits(s: Any, out: Dict[str, Any]) -> None:
    out['units'] = _text(s.units, 8)
    for key in _GR_KEYS:
        out[key] = getattr(s, key)


def _gr(s: Any, out: Dict[str, Any]) -> None:
    _sts(s, out)
    _limits(s, out)


# precision after the limits, in the key order dbr.c gives too (the
# original CaChannel's)
def _gr_precision(s: Any, out: Dict[str, Any]) -> None:
    _gr(s, out)
    out['precision'] = s.precision


def _ctrl(s: Any, out: Dict[str, Any]) -> None:
    _gr(s, out)
    for key in _CTRL_ONLY_KEYS:
        out[key] = getattr(s, key)


def _ctrl_precision(s: Any, out: Dict[str, Any]) -> None:
    _ctrl(s, out)
    out['precision'] = s.precision


def _enum_strings(s: Any, out: Dict[str, Any]) -> None:
    _sts(s, out)
    no_str = s.no_str
    out['no_str'] = no_str
    strs = s.strs
    out['strs'] = tuple(_text(strs[i], 26) for i in range(min(max(no_str, 0), 16)))


def _stsack(s: Any, out: Dict[str, Any]) -> None:
    _sts(s, out)
    out['ackt'] = s.ackt
    acks = s.acks
    out['acks'] = _SEVERITY.get(acks, acks)


class _Layout:
    """Where the value of one DBR type sits and how to read the rest."""

    __slots__ = ('kind', 'struct', 'offset', 'pointer', 'itemsize', 'dtype', 'meta',
                 'header')

    def __init__(self, kind: int, struct: Optional[str], meta: Meta) -> None:
        element, self.dtype = _ELEMENTS[kind]
        self.kind = kind
        self.pointer = ffi.typeof(element + ' *')
        self.itemsize = ffi.sizeof(element)
        self.struct = ffi.typeof(struct + ' *') if struct else None
        self.offset = ffi.offsetof(struct, 'value') if struct else 0
        # sizeof the struct, i.e. dbr_size[] of db_access.h
        self.header = ffi.sizeof(struct) if struct else self.itemsize
        self.meta = meta


def _build_layouts() -> List[_Layout]:
    families: Tuple[Tuple[str, Tuple[Meta, ...]], ...] = (
        ('sts', (_sts,) * 7),
        ('time', (_time,) * 7),
        ('gr', (_sts, _gr, _gr_precision, _enum_strings, _gr, _gr, _gr_precision)),
        ('ctrl', (_sts, _ctrl, _ctrl_precision, _enum_strings, _ctrl, _ctrl,
                  _ctrl_precision)),
    )
    layouts = [_Layout(kind, None, None) for kind in range(7)]
    for family, metas in families:
        for kind, meta in enumerate(metas):
            if kind == STRING and family in ('gr', 'ctrl'):
                struct = 'struct dbr_sts_string'    # db_access.h: no gr/ctrl string
            else:
                struct = 'struct dbr_%s_%s' % (family, VALUE_KINDS[kind])
            layouts.append(_Layout(kind, struct, meta))
    layouts.append(_Layout(USHORT, None, None))                      # PUT_ACKT
    layouts.append(_Layout(USHORT, None, None))                      # PUT_ACKS
    layouts.append(_Layout(STRING, 'struct dbr_stsack_string', _stsack))
    layouts.append(_Layout(STRING, None, None))                      # CLASS_NAME
    assert len(layouts) == DBR.CLASS_NAME + 1
    return layouts


_LAYOUTS = _build_layouts()
# The element pointer of each plain numeric type: one element of those is
# read with a single cast where no answer view brings it typed.
_SCALAR_POINTERS = {t: _LAYOUTS[t].pointer for t in (SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE)}
_STRING_POINTER = ffi.typeof('dbr_string_t *')
# The plain numeric types, whose answers and events come through their
# answer view (_cdef.ANSWER_VIEWS, getput's callbacks): one element is
# dbr[0], with no cast.  Their zeros, as a zeroed buffer reads.
_VIEWED_NUMBERS = frozenset(_SCALAR_POINTERS)
_ZEROS = {t: ffi.new(pointer)[0] for t, pointer in _SCALAR_POINTERS.items()}
_CHAR_POINTER = ffi.typeof('char *')


def _values(layout: _Layout, ptr: Any, count: int, use_numpy: bool,
            owner: Any = None) -> Any:
    """The value part of a DBR buffer; *owner*: the get buffer *ptr* is, which
    a numpy array may view (a callback's buffer dies with the callback)."""
    base = ffi.cast(_CHAR_POINTER, ptr) + layout.offset
    if layout.kind == STRING:
        strings = ffi.cast(_STRING_POINTER, base)
        if count == 1:
            return decode(ffi.string(strings[0], MAX_STRING_SIZE))
        return [decode(ffi.string(strings[i], MAX_STRING_SIZE)) for i in range(count)]
    if count == 1:
        return ffi.cast(layout.pointer, base)[0]
    if use_numpy:
        if owner is not None:
            # A view on the value's own buffer, no copy (ffi.buffer keeps
            # the owning cdata alive), as dbr.c's numpy_array.
            return _numpy().frombuffer(ffi.buffer(owner), layout.dtype, count, layout.offset)
        # bytearray: the one copy out of libca's buffer, and writable.
        return _numpy().frombuffer(bytearray(ffi.buffer(base, count * layout.itemsize)),
                                   layout.dtype)
    return ffi.unpack(ffi.cast(layout.pointer, base), count)


def to_python(ptr: Any, dbrtype: int, count: int, use_numpy: bool = False,
              owner: Any = None) -> Any:
    """The Python value of a DBR buffer (see the module docstring)."""
    if count == 1:
        scalar = _SCALAR_POINTERS.get(dbrtype)
        if scalar is not None:
            return ffi.cast(scalar, ptr)[0]
    layout = _LAYOUTS[dbrtype]
    value = _values(layout, ptr, count, use_numpy, owner)
    meta = layout.meta
    if meta is None:
        return value
    out = {'value': value}
    meta(ffi.cast(layout.struct, ptr), out)
    return out


def buffer_size(dbrtype: int, count: int) -> int:
    """Bytes libca writes for *count* elements (``dbr_size_n``)."""
    layout = _LAYOUTS[dbrtype]
    # The struct holds its first element: a count of 0 or 1 gives its size.
    # Compared, not max(): two builtin calls were a third of a scalar read's
    # buffer.
    size = layout.offset + count * layout.itemsize
    return size if size > layout.header else layout.header


# Large get buffers are recycled, as in dbr.c: a fresh 32 MB buffer costs
# thousands of page faults on every read of an image, a reused one none.
# A pooled buffer is reused once nothing but the pool refers to it (no
# value, numpy view or ffi.buffer): CPython's reference count tells.
_RECYCLE_MIN_BYTES = 1 << 20
_DOUBLES = ffi.typeof('double[]')       # resolved once: one buffer per read
_RECYCLE_SLOTS = 2
_recycled: List[Any] = []
_recycle_lock = threading.Lock()
# References to a free pooled buffer while it is checked: the pool's, the
# loop variable's, getrefcount's argument.
_FREE_REFERENCES = 3


def new_buffer(dbrtype: int, count: int) -> Any:
    """A buffer for a get, zeroed unless recycled (then old data until the
    reply overwrites it); doubles, so that every DBR struct is aligned."""
    doubles = (buffer_size(dbrtype, count) + 7) // 8
    if doubles * 8 < _RECYCLE_MIN_BYTES:
        return ffi.new(_DOUBLES, doubles)
    with _recycle_lock:
        for buffer in _recycled:
            if sys.getrefcount(buffer) == _FREE_REFERENCES:
                if len(buffer) == doubles:
                    return buffer
                _recycled.remove(buffer)    # free but of another size: make room
                break
        buffer = ffi.new(_DOUBLES, doubles)
        if len(_recycled) < _RECYCLE_SLOTS:
            _recycled.append(buffer)
        return buffer


# Large copies let other threads run (a libc call through cffi releases the
# GIL; ffi.memmove does not), as libca's own copy did.
_COPY_WITHOUT_GIL_BYTES = 1 << 20


class DBRValue(Identifier):
    """The value of a get without callback, readable after ``pend_io``.

    The reply is copied into the buffer this object holds, never more than
    the count asked; ``get()`` converts what is there (zeros until the reply
    has arrived).  One element of a plain numeric type is kept as the
    Python number instead (``_scalar``, no buffer): through cffi the
    buffer's allocation, the copy into it and the cast that reads it back
    were a fifth of a scalar get's instructions (callgrind: 54,100 ->
    43,600); C keeps its buffer, where it is a memcpy into the object's
    own memory (dbr.c: a small buffer is allocated with its object).
    """

    __slots__ = ('_buffer', '_scalar', '_type', '_count', '_use_numpy', '_filled')

    @classmethod
    def _new(cls, buffer: Any, dbrtype: int, count: int, use_numpy: bool,
             scalar: Any = None) -> 'DBRValue':
        obj = object.__new__(cls)       # Identifier._make, without its call
        obj._buffer = buffer
        obj._scalar = scalar
        obj._type = dbrtype
        obj._count = count
        obj._use_numpy = use_numpy
        obj._filled = False
        return obj

    @property
    def filled(self) -> bool:
        """True once the reply has been copied in (get() then gives the value read)."""
        return self._filled

    def get(self) -> Any:
        """The value (scalar, list, numpy array or dict; docs/maintainers.rst)."""
        buffer = self._buffer
        if buffer is None:
            return self._scalar
        return to_python(buffer, self._type, self._count, self._use_numpy, buffer)

    def __repr__(self) -> str:
        return '<DBRValue %s count=%d>' % (DBR_MEMBERS.get(self._type, self._type), self._count)


def new_value(dbrtype: int, count: int, use_numpy: bool) -> DBRValue:
    """A zeroed value for a get without callback to copy its reply into."""
    if count == 1 and dbrtype in _VIEWED_NUMBERS:
        return DBRValue._new(None, dbrtype, 1, use_numpy, _ZEROS[dbrtype])
    return DBRValue._new(new_buffer(dbrtype, count), dbrtype, count, use_numpy)


# PUT_ACKT/PUT_ACKS are write-only
GET_TYPES = frozenset(range(DBR.CLASS_NAME + 1)) - {DBR.PUT_ACKT, DBR.PUT_ACKS}
_NORMAL = 1                                 # ECA_NORMAL
_ECA_NORMAL = ECA_MEMBERS[_NORMAL]


def event_dict(chan: Any, args: Any, use_numpy: bool) -> Dict[str, Any]:
    """The dict of a get callback or subscription event (the twin of
    event_dict in dbr.c); *args* come through the answer view of their
    type where it has one."""
    status = args.status
    dbrtype = args.type
    count = args.count
    dbr = args.dbr
    # (a NULL pointer is false)
    if status == _NORMAL and dbr and dbrtype in GET_TYPES:
        value = dbr[0] if count == 1 and dbrtype in _VIEWED_NUMBERS else \
            to_python(dbr, dbrtype, count, use_numpy)
        # Every type of GET_TYPES is a member: subscripts instead of get()
        # with a default, 1,500 of a scalar event's 10,800 instructions.
        return {'chid': chan, 'type': DBR_MEMBERS[dbrtype], 'count': count,
                'status': _ECA_NORMAL, 'value': value}
    return {'chid': chan, 'type': DBR_MEMBERS.get(dbrtype, dbrtype), 'count': count,
            'status': ECA_MEMBERS.get(status, status), 'value': None}


_TIME_TYPES = frozenset(range(DBR.TIME_STRING, DBR.TIME_DOUBLE + 1))
# A plain int: an int compared with an IntEnum member misses the
# interpreter's int-only path (370 instructions of an event).
_TIME_STRING = int(DBR.TIME_STRING)


def pv_event_dict(chan: Any, args: Any) -> Optional[Dict[str, Any]]:
    """The object layer's monitor dict (CaChannel's epics_args) of an event
    holding one element of a TIME type, made in one step; None for any other
    event (the caller then makes ``event_dict``).  The twin of pv_event_dict
    in dbr.c; *args* come through the answer view of their TIME type."""
    dbrtype = args.type
    time = args.dbr
    if args.status != _NORMAL or args.count != 1 or dbrtype not in _TIME_TYPES or not time:
        return None
    value = time.value
    if dbrtype == _TIME_STRING:
        value = decode(ffi.string(value))      # within the field's 40 bytes
    stamp = time.stamp
    # Subscripts, not get() with a default: 1,000 of the 14,600
    # instructions of an event through the object layer (callgrind).  An
    # alarm number no member has (dbr.c's enum_member passes it on as an
    # int) takes event_dict's way, which passes it on the same.
    try:
        return {'chid': chan, 'type': DBR_MEMBERS[dbrtype], 'count': 1,
                'status': _ECA_NORMAL, 'pv_value': value,
                'pv_status': _CONDITION[time.status],
                'pv_severity': _SEVERITY[time.severity],
                # caPython's seconds count from the EPICS epoch
                'pv_seconds': stamp.secPastEpoch, 'pv_nseconds': stamp.nsec}
    except KeyError:
        return None


def fill(buffer: Any, dbrtype: int, asked: int, count: int, reply: Any) -> None:
    """Copy a reply of *count* elements into a get buffer made for *asked*,
    never more (the twin of dbr_fill); when fewer came, the rest reads as
    zeros, not as what a recycled buffer held."""
    layout = _LAYOUTS[dbrtype]
    size = layout.offset + min(count, asked) * layout.itemsize
    if size >= _COPY_WITHOUT_GIL_BYTES:
        libc.memcpy(buffer, reply, size)
    else:
        ffi.memmove(buffer, reply, size)
    room = ffi.sizeof(buffer)
    if size < room and room >= _RECYCLE_MIN_BYTES:   # smaller ones come zeroed
        libc.memset(ffi.cast(_CHAR_POINTER, buffer) + size, 0, room - size)


# ---------------------------------------------------------------------------
# writing

PUT_TYPES = frozenset(range(DBR.DOUBLE + 1)) | {DBR.PUT_ACKT, DBR.PUT_ACKS}


def _put_kind(dbrtype: int) -> int:
    return USHORT if dbrtype > DBR.DOUBLE else dbrtype


def _text_bytes(item: Any) -> bytes:
    """One element written as DBR_STRING."""
    if isinstance(item, str):
        raw = item.encode('utf-8')
    elif isinstance(item, (bytes, bytearray)):
        raw = bytes(item)
    elif isinstance(item, numbers.Number) and not is_complex(item):
        raw = str(item).encode('utf-8')
    else:
        raise TypeError('cannot write %s as a CA string' % type(item).__name__)
    if len(raw) >= MAX_STRING_SIZE:
        raise ValueError('string of %d bytes is longer than DBR_STRING holds (%d)'
                         % (len(raw), MAX_STRING_SIZE - 1))
    return raw


def _parse_number(text: Any) -> Any:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode('utf-8')
    try:
        return int(text, 0)         # as C's strtol with base 0: 0x.., 0o..
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError('%r is not a number' % (text,)) from None


def _number(item: Any, kind: int) -> Any:
    """One element as a checked Python int (integer kinds) or float."""
    if isinstance(item, (str, bytes, bytearray)):
        item = _parse_number(item)
    if isinstance(item, float):
        number: Any = float(item)
    else:
        try:
            number = operator.index(item)
        except TypeError:
            if item is None or is_complex(item) or not hasattr(item, '__float__'):
                raise TypeError('cannot write %s as a number'
                                % type(item).__name__) from None
            number = float(item)
    if kind in _INT_RANGES:
        if isinstance(number, float):
            if math.isnan(number):
                raise ValueError('NaN cannot be written to an integer type')
            if math.isinf(number):
                raise OverflowError('%r is out of range of the integer type' % number)
            number = int(number)            # truncates toward zero, like a C cast
        low, high = _INT_RANGES[kind]
        if not low <= number <= high:
            raise OverflowError('%d is out of range [%d, %d] of the request type'
                                % (number, low, high))
        return number
    number = float(number)
    if kind == FLOAT and abs(number) > _FLT_MAX and not math.isinf(number):
        raise OverflowError('%r is out of range of DBR_FLOAT' % number)
    return number


def _numeric_array(items: Any, kind: int) -> Any:
    """A contiguous array of *kind*'s dtype, converted by value and checked."""
    numpy = _numpy()
    dtype = _ELEMENTS[kind][1]
    try:
        array = numpy.asarray(items)
    except ValueError:                       # ragged nesting: element by element
        array = numpy.empty(len(items), dtype=object)
        array[:] = list(items)
    array = array.reshape(-1)
    if array.dtype.kind == 'b':
        array = array.astype(numpy.uint8)
    code = array.dtype.kind
    if code in 'iu':
        if kind in _INT_RANGES and array.size:
            low, high = _INT_RANGES[kind]
            if int(array.min()) < low or int(array.max()) > high:
                raise OverflowError('array values out of range [%d, %d] of the request type'
                                    % (low, high))
        return numpy.ascontiguousarray(array.astype(dtype, copy=False))
    if code == 'f':
        if kind in _INT_RANGES:
            if numpy.isnan(array).any():
                raise ValueError('NaN cannot be written to an integer type')
            if not numpy.isfinite(array).all():
                raise OverflowError('infinity is out of range of the integer type')
            array = numpy.trunc(array)      # toward zero, like a C cast
            low, high = _INT_RANGES[kind]
            if array.size and (array.min() < low or array.max() > high):
                raise OverflowError('array values out of range [%d, %d] of the request type'
                                    % (low, high))
        elif kind == FLOAT and array.size:
            finite = array[numpy.isfinite(array)]
            if finite.size and numpy.abs(finite).max() > _FLT_MAX:
                raise OverflowError('array values out of range of DBR_FLOAT')
        return numpy.ascontiguousarray(array.astype(dtype, copy=False))
    if code in 'USO':
        # int64/float64 first: every kind's range fits, and the cast to the
        # element type then wraps -128..-1 for CHAR as the C cast does.
        checked = numpy.array([_number(item, kind) for item in array.tolist()])
        return numpy.ascontiguousarray(checked.astype(dtype, copy=False))
    raise TypeError('cannot write an array of %s' % array.dtype)


def _is_text(value: Any) -> bool:
    """Values written as text: str and bytes (a bytearray is a sequence of
    byte values, like any buffer)."""
    return isinstance(value, (str, bytes))


def _limit(length: int, limit: Optional[int]) -> int:
    return length if limit is None else min(length, limit)


def encode(value: Any, dbrtype: int, count: Any, native: int) -> Tuple[int, int, Any]:
    """Convert *value* for a put of request type *dbrtype*.

    Returns ``(request type, element count, C buffer)``: a str to DBR_ENUM
    becomes a DBR_STRING request, a str to DBR_CHAR its bytes plus a
    terminating 0; the count is the smallest of *count* (when > 0), the
    *native* count (when connected) and the value's length. Raises
    ``TypeError``/``ValueError``/``OverflowError`` as DEVELOPERS.md says.
    """
    if value is None:
        raise TypeError('None cannot be written')
    limit: Optional[int] = native if native > 0 else None
    if count is not None:
        wanted = as_int(count, "count", allow_bool=False)
        if wanted > 0:
            limit = _limit(wanted, limit)
    kind = _put_kind(dbrtype)

    if _is_text(value):
        if kind == CHAR:
            return _encode_chars(value, dbrtype, limit)
        if kind in (STRING, ENUM):       # ENUM by name: the server looks it up
            return DBR.STRING, 1, _encode_elements([value], 1, STRING)
        value = _parse_number(value)

    array = _is_ndarray(value)
    if array and value.ndim == 0:
        value, array = value.item(), False
    if hasattr(value, '__len__') and not isinstance(value, dict):
        items = value.reshape(-1) if array else value
        n = _limit(len(items), limit)
        items = items[:n] if array or isinstance(items, (list, tuple)) else list(items)[:n]
        return (DBR.STRING if kind == STRING else dbrtype), n, _encode_elements(items, n, kind)
    return (DBR.STRING if kind == STRING else dbrtype), 1, _encode_elements([value], 1, kind)


def _encode_chars(value: Any, dbrtype: int, limit: Optional[int]) -> Tuple[int, int, Any]:
    """Text to a char array: its bytes and a terminating 0 (the twin of
    encode_chars in dbr.c)."""
    raw = (value.encode('utf-8') if isinstance(value, str) else bytes(value)) + b'\0'
    n = _limit(len(raw), limit)
    return dbrtype, n, ffi.new('char[]', raw[:n])


def _encode_elements(items: Any, n: int, kind: int) -> Any:
    """n elements, each converted by value (the twin of encode_elements in
    dbr.c; a numpy array is converted as a whole)."""
    if kind == STRING:
        raws = [_text_bytes(item) for item in items]
        buffer = ffi.new('dbr_string_t[]', max(n, 1))
        for i, raw in enumerate(raws):
            ffi.memmove(buffer[i], raw, len(raw))
        return buffer
    if n == 1 and not _is_ndarray(items):
        number = _number(items[0], kind)
        if kind == CHAR:
            number &= 0xFF          # -128..-1: the bytes of a signed CHAR
        return ffi.new(_ELEMENTS[kind][0] + ' *', number)
    return ffi.from_buffer(_ELEMENTS[kind][0] + '[]', _numeric_array(items, kind))

