"""Payloads with expanded children (``expand=``), built from the captured user and token items.

Used by ``tests/unit/wire/test_expanded_*.py`` and ``tests/unit/resources/test_expanded_*.py``.
"""

from __future__ import annotations

import json
from typing import Any

from rbtokens.wire import decode_response
from tools.standin.testing import BASE, MIME, token_payload, user_payload

TOKEN_MIME = MIME.format("api-token")
TOKENS_MIME = MIME.format("api-tokens")


def tokens_info(username: str) -> dict[str, Any]:
    return {
        "item_mimetype": TOKEN_MIME,
        "list_mimetype": TOKENS_MIME,
        "list_url": f"{BASE}/api/users/{username}/api-tokens/",
    }


def expanded_user(username: str = "alice", uid: int = 14, tokens: int = 2) -> dict[str, Any]:
    """A user as ``GET /api/users/?expand=api_tokens`` sends it."""
    user: dict[str, Any] = user_payload(username, uid)
    del user["links"]["api_tokens"]  # the server drops the expanded link
    user["_expanded"] = {"api_tokens": tokens_info(username)}
    user["api_tokens"] = [token_payload(username, uid * 100 + k) for k in range(tokens)]
    return user


def users_page(*users: dict[str, Any]) -> bytes:
    page = {"stat": "ok", "total_results": len(users), "links": {}, "users": list(users)}
    return json.dumps(page).encode()


def decode(name: str, payload: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_response(200, {"content-type": MIME.format(name)}, raw)
