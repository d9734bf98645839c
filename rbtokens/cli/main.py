"""The ``rbtokens`` entry point: the verb table, logging setup, and :func:`main`.

:func:`main` parses the command line, runs one verb, and maps every error to
an exit code and a one-line message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from .._redact import redact
from ..client import RBClient
from ..config import ConfigError
from ..errors import PasswordLoginRequiredError, RBTokensError
from .args import UsageError, query_args
from .audit import cmd_audit
from .connect import make_client
from .misc import NotLoggedIn, cmd_api_get, cmd_whoami
from .offline import cmd_report
from .output import Output
from .parser import EXIT_INCOMPLETE, build_parser
from .tokens import (
    cmd_create,
    cmd_get,
    cmd_invalidate,
    cmd_list,
    cmd_revoke,
    cmd_rotate,
    cmd_update,
)

if TYPE_CHECKING:
    from ..transport import Transport

__all__ = ["OFFLINE_VERBS", "VERBS", "main"]

Verb = Callable[["RBClient", argparse.Namespace, Output], Coroutine[Any, Any, int]]

VERBS: Mapping[str, Verb] = {
    "audit": cmd_audit,
    "list": cmd_list,
    "get": cmd_get,
    "create": cmd_create,
    "update": cmd_update,
    "rotate": cmd_rotate,
    "invalidate": cmd_invalidate,
    "revoke": cmd_revoke,
    "whoami": cmd_whoami,
    "api-get": cmd_api_get,
}

#: Verbs that contact no server (no client is made).
OFFLINE_VERBS: Mapping[str, Callable[[argparse.Namespace, Output], int]] = {
    "report": cmd_report,
}
#: Verbs that print a report, hence take ``-o html``.
HTML_VERBS = frozenset({"audit", "report"})


async def _run(args: argparse.Namespace, out: Output, transport: Transport | None) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = make_client(args, transport, out)
    for warning in caught:
        out.note(f"rbtokens: warning: {warning.message}")
    async with client:
        return await VERBS[args.verb](client, args, out)


def _configure_logging(verbosity: int, quiet: bool, stream: TextIO) -> Callable[[], None]:
    """Log rbtokens to ``stream``: warnings by default, none with -q, requests with -v.

    The request log is at DEBUG, so -v shows it; -vv adds aiohttp's own log.
    Returns a function that undoes all this (``main`` may run more than once).
    """
    level = logging.ERROR if quiet else logging.WARNING if verbosity <= 0 else logging.DEBUG
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("rbtokens: %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    names = ["rbtokens", *(["aiohttp"] if verbosity >= 2 else [])]
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(level)

    def undo() -> None:
        for logger, old in saved:
            logger.removeHandler(handler)
            logger.setLevel(old)

    return undo


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopping the command as Ctrl-C does: journals are written, files closed."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: Transport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code.

    ``transport`` replaces the network (see :class:`~rbtokens.transport.MockTransport`).
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    err = stderr if stderr is not None else sys.stderr
    if args.verb is None:
        parser.print_help(err)
        return EXIT_INCOMPLETE
    try:
        args.query = query_args(extra) if args.verb == "api-get" else {}
        if extra and args.verb != "api-get":
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        if args.output == "html" and args.verb not in HTML_VERBS:
            raise UsageError(f"-o html: {args.verb} prints no report (html: audit, report)")
    except UsageError as exc:
        parser.error(str(exc))
    out = Output(
        args.output or ("json" if args.verb == "api-get" else "table"), stdout=stdout, stderr=stderr
    )
    undo_logging = _configure_logging(args.verbose, args.quiet, out.stderr)
    try:
        if args.verb in OFFLINE_VERBS:
            return OFFLINE_VERBS[args.verb](args, out)
        with _sigterm_as_interrupt():
            return asyncio.run(_run(args, out, transport))
    except Terminated:
        out.note("rbtokens: terminated")
        return 128 + signal.SIGTERM
    except UsageError as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        return EXIT_INCOMPLETE
    except NotLoggedIn:
        out.note(f"rbtokens {args.verb}: not logged in (give --username or --api-token)")
        return EXIT_INCOMPLETE
    except PasswordLoginRequiredError as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        out.note("rbtokens: log in with --username and --password to manage tokens")
        return EXIT_INCOMPLETE
    except (RBTokensError, ConfigError) as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        out.note("rbtokens: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_INCOMPLETE
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, exit 2, no traceback
        text = redact(str(exc)) or "(no message)"
        out.note(f"rbtokens {args.verb}: unexpected error: {type(exc).__name__}: {text}")
        out.note("rbtokens: this is a bug in rbtokens; -vv logs more")
        return EXIT_INCOMPLETE
    finally:
        undo_logging()


if __name__ == "__main__":
    sys.exit(main())
