"""``python -m CaChannel <tool> ...`` runs one of the command-line tools.

The tools are ``caget``, ``caput``, ``camonitor`` and ``cainfo`` (see
:mod:`CaChannel.cli`); this spelling reaches them when the short names on
``PATH`` belong to another EPICS installation. ``python -m CaChannel
--version`` prints the versions of CaChannel, the CA protocol and EPICS base.
"""
import sys

from CaChannel.cli import TOOLS, main

# The line this program adds to the tools' usage that CaChannel.cli prints.
VERSION_USAGE = ('       python -m CaChannel --version   '
                 'CaChannel, backend, CA protocol and EPICS base versions')

if __name__ == '__main__':
    args = sys.argv[1:]
    if args == ['--version']:
        from CaChannel._libpath import version_text
        print(version_text())
        sys.exit(0)
    status = main()
    if not args or args[0] not in TOOLS:
        # main() printed the usage, to stderr after an unknown tool.
        unknown = bool(args) and args[0] not in ('-h', '--help')
        print(VERSION_USAGE, file=sys.stderr if unknown else sys.stdout)
    sys.exit(status)
