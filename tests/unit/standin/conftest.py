"""Fixtures for the stand-in's own tests: a served stand-in and an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from standinkit import USERS

from tools.standin import StandIn, serve


@pytest.fixture(scope="module")
async def rb() -> AsyncIterator[StandIn]:
    async with serve(users=USERS, seed=3) as standin:
        yield standin


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session
