"""Fixtures for the token verb tests: a fresh fake token server, and seven tokens of bob's."""

from __future__ import annotations

import pytest

from tools.standin.testing import FakeTokenServer


@pytest.fixture
def fake() -> FakeTokenServer:
    return FakeTokenServer()


@pytest.fixture
def seven(fake: FakeTokenServer) -> list[int]:
    return [fake.add_token("bob", note=f"bob {n}")["id"] for n in range(7)]
