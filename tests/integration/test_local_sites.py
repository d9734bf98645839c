"""The "test" seed's Local Site, ``tenant-a``, as Review Board 8.1 serves it.

Pins the findings (a)-(e) written in tools/rbsite.py's docstring: where a
user's Local Site tokens are listed, that the global root does not list them,
what the global root shows of the members, the bulk listing per Local Site,
and what (little) tells that a Local Site exists when none is named.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from rbtokens import RBClient
from rbtokens.auditing import audit

pytestmark = pytest.mark.integration

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SITE = "tenant-a"
BULK = "expand=api_tokens&only-links=api_tokens&only-fields=id,username,api_tokens,valid"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def call(site: Any, path: str, authorization: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": authorization} if authorization else {}
    req = urllib.request.Request(site.url + path, headers=headers)
    try:
        with NO_PROXY.open(req, timeout=60) as rsp:
            return rsp.status, json.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def as_admin(site: Any, path: str) -> Any:
    status, body = call(site, path, basic(site.admin_username, site.admin_password))
    assert status == 200, (path, body)
    return body


def tenant(site: Any) -> dict[str, Any]:
    (local_site,) = site.manifest["local_sites"]
    assert local_site["name"] == SITE and local_site["api_path"] == f"s/{SITE}/api/"
    return dict(local_site)


def user(site: Any, username: str) -> dict[str, Any]:
    return dict(next(u for u in site.manifest["users"] if u["username"] == username))


def local_ids(site: Any, username: str) -> list[int]:
    return sorted(t["id"] for t in tenant(site)["tokens"] if t["username"] == username)


def test_the_manifest_records_the_local_site(rb_site: Any) -> None:
    local_site = tenant(rb_site)
    assert local_site["users"] == ["tenant_dual", "tenant_idle", "tenant_owner"]
    assert local_site["admins"] == ["tenant_owner"] and local_site["public"] is False
    assert local_site["token_ids"] == [t["id"] for t in local_site["tokens"]]
    assert {t["local_site"] for t in local_site["tokens"]} == {SITE}
    assert {t["local_site"] for t in rb_site.manifest["tokens"]} == {None}
    assert not set(local_site["token_ids"]) & {t["id"] for t in rb_site.manifest["tokens"]}
    for name in local_site["users"]:
        assert user(rb_site, name)["local_sites"] == [SITE]
    assert user(rb_site, "alice")["local_sites"] == []
    # Only-members hold no global token; tenant_dual holds one.
    assert user(rb_site, "tenant_owner")["token_ids"] == []
    assert len(user(rb_site, "tenant_dual")["token_ids"]) == 1


def test_a_local_site_lists_its_tokens_and_the_root_does_not(rb_site: Any) -> None:
    for name in tenant(rb_site)["users"]:
        # (a) the Local Site's list
        listed = as_admin(rb_site, f"s/{SITE}/api/users/{name}/api-tokens/")
        assert sorted(t["id"] for t in listed["api_tokens"]) == local_ids(rb_site, name)
        for token in listed["api_tokens"]:
            assert token["links"]["self"]["href"].startswith(f"{rb_site.url}s/{SITE}/api/")
        # (b) the global list: global tokens only
        listed = as_admin(rb_site, f"api/users/{name}/api-tokens/")
        assert sorted(t["id"] for t in listed["api_tokens"]) == user(rb_site, name)["token_ids"]
    owner_token = local_ids(rb_site, "tenant_owner")[0]
    admin = basic(rb_site.admin_username, rb_site.admin_password)
    status, body = call(rb_site, f"api/users/tenant_owner/api-tokens/{owner_token}/", admin)
    assert (status, body["err"]["code"]) == (404, 100)
    (global_token,) = user(rb_site, "tenant_dual")["token_ids"]
    path = f"s/{SITE}/api/users/tenant_dual/api-tokens/{global_token}/"
    status, body = call(rb_site, path, admin)
    assert (status, body["err"]["code"]) == (404, 100)


def test_the_global_root_lists_members_without_a_mark(rb_site: Any) -> None:
    members = tenant(rb_site)["users"]
    listed = as_admin(rb_site, "api/users/?q=tenant_")["users"]  # (c)
    assert sorted(u["username"] for u in listed) == members
    status, anonymous = call(rb_site, "api/users/?q=tenant_")
    assert status == 200 and sorted(u["username"] for u in anonymous["users"]) == members
    for seen in listed:
        assert seen["url"] == f"/users/{seen['username']}/"
        assert "local" not in json.dumps(seen) and "/s/" not in json.dumps(seen)
    on_site = as_admin(rb_site, f"s/{SITE}/api/users/?include-inactive=1")
    assert sorted(u["username"] for u in on_site["users"]) == members  # members only
    assert on_site["users"][0]["url"].startswith(f"/s/{SITE}/users/")


def test_the_bulk_listing_per_local_site(rb_site: Any) -> None:
    page = as_admin(rb_site, f"s/{SITE}/api/users/?include-inactive=1&max-results=200&{BULK}")
    by_name = {u["username"]: u for u in page["users"]}  # (d)
    assert sorted(by_name) == tenant(rb_site)["users"]
    for name, seen in by_name.items():
        assert sorted(t["id"] for t in seen["api_tokens"]) == local_ids(rb_site, name)
        assert seen["_expanded"]["api_tokens"]["list_url"] == (
            f"{rb_site.url}s/{SITE}/api/users/{name}/api-tokens/"
        )
    root = as_admin(rb_site, f"api/users/?q=tenant_&{BULK}")
    for seen in root["users"]:
        assert [t["id"] for t in seen["api_tokens"]] == user(rb_site, seen["username"])["token_ids"]
    # Private: anonymous and non-members are refused; a member sees everyone's.
    assert call(rb_site, f"s/{SITE}/api/users/?{BULK}")[0] == 401
    alice = basic("alice", user(rb_site, "alice")["password"])
    status, body = call(rb_site, f"s/{SITE}/api/users/?{BULK}", alice)
    assert (status, body["err"]["code"]) == (403, 101)
    idle = basic("tenant_idle", user(rb_site, "tenant_idle")["password"])
    status, body = call(rb_site, f"s/{SITE}/api/users/?{BULK}", idle)
    assert status == 200
    seen_ids = sorted(t["id"] for u in body["users"] for t in u["api_tokens"])
    assert seen_ids == sorted(tenant(rb_site)["token_ids"])


def test_nothing_at_the_root_names_a_local_site(rb_site: Any) -> None:
    for path in ("api/", "api/info/", "api/session/", "api/users/admin/"):  # (e)
        for authorization in (None, basic(rb_site.admin_username, rb_site.admin_password)):
            status, body = call(rb_site, path, authorization)
            assert status == 200, path
            text = json.dumps(body).lower()
            assert "local" not in text and "/s/" not in text and SITE not in text, path


def test_what_does_reveal_a_local_site(rb_site: Any) -> None:
    # A name that exists answers differently from one that does not.
    status, body = call(rb_site, "s/no-such-site/api/")
    assert (status, body["err"]["code"]) == (404, 100)
    status, body = call(rb_site, f"s/{SITE}/api/")
    assert (status, body["err"]["code"]) == (401, 103)
    alice = basic("alice", user(rb_site, "alice")["password"])
    status, body = call(rb_site, "s/no-such-site/api/", alice)
    assert (status, body["err"]["code"]) == (404, 100)
    status, body = call(rb_site, f"s/{SITE}/api/", alice)
    assert (status, body["err"]["code"]) == (403, 101)
    # A Local Site token is refused at the root and works on its site (this
    # writes the token's last_used: a Local Site token no other test reads).
    token = next(t for t in tenant(rb_site)["tokens"] if t["kind"] == "clean")
    authorization = f"token {token['token']}"
    status, body = call(rb_site, "api/session/", authorization)
    assert (status, body["err"]["code"]) == (403, 101)
    status, body = call(rb_site, f"s/{SITE}/api/session/", authorization)
    assert status == 200 and body["session"]["authenticated"] is True
    assert body["session"]["links"]["user"]["title"] == token["username"]


async def test_an_audit_covers_a_local_site_only_when_it_is_named(rb_site: Any) -> None:
    local_tokens = {t["id"] for t in tenant(rb_site)["tokens"]}
    async with RBClient(
        rb_site.url, username=rb_site.admin_username, password=rb_site.admin_password
    ) as client:
        without = await audit(client)
        named = await audit(client, local_sites=[SITE])
    assert not local_tokens & {r.id for r in without.tokens}  # missing when not named
    labelled = {r.id for r in named.tokens if r.local_site == SITE}
    assert labelled == local_tokens  # every one of them, labelled with its site
    assert {r.id for r in named.tokens if r.local_site is None} == {r.id for r in without.tokens}
    assert named.complete and named.summary.tokens_seen == len(without.tokens) + len(local_tokens)
    assert [s.local_site for s in named.summary.sites] == [None, SITE]
    site_findings = [f for f in named.findings if f.local_site == SITE]
    assert site_findings and all(
        f.token_id in local_tokens or f.token_id is None for f in site_findings
    )
    assert not any(f.rule == "secrets-exposed" and f.local_site for f in named.findings)


async def test_an_unknown_local_site_is_a_failure_not_a_silent_gap(rb_site: Any) -> None:
    async with RBClient(
        rb_site.url, username=rb_site.admin_username, password=rb_site.admin_password
    ) as client:
        report = await audit(client, local_sites=["no-such-site"])
    assert not report.complete
    (failure,) = [f for f in report.failures if f.local_site == "no-such-site"]
    assert failure.http_status == 404
