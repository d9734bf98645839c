"""Every user's tokens through the bulk listing, verified: 200 users a request.

::

    GET /api/users/?include-inactive=1&max-results=200&expand=api_tokens
        &only-links=api_tokens&only-fields=id,username,is_active,api_tokens,<token fields>

Review Board 8.1 inlines each user's tokens (every one, unpaged), with no
``token`` secret when ``only-fields`` does not name it. It checks no
permission doing so (the ``secrets-exposed`` hole), so this is only for a
login shown to be an administrator's (:func:`administrator`), and never
asks for the secret. The pages go through the one pager.

Trust, but verify: a sample of users (half of them with tokens) is read
again through their own token lists and compared field by field. Any
difference, a user without the expansion (a proxy that strips ``expand``),
a page that cannot be read, or a page that carries a ``token`` field stops
the listing with :class:`Fallback`: read every user's tokens one by one.
A rate limit is not a reason to fall back (another walk would fare worse):
:class:`~rbtokens.errors.RateLimitedError` is raised.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio

from ..errors import AuthenticationError, RateLimitedError, RBTokensError
from ..resources import APIToken, ListRef, PageFailure, Paginator, Requester, Root, User
from ..wire import MAX_RESULTS, encoded
from .shapes import BulkPage, BulkUser, Shape, TokenLike, TokenPage

__all__ = ["BulkTokens", "Fallback"]

T = TypeVar("T", bound=TokenLike)


class Fallback(Exception):
    """The bulk listing cannot be trusted: read every user's tokens one by one."""

    def __init__(self, reason: str, *, warning: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.warning = warning


_SECRETS_WARNING = (
    "the bulk listing sent token secrets although only-fields did not name them: the "
    "pages still in flight were cancelled, the secrets were dropped unread, and every "
    "user's tokens were read one by one instead"
)


class BulkTokens(Generic[T]):
    """One bulk listing of every user's tokens; ``on_user`` gets each user once."""

    def __init__(
        self,
        root: Root,
        shape: Shape[T],
        *,
        concurrency: int,
        verify: int = 6,
        seed: int | None = None,
    ) -> None:
        self.root = root
        self.shape = shape
        self.concurrency = concurrency
        self.verify = verify
        self.verified = 0
        self.total: int | None = None
        #: Bounds every request of the listing; others may share it (the audit's probe).
        self.limit = anyio.CapacityLimiter(concurrency)
        self._rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
        self._sample: tuple[list[BulkUser[T]], list[BulkUser[T]]] = ([], [])
        self._seen = [0, 0]
        self._fallback: Fallback | None = None
        self._limited: RateLimitedError | None = None
        self._scope: anyio.CancelScope | None = None

    @property
    def _client(self) -> Requester:
        return self.root.client

    async def walk(self, on_user: Callable[[BulkUser[T]], None]) -> None:
        """Hand every user to ``on_user``, then verify the sample; or raise :class:`Fallback`."""
        params = encoded(
            {
                "include_inactive": True,
                "max_results": MAX_RESULTS,
                "expand": "api_tokens",
                "only_links": "api_tokens",
                "only_fields": ",".join(
                    ("id", "username", "is_active", "api_tokens", *self.shape.fields)
                ),
            }
        )
        users = ListRef(self._client, self.root.link_list("users", User).url, User, params=params)
        page_type = self.shape.page
        try:
            first = await users.get_as(page_type)
        except (AuthenticationError, RateLimitedError):
            raise
        except RBTokensError as exc:
            raise Fallback(f"the first users page could not be read in bulk ({exc})") from exc
        self.total = first.total_results
        pager: Paginator[BulkPage[T]] = Paginator(
            first,
            lambda url: self._client.request_as("GET", url, page_type),
            concurrency=self.concurrency,
        )

        async def on_page(page: BulkPage[T]) -> None:
            self._page(pager, page, on_user)

        with anyio.CancelScope() as self._scope:
            await pager.walk(on_page, on_error=self._page_failed, slot=lambda: self.limit)
            if pager.drift.moved:
                await pager.reread(on_page, on_error=self._page_failed)
        if self._limited is not None:
            raise self._limited
        if self._fallback is not None:
            raise self._fallback
        if pager.drift.reread and not pager.drift.settled:
            raise Fallback("the users list kept changing while it was read in bulk")
        await self._verify()

    def _page_failed(self, page: PageFailure) -> None:
        if isinstance(page.error, RateLimitedError):
            self._limited = self._limited or page.error
            self._stop(None)
        else:
            self._stop(Fallback(f"users {page.where} could not be read in bulk ({page.error})"))

    def _page(
        self,
        pager: Paginator[BulkPage[T]],
        page: BulkPage[T],
        on_user: Callable[[BulkUser[T]], None],
    ) -> None:
        if page.total_results is not None and (self.total or 0) < page.total_results:
            self.total = page.total_results
        for user in pager.unseen(page.users):
            tokens = user.api_tokens
            if not isinstance(tokens, list):
                self._stop(
                    Fallback(
                        f"the server did not expand api_tokens for {user.username} (a proxy "
                        "that strips expand=, or a Review Board that dropped the expansion)"
                    )
                )
                return
            if any(t.has_secret() for t in tokens):
                for t in tokens:
                    t.drop_secret()
                self._stop(
                    Fallback(
                        "a users page carried token secrets although none was asked for",
                        warning=_SECRETS_WARNING,
                    )
                )
                return
            self._keep_sample(user, bool(tokens))
            on_user(user)

    def _keep_sample(self, user: BulkUser[T], has_tokens: bool) -> None:
        """Reservoir sampling: half the sample with tokens, half without."""
        group = 0 if has_tokens else 1
        self._seen[group] += 1
        pool, size = self._sample[group], self.verify - self.verify // 2
        if len(pool) < size:
            pool.append(user)
        else:
            slot = self._rng.randrange(self._seen[group])
            if slot < size:
                pool[slot] = user

    def _stop(self, fallback: Fallback | None) -> None:
        if self._fallback is None:
            self._fallback = fallback
        if self._scope is not None:
            self._scope.cancel()

    async def _verify(self) -> None:
        with_tokens, without = self._sample
        half = self.verify // 2
        sample = with_tokens[: self.verify - min(half, len(without))] + without[:half]
        reasons: list[str] = []

        async def one(user: BulkUser[T]) -> None:
            try:
                async with self.limit:
                    own = await self._own_tokens(user.username)
            except (AuthenticationError, RateLimitedError):
                raise
            except RBTokensError as exc:
                reasons.append(f"{user.username}'s own token list could not be read ({exc})")
                return
            listed = user.api_tokens if isinstance(user.api_tokens, list) else []
            difference = _compare(self.shape, listed, own)
            if difference:
                reasons.append(f"for {user.username}, {difference}")

        async with anyio.create_task_group() as tg:
            for user in sample:
                tg.start_soon(one, user)
        if reasons:
            raise Fallback(
                "the bulk listing disagrees with the users' own token lists: "
                + "; ".join(sorted(reasons))
            )
        self.verified = len(sample)

    async def _own_tokens(self, username: str) -> list[T]:
        params = encoded(
            {
                "max_results": MAX_RESULTS,
                "only_fields": ",".join(("id", *self.shape.fields)),
                "only_links": "",
            }
        )
        url = self.root.api_tokens_at(username).url
        page_type = self.shape.token_page
        first = await ListRef(self._client, url, APIToken, params=params).get_as(page_type)
        if "next" not in first.links:
            return first.api_tokens
        pager: Paginator[TokenPage[T]] = Paginator(
            first, lambda url: self._client.request_as("GET", url, page_type)
        )
        tokens: list[T] = []
        async for page in pager.pages():
            tokens.extend(pager.unseen(page.api_tokens))
        return tokens


def _compare(shape: Shape[T], listed: Sequence[T], own: Sequence[T]) -> str | None:
    """How two lists of the same user's tokens differ, in words, or None."""
    bulk = {t.id: shape.facts(t) for t in listed}
    mine = {t.id: shape.facts(t) for t in own}
    if bulk.keys() != mine.keys():
        missing = sorted(mine.keys() - bulk.keys())
        extra = sorted(bulk.keys() - mine.keys())
        return f"the bulk listing lacks tokens {missing} and adds {extra}"
    for token_id in sorted(mine):
        for name, a, b in zip(shape.fields, bulk[token_id], mine[token_id], strict=True):
            if a != b:
                return f"token {token_id}'s {name} differs"
    return None
