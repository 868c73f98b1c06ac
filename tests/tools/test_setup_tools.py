"""The set-up helpers a new user meets: ``python -m CaChannel.testing serve``
(the tutorial's PVs on loopback), ``python -m CaChannel --version``, and the
warning of an install whose C extension cannot load.

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
from helpers import ROOT, TESTS

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


def test_serve_refuses_a_port_already_served(ioc) -> None:
    """Never 'serving on PORT' while its IOC took another port."""
    result = run([sys.executable, '-m', 'CaChannel.testing', 'serve', '-p', str(ioc.port),
                  '--', sys.executable, '-c', 'print("ran")'])
    assert result.returncode == 1, result.stderr
    assert result.stdout == ''  # the command did not run
    assert result.stderr == ('python -m CaChannel.testing serve: port %d of 127.0.0.1 is '
                             'served already\n' % ioc.port)


BAD_DATABASE = 'record(ai, "x") {\n    field(VAL, "1")\n    fieldd(EGU, "mm")\n}\n'

# serve's argument -> (exit status, what its one line of stderr says)
BAD_INPUT = {
    'command not found': (['--', '/nonexistent/command'], 127,
                          'cannot run /nonexistent/command: No such file or directory'),
    'command not executable': (['--', '{tmp}/bad.db'], 126,
                               'cannot run {tmp}/bad.db: Permission denied'),
    'no database': (['-d', '{tmp}/missing.db', '--', 'true'], 1,
                    'no database file {tmp}/missing.db'),
    'bad database': (['-d', '{tmp}/bad.db', '--', 'true'], 1,
                     "softIoc exited with status 1 before it was ready: syntax error at or "
                     "before 'fieldd' in file \"{tmp}/bad.db\" line 3"),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUT))
def test_serve_reports_bad_input_in_one_line(tmp_path: Path, case: str) -> None:
    (tmp_path / 'bad.db').write_text(BAD_DATABASE)
    arguments, status, said = BAD_INPUT[case]
    arguments = [argument.format(tmp=tmp_path) for argument in arguments]
    result = run([sys.executable, '-m', 'CaChannel.testing', 'serve'] + arguments)
    assert result.returncode == status, result.stderr
    complaint = [line for line in result.stderr.splitlines() if not line.startswith('softIoc serving')]
    assert complaint == ['python -m CaChannel.testing serve: ' + said.format(tmp=tmp_path)], \
        result.stderr


def test_serve_refuses_a_port_epics_would_replace() -> None:
    result = run([sys.executable, '-m', 'CaChannel.testing', 'serve', '-p', '80', '--', 'true'])
    assert result.returncode == 2
    assert '-p/--port: 80 is not a port EPICS serves on (5001-65535)' in result.stderr


def children(pid: int) -> list:
    with open('/proc/%d/task/%d/children' % (pid, pid)) as listed:
        return [int(child) for child in listed.read().split()]


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_serve_stops_its_ioc_and_repeater_on_sigterm() -> None:
    serve = subprocess.Popen([sys.executable, '-m', 'CaChannel.testing', 'serve'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        lines = [serve.stdout.readline() for _ in range(4)]
        assert lines[-1] == 'Ctrl-C stops it.\n', lines
        started = children(serve.pid)
        assert len(started) == 2, started  # the repeater and the IOC
        serve.terminate()
        assert serve.wait(TIMEOUT) == 128 + 15, serve.stderr.read() if serve.stderr else ''
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_tutorial_database_is_the_test_suites() -> None:
    from CaChannel._serve import tutorial_database
    assert tutorial_database().read_bytes() == (TESTS / 'ioc' / 'catest.db').read_bytes()


def header_version() -> str:
    """EPICS_VERSION_FULL of the epicscorelibs headers: the base release the
    wheel's libca was built from."""
    import epicscorelibs.path
    header = Path(epicscorelibs.path.include_path, 'epicsVersion.h').read_text()
    found = re.search(r'#define\s+EPICS_VERSION_FULL\s+"([^"]+)"', header)
    assert found, 'no EPICS_VERSION_FULL in epicsVersion.h'
    return found.group(1)


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


# Imported first by every interpreter started with it on PYTHONPATH: the C
# extension cannot be imported, and the build record says what an install
# without a compiler records (the compiler's failure, naming its temporary
# files), so CaChannel.ca falls back as it does after such an install. It
# writes the backend chosen to the file CACHANNEL_TEST_BACKEND_FILE names.
NO_EXTENSION = """
import atexit, os, sys, types
sys.modules['CaChannel._ca'] = None
record = types.ModuleType('CaChannel._build_config')
record.EPICS = record.EPICS_BASE = record.LIBCA = record.LIBCOM = None
record.NOT_BUILT = ("Command '['/bin/false', '-E', '-o', '/tmp/tmpgone/eval_macros_out.c']' "
                    "returned non-zero exit status 1")
sys.modules['CaChannel._build_config'] = record

@atexit.register
def _tell_backend():
    ca = sys.modules.get('CaChannel.ca')
    with open(os.environ['CACHANNEL_TEST_BACKEND_FILE'], 'w') as out:
        out.write(ca.backend if ca is not None else 'none')
"""


def without_extension(tmp_path: Path, **extra: str) -> tuple:
    """The environment of an interpreter whose C extension cannot load, and
    the file where it records the backend it ran on."""
    site = tmp_path / 'no_extension'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(NO_EXTENSION)
    told = tmp_path / 'backend.txt'
    path = os.pathsep.join(filter(None, [str(site), os.environ.get('PYTHONPATH')]))
    env = dict(os.environ)
    env.pop('CACHANNEL_BACKEND', None)
    env.update(PYTHONPATH=path, CACHANNEL_TEST_BACKEND_FILE=str(told), **extra)
    return env, told


# Two ways a script first needs the ca layer: importing it, or the first
# call of the object layer, which imports it on demand.
USER_SCRIPTS = {
    'import': ('import os\n\nfrom CaChannel import ca\nprint(ca.backend)\n', 3),
    'first call': ('from CaChannel import CaChannel\n\nchan = CaChannel("catest")\n'
                   'chan.searchw()\nprint(chan.getw())\n', 4),
}


@pytest.mark.parametrize('how', sorted(USER_SCRIPTS))
def test_fallback_warning_names_the_users_line_and_the_remedy(tmp_path: Path, how: str) -> None:
    text, line = USER_SCRIPTS[how]
    script = tmp_path / 'example.py'
    script.write_text(text)
    env, told = without_extension(tmp_path)
    result = run([sys.executable, str(script)], env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert told.read_text() == 'caffi'
    warning = result.stderr.splitlines()[0]
    assert warning.startswith('%s:%d: RuntimeWarning: ' % (script, line)), result.stderr
    assert 'Install a C compiler and reinstall CaChannel' in warning, warning
    assert 'set CACHANNEL_BACKEND=caffi to choose the cffi backend and silence' in warning
    # The build's temporary files are gone: the warning does not name them.
    assert 'tmpgone' not in result.stderr and 'eval_macros' not in result.stderr
    assert result.stderr.count('RuntimeWarning') == 1, result.stderr


def test_fallback_chosen_with_the_variable_is_quiet(tmp_path: Path) -> None:
    script = tmp_path / 'example.py'
    script.write_text(USER_SCRIPTS['import'][0])
    env, told = without_extension(tmp_path, CACHANNEL_BACKEND='caffi')
    result = run([sys.executable, '-W', 'error', str(script)], env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'caffi' and told.read_text() == 'caffi'
    assert result.stderr == ''


def console_script(name: str) -> str:
    # Installed beside the interpreter by pip (venv bin/ or Scripts/).
    path = Path(sys.executable).parent / name
    assert path.exists(), '%s is not installed beside %s' % (name, sys.executable)
    return str(path)


@pytest.mark.parametrize('spelling', ['console script', 'python -m CaChannel'])
def test_console_tools_are_quiet_about_the_fallback(tmp_path: Path, spelling: str) -> None:
    """A caget in a shell script prints what base's caget prints, nothing more."""
    if spelling == 'console script':
        command = [console_script('caget')]
    else:
        command = [sys.executable, '-m', 'CaChannel', 'caget']
    env, told = without_extension(tmp_path)
    result = run(command + ['-w', '5', 'catest'], env=env, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert told.read_text() == 'caffi'
    assert result.stdout.split()[0] == 'catest', result.stdout
    assert result.stderr == ''


def test_demo_help_shows_usage_without_running_the_demo() -> None:
    result = run([console_script('cachannel-demo'), '-h'])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('usage: cachannel-demo'), result.stdout
    assert 'softIoc running' not in result.stdout and 'Tour done' not in result.stdout


@pytest.mark.parametrize('arguments, status', [(['-h'], 0), ([], 2), (['cagte'], 2)])
def test_usage_names_version(arguments: list, status: int) -> None:
    result = run([sys.executable, '-m', 'CaChannel'] + arguments)
    assert result.returncode == status
    usage = result.stderr if arguments == ['cagte'] else result.stdout
    assert 'usage: python -m CaChannel {caget,' in usage, usage
    assert 'python -m CaChannel --version ' in usage, usage


def test_build_outputs_are_ignored_by_git() -> None:
    root = ROOT
    if not (root / '.git').exists():
        pytest.skip('not a git checkout: .gitignore applies to clones only')
    # The README's sphinx-build commands write here.
    outputs = ['docs/_build/html/index.html', 'docs/_build/doctest/output.txt']
    result = subprocess.run(['git', 'check-ignore', '--no-index'] + outputs, cwd=str(root),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.stdout.split() == outputs, result.stdout + result.stderr


README = ROOT / 'README.md'


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index('\n## %s\n' % title)
    end = text.find('\n## ', start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_readme_example_runs_where_the_readme_says(tmp_path: Path) -> None:
    """The first example, saved where the README says (outside the clone)
    and run with the command it gives, on the C extension without a word."""
    text = README.read_text()
    example = re.search(r'```python\n(.*?)```', text, re.S).group(1)
    after = text[text.index(example) + len(example):]
    where, command = re.search(r'```\n\n(.*?)```sh\n(.*?)\n```', after, re.S).groups()
    assert 'save it as `example.py`\nin a folder outside the clone' in where, where
    assert command == 'python -m CaChannel.testing serve -- python example.py'
    (tmp_path / 'example.py').write_text(example)
    env = dict(os.environ)
    env.pop('CACHANNEL_BACKEND', None)
    result = run([sys.executable if word == 'python' else word for word in command.split()],
                 cwd=str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == '12.5', result.stdout
    assert 'Warning' not in result.stderr, result.stderr


def test_readme_says_how_to_reach_a_facilitys_iocs() -> None:
    section = readme_section("Reaching your facility's IOCs")
    for variable in ('EPICS_CA_ADDR_LIST', 'EPICS_CA_AUTO_ADDR_LIST'):
        assert 'export %s=' % variable in section, section
    assert '[docs/network.rst](docs/network.rst) ("Reaching IOCs")' in section, section
