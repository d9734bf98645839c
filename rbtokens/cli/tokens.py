"""The token verbs: list, get, create, update, rotate, invalidate and revoke."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from ..client import RBClient
from ..errors import RotationError, TokensError
from ..policy import READ_ONLY
from ..resources import APIToken
from ..tokens import UNSET
from .args import UsageError, expiry_arg, extra_arg, policy_arg
from .output import TOKEN_COLUMNS, Output, cell, token_row
from .parser import EXIT_INCOMPLETE, EXIT_OK

__all__ = [
    "cmd_create",
    "cmd_get",
    "cmd_invalidate",
    "cmd_list",
    "cmd_revoke",
    "cmd_rotate",
    "cmd_update",
]

DEFAULT_EXPIRES_DAYS = 90.0


async def cmd_list(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    per_page = args.per_page if args.page else 200
    pager = await client.tokens.list(
        args.owner,
        all_users=args.all_users,
        walk=args.walk,
        page=args.page or 1,
        per_page=per_page,
        search=args.search,
        valid=args.valid,
        expired=args.expired,
    )
    tokens = pager.items if args.page else await pager.all()
    title = None
    if args.page:
        title = f"page {pager.page} of {pager.total_pages} ({pager.total_items} tokens)"
    out.rows(
        [token_row(t) for t in tokens],
        TOKEN_COLUMNS,
        title=title,
        full=[t.to_dict() for t in tokens],
    )
    return EXIT_OK


async def cmd_get(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    token = await client.tokens.get(args.token_id, username=args.owner)
    _print_token(out, token, title=f"Token {token.id}")
    return EXIT_OK


def _print_token(out: Output, token: APIToken, *, title: str, secret: bool = False) -> None:
    if out.fmt == "table":
        out.pairs(token_row(token), title=title)
        if secret:
            # On a line of its own, never folded inside a table cell: easy to copy.
            out.text(f"token: {token.token}")
    else:
        out.item(token.to_dict(include_secret=secret))


async def cmd_create(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    policy = policy_arg(args, default=READ_ONLY)
    mode, when = expiry_arg(args)
    expires_in = timedelta(days=DEFAULT_EXPIRES_DAYS) if mode == "unset" else None
    token = await client.tokens.create(
        args.owner,
        note=args.note,
        policy=policy,
        expires=when,
        expires_in=expires_in,
        extra_data=extra_arg(args.extra) or None,
    )
    _print_token(out, token, title=f"Created token {token.id}", secret=True)
    if not args.quiet:
        out.note("rbtokens: store the secret now: it is shown only this once")
    return EXIT_OK


async def cmd_update(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    fields: dict[str, Any] = {}
    if args.note is not None:
        fields["note"] = args.note
    policy = policy_arg(args, default=UNSET)
    if policy is not UNSET:
        fields["policy"] = policy
    mode, when = expiry_arg(args)
    if mode == "set":
        fields["expires"] = when
    if args.extra:
        fields["extra_data"] = extra_arg(args.extra)
    if not fields:
        raise UsageError("nothing to update: give --note, a policy, an expiry or --extra")
    token = await client.tokens.update(args.token_id, username=args.owner, **fields)
    _print_token(out, token, title=f"Updated token {token.id}")
    return EXIT_OK


async def cmd_rotate(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    mode, when = expiry_arg(args)
    try:
        rotation = await client.tokens.rotate(
            args.token_id,
            username=args.owner,
            grace=timedelta(hours=args.grace),
            expires=when if mode == "set" else UNSET,
        )
    except RotationError as exc:
        # A part-way failure: every secret that was created is shown, then the error.
        created = [exc.new_token] if exc.new_token is not None else []
        created += [t for t in exc.candidates if t not in created]
        for token in created:
            _print_token(out, token, title=f"Created token {token.id}", secret=True)
        raise
    new, old = rotation.new_token, rotation.old_token
    if out.fmt == "table":
        out.pairs(token_row(new), title=f"New token {new.id} (replaces {args.token_id})")
        out.text(f"token: {new.token}")
        if rotation.old_deleted:
            out.text(f"old token {args.token_id}: deleted")
        else:
            out.text(
                f"old token {args.token_id}: new logins stop at "
                f"{cell(rotation.old_expires, table=True)}; revoke it to end its sessions"
            )
    else:
        out.item(
            {
                "new_token": new.to_dict(include_secret=True),
                "old_token": old.to_dict() if old is not None else None,
                "old_expires": rotation.old_expires,
                "old_deleted": rotation.old_deleted,
            }
        )
    if not args.quiet:
        out.note("rbtokens: store the new secret now: it is shown only this once")
    return EXIT_OK


async def cmd_invalidate(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    token = await client.tokens.invalidate(
        args.token_id,
        reason=args.reason,
        username=args.owner,
        delete_if_not_persisted=args.delete_if_not_persisted,
    )
    if token is None:
        out.item({"id": args.token_id, "result": "deleted (the server did not persist it)"})
    else:
        _print_token(out, token, title=f"Invalidated token {token.id}")
    return EXIT_OK


async def cmd_revoke(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    rows: list[dict[str, Any]] = []
    status = EXIT_OK
    for token_id in dict.fromkeys(args.token_ids):
        try:
            await client.tokens.revoke(token_id, username=args.owner)
        except TokensError as exc:
            rows.append({"id": token_id, "result": "failed", "error": str(exc)})
            status = EXIT_INCOMPLETE
        else:
            rows.append({"id": token_id, "result": "revoked", "error": None})
    out.rows(rows, ("id", "result", "error"))
    return status
