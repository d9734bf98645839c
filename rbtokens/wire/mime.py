"""Review Board's mime types: ``application/vnd.reviewboard.org.<name>+json``."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MIME_PREFIX", "header", "is_json_content_type", "mime", "mime_name"]

MIME_PREFIX = "application/vnd.reviewboard.org."
_MIME_NAMES: dict[str, str | None] = {}


def mime(name: str) -> str:
    """``<name>`` → ``application/vnd.reviewboard.org.<name>+json``."""
    return f"{MIME_PREFIX}{name}+json"


def mime_name(content_type: str | None) -> str | None:
    """``application/vnd.reviewboard.org.<name>+json`` → ``<name>``, else None."""
    if not content_type:
        return None
    try:  # a server sends a handful of distinct types: parse each once
        return _MIME_NAMES[content_type]
    except KeyError:
        pass
    name = None
    base = content_type.split(";", 1)[0].strip().lower()
    if base.startswith(MIME_PREFIX) and base.endswith("+json"):
        name = base[len(MIME_PREFIX) : -len("+json")]
    if len(_MIME_NAMES) < 256:
        _MIME_NAMES[content_type] = name
    return name


def is_json_content_type(content_type: str | None) -> bool:
    """Whether ``content_type`` is JSON (``application/json`` or any ``+json``)."""
    if not content_type:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by lowercase name (or its title-case spelling)."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value
