"""A module needing CI's ``shared/`` folder is one skip that says what is
missing and how to get it, or runs with the folder found."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import TESTS

NEEDS_ORACLE = '''
import pytest
from helpers import shared_folder

FOLDER = shared_folder.require('oracle', 'build-base-tools.sh', "our tools against base's")


@pytest.mark.parametrize('case', range(5))
def test_case(case):
    print('FOLDER', FOLDER)
'''


def run_module(tmp_path: Path, shared: Path) -> subprocess.CompletedProcess:
    (tmp_path / 'test_needs_oracle.py').write_text(NEEDS_ORACLE)
    tests = str(TESTS)  # the helpers package's folder
    env = dict(os.environ, CACHANNEL_SHARED=str(shared),
               PYTHONPATH=os.pathsep.join(filter(None, [tests, os.environ.get('PYTHONPATH')])))
    return subprocess.run([sys.executable, '-m', 'pytest', '-ra', '-s', '-p', 'no:cacheprovider',
                           str(tmp_path / 'test_needs_oracle.py')],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)


def test_without_the_folder_the_module_is_one_skip_saying_how(tmp_path: Path) -> None:
    result = run_module(tmp_path, tmp_path / 'nowhere')
    # Nothing collected (5) here; in the whole suite the other modules run.
    assert result.returncode == 5, result.stdout + result.stderr
    skips = [line for line in result.stdout.splitlines() if line.startswith('SKIPPED')]
    assert len(skips) == 1 and skips[0].startswith('SKIPPED [1] test_needs_oracle.py:5: '), \
        result.stdout
    assert ("our tools against base's: not checked without shared/oracle/build-base-tools.sh"
            in skips[0]), skips
    assert 'set CACHANNEL_SHARED' in skips[0] and 'CI always runs these tests' in skips[0]
    assert ' 1 skipped' in result.stdout.splitlines()[-1], result.stdout


def test_with_the_folder_the_module_runs(tmp_path: Path) -> None:
    oracle = tmp_path / 'shared' / 'oracle'
    oracle.mkdir(parents=True)
    (oracle / 'build-base-tools.sh').write_text('')
    result = run_module(tmp_path, tmp_path / 'shared')
    assert result.returncode == 0, result.stdout + result.stderr
    assert ' 5 passed' in result.stdout.splitlines()[-1], result.stdout
    assert 'FOLDER %s' % oracle in result.stdout
