"""Token verbs' failures: any rbtokens error becomes a :class:`~rbtokens.errors.TokensError`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..errors import (
    DoesNotExistError,
    HTTPStatusError,
    InvalidFormDataError,
    PasswordLoginRequiredError,
    PermissionDeniedError,
    PolicyError,
    RBTokensError,
    ServerBugError,
    TokenGenerationError,
    TokenNotFoundError,
    TokensError,
    first_error,
)

__all__ = ["CRASH_MISSING_USER", "CRASH_POLICY", "guard", "translate"]

# What an HTML 500 means, where Review Board 8.1 is known to crash.
CRASH_POLICY = "Review Board 8.1 does this for a policy it cannot validate"
CRASH_MISSING_USER = (
    "Review Board 8.1 does this when a non-administrator names a user that does not exist"
)


def translate(
    exc: BaseException, action: str, *, token_auth: bool, crash_hint: str | None = None
) -> TokensError:
    """The :class:`TokensError` for a failure of ``action``.

    ``crash_hint`` explains an HTML 500 where Review Board 8.1 is known to
    crash for that request; other 500s are reported as plain crashes.
    """
    if isinstance(exc, TokensError):
        return exc
    if isinstance(exc, PermissionDeniedError):
        if token_auth:
            return PasswordLoginRequiredError(
                f"cannot {action}: Review Board does not let an API-token login manage "
                "API tokens (HTTP 403); log in with a username and password",
                cause=exc,
            )
        return TokensError(
            f"cannot {action}: permission denied (HTTP 403, code {exc.error_code}); only the "
            "tokens' owner or an administrator may manage them",
            cause=exc,
        )
    if isinstance(exc, DoesNotExistError) or (
        isinstance(exc, HTTPStatusError) and exc.http_status == 404
    ):
        return TokenNotFoundError(
            f"cannot {action}: the token or its owner does not exist (HTTP 404)", cause=exc
        )
    if isinstance(exc, InvalidFormDataError) and "policy" in exc.fields:
        return PolicyError(
            f"cannot {action}: the server rejected the policy: {' '.join(exc.fields['policy'])}",
            cause=exc,
        )
    if isinstance(exc, ServerBugError):
        hint = f"; {crash_hint}" if crash_hint else ""
        return TokensError(f"cannot {action}: the server crashed (HTML 500){hint}", cause=exc)
    if isinstance(exc, TokenGenerationError):
        return TokensError(
            f"cannot {action}: the server's token generator collided (code 228) on every "
            "attempt; nothing was created, so it is safe to try again",
            cause=exc,
        )
    return TokensError(f"cannot {action}: {exc}", cause=exc)


@contextlib.contextmanager
def guard(action: str, *, token_auth: bool, crash_hint: str | None = None) -> Iterator[None]:
    """Turn any rbtokens failure inside into a :class:`TokensError` about ``action``."""
    try:
        yield
    except TokensError:
        raise
    except BaseExceptionGroup as group:
        inner = first_error(group)
        if isinstance(inner, TokensError):
            raise inner from inner.__cause__
        if isinstance(inner, RBTokensError):
            raise translate(inner, action, token_auth=token_auth, crash_hint=crash_hint) from inner
        raise
    except RBTokensError as exc:
        raise translate(exc, action, token_auth=token_auth, crash_hint=crash_hint) from exc
