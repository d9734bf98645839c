"""Shared pieces of the benchmarks: the stand-in process and measured child processes.

Every contender runs as its own process and is measured as a whole: wall time
from spawn to exit, CPU time (user + sys from ``os.wait4``) and peak RSS
(``ru_maxrss``). The stand-in server runs in another process; on a machine
with two or more CPUs the server is pinned to the last CPU and the clients to
the others, so they do not compete for a core.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PYTHON = sys.executable
ADMIN = ("admin", "admin")


def cpu_sets() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs), or (None, None) when there is one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


SERVER_CPUS, CLIENT_CPUS = cpu_sets()

# Compiled bytecode is cached, as it is for an installed package: without it
# (PYTHONDONTWRITEBYTECODE=1, as on some CI machines) every process compiles
# rbtokens' source again, about 60 ms of CPU. The cache lives outside the repo.
PYCACHE = tempfile.mkdtemp(prefix="rbtokens-bench-pycache-")
_TEMP_DIRS = [PYCACHE]


@atexit.register
def _cleanup() -> None:
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every child process."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env.update(extra or {})
    return env


@dataclass
class Measurement:
    """One measured child process."""

    name: str
    wall: float
    user: float
    sys: float
    maxrss_mb: float
    exit_code: int
    tokens_seen: int | None = None
    server_requests: int | None = None
    server_logins: int | None = None
    runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def cpu(self) -> float:
        """user + sys seconds."""
        return self.user + self.sys

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cpu"] = self.cpu
        return data


class StandInProcess:
    """The stand-in (``python -m tools.standin``) in its own process."""

    def __init__(self, **options: Any) -> None:
        args = [PYTHON, "-m", "tools.standin", "--port", "0"]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=child_env(),
            preexec_fn=_pin(SERVER_CPUS),  # noqa: PLW1509 - only sets the CPU affinity
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http"):
            self.log.seek(0)
            raise RuntimeError(f"the stand-in did not start: {self.log.read().decode()}")
        self.url = line

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "__standin__/stats", timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def reset_stats(self) -> None:
        req = urllib.request.Request(self.url + "__standin__/reset-stats", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@contextmanager
def standin(**options: Any) -> Iterator[StandInProcess]:
    """Run the stand-in for the duration of a ``with`` block."""
    proc = StandInProcess(**options)
    try:
        yield proc
    finally:
        proc.close()


def _pin(cpus: set[int] | None) -> Any:
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def run_child(
    name: str, cmd: Sequence[str], *, env: dict[str, str] | None = None
) -> tuple[Measurement, bytes]:
    """Run ``cmd`` to completion; measure it and return its stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=err,
            env=env or child_env(),
            preexec_fn=_pin(CLIENT_CPUS),  # noqa: PLW1509 - only sets the CPU affinity
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
        if proc.returncode != 0:
            err.seek(0)
            sys.stderr.write(f"{name} exited {proc.returncode}: {err.read()[-2000:].decode()}\n")
    m = Measurement(
        name=name,
        wall=wall,
        user=usage.ru_utime,
        sys=usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        exit_code=proc.returncode,
        tokens_seen=_tokens_seen(stdout),
    )
    return m, stdout


def _tokens_seen(stdout: bytes) -> int | None:
    try:
        data = json.loads(stdout)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("summary"), dict):
        data = data["summary"]
    seen = data.get("tokens_seen") if isinstance(data, dict) else None
    return seen if isinstance(seen, int) else None


Contender = tuple[Sequence[str], Callable[[], dict[str, str]] | None]
"""A command, and what builds its environment (None: the default one)."""


def measure(
    contenders: Mapping[str, Contender], server: StandInProcess, *, repeat: int = 1
) -> dict[str, Measurement]:
    """Run every contender ``repeat`` times, interleaved (A B C A B C ...).

    Interleaving spreads any drift of the machine's load over every
    contender alike. Reported: the median wall time, the median user and sys
    times and the largest peak RSS; every run is kept in ``runs``.
    """
    runs: dict[str, list[Measurement]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (cmd, env) in contenders.items():
            server.reset_stats()
            m, _ = run_child(name, cmd, env=env() if env else None)
            stats = server.stats()
            m.server_requests = stats["requests"] - 1  # less this stats request
            m.server_logins = stats["logins"]
            runs[name].append(m)
    out = {}
    for name, ms in runs.items():
        first = ms[0]
        out[name] = Measurement(
            name=name,
            wall=median([m.wall for m in ms]),
            user=median([m.user for m in ms]),
            sys=median([m.sys for m in ms]),
            maxrss_mb=max(m.maxrss_mb for m in ms),
            exit_code=max(ms, key=lambda m: abs(m.exit_code)).exit_code,
            tokens_seen=first.tokens_seen,
            server_requests=first.server_requests,
            server_logins=first.server_logins,
            runs=[{"wall": m.wall, "cpu": m.cpu, "maxrss_mb": m.maxrss_mb} for m in ms],
        )
        if any(m.tokens_seen != first.tokens_seen for m in ms):
            out[name].tokens_seen = None  # flagged as wrong by the caller
    return out


def rbtools_env() -> dict[str, str]:
    """An environment whose HOME (cookies, cache) is a fresh temporary directory."""
    home = tempfile.mkdtemp(prefix="rbtools-home-")
    _TEMP_DIRS.append(home)
    env = child_env({"HOME": home, "XDG_CACHE_HOME": os.path.join(home, ".cache")})
    env.pop("RBTOOLS_CONFIG_PATH", None)
    return env


def rbtokens_cmd(url: str, concurrency: int = 32) -> list[str]:
    """``rbtokens audit`` as a process (its console script's module)."""
    return [
        PYTHON,
        "-m",
        "rbtokens",
        "audit",
        "--server",
        url,
        "--username",
        ADMIN[0],
        "--password",
        ADMIN[1],
        "-o",
        "json",
        "--concurrency",
        str(concurrency),
        "--fail-on",
        "never",
    ]


def floor_cmd(url: str, concurrency: int = 32) -> list[str]:
    return [
        PYTHON,
        str(BENCH / "floor_audit.py"),
        "--server",
        url,
        "--username",
        ADMIN[0],
        "--password",
        ADMIN[1],
        "--concurrency",
        str(concurrency),
    ]


def rbtools_cmd(url: str, threads: int, *, no_cache: bool = False) -> list[str]:
    cmd = [
        PYTHON,
        str(BENCH / "rbtools_audit.py"),
        "--server",
        url,
        "--username",
        ADMIN[0],
        "--password",
        ADMIN[1],
        "--threads",
        str(threads),
    ]
    if no_cache:
        cmd.append("--no-cache")
    return cmd


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    versions = {}
    for dist in ("aiohttp", "msgspec", "rbtools", "rbtokens"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "?"
    return {
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "pinning": (
            f"server on CPU {sorted(SERVER_CPUS)}, clients on CPU {sorted(CLIENT_CPUS)}"
            if SERVER_CPUS and CLIENT_CPUS
            else "none"
        ),
    }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
