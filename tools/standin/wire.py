"""Review Board 8.1's answers as :class:`rbtokens.Response` values.

Header names are lowercase, as ``rbtokens.transport`` wants them; the aiohttp
adapter sends them as they are. The HTML pages are the captured ones from
``tests/fixtures/``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from rbtokens import Response

__all__ = [
    "CAPTURED_ORIGIN",
    "ERROR_MIME",
    "MIME",
    "RB_404",
    "RB_500",
    "SESSION_COOKIE",
    "VARY",
    "Refusal",
    "encode",
    "error",
    "field_error",
    "fixture",
    "html",
    "http_date",
    "not_logged_in",
    "permission_denied",
    "proxy_page",
    "rate_limited",
]

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
CAPTURED_ORIGIN = "http://127.0.0.1:8080"
MIME = "application/vnd.reviewboard.org.{}+json"
ERROR_MIME = MIME.format("error")
SESSION_COOKIE = "rbsessionid"
COOKIE_ATTRS = "HttpOnly; Max-Age=31536000; Path=/; SameSite=Lax"
CLEARED_COOKIE = f'{SESSION_COOKIE}=""; Max-Age=0; Path=/'
VARY = "Accept, Cookie, Accept-Language, Origin, Accept-Encoding"
BASIC_REALM = {"www-authenticate": 'Basic realm="Web API"'}

encode = msgspec.json.Encoder(order="sorted").encode

ERROR_TYPES: dict[int, str] = {
    100: "resource-does-not-exist",
    101: "resource-permission-denied",
    102: "resource-attribute-invalid",
    103: "auth-not-logged-in",
    104: "auth-login-failed",
    105: "request-field-error",
    106: "request-attribute-missing",
    111: "resource-conflict",
    114: "request-rate-limit-exceeded",
    228: "api-token-generation-error",
}
"""djblets' and Review Board's ``err.type`` by code (the ones the stand-in sends)."""


def fixture(name: str) -> dict[str, Any]:
    """A captured exchange from ``tests/fixtures/``."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


RB_500: str = fixture("error-105-bad-policy.json")["body"]
RB_404: str = fixture("error-html-404.json")["body"]
_PROXY_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n"
    "<center><h1>{0}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Refusal(Exception):
    """Raised deep in a handler to answer at once with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error(
    status: int,
    code: int,
    msg: str,
    *,
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, Any] | None = None,
    etype: str | None = None,
) -> Response:
    """Review Board's error payload (``stat: fail``) with the error mimetype."""
    body: dict[str, Any] = {
        "err": {"code": code, "msg": msg, "type": etype or ERROR_TYPES.get(code, "error")},
        "stat": "fail",
    }
    if fields:
        body["fields"] = dict(fields)
    hdrs = {"content-type": ERROR_MIME, "vary": VARY}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    return Response(status, hdrs, encode(body))


def html(status: int, text: str = "", headers: Mapping[str, str] | None = None) -> Response:
    """A ``text/html`` page (Review Board's 404/500 pages, a proxy's 502/503, a 405)."""
    hdrs = {"content-type": "text/html; charset=utf-8"}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    return Response(status, hdrs, text.encode())


def proxy_page(status: int, title: str) -> Response:
    """nginx's error page."""
    return html(status, _PROXY_PAGE.format(title))


def not_logged_in() -> Response:
    """401, code 103."""
    return error(401, 103, "You are not logged in", headers=BASIC_REALM)


def login_failed(msg: str = "The username or password was not correct") -> Response:
    """401, code 104."""
    return error(401, 104, msg, headers=BASIC_REALM)


def permission_denied() -> Response:
    """403, code 101."""
    return error(403, 101, "You don't have permission for this")


def does_not_exist() -> Response:
    """404, code 100."""
    return error(404, 100, "Object does not exist")


def field_error(name: str, message: str | list[str]) -> Response:
    """400, code 105, with ``fields: {name: message}``."""
    return error(400, 105, "One or more fields had errors", fields={name: message})


def rate_limited(retry_after: int, limit: int) -> Response:
    """429, code 114, with ``Retry-After`` and ``X-RateLimit-Limit``."""
    headers = {"retry-after": str(retry_after), "x-ratelimit-limit": str(limit)}
    return error(429, 114, "API rate limit has been exceeded.", headers=headers)


def http_date(value: datetime) -> str:
    """An RFC 7231 date."""
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
