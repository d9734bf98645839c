"""The ``rbtokens`` command: argument parsing and output formatting only.

Every verb calls the library (:mod:`rbtokens.audit`, ``client.tokens``) and
prints what it returns. ``rich`` (tables, progress) and ``yaml`` are imported
only when an output needs them.

One module per concern, imported in one direction only::

    main  →  audit, tokens, misc, offline (the verbs)  →  delivery, connect
          →  report, sections, save  →  args, output  →  parser  →  reportopts

``parser`` holds the options and the exit codes, ``output`` the formats,
``args`` turns options into library values, and ``connect`` makes the client.
``delivery`` is where a report goes (marks from ``--baseline`` and
``--waivers``, the ``--save`` files through ``save``, the exit code);
``offline`` is the ``report`` verb, which makes no client.
"""

from .main import VERBS, main
from .output import Output
from .parser import EPILOG, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, build_parser

__all__ = [
    "EPILOG",
    "EXIT_FINDINGS",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "VERBS",
    "Output",
    "build_parser",
    "main",
]
