"""``caget``: read PVs once and print them, as EPICS base's caget."""
from __future__ import annotations

from typing import Any, List, Optional

from CaChannel._constants import DBR, dbr_text_to_type, dbr_type_is_CHAR, dbr_type_is_valid
from CaChannel.cli.tool import FORMAT_HELP, Tool, connect, pend_event, pend_io, permuting, run_in_context
from CaChannel.cli.text import scan_int
from CaChannel.cli.values import PV, time_type, char_string, extra_text, raw, values_text, wide_line, \
    zero_record, StampClock

HELP = b'''
Usage: caget [options] <PV name> ...

Read each PV once and print its value.
  -h         this help; -V: EPICS and CA versions
Channel Access:
  -w <sec>   seconds to wait for connections and data (default %f; 0: forever)
  -c         get with callback and wait for it
  -p <prio>  CA priority, 0-%d (default 0)
Layout (default: "name value"):
  -t         terse: the value only
  -a         wide: "name timestamp value stat sevr" (requests DBR_TIME_xxx)
  -d <type>  request this DBR type and print everything it carries; give a
             name (DBR_ may be left off, e.g. CTRL_DOUBLE) or a number 0-38
Enums:
  -n         as numbers, not state strings
Arrays (printed as element count, then the elements):
  -# <n>     the first n elements only
  -S         a char array as a string
''' + FORMAT_HELP + b'''
Example: caget -a -f8 pv1 pv2

'''

#: The -d types that cannot be read.
_PUT_ONLY = (DBR.PUT_ACKT, DBR.PUT_ACKS)


class Caget(Tool):
    name = 'caget'
    help_text = HELP
    optstring = b':taicnhsSVe:f:g:l:#:d:0:w:p:F:'

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(out, err)
        self.layout = 'plain'
        self.callback = False
        self.count = 0
        self.dbr_type = int(DBR.INVALID)
        self.float_as_string = False

    def set_layout(self, layout: str) -> None:
        if self.layout != 'plain':
            self.warn(b"Options t,d,a are mutually exclusive. %s" % self.help_hint())
        self.layout = layout

    def option_type(self, arg: bytes) -> None:
        self.set_layout('dbr')
        number = scan_int(arg)
        if number is None:
            number = _dbr_number(arg)
            if number < 0:
                number = _dbr_number(b'DBR_' + arg[:25])
        self.dbr_type = number
        if not dbr_type_is_valid(number) or number in _PUT_ONLY:
            self.warn(b'Requested dbr type out of range or invalid - ignored. %s' % self.help_hint())
            self.layout = 'plain'

    def option_radix(self, letter: bytes, arg: bytes) -> str:
        kind = super().option_radix(letter, arg)
        if kind != 'dec' and letter == b'0':
            self.dbr_type = int(DBR.LONG)   # for a -d given before, as in base
        return kind

    def main(self, args: List[bytes]) -> int:
        options, names = self.options(args, permuting())
        settings = self.settings
        for letter, arg in options:
            if letter in b'ta':
                self.set_layout('terse' if letter == b't' else 'all')
            elif letter == b'c':
                self.callback = True
            elif letter == b'd':
                self.option_type(arg)
            elif letter == b'n':
                settings.enum_as_number = True
            elif letter == b'#':
                count = scan_int(arg)
                if count is None:
                    self.warn(b"'%s' is not a valid array element count - ignored. %s"
                              % (arg, self.help_hint()))
                    count = 0
                # base keeps it in an unsigned long: -1 asks for "all, counted".
                self.count = count % 2**64
            elif letter == b's':
                self.float_as_string = True
            elif letter == b'S':
                settings.char_as_string = True
            else:   # -i: in base's option string, but it has no meaning
                self.meaningless()
        pvs = self.pv_names(names)
        return run_in_context(lambda: self.read(pvs))

    # -- reading ------------------------------------------------------------------

    def read(self, pvs: List[PV]) -> int:
        from CaChannel import ca
        if connect(self, ca, pvs):
            return 1
        connected = 0
        replies = 0
        pending = []
        settings = self.settings

        def on_reply(pv: PV) -> Any:
            def handler(args: dict) -> None:
                nonlocal replies
                pv.status = args['status']
                if args['status'] == ca.ECA_NORMAL:
                    pv.take(args['type'], int(args['count']), args['value'])
                    replies += 1
            return handler

        for pv in pvs:
            native = ca.element_count(pv.chid)
            pv.dbf_type = int(ca.field_type(pv.chid))
            pv.dbr_type = self.dbr_type
            if self.layout != 'dbr':
                pv.dbr_type = time_type(pv.dbf_type, settings, self.float_as_string)
            if ca.state(pv.chid) != ca.cs_conn:
                pv.status = ca.ECA_DISCONN
                continue
            connected += 1
            pv.once_connected = True
            if self.callback:
                pv.request_count = min(self.count, native)
                status, _ = ca.get(pv.chid, pv.dbr_type, pv.request_count, callback=on_reply(pv))
            else:
                pv.count = self.count if self.count and self.count < native else native
                status, handle = ca.get(pv.chid, pv.dbr_type, pv.count)
                pending.append((pv, handle))
            pv.status = status
        if not connected:
            return 1
        timed_out = pend_io(ca, settings.timeout) == ca.ECA_TIMEOUT
        if timed_out:
            self.warn(b'Read operation timed out: some PV data was not read.')
        for pv, handle in pending:
            fill(pv, handle, timed_out)
        if self.callback:
            if settings.timeout != 0:
                for _ in range(5):
                    pend_event(ca, settings.timeout / 5)
                    if replies >= connected:
                        break
                if replies < connected:
                    self.warn(b'Read operation timed out: some PV data was not read.')
            else:
                while replies < connected:
                    pend_event(ca, 1.0)
        clock = StampClock()
        for pv in pvs:
            self.show(ca, pv, clock)
        return 0

    def show(self, ca: Any, pv: PV, clock: StampClock) -> None:
        settings = self.settings
        sep = settings.separator
        out = self.out
        if self.layout == 'all':
            wide_line(pv, self.count, settings, clock, out)
            return
        if self.layout == 'dbr':
            out.write(pv.name + b'\n')
            problem = status_problem(ca, pv.status)
            if problem:
                out.write(b'    ' + problem + b'\n')
                return
            if pv.record is None:
                pv.record = zero_record(pv.dbr_type, pv.count)
            out.write(b'    Native data type: %s\n' % ca.dbf_type_to_text(pv.dbf_type).encode())
            out.write(b'    Request type:     %s\n' % ca.dbr_type_to_text(pv.dbr_type).encode())
            if pv.dbr_type == ca.DBR_CLASS_NAME:
                out.write(b'    Class Name:       %s\n' % raw(pv.elements()[0]).split(b'\0', 1)[0])
                return
            out.write(b'    Element count:    %d\n    Value:            ' % pv.count)
            out.write(self.values(pv, counted=False) + b'\n')
            if pv.dbr_type > ca.DBR_DOUBLE:
                out.write(extra_text(pv) + b'\n')
            return
        line = b''
        if self.layout == 'plain':
            line = (b'%-30s' % pv.name if pv.count <= 1 and sep == b' ' else pv.name) + sep
        problem = status_problem(ca, pv.status)
        if problem is None and pv.record is None:
            problem = b'*** no data available (timeout)'
        out.write(line + (problem or self.values(pv, counted=True)) + b'\n')

    def values(self, pv: PV, counted: bool) -> bytes:
        settings = self.settings
        sep = settings.separator
        if settings.char_as_string and dbr_type_is_CHAR(pv.dbr_type) and (self.count or pv.count > 1):
            return char_string(pv)
        head = b'%d' % pv.count + sep if counted and (self.count or pv.count > 1) else b''
        return head + values_text(pv, settings)


def status_problem(ca: Any, status: int) -> Optional[bytes]:
    """The ``*** ...`` text base prints instead of a value, or None."""
    if status == ca.ECA_DISCONN:
        return b'*** not connected'
    if status == ca.ECA_NORDACCESS:
        return b'*** no read access'
    if status != ca.ECA_NORMAL:
        return b'*** CA error %s' % ca.message(status).encode()
    return None


def fill(pv: PV, handle: Any, timed_out: bool) -> None:
    """Take the data of a get without callback (zeros where none came)."""
    value = None
    if handle is not None:
        try:
            value = handle.get()
        except Exception:   # no reply within the timeout
            value = None
    if value is None:
        pv.record = zero_record(pv.dbr_type, pv.count)
    else:
        pv.take(pv.dbr_type, pv.count, value)


def _dbr_number(text: bytes) -> int:
    """The number of a DBR name given as bytes, or -1."""
    # latin-1 decodes any bytes; the table's names are ASCII, so only
    # their own bytes match one.
    return dbr_text_to_type(text.decode('latin-1'))
