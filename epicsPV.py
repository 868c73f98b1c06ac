"""Legacy import path ``from epicsPV import epicsPV`` (caPython-era scripts).

The implementation lives in :mod:`CaChannel.epicsPV`.
"""
from CaChannel.epicsPV import *  # noqa: F401,F403
from CaChannel.epicsPV import __all__, callBack, epicsPV  # noqa: F401
from CaChannel import CaChannel, CaChannelException, ca  # noqa: F401  (old scripts use these names from here)
