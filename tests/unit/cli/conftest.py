"""Every command test runs isolated from the machine's RBTOKENS_* variables and .reviewboardrc."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RBTOKENS_* variables and no .reviewboardrc from the machine running the tests."""
    for name in ("SERVER", "USERNAME", "PASSWORD", "API_TOKEN"):
        monkeypatch.delenv(f"RBTOKENS_{name}", raising=False)
    monkeypatch.delenv("RBTOOLS_CONFIG_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path
