"""``python -m CaChannel <tool> ...`` runs one of the command-line tools.

The tools are ``caget``, ``caput``, ``camonitor`` and ``cainfo`` (see
:mod:`CaChannel.cli`); this spelling reaches them when the short names on
``PATH`` belong to another EPICS installation. ``python -m CaChannel
--version`` prints the versions of CaChannel, the CA protocol and EPICS base.
"""
import sys

from CaChannel.cli import main

if __name__ == '__main__':
    if sys.argv[1:] == ['--version']:
        # CaChannel, backend, CA protocol and EPICS base versions.
        from CaChannel._libpath import version_text
        print(version_text())
        sys.exit(0)
    sys.exit(main())
