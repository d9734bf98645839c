"""The audit document: what ``-o json`` prints, ``--save`` writes and ``rbtokens report`` reads.

One :class:`Document` holds the report, the baseline and waivers sections
and the remediation, under a ``schema_version``. Its JSON Schema ships with
the package (:mod:`.schema`): every key is required, and none other is
allowed. A key that is not in use is ``null`` (``baseline``, ``waivers``,
``remediation``), never missing.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..auditing import (
    Baseline,
    Failure,
    Finding,
    Report,
    RevokeResult,
    Rules,
    Summary,
    TokenRecord,
    WaiverSection,
)

__all__ = [
    "SCHEMA_VERSION",
    "Document",
    "DocumentError",
    "Remediation",
    "build_document",
    "decode_document",
    "read_baseline",
    "read_document",
]

SCHEMA_VERSION = 1


class DocumentError(ValueError):
    """A file that is not an audit document this version of rbtokens can read."""


class Remediation(msgspec.Struct, kw_only=True):
    """What ``--revoke`` did: revoked (``applied``) or a dry run."""

    applied: bool
    results: list[RevokeResult]


class Document(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One audit, as saved: the report and what was said about it."""

    schema_version: int
    summary: Summary
    tokens: list[TokenRecord]
    findings: list[Finding]
    failures: list[Failure]
    warnings: list[str]
    rules: Rules
    baseline: Baseline | None
    """The comparison with ``--baseline`` (None: no baseline)."""
    waivers: WaiverSection | None
    """What ``--waivers`` did (None: no waivers)."""
    remediation: Remediation | None
    """What ``--revoke`` did (None: no revocation)."""

    @property
    def report(self) -> Report:
        """The audit report itself."""
        return Report(
            summary=self.summary,
            tokens=self.tokens,
            findings=self.findings,
            failures=self.failures,
            warnings=self.warnings,
            rules=self.rules,
        )

    @property
    def revoked(self) -> list[RevokeResult]:
        """The remediation's results (empty without ``--revoke``)."""
        return self.remediation.results if self.remediation is not None else []

    @property
    def dry_run(self) -> bool:
        """True unless the remediation was applied."""
        return self.remediation is None or not self.remediation.applied


def build_document(
    report: Report,
    *,
    baseline: Baseline | None = None,
    waivers: WaiverSection | None = None,
    revoked: list[RevokeResult] | None = None,
    applied: bool = False,
) -> Document:
    """The document of ``report`` (its findings already marked)."""
    return Document(
        schema_version=SCHEMA_VERSION,
        summary=report.summary,
        tokens=report.tokens,
        findings=report.findings,
        failures=report.failures,
        warnings=report.warnings,
        rules=report.rules,
        baseline=baseline,
        waivers=waivers,
        remediation=Remediation(applied=applied, results=revoked) if revoked else None,
    )


class _Version(msgspec.Struct):
    schema_version: int | None = None


def _check_version(raw: bytes, source: str) -> int | None:
    try:
        version = msgspec.json.decode(raw, type=_Version).schema_version
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DocumentError(f"{source}: not an audit document: {exc}") from None
    if version is not None and version > SCHEMA_VERSION:
        raise DocumentError(
            f"{source}: schema_version {version} is newer than this rbtokens reads "
            f"({SCHEMA_VERSION}): upgrade rbtokens"
        )
    return version


def decode_document(raw: bytes, *, source: str = "document") -> Document:
    """A saved audit document (``-o json``, ``--save X.json``), checked as it is decoded."""
    if _check_version(raw, source) is None:
        raise DocumentError(f"{source}: no schema_version: not an rbtokens audit document")
    try:
        return msgspec.json.decode(raw, type=Document)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DocumentError(f"{source}: not a valid audit document: {exc}") from None


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_document(path: str | Path) -> Document:
    """The audit document saved at ``path``."""
    return decode_document(_read(path), source=str(path))


def read_baseline(path: str | Path) -> Report:
    """The report of a baseline document: this version's, or 0.2's ``audit -o json``."""
    raw = _read(path)
    _check_version(raw, str(path))
    try:
        return msgspec.json.decode(raw, type=Report)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DocumentError(f"{path}: not a valid audit document: {exc}") from None
