"""``python -m rbtokens.cli``."""

import sys

from . import main

sys.exit(main())
