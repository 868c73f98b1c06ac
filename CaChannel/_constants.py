"""Constants, IntEnums and DBR helper functions of Channel Access.

This module is the single definition shared by every backend of
``CaChannel.ca`` (the C extension ``CaChannel._ca`` and the cffi backend):
both import these objects instead of defining their own, so a status returned
by either backend is the very same ``ECA`` member, and ``CaChannel.ca``
re-exports everything listed in ``__all__``.

Values are those of the EPICS C headers (caerr.h, cadef.h, db_access.h,
caeventmask.h, alarm.h, epicsTime.h); ``tests/test_constants.py`` checks them
against the headers through the C extension. The module is pure Python and
imports nothing from libca, so it can be loaded before a backend is chosen.
"""

from __future__ import annotations

import enum as _enum
import operator as _operator


__all__ = [
    # enumerations
    'ECA', 'CA_K', 'DBF', 'DBR', 'DBE', 'ChannelState', 'CA_OP',
    'CA_PRIORITY', 'AlarmSeverity', 'AlarmCondition',
    # sizes and other plain numbers
    'MAX_STRING_SIZE', 'MAX_UNITS_SIZE', 'MAX_ENUM_STRING_SIZE',
    'MAX_ENUM_STATES', 'POSIX_TIME_AT_EPICS_EPOCH', 'TYPENOTCONN',
    'LAST_TYPE', 'LAST_BUFFER_TYPE', 'ALARM_NSEV', 'ALARM_NSTATUS',
    # DBR helpers, pure functions of the db_access.h tables
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
]


class _CAEnum(_enum.IntEnum):
    """Common base: members print as ``Class.MEMBER`` on every Python.

    Python 3.11 changed ``str()`` and ``format()`` of IntEnum members to the
    bare number, but scripts and the documentation print statuses, types and
    alarms expecting e.g. ``ECA.NORMAL``; a non-empty format spec still
    formats the number, so ``f'{status:#x}'`` keeps working.
    """

    def __str__(self) -> str:
        return f'{type(self).__name__}.{self._name_}'

    def __format__(self, format_spec: str) -> str:
        if not format_spec:
            return self.__str__()
        return int.__format__(int(self), format_spec)


# ---------------------------------------------------------------------------
# caerr.h

class CA_K(_CAEnum):
    """Severity field of a CA status code (the ``CA_K_*`` of caerr.h)."""

    INFO = 3
    ERROR = 2
    SUCCESS = 1
    WARNING = 0
    SEVERE = 4
    FATAL = ERROR | SEVERE


# Field layout of a status code, from caerr.h's CA_M_*/CA_V_* masks.
_CA_M_MSG_NO = 0x0000FFF8
_CA_M_SEVERITY = 0x00000007
_CA_V_MSG_NO = 3
_CA_V_SEVERITY = 0


def _defmsg(severity: int, number: int) -> int:
    # caerr.h's DEFMSG: the message number and the severity share one int.
    return (((number << _CA_V_MSG_NO) & _CA_M_MSG_NO)
            | ((severity << _CA_V_SEVERITY) & _CA_M_SEVERITY))


class ECA(_CAEnum):
    """Status codes returned by libca (the ``ECA_*`` of caerr.h).

    ``ECA_16KARRAYCLIENT`` is spelled ``ARRAY16KCLIENT`` because a Python
    name cannot start with a digit.
    """

    NORMAL = _defmsg(CA_K.SUCCESS, 0)
    MAXIOC = _defmsg(CA_K.ERROR, 1)
    UKNHOST = _defmsg(CA_K.ERROR, 2)
    UKNSERV = _defmsg(CA_K.ERROR, 3)
    SOCK = _defmsg(CA_K.ERROR, 4)
    CONN = _defmsg(CA_K.WARNING, 5)
    ALLOCMEM = _defmsg(CA_K.WARNING, 6)
    UKNCHAN = _defmsg(CA_K.WARNING, 7)
    UKNFIELD = _defmsg(CA_K.WARNING, 8)
    TOLARGE = _defmsg(CA_K.WARNING, 9)
    TIMEOUT = _defmsg(CA_K.WARNING, 10)
    NOSUPPORT = _defmsg(CA_K.WARNING, 11)
    STRTOBIG = _defmsg(CA_K.WARNING, 12)
    DISCONNCHID = _defmsg(CA_K.ERROR, 13)
    BADTYPE = _defmsg(CA_K.ERROR, 14)
    CHIDNOTFND = _defmsg(CA_K.INFO, 15)
    CHIDRETRY = _defmsg(CA_K.INFO, 16)
    INTERNAL = _defmsg(CA_K.FATAL, 17)
    DBLCLFAIL = _defmsg(CA_K.WARNING, 18)
    GETFAIL = _defmsg(CA_K.WARNING, 19)
    PUTFAIL = _defmsg(CA_K.WARNING, 20)
    ADDFAIL = _defmsg(CA_K.WARNING, 21)
    BADCOUNT = _defmsg(CA_K.WARNING, 22)
    BADSTR = _defmsg(CA_K.ERROR, 23)
    DISCONN = _defmsg(CA_K.WARNING, 24)
    DBLCHNL = _defmsg(CA_K.WARNING, 25)
    EVDISALLOW = _defmsg(CA_K.ERROR, 26)
    BUILDGET = _defmsg(CA_K.WARNING, 27)
    NEEDSFP = _defmsg(CA_K.WARNING, 28)
    OVEVFAIL = _defmsg(CA_K.WARNING, 29)
    BADMONID = _defmsg(CA_K.ERROR, 30)
    NEWADDR = _defmsg(CA_K.WARNING, 31)
    NEWCONN = _defmsg(CA_K.INFO, 32)
    NOCACTX = _defmsg(CA_K.WARNING, 33)
    DEFUNCT = _defmsg(CA_K.FATAL, 34)
    EMPTYSTR = _defmsg(CA_K.WARNING, 35)
    NOREPEATER = _defmsg(CA_K.WARNING, 36)
    NOCHANMSG = _defmsg(CA_K.WARNING, 37)
    DLCKREST = _defmsg(CA_K.WARNING, 38)
    SERVBEHIND = _defmsg(CA_K.WARNING, 39)
    NOCAST = _defmsg(CA_K.WARNING, 40)
    BADMASK = _defmsg(CA_K.ERROR, 41)
    IODONE = _defmsg(CA_K.INFO, 42)
    IOINPROGRESS = _defmsg(CA_K.INFO, 43)
    BADSYNCGRP = _defmsg(CA_K.ERROR, 44)
    PUTCBINPROG = _defmsg(CA_K.ERROR, 45)
    NORDACCESS = _defmsg(CA_K.WARNING, 46)
    NOWTACCESS = _defmsg(CA_K.WARNING, 47)
    ANACHRONISM = _defmsg(CA_K.ERROR, 48)
    NOSEARCHADDR = _defmsg(CA_K.WARNING, 49)
    NOCONVERT = _defmsg(CA_K.WARNING, 50)
    BADCHID = _defmsg(CA_K.ERROR, 51)
    BADFUNCPTR = _defmsg(CA_K.ERROR, 52)
    ISATTACHED = _defmsg(CA_K.WARNING, 53)
    UNAVAILINSERV = _defmsg(CA_K.WARNING, 54)
    CHANDESTROY = _defmsg(CA_K.WARNING, 55)
    BADPRIORITY = _defmsg(CA_K.ERROR, 56)
    NOTTHREADED = _defmsg(CA_K.ERROR, 57)
    ARRAY16KCLIENT = _defmsg(CA_K.WARNING, 58)
    CONNSEQTMO = _defmsg(CA_K.WARNING, 59)
    UNRESPTMO = _defmsg(CA_K.WARNING, 60)

    def message(self) -> str:
        """The text libca's ``ca_message`` gives for this status."""
        # Imported here, not at module level: CaChannel.ca imports this
        # module, and which backend answers is only known once it has loaded.
        from CaChannel import ca
        return ca.message(self)

    def severity(self) -> CA_K:
        """The severity bits of the code (caerr.h's CA_EXTRACT_SEVERITY)."""
        return CA_K((self & _CA_M_SEVERITY) >> _CA_V_SEVERITY)


# ---------------------------------------------------------------------------
# db_access.h

MAX_STRING_SIZE: int = 40
MAX_UNITS_SIZE: int = 8
MAX_ENUM_STRING_SIZE: int = 26
MAX_ENUM_STATES: int = 16
LAST_TYPE: int = 6
LAST_BUFFER_TYPE: int = 38

# cadef.h: what ca_field_type answers for a channel that is not connected.
TYPENOTCONN: int = -1

# epicsTime.h: CA time stamps count from 1990-01-01 UTC, not from 1970.
POSIX_TIME_AT_EPICS_EPOCH: int = 631152000


class DBF(_CAEnum):
    """Native field types of a channel (the ``DBF_*`` of db_access.h).

    ``ca_field_type`` gives ``NOT_CONNECTED`` (cadef.h's ``TYPENOTCONN``,
    -1) for a channel that is not connected. ``NO_ACCESS`` is db_access.h's
    ``DBF_NO_ACCESS`` (7). ``INT`` and ``SHORT`` are the same type; ``INT``
    comes first so that ``DBF(1)`` is ``DBF.INT``, as for ``DBR``.
    """

    NOT_CONNECTED = -1
    STRING = 0
    INT = 1
    SHORT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6
    NO_ACCESS = 7

    def toSTS(self) -> DBR:
        """The ``DBR_STS_*`` type of this field type."""
        return dbf_type_to_DBR_STS(self)

    def toTIME(self) -> DBR:
        """The ``DBR_TIME_*`` type of this field type."""
        return dbf_type_to_DBR_TIME(self)

    def toGR(self) -> DBR:
        """The ``DBR_GR_*`` type of this field type."""
        return dbf_type_to_DBR_GR(self)

    def toCTRL(self) -> DBR:
        """The ``DBR_CTRL_*`` type of this field type."""
        return dbf_type_to_DBR_CTRL(self)


class DBR(_CAEnum):
    """Request types of get, put and subscriptions (``DBR_*`` of db_access.h).

    ``INVALID`` is the -1 the ``dbf_type_to_DBR*`` macros give for a field
    type they do not know. In each family ``INT`` is listed before its alias
    ``SHORT``, so ``DBR(1)`` is ``DBR.INT`` and ``DBR(15)`` is
    ``DBR.TIME_INT``.
    """

    INVALID = -1
    STRING = 0
    INT = 1
    SHORT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6
    STS_STRING = 7
    STS_INT = 8
    STS_SHORT = 8
    STS_FLOAT = 9
    STS_ENUM = 10
    STS_CHAR = 11
    STS_LONG = 12
    STS_DOUBLE = 13
    TIME_STRING = 14
    TIME_INT = 15
    TIME_SHORT = 15
    TIME_FLOAT = 16
    TIME_ENUM = 17
    TIME_CHAR = 18
    TIME_LONG = 19
    TIME_DOUBLE = 20
    GR_STRING = 21
    GR_INT = 22
    GR_SHORT = 22
    GR_FLOAT = 23
    GR_ENUM = 24
    GR_CHAR = 25
    GR_LONG = 26
    GR_DOUBLE = 27
    CTRL_STRING = 28
    CTRL_INT = 29
    CTRL_SHORT = 29
    CTRL_FLOAT = 30
    CTRL_ENUM = 31
    CTRL_CHAR = 32
    CTRL_LONG = 33
    CTRL_DOUBLE = 34
    PUT_ACKT = 35
    PUT_ACKS = 36
    STSACK_STRING = 37
    CLASS_NAME = 38

    def isSTRING(self) -> bool:
        """True for the STRING type of every family."""
        return dbr_type_is_STRING(self)

    def isSHORT(self) -> bool:
        """True for the SHORT (INT) type of every family."""
        return dbr_type_is_SHORT(self)

    def isFLOAT(self) -> bool:
        """True for the FLOAT type of every family."""
        return dbr_type_is_FLOAT(self)

    def isENUM(self) -> bool:
        """True for the ENUM type of every family."""
        return dbr_type_is_ENUM(self)

    def isCHAR(self) -> bool:
        """True for the CHAR type of every family."""
        return dbr_type_is_CHAR(self)

    def isLONG(self) -> bool:
        """True for the LONG type of every family."""
        return dbr_type_is_LONG(self)

    def isDOUBLE(self) -> bool:
        """True for the DOUBLE type of every family."""
        return dbr_type_is_DOUBLE(self)

    def isPlain(self) -> bool:
        """True for a plain (value only) type."""
        return dbr_type_is_plain(self)

    def isSTS(self) -> bool:
        """True for a ``STS_*`` type."""
        return dbr_type_is_STS(self)

    def isTIME(self) -> bool:
        """True for a ``TIME_*`` type."""
        return dbr_type_is_TIME(self)

    def isGR(self) -> bool:
        """True for a ``GR_*`` type."""
        return dbr_type_is_GR(self)

    def isCTRL(self) -> bool:
        """True for a ``CTRL_*`` type."""
        return dbr_type_is_CTRL(self)


# ---------------------------------------------------------------------------
# caeventmask.h

class DBE(_CAEnum):
    """Event masks of a subscription (caeventmask.h); combine with ``|``."""

    VALUE = 1 << 0
    LOG = 1 << 1
    ARCHIVE = 1 << 1
    ALARM = 1 << 2
    PROPERTY = 1 << 3


# ---------------------------------------------------------------------------
# cadef.h

class ChannelState(_CAEnum):
    """Connection state of a channel (cadef.h's ``enum channel_state``).

    ``NEVER_SEARCH`` is not a libca state: it is kept because caffi, which
    earlier CaChannel releases used, defines it and scripts may name it.
    """

    NEVER_CONN = 0
    PREV_CONN = 1
    CONN = 2
    CLOSED = 3
    NEVER_SEARCH = 4


class CA_OP(_CAEnum):
    """The ``op`` of connection and exception callbacks (cadef.h).

    ``SEARCH`` is cadef.h's ``CA_OP_SEARCH``, the same number as
    ``CREATE_CHANNEL``.
    """

    GET = 0
    PUT = 1
    CREATE_CHANNEL = 2
    SEARCH = 2
    ADD_EVENT = 3
    CLEAR_EVENT = 4
    OTHER = 5
    CONN_UP = 6
    CONN_DOWN = 7


class CA_PRIORITY(_CAEnum):
    """Channel priorities of ca_create_channel (cadef.h)."""

    MAX = 99
    MIN = 0
    DEFAULT = MIN
    DB_LINKS = 80
    ARCHIVE = 20
    OPI = 0


# ---------------------------------------------------------------------------
# alarm.h

class AlarmSeverity(_CAEnum):
    """Alarm severity of a value (alarm.h's ``epicsAlarmSeverity``)."""

    No = 0
    Minor = 1
    Major = 2
    Invalid = 3


class AlarmCondition(_CAEnum):
    """Alarm status of a value (alarm.h's ``epicsAlarmCondition``)."""

    No = 0
    Read = 1
    Write = 2
    HiHi = 3
    High = 4
    LoLo = 5
    Low = 6
    State = 7
    Cos = 8
    Comm = 9
    Timeout = 10
    HwLimit = 11
    Calc = 12
    Scan = 13
    Link = 14
    Soft = 15
    BadSub = 16
    UDF = 17
    Disable = 18
    Simm = 19
    ReadAccess = 20
    WriteAccess = 21


ALARM_NSEV: int = len(AlarmSeverity)
ALARM_NSTATUS: int = len(AlarmCondition)


# ---------------------------------------------------------------------------
# Plain constants with the C names. They are written out one by one, not
# generated, so that readers, IDEs and type checkers see every name;
# tests/test_constants.py checks that they agree with the enums and that
# __all__ below lists exactly the names this module defines (type checkers
# need the list written out to see them through ``from ... import *``).

# caerr.h
CA_K_INFO = CA_K.INFO
CA_K_ERROR = CA_K.ERROR
CA_K_SUCCESS = CA_K.SUCCESS
CA_K_WARNING = CA_K.WARNING
CA_K_SEVERE = CA_K.SEVERE
CA_K_FATAL = CA_K.FATAL

ECA_NORMAL = ECA.NORMAL
ECA_MAXIOC = ECA.MAXIOC
ECA_UKNHOST = ECA.UKNHOST
ECA_UKNSERV = ECA.UKNSERV
ECA_SOCK = ECA.SOCK
ECA_CONN = ECA.CONN
ECA_ALLOCMEM = ECA.ALLOCMEM
ECA_UKNCHAN = ECA.UKNCHAN
ECA_UKNFIELD = ECA.UKNFIELD
ECA_TOLARGE = ECA.TOLARGE
ECA_TIMEOUT = ECA.TIMEOUT
ECA_NOSUPPORT = ECA.NOSUPPORT
ECA_STRTOBIG = ECA.STRTOBIG
ECA_DISCONNCHID = ECA.DISCONNCHID
ECA_BADTYPE = ECA.BADTYPE
ECA_CHIDNOTFND = ECA.CHIDNOTFND
ECA_CHIDRETRY = ECA.CHIDRETRY
ECA_INTERNAL = ECA.INTERNAL
ECA_DBLCLFAIL = ECA.DBLCLFAIL
ECA_GETFAIL = ECA.GETFAIL
ECA_PUTFAIL = ECA.PUTFAIL
ECA_ADDFAIL = ECA.ADDFAIL
ECA_BADCOUNT = ECA.BADCOUNT
ECA_BADSTR = ECA.BADSTR
ECA_DISCONN = ECA.DISCONN
ECA_DBLCHNL = ECA.DBLCHNL
ECA_EVDISALLOW = ECA.EVDISALLOW
ECA_BUILDGET = ECA.BUILDGET
ECA_NEEDSFP = ECA.NEEDSFP
ECA_OVEVFAIL = ECA.OVEVFAIL
ECA_BADMONID = ECA.BADMONID
ECA_NEWADDR = ECA.NEWADDR
ECA_NEWCONN = ECA.NEWCONN
ECA_NOCACTX = ECA.NOCACTX
ECA_DEFUNCT = ECA.DEFUNCT
ECA_EMPTYSTR = ECA.EMPTYSTR
ECA_NOREPEATER = ECA.NOREPEATER
ECA_NOCHANMSG = ECA.NOCHANMSG
ECA_DLCKREST = ECA.DLCKREST
ECA_SERVBEHIND = ECA.SERVBEHIND
ECA_NOCAST = ECA.NOCAST
ECA_BADMASK = ECA.BADMASK
ECA_IODONE = ECA.IODONE
ECA_IOINPROGRESS = ECA.IOINPROGRESS
ECA_BADSYNCGRP = ECA.BADSYNCGRP
ECA_PUTCBINPROG = ECA.PUTCBINPROG
ECA_NORDACCESS = ECA.NORDACCESS
ECA_NOWTACCESS = ECA.NOWTACCESS
ECA_ANACHRONISM = ECA.ANACHRONISM
ECA_NOSEARCHADDR = ECA.NOSEARCHADDR
ECA_NOCONVERT = ECA.NOCONVERT
ECA_BADCHID = ECA.BADCHID
ECA_BADFUNCPTR = ECA.BADFUNCPTR
ECA_ISATTACHED = ECA.ISATTACHED
ECA_UNAVAILINSERV = ECA.UNAVAILINSERV
ECA_CHANDESTROY = ECA.CHANDESTROY
ECA_BADPRIORITY = ECA.BADPRIORITY
ECA_NOTTHREADED = ECA.NOTTHREADED
ECA_16KARRAYCLIENT = ECA.ARRAY16KCLIENT
ECA_CONNSEQTMO = ECA.CONNSEQTMO
ECA_UNRESPTMO = ECA.UNRESPTMO

# db_access.h
DBF_STRING = DBF.STRING
DBF_INT = DBF.INT
DBF_SHORT = DBF.SHORT
DBF_FLOAT = DBF.FLOAT
DBF_ENUM = DBF.ENUM
DBF_CHAR = DBF.CHAR
DBF_LONG = DBF.LONG
DBF_DOUBLE = DBF.DOUBLE
DBF_NO_ACCESS = DBF.NO_ACCESS

DBR_STRING = DBR.STRING
DBR_INT = DBR.INT
DBR_SHORT = DBR.SHORT
DBR_FLOAT = DBR.FLOAT
DBR_ENUM = DBR.ENUM
DBR_CHAR = DBR.CHAR
DBR_LONG = DBR.LONG
DBR_DOUBLE = DBR.DOUBLE
DBR_STS_STRING = DBR.STS_STRING
DBR_STS_INT = DBR.STS_INT
DBR_STS_SHORT = DBR.STS_SHORT
DBR_STS_FLOAT = DBR.STS_FLOAT
DBR_STS_ENUM = DBR.STS_ENUM
DBR_STS_CHAR = DBR.STS_CHAR
DBR_STS_LONG = DBR.STS_LONG
DBR_STS_DOUBLE = DBR.STS_DOUBLE
DBR_TIME_STRING = DBR.TIME_STRING
DBR_TIME_INT = DBR.TIME_INT
DBR_TIME_SHORT = DBR.TIME_SHORT
DBR_TIME_FLOAT = DBR.TIME_FLOAT
DBR_TIME_ENUM = DBR.TIME_ENUM
DBR_TIME_CHAR = DBR.TIME_CHAR
DBR_TIME_LONG = DBR.TIME_LONG
DBR_TIME_DOUBLE = DBR.TIME_DOUBLE
DBR_GR_STRING = DBR.GR_STRING
DBR_GR_INT = DBR.GR_INT
DBR_GR_SHORT = DBR.GR_SHORT
DBR_GR_FLOAT = DBR.GR_FLOAT
DBR_GR_ENUM = DBR.GR_ENUM
DBR_GR_CHAR = DBR.GR_CHAR
DBR_GR_LONG = DBR.GR_LONG
DBR_GR_DOUBLE = DBR.GR_DOUBLE
DBR_CTRL_STRING = DBR.CTRL_STRING
DBR_CTRL_INT = DBR.CTRL_INT
DBR_CTRL_SHORT = DBR.CTRL_SHORT
DBR_CTRL_FLOAT = DBR.CTRL_FLOAT
DBR_CTRL_ENUM = DBR.CTRL_ENUM
DBR_CTRL_CHAR = DBR.CTRL_CHAR
DBR_CTRL_LONG = DBR.CTRL_LONG
DBR_CTRL_DOUBLE = DBR.CTRL_DOUBLE
DBR_PUT_ACKT = DBR.PUT_ACKT
DBR_PUT_ACKS = DBR.PUT_ACKS
DBR_STSACK_STRING = DBR.STSACK_STRING
DBR_CLASS_NAME = DBR.CLASS_NAME

# caeventmask.h
DBE_VALUE = DBE.VALUE
DBE_LOG = DBE.LOG
DBE_ARCHIVE = DBE.ARCHIVE
DBE_ALARM = DBE.ALARM
DBE_PROPERTY = DBE.PROPERTY

# cadef.h
cs_never_conn = ChannelState.NEVER_CONN
cs_prev_conn = ChannelState.PREV_CONN
cs_conn = ChannelState.CONN
cs_closed = ChannelState.CLOSED
cs_never_search = ChannelState.NEVER_SEARCH

CA_OP_GET = CA_OP.GET
CA_OP_PUT = CA_OP.PUT
CA_OP_CREATE_CHANNEL = CA_OP.CREATE_CHANNEL
CA_OP_SEARCH = CA_OP.SEARCH
CA_OP_ADD_EVENT = CA_OP.ADD_EVENT
CA_OP_CLEAR_EVENT = CA_OP.CLEAR_EVENT
CA_OP_OTHER = CA_OP.OTHER
CA_OP_CONN_UP = CA_OP.CONN_UP
CA_OP_CONN_DOWN = CA_OP.CONN_DOWN

CA_PRIORITY_MAX = CA_PRIORITY.MAX
CA_PRIORITY_MIN = CA_PRIORITY.MIN
CA_PRIORITY_DEFAULT = CA_PRIORITY.DEFAULT
CA_PRIORITY_DB_LINKS = CA_PRIORITY.DB_LINKS
CA_PRIORITY_ARCHIVE = CA_PRIORITY.ARCHIVE
CA_PRIORITY_OPI = CA_PRIORITY.OPI

# alarm.h
NO_ALARM = AlarmSeverity.No
MINOR_ALARM = AlarmSeverity.Minor
MAJOR_ALARM = AlarmSeverity.Major
INVALID_ALARM = AlarmSeverity.Invalid

READ_ALARM = AlarmCondition.Read
WRITE_ALARM = AlarmCondition.Write
HIHI_ALARM = AlarmCondition.HiHi
HIGH_ALARM = AlarmCondition.High
LOLO_ALARM = AlarmCondition.LoLo
LOW_ALARM = AlarmCondition.Low
STATE_ALARM = AlarmCondition.State
COS_ALARM = AlarmCondition.Cos
COMM_ALARM = AlarmCondition.Comm
TIMEOUT_ALARM = AlarmCondition.Timeout
HW_LIMIT_ALARM = AlarmCondition.HwLimit
CALC_ALARM = AlarmCondition.Calc
SCAN_ALARM = AlarmCondition.Scan
LINK_ALARM = AlarmCondition.Link
SOFT_ALARM = AlarmCondition.Soft
BAD_SUB_ALARM = AlarmCondition.BadSub
UDF_ALARM = AlarmCondition.UDF
DISABLE_ALARM = AlarmCondition.Disable
SIMM_ALARM = AlarmCondition.Simm
READ_ACCESS_ALARM = AlarmCondition.ReadAccess
WRITE_ACCESS_ALARM = AlarmCondition.WriteAccess

__all__ += [
    'CA_K_INFO', 'CA_K_ERROR', 'CA_K_SUCCESS', 'CA_K_WARNING', 'CA_K_SEVERE',
    'CA_K_FATAL',
    'ECA_NORMAL', 'ECA_MAXIOC', 'ECA_UKNHOST', 'ECA_UKNSERV', 'ECA_SOCK',
    'ECA_CONN', 'ECA_ALLOCMEM', 'ECA_UKNCHAN', 'ECA_UKNFIELD', 'ECA_TOLARGE',
    'ECA_TIMEOUT', 'ECA_NOSUPPORT', 'ECA_STRTOBIG', 'ECA_DISCONNCHID',
    'ECA_BADTYPE', 'ECA_CHIDNOTFND', 'ECA_CHIDRETRY', 'ECA_INTERNAL',
    'ECA_DBLCLFAIL', 'ECA_GETFAIL', 'ECA_PUTFAIL', 'ECA_ADDFAIL',
    'ECA_BADCOUNT', 'ECA_BADSTR', 'ECA_DISCONN', 'ECA_DBLCHNL',
    'ECA_EVDISALLOW', 'ECA_BUILDGET', 'ECA_NEEDSFP', 'ECA_OVEVFAIL',
    'ECA_BADMONID', 'ECA_NEWADDR', 'ECA_NEWCONN', 'ECA_NOCACTX',
    'ECA_DEFUNCT', 'ECA_EMPTYSTR', 'ECA_NOREPEATER', 'ECA_NOCHANMSG',
    'ECA_DLCKREST', 'ECA_SERVBEHIND', 'ECA_NOCAST', 'ECA_BADMASK',
    'ECA_IODONE', 'ECA_IOINPROGRESS', 'ECA_BADSYNCGRP', 'ECA_PUTCBINPROG',
    'ECA_NORDACCESS', 'ECA_NOWTACCESS', 'ECA_ANACHRONISM',
    'ECA_NOSEARCHADDR', 'ECA_NOCONVERT', 'ECA_BADCHID', 'ECA_BADFUNCPTR',
    'ECA_ISATTACHED', 'ECA_UNAVAILINSERV', 'ECA_CHANDESTROY',
    'ECA_BADPRIORITY', 'ECA_NOTTHREADED', 'ECA_16KARRAYCLIENT',
    'ECA_CONNSEQTMO', 'ECA_UNRESPTMO',
    'DBF_STRING', 'DBF_INT', 'DBF_SHORT', 'DBF_FLOAT', 'DBF_ENUM',
    'DBF_CHAR', 'DBF_LONG', 'DBF_DOUBLE', 'DBF_NO_ACCESS',
    'DBR_STRING', 'DBR_INT', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM',
    'DBR_CHAR', 'DBR_LONG', 'DBR_DOUBLE',
    'DBR_STS_STRING', 'DBR_STS_INT', 'DBR_STS_SHORT', 'DBR_STS_FLOAT',
    'DBR_STS_ENUM', 'DBR_STS_CHAR', 'DBR_STS_LONG', 'DBR_STS_DOUBLE',
    'DBR_TIME_STRING', 'DBR_TIME_INT', 'DBR_TIME_SHORT', 'DBR_TIME_FLOAT',
    'DBR_TIME_ENUM', 'DBR_TIME_CHAR', 'DBR_TIME_LONG', 'DBR_TIME_DOUBLE',
    'DBR_GR_STRING', 'DBR_GR_INT', 'DBR_GR_SHORT', 'DBR_GR_FLOAT',
    'DBR_GR_ENUM', 'DBR_GR_CHAR', 'DBR_GR_LONG', 'DBR_GR_DOUBLE',
    'DBR_CTRL_STRING', 'DBR_CTRL_INT', 'DBR_CTRL_SHORT', 'DBR_CTRL_FLOAT',
    'DBR_CTRL_ENUM', 'DBR_CTRL_CHAR', 'DBR_CTRL_LONG', 'DBR_CTRL_DOUBLE',
    'DBR_PUT_ACKT', 'DBR_PUT_ACKS', 'DBR_STSACK_STRING', 'DBR_CLASS_NAME',
    'DBE_VALUE', 'DBE_LOG', 'DBE_ARCHIVE', 'DBE_ALARM', 'DBE_PROPERTY',
    'cs_never_conn', 'cs_prev_conn', 'cs_conn', 'cs_closed',
    'cs_never_search',
    'CA_OP_GET', 'CA_OP_PUT', 'CA_OP_CREATE_CHANNEL', 'CA_OP_SEARCH',
    'CA_OP_ADD_EVENT', 'CA_OP_CLEAR_EVENT', 'CA_OP_OTHER', 'CA_OP_CONN_UP',
    'CA_OP_CONN_DOWN',
    'CA_PRIORITY_MAX', 'CA_PRIORITY_MIN', 'CA_PRIORITY_DEFAULT',
    'CA_PRIORITY_DB_LINKS', 'CA_PRIORITY_ARCHIVE', 'CA_PRIORITY_OPI',
    'NO_ALARM', 'MINOR_ALARM', 'MAJOR_ALARM', 'INVALID_ALARM',
    'READ_ALARM', 'WRITE_ALARM', 'HIHI_ALARM', 'HIGH_ALARM', 'LOLO_ALARM',
    'LOW_ALARM', 'STATE_ALARM', 'COS_ALARM', 'COMM_ALARM', 'TIMEOUT_ALARM',
    'HW_LIMIT_ALARM', 'CALC_ALARM', 'SCAN_ALARM', 'LINK_ALARM',
    'SOFT_ALARM', 'BAD_SUB_ALARM', 'UDF_ALARM', 'DISABLE_ALARM',
    'SIMM_ALARM', 'READ_ACCESS_ALARM', 'WRITE_ACCESS_ALARM',
]


# ---------------------------------------------------------------------------
# Text tables: the arrays libca (dbf_text, dbr_text) and libCom
# (epicsAlarmSeverityStrings, epicsAlarmConditionStrings) export, entry for
# entry, so both backends print the names C programs print.

# dbf_text[t + 1] names field type t; entry 0 is for TYPENOTCONN.
_DBF_TEXT: tuple[str, ...] = (
    'TYPENOTCONN', 'DBF_STRING', 'DBF_SHORT', 'DBF_FLOAT', 'DBF_ENUM',
    'DBF_CHAR', 'DBF_LONG', 'DBF_DOUBLE', 'DBF_NO_ACCESS',
)
_DBF_TEXT_INVALID = 'DBF_invalid'

_DBR_TEXT: tuple[str, ...] = (
    'DBR_STRING', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM', 'DBR_CHAR',
    'DBR_LONG', 'DBR_DOUBLE',
    'DBR_STS_STRING', 'DBR_STS_SHORT', 'DBR_STS_FLOAT', 'DBR_STS_ENUM',
    'DBR_STS_CHAR', 'DBR_STS_LONG', 'DBR_STS_DOUBLE',
    'DBR_TIME_STRING', 'DBR_TIME_SHORT', 'DBR_TIME_FLOAT', 'DBR_TIME_ENUM',
    'DBR_TIME_CHAR', 'DBR_TIME_LONG', 'DBR_TIME_DOUBLE',
    'DBR_GR_STRING', 'DBR_GR_SHORT', 'DBR_GR_FLOAT', 'DBR_GR_ENUM',
    'DBR_GR_CHAR', 'DBR_GR_LONG', 'DBR_GR_DOUBLE',
    'DBR_CTRL_STRING', 'DBR_CTRL_SHORT', 'DBR_CTRL_FLOAT', 'DBR_CTRL_ENUM',
    'DBR_CTRL_CHAR', 'DBR_CTRL_LONG', 'DBR_CTRL_DOUBLE',
    'DBR_PUT_ACKT', 'DBR_PUT_ACKS', 'DBR_STSACK_STRING', 'DBR_CLASS_NAME',
)
_DBR_TEXT_INVALID = 'DBR_invalid'

_ALARM_SEVERITY_STRINGS: tuple[str, ...] = (
    'NO_ALARM', 'MINOR', 'MAJOR', 'INVALID',
)

_ALARM_CONDITION_STRINGS: tuple[str, ...] = (
    'NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW', 'STATE',
    'COS', 'COMM', 'TIMEOUT', 'HWLIMIT', 'CALC', 'SCAN', 'LINK', 'SOFT',
    'BAD_SUB', 'UDF', 'DISABLE', 'SIMM', 'READ_ACCESS', 'WRITE_ACCESS',
)

# db_access.h's macros are written in terms of dbf_text_dim; with libca's
# table (9 entries) its "dbf_text_dim - 3" is LAST_TYPE.
_DBF_TYPE_COUNT = LAST_TYPE + 1


# ---------------------------------------------------------------------------
# DBR helpers: the db_access.h macros, one function each. Arguments go
# through operator.index, as the macros only take C integers: an IntEnum or
# numpy integer is fine, a float or None raises TypeError.

def dbf_type_is_valid(dbftype: int) -> bool:
    """True if ``dbftype`` is a field type, DBF_STRING to DBF_DOUBLE."""
    t = _operator.index(dbftype)
    return 0 <= t <= LAST_TYPE


def dbr_type_is_valid(dbrtype: int) -> bool:
    """True if ``dbrtype`` is a request type, DBR_STRING to DBR_CLASS_NAME."""
    t = _operator.index(dbrtype)
    return 0 <= t <= LAST_BUFFER_TYPE


def _dbf_to_family(dbftype: int, family: int) -> DBR:
    # The dbf_type_to_DBR* macros: each family of request types is one
    # block of LAST_TYPE + 1 types, in field type order.
    t = _operator.index(dbftype)
    if 0 <= t <= LAST_TYPE:
        return DBR(t + family * _DBF_TYPE_COUNT)
    return DBR.INVALID


def dbf_type_to_DBR(dbftype: int) -> DBR:
    """The plain request type of a field type, ``DBR.INVALID`` if none."""
    return _dbf_to_family(dbftype, 0)


def dbf_type_to_DBR_STS(dbftype: int) -> DBR:
    """The ``DBR_STS_*`` type of a field type, ``DBR.INVALID`` if none."""
    return _dbf_to_family(dbftype, 1)


def dbf_type_to_DBR_TIME(dbftype: int) -> DBR:
    """The ``DBR_TIME_*`` type of a field type, ``DBR.INVALID`` if none."""
    return _dbf_to_family(dbftype, 2)


def dbf_type_to_DBR_GR(dbftype: int) -> DBR:
    """The ``DBR_GR_*`` type of a field type, ``DBR.INVALID`` if none."""
    return _dbf_to_family(dbftype, 3)


def dbf_type_to_DBR_CTRL(dbftype: int) -> DBR:
    """The ``DBR_CTRL_*`` type of a field type, ``DBR.INVALID`` if none."""
    return _dbf_to_family(dbftype, 4)


def dbr_type_is_plain(dbrtype: int) -> bool:
    """True for DBR_STRING to DBR_DOUBLE."""
    t = _operator.index(dbrtype)
    return DBR.STRING <= t <= DBR.DOUBLE


def dbr_type_is_STS(dbrtype: int) -> bool:
    """True for DBR_STS_STRING to DBR_STS_DOUBLE."""
    t = _operator.index(dbrtype)
    return DBR.STS_STRING <= t <= DBR.STS_DOUBLE


def dbr_type_is_TIME(dbrtype: int) -> bool:
    """True for DBR_TIME_STRING to DBR_TIME_DOUBLE."""
    t = _operator.index(dbrtype)
    return DBR.TIME_STRING <= t <= DBR.TIME_DOUBLE


def dbr_type_is_GR(dbrtype: int) -> bool:
    """True for DBR_GR_STRING to DBR_GR_DOUBLE."""
    t = _operator.index(dbrtype)
    return DBR.GR_STRING <= t <= DBR.GR_DOUBLE


def dbr_type_is_CTRL(dbrtype: int) -> bool:
    """True for DBR_CTRL_STRING to DBR_CTRL_DOUBLE."""
    t = _operator.index(dbrtype)
    return DBR.CTRL_STRING <= t <= DBR.CTRL_DOUBLE


def _dbr_value_type_is(dbrtype: int, plain: int) -> bool:
    # The macros only look at the type modulo LAST_TYPE + 1, so beyond the
    # CTRL family they also match DBR_PUT_ACKT (35 % 7 == 0, STRING),
    # DBR_PUT_ACKS (SHORT), DBR_STSACK_STRING (FLOAT) and DBR_CLASS_NAME
    # (ENUM); this keeps that behaviour on purpose.
    t = _operator.index(dbrtype)
    return 0 <= t <= LAST_BUFFER_TYPE and t % _DBF_TYPE_COUNT == plain


def dbr_type_is_STRING(dbrtype: int) -> bool:
    """True for the STRING type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.STRING)


def dbr_type_is_SHORT(dbrtype: int) -> bool:
    """True for the SHORT type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.SHORT)


def dbr_type_is_FLOAT(dbrtype: int) -> bool:
    """True for the FLOAT type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.FLOAT)


def dbr_type_is_ENUM(dbrtype: int) -> bool:
    """True for the ENUM type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.ENUM)


def dbr_type_is_CHAR(dbrtype: int) -> bool:
    """True for the CHAR type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.CHAR)


def dbr_type_is_LONG(dbrtype: int) -> bool:
    """True for the LONG type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.LONG)


def dbr_type_is_DOUBLE(dbrtype: int) -> bool:
    """True for the DOUBLE type of every family (db_access.h macro)."""
    return _dbr_value_type_is(dbrtype, DBR.DOUBLE)


def dbf_type_to_text(dbftype: int) -> str:
    """The C name of a field type, e.g. ``'DBF_DOUBLE'``.

    -1 gives ``'TYPENOTCONN'``, anything outside -1..7 ``'DBF_invalid'``.
    """
    # db_access.h's dbf_type_to_text stops one entry short of the table it
    # indexes and calls 7 invalid; 'DBF_NO_ACCESS' is in the table, and it is
    # what a cleared channel's field type should print, so use the whole
    # table.
    t = _operator.index(dbftype)
    if -1 <= t < len(_DBF_TEXT) - 1:
        return _DBF_TEXT[t + 1]
    return _DBF_TEXT_INVALID


def dbf_text_to_type(text: str) -> int:
    """The field type named ``text`` (e.g. ``'DBF_LONG'``), -1 if none.

    The inverse of ``dbf_text``: ``'TYPENOTCONN'`` is -1 and
    ``'DBF_NO_ACCESS'`` is 7 (the C macro does not search that entry).
    """
    try:
        return _DBF_TEXT.index(text) - 1
    except ValueError:
        return -1


def dbr_type_to_text(dbrtype: int) -> str:
    """The C name of a request type, e.g. ``'DBR_TIME_DOUBLE'``.

    Anything outside 0..LAST_BUFFER_TYPE gives ``'DBR_invalid'``.
    """
    # libca's dbr_text_dim is one more than its table has entries, so the C
    # macro reads past the array for LAST_BUFFER_TYPE + 1; that is not
    # something to copy.
    t = _operator.index(dbrtype)
    if 0 <= t < len(_DBR_TEXT):
        return _DBR_TEXT[t]
    return _DBR_TEXT_INVALID


def dbr_text_to_type(text: str) -> int:
    """The request type named ``text`` (e.g. ``'DBR_CTRL_ENUM'``), -1 if none.

    Only the names of libca's table are known: ``'DBR_SHORT'`` but not
    ``'DBR_INT'``.
    """
    try:
        return _DBR_TEXT.index(text)
    except ValueError:
        return -1


# libca exports the tables as dbf_text and dbr_text; scripts call them.
dbf_text = dbf_type_to_text
dbr_text = dbr_type_to_text


def alarmSeverityString(severity: int) -> str:
    """The name libCom gives an alarm severity: ``'NO_ALARM'``, ``'MINOR'`` ...

    Raises ValueError for a number that is not a severity.
    """
    s = _operator.index(severity)
    # A plain index would accept -1 and give the last entry.
    if 0 <= s < len(_ALARM_SEVERITY_STRINGS):
        return _ALARM_SEVERITY_STRINGS[s]
    raise ValueError(f'{s} is not an alarm severity '
                     f'(0..{len(_ALARM_SEVERITY_STRINGS) - 1})')


def alarmStatusString(status: int) -> str:
    """The name libCom gives an alarm status: ``'NO_ALARM'``, ``'HIHI'`` ...

    Raises ValueError for a number that is not an alarm status.
    """
    s = _operator.index(status)
    if 0 <= s < len(_ALARM_CONDITION_STRINGS):
        return _ALARM_CONDITION_STRINGS[s]
    raise ValueError(f'{s} is not an alarm status '
                     f'(0..{len(_ALARM_CONDITION_STRINGS) - 1})')


# ---------------------------------------------------------------------------
# Texts and rules the console tools and CaChannel.util print with; private,
# as CaChannel.ca re-exports every public name.

#: What base's cainfo prints for each of libca's connection states;
#: CaChannel.util capitalizes them. NEVER_SEARCH is no state of libca.
_CHANNEL_STATE_TEXT: dict[int, str] = {
    ChannelState.NEVER_CONN: 'never connected',
    ChannelState.PREV_CONN: 'previously connected',
    ChannelState.CONN: 'connected',
    ChannelState.CLOSED: 'closed',
    ChannelState.NEVER_SEARCH: 'never searched',
}

# libca's default exception handler's name for each value of a status's
# severity bits (``CA_K``); every value with the SEVERE bit is fatal.
_CA_SEVERITY_TEXT: tuple[str, ...] = (
    'Warning', 'Success', 'Error', 'Info', 'Fatal', 'Fatal', 'Fatal', 'Fatal',
)


def _ca_severity_text(status: int) -> str:
    """How libca's exception handler names the severity of any status code."""
    return _CA_SEVERITY_TEXT[(status & _CA_M_SEVERITY) >> _CA_V_SEVERITY]


def _dbr_value_type(dbrtype: int) -> DBR:
    """The plain request type of the values a request type carries.

    The families of DBR_STRING to DBR_CTRL_DOUBLE carry the type of their
    position in the family (db_access.h's modulo rule); DBR_PUT_ACKT and
    DBR_PUT_ACKS carry an unsigned short, DBR_STSACK_STRING and
    DBR_CLASS_NAME a string. ``DBR.INVALID`` for anything else.
    """
    t = _operator.index(dbrtype)
    if DBR.STRING <= t <= DBR.CTRL_DOUBLE:
        return DBR(t % _DBF_TYPE_COUNT)
    return _VALUE_TYPES_BEYOND_CTRL.get(t, DBR.INVALID)


_VALUE_TYPES_BEYOND_CTRL: dict[int, DBR] = {
    DBR.PUT_ACKT: DBR.SHORT, DBR.PUT_ACKS: DBR.SHORT,
    DBR.STSACK_STRING: DBR.STRING, DBR.CLASS_NAME: DBR.STRING,
}
