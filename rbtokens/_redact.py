"""The one place that masks secrets: token values, passwords, cookies.

Everything rbtokens shows (reprs, exception messages, log records, response
excerpts, command output) passes through these helpers, so a change to what
counts as a secret is made here once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EXCERPT_CHARS",
    "excerpt",
    "mask_headers",
    "mask_payload",
    "mask_secret",
    "masked_for_rich",
    "redact",
]

# rbp_ tokens (255 chars), legacy 40-hex tokens, and Basic credentials.
_SECRET_RE = re.compile(r"rbp_[A-Za-z0-9]{8,}|\b[0-9a-f]{40}\b|(?i:(?<=basic )[A-Za-z0-9+/=]{8,})")
# What may be left of a secret where a body was cut: a run of token characters
# after ``rbp_`` (or a prefix of ``rbp_``), or of hex digits.
_PARTIAL_TAIL_RE = re.compile(r"(?:rbp_[A-Za-z0-9]*|\brbp?_?|\b[0-9a-f]+)$")
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
_TOKEN_MASK = "rbp_****"  # noqa: S105 - the mask, not a secret
EXCERPT_CHARS = 200


def redact(text: str) -> str:
    """Mask anything in ``text`` that looks like a token or a credential."""
    return _SECRET_RE.sub("***", text)


def excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    """A short, redacted, single-line preview of a response body.

    The slice is redacted *before* it is shortened, so a secret that straddles
    the cut is masked whole; a run of token characters left at a cut is masked
    too.
    """
    raw = body[: limit * 4]
    text = raw.decode("utf-8", "replace")
    if len(raw) < len(body):
        text = _PARTIAL_TAIL_RE.sub("***", text)
    text = redact(" ".join(text.split()))
    if len(text) > limit:
        text = _PARTIAL_TAIL_RE.sub("***", text[:limit]) + "…"
    return text


def mask_secret(secret: str) -> str:
    """A token secret reduced to a non-secret hint (``rbp_****``)."""
    if not secret:
        return ""
    if secret.startswith("rbp_"):
        return _TOKEN_MASK
    return "****"


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with credentials and cookies replaced by ``***``."""
    return {k: "***" if k.lower() in _SECRET_HEADERS else v for k, v in headers.items()}


def mask_payload(value: Any) -> Any:
    """A JSON payload with every ``token`` field masked and secret-like text redacted."""
    if isinstance(value, dict):
        return {
            k: mask_secret(v) if k == "token" and isinstance(v, str) else mask_payload(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, str):
        return redact(value) if "rbp_" in value else value
    return value


class _MaskedRepr:
    """Shows rich an object's redacted ``repr()``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def masked_for_rich(value: Any) -> Any:
    """``value`` for rich: every string in it (keys too) passed through :func:`redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {masked_for_rich(k): masked_for_rich(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_for_rich(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _MaskedRepr(redact(repr(value)))  # a Link, a tuple, anything else
