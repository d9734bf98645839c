"""Fixtures for tests that run against a real Review Board 8.1 site.

The ``rb_site`` session fixture builds, seeds and serves a fresh site with
``tools/rbsite.py`` (seed "test"). The first run creates the Review Board
virtual environment (about 25 s; location: ``$RBTOKENS_RB_VENV`` or
``~/.cache/rbtokens/reviewboard-8.1-pyXY``); later runs take a few seconds.

There is deliberately no skip: if the site cannot be built or does not
start, every test that uses it errors with the reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tools.rbsite import Site

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_rbsite() -> ModuleType:
    """Import tools/rbsite.py by path (tools/ is not a package)."""
    name = "rbsite"
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / "rbsite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: dataclasses look the module up by name.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rbsite = _load_rbsite()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: runs against a real Review Board 8.1 site that the suite starts",
    )


@pytest.fixture(scope="session")
def rb_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A running, seeded Review Board site shared by the whole session.

    Attributes: ``url`` (``http://127.0.0.1:PORT/``), ``admin_username``,
    ``admin_password``, ``manifest`` (see tools/rbsite.py) and
    ``manage(code)`` to run Python inside the site's Django environment.
    """
    workdir = tmp_path_factory.mktemp("rbsite")
    with rbsite.running_site(seed="test", workdir=workdir) as site:
        yield site
