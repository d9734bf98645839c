"""What a finding carries besides the rule: its mark against a baseline and its waiver.

Both are set by :mod:`.compare` and :mod:`.waivers`, never by the audit itself,
so a plain :func:`~rbtokens.auditing.audit` leaves them ``None``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

__all__ = ["AppliedWaiver", "BaselineMark"]

BaselineMark = Literal["new", "persisting", "unknown", "resolved"]
"""A finding against a baseline report.

``new``: not in the baseline; ``persisting``: in both; ``unknown``: its user
was not audited in both runs (a failure in either), so neither can be said;
``resolved``: in the baseline only (listed in the baseline section).
"""


class AppliedWaiver(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """The accepted risk that waives a finding: why, who accepted it, and until when."""

    reason: str
    accepted_by: str
    expires: date
    """The last day the waiver applies (the audit's own date is compared)."""
