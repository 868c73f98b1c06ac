"""The low-level Channel Access module: one function per libca ``ca_*`` call.

Two backends provide the functions: the C extension ``CaChannel._ca`` and the
cffi ABI-mode ``caffi_backend``. ``CACHANNEL_BACKEND=caffi`` picks the cffi
one; otherwise the C extension is used, and if it cannot be imported the cffi
backend takes over with a ``RuntimeWarning`` naming the reason. Constants and
enums come from ``CaChannel._constants`` whatever the backend.

``ca.backend`` names the backend in use (``'c'`` or ``'caffi'``).
"""
from __future__ import annotations

import os
import sys
import types

_TYPE_CHECKING = False
if _TYPE_CHECKING:  # typing costs milliseconds of every start-up; annotations are strings
    from typing import Optional

# libca reads this once, when the first context is created; large waveforms
# (area detector images) need far more than libca's 16 kB default.
os.environ.setdefault('EPICS_CA_MAX_ARRAY_BYTES', '100000000')

from . import _constants, _libpath, _names  # noqa: E402
from ._constants import *  # noqa: E402,F401,F403

_BACKEND_MODULES = {'c': 'CaChannel._ca', 'caffi': 'caffi_backend'}
_REQUIRED = _names.FUNCTIONS + _names.TYPES


def _preload_epicscorelibs() -> None:
    # The extension's rpath finds the wheel's libraries only when both sit in
    # the same site-packages; an editable install does not. Libraries already
    # loaded under their soname satisfy the extension's dependencies anywhere.
    import ctypes
    from ._libpath import epicscorelibs_libraries
    for path in epicscorelibs_libraries():
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def _import_backend(name: str) -> types.ModuleType:
    try:
        module_name = _BACKEND_MODULES[name]
    except KeyError:
        raise ImportError('unknown CaChannel backend %r (choose from %s)'
                          % (name, ', '.join(sorted(_BACKEND_MODULES)))) from None
    try:
        module = _libpath.import_module(module_name)
    except ImportError:
        # Loaded first without the preload: where the rpath works (an
        # installed wheel) ctypes is not imported at all, 1.4 ms of start-up.
        if not (name == 'c' and _libpath.c_backend_needs_epicscorelibs()):
            raise
        _preload_epicscorelibs()
        module = _libpath.import_module(module_name)
    missing = [n for n in _REQUIRED if not hasattr(module, n)]
    if missing:
        raise ImportError('backend %r lacks %s' % (name, ', '.join(missing)))
    return module


def _namespace(name: str, module: types.ModuleType) -> dict:
    names = {n: getattr(module, n) for n in _REQUIRED}
    names.update({n: getattr(_constants, n) for n in _constants.__all__})
    names['backend'] = name
    return names


_views: dict = {}


def load_backend(name: str) -> types.ModuleType:
    """Return a module holding backend *name*'s whole ``ca`` API (the same
    module object for the same name).

    Used by the test suite to run every test against each backend in one
    process; applications use ``CaChannel.ca`` itself.
    """
    view = _views.get(name)
    if view is None:
        module = _import_backend(name)
        view = types.ModuleType('CaChannel.ca[%s]' % name)
        view.__dict__.update(_namespace(name, module))
        view._backend_module = module
        view = _views.setdefault(name, view)
    return view


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# caPython-era scripts import these top-level re-exports, installed beside
# the package; their frames are ours too.
_LEGACY_MODULES = ('ca', 'epicsPV', 'epicsMotor')
# The console tools print base's tools' stderr byte for byte: a fallback
# warning there would break every shell script comparing it.
_QUIET_CALLERS = ('CaChannel.cli',)


def _is_ours(frame: types.FrameType) -> bool:
    filename = frame.f_code.co_filename
    if ('importlib' in filename and '_bootstrap' in filename
            or frame.f_globals.get('__name__') == 'importlib'):
        return True
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR + os.sep):
        return True
    return (frame.f_globals.get('__name__') in _LEGACY_MODULES
            and os.path.dirname(path) == os.path.dirname(_PACKAGE_DIR))


def _user_frame() -> Optional[types.FrameType]:
    """The frame whose line made CaChannel load a backend: the first one
    outside this package and the import machinery (the user's import, or
    the first call of theirs that needed the ``ca`` layer), or None when a
    console tool did."""
    frame: Optional[types.FrameType] = sys._getframe(1)
    last_ours = None
    while frame is not None and _is_ours(frame):
        if frame.f_globals.get('__name__') in _QUIET_CALLERS:
            return None
        last_ours = frame
        frame = frame.f_back
    if frame is None or frame.f_globals.get('__name__') == 'runpy':
        # Started as `python -m CaChannel...`: no user line, name ours.
        return last_ours
    return frame


def _fallback_message(error: ImportError) -> str:
    record = _libpath.build_config()
    checkout = os.path.dirname(_PACKAGE_DIR)
    if record is not None and record.NOT_BUILT:
        # NOT_BUILT is the compiler's failure, naming temporary files long
        # gone; pip's verbose output shows the whole story.
        why = ('it was not built when CaChannel was installed (the C compiler was '
               'missing or failed)')
        remedy = ('Install a C compiler and reinstall CaChannel (pip install -v shows '
                  'the build)')
    elif record is None and os.path.exists(os.path.join(checkout, 'setup.py')):
        why = '%s is a source tree where it was never built' % _PACKAGE_DIR
        remedy = ('Run Python outside this directory to use the installed CaChannel, or '
                  'build it here with "pip install -e ."')
    else:
        why = str(error)
        remedy = ('Reinstall CaChannel with a C compiler present (pip install -v shows '
                  'the build)')
    return ('CaChannel C extension unavailable: %s; using the slower cffi backend. %s, '
            'or set CACHANNEL_BACKEND=caffi to choose the cffi backend and silence this '
            'warning.' % (why, remedy))


def _warn_fallback(error: ImportError) -> None:
    frame = _user_frame()
    if frame is None:
        return
    # warn_explicit, not a stacklevel: how many frames the import machinery
    # adds, and which of them warnings.warn skips, varies by Python version.
    caller = frame.f_globals
    import warnings  # only here: a fallback is rare, its import is not free
    warnings.warn_explicit(_fallback_message(error), RuntimeWarning,
                           frame.f_code.co_filename, frame.f_lineno,
                           module=caller.get('__name__', '<string>'),
                           registry=caller.setdefault('__warningregistry__', {}))


def _select() -> tuple:
    wanted = os.environ.get('CACHANNEL_BACKEND', '').strip().lower()
    if wanted:
        return wanted, _import_backend(wanted)
    try:
        return 'c', _import_backend('c')
    except ImportError as first_error:
        try:
            module = _import_backend('caffi')
        except ImportError:
            raise first_error
        _warn_fallback(first_error)
        return 'caffi', module


backend, _backend_module = _select()
globals().update(_namespace(backend, _backend_module))
# Each backend registers its own _shutdown with atexit when it is imported.
_live_callbacks = getattr(_backend_module, '_live_callbacks', None)

__all__ = sorted(set(_REQUIRED) | set(_constants.__all__) | {'backend'})
