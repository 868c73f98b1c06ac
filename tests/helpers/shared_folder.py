"""The ``shared/`` folder some test modules need: material of CaChannel's CI
that is not part of the repository (``oracle/`` builds EPICS base's own
command-line tools to compare ours with; ``motor/`` the real motor record).

CI keeps it beside the repository, a developer's worktree beside a folder
above it; ``CACHANNEL_SHARED`` names it anywhere else. A module that needs
it calls :func:`require` at import: without it, the whole module is one
skip saying what is missing and how to get it, instead of one skip per
test. CI always has it, and fails on any skip it did not ask for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

from helpers import ROOT

#: Where ``shared/`` is when it is neither beside the repository nor above it.
VARIABLE = 'CACHANNEL_SHARED'


def find(name: str, marker: str) -> Optional[Path]:
    """``shared/<name>`` holding the file *marker*, or None."""
    named = os.environ.get(VARIABLE)
    if named:
        candidates = [Path(named) / name]
    else:
        candidates = [folder.parent / 'shared' / name for folder in [ROOT] + list(ROOT.parents)]
    return next((folder for folder in candidates if (folder / marker).is_file()), None)


def require(name: str, marker: str, purpose: str) -> Path:
    """``shared/<name>``, or skip the calling module: *purpose* says what
    its tests check, for the skip message."""
    __tracebackhide__ = True  # the skip names the calling module's line
    found = find(name, marker)
    if found is None:
        pytest.skip('%s: not checked without shared/%s/%s, the CI folder beside the '
                    'repository (or a folder above it); put it there or set %s to the '
                    'shared folder. CI always runs these tests.'
                    % (purpose, name, marker, VARIABLE), allow_module_level=True)
    return found
