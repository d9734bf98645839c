"""``python -m tools.standin --users 1000 --delay 0.02 --port 0``."""

from .cli import main

raise SystemExit(main())
