"""The request choke point: send (origin, redirects), retry, and auth (login, cookie, lockout).

It sits on the transport and the wire layer and knows nothing of resources.

Authentication: one login (the first request, sent with the credentials)
gives a session cookie that later requests carry. Only the login itself
holds the login lock. When the server ends the session (a 401, or an answer
deleting the cookie), the client logs in once more and replays the request
if it is a GET, HEAD or DELETE (a 401 is always replayed, as the server
refused it); a POST or PUT served anonymously raises
:class:`~rbtokens.errors.AuthenticationError`. Credentials go with every
request only when the server answers a successful login without a cookie. A
refused login is never sent again; a lockout is not retried before the next
minute.
"""

from .auth import SESSION_COOKIE, Auth
from .budget import waiting_allowed
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
    "waiting_allowed",
]
