"""The public functions of ``CaChannel.ca`` that every backend must export.

``CaChannel.ca`` checks the selected backend against this list at import, and
``tests/test_backends.py`` checks that every backend exports exactly these.
Constants and IntEnums are not listed: they come from ``_constants`` and are
the same objects whichever backend is in use.
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

# Implemented once in ``_constants`` (pure functions of the db_access.h
# tables) and re-exported by ``CaChannel.ca`` whatever the backend.
DBR_HELPERS = (
    'dbf_type_is_valid', 'dbr_type_is_valid',
    'dbf_type_to_DBR', 'dbf_type_to_DBR_STS', 'dbf_type_to_DBR_TIME',
    'dbf_type_to_DBR_GR', 'dbf_type_to_DBR_CTRL',
    'dbr_type_is_plain', 'dbr_type_is_STS', 'dbr_type_is_TIME',
    'dbr_type_is_GR', 'dbr_type_is_CTRL',
    'dbr_type_is_STRING', 'dbr_type_is_SHORT', 'dbr_type_is_FLOAT',
    'dbr_type_is_ENUM', 'dbr_type_is_CHAR', 'dbr_type_is_LONG',
    'dbr_type_is_DOUBLE',
    'dbf_text', 'dbf_type_to_text', 'dbr_text', 'dbr_type_to_text',
    'dbf_text_to_type', 'dbr_text_to_type',
    'alarmSeverityString', 'alarmStatusString',
)

# Types every backend provides: the value holder of a get without callback
# and the identifiers (channel, subscription, context, synchronous group),
# one spelling in both backends. None can be built from Python.
TYPES = ('DBRValue', 'Chid', 'Evid', 'Context', 'SyncGroup')
