"""Suite-wide plugins.

``secretscan`` fails the run if a password or token value shows up in any
test's captured output, log records or failure report (see tests/secretscan.py).
Tests register extra secrets with ``secretscan.register_secret`` or the
``secrets_registry`` fixture. ``realsite`` provides the real Review Board
sites (``rb_site``, ``rate_limited_site``). ``fixture_secrets`` registers the
token values of the captured payloads (``tests/fixtures/``) up front.
"""

from collections.abc import Callable

import pytest
from payloads import body

pytest_plugins = ["secretscan", "require_integration", "realsite"]


@pytest.fixture
def fixture_secrets(secrets_registry: Callable[[str | None], None]) -> None:
    # The scanner's decoding tap registers the tokens it decodes, expanded ones
    # included; many payloads of the expanded tests fail to decode on purpose, so
    # the fixture's secrets are registered up front.
    secrets_registry(body("api-token.json")["api_token"]["token"])
    for token in body("api-tokens.json")["api_tokens"]:
        secrets_registry(token["token"])
