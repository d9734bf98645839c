"""Which server URLs make a password over plain http warn, and the warning never shows it."""

from __future__ import annotations

import warnings

import pytest

from rbtokens import RBClient, RBTokensWarning


@pytest.mark.parametrize(
    "url",
    ["http://rb.example.com/", "http://10.0.0.5/", "http://[2001:db8::1]/", "http://rb/"],
)
def test_password_over_plain_http_warns(url: str) -> None:
    with pytest.warns(RBTokensWarning, match="password over plain http"):
        RBClient(url, username="admin", password="tls-test-pw")


@pytest.mark.parametrize(
    ("url", "kw"),
    [
        ("http://127.0.0.1:8080/", {"username": "a", "password": "tls-test-pw"}),
        ("http://localhost/", {"username": "a", "password": "tls-test-pw"}),
        ("http://[::1]:8080/", {"username": "a", "password": "tls-test-pw"}),
        ("https://rb.example.com/", {"username": "a", "password": "tls-test-pw"}),
        ("http://rb.example.com/", {}),
    ],
)
def test_no_warning_when_nothing_is_exposed(url: str, kw: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RBClient(url, **kw)


def test_warning_never_shows_the_password() -> None:
    with pytest.warns(RBTokensWarning) as record:
        RBClient("http://rb.example.com/", username="admin", password="tls-test-pw", verify=False)
    assert len(record) == 2
    assert all("tls-test-pw" not in str(w.message) for w in record)
