"""What the console tools share: option scanning, settings, output, waiting.

Each tool module (``caget_tool`` ...) reads its command line with
:func:`getopt`, which follows the GNU C library's ``getopt`` that EPICS
base's tools use on Linux, and keeps what it read in a :class:`Settings`.
"""
from __future__ import annotations

import math
import os
import signal
import threading
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from CaChannel._constants import CA_PRIORITY
from CaChannel.cli.text import scan_double, scan_int, scan_unsigned

#: Seconds to wait when neither -w nor EPICS_CLI_TIMEOUT says otherwise.
DEFAULT_TIMEOUT = 1.0

#: Highest CA priority.
PRIORITY_MAX = int(CA_PRIORITY.MAX)

#: Largest precision the -e/-f/-g options take.
MAX_DIGITS = 18

#: Red "ERROR" of libCom's errlog.h, which caput prints before put failures.
ERL_ERROR = b'\x1b[31;1mERROR\x1b[0m'

Arg = Union[str, bytes]

#: The value-format options of caget and camonitor, for their help texts.
FORMAT_HELP = b'''Floating point:
  -e <n>, -f <n>, -g <n>   printf %%e, %%f or %%g with n digits (default %%g)
  -s         as the server's string (the record's precision)
  -lx, -lo, -lb            rounded to an integer in hex, octal or binary
Integers:
  -0x, -0o, -0b            in hex, octal or binary
  -F <c>     separate fields by the character c instead of a space
'''


class Finished(Exception):
    """The run ends here with *status* (help, version, a command-line error)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --- getopt ------------------------------------------------------------------------------

def getopt(args: Sequence[bytes], optstring: bytes, permute: bool
           ) -> Tuple[Iterator[Tuple[bytes, Optional[bytes]]], List[bytes]]:
    """Scan *args* as GNU getopt does with an optstring that starts with ':'.

    Returns an iterator of ``(letter, argument)`` in command-line order and
    the list that receives the operands (complete once the iterator is
    exhausted).  An unknown letter comes as ``(b'?', letter)``, a missing
    argument as ``(b':', letter)``.  With *permute* (GNU's default) options
    may follow operands; without it (POSIXLY_CORRECT) the first operand
    ends the options.  ``--`` always ends them.
    """
    operands: List[bytes] = []

    def scan() -> Iterator[Tuple[bytes, Optional[bytes]]]:
        i = 0
        while i < len(args):
            item = args[i]
            i += 1
            if item == b'--':
                break
            if not item.startswith(b'-') or item == b'-':
                operands.append(item)
                if not permute:
                    break
                continue
            pos = 1
            while pos < len(item):
                letter = item[pos:pos + 1]
                pos += 1
                where = optstring.find(letter, 1)
                if where < 0 or letter == b':':
                    yield b'?', letter
                    continue
                if optstring[where + 1:where + 2] != b':':
                    yield letter, None
                    continue
                if pos < len(item):
                    yield letter, item[pos:]
                elif i < len(args):
                    i += 1
                    yield letter, args[i - 1]
                else:
                    yield b':', letter
                break
        else:
            return
        operands.extend(args[i:])

    return scan(), operands


def permuting() -> bool:
    """GNU getopt permutes unless POSIXLY_CORRECT is set (to anything)."""
    return 'POSIXLY_CORRECT' not in os.environ


def as_bytes(args: Sequence[Arg]) -> List[bytes]:
    """Command-line arguments as the bytes the C tools would see."""
    return [arg if isinstance(arg, bytes) else os.fsencode(arg) for arg in args]


# --- settings ------------------------------------------------------------------------------

@dataclass
class Settings:
    """The options the tools share (tool_lib's globals in base)."""

    timeout: float = DEFAULT_TIMEOUT
    priority: int = 0
    double_format: str = '%g'
    separator: bytes = b' '
    enum_as_number: bool = False
    char_as_string: bool = False
    int_format: str = 'dec'
    float_int_format: str = 'dec'
    #: camonitor -t: which clocks and what kind of stamp
    server_stamp: bool = True
    client_stamp: bool = False
    stamp_kind: str = 'absolute'
    extra: Dict[str, Any] = field(default_factory=dict)


class Tool:
    """Common option handling and output of one run of one tool."""

    name = ''
    optstring = b''

    def __init__(self, out: 'Output', err: 'Output') -> None:
        self.out = out
        self.err = err
        self.settings = Settings()
        #: camonitor waits in libca for good when True (a console script),
        #: else in slices until *stop* is set.
        self.blocking = False
        self.stop = threading.Event()

    #: The help text, with %f for the default timeout and %d for the top priority.
    help_text = b''

    def usage(self) -> None:
        self.err.write(self.help_text % (DEFAULT_TIMEOUT, PRIORITY_MAX))

    def main(self, args: List[bytes]) -> int:
        raise NotImplementedError

    def run(self, args: List[bytes]) -> int:
        """The tool's exit status for *args* (without the program name)."""
        self.timeout_from_environment()
        try:
            return self.main(args)
        except Finished as end:
            return end.status

    def options(self, args: List[bytes], permute: bool) -> Tuple[Iterator[Tuple[bytes, Optional[bytes]]],
                                                                 List[bytes]]:
        """getopt over *args*, the options every tool shares handled here.

        Yields the tool's own letters; the operands list is complete once
        the iterator is.  Help, version and command-line errors end the run
        (:class:`Finished`).
        """
        events, operands = getopt(args, self.optstring, permute)
        with_argument = {self.optstring[i:i + 1] for i in range(1, len(self.optstring) - 1)
                         if self.optstring[i + 1:i + 2] == b':'}

        def own() -> Iterator[Tuple[bytes, Optional[bytes]]]:
            for letter, arg in events:
                if letter == b'h':
                    self.usage()
                    raise Finished(0)
                if letter == b'V':
                    raise Finished(self.version())
                if letter == b'?':
                    raise Finished(self.unknown(arg))  # type: ignore[arg-type]
                if letter == b':':
                    raise Finished(self.missing_argument(arg))  # type: ignore[arg-type]
                if letter not in with_argument or letter in b'#dmst':
                    yield letter, arg
                    continue
                assert arg is not None
                if letter == b'w':
                    self.option_timeout(arg)
                elif letter == b'p':
                    self.option_priority(arg)
                elif letter == b'F':
                    self.option_separator(arg)
                elif letter in b'efg':
                    self.option_precision(letter, arg)
                else:
                    self.option_radix(letter, arg)
        return own(), operands

    def pv_names(self, names: List[bytes]) -> List[Any]:
        """One PV per name; none ends the run as base does."""
        from CaChannel.cli.values import PV
        if not names:
            self.warn(b'No pv name specified. %s' % self.help_hint())
            raise Finished(1)
        return [PV(name) for name in names]

    def meaningless(self) -> None:
        """A letter in base's option string that it has no case for: usage, 1."""
        self.usage()
        raise Finished(1)

    def help_hint(self) -> bytes:
        return b"('%s -h' for help.)" % self.name.encode()

    def warn(self, message: bytes) -> None:
        self.err.write(message + b'\n')

    def timeout_from_environment(self) -> None:
        text = os.environb.get(b'EPICS_CLI_TIMEOUT') if os.name != 'nt' else \
            os.environ.get('EPICS_CLI_TIMEOUT', '').encode() or None
        if text is None:
            return
        value = scan_double(text)
        if value is None:
            self.warn(b"'%s' is not a valid timeout value (from 'EPICS_CLI_TIMEOUT' in the "
                      b"environment) - ignored. (use '-h' for help.)" % text)
            value = DEFAULT_TIMEOUT
        self.settings.timeout = value

    def unknown(self, letter: bytes) -> int:
        self.warn(b"Unrecognized option: '-%s'. %s" % (letter, self.help_hint()))
        return 1

    def missing_argument(self, letter: bytes) -> int:
        self.warn(b"Option '-%s' requires an argument. %s" % (letter, self.help_hint()))
        return 1

    # Options that mean the same in several tools.

    def option_timeout(self, arg: bytes) -> None:
        value = scan_double(arg)
        if value is None:
            self.warn(b"'%s' is not a valid timeout value - ignored, using '%.1f'. %s"
                      % (arg, self.settings.timeout, self.help_hint()))
        else:
            self.settings.timeout = value

    def option_priority(self, arg: bytes) -> None:
        value = scan_unsigned(arg)
        if value is None:
            self.warn(b"'%s' is not a valid CA priority - ignored. %s" % (arg, self.help_hint()))
            value = 0
        self.settings.priority = min(value, PRIORITY_MAX)

    def option_precision(self, letter: bytes, arg: bytes) -> None:
        digits = scan_int(arg)
        if digits is None:
            self.warn(b"Invalid precision argument '%s' for option '-%s' - ignored." % (arg, letter))
        elif 0 <= digits <= MAX_DIGITS:
            self.settings.double_format = '%%-.%d%s' % (digits, letter.decode())
        else:
            self.warn(b"Precision %d for option '-%s' out of range - ignored." % (digits, letter))

    def option_radix(self, letter: bytes, arg: bytes) -> str:
        """-l / -0: x, o or b; returns the format chosen ('dec' when refused)."""
        kind = {b'x': 'hex', b'o': 'oct', b'b': 'bin'}.get(arg[:1], 'dec')
        if kind == 'dec':
            self.warn(b"Invalid argument '%s' for option '-%s' - ignored." % (arg, letter))
        elif letter == b'0':
            self.settings.int_format = kind
        else:
            self.settings.float_int_format = kind
        return kind

    def option_separator(self, arg: bytes) -> None:
        # The first byte; an empty argument makes it the C string's 0 byte.
        self.settings.separator = arg[:1] or b'\0'

    def version(self) -> int:
        from CaChannel import ca
        self.out.write(b'\nEPICS Version %s, CA Protocol version %s\n'
                       % (epics_version().encode(), ca.version().encode()))
        return 0



def epics_version() -> str:
    """EPICS_VERSION_STRING of the EPICS base whose libca the backend loads."""
    import re
    candidates = []
    if os.environ.get('EPICS_BASE'):
        candidates.append(os.path.join(os.environ['EPICS_BASE'], 'include', 'epicsVersion.h'))
    try:
        import epicscorelibs
        candidates.append(os.path.join(os.path.dirname(epicscorelibs.__file__), 'include',
                                       'epicsVersion.h'))
    except ImportError:
        pass
    for path in candidates:
        try:
            with open(path) as header:
                match = re.search(r'#define\s+EPICS_VERSION_STRING\s+"([^"]*)"', header.read())
        except OSError:
            continue
        if match:
            return match.group(1)
    return 'EPICS (unknown version)'


# --- output --------------------------------------------------------------------------------

class Output:
    """Writes bytes to a stream as C's stdio does on a terminal.

    *line_buffered* (stdout): a line goes out once it is complete, so a
    message on the other stream (stderr, unbuffered in C, and libca's
    exception banner) never lands inside it; base's ``caput`` prints
    ``New : `` and then reads the PV, during which a refused write's banner
    comes.  :meth:`flush` writes what is left at the end of a run.
    Otherwise every write goes out at once.

    A text stream without a byte buffer (doctest's, a StringIO) gets the
    bytes decoded, undecodable ones kept as surrogate escapes.
    """

    def __init__(self, stream: Optional[IO[Any]], default: IO[Any], line_buffered: bool = False) -> None:
        self.stream = stream if stream is not None else default
        self.raw = getattr(self.stream, 'buffer', None)
        self.broken = False
        self.line_buffered = line_buffered
        #: The start of a line not written yet (line_buffered only).
        self.pending = b''

    def write(self, data: bytes) -> None:
        if self.line_buffered:
            if self.pending:
                data = self.pending + data
            end = data.rfind(b'\n') + 1
            self.pending = data[end:]
            if end < len(data):
                data = data[:end]
        self._send(data)

    def flush(self) -> None:
        """Write a line left incomplete (C's stdio does at exit)."""
        pending, self.pending = self.pending, b''
        self._send(pending)

    def _send(self, data: bytes) -> None:
        if self.broken or not data:
            return
        try:
            if self.raw is not None:
                self.stream.flush()
                self.raw.write(data)
                self.raw.flush()
            else:
                self.stream.write(data.decode('utf-8', 'surrogateescape'))
                self.stream.flush()
        except BrokenPipeError:
            # libca ignores SIGPIPE, so base's printf fails quietly once the
            # reader is gone (`caget ... | head -1`) and the tool goes on.
            self.broken = True


# --- waiting as libca does -------------------------------------------------------------------

def _wait_arg(timeout: float) -> Optional[float]:
    """The ca layer's argument for a libca wait of *timeout* seconds.

    libca waits forever for 0 and returns at once for a negative or NaN
    timeout (nothing to wait for in NaN's comparisons); the ca layer
    refuses the last two, so they become None (just look, do not wait).
    """
    if math.isnan(timeout) or timeout < 0:
        return None
    return timeout


def pend_io(ca: Any, timeout: float) -> int:
    wait = _wait_arg(timeout)
    if wait is None:
        if math.isnan(timeout):
            ca.flush_io()
            return ca.ECA_NORMAL
        return ca.pend_io(1e-9)
    return ca.pend_io(wait)


def pend_event(ca: Any, timeout: float) -> None:
    wait = _wait_arg(timeout)
    if wait is None or math.isinf(wait):
        # libca returns at once for these too (an infinite delay overflows).
        ca.poll()
    else:
        ca.pend_event(wait)


def run_in_context(body: Callable[[], int], tool: Optional['Tool'] = None) -> int:
    """Run *body* in a non-preemptive CA context of its own, as base's tools do.

    Callbacks then run only inside pend_event/pend_io of that thread, so the
    tools need no locks and print in a fixed order.  A caller that already
    has a context (a program calling :func:`CaChannel.cli.caget`) keeps it:
    the tool runs in a thread of its own.  Called as a function, a tool
    returns 130 on KeyboardInterrupt.
    """
    from CaChannel import ca
    if ca.current_context() is None:
        if tool is not None:
            # A console script (SIGINT at its default) may block in libca
            # for good: the signal ends the process, as it ends base's.
            tool.blocking = (threading.current_thread() is threading.main_thread()
                             and signal.getsignal(signal.SIGINT) == signal.SIG_DFL)
        try:
            return _own_context(ca, body)
        except KeyboardInterrupt:
            return 130
    result: List[int] = []
    failure: List[BaseException] = []

    def worker() -> None:
        try:
            result.append(_own_context(ca, body))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=worker, name='CaChannel-cli', daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.1)
    except KeyboardInterrupt:
        if tool is not None:
            tool.stop.set()
        thread.join()
        return 130
    if failure:
        raise failure[0]
    return result[0]


def _own_context(ca: Any, body: Callable[[], int]) -> int:
    status = ca.create_context(False)
    if status != ca.ECA_NORMAL:
        raise ContextError(status)
    try:
        return body()
    finally:
        ca.destroy_context()


class ContextError(Exception):
    """ca_context_create failed; the tools report it as base does."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def connect(tool: Tool, ca: Any, pvs: List[Any], callback: Any = None) -> int:
    """Create the channels and wait for them (tool_lib's connect_pvs); 1 on failure."""
    failed = create(tool, ca, pvs, callback)
    if failed:
        return 1
    if pend_io(ca, tool.settings.timeout) == ca.ECA_TIMEOUT:
        if len(pvs) > 1:
            tool.warn(b'Channel connect timed out: some PV(s) not found.')
        else:
            tool.warn(b"Channel connect timed out: '%s' not found." % pvs[0].name)
        return 1
    return 0


def create(tool: Tool, ca: Any, pvs: List[Any], callback: Any = None) -> int:
    """Create a channel per PV (tool_lib's create_pvs); 1 if any failed."""
    failed = 0
    for pv in pvs:
        try:
            status, chid = ca.create_channel(pv.name, callback, tool.settings.priority)
        except (TypeError, ValueError):
            # The ca layer refuses what libca cannot take (a 0 byte in a name).
            status, chid = ca.ECA_BADSTR, None
        if status != ca.ECA_NORMAL:
            tool.warn(b"CA error %s occurred while trying to create channel '%s'."
                      % (ca.message(status).encode(), pv.name))
            pv.status = status
            failed = 1
        else:
            pv.chid = chid
    return failed
