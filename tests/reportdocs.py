"""Audit documents for the rendering tests: marked, waived, hostile, and big."""

from __future__ import annotations

import random
from datetime import date

import msgspec
from reportkit import DAY, NOW, finding, record, report, user_failure

from rbtokens.auditing import RevokeResult, Waiver, apply_waivers, compare
from rbtokens.reporting import Document, build_document

#: Server text that must stay text, everywhere it lands.
PROBES = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "'><svg onload=alert(3)>",
)


def full_document() -> Document:
    """A document with every section in use: baseline, waivers, remediation, a failure."""
    old = report([finding("no-expiry", "alice", 1), finding("stale", "bob", 2)])
    new = report(
        [finding("no-expiry", "alice", 1), finding("unrestricted-policy", "carol", 3)],
        tokens=[record("alice", 1), record("bob", 2), record("carol", 3)],
        failures=[user_failure("dave")],
        warnings=["a warning"],
    )
    comparison = compare(old, new, source="prev.json")
    waivers = [
        Waiver(rule="no-expiry", user="alice", reason="service", accepted_by="root",
               expires=date(2027, 1, 1)),
        Waiver(rule="stale", user="nobody", reason="gone", accepted_by="root",
               expires=date(2027, 1, 1)),
    ]  # fmt: skip
    marked, section = apply_waivers(comparison.report, waivers, source="waivers.yaml")
    revoked = [RevokeResult(username="carol", token_id=3, rules=["unrestricted-policy"],
                            action="would-revoke")]  # fmt: skip
    return build_document(marked, baseline=comparison.baseline, waivers=section, revoked=revoked)


def hostile_document() -> Document:
    """Every piece of server text is a probe: notes, usernames, messages, errors, the server."""
    findings, tokens = [], []
    for n, probe in enumerate(PROBES, 1):
        f = msgspec.structs.replace(finding("no-expiry", probe, n), message=f"message {probe}")
        findings.append(f)
        tokens.append(record(probe, n, note=f"note {probe}"))
    failures = [user_failure(PROBES[0], f"error {PROBES[1]}")]
    base = report(
        findings,
        tokens=tokens,
        failures=failures,
        warnings=[f"warning {PROBES[2]}"],
        server="javascript:alert(4)//" + PROBES[1],
    )
    old = report([finding("stale", PROBES[3], 99)], tokens=[record(PROBES[3], 99)])
    comparison = compare(old, base, source=f"prev {PROBES[0]}.json")
    waiver = Waiver(rule="no-expiry", user=PROBES[1], reason=f"reason {PROBES[0]}",
                    accepted_by=PROBES[3], expires=date(2099, 1, 1))  # fmt: skip
    marked, section = apply_waivers(comparison.report, [waiver], source=PROBES[2])
    return build_document(marked, baseline=comparison.baseline, waivers=section)


def big_document(users: int = 10_000, tokens: int = 15_000) -> Document:
    """A site of ``users`` users and ``tokens`` tokens, most with a finding, like the demo's."""
    rng = random.Random(14)
    rules = ["no-expiry", "stale", "never-used", "expired", "unrestricted-policy",
             "deprecated-generator", "expiring-soon", "invalid", "inactive-owner"]  # fmt: skip
    records, findings = [], []
    for token_id in range(1, tokens + 1):
        user = f"user_{rng.randrange(users):05d}"
        records.append(record(user, token_id, time_added=NOW - rng.randrange(900) * DAY,
                              note=f"token {token_id} for the build farm"))  # fmt: skip
        if rng.random() < 0.6:
            findings.append(finding(rng.choice(rules), user, token_id))
    r = report(findings, tokens=records)
    return build_document(r)
