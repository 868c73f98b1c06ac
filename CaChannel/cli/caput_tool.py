"""``caput``: write one PV and print it before and after, as EPICS base's caput."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from CaChannel._constants import MAX_STRING_SIZE, _ca_severity_text
from CaChannel.cli.tool import ERL_ERROR, Tool, connect, pend_event, pend_io, run_in_context
from CaChannel.cli.text import format_stamp, now, scan_int, strtod, unescape
from CaChannel.cli.values import PV, StampClock, time_type, char_string, values_text, wide_line, zero_record

HELP = b'''
Usage: caput [options] <PV name> <PV value> ...
       caput -a [options] <PV name> <no of values> <PV value> ...

Write a value to a PV, print the value before and after.
  -h         this help; -V: EPICS and CA versions
Channel Access:
  -w <sec>   seconds to wait for the connection and the data (default %f)
  -c         put with callback: wait until the record has finished processing
  -p <prio>  CA priority, 0-%d (default 0)
Layout:
  -t         terse: only the value written, no name
  -l         long: "name timestamp value stat sevr" (reads DBR_TIME_xxx)
Enums (default: a state string, else an index number):
  -n         the values are index numbers
  -s         the values are state strings
Arrays (default: one scalar, all value arguments joined by spaces):
  -S         write the text into a char array (long string)
  -a         write an array: the number of values, then the values
  -F <c>     separate fields by the character c instead of a space

Example: caput my_channel 1.2

'''


class Caput(Tool):
    name = 'caput'
    help_text = HELP
    optstring = b':cnlhatsVS#:w:p:F:'

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(out, err)
        self.layout = 'plain'
        self.callback = False
        self.array = False
        self.enum_as_string = False
        #: Set when the server refused our write (an exception came back).
        self.refused = False

    def main(self, args: List[bytes]) -> int:
        settings = self.settings
        # base's caput sets POSIXLY_CORRECT: options end at the PV name,
        # so a value may start with '-'.
        options, operands = self.options(args, permute=False)
        for letter, arg in options:
            if letter == b'n':
                settings.enum_as_number, self.enum_as_string = True, False
            elif letter == b's':
                settings.enum_as_number, self.enum_as_string = False, True
            elif letter == b'S':
                settings.char_as_string, self.array = True, False
            elif letter == b'a':
                settings.char_as_string, self.array = False, True
            elif letter == b't':
                self.layout = 'terse'
            elif letter == b'l':
                self.layout = 'all'
            elif letter == b'c':
                self.callback = True
            elif scan_int(arg) is None:   # -#: parsed for its message only
                self.warn(b"'%s' is not a valid array element count - ignored. %s"
                          % (arg, self.help_hint()))
        pv = self.pv_names(operands[:1])[0]
        if len(operands) == 1:
            self.warn(b'No value specified. %s' % self.help_hint())
            return 1
        return run_in_context(lambda: self.write(pv, operands[1:]))

    # -- writing ----------------------------------------------------------------------

    def write(self, pv: PV, words: List[bytes]) -> int:
        from CaChannel import ca
        if connect(self, ca, [pv]):
            return 1
        ca.add_exception_event(self.on_exception)
        if self.array:
            values = words[1:]   # the count given is not used, as in base
            joined = b''
        else:
            joined = b' '.join(words)
            values = [joined]
        request = self.request(ca, pv, values, joined)
        if request is None:
            return 1
        chtype, data = request
        if self.layout != 'terse':
            self.out.write(b'Old : ')
            self.show(ca, pv)
        count = len(data)
        done: Dict[str, Any] = {}
        try:
            if count > ca.element_count(pv.chid):
                status = ca.ECA_BADCOUNT   # libca's check; the ca layer would cut
            elif self.callback:
                status = ca.put(pv.chid, data, chtype, count, callback=done.update)
            else:
                status = ca.put(pv.chid, data, chtype, count)
        except (TypeError, ValueError, OverflowError):
            status = ca.ECA_BADTYPE
        if status != ca.ECA_NORMAL:
            self.warn(ERL_ERROR + b' from put operation: %s' % ca.message(status).encode())
            return 1
        if pend_io(ca, self.settings.timeout) == ca.ECA_TIMEOUT:
            self.warn(b'Write operation timed out: Data was not written.')
            return 1
        status = ca.ECA_NORMAL
        if self.callback:
            if not self.wait_for(ca, done):
                self.warn(b'Write callback operation timed out')
            status = done.get('status', ca.ECA_NORMAL)
        if status != ca.ECA_NORMAL:
            self.warn(ERL_ERROR + b' occured writing data: %s' % ca.message(status).encode())
            return 1
        if self.layout != 'terse':
            self.out.write(b'New : ')
        result = self.show(ca, pv)
        # Base exits 0 here even when the server refused the write; a
        # script must be able to tell (docs/tools.rst).
        return 1 if self.refused else result

    def wait_for(self, ca: Any, done: Dict[str, Any]) -> bool:
        """Wait for the put callback as epicsEventWaitWithTimeout would."""
        timeout = self.settings.timeout
        if math.isnan(timeout) or timeout <= 0:
            ca.poll()
            return bool(done)
        deadline = None if math.isinf(timeout) else now_seconds() + timeout
        while not done:
            left = 1.0 if deadline is None else deadline - now_seconds()
            if left <= 0:
                return False
            pend_event(ca, min(left, 0.05))
        return True

    def request(self, ca: Any, pv: PV, values: List[bytes], joined: bytes
                ) -> Optional[Tuple[int, List[Any]]]:
        """The DBR type and elements to write, or None after a message."""
        if ca.field_type(pv.chid) == ca.DBF_ENUM:
            return self.enum_request(ca, pv, values)
        if self.settings.char_as_string:
            text = unescape(joined, len(joined) + 1)
            return ca.DBR_CHAR, list(text) + [0]
        return ca.DBR_STRING, [unescape(value, MAX_STRING_SIZE) for value in values]

    def enum_request(self, ca: Any, pv: PV, values: List[bytes]
                     ) -> Optional[Tuple[int, List[Any]]]:
        status, handle = ca.get(pv.chid, ca.DBR_GR_ENUM, 1)
        if pend_io(ca, self.settings.timeout) == ca.ECA_TIMEOUT or status != ca.ECA_NORMAL:
            self.warn(b'Read operation timed out: ENUM data was not read.')
            return None
        info = handle.get()
        states = [text if isinstance(text, bytes) else text.encode() for text in info['strs']]
        states = states[:int(info['no_str'])]
        numbers = [0.0] * len(values)
        if self.settings.enum_as_number:
            for i, value in enumerate(values):
                number, used, _ = strtod(value)
                if number is None:
                    self.warn(b"Enum index value '%s' is not a number." % value)
                    return None
                if number >= len(states):
                    self.warn(b"Warning: enum index value '%s' may be too large." % value)
                numbers[i] = number
            return ca.DBR_DOUBLE, numbers
        texts = []
        chtype = ca.DBR_STRING
        for i, value in enumerate(values):
            text = unescape(value, MAX_STRING_SIZE)
            texts.append(text)
            chtype = ca.DBR_STRING
            if text in states:
                continue
            number, used, _ = strtod(text)
            if number is None or self.enum_as_string:
                self.warn(b"Enum string value '%s' invalid." % text)
                return None
            if number >= len(states):
                self.warn(b"Warning: enum index value '%s' may be too large." % text)
            numbers[i] = number
            chtype = ca.DBR_DOUBLE
        # As in base, the last value decides how all of them are sent.
        return (chtype, texts) if chtype == ca.DBR_STRING else (chtype, numbers)

    # -- reading back ---------------------------------------------------------------------

    def show(self, ca: Any, pv: PV) -> int:
        """Read the PV and print it in the chosen layout (base caput's caget)."""
        settings = self.settings
        native = ca.element_count(pv.chid)
        pv.count = pv.request_count = native
        pv.dbf_type = int(ca.field_type(pv.chid))
        pv.dbr_type = time_type(pv.dbf_type, settings)
        handle = None
        if ca.state(pv.chid) == ca.cs_conn:
            pv.once_connected = True
            pv.status, handle = ca.get(pv.chid, pv.dbr_type, native)
        else:
            pv.status = ca.ECA_DISCONN
            if not pv.once_connected:
                return 1
        if pend_io(ca, settings.timeout) == ca.ECA_TIMEOUT:
            self.warn(b'Read operation timed out: PV data was not read.')
        value = None
        if handle is not None:
            try:
                value = handle.get()
            except Exception:   # no reply in time: base prints its zeroed buffer
                value = None
        if value is None:
            pv.record = zero_record(pv.dbr_type, native)
        else:
            pv.take(pv.dbr_type, native, value)
        if self.layout == 'all':
            wide_line(pv, 0, settings, StampClock(), self.out)
            return 0
        sep = settings.separator
        line = b''
        if self.layout == 'plain':
            line = (b'%-30s' % pv.name if native <= 1 and sep == b' ' else pv.name) + sep
        from CaChannel.cli.caget_tool import status_problem
        problem = status_problem(ca, pv.status)
        if problem:
            text = problem
        elif settings.char_as_string and pv.dbr_type == ca.DBR_TIME_CHAR and native > 1:
            text = char_string(pv)
        else:
            head = b'%d' % native + sep if native > 1 else b''
            text = head + values_text(pv, settings)
        self.out.write(line + text + b'\n')
        return 0

    def on_exception(self, args: Dict[str, Any]) -> None:
        """Print a server's exception as libca's default handler does, and note it."""
        from CaChannel import ca
        status = int(args['stat'])
        chid = args.get('chid')
        if chid is not None and int(args.get('op', -1)) == ca.CA_OP_PUT:
            self.refused = True
        context = args.get('ctx') or ''
        if chid is not None:
            context = 'op=%d, channel=%s, type=%s, count=%d, ctx="%s"' % (
                int(args['op']), ca.name(chid), ca.dbr_type_to_text(int(args['type'])),
                int(args['count']), context)
        seconds, nanoseconds = now()
        lines = [b'CA.Client.Exception...............................................',
                 b'    %s: "%s"' % (_ca_severity_text(status).encode(), ca.message(status).encode()),
                 b'    Context: "%s"' % context.encode('utf-8', 'surrogateescape')]
        if args.get('file'):
            lines.append(b'    Source File: %s line %d' % (str(args['file']).encode(),
                                                           int(args.get('lineNo', 0))))
        lines.append(b'    Current Time: %s' % format_stamp(seconds, nanoseconds,
                                                             '%a %b %d %Y %H:%M:%S.', 9))
        lines.append(b'..................................................................')
        self.err.write(b'\n'.join(lines) + b'\n')


def now_seconds() -> float:
    import time
    return time.monotonic()
