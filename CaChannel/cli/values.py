"""How the console tools print values, as base's tool_lib does.

A :class:`PV` holds one channel of a tool run and the last data it
received; :func:`values_text` is its elements, :func:`extra_text` the
alarm/limit/enum block of ``caget -d``, :func:`wide_line` the
"name stamp value stat sevr" line of ``caget -a``, ``caput -l`` and every
camonitor update.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from CaChannel.cli.tool import Output, Settings
from CaChannel._constants import (ALARM_NSEV, ALARM_NSTATUS, DBF, DBR, MAX_ENUM_STATES,
                                  POSIX_TIME_AT_EPICS_EPOCH, _dbr_value_type, alarmSeverityString,
                                  alarmStatusString, dbf_type_to_DBR_TIME, dbr_type_is_CTRL,
                                  dbr_type_is_GR, dbr_type_is_plain, dbr_type_is_STS,
                                  dbr_type_is_TIME, dbr_type_is_valid)
from CaChannel.cli.text import c_double, escape, format_stamp, now, signed, stamp_difference, to_int32
from CaChannel._dbr_fields import GR_LIMITS, LIMIT_LINES

#: Alarm condition and severity names, by number, as the bytes printed.
STATUS_NAMES = tuple(alarmStatusString(number).encode() for number in range(ALARM_NSTATUS))
SEVERITY_NAMES = tuple(alarmSeverityString(number).encode() for number in range(ALARM_NSEV))

Stamp = Tuple[int, int]


def status_name(value: Any) -> bytes:
    number = int(value)
    return STATUS_NAMES[number] if 0 <= number < len(STATUS_NAMES) else b'??'


def severity_name(value: Any) -> bytes:
    number = int(value)
    return SEVERITY_NAMES[number] if 0 <= number < len(SEVERITY_NAMES) else b'??'


def raw(text: Any) -> bytes:
    """A string the ca layer returned, as the bytes libca held."""
    return text if isinstance(text, bytes) else str(text).encode('utf-8')


class PV:
    """One channel of a tool run (tool_lib's ``pv`` structure)."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.chid: Any = None
        self.dbf_type = int(DBF.NOT_CONNECTED)
        self.dbr_type = int(DBR.INVALID)
        self.count = 0          # elements of the data held
        self.request_count = 0  # elements asked for
        self.status = 0
        #: What the last reply carried: a dict for STS and richer types
        #: (the ca layer's), else ``{'value': ...}``; None before any.
        self.record: Optional[Dict[str, Any]] = None
        self.previous_client: Stamp = (0, 0)
        self.previous_server: Stamp = (0, 0)
        self.first_stamp_printed = False
        self.once_connected = False
        self.evid: Any = None

    def take(self, dbr_type: int, count: int, value: Any) -> None:
        """Keep a reply: *value* as the ca layer delivered it."""
        self.dbr_type = int(dbr_type)
        self.count = count
        self.record = value if isinstance(value, dict) and 'value' in value and \
            not dbr_type_is_plain(self.dbr_type) else {'value': value}

    def elements(self) -> List[Any]:
        """The elements held, not copied: the caller only reads them."""
        assert self.record is not None
        value = self.record['value']
        if isinstance(value, list):
            return value
        if isinstance(value, tuple):
            return list(value)
        if hasattr(value, 'tolist') and not isinstance(value, (bytes, str)):
            items = value.tolist()
            return items if isinstance(items, list) else [items]
        return [value]

    def char_bytes(self) -> bytes:
        """A CHAR array's elements as the bytes they are."""
        return bytes([int(item) & 0xFF for item in self.elements()[:self.count]])


def time_type(dbf_type: int, settings: Settings, float_as_string: bool = False) -> int:
    """The DBR_TIME type base's tools read a channel of *dbf_type* with.

    Enums as strings unless -n (then as DBR_TIME_INT), floating point as the
    server's strings with -s.
    """
    if dbf_type == DBF.ENUM:
        return int(DBR.TIME_INT if settings.enum_as_number else DBR.TIME_STRING)
    if float_as_string and dbf_type in (DBF.FLOAT, DBF.DOUBLE):
        return int(DBR.TIME_STRING)
    return int(dbf_type_to_DBR_TIME(dbf_type))


def base_type(dbr_type: int) -> int:
    """The plain DBR type of the values any DBR type carries."""
    return int(_dbr_value_type(dbr_type))


#: A 32-bit C int's bits, as printf's %o and %X and base's binary print them.
_INT32_BITS = 0xFFFFFFFF

#: printf("%d") of a C ``char`` (signed on the platforms base runs on), by its byte.
_CHAR_TEXTS = [b'%d' % signed(byte, 8) for byte in range(256)]


def values_text(pv: PV, settings: Settings) -> bytes:
    """The first ``pv.count`` elements as base's ``val2str`` prints each,
    joined by the field separator.

    Base prints element by element in C; here each array is formatted in a
    few whole-array operations (one printf-style format over all elements,
    one join), so the time grows linearly with the array and stays close to
    base's for the millions of elements of detector waveforms.
    """
    count = pv.count
    sep = settings.separator
    if count <= 0:
        return b''
    if not dbr_type_is_valid(pv.dbr_type):
        return sep.join([b'*** invalid type'] * count)
    items = pv.elements()
    if len(items) > count:
        items = items[:count]
    parts = [_joined_texts(pv.dbr_type, items, settings, pv.record or {})] if items else []
    # A reply shorter than the count leaves val2str's "!!!" in place.
    parts += [b'!!!'] * (count - len(items))
    return sep.join(parts)


def _joined_texts(kind: int, items: List[Any], settings: Settings, record: Dict[str, Any]) -> bytes:
    sep = settings.separator
    plain = base_type(kind)
    if plain == DBR.STRING:
        return sep.join([escape(raw(item).split(b'\0', 1)[0]) for item in items])
    if plain in (DBR.FLOAT, DBR.DOUBLE):
        if settings.float_int_format == 'dec':
            return _printf_doubles(settings.double_format, items, sep)
        # val2str rounds half away from zero, then converts to a C int.
        rounded = [to_int32(x + 0.5 if x > 0.0 else x - 0.5) for x in map(float, items)]
        return _radix_texts(rounded, settings.float_int_format, sep)
    if plain == DBR.CHAR:
        return sep.join([_CHAR_TEXTS[int(item) & 0xFF] for item in items])
    if plain in (DBR.SHORT, DBR.LONG):
        return _radix_texts(items, settings.int_format, sep)
    # DBR_ENUM: a state string only from a GR/CTRL reply, which carries them.
    if (dbr_type_is_GR(kind) or dbr_type_is_CTRL(kind)) and not settings.enum_as_number:
        numbers = [int(item) for item in items]
        states = {number: _state_text(record, number) for number in set(numbers)}
        return sep.join([states[number] for number in numbers])
    return _radix_texts(items, 'dec', sep)


def _state_text(record: Dict[str, Any], number: int) -> bytes:
    if number >= MAX_ENUM_STATES:
        return b'Illegal Value (%d)' % number
    if number >= int(record.get('no_str', 0)):
        return b'Enum Index Overflow (%d)' % number
    return raw(record['strs'][number])


def _printf_all(fmt: bytes, items: List[Any], sep: bytes) -> bytes:
    """``fmt`` applied to every item, *sep* between: one format operation."""
    between = sep.replace(b'%', b'%%')
    pattern = (fmt + between) * len(items)
    return pattern[:len(pattern) - len(between)] % tuple(items)


def _printf_doubles(fmt: str, items: List[Any], sep: bytes) -> bytes:
    pattern = fmt.encode('ascii')
    text = _printf_all(pattern, items, sep)
    if b'nan' not in text:
        return text
    # glibc prints a NaN's sign ("-nan"), Python never does: the runs
    # between negative NaNs are formatted whole, each of those by itself.
    negative = [i for i, item in enumerate(items) if item != item and math.copysign(1.0, item) < 0]
    parts = []
    start = 0
    for i in negative + [len(items)]:
        if i > start:
            parts.append(_printf_all(pattern, items[start:i], sep))
        if i < len(items):
            parts.append(c_double(fmt, items[i]))
        start = i + 1
    return sep.join(parts)


def _radix_texts(numbers: List[Any], kind: str, sep: bytes) -> bytes:
    """C ints as base's sprint_long prints them in decimal, hex, octal or binary."""
    if kind == 'dec':
        return _printf_all(b'%d', numbers, sep)
    bits = [int(number) & _INT32_BITS for number in numbers]
    if kind == 'hex':
        return _printf_all(b'0x%X', bits, sep)
    if kind == 'oct':
        return _printf_all(b'0o%o', bits, sep)
    return sep.join([format(number, 'b').encode() for number in bits])


def stamp_of(record: Dict[str, Any]) -> Stamp:
    stamp = record.get('stamp') or {}
    return int(stamp.get('seconds', POSIX_TIME_AT_EPICS_EPOCH)), int(stamp.get('nanoseconds', 0))


def stamp_text(stamp: Stamp) -> bytes:
    return format_stamp(stamp[0], stamp[1])


def _limits(record: Dict[str, Any], names: Tuple[str, ...], kind: int) -> List[bytes]:
    out = []
    for name in names:
        number = record.get(name, 0)
        if kind in (DBR.FLOAT, DBR.DOUBLE):
            out.append(c_double('%g', float(number)))
        elif kind == DBR.CHAR:
            out.append(b'%8d' % signed(int(number), 8))
        else:
            out.append(b'%8d' % int(number))
    return out


# (label, ca key) in the order base prints them: the GR limits, then CTRL's two.
_GR_LINES = tuple((field.label, field.key) for field in LIMIT_LINES[:len(GR_LIMITS)])
_CTRL_LINES = tuple((field.label, field.key) for field in LIMIT_LINES[len(GR_LIMITS):])


def _field(label: str, text: bytes) -> bytes:
    return b'    %-18s%s' % ((label + ':').encode(), text)


def extra_text(pv: PV) -> bytes:
    """What base's ``dbr2str`` adds after the value for a non-plain type."""
    kind = pv.dbr_type
    record = pv.record or {}
    status = [_field('Status', status_name(record.get('status', 0))),
              _field('Severity', severity_name(record.get('severity', 0)))]
    plain = base_type(kind)
    graphic = dbr_type_is_GR(kind) or dbr_type_is_CTRL(kind)
    if dbr_type_is_STS(kind) or graphic and plain == DBR.STRING:
        lines = status
    elif dbr_type_is_TIME(kind):
        lines = [_field('Timestamp', stamp_text(stamp_of(record)))] + status
    elif kind in (DBR.GR_ENUM, DBR.CTRL_ENUM):
        strs = list(record.get('strs', ()))
        lines = status + [_field('Enums', b'(%2d)' % int(record.get('no_str', 0)))]
        lines += [b'                      [%2d] %s' % (i, raw(text)) for i, text in enumerate(strs)]
    elif graphic:
        lines = status + [_field('Units', raw(record.get('units', '')).split(b'\0', 1)[0])]
        if plain in (DBR.FLOAT, DBR.DOUBLE):
            lines.append(_field('Precision', b'%d' % int(record.get('precision', 0))))
        names = _GR_LINES + (_CTRL_LINES if dbr_type_is_CTRL(kind) else ())
        texts = _limits(record, tuple(name for _, name in names), plain)
        lines += [_field(label, text) for (label, _), text in zip(names, texts)]
    elif kind == DBR.STSACK_STRING:
        lines = status + [_field('Ack transient?', b'YES' if record.get('ackt') else b'NO'),
                          _field('Ack severity', severity_name(record.get('acks', 0)))]
    else:
        return b"can't print data type"
    return b'\n'.join(lines)


def char_string(pv: PV, limit: Optional[int] = None) -> bytes:
    """A CHAR array printed as text: up to its first 0 byte, escaped."""
    data = pv.char_bytes()
    if limit is not None:
        data = data[:limit]
    return escape(data.split(b'\0', 1)[0])


class StampClock:
    """The reference stamps of camonitor's relative and incremental modes."""

    def __init__(self) -> None:
        self.start: Stamp = now()
        self.first: Optional[Stamp] = None
        self.previous_client: Stamp = (0, 0)
        self.previous_server: Stamp = (0, 0)


def wide_line(pv: PV, requested: int, settings: Settings, clock: StampClock, out: Output) -> None:
    """Print one "name stamp value stat sevr" line (tool_lib's print_time_val_sts)."""
    sep = settings.separator
    client = now()
    client_text = stamp_text(client)
    name = b'%-30s' % pv.name if pv.count <= 1 and sep == b' ' else pv.name
    line = name + sep
    if not pv.once_connected:
        out.write(line + b'*** Not connected (PV not found)\n')
        return
    from CaChannel import ca
    if pv.status == ca.ECA_DISCONN:
        out.write(line + client_text + b' *** disconnected\n')
        return
    if pv.status == ca.ECA_NORDACCESS:
        out.write(line + client_text + b' *** no read access\n')
        return
    if pv.status != ca.ECA_NORMAL:
        out.write(line + client_text + b' *** CA error %s\n' % ca.message(pv.status).encode())
        return
    if pv.record is None:
        out.write(line + client_text + b' *** no data available (timeout)\n')
        return
    if not dbr_type_is_TIME(pv.dbr_type):
        out.write(line + b"can't print data type\n")
        return
    record = pv.record
    server = stamp_of(record)
    if clock.first is None:
        clock.first = server
    absolute = not pv.first_stamp_printed or settings.stamp_kind == 'absolute'
    parts = [line]
    if absolute:
        if settings.server_stamp:
            parts.append(stamp_text(server))
        if settings.client_stamp:
            parts.append(b'(' + client_text + b')')
        pv.first_stamp_printed = True
    else:
        if settings.stamp_kind == 'relative':
            ref_client, ref_server = clock.start, clock.first
        elif settings.stamp_kind == 'incremental':
            ref_client, ref_server = clock.previous_client, clock.previous_server
        else:
            ref_client, ref_server = pv.previous_client, pv.previous_server
        if settings.server_stamp:
            parts.append(b'              %+12.6f' % stamp_difference(server, ref_server))
        if settings.client_stamp:
            parts.append(b'              (%+12.6f)' % stamp_difference(client, ref_client))
    if settings.stamp_kind == 'by-channel':
        pv.previous_client, pv.previous_server = client, server
    clock.previous_client, clock.previous_server = client, server
    if settings.char_as_string and base_type(pv.dbr_type) == DBR.CHAR and (requested or pv.count > 1):
        limit = requested if requested and requested < pv.count else pv.count
        parts.append(sep + char_string(pv, limit))
    else:
        if requested or pv.count > 1:
            parts.append(sep + b'%d' % pv.count)
        if pv.count > 0:
            parts.append(sep + values_text(pv, settings))
    status, severity = int(record.get('status', 0)), int(record.get('severity', 0))
    if status or severity:
        parts.append(sep + status_name(status) + sep + severity_name(severity) + b'\n')
    else:
        parts.append(sep + sep + b'\n')
    out.write(b''.join(parts))


def zero_record(dbr_type: int, count: int) -> Dict[str, Any]:
    """What base prints from a reply buffer that never got filled: zeros."""
    plain = base_type(dbr_type)
    item: Any = b'' if plain == DBR.STRING else 0.0 if plain in (DBR.FLOAT, DBR.DOUBLE) else 0
    value: Any = [item] * count if count != 1 else item
    record: Dict[str, Any] = {'value': value, 'status': 0, 'severity': 0}
    if dbr_type_is_TIME(dbr_type):
        record['stamp'] = {'seconds': POSIX_TIME_AT_EPICS_EPOCH, 'nanoseconds': 0}
    if dbr_type in (DBR.GR_ENUM, DBR.CTRL_ENUM):
        record.update(no_str=0, strs=())
    return record
