"""The command-line tools caget, caput, camonitor, cainfo against the session IOC.

Every tool runs in a subprocess, as a user runs it: the installed console
script when pip put it beside this interpreter, else ``python -m CaChannel
<tool>``.  The subprocesses inherit the loopback environment of the test
session (tests/conftest.py), so they find the session IOC and nothing else.

A caRepeater of ours serves the session's repeater port while this module
runs, so the tools' libca finds a repeater and must print no warning about
one; it is stopped at the end of the module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from CaChannel.testing import LOOPBACK, _bindable

BIN = Path(sys.executable).parent
TIMESTAMP = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}'


def tool_command(tool: str) -> List[str]:
    script = BIN / tool
    if script.exists():
        return [str(script)]
    return [sys.executable, '-m', 'CaChannel', tool]


def run(tool: str, *args: str, env: Optional[dict] = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(tool_command(tool) + list(args), capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def assert_no_repeater_warning(stderr: str) -> None:
    assert 'repeater' not in stderr.lower(), stderr


@pytest.fixture(scope='module', autouse=True)
def repeater() -> Iterator[Optional[subprocess.Popen]]:
    port = int(os.environ['EPICS_CA_REPEATER_PORT'])
    if not _bindable(port):
        yield None  # a repeater (ours, spawned by libca) is already there
        return
    proc = subprocess.Popen([sys.executable, '-m', 'CaChannel.repeater'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while _bindable(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_environment_is_loopback() -> None:
    assert os.environ['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    assert all(entry.split(':')[0] == LOOPBACK
               for entry in os.environ['EPICS_CA_ADDR_LIST'].split())


def test_caput_then_caget() -> None:
    assert run('caput', 'catest', '3').returncode == 0
    put = run('caput', 'catest', '12.5')
    assert put.returncode == 0, put.stderr
    assert put.stdout.splitlines() == ['Old : %-30s 3' % 'catest', 'New : %-30s 12.5' % 'catest']
    get = run('caget', 'catest')
    assert get.returncode == 0, get.stderr
    assert get.stdout == 'catest                         12.5\n'
    assert_no_repeater_warning(get.stderr)


def test_caget_terse_and_several_pvs() -> None:
    assert run('caput', '-t', 'catest', '-1.25').stdout == '-1.25\n'
    assert run('caput', '-t', 'calong', '7').stdout == '7\n'
    run('caput', 'cabo', 'Done')
    result = run('caget', '-t', 'catest', 'cabo', 'calong')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['-1.25', 'Done', '7']


def test_caget_wide_shows_timestamp_and_alarm() -> None:
    run('caput', 'catest', '15')  # above HIGH: MINOR alarm
    try:
        result = run('caget', '-a', 'catest')
        assert re.fullmatch(r'catest {25}%s 15 HIGH MINOR\n' % TIMESTAMP, result.stdout), result.stdout
    finally:
        run('caput', 'catest', '0')
    quiet = run('caget', '-a', 'catest')
    assert re.fullmatch(r'catest {25}%s 0\n' % TIMESTAMP, quiet.stdout), quiet.stdout


def test_float_format_options() -> None:
    run('caput', 'catest', '1.5')
    assert run('caget', '-t', '-f', '3', 'catest').stdout == '1.500\n'
    assert run('caget', '-t', '-e', '2', 'catest').stdout == '1.50e+00\n'
    assert run('caget', '-t', '-s', 'catest').stdout == '1.5000\n'  # PREC 4 from the server


def test_caput_callback_and_enums() -> None:
    try:
        result = run('caput', '-c', 'cabo', 'Busy')
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == 'New : %-30s Busy' % 'cabo'
        assert run('caget', '-n', '-t', 'cabo').stdout == '1\n'
        assert run('caput', '-n', '-t', 'cabo', '0').stdout == '0\n'
        assert run('caget', '-t', 'cabo').stdout == 'Done\n'
    finally:
        run('caput', 'cabo', 'Done')


def test_arrays_and_char_strings() -> None:
    assert run('caput', '-a', '-t', 'cawave', '3', '1', '2', '3.5').stdout == '3 1 2 3.5\n'
    assert run('caget', 'cawave').stdout == '%-30s 3 1 2 3.5\n' % 'cawave'
    assert run('caget', '-t', '-#', '2', 'cawave').stdout == '2 1 2\n'
    assert run('caget', '-t', '-F', ',', 'cawave').stdout == '3,1,2,3.5\n'
    assert run('caput', '-S', '-t', 'cawavec', 'hey').stdout == 'hey\n'
    assert run('caget', '-S', 'cawavec').stdout == '%-30s hey\n' % 'cawavec'
    assert run('caget', '-t', 'cawavec').stdout == '4 104 101 121 0\n'


def test_cainfo() -> None:
    result = run('cainfo', 'catest')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == 'catest'
    assert lines[1] == '    State:            connected'
    assert re.fullmatch(r'    Host:             \S+:%s' % os.environ['EPICS_CA_SERVER_PORT'], lines[2])
    assert lines[3:] == ['    Access:           read, write',
                         '    Native data type: DBF_DOUBLE',
                         '    Request type:     DBR_DOUBLE',
                         '    Element count:    1']


def test_camonitor_stops_after_n_updates() -> None:
    result = run('camonitor', '-n', '3', 'cacalc')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    values = []
    for line in lines:
        match = re.fullmatch(r'cacalc {25}%s (\d+)' % TIMESTAMP, line)
        assert match, line
        values.append(int(match.group(1)))
    assert values == sorted(values)
    assert_no_repeater_warning(result.stderr)


def test_camonitor_n_without_number_is_numeric_enums() -> None:
    result = run('camonitor', '-n', '--updates', '1', 'cabo')
    assert re.fullmatch(r'cabo {27}%s 0\n' % TIMESTAMP, result.stdout), result.stdout


def test_unknown_pv_exit_status_and_message() -> None:
    for tool in ('caget', 'caput', 'camonitor', 'cainfo'):
        args = ['-w', '0.3', 'no:such:pv'] + (['1'] if tool == 'caput' else [])
        result = run(tool, *args)
        assert result.returncode == 1, (tool, result.stdout, result.stderr)
        assert "Channel connect timed out: 'no:such:pv' not found." in result.stderr
        assert result.stdout == ''


def test_partial_success_still_prints_the_rest() -> None:
    run('caput', 'catest', '2')
    result = run('caget', '-w', '0.3', 'catest', 'no:such:pv')
    assert result.returncode == 1
    assert result.stdout == '%-30s 2\n' % 'catest'


def test_bad_value_is_an_error() -> None:
    result = run('caput', 'catest', 'not-a-number')
    assert result.returncode == 1
    assert 'catest' in result.stderr
    assert result.stdout == ''


def test_usage_errors_exit_2() -> None:
    assert run('caget').returncode == 2
    assert run('caput', 'catest').returncode == 2
    assert run('caput', '-a', 'cawave', '3', '1').returncode == 2


def test_python_dash_m_and_caffi_backend() -> None:
    run('caput', 'catest', '4.5')
    command = [sys.executable, '-m', 'CaChannel', 'caget', 'catest']
    for backend in ('c', 'caffi'):
        env = dict(os.environ, CACHANNEL_BACKEND=backend)
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout == 'catest                         4.5\n'
    usage = subprocess.run([sys.executable, '-m', 'CaChannel'], capture_output=True, text=True)
    assert usage.returncode == 2 and 'caget' in usage.stdout
    unknown = subprocess.run([sys.executable, '-m', 'CaChannel', 'caxyz'],
                             capture_output=True, text=True)
    assert unknown.returncode == 2
