"""Channel Access for asyncio, with aioca's interface: ``import
CaChannel.aio as aioca`` is all an aioca program changes.

``caget``, ``caput``, ``connect`` and ``cainfo`` are coroutines taking one
PV name or a list (done in parallel under one timeout); ``camonitor``
subscribes with a plain or coroutine callback.  They run on
:mod:`CaChannel.ca` (the backend ``CACHANNEL_BACKEND`` selects) in the same
CA context as :class:`CaChannel.CaChannel` and :mod:`CaChannel.util`, from
any thread and any number of event loops, each loop with its own channel
cache.  See ``docs/aio.rst`` for a tutorial and the differences from aioca.
"""

from __future__ import annotations

from .._constants import (DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DBR_CHAR,
                          DBR_CLASS_NAME, DBR_DOUBLE, DBR_ENUM, DBR_FLOAT, DBR_LONG,
                          DBR_PUT_ACKS, DBR_PUT_ACKT, DBR_SHORT, DBR_STRING,
                          DBR_STSACK_STRING)
from ._core import purge_channel_caches
from ._errors import CANothing
from ._info import ChannelInfo, get_channel_infos
from ._monitor import Subscription, camonitor
from ._ops import CAInfo, caget, cainfo, caput, connect
from ._values import (DBR_CHAR_BYTES, DBR_CHAR_STR, DBR_CHAR_UNICODE, DBR_ENUM_STR,
                      FORMAT_CTRL, FORMAT_RAW, FORMAT_TIME)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version('CaChannel')
    except PackageNotFoundError:
        return 'unknown'


#: CaChannel's version (this package ships with it).
__version__ = _version()

__all__ = [
    'caget', 'caput', 'camonitor', 'connect', 'cainfo', 'Subscription', 'CAInfo',
    'CANothing', 'ChannelInfo', 'get_channel_infos', 'purge_channel_caches',
    'FORMAT_RAW', 'FORMAT_TIME', 'FORMAT_CTRL',
    'DBE_VALUE', 'DBE_LOG', 'DBE_ALARM', 'DBE_PROPERTY',
    'DBR_STRING', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM', 'DBR_CHAR', 'DBR_LONG',
    'DBR_DOUBLE', 'DBR_CHAR_STR', 'DBR_CHAR_UNICODE', 'DBR_ENUM_STR', 'DBR_CHAR_BYTES',
    'DBR_PUT_ACKT', 'DBR_PUT_ACKS', 'DBR_STSACK_STRING', 'DBR_CLASS_NAME',
    '__version__',
]
