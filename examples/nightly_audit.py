"""A nightly audit that finishes across rate-limit windows: run it until it exits 0 or 1.

    RBTOKENS_SERVER=... RBTOKENS_USERNAME=admin RBTOKENS_PASSWORD=... \
    python examples/nightly_audit.py STATE_FILE [LOCAL_SITE ...]

The journal in STATE_FILE lets the next run go on where a rate limit (or a
crash) stopped this one; the report is written only once the audit is
complete. Exit codes: 0 no finding, 1 findings, 75 run again later, 2 failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import rbtokens


async def main() -> int:
    state, *local_sites = sys.argv[1:]
    async with rbtokens.RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        report = await rbtokens.audit(client, local_sites=local_sites, checkpoint=state)
    summary = report.summary
    if summary.retry_at is not None:
        print(f"{summary.users_audited} users so far; run again after {summary.retry_at}")
        return 75
    if not report.complete:
        for failure in report.failures:
            print(f"could not read {failure.username or '(site)'}: {failure.error}")
        return 2
    out = Path(state).with_suffix(".report.json")
    out.touch(mode=0o600)  # it names every user and token
    out.write_bytes(report.to_json())
    print(f"{summary.users_audited} users, {len(report.findings)} findings: {out}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
