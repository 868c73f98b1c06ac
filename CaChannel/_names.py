"""The public functions of ``CaChannel.ca`` that every backend must export.

``CaChannel.ca`` checks the selected backend against this list at import, and
``tests/test_backends.py`` checks that every backend exports exactly these.
Constants, IntEnums and the DBR helper functions are not listed: they come
from ``_constants`` (its ``__all__``) and are the same objects whichever
backend is in use.
"""

FUNCTIONS = (
    # context
    'create_context', 'destroy_context', 'attach_context', 'detach_context',
    'current_context', 'show_context',
    # channel
    'create_channel', 'clear_channel', 'change_connection_event',
    'replace_access_rights_event',
    # read, write, monitor
    'get', 'put', 'create_subscription', 'clear_subscription',
    # execution
    'pend_io', 'pend_event', 'poll', 'pend', 'test_io', 'flush_io',
    # information
    'field_type', 'element_count', 'name', 'state', 'host_name',
    'read_access', 'write_access', 'message', 'version',
    # synchronous groups
    'sg_create', 'sg_delete', 'sg_get', 'sg_put', 'sg_block', 'sg_test',
    'sg_reset',
    # handlers
    'add_exception_event', 'replace_printf_handler',
)

# Types every backend provides: the value holder of a get without callback
# and the identifiers (channel, subscription, context, synchronous group),
# one spelling in both backends. None can be built from Python.
TYPES = ('DBRValue', 'Chid', 'Evid', 'Context', 'SyncGroup')
