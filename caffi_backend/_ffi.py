"""The cffi FFI of libca's declarations and the loading of libca/libCom.

ABI mode: the declarations (``_cdef``) come pre-parsed from the module
setup.py compiled them to, or are parsed here, and the libraries are opened
with ``dlopen`` at import, so no compiler is needed at install or run time.

Which libca is loaded, in this order:

1. ``CACHANNEL_LIBCA``: an explicit path to libca (libCom is taken from the
   same directory, or from the directory of the file a symlink points to,
   when it is there; otherwise the dynamic loader finds it through libca's
   own dependencies); a path that cannot be loaded is an ``ImportError``;
2. ``$EPICS_BASE/lib/$EPICS_HOST_ARCH`` when both variables are set (on
   Windows ``bin/`` instead of ``lib/``); when libca is not there a
   ``RuntimeWarning`` says so and the next source is used;
3. the site EPICS base the C extension was built against, from its build
   record (``CaChannel._libpath.site_libraries``);
4. the ``epicscorelibs`` wheel.

``libca_path`` and ``libcom_path`` record the files actually opened.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, Optional, Tuple

from . import _cdef

__all__ = ['ffi', 'lib', 'libc', 'libca_path', 'libcom_path', 'find_libraries']


def _load_ffi() -> Tuple[Any, bool]:
    """-> (the FFI of the declarations, whether it came compiled)."""
    try:
        from . import _ffi_compiled
        if _ffi_compiled.CDEF_CRC == _cdef.cdef_crc():
            return _ffi_compiled.ffi, True
    except (ImportError, AttributeError):
        # Not written (a checkout without setup.py's build), or by a cffi
        # this one cannot read.
        pass
    import cffi
    parsed = cffi.FFI()
    parsed.cdef(_cdef.LIBCA_CDEF)
    parsed.cdef(_cdef.LIBC_CDEF)
    return parsed, False


#: compiled: the declarations came pre-parsed from ``_ffi_compiled``.
ffi, compiled = _load_ffi()


def _shared_names(stem: str) -> Tuple[str, ...]:
    """File names a shared library *stem* ('ca', 'Com') can have here."""
    if sys.platform == 'win32':
        return (stem + '.dll',)
    if sys.platform == 'darwin':
        return ('lib%s.dylib' % stem,)
    return ('lib%s.so' % stem,)


def _find_in(directory: str, stem: str) -> Optional[str]:
    for name in _shared_names(stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def _from_epics_base() -> Optional[Tuple[Optional[str], str]]:
    base = os.environ.get('EPICS_BASE')
    arch = os.environ.get('EPICS_HOST_ARCH')
    if not (base and arch):
        return None
    # Windows keeps DLLs next to the executables, elsewhere in lib/.
    directory = os.path.join(base, 'bin' if sys.platform == 'win32' else 'lib', arch)
    ca = _find_in(directory, 'ca')
    if ca is None:
        warnings.warn('EPICS_BASE/EPICS_HOST_ARCH are set but %s holds no libca; '
                      'the cffi backend uses epicscorelibs instead' % directory,
                      RuntimeWarning, stacklevel=4)
        return None
    return _find_in(directory, 'Com'), ca


def _from_epicscorelibs() -> Tuple[Optional[str], str]:
    from CaChannel._libpath import epicscorelibs_libraries
    try:
        return epicscorelibs_libraries()
    except ImportError as exc:
        raise ImportError('libca not found: set CACHANNEL_LIBCA or EPICS_BASE and '
                          'EPICS_HOST_ARCH, or install epicscorelibs (%s)' % exc) from exc


def find_libraries() -> Tuple[Optional[str], str]:
    """Return the paths ``(libCom or None, libca)`` to load, by the order above."""
    explicit = os.environ.get('CACHANNEL_LIBCA', '').strip()
    if explicit:
        if not os.path.exists(explicit):
            # An explicit choice that is wrong must not be replaced silently
            # by another libca.
            raise ImportError('CACHANNEL_LIBCA=%r does not exist' % explicit)
        # libCom beside the given path, or beside the file it links to
        # (libca's rpath is relative to its real directory).
        com = (_find_in(os.path.dirname(explicit) or '.', 'Com')
               or _find_in(os.path.dirname(os.path.realpath(explicit)), 'Com'))
        return com, explicit
    from CaChannel._libpath import site_libraries
    return _from_epics_base() or site_libraries() or _from_epicscorelibs()


def _open_libraries() -> Tuple[object, Optional[str], str]:
    com_path, ca_path = find_libraries()
    # Never unloaded: cffi would dlclose them when the interpreter finalizes,
    # under the threads of a context that outlives it (one another thread
    # made non-preemptive, which this one cannot destroy), which then run
    # unmapped code.
    flags = ffi.RTLD_NOW | ffi.RTLD_GLOBAL | getattr(ffi, 'RTLD_NODELETE', 0)
    try:
        if com_path is not None:
            # libca's symbols reference libCom's; opening libCom first with
            # RTLD_GLOBAL makes them resolvable even without an rpath.
            ffi.dlopen(com_path, flags)
        return ffi.dlopen(ca_path, flags), com_path, ca_path
    except OSError as exc:
        raise ImportError('cannot load libca from %s: %s' % (ca_path, exc)) from exc


def _open_libc() -> object:
    if sys.platform == 'win32':
        return ffi.dlopen('msvcrt')
    return ffi.dlopen(None)   # the C library the interpreter already uses


lib, libcom_path, libca_path = _open_libraries()
libc = _open_libc()
