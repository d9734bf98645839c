"""TLS: verified by default, a CA bundle or an SSL context for a private CA, and
``verify=False`` warns but connects.

A local HTTPS aiohttp server presents a certificate signed by a throw-away CA
made with the ``openssl`` command line.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from payloads import FIXTURES

from rbtokens import ConnectError, RBClient, RBTokensWarning, RetryPolicy, Root, TransportError

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
