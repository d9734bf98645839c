"""Credentials and settings (options, environment, ``.reviewboardrc``) → an :class:`RBClient`."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from ..client import RBClient
from ..config import Settings, resolve
from ..transport import Timeouts
from .args import UsageError
from .output import Output

if TYPE_CHECKING:
    from ..transport import Transport

__all__ = ["make_client"]

DEFAULT_TIMEOUT = 60.0

# Verbs that manage tokens, and so need a password login.
_PASSWORD_VERBS = frozenset(
    {"audit", "list", "get", "create", "update", "rotate", "invalidate", "revoke"}
)


def _prompt_ok() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _credentials(settings: Settings, verb: str) -> tuple[str | None, str | None, str | None]:
    """``(username, password, api_token)`` for the client; prompts when allowed."""
    need_password = verb in _PASSWORD_VERBS
    username, password, token = settings.username, settings.password, settings.api_token
    if password and token:
        # Both found: the stronger source wins; a tie goes to what the verb needs.
        p_rank, t_rank = settings.rank("password"), settings.rank("api_token")
        if p_rank < t_rank or (p_rank == t_rank and need_password):
            token = None
        else:
            password = None
    if token and need_password and settings.rank("api_token") > 0 and _prompt_ok():
        # A token from the environment or .reviewboardrc cannot manage tokens.
        token = None
    if token:
        return None, None, token
    if not password and (username or need_password) and _prompt_ok():
        if not username:
            username = input("Username: ").strip() or None
        if username:
            password = getpass.getpass(f"Password for {username}: ")
    if password and not username:
        raise UsageError("a password needs a username (--username)")
    if username and not password:
        # No terminal to ask on: fail before any request rather than go anonymous.
        raise UsageError(
            f"no password for {username} (use --password or RBTOKENS_PASSWORD, "
            "or run on a terminal to be asked)"
        )
    return username, password or None, None


def make_client(
    args: argparse.Namespace, transport: Transport | None, out: Output | None = None
) -> RBClient:
    settings = resolve(
        {
            "server": args.server,
            "username": args.username,
            "password": args.password,
            "api_token": args.api_token,
        },
        config=args.config,
    )
    if not settings.server:
        raise UsageError(
            "no server: give --server, set RBTOKENS_SERVER, or set REVIEWBOARD_URL "
            "in .reviewboardrc"
        )
    if out is not None and not args.quiet:
        for note in settings.notes:
            out.note(f"rbtokens: note: {note}")
    username, password, token = _credentials(settings, args.verb)
    # One deadline per request. No separate read timeout: aiohttp re-arms that
    # timer on every chunk received, which costs CPU across a whole audit.
    total = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
    kwargs: dict[str, Any] = {
        "timeouts": Timeouts(total=total, connect=min(total, 10.0), read=None)
    }
    if args.insecure:
        kwargs["verify"] = False
    elif args.ca_bundle:
        kwargs["verify"] = args.ca_bundle
    try:
        return RBClient(
            settings.server,
            username=username,
            password=password,
            api_token=token,
            transport=transport,
            **kwargs,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # ssl.SSLError included: an unreadable or invalid --ca-bundle
        what = f"--ca-bundle {args.ca_bundle}" if args.ca_bundle else "TLS setup"
        raise UsageError(f"{what}: {exc}") from None
