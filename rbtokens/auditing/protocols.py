"""What an audit needs of the client, typed as Protocols (this package never imports it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from yarl import URL

from ..http import ClientStats
from ..resources import Requester, Root
from .report import Finding

__all__ = ["AuditClient", "ProgressCallback", "Sink"]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(users_done, users_total)``; the total is None until known."""

Sink = Callable[[list[Finding]], Awaitable[None]]
"""Receives findings as they are found (:func:`~rbtokens.auditing.audit_stream`)."""


class AuditClient(Requester, Protocol):
    """What an audit needs of :class:`~rbtokens.RBClient`."""

    @property
    def base_url(self) -> URL:
        """The server's URL."""
        ...

    @property
    def stats(self) -> ClientStats:
        """The client's counters."""
        ...

    @property
    def uses_api_token(self) -> bool:
        """Whether the client logs in with an API token."""
        ...

    async def get_root(self, *, local_site: str | None = None) -> Root:
        """The API root, or a Local Site's."""
        ...
