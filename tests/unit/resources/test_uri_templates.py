"""The root's URI templates: values URL-encoded, a missing value a navigation error."""

from __future__ import annotations

import pytest
from payloads import decode

import rbtokens
from rbtokens.models import Root


def test_root_templates_are_url_encoded() -> None:
    root = decode("root.json")
    assert isinstance(root, Root)
    url, rest = root.template_url("api_token", username="a b/c", api_token_id=0, max_results=5)
    assert url == "http://127.0.0.1:8080/api/users/a%20b%2Fc/api-tokens/0/"
    assert rest == {"max_results": 5}


def test_missing_template_value_is_a_navigation_error() -> None:
    root = decode("root.json")
    assert isinstance(root, Root)
    with pytest.raises(rbtokens.NavigationError, match="api_token_id"):
        root.template_url("api_token", username="alice")
    with pytest.raises(rbtokens.NavigationError, match="no URI template"):
        root.template_url("nope")
