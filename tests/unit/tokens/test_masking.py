"""Token secrets are masked in reprs, logs and exports; only the attribute holds them.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from tokenkit import client_for

from rbtokens import RotationError
from tools.standin.testing import FakeTokenServer


async def test_secrets_are_masked_everywhere_but_the_attribute(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(fake) as client:
        token = await client.tokens.create("alice", note="secret holder")
        rotation = await client.tokens.rotate(token, grace=timedelta(hours=1))
        logging.getLogger("test").info("created %s and %r, rotated %s", token, token, rotation)
    secrets_ = [token.token, rotation.new_token.token]
    for secret in secrets_:
        assert secret.startswith("rbp_")
        for text in (repr(token), str(token), repr(rotation), str(rotation), caplog.text):
            assert secret not in text
        assert secret not in token.to_json() and secret not in rotation.new_token.to_json()
    assert "rbp_****" in repr(token)
    err = RotationError(f"failed with {token.token}", new_token=token)
    assert token.token not in str(err) and err.new_token.token == token.token
