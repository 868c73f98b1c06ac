"""aioca's own public test suite, run against CaChannel.aio on both backends.

``../shared/peers/aioca/tests`` (aioca's tests, unchanged) is copied to a
scratch folder and pointed at our package the way ``../shared/peers/README.md``
says: its ``from aioca import`` lines import ``CaChannel.aio`` instead, and
the imports of aioca's private ``_catools`` module and deprecated ``run()``
are dropped.  ``test_cli.py`` compares ``python -m aioca --version`` with the
imported ``__version__``; it runs ``python -m CaChannel.aio`` instead.  The
five tests that reach into aioca's private parts are deselected; every other
test must pass, in a pytest of its own (a subprocess with the loopback
environment, the backend chosen by ``CACHANNEL_BACKEND``).

Without ``../shared/peers/aioca`` (beside the repository, or beside a folder
above it) the module is skipped, saying so; without pytest-asyncio too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from CaChannel.testing import free_port, loopback_environ
from helpers import ROOT


#: aioca's tests of its private _catools module and its deprecated run().
DESELECTED = ['test_get_non_existent_pvs_no_throw', 'test_closing_event_loop',
              'test_value_event_raises', 'test_subscription', 'test_run_forever']
#: How many tests the suite has besides those (aioca 2.1, commit e55068b).
EXPECTED_PASSED = 29


def find_peer_suite() -> Optional[Path]:
    """``shared/peers/aioca/tests`` beside the repository (CI) or beside a
    folder above it (a developer's worktree), or None."""
    for folder in [ROOT] + list(ROOT.parents):
        candidate = folder.parent / 'shared' / 'peers' / 'aioca' / 'tests'
        if (candidate / 'test_aioca.py').is_file():
            return candidate
    return None


def point_at_ours(folder: Path) -> None:
    """The README's rewrite of the imports, plus the module test_cli runs."""
    for path in folder.glob('*.py'):
        text = path.read_text()
        text = re.sub(r'^from aioca import', 'from CaChannel.aio import', text, flags=re.M)
        text = re.sub(r'^from aioca\.types import', 'from CaChannel.aio.types import',
                      text, flags=re.M)
        text = re.sub(r'^    _catools,\n', '', text, flags=re.M)
        text = re.sub(r'^    run,\n', '', text, flags=re.M)
        text = text.replace('"-m", "aioca"', '"-m", "CaChannel.aio"')
        path.write_text(text)


@pytest.fixture(scope='module')
def peer_suite() -> Path:
    found = find_peer_suite()
    if found is None:
        pytest.skip('aioca test suite not found: ../shared/peers/aioca/tests is absent')
    try:
        import pytest_asyncio  # noqa: F401
    except ImportError:
        pytest.skip('pytest-asyncio is not installed (the "test" extra installs it)')
    return found


def test_aioca_suite_passes(peer_suite: Path, backend: str, tmp_path: Path) -> None:
    scratch = tmp_path / 'tests'
    shutil.copytree(peer_suite, scratch)
    point_at_ours(scratch)
    env = dict(os.environ)
    # A server port of this run's own: the suite starts its IOC there.
    env.update(loopback_environ(free_port()))
    env['CACHANNEL_BACKEND'] = backend
    # The suite's IOC takes its prefix at random; its records live there.
    env.pop('PYTEST_ADDOPTS', None)
    command = [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-q',
               '-o', 'asyncio_mode=strict', '-o', 'asyncio_default_fixture_loop_scope=function',
               '--rootdir', str(tmp_path), str(scratch)]
    for name in DESELECTED:
        command += ['--deselect', 'tests/test_aioca.py::%s' % name]
    run = subprocess.run(command, cwd=str(tmp_path), env=env, capture_output=True,
                         text=True, timeout=600)
    report = run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    summary = lines[-1] if lines else ''
    assert run.returncode == 0, report
    assert re.search(r'\b%d passed\b' % EXPECTED_PASSED, summary), report
    assert 'failed' not in summary and 'error' not in summary, report
