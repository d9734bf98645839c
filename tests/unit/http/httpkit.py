"""Canned answers for the http tests: an API root (with or without a cookie), "not logged in"."""

from __future__ import annotations

from rbtokens.transport import Response
from tools.standin.testing import error

MIME = "application/vnd.reviewboard.org.{}+json"
ROOT_BODY = b'{"stat":"ok","links":{"self":{"href":"https://rb.test/api/","method":"GET"}}}'
ROOT_CT = {"content-type": MIME.format("root")}


def root_ok(cookies: dict[str, str] | None = None) -> Response:
    return Response(200, dict(ROOT_CT), ROOT_BODY, dict(cookies or {}))


def not_logged_in() -> Response:
    return error(401, 103, "You are not logged in")
