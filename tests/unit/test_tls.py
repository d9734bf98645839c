"""TLS: verified by default, a CA bundle option, and loud warnings when weakened.

A local HTTPS aiohttp server presents a certificate signed by a throw-away CA
made with the ``openssl`` command line.
"""

from __future__ import annotations

import io
import json
import shutil
import ssl
import subprocess
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from rbtokens import (
    ConnectError,
    RBClient,
    RBTokensWarning,
    RetryPolicy,
    Root,
    TransportError,
)
from rbtokens.cli import main as cli_main
from tools.standin.testing import BASE as FAKE_BASE
from tools.standin.testing import FakeReviewBoard

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROOT_MIME = "application/vnd.reviewboard.org.root+json"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem`` and ``server.pem``/``server.key`` for 127.0.0.1 and localhost."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=rbtokens test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
        cwd=d,
    )  # fmt: skip
    openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=d,
    )  # fmt: skip
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=d,
    )  # fmt: skip
    return d


@pytest.fixture
async def https_server(pki: Path) -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []
    root = json.loads((FIXTURES / "root.json").read_text())["body"]

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        origin = f"https://127.0.0.1:{request.url.port}"
        body = json.dumps(root).replace("http://127.0.0.1:8080", origin)
        return web.Response(text=body, headers={"Content-Type": ROOT_MIME})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    app = web.Application()
    app.router.add_get("/api/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}/", hits
    await runner.cleanup()


async def test_verification_is_on_by_default(https_server: tuple[str, list[str]]) -> None:
    url, hits = https_server
    async with RBClient(url, retry=RetryPolicy(attempts=4, backoff=0.0001)) as c:
        with pytest.raises(TransportError) as info:
            await c.get_root()
    assert not isinstance(info.value, ConnectError)  # final: retrying cannot help
    assert "certificate" in str(info.value).lower()
    assert "verify=" in str(info.value)  # says how to trust a private CA
    assert c.stats.requests == 1
    assert hits == []


async def test_ca_bundle_option(https_server: tuple[str, list[str]], pki: Path) -> None:
    url, hits = https_server
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = RBClient(url, verify=str(pki / "ca.pem"))
    async with client as c:
        assert isinstance(await c.get_root(), Root)
    assert hits == ["/api/"]


async def test_ssl_context_option(https_server: tuple[str, list[str]], pki: Path) -> None:
    url, _ = https_server
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    async with RBClient(url, verify=context) as c:
        assert isinstance(await c.get_root(), Root)


async def test_a_bundle_without_the_ca_still_fails(
    https_server: tuple[str, list[str]], pki: Path, tmp_path: Path
) -> None:
    url, hits = https_server
    other = tmp_path / "other"
    other.mkdir()
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "k.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=another CA",
        cwd=other,
    )  # fmt: skip
    async with RBClient(url, verify=str(other / "ca.pem")) as c:
        with pytest.raises(TransportError):
            await c.get_root()
    assert hits == []


async def test_insecure_warns_and_connects(https_server: tuple[str, list[str]]) -> None:
    url, _ = https_server
    with pytest.warns(RBTokensWarning, match="TLS verification is disabled"):
        client = RBClient(url, verify=False)
    async with client as c:
        assert isinstance(await c.get_root(), Root)


@pytest.mark.parametrize(
    "url",
    ["http://rb.example.com/", "http://10.0.0.5/", "http://[2001:db8::1]/", "http://rb/"],
)
def test_password_over_plain_http_warns(url: str) -> None:
    with pytest.warns(RBTokensWarning, match="password over plain http"):
        RBClient(url, username="admin", password="tls-test-pw")


@pytest.mark.parametrize(
    ("url", "kw"),
    [
        ("http://127.0.0.1:8080/", {"username": "a", "password": "tls-test-pw"}),
        ("http://localhost/", {"username": "a", "password": "tls-test-pw"}),
        ("http://[::1]:8080/", {"username": "a", "password": "tls-test-pw"}),
        ("https://rb.example.com/", {"username": "a", "password": "tls-test-pw"}),
        ("http://rb.example.com/", {}),
    ],
)
def test_no_warning_when_nothing_is_exposed(url: str, kw: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RBClient(url, **kw)


def test_warning_never_shows_the_password() -> None:
    with pytest.warns(RBTokensWarning) as record:
        RBClient("http://rb.example.com/", username="admin", password="tls-test-pw", verify=False)
    assert len(record) == 2
    assert all("tls-test-pw" not in str(w.message) for w in record)


def test_cli_insecure_prints_a_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", FAKE_BASE, "--username", "admin", "--password", fake.password,
            "--insecure", "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "warning" in err.getvalue().lower()
    assert "tls verification is disabled" in err.getvalue().lower()


def test_cli_plain_http_password_prints_a_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", "http://rb.example.com/", "--username", "admin",
            "--password", fake.password, "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "password over plain http" in err.getvalue().lower()
    assert fake.password not in err.getvalue() + out.getvalue()


def test_cli_without_insecure_prints_no_tls_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", FAKE_BASE, "--username", "admin", "--password", fake.password,
            "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "tls" not in err.getvalue().lower()
