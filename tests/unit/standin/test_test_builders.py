"""The test builders serve their dicts and lists from the one dataset, live."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from yarl import URL

from rbtokens import Request
from tools.standin.testing import (
    BASE,
    FakeReviewBoard,
    FakeTokenServer,
    token_payload,
    user_payload,
)

ADMIN_PW = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw


def get(fake: FakeReviewBoard, path: str) -> object:
    response = fake.handle(Request("GET", URL(BASE + path), dict(ADMIN_PW)))
    assert response.status == 200, response.body
    return json.loads(response.body)


def test_fake_review_board_payload_views_write_through() -> None:
    fake = FakeReviewBoard(users=4, tokens_per_user=2)
    assert [u["username"] for u in fake.users] == ["u000", "u001", "u002", "u003"]
    assert [t["id"] for t in fake.tokens["u001"]] == [1000, 1001]
    fake.tokens["u001"][0].update(note="renamed", expires="2030-01-01T00:00:00+00:00")
    served = get(fake, "/api/users/u001/api-tokens/1000/")["api_token"]  # type: ignore[index]
    assert (served["note"], served["expires"]) == ("renamed", "2030-01-01T00:00:00+00:00")
    assert fake.tokens["u001"][0] | {"x": 1} == {**served, "x": 1}
    assert copy.deepcopy(fake.tokens["u001"]) == [served, fake.tokens["u001"][1]]


def test_fake_review_board_lists_change_the_listing() -> None:
    fake = FakeReviewBoard(users=3, tokens_per_user=1)
    gone = fake.users.pop(0)
    listed = get(fake, "/api/users/?include-inactive=1")["users"]  # type: ignore[index]
    assert [u["username"] for u in listed] == ["u001", "u002"]
    assert get(fake, f"/api/users/{gone['username']}/api-tokens/")["total_results"] == 1  # type: ignore[index]
    fake.users.append(user_payload("late", 99))
    fake.tokens["late"] = [token_payload("late", 5000), token_payload("late", 5001)]
    assert get(fake, "/api/users/late/api-tokens/")["total_results"] == 2  # type: ignore[index]
    fake.tokens["late"].clear()
    assert fake.tokens["late"] == []
    assert "admin" not in fake.tokens


def test_fake_review_board_sessions_and_overrides() -> None:
    fake = FakeReviewBoard(users=1)
    fake.sessions.add("mine")
    cookie = {"Cookie": "rbsessionid=mine"}
    assert fake.handle(Request("GET", URL(BASE + "/api/session/"), cookie)).status == 200
    fake.sessions.clear()
    assert fake.handle(Request("GET", URL(BASE + "/api/session/"), cookie)).status == 401
    fake.overrides[("GET", "/api/session/")] = fake.route
    assert fake.handle(Request("GET", URL(BASE + "/api/session/"), {})).status == 200


def test_fake_token_server_records_are_live() -> None:
    fake = FakeTokenServer()
    soon = datetime.now(UTC) + timedelta(days=1)
    record = fake.add_token("alice", note="n", expires=soon)
    assert fake.owner[record["id"]] == "alice" and fake.next_id == record["id"] + 1
    record.update(valid=False, invalid_reason="leaked")
    assert fake.dataset.tokens[record["id"]].invalid_reason == "leaked"
    stale = fake.token_payload({**record, "valid": True})
    assert stale["valid"] is True and stale["expires"] == soon.isoformat()
    assert fake.tokens_of("alice") == [record] and list(fake.tokens) == [record["id"]]
    assert list(fake.users) == ["admin", "alice", "bob", "carol", "dave"]
