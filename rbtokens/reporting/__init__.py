"""Reports as documents and pages: the saved document, its JSON Schema, and the HTML report.

* :mod:`.document`: :class:`Document`, the one shape ``-o json`` prints,
  ``--save`` writes and ``rbtokens report`` reads, with its ``schema_version``;
* :mod:`.schema`: its JSON Schema, shipped in the package
  (``audit-document.schema.json``);
* :mod:`.charts`: the numbers behind the HTML report's charts (pure);
* :mod:`.html`: the self-contained HTML report (Jinja2, inline SVG charts,
  a Content-Security-Policy that allows nothing from the network).

This layer sits above :mod:`rbtokens.auditing` and below the command.
"""

from .document import (
    SCHEMA_VERSION,
    Document,
    DocumentError,
    Remediation,
    build_document,
    decode_document,
    read_baseline,
    read_document,
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
