"""Every test here is marked ``faults``; ``leak_check`` comes from faultkit."""

from __future__ import annotations

from pathlib import Path

import pytest
from faultkit import leak_check

__all__ = ["leak_check"]

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.faults)
