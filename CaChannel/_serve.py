"""``python -m CaChannel.testing serve``: the tutorial's PVs on 127.0.0.1.

The README's example and the tutorial use the PVs of the test database
(``catest``, ``cabo``, ``calong``, ``cawave``, ``cacalc`` ...). This serves
them from a softIoc of the epicscorelibs wheel, with the same loopback-only
settings as the tests (:func:`CaChannel.testing.loopback_environ`)::

    python -m CaChannel.testing serve -- python example.py   # run, then stop
    python -m CaChannel.testing serve                        # until Ctrl-C

Given a command, it runs the command with the environment that finds the
IOC and exits with its status; without one, it prints that environment as
a shell ``export`` line and serves until interrupted (Ctrl-C or SIGTERM).
Clients need those variables: a client without them searches the networks
of every interface.

What goes wrong is one line on stderr and an exit status: 1 when the IOC
does not start (a port another server holds, a database that does not
load), 126/127 as in a shell when the command cannot be run, 2 for a usage
error.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .testing import SoftIoc, SoftIocError, shared_repeater_port, start_repeater, stop_process
from .testing.ioc import SERVER_PORTS

PROG = 'python -m CaChannel.testing'

# What a CA client needs to find the IOC (the rest are server settings).
CLIENT_VARIABLES = ('EPICS_CA_AUTO_ADDR_LIST', 'EPICS_CA_ADDR_LIST', 'EPICS_CA_NAME_SERVERS',
                    'EPICS_CA_SERVER_PORT', 'EPICS_CA_REPEATER_PORT')


def tutorial_database() -> Path:
    """catest.db: shipped in the package by the build, or, in a source tree
    (editable install), where the test suite keeps it."""
    here = Path(__file__).resolve().parent
    for candidate in (here / 'catest.db', here.parent / 'tests' / 'ioc' / 'catest.db'):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError('catest.db is neither in %s nor in the source tree' % here)


def _server_port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if port not in SERVER_PORTS:
        raise argparse.ArgumentTypeError('%s is not a port EPICS serves on (%d-%d)'
                                         % (text, SERVER_PORTS.start, SERVER_PORTS.stop - 1))
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Serve EPICS PVs on 127.0.0.1 for trying CaChannel out.')
    commands = parser.add_subparsers(dest='action', required=True)
    serve = commands.add_parser(
        'serve', help="serve the tutorial's PVs (catest, cabo, ...)",
        description="Serve the tutorial's PVs from a softIoc on 127.0.0.1; with a "
                    'command after --, run it against the IOC, then stop.')
    serve.add_argument('-d', '--db', type=Path, help='another database to serve')
    serve.add_argument('-m', '--macros', default='', help='macros for the database, e.g. P=me:')
    serve.add_argument('-p', '--port', type=_server_port,
                       help='CA server port (default: a free one)')
    serve.add_argument('command', nargs=argparse.REMAINDER,
                       help='command to run with the environment that finds the IOC')
    return parser


def _export_line(environ: dict) -> str:
    return 'export ' + ' '.join('%s=%s' % (key, environ[key] or "''") for key in CLIENT_VARIABLES)


class _Failure(Exception):
    """One line for stderr, and the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _run(command: Sequence[str], environ: dict) -> int:
    try:
        child = subprocess.Popen(list(command), env=dict(os.environ, **environ))
    except OSError as exc:
        # A shell's statuses: 127 for a command not found, 126 otherwise.
        status = 127 if isinstance(exc, FileNotFoundError) else 126
        raise _Failure('cannot run %s: %s' % (command[0], exc.strerror or exc), status) from None
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                # The child got the same Ctrl-C; let it finish its own way.
                continue
    finally:
        # Stopped ourselves (SIGTERM): the command goes with its IOC.
        stop_process(child)


def _serve_forever(ioc: SoftIoc) -> int:
    try:
        while ioc.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    sys.stderr.write('softIoc exited:\n%s\n' % ioc.log_text())
    return 1


def _database(named: Optional[Path]) -> Path:
    try:
        database = named or tutorial_database()
    except FileNotFoundError as exc:
        raise _Failure(str(exc), 1) from None
    if not database.is_file():
        raise _Failure('no database file %s' % database, 1)
    return database


def _terminated(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C would, so the IOC and the repeater stop.
    raise SystemExit(128 + signum)


def _serve(database: Path, macros: str, env: dict, command: Sequence[str]) -> int:
    # Status lines go to stderr when a command owns stdout.
    report = sys.stderr if command else sys.stdout
    # Our repeater, stopped with the IOC, so that libca starts no daemon
    # that outlives this command.
    repeater = start_repeater(shared_repeater_port())
    try:
        with SoftIoc(database, macros=macros, env=env) as ioc:
            report.write('softIoc serving %s on 127.0.0.1:%d\n' % (database, ioc.port))
            if command:
                report.flush()
                return _run(command, ioc.environ)
            report.write('Clients find it with:\n  %s\nCtrl-C stops it.\n'
                         % _export_line(ioc.environ))
            report.flush()
            return _serve_forever(ioc)
    except SoftIocError as exc:
        raise _Failure(exc.reason, 1) from None
    finally:
        stop_process(repeater)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    command = list(args.command)
    if command[:1] == ['--']:
        command = command[1:]
    env = {'EPICS_CA_SERVER_PORT': str(args.port)} if args.port else {}
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return _serve(_database(args.db), args.macros, env, command)
    except _Failure as failure:
        sys.stderr.write('%s serve: %s\n' % (PROG, failure))
        return failure.status
