"""The request choke point: send (origin, redirects), retry, and auth (login, cookie, lockout).

It sits on the transport and the wire layer and knows nothing of resources.
"""

from .auth import SESSION_COOKIE, Auth
from .channel import Channel
from .origin import Origin, is_loopback
from .retry import RetryPolicy
from .stats import ClientStats

__all__ = [
    "SESSION_COOKIE",
    "Auth",
    "Channel",
    "ClientStats",
    "Origin",
    "RetryPolicy",
    "is_loopback",
]
