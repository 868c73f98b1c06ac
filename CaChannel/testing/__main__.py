"""``python -m CaChannel.testing serve [-- command]``: see CaChannel/_serve.py."""

import sys

from CaChannel._serve import main

sys.exit(main())
