"""``cainfo``: how each channel is connected and what it holds, as EPICS base's."""
from __future__ import annotations

from typing import Any, List

from CaChannel._constants import _CHANNEL_STATE_TEXT, ChannelState
from CaChannel.cli.tool import Tool, connect, permuting, run_in_context
from CaChannel.cli.text import scan_unsigned
from CaChannel.cli.values import PV

HELP = b'''
Usage: cainfo [options] <PV name> ...

Print the state, server, access rights, type and element count of each PV.
  -h           this help; -V: EPICS and CA versions
Channel Access:
  -w <sec>     seconds to wait for the connections (default %f)
  -s <level>   print libca's client status at this interest level instead
               (ca_client_status)
  -p <prio>    CA priority, 0-%d (default 0)

Example: cainfo pv1 pv2

'''

#: Base's texts of libca's connection states; any other prints as its number.
_STATES = {state: _CHANNEL_STATE_TEXT[state].encode()
           for state in range(ChannelState.NEVER_CONN, ChannelState.CLOSED + 1)}


class Cainfo(Tool):
    name = 'cainfo'
    help_text = HELP
    optstring = b':nhVw:s:p:'

    def __init__(self, out: Any, err: Any) -> None:
        super().__init__(out, err)
        self.level = 0

    def usage(self) -> None:
        from CaChannel import ca
        from CaChannel.cli.tool import epics_version
        super().usage()
        self.err.write(b'\nEPICS Version %s, CA Protocol version %s\n'
                       % (epics_version().encode(), ca.version().encode()))

    def main(self, args: List[bytes]) -> int:
        options, names = self.options(args, permuting())
        for letter, arg in options:
            if letter == b's':
                level = scan_unsigned(arg)
                if level is None:
                    self.warn(b"'%s' is not a valid interest level - ignored. %s"
                              % (arg, self.help_hint()))
                    level = 0
                self.level = level
            else:   # -n: in base's option string, but it has no meaning
                self.meaningless()
        pvs = self.pv_names(names) if names or not self.level else []
        return run_in_context(lambda: self.show(pvs))

    def show(self, pvs: List[PV]) -> int:
        from CaChannel import ca
        if connect(self, ca, pvs):
            return 1
        if self.level:
            self.out.write(b'')   # what came before reaches the terminal first
            ca.show_context(None, self.level)
            return 0
        for pv in pvs:
            state = int(ca.state(pv.chid))
            field_type = int(ca.field_type(pv.chid))
            self.out.write(b''.join((
                pv.name, b'\n',
                b'    State:            %s\n' % _STATES.get(state, b'%d' % state),
                b'    Host:             %s\n' % ca.host_name(pv.chid).encode(),
                b'    Access:           %sread, %swrite\n' % (
                    b'' if ca.read_access(pv.chid) else b'no ',
                    b'' if ca.write_access(pv.chid) else b'no '),
                b'    Native data type: %s\n' % ca.dbf_type_to_text(field_type).encode(),
                b'    Request type:     %s\n'
                % ca.dbr_type_to_text(ca.dbf_type_to_DBR(field_type)).encode(),
                b'    Element count:    %d\n' % ca.element_count(pv.chid))))
        return 0
