"""Request types and augmented values: what a ``datatype``/``format`` asks
the ``ca`` layer for, and how its reply dict becomes the value users get.

The value classes derive from epicscorelibs.ca's (``ca_int``, ``ca_str``,
``ca_bytes``, ``ca_array``; not ``ca_float``, see :class:`ca_float`) when the
libca in use is that wheel's, so ``isinstance`` checks and
``except cadef.CAException`` written against aioca keep working; a site EPICS
build gets classes of its own with the same behaviour (importing
epicscorelibs.ca would load the wheel's second libca beside the site one).
"""

from __future__ import annotations

import datetime as _datetime
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

import numpy

from .. import _constants as C

#: aioca's pseudo request types: read a CHAR array as text, an ENUM as its
#: string.  They are not DBR codes (libca never sees them), so they live
#: here rather than in ``CaChannel._constants``.
DBR_ENUM_STR = 996
DBR_CHAR_BYTES = 997
DBR_CHAR_UNICODE = 998
DBR_CHAR_STR = 999

FORMAT_RAW = 0
FORMAT_TIME = 1
FORMAT_CTRL = 2

_CHAR_TEXT = (DBR_CHAR_STR, DBR_CHAR_BYTES, DBR_CHAR_UNICODE)
_PLAIN = frozenset(range(C.DBR_STRING, C.DBR_DOUBLE + 1))
#: Requests whose reply has no format variants.
_FIXED = (C.DBR_STSACK_STRING, C.DBR_CLASS_NAME)

#: numpy type characters a ``datatype`` may name, and the request they make
#: (unsigned and wider integers travel as the signed type of their size or
#: as LONG, since CA has nothing wider; text as STRING).
_NUMPY_CHAR_TO_DBR = {
    'b': C.DBR_CHAR, 'B': C.DBR_CHAR, '?': C.DBR_CHAR,
    'h': C.DBR_SHORT, 'H': C.DBR_SHORT,
    'i': C.DBR_LONG, 'I': C.DBR_LONG, 'l': C.DBR_LONG, 'L': C.DBR_LONG,
    'q': C.DBR_LONG, 'Q': C.DBR_LONG,
    'f': C.DBR_FLOAT, 'd': C.DBR_DOUBLE,
    'S': C.DBR_STRING, 'U': C.DBR_STRING,
}

#: The numpy dtype each plain request's elements arrive as.
_DTYPE: Dict[int, Any] = {
    C.DBR_SHORT: numpy.int16, C.DBR_FLOAT: numpy.float32, C.DBR_ENUM: numpy.uint16,
    C.DBR_CHAR: numpy.uint8, C.DBR_LONG: numpy.int32, C.DBR_DOUBLE: numpy.float64,
}


def _compatible_bases() -> Tuple[Dict[str, type], type]:
    """epicscorelibs.ca's value classes and ``CAException`` when our libca is
    the wheel's, else plain Python bases."""
    plain = {'int': int, 'str': str, 'bytes': bytes, 'array': numpy.ndarray}
    try:
        from .._libpath import epicscorelibs_libraries
        from ..CaChannel import _chosen_ca
        from .._libpath import libraries_in_use
        if libraries_in_use(_chosen_ca())[1] != epicscorelibs_libraries()[1]:
            return plain, Exception
        from epicscorelibs.ca import cadef, dbr
    except Exception:  # no wheel, or a wheel without the ca package
        return plain, Exception
    return ({'int': dbr.ca_int, 'str': dbr.ca_str,
             'bytes': dbr.ca_bytes, 'array': dbr.ca_array}, cadef.CAException)


_BASES, ExceptionBase = _compatible_bases()

if TYPE_CHECKING:  # the checker sees the plain bases
    _IntBase = int
    _StrBase = str
    _BytesBase = bytes
    _ArrayBase = numpy.ndarray
else:
    _IntBase, _StrBase = _BASES['int'], _BASES['str']
    _BytesBase, _ArrayBase = _BASES['bytes'], _BASES['array']


#: What a value keeps of its read (the augmented fields come from these).
_VALUE_SLOTS = ('_name', '_request', '_fields', '_status', '_severity', '_seconds', '_nanoseconds',
                '_target')


class _Augmented:
    """What every augmented value adds to its plain type.

    A value holds its :class:`Request` and the reply's fields; each
    augmented field is worked out the first time it is read (then kept), so
    a monitor event costs one object, not a dozen attribute stores.
    """

    __slots__ = ()

    def __getattr__(self, key: str) -> Any:
        # Only called for what the instance does not have.
        if key.startswith('_'):
            raise AttributeError(key)
        try:
            request = self._request
        except AttributeError:  # a value numpy derived from an augmented one
            raise AttributeError(key) from None
        value = request.field(key, self)
        try:
            setattr(self, key, value)
        except AttributeError:  # ca_float keeps no more than it must
            pass
        return value

    @property
    def datetime(self) -> _datetime.datetime:
        return _datetime.datetime.fromtimestamp(self.timestamp)  # type: ignore[attr-defined]


class ca_int(_Augmented, _IntBase):
    """An integer with the augmented fields (``+value`` is the plain int)."""


class ca_float(_Augmented, float):
    """A float with the augmented fields (``+value`` is the plain float).

    The one value class with slots (int, str and bytes subclasses cannot
    have any): most monitored PVs are DOUBLE, and a value's fields stored in
    slots cost a fraction of an instance dict's time and memory.
    """

    __slots__ = _VALUE_SLOTS


class ca_str(_Augmented, _StrBase):
    """A str with the augmented fields (``+value`` is the plain str)."""

    def __pos__(self) -> str:
        return str(self)


class ca_bytes(_Augmented, _BytesBase):
    """A bytes with the augmented fields (``+value`` is the plain bytes)."""

    def __pos__(self) -> bytes:
        return bytes(self)


class ca_array(_Augmented, _ArrayBase):
    """A numpy array with the augmented fields (``+value`` is a plain ndarray)."""

    __hash__ = None  # type: ignore[assignment]

    def __pos__(self) -> numpy.ndarray:  # type: ignore[override]
        return numpy.array(self)


def _to_text(raw: Any) -> str:
    # The ca layer hands back bytes when a string is not UTF-8.
    return raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else raw


def _base_request(datatype: Any, field_type: int, long_string: bool) -> int:
    """The plain request type (or pseudo type) *datatype* asks for; a
    *long_string* channel's name ends in ``$``."""
    if datatype is None:
        # Names ending in '$' are long strings in CHAR arrays (EPICS's rule).
        if field_type == C.DBF_CHAR and long_string:
            return DBR_CHAR_STR
        return field_type
    if datatype == DBR_ENUM_STR:
        return C.DBR_STRING if field_type == C.DBF_ENUM else field_type
    if isinstance(datatype, int) and not isinstance(datatype, bool):
        if datatype in _PLAIN or datatype in _CHAR_TEXT or datatype in _FIXED:
            return int(datatype)
        raise ValueError('datatype %r is not a request type' % (datatype,))
    try:
        return _NUMPY_CHAR_TO_DBR[numpy.dtype(datatype).char]
    except (KeyError, TypeError) as exc:
        raise ValueError('datatype %r not supported for channel access'
                         % (datatype,)) from exc


class Request:
    """One decided read: the ``ca`` request type, and how its reply becomes a value.

    Shared by every read of the same kind (asked type and format, channel
    type and length) in a loop: values keep a reference to theirs.
    """

    __slots__ = ('asked', 'chtype', 'base', 'text', 'element_count', 'format', 'array',
                 'timed', '_plain')

    def __init__(self, datatype: Any, format: int, field_type: int, element_count: int,
                 long_string: bool = False) -> None:
        if format not in (FORMAT_RAW, FORMAT_TIME, FORMAT_CTRL):
            raise ValueError('format %r is not FORMAT_RAW, FORMAT_TIME or FORMAT_CTRL'
                             % (format,))
        base = _base_request(datatype, field_type, long_string)
        self.text: Any = None
        if base in _CHAR_TEXT:
            self.text = base
            base = C.DBR_CHAR
        self.base = base
        self.element_count = element_count
        self.format = format
        self.array = element_count != 1 and self.text is None
        #: reply value -> unaugmented value of our classes
        self._plain: Callable[[Any], Any]
        if self.text is not None:
            self._plain = self._text
        elif self.array:
            self._plain = self._elements
        elif base in (C.DBR_FLOAT, C.DBR_DOUBLE):
            self._plain = ca_float
        elif base in (C.DBR_SHORT, C.DBR_LONG, C.DBR_CHAR, C.DBR_ENUM, C.DBR_PUT_ACKT,
                      C.DBR_PUT_ACKS):
            self._plain = ca_int
        else:
            self._plain = _string
        #: the reply is a TIME type's: its fields are kept compact
        self.timed = False
        if base in _FIXED or format == FORMAT_RAW:
            self.chtype = base
        elif format == FORMAT_TIME or base == C.DBR_STRING:
            # STRING has no CTRL form: its richest is TIME.
            self.chtype = C.dbf_type_to_DBR_TIME(base)
            self.timed = True
        else:
            self.chtype = C.dbf_type_to_DBR_CTRL(base)

    def value(self, reply: Any, name: str) -> Any:
        """The augmented value of a ``ca`` reply's ``'value'``, read from *name*."""
        if reply.__class__ is dict:
            result = self._plain(reply['value'])
            if self.timed:
                # Monitors at rate are mostly FORMAT_TIME: four numbers kept
                # in the value itself, no container more per event.
                stamp = reply['stamp']
                result._status = reply['status']
                result._severity = reply['severity']
                result._seconds = stamp['seconds']
                result._nanoseconds = stamp['nanoseconds']
            else:
                result._fields = reply
        else:
            result = self._plain(reply)
            result._fields = None
        result._request = self
        result._name = name
        return result

    def field(self, key: str, value: Any) -> Any:
        """Augmented field *key* of a value read with this request."""
        if key == 'name':
            return value._name
        if key == 'ok':
            return True
        if key == 'datatype':
            return self.base
        if key == 'element_count':
            return self.element_count
        if key not in _FIELD_OF:
            raise AttributeError(key)
        if self.timed:
            if key == 'status':
                return value._status
            if key == 'severity':
                return value._severity
            if key in ('raw_stamp', 'timestamp'):
                return _stamp_field(key, value._seconds, value._nanoseconds)
            raise AttributeError(key)
        fields = value._fields
        if fields is None:
            raise AttributeError(key)
        source = _FIELD_OF[key]
        if source == 'stamp':
            stamp = fields.get('stamp')
            if stamp is None:
                raise AttributeError(key)
            return _stamp_field(key, stamp['seconds'], stamp['nanoseconds'])
        if source not in fields:
            raise AttributeError(key)
        found = fields[source]
        if key == 'enums':
            return list(found)
        if key == 'units':
            return _to_text(found)
        return found

    def _text(self, raw: Any) -> Any:
        data = bytes(raw) if not isinstance(raw, int) else bytes((raw,))
        data = data.split(b'\0', 1)[0]
        if self.text == DBR_CHAR_BYTES:
            return ca_bytes(data)
        return ca_str(data.decode('utf-8', 'replace'))

    def _elements(self, raw: Any) -> Any:
        return _array(raw, self.base)


def _string(raw: Any) -> ca_str:
    # The ca layer hands back bytes when a string is not UTF-8.
    if isinstance(raw, bytes):
        return ca_str(raw.decode('utf-8', 'replace'))
    return ca_str(raw)


def _array(raw: Any, base: int) -> Any:
    if isinstance(raw, numpy.ndarray):
        return raw.view(ca_array)
    if base == C.DBR_STRING:
        texts = [_to_text(s) for s in raw] if isinstance(raw, list) else [_to_text(raw)]
        width = max((len(s) for s in texts), default=1) or 1
        return numpy.array(texts, dtype='U%d' % width).view(ca_array)
    # A count-1 read of an array channel comes back as a scalar; an empty one
    # as an empty list.
    items = raw if isinstance(raw, list) else [raw]
    return numpy.array(items, dtype=_DTYPE.get(base, numpy.float64)).view(ca_array)


def _stamp_field(key: str, seconds: int, nanoseconds: int) -> Any:
    if key == 'raw_stamp':
        return (seconds, nanoseconds)
    # Microseconds: a double cannot carry today's nanoseconds anyway;
    # raw_stamp keeps them.
    return round(seconds + nanoseconds * 1e-9, 6)


#: augmented field -> the key of the ca layer's reply dict it comes from.
_FIELD_OF = {key: key for key in (
    'status', 'severity', 'units', 'precision', 'ackt', 'acks', 'upper_disp_limit',
    'lower_disp_limit', 'upper_alarm_limit', 'lower_alarm_limit', 'upper_warning_limit',
    'lower_warning_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')}
_FIELD_OF.update(raw_stamp='stamp', timestamp='stamp', enums='strs')


def put_request(datatype: Any, field_type: int, name: str,
                value: Any) -> Tuple[Optional[int], Any]:
    """``(chtype, value)`` for a ``ca.put`` of *value* with *datatype*.

    Text with no datatype goes as STRING and the server converts it, as
    caput does; text to a ``$`` CHAR array (or with a ``DBR_CHAR_*`` type)
    goes as its bytes, which the ``ca`` layer ends with a 0.
    """
    if isinstance(value, ca_array):
        # An augmented array goes as the plain array it is.
        value = numpy.asarray(value).view(numpy.ndarray)
    if datatype in (C.DBR_PUT_ACKT, C.DBR_PUT_ACKS):
        return int(datatype), value
    if datatype is None and isinstance(value, (str, bytes)):
        if field_type == C.DBF_CHAR and name.endswith('$'):
            return C.DBR_CHAR, value
        return C.DBR_STRING, value
    base = _base_request(datatype, field_type, name.endswith('$'))
    if base in _CHAR_TEXT:
        return C.DBR_CHAR, value
    if base in _FIXED:
        raise ValueError('datatype %r cannot be written' % (datatype,))
    if base == C.DBR_STRING and not isinstance(value, (str, bytes)):
        # Numbers written to a STRING field go as their text, as numpy's
        # conversion gave aioca users.
        if isinstance(value, (list, tuple, numpy.ndarray)):
            return base, [v if isinstance(v, (str, bytes)) else str(v) for v in value]
        return base, str(value)
    return base, value
