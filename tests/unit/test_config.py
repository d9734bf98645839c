"""Settings from options, the environment and .reviewboardrc files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbtokens.config import (
    ConfigError,
    config_paths,
    normalise_server,
    parse_reviewboardrc,
    resolve,
    same_server,
)

NO_ENV: dict[str, str] = {}


def test_parses_literal_assignments_only() -> None:
    text = """
REVIEWBOARD_URL = "https://rb.example.com/"
USERNAME: str = 'alice'
API_TOKEN = A2 = "rbp_abc"
TREES = {"/src": {"REVIEWBOARD_URL": "x"}}
PORT = 80 + 1
HOME = os.environ["HOME"]
"""
    data = parse_reviewboardrc(text)
    assert data == {
        "REVIEWBOARD_URL": "https://rb.example.com/",
        "USERNAME": "alice",
        "API_TOKEN": "rbp_abc",
        "A2": "rbp_abc",
        "TREES": {"/src": {"REVIEWBOARD_URL": "x"}},
    }


def test_never_executes_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"""
import os
open({str(marker)!r}, "w").write("x")
USERNAME = __import__("os").system("touch {marker}") or "bob"
REVIEWBOARD_URL = "https://rb.example.com/"
"""
    data = parse_reviewboardrc(text)
    assert data == {"REVIEWBOARD_URL": "https://rb.example.com/"}
    assert not marker.exists()


def test_syntax_errors_name_the_file() -> None:
    with pytest.raises(ConfigError, match=r"rc:2: not valid Python"):
        parse_reviewboardrc("A = 1\nB = (\n", filename="rc")


def write_rc(directory: Path, **values: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".reviewboardrc"
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()))
    return path


def test_the_nearest_file_wins(tmp_path: Path) -> None:
    home = tmp_path / "home"
    project = tmp_path / "work" / "project"
    sub = project / "src"
    sub.mkdir(parents=True)
    write_rc(home, REVIEWBOARD_URL="https://project", USERNAME="home-user", API_TOKEN="t-home")
    write_rc(project, REVIEWBOARD_URL="https://project/", USERNAME="project-user")
    s = resolve({}, env=NO_ENV, cwd=sub, home=home)
    assert (s.server, s.username, s.api_token) == ("https://project/", "project-user", "t-home")
    assert s.sources["server"].startswith(str(project))
    assert s.sources["username"].startswith(str(project))
    assert s.sources["api_token"].startswith(str(home))
    assert s.notes == ()


def test_credentials_are_only_taken_from_a_file_for_the_same_server(tmp_path: Path) -> None:
    """A --server X must not receive the secrets a .reviewboardrc keeps for server Y."""
    write_rc(
        tmp_path,
        REVIEWBOARD_URL="https://corp.example.com/",
        USERNAME="me",
        PASSWORD="corp-pw",
        API_TOKEN="rbp_corp",
    )
    s = resolve({"server": "https://evil.example/"}, env=NO_ENV, cwd=tmp_path, home=tmp_path)
    assert (s.server, s.username, s.password, s.api_token) == (
        "https://evil.example/",
        None,
        None,
        None,
    )
    assert len(s.notes) == 3
    assert all("corp.example.com" in n and "evil.example" in n for n in s.notes)
    assert "corp-pw" not in " ".join(s.notes) and "rbp_corp" not in " ".join(s.notes)
    # The same server, spelt differently, still gets them.
    s = resolve({"server": "HTTPS://Corp.Example.com:443"}, env=NO_ENV, cwd=tmp_path, home=tmp_path)
    assert (s.username, s.password, s.api_token) == ("me", "corp-pw", "rbp_corp")
    # A server from the environment is the server in use too.
    env = {"RBTOKENS_SERVER": "https://other.example/"}
    s = resolve({}, env=env, cwd=tmp_path, home=tmp_path)
    assert (s.password, s.api_token) == (None, None)
    # Explicit environment credentials are the user's choice and are kept.
    env = {"RBTOKENS_SERVER": "https://other.example/", "RBTOKENS_PASSWORD": "env-pw"}
    assert resolve({}, env=env, cwd=tmp_path, home=tmp_path).password == "env-pw"


def test_a_file_without_a_server_gives_no_credentials(tmp_path: Path) -> None:
    write_rc(tmp_path / "home", USERNAME="u", PASSWORD="pw")
    s = resolve({"server": "https://rb/"}, env=NO_ENV, cwd=tmp_path, home=tmp_path / "home")
    assert (s.username, s.password) == (None, None)
    assert any("has no REVIEWBOARD_URL" in n for n in s.notes)


def test_the_note_hides_user_info_in_urls(tmp_path: Path) -> None:
    write_rc(tmp_path, REVIEWBOARD_URL="https://u:sekrit@corp/", PASSWORD="pw")
    s = resolve({"server": "https://x:y@other/"}, env=NO_ENV, cwd=tmp_path, home=tmp_path)
    assert s.password is None and s.notes
    assert "sekrit" not in s.notes[0] and ":y@" not in s.notes[0]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://rb.example.com", "https://rb.example.com/", True),
        ("https://RB.example.com:443/", "https://rb.example.com/", True),
        ("http://rb:80/", "http://rb/", True),
        ("https://rb/reviews", "https://rb/reviews/", True),
        ("http://rb/", "https://rb/", False),
        ("https://rb:8443/", "https://rb/", False),
        ("https://rb/a/", "https://rb/b/", False),
        ("https://rb.example.com.evil/", "https://rb.example.com/", False),
        ("not a url", "not a url", False),
    ],
)
def test_same_server(a: str, b: str, same: bool) -> None:
    assert same_server(a, b) is same
    assert normalise_server("https://rb/") == ("https", "rb", 443, "/")


def test_options_then_environment_then_files(tmp_path: Path) -> None:
    write_rc(tmp_path, REVIEWBOARD_URL="https://env/", USERNAME="file-user", PASSWORD="file-pw")
    env = {"RBTOKENS_SERVER": "https://env/", "RBTOKENS_USERNAME": "env-user"}
    s = resolve({"username": "opt-user"}, env=env, cwd=tmp_path, home=tmp_path)
    assert (s.server, s.username, s.password) == ("https://env/", "opt-user", "file-pw")
    assert s.rank("username") == 0 and s.rank("server") == 1 and s.rank("password") == 2
    assert s.rank("api_token") == 3


def test_explicit_config_and_rbtools_config_path(tmp_path: Path) -> None:
    explicit = write_rc(tmp_path / "a", USERNAME="explicit", REVIEWBOARD_URL="https://listed")
    listed = write_rc(tmp_path / "b", USERNAME="listed", REVIEWBOARD_URL="https://listed/")
    env = {"RBTOOLS_CONFIG_PATH": str(listed.parent)}
    assert config_paths(explicit=explicit, env=env, cwd=tmp_path / "a", home=tmp_path) == [
        explicit,
        listed,
    ]
    s = resolve({}, config=explicit, env=env, cwd=tmp_path, home=tmp_path)
    assert (s.username, s.server) == ("explicit", "https://listed")
    assert s.sources["server"].startswith(str(explicit))
    with pytest.raises(ConfigError, match="no such configuration file"):
        resolve({}, config=tmp_path / "missing", env=NO_ENV, cwd=tmp_path, home=tmp_path)


def test_repr_hides_secrets() -> None:
    s = resolve(
        {"server": "https://x/", "password": "hunter22", "api_token": "rbp_secret123"},
        env=NO_ENV,
        cwd=Path("/"),
        home=Path("/nonexistent"),
    )
    text = repr(s)
    assert "hunter22" not in text and "rbp_secret123" not in text
    assert "https://x/" in text
