#!/usr/bin/env python3
"""rbtokens against RBTools 7.0 and a bare aiohttp + msgspec floor, in one run.

    python benchmarks/run.py [--users 1000,2000] [--quick] [--repeat 3]

For each users count, the stand-in (``python -m tools.standin``, its own process,
20 ms added to every response, users with 0 to 3 tokens of mixed kinds)
serves the same audit to:

* ``rbtokens audit -o json --concurrency 32`` (the CLI, a whole process);
* ``benchmarks/floor_audit.py`` (bare aiohttp + msgspec, concurrency 32);
* ``benchmarks/rbtools_audit.py --threads 32`` (RBTools, a 32-thread pool);
* ``benchmarks/rbtools_audit.py`` (RBTools, sequential, its default cache).

Then the same with no delay, to compare client CPU. Then the decode cost of
a 200-token page (``benchmarks/decode.py``) and the peak memory of an audit
over 100,000 tokens (``benchmarks/memory.py``). Results go to
``benchmarks/RESULTS.md`` and ``benchmarks/results.json``.

Benchmarks are not tests: nothing here fails on a slow result; the targets
are reported as met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import decode
import memory
from harness import (
    PYTHON,
    Contender,
    Measurement,
    StandInProcess,
    floor_cmd,
    machine_info,
    measure,
    rbtokens_cmd,
    rbtools_cmd,
    rbtools_env,
    run_child,
    standin,
)

HERE = Path(__file__).resolve().parent
DELAY = 0.02


def _check(m: Measurement, expected: int) -> None:
    if m.exit_code != 0 or m.tokens_seen != expected:
        raise RuntimeError(
            f"{m.name}: exit {m.exit_code}, saw {m.tokens_seen} tokens, expected {expected}"
        )


def _contenders(
    server: StandInProcess, repeat: int, *, sequential_repeat: int, no_cache: bool
) -> dict[str, Measurement]:
    expected = server.stats()["dataset"]["tokens"]
    url = server.url
    fast: dict[str, Contender] = {
        "rbtokens": (rbtokens_cmd(url), None),
        "floor": (floor_cmd(url), None),
        "rbtools32": (rbtools_cmd(url, 32), rbtools_env),
    }
    slow: dict[str, Contender] = {"rbtools_seq": (rbtools_cmd(url, 1), rbtools_env)}
    if no_cache:
        slow["rbtools_seq_nocache"] = (rbtools_cmd(url, 1, no_cache=True), rbtools_env)
    # One unmeasured warm-up of each fast contender (bytecode cache, file cache).
    for cmd, env in fast.values():
        run_child("warm-up", cmd, env=env() if env else None)
    out = measure(fast, server, repeat=repeat)
    out.update(measure(slow, server, repeat=sequential_repeat))
    for m in out.values():
        _check(m, expected)
    return out


def _startup() -> dict[str, Any]:
    """What starting each kind of process costs before any request."""
    cmds = {
        "rbtokens_import": [PYTHON, "-c", "import rbtokens.cli"],
        "floor_import": [PYTHON, "-c", "import aiohttp, msgspec"],
        "rbtools_import": [PYTHON, "-c", "import rbtools.api.client"],
    }
    out = {}
    for name, cmd in cmds.items():
        run_child(name, cmd)
        runs = sorted((run_child(name, cmd)[0] for _ in range(3)), key=lambda m: m.wall)
        out[name] = runs[1].as_dict()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default=None, help="comma-separated (default 1000,2000)")
    parser.add_argument("--quick", action="store_true", help="300 users, one run each")
    parser.add_argument("--repeat", type=int, default=None, help="runs per fast contender")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument(
        "--render", action="store_true", help="only rewrite --out from benchmarks/results.json"
    )
    args = parser.parse_args()
    if args.render:
        saved = json.loads((HERE / "results.json").read_text())
        saved["targets"] = targets(saved)
        Path(args.out).write_text(render(saved))
        print(render_targets(saved["targets"]))
        return 0
    quick = args.quick
    users_list = [int(u) for u in (args.users or ("300" if quick else "1000,2000")).split(",")]
    repeat = args.repeat or (1 if quick else 5)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "quick": quick,
        "repeat": repeat,
        "delay": DELAY,
        "latency": {},
    }

    for users in users_list:
        print(f"== {users} users, {DELAY * 1000:.0f} ms per response", flush=True)
        with standin(users=users, delay=DELAY, seed=args.seed) as server:
            ds = server.stats()["dataset"]
            runs = _contenders(server, repeat, sequential_repeat=1, no_cache=False)
        results["latency"][str(users)] = {
            "dataset": ds,
            "runs": {k: m.as_dict() for k, m in runs.items()},
        }
        _print_runs(runs)

    users = users_list[0]
    print(f"== {users} users, no delay (CPU)", flush=True)
    with standin(users=users, delay=0, seed=args.seed) as server:
        ds = server.stats()["dataset"]
        runs = _contenders(server, repeat, sequential_repeat=repeat, no_cache=True)
    results["cpu"] = {
        "users": users,
        "dataset": ds,
        "runs": {k: m.as_dict() for k, m in runs.items()},
    }
    _print_runs(runs)

    print("== startup (imports only)", flush=True)
    results["startup"] = _startup()

    print("== decode, 200-token page", flush=True)
    results["decode"] = decode.run(quick=quick)
    print(json.dumps(results["decode"], indent=1))

    print("== memory", flush=True)
    results["memory"] = memory.run(users=100 if quick else 500, tokens=200)
    for key in ("rbtokens", "floor"):
        print(f"{key:9} peak RSS {results['memory'][key]['maxrss_mb']:.1f} MB")

    results["elapsed_s"] = time.perf_counter() - started
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    Path(args.out).write_text(render(results))
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(render_targets(results["targets"]))
    print(f"\nwrote {args.out} ({results['elapsed_s']:.0f} s)")
    return 0


def _print_runs(runs: dict[str, Measurement]) -> None:
    base = runs["rbtokens"]
    for name, m in runs.items():
        print(
            f"  {name:20} wall {m.wall:6.2f} s  cpu {m.cpu:5.2f} s  rss {m.maxrss_mb:5.0f} MB  "
            f"requests {m.server_requests}  logins {m.server_logins}  "
            f"wall/rbtokens {m.wall / base.wall:5.2f}  cpu/rbtokens {m.cpu / base.cpu:5.2f}",
            flush=True,
        )


# -- targets and the report ------------------------------------------------------


def targets(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue: the measured ratio and whether it is met."""
    out: list[dict[str, Any]] = []

    def add(what: str, value: float, op: str, limit: float, unit: str = "x") -> None:
        met = value >= limit if op == ">=" else value <= limit
        out.append(
            {"target": what, "value": value, "op": op, "limit": limit, "unit": unit, "met": met}
        )

    for users, block in res["latency"].items():
        r = block["runs"]
        t, f, r32, seq = r["rbtokens"], r["floor"], r["rbtools32"], r["rbtools_seq"]
        add(
            f"{users} users, 20 ms: RBTools sequential wall / rbtokens",
            seq["wall"] / t["wall"],
            ">=",
            15,
        )
        add(
            f"{users} users, 20 ms: RBTools 32 threads wall / rbtokens",
            r32["wall"] / t["wall"],
            ">=",
            1.3,
        )
        add(
            f"{users} users, 20 ms: rbtokens CPU / RBTools 32 threads CPU",
            t["cpu"] / r32["cpu"],
            "<=",
            0.35,
        )
        add(f"{users} users, 20 ms: rbtokens wall / floor wall", t["wall"] / f["wall"], "<=", 1.15)
    r = res["cpu"]["runs"]
    t = r["rbtokens"]
    add(
        f"{res['cpu']['users']} users, no delay: rbtokens CPU / floor CPU",
        t["cpu"] / r["floor"]["cpu"],
        "<=",
        1.25,
    )
    cheapest = min(
        (r[k] for k in ("rbtools32", "rbtools_seq", "rbtools_seq_nocache") if k in r),
        key=lambda m: m["cpu"],
    )
    add(
        f"{res['cpu']['users']} users, no delay: rbtokens CPU / RBTools CPU "
        f"(cheapest RBTools variant: {cheapest['name']})",
        t["cpu"] / cheapest["cpu"],
        "<=",
        0.4,
    )
    add(
        "decode of a 200-token page, rbtokens decode_response",
        res["decode"]["rbtokens_decode_us"],
        "<=",
        4.0,
        " µs/token",
    )
    add(
        f"peak RSS of an audit over {res['memory']['tokens']} tokens",
        res["memory"]["rbtokens"]["maxrss_mb"],
        "<=",
        150.0,
        " MB",
    )
    return out


def render_targets(rows: list[dict[str, Any]]) -> str:
    lines = ["| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for row in rows:
        unit = row["unit"]
        lines.append(
            f"| {row['target']} | {row['value']:.2f}{unit} | {row['op']} {row['limit']:g}{unit} | "
            f"{'yes' if row['met'] else '**no**'} |"
        )
    return "\n".join(lines)


_LABELS = {
    "rbtokens": "rbtokens audit (CLI, c=32)",
    "floor": "bare aiohttp + msgspec floor (c=32)",
    "rbtools32": "RBTools 7.0, 32 threads",
    "rbtools_seq": "RBTools 7.0, sequential (default cache)",
    "rbtools_seq_nocache": "RBTools 7.0, sequential, allow_caching=False",
}


def _runs_table(runs: dict[str, Any]) -> str:
    base = runs["rbtokens"]
    lines = [
        "| client | wall s | CPU s (user+sys) | peak RSS MB | requests | password checks "
        "| wall ÷ rbtokens | CPU ÷ rbtokens |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, m in runs.items():
        lines.append(
            f"| {_LABELS.get(key, key)} | {m['wall']:.2f} | {m['cpu']:.2f} | "
            f"{m['maxrss_mb']:.0f} | {m['server_requests']} | {m['server_logins']} | "
            f"{m['wall'] / base['wall']:.2f} | {m['cpu'] / base['cpu']:.2f} |"
        )
    return "\n".join(lines)


NOTES = [
    "- **rbtokens**: `rbtokens audit -o json --concurrency 32 --fail-on never`. It asks for "
    "only the fields an audit reads (`only-fields`, `only-links=`), as Review Board allows.",
    "- **Floor**: `benchmarks/floor_audit.py`, the same requests with bare aiohttp and msgspec: "
    "one login, concurrency 32, minimal Structs, no retries and no error handling.",
    "- **RBTools sequential**: `benchmarks/rbtools_audit.py`: `RBClient(url, username=..., "
    "password=...)`, `root.get_users(include_inactive=1, max_results=200)` and `get_next()`, "
    "`user.get_api_tokens(max_results=200)` for each user. RBTools' defaults apply, including "
    "its sqlite HTTP cache (a fresh `HOME` per run).",
    "- **RBTools, 32 threads**: the same calls in a 32-thread pool sharing one client with "
    "`allow_caching=False`. One client per thread does not work: RBTools installs its urllib "
    "opener process-wide (`install_opener`), so every client sends through the opener, cookie "
    "jar and one-shot Basic header of the last one created, and threads get 401s. Its cache "
    "cannot be shared either (an sqlite connection bound to one thread).",
    "- Password checks are counted by the stand-in (Basic logins it verified).",
]


def _marginal(res: dict[str, Any]) -> list[str]:
    """CPU per extra request, between the smallest and largest users counts at 20 ms.

    Process start-up (interpreter, imports) cancels out, so this is what each
    client spends per request once running.
    """
    sizes = sorted(res["latency"], key=int)
    if len(sizes) < 2:
        return []
    small, large = res["latency"][sizes[0]]["runs"], res["latency"][sizes[-1]]["runs"]
    lines = [
        f"## CPU per request, start-up excluded ({sizes[0]} → {sizes[-1]} users, 20 ms)",
        "",
        "| client | ms of CPU per extra request | ÷ rbtokens |",
        "|---|---:|---:|",
    ]
    per = {}
    for key in small:
        extra = large[key]["server_requests"] - small[key]["server_requests"]
        per[key] = (large[key]["cpu"] - small[key]["cpu"]) / extra * 1000
    for key, value in per.items():
        lines.append(f"| {_LABELS.get(key, key)} | {value:.3f} | {value / per['rbtokens']:.2f} |")
    return [*lines, ""]


def render(res: dict[str, Any]) -> str:
    mach = res["machine"]
    v = mach["versions"]
    parts = [
        "# Benchmarks: rbtokens vs RBTools 7.0 vs a bare aiohttp floor",
        "",
        f"Measured {res['date']} with `python benchmarks/run.py"
        f"{' --quick' if res['quick'] else ''}` ({res['elapsed_s']:.0f} s).",
        "",
        f"Machine: {mach['cpu']}, {mach['cpus']} CPUs, {mach['memory']}; Python {mach['python']}; "
        f"aiohttp {v['aiohttp']}, msgspec {v['msgspec']}, RBTools {v['rbtools']}, "
        f"rbtokens {v['rbtokens']}. CPU pinning: {mach['pinning']}. Load average "
        f"{mach['load_average'][0]} at the start, {res['load_average_end'][0]} at the end "
        "(other work on the machine makes the numbers noisier).",
        "",
        "Every client runs as its own process and is measured whole (interpreter start, imports, "
        "audit, output): wall time, CPU = user + sys of the child (`os.wait4`), peak RSS. The "
        "server is `python -m tools.standin` in another process: Review Board 8.1's payloads, "
        "paging and session cookie. The fast contenders run interleaved, "
        f"{res['repeat']} times each (medians shown); RBTools sequential runs once at 20 ms and "
        f"{res['repeat']} times with no delay. Bytecode is cached (as for an installed package).",
        "",
        "## Targets",
        "",
        render_targets(res["targets"]),
        "",
        *(
            [
                "With `--quick` (300 users) start-up dominates: the targets are meant for 1,000 "
                "to 2,000 users.",
                "",
            ]
            if res["quick"]
            else []
        ),
        "## How each client was run",
        "",
        *NOTES,
        "",
    ]
    for users, block in res["latency"].items():
        ds = block["dataset"]
        parts += [
            f"## {users} users, 20 ms per response",
            "",
            f"{ds['users']} users ({ds['active_users']} active), {ds['tokens']} tokens.",
            "",
            _runs_table(block["runs"]),
            "",
        ]
    parts += _marginal(res)
    cpu = res["cpu"]
    parts += [
        f"## {cpu['users']} users, no delay (client CPU)",
        "",
        _runs_table(cpu["runs"]),
        "",
        "Process start-up alone (imports, no request), CPU seconds: "
        + ", ".join(f"{k.replace('_import', '')} {m['cpu']:.2f}" for k, m in res["startup"].items())
        + ".",
        "",
    ]
    d = res["decode"]
    parts += [
        "## Decode cost, one 200-token page",
        "",
        f"A full page ({d['page_bytes']} bytes) as Review Board 8.1 sends it; best of several "
        "repeats, per token.",
        "",
        "| what | µs per token |",
        "|---|---:|",
        f"| rbtokens `decode_response` (bytes → `ListResource[APIToken]`) | "
        f"{d['rbtokens_decode_us']:.2f} |",
        f"| rbtokens, decode + read 11 fields | {d['rbtokens_decode_read_us']:.2f} |",
        f"| rbtokens, the page an audit fetches (`only-fields`, {d['audit_page_bytes']} bytes) | "
        f"{d['rbtokens_audit_page_us']:.2f} |",
        f"| RBTools: json + `create_resource` + iterate + read 11 fields | {d['rbtools_us']:.2f} |",
        "",
    ]
    if "rbtokens_expanded_us" in d:  # results.json files from before it was measured
        # A user plus its 2 tokens from plain pages (decode.py's fast path);
        # results.json files from before it was saved get it computed.
        plain = d.get(
            "rbtokens_plain_equivalent_us", d["rbtokens_users_us"] + 2 * d["rbtokens_decode_us"]
        )
        parts += [
            f"A 100-user page with `expand=api_tokens` (200 tokens inlined, "
            f"{d['expanded_page_bytes']} bytes) takes {d['rbtokens_expanded_us']:.2f} µs per "
            f"user: {d['expanded_overhead']:.1f} times the cost of the same objects from "
            f"plain pages ({plain:.2f} µs per user: the user, "
            f"{d['rbtokens_users_us']:.2f} µs, and its 2 tokens).",
            "",
        ]
    m = res["memory"]
    parts += [
        f"## Peak memory, audit of {m['tokens']} tokens ({m['users']} users, 200 each)",
        "",
        "| client | peak RSS MB | wall s | CPU s |",
        "|---|---:|---:|---:|",
        f"| rbtokens audit -o json | {m['rbtokens']['maxrss_mb']:.0f} | "
        f"{m['rbtokens']['wall']:.2f} | {m['rbtokens']['cpu']:.2f} |",
        f"| bare floor | {m['floor']['maxrss_mb']:.0f} | {m['floor']['wall']:.2f} | "
        f"{m['floor']['cpu']:.2f} |",
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
