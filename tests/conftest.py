"""Suite-wide plugins.

``secretscan`` fails the run if a password or token value shows up in any
test's captured output, log records or failure report (see tests/secretscan.py).
Tests register extra secrets with ``secretscan.register_secret`` or the
``secrets_registry`` fixture. ``realsite`` provides the real Review Board
sites (``rb_site``, ``rate_limited_site``).
"""

pytest_plugins = ["secretscan", "require_integration", "realsite"]
