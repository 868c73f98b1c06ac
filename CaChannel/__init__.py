"""CaChannel: a Python client for EPICS Channel Access.

* :class:`CaChannel.CaChannel` / :class:`CaChannelException`: the
  caPython-compatible object layer (``from CaChannel import CaChannel``).
* :mod:`CaChannel.ca`: the low-level ``ca_*`` functions, on the C extension
  or the cffi backend (``CACHANNEL_BACKEND=caffi``).
* :mod:`CaChannel.epicsPV`, :mod:`CaChannel.epicsMotor`: Mark Rivers' PV and
  motor record classes; :mod:`CaChannel.util`: ``caget``/``caput``/
  ``camonitor``/``cainfo``.

Importing the package loads no backend and no libca: :mod:`CaChannel.ca`
(and with it the backend) is imported the first time it is needed, so
``import CaChannel.testing`` or ``import CaChannel._constants`` stay cheap
and work before the C extension is built.
"""

from __future__ import annotations

from ._version import __version__
from .CaChannel import CaChannel, CaChannelException

_TYPE_CHECKING = False
if _TYPE_CHECKING:  # typing costs milliseconds of start-up; annotations are strings
    from typing import Any

__all__ = ['CaChannel', 'CaChannelException', 'ca', 'USE_NUMPY']

#: Return numeric arrays as numpy arrays by default (the ``use_numpy``
#: keyword of the read methods overrides it).  Set it on the package:
#: ``CaChannel.USE_NUMPY = True``; it is read at every call.
USE_NUMPY = False

# Submodules reachable as package attributes without importing them up front.
_LAZY_SUBMODULES = ('ca', 'util', 'epicsPV', 'epicsMotor')


def __getattr__(name: str) -> Any:
    # PEP 562: ``CaChannel.ca`` after a bare ``import CaChannel`` imports the
    # backend only now.  Importing a submodule binds it as package attribute.
    if name in _LAZY_SUBMODULES:
        from ._libpath import import_module  # not importlib's: see there
        return import_module(__name__ + '.' + name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
