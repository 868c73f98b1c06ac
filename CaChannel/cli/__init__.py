"""The console tools ``caget``, ``caput``, ``camonitor`` and ``cainfo``.

They are EPICS base's tools of the same names, option for option and byte
for byte (see docs/tools.rst for the few intentional differences), built on
:mod:`CaChannel.ca` so that a ``pip install`` is all they need.  Each tool is
a function taking the argument list (without the program name) and
returning the exit status base's tool would return; output goes to
*stdout*/*stderr* (default: the process's).

Installed as console scripts, and reachable as ``python -m CaChannel <tool>``
too, which helps when an EPICS base installation earlier on ``PATH`` owns the
short names.  The tools never touch the address environment
(``EPICS_CA_ADDR_LIST`` and friends): libca reads it as it is.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import IO, Any, Callable, Dict, Optional, Sequence, Type

from CaChannel.cli.tool import Arg, ContextError, Output, Tool, as_bytes

__all__ = ['caget', 'caput', 'camonitor', 'cainfo', 'main', 'TOOLS']


def _tool_class(name: str) -> Type[Tool]:
    # Imported on demand: `caget -h` needs neither libca nor the other tools.
    if name == 'caget':
        from CaChannel.cli.caget_tool import Caget
        return Caget
    if name == 'caput':
        from CaChannel.cli.caput_tool import Caput
        return Caput
    if name == 'camonitor':
        from CaChannel.cli.camonitor_tool import Camonitor
        return Camonitor
    from CaChannel.cli.cainfo_tool import Cainfo
    return Cainfo


def _run(name: str, argv: Optional[Sequence[Arg]], stdout: Optional[IO[Any]],
         stderr: Optional[IO[Any]]) -> int:
    # stdout line-buffered, stderr not, as a C program's on a terminal.
    out = Output(stdout, sys.stdout, line_buffered=True)
    err = Output(stderr, sys.stderr)
    args = as_bytes(sys.argv[1:] if argv is None else argv)
    tool = _tool_class(name)(out, err)
    try:
        return tool.run(args)
    except ContextError as exc:
        from CaChannel import ca
        err.write(b'CA error %s occurred while trying to start channel access.\n'
                  % ca.message(exc.status).encode())
        return 1
    finally:
        out.flush()


def caget(argv: Optional[Sequence[Arg]] = None, stdout: Optional[IO[Any]] = None,
          stderr: Optional[IO[Any]] = None) -> int:
    """``caget [options] <PV name> ...``: print the current values."""
    return _run('caget', argv, stdout, stderr)


def caput(argv: Optional[Sequence[Arg]] = None, stdout: Optional[IO[Any]] = None,
          stderr: Optional[IO[Any]] = None) -> int:
    """``caput [options] <PV name> <value> ...``: write, print old and new value."""
    return _run('caput', argv, stdout, stderr)


def camonitor(argv: Optional[Sequence[Arg]] = None, stdout: Optional[IO[Any]] = None,
              stderr: Optional[IO[Any]] = None) -> int:
    """``camonitor [options] <PV name> ...``: print every update until interrupted.

    Called as a function it returns 130 on KeyboardInterrupt; the console
    script dies of the SIGINT as base's camonitor does.
    """
    return _run('camonitor', argv, stdout, stderr)


def cainfo(argv: Optional[Sequence[Arg]] = None, stdout: Optional[IO[Any]] = None,
           stderr: Optional[IO[Any]] = None) -> int:
    """``cainfo [options] <PV name> ...``: print connection and type information."""
    return _run('cainfo', argv, stdout, stderr)


#: Tool name -> function, for ``python -m CaChannel <tool>``.
TOOLS: Dict[str, Callable[..., int]] = {
    'caget': caget, 'caput': caput, 'camonitor': camonitor, 'cainfo': cainfo,
}


def _as_program() -> None:
    """Signals as a C program has them: Ctrl-C and a closed pipe end the process.

    Base's tools die of SIGINT (camonitor ends no other way) and of SIGPIPE
    (``caget ... | head``); Python would turn both into exceptions and
    tracebacks.  Output is flushed line by line, so nothing printed is lost.
    """
    for name in ('SIGINT', 'SIGPIPE'):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def _exit(status: int) -> int:
    # Flushing at exit must not complain about a reader that went away.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
    return status


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
    _as_program()
    sys.argv[0] = args[0]
    return _exit(tool(args[1:]))


# Console-script entry points (setup.py): each returns the exit status.
def caget_main() -> int:
    _as_program()
    return _exit(caget())


def caput_main() -> int:
    _as_program()
    return _exit(caput())


def camonitor_main() -> int:
    _as_program()
    return _exit(camonitor())


def cainfo_main() -> int:
    _as_program()
    return _exit(cainfo())
