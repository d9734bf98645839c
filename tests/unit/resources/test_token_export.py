"""APIToken export: to_dict / to_json / to_yaml / from_dict, masked by default."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from payloads import body

from rbtokens import APIToken

SECRET_FIELDS = {"token"}


def real_token() -> APIToken:
    return msgspec.convert(body("api-token.json")["api_token"], APIToken)


def test_to_dict_carries_every_field_masked() -> None:
    token = real_token()
    data = token.to_dict()
    assert data["token"] == "rbp_****"
    assert data["username"] == "audit_00003" and data["usable"] is True
    raw = body("api-token.json")["api_token"]
    assert set(raw) - {"token"} <= set(data)
    assert data["last_updated"].startswith("2026-11-23T04:01:41.522889")
    json.dumps(data)  # JSON-ready builtins


def test_round_trips_with_the_secret() -> None:
    token = real_token()
    for text_back in (
        APIToken.from_dict(token.to_dict(include_secret=True)),
        APIToken.from_json(token.to_json(include_secret=True)),
        APIToken.from_yaml(token.to_yaml(include_secret=True)),
    ):
        assert text_back == token
        assert text_back.token == token.token
        assert text_back.username == "audit_00003"


def test_masked_export_round_trips_masked() -> None:
    data = real_token().to_dict()
    again = APIToken.from_dict(data)
    assert again.to_dict() == data
    assert again.token == "rbp_****"


def test_json_and_yaml_are_masked_by_default() -> None:
    token = real_token()
    for text in (token.to_json(), token.to_yaml()):
        assert token.token not in text and "rbp_****" in text
    assert yaml.safe_load(token.to_yaml())["note"] == token.note


def test_owner_without_links_survives() -> None:
    data = real_token().to_dict()
    del data["links"]
    data["username"] = "someone"
    token = APIToken.from_dict(data)
    assert token.username == "someone" and token.links == {}


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an API token"):
        APIToken.from_dict({"note": "no id"})


def test_yaml_without_pyyaml_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def no_yaml(name: str, *args: Any) -> Any:
        if name == "yaml":
            raise ModuleNotFoundError("No module named 'yaml'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_yaml)
    with pytest.raises(ImportError, match=r"rbtokens\[cli\]"):
        real_token().to_yaml()


_times = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    token_id=st.integers(1, 2**31),
    note=st.text(max_size=30),
    expires=_times,
    last_used=_times,
    valid=st.booleans(),
    extra=st.dictionaries(st.text(min_size=1, max_size=6), _json_values, max_size=4),
)
def test_round_trip_property(
    token_id: int,
    note: str,
    expires: datetime | None,
    last_used: datetime | None,
    valid: bool,
    extra: dict[str, Any],
) -> None:
    token = APIToken(
        id=token_id,
        token="rbp_" + "a" * 251,
        note=note,
        expires=expires,
        last_used=last_used,
        valid=valid,
        extra_data=extra,
        policy={"resources": {"*": {"allow": ["GET"]}}},
    )
    assert APIToken.from_dict(token.to_dict(include_secret=True)) == token
    assert APIToken.from_json(token.to_json(include_secret=True)) == token
    masked = token.to_dict()
    assert APIToken.from_dict(masked).to_dict() == masked
