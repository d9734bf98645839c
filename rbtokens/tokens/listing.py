"""Listing every user's tokens (administrators only)."""

from __future__ import annotations

import logging
from typing import Literal

import anyio

from ..errors import (
    AuthenticationError,
    ClientStateError,
    DoesNotExistError,
    PermissionDeniedError,
    RBTokensError,
)
from ..resources import APIToken, Root, User
from .checks import PAGE_CAP
from .everyone import BulkTokens, Fallback
from .pager import ListingFailure
from .rights import administrator
from .shapes import LISTED_FIELDS, BulkUser, ListedToken, Shape

__all__ = ["ListingWalk", "every_users_tokens"]

log = logging.getLogger("rbtokens.tokens")


LISTED_SHAPE = Shape(ListedToken, LISTED_FIELDS)
BULK_PAGES = 4  # users pages in flight: each costs the server ~0.65 s of a worker


ListingWalk = Literal["auto", "per-user"]


async def every_users_tokens(
    root: Root, *, concurrency: int, walk: ListingWalk = "auto"
) -> tuple[list[APIToken], list[ListingFailure]]:
    """Every user's tokens (inactive users too), and the users whose tokens could not be read.

    For a login shown to be an administrator's, the verified bulk listing
    (:mod:`.everyone`), 200 users a request; otherwise, or when it cannot be
    trusted, one list per user. A refused login or permission fails the
    whole listing.
    """
    if walk == "per-user":
        return await _one_by_one(root, concurrency=concurrency)
    admin, why = await administrator(root)
    if admin:
        try:
            return await _bulk(root), []
        except Fallback as fallback:
            log.warning("listing every user's tokens one by one: %s", fallback.reason)
    else:
        log.info("listing every user's tokens one by one: %s", why)
    return await _one_by_one(root, concurrency=concurrency)


async def _bulk(root: Root) -> list[APIToken]:
    listing = BulkTokens(root, LISTED_SHAPE, concurrency=BULK_PAGES)
    found: dict[str, list[APIToken]] = {}

    def take(user: BulkUser[ListedToken]) -> None:
        tokens = user.api_tokens if isinstance(user.api_tokens, list) else []
        found[user.username] = [
            t.to_api_token(user.username, root.api_token_at(user.username, t.id).url)
            for t in tokens
        ]

    await listing.walk(take)
    return [t for name in sorted(found) for t in sorted(found[name], key=lambda t: t.id)]


async def _one_by_one(
    root: Root, *, concurrency: int
) -> tuple[list[APIToken], list[ListingFailure]]:
    users_page = await root.get_users(include_inactive=True, max_results=PAGE_CAP)
    users = [u async for u in users_page.all_items(concurrency=min(4, concurrency))]
    found: dict[str, list[APIToken]] = {}
    failures: list[ListingFailure] = []
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(user: User) -> None:
        async with limiter:
            try:
                first = await user.get_api_tokens(max_results=PAGE_CAP)
                found[user.username] = [t async for t in first.all_items()]
            except (AuthenticationError, PermissionDeniedError, ClientStateError):
                raise  # about this client, not this user: the listing is refused
            except DoesNotExistError as exc:
                log.info("user %s was deleted while listing tokens", user.username)
                failures.append(ListingFailure(user.username, exc, vanished=True))
            except RBTokensError as exc:
                log.warning(
                    "cannot list the tokens of %s; listing the other users': %s",
                    user.username,
                    exc,
                )
                failures.append(ListingFailure(user.username, exc))

    async with anyio.create_task_group() as tg:
        for user in users:
            tg.start_soon(one, user)
    failures.sort(key=lambda f: f.username)
    tokens = [t for name in sorted(found) for t in sorted(found[name], key=lambda t: t.id)]
    return tokens, failures
