"""The page-number view of a token listing: :class:`Pager` (TileDB-style, async)."""

from __future__ import annotations

import builtins
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, overload

import msgspec

from ..errors import RBTokensError
from ..resources import APIToken, ListRef
from .checks import PAGE_CAP

__all__ = ["ListingFailure", "LocalSource", "Pager", "ServerSource", "Source"]


class ListingFailure(msgspec.Struct, frozen=True):
    """A user whose tokens an ``all_users`` listing could not read.

    ``vanished`` is True when the user was deleted while the listing ran
    (HTTP 404): such a user has no tokens left, so the listing is still
    complete without them.
    """

    username: str
    error: RBTokensError
    vanished: bool = False

    def __str__(self) -> str:
        what = "was deleted during the listing" if self.vanished else "could not be listed"
        return f"the tokens of {self.username} {what}: {self.error}"


class Source(Protocol):
    """Where a :class:`Pager` reads tokens from."""

    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        """Tokens ``[start, start + count)`` of the listing, and the listing's total."""
        ...

    def rest(self, start: int, chunk: int) -> AsyncIterator[Sequence[APIToken]]:
        """Every token from ``start`` on, ``chunk`` at a time."""
        ...


class ServerSource:
    """One user's tokens, paged by the server through the one pager."""

    def __init__(self, tokens: ListRef[APIToken]) -> None:
        self._tokens = tokens

    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        size = min(count, PAGE_CAP)
        first = await self._tokens.get(start=start, max_results=size)
        pages = [first]
        if count > size and len(first) == size:
            pages += await first.pager().window(start + size, count - size, size=PAGE_CAP)
        last = pages[-1]
        items = [token for page in pages for token in page.items]
        total = last.total_results
        return items, total if total is not None else start + len(items)

    async def rest(self, start: int, chunk: int) -> AsyncIterator[Sequence[APIToken]]:
        first = await self._tokens.get(start=start, max_results=min(chunk, PAGE_CAP))
        async for page in first.pages():
            yield page.items


class LocalSource:
    """An already fetched (and filtered) listing, paged locally."""

    def __init__(self, tokens: builtins.list[APIToken]) -> None:
        self.tokens = tokens

    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        return self.tokens[start : start + count], len(self.tokens)

    async def rest(self, start: int, chunk: int) -> AsyncIterator[Sequence[APIToken]]:
        for pos in range(start, len(self.tokens), chunk):
            yield self.tokens[pos : pos + chunk]


class Pager:
    """One page of a token listing, TileDB-style but async.

    ``items`` (or ``await page_items()``) is this page; ``page``, ``per_page``,
    ``total_items`` and ``total_pages`` describe the listing. ``async for``
    yields every token from this page to the last. ``await pager[i]`` and
    ``await pager[a:b]`` index the tokens from this page on; negative indices
    count back from the last token, using the total reported with this page.

    An ``all_users`` listing keeps going when one user's tokens cannot be
    read: ``failures`` lists those users (:class:`ListingFailure`) and
    ``complete`` says whether every existing user's tokens are in the listing.
    """

    def __init__(
        self,
        *,
        source: Source,
        page: int,
        per_page: int,
        items: builtins.list[APIToken],
        total_items: int,
        guard: Callable[[], contextlib.AbstractContextManager[None]],
        failures: Sequence[ListingFailure] = (),
    ) -> None:
        self._source = source
        self._guard = guard
        self.page = page
        self.per_page = per_page
        self.items = items
        self.total_items = total_items
        self.failures: builtins.list[ListingFailure] = builtins.list(failures)

    def __repr__(self) -> str:
        return (
            f"<Pager page {self.page} of {self.total_pages}, {len(self.items)} of "
            f"{self.total_items} tokens>"
        )

    @property
    def complete(self) -> bool:
        """Whether no existing user's tokens are missing (see ``failures``)."""
        return all(f.vanished for f in self.failures)

    @property
    def total_pages(self) -> int:
        """Pages in the listing at ``per_page`` (0 when it is empty)."""
        return math.ceil(self.total_items / self.per_page)

    @property
    def offset(self) -> int:
        """The listing position of this page's first token."""
        return (self.page - 1) * self.per_page

    @property
    def has_next(self) -> bool:
        """Whether a page follows this one."""
        return self.page < self.total_pages

    async def page_items(self) -> builtins.list[APIToken]:
        """This page's tokens."""
        return builtins.list(self.items)

    async def goto(self, page: int) -> Pager:
        """Another page of the same listing."""
        if page < 1:
            raise ValueError(f"pages are numbered from 1, got {page}")
        with self._guard():
            items, total = await self._source.fetch((page - 1) * self.per_page, self.per_page)
        return Pager(
            source=self._source,
            page=page,
            per_page=self.per_page,
            items=items,
            total_items=total,
            guard=self._guard,
            failures=self.failures,
        )

    async def next_page(self) -> Pager | None:
        """The following page, or ``None`` after the last."""
        return await self.goto(self.page + 1) if self.has_next else None

    async def prev_page(self) -> Pager | None:
        """The previous page, or ``None`` on the first."""
        return await self.goto(self.page - 1) if self.page > 1 else None

    async def _iterate(self) -> AsyncIterator[APIToken]:
        seen = {token.id for token in self.items}
        for token in self.items:
            yield token
        if len(self.items) < self.per_page:
            return
        with self._guard():
            chunks = self._source.rest(self.offset + len(self.items), max(self.per_page, 100))
            async for chunk in chunks:
                for token in chunk:
                    if token.id not in seen:  # the listing has no ORDER BY: dedupe
                        seen.add(token.id)
                        yield token

    def __aiter__(self) -> AsyncIterator[APIToken]:
        return self._iterate()

    async def all(self) -> builtins.list[APIToken]:
        """Every token from this page to the last."""
        return [token async for token in self]

    @overload
    def __getitem__(self, index: int) -> Awaitable[APIToken]: ...
    @overload
    def __getitem__(self, index: slice) -> Awaitable[builtins.list[APIToken]]: ...
    def __getitem__(self, index: int | slice) -> Awaitable[APIToken | builtins.list[APIToken]]:
        if isinstance(index, slice):
            return self.slice(index.start, index.stop, index.step)
        if isinstance(index, int) and not isinstance(index, bool):
            return self.get(index)
        raise TypeError(f"Pager indices must be integers or slices, not {type(index).__name__}")

    async def get(self, index: int) -> APIToken:
        """The token ``index`` places after this page's start (``pager[index]``)."""
        remaining = self.total_items - self.offset
        pos = index + remaining if index < 0 else index
        if pos < 0 or pos >= remaining:
            raise IndexError(
                f"token index {index} out of range ({remaining} from page {self.page} on)"
            )
        if pos < len(self.items):
            return self.items[pos]
        with self._guard():
            items, _total = await self._source.fetch(self.offset + pos, 1)
        if not items:
            raise IndexError(f"token index {index} out of range (the listing shrank)")
        return items[0]

    async def slice(
        self, start: int | None = None, stop: int | None = None, step: int | None = None
    ) -> builtins.list[APIToken]:
        """``pager[start:stop:step]``, counted from this page's start."""
        remaining = max(0, self.total_items - self.offset)
        wanted = range(*slice(start, stop, step).indices(remaining))
        if not wanted:
            return []
        low, high = min(wanted), max(wanted)
        if high < len(self.items):
            span = self.items[low : high + 1]
        else:
            with self._guard():
                span, _total = await self._source.fetch(self.offset + low, high - low + 1)
        return [span[i - low] for i in wanted if i - low < len(span)]
