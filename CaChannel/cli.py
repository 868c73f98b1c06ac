"""The command-line tools ``caget``, ``caput``, ``camonitor`` and ``cainfo``.

They behave like the EPICS base programs of the same names (options, output
layout, exit status) but run on this package's :mod:`CaChannel.ca` layer, so
they need nothing but a ``pip install``.  Each tool is a function taking the
argument list (without the program name) and returning the exit status:

* 0: every PV answered and every operation succeeded;
* 1: a PV did not connect within the timeout, a read or write failed or
  timed out (a message saying which and why goes to standard error);
* 2: the command line was wrong (``argparse`` prints the usage).

Installed as console scripts, and reachable as ``python -m CaChannel <tool>``
too, which helps when an EPICS base installation earlier on ``PATH`` owns the
short names.

The tools never touch the address environment (``EPICS_CA_ADDR_LIST`` and
friends): libca reads it as it is, as EPICS base's tools do.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

__all__ = ['caget', 'caput', 'camonitor', 'cainfo', 'main', 'TOOLS']

#: Default seconds to wait for connections; EPICS_CLI_TIMEOUT overrides it,
#: as for the EPICS base tools.
DEFAULT_TIMEOUT = 1.0

#: Width of the name column (the base tools print names as ``%-30s``).
NAME_WIDTH = 30

_STATE_TEXT = ('never connected', 'previously connected', 'connected', 'closed')


def _ca() -> Any:
    # Imported on first use: ``--help`` and argument errors then work without
    # loading libca, and nothing runs before the caller's environment is set.
    from CaChannel import ca
    return ca


class ToolError(Exception):
    """A failure reported as one line on stderr and exit status 1."""


# --- options shared by the tools -----------------------------------------------

def _default_timeout() -> float:
    text = os.environ.get('EPICS_CLI_TIMEOUT', '')
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not a number: %r' % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError('must be positive: %r' % text)
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('not an integer: %r' % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError('must not be negative: %r' % text)
    return value


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('-w', dest='timeout', type=_positive_float, default=_default_timeout(),
                        metavar='SEC',
                        help='wait time in seconds for connections and completion '
                             '(default %(default)s, or EPICS_CLI_TIMEOUT)')
    return parser


def _add_format_options(parser: argparse.ArgumentParser, numeric_flag: bool = True) -> None:
    if numeric_flag:
        parser.add_argument('-n', dest='enum_as_number', action='store_true',
                            help='print DBF_ENUM values as numbers (default: state strings)')
    parser.add_argument('-S', dest='char_as_string', action='store_true',
                        help='print a char array as a string')
    parser.add_argument('-s', dest='server_string', action='store_true',
                        help='read values as strings formatted by the server (honours PREC)')
    parser.add_argument('-#', dest='count', type=_count, default=0, metavar='N',
                        help='number of array elements to read (default: all current ones)')
    group = parser.add_mutually_exclusive_group()
    for flag, letter in (('-e', 'e'), ('-f', 'f'), ('-g', 'g')):
        group.add_argument(flag, dest='float_format', type=_float_format(letter),
                           metavar='PREC', help='floats with printf %%.PREC%s' % letter)
    parser.add_argument('-F', dest='separator', default=' ', metavar='SEP',
                        help='separator between fields (default: a space)')


def _float_format(letter: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        return '%%.%d%s' % (_count(text), letter)
    return convert


# --- formatting ------------------------------------------------------------------

class _Formatter:
    """Turns what libca returned into the text the base tools print."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.float_format = getattr(options, 'float_format', None) or '%g'
        self.separator = getattr(options, 'separator', ' ')
        self.char_as_string = getattr(options, 'char_as_string', False)
        self.enum_as_number = getattr(options, 'enum_as_number', False)
        self.server_string = getattr(options, 'server_string', False)
        self.count = getattr(options, 'count', 0)

    def request_type(self, field_type: int) -> int:
        """The plain DBR type to ask for, given the channel's native type."""
        ca = _ca()
        if self.server_string:
            return ca.DBR_STRING
        if field_type == ca.DBF_ENUM:
            return ca.DBR_ENUM if self.enum_as_number else ca.DBR_STRING
        return ca.dbf_type_to_DBR(field_type)

    def element(self, value: Any) -> str:
        if isinstance(value, float):
            return self.float_format % value
        if isinstance(value, bytes):
            return value.decode('utf-8', 'replace')
        return str(value)

    def value(self, value: Any, native_count: int, chtype: int) -> str:
        """The value column: a scalar, or ``count v1 v2 ...`` for arrays."""
        ca = _ca()
        is_char = ca.dbr_type_is_CHAR(chtype)
        if isinstance(value, (list, tuple)) or native_count > 1 or self.count:
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            if is_char and self.char_as_string:
                return _char_string(items)
            parts = [str(len(items))] + [self.element(item) for item in items]
            return self.separator.join(parts)
        if is_char and self.char_as_string:
            return _char_string([value])
        return self.element(value)

    def name(self, name: str) -> str:
        if self.separator == ' ':
            return '%-*s ' % (NAME_WIDTH, name)
        return name + self.separator


def _char_string(items: List[Any]) -> str:
    raw = bytes(int(item) & 0xFF for item in items)
    return raw.split(b'\0', 1)[0].decode('utf-8', 'replace')


def _timestamp(stamp: Dict[str, Any]) -> str:
    when = datetime.datetime.fromtimestamp(stamp['seconds'])
    return '%s.%06d' % (when.strftime('%Y-%m-%d %H:%M:%S'), stamp['nanoseconds'] // 1000)


def _alarm(record: Dict[str, Any]) -> str:
    """`` STAT SEVR`` when the value is in alarm, else nothing (as base)."""
    ca = _ca()
    status, severity = int(record['status']), int(record['severity'])
    if not status and not severity:
        return ''
    return ' %s %s' % (ca.alarmStatusString(status), ca.alarmSeverityString(severity))


# --- connections and reads ----------------------------------------------------------

class _Session:
    """One non-preemptive CA context for the duration of a tool's run.

    Callbacks run only inside pend_event/pend_io of the main thread, so the
    tools need no locks and their output order is deterministic.
    """

    def __init__(self) -> None:
        self.ca = _ca()
        self.channels: Dict[str, Any] = {}

    def __enter__(self) -> '_Session':
        # Called from a program that already has a context: use that one and
        # leave it alone afterwards.
        self.own_context = self.ca.current_context() is None
        if self.own_context:
            self.ca.create_context(False)
        return self

    def __exit__(self, *exc: Any) -> None:
        for chid in self.channels.values():
            self.ca.clear_channel(chid)
        self.ca.flush_io()
        if self.own_context:
            self.ca.destroy_context()

    def connect(self, names: Sequence[str], timeout: float,
                callback: Optional[Callable[[Dict[str, Any]], None]] = None) -> List[str]:
        """Create a channel per name and wait up to *timeout* seconds for all.

        Returns the names that did not connect, in command-line order.
        """
        ca = self.ca
        for name in names:
            if name in self.channels:
                continue
            status, chid = ca.create_channel(name, callback)
            if status != ca.ECA_NORMAL:
                raise ToolError('Channel create failed for %r: %s' % (name, ca.message(status)))
            self.channels[name] = chid
        deadline = time.monotonic() + timeout
        while True:
            missing = [name for name in names
                       if ca.state(self.channels[name]) != ca.cs_conn]
            if not missing or time.monotonic() >= deadline:
                return missing
            if callback is None:
                ca.pend_io(min(0.05, max(deadline - time.monotonic(), 0.001)))
            else:
                ca.pend_event(min(0.05, max(deadline - time.monotonic(), 0.001)))

    def read(self, name: str, chtype: int, count: int, timeout: float) -> Dict[str, Any]:
        """One get with callback; returns its dict (type, count, value...).

        *count* 0 asks for the server's current length of a variable array.
        """
        ca = self.ca
        chid = self.channels[name]
        native = ca.element_count(chid)
        if count > native:
            count = native
        result: Dict[str, Any] = {}
        status, _ = ca.get(chid, chtype, count, callback=result.update)
        if status != ca.ECA_NORMAL:
            raise ToolError('Read of %r failed: %s' % (name, ca.message(status)))
        ca.flush_io()
        deadline = time.monotonic() + timeout
        while not result:
            if time.monotonic() >= deadline:
                raise ToolError('Read operation timed out: %r did not answer.' % name)
            ca.pend_event(0.01)
        if result['status'] != ca.ECA_NORMAL:
            raise ToolError('Read of %r failed: %s' % (name, ca.message(result['status'])))
        return result


def _report_missing(missing: Sequence[str], stderr: TextIO) -> None:
    for name in missing:
        print("Channel connect timed out: '%s' not found." % name, file=stderr)


def _run(body: Callable[[TextIO, TextIO], int], stdout: Optional[TextIO],
         stderr: Optional[TextIO]) -> int:
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        return body(out, err)
    except ToolError as exc:
        out.flush()
        print(exc, file=err)
        return 1
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # `caget ... | head`: the reader went away, not an error of ours.
        try:
            sys.stdout = open(os.devnull, 'w')
        except OSError:
            pass
        return 0


# --- caget -------------------------------------------------------------------------------

def caget(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None,
          stderr: Optional[TextIO] = None) -> int:
    """``caget [options] <PV name> ...``: print the current values."""
    parser = _parser('caget', 'Read the value of each PV and print it.')
    parser.add_argument('-t', dest='terse', action='store_true',
                        help='terse mode: print only the value')
    parser.add_argument('-a', dest='wide', action='store_true',
                        help='wide mode: name, timestamp, value and alarm status')
    _add_format_options(parser)
    parser.add_argument('names', nargs='+', metavar='PV')
    options = parser.parse_args(argv)

    def body(out: TextIO, err: TextIO) -> int:
        fmt = _Formatter(options)
        with _Session() as session:
            ca = session.ca
            missing = session.connect(options.names, options.timeout)
            _report_missing(missing, err)
            failed = bool(missing)
            for name in options.names:
                if name in missing:
                    continue
                chid = session.channels[name]
                chtype = fmt.request_type(ca.field_type(chid))
                if options.wide:
                    chtype = ca.dbf_type_to_DBR_TIME(chtype)
                try:
                    reply = session.read(name, chtype, options.count, options.timeout)
                except ToolError as exc:
                    print(exc, file=err)
                    failed = True
                    continue
                record = reply['value'] if options.wide else {'value': reply['value']}
                text = fmt.value(record['value'], ca.element_count(chid), chtype)
                if options.terse:
                    line = text
                elif options.wide:
                    line = fmt.name(name) + _timestamp(record['stamp']) + fmt.separator \
                        + text + _alarm(record)
                else:
                    line = fmt.name(name) + text
                print(line, file=out)
            return 1 if failed else 0

    return _run(body, stdout, stderr)


# --- caput -------------------------------------------------------------------------------

def caput(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None,
          stderr: Optional[TextIO] = None) -> int:
    """``caput [options] <PV name> <value>``: write a value, print old and new."""
    parser = _parser('caput', 'Write a value to a PV and print its old and new value.')
    parser.add_argument('-t', dest='terse', action='store_true',
                        help='terse mode: print only the new value')
    parser.add_argument('-c', dest='callback', action='store_true',
                        help='put with callback: wait (up to -w seconds) until the '
                             'record has finished processing')
    parser.add_argument('-n', dest='enum_as_number', action='store_true',
                        help='write a DBF_ENUM as its number, not a state string')
    parser.add_argument('-a', dest='array', action='store_true',
                        help='array mode: <PV name> <number of values> <value> ...')
    parser.add_argument('-S', dest='char_as_string', action='store_true',
                        help='write (and print) a char array as a string')
    parser.add_argument('-s', dest='server_string', action='store_true',
                        help='write the value as a string the server converts')
    parser.add_argument('name', metavar='PV')
    parser.add_argument('values', nargs='+', metavar='VALUE')
    options = parser.parse_args(argv)
    options.count = 0
    if options.array:
        try:
            declared = int(options.values[0])
        except ValueError:
            parser.error('-a needs the number of values before the values')
        if declared != len(options.values) - 1:
            parser.error('-a: %d values announced, %d given' % (declared, len(options.values) - 1))
        values: List[str] = options.values[1:]
    elif len(options.values) != 1:
        parser.error('one value expected (use -a for arrays, or quote a string with spaces)')
    else:
        values = options.values

    def body(out: TextIO, err: TextIO) -> int:
        fmt = _Formatter(options)
        name = options.name
        with _Session() as session:
            ca = session.ca
            missing = session.connect([name], options.timeout)
            if missing:
                _report_missing(missing, err)
                return 1
            chid = session.channels[name]
            field_type = ca.field_type(chid)
            get_type = fmt.request_type(field_type)

            def show() -> str:
                reply = session.read(name, get_type, 0, options.timeout)
                return fmt.value(reply['value'], ca.element_count(chid), get_type)

            old = show()
            chtype, value = _put_request(ca, field_type, values, options)
            done: Dict[str, Any] = {}
            try:
                if options.callback:
                    status = ca.put(chid, value, chtype, callback=done.update)
                else:
                    status = ca.put(chid, value, chtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ToolError('Cannot write %r to %r: %s' % (values if options.array else values[0],
                                                               name, exc)) from None
            if status != ca.ECA_NORMAL:
                raise ToolError('Error from put operation: %s' % ca.message(status))
            ca.flush_io()
            if options.callback:
                deadline = time.monotonic() + options.timeout
                while not done:
                    if time.monotonic() >= deadline:
                        raise ToolError('Write operation timed out: Data was not written.')
                    ca.pend_event(0.01)
                if done['status'] != ca.ECA_NORMAL:
                    raise ToolError('Error from put operation: %s' % ca.message(done['status']))
            new = show()
            if options.terse:
                print(new, file=out)
            else:
                print('Old : ' + fmt.name(name) + old, file=out)
                print('New : ' + fmt.name(name) + new, file=out)
        return 0

    return _run(body, stdout, stderr)


def _put_request(ca: Any, field_type: int, values: List[str],
                 options: argparse.Namespace) -> tuple:
    """The (chtype, value) to write the command-line text *values* with."""
    if field_type == ca.DBF_CHAR and options.char_as_string:
        return ca.DBR_CHAR, ' '.join(values)
    if options.server_string or field_type == ca.DBF_STRING:
        return ca.DBR_STRING, values if options.array else values[0]
    if field_type == ca.DBF_ENUM and not options.enum_as_number:
        # The server maps a state string (or a number given as text) to the index.
        return ca.DBR_STRING, values if options.array else values[0]
    # Numbers: the ca layer converts numeric text for numeric request types
    # and refuses anything else before sending.
    chtype = ca.dbf_type_to_DBR(field_type)
    return chtype, values if options.array else values[0]


# --- camonitor -----------------------------------------------------------------------------

def _split_monitor_n(argv: Sequence[str]) -> List[str]:
    """``-n N`` (a number follows) means "stop after N updates" for camonitor.

    ``-n`` followed by anything else keeps EPICS base's meaning (enums as
    numbers).  Rewritten to the unambiguous long options before parsing.
    """
    result: List[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item == '--':
            result.extend(items[i:])
            break
        if item == '-n':
            if i + 1 < len(items) and items[i + 1].isdigit():
                result += ['--updates', items[i + 1]]
                i += 2
                continue
            result.append('--numeric')
        elif item.startswith('-n') and item[2:].isdigit():
            result += ['--updates', item[2:]]
        else:
            result.append(item)
        i += 1
    return result


def camonitor(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None,
              stderr: Optional[TextIO] = None) -> int:
    """``camonitor [options] <PV name> ...``: print every update until interrupted."""
    parser = _parser('camonitor', 'Subscribe to each PV and print a line per update '
                                  '(name, timestamp, value, alarm) until Ctrl-C.')
    parser.add_argument('--updates', type=_count, default=0, metavar='N',
                        help='stop once every connected PV printed N updates '
                             '(short form: -n N, with a number after -n)')
    parser.add_argument('--numeric', dest='enum_as_number', action='store_true',
                        help='print DBF_ENUM values as numbers (short form: -n without a number)')
    parser.add_argument('-m', dest='mask', default='va', metavar='MASK',
                        help='event mask, letters of v (value), a (alarm), l (log/archive), '
                             'p (property); default va')
    _add_format_options(parser, numeric_flag=False)
    parser.add_argument('names', nargs='+', metavar='PV')
    options = parser.parse_args(_split_monitor_n(sys.argv[1:] if argv is None else argv))
    mask_bits = {'v': 'DBE_VALUE', 'a': 'DBE_ALARM', 'l': 'DBE_LOG', 'p': 'DBE_PROPERTY'}
    if not options.mask or set(options.mask) - set(mask_bits):
        parser.error('-m: use the letters v, a, l, p')

    def body(out: TextIO, err: TextIO) -> int:
        fmt = _Formatter(options)
        with _Session() as session:
            ca = session.ca
            mask = 0
            for letter in options.mask:
                mask |= getattr(ca, mask_bits[letter])
            printed: Dict[str, int] = {}
            subscribed: Dict[str, Any] = {}

            def on_update(name: str) -> Callable[[Dict[str, Any]], None]:
                def update(args: Dict[str, Any]) -> None:
                    if options.updates and printed.get(name, 0) >= options.updates:
                        return
                    if args['status'] != ca.ECA_NORMAL:
                        print(fmt.name(name) + '*** ' + ca.message(args['status']), file=out)
                        return
                    record = args['value']
                    chid = session.channels[name]
                    text = fmt.value(record['value'], ca.element_count(chid), args['type'])
                    print(fmt.name(name) + _timestamp(record['stamp']) + fmt.separator
                          + text + _alarm(record), file=out)
                    out.flush()
                    printed[name] = printed.get(name, 0) + 1
                return update

            def on_connection(args: Dict[str, Any]) -> None:
                name = ca.name(args['chid'])
                if args['op'] == ca.CA_OP_CONN_DOWN:
                    print(fmt.name(name) + '*** disconnected', file=out)
                    out.flush()
                    return
                if name in subscribed:
                    return  # the subscription survives reconnects
                chtype = ca.dbf_type_to_DBR_TIME(fmt.request_type(ca.field_type(args['chid'])))
                status, evid = ca.create_subscription(args['chid'], on_update(name), chtype,
                                                      options.count, mask)
                if status != ca.ECA_NORMAL:
                    print('Subscription to %r failed: %s' % (name, ca.message(status)), file=err)
                    return
                subscribed[name] = evid

            names = list(dict.fromkeys(options.names))
            missing = session.connect(names, options.timeout, on_connection)
            _report_missing(missing, err)
            watched = [name for name in names if name not in missing]
            if not watched:
                return 1
            while True:
                ca.pend_event(0.05)
                if options.updates and all(printed.get(name, 0) >= options.updates
                                           for name in watched):
                    break
            for evid in subscribed.values():
                ca.clear_subscription(evid)
            return 1 if missing else 0

    return _run(body, stdout, stderr)


# --- cainfo -----------------------------------------------------------------------------------

def cainfo(argv: Optional[Sequence[str]] = None, stdout: Optional[TextIO] = None,
           stderr: Optional[TextIO] = None) -> int:
    """``cainfo [options] <PV name> ...``: print connection and type information."""
    parser = _parser('cainfo', 'Print the state, host, access rights, type and element '
                               'count of each PV.')
    parser.add_argument('names', nargs='+', metavar='PV')
    options = parser.parse_args(argv)

    def body(out: TextIO, err: TextIO) -> int:
        with _Session() as session:
            ca = session.ca
            missing = session.connect(options.names, options.timeout)
            _report_missing(missing, err)
            for name in options.names:
                if name in missing:
                    continue
                chid = session.channels[name]
                field_type = ca.field_type(chid)
                state = int(ca.state(chid))
                lines = [
                    name,
                    '    State:            %s' % (_STATE_TEXT[state] if state < len(_STATE_TEXT)
                                                  else state),
                    '    Host:             %s' % ca.host_name(chid),
                    '    Access:           %sread, %swrite' % (
                        '' if ca.read_access(chid) else 'no ',
                        '' if ca.write_access(chid) else 'no '),
                    '    Native data type: %s' % ca.dbf_type_to_text(field_type),
                    '    Request type:     %s' % ca.dbr_type_to_text(ca.dbf_type_to_DBR(field_type)),
                    '    Element count:    %d' % ca.element_count(chid),
                ]
                print('\n'.join(lines), file=out)
            return 1 if missing else 0

    return _run(body, stdout, stderr)


# --- dispatch ------------------------------------------------------------------------------------

#: Tool name -> function, for ``python -m CaChannel <tool>``.
TOOLS: Dict[str, Callable[..., int]] = {
    'caget': caget, 'caput': caput, 'camonitor': camonitor, 'cainfo': cainfo,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m CaChannel <tool> [options] ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = ('usage: python -m CaChannel {%s} [options] <PV name> ...\n'
             "       python -m CaChannel <tool> -h   for a tool's options"
             % ','.join(TOOLS))
    if not args or args[0] in ('-h', '--help'):
        print(usage)
        return 0 if args else 2
    tool = TOOLS.get(args[0])
    if tool is None:
        print('unknown tool %r\n%s' % (args[0], usage), file=sys.stderr)
        return 2
    sys.argv[0] = args[0]
    return tool(args[1:])


# Console-script entry points (setup.py): each returns the exit status.
def caget_main() -> int:
    return caget()


def caput_main() -> int:
    return caput()


def camonitor_main() -> int:
    return camonitor()


def cainfo_main() -> int:
    return cainfo()
