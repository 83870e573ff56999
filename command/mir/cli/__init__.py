"""The ``mir`` command line: argument parsing only; the work is in :mod:`mir.ops`.

Errors become exit codes in one place (:func:`main`): a :class:`~mir.errors.MirError` prints its
one-line message and its fix; anything else prints a traceback with a request to report it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from mir import __version__
from mir.cli import data_cmds, model_cmds, repo_cmds
from mir.errors import MirError

COMMANDS = [*repo_cmds.COMMANDS, *data_cmds.COMMANDS, *model_cmds.COMMANDS]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"mir: error: {message}\n(see `{self.prog} --help` for examples)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: a parent with shared flags and one sub-parser per command."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-r", "--root", default=os.getcwd(), help="repository root (default: the current directory)"
    )
    parent.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    parent.add_argument("-d", "--debug", action="store_true", help="log debug messages")
    parser = _Parser(
        prog="mir",
        description="mir: YMIR's versioned dataset store.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `mir <command> --help` for the flags and an example of each command.",
    )
    parser.add_argument("-v", "--version", action="version", version=f"mir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    sub.required = True
    for add in COMMANDS:
        add(sub, parent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status (0 only on success)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else (logging.ERROR if args.quiet else logging.INFO)
    logging.basicConfig(level=level, format="mir: %(message)s", stream=sys.stderr)
    try:
        code: int = args.func(args)
        return code
    except MirError as e:
        sys.stderr.write(f"mir {args.command}: error: {e.message}\n")
        if e.fix:
            sys.stderr.write(f"  fix: {e.fix}\n")
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"mir {args.command}: interrupted; nothing was committed\n")
        return 130
    except Exception:
        traceback.print_exc()
        sys.stderr.write(
            f"mir {args.command}: unexpected error; nothing was committed. "
            "Please report it with the traceback above.\n"
        )
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
