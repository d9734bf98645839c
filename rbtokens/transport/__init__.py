"""The transport seam: one ``send`` method plus ``aclose``.

:mod:`.aiohttp` holds the only import of aiohttp in rbtokens.
:class:`MockTransport` ships in the library so that users can test their own
code without a network, as httpx does.
"""

from .aiohttp import AiohttpTransport
from .base import DEFAULT_MAX_BODY, Request, Response, Timeouts, Transport, parse_set_cookies
from .mock import MockTransport, json_response

__all__ = [
    "DEFAULT_MAX_BODY",
    "AiohttpTransport",
    "MockTransport",
    "Request",
    "Response",
    "Timeouts",
    "Transport",
    "json_response",
    "parse_set_cookies",
]
