"""Which requests a FaultPlan faults: deterministic, bounded, sticky."""

from __future__ import annotations

from typing import Any

import pytest

from tools.standin import (
    Fault,
    FaultKind,
    FaultPlan,
    FaultRequest,
    unit_hash,
)


def _req(path: str = "/api/users/u1/api-tokens/", **kw: Any) -> FaultRequest:
    base: dict[str, Any] = {
        "method": "GET",
        "path": path,
        "query_string": "",
        "username": "u1" if path.startswith("/api/users/u1/") else None,
        "attempt": 1,
        "consecutive_faults": 0,
        "index": 1,
        "has_authorization": False,
    }
    base.update(kw)
    return FaultRequest(**base)


def test_fault_plan_is_deterministic_and_bounded() -> None:
    plan = FaultPlan(unavailable=0.5, seed=4)
    paths = [f"/api/users/u{i}/api-tokens/" for i in range(400)]
    first = [plan(_req(p, username=None)) for p in paths]
    assert first == [plan(_req(p, username=None)) for p in paths]
    rate = sum(f is not None for f in first) / len(first)
    assert 0.4 < rate < 0.6
    assert all(f is None or f.kind is FaultKind.UNAVAILABLE for f in first)
    capped = FaultPlan(reset=1.0, max_consecutive=2)
    assert capped(_req(consecutive_faults=1)) is not None
    assert capped(_req(consecutive_faults=2)) is None
    assert FaultPlan(reset=1.0, spare_logins=True)(_req(has_authorization=True)) is None
    assert FaultPlan(reset=1.0, paths="^/api/$")(_req()) is None
    assert FaultPlan(reset=1.0, methods=frozenset({"POST"}))(_req()) is None
    with pytest.raises(ValueError):
        FaultPlan(reset=0.7, truncate=0.7)
    assert 0 <= unit_hash(1, "x") < 1


def test_sticky_faults_never_clear() -> None:
    plan = FaultPlan(sticky={"u1": FaultKind.RATE_LIMIT}, retry_after=7, max_consecutive=1)
    fault = plan(_req(attempt=50, consecutive_faults=49))
    assert fault == Fault(FaultKind.RATE_LIMIT, retry_after=7, stall_seconds=30.0)
    assert plan(_req("/api/users/u2/api-tokens/", username="u2")) is None
    assert FaultPlan.from_json('{"sticky": {"u1": "503"}, "reset": 0.1}').sticky == {
        "u1": FaultKind.UNAVAILABLE
    }
