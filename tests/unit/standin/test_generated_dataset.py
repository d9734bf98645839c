"""The generated dataset."""

from __future__ import annotations

from tools.standin import (
    Dataset,
)


def test_dataset_is_deterministic() -> None:
    a = Dataset.generate(40, seed=9)
    b = Dataset.generate(40, seed=9)
    assert [(t.id, t.owner, t.kind, t.token) for t in a.tokens.values()] == [
        (t.id, t.owner, t.kind, t.token) for t in b.tokens.values()
    ]
    assert all(0 <= len(u.tokens) <= 3 for u in a.users.values())
    c = Dataset.generate(40, seed=10)
    assert [t.token for t in a.tokens.values()] != [t.token for t in c.tokens.values()]
