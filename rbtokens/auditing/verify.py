"""Trust, but verify: the bulk listing against a sample of users' own token lists.

Each sampled user's token list (every page) is read with the same fields,
and compared token by token: ids and every field of
:data:`~.shapes.BULK_TOKEN_FIELDS`. Any difference, refusal or unusable
answer is a reason not to trust the bulk listing.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from ..errors import AuthenticationError, RateLimitedError, RBTokensError
from ..resources import APIToken, ListRef, Paginator, Root
from ..wire import MAX_RESULTS, encoded
from .shapes import BULK_TOKEN_FIELDS, BulkToken, BulkUser, TokenPage

__all__ = ["verify_sample"]

_PARAMS = encoded(
    {
        "max_results": MAX_RESULTS,
        "only_fields": ",".join(("id", *BULK_TOKEN_FIELDS)),
        "only_links": "",
    }
)


async def verify_sample(
    root: Root, sample: Sequence[BulkUser], *, limit: anyio.CapacityLimiter
) -> str | None:
    """Why the bulk listing disagrees with the sampled users' own lists, or None."""
    reasons: list[str] = []

    async def one(user: BulkUser) -> None:
        try:
            async with limit:
                own = await _own_tokens(root, user.username)
        except (AuthenticationError, RateLimitedError):
            raise
        except RBTokensError as exc:
            reasons.append(f"{user.username}'s own token list could not be read ({exc})")
            return
        listed = user.api_tokens if isinstance(user.api_tokens, list) else []
        difference = _compare(listed, own)
        if difference:
            reasons.append(f"for {user.username}, {difference}")

    async with anyio.create_task_group() as tg:
        for user in sample:
            tg.start_soon(one, user)
    if not reasons:
        return None
    return "the bulk listing disagrees with the users' own token lists: " + "; ".join(
        sorted(reasons)
    )


async def _own_tokens(root: Root, username: str) -> list[BulkToken]:
    ref = ListRef(root.client, root.api_tokens_at(username).url, APIToken, params=_PARAMS)
    first = await ref.get_as(TokenPage)
    if "next" not in first.links:
        return first.api_tokens
    pager = Paginator(first, lambda url: root.client.request_as("GET", url, TokenPage))
    tokens: list[BulkToken] = []
    async for page in pager.pages():
        tokens.extend(pager.unseen(page.api_tokens))
    return tokens


def _compare(listed: Sequence[BulkToken], own: Sequence[BulkToken]) -> str | None:
    """How two lists of the same user's tokens differ, in words, or None."""
    bulk = {t.id: t.facts() for t in listed}
    mine = {t.id: t.facts() for t in own}
    if bulk.keys() != mine.keys():
        missing = sorted(mine.keys() - bulk.keys())
        extra = sorted(bulk.keys() - mine.keys())
        return f"the bulk listing lacks tokens {missing} and adds {extra}"
    for token_id in sorted(mine):
        for name, a, b in zip(BULK_TOKEN_FIELDS, bulk[token_id], mine[token_id], strict=True):
            if a != b:
                return f"token {token_id}'s {name} differs"
    return None
