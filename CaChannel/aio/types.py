"""The types of :mod:`CaChannel.aio`'s arguments and values, under aioca's names.

``import CaChannel.aio.types`` wherever ``aioca.types`` was imported.
"""

from __future__ import annotations

import datetime
from typing import List, Literal, Optional, Protocol, Sized, Tuple, Type, Union

#: None (no limit), seconds from now, or ``(deadline,)`` in ``time.time()``
#: seconds.  0 fails at once anything that has to wait.
Timeout = Union[None, float, Tuple[float]]

#: An OR of ``DBE_*`` codes, or None for the format's default (DBE_VALUE;
#: with DBE_ALARM for FORMAT_TIME; and DBE_PROPERTY for FORMAT_CTRL).
Dbe = Optional[int]

#: A request code: a plain ``DBR_*`` type, ``DBR_PUT_ACKT``/``DBR_PUT_ACKS``,
#: ``DBR_STSACK_STRING``, ``DBR_CLASS_NAME``, or one of the pseudo types
#: ``DBR_ENUM_STR`` (996), ``DBR_CHAR_BYTES`` (997), ``DBR_CHAR_UNICODE``
#: (998), ``DBR_CHAR_STR`` (999) that read CHAR arrays as text and ENUMs as
#: their strings.
Dbr = Literal[0, 1, 2, 3, 4, 5, 6, 35, 36, 37, 38, 996, 997, 998, 999]

#: None (the channel's own type), a :data:`Dbr`, or a Python type or numpy
#: dtype (``int``, ``float``, ``str``, ``numpy.int16`` ...).
Datatype = Union[None, Dbr, Type]

#: ``FORMAT_RAW`` (0): the value; ``FORMAT_TIME`` (1): with alarm and time
#: stamp; ``FORMAT_CTRL`` (2): with alarm, units, limits, precision or enums.
Format = Literal[0, 1, 2]

#: 0: the server's current length; -1: the channel's full length; n > 0: at
#: most n elements.
Count = Union[Literal[0, -1], int]


class AugmentedValue(Protocol, Sized):
    """A value from ``caget`` or ``camonitor``: an ``int``, ``float``,
    ``str``, ``bytes`` or numpy array (for a channel of more than one
    element) carrying these fields; ``+value`` is the plain value.

    Every value has ``name``, ``ok``, ``datatype`` and ``element_count``;
    FORMAT_TIME adds ``status``, ``severity``, ``raw_stamp``, ``timestamp``
    (and ``datetime``); FORMAT_CTRL adds ``status``, ``severity`` and, by
    type, ``units``, the limits and ``precision``, or ``enums``.
    """

    name: str
    ok: bool
    errorcode: int
    datatype: int
    element_count: int
    severity: int
    status: int
    #: ``(POSIX seconds, nanoseconds)``, exact.
    raw_stamp: Tuple[int, int]
    #: POSIX seconds, rounded to the microsecond.
    timestamp: float
    #: ``timestamp`` as a local naive datetime.
    datetime: datetime.datetime
    units: str
    upper_disp_limit: float
    lower_disp_limit: float
    upper_alarm_limit: float
    lower_alarm_limit: float
    upper_warning_limit: float
    lower_warning_limit: float
    upper_ctrl_limit: float
    lower_ctrl_limit: float
    precision: int
    enums: List[str]
    ackt: int
    acks: int


__all__ = ['AugmentedValue', 'Count', 'Datatype', 'Dbe', 'Dbr', 'Format', 'Timeout']
