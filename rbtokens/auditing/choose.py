"""Which walk an audit takes: the bulk listing for an administrator, else one list per user.

``auto`` takes the bulk walk for a password login whose administrator rights
are shown: one per-user token list of *another* user answers 200. Users are
compared by id, not name, since a login may be an e-mail address. The bulk
listing is never used for a login that may not read every user's token
lists (Review Board 8.1 would show it every token anyway: that is the
``secrets-exposed`` hole), so ``bulk`` asked for by a non-administrator
still walks per user.
"""

from __future__ import annotations

from typing import Literal

from ..errors import AuthenticationError, PermissionDeniedError, RateLimitedError, RBTokensError
from ..resources import Root
from .report import WalkKind

__all__ = ["WalkChoice", "choose_walk"]

WalkChoice = Literal["auto", "bulk", "per-user"]


async def choose_walk(root: Root, walk: WalkChoice) -> tuple[WalkKind, str]:
    """The walk to take, and why (the report shows the reason)."""
    if walk == "per-user":
        return "per-user", "the per-user walk was asked for"
    admin, why = await _administrator(root)
    if admin:
        return "bulk", why
    if walk == "bulk":
        return "per-user", (
            f"the bulk walk was asked for, but {why}: the bulk listing is never used for a "
            "login that may not read every user's token lists"
        )
    return "per-user", why


async def _administrator(root: Root) -> tuple[bool, str]:
    """Whether the login may read another user's token list, and the evidence."""
    session = await root.get_session(expand="user")
    me = session.user or await session.get_user(only_fields="id,username", only_links="")
    users = await root.get_users(max_results=2, only_fields="id,username", only_links="")
    other = next((u for u in users if u.id != me.id), None)
    if other is None:
        return False, "there is no other user to show administrator rights with"
    try:
        await root.api_tokens_at(other.username).get(max_results=1, only_fields="id", only_links="")
    except PermissionDeniedError:
        return False, (
            f"the login may not read other users' token lists ({other.username}'s answered "
            "403): it is not an administrator's"
        )
    except (AuthenticationError, RateLimitedError):
        raise
    except RBTokensError as exc:
        return False, f"it could not be shown that the login is an administrator's ({exc})"
    return True, (f"an administrator's password login (it may read {other.username}'s token list)")
