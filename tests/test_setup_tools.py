"""The set-up helpers a new user meets: ``python -m CaChannel.testing serve``
(the tutorial's PVs on loopback) and ``python -m CaChannel --version``.

Each runs as users run it, in a fresh interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from CaChannel import _libpath

SERVE = [sys.executable, '-m', 'CaChannel.testing', 'serve', '--']
# Generous: a softIoc and a repeater start and stop around the command.
TIMEOUT = 120

READ_CATEST = '''
import os
from CaChannel import CaChannel, ca
chan = CaChannel('catest')
chan.searchw()
chan.putw(3.25)
print('value', chan.getw())
print('units', chan.getw(ca.DBR_CTRL_DOUBLE)['pv_units'])
print('port', os.environ['EPICS_CA_SERVER_PORT'])
print('addr', os.environ['EPICS_CA_ADDR_LIST'], os.environ['EPICS_CA_AUTO_ADDR_LIST'])
'''


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


def test_serve_runs_a_command_against_the_tutorial_pvs() -> None:
    result = run(SERVE + [sys.executable, '-c', READ_CATEST])
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(' ', 1) for line in result.stdout.splitlines())
    assert lines['value'] == '3.25'
    assert lines['units'] == 'mm'
    # Its own IOC on its own port, not the session's, and loopback only.
    assert lines['port'] != os.environ['EPICS_CA_SERVER_PORT']
    assert lines['addr'] == '127.0.0.1 NO'
    assert 'softIoc serving' in result.stderr and 'catest.db' in result.stderr


def test_serve_exits_with_the_commands_status() -> None:
    result = run(SERVE + [sys.executable, '-c', 'raise SystemExit(3)'])
    assert result.returncode == 3, result.stderr


def test_serve_another_database_with_macros(tmp_path: Path) -> None:
    database = tmp_path / 'mine.db'
    database.write_text('record(longout, "$(P)answer") {\n    field(VAL, "42")\n}\n')
    code = 'from CaChannel.util import caget; print(caget("me:answer"))'
    result = run([sys.executable, '-m', 'CaChannel.testing', 'serve', '-d', str(database),
                  '-m', 'P=me:', '--', sys.executable, '-c', code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '42'


def test_tutorial_database_is_the_test_suites() -> None:
    from CaChannel._serve import tutorial_database
    here = Path(__file__).resolve().parent
    assert tutorial_database().read_bytes() == (here / 'ioc' / 'catest.db').read_bytes()


def header_version() -> str:
    """EPICS_VERSION_FULL of the epicscorelibs headers: the base release the
    wheel's libca was built from."""
    import epicscorelibs.path
    header = Path(epicscorelibs.path.include_path, 'epicsVersion.h').read_text()
    found = re.search(r'#define\s+EPICS_VERSION_FULL\s+"([^"]+)"', header)
    assert found, 'no EPICS_VERSION_FULL in epicsVersion.h'
    return found.group(1)


@pytest.mark.parametrize('backend', ['c', 'caffi'])
def test_version_names_protocol_and_base_release(backend: str) -> None:
    env = dict(os.environ, CACHANNEL_BACKEND=backend)
    result = run([sys.executable, '-m', 'CaChannel', '--version'], env=env)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert "(backend '%s')" % backend in line
    assert re.search(r'CA protocol 4\.\d+', line), line
    assert 'EPICS base %s ' % header_version() in line, line


def test_base_release_of_a_file_without_one(tmp_path: Path) -> None:
    other = tmp_path / 'libnot.so'
    other.write_bytes(b'\x7fELF no release string here')
    assert _libpath.epics_base_version(str(other)) == 'unknown'
    assert _libpath.epics_base_version(str(tmp_path / 'missing.so')) == 'unknown'
    assert _libpath.epics_base_version(None) == 'unknown'
