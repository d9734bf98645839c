"""Real Review Board 8.1 sites for the tests that need one (a pytest plugin).

``rb_site`` (session) builds, seeds and serves a fresh site with
``tools/rbsite.py`` (seed "test"); ``tests/integration`` and the real-site
half of ``tests/contract`` share it. ``rate_limited_site`` (session) is a
second site with low API rate limits (``API_ANONYMOUS_LIMIT_RATE = "30/m"``,
authenticated ``600/m``) and a local-memory cache served by one process, so
that djblets counts every request (the file cache loses concurrent
increments). The first run creates the Review Board virtual environment
(about 25 s; location: ``$RBTOKENS_RB_VENV`` or
``~/.cache/rbtokens/reviewboard-8.1-pyXY``); later runs take a few seconds.

There is deliberately no skip: if a site cannot be built or does not
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

REPO_ROOT = Path(__file__).resolve().parents[1]
RATE_LIMITS = {"API_ANONYMOUS_LIMIT_RATE": "30/m", "API_AUTHENTICATED_LIMIT_RATE": "600/m"}


def _load_rbsite() -> ModuleType:
    """Import tools/rbsite.py by path (it also runs inside Review Board's venv)."""
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


@pytest.fixture(scope="session")
def rate_limited_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A seeded site with :data:`RATE_LIMITS` and a one-process memory cache."""
    workdir = tmp_path_factory.mktemp("rbsite-ratelimited")
    with rbsite.running_site(
        seed="test", workdir=workdir, settings=RATE_LIMITS, cache="locmem"
    ) as site:
        yield site
