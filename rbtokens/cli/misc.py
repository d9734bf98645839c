"""The ``whoami`` and ``api-get`` verbs."""

from __future__ import annotations

import argparse
from typing import Any

from .._redact import mask_payload
from ..client import RBClient
from .output import Output
from .parser import EXIT_OK

__all__ = ["NotLoggedIn", "cmd_api_get", "cmd_whoami"]


class NotLoggedIn(Exception):
    """whoami: the credentials log in as nobody (exit code 2)."""


async def cmd_whoami(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    session = await client.get_session()
    if not session.authenticated or not session.username:
        raise NotLoggedIn()
    if out.fmt == "table":
        out.text(session.username)
    else:
        out.item({"username": session.username, "server": str(client.base_url)})
    return EXIT_OK


async def cmd_api_get(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    path: str = args.path
    if not path.startswith(("http://", "https://")):
        path = path.removeprefix("/api/")
    # The payload exactly as the server sent it (secrets masked): no Struct
    # fills in defaults for fields it left out.
    payload = await client.get_json(path, **args.query)
    doc: Any = mask_payload(payload) if payload is not None else {"stat": "ok"}
    lists = [k for k, v in doc.items() if isinstance(v, list) and k != "links"]
    if out.fmt in ("table", "csv", "ndjson") and len(lists) == 1:
        key = lists[0]
        items = [i for i in doc[key] if isinstance(i, dict)]
        columns = list(dict.fromkeys(k for i in items for k in i if k != "links"))
        out.rows(items, columns, title=f"{key} ({doc.get('total_results', len(items))} in all)")
        return EXIT_OK
    out.item(doc)
    return EXIT_OK
