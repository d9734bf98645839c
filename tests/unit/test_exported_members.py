"""Pin the public API: a change to ``rbtokens.__all__`` is a deliberate one."""

from __future__ import annotations

import rbtokens
from rbtokens import errors

EXPORTED = [
    "APIError",
    "APIToken",
    "AiohttpTransport",
    "AuditStream",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ClientStats",
    "Comparison",
    "ConnectError",
    "Count",
    "DecodeError",
    "DoesNotExistError",
    "FULL_ACCESS",
    "Failure",
    "Finding",
    "ForeignOriginError",
    "GenericItem",
    "HTTPStatusError",
    "InvalidFormDataError",
    "InvalidateNotPersistedError",
    "ItemResource",
    "JournalError",
    "JournalLockedError",
    "Link",
    "ListResource",
    "LoginFailedError",
    "LoginLockedOutError",
    "MockTransport",
    "NavigationError",
    "NotLoggedInError",
    "POLICY_IDS",
    "Pager",
    "PasswordLoginRequiredError",
    "PermissionDeniedError",
    "Policy",
    "PolicyError",
    "Product",
    "RBClient",
    "RBTokensError",
    "RBTokensWarning",
    "READ_ONLY",
    "RateLimitedError",
    "Report",
    "Request",
    "RequestTimeout",
    "Response",
    "ResponseError",
    "ResponseTooLarge",
    "RetryPolicy",
    "RevokeResult",
    "Root",
    "Rotation",
    "RotationError",
    "Rules",
    "ServerBugError",
    "ServerInfo",
    "Session",
    "Severity",
    "SiteInfo",
    "Summary",
    "Timeouts",
    "TokenGenerationError",
    "TokenNotFoundError",
    "TokenRecord",
    "Tokens",
    "TokensError",
    "Transport",
    "TransportError",
    "UNSET",
    "UnexpectedContentType",
    "User",
    "Waiver",
    "__version__",
    "apply_waivers",
    "audit",
    "audit_stream",
    "compare",
    "is_allowed",
    "is_unrestricted",
    "policy_warnings",
    "revoke_findings",
    "validate_policy",
]


def test_the_public_api_is_pinned() -> None:
    """Adding or removing a public name is a decision: update this list with it."""
    assert sorted(rbtokens.__all__) == EXPORTED


def test_all_names_exist() -> None:
    for name in rbtokens.__all__:
        assert hasattr(rbtokens, name), name


def test_every_error_is_under_the_root() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, rbtokens.RBTokensError), name


def test_error_tree_is_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert name in doc, f"{name} is missing from the tree in errors.py"
