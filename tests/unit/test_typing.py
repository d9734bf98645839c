"""mypy proves the public API is typed by the item Struct: no casts needed.

One mypy run checks every sample in tests/typing/; each test reads the types
revealed in its own sample. A misspelt link getter is a type error (its own run).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from mypy import api
from mypy import api as mypy_api

SAMPLES = Path(__file__).parent.parent / "typing"


@cache
def mypy_output() -> str:
    samples = sorted(str(p) for p in SAMPLES.glob("reveal_*.py"))
    stdout, stderr, _status = api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", *samples]
    )
    return stdout + stderr


def revealed(sample: str) -> list[str]:
    return [
        line.split("Revealed type is ", 1)[1].strip('"').replace("builtins.", "")
        for line in mypy_output().splitlines()
        if Path(line.split(":", 1)[0]).name == sample and "Revealed type is" in line
    ]


def test_no_type_errors_in_the_samples() -> None:
    errors = [line for line in mypy_output().splitlines() if ": error:" in line]
    assert errors == [], mypy_output()


def test_iteration_is_typed_by_the_item_struct() -> None:
    assert revealed("reveal_list.py") == [
        "rbtokens.resources.lists.ListResource[rbtokens.resources.token.APIToken]",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.lists.ListResource[rbtokens.resources.token.APIToken] | None",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.lists.ListResource[rbtokens.resources.token.APIToken]",
        "list[rbtokens.resources.token.APIToken]",
    ], mypy_output()


def test_token_verbs_are_typed() -> None:
    assert revealed("reveal_tokens.py") == [
        "list[rbtokens.resources.token.APIToken]",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.token.APIToken",
        "list[rbtokens.resources.token.APIToken]",
        "rbtokens.resources.token.APIToken | None",
        "rbtokens.resources.token.APIToken",
        "rbtokens.resources.token.APIToken | None",
    ], mypy_output()


def test_expanded_children_are_typed_on_request() -> None:
    assert revealed("reveal_expanded.py") == [
        "list[rbtokens.resources.token.APIToken]",
        "rbtokens.resources.site.User | None",
        "rbtokens.resources.site.User",
    ], mypy_output()


TYPO_SAMPLE = """
from rbtokens import RBClient
from rbtokens._redact import excerpt

async def main(client: RBClient) -> None:
    root = await client.get_root()
    await root.get_sesion()
    session = await root.get_session(expand="user")
    reveal_type(session)
    info = await root.get_info(only_fields="site")
    reveal_type(info)
"""


def test_a_getter_typo_is_a_type_error(tmp_path: Path) -> None:
    sample = tmp_path / "typo.py"
    sample.write_text(TYPO_SAMPLE)
    stdout, _stderr, _status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(sample)]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and '"get_sesion"' in errors[0], stdout
    assert "rbtokens.resources.site.Session" in stdout
    assert "rbtokens.resources.site.ServerInfo" in stdout
