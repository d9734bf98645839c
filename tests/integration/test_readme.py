"""The README's Python examples run as written against the real Review Board."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rbtokens

pytestmark = pytest.mark.integration

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def python_block(after_heading: str) -> str:
    section = README.split(f"## {after_heading}\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {after_heading!r}"
    return match.group(1)


def test_quickstart(rb_site: Any) -> None:
    code = python_block("Quickstart")
    code = code.replace('"https://reviews.example.com/"', repr(rb_site.url))
    code = code.replace(
        'username="admin", password="..."',
        f"username={rb_site.admin_username!r}, password={rb_site.admin_password!r}",
    )
    assert rb_site.url in code and rb_site.admin_password in code
    exec(compile(code, "README.md#quickstart", "exec"), {"__name__": "readme"})


@pytest.mark.shows_secrets  # the example prints the new token's secret, as a user would
def test_token_management(rb_site: Any) -> None:
    code = python_block("Token management")
    body = textwrap.indent(code, "        ")
    wrapper = f"async def run(client):\n    if True:\n{body}\n    return new, rotation\n"
    namespace: dict[str, Any] = {}
    exec(compile(wrapper, "README.md#token-management", "exec"), namespace)

    async def main() -> None:
        async with rbtokens.RBClient(
            rb_site.url, username=rb_site.admin_username, password=rb_site.admin_password
        ) as client:
            _new, rotation = await namespace["run"](client)
            assert rotation.new_token.note == "CI deploy"
            assert rotation.new_token.extra_data == {"team": "infra"}
            remaining = await client.tokens.list("alice")
            for token in remaining.items:
                await client.tokens.revoke(token)

    asyncio.run(main())
