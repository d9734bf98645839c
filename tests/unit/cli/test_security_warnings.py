"""The command warns when the connection is weakened: ``--insecure``, a password over plain http.

The ``rbtokens`` command against an in-memory Review Board (``FakeReviewBoard``).
"""

from __future__ import annotations

import io

from rbtokens.cli import main as cli_main
from tools.standin.testing import BASE as FAKE_BASE
from tools.standin.testing import FakeReviewBoard


def test_cli_insecure_prints_a_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", FAKE_BASE, "--username", "admin", "--password", fake.password,
            "--insecure", "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "warning" in err.getvalue().lower()
    assert "tls verification is disabled" in err.getvalue().lower()


def test_cli_plain_http_password_prints_a_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", "http://rb.example.com/", "--username", "admin",
            "--password", fake.password, "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "password over plain http" in err.getvalue().lower()
    assert fake.password not in err.getvalue() + out.getvalue()


def test_cli_without_insecure_prints_no_tls_warning() -> None:
    fake = FakeReviewBoard()
    out, err = io.StringIO(), io.StringIO()
    argv = ["--server", FAKE_BASE, "--username", "admin", "--password", fake.password,
            "whoami"]  # fmt: skip
    cli_main(argv, transport=fake.transport, stdout=out, stderr=err)
    assert "tls" not in err.getvalue().lower()
