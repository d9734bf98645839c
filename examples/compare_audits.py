"""Audit the server and compare it with an earlier audit document: what is new, what is gone.

    RBTOKENS_SERVER=... RBTOKENS_USERNAME=... RBTOKENS_PASSWORD=... \
    python examples/compare_audits.py last.json [tonight.json]

``last.json`` is a saved audit (``rbtokens audit --save last.json``); the
marked report is written to ``tonight.json`` when given.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import msgspec

import rbtokens
from rbtokens.reporting import build_document, read_baseline


async def main() -> None:
    baseline = read_baseline(sys.argv[1])
    async with rbtokens.RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        report = await rbtokens.audit(client)
    comparison = rbtokens.compare(baseline, report, source=sys.argv[1])
    b = comparison.baseline
    print(f"{b.new} new, {b.persisting} persisting, {b.resolved} resolved, {b.unknown} unknown")
    for finding in comparison.new:
        print(f"new       {finding.severity:8} {finding.username or '(server)'}: {finding.rule}")
    for finding in comparison.resolved:
        print(f"resolved  {finding.severity:8} {finding.username or '(server)'}: {finding.rule}")
    if len(sys.argv) > 2:
        doc = build_document(comparison.report, baseline=comparison.baseline)
        out = Path(sys.argv[2])
        out.touch(mode=0o600)  # it names every user and token
        out.write_bytes(msgspec.json.encode(doc))


if __name__ == "__main__":
    asyncio.run(main())
