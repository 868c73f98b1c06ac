"""Where the epicscorelibs wheel keeps libCom and libca.

Both backends load these files (the C extension to satisfy its link
dependencies, the cffi backend to call into them). The paths come from the
wheel's generated ``*_dsoinfo`` modules rather than ``epicscorelibs.path``,
which imports setuptools and its build machinery: slow at start-up, and
noisy with warnings that mean nothing to a CA user.
"""
from __future__ import annotations

import importlib


def epicscorelibs_libraries() -> tuple[str, str]:
    """Return ``(libCom path, libca path)`` of the installed epicscorelibs."""
    paths = []
    for stem in ('Com', 'ca'):
        info = importlib.import_module('epicscorelibs.lib.%s_dsoinfo' % stem)
        paths.append(info.sofilename)
    return paths[0], paths[1]
