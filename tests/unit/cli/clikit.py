"""Helpers for the command's tests: run it against a fake token server, seeded with three tokens."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from rbtokens.cli import main
from rbtokens.policy import READ_ONLY
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeTokenServer

LOGIN = ["--server", BASE, "--username", "admin", "--password", "admin-pw"]
NOW = datetime.now(UTC)


def run(fake: FakeTokenServer, *args: str, login: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [*args, *LOGIN] if login else list(args)
    code = main(argv, transport=fake.transport, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def seeded() -> FakeTokenServer:
    """alice: one clean token; bob: one with no expiry and full access; dave (inactive): one."""
    fake = FakeTokenServer()
    fresh = {
        "expires": NOW + timedelta(days=60),
        "policy": READ_ONLY.to_dict(),
        "last_used": NOW - timedelta(days=1),
        "time_added": NOW - timedelta(days=5),
    }
    fake.add_token("alice", note="alice ci", **fresh)
    fake.add_token("bob", note="bob laptop", expires=None, last_used=NOW)
    fake.add_token("dave", note="dave old", **fresh)
    return fake


def with_user_item(fake: FakeTokenServer) -> FakeTokenServer:
    """Answer ``GET /api/users/<name>/``, which the token fake does not route."""

    def user_item(request: Request) -> Response:
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = {"stat": "ok", "user": fake.user_payload(name)}
        mime = "application/vnd.reviewboard.org.user+json"
        return Response(200, {"content-type": mime}, json.dumps(body).encode())

    for name in fake.users:
        fake.inject("GET", f"/api/users/{name}/", user_item)
    return fake


def secrets_of(fake: FakeTokenServer) -> list[str]:
    return [t["token"] for t in fake.tokens.values()]
