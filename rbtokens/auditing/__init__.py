"""Token audits: which API tokens on a server are a risk.

:func:`audit` walks every user (inactive ones too: their tokens still work)
and every token, judges each token from its metadata alone (it never logs in
with a token), and returns a :class:`Report`. :func:`audit_stream` yields the
findings as they are found. :func:`revoke_findings` deletes the tokens behind
chosen findings, as a dry run unless ``apply=True``.

* :mod:`.ruleset`: rule names, severities, :class:`Rules`;
* :mod:`.rules`: the rules, a table of small functions; :mod:`.judge` applies them;
* :mod:`.walk`: the users walk and the worker :mod:`.pool`;
* :mod:`.exposure`: the ``secrets-exposed`` check;
* :mod:`.report`: what a run returns; :mod:`.run`: :func:`audit` and
  :func:`audit_stream`; :mod:`.remediate`: :func:`revoke_findings`;
* :mod:`.compare`: :func:`compare` with a baseline report (new, persisting,
  resolved, unknown); :mod:`.waivers`: accepted risks, :func:`apply_waivers`.

Rules and default severities (change them with :class:`Rules`):

====================  ========  ==============================================
rule                  severity  a finding for
====================  ========  ==============================================
secrets-exposed       critical  a server that shows token secrets to anyone
unrestricted-policy   high      a usable token whose global policy denies nothing
inactive-owner        medium    a usable token whose owner is inactive
no-expiry             medium    a usable token that never expires
deprecated-generator  medium    a usable token in the legacy SHA-1 format
stale                 low       a usable token last used over 90 days ago
never-used            low       a usable token added over 30 days ago, unused
too-many-tokens       low       a user with more than 10 tokens (per user)
expiring-soon         info      a usable token expiring within 14 days
expired               info      an expired token still on record
invalid               info      an invalidated token still on record
====================  ========  ==============================================

A token is *usable* when it is valid and not expired (the server's ``valid``
ignores expiry). *Usable* describes the token, not its owner: Review Board
refuses every token of an inactive user (401), but the token works again if
the account is reactivated, which is what ``inactive-owner`` reports.
"""

from .choose import WalkChoice
from .compare import Baseline, BaselineMarker, Comparison, compare
from .exposure import Exposure
from .judge import judge_tokens
from .protocols import ProgressCallback
from .remediate import RevokeResult, revoke_findings, validate_revoke_rules
from .report import (
    ExposureCheck,
    Failure,
    Finding,
    Report,
    Summary,
    TokenRecord,
    WalkKind,
    failed_report,
)
from .ruleset import DEFAULT_SEVERITIES, RULES, SERVER_RULES, USER_RULES, Rules, Severity
from .run import AuditStream, audit, audit_stream
from .waivers import (
    Waiver,
    WaiverError,
    WaiverMarker,
    WaiverSection,
    WaiverStatus,
    apply_waivers,
    load_waivers,
    parse_waivers,
)
from .walk import FORBIDDEN_LIMIT, TOKEN_FIELDS

__all__ = [
    "DEFAULT_SEVERITIES",
    "FORBIDDEN_LIMIT",
    "RULES",
    "SERVER_RULES",
    "TOKEN_FIELDS",
    "USER_RULES",
    "AuditStream",
    "Baseline",
    "BaselineMarker",
    "Comparison",
    "Exposure",
    "ExposureCheck",
    "Failure",
    "Finding",
    "ProgressCallback",
    "Report",
    "RevokeResult",
    "Rules",
    "Severity",
    "Summary",
    "TokenRecord",
    "Waiver",
    "WaiverError",
    "WaiverMarker",
    "WaiverSection",
    "WaiverStatus",
    "WalkChoice",
    "WalkKind",
    "apply_waivers",
    "audit",
    "audit_stream",
    "compare",
    "failed_report",
    "judge_tokens",
    "load_waivers",
    "parse_waivers",
    "revoke_findings",
    "validate_revoke_rules",
]
