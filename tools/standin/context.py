"""One request on its way through the core, and the knobs that shape answers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from multidict import MultiDictProxy

from rbtokens import Request, Response

from .auth import Identity
from .forms import parse_form
from .payloads import Payloads
from .stats import StandInStats
from .wire import MIME, VARY, html

__all__ = ["Behaviour", "Call", "Expansion", "sha256_etag"]

Expansion = Literal["inline", "removed", "empty"]
"""What ``expand=api_tokens`` does: 8.1 inlines every token; a future server
might ignore ``expand`` (``removed``) or send ``api_tokens: []`` (``empty``)."""


def sha256_etag(path: str, body: bytes) -> str | None:
    """Review Board's GET ETag: 64 hex digits, unquoted."""
    return hashlib.sha256(body).hexdigest()


@dataclass(slots=True)
class Behaviour:
    """Knobs: Review Board 8.1's bugs, site settings and future servers.

    ``etags``: unquoted ETags on GET and ``304`` on an exact ``If-None-Match``
    (``etag`` computes them). ``delete_quirk``: DELETE answers ``204`` with a
    14-byte body, as 8.1 does. ``fix_invalidate_bug``: ``PUT valid=false``
    persists (8.1 drops it). ``sitewide_login``: anonymous requests get 401
    (the "require login to view anything" setting). ``fix_expand_leak``: the
    expansion shows only the tokens the requester may list (8.1 shows all).
    ``expansion``: see :data:`Expansion`.
    """

    etags: bool = True
    etag: Callable[[str, bytes], str | None] = sha256_etag
    delete_quirk: bool = False
    fix_invalidate_bug: bool = False
    sitewide_login: bool = False
    fix_expand_leak: bool = False
    expansion: Expansion = "inline"


@dataclass(slots=True)
class Call:
    """A request being answered: its parts, its requester, where to count."""

    request: Request
    headers: dict[str, str]
    """The request headers with lowercase names."""
    method: str
    parts: list[str]
    """The path below ``/api/``, split (``[]`` for the root)."""
    ident: Identity
    payloads: Payloads
    behaviour: Behaviour
    stats: StandInStats
    changed: Callable[[str, int | None], None]
    """Drop the cached payloads of a user (and one of their tokens)."""
    expanded_users: int = 0
    """Users serialized with their tokens inlined (the server cost of the answer)."""
    _form: dict[str, str] | None = field(default=None)

    @property
    def query(self) -> MultiDictProxy[str]:
        return self.request.url.query

    @property
    def path(self) -> str:
        return self.request.url.path

    def form(self) -> dict[str, str]:
        """The form fields of the body (parsed once)."""
        if self._form is None:
            self._form = parse_form(self.headers.get("content-type", ""), self.request.body)
        return self._form

    def allow(self, methods: str) -> Response | None:
        """A 405 (``text/html`` with ``Allow``) unless the method is one of ``methods``."""
        if self.method in methods.split(", "):
            return None
        return html(405, "", {"Allow": methods})

    def ok(
        self,
        body: bytes,
        mime: str,
        *,
        item_mime: str | None = None,
        status: int = 200,
        etag: bool = True,
    ) -> Response:
        """A JSON answer; GETs carry an ETag and honour ``If-None-Match``."""
        headers = {"content-type": MIME.format(mime), "vary": VARY}
        if item_mime is not None:
            headers["item-content-type"] = MIME.format(item_mime)
        if etag and self.behaviour.etags and self.method == "GET":
            tag = self.behaviour.etag(self.path, body)
            if tag is not None:
                if self.headers.get("if-none-match") == tag:
                    self.stats.not_modified += 1
                    return Response(304, {"etag": tag, "vary": VARY})
                headers["etag"] = tag
        return Response(status, headers, body)
