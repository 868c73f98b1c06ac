"""Which libca and libCom CaChannel uses, and which EPICS base they are.

Both backends load these files (the C extension to satisfy its link
dependencies, the cffi backend to call into them). The paths of the
epicscorelibs wheel come from its generated ``*_dsoinfo`` modules rather than
``epicscorelibs.path``, which imports setuptools and its build machinery:
slow at start-up, and noisy with warnings that mean nothing to a CA user.

``setup.py`` writes ``_build_config.py`` beside the C extension: whether it
was linked to epicscorelibs or to a site EPICS base (and that base's libca),
or why it was not built. What the C backend needs at run time follows from
that record, not from the environment of the moment.
"""
from __future__ import annotations

import os
import sys
from types import ModuleType

_TYPE_CHECKING = False
if _TYPE_CHECKING:  # typing and re cost milliseconds of every start-up
    from typing import Any, Optional

# EPICS base's libca carries an SCCS "what" string naming its release,
# e.g. "@(#) EPICS 7.0.8, CA Client Library"; libca has no call that tells.
_WHAT_STRING = rb'@\(#\) EPICS ([^\s,\x00]+)'


def import_module(name: str) -> ModuleType:
    """``importlib.import_module`` for an absolute name, without importing
    importlib (and the warnings module it imports): half a millisecond of
    every start-up."""
    __import__(name)
    return sys.modules[name]


def epicscorelibs_libraries() -> tuple[str, str]:
    """Return ``(libCom path, libca path)`` of the installed epicscorelibs."""
    paths = []
    for stem in ('Com', 'ca'):
        info = import_module('epicscorelibs.lib.%s_dsoinfo' % stem)
        paths.append(info.sofilename)
    return paths[0], paths[1]


def build_config() -> Optional[ModuleType]:
    """The build record of the C extension, or None (a build without one)."""
    try:
        return import_module('CaChannel._build_config')
    except ImportError:
        return None


def site_libraries() -> Optional[tuple[Optional[str], str]]:
    """``(libCom, libca)`` of the site EPICS base the extension was built
    against, when it was and they are still there; otherwise None."""
    record = build_config()
    if record is None or record.EPICS != 'site' or not record.LIBCA:
        return None
    if not os.path.exists(record.LIBCA):
        return None
    libcom = record.LIBCOM if record.LIBCOM and os.path.exists(record.LIBCOM) else None
    return libcom, record.LIBCA


def c_backend_needs_epicscorelibs() -> bool:
    """Whether the C extension's libraries come from the epicscorelibs wheel.

    Its rpath finds the wheel's libraries only when both sit in the same
    site-packages (an editable install does not), so CaChannel.ca loads them
    first. A site build finds its own through an absolute rpath, with or
    without ``EPICS_BASE`` set.
    """
    record = build_config()
    if record is None:
        # Built before the record existed: the environment is all there is.
        return not os.environ.get('EPICS_BASE')
    return record.EPICS != 'site'


def libraries_in_use(ca: ModuleType) -> tuple[Optional[str], Optional[str]]:
    """``(libCom, libca)`` paths the selected backend of *ca* runs on."""
    backend: Any = getattr(ca, '_backend_module', None)
    if getattr(backend, 'libca_path', None):
        return backend.libcom_path, backend.libca_path
    site = site_libraries()
    if site is not None:
        return site
    try:
        return epicscorelibs_libraries()
    except ImportError:
        return None, None


def epics_base_version(libca: Optional[str]) -> str:
    """The EPICS base release a libca file belongs to, or ``'unknown'``."""
    if not libca:
        return 'unknown'
    import re
    try:
        with open(libca, 'rb') as binary:
            found = re.search(_WHAT_STRING, binary.read())
    except OSError:
        return 'unknown'
    return found.group(1).decode('ascii', 'replace') if found else 'unknown'


def version_text() -> str:
    """One line for ``--version`` and the demo: CaChannel, backend, the CA
    protocol version and the EPICS base release of the libca in use."""
    from importlib.metadata import PackageNotFoundError, version

    from CaChannel import ca
    try:
        ours = version('CaChannel')
    except PackageNotFoundError:
        ours = 'not installed'
    libca = libraries_in_use(ca)[1]
    return ('CaChannel %s (backend %r), CA protocol %s, EPICS base %s (%s), Python %s'
            % (ours, ca.backend, ca.version(), epics_base_version(libca), libca,
               sys.version.split()[0]))
