"""A fresh virtual environment with CaChannel installed from a wheel, for the
start-up workload.

A start-up figure is mostly the interpreter's own start, and that depends on
what ``site`` finds: the development checkout's editable install puts an
import hook (``__editable__...pth``) in front of every interpreter of its
environment, and a machine may carry other ``.pth`` files of its own.  A
user's ``pip install`` leaves neither, so the start-up of every Python client
is timed in a new virtual environment holding the wheel built from this
checkout and the peers, run from a directory outside the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent

# The Python clients of the start-up workload that are pip packages of the
# same name, installed beside our wheel (whose own requirements pip resolves).
_PEERS = ('pyepics', 'caproto')


def _run(cmd: list[str], timeout: float) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise RuntimeError('%s failed: %s' % (' '.join(cmd[:4]), ' / '.join(tail)))


def make_environment(clients: list[str], log: Callable[[str], None]
                     ) -> Tuple[Optional[Path], Optional[Path], str]:
    """``(python, directory to run it in, '')`` of a new environment with the
    wheel and the peers of *clients* installed; ``(None, None, why)`` when it
    cannot be made (no compiler, no package index), and the caller times the
    development environment instead."""
    work = Path(tempfile.mkdtemp(prefix='cachannel-bench-venv-'))
    try:
        _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w',
              str(work / 'wheel'), str(ROOT)], 300)
        wheels = sorted((work / 'wheel').glob('*.whl'))
        if len(wheels) != 1:
            raise RuntimeError('pip wheel made %d wheels' % len(wheels))
        _run([sys.executable, '-m', 'venv', str(work / 'venv')], 120)
        python = work / 'venv' / 'bin' / 'python'
        peers = [c for c in clients if c in _PEERS]
        _run([str(python), '-m', 'pip', 'install', '-q', str(wheels[0])] + peers, 600)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(work, ignore_errors=True)
        log('start-up environment not made (%s): timing the development one' % exc)
        return None, None, str(exc)
    log('start-up environment: %s with %s%s'
        % (work / 'venv', wheels[0].name, ''.join(', ' + p for p in peers)))
    return python, work, ''
