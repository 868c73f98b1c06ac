"""Our caget/caput/camonitor/cainfo against EPICS base's own, byte for byte.

Base's tools are built once per test run from ``../shared/oracle`` (beside
the repository; ``build-base-tools.sh`` compiles them against this
interpreter's epicscorelibs libca).  Every case runs through both, one after
the other, against the same softIoc (tests/ioc/clitest.db), and must give
the same exit status, stdout and stderr once the time stamps of the run
itself are replaced: a stamp the IOC set at its start, an ``<undefined>``
stamp, every value and every space must be equal.

caput cases reset the PV before each of the two runs (with base's caput)
and compare what was written, read back by base's caget.  camonitor cases
run both monitors side by side, wait for the lines they must print and end
them with SIGINT, which both must die of.  A waveform of a million varied
doubles (written when the IOC starts) shows that every tool prints large
arrays in linear time and every element as base does; refused writes run on
a pseudo-terminal too, where the order of stdout and stderr shows.

The differences docs/tools.rst lists are the only ones accepted, each named
by the cases that show it: the help text (our own words, base's stream and
exit status) and the exit status of a write the server refused.  cainfo's
"Host:" may name the loopback server by address or by name on either side.

Without the oracle folder or a C compiler the module is skipped, saying why.
"""
from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from CaChannel.testing import SoftIoc
from helpers import TESTS, shared_folder
from helpers.ca_helpers import LOOPBACK_NAMES

ORACLE = shared_folder.require('oracle', 'build-base-tools.sh',
                                "our caget, caput, camonitor and cainfo against EPICS base's")
if shutil.which('cc') is None:
    pytest.skip("our tools against EPICS base's: not checked without a C compiler (cc) "
                "to build base's tools", allow_module_level=True)
CLITEST_DB = TESTS / 'ioc' / 'clitest.db'

# Names of the parity database.
AO, AI, LONG, BO, MBBO = 'cli:ao', 'cli:ai:alarm', 'cli:long', 'cli:bo', 'cli:mbbo'
STR, STRP, NEVER, DISABLED = 'cli:str', 'cli:str:plain', 'cli:never', 'cli:disabled'
LONGNAME = 'cli:a:name:that:is:longer:than:thirty:characters'
WD, WC, WU = 'cli:wave:double', 'cli:wave:char', 'cli:wave:uchar'
WL, WS, WSTR = 'cli:wave:long', 'cli:wave:short', 'cli:wave:string'
SCALARS = [AO, AI, LONG, BO, MBBO, STR, NEVER, LONGNAME]
ARRAYS = [WD, WC, WU, WL, WS, WSTR]
#: A million doubles: the tools print it in time linear in its length (a
#: quadratic tool times out), every element as base prints it.
BIG, PUT_BIG, BIG_COUNT = 'cli:wave:big', 'cli:put:big', 1000000

#: The run's own stamps: server or client clock, "Current Time:" of libca's
#: exception banner, and client-clock differences of camonitor -t c.
STAMP = re.compile(rb'()(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{6})')
BANNER_TIME = re.compile(rb'(Current Time: )(\w{3} \w{3} \d\d \d{4} \d\d:\d\d:\d\d)\.(\d{9})')
CLIENT_DIFF = re.compile(rb'\( *[+-]\d+\.\d{6}\)')
#: cainfo's server, which libca may name by address or by name (LOOPBACK_NAMES).
HOST_LINE = re.compile(rb'(    Host: +)(\S+)(:\d+\n)')
LOOPBACK = tuple(name.encode() for name in LOOPBACK_NAMES)


@dataclass
class Case:
    tool: str
    args: Tuple[str, ...]
    #: caput: (PV, base caput arguments that restore it), run before each run
    reset: Optional[Tuple[str, Tuple[str, ...]]] = None
    #: camonitor: lines each monitor prints before it is interrupted
    lines: int = 0
    #: a documented difference this case shows ('help', 'refused')
    difference: str = ''
    env: Tuple[Tuple[str, str], ...] = ()

    @property
    def client_clock(self) -> bool:
        """camonitor -t with c: the client's clock is printed."""
        for i, arg in enumerate(self.args):
            if arg.startswith('-t'):
                key = arg[2:] or (self.args[i + 1] if i + 1 < len(self.args) else '')
                if 'c' in key:
                    return True
        return False

    @property
    def id(self) -> str:
        text = ' '.join([self.tool] + [shlex.quote(arg) for arg in self.args])
        if self.env:
            text = ' '.join('%s=%s' % item for item in self.env) + ' ' + text
        return text


def caget(*args: str, **kw: object) -> Case:
    return Case('caget', args, **kw)  # type: ignore[arg-type]


def cainfo(*args: str, **kw: object) -> Case:
    return Case('cainfo', args, **kw)  # type: ignore[arg-type]


def camonitor(lines: int, *args: str, **kw: object) -> Case:
    return Case('camonitor', args, lines=lines, **kw)  # type: ignore[arg-type]


def caput(reset: Tuple[str, ...], *args: str, **kw: object) -> Case:
    pv = next(arg for arg in reset if not arg.startswith('-'))
    return Case('caput', args, reset=(pv, reset), **kw)  # type: ignore[arg-type]


def _caget_cases() -> List[Case]:
    cases = []
    for pv in SCALARS + ARRAYS:
        cases += [caget(pv), caget('-a', pv), caget('-t', pv), caget('-c', pv)]
    cases += [
        caget(STRP), caget(DISABLED, '-a'), caget(*SCALARS), caget('-t', *ARRAYS),
        caget('-a', '-c', *ARRAYS), caget('-ac', WU),
        # -d: names with and without DBR_, numbers, refused ones
        caget('-d', 'DBR_CTRL_DOUBLE', AO), caget('-d', 'CTRL_DOUBLE', AI),
        caget('-d', 'GR_DOUBLE', NEVER), caget('-d', '34', LONGNAME),
        caget('-d', 'DBR_CTRL_ENUM', MBBO), caget('-d', '24', BO), caget('-n', '-d', '31', MBBO),
        caget('-d', 'STS_ENUM', MBBO), caget('-d', 'TIME_ENUM', BO),
        caget('-d', 'CTRL_LONG', LONG), caget('-d', 'GR_SHORT', WS), caget('-d', 'CTRL_CHAR', WU),
        caget('-d', 'GR_CHAR', WC), caget('-d', 'CTRL_FLOAT', AO), caget('-d', 'TIME_STRING', STR),
        caget('-d', 'STS_STRING', WSTR), caget('-d', 'CTRL_STRING', STR), caget('-d', '0', AO),
        caget('-d', 'DBR_STSACK_STRING', AI), caget('-d', 'CLASS_NAME', AO, WL, STR),
        caget('-d', '38', WD), caget('-d', 'DOUBLE', WD), caget('-d', 'TIME_DOUBLE', '-#', '2', WD),
        caget('-d', 'STRING', '-c', WL), caget('-d', 'CTRL_SHORT', '-0x', WL),
        caget('-d', 'DBR_INT', AO), caget('-d', 'bogus', AO), caget('-d', '35', AO),
        caget('-d', '99', AO), caget('-d', '-1', AO), caget('-d', '7x', AO),
        caget('-d', 'LONG', '-S', WC), caget('-d', 'CHAR', '-S', '-#', '3', WC),
        # mutually exclusive layouts
        caget('-t', '-a', AO), caget('-a', '-d', 'DOUBLE', AO), caget('-d', 'x', '-t', AO),
        # enums, arrays, char strings
        caget('-n', MBBO, BO), caget('-n', '-a', MBBO), caget('-S', WC), caget('-S', WU),
        caget('-S', '-a', WC), caget('-t', '-S', '-c', WC), caget('-S', AO), caget('-S', '-#', '1', WC),
        caget('-#', '2', WD), caget('-#', '0', WL), caget('-#', '-1', AO), caget('-#', '20', WS),
        caget('-#', 'x', WD), caget('-c', '-#', '3', WL), caget('-c', '-#', '9', WSTR),
        caget('-a', '-#', '3', WD),
        # floating point and integer formats
        caget(BIG), caget('-a', '-e', '4', BIG), caget('-t', '-g', '17', '-F,', BIG),
        caget('-lx', '-f', '1', BIG), caget('-c', '-f', '0', BIG),
        caget('-e', '3', AO, WD), caget('-f', '0', AO), caget('-g', '12', AO), caget('-f18', AI),
        caget('-f', '19', AO), caget('-e', '-1', AO), caget('-g', 'x', AO), caget('-s', AO, AI),
        caget('-s', '-a', WD), caget('-lx', AO, WD), caget('-lo', AI), caget('-lb', '-a', WD),
        caget('-lq', AO), caget('-0x', LONG, WL), caget('-0o', WS), caget('-0b', WL, LONG),
        caget('-0b', '-n', MBBO), caget('-0z', LONG),
        # separators
        caget('-F,', WD), caget('-F', ';', '-a', AO, WL), caget('-F', ':', '-t', WSTR),
        caget('-F', '|', AO), caget('-F', 'xyz', '-d', 'DOUBLE', WD),
        # timeouts, priorities, argument errors
        caget('-w', 'abc', AO), caget('-w', '2', AO), caget('-w', '1e-9', AO),
        caget('-p', '10', AO), caget('-p', 'high', AO), caget('-p', '150', AO),
        caget('-V'), caget('-x', AO), caget('-w'), caget(), caget('-t'), caget('--help'),
        caget('-h', difference='help'), caget('-i', AO, difference='help'),
        # missing PVs: base prints none of the others
        caget('-w', '0.2', 'no:such:pv'), caget('-w', '0.2', AO, 'no:such:pv'),
        caget('-w', '0.2', '-c', '-a', 'no:such:pv', 'nor:this'), caget(''),
        # options after names, "--", POSIXLY_CORRECT
        caget(AO, '-t'), caget(WD, '-F', ',', '-#', '2'), caget('-t', '--', AO),
        caget('-w', '0.2', '--', '-t'),
        caget('-w', '0.2', AO, '-t', env=(('POSIXLY_CORRECT', '1'),)),
        caget(AO, env=(('EPICS_CLI_TIMEOUT', 'soon'),)),
        caget('-w', '3', AO, env=(('EPICS_CLI_TIMEOUT', ''),)),
        caget('-w', 'x', AO, env=(('EPICS_CLI_TIMEOUT', '0.5'),)),
    ]
    return cases


def _caput_cases() -> List[Case]:
    ao = ('cli:put:ao', '0')
    mbbo = ('-n', 'cli:put:mbbo', '0')
    wave = ('-a', 'cli:put:wave', '2', '1', '2')
    string = ('cli:put:str', 'start')
    char = ('-S', 'cli:put:char', 'ok')
    strwave = ('-a', 'cli:put:strwave', '1', 'a')
    long_ = ('cli:put:long', '0')
    big = ('-a', PUT_BIG, '2', '1', '2')
    return [
        caput(ao, 'cli:put:ao', '12.5'), caput(ao, '-t', 'cli:put:ao', '3'),
        caput(ao, '-l', 'cli:put:ao', '4'), caput(ao, 'cli:put:ao', '-5'),
        caput(ao, 'cli:put:ao', '0x10'), caput(ao, 'cli:put:ao', ' 7 '),
        caput(ao, '-c', 'cli:put:ao', '7'), caput(ao, '-c', '-t', 'cli:put:ao', '8.25'),
        caput(ao, '-a', 'cli:put:ao', '2', '1', '2'), caput(ao, '-a', 'cli:put:ao', '1', '9'),
        caput(ao, '-a', 'cli:put:ao', '5', '9'), caput(ao, '-n', 'cli:put:ao', '3'),
        caput(ao, '-s', 'cli:put:ao', '3'), caput(ao, '-S', 'cli:put:ao', '3'),
        caput(ao, '-F,', '-l', 'cli:put:ao', '6'), caput(ao, '-p', '20', 'cli:put:ao', '1'),
        caput(ao, '-#', 'x', 'cli:put:ao', '1'), caput(ao, '-#', '3', 'cli:put:ao', '2'),
        caput(ao, '-w', 'abc', 'cli:put:ao', '2'),
        caput(ao, 'cli:put:ao', 'Bogus', difference='refused'),
        caput(ao, 'cli:put:ao', '1e400', difference='refused'),
        caput(ao, 'cli:put:ao', '-x', difference='refused'),
        caput(('cli:disabled', '5'), 'cli:disabled', '3', difference='refused'),
        caput(('cli:disabled', '5'), '-c', 'cli:disabled', '3'),
        caput(ao, 'cli:put:ao'), caput(ao), caput(ao, '-x', 'cli:put:ao', '1'), caput(ao, '-w'),
        caput(ao, '-w', '0.2', 'no:such:pv', '1'), caput(ao, '-V'),
        caput(ao, '-h', difference='help'),
        # enums: state strings, joined words, numbers, -n and -s
        caput(mbbo, 'cli:put:mbbo', 'One'), caput(mbbo, 'cli:put:mbbo', 'Two', 'Words'),
        caput(mbbo, 'cli:put:mbbo', 'Two Words'), caput(mbbo, 'cli:put:mbbo', '2'),
        caput(mbbo, 'cli:put:mbbo', '7'), caput(mbbo, 'cli:put:mbbo', 'Bogus'),
        caput(mbbo, '-n', 'cli:put:mbbo', '1x'), caput(mbbo, '-n', 'cli:put:mbbo', 'One'),
        caput(mbbo, '-s', 'cli:put:mbbo', '1'), caput(mbbo, '-s', 'cli:put:mbbo', 'One'),
        caput(mbbo, '-c', '-l', 'cli:put:mbbo', 'Two Words'), caput(mbbo, '-n', '-t', 'cli:put:mbbo', '2'),
        caput(('-n', 'cli:put:bo', '0'), 'cli:put:bo', 'On'),
        caput(('-n', 'cli:put:bo', '0'), '-l', 'cli:put:bo', '1'),
        # arrays: counts that differ from the values given, none, too many
        caput(wave, '-a', 'cli:put:wave', '3', '1', '2', '3'),
        caput(wave, '-a', 'cli:put:wave', '9', '4', '5'), caput(wave, '-a', 'cli:put:wave', '0'),
        caput(wave, '-a', 'cli:put:wave', '7', '1', '2', '3', '4', '5', '6', '7'),
        caput(wave, '-a', '-t', '-F,', 'cli:put:wave', '2', '-1', '1e3'),
        caput(wave, 'cli:put:wave', '8'), caput(wave, '-l', '-a', 'cli:put:wave', '1', '2.5'),
        caput(big, '-a', PUT_BIG, '3', '1.5', '-2', '3e-7'),
        caput(big, '-l', '-a', '-F,', PUT_BIG, '2', '4', '-5'),
        caput(strwave, '-a', 'cli:put:strwave', '2', 'x', 'y z'),
        caput(strwave, '-a', '-l', 'cli:put:strwave', '3', 'a', 'b', 'c'),
        # strings: joined words, 39-byte limit, escapes
        caput(string, 'cli:put:str', 'a', 'b', 'c'),
        caput(string, 'cli:put:str', '0123456789012345678901234567890123456789XYZ'),
        caput(string, 'cli:put:str', r'tab\there \x41\x4 \q'),
        caput(string, 'cli:put:str', r'quote\" \\ end\\'), caput(string, '-t', 'cli:put:str', r'\xff\x01'),
        # char arrays as strings
        caput(char, '-S', 'cli:put:char', r'ab\x41\n'), caput(char, '-S', 'cli:put:char', 'abcdefghijklmnop'),
        caput(char, '-S', '-t', 'cli:put:char', 'two', 'words'), caput(char, 'cli:put:char', '65'),
        caput(char, '-S', '-l', 'cli:put:char', 'hi'), caput(char, '-a', '-S', 'cli:put:char', 'hi'),
        caput(char, '-S', '-a', 'cli:put:char', '2', '72', '73'),
        caput(long_, 'cli:put:long', '2147483648', difference='refused'),
        caput(long_, '-l', '-F', '|', 'cli:put:long', '5'),
        caput(long_, 'cli:put:long', '1.9'),
        caput(('cli:put:slow', '0'), '-c', 'cli:put:slow', '4'),
        caput(ao, 'cli:put:ao', '-5', env=(('POSIXLY_CORRECT', '1'),)),
        caput(ao, 'cli:put:ao', '2', env=(('EPICS_CLI_TIMEOUT', 'x'),)),
    ]


def _camonitor_cases() -> List[Case]:
    return [
        camonitor(1, AO), camonitor(3, AO, WC, NEVER), camonitor(1, LONGNAME),
        camonitor(2, '-w', '0.3', AO, 'no:such:pv'), camonitor(1, '-w', '0.3', 'no:such:pv'),
        camonitor(2, '-tsr', AO, LONG), camonitor(2, '-tsi', AO, LONG), camonitor(2, '-t', 'sI', AO, LONG),
        camonitor(1, '-tn', AO), camonitor(1, '-t', '', AO), camonitor(1, '-t', 'cx', AO),
        camonitor(2, '-tcsr', AO, LONG), camonitor(1, '-m', 'x', AO), camonitor(1, '-m', 'l', AO),
        camonitor(1, '-m', 'vp', AI), camonitor(1, '-S', WC), camonitor(1, '-S', '-#', '3', WU),
        camonitor(1, '-#', '3', WL), camonitor(1, '-#', 'x', WL), camonitor(1, '-#', '0', WD),
        camonitor(2, '-n', '-0x', MBBO, LONG), camonitor(1, '-F,', AI), camonitor(1, '-s', AO),
        camonitor(1, '-e', '2', '-lx', AO), camonitor(1, '-f', '2', WD), camonitor(1, '-0b', WS),
        camonitor(1, BIG), camonitor(1, '-g', '3', '-#', '500000', BIG),
        camonitor(1, '-p', '5', STR), camonitor(1, '-w', 'soon', BO), camonitor(1, AO, '-n'),
        camonitor(0), camonitor(0, '-x', AO), camonitor(0, '-t'), camonitor(0, '-V'),
        camonitor(0, '-h', difference='help'),
    ]


def _cainfo_cases() -> List[Case]:
    return [
        cainfo(AO), cainfo(WC, MBBO, STR, WSTR), cainfo(LONGNAME, NEVER),
        cainfo('-w', '0.2', 'no:such:pv'), cainfo('-w', '0.2', AO, 'no:such:pv'),
        cainfo('-p', '99', AO), cainfo('-p', 'x', AO), cainfo('-w', 'x', AO), cainfo('-s', 'x', AO),
        cainfo(), cainfo('-x'), cainfo('-s'), cainfo('-V'), cainfo(AO, '-w', '2'),
        cainfo('-h', difference='help'), cainfo('-n', AO, difference='help'),
    ]


CASES = _caget_cases() + _caput_cases() + _camonitor_cases() + _cainfo_cases()

#: Run on the cffi backend as well: a bit of every tool, and every case of
#: the large arrays.
CAFFI_CASES = [case for case in CASES if case.tool != 'caget'][::9] + \
    [case for case in CASES if case.tool == 'caget'][::12]
CAFFI_CASES += [case for case in CASES if case not in CAFFI_CASES
                and {BIG, PUT_BIG} & set(case.args)]


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('base-tools')
    built = subprocess.run(['bash', str(ORACLE / 'build-base-tools.sh'), str(out), sys.executable],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip('base tools did not build: %s' % (built.stderr.strip() or built.stdout))
    return out


@pytest.fixture(scope='module')
def parity_ioc(oracle: Path) -> Iterator[SoftIoc]:
    # Its own server port, the session's repeater: only this IOC answers.
    softioc = SoftIoc(CLITEST_DB, env={'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']},
                      ready_pvs=['cli:ao', 'cli:put:slow'])
    softioc.start()
    try:
        fill_big(softioc)
        yield softioc
    finally:
        softioc.stop()


#: Writes varied doubles to the big waveform: the values %g, %e and %f
#: print in every shape (exponents from -30 to 30, rounding ties, signed
#: zeros and NaNs, infinities, the smallest and largest doubles).
FILL = r"""
import math, sys
from CaChannel import ca
name, count = sys.argv[1], int(sys.argv[2])
special = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, 1.7976931348623157e308,
           123456.5, 0.5, 1.5, 2.5, -2.5, 1e15, 2.0 ** 53 + 2, 2147483647.5, -2147483648.6]
values = [math.sin(i) * 10.0 ** (i % 61 - 30) for i in range(count)]
values[:len(special)] = special
ca.create_context(False)
status, chid = ca.create_channel(name)
assert ca.pend_io(10) == ca.ECA_NORMAL, 'no channel ' + name
assert ca.put(chid, values) == ca.ECA_NORMAL
# Requests on a circuit are served in order: this read comes after the write.
status, handle = ca.get(chid, ca.DBR_DOUBLE, count)
assert ca.pend_io(30) == ca.ECA_NORMAL
assert handle.get()[-1] == values[-1]
"""


def fill_big(ioc: SoftIoc) -> None:
    env = dict(os.environ, **ioc.environ)
    done = subprocess.run([sys.executable, '-c', FILL, BIG, str(BIG_COUNT)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, 'filling %s failed:\n%s' % (BIG, done.stderr)


@pytest.fixture(scope='module')
def tools(oracle: Path, parity_ioc: SoftIoc) -> 'Tools':
    return Tools(oracle, parity_ioc)


@pytest.fixture(scope='module')
def results(tools: 'Tools') -> Dict[Tuple[str, str], Tuple[object, object]]:
    """Every case's (base, ours), computed up front three at a time.

    Cases that only read run in any order; caput cases run one after the
    other per PV, since each resets and reads back its PV.
    """
    groups: Dict[str, List[Tuple[Case, str]]] = {}
    jobs: List[List[Tuple[Case, str]]] = []
    for backend, cases in (('c', CASES), ('caffi', CAFFI_CASES)):
        for case in cases:
            if case.reset:
                groups.setdefault(case.reset[0], []).append((case, backend))
            else:
                jobs.append([(case, backend)])
    # The longest groups first, so that they do not finish last.
    jobs = sorted(groups.values(), key=len, reverse=True) + jobs

    def run(job: List[Tuple[Case, str]]) -> List[Tuple[object, object]]:
        done = []
        for case, backend in job:
            if case.tool == 'camonitor':
                done.append(tuple(tools.monitor(case, backend)))
            else:
                done.append((tools.run(case, False, backend), tools.run(case, True, backend)))
        return done  # type: ignore[return-value]

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(run, jobs))
    return {(case.id, backend): outcome
            for job, job_outcomes in zip(jobs, outcomes)
            for (case, backend), outcome in zip(job, job_outcomes)}


class Tools:
    """Runs a case through base's tool and through ours."""

    def __init__(self, oracle: Path, ioc: SoftIoc) -> None:
        self.oracle = oracle
        self.env = dict(os.environ)
        self.env.update(ioc.environ)
        for name in ('EPICS_CLI_TIMEOUT', 'POSIXLY_CORRECT'):
            self.env.pop(name, None)

    def command(self, tool: str, ours: bool) -> List[str]:
        if not ours:
            return [str(self.oracle / tool)]
        script = Path(sys.executable).parent / tool
        if script.exists():
            return [str(script)]
        return [sys.executable, '-m', 'CaChannel', tool]

    def environ(self, case: Case, backend: str) -> Dict[str, str]:
        env = dict(self.env, CACHANNEL_BACKEND=backend)
        env.update(case.env)
        return env

    def base(self, tool: str, *args: str) -> bytes:
        """Run base's tool for the test's own reads and resets."""
        return subprocess.run(self.command(tool, False) + list(args), env=self.env,
                              capture_output=True, timeout=30).stdout

    def run(self, case: Case, ours: bool, backend: str) -> Tuple[int, bytes, bytes, bytes]:
        """(status, stdout, stderr, what the PV holds afterwards), stamps of this run replaced."""
        start = time.time() - 0.01
        if case.reset:
            self.base('caput', *case.reset[1])
        env = self.environ(case, backend)
        if case.tool == 'camonitor':
            raise AssertionError('camonitor cases run side by side')
        done = subprocess.run(self.command(case.tool, ours) + list(case.args), env=env,
                              capture_output=True, timeout=60)
        # -c shows an array's current length; -w 0.25 returns as soon as it came.
        held = self.base('caget', '-w', '0.25', '-a', '-c', case.reset[0]) if case.reset else b''
        end = time.time() + 0.01
        return (done.returncode,) + tuple(normalise(text, start, end, case)
                                          for text in (done.stdout, done.stderr, held))  # type: ignore

    def on_terminal(self, case: Case, ours: bool, backend: str) -> Tuple[int, bytes]:
        """(status, what a terminal shows): stdout and stderr on one pseudo-terminal,
        where C's stdout is line-buffered and stderr is not."""
        start = time.time() - 0.01
        if case.reset:
            self.base('caput', *case.reset[1])
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen(self.command(case.tool, ours) + list(case.args),
                                    env=self.environ(case, backend), stdin=subprocess.DEVNULL,
                                    stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        shown = bytearray()
        deadline = time.monotonic() + 30   # a hang detector, not a timing check
        try:
            while time.monotonic() < deadline:
                if not select.select([master], [], [], 1.0)[0]:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:   # EIO: the tool closed its side
                    break
                if not chunk:
                    break
                shown.extend(chunk)
        finally:
            os.close(master)
        status = proc.wait(timeout=30)
        return status, normalise(bytes(shown), start, time.time() + 0.01, case)

    def monitor(self, case: Case, backend: str, action: Optional[object] = None
                ) -> List[Tuple[int, bytes, bytes]]:
        """Both camonitors side by side, interrupted once each printed its lines."""
        start = time.time() - 0.01
        procs = [subprocess.Popen(self.command('camonitor', ours) + list(case.args),
                                  env=self.environ(case, backend), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
                 for ours in (False, True)]
        outs = [bytearray(), bytearray()]
        for proc in procs:
            os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]

        def collect() -> None:
            for proc, out in zip(procs, outs):
                data = proc.stdout.read()  # type: ignore[union-attr]
                if data:
                    out.extend(data)

        def wait_lines(count: int) -> None:
            deadline = time.monotonic() + 20   # a hang detector, not a timing check
            while time.monotonic() < deadline:
                collect()
                if all(out.count(b'\n') >= count or proc.poll() is not None
                       for out, proc in zip(outs, procs)):
                    return
                time.sleep(0.02)

        if case.lines:
            wait_lines(case.lines)
            if callable(action):
                action(wait_lines)
            # Anything more would come now: the monitored records are static.
            time.sleep(0.2)
            collect()
        results = []
        for proc, out in zip(procs, outs):
            if case.lines and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            rest, err = proc.communicate(timeout=20)
            end = time.time() + 0.01
            results.append((proc.returncode, normalise(bytes(out) + rest, start, end, case),
                            normalise(err, start, end, case)))
        return results


def normalise(text: bytes, start: float, end: float, case: Case) -> bytes:
    """Replace the stamps that fall into this run (start..end), and only those."""
    def replace(match: 're.Match[bytes]', fmt: str) -> bytes:
        whole, fraction = match.group(2).decode(), float(b'0.' + match.group(3))
        seconds = time.mktime(time.strptime(whole, fmt)) + fraction
        return match.group(1) + b'<now>' if start <= seconds <= end else match.group()

    text = STAMP.sub(lambda m: replace(m, '%Y-%m-%d %H:%M:%S'), text)
    text = BANNER_TIME.sub(lambda m: replace(m, '%a %b %d %Y %H:%M:%S'), text)
    if case.client_clock:
        text = CLIENT_DIFF.sub(b'(<client clock>)', text)
    text = HOST_LINE.sub(lambda m: m.group(1) + b'<loopback>' + m.group(3)
                         if m.group(2) in LOOPBACK else m.group(), text)
    return text


# --- the comparisons -------------------------------------------------------------------------

def compare(case: Case, base: Sequence[object], ours: Sequence[object]) -> None:
    if case.difference == 'help':
        # Our own words, on base's stream (stderr) with base's exit status.
        assert ours[0] == base[0]
        assert ours[1] == base[1] == b''
        usage = b'\nUsage: %s ' % case.tool.encode()
        assert base[2].startswith(usage) and ours[2].startswith(usage), ours[2]  # type: ignore
        return
    if case.difference == 'refused':
        # Base exits 0 although the server refused the write; ours exits 1.
        assert (base[0], ours[0]) == (0, 1)
        assert list(ours[1:]) == list(base[1:])
        return
    assert list(ours) == list(base)


def test_enough_cases() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize('case', [case for case in CASES if case.tool != 'camonitor'],
                         ids=lambda case: case.id)
def test_same_as_base(tools: Tools, results: dict, case: Case) -> None:
    base, ours = results[case.id, 'c']
    compare(case, base, ours)  # type: ignore[arg-type]


@pytest.mark.parametrize('case', [case for case in CASES if case.tool == 'camonitor'],
                         ids=lambda case: case.id)
def test_camonitor_same_as_base(tools: Tools, results: dict, case: Case) -> None:
    base, ours = results[case.id, 'c']
    if case.lines:
        assert base[0] == -signal.SIGINT, base
    compare(case, base, ours)


@pytest.mark.parametrize('case', CAFFI_CASES, ids=lambda case: case.id)
def test_same_as_base_on_caffi(tools: Tools, results: dict, case: Case) -> None:
    base, ours = results[case.id, 'caffi']
    compare(case, base, ours)  # type: ignore[arg-type]


def test_camonitor_updates(tools: Tools) -> None:
    """Updates written while both monitor: the same lines, stamps of the run replaced."""
    case = camonitor(1, '-F', ',', 'cli:put:long')
    tools.base('caput', 'cli:put:long', '0')

    def write(wait_lines: object) -> None:
        for number, value in enumerate(('11', '-7', '7')):
            tools.base('caput', 'cli:put:long', value)
            wait_lines(number + 2)  # type: ignore[operator]

    base, ours = tools.monitor(case, 'c', write)
    assert base[1].count(b'\n') == 4, base
    compare(case, base, ours)


def test_camonitor_disconnect(tools: Tools, oracle: Path) -> None:
    """An IOC that goes away: both print the "*** disconnected" line with a stamp."""
    db = 'record(ao, "cli:gone") {\n    field(VAL, "3")\n    field(PINI, "YES")\n}\n'
    gone = SoftIoc(db, env={'EPICS_CA_REPEATER_PORT': os.environ['EPICS_CA_REPEATER_PORT']},
                   ready_pvs=['cli:gone'])
    gone.start()
    try:
        case = camonitor(1, 'cli:gone')
        local = Tools(oracle, gone)

        def stop(wait_lines: object) -> None:
            gone.stop()
            wait_lines(2)  # type: ignore[operator]

        base, ours = local.monitor(case, 'c', stop)
    finally:
        gone.stop()
    assert b'*** disconnected' in base[1], base
    compare(case, base, ours)


#: Refused writes, where libca's exception banner comes while caput reads
#: the PV back.
TERMINAL_CASES = [
    caput(('cli:disabled', '5'), 'cli:disabled', '3', difference='refused'),
    caput(('cli:put:ao', '0'), 'cli:put:ao', 'Bogus', difference='refused'),
    caput(('cli:disabled', '5'), '-l', 'cli:disabled', '3', difference='refused'),
]


def banner_apart(shown: bytes) -> Tuple[List[bytes], List[bytes]]:
    """(the lines a terminal shows that are not libca's exception banner,
    the banner's lines); a banner that landed inside another line leaves
    that line unlike base's.

    Base's libca prints the banner through errlog's own thread, so its lines
    may come before, after or around caput's "New : ..." line, as the two
    threads run: where they fall among whole lines is not compared.
    """
    lines = shown.split(b'\r\n')
    in_banner = [line.startswith((b'CA.Client.Exception', b'    ')) or
                 (line != b'' and not line.strip(b'.')) for line in lines]
    assert sum(line.startswith(b'CA.Client.Exception') for line in lines) == 1, shown
    return ([line for line, banner in zip(lines, in_banner) if not banner],
            [line for line, banner in zip(lines, in_banner) if banner])


@pytest.mark.parametrize('case', TERMINAL_CASES, ids=lambda case: case.id)
def test_same_on_a_terminal(tools: Tools, case: Case, backend: str) -> None:
    """What a user sees: the banner between the lines, never inside "New : ..."."""
    base = tools.on_terminal(case, False, backend)
    ours = tools.on_terminal(case, True, backend)
    assert b'\nNew : ' in base[1], base
    assert (base[0], ours[0]) == (0, 1)   # the documented difference
    assert banner_apart(ours[1]) == banner_apart(base[1]), (base[1], ours[1])
