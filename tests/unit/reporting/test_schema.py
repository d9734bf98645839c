"""The audit document's JSON Schema ships with the package, is strict, and matches the structs."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import msgspec
import pytest
from reportdocs import full_document
from reportkit import report

from rbtokens.reporting import SCHEMA_VERSION, DocumentError, build_document, decode_document
from rbtokens.reporting.schema import build_schema, schema, schema_text


def as_json(doc: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(msgspec.json.encode(doc))
    return loaded


def test_the_shipped_schema_is_the_one_the_structs_give() -> None:
    """After changing a struct: python -m rbtokens.reporting.schema --write."""
    assert schema() == build_schema()
    assert schema_text().endswith("}\n")


def test_every_object_requires_every_key_and_allows_no_other() -> None:
    for name, node in schema()["$defs"].items():
        if "properties" in node:
            assert node["required"] == list(node["properties"]), name
            assert node["additionalProperties"] is False, name


def test_documents_with_every_section_are_valid() -> None:
    validator = jsonschema.Draft202012Validator(schema())
    validator.validate(as_json(full_document()))
    validator.validate(as_json(build_document(report())))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.pop("baseline"), "'baseline' is a required property"),
        (lambda d: d.update(extra=1), "Additional properties"),
        (lambda d: d["findings"][0].update(colour="red"), "Additional properties"),
        (lambda d: d["findings"][0].pop("waiver"), "'waiver' is a required property"),
        (lambda d: d["summary"].update(users_listed="many"), "is not of type 'integer'"),
        (lambda d: d["findings"][0].update(severity="dire"), "is not one of"),
        (lambda d: d["findings"][0].update(baseline="maybe"), "is not valid under any"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "was expected"),
        (lambda d: d["summary"]["findings"].update(bogus=1), "is not one of"),
    ],
)
def test_a_wrong_document_fails_the_schema(change: Any, where: str) -> None:
    doc = as_json(full_document())
    change(doc)
    with pytest.raises(jsonschema.ValidationError, match=where):
        jsonschema.validate(doc, schema())


def test_decoding_checks_the_document_too() -> None:
    raw = msgspec.json.encode(full_document())
    assert decode_document(raw) == full_document()
    doc = json.loads(raw)
    doc["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(DocumentError, match="newer than this rbtokens reads"):
        decode_document(json.dumps(doc).encode())
    doc = json.loads(raw)
    del doc["schema_version"]
    with pytest.raises(DocumentError, match="no schema_version"):
        decode_document(json.dumps(doc).encode())
    with pytest.raises(DocumentError, match="not an audit document"):
        decode_document(b"[1, 2]")
