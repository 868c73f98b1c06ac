"""Helpers shared by the modules of the cffi backend (the twin of caext.h).

* status codes -> ``ECA`` members, type codes -> ``DBR`` members, with the
  enum's own value map so the hot paths do one dict lookup;
* argument normalisation (request type, element count);
* the registries of the channels, requests and subscriptions lent to
  libca by key, which keep each one alive exactly as long as libca may
  call back with it; together their size is ``_live_callbacks()``;
* reporting of exceptions raised inside callbacks from libca's threads.
"""

from __future__ import annotations

import itertools
import operator
from typing import Any, Dict, Optional, Tuple

from CaChannel._constants import CA_OP, DBR, ECA

from ._ffi import ffi

# ---------------------------------------------------------------------------
# enum conversion

# The enums' own value maps: hot paths (callbacks) look members up here
# directly, one dict lookup instead of an enum call.
ECA_MEMBERS: Dict[int, ECA] = ECA._value2member_map_  # type: ignore[assignment]
DBR_MEMBERS: Dict[int, DBR] = DBR._value2member_map_  # type: ignore[assignment]
CA_OP_MEMBERS: Dict[int, CA_OP] = CA_OP._value2member_map_  # type: ignore[assignment]
ECA_NORMAL = ECA.NORMAL
ECA_TIMEOUT = ECA.TIMEOUT
# Members the per-channel paths return, looked up once: on Python 3.11 an
# enum's attribute costs a tenth of a microsecond, as does isinstance()
# against an enum class (those paths test ``type(x) is ECA`` instead).
ECA_BADCHID = ECA.BADCHID
ECA_DISCONN = ECA.DISCONN
ECA_BADTYPE = ECA.BADTYPE
# What calls answer once their context is being destroyed or Python exits.
ECA_NOCACTX = ECA.NOCACTX


def eca(status: int) -> Any:
    """The ``ECA`` member of a libca status (the bare int if libca invents one)."""
    return ECA_MEMBERS.get(status, status)


def status_pair(status: int, obj: Any = None) -> Tuple[Any, Any]:
    """``(ECA, obj or None)``, what the calls that make something return."""
    return eca(status), obj


# ---------------------------------------------------------------------------
# argument normalisation

def as_int(value: Any, what: str, allow_bool: bool = True) -> int:
    """An integer argument: ints, IntEnums and numpy integers, never floats
    (nor bools, unless *allow_bool*)."""
    if not allow_bool and isinstance(value, bool):
        raise TypeError('%s must be an integer, not bool' % what)
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError('%s must be an integer, not %s'
                        % (what, type(value).__name__)) from None


def request_count(count: Any, native: int, zero_means_server: bool = False) -> int:
    """The element count of a request (docs/maintainers.rst, "Counts").

    None, <= 0 or above the native count give the native count, except that
    0 asks for the server's current length when *zero_means_server* (get or
    subscription with a callback). A channel that is not connected has a
    native count of 0, and so has its request, as in the C backend: libca
    answers ``ECA.DISCONN`` where the request needs a connection, and a
    subscription made before the connection gets the server's length.
    """
    if count is None:
        return native
    wanted = as_int(count, 'count', allow_bool=False)
    if wanted == 0 and zero_means_server:
        return 0
    if wanted <= 0 or wanted > native:
        return native
    return wanted


def check_optional_callback(callback: Any) -> None:
    """A callback argument: None or a callable (``TypeError`` otherwise)."""
    if callback is not None and not callable(callback):
        raise TypeError('callback must be callable or None, not %s' % type(callback).__name__)


def timeout_arg(timeout: Any) -> float:
    """A timeout in seconds: a number, not NaN, not negative (0: forever)."""
    if isinstance(timeout, (str, bytes)):
        # float() would parse text; a timeout is a number, as for the C backend.
        raise TypeError('timeout must be a number, not %s' % type(timeout).__name__)
    value = float(timeout)
    if value != value:
        raise ValueError('timeout must not be NaN')
    if value < 0:
        raise ValueError('timeout must not be negative')
    return value


# ---------------------------------------------------------------------------
# what libca may call back with

# Channels, requests and subscriptions lent to libca, by the key that is
# their ``usr`` (an integer, which _cdef.py declares the usr of those calls
# and of their callbacks to be, so no conversion is made either way; not an
# ``ffi.new_handle``): a handle is one more object per channel or read for
# the collector to track and rescan (a third of its work when 100,000
# channels connect), ``ffi.from_handle`` costs an event three times a dict
# lookup, and a key libca hands back late finds nothing here instead of a
# freed handle.  Filled and emptied by channel.py and getput.py; keys are
# never reused.
lent_channels: Dict[int, Any] = {}
lent_requests: Dict[int, Any] = {}
lent_subscriptions: Dict[int, Any] = {}
next_key = itertools.count(1).__next__      # atomic under the GIL


def live_callbacks() -> int:
    """Number of Python objects currently handed to libca as ``usr``."""
    return len(lent_channels) + len(lent_requests) + len(lent_subscriptions)


# ---------------------------------------------------------------------------
# identifiers

class Identifier:
    """Base of the opaque identifier objects (chid, evid, context, group).

    They are made only by this backend (``Identifier.__new__`` refuses
    Python callers) and are unique per C pointer, so the default identity
    comparison and hash already mean "same underlying pointer".
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> 'Identifier':
        raise TypeError('%s objects are created by the ca functions, not directly'
                        % cls.__name__)

    @classmethod
    def _make(cls) -> Any:
        return object.__new__(cls)


def check(obj: Any, cls: type, what: str) -> Any:
    """*obj* itself if it is a *cls*, else ``TypeError`` (never a crash)."""
    if type(obj) is not cls:
        raise TypeError('%s must be a %s, not %s' % (what, cls.__name__, type(obj).__name__))
    return obj


_UINTPTR = ffi.typeof('uintptr_t')     # resolved once


def address(ptr: Any) -> int:
    """The integer value of a C pointer, the key of the identifier registries."""
    return int(ffi.cast(_UINTPTR, ptr))


# ---------------------------------------------------------------------------
# exceptions in callbacks, and their end at interpreter exit

# Set by ``_shutdown`` (atexit): from then on the callbacks return at once
# instead of running Python code while the interpreter goes away.
shutting_down = False

class _Unraisable:
    """Carries an exception to ``sys.unraisablehook``.

    Pure Python cannot build the hook's ``UnraisableHookArgs``; CPython
    reports an exception raised by ``__del__`` through that hook, with the
    exception and its traceback intact, so the report goes where a C
    extension's ``PyErr_WriteUnraisable`` would send it (and where pytest
    and applications look for it).
    """

    __slots__ = ('exc',)

    def __del__(self) -> None:
        exc, self.exc = self.exc, None
        raise exc


def report_callback_error(exc_type: Any, exc_value: Optional[BaseException],
                          traceback: Any) -> None:
    """``onerror`` of every ``ffi.callback``: report the exception and clear it."""
    if exc_value is None:
        exc_value = exc_type()
    carrier = _Unraisable()
    carrier.exc = exc_value.with_traceback(traceback)
    del carrier


def decode(raw: bytes) -> Any:
    """A C string as ``str`` (UTF-8), or the bytes when they are not UTF-8."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw


def c_text(ptr: Any) -> str:
    """A NUL-terminated string libca owns (names, messages) as ``str``."""
    if ptr == ffi.NULL:
        return ''
    return ffi.string(ptr).decode('utf-8', 'replace')

