"""``RBClient(...)``: the server URL is checked, and weakened security warns."""

from __future__ import annotations

import pytest

import rbtokens
from rbtokens import RBClient


def test_bad_server_url() -> None:
    with pytest.raises(ValueError, match="absolute"):
        RBClient("reviews.example.com")


def test_password_over_plain_http_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="plain http"):
        RBClient("http://reviews.example.com/", username="a", password="b")


def test_verify_false_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="TLS"):
        RBClient("https://reviews.example.com/", verify=False)


def test_api_token_over_plain_http_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="API token over plain http"):
        RBClient("http://reviews.example.com/", api_token="rbp_x")


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="must not contain credentials") as info:
        RBClient("http://admin:hunter2@127.0.0.1:8080/", api_token="rbp_x")
    assert "hunter2" not in str(info.value)
