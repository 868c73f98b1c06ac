"""The :class:`epicsPV` class: a :class:`CaChannel.CaChannel` with conveniences.

Adds to CaChannel (after Mark Rivers' epicsPV, 2002):

* the constructor connects (and by default waits for the connection);
* :meth:`epicsPV.setMonitor` keeps the latest value from a subscription, so
  :meth:`~epicsPV.getw`, :meth:`~epicsPV.getValue` and :meth:`~epicsPV.array_get`
  answer without network traffic, and :meth:`~epicsPV.checkMonitor` tells
  whether a new value arrived;
* :meth:`epicsPV.getControl` reads the CTRL information (limits, units,
  precision, ...) into attributes of :attr:`epicsPV.callBack` without user
  callbacks;
* :meth:`epicsPV.putWait` writes and waits for the put callback.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from .CaChannel import CaChannel, _chosen_ca, refused

__all__ = ['epicsPV', 'callBack']

logger = logging.getLogger(__name__)

# callBack.monitorState values
_NOT_MONITORED, _MONITOR_REQUESTED, _MONITOR_RECEIVED = 0, 1, 2

# Timeout of the short pend_event that lets queued callbacks run before the
# monitored value is read.
_SHORT_PEND = 1e-4


class callBack:
    """State shared between an :class:`epicsPV` and its CA callbacks.

    The callbacks get this object rather than the epicsPV itself, so libca
    never holds a reference to the channel object and it can be garbage
    collected.  :meth:`epicsPV.getControl` and monitor updates copy every
    key of the callback arguments (``pv_value``, ``pv_units``, ...) onto it
    as attributes.

    ``monitorState``: 0 not monitored, 1 monitor requested but no update
    yet, 2 an update has arrived.  ``newMonitor``: 1 when an update arrived
    since it was last read.  ``putComplete``: 1 when the last
    :meth:`epicsPV.putWait` completed.
    """

    def __init__(self) -> None:
        self.newMonitor = 0
        self.putComplete = 0
        self.putStatus: Any = None
        self.monitorState = _NOT_MONITORED
        self.pv_value: Any = None


def _store_update(epics_args: Dict[str, Any], user_args: Any) -> None:
    """Get/monitor callback: copy the arguments onto the callBack object."""
    state: callBack = user_args[0]
    for key, value in epics_args.items():
        setattr(state, key, value)
    if state.monitorState == _MONITOR_REQUESTED:
        state.monitorState = _MONITOR_RECEIVED
    state.newMonitor = 1


def _store_put_completion(epics_args: Dict[str, Any], user_args: Any) -> None:
    """Put callback of :meth:`epicsPV.putWait`."""
    state: callBack = user_args[0]
    state.putStatus = epics_args['status']
    state.putComplete = 1


class epicsPV(CaChannel):
    """A :class:`CaChannel.CaChannel` that connects in its constructor, can
    serve reads from a monitor, reads control information and waits for puts.

    :param pvName: an optional PV name; if given the constructor searches it.
    :param wait: if True (the default) and *pvName* is given, wait for the
                 connection (:meth:`searchw`); otherwise only :meth:`search`,
                 and the caller must :meth:`pend_io` later.
    """

    __slots__ = ('callBack',)

    def __init__(self, pvName: Optional[str] = None, wait: bool = True) -> None:
        super().__init__()
        self.callBack = callBack()
        if pvName is not None:
            if wait:
                self.searchw(pvName)
            else:
                self.search(pvName)

    # ------------------------------------------------------------------
    # monitor
    # ------------------------------------------------------------------
    def setMonitor(self) -> None:
        """Keep the latest value from a value-change subscription.

        Subsequent :meth:`getw`, :meth:`getValue` or :meth:`array_get` calls
        return the value from the most recent callback without network
        latency.
        """
        if self.callBack.monitorState != _NOT_MONITORED:
            return
        self.callBack.monitorState = _MONITOR_REQUESTED
        self.add_masked_array_event(None, None, _chosen_ca().DBE_VALUE, _store_update, self.callBack)
        self.flush_io()

    def clearMonitor(self) -> None:
        """Cancel :meth:`setMonitor`; reads go to the server again."""
        self.clear_event()
        self.callBack.monitorState = _NOT_MONITORED

    def checkMonitor(self) -> int:
        """Return 1 if a value callback occurred since the last call to
        :meth:`checkMonitor`, :meth:`getw`, :meth:`getValue` or :meth:`array_get`,
        else 0."""
        self.pend_event(_SHORT_PEND)
        new, self.callBack.newMonitor = self.callBack.newMonitor, 0
        return new

    def _monitored_value(self) -> Any:
        """The value of the last monitor update, or ``_NO_VALUE`` without one."""
        if self.callBack.monitorState == _NOT_MONITORED:
            return _NO_VALUE
        # let updates queued by libca run before reading the stored value
        self.pend_event(_SHORT_PEND)
        if self.callBack.monitorState != _MONITOR_RECEIVED:
            return _NO_VALUE
        self.callBack.newMonitor = 0
        return self.callBack.pv_value

    # ------------------------------------------------------------------
    # read
    # ------------------------------------------------------------------
    def array_get(self, req_type: Optional[int] = None, count: Optional[int] = None,
                  **keywords: Any) -> Any:
        """:meth:`CaChannel.CaChannel.array_get`, or without network activity
        the last monitored value once :meth:`setMonitor` is in effect."""
        value = self._monitored_value()
        if value is _NO_VALUE:
            return super().array_get(req_type, count, **keywords)
        return value

    def getValue(self) -> Any:
        """:meth:`CaChannel.CaChannel.getValue`, or the last monitored value
        once :meth:`setMonitor` is in effect."""
        value = self._monitored_value()
        if value is _NO_VALUE:
            return super().getValue()
        return value

    def getw(self, req_type: Optional[int] = None, count: Optional[int] = None,
             **keywords: Any) -> Any:
        """:meth:`CaChannel.CaChannel.getw`, or the last monitored value
        (its first *count* elements) once :meth:`setMonitor` is in effect."""
        value = self._monitored_value()
        if value is _NO_VALUE:
            return super().getw(req_type, count, **keywords)
        if count is not None and (isinstance(value, (list, tuple)) or hasattr(value, 'shape')):
            return value[:count]
        return value

    def getControl(self, req_type: Optional[int] = None, count: Optional[int] = None,
                   wait: int = 1, poll: float = 0.01) -> None:
        """Read the CTRL information into attributes of :attr:`callBack`.

        Requests ``ca.dbf_type_to_DBR_CTRL(req_type)``; the value, limits,
        units, precision, alarm status etc. become attributes such as
        ``pv.callBack.pv_value``, ``pv.callBack.pv_units``.

        :param req_type: request type, default the field type
        :param count: number of elements, default the native count
        :param wait: 1 (the default) waits for the callback; with 0 call
                     :meth:`checkMonitor` to learn when it arrived
        :param poll: timeout of each :meth:`pend_event` while waiting
        """
        if req_type is None:
            req_type = self.field_type()
        if wait:
            self.callBack.newMonitor = 0
        self.array_get_callback(_chosen_ca().dbf_type_to_DBR_CTRL(req_type), count,
                                _store_update, self.callBack)
        if wait:
            while self.callBack.newMonitor == 0:
                self.pend_event(poll)
        else:
            self.flush_io()

    # ------------------------------------------------------------------
    # write
    # ------------------------------------------------------------------
    def putWait(self, value: Any, req_type: Optional[int] = None,
                count: Optional[int] = None, poll: float = 0.01) -> None:
        """Write with a put callback and wait for it (the record has processed).

        :param value: data to be written; a list or tuple for several values
        :param req_type: request type (``ca.DBR_XXXX``), default native
        :param count: number of values to write, default native
        :param poll: timeout of each :meth:`pend_event` while waiting
        :raises CaChannelException: if the put completed with an error status
        """
        self.callBack.putComplete = 0
        self.array_put_callback(value, req_type, count, _store_put_completion, self.callBack)
        while self.callBack.putComplete == 0:
            self.pend_event(poll)
        # caPython ignored the status; a failed put should not pass silently.
        if self.callBack.putStatus != _chosen_ca().ECA_NORMAL:
            raise refused(self.callBack.putStatus, self._pvname)


_NO_VALUE = object()
