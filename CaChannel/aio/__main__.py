"""``python -m CaChannel.aio --version``: the version of the package, as
``python -m aioca --version`` prints aioca's."""

import argparse

from . import __version__

parser = argparse.ArgumentParser(prog='python -m CaChannel.aio')
parser.add_argument('--version', action='version', version=__version__)
parser.parse_args()
parser.print_help()
