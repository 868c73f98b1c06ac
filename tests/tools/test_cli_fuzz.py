"""Malformed command lines for every console tool: base's messages, never a traceback.

Hypothesis builds argument lists from each tool's option letters (and
letters no tool knows), option arguments that are numbers, garbage, empty,
out of range or not ASCII, PV names that exist, do not or cannot, and caput
values of every kind.  Each list runs through the tool in-process, against
a softIoc of its own (tests/ioc/clitest.db, so nothing the rest of the
suite reads is written), and must

* return 0 or 1, the statuses base's tools return;
* raise nothing (an exception would be the traceback of the console script);
* print on stderr only lines base's tools print (their messages, the help
  text, libca's exception banner).

A few lists also go through the installed console scripts, which must not
print a traceback either.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from CaChannel.cli.tool import Output, as_bytes
from CaChannel.testing import SoftIoc
from helpers import TESTS

CLITEST_DB = TESTS / 'ioc' / 'clitest.db'

LETTERS = {
    'caget': 'taicnhsSVe:f:g:l:#:d:0:w:p:F:',
    'caput': 'cnlhatsVS#:w:p:F:',
    'camonitor': 'nhVm:sSe:f:g:l:#:0:w:t:p:F:',
    'cainfo': 'nhVw:s:p:',
}
STRANGE_LETTERS = ['x', 'Z', '?', ':', '-', '\u00e9', ' ']
OPTION_ARGS = ['', '0', '1', '-1', '3', '18', '19', '99999999999999999999', 'abc', 'x', 'o', 'b',
               'DBR_DOUBLE', 'CTRL_ENUM', 'INT', '38', '35', 'va', 'vlap', 'q', 'sIcr', 'nan',
               '1e400', '\t', '\u00e9', r'\x41', ',', '-', '--', ' 5 ', '0x1p3']
#: -w arguments that keep a run short (0 waits for good, as in base).
SHORT_WAITS = ['', 'abc', '-1', 'nan', '0.1', '1e400', 'x', '\t', '-', '--']
PV_NAMES = ['cli:ao', 'cli:mbbo', 'cli:wave:char', 'cli:wave:string', 'cli:never',
            'cli:put:ao', 'cli:put:mbbo', 'cli:put:char', 'cli:put:strwave', 'cli:disabled',
            'no:such:pv', '', 'x' * 300, 'a b', '\u00e9t\u00e9']
VALUES = ['1', 'One', 'Bogus', '1e400', '-5', '', '\\', r'\x', '\u00e9', '0x10', 'nan', 'inf',
          '3', 'Two Words', 'a' * 60, '-a', '--', r'\"']

#: Every line base's tools may print on stderr for these arguments.
STDERR_LINE = re.compile('|'.join([
    r"Unrecognized option: '-.'\. \('\w+ -h' for help\.\)",
    r"Option '-.' requires an argument\. \('\w+ -h' for help\.\)",
    r"No pv name specified\. \('\w+ -h' for help\.\)",
    r"No value specified\. \('caput -h' for help\.\)",
    r"'.*' is not a valid (timeout value|array element count|CA priority|interest level) .*",
    r"Invalid (precision )?argument '.*' for option '-.' - ignored\.",
    r"Precision -?\d+ for option '-.' out of range - ignored\.",
    r"Options t,d,a are mutually exclusive\. \('caget -h' for help\.\)",
    r"Requested dbr type out of range or invalid - ignored\. \('caget -h' for help\.\)",
    r"Channel connect timed out: ('.*' not found|some PV\(s\) not found)\.",
    r"CA error .* occurred while trying to create channel '.*'\.",
    r"Read operation timed out: .*",
    r"Write operation timed out: Data was not written\.",
    r"Write callback operation timed out",
    r"Enum (string|index) value '.*' (invalid|is not a number)\.",
    r"Warning: enum index value '.*' may be too large\.",
    r"\x1b\[31;1mERROR\x1b\[0m (from put operation|occured writing data): .*",
    r"CA\.Client\.Exception\.+", r"    (Warning|Error|Info|Fatal|Success): \".*\"",
    r"    (Context|Source File|Current Time): .*", r"\.+",
]), re.DOTALL)


def tool_class(name: str) -> type:
    from CaChannel import cli
    return cli._tool_class(name)


def allowed_stderr(text: str, tool: str) -> List[str]:
    """The stderr lines that are not base-style (an empty list is good)."""
    if '\nUsage: %s ' % tool in text:
        text = text.split('\nUsage: ', 1)[0]   # the help text ends the output
    return [line for line in text.splitlines() if line and not STDERR_LINE.fullmatch(line)]


@pytest.fixture(scope='module')
def fuzz_ioc() -> Iterator[SoftIoc]:
    softioc = SoftIoc(CLITEST_DB, env={'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']},
                      ready_pvs=['cli:ao'])
    softioc.start()
    try:
        yield softioc
    finally:
        softioc.stop()


@pytest.fixture()
def at_fuzz_ioc(fuzz_ioc: SoftIoc, monkeypatch: pytest.MonkeyPatch) -> Iterator[SoftIoc]:
    # The tools create a CA context per call, which reads the environment
    # then: point it at this module's IOC only, for this test's duration.
    for key in ('EPICS_CA_ADDR_LIST', 'EPICS_CA_SERVER_PORT'):
        monkeypatch.setenv(key, fuzz_ioc.environ[key])
    for key in ('EPICS_CLI_TIMEOUT', 'POSIXLY_CORRECT'):
        monkeypatch.delenv(key, raising=False)
    yield fuzz_ioc


def option_items(tool: str) -> st.SearchStrategy[List[str]]:
    spec = LETTERS[tool]
    takes = {spec[i] for i in range(len(spec) - 1) if spec[i + 1] == ':'}
    letters = [c for c in spec if c != ':'] + STRANGE_LETTERS
    # -h and -V end a run at once: keep them rare so the rest gets tried.
    letters = [c for c in letters if c not in 'hV']

    def item(letter: str, arg: str, glued: bool) -> List[str]:
        if letter not in takes:
            return ['-' + letter]
        if letter == 'w' and arg not in SHORT_WAITS:
            arg = 'abc'
        return ['-' + letter + arg] if glued and arg else ['-' + letter, arg]

    return st.builds(item, st.sampled_from(letters), st.sampled_from(OPTION_ARGS), st.booleans())


def argument_lists(tool: str) -> st.SearchStrategy[List[str]]:
    options = st.lists(option_items(tool), max_size=5).map(lambda items: sum(items, []))
    names = st.lists(st.sampled_from(PV_NAMES), max_size=3)
    values = st.lists(st.sampled_from(VALUES), max_size=4)
    rare = st.sampled_from([[], [], [], [], [], [], [], [], ['-h'], ['-V'], ['--']])
    if tool == 'caput':
        # Options end at the PV name; a short -w first keeps runs quick
        # (a later -w from the list may still change it).
        return st.builds(lambda o, r, n, v: ['-w', '0.2'] + o + r + n + v,
                         options, rare, names, values)
    # Options may follow names; the last -w wins, so the run stays short.
    return st.builds(lambda o, r, n, o2: o + r + n + o2 + ['-w', '0.2'],
                     options, rare, names, options)


def run_in_process(tool: str, args: List[str]) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    instance = tool_class(tool)(Output(out, out), Output(err, err))
    timer = threading.Timer(0.4, instance.stop.set)   # camonitor runs until stopped
    timer.start()
    try:
        status = instance.run(as_bytes(args))
    finally:
        timer.cancel()
    return status, out.getvalue(), err.getvalue()


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def check(tool: str, args: List[str]) -> None:
    status, out, err = run_in_process(tool, args)
    assert status in (0, 1), (args, status, err)
    assert allowed_stderr(err, tool) == [], (args, err)


@FUZZ
@given(args=argument_lists('caget'))
def test_caget_fuzz(at_fuzz_ioc: SoftIoc, args: List[str]) -> None:
    check('caget', args)


@FUZZ
@given(args=argument_lists('caput'))
def test_caput_fuzz(at_fuzz_ioc: SoftIoc, args: List[str]) -> None:
    check('caput', args)


@FUZZ
@given(args=argument_lists('camonitor'))
def test_camonitor_fuzz(at_fuzz_ioc: SoftIoc, args: List[str]) -> None:
    check('camonitor', args)


@FUZZ
@given(args=argument_lists('cainfo'))
def test_cainfo_fuzz(at_fuzz_ioc: SoftIoc, args: List[str]) -> None:
    check('cainfo', args)


def test_known_messages_are_recognised() -> None:
    # The checker itself: base's messages pass, a traceback does not.
    assert allowed_stderr("Unrecognized option: '-x'. ('caget -h' for help.)\n", 'caget') == []
    assert allowed_stderr('Traceback (most recent call last):\n', 'caget') != []


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tool=st.sampled_from(sorted(LETTERS)), data=st.data())
def test_console_scripts_never_print_a_traceback(at_fuzz_ioc: SoftIoc, tool: str,
                                                 data: st.DataObject) -> None:
    args = data.draw(argument_lists(tool))
    if tool == 'camonitor':
        # -V ends it before it would monitor for good, unless a '--' made
        # -V a PV name (base's camonitor then waits for it for ever too).
        args = [arg for arg in args if arg != '--'] + ['-V']
    script = Path(sys.executable).parent / tool
    command = [str(script)] if script.exists() else [sys.executable, '-m', 'CaChannel', tool]
    # Base's messages quote the argument's bytes as given, UTF-8 or not.
    done = subprocess.run(command + args, capture_output=True, text=True,
                          errors='surrogateescape', timeout=60, env=dict(os.environ))
    assert 'Traceback' not in done.stderr, (args, done.stderr)
    assert done.returncode in (0, 1), (args, done.returncode, done.stderr)
