#!/usr/bin/env python3
"""Build, seed, serve and stop a throw-away Review Board 8.1 site.

This module is used two ways:

* by the integration test suite (``tests/integration/conftest.py``), through
  :func:`running_site`, and
* from the command line::

      python tools/rbsite.py serve [--seed test|demo|big] [--users N] [--port P]
                                   [--setting NAME=VALUE ...] [--cache file|locmem]
                                   [--server dev|gunicorn] [--workers N] [--threads T]
      python tools/rbsite.py demo [--users N] [-- extra "rbtokens audit" args]

It only uses the standard library at module level, because the same file is
also executed *inside* the Review Board virtual environment (the private
``_seed``, ``_exec`` and ``_serve`` sub-commands), where Django is imported
lazily inside the functions that need it.

Serving (``server=``). ``"dev"`` (the default) is Django's threaded
development server in one process. It adds ~40 ms to every request on a
kept-alive connection (measured: 44-48 ms per ``GET /api/`` against 2.5-4 ms
for gunicorn), so benchmarks must use ``"gunicorn"``: gunicorn
(:data:`GUNICORN_REQUIREMENT`, installed into the Review Board venv on first
use and cached there with its own marker) serving
``reviewboard.wsgi:application`` with ``$REVIEWBOARD_SITEDIR``, ``workers``
processes (default 2) of ``threads`` threads (1: ``sync`` workers, one request
per connection; more: ``gthread``, connections kept alive). ``rb-site
install`` links ``SITE/venv`` to the venv, and ``reviewboard/wsgi.py`` then
refuses to start unless ``venv/bin/activate_this.py`` exists, which ``python
-m venv`` does not write: :func:`ensure_gunicorn` writes virtualenv's recipe
there. Each worker warms itself up (one anonymous ``GET /api/`` through the
WSGI application, from 192.0.2.1) before the site counts as started.
Timings on the 2-core machine, gunicorn: installing it 1.6 s once; start
1.8-2.0 s with 2 workers (dev server 1.6-1.8 s).

Seeds (``seed=``), all written through Django's ORM by one process inside
the venv (``_seed``):

* ``"test"``: the hand-made population the integration tests assert against:
  one user per audit rule (:data:`AUDIT_FIXTURES`), alice/bob/carol, 30
  ``page_u`` users, the Local Site ``tenant-a`` (:data:`LOCAL_SITES`, below)
  with its members and tokens, plus ``users`` bulk users (default 0).
* ``"demo"``: the audit fixtures and ``users`` bulk users (default 300):
  ~10% inactive, 0-3 tokens each of every kind (deterministic).
* ``"big"``: the audit fixtures, ``users`` bulk users (default 3,000) and
  :data:`HEAVY_USERS` (201, 250 and 700 tokens). With 3,000: 3,014 seeded
  users (admin included) and 4,478 tokens.

Users and tokens are written with ``bulk_create``. The token secrets come
from djblets' generator registry (``vendor_checksum``: ``rbp_`` + 245 base62
+ a 6-character base62 CRC32; ``legacy_sha1``), as
``WebAPIToken.objects.generate_token`` makes them, minus its INSERT per token
and its ``webapi_token_created`` signal (the "token created" e-mail). Seed
"big" with 3,000 users, measured on the 2-core machine: users 0.4 s, 4,478
secrets 1.3 s, INSERTs 0.4 s, so 2.2 s in the database and about 6 s for the
whole ``_seed`` process (Django and Review Board start in ~3.5 s); site build
2.9 s and gunicorn start 1.8 s, 11 s in all. The old token-by-token seed took
7.4 s for 3,000 users with 3,327 tokens.

Layout of a work directory::

    WORKDIR/site/            the Review Board site (rb-site install)
    WORKDIR/site/data/reviewboard.db
    WORKDIR/cache/           Django file cache (shared by server and manage())
    WORKDIR/manifest.json    what the seed created (below)
    WORKDIR/logs/            install.log, seed.log (stderr), server.log
    WORKDIR/site/logs/reviewboard.log   Review Board's own (DEBUG) log

Manifest (JSON; ``Site.manifest``)::

    schema             1
    seed               "test" | "demo" | "big"
    seeded_at          ISO 8601 time all relative timestamps were computed from
    review_board_version
    admin              {username, password}
    thresholds         {expiring_soon_days: 14, never_used_days: 30,
                        stale_days: 90, max_tokens: 10}
    rules              every audit rule name the seed exercises
    user_level_rules   rules found only in users' expect_rules (too-many-tokens)
    server_rules       rules the site breaks as a whole (secrets-exposed: Review
                       Board 8.1 serves token secrets to anonymous requests)
    rule_examples      {rule: username of the user with exactly that one rule}
    clean_example      username of the user with one clean token
    users[]            {username, password, email, is_active, is_superuser,
                        token_ids, expect_rules,       (admin included)
                        local_sites (names of the Local Sites it is a member of)}
                       token_ids and expect_rules: global tokens only
    tokens[]           {id, local_site (null), username, note, token (the
                        secret), kind, token_generator_id, policy, expires,
                        time_added, last_used, valid, invalid_reason,
                        expect_rules}          global tokens only
    other_users[]      users the seed did not create (Power Pack's
                        "powerpack-docconverter"): {username, is_active,
                        is_superuser, token_count (global tokens)}
    local_sites[]      {name, public, api_path ("s/<name>/api/"), users
                        (members), admins, token_ids, tokens[] (records as in
                        tokens[], local_site = name)}; seed "test" only, []
                        otherwise

Local Sites (Review Board's multi-tenant mode). Created through the ORM as a
plain model: ``LocalSite.objects.create(name=..., public=False)``, members
with ``site.users.add(user)``, Local Site administrators with
``site.admins.add(user)``; a token belongs to one through
``WebAPIToken(local_site=site)`` (``generate_token(..., local_site=site)``
passes it through). The seed's ``tenant-a`` is private, with tenant_owner
(3 Local Site tokens, a Local Site admin) and tenant_idle (none), who exist
only for it, and tenant_dual (1 Local Site token, 1 global token). Checked
with curl on a running site (the admin's Basic auth unless said otherwise);
``tests/integration/test_local_sites.py`` pins each point:

(a) A user's Local Site tokens are listed at
    ``/s/tenant-a/api/users/<u>/api-tokens/`` (tenant_owner: total_results 3,
    ids 23-25; items at ``.../api-tokens/<id>/``, links under ``/s/tenant-a/``).
    A global token asked for there is 404 (code 100), and vice versa.
(b) ``/api/users/<u>/api-tokens/`` at the global root does not list them:
    tenant_owner 0 tokens, tenant_dual only its global one (the resource
    filters ``local_site=None``; ``api_token.py`` ``get_queryset``).
(c) ``/api/users/`` at the global root lists every member like any other user
    (``?q=tenant`` gives all three, to anonymous requests too), and nothing in
    a user's fields or links names a Local Site: ``url`` is ``/users/<u>/``,
    the links are the usual global ones. Under ``/s/tenant-a/api/users/`` only
    members are listed, and ``url`` is ``/s/tenant-a/users/<u>/``.
(d) Yes: ``GET /s/tenant-a/api/users/?include-inactive=1&max-results=200&
    expand=api_tokens&only-links=api_tokens&only-fields=id,username,
    api_tokens,...`` returns each member's Local Site tokens (tenant_owner
    [23, 24, 25], tenant_dual [26]; ``_expanded.api_tokens.list_url`` is the
    ``/s/tenant-a/`` list) and not their global ones; the global bulk listing
    gives the global ones only (tenant_dual [22], tenant_owner []). So a
    complete audit needs one bulk listing per Local Site. The private site
    refuses anonymous requests (401, code 103) and non-members (403, 101),
    but any member gets every member's tokens there, secrets included when
    ``token`` is asked for (the expansion checks no permission, as at root).
(e) Nothing in 8.1's API tells that Local Sites exist when none is named.
    The JSON of ``/api/`` (``uri_templates``, ``links``, ``capabilities``),
    ``/api/info/``, ``/api/session/`` and ``/api/users/admin/`` is identical,
    anonymous and as the admin, on a site with tenant-a and on one without
    (diffed with the port normalised); no key or value there contains
    "local" or "/s/". There is no Local Site resource in the API. What does
    show: (1) Local-Site-only users in ``/api/users/``, unmarked; (2) probing
    a name: ``/s/<name>/api/`` is 404 (code 100) for a name that does not
    exist, but 401 (103) anonymous / 403 (101) for a non-member when it does;
    (3) a Local Site token used at the global root gets 403 (101) (the
    ``webapi_check_local_site`` decorator), while it authenticates as its
    owner under ``/s/tenant-a/api/``.

Seeded passwords are ``<username>-pw``; the admin's is random per site.
"""

# Django, Review Board and fcntl are imported inside the functions that run in
# the Review Board venv, never at module level:
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

RB_REQUIREMENT = "reviewboard==8.1"
RB_VERSION = "8.1"
VENV_MARKER = ".rbtokens-venv-complete"
#: gunicorn, installed into the Review Board venv only when a site is served
#: with ``server="gunicorn"`` (a pure-Python wheel from PyPI, no dependency).
GUNICORN_REQUIREMENT = "gunicorn==23.0.0"
GUNICORN_MARKER = ".rbtokens-gunicorn-complete"
SERVERS = ("dev", "gunicorn")
DEFAULT_GUNICORN_WORKERS = 2
ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@example.com"
SEEDS = ("test", "demo", "big")
DEFAULT_DEMO_USERS = 300
DEFAULT_BIG_USERS = 3000
START_TIMEOUT = 120.0
THIS_FILE = Path(__file__).resolve()

#: Appended to the site's conf/settings_local.py after ``rb-site install``.
SETTINGS_OVERRIDES = """

# ---------------------------------------------------------------------------
# Added by rbtokens tools/rbsite.py for the test/demo site.
# ---------------------------------------------------------------------------

# Fast password hashing: seeded users get MD5 hashes; PBKDF2 stays so that
# the admin hash written by rb-site install still verifies.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# API rate limits (djblets.auth.ratelimit), raised so that a test suite doing
# thousands of requests is not throttled (defaults: 1000/h and 10000/h).
API_ANONYMOUS_LIMIT_RATE = "1000000/h"
API_AUTHENTICATED_LIMIT_RATE = "1000000/h"

# The login rate limit keeps its real value. Tests that send bad passwords
# must send a distinct X-Real-IP header so they do not lock out 127.0.0.1.
LOGIN_LIMIT_RATE = "5/m"

# Never talk to an SMTP server on this machine (token create/update/delete
# signals send e-mail).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
"""


class SiteError(RuntimeError):
    """A step of building, seeding, serving or managing the site failed."""


def _log(message: str) -> None:
    print(f"[rbsite] {message}", file=sys.stderr, flush=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


# ---------------------------------------------------------------------------
# Virtual environment
# ---------------------------------------------------------------------------


def default_venv_path() -> Path:
    """Return the default location of the Review Board virtual environment."""
    env = os.environ.get("RBTOKENS_RB_VENV")
    if env:
        return Path(env).expanduser()
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path.home() / ".cache" / "rbtokens" / f"reviewboard-{RB_VERSION}-{tag}"


def _venv_is_complete(venv: Path) -> bool:
    marker = venv / VENV_MARKER
    if not marker.is_file() or not _venv_python(venv).exists():
        return False
    if not (venv / "bin" / "rb-site").exists():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("requirement") == RB_REQUIREMENT


def _installed_rb_version(venv: Path) -> str | None:
    proc = subprocess.run(
        [
            str(_venv_python(venv)),
            "-c",
            "import reviewboard; print(reviewboard.get_version_string())",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


@contextlib.contextmanager
def _venv_lock(venv: Path) -> Iterator[None]:
    """Serialise the processes that create or complete ``venv``."""
    import fcntl  # POSIX only; imported lazily to keep the module importable

    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _pip_install(venv: Path, requirement: str) -> None:
    proc = subprocess.run(
        [
            str(_venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "--progress-bar",
            "off",
            requirement,
        ],
        stdout=sys.stderr,
        check=False,
    )
    if proc.returncode != 0:
        raise SiteError(f"pip install {requirement} into {venv} failed ({proc.returncode})")


def _write_marker(path: Path, requirement: str) -> None:
    info = {
        "requirement": requirement,
        "python": sys.version.split()[0],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path.write_text(json.dumps(info) + "\n")


def ensure_venv(path: Path | None = None) -> Path:
    """Return a virtual environment with ``reviewboard==8.1`` installed.

    The default location is ``$RBTOKENS_RB_VENV`` or
    ``~/.cache/rbtokens/reviewboard-8.1-pyXY``. A venv that carries the
    completion marker is reused as is. Otherwise the venv is created (or
    completed: an existing directory is never deleted) with ``pip install``,
    checked, and marked. Concurrent callers are serialised with a lock file.
    """
    venv = Path(path).expanduser() if path is not None else default_venv_path()
    venv = venv.absolute()
    if _venv_is_complete(venv):
        return venv

    with _venv_lock(venv):
        if _venv_is_complete(venv):
            return venv
        started = time.monotonic()
        if not _venv_python(venv).exists():
            _log(f"creating virtual environment {venv}")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        version = _installed_rb_version(venv)
        if version != RB_VERSION:
            _log(f"installing {RB_REQUIREMENT} into {venv} (takes about half a minute)")
            _pip_install(venv, RB_REQUIREMENT)
            version = _installed_rb_version(venv)
            if version != RB_VERSION:
                raise SiteError(f"{venv}: expected Review Board {RB_VERSION}, found {version!r}")
        _write_marker(venv / VENV_MARKER, RB_REQUIREMENT)
        _log(f"virtual environment ready in {time.monotonic() - started:.1f}s")
    return venv


#: ``bin/activate_this.py`` as virtualenv writes it (``python -m venv`` does
#: not). ``reviewboard/wsgi.py`` refuses to start without it when the site has
#: a ``venv`` (``rb-site install`` links ``SITE/venv`` to the venv it ran from)
#: and ``$VIRTUAL_ENV`` is unset: it execs this file to activate the venv.
ACTIVATE_THIS = """\
# Activate this virtual environment in a running interpreter (virtualenv's
# recipe), written by rbtokens tools/rbsite.py. Use:
#     exec(open(this_file).read(), {"__file__": this_file})

import os
import site
import sys

try:
    abs_file = os.path.abspath(__file__)
except NameError as exc:
    raise AssertionError(
        "You must use exec(open(this_file).read(), {'__file__': this_file})"
    ) from exc

bin_dir = os.path.dirname(abs_file)
base = bin_dir[: -len("bin") - 1]

os.environ["PATH"] = os.pathsep.join([bin_dir, *os.environ.get("PATH", "").split(os.pathsep)])
os.environ["VIRTUAL_ENV"] = base

prev_length = len(sys.path)
lib = os.path.join(base, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}")
site.addsitedir(os.path.realpath(os.path.join(lib, "site-packages")))
sys.path[:] = sys.path[prev_length:] + sys.path[0:prev_length]

sys.real_prefix = sys.prefix
sys.prefix = base
"""


def _gunicorn_is_complete(venv: Path) -> bool:
    try:
        info = json.loads((venv / GUNICORN_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(info, dict)
        and info.get("requirement") == GUNICORN_REQUIREMENT
        and (venv / "bin" / "gunicorn").exists()
        and (venv / "bin" / "activate_this.py").is_file()
    )


def ensure_gunicorn(venv: Path) -> Path:
    """Install :data:`GUNICORN_REQUIREMENT` and ``bin/activate_this.py`` into ``venv``.

    Cached like the venv itself: a second marker file records the pinned
    requirement, so the step costs nothing once done (about 2 s the first
    time), and the default (development server) path never needs it.
    """
    venv = ensure_venv(venv)
    if _gunicorn_is_complete(venv):
        return venv
    with _venv_lock(venv):
        if _gunicorn_is_complete(venv):
            return venv
        started = time.monotonic()
        _log(f"installing {GUNICORN_REQUIREMENT} into {venv}")
        _pip_install(venv, GUNICORN_REQUIREMENT)
        (venv / "bin" / "activate_this.py").write_text(ACTIVATE_THIS)
        _write_marker(venv / GUNICORN_MARKER, GUNICORN_REQUIREMENT)
        _log(f"gunicorn ready in {time.monotonic() - started:.1f}s")
    return venv


# ---------------------------------------------------------------------------
# Site build
# ---------------------------------------------------------------------------


def build_site(
    workdir: Path,
    venv: Path,
    *,
    admin_password: str,
    settings: Mapping[str, str] | None = None,
) -> Path:
    """Run ``rb-site install`` in ``workdir/site`` and apply our settings.

    ``settings`` (name → value) are appended to ``settings_local.py`` after
    :data:`SETTINGS_OVERRIDES`, so they win (e.g. a low
    ``API_ANONYMOUS_LIMIT_RATE``).
    """
    site_dir = workdir / "site"
    if site_dir.exists():
        raise SiteError(f"{site_dir} already exists; use an empty work directory")
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(venv / "bin" / "rb-site"),
        "install",
        "--noinput",
        "--no-color",
        "--opt-out-support-data",
        "--company",
        "rbtokens test site",
        "--domain-name",
        "127.0.0.1",
        "--allowed-host",
        "localhost",
        "--site-root",
        "/",
        "--db-type",
        "sqlite3",
        # Without --db-name a --noinput install puts the sqlite file, named
        # "reviewboard", in the current directory.
        "--db-name",
        str(site_dir / "data" / "reviewboard.db"),
        # rb-site offers memcached or file only. A file cache is shared by the
        # server and manage() processes, which keeps siteconfig and session
        # caches coherent across them (locmem would not be).
        "--cache-type",
        "file",
        "--cache-info",
        str(workdir / "cache"),
        "--admin-user",
        ADMIN_USERNAME,
        "--admin-password",
        admin_password,
        "--admin-email",
        ADMIN_EMAIL,
        "--sitelist",
        str(workdir / "sitelist"),
        str(site_dir),
    ]
    log_path = logs / "install.log"
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, check=False)
    if proc.returncode != 0 or not (site_dir / "conf" / "settings_local.py").exists():
        raise SiteError(
            f"rb-site install failed ({proc.returncode}); see {log_path}:\n{_tail(log_path)}"
        )
    with open(site_dir / "conf" / "settings_local.py", "a") as fp:
        fp.write(SETTINGS_OVERRIDES)
        for name, value in (settings or {}).items():
            if not name.isidentifier() or not name.isupper():
                raise ValueError(f"not a Django setting name: {name!r}")
            fp.write(f"{name} = {value!r}\n")
    return site_dir


#: Run with manage(): make the site's cache one process's local memory. The
#: siteconfig's ``cache_backend`` overrides ``CACHES`` in settings_local.py.
#: Only a site served by one process may use it (the server; manage() runs
#: then see their own, empty cache), but its counters are exact: the file
#: cache loses concurrent increments (djblets' rate limits undercount 2-6x).
LOCMEM_CACHE_CODE = """
from djblets.siteconfig.models import SiteConfiguration
siteconfig = SiteConfiguration.objects.get_current()
siteconfig.set("cache_backend", {"default": {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "rbtokens-site",
}})
siteconfig.save()
print(siteconfig.get("cache_backend"))
"""


def _run_in_venv(
    venv: Path,
    site_dir: Path,
    command: str,
    *args: str,
    stdin: str | None = None,
    log_path: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one of this file's private sub-commands with the venv's python."""
    cmd = [str(_venv_python(venv)), str(THIS_FILE), command, "--site", str(site_dir), *args]
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    if log_path is not None:
        with open(log_path, "a") as log:
            return subprocess.run(
                cmd,
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                cwd=site_dir,
                timeout=timeout,
                check=False,
            )
    return subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=site_dir,
        timeout=timeout,
        check=False,
    )


def seed_site(
    site_dir: Path,
    venv: Path,
    *,
    seed: str,
    users: int,
    admin_password: str,
    manifest_path: Path,
) -> dict[str, Any]:
    """Seed the site in one Django process and return the manifest."""
    log_path = manifest_path.parent / "logs" / "seed.log"
    proc = _run_in_venv(
        venv,
        site_dir,
        "_seed",
        "--seed",
        seed,
        "--users",
        str(users),
        "--manifest",
        str(manifest_path),
        stdin=admin_password + "\n",
        log_path=log_path,
    )
    if proc.returncode != 0:
        raise SiteError(f"seeding failed ({proc.returncode}); see {log_path}:\n{_tail(log_path)}")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    return manifest


# ---------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


#: Loopback requests must never go through an http_proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


#: What each gunicorn worker prints once it has loaded and initialised Review Board.
WORKER_READY = "rbsite: worker ready"


def _workers_ready(log_path: Path, offset: int) -> int:
    try:
        with open(log_path, "rb") as fp:
            fp.seek(offset)
            return fp.read().decode(errors="replace").count(WORKER_READY)
    except OSError:
        return 0


def _wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
    *,
    workers: int = 0,
    log_offset: int = 0,
) -> None:
    """Wait until GET /api/ answers 200 (and ``workers`` workers said they are ready)."""
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SiteError(
                f"the Review Board server exited with {proc.returncode} before answering; "
                f"log {log_path}:\n{_tail(log_path)}"
            )
        try:
            with _NO_PROXY.open(url + "api/", timeout=10) as rsp:
                if rsp.status == 200:
                    ready = _workers_ready(log_path, log_offset)
                    if ready >= workers:
                        return
                    last_error = f"HTTP 200, {ready} of {workers} workers ready"
                else:
                    last_error = f"HTTP {rsp.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise SiteError(
        f"the Review Board server did not answer GET {url}api/ with 200 within {timeout:.0f}s "
        f"(last: {last_error}); log {log_path}:\n{_tail(log_path)}"
    )


def start_server(
    site_dir: Path,
    venv: Path,
    *,
    log_path: Path,
    port: int = 0,
    timeout: float = START_TIMEOUT,
    server: str = "dev",
    workers: int = DEFAULT_GUNICORN_WORKERS,
    threads: int = 1,
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a server on 127.0.0.1 and wait until /api/ answers.

    ``server="dev"`` is Django's threaded development server in one process.
    ``server="gunicorn"`` is what production runs: a gunicorn master serving
    ``reviewboard.wsgi:application`` (``$REVIEWBOARD_SITEDIR``) with
    ``workers`` processes; ``threads > 1`` picks the ``gthread`` worker
    (which keeps connections alive) instead of ``sync`` (one request per
    connection). gunicorn must be in the venv (:func:`ensure_gunicorn`); the
    wait lasts until every worker has initialised Review Board.

    The listening socket is bound here (port 0 picks a free port) and handed
    to the server process, so there is no window in which another process can
    take the port. The server also exits when this process goes away (it
    watches a pipe), so a killed test run leaves no server behind.
    """
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r} (expected one of {SERVERS})")
    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1 (got {workers}, {threads})")
    sock = _bind(port)
    alive_r, alive_w = os.pipe()
    try:
        actual_port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{actual_port}/"
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.pop("PYTHONPATH", None)
        # reviewboard/wsgi.py activates SITE/venv (bin/activate_this.py) only
        # when no virtualenv is active, as under a production web server.
        env.pop("VIRTUAL_ENV", None)
        env["PYTHONUNBUFFERED"] = "1"
        with open(log_path, "ab") as log:
            log_offset = log.tell()
            proc = subprocess.Popen(
                [
                    str(_venv_python(venv)),
                    str(THIS_FILE),
                    "_serve",
                    "--site",
                    str(site_dir),
                    "--fd",
                    str(sock.fileno()),
                    "--alive-fd",
                    str(alive_r),
                    "--server",
                    server,
                    "--workers",
                    str(workers),
                    "--threads",
                    str(threads),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=site_dir,
                env=env,
                pass_fds=(sock.fileno(), alive_r),
                start_new_session=True,
            )
    except BaseException:
        os.close(alive_w)
        raise
    finally:
        os.close(alive_r)
        sock.close()
    proc._rbsite_alive_w = alive_w  # type: ignore[attr-defined]
    try:
        expected = workers if server == "gunicorn" else 0
        _wait_ready(url, proc, log_path, timeout, workers=expected, log_offset=log_offset)
    except BaseException:
        _terminate(proc)
        raise
    return url, proc


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    alive_w = getattr(proc, "_rbsite_alive_w", None)
    if alive_w is not None:
        with contextlib.suppress(OSError):
            os.close(alive_w)
        proc._rbsite_alive_w = None  # type: ignore[attr-defined]


@dataclasses.dataclass
class Site:
    """A running Review Board site."""

    url: str
    admin_username: str
    admin_password: str
    manifest: dict[str, Any]
    workdir: Path = dataclasses.field(default=Path("."), repr=False)
    site_dir: Path = dataclasses.field(default=Path("."), repr=False)
    venv: Path = dataclasses.field(default=Path("."), repr=False)
    log_path: Path = dataclasses.field(default=Path("."), repr=False)
    manifest_path: Path = dataclasses.field(default=Path("."), repr=False)
    timings: dict[str, float] = dataclasses.field(default_factory=dict, repr=False)
    server: str = "dev"
    _process: subprocess.Popen[bytes] | None = dataclasses.field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def manage(self, code: str, *, timeout: float = 120.0) -> str:
        """Run Python ``code`` inside the site's Django environment.

        The code runs in a fresh process after Review Board is initialised,
        with ``User``, ``WebAPIToken``, ``timezone``, ``timedelta`` and
        ``json`` already imported. Returns what it printed to stdout; raises
        :class:`SiteError` (with stderr) if it fails.
        """
        proc = _run_in_venv(self.venv, self.site_dir, "_exec", stdin=code, timeout=timeout)
        if proc.returncode != 0:
            raise SiteError(f"manage() failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc.stdout

    def server_log(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the server (its whole process group) and wait for it."""
        if self._process is not None:
            _terminate(self._process)
            self._process = None


@contextlib.contextmanager
def running_site(
    *,
    workdir: Path | None = None,
    seed: str = "test",
    users: int = 0,
    venv: Path | None = None,
    port: int = 0,
    settings: Mapping[str, str] | None = None,
    cache: str = "file",
    server: str = "dev",
    workers: int = DEFAULT_GUNICORN_WORKERS,
    threads: int = 1,
) -> Iterator[Site]:
    """Build, seed and serve a fresh site; stop it on exit.

    ``workdir`` must be empty or absent; a temporary directory is used when
    it is None (removed afterwards unless the site failed to come up or
    ``$RBTOKENS_KEEP_SITE`` is set). ``settings`` go to settings_local.py;
    ``cache="locmem"`` serves the site from one process's memory cache (see
    :data:`LOCMEM_CACHE_CODE`), which rate-limit tests need.

    ``server="dev"`` (the default) serves with Django's development server;
    ``server="gunicorn"`` as production does, with ``workers`` processes of
    ``threads`` threads each (see :func:`start_server`). Benchmarks want
    gunicorn: the development server adds ~40 ms to every request on a
    kept-alive connection.
    """
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r} (expected one of {SEEDS})")
    if cache not in ("file", "locmem"):
        raise ValueError(f"unknown cache {cache!r} (expected 'file' or 'locmem')")
    if server not in SERVERS:
        raise ValueError(f"unknown server {server!r} (expected one of {SERVERS})")
    if server == "gunicorn" and cache == "locmem" and workers > 1:
        raise ValueError("cache='locmem' needs one process: use workers=1 with gunicorn")
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    venv = ensure_venv(venv)
    if server == "gunicorn":
        ensure_gunicorn(venv)
    timings["venv"] = time.monotonic() - t0

    owned_tmp = workdir is None
    if workdir is None:
        work = Path(tempfile.mkdtemp(prefix="rbtokens-site-"))
    else:
        work = Path(workdir).absolute()
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    admin_password = "admin-" + secrets.token_hex(6)
    site: Site | None = None
    try:
        t = time.monotonic()
        _log(f"building site in {work}")
        site_dir = build_site(work, venv, admin_password=admin_password, settings=settings)
        timings["build"] = time.monotonic() - t

        t = time.monotonic()
        manifest_path = work / "manifest.json"
        manifest = seed_site(
            site_dir,
            venv,
            seed=seed,
            users=users,
            admin_password=admin_password,
            manifest_path=manifest_path,
        )
        timings["seed"] = time.monotonic() - t
        if cache == "locmem":
            switched = _run_in_venv(venv, site_dir, "_exec", stdin=LOCMEM_CACHE_CODE, timeout=120)
            if switched.returncode != 0:
                raise SiteError(f"could not switch to a locmem cache:\n{switched.stderr[-4000:]}")

        t = time.monotonic()
        log_path = work / "logs" / "server.log"
        url, proc = start_server(
            site_dir,
            venv,
            log_path=log_path,
            port=port,
            server=server,
            workers=workers,
            threads=threads,
        )
        timings["start"] = time.monotonic() - t
        timings["total"] = time.monotonic() - t0
        served = "dev server" if server == "dev" else f"gunicorn {workers}x{threads}"
        _log(
            "site ready at {} ({}; venv {venv:.1f}s, build {build:.1f}s, seed {seed:.1f}s, "
            "start {start:.1f}s, total {total:.1f}s)".format(url, served, **timings)
        )
        site = Site(
            url=url,
            admin_username=ADMIN_USERNAME,
            admin_password=admin_password,
            manifest=manifest,
            workdir=work,
            site_dir=site_dir,
            venv=venv,
            log_path=log_path,
            manifest_path=manifest_path,
            timings=timings,
            server=server,
            _process=proc,
        )
    except BaseException:
        if owned_tmp and site is None:
            _log(f"keeping {work} for inspection (the site did not come up)")
            owned_tmp = False
        raise
    else:
        yield site
    finally:
        if site is not None:
            site.stop()
        if owned_tmp and not os.environ.get("RBTOKENS_KEEP_SITE"):
            shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _interrupt_on_signals() -> None:
    """Turn SIGTERM/SIGHUP (and an inherited ignored SIGINT) into Ctrl-C."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _cmd_serve(args: argparse.Namespace) -> int:
    _interrupt_on_signals()
    users = args.users
    if users is None:
        users = {"demo": DEFAULT_DEMO_USERS, "big": DEFAULT_BIG_USERS}.get(args.seed, 0)
    settings = dict(item.split("=", 1) for item in args.setting)
    with running_site(
        workdir=args.workdir,
        seed=args.seed,
        users=users,
        venv=args.venv,
        port=args.port,
        settings=settings,
        cache=args.cache,
        server=args.server,
        workers=args.workers,
        threads=args.threads,
    ) as site:
        served = "Django's development server" if site.server == "dev" else "gunicorn"
        print(f"Review Board {RB_VERSION} is serving at {site.url} ({served})", flush=True)
        print(f"  admin username: {site.admin_username}", flush=True)
        print(f"  admin password: {site.admin_password}", flush=True)
        print(f"  manifest:       {site.manifest_path}", flush=True)
        print(f"  server log:     {site.log_path}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        proc = site._process
        assert proc is not None
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            print("\nstopping", file=sys.stderr)
            return 0
        print(f"the server exited with {code}:\n{site.server_log()}", file=sys.stderr)
        return 1


def _cmd_demo(args: argparse.Namespace) -> int:
    _interrupt_on_signals()
    extra = list(args.extra)
    if extra and extra[0] == "--":
        extra = extra[1:]
    with running_site(workdir=args.workdir, seed="demo", users=args.users, venv=args.venv) as site:
        cmd = [
            sys.executable,
            "-m",
            "rbtokens",
            "audit",
            "--server",
            site.url,
            "--username",
            site.admin_username,
            *extra,
        ]
        # The password goes through the environment, not argv (visible in ps).
        env = {**os.environ, "RBTOKENS_PASSWORD": site.admin_password}
        _log("running: " + " ".join(cmd))
        try:
            code = subprocess.run(cmd, check=False, env=env).returncode
        except KeyboardInterrupt:
            return 130
        meaning = {
            0: "no finding at or above --fail-on",
            1: "findings at or above --fail-on (expected: the demo site is seeded with them)",
            2: "incomplete: some users could not be audited, or a usage error",
        }
        _log(f"rbtokens audit exited {code}: {meaning.get(code, 'see rbtokens audit --help')}")
        return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rbsite", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--workdir",
            type=Path,
            default=None,
            help="empty directory to build in (default: a temporary one, removed afterwards)",
        )
        p.add_argument(
            "--venv",
            type=Path,
            default=None,
            help="Review Board venv (default: $RBTOKENS_RB_VENV or ~/.cache/rbtokens/...)",
        )

    p_serve = sub.add_parser("serve", help="build, seed and serve a site until Ctrl-C")
    p_serve.add_argument("--seed", choices=SEEDS, default="test")
    p_serve.add_argument(
        "--users",
        type=int,
        default=None,
        help="bulk users (default: 0 for test, 300 for demo, 3000 for big)",
    )
    p_serve.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)"
    )
    p_serve.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a settings_local.py override, e.g. API_ANONYMOUS_LIMIT_RATE=30/m (repeatable)",
    )
    p_serve.add_argument(
        "--cache",
        choices=("file", "locmem"),
        default="file",
        help="locmem: one process's memory cache (exact rate-limit counts)",
    )
    p_serve.add_argument(
        "--server",
        choices=SERVERS,
        default="dev",
        help="dev: Django's development server (default); gunicorn: as production serves it",
    )
    p_serve.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_GUNICORN_WORKERS,
        help=f"gunicorn worker processes (default {DEFAULT_GUNICORN_WORKERS})",
    )
    p_serve.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker; more than 1 keeps connections alive (gthread)",
    )
    common(p_serve)

    p_demo = sub.add_parser("demo", help="build a demo site, run 'rbtokens audit' against it, stop")
    p_demo.add_argument("--users", type=int, default=DEFAULT_DEMO_USERS)
    common(p_demo)
    p_demo.add_argument(
        "extra", nargs=argparse.REMAINDER, help="-- then extra 'rbtokens audit' arguments"
    )

    p_venv = sub.add_parser("venv", help="create the Review Board venv and print its path")
    p_venv.add_argument("--venv", type=Path, default=None)

    # Private sub-commands, run with the Review Board venv's interpreter.
    p_seed = sub.add_parser("_seed")
    p_seed.add_argument("--site", type=Path, required=True)
    p_seed.add_argument("--seed", choices=SEEDS, required=True)
    p_seed.add_argument("--users", type=int, default=0)
    p_seed.add_argument("--manifest", type=Path, required=True)
    p_exec = sub.add_parser("_exec")
    p_exec.add_argument("--site", type=Path, required=True)
    p_srv = sub.add_parser("_serve")
    p_srv.add_argument("--site", type=Path, required=True)
    p_srv.add_argument("--fd", type=int, required=True)
    p_srv.add_argument("--alive-fd", type=int, default=None)
    p_srv.add_argument("--server", choices=SERVERS, default="dev")
    p_srv.add_argument("--workers", type=int, default=DEFAULT_GUNICORN_WORKERS)
    p_srv.add_argument("--threads", type=int, default=1)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "demo":
        return _cmd_demo(args)
    if args.command == "venv":
        print(ensure_venv(args.venv))
        return 0
    if args.command == "_seed":
        _django_setup(args.site)
        password = sys.stdin.readline().rstrip("\n")
        manifest = seed_database(seed=args.seed, users=args.users, admin_password=password)
        args.manifest.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        return 0
    if args.command == "_exec":
        return _exec_code(args.site, sys.stdin.read())
    if args.command == "_serve":
        if args.server == "gunicorn":
            return _serve_gunicorn(
                args.site, args.fd, args.alive_fd, workers=args.workers, threads=args.threads
            )
        return _serve(args.site, args.fd, args.alive_fd)
    parser.error(f"unknown command {args.command}")
    return 2


# ===========================================================================
# Everything below runs INSIDE the Review Board venv (Django imported lazily).
# ===========================================================================


def _django_setup(site_dir: Path, *, initialize: bool = True) -> None:
    """Configure this process for the site, as rb-site manage / wsgi do."""
    site_dir = site_dir.absolute()
    os.chdir(site_dir)
    sys.path.insert(0, str(site_dir / "conf"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "reviewboard.settings"
    os.environ["HOME"] = str(site_dir / "data")
    if initialize:
        import reviewboard

        reviewboard.initialize(load_extensions=True, setup_logging=True)
    else:
        import django

        django.setup()


def _exec_code(site_dir: Path, code: str) -> int:
    _django_setup(site_dir)
    import datetime as _dt

    from django.contrib.auth.models import User
    from django.utils import timezone
    from reviewboard.webapi.models import WebAPIToken

    namespace: dict[str, Any] = {
        "__name__": "__rbsite_exec__",
        "User": User,
        "WebAPIToken": WebAPIToken,
        "timezone": timezone,
        "timedelta": _dt.timedelta,
        "json": json,
    }
    exec(compile(code, "<manage>", "exec"), namespace)
    sys.stdout.flush()
    return 0


def _serve(site_dir: Path, fd: int, alive_fd: int | None) -> int:
    """Serve the site with Django's threaded development server classes.

    This is what ``manage.py runserver --noreload`` runs (same server and
    handler classes, same HTTP/1.1 tweak that reviewboard.manage applies),
    but on a socket inherited from the parent, with a larger backlog.
    """
    _django_setup(site_dir, initialize=False)
    from wsgiref import simple_server

    from django.core.servers.basehttp import (
        ThreadedWSGIServer,
        WSGIRequestHandler,
        get_internal_wsgi_application,
    )

    # reviewboard/manage.py does this for runserver.
    simple_server.ServerHandler.http_version = "1.1"

    inherited = socket.socket(fileno=fd)

    class InheritedSocketServer(ThreadedWSGIServer):  # type: ignore[misc]
        def server_bind(self) -> None:
            self.server_close()  # the socket socketserver made; ours is inherited
            self.socket = inherited
            self.server_address = inherited.getsockname()
            self.server_name = "127.0.0.1"
            self.server_port = self.server_address[1]
            self.setup_environ()

        def server_activate(self) -> None:
            inherited.listen(128)

    if alive_fd is not None:
        _watch_parent(alive_fd, lambda: os._exit(0))

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    application = get_internal_wsgi_application()
    httpd = InheritedSocketServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    httpd.set_app(application)
    print(
        f"serving {site_dir} on http://127.0.0.1:{httpd.server_port}/ (pid {os.getpid()})",
        flush=True,
    )
    httpd.serve_forever()
    return 0


def _watch_parent(alive_fd: int, on_exit: Any) -> None:
    """Call ``on_exit`` (in a thread) once the parent closes its end of the pipe."""

    def watch() -> None:
        while os.read(alive_fd, 1):
            pass
        on_exit()

    threading.Thread(target=watch, daemon=True).start()


def _serve_gunicorn(
    site_dir: Path, fd: int, alive_fd: int | None, *, workers: int, threads: int
) -> int:
    """Serve ``reviewboard.wsgi:application`` with gunicorn on an inherited socket.

    The same as ``REVIEWBOARD_SITEDIR=SITE gunicorn -b fd://FD -w N
    reviewboard.wsgi:application`` run from the venv, plus: each worker
    initialises Review Board before it accepts (what the first request would
    otherwise do) and then prints :data:`WORKER_READY`, and the master shuts
    down gracefully when the parent goes away.
    """
    from gunicorn.app.base import BaseApplication

    site_dir = site_dir.absolute()
    os.environ["REVIEWBOARD_SITEDIR"] = str(site_dir)
    os.chdir(site_dir)
    options: dict[str, Any] = {
        "bind": [f"fd://{fd}"],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        # A 200-user page of the bulk listing takes ~0.7 s; big sites more.
        "timeout": 300,
        "graceful_timeout": 5,
        "keepalive": 5,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": f"rbsite:{site_dir}",
    }

    def post_worker_init(worker: Any) -> None:
        # Warm the worker up with one anonymous GET /api/ through the WSGI
        # application (Review Board initialises itself on a process's first
        # request, ~0.1-0.2 s), from a made-up address (TEST-NET-1) so that no
        # real client's rate-limit bucket is charged. Nothing is sent anywhere.
        from io import BytesIO
        from wsgiref.util import setup_testing_defaults

        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/api/",
            "SERVER_NAME": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "192.0.2.1",
            "wsgi.input": BytesIO(),
        }
        setup_testing_defaults(environ)
        statuses: list[str] = []
        body = worker.wsgi(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        ready = f"{WORKER_READY} (pid {os.getpid()}, warm-up GET /api/: {statuses[0]})"
        print(ready, file=sys.stderr, flush=True)

    class ReviewBoardApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                self.cfg.set(name, value)
            self.cfg.set("post_worker_init", post_worker_init)

        def load(self) -> Any:
            # Each worker imports it (no preload), as the shipped entry point is used.
            from reviewboard.wsgi import application

            return application

    if alive_fd is not None:
        master = os.getpid()
        _watch_parent(alive_fd, lambda: os.kill(master, signal.SIGTERM))
    ReviewBoardApplication().run()
    return 0


# ---------------------------------------------------------------------------
# Seed data. Edit these tables to change what the sites contain.
# ---------------------------------------------------------------------------

#: Audit thresholds the seed is designed around (rbtokens' defaults).
THRESHOLDS: dict[str, int] = {
    "expiring_soon_days": 14,  # expiring-soon: expires within this many days
    "never_used_days": 30,  # never-used: added longer ago than this, never used
    "stale_days": 90,  # stale: last used longer ago than this
    "max_tokens": 10,  # too-many-tokens: a user has more than this
}

READ_ONLY_POLICY: dict[str, Any] = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}

#: The "clean" token: triggers no rule. Days are relative to the seed time;
#: ``None`` means the field is null.
CLEAN_TOKEN: dict[str, Any] = {
    "expires_in_days": 90,
    "added_days_ago": 10,
    "last_used_days_ago": 1,
    "policy": READ_ONLY_POLICY,
    "generator": "vendor_checksum",
    "invalid_reason": None,  # a string => invalidated server-side
    "invalid_days_ago": None,
}

#: Token kinds: each deviates from CLEAN_TOKEN in one aspect and triggers
#: exactly one rule. Some timestamps move along only to keep the data
#: physically possible (a token cannot be used after it expired or before it
#: was added); those moves trigger no rule on their own.
# fmt: off
TOKEN_KINDS: dict[str, dict[str, Any]] = {
    # kind          rule triggered                 deviation from CLEAN_TOKEN
    "clean":        {"rule": None},
    "expired":      {"rule": "expired",            "expires_in_days": -3,
                     "last_used_days_ago": 5},
    "expiring":     {"rule": "expiring-soon",      "expires_in_days": 3},
    "neverused":    {"rule": "never-used",         "added_days_ago": 120,
                     "last_used_days_ago": None},
    "stale":        {"rule": "stale",              "last_used_days_ago": 200,
                     "added_days_ago": 250},
    "noexpiry":     {"rule": "no-expiry",          "expires_in_days": None},
    "unrestricted": {"rule": "unrestricted-policy", "policy": {}},
    "legacy":       {"rule": "deprecated-generator", "generator": "legacy_sha1"},
    "invalid":      {"rule": "invalid",            "invalid_reason": "leaked",
                     "invalid_days_ago": 0.5},
}
# fmt: on

#: Per-owner rules, not caused by any one token's fields.
OWNER_RULES: dict[str, str] = {
    "inactive-owner": "a usable (valid, unexpired) token whose owner is inactive",
    "too-many-tokens": 'the owner has more than THRESHOLDS["max_tokens"] tokens',
}

#: One user per rule: (username, is_active, token kinds, rules the user must get).
# fmt: off
AUDIT_FIXTURES: list[tuple[str, bool, list[str], list[str]]] = [
    ("audit_expired",      True,  ["expired"],      ["expired"]),
    ("audit_expiring",     True,  ["expiring"],     ["expiring-soon"]),
    ("audit_neverused",    True,  ["neverused"],    ["never-used"]),
    ("audit_stale",        True,  ["stale"],        ["stale"]),
    ("audit_noexpiry",     True,  ["noexpiry"],     ["no-expiry"]),
    ("audit_unrestricted", True,  ["unrestricted"], ["unrestricted-policy"]),
    ("audit_legacy",       True,  ["legacy"],       ["deprecated-generator"]),
    ("audit_invalid",      True,  ["invalid"],      ["invalid"]),
    ("audit_inactive",     False, ["clean"],        ["inactive-owner"]),
    ("audit_many",         True,  ["clean"] * 11,   ["too-many-tokens"]),
    ("audit_clean",        True,  ["clean"],        []),
]
# fmt: on

#: Password users of the "test" seed without tokens: (username, is_active).
TEST_USERS: list[tuple[str, bool]] = [
    ("alice", True),  # token management tests create their own tokens
    ("bob", True),
    ("carol", True),  # non-admin used for 403 tests
]

#: 30 token-less users so that user listings span several pages; every
#: fifth one is inactive.
PAGE_USERS: list[tuple[str, bool]] = [(f"page_u{i:02d}", i % 5 != 4) for i in range(30)]

#: Local Sites of the "test" seed (Review Board's multi-tenant mode, served
#: under ``/s/<name>/``). Each member: (username, global token kinds, Local
#: Site token kinds). tenant_owner and tenant_idle exist only for the Local
#: Site (no global token); tenant_dual also holds a global token. The Local
#: Site's tokens (``WebAPIToken.local_site``) are listed only under
#: ``/s/<name>/api/users/<u>/api-tokens/``, never at the global root (see the
#: module docstring), so they stay out of the manifest's ``tokens``.
# fmt: off
LOCAL_SITES: list[dict[str, Any]] = [
    {
        "name": "tenant-a",
        "public": False,
        "members": [
            ("tenant_owner", [],        ["clean", "expired", "unrestricted"]),
            ("tenant_dual",  ["clean"], ["noexpiry"]),
            ("tenant_idle",  [],        []),
        ],
        "admins": ["tenant_owner"],
    },
]
# fmt: on

#: Bulk users (users=N): deterministic mix, ~10% inactive, 0-3 tokens each.
BULK_RANDOM_SEED = 20261123
BULK_INACTIVE_RATIO = 0.10
BULK_TOKEN_COUNTS = [0, 1, 2, 3]
BULK_TOKEN_COUNT_WEIGHTS = [3, 4, 2, 1]
BULK_KIND_WEIGHTS: dict[str, int] = {
    "clean": 40,
    "expired": 8,
    "expiring": 6,
    "neverused": 8,
    "stale": 8,
    "noexpiry": 10,
    "unrestricted": 8,
    "legacy": 4,
    "invalid": 4,
}


def password_for(username: str) -> str:
    """The password of every seeded non-admin user."""
    return f"{username}-pw"


def token_rules(kind: str, *, owner_active: bool) -> list[str]:
    """Rules a single token of ``kind`` triggers on its own."""
    spec = {**CLEAN_TOKEN, **TOKEN_KINDS[kind]}
    rules = [spec["rule"]] if spec["rule"] else []
    expires = spec["expires_in_days"]
    usable = spec["invalid_reason"] is None and (expires is None or expires > 0)
    if not owner_active and usable:
        rules.append("inactive-owner")
    return rules


#: The "big" seed's heavy users: (username, token count). Past 200 tokens a
#: token list needs more than one page at the 200-item cap, while the
#: ``api_tokens`` expansion still returns every token unpaged.
HEAVY_USERS: list[tuple[str, int]] = [("heavy_201", 201), ("heavy_250", 250), ("heavy_700", 700)]

#: One user's plan: (username, is_active, token kinds, declared expect_rules
#: or None to compute them).
UserPlan = tuple[str, bool, list[str], list[str] | None]


def plan_users(seed: str, users: int) -> list[UserPlan]:
    """Who the seed creates, in order, with their tokens' kinds (deterministic)."""
    import random

    plans: list[UserPlan] = list(AUDIT_FIXTURES)
    if seed == "test":
        plans.extend((name, active, [], []) for name, active in TEST_USERS)
        plans.extend((name, active, [], []) for name, active in PAGE_USERS)
        for site in LOCAL_SITES:
            plans.extend((name, True, kinds, None) for name, kinds, _local in site["members"])
    rng = random.Random(BULK_RANDOM_SEED)
    kinds = list(BULK_KIND_WEIGHTS)
    weights = list(BULK_KIND_WEIGHTS.values())
    for i in range(1, users + 1):
        active = rng.random() >= BULK_INACTIVE_RATIO
        count = rng.choices(BULK_TOKEN_COUNTS, BULK_TOKEN_COUNT_WEIGHTS)[0]
        # Inactive owners only get clean tokens, so every token still
        # triggers exactly one rule (inactive-owner).
        user_kinds = ["clean"] * count if not active else rng.choices(kinds, weights, k=count)
        plans.append((f"demo_{i:05d}", active, user_kinds, None))
    if seed == "big":
        for name, count in HEAVY_USERS:
            plans.append((name, True, rng.choices(kinds, weights, k=count), None))
    return plans


class TokenBatch:
    """Tokens built in memory, then written with one ``bulk_create``.

    Secrets come from djblets' own generators (``vendor_checksum``: ``rbp_``
    + 245 base62 characters + a base62 CRC32; ``legacy_sha1``), exactly what
    ``WebAPIToken.objects.generate_token`` stores, minus its one INSERT per
    token and its ``webapi_token_created`` signal (which only sends the
    "token created" e-mail). Runs inside the Review Board venv.
    """

    def __init__(self, now: Any) -> None:
        from djblets.secrets.token_generators import token_generator_registry
        from reviewboard.webapi.models import WebAPIToken

        self.now = now
        self.model = WebAPIToken
        self.registry = token_generator_registry
        self.objects: list[Any] = []
        self.records: list[dict[str, Any]] = []
        self._secrets: set[str] = set(WebAPIToken.objects.values_list("token", flat=True))
        self._legacy_attempts: dict[int, int] = {}

    def _secret(self, generator_id: str, user: Any) -> str:
        generator = self.registry.get_token_generator(generator_id)
        while True:  # generate_token() retries on a collision too
            if generator_id == "legacy_sha1":
                # SHA-1 of SECRET_KEY, pk, password hash, attempt and now():
                # a per-user attempt counter keeps one user's tokens distinct.
                attempt = self._legacy_attempts.get(user.pk, 0)
                self._legacy_attempts[user.pk] = attempt + 1
                info: dict[str, Any] = {"user": user, "attempt": attempt}
            else:
                info = {"token_type": "rbp"}
            secret: str = generator.create_token(token_info=info)
            if secret not in self._secrets:
                self._secrets.add(secret)
                return secret

    def add(
        self, user: Any, kind: str, *, note: str, owner_active: bool, local_site: Any = None
    ) -> dict[str, Any]:
        """Plan one token of ``kind``; return its manifest record (id set by save())."""
        import datetime as dt

        day = dt.timedelta(days=1)
        now = self.now
        spec = {**CLEAN_TOKEN, **TOKEN_KINDS[kind]}
        expires = None if spec["expires_in_days"] is None else now + spec["expires_in_days"] * day
        added = now - spec["added_days_ago"] * day
        used_ago = spec["last_used_days_ago"]
        last_used = None if used_ago is None else now - used_ago * day
        invalid = spec["invalid_reason"] is not None
        generator = spec["generator"]
        secret = self._secret(generator, user)
        self.objects.append(
            self.model(
                user=user,
                token=secret,
                token_generator_id=generator,
                note=note,
                policy=spec["policy"],
                expires=expires,
                time_added=added,
                last_updated=added,
                last_used=last_used,
                valid=not invalid,
                invalid_reason=spec["invalid_reason"] or "",
                invalid_date=now - spec["invalid_days_ago"] * day if invalid else None,
                local_site=local_site,
            )
        )
        record: dict[str, Any] = {
            "id": None,
            "local_site": local_site.name if local_site is not None else None,
            "username": user.username,
            "note": note,
            "token": secret,
            "kind": kind,
            "token_generator_id": generator,
            "policy": spec["policy"],
            "expires": expires.isoformat() if expires else None,
            "time_added": added.isoformat(),
            "last_used": last_used.isoformat() if last_used else None,
            "valid": not invalid,
            "invalid_reason": spec["invalid_reason"] or "",
            "expect_rules": token_rules(kind, owner_active=owner_active),
        }
        self.records.append(record)
        return record

    def save(self) -> None:
        """INSERT every planned token (batched) and fill in the records' ids."""
        self.model.objects.bulk_create(self.objects, batch_size=500)
        for obj, record in zip(self.objects, self.records, strict=True):
            if obj.pk is None:  # sqlite < 3.35 returns no ids from a bulk INSERT
                obj.pk = self.model.objects.only("pk").get(token=obj.token).pk
            record["id"] = obj.pk


def _plan_local_sites(batch: TokenBatch, by_name: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Create :data:`LOCAL_SITES`, their members and admins; plan their tokens.

    Returns the manifest's ``local_sites`` (``token_ids`` are filled in once
    the batch is saved). A Local Site is a plain model: ``LocalSite(name,
    public)``, with the ``users`` (members) and ``admins`` many-to-many
    fields; a token belongs to one through ``WebAPIToken.local_site``.
    """
    from reviewboard.site.models import LocalSite

    sites: list[dict[str, Any]] = []
    for spec in LOCAL_SITES:
        site = LocalSite.objects.create(name=spec["name"], public=spec["public"])
        members = [name for name, _global, _local in spec["members"]]
        site.users.add(*(by_name[name] for name in members))
        site.admins.add(*(by_name[name] for name in spec["admins"]))
        tokens = [
            batch.add(
                by_name[name],
                kind,
                note=f"{name} token {n} ({kind}) on {site.name}",
                owner_active=by_name[name].is_active,
                local_site=site,
            )
            for name, _global, local_kinds in spec["members"]
            for n, kind in enumerate(local_kinds, 1)
        ]
        sites.append(
            {
                "name": site.name,
                "public": site.public,
                "api_path": f"s/{site.name}/api/",
                "users": sorted(members),
                "admins": sorted(spec["admins"]),
                "token_ids": [],
                "tokens": tokens,
            }
        )
    return sites


def seed_database(*, seed: str, users: int, admin_password: str) -> dict[str, Any]:
    """Create users and tokens with the ORM (bulk INSERTs); return the manifest."""
    import datetime as dt

    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone
    from djblets.siteconfig.models import SiteConfiguration
    from reviewboard.webapi.models import WebAPIToken

    if not settings.PASSWORD_HASHERS[0].endswith("MD5PasswordHasher"):
        raise SystemExit(f"settings_local overrides not in effect: {settings.PASSWORD_HASHERS[0]}")

    now = timezone.now()
    started = time.monotonic()
    plans = plan_users(seed, users)
    manifest_users: list[dict[str, Any]] = []

    def phase(name: str) -> None:  # timings go to logs/seed.log
        _log(f"seed {seed}: {name} done at {time.monotonic() - started:.2f}s")

    with transaction.atomic():
        # -- admin: re-hash with MD5 so Basic logins are cheap --------------
        admin = User.objects.get(username=ADMIN_USERNAME)
        admin.set_password(admin_password)
        admin.save(update_fields=["password"])

        # -- users ------------------------------------------------------------
        User.objects.bulk_create(
            [
                User(
                    username=name,
                    email=f"{name}@example.com",
                    first_name=name.split("_")[0].capitalize(),
                    last_name=name.split("_", 1)[-1].capitalize(),
                    is_active=active,
                    password=make_password(password_for(name)),
                    date_joined=now - 400 * dt.timedelta(days=1),
                )
                for name, active, _kinds, _rules in plans
            ],
            batch_size=500,
        )
        by_name = {u.username: u for u in User.objects.filter(username__in=[p[0] for p in plans])}
        phase(f"{len(plans)} users")

        manifest_users.append(
            {
                "username": admin.username,
                "password": admin_password,
                "email": admin.email,
                "is_active": True,
                "is_superuser": True,
                "token_ids": [],
                "expect_rules": [],
                "local_sites": [],
            }
        )

        # -- tokens -----------------------------------------------------------
        batch = TokenBatch(now)
        owned: list[tuple[UserPlan, list[dict[str, Any]]]] = []
        for plan in plans:
            name, active, user_kinds, _declared = plan
            user = by_name[name]
            records = [
                batch.add(user, kind, note=f"{name} token {n} ({kind})", owner_active=active)
                for n, kind in enumerate(user_kinds, 1)
            ]
            owned.append((plan, records))
        local_sites = _plan_local_sites(batch, by_name) if seed == "test" else []
        phase(f"{len(batch.records)} token secrets")
        batch.save()
        phase(f"{len(batch.records)} tokens saved")

        for (name, active, user_kinds, declared), records in owned:
            rules = {rule for record in records for rule in record["expect_rules"]}
            if len(user_kinds) > THRESHOLDS["max_tokens"]:
                rules.add("too-many-tokens")
            expect = sorted(rules)
            if declared is not None and sorted(declared) != expect:
                raise SystemExit(
                    f"seed table inconsistent for {name}: declared {declared}, computed {expect}"
                )
            manifest_users.append(
                {
                    "username": name,
                    "password": password_for(name),
                    "email": by_name[name].email,
                    "is_active": active,
                    "is_superuser": False,
                    "token_ids": [record["id"] for record in records],
                    "expect_rules": expect,
                    "local_sites": [s["name"] for s in local_sites if name in s["users"]],
                }
            )
        for site in local_sites:
            site["token_ids"] = [record["id"] for record in site["tokens"]]

        # -- other users (e.g. Power Pack's service user) -------------------
        seeded = {u["username"] for u in manifest_users}
        other_users = [
            {
                "username": u.username,
                "is_active": u.is_active,
                "is_superuser": u.is_superuser,
                # What the global root lists (Local Site tokens are not).
                "token_count": WebAPIToken.objects.filter(user=u, local_site=None).count(),
            }
            for u in User.objects.exclude(username__in=seeded).order_by("username")
        ]

    phase("commit")
    siteconfig = SiteConfiguration.objects.get_current()
    all_rules = sorted({k["rule"] for k in TOKEN_KINDS.values() if k["rule"]} | set(OWNER_RULES))
    return {
        "schema": 1,
        "seed": seed,
        "seeded_at": now.isoformat(),
        "review_board_version": siteconfig.version,
        "admin": {"username": ADMIN_USERNAME, "password": admin_password},
        "thresholds": THRESHOLDS,
        "rules": all_rules,
        # Rules that only appear in users' expect_rules, never in a token's.
        "user_level_rules": ["too-many-tokens"],
        # Rules the site breaks as a whole: Review Board 8.1, as installed,
        # serves every token (secret included) to ``/api/users/?expand=api_tokens``
        # sent without credentials.
        "server_rules": ["secrets-exposed"],
        "rule_examples": {rules[0]: name for name, _a, _k, rules in AUDIT_FIXTURES if rules},
        "clean_example": next(name for name, _a, _k, rules in AUDIT_FIXTURES if not rules),
        "users": manifest_users,
        # Global tokens only (local_site None); Local Site tokens are in local_sites.
        "tokens": [record for record in batch.records if record["local_site"] is None],
        "other_users": other_users,
        "local_sites": local_sites,
    }


if __name__ == "__main__":
    sys.exit(main())
