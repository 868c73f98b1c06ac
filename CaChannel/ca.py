"""The low-level Channel Access module: one function per libca ``ca_*`` call.

Two backends provide the functions: the C extension ``CaChannel._ca`` and the
cffi ABI-mode ``caffi_backend``. ``CACHANNEL_BACKEND=caffi`` picks the cffi
one; otherwise the C extension is used, and if it cannot be imported the cffi
backend takes over with a ``RuntimeWarning`` naming the reason. Constants and
enums come from ``CaChannel._constants`` whatever the backend.

``ca.backend`` names the backend in use (``'c'`` or ``'caffi'``).
"""
import importlib
import os
import sys
import types
import warnings

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
    if name == 'c' and _libpath.c_backend_needs_epicscorelibs():
        _preload_epicscorelibs()
    module = importlib.import_module(module_name)
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


def _caller_level() -> int:
    # The first frame outside this package and the import machinery;
    # warnings.warn does not count importlib._bootstrap's frames.
    frame, level = sys._getframe(1), 1
    while frame is not None:
        filename = frame.f_code.co_filename
        if 'importlib' in filename and '_bootstrap' in filename:
            frame = frame.f_back
            continue
        if frame.f_globals.get('__name__') not in (__name__, __package__, 'importlib'):
            break
        frame, level = frame.f_back, level + 1
    return level


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
        # The warning names the user's import line: past this module and
        # importlib's frames.
        hint = _libpath.c_backend_hint()
        warnings.warn('CaChannel C extension unavailable (%s%s); using the cffi backend'
                      % (first_error, '; ' + hint if hint else ''), RuntimeWarning,
                      stacklevel=_caller_level())
        return 'caffi', module


backend, _backend_module = _select()
globals().update(_namespace(backend, _backend_module))
# Each backend registers its own _shutdown with atexit when it is imported.
_live_callbacks = getattr(_backend_module, '_live_callbacks', None)

__all__ = sorted(set(_REQUIRED) | set(_constants.__all__) | {'backend'})
