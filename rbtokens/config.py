"""Where the command line finds the server and credentials.

Each setting comes from the first of these that has it:

1. command-line options (``--server``, ``--username``, ``--password``,
   ``--api-token``);
2. environment variables ``RBTOKENS_SERVER``, ``RBTOKENS_USERNAME``,
   ``RBTOKENS_PASSWORD``, ``RBTOKENS_API_TOKEN``;
3. RBTools' ``.reviewboardrc`` files (``REVIEWBOARD_URL``, ``USERNAME``,
   ``PASSWORD``, ``API_TOKEN``): an explicit ``--config`` file, then
   ``$RBTOOLS_CONFIG_PATH``, then the current directory and its parents,
   then the home directory. The nearest file wins.

Credentials never travel between servers: a ``.reviewboardrc`` gives its
``USERNAME``, ``PASSWORD`` and ``API_TOKEN`` only when its own
``REVIEWBOARD_URL`` is the server in use (compared after normalising scheme,
host, port and path; see :func:`same_server`). Otherwise they are ignored and
:attr:`Settings.notes` says so. Options and ``RBTOKENS_*`` variables are the
user's explicit choice and are always used, whatever the server.

A ``.reviewboardrc`` is Python syntax. It is parsed with :mod:`ast` and only
plain literal assignments (``NAME = "value"``) are read; nothing in it runs.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

__all__ = [
    "CONFIG_FILENAME",
    "ENV_PREFIX",
    "ConfigError",
    "Settings",
    "config_paths",
    "normalise_server",
    "parse_reviewboardrc",
    "resolve",
    "same_server",
]

CONFIG_FILENAME = ".reviewboardrc"
ENV_PREFIX = "RBTOKENS_"

#: Our setting name → the ``.reviewboardrc`` key RBTools uses for it.
RC_KEYS: Mapping[str, str] = {
    "server": "REVIEWBOARD_URL",
    "username": "USERNAME",
    "password": "PASSWORD",
    "api_token": "API_TOKEN",
}
ENV_KEYS: Mapping[str, str] = {name: ENV_PREFIX + name.upper() for name in RC_KEYS}


class ConfigError(ValueError):
    """A configuration file cannot be read or parsed."""


def parse_reviewboardrc(text: str, *, filename: str = CONFIG_FILENAME) -> dict[str, Any]:
    """The literal top-level assignments of a ``.reviewboardrc``, never executing it.

    ``A = 1``, ``A: str = "x"`` and ``A = B = "x"`` are read when the value is a
    Python literal; anything else (calls, names, f-strings) is skipped.
    """
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise ConfigError(f"{filename}:{exc.lineno}: not valid Python syntax: {exc.msg}") from None
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                values[target.id] = literal
    return values


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_server(url: str) -> tuple[str, str, int | None, str] | None:
    """``(scheme, host, port, path)`` of a server URL, for comparing servers.

    The scheme and host are lower-cased, a default port is made explicit and
    the path ends with ``/``; user info, query and fragment are dropped.
    ``None`` when ``url`` is not an absolute http(s) URL.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    path = parts.path or "/"
    if not path.endswith("/"):
        path += "/"
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme], path


def _shown(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def same_server(a: str, b: str) -> bool:
    """Whether two server URLs name the same Review Board (see :func:`normalise_server`)."""
    na = normalise_server(a)
    return na is not None and na == normalise_server(b)


def _parents(start: Path) -> Iterator[Path]:
    yield start
    yield from start.parents


def config_paths(
    *,
    explicit: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> list[Path]:
    """The ``.reviewboardrc`` files that exist, nearest (highest priority) first."""
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file")
        candidates.append(path)
    for entry in env.get("RBTOOLS_CONFIG_PATH", "").split(os.pathsep):
        if entry:
            path = Path(entry).expanduser()
            candidates.append(path / CONFIG_FILENAME if path.is_dir() else path)
    try:
        here = cwd if cwd is not None else Path.cwd()
    except OSError:
        here = None
    if here is not None:
        candidates.extend(directory / CONFIG_FILENAME for directory in _parents(here))
    try:
        home_dir = home if home is not None else Path.home()
    except RuntimeError:
        home_dir = None
    if home_dir is not None:
        candidates.append(home_dir / CONFIG_FILENAME)
    found: list[Path] = []
    seen: set[Path] = set()
    for path in candidates:
        try:
            real = path.resolve()
        except OSError:
            continue
        if real not in seen and path.is_file():
            seen.add(real)
            found.append(path)
    return found


class Settings(msgspec.Struct, frozen=True):
    """The resolved connection settings, and where each came from."""

    server: str | None = None
    username: str | None = None
    password: str | None = None
    api_token: str | None = None
    sources: Mapping[str, str] = msgspec.field(default_factory=dict)
    #: Why something found in a ``.reviewboardrc`` was not used (for stderr).
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Never show the password or token, only whether and where they were found.
        secret = {k: self.sources.get(k) for k in ("password", "api_token")}
        return (
            f"Settings(server={self.server!r}, username={self.username!r}, "
            f"password={'***' if self.password else None}, "
            f"api_token={'***' if self.api_token else None}, secrets_from={secret})"
        )

    def rank(self, name: str) -> int:
        """How strong the source of ``name`` is: 0 (option) is the strongest."""
        source = self.sources.get(name, "")
        if source.startswith("--"):
            return 0
        if source.startswith(ENV_PREFIX):
            return 1
        return 2 if source else 3


def resolve(
    options: Mapping[str, str | None],
    *,
    config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> Settings:
    """Merge options, environment and ``.reviewboardrc`` files into :class:`Settings`.

    ``options`` maps ``server``, ``username``, ``password`` and ``api_token``
    to the command-line values (``None`` when not given).
    """
    env = os.environ if env is None else env
    values: dict[str, str | None] = dict.fromkeys(RC_KEYS)
    sources: dict[str, str] = {}
    notes: list[str] = []
    for name in RC_KEYS:
        given = options.get(name)
        if given:
            values[name] = given
            sources[name] = "--" + name.replace("_", "-")
            continue
        from_env = env.get(ENV_KEYS[name])
        if from_env:
            values[name] = from_env
            sources[name] = ENV_KEYS[name]
    if any(values[name] is None for name in RC_KEYS):
        files: list[tuple[Path, dict[str, Any]]] = []
        for path in config_paths(explicit=config, env=env, cwd=cwd, home=home):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read: {exc}") from None
            files.append((path, parse_reviewboardrc(text, filename=str(path))))
        key = RC_KEYS["server"]
        if values["server"] is None:
            for path, data in files:
                url = data.get(key)
                if isinstance(url, str) and url:
                    values["server"] = url
                    sources["server"] = f"{path} ({key})"
                    break
        server = values["server"]
        for path, data in files:
            url = data.get(key)
            matches = server is not None and isinstance(url, str) and same_server(url, server)
            for name, rc_key in RC_KEYS.items():
                value = data.get(rc_key)
                if name == "server" or not (isinstance(value, str) and value):
                    continue
                if values[name] is not None:
                    continue
                if not matches:
                    where = (
                        f"is for {_shown(url)}" if isinstance(url, str) and url else f"has no {key}"
                    )
                    notes.append(
                        f"{path}: ignoring {rc_key}: the file {where}, "
                        f"not the server in use ({_shown(server) if server else 'none'})"
                    )
                    continue
                values[name] = value
                sources[name] = f"{path} ({rc_key})"
    return Settings(
        server=values["server"],
        username=values["username"],
        password=values["password"],
        api_token=values["api_token"],
        sources=sources,
        notes=tuple(notes),
    )
