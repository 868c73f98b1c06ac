"""``python -m CaChannel <tool> ...`` runs one of the command-line tools.

The tools are ``caget``, ``caput``, ``camonitor`` and ``cainfo`` (see
:mod:`CaChannel.cli`); this spelling reaches them when the short names on
``PATH`` belong to another EPICS installation.
"""
import sys

from CaChannel.cli import main

if __name__ == '__main__':
    sys.exit(main())
