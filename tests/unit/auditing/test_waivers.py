"""Waivers: accepted findings are marked, expired waivers stop working, unmatched ones show."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from reportkit import NOW, finding, report

from rbtokens.auditing import Waiver, WaiverError, apply_waivers, load_waivers, parse_waivers


def waiver(**kw: object) -> Waiver:
    fields: dict[str, object] = {
        "rule": "no-expiry",
        "user": "svc",
        "reason": "deploy token, rotated by the vault",
        "accepted_by": "alice",
        "expires": date(2027, 6, 30),
    }
    fields.update(kw)
    return Waiver(**fields)  # type: ignore[arg-type]


def test_a_waiver_in_force_marks_its_findings_with_the_reason() -> None:
    r = report([finding("no-expiry", "svc", 1), finding("no-expiry", "bob", 2)])
    marked, section = apply_waivers(r, [waiver()], source="waivers.yaml")
    svc, bob = marked.findings
    assert svc.waiver is not None and svc.waiver.reason == "deploy token, rotated by the vault"
    assert svc.waiver.accepted_by == "alice" and bob.waiver is None
    assert (section.waived, section.applied, section.expired, section.unmatched) == (1, 1, 0, 0)
    assert section.waivers[0].state == "applied" and section.waivers[0].findings == 1
    assert marked.at_least("medium", waived=False) == [bob]


def test_an_expired_waiver_stops_working_and_says_so() -> None:
    r = report([finding("no-expiry", "svc", 1)])
    marked, section = apply_waivers(r, [waiver(expires=date(2026, 11, 30))])
    assert marked.findings[0].waiver is None
    assert section.waivers[0].state == "expired" and section.waivers[0].findings == 1
    assert section.expired == 1 and section.waived == 0


def test_a_waiver_applies_through_its_last_day_on_the_audits_clock() -> None:
    r = report([finding("no-expiry", "svc", 1)], now=NOW)
    marked, _ = apply_waivers(r, [waiver(expires=NOW.date())])
    assert marked.findings[0].waiver is not None


def test_a_waiver_that_matches_nothing_is_reported() -> None:
    _, section = apply_waivers(report([finding("stale", "svc", 1)]), [waiver()])
    assert section.waivers[0].state == "unmatched" and section.unmatched == 1


def test_a_token_waiver_covers_that_token_only() -> None:
    r = report([finding("no-expiry", "svc", 1), finding("no-expiry", "svc", 2)])
    marked, _ = apply_waivers(r, [waiver(token=2)])
    assert [f.waiver is not None for f in marked.findings] == [False, True]


def test_a_waiver_without_a_local_site_covers_the_global_site_only() -> None:
    r = report(
        [finding("no-expiry", "svc", 1), finding("no-expiry", "svc", 9, local_site="tenant-a")],
        sites=[None, "tenant-a"],
    )
    marked, _ = apply_waivers(r, [waiver()])
    assert [f.waiver is not None for f in marked.findings] == [True, False]
    marked, _ = apply_waivers(r, [waiver(local_site="tenant-a")])
    assert [f.waiver is not None for f in marked.findings] == [False, True]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "nope"}, "unknown rule"),
        ({"rule": "secrets-exposed"}, "cannot be waived"),
        ({"rule": "too-many-tokens", "token": 3}, "give no token"),
        ({"reason": "  "}, "reason must not be empty"),
        ({"expires": "soon"}, "date"),
        ({"expiry": "2027-01-01"}, "unknown field"),
    ],
)
def test_invalid_waivers_are_refused_with_their_place(
    change: dict[str, object], message: str
) -> None:
    item = {
        "rule": "no-expiry",
        "user": "svc",
        "reason": "r",
        "accepted_by": "a",
        "expires": "2027-01-01",
        **change,
    }
    with pytest.raises(WaiverError, match=message) as info:
        parse_waivers([item], source="w.yaml")
    assert "w.yaml: waiver 1" in str(info.value)


def test_the_file_is_yaml_a_list_or_a_waivers_mapping(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "waivers:\n"
        "  - rule: no-expiry\n    user: svc\n    token: 4\n    reason: service\n"
        "    accepted_by: alice\n    expires: 2027-06-30\n"
    )
    assert load_waivers(path) == [waiver(token=4, reason="service")]
    path.write_text("- {rule: stale, user: bob, reason: r, accepted_by: a, expires: 2027-01-01}\n")
    assert [w.rule for w in load_waivers(path)] == ["stale"]
    path.write_text("waivers: 3\n")
    with pytest.raises(WaiverError, match="expected a list"):
        load_waivers(path)
    with pytest.raises(WaiverError, match=r"missing\.yaml"):
        load_waivers(tmp_path / "missing.yaml")


def test_the_readmes_example_is_a_valid_waivers_file() -> None:
    import re  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = re.search(r"```yaml\n(waivers:.*?)```", readme, re.S)
    assert block is not None
    (w,) = parse_waivers(yaml.safe_load(block.group(1)))
    assert (w.rule, w.token, w.local_site, w.expires) == (
        "no-expiry",
        42,
        "tenant-a",
        date(2027, 6, 30),
    )
