"""tools/rbsite.py serves a site with gunicorn, as production does.

One small site (seed "demo", a handful of users) is built and served by
``running_site(server="gunicorn")``: two ``gthread`` workers serving
``reviewboard.wsgi:application``. Nothing here asserts a time; the point is
that the production entry point works on this venv (``bin/activate_this.py``
included) and that stopping the site leaves no process behind.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from realsite import rbsite

pytestmark = pytest.mark.integration

WORKERS = 2


def children(pid: int) -> set[int]:
    """The direct children of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture(scope="module")
def gunicorn_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("rbsite-gunicorn")
    with rbsite.running_site(
        seed="demo", users=5, workdir=workdir, server="gunicorn", workers=WORKERS, threads=2
    ) as site:
        yield site


def connect(site: Any) -> http.client.HTTPConnection:
    port = int(site.url.rstrip("/").rsplit(":", 1)[1])
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def test_gunicorn_answers_the_api_root_on_one_kept_alive_connection(gunicorn_site: Any) -> None:
    assert gunicorn_site.server == "gunicorn"
    conn = connect(gunicorn_site)
    try:
        sockets = set()
        for _ in range(3):
            conn.request("GET", "/api/", headers={"Accept": "application/json"})
            rsp = conn.getresponse()
            body = json.loads(rsp.read())
            assert rsp.status == 200 and body["stat"] == "ok"
            assert rsp.getheader("Server", "").startswith("gunicorn")
            assert rsp.getheader("Content-Type", "").startswith(
                "application/vnd.reviewboard.org.root+json"
            )
            assert rsp.getheader("Connection", "").lower() != "close"
            assert conn.sock is not None
            sockets.add(id(conn.sock))
        assert len(sockets) == 1  # the same connection served all three
        assert body["uri_templates"]["user"].startswith(gunicorn_site.url + "api/users/")
    finally:
        conn.close()


def test_gunicorn_serves_authenticated_requests_from_the_database(gunicorn_site: Any) -> None:
    credentials = f"{gunicorn_site.admin_username}:{gunicorn_site.admin_password}"
    conn = connect(gunicorn_site)
    try:
        conn.request(
            "GET",
            "/api/users/?counts-only=1&include-inactive=1",
            headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
        )
        rsp = conn.getresponse()
        body = json.loads(rsp.read())
    finally:
        conn.close()
    manifest = gunicorn_site.manifest
    assert rsp.status == 200
    assert body["count"] == len(manifest["users"]) + len(manifest["other_users"])


def test_every_worker_initialised_review_board_before_the_site_was_ready(
    gunicorn_site: Any,
) -> None:
    log = gunicorn_site.server_log(200)
    assert log.count(rbsite.WORKER_READY) == WORKERS
    assert "warm-up GET /api/: 200 OK" in log
    assert "Traceback" not in log
    assert len(children(gunicorn_site._process.pid)) == WORKERS


def test_the_wsgi_entry_activates_the_venv_through_activate_this(gunicorn_site: Any) -> None:
    # rb-site install links SITE/venv to the venv it ran from; with no
    # $VIRTUAL_ENV, reviewboard/wsgi.py execs venv/bin/activate_this.py, which
    # `python -m venv` does not write (ensure_gunicorn does).
    venv = gunicorn_site.venv
    assert (gunicorn_site.site_dir / "venv").resolve() == venv.resolve()
    assert (venv / "bin" / "activate_this.py").is_file()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["REVIEWBOARD_SITEDIR"] = str(gunicorn_site.site_dir)
    code = "import os, reviewboard.wsgi; print(os.environ['VIRTUAL_ENV'])"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=gunicorn_site.site_dir,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert Path(proc.stdout.strip()).resolve() == venv.resolve()


def test_stopping_the_site_ends_the_master_and_every_worker(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("rbsite-gunicorn-stop")
    with rbsite.running_site(
        seed="demo", users=0, workdir=workdir, server="gunicorn", workers=WORKERS
    ) as site:
        master = site._process.pid
        workers = children(master)
        assert len(workers) == WORKERS
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(p) for p in {master, *workers}):
        time.sleep(0.1)
    assert not [p for p in {master, *workers} if alive(p)]


def test_server_options_are_checked_before_anything_is_built(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="unknown server"),
        rbsite.running_site(workdir=tmp_path / "a", server="uwsgi"),
    ):
        pass
    with (
        pytest.raises(ValueError, match="one process"),
        rbsite.running_site(workdir=tmp_path / "b", server="gunicorn", cache="locmem", workers=2),
    ):
        pass
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
