"""mypy proves the token verbs and the Pager are typed by ``APIToken``."""

from __future__ import annotations

from pathlib import Path

from mypy import api

SAMPLE = Path(__file__).parent.parent / "typing" / "reveal_tokens.py"


def test_token_verbs_are_typed() -> None:
    stdout, stderr, _status = api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(SAMPLE)]
    )
    revealed = [
        line.split("Revealed type is ", 1)[1].strip('"').replace("builtins.", "")
        for line in stdout.splitlines()
        if "Revealed type is" in line
    ]
    assert revealed == [
        "list[rbtokens.models.APIToken]",
        "rbtokens.models.APIToken",
        "rbtokens.models.APIToken",
        "list[rbtokens.models.APIToken]",
        "rbtokens.models.APIToken | None",
        "rbtokens.models.APIToken",
        "rbtokens.models.APIToken | None",
    ], stdout + stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout
