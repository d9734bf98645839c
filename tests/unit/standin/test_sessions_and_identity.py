"""Who a request is, as Review Board 8.1 decides (§3), straight against the core."""

from __future__ import annotations

import pytest
from standinkit import ask, basic, payload

from tools.standin import Dataset, ReviewBoard, TokenKind
from tools.standin.service import build_service


@pytest.fixture
def core() -> ReviewBoard:
    dataset = Dataset.generate(4, seed=1, tokens_per_user=(1, 1), inactive_fraction=0)
    dataset.add_user("sleeper", is_active=False)
    return ReviewBoard(dataset)


def cookie_of(response: object) -> str:
    value = response.cookies["rbsessionid"]  # type: ignore[attr-defined]
    assert value
    return f"rbsessionid={value}"


def test_a_cookie_for_no_session_is_deleted_and_the_request_is_anonymous(
    core: ReviewBoard,
) -> None:
    resp = ask(core, "/api/session/", auth=None, headers={"Cookie": "rbsessionid=gone"})
    assert payload(resp)["session"]["authenticated"] is False
    assert resp.headers["set-cookie"].startswith('rbsessionid=""; Max-Age=0')
    assert resp.cookies == {"rbsessionid": ""}


def test_the_same_users_cookie_skips_the_password_check(core: ReviewBoard) -> None:
    sid = cookie_of(ask(core, "/api/"))
    again = ask(core, "/api/", headers={"Cookie": sid})
    assert core.stats.logins == 1 and "set-cookie" not in again.headers
    other = ask(core, "/api/", auth=basic("audit_00001", "password"), headers={"Cookie": sid})
    assert core.stats.logins == 2 and cookie_of(other) != sid  # another user: a new session


def test_a_failed_header_login_logs_the_cookie_out(core: ReviewBoard) -> None:
    sid = cookie_of(ask(core, "/api/"))
    same = ask(core, "/api/", auth=basic("admin", "nope"), headers={"Cookie": sid})
    assert same.status == 200  # the session's own user: the password is not checked again
    failed = ask(core, "/api/", auth=basic("audit_00001", "nope"), headers={"Cookie": sid})
    assert failed.status == 401 and payload(failed)["err"]["code"] == 104
    after = ask(core, "/api/session/", auth=None, headers={"Cookie": sid})
    assert payload(after)["session"]["authenticated"] is False


def test_login_by_email_and_inactive_users(core: ReviewBoard) -> None:
    by_mail = ask(core, "/api/session/", auth=basic("audit_00002@example.com", "password"))
    assert by_mail.status == 200
    assert payload(by_mail)["session"]["links"]["user"]["title"] == "audit_00002"
    asleep = ask(core, "/api/session/", auth=basic("sleeper", "password"))
    assert asleep.status == 401 and payload(asleep)["err"]["code"] == 104


@pytest.mark.parametrize("scheme", ["Bearer x", "Token x", "basic eDp5"])
def test_other_schemes_are_ignored(core: ReviewBoard, scheme: str) -> None:
    resp = ask(core, "/api/users/audit_00000/api-tokens/", auth=scheme)
    assert resp.status == 401 and payload(resp)["err"]["code"] == 103
    assert resp.headers["www-authenticate"] == 'Basic realm="Web API"'


def test_a_token_session_ends_with_its_token_not_with_its_validity(core: ReviewBoard) -> None:
    token = core.dataset.users["audit_00000"].tokens[0]
    token.kind, token.valid, token.expires = TokenKind.HEALTHY, True, None
    first = ask(core, "/api/session/", auth=f"token {token.token}")
    assert first.status == 200 and token.last_used is not None  # using a token writes it
    sid = cookie_of(first)
    refused = ask(core, "/api/users/audit_00000/api-tokens/", auth=None, headers={"Cookie": sid})
    assert refused.status == 403  # a token session may not manage tokens
    token.valid = False  # invalidated server-side: the session survives
    alive = ask(core, "/api/session/", auth=None, headers={"Cookie": sid})
    assert payload(alive)["session"]["authenticated"] is True
    assert ask(core, "/api/session/", auth=f"token {token.token}").status == 401
    core.dataset.remove_token(token.id)  # deleted: the session is logged out
    gone = ask(core, "/api/session/", auth=None, headers={"Cookie": sid})
    assert payload(gone)["session"]["authenticated"] is False


def test_a_legacy_token_is_flagged_on_every_answer(core: ReviewBoard) -> None:
    legacy = core.dataset.add_token("audit_00001", kind=TokenKind.LEGACY)
    resp = ask(core, "/api/", auth=f"token {legacy.token}")
    assert resp.status == 200
    assert "deprecated format" in resp.headers["x-api-token-deprecated"]


def test_logout_ends_the_session(core: ReviewBoard) -> None:
    sid = cookie_of(ask(core, "/api/"))
    out = ask(core, "/api/session/", method="DELETE", auth=None, headers={"Cookie": sid})
    assert out.status == 204 and out.cookies == {"rbsessionid": ""}
    after = ask(core, "/api/session/", auth=None, headers={"Cookie": sid})
    assert payload(after)["session"]["authenticated"] is False
    assert ask(core, "/api/session/", method="DELETE", auth=None).status == 401


def test_a_server_without_sessions_checks_every_request() -> None:
    core = build_service(Dataset.generate(2), cookies=False).core
    for _ in range(3):
        resp = ask(core, "/api/session/")
        assert resp.status == 200 and "set-cookie" not in resp.headers
    assert core.stats.logins == 3 and core.stats.sessions == 0


def test_sitewide_login_refuses_anonymous_reads(core: ReviewBoard) -> None:
    core.behaviour.sitewide_login = True
    for path in ("/api/", "/api/info/", "/api/session/", "/api/users/", "/api/users/admin/"):
        assert ask(core, path, auth=None).status == 401, path
        assert ask(core, path).status == 200, path
    assert ask(core, "/api/nothing/", auth=None).status == 404  # unrouted: no login asked
