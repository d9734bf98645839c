"""The ``rbtokens`` command: argument parsing and output formatting only."""

from .main import (
    EPILOG,
    EXIT_FINDINGS,
    EXIT_INCOMPLETE,
    EXIT_OK,
    VERBS,
    Output,
    build_parser,
    main,
)

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
