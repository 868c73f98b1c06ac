"""``python -m CaChannel.testing serve``: the tutorial's PVs on 127.0.0.1.

The README's example and the tutorial use the PVs of the test database
(``catest``, ``cabo``, ``calong``, ``cawave``, ``cacalc`` ...). This serves
them from a softIoc of the epicscorelibs wheel, with the same loopback-only
settings as the tests (:func:`CaChannel.testing.loopback_environ`)::

    python -m CaChannel.testing serve -- python example.py   # run, then stop
    python -m CaChannel.testing serve                        # until Ctrl-C

Given a command, it runs the command with the environment that finds the
IOC and exits with its status; without one, it prints that environment as
a shell ``export`` line and serves until interrupted. Clients need those
variables: a client without them searches the networks of every interface.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .testing import SoftIoc, shared_repeater_port, start_repeater, stop_process

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m CaChannel.testing',
        description='Serve EPICS PVs on 127.0.0.1 for trying CaChannel out.')
    commands = parser.add_subparsers(dest='action', required=True)
    serve = commands.add_parser(
        'serve', help="serve the tutorial's PVs (catest, cabo, ...)",
        description="Serve the tutorial's PVs from a softIoc on 127.0.0.1; with a "
                    'command after --, run it against the IOC, then stop.')
    serve.add_argument('-d', '--db', type=Path, help='another database to serve')
    serve.add_argument('-m', '--macros', default='', help='macros for the database, e.g. P=me:')
    serve.add_argument('-p', '--port', type=int, help='CA server port (default: a free one)')
    serve.add_argument('command', nargs=argparse.REMAINDER,
                       help='command to run with the environment that finds the IOC')
    return parser


def _export_line(environ: dict) -> str:
    return 'export ' + ' '.join('%s=%s' % (key, environ[key] or "''") for key in CLIENT_VARIABLES)


def _run(command: Sequence[str], environ: dict) -> int:
    child = subprocess.Popen(list(command), env=dict(os.environ, **environ))
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            # The child got the same Ctrl-C; let it finish its own way.
            continue


def _serve_forever(ioc: SoftIoc) -> int:
    try:
        while ioc.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    sys.stderr.write('softIoc exited:\n%s\n' % ioc.log_text())
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    command = list(args.command)
    if command[:1] == ['--']:
        command = command[1:]
    database = args.db or tutorial_database()
    env = {'EPICS_CA_SERVER_PORT': str(args.port)} if args.port else {}
    # Status lines go to stderr when a command owns stdout.
    report = sys.stderr if command else sys.stdout
    # Our repeater, stopped with the IOC, so that libca starts no daemon
    # that outlives this command.
    repeater = start_repeater(shared_repeater_port())
    try:
        with SoftIoc(database, macros=args.macros, env=env) as ioc:
            report.write('softIoc serving %s on 127.0.0.1:%d\n' % (database, ioc.port))
            if command:
                report.flush()
                return _run(command, ioc.environ)
            report.write('Clients find it with:\n  %s\nCtrl-C stops it.\n'
                         % _export_line(ioc.environ))
            report.flush()
            return _serve_forever(ioc)
    finally:
        stop_process(repeater)
