"""``audit_stream``: findings as they are found; leaving early stops the walk; errors surface."""

from __future__ import annotations

import anyio
import msgspec
import pytest
from auditkit import NOW, Probe, client_for

from rbtokens import LoginFailedError
from rbtokens.auditing import audit_stream
from tools.standin.testing import FakeReviewBoard


async def test_the_stream_yields_each_finding_as_found() -> None:
    fake = FakeReviewBoard(users=30, tokens_per_user=2)
    progress: list[tuple[int, int | None]] = []
    async with client_for(fake.transport) as client:
        stream = audit_stream(client, now=NOW, progress=lambda d, t: progress.append((d, t)))
        async with stream:
            seen = [f async for f in stream]
        report = stream.report
    assert report is not None
    assert seen and sorted(map(msgspec.json.encode, seen)) == sorted(
        map(msgspec.json.encode, report.findings)
    )
    assert progress[-1] == (30, 30)


async def test_leaving_the_stream_early_stops_the_walk() -> None:
    probe = Probe(FakeReviewBoard(users=300, tokens_per_user=1))
    async with client_for(probe.transport) as client:
        stream = audit_stream(client, now=NOW, concurrency=4, buffer=1)
        async with stream:
            async for _finding in stream:
                break
        assert stream.report is None
        sent = len(probe.requests)
        await anyio.sleep(0.05)
        assert len(probe.requests) == sent < 300


async def test_stream_errors_surface() -> None:
    fake = FakeReviewBoard(users=3)
    async with client_for(fake.transport, password="wrong") as client:
        with pytest.raises(LoginFailedError):
            async with audit_stream(client) as stream:
                async for _f in stream:
                    pass


def test_a_stream_must_be_entered_first() -> None:
    fake = FakeReviewBoard(users=1)
    stream = audit_stream(client_for(fake.transport))
    with pytest.raises(RuntimeError, match="async with"):
        aiter(stream)
