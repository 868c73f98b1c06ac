"""``camonitor``: print every update of PVs until interrupted, as EPICS base's."""
from __future__ import annotations

from typing import Any, Dict, List

from CaChannel.cli.tool import FORMAT_HELP, Tool, create, pend_event, permuting, run_in_context
from CaChannel.cli.text import scan_unsigned
from CaChannel.cli.values import PV, StampClock, time_type, wide_line

HELP = b'''
Usage: camonitor [options] <PV name> ...

Subscribe to each PV and print a line per update until interrupted (Ctrl-C).
  -h         this help; -V: EPICS and CA versions
Channel Access:
  -w <sec>   seconds to wait before reporting PVs not found (default %f)
  -m <mask>  the events to ask for, letters of v (value), a (alarm),
             l (log/archive), p (property); default va
  -p <prio>  CA priority, 0-%d (default 0)
Time stamps (default: the server's, absolute):
  -t <key>   letters choosing the clocks and the kind of stamp:
             s  the server's stamp    c  the client's clock, in ()
             n  no stamp              r  relative to the program's start
             i  incremental, since the last update of any PV
             I  incremental, since the last update of the same PV
             (r, i and I need s or c to say which clock)
Enums:
  -n         as numbers, not state strings
Arrays (printed as element count, then the elements):
  -# <n>     ask for and print up to n elements (default: all, as they change)
  -S         a char array as a string
''' + FORMAT_HELP + b'''
Example: camonitor -f8 pv1 pv2

'''

_MASK_LETTERS = {b'v': 'DBE_VALUE', b'a': 'DBE_ALARM', b'l': 'DBE_LOG', b'p': 'DBE_PROPERTY'}
_STAMP_KINDS = {b'r': 'relative', b'i': 'incremental', b'I': 'by-channel'}


class Camonitor(Tool):
    name = 'camonitor'
    help_text = HELP
    optstring = b':nhVm:sSe:f:g:l:#:0:w:t:p:F:'

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(out, err)
        self.count = 0
        self.mask_letters = b'va'
        self.float_as_string = False

    def option_stamps(self, arg: bytes) -> None:
        settings = self.settings
        settings.server_stamp = settings.client_stamp = False
        for i in range(len(arg)):
            letter = arg[i:i + 1]
            if letter == b's':
                settings.server_stamp = True
            elif letter == b'c':
                settings.client_stamp = True
            elif letter in _STAMP_KINDS:
                settings.stamp_kind = _STAMP_KINDS[letter]
            elif letter != b'n':
                self.warn(b"Invalid argument '%s' for option '-t' - ignored." % letter)

    def option_mask(self, arg: bytes) -> None:
        if all(arg[i:i + 1] in _MASK_LETTERS for i in range(len(arg))):
            self.mask_letters = arg
        else:
            self.warn(b"Invalid argument '%s' for option '-m' - ignored." % arg)
            self.mask_letters = b'va'

    def main(self, args: List[bytes]) -> int:
        options, names = self.options(args, permuting())
        settings = self.settings
        for letter, arg in options:
            if letter == b'n':
                settings.enum_as_number = True
            elif letter == b't':
                self.option_stamps(arg)
            elif letter == b'#':
                count = scan_unsigned(arg, 64)
                if count is None:
                    self.warn(b"'%s' is not a valid array element count - ignored. %s"
                              % (arg, self.help_hint()))
                    count = 0
                self.count = count
            elif letter == b'm':
                self.option_mask(arg)
            elif letter == b's':
                self.float_as_string = True
            else:
                settings.char_as_string = True   # -S
        pvs = self.pv_names(names)
        return run_in_context(lambda: self.monitor(pvs), self)

    def monitor(self, pvs: List[PV]) -> int:
        from CaChannel import ca
        mask = 0
        for i in range(len(self.mask_letters)):
            mask |= getattr(ca, _MASK_LETTERS[self.mask_letters[i:i + 1]])
        clock = StampClock()
        by_chid: Dict[Any, PV] = {}
        settings = self.settings

        def on_update(pv: PV) -> Any:
            def update(args: Dict[str, Any]) -> None:
                pv.status = args['status']
                if args['status'] == ca.ECA_NORMAL:
                    pv.take(args['type'], int(args['count']), args['value'])
                    wide_line(pv, self.count, settings, clock, self.out)
                    pv.record = None
            return update

        def on_connection(args: Dict[str, Any]) -> None:
            pv = by_chid.get(args['chid'])
            if pv is None:
                return
            if args['op'] == ca.CA_OP_CONN_UP:
                if pv.once_connected and pv.dbf_type != int(ca.field_type(pv.chid)):
                    # The type changed (another IOC took over): subscribe anew.
                    ca.clear_subscription(pv.evid)
                    pv.evid = None
                if pv.evid is None:
                    subscribe(pv)
            elif args['op'] == ca.CA_OP_CONN_DOWN:
                pv.status = ca.ECA_DISCONN
                wide_line(pv, self.count, settings, clock, self.out)

        def subscribe(pv: PV) -> None:
            pv.once_connected = True
            pv.dbf_type = int(ca.field_type(pv.chid))
            pv.dbr_type = time_type(pv.dbf_type, settings, self.float_as_string)
            pv.count = ca.element_count(pv.chid)
            pv.request_count = min(self.count, pv.count)
            pv.status, pv.evid = ca.create_subscription(pv.chid, on_update(pv), pv.dbr_type,
                                                        pv.request_count, mask)

        # Callbacks come only inside pend_event (a non-preemptive context),
        # so every channel is in the map before its first one.
        failed = create(self, ca, pvs, on_connection)
        by_chid.update((pv.chid, pv) for pv in pvs if pv.chid is not None)
        if failed:
            return 1
        pend_event(ca, settings.timeout)
        for pv in pvs:
            if not pv.once_connected:
                wide_line(pv, self.count, settings, clock, self.out)
        self.forever(ca)
        return 0

    def forever(self, ca: Any) -> None:
        """Wait for updates until the process is interrupted (or stop is set)."""
        if self.blocking:
            ca.pend_event(0)
        while not self.stop.is_set():
            ca.pend_event(0.1)
