"""Request bodies and field values as Review Board 8.1 reads them.

Bodies are form-urlencoded or multipart (a JSON body is not read: its fields
are missing). Policies are checked with djblets' ``validate_policy`` rules and
messages, against the 68 policy IDs of 8.1's resource tree (kept here, apart
from rbtokens' own copy, so that the two can check each other).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["POLICY_IDS", "parse_expires", "parse_form", "policy_error", "truthy"]

POLICY_IDS = frozenset(
    [
        "api_token",
        "archived_review_request",
        "change",
        "commit",
        "commit_validation",
        "default_reviewer",
        "diff",
        "diff_comment",
        "diff_context",
        "diff_file_attachment",
        "diff_validation",
        "draft_commit",
        "draft_diff",
        "draft_file_attachment",
        "draft_file_diff",
        "draft_original_file",
        "draft_patched_file",
        "draft_screenshot",
        "extension",
        "file_attachment",
        "file_attachment_comment",
        "file_diff",
        "general_comment",
        "group",
        "hosting_service",
        "hosting_service_account",
        "muted_review_request",
        "oauth_app",
        "oauth_token",
        "original_file",
        "patched_file",
        "remote_repository",
        "repository",
        "repository_branches",
        "repository_commits",
        "repository_group",
        "repository_info",
        "repository_user",
        "review",
        "review_diff_comment",
        "review_draft",
        "review_file_attachment_comment",
        "review_general_comment",
        "review_group_user",
        "review_reply",
        "review_reply_diff_comment",
        "review_reply_draft",
        "review_reply_file_attachment_comment",
        "review_reply_general_comment",
        "review_reply_screenshot_comment",
        "review_request",
        "review_request_draft",
        "review_request_last_update",
        "review_screenshot_comment",
        "root",
        "screenshot",
        "screenshot_comment",
        "search",
        "server_info",
        "session",
        "status_update",
        "user",
        "user_file_attachment",
        "validation",
        "watched",
        "watched_review_group",
        "watched_review_request",
        "webhook",
    ]
)


def parse_form(content_type: str, body: bytes | None) -> dict[str, str]:
    """The fields of a form body (the first value of each name)."""
    if not body:
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        out: dict[str, str] = {}
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            out.setdefault(name, value)
        return out
    if kind == "multipart/form-data":
        return _multipart(content_type, body)
    return {}


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, str] = {}
    if not message.is_multipart():
        return out
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in out:
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        out[name] = raw.decode(part.get_content_charset() or "utf-8", "replace")
    return out


def truthy(value: str | None) -> bool:
    """djblets' boolean field: true for ``1`` or ``true`` (any case)."""
    return value is not None and value.lower() in ("1", "true")


def parse_expires(raw: str) -> datetime:
    """An ISO 8601 date/time; a naive one is taken in the server's zone (UTC here)."""
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def policy_error(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """``(policy, None)`` for a valid JSON policy, else ``(None, message)``."""
    try:
        policy = json.loads(raw)
    except ValueError as exc:
        return None, f"The policy is not valid JSON: {exc}"
    message = _validate(policy)
    return (policy, None) if message is None else (None, message)


def _validate(policy: Any) -> str | None:
    # djblets.webapi.models.BaseWebAPIToken.validate_policy
    if not isinstance(policy, dict):
        return "The policy must be a JSON object."
    if not policy:
        return None
    if "resources" not in policy:
        return 'The policy is missing a "resources" section.'
    resources = policy["resources"]
    if not isinstance(resources, dict):
        return 'The policy\'s "resources" section must be a JSON object.'
    if not resources:
        return 'The policy\'s "resources" section must not be empty.'
    if "*" in resources:
        message = _section(resources, "*", "resources.*")
        if message is not None:
            return message
    for policy_id, section in resources.items():
        if policy_id == "*":
            continue
        if policy_id not in POLICY_IDS:
            return f'"{policy_id}" is not a valid resource policy ID.'
        if not isinstance(section, dict):
            return f'The "resources.{policy_id}" section must be a JSON object.'
        for name in section:
            message = _section(section, name, f"resources.{policy_id}.{name}")
            if message is not None:
                return message
    return None


def _section(parent: dict[str, Any], name: str, full_name: str) -> str | None:
    section = parent[name]
    if not isinstance(section, dict):
        return f'The "{full_name}" section must be a JSON object.'
    if "allow" not in section and "block" not in section:
        return f'The "{full_name}" section must have "allow" and/or "block" rules.'
    for rule in ("allow", "block"):
        if rule in section and not isinstance(section[rule], list):
            return f'The "{full_name}" section\'s "{rule}" rule must be a list.'
    return None
