"""``rbtokens whoami`` and ``rbtokens api-get``.

The ``rbtokens`` command against an in-memory Review Board (``FakeTokenServer``).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from clikit import run, secrets_of, seeded

from rbtokens.transport import Response
from tools.standin.testing import BASE


def test_whoami_and_api_get() -> None:
    fake = seeded()
    code, out, _ = run(fake, "whoami")
    assert (code, out.strip()) == (0, "admin")
    code, out, _ = run(fake, "whoami", "-o", "json")
    assert json.loads(out)["username"] == "admin"

    code, out, _ = run(fake, "api-get", "users/", "--max-results=2", "--include-inactive=1")
    doc = json.loads(out)
    assert code == 0 and [u["username"] for u in doc["users"]] == ["admin", "alice"]
    assert doc["total_results"] == 5
    assert "start=2" in doc["links"]["next"]["href"]
    code, out, _ = run(fake, "api-get", "/api/users/bob/api-tokens/")
    doc = json.loads(out)
    assert [t["token"] for t in doc["api_tokens"]] == ["rbp_****"]
    code, out, _ = run(fake, "api-get", f"{BASE}/api/users/", "-o", "csv")
    assert "username" in next(csv.reader(io.StringIO(out)))
    for secret in secrets_of(fake):
        assert secret not in out
    with pytest.raises(SystemExit) as exc:
        run(fake, "api-get", "users/", "stray")
    assert exc.value.code == 2


def test_api_get_prints_only_what_the_server_sent() -> None:
    """With ``--only-fields``, no Struct default (``policy: {}``) may appear as data."""
    fake = seeded()
    alice = next(t for t, o in fake.owner.items() if o == "alice")
    sent = {"stat": "ok", "api_token": {"id": alice, "note": "alice ci"}}
    mime = "application/vnd.reviewboard.org.api-token+json"
    fake.inject(
        "GET",
        f"/api-tokens/{alice}/",
        lambda r: Response(200, {"content-type": mime}, json.dumps(sent).encode()),
    )
    code, out, _ = run(
        fake, "api-get", f"users/alice/api-tokens/{alice}/", "--only-fields=id,note", "-o", "json"
    )
    assert code == 0
    assert json.loads(out) == sent
