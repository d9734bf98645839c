"""``--save FILE``: report files written atomically, mode 0600, under a lock.

Each file's format comes from its extension (:data:`SAVE_FORMATS`). A run
takes a lock on every file it will write before the audit starts
(``FILE.lock`` next to it, held with ``flock``, naming the holder), so a
second run that would write the same file stops at once and says who holds
it. The kernel drops the lock of a process that dies, so a killed run never
leaves a file locked. A file is written only when the audit has ended: into
a temporary file in the same directory (``.FILE.<random>.tmp``, mode 0600),
flushed to disk, then renamed over the old one. A run interrupted or killed
before that leaves the last report as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TextIO

from .args import UsageError

__all__ = ["SAVE_FORMATS", "FileLock", "SaveLocks", "SaveTarget", "save_targets", "write_atomic"]

SAVE_FORMATS = {
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".csv": "csv",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".html": "html",
    ".htm": "html",
}


@dataclass(frozen=True)
class SaveTarget:
    """One ``--save`` file and the format its extension names."""

    path: Path
    fmt: str


def save_targets(paths: Sequence[str]) -> list[SaveTarget]:
    """The ``--save`` files, checked before anything runs."""
    targets: list[SaveTarget] = []
    seen: set[Path] = set()
    for text in paths:
        path = Path(text)
        fmt = SAVE_FORMATS.get(path.suffix.lower())
        if fmt is None:
            known = ", ".join(sorted(SAVE_FORMATS))
            raise UsageError(f"--save {text}: the extension names no format (use {known})")
        if path.is_dir():
            raise UsageError(f"--save {text}: is a directory")
        key = path.resolve()
        if key in seen:
            raise UsageError(f"--save {text}: given twice")
        seen.add(key)
        targets.append(SaveTarget(path, fmt))
    return targets


class FileLock:
    """An exclusive, non-blocking lock on ``FILE`` through ``FILE.lock`` (``flock``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self, holder: str) -> None:
        """Take the lock, writing ``holder`` into the lock file; :class:`UsageError` if held."""
        try:
            import fcntl  # noqa: PLC0415 - POSIX only: the rest of the command runs anywhere
        except ImportError:
            raise UsageError("--save needs file locks (fcntl): not on this system") from None
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise UsageError(f"--save {self.path}: cannot lock it: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise UsageError(
                    f"--save {self.path}: another run is writing it ({who}; lock file "
                    f"{self.lock_path}): wait for it to end"
                ) from None
            # The last holder unlinks the file when done: make sure ours is still the one there.
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, holder.encode("utf-8"))
        self._fd = fd

    def release(self) -> None:
        """Drop the lock and remove the lock file."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.lock_path)
        os.close(self._fd)
        self._fd = None


def _holder(command: str) -> str:
    started = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return f"{command}, pid {os.getpid()} on {socket.gethostname()}, since {started}"


class SaveLocks:
    """Every ``--save`` file's lock, held from before the audit until its files are written."""

    def __init__(self, targets: Sequence[SaveTarget], *, command: str) -> None:
        self._locks = [FileLock(t.path) for t in targets]
        self._command = command

    def __enter__(self) -> SaveLocks:
        holder = _holder(self._command)
        taken: list[FileLock] = []
        try:
            for lock in self._locks:
                lock.acquire(holder)
                taken.append(lock)
                _remove_stale_temporaries(lock.path)
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for lock in self._locks:
            lock.release()


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of runs killed while writing ``path`` (we hold its lock: none is live)."""
    pattern = os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")
    for stale in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.unlink(stale)


def write_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write ``path`` through ``write(file)``: a 0600 temporary file, then a rename."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on disk
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
