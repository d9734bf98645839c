"""An audit's journal (``--state FILE``): what is done, so that a stopped audit can go on.

One JSON line per record, append-only, one writer:

* a header: the format, rbtokens' version, the server, the login, the rules,
  the Local Sites and named users, and the first run's ``now`` and start;
* one line per user audited (its site, activity, token records and
  findings: never a secret);
* the secrets-exposed check's outcome on each site, once it settled;
* ``{"done": true}`` when an audit finished complete.

Each line is written as it comes, so a killed run loses no finished user;
lines are fsynced in batches (200 users or 2 seconds), so a crash of the
machine loses at most the last batch. A torn last line is ignored. The file and its lock
are created with mode 0600: they name every user and token. A second run on
the same journal is refused (``flock`` on ``FILE.lock``, which says who holds
it). A finished journal is not resumed: the next run starts afresh. One that
is older than ``max_age``, or from another server, login, rule set or
rbtokens version, is refused with :class:`~rbtokens.errors.JournalError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from .._version import __version__
from ..errors import JournalError, JournalLockedError
from .exposure import Exposure
from .report import Finding, TokenRecord
from .ruleset import Rules

__all__ = ["Done", "Header", "Journal", "new_header", "open_journal"]

FORMAT = 1
_BATCH = 200  # users between fsyncs
_INTERVAL = 2.0  # seconds between fsyncs


class Header(msgspec.Struct, kw_only=True):
    """What the audit was, so that another one is never merged into it."""

    journal: int
    rbtokens: str
    server: str
    login: str | None
    rules: Rules
    local_sites: list[str]
    users: list[str] | None
    now: datetime
    started_at: datetime


class Done(msgspec.Struct, kw_only=True, gc=False):
    """One user audited: everything the report needs of it."""

    user: str
    site: str | None = None
    active: bool
    records: list[TokenRecord]
    findings: list[Finding]


class _Line(msgspec.Struct, kw_only=True):
    user: str | None = None
    site: str | None = None
    active: bool = True
    records: list[TokenRecord] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)
    exposure: Exposure | None = None
    done: bool = False


class Journal:
    """An open journal: the header, what earlier runs did, and the file to append to."""

    def __init__(self, path: Path, header: Header, lock: int) -> None:
        self.path = path
        self.header = header
        self.users: dict[tuple[str | None, str], Done] = {}
        self.exposures: dict[str | None, Exposure] = {}
        self.resumed = False
        self._lock = lock
        self._fd: int | None = None
        self._unsynced = 0
        self._synced = time.monotonic()
        self._encoder = msgspec.json.Encoder()

    # -- writing ------------------------------------------------------------------

    def record(self, done: Done) -> None:
        """Keep one user's results (written with the next batch)."""
        self.users[done.site, done.user] = done
        self._append(_Line(**msgspec.structs.asdict(done)))

    def record_exposure(self, site: str | None, exposure: Exposure) -> None:
        """Keep the secrets-exposed check's outcome on ``site`` (None: the global site)."""
        self.exposures[site] = exposure
        self._append(_Line(site=site, exposure=exposure))
        self.sync()

    def finish(self) -> None:
        """Mark the audit finished: the next run starts afresh."""
        self._append(_Line(done=True))
        self.sync()

    def _append(self, line: _Line) -> None:
        assert self._fd is not None
        os.write(self._fd, self._encoder.encode(line) + b"\n")  # a killed process loses nothing
        self._unsynced += 1
        if self._unsynced >= _BATCH or time.monotonic() - self._synced > _INTERVAL:
            self.sync()

    def sync(self) -> None:
        """fsync what was written: then a crash of the machine loses nothing either."""
        if self._unsynced and self._fd is not None:
            os.fsync(self._fd)
        self._unsynced = 0
        self._synced = time.monotonic()

    def close(self) -> None:
        """Sync, then let go of the file and the lock."""
        try:
            self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock)

    # -- reading ------------------------------------------------------------------

    def _load(self, lines: Sequence[bytes]) -> bool:
        """Take what earlier runs recorded; True when the audit had finished."""
        decoder = msgspec.json.Decoder(_Line)
        for raw in lines:
            try:
                line = decoder.decode(raw)
            except msgspec.DecodeError:
                continue  # a torn last line: that user is read again
            if line.done:
                return True
            if line.exposure is not None:
                self.exposures[line.site] = line.exposure
            elif line.user is not None:
                self.users[line.site, line.user] = Done(
                    user=line.user,
                    site=line.site,
                    active=line.active,
                    records=line.records,
                    findings=line.findings,
                )
        return False


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise JournalLockedError(
            f"{path} is in use by another audit ({holder}): two runs may not share a journal"
        ) from None
    holder = f"pid {os.getpid()} on {socket.gethostname()} since {_zulu(datetime.now(UTC))}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    return fd


@contextlib.contextmanager
def open_journal(
    path: str | os.PathLike[str], wanted: Header, *, max_age: timedelta, fresh: bool = False
) -> Iterator[Journal]:
    """Lock ``path`` and resume it, or start it afresh; the header of a resumed one wins.

    Raises :class:`~rbtokens.errors.JournalError` for a journal too old or of
    another audit, :class:`~rbtokens.errors.JournalLockedError` while another
    run holds it.
    """
    where = Path(path)
    lock = _lock(where)
    try:
        journal = _resume(where, wanted, max_age, lock) if not fresh else None
        if journal is None:
            journal = Journal(where, wanted, lock)
            journal._fd = fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, msgspec.json.encode(wanted) + b"\n")
            os.fsync(fd)
    except BaseException:
        os.close(lock)
        raise
    try:
        yield journal
    finally:
        journal.close()


def _resume(path: Path, wanted: Header, max_age: timedelta, lock: int) -> Journal | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    first, _, rest = raw.partition(b"\n")
    try:
        header = msgspec.json.decode(first, type=Header)
    except msgspec.DecodeError:
        raise JournalError(
            f"{path} is not an rbtokens journal (its first line is no header); "
            "run with --fresh to start over"
        ) from None
    journal = Journal(path, header, lock)
    if journal._load(rest.splitlines()):
        return None  # a finished audit: start afresh
    _check(path, header, wanted, max_age)
    journal.resumed = True
    journal._fd = fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    if not raw.endswith(b"\n"):
        os.ftruncate(fd, raw.rfind(b"\n") + 1)  # drop a torn last line before appending
    return journal


def _check(path: Path, header: Header, wanted: Header, max_age: timedelta) -> None:
    age = datetime.now(UTC) - header.started_at
    if age > max_age:
        raise JournalError(
            f"{path} was started {_hours(age)} ago, more than the {_hours(max_age)} a journal "
            "may be resumed after: its findings would be stale. Run with --fresh to start over"
        )
    mine: dict[str, Any] = msgspec.structs.asdict(wanted)
    theirs: dict[str, Any] = msgspec.structs.asdict(header)
    for name in ("journal", "rbtokens", "server", "login", "rules", "local_sites", "users"):
        if theirs[name] != mine[name]:
            raise JournalError(
                f"{path} belongs to another audit (its {name.replace('_', ' ')} is "
                f"{_shown(theirs[name])}, this audit's is {_shown(mine[name])}); nothing is "
                "merged: run with --fresh to start over, or give another --state file"
            )


def new_header(
    *,
    server: str,
    login: str | None,
    rules: Rules,
    local_sites: list[str],
    users: list[str] | None,
    now: datetime,
) -> Header:
    """The header of a journal for this audit."""
    return Header(
        journal=FORMAT,
        rbtokens=__version__,
        server=server,
        login=login,
        rules=rules,
        local_sites=local_sites,
        users=users,
        now=now,
        started_at=datetime.now(UTC),
    )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def _shown(value: Any) -> str:
    if isinstance(value, Rules):
        return "another rule set"
    return repr(value) if not isinstance(value, dict) else "another rule set"


def _zulu(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
