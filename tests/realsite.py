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

``big_site`` (session) is a third, separate site for the tests that need a
population: seed "big" with :data:`BIG_USERS` bulk users (about 10% inactive,
0-3 tokens each, every token kind), the audit fixtures, and three heavy
users with 201, 250 and 700 tokens: 3,015 users and 4,478 tokens in all. It
is served by gunicorn (2 ``gthread`` workers), as production serves it.

Why a separate fixture and not a bigger ``rb_site``: many tests assert
counts, pages and findings against ``rb_site``'s small, hand-made seed, and a
walk of ``rb_site`` (e.g. a full audit) stays cheap; only the tests that ask
for ``big_site`` pay for it, and pytest builds it lazily, so a run that
selects none of them never builds it.

Timings (2 cores, cached venv, measured with tools/rbsite.py): ``big_site``
build 2.9 s, seed 6.0 s (of which the bulk INSERTs of 3,014 users and 4,478
tokens take 2.2 s; the rest is starting Django and Review Board), start
1.8 s with gunicorn: about 11 s in all. ``rb_site``: build 2.5-3.4 s, seed
3.3-3.6 s, start 1.6 s. Before the seed used ``bulk_create`` for tokens, 3,000
users with 3,327 tokens took 7.4 s to seed.

Secrets: the suite's secret scan reads ``rb_site``'s manifest itself; this
plugin adds the Local Site tokens (``manifest["local_sites"]``). For
``big_site`` this plugin registers every token secret and the admin's
password, but not the bulk users' passwords (``<username>-pw``, documented,
not secret): 3,000 more plain strings would make the scan's substring pass
cost tens of seconds.

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
from secretscan import register_secret

if TYPE_CHECKING:
    from tools.rbsite import Site

REPO_ROOT = Path(__file__).resolve().parents[1]
RATE_LIMITS = {"API_ANONYMOUS_LIMIT_RATE": "30/m", "API_AUTHENTICATED_LIMIT_RATE": "600/m"}
BIG_USERS = 3000


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


def register_local_site_secrets(site: Site) -> None:
    """Register the Local Sites' token secrets with the secret scan.

    The scan reads ``rb_site``'s ``users`` and ``tokens`` itself; Local Site
    tokens are listed apart, under ``manifest["local_sites"]``.
    """
    for local_site in site.manifest.get("local_sites", ()):
        for token in local_site["tokens"]:
            register_secret(token["token"])


@pytest.fixture(scope="session")
def rb_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A running, seeded Review Board site shared by the whole session.

    Attributes: ``url`` (``http://127.0.0.1:PORT/``), ``admin_username``,
    ``admin_password``, ``manifest`` (see tools/rbsite.py) and
    ``manage(code)`` to run Python inside the site's Django environment.
    """
    workdir = tmp_path_factory.mktemp("rbsite")
    with rbsite.running_site(seed="test", workdir=workdir) as site:
        register_local_site_secrets(site)
        yield site


@pytest.fixture(scope="session")
def rate_limited_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A seeded site with :data:`RATE_LIMITS` and a one-process memory cache."""
    workdir = tmp_path_factory.mktemp("rbsite-ratelimited")
    with rbsite.running_site(
        seed="test", workdir=workdir, settings=RATE_LIMITS, cache="locmem"
    ) as site:
        register_local_site_secrets(site)
        yield site


@pytest.fixture(scope="session")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site of seed "big" (:data:`BIG_USERS` bulk users, heavy users), served by gunicorn."""
    workdir = tmp_path_factory.mktemp("rbsite-big")
    with rbsite.running_site(
        seed="big", users=BIG_USERS, workdir=workdir, server="gunicorn", workers=2, threads=4
    ) as site:
        register_secret(site.admin_password)
        for token in site.manifest["tokens"]:
            register_secret(token["token"])
        yield site
