"""The ``report`` verb: render a saved audit document, with no server contact.

``rbtokens report AUDIT.json`` prints (``-o``) and saves (``--save``) the
document exactly as the audit that wrote it did, in any format. With
``--baseline`` or ``--waivers`` it marks the findings again; without, the
document's own marks stay. Exit codes are the audit's.
"""

from __future__ import annotations

import argparse

from ..reporting import DocumentError, read_document
from .args import UsageError
from .delivery import Delivery
from .output import Output

__all__ = ["cmd_report"]


def cmd_report(args: argparse.Namespace, out: Output) -> int:
    try:
        saved = read_document(args.document)
    except DocumentError as exc:
        raise UsageError(str(exc)) from None
    delivery = Delivery(args, command="rbtokens report")
    if delivery.fail_on_new and delivery.baseline is None and saved.baseline is None:
        raise UsageError("--fail-on-new needs --baseline (or a document compared with one)")
    with delivery:
        doc = delivery.document(
            saved.report,
            saved.revoked,
            applied=not saved.dry_run,
            kept=saved,
        )
        delivery.deliver(out, doc)
    return delivery.exit_code(doc)
