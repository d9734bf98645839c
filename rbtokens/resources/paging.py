"""The one pager: every page of a list, from its first page.

Review Board's lists have no stable order (no ORDER BY), so users or tokens
added or deleted while a list is paged shift the offsets. The pager:

* fetches the pages after the first at offsets computed from
  ``total_results``, ``concurrency`` at a time;
* follows ``next`` past the computed pages when the list grew, and stops on a
  ``next`` link it has seen (the server's answer to ``max-results=0``);
* de-duplicates items by id (:meth:`Paginator.unseen`);
* reports drift (:class:`Drift`): pages that disagree on ``total_results``,
  an item listed twice, fewer items than reported; with ``repair`` it then
  reads the list again, serially by its ``next`` links, for the items not
  seen yet.

It backs ``ListResource.pages()``/``all_items()``, the audit's users walk,
``tokens.list()`` and the page-number :class:`~rbtokens.Pager`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Generic, Protocol, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup
from yarl import URL

from ..errors import (
    AuthenticationError,
    ClientStateError,
    NavigationError,
    RBTokensError,
    first_error,
)
from ..wire import Link, merge_query

__all__ = ["Drift", "PageFailure", "PageLike", "Paginator"]

_T_co = TypeVar("_T_co", covariant=True)
_T = TypeVar("_T")


class PageLike(Protocol[_T_co]):
    """What the pager reads of a page."""

    @property
    def items(self) -> Sequence[_T_co]:
        """The page's items."""
        ...

    @property
    def links(self) -> Mapping[str, Link]:
        """The page's links (``self``, ``next``, ``prev``)."""
        ...

    @property
    def total_results(self) -> int | None:
        """The list's size when this page was read."""
        ...


P = TypeVar("P", bound=PageLike[Any])


class Drift(msgspec.Struct):
    """How the list changed while it was paged."""

    totals: set[int] = msgspec.field(default_factory=set)
    """Every ``total_results`` the pages reported."""
    duplicates: int = 0
    """Items listed again on a later page (the offsets moved)."""
    listed: int = 0
    """Distinct items seen."""
    reread: bool = False
    """Whether the list was read again serially (:meth:`Paginator.reread`)."""
    added: int = 0
    """Items only the re-read found."""
    reread_total: int = 0
    """The largest ``total_results`` the re-read saw."""
    reread_listed: int = 0
    """Distinct items the re-read saw."""
    settled: bool = True
    """False when the re-read still did not add up (the list kept changing)."""

    @property
    def moved(self) -> bool:
        """Whether the pages disagree: the walk may have missed items."""
        return len(self.totals) > 1 or self.duplicates > 0 or self.listed < self.max_total

    @property
    def max_total(self) -> int:
        """The largest ``total_results`` reported."""
        return max(self.totals, default=0)


class PageFailure(msgspec.Struct, frozen=True):
    """A page the pager could not read (``start`` is None for the re-read)."""

    start: int | None
    size: int
    error: RBTokensError

    @property
    def where(self) -> str:
        """``1-200`` for the first 200 items, ``(read again)`` for the re-read."""
        if self.start is None:
            return "(read again)"
        return f"{self.start + 1}-{self.start + self.size}"


def item_id(item: Any) -> Any:
    """An item's identity for de-duplication: its ``id`` (None: never de-duplicated)."""
    return getattr(item, "id", None)


class Paginator(Generic[P]):
    """Pages one list from ``first``; ``fetch`` GETs a page of the same list by URL."""

    def __init__(
        self,
        first: P,
        fetch: Callable[[str], Awaitable[P]],
        *,
        concurrency: int = 1,
        key: Callable[[Any], Any] = item_id,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.first = first
        self.concurrency = concurrency
        self.drift = Drift()
        self.failures: list[PageFailure] = []
        self._fetch = fetch
        self._key = key
        self._seen: set[Any] = set()
        self._tail = 0
        self._note(first)

    @property
    def total(self) -> int | None:
        """The largest ``total_results`` seen so far (None if the server gives none)."""
        return self.drift.max_total if self.drift.totals else None

    def _note(self, page: PageLike[Any]) -> None:
        if page.total_results is not None:
            self.drift.totals.add(page.total_results)

    def unseen(self, items: Sequence[_T]) -> list[_T]:
        """The items not seen before, each id once; a repeat counts as drift."""
        seen, key = self._seen, self._key
        fresh: list[_T] = []
        for item in items:
            ident = key(item)
            if ident is not None:
                if ident in seen:
                    self.drift.duplicates += 1
                    continue
                seen.add(ident)
            fresh.append(item)
        self.drift.listed += len(fresh)
        return fresh

    def _plan(self) -> tuple[URL, int, list[int]] | None:
        """The URL template, page size and offsets of the pages after the first."""
        first = self.first
        nxt = first.links.get("next")
        if nxt is None or not first.items:
            return None
        try:  # a malformed href (ValueError) leaves the serial walk to report it
            template = URL(nxt.href)
            start = int(template.query.get("start", "0"))
            size = int(template.query.get("max-results", str(len(first.items))))
        except ValueError:
            return None
        if size <= 0:
            return None
        total = first.total_results
        starts = list(range(start, total, size)) if total is not None else [start]
        return (template, size, starts) if starts else None

    def _page_url(self, template: URL, start: int, size: int) -> URL:
        return merge_query(template, {"start": str(start), "max-results": str(size)})

    async def _get(self, url: str | URL) -> P:
        # Hrefs go to the client as sent: it reports a malformed one.
        page = await self._fetch(str(url))
        self._note(page)
        return page

    # -- in order ---------------------------------------------------------------

    async def pages(self) -> AsyncIterator[P]:
        """Yield the first page and every following one, in order.

        The pages at computed offsets are fetched ``concurrency`` at a time;
        then any ``next`` link left (the list grew) is followed.
        """
        first = self.first
        yield first
        page = first
        own = first.links.get("self")
        visited = {own.href} if own is not None else set()
        plan = self._plan() if self.concurrency > 1 and first.total_results is not None else None
        if plan is not None:
            template, size, starts = plan
            for i in range(0, len(starts), self.concurrency):
                batch = starts[i : i + self.concurrency]
                for page in await self._batch(template, size, batch):
                    own = page.links.get("self")
                    visited.add(own.href if own is not None else "")
                    yield page
        while page.items:
            link = page.links.get("next")
            if link is None or link.href in visited:
                return
            visited.add(link.href)
            page = await self._get(link.href)
            yield page

    async def _batch(self, template: URL, size: int, starts: Sequence[int]) -> list[P]:
        results: list[P | None] = [None] * len(starts)

        async def one(slot: int, start: int) -> None:
            results[slot] = await self._get(self._page_url(template, start, size))

        try:
            async with anyio.create_task_group() as tg:
                for slot, start in enumerate(starts):
                    tg.start_soon(one, slot, start)
        except ExceptionGroup as group:
            # Callers catch RBTokensError, not a group: raise the first failure.
            raise first_error(group) from None
        return [page for page in results if page is not None]

    async def window(self, start: int, count: int, *, size: int = 200) -> list[P]:
        """The pages holding items ``[start, start + count)``, read ``size`` at a time."""
        own = self.first.links.get("self")
        try:
            template = URL(own.href) if own is not None else None
        except ValueError as exc:
            raise NavigationError(f"cannot page from {own!r}: {exc}") from None
        pages: list[P] = []
        pos, left = start, count
        while left > 0 and template is not None:
            step = min(left, size)
            page = await self._get(self._page_url(template, pos, step))
            pages.append(page)
            if len(page.items) < step:
                break
            pos += step
            left -= step
        return pages

    # -- as they arrive -----------------------------------------------------------

    async def walk(
        self,
        on_page: Callable[[P], Awaitable[None]],
        *,
        on_error: Callable[[PageFailure], None] | None = None,
        slot: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
        repair: bool = False,
    ) -> None:
        """Hand every page to ``on_page`` as it arrives, ``concurrency`` in flight.

        With ``on_error`` a page that cannot be read is reported to it and
        recorded in :attr:`failures` (a refused login still raises); without,
        it raises. Each fetch also holds a ``slot()`` (the caller's bound on
        requests in flight), when given. With ``repair``, a walk that drifted
        and lost no page is followed by :meth:`reread`.
        """
        await on_page(self.first)
        plan = self._plan()
        if plan is not None:
            await self._walk_plan(plan, on_page, on_error, slot)
        if repair and self.drift.moved and not self.failures:
            await self.reread(on_page, on_error=on_error)

    async def _walk_plan(
        self,
        plan: tuple[URL, int, list[int]],
        on_page: Callable[[P], Awaitable[None]],
        on_error: Callable[[PageFailure], None] | None,
        slot: Callable[[], AbstractAsyncContextManager[Any]] | None,
    ) -> None:
        template, size, starts = plan
        self._tail = starts[-1]
        own = anyio.CapacityLimiter(self.concurrency)

        async def one(tg: TaskGroup, start: int) -> None:
            try:
                async with own, slot() if slot is not None else nullcontext():
                    page = await self._get(self._page_url(template, start, size))
            except (AuthenticationError, ClientStateError):
                raise
            except RBTokensError as exc:
                if on_error is None:
                    raise
                self._failed(PageFailure(start, size, exc), on_error)
                return
            if start >= self._tail and "next" in page.links and page.items:
                # The list grew while it was paged: follow it past the planned pages.
                self._tail = start + size
                tg.start_soon(one, tg, start + size)
            await on_page(page)

        try:
            async with anyio.create_task_group() as tg:
                for start in starts:
                    tg.start_soon(one, tg, start)
        except ExceptionGroup as group:
            raise first_error(group) from None

    def _failed(self, failure: PageFailure, on_error: Callable[[PageFailure], None]) -> None:
        self.failures.append(failure)
        on_error(failure)

    async def reread(
        self,
        on_page: Callable[[P], Awaitable[None]],
        *,
        on_error: Callable[[PageFailure], None] | None = None,
    ) -> None:
        """Read the list again from the start, serially by ``next``; hand on each page.

        The pages carry every item again: ``on_page`` takes the new ones with
        :meth:`unseen`. :attr:`drift` then says whether the list settled.
        """
        drift = self.drift
        drift.reread = True
        before, duplicates = drift.listed, drift.duplicates
        own = self.first.links.get("self")
        totals: set[int] = set()
        ids: set[Any] = set()
        visited: set[str] = set()
        try:
            page: P | None = await self._get(own.href) if own is not None else None
            while page is not None:
                if page.total_results is not None:
                    totals.add(page.total_results)
                ids.update(self._key(item) for item in page.items)
                await on_page(page)
                nxt = page.links.get("next")
                if not page.items or nxt is None or nxt.href in visited:
                    break
                visited.add(nxt.href)
                page = await self._get(nxt.href)
        except (AuthenticationError, ClientStateError):
            raise
        except RBTokensError as exc:
            if on_error is None:
                raise
            self._failed(PageFailure(None, 0, exc), on_error)
            return
        drift.added = drift.listed - before
        drift.duplicates = duplicates  # the re-read repeats every item on purpose
        drift.reread_total = max(totals, default=0)
        drift.reread_listed = len(ids)
        drift.settled = len(totals) <= 1 and len(ids) >= drift.reread_total
