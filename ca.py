"""Legacy top-level ``ca`` module of caPython-era scripts (``import ca``).

A thin re-export of :mod:`CaChannel.ca`: the same functions and constants of
whichever backend :mod:`CaChannel.ca` selected.
"""
from CaChannel.ca import *  # noqa: F401,F403
from CaChannel.ca import __all__, backend  # noqa: F401
