"""Sanity checks of the seeded Review Board site itself (stdlib HTTP only).

These pin down the assumptions the rest of the integration suite relies on:
the API answers, admin Basic auth works, the seed matches the manifest, the
MD5 hasher is in effect, and the X-Real-IP trick isolates login rate limits.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT_MIMETYPE = "application/vnd.reviewboard.org.root+json"
TOKENS_MIMETYPE = "application/vnd.reviewboard.org.api-tokens+json"


# Loopback requests must never go through an http_proxy from the environment.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Response:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", "")).split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request(
    site: Any,
    path: str,
    *,
    method: str = "GET",
    authorization: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One request, no cookies kept, so every call authenticates afresh."""
    all_headers = dict(headers or {})
    if authorization is not None:
        all_headers["Authorization"] = authorization
    req = urllib.request.Request(site.url + path.lstrip("/"), method=method, headers=all_headers)
    try:
        with NO_PROXY.open(req, timeout=30) as rsp:
            return Response(rsp.status, rsp.headers, rsp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, exc.headers, exc.read())


def admin_auth(site: Any) -> str:
    return basic(site.admin_username, site.admin_password)


def manifest_user(site: Any, username: str) -> dict[str, Any]:
    return next(u for u in site.manifest["users"] if u["username"] == username)


def manifest_tokens(site: Any, username: str) -> list[dict[str, Any]]:
    return [t for t in site.manifest["tokens"] if t["username"] == username]


def test_api_root(rb_site: Any) -> None:
    rsp = request(rb_site, "api/")
    assert rsp.status == 200
    assert rsp.content_type == ROOT_MIMETYPE
    body = rsp.json()
    assert body["stat"] == "ok"
    assert "api_tokens" in body["uri_templates"]
    assert rb_site.url.startswith("http://127.0.0.1:")


def test_admin_basic_login(rb_site: Any) -> None:
    rsp = request(rb_site, "api/session/", authorization=admin_auth(rb_site))
    assert rsp.status == 200
    session = rsp.json()["session"]
    assert session["authenticated"] is True
    assert session["links"]["user"]["title"] == rb_site.admin_username


def test_wrong_password_is_401(rb_site: Any) -> None:
    # A distinct X-Real-IP keeps this failure out of 127.0.0.1's login budget.
    rsp = request(
        rb_site,
        "api/session/",
        authorization=basic("carol", "not-her-password"),
        headers={"X-Real-IP": "198.51.100.7"},
    )
    assert rsp.status == 401
    assert rsp.json()["err"]["code"] == 104


def test_legacy_token_is_deprecated(rb_site: Any) -> None:
    (seeded,) = manifest_tokens(rb_site, "audit_legacy")
    assert seeded["token_generator_id"] == "legacy_sha1"
    assert re.fullmatch(r"[0-9a-f]{40}", seeded["token"])
    assert seeded["expect_rules"] == ["deprecated-generator"]

    rsp = request(rb_site, "api/users/audit_legacy/api-tokens/", authorization=admin_auth(rb_site))
    assert rsp.status == 200
    assert rsp.content_type == TOKENS_MIMETYPE
    (token,) = rsp.json()["api_tokens"]
    assert token["id"] == seeded["id"]
    assert token["token"] == seeded["token"]
    assert token["token_generator_id"] == "legacy_sha1"
    assert token["deprecated"] is True


def test_md5_hasher_and_rate_limits_in_effect(rb_site: Any) -> None:
    out = rb_site.manage(
        "from django.conf import settings\n"
        "names = ('admin', 'alice', 'audit_clean', 'page_u00')\n"
        "print(json.dumps({\n"
        "    'hashes': {n: User.objects.get(username=n).password.split('$')[0] for n in names},\n"
        "    'login': settings.LOGIN_LIMIT_RATE,\n"
        "    'anonymous': settings.API_ANONYMOUS_LIMIT_RATE,\n"
        "    'authenticated': settings.API_AUTHENTICATED_LIMIT_RATE,\n"
        "}))\n"
    )
    found = json.loads(out)
    assert set(found["hashes"].values()) == {"md5"}, found["hashes"]
    assert found["login"] == "5/m"
    assert found["anonymous"] == found["authenticated"] == "1000000/h"


def test_seeded_users_can_log_in(rb_site: Any) -> None:
    for username in ("alice", "bob", "carol"):
        user = manifest_user(rb_site, username)
        rsp = request(rb_site, "api/session/", authorization=basic(username, user["password"]))
        assert rsp.status == 200, username
        assert rsp.json()["session"]["authenticated"] is True


def test_audit_fixtures_as_the_server_reports_them(rb_site: Any) -> None:
    manifest = rb_site.manifest
    examples = manifest["rule_examples"]
    assert set(examples) == set(manifest["rules"])
    auth = admin_auth(rb_site)

    def tokens_of(username: str) -> list[dict[str, Any]]:
        path = f"api/users/{username}/api-tokens/?max-results=200"
        rsp = request(rb_site, path, authorization=auth)
        assert rsp.status == 200, username
        return list(rsp.json()["api_tokens"])

    for rule, username in examples.items():
        user = manifest_user(rb_site, username)
        assert user["expect_rules"] == [rule]
        server_ids = sorted(t["id"] for t in tokens_of(username))
        assert server_ids == sorted(user["token_ids"]), username

    (expired,) = tokens_of(examples["expired"])
    assert expired["expired"] is True and expired["valid"] is True
    (invalid,) = tokens_of(examples["invalid"])
    assert invalid["valid"] is False and invalid["invalid_reason"] == "leaked"
    assert invalid["invalid_date"] is not None
    (noexpiry,) = tokens_of(examples["no-expiry"])
    assert noexpiry["expires"] is None
    (unrestricted,) = tokens_of(examples["unrestricted-policy"])
    assert unrestricted["policy"] == {}
    (neverused,) = tokens_of(examples["never-used"])
    assert neverused["last_used"] is None
    assert len(tokens_of(examples["too-many-tokens"])) == manifest["thresholds"]["max_tokens"] + 1
    (clean,) = tokens_of(manifest["clean_example"])
    assert clean["policy"] == {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    assert clean["expired"] is False and clean["valid"] is True and clean["deprecated"] is False
    assert manifest_user(rb_site, manifest["clean_example"])["expect_rules"] == []


def test_user_counts_match_manifest(rb_site: Any) -> None:
    manifest = rb_site.manifest
    auth = admin_auth(rb_site)
    everyone = manifest["users"] + manifest["other_users"]

    rsp = request(rb_site, "api/users/?counts-only=1&include-inactive=1", authorization=auth)
    assert rsp.json()["count"] == len(everyone)
    rsp = request(rb_site, "api/users/?counts-only=1", authorization=auth)
    assert rsp.json()["count"] == sum(1 for u in everyone if u["is_active"])
    rsp = request(rb_site, "api/users/?q=page_u&include-inactive=1", authorization=auth)
    body = rsp.json()
    assert body["total_results"] == 30
    assert "next" in body["links"]  # 30 users span more than one default page of 25


def test_login_rate_limit_is_per_x_real_ip(rb_site: Any) -> None:
    # The window is a fixed, minute-aligned one: do not straddle a boundary.
    if time.time() % 60 > 45:
        time.sleep(61 - time.time() % 60)
    ip = f"203.0.113.{random.randrange(1, 255)}"
    carol = manifest_user(rb_site, "carol")
    blocked = "Maximum number of login attempts exceeded."
    messages = []
    for _ in range(6):
        rsp = request(
            rb_site,
            "api/session/",
            authorization=basic("carol", "wrong"),
            headers={"X-Real-IP": ip},
        )
        assert rsp.status == 401
        messages.append(rsp.json()["err"]["msg"])
    assert messages[:5] == ["The username or password was not correct"] * 5
    assert messages[5] == blocked

    # The right password is refused from the locked-out address...
    rsp = request(
        rb_site,
        "api/session/",
        authorization=basic("carol", carol["password"]),
        headers={"X-Real-IP": ip},
    )
    assert rsp.status == 401
    assert rsp.json()["err"]["msg"] == blocked
    # ...but 127.0.0.1 itself (no header) is unaffected.
    rsp = request(rb_site, "api/session/", authorization=basic("carol", carol["password"]))
    assert rsp.status == 200


def test_server_side_invalidation_via_manage(rb_site: Any) -> None:
    out = rb_site.manage(
        "t = WebAPIToken.objects.generate_token(\n"
        "    User.objects.get(username='bob'), note='test_site invalidation probe',\n"
        "    token_generator_id='vendor_checksum', token_info={'token_type': 'rbp'},\n"
        "    auto_generated=True)\n"
        "print(json.dumps({'id': t.pk, 'token': t.token}))\n"
    )
    created = json.loads(out)
    item = f"api/users/bob/api-tokens/{created['id']}/"
    auth = admin_auth(rb_site)
    try:
        assert request(rb_site, item, authorization=auth).json()["api_token"]["valid"] is True
        rb_site.manage(
            f"WebAPIToken.objects.invalidate_token({created['token']!r}, invalid_reason='probe')"
        )
        token = request(rb_site, item, authorization=auth).json()["api_token"]
        assert token["valid"] is False
        assert token["invalid_reason"] == "probe"
        rsp = request(
            rb_site,
            "api/session/",
            authorization=f"token {created['token']}",
            headers={"X-Real-IP": "198.51.100.77"},
        )
        assert rsp.status == 401
        assert rsp.json()["err"]["code"] == 104
    finally:
        assert request(rb_site, item, method="DELETE", authorization=auth).status == 204


def test_any_logged_in_user_reads_every_token_through_expand(rb_site: Any) -> None:
    # The Review Board 8.1 behaviour behind the secrets-exposed rule, and why
    # "require login" is not enough: alice (no administrator) lists another
    # user's tokens through the users list and the user item. Only ids are
    # asked for (only-fields applies to the inlined tokens), so no secret
    # crosses the wire.
    owner = manifest_user(rb_site, "audit_expired")
    as_alice = basic("alice", manifest_user(rb_site, "alice")["password"])
    query = "expand=api_tokens&only-fields=id,username,api_tokens&only-links=api_tokens"
    rsp = request(rb_site, f"api/users/?q=audit_expired&{query}", authorization=as_alice)
    assert rsp.status == 200
    [user] = [u for u in rsp.json()["users"] if u["username"] == "audit_expired"]
    rsp = request(rb_site, f"api/users/audit_expired/?{query}", authorization=as_alice)
    assert rsp.status == 200
    for listed in (user, rsp.json()["user"]):
        assert [t["id"] for t in listed["api_tokens"]] == owner["token_ids"]
        assert all(set(t) == {"id", "links"} for t in listed["api_tokens"])
    # Its own list refuses alice, as it should.
    rsp = request(rb_site, "api/users/audit_expired/api-tokens/", authorization=as_alice)
    assert rsp.status == 403
