"""The cffi ABI-mode backend of ``CaChannel.ca``.

It provides the same functions as the C extension ``CaChannel._ca`` (the
contract is ``docs/maintainers.rst``; the names are ``CaChannel._names``) by calling
libca through cffi in ABI mode: no compiler is needed at install or run
time. ``CaChannel.ca`` selects it with ``CACHANNEL_BACKEND=caffi`` or when
the C extension cannot be imported.

Modules mirror ``src/``: ``context`` (contexts and pend/poll/flush),
``channel``, ``getput`` (get, put, subscriptions, synchronous groups),
``dbr`` (value conversions), ``handlers`` (exception and printf handlers);
``_cdef`` declares libca, ``_ffi`` loads it, ``_common`` holds the shared helpers.

``libca_path`` / ``libcom_path`` name the libraries loaded (see ``_ffi``
for the search order: ``CACHANNEL_LIBCA``, ``EPICS_BASE``, epicscorelibs).
"""

import atexit as _atexit
import os as _os

from CaChannel import _names

from ._common import live_callbacks as _live_callbacks
from . import channel as _channel_module, context as _context_module
from . import getput as _getput_module
from .context import shutdown as _shutdown
from ._ffi import libca_path, libcom_path
from .channel import (Chid, change_connection_event, clear_channel, create_channel,
                      element_count, field_type, host_name, message, name,
                      read_access, replace_access_rights_event, state, version,
                      write_access)
from .context import (Context, attach_context, create_context, current_context,
                      destroy_context, detach_context, flush_io, pend, pend_event, pend_io,
                      poll, show_context, test_io)
from .dbr import DBRValue
from .getput import (Evid, SyncGroup, clear_subscription, create_subscription, get,
                     put, sg_block, sg_create, sg_delete, sg_get, sg_put, sg_reset, sg_test)
from .handlers import add_exception_event, replace_printf_handler

# Exactly the public ca names every backend provides, from the one list.
__all__ = list(_names.FUNCTIONS + _names.TYPES)
# libca_path, libcom_path, _live_callbacks and _shutdown are attributes too,
# but not public ca names: __all__ is exactly _names.FUNCTIONS + TYPES.

# Before the interpreter finalizes, libca's threads must stop calling into
# Python while Python can still answer them; each backend registers its own
# (the C one in PyInit__ca), so one loaded beside the selected one
# (load_backend) or imported directly is covered too.
_atexit.register(_shutdown)


def _after_fork_child() -> None:
    """A forked child must not use (nor destroy) the parent's context: see
    ``context.after_fork_in_child``. The registries' locks may have been held
    by another thread at the fork, so the child starts with fresh ones."""
    import threading
    _channel_module._lock = threading.Lock()
    _getput_module._groups_lock = threading.Lock()
    _context_module.after_fork_in_child()


_os.register_at_fork(after_in_child=_after_fork_child)
