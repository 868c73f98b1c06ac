"""The ``caRepeater`` console script: libca's CA repeater, run from Python.

Every CA client process tries to make sure a repeater is running on its host
(it fans the servers' UDP beacons out to all clients there).  If none answers
on ``EPICS_CA_REPEATER_PORT``, libca starts the program ``caRepeater`` from
``PATH`` and prints a warning when it cannot find one.  Installing CaChannel
puts this script there under that name, so the warning goes away without an
EPICS base installation.

The script loads the same libca the selected :mod:`CaChannel.ca` backend
uses and calls its ``ca_repeater()``, which serves until the process is
killed.  It needs no compiled code of ours: the call goes through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable, Optional, Sequence

__all__ = ['libca_path', 'main']


def libca_path() -> str:
    """Path of the libca the selected backend of :mod:`CaChannel.ca` loaded.

    The cffi backend says which file it opened (``caffi_backend.libca_path``);
    the C extension's build record says whether it was linked to a site
    EPICS base (whatever ``EPICS_BASE`` says now) or to the ``epicscorelibs``
    wheel (see :mod:`CaChannel._libpath`).
    """
    from CaChannel import ca
    from CaChannel._libpath import libraries_in_use
    path = libraries_in_use(ca)[1]
    if path is None:
        raise RuntimeError('no libca found for the %r backend' % ca.backend)
    return path


def _repeater_entry(libca: ctypes.CDLL) -> Optional[Callable[[], None]]:
    """A no-argument callable running libca's repeater loop.

    libca's header declares ``ca_repeater()`` without C linkage, so its
    exported name is the C++ one (``_Z11ca_repeaterv`` with GCC and clang);
    ``caRepeaterThread(void *)``, with C linkage, calls it and is the
    fallback for other compilers.
    """
    for symbol in ('ca_repeater', '_Z11ca_repeaterv'):
        try:
            function = getattr(libca, symbol)
        except AttributeError:
            continue
        function.restype = None
        function.argtypes = []
        return function
    try:
        thread_entry = libca.caRepeaterThread
    except AttributeError:
        return None
    thread_entry.restype = None
    thread_entry.argtypes = [ctypes.c_void_p]
    return lambda: thread_entry(None)


def _detach_from_pipes() -> None:
    # libca starts the repeater as a daemon that keeps the stdio of the
    # client that spawned it; holding that client's pipes open would keep a
    # `python script.py | tail` waiting for the daemon.  A terminal is kept.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        try:
            if not os.isatty(fd):
                os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the repeater; returns only if libca's ``ca_repeater()`` does."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ('-h', '--help'):
        print('usage: caRepeater\n\nRun the Channel Access repeater on the UDP port '
              'EPICS_CA_REPEATER_PORT (default 5065) until killed.')
        return 0
    if args:
        print('caRepeater takes no arguments', file=sys.stderr)
        return 2
    path = libca_path()
    try:
        libca = ctypes.CDLL(path, mode=getattr(ctypes, 'RTLD_GLOBAL', 0))
    except OSError as exc:
        print('caRepeater: cannot load libca %s: %s' % (path, exc), file=sys.stderr)
        return 1
    entry = _repeater_entry(libca)
    if entry is None:
        print('caRepeater: %s exports no CA repeater entry point' % path, file=sys.stderr)
        return 1
    _detach_from_pipes()
    # Blocks in the repeater's receive loop; libca exits the process itself
    # when another repeater already owns the port.
    entry()
    return 0


if __name__ == '__main__':
    sys.exit(main())
