"""Whether a login is an administrator's: the only logins the bulk listing is for."""

from __future__ import annotations

from ..errors import AuthenticationError, PermissionDeniedError, RateLimitedError, RBTokensError
from ..resources import Root

__all__ = ["administrator"]


async def administrator(root: Root) -> tuple[bool, str]:
    """Whether the login may read another user's token list, and the evidence, in words.

    Users are compared by id, not name: a login may be an e-mail address.
    """
    session = await root.get_session(expand="user")
    me = session.user or await session.get_user(only_fields="id,username", only_links="")
    users = await root.get_users(
        include_inactive=True, max_results=2, only_fields="id,username", only_links=""
    )
    other = next((u for u in users if u.id != me.id), None)
    if other is None:
        return False, "there is no other user to show administrator rights with"
    try:
        await root.api_tokens_at(other.username).get(max_results=1, only_fields="id", only_links="")
    except PermissionDeniedError:
        return False, (
            f"the login may not read other users' token lists ({other.username}'s answered "
            "403): it is not an administrator's"
        )
    except (AuthenticationError, RateLimitedError):
        raise
    except RBTokensError as exc:
        return False, f"it could not be shown that the login is an administrator's ({exc})"
    return True, f"an administrator's password login (it may read {other.username}'s token list)"
