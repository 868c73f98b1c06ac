"""Legacy import path ``from epicsMotor import epicsMotor, epicsMotorException``.

The implementation lives in :mod:`CaChannel.epicsMotor`.
"""
from CaChannel.epicsMotor import *  # noqa: F401,F403
from CaChannel.epicsMotor import __all__, epicsMotor, epicsMotorException  # noqa: F401
