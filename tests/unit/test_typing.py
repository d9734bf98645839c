"""mypy proves that a ``ListResource[APIToken]`` yields ``APIToken`` with no casts."""

from __future__ import annotations

from pathlib import Path

from mypy import api

SAMPLE = Path(__file__).parent.parent / "typing" / "reveal_list.py"


def test_iteration_is_typed_by_the_item_struct() -> None:
    stdout, stderr, _status = api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", "--show-traceback", str(SAMPLE)]
    )
    revealed = [
        line.split("Revealed type is ", 1)[1].strip('"').replace("builtins.", "")
        for line in stdout.splitlines()
        if "Revealed type is" in line
    ]
    assert revealed == [
        "rbtokens.resources.ListResource[rbtokens.models.APIToken]",
        "rbtokens.models.APIToken",
        "rbtokens.models.APIToken",
        "rbtokens.models.APIToken",
        "rbtokens.resources.ListResource[rbtokens.models.APIToken] | None",
        "rbtokens.models.APIToken",
        "rbtokens.resources.ListResource[rbtokens.models.APIToken]",
        "list[rbtokens.models.APIToken]",
    ], stdout + stderr
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert errors == [], stdout
