"""Listing every user's tokens (administrators only)."""

from __future__ import annotations

import logging

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
from .pager import ListingFailure

__all__ = ["every_users_tokens"]

log = logging.getLogger("rbtokens.tokens")


async def every_users_tokens(
    root: Root, *, concurrency: int
) -> tuple[list[APIToken], list[ListingFailure]]:
    """Every user's tokens (inactive users too), and the users whose tokens could not be read.

    A refused login or permission fails the whole listing.
    """
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
