"""Load (and decode) the real Review Board 8.1 payloads captured in tests/fixtures/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rbtokens.wire import decode_response

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> tuple[int, str, bytes]:
    """``(status, content_type, body bytes)`` of a captured payload."""
    data = json.loads((FIXTURES / name).read_text())
    body = data["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return data["status"], data["content_type"], raw


def body(name: str) -> Any:
    """The decoded JSON body of a captured payload."""
    return json.loads((FIXTURES / name).read_text())["body"]


def decode(name: str) -> object:
    """A captured payload, decoded by rbtokens' wire layer."""
    status, ctype, raw = load(name)
    return decode_response(status, {"content-type": ctype}, raw)
