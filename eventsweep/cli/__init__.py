"""The command line: parses flags, calls the library, prints. One module per command.

    flags     the flag groups the commands share (targets, query, output, connections)
    sweep     eventsweep sweep (and storing: the store beside the printed output, --new)
    hunt      eventsweep hunt, eventsweep rules check
    follow    eventsweep follow: --new sweeps again and again, like tail -f
    query     eventsweep query: the store's events
    sweeps    eventsweep sweeps: the sweeps kept
    prune     eventsweep prune: retention
    demo      eventsweep demo-data
    serve     eventsweep serve (the web application, eventsweep.web)
    progress  the terminal's progress line, fed by what the sweep pushes

Exit status: 0 every target ok, 1 any target not ok, 2 usage error (one line on stderr),
128 + the signal when interrupted (130 Ctrl-C, 143 SIGTERM, 141 the reader of stdout left),
70 an internal error (one line; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from eventsweep.errors import EventsweepError, UsageError, first_line
from eventsweep.text import DefusedFormatter, defuse

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_INTERNAL = 1, 2, 130, 70


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


# each command's module, imported only when that command runs (or for --help: all of them)
COMMANDS = {
    "sweep": "sweep",
    "hunt": "hunt",
    "rules": "hunt",
    "follow": "follow",
    "query": "query",
    "sweeps": "sweeps",
    "prune": "prune",
    "demo-data": "demo",
    "serve": "serve",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of ``command`` (start-up pays for one)."""
    parser = _Parser(
        prog="eventsweep", description="Sweep the event logs of many machines at once."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        module = importlib.import_module(f"eventsweep.cli.{name}")
        adder = getattr(module, "add_parsers", None) or module.add_parser
        adder(commands)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of the arguments (the first that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(DefusedFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])
    for stream in (sys.stdout, sys.stderr):  # a terminal that can't show a character
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        arguments = build_parser(_command(argv)).parse_args(argv)
        code: int = arguments.run(arguments)
        return code
    except UsageError as exc:
        print(f"eventsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("eventsweep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (EventsweepError, OSError) as exc:
        if debug:
            raise
        print(f"eventsweep: {defuse(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if debug:
            raise
        print(
            f"eventsweep: internal error: {type(exc).__name__}: {defuse(first_line(exc))};"
            " run with --debug for the traceback",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def entry() -> NoReturn:
    """The ``eventsweep`` command: :func:`main`, then an exit that waits for nothing.

    A blocking client may still sit in a thread (a connect the deadline gave up on): the
    process must not wait for it. When one does, output is flushed, the worker processes and
    their temporary files are cleaned up as at a normal exit, and the process ends at once;
    otherwise it exits normally.
    """
    code = main()
    if not _blocked_threads():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    util = sys.modules.get("multiprocessing.util")  # loaded by a sweep that started workers
    if util is not None:
        util._exit_function()
    os._exit(code)


def _blocked_threads(grace: float = 0.2) -> list[threading.Thread]:
    """Threads that outlive a short grace: idle pool threads end once their pool is shut."""
    deadline = time.monotonic() + grace
    alive = []
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            alive.append(thread)
    return alive
