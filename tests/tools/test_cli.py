"""The console tools caget, caput, camonitor, cainfo against the session IOC.

Every tool runs in a subprocess, as a user runs it: the installed console
script when pip put it beside this interpreter, else ``python -m CaChannel
<tool>``.  The subprocesses inherit the loopback environment of the test
session (tests/conftest.py), so they find the session IOC and nothing else.
What base's own tools print for the same arguments is test_cli_parity's
business; this module checks what needs no oracle: the layout of the common
cases, exit statuses, signals, help, and calling the tools as functions.

A caRepeater of ours serves the session's repeater port while this module
runs, so the tools' libca finds a repeater and must print no warning about
one; it is stopped at the end of the module.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from CaChannel.testing import LOOPBACK, port_is_free, start_repeater, stop_process

BIN = Path(sys.executable).parent
TIMESTAMP = r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}'
TOOLS = ('caget', 'caput', 'camonitor', 'cainfo')


def tool_command(tool: str) -> List[str]:
    script = BIN / tool
    if script.exists():
        return [str(script)]
    if tool == 'caRepeater':
        return [sys.executable, '-m', 'CaChannel.repeater']
    return [sys.executable, '-m', 'CaChannel', tool]


def run(tool: str, *args: str, env: Optional[dict] = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop('EPICS_CLI_TIMEOUT', None)
    full_env.update(env or {})
    return subprocess.run(tool_command(tool) + list(args), capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def assert_no_repeater_warning(stderr: str) -> None:
    assert 'repeater' not in stderr.lower(), stderr


@pytest.fixture(scope='module', autouse=True)
def repeater() -> Iterator[Optional[subprocess.Popen]]:
    port = int(os.environ['EPICS_CA_REPEATER_PORT'])
    if not port_is_free(port):
        yield None  # a repeater (ours, spawned by libca) is already there
        return
    proc = start_repeater(port)
    try:
        yield proc
    finally:
        stop_process(proc)


def test_environment_is_loopback() -> None:
    assert os.environ['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    assert all(entry.split(':')[0] == LOOPBACK
               for entry in os.environ['EPICS_CA_ADDR_LIST'].split())


@pytest.mark.parametrize('tool', TOOLS + ('caRepeater',))
def test_help_exits_0(tool: str) -> None:
    result = run(tool, '-h')
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    if tool != 'caRepeater':
        # base prints its usage on stderr
        assert result.stderr.startswith('\nUsage: %s [options]' % tool), result.stderr
        assert result.stdout == ''


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
    # No alarm: base still prints both (empty) separators.
    quiet = run('caget', '-a', 'catest')
    assert re.fullmatch(r'catest {25}%s 0  \n' % TIMESTAMP, quiet.stdout), quiet.stdout


def test_float_and_integer_formats() -> None:
    run('caput', 'catest', '1.5')
    run('caput', 'calong', '255')
    assert run('caget', '-t', '-f', '3', 'catest').stdout == '1.500\n'
    assert run('caget', '-t', '-e', '2', 'catest').stdout == '1.50e+00\n'
    assert run('caget', '-t', '-s', 'catest').stdout == '1.5000\n'  # PREC 4 from the server
    assert run('caget', '-t', '-lx', 'catest').stdout == '0x2\n'
    assert run('caget', '-t', '-0x', 'calong').stdout == '0xFF\n'
    assert run('caget', '-t', '-0b', 'calong').stdout == '11111111\n'
    assert run('caget', '-t', '-0o', 'calong').stdout == '0o377\n'


def test_caget_dbr_type() -> None:
    run('caput', 'catest', '2')
    result = run('caget', '-d', 'CTRL_DOUBLE', 'catest')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:5] == ['catest', '    Native data type: DBF_DOUBLE',
                         '    Request type:     DBR_CTRL_DOUBLE', '    Element count:    1',
                         '    Value:            2']
    assert '    Units:            mm' in lines and '    Precision:        4' in lines
    assert run('caget', '-d', '38', 'catest').stdout.splitlines()[-1] == \
        '    Class Name:       ao'
    refused = run('caget', '-d', 'NO_SUCH_TYPE', 'catest')
    assert refused.stderr.startswith('Requested dbr type out of range or invalid - ignored.')
    assert refused.stdout == 'catest                         2\n'


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


def test_caput_enum_checks_exit_1() -> None:
    result = run('caput', 'cabo', 'Bogus')
    assert (result.returncode, result.stdout) == (1, '')
    assert result.stderr == "Enum string value 'Bogus' invalid.\n"
    assert run('caput', '-s', 'cabo', '1').returncode == 1


def test_refused_write_exits_1() -> None:
    # The server refuses: libca's exception banner, and never status 0.
    result = run('caput', 'cadisabled', '3')
    assert result.returncode == 1
    assert 'CA.Client.Exception' in result.stderr and 'Channel write request failed' in result.stderr
    assert result.stdout.splitlines() == ['Old : %-30s 0' % 'cadisabled',
                                          'New : %-30s 0' % 'cadisabled']
    callback = run('caput', '-c', 'cadisabled', '3')
    assert callback.returncode == 1
    assert 'occured writing data: Channel write request failed' in callback.stderr


def test_arrays_and_char_strings() -> None:
    # base reads as many elements as the array has room for (NELM 20) ...
    assert run('caput', '-a', '-t', 'cawave', '3', '1', '2', '3.5').stdout == \
        '20 1 2 3.5' + ' 0' * 17 + '\n'
    # ... and with -c as many as it holds now
    assert run('caget', '-c', 'cawave').stdout == 'cawave 3 1 2 3.5\n'
    assert run('caget', '-t', '-#', '2', 'cawave').stdout == '2 1 2\n'
    assert run('caget', '-t', '-c', '-F', ',', 'cawave').stdout == '3,1,2,3.5\n'
    assert run('caput', '-S', '-t', 'cawavec', 'hey').stdout == 'hey\n'
    assert run('caget', '-S', 'cawavec').stdout == 'cawavec hey\n'
    assert run('caget', '-t', 'cawavec').stdout == '5 104 101 121 0 0\n'
    assert run('caput', '-S', '-t', 'cawavec', r'a\tb').stdout == r'a\tb' + '\n'
    assert run('caget', '-t', '-#', '3', 'cawavec').stdout == '3 97 9 98\n'


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


def start_camonitor(*args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop('EPICS_CLI_TIMEOUT', None)
    return subprocess.Popen(tool_command('camonitor') + list(args), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_lines(proc: subprocess.Popen, count: int) -> List[str]:
    lines = []
    deadline = time.monotonic() + 20   # hang detector
    while len(lines) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line.rstrip('\n'))
    return lines


def test_camonitor_prints_updates_until_sigint() -> None:
    proc = start_camonitor('cacalc')
    try:
        lines = read_lines(proc, 3)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    # Dies of the signal, as base's camonitor does: no traceback, no message.
    assert proc.returncode == -signal.SIGINT
    assert 'Traceback' not in err and err == ''
    values = []
    for line in lines:
        match = re.fullmatch(r'cacalc {25}%s (\d+)  ' % TIMESTAMP, line)
        assert match, line
        values.append(int(match.group(1)))
    assert len(values) == 3 and values == sorted(values)


def test_camonitor_n_is_enums_as_numbers() -> None:
    proc = start_camonitor('-n', 'cabo', 'no:such:pv', '-w', '0.3')
    try:
        lines = read_lines(proc, 2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert re.fullmatch(r'cabo {26} %s 0  ' % TIMESTAMP, lines[0]), lines
    assert lines[1] == '%-30s *** Not connected (PV not found)' % 'no:such:pv'


def test_unknown_pv_exit_status_and_message() -> None:
    for tool in TOOLS:
        if tool == 'camonitor':
            continue  # waits for the PV to appear, see above
        args = ['-w', '0.3', 'no:such:pv'] + (['1'] if tool == 'caput' else [])
        result = run(tool, *args)
        assert result.returncode == 1, (tool, result.stdout, result.stderr)
        assert result.stderr == "Channel connect timed out: 'no:such:pv' not found.\n"
        assert result.stdout == ''


def test_missing_pv_prints_none_of_the_others() -> None:
    result = run('caget', '-w', '0.3', 'catest', 'no:such:pv')
    assert result.returncode == 1
    assert result.stdout == ''
    assert result.stderr == 'Channel connect timed out: some PV(s) not found.\n'


def test_usage_errors_exit_1_with_base_messages() -> None:
    assert run('caget').stderr == "No pv name specified. ('caget -h' for help.)\n"
    no_value = run('caput', 'catest')
    assert (no_value.returncode, no_value.stderr) == (1, "No value specified. ('caput -h' for help.)\n")
    unknown = run('camonitor', '--help')
    assert (unknown.returncode, unknown.stderr) == \
        (1, "Unrecognized option: '--'. ('camonitor -h' for help.)\n")
    bad_timeout = run('caget', '-w', 'abc', 'catest')
    assert bad_timeout.returncode == 0
    assert bad_timeout.stderr == \
        "'abc' is not a valid timeout value - ignored, using '1.0'. ('caget -h' for help.)\n"


def test_bad_environment_timeout_is_reported() -> None:
    result = run('cainfo', 'catest', env={'EPICS_CLI_TIMEOUT': 'soon'})
    assert result.returncode == 0
    assert result.stderr.startswith("'soon' is not a valid timeout value (from 'EPICS_CLI_TIMEOUT'")


def test_caget_into_closed_pipe_is_quiet() -> None:
    # `caget ... | head -0`: the reader is gone; base dies of SIGPIPE silently.
    reader = subprocess.Popen(['true'], stdin=subprocess.PIPE)
    reader.wait()
    proc = subprocess.run(tool_command('caget') + ['catest', 'cabo'] * 50, stdout=reader.stdin,
                          stderr=subprocess.PIPE, text=True, timeout=30)
    reader.stdin.close()  # type: ignore[union-attr]
    assert 'Traceback' not in proc.stderr
    assert proc.returncode in (0, -signal.SIGPIPE)


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


def test_tools_as_functions_keep_the_callers_context() -> None:
    from CaChannel import ca, cli
    # This process already has a (preemptive) context; the tool runs in a
    # thread with one of its own and leaves the caller's alone.
    before = ca.current_context()
    out, err = io.StringIO(), io.StringIO()
    assert cli.caput(['-t', 'catest', '6.5'], stdout=out, stderr=err) == 0
    assert cli.caget(['-a', 'catest', 'calong'], stdout=out, stderr=err) == 0
    assert cli.cainfo(['-w', '0.2', 'no:such:pv'], stdout=out, stderr=err) == 1
    assert ca.current_context() == before
    lines = out.getvalue().splitlines()
    assert lines[0] == '6.5'
    assert re.fullmatch(r'catest {25}%s 6.5  ' % TIMESTAMP, lines[1]), lines
    assert err.getvalue() == "Channel connect timed out: 'no:such:pv' not found.\n"
