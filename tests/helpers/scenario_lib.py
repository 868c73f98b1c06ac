"""Common ground of the reliability scripts in ``tests/scripts/`` and their tests.

The scripts run in subprocesses because what they test (an IOC killed under
the client, interpreter exit, fork, a client address list naming extra
ports) concerns a whole process, and because libca reads its address list
once per process.  Each script prints one line ``RESULT {json}`` that the
test parses; anything else on stdout/stderr is kept for the failure report.

Tests call :func:`run_script`, which always has a deadline: on timeout the
script's whole process group is killed (IOCs the script started follow,
since their stdin pipe closes) and the test fails with the output so far.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from helpers import TESTS

#: The scripts' folder.
SCRIPTS = TESTS / 'scripts'
CATEST_DB = TESTS / 'ioc' / 'catest.db'

#: Set to run the full-length soaks instead of the short CI versions.
SOAK = os.environ.get('CACHANNEL_SOAK', '') not in ('', '0')

RESULT_TAG = 'RESULT '

#: What must never show on a scenario's stderr: crashes, aborts, C++ and
#: assertion failures, exceptions Python could only print.
BAD_TEXT = re.compile(r'Fatal Python error|Segmentation fault|Aborted|core dumped|'
                      r'std::|terminate called|Assertion|SystemError|'
                      r'Exception ignored|pthread_\w+ failed', re.IGNORECASE)


# --- in the scripts ----------------------------------------------------------

def emit(**result: Any) -> None:
    """Print the script's one result line."""
    print(RESULT_TAG + json.dumps(result, default=str), flush=True)


def load_backend(name: str) -> Any:
    from CaChannel import ca
    return ca.load_backend(name)


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.01,
             ca: Any = None) -> bool:
    """Poll *predicate* until it holds or *timeout* seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return predicate()
        if ca is not None:
            ca.pend_event(poll)
        else:
            time.sleep(poll)


class Events:
    """A callback that records the dicts it is called with, from any thread."""

    def __init__(self) -> None:
        self.items: list = []
        self.lock = threading.Lock()

    def __call__(self, args: dict) -> None:
        with self.lock:
            self.items.append(args)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.items)

    def __len__(self) -> int:
        with self.lock:
            return len(self.items)

    def ops(self, op: Any) -> int:
        """How many of a connection callback's calls reported *op*."""
        with self.lock:
            return sum(1 for args in self.items if args['op'] == op)


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def ioc_ports() -> Dict[str, str]:
    """The repeater port of this process's loopback environment, so IOCs
    started by a script send their beacons where its client listens."""
    keys = ('EPICS_CA_REPEATER_PORT',)
    return {key: os.environ[key] for key in keys if key in os.environ}


# --- in the tests ------------------------------------------------------------

class ScriptResult:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.result: Optional[Dict[str, Any]] = None
        for line in stdout.splitlines():
            if line.startswith(RESULT_TAG):
                self.result = json.loads(line[len(RESULT_TAG):])

    def report(self) -> str:
        return (f'exit status {self.returncode}\n--- stdout ---\n{self.stdout[-6000:]}'
                f'\n--- stderr ---\n{self.stderr[-6000:]}')


class ScriptRun:
    """A script started in the background; :meth:`finish` waits for it
    with a deadline (several may run side by side on the 2 CI cores)."""

    def __init__(self, name: str, args: Sequence[str] = (),
                 env: Optional[Mapping[str, str]] = None, dev_mode: bool = False,
                 prefix: Sequence[str] = ()) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env['PYTHONFAULTHANDLER'] = '1'
        full_env['PYTHONUNBUFFERED'] = '1'
        cmd = list(prefix) + [sys.executable]
        if dev_mode:
            cmd += ['-X', 'dev']
        cmd += [str(SCRIPTS / name), *args]
        self.what = f'{name} {list(args)}'
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env, cwd=str(TESTS.parent), text=True,
                                     errors='replace', start_new_session=True)
        self.outcome: Optional[ScriptResult] = None

    def kill(self) -> None:
        # The whole group: a script's forked children too.  IOCs it started
        # have sessions of their own and exit when their stdin pipe closes.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float) -> ScriptResult:
        """Wait until *timeout* seconds after the start; kill and fail after."""
        if self.outcome is not None:
            return self.outcome
        left = max(0.1, timeout - (time.monotonic() - self.started))
        try:
            out, err = self.proc.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            self.kill()
            out, err = self.proc.communicate()
            self.outcome = ScriptResult(-9, out, err)
            raise AssertionError(f'{self.what} did not finish within {timeout} s\n'
                                 + self.outcome.report())
        self.outcome = ScriptResult(self.proc.returncode, out, err)
        return self.outcome


def run_script(name: str, args: Sequence[str] = (), env: Optional[Mapping[str, str]] = None,
               timeout: float = 60.0, dev_mode: bool = False,
               prefix: Sequence[str] = ()) -> ScriptResult:
    """Run ``tests/scripts/<name>`` with this interpreter; never hangs.

    *env* is added to a copy of os.environ (which holds the session's
    loopback settings).  *prefix* goes before the interpreter (valgrind).
    """
    return ScriptRun(name, args, env, dev_mode, prefix).finish(timeout)


def loopback_client_env(*ports: int) -> Dict[str, str]:
    """Client settings that search exactly 127.0.0.1:<port> for each port."""
    return {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
            'EPICS_CA_ADDR_LIST': ' '.join(f'127.0.0.1:{port}' for port in ports)}
