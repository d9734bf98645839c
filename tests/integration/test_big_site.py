"""The ``big_site`` fixture: a few thousand users, seeded in bulk, as the manifest says.

These pin down what tests built on ``big_site`` rely on: the population's
shape (3,000+ users, ~4,500 tokens of every kind, inactive owners, users with
more than 200 tokens), that the bulk-created secrets are real Review Board
tokens (offline checksum, and a login with two of them), and that the server
lists exactly the manifest's tokens under exactly the manifest's owners.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from realsite import BIG_USERS, rbsite

pytestmark = pytest.mark.integration

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PAGE = 200
FIELDS = "id,username,is_active,api_tokens,valid,token_generator_id"


def get(site: Any, path: str, *, authorization: str | None = None) -> Any:
    if authorization is None:
        credentials = f"{site.admin_username}:{site.admin_password}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode()
    req = urllib.request.Request(site.url + path, headers={"Authorization": authorization})
    try:
        with NO_PROXY.open(req, timeout=120) as rsp:
            return json.loads(rsp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            raise AssertionError(f"GET {path}: HTTP {exc.code}") from None


def base62(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = BASE62[rest] + digits
    return (digits or "0").zfill(6)


def vendor_checksum_ok(secret: str) -> bool:
    """djblets' VendorChecksumTokenGenerator.validate_token for ``rbp``, offline."""
    entropy, checksum = secret[4:-6], secret[-6:]
    return (
        len(secret) == 255
        and re.fullmatch(r"rbp_[0-9A-Za-z]{251}", secret) is not None
        and checksum == base62(zlib.crc32(entropy.encode()) & 0xFFFFFFFF)
    )


def test_the_population_has_the_promised_shape(big_site: Any) -> None:
    manifest = big_site.manifest
    users, tokens = manifest["users"], manifest["tokens"]
    assert manifest["seed"] == "big"
    assert len(users) >= BIG_USERS and len(tokens) >= 4400
    assert len({t["id"] for t in tokens}) == len(tokens)
    assert len({t["token"] for t in tokens}) == len(tokens)
    assert sum(1 for u in users if not u["is_active"]) >= BIG_USERS // 20
    heavy = sorted(len(u["token_ids"]) for u in users if len(u["token_ids"]) > PAGE)
    assert heavy == [n for _name, n in rbsite.HEAVY_USERS]
    kinds = Counter(t["kind"] for t in tokens)
    assert set(kinds) == set(rbsite.TOKEN_KINDS)
    by_id = {t["id"]: t for t in tokens}
    assert sorted(by_id) == sorted(i for u in users for i in u["token_ids"])
    for user in users:
        assert all(by_id[i]["username"] == user["username"] for i in user["token_ids"])


def test_every_secret_is_what_the_generators_make(big_site: Any) -> None:
    for token in big_site.manifest["tokens"]:
        if token["token_generator_id"] == "vendor_checksum":
            assert vendor_checksum_ok(token["token"]), token["id"]
        else:
            assert token["token_generator_id"] == "legacy_sha1"
            assert re.fullmatch(r"[0-9a-f]{40}", token["token"]), token["id"]


def test_bulk_created_tokens_log_in(big_site: Any) -> None:
    # Logging in writes last_used: done on two tokens of big_site only.
    active = {u["username"] for u in big_site.manifest["users"] if u["is_active"]}
    for generator in ("vendor_checksum", "legacy_sha1"):
        token = next(
            t
            for t in big_site.manifest["tokens"]
            if t["token_generator_id"] == generator
            and t["username"] in active
            and t["kind"] in ("clean", "legacy")
        )
        session = get(big_site, "api/session/", authorization=f"token {token['token']}")
        assert session["session"]["authenticated"] is True
        assert session["session"]["links"]["user"]["title"] == token["username"]


def test_user_and_token_counts_match_the_manifest(big_site: Any) -> None:
    manifest = big_site.manifest
    everyone = manifest["users"] + manifest["other_users"]
    counted = get(big_site, "api/users/?counts-only=1&include-inactive=1")
    assert counted["count"] == len(everyone)
    for name, count in rbsite.HEAVY_USERS:
        assert get(big_site, f"api/users/{name}/api-tokens/?counts-only=1")["count"] == count
        page = get(big_site, f"api/users/{name}/api-tokens/?max-results=500")
        assert page["total_results"] == count and len(page["api_tokens"]) == PAGE


def test_the_bulk_listing_returns_exactly_the_manifest(big_site: Any) -> None:
    manifest = big_site.manifest
    query = (
        f"include-inactive=1&max-results={PAGE}&expand=api_tokens"
        f"&only-links=api_tokens&only-fields={FIELDS}"
    )
    total = get(big_site, "api/users/?counts-only=1&include-inactive=1")["count"]
    starts = range(0, total, PAGE)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pages = list(pool.map(lambda s: get(big_site, f"api/users/?start={s}&{query}"), starts))
    listed = {u["username"]: u for page in pages for u in page["users"]}
    assert len(listed) == total == sum(len(page["users"]) for page in pages)
    for user in manifest["users"]:
        seen = listed[user["username"]]
        assert seen["is_active"] == user["is_active"]
        assert sorted(t["id"] for t in seen["api_tokens"]) == sorted(user["token_ids"])
    for other in manifest["other_users"]:
        assert len(listed[other["username"]]["api_tokens"]) == other["token_count"]
    by_id = {t["id"]: t for t in manifest["tokens"]}
    for seen in listed.values():
        for token in seen["api_tokens"]:
            if token["id"] in by_id:
                spec = by_id[token["id"]]
                assert token["valid"] == spec["valid"]
                assert token["token_generator_id"] == spec["token_generator_id"]
                assert "token" not in token  # only-fields keeps the secret out
