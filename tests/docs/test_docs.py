"""The documentation's examples, run by Sphinx's doctest builder.

``sphinx-build -b doctest docs`` runs in a subprocess (its own CA context)
with this session's loopback environment and ``CACHANNEL_DOCS_IOC=running``,
so the examples talk to the session IOC (tests/ioc/catest.db) instead of
starting their own.  The builder's exit status and its summary say whether
every example printed what the page shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

pytest.importorskip('sphinx', reason='the docs extra (sphinx) is not installed')

DOCS = ROOT / 'docs'


def test_documentation_examples_pass(tmp_path: Path) -> None:
    env = dict(os.environ, CACHANNEL_DOCS_IOC='running')
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-q', '-b', 'doctest', '-d', str(tmp_path / 'doctrees'),
         str(DOCS), str(tmp_path / 'out')],
        capture_output=True, text=True, env=env, timeout=300)
    report = (tmp_path / 'out' / 'output.txt')
    summary = report.read_text() if report.exists() else ''
    assert result.returncode == 0, summary + result.stdout + result.stderr
    match = re.search(r'(\d+) tests\s+0 failures in tests\s+0 failures in setup code', summary)
    assert match, summary
    assert int(match.group(1)) >= 90  # every page with examples was run


def test_every_page_is_in_the_table_of_contents() -> None:
    index = (DOCS / 'index.rst').read_text()
    pages = sorted(p.stem for p in DOCS.glob('*.rst') if p.stem != 'index')
    missing = [page for page in pages if not re.search(r'^\s+%s\s*$' % page, index, re.M)]
    assert not missing
