"""Tests that run against a real Review Board 8.1 site.

The ``rb_site`` session fixture (``tests/realsite.py``, loaded for the whole
suite by ``tests/conftest.py``) builds, seeds and serves a fresh site with
``tools/rbsite.py`` (seed "test"). There is deliberately no skip: if the site
cannot be built or does not start, every test that uses it errors with the
reason.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: runs against a real Review Board 8.1 site that the suite starts",
    )
