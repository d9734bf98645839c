"""Settings from options, the environment and .reviewboardrc files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rbtokens.config import ConfigError, config_paths, parse_reviewboardrc, resolve

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
    write_rc(home, REVIEWBOARD_URL="https://home/", USERNAME="home-user", API_TOKEN="t-home")
    write_rc(project, REVIEWBOARD_URL="https://project/")
    s = resolve({}, env=NO_ENV, cwd=sub, home=home)
    assert (s.server, s.username, s.api_token) == ("https://project/", "home-user", "t-home")
    assert s.sources["server"].startswith(str(project))
    assert "USERNAME" in s.sources["username"]


def test_options_then_environment_then_files(tmp_path: Path) -> None:
    write_rc(tmp_path, REVIEWBOARD_URL="https://file/", USERNAME="file-user", PASSWORD="file-pw")
    env = {"RBTOKENS_SERVER": "https://env/", "RBTOKENS_USERNAME": "env-user"}
    s = resolve({"username": "opt-user"}, env=env, cwd=tmp_path, home=tmp_path)
    assert (s.server, s.username, s.password) == ("https://env/", "opt-user", "file-pw")
    assert s.rank("username") == 0 and s.rank("server") == 1 and s.rank("password") == 2
    assert s.rank("api_token") == 3


def test_explicit_config_and_rbtools_config_path(tmp_path: Path) -> None:
    explicit = write_rc(tmp_path / "a", USERNAME="explicit")
    listed = write_rc(tmp_path / "b", USERNAME="listed", REVIEWBOARD_URL="https://listed/")
    env = {"RBTOOLS_CONFIG_PATH": str(listed.parent)}
    assert config_paths(explicit=explicit, env=env, cwd=tmp_path / "a", home=tmp_path) == [
        explicit,
        listed,
    ]
    s = resolve({}, config=explicit, env=env, cwd=tmp_path, home=tmp_path)
    assert (s.username, s.server) == ("explicit", "https://listed/")
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
