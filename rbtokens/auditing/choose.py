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

from ..resources import Root
from ..tokens.rights import administrator
from .report import WalkKind

__all__ = ["WalkChoice", "choose_walk"]

WalkChoice = Literal["auto", "bulk", "per-user"]


async def choose_walk(root: Root, walk: WalkChoice) -> tuple[WalkKind, str]:
    """The walk to take, and why (the report shows the reason)."""
    if walk == "per-user":
        return "per-user", "the per-user walk was asked for"
    admin, why = await administrator(root)
    if admin:
        return "bulk", why
    if walk == "bulk":
        return "per-user", (
            f"the bulk walk was asked for, but {why}: the bulk listing is never used for a "
            "login that may not read every user's token lists"
        )
    return "per-user", why
