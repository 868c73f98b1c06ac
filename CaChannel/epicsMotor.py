"""The :class:`epicsMotor` class: move, stop, wait for and configure an EPICS motor record.

After Mark Rivers' epicsMotor (2002).  One :class:`CaChannel.epicsPV.epicsPV`
per motor record field used; positions can be given and read in user, dial
or step (raw) coordinates, which the motor record relates as
``user = dial * (DIR sign) + OFF`` and ``dial = steps * MRES``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict

from ._constants import cs_conn
from .CaChannel import CaChannelException
from .epicsPV import epicsPV

__all__ = ['epicsMotor', 'epicsMotorException']

logger = logging.getLogger(__name__)

# The record fields the class uses (lower-case keys of epicsMotor.pvs).
_FIELDS = ('VAL', 'DVAL', 'RVAL', 'RLV', 'RBV', 'DRBV', 'RRBV', 'DMOV', 'STOP',
           'VELO', 'VBAS', 'ACCL', 'DESC', 'MRES', 'HLM', 'LLM', 'DHLM', 'DLLM',
           'BDST', 'SET', 'LVIO', 'LLS', 'HLS', 'OFF')


class epicsMotorException(Exception):
    """A soft limit or hard limit violation detected by :meth:`epicsMotor.check_limits`."""


def _field_property(field: str, doc: str, writable: bool = True) -> property:
    """A property reading (and writing) one motor record field."""
    key = field.lower()

    def fget(self: 'epicsMotor') -> Any:
        return self.pvs[key].getw()

    def fset(self: 'epicsMotor', value: Any) -> None:
        self.pvs[key].putw(value)

    return property(fget, fset if writable else None, doc='%s (.%s)' % (doc, field))


def _coordinate_key(user: str, dial: bool, step: bool, dial_key: str, step_key: str) -> str:
    if dial and step:
        raise ValueError('the "dial" and "step" keywords are mutually exclusive')
    if dial:
        return dial_key
    if step:
        return step_key
    return user


def _fields_not_found(name: str, pvs: Dict[str, epicsPV],
                      exc: CaChannelException) -> CaChannelException:
    """The constructor's exception, naming the fields that did not connect."""
    missing = [field for field in _FIELDS if pvs[field.lower()].state() != cs_conn]
    if not missing:
        return exc
    timeout = pvs['val'].getTimeout()
    if len(missing) == len(_FIELDS):
        what = 'motor record %r not found within %s s' % (name, timeout)
    else:
        what = 'motor record %r: field%s %s not found within %s s' % (
            name, 's' if len(missing) > 1 else '', ', '.join(missing), timeout)
    return CaChannelException(exc.status, '%s.%s' % (name, missing[0]), what)


class epicsMotor:
    """An EPICS motor record.

    Properties (read and write unless noted): ``slew_speed`` (.VELO),
    ``base_speed`` (.VBAS), ``acceleration`` (.ACCL), ``description``
    (.DESC), ``resolution`` (.MRES), ``high_limit`` (.HLM), ``low_limit``
    (.LLM), ``dial_high_limit`` (.DHLM), ``dial_low_limit`` (.DLLM),
    ``backlash`` (.BDST), ``offset`` (.OFF), ``done_moving`` (.DMOV,
    read-only).

    :meth:`move` and :meth:`wait` raise :class:`epicsMotorException` on a
    limit violation unless called with ``ignore_limits=True``.

    :param name: the motor record name, without a trailing period or field.
    """

    slew_speed = _field_property('VELO', 'Slew speed or velocity')
    base_speed = _field_property('VBAS', 'Base or starting speed')
    acceleration = _field_property('ACCL', 'Acceleration time (sec)')
    description = _field_property('DESC', 'Description of motor')
    resolution = _field_property('MRES', 'Resolution (units/step)')
    high_limit = _field_property('HLM', 'High soft limit (user)')
    low_limit = _field_property('LLM', 'Low soft limit (user)')
    dial_high_limit = _field_property('DHLM', 'High soft limit (dial)')
    dial_low_limit = _field_property('DLLM', 'Low soft limit (dial)')
    backlash = _field_property('BDST', 'Backlash distance')
    offset = _field_property('OFF', 'Offset from dial to user')
    done_moving = _field_property('DMOV', '1=Done, 0=Moving, read-only', writable=False)

    def __init__(self, name: str) -> None:
        self.name = name
        # Search all fields at once and wait once: one round trip, not 24.
        self.pvs: Dict[str, epicsPV] = {
            field.lower(): epicsPV('%s.%s' % (name, field), wait=False) for field in _FIELDS}
        try:
            self.pvs['val'].pend_io()
        except CaChannelException as exc:
            raise _fields_not_found(name, self.pvs, exc) from None
        # Whether the record had taken the last move when move() wrote it.
        self._took_move = False

    def __repr__(self) -> str:
        return '<epicsMotor %r>' % (self.name,)

    def move(self, value: float, relative: bool = False, dial: bool = False,
             step: bool = False, ignore_limits: bool = False) -> None:
        """Move to an absolute position or by a relative amount, in user, dial or step coordinates.

        :param value: the absolute position or relative amount of the move
        :param relative: move relative to the current (target) position
        :param dial: *value* is in dial coordinates
        :param step: *value* is in steps
        :param ignore_limits: do not raise on a soft or hard limit violation
        :raises epicsMotorException: on a limit violation, unless *ignore_limits*
        :raises ValueError: if both *dial* and *step* are set
        """
        key = _coordinate_key('val', dial, step, 'dval', 'rval')
        if relative:
            if key == 'val':
                # the record's own relative move field
                self._put_target('rlv', value)
            else:
                self._put_target(key, self.pvs[key].getw() + value)
        else:
            self._put_target(key, value)
        if not ignore_limits:
            self.check_limits()

    def _put_target(self, key: str, value: float) -> None:
        """Write a target and read .DMOV in the same message.

        The record sets DMOV to 0 as it takes the move, and a short move can
        be over before a later read: :meth:`wait` with *start* then knows it
        started.
        """
        dmov = self.pvs['dmov']
        self.pvs[key].array_put(value)
        dmov.array_get()
        dmov.pend_io()
        self._took_move = dmov.getValue() == 0

    def stop(self) -> None:
        """Stop the motor immediately by writing 1 to the .STOP field."""
        self.pvs['stop'].putw(1)

    def wait(self, start: bool = False, stop: bool = False, poll: float = 0.01,
             ignore_limits: bool = False) -> None:
        """Wait for the motor to start moving and/or to stop moving.

        Without *start* and *stop* it waits for the motor to stop; with both it
        waits first for the start, then for the stop.  The last :meth:`move`,
        if the record took it, counts as the start, even when that move is
        already over.

        :param poll: seconds between reads of .DMOV
        :raises epicsMotorException: on a limit violation, unless *ignore_limits*
        """
        if not start and not stop:
            stop = True
        dmov = self.pvs['dmov']
        if start:
            if not self._took_move:
                while dmov.getw() == 1:
                    time.sleep(poll)
            self._took_move = False
        if stop:
            while dmov.getw() == 0:
                time.sleep(poll)
        if not ignore_limits:
            self.check_limits()

    def get_position(self, dial: bool = False, readback: bool = False, step: bool = False) -> Any:
        """Return the target (or with *readback* the actual) position in user, dial or step coordinates.

        :raises ValueError: if both *dial* and *step* are set
        """
        if readback:
            key = _coordinate_key('rbv', dial, step, 'drbv', 'rrbv')
        else:
            key = _coordinate_key('val', dial, step, 'dval', 'rval')
        return self.pvs[key].getw()

    def check_limits(self) -> None:
        """Raise :class:`epicsMotorException` on a soft, low hard or high hard limit violation."""
        if self.pvs['lvio'].getw() != 0:
            raise epicsMotorException('Soft limit violation')
        if self.pvs['lls'].getw() != 0:
            raise epicsMotorException('Low hard limit violation')
        if self.pvs['hls'].getw() != 0:
            raise epicsMotorException('High hard limit violation')

    def set_position(self, position: float, dial: bool = False, step: bool = False) -> None:
        """Redefine the current position in user, dial or step coordinates, without moving.

        The record is put in Set mode (.SET=1), the position written, and it
        is put back in Use mode (.SET=0).

        :raises ValueError: if both *dial* and *step* are set
        """
        key = _coordinate_key('val', dial, step, 'dval', 'rval')
        set_mode = self.pvs['set']
        set_mode.putw(1)
        try:
            self.pvs[key].putw(position)
        finally:
            # never leave the motor in Set mode: the next move would not move
            set_mode.putw(0)
