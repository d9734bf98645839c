"""The server's origin: which URLs may carry its credentials."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from yarl import URL

from .._redact import redact
from ..errors import ForeignOriginError, NavigationError

__all__ = ["CREDENTIAL_HEADERS", "Origin", "is_loopback", "origin_key"]

DEFAULT_PORTS = {"http": 80, "https": 443}
#: Headers that authenticate: none of them leaves the server's origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
#: The server's own credentials: an anonymous request drops them (a proxy's stay).
SERVER_CREDENTIALS = frozenset({"authorization", "cookie"})


def origin_key(url: URL) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port filled in."""
    try:
        scheme, host = url.scheme.lower(), url.host
    except ValueError:
        return None
    if not scheme or not host:
        return None
    port = url.explicit_port or DEFAULT_PORTS.get(scheme)
    return scheme, host.lower().rstrip("."), port


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def without(headers: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    """``headers`` minus the (lowercase) ``names``."""
    return {k: v for k, v in headers.items() if k.lower() not in names}


class Origin:
    """The configured server's origin, and the rule for following URLs outside it."""

    __slots__ = ("_key", "allow_foreign", "base_url")

    def __init__(self, base_url: URL, *, allow_foreign: bool) -> None:
        self.base_url = base_url
        self.allow_foreign = allow_foreign
        self._key = origin_key(base_url)

    def resolve(self, url: str | URL, *, base: URL | None = None) -> URL:
        """An absolute http(s) URL; a malformed or non-HTTP one is a NavigationError."""
        # Hrefs and Location headers come from the server: never a ValueError.
        try:
            target = url if isinstance(url, URL) else URL(str(url))
            if not target.scheme or not target.is_absolute():  # "//host/x" has no scheme
                target = (base or self.base_url).join(target)
        except ValueError as exc:
            raise NavigationError(f"invalid URL {redact(str(url))!r}: {exc}") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise NavigationError(f"refusing to follow a non-HTTP URL {redact(str(target))!r}")
        return target

    def same(self, url: URL) -> bool:
        """Whether ``url`` is on the server's origin (https://h:443/x is https://h/x)."""
        return origin_key(url) == self._key

    def check(self, url: URL) -> bool:
        """Whether ``url`` is on the origin; raise if it is not and that is not allowed."""
        if self.same(url):
            return True
        if not self.allow_foreign:
            raise ForeignOriginError(str(url), str(self.base_url.origin()))
        return False
