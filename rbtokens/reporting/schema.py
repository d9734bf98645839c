"""The audit document's JSON Schema: shipped in the package, derived from the structs.

:func:`schema` reads the shipped file (``audit-document.schema.json``, next
to this module). :func:`build_schema` derives it from :class:`~.document.Document`
with msgspec, then makes it strict: every key of every object is required
and no other key is allowed; ``schema_version`` is pinned. A test keeps the
shipped file equal to :func:`build_schema`; after changing a struct, write
it again with ``python -m rbtokens.reporting.schema --write``.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from typing import Any

import msgspec

from ..auditing import RULES, Severity
from .document import SCHEMA_VERSION, Document

__all__ = ["SCHEMA_FILE", "SCHEMA_ID", "build_schema", "schema", "schema_text"]

SCHEMA_FILE = "audit-document.schema.json"
SCHEMA_ID = f"https://rbtokens.invalid/schemas/audit-document-{SCHEMA_VERSION}.json"

#: Maps whose keys are fixed: rule names and severities.
_KEYED_MAPS = {
    ("Summary", "findings"): list(RULES),
    ("Summary", "severities"): [s.value for s in Severity],
    ("Rules", "severities"): list(RULES),
}


def _strict(node: Any) -> None:
    """Every object: all keys required, nothing else allowed (in place, recursively)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
        node.pop("default", None)
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the audit document, strict."""
    doc: dict[str, Any] = msgspec.json.schema(Document)
    defs = doc["$defs"]
    for name in list(defs):
        _strict(defs[name])
    defs["Document"]["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    for (struct, field), keys in _KEYED_MAPS.items():
        defs[struct]["properties"][field]["propertyNames"] = {"enum": keys}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "rbtokens audit document",
        "description": "What `rbtokens audit -o json` prints and `rbtokens report` reads.",
        **doc,
    }


def schema_text() -> str:
    """The shipped schema file's text."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The shipped JSON Schema of the audit document."""
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


def _dump() -> str:
    return json.dumps(build_schema(), indent=2) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    if sys.argv[1:] == ["--write"]:
        target = resources.files(__package__).joinpath(SCHEMA_FILE)
        with resources.as_file(target) as path:
            path.write_text(_dump(), encoding="utf-8")
    else:
        sys.stdout.write(_dump())
