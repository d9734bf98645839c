"""The token verbs' building blocks: where a token lives, and the requests on it.

Every request goes through a resource handle (``root.api_token_at(...)``,
``root.api_tokens_at(...)``) or the token's own links: nothing here builds a
URL. The client is typed as a Protocol, so this package never imports
:mod:`rbtokens.client` (which imports it).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import DoesNotExistError, TokensError
from ..resources import APIToken, ItemRef, Requester, Root, Session
from .checks import PAGE_CAP, TokenRef, check_id, check_username
from .failures import guard

__all__ = ["TokenOps", "TokensClient"]

log = logging.getLogger("rbtokens.tokens")


class TokensClient(Requester, Protocol):
    """What the token verbs need of :class:`~rbtokens.RBClient`."""

    @property
    def uses_api_token(self) -> bool:
        """Whether the client logs in with an API token."""
        ...

    async def get_root(self) -> Root:
        """The API root."""
        ...

    async def get_session(self) -> Session:
        """The session resource."""
        ...


class TokenOps:
    """Low-level token operations for one client, shared by the verbs and rotation."""

    def __init__(self, client: TokensClient) -> None:
        self.client = client
        self._whoami: str | None = None

    def guard(self, action: str, *, crash_hint: str | None = None) -> AbstractContextManager[None]:
        """Turn any failure inside into a :class:`~rbtokens.errors.TokensError` about ``action``."""
        token_auth = bool(getattr(self.client, "uses_api_token", False))
        return guard(action, token_auth=token_auth, crash_hint=crash_hint)

    async def root(self) -> Root:
        """The API root (cached by the client)."""
        return await self.client.get_root()

    async def whoami(self) -> str:
        """The logged-in username, read from the session resource (once per client)."""
        if self._whoami is not None:
            return self._whoami
        with self.guard("read the session"):
            session = await self.client.get_session()
        if not session.authenticated or not session.username:
            raise TokensError("cannot tell whose tokens to manage: the client is not logged in")
        self._whoami = session.username
        return session.username

    async def owner(self, username: str | None) -> str:
        """``username`` checked, or the logged-in user's."""
        return check_username(username) if username is not None else await self.whoami()

    async def ref(self, token: APIToken | int, username: str | None) -> TokenRef:
        """Where ``token`` lives: its own ``self`` link, or the root's template."""
        if isinstance(token, APIToken):
            owner = token.username or await self.owner(username)
            if username is not None and username != owner:
                raise ValueError(f"token {token.id} belongs to {owner!r}, not {username!r}")
            link = token.links.get("self")
            if link is not None:
                return TokenRef(owner, token.id, ItemRef(self.client, link.href, APIToken))
            token_id = token.id
        else:
            token_id = check_id(token)
            owner = await self.owner(username)
        root = await self.root()
        return TokenRef(owner, token_id, root.api_token_at(owner, token_id))

    async def create_for(self, owner: str, fields: Mapping[str, Any]) -> APIToken:
        """POST a new token for ``owner``."""
        root = await self.root()
        token = await root.api_tokens_at(owner).create(**fields)
        log.info("created token %d for %s", token.id, owner)
        return token

    async def tokens_of(self, owner: str) -> builtins.list[APIToken]:
        """Every token of ``owner``, through the one pager."""
        root = await self.root()
        first = await root.api_tokens_at(owner).get(max_results=PAGE_CAP)
        return [t async for t in first.all_items()]

    async def delete_ref(self, ref: TokenRef, attempts: int = 3) -> None:
        """DELETE until a GET says the token is gone.

        Review Board 8.1 answers DELETE with a 204 that carries a body. Its
        14 bytes can stay in a kept-alive connection and break the next
        request on it, which the transport reports as a successful DELETE
        even when the server dropped the request. So check, and repeat.
        """
        for attempt in range(attempts):
            try:
                await ref.item.delete()
            except DoesNotExistError:
                if attempt == 0:
                    raise
                return
            try:
                await ref.item.get()
            except DoesNotExistError:
                return
            log.warning("DELETE of %s was answered but the token still exists; again", ref)
        raise TokensError(
            f"cannot revoke {ref}: the server answered {attempts} DELETE requests but the "
            "token still exists"
        )
