"""``python -m rbtokens``: the same as the ``rbtokens`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
