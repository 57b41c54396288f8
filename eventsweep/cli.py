"""The command line: parses flags, calls the library, prints. Nothing else lives here.

Exit status: 0 every target ok, 1 any target not ok, 2 usage error (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, NoReturn

import orjson

from eventsweep import concurrency
from eventsweep.errors import EventsweepError, UsageError
from eventsweep.model import Outcome, Query
from eventsweep.query import build_query
from eventsweep.sinks import BINARY, FORMATS, SinkOptions, open_sink, write_all
from eventsweep.sinks.jsonl import JsonlSink
from eventsweep.sources import Settings, plan
from eventsweep.sweep import GROUPS, Sweep

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventsweep", description="Sweep the event logs of many machines at once."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sweep = commands.add_parser(
        "sweep",
        help="read events from many targets at once",
        description="Read events from files, Windows hosts and Linux hosts at once.",
    )
    _sweep_arguments(sweep)
    sweep.set_defaults(run=run_sweep)
    demo = commands.add_parser("demo-data", help="write a reproducible demo set of .evtx files")
    demo.add_argument("directory", help="where to write the files")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--size", help="grow the largest file to about this size (e.g. 200M, 1G)")
    demo.set_defaults(run=run_demo)
    return parser


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="an .evtx file, directory or glob; win://…; ssh://…; journal:[PATH]",
    )
    add(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets from FILE, one per line ('#' comments and blank lines ignored)",
    )
    query = parser.add_argument_group("query")
    query.add_argument(
        "--since",
        default="8h",
        help="start of the window: 90s, 15m, 8h, 2d or ISO 8601 with Z/offset (default 8h)",
    )
    query.add_argument("--until", help="end of the window (same forms; default now)")
    query.add_argument("--all", action="store_true", help="no time window at all (ignores --since)")
    query.add_argument(
        "--level",
        action="append",
        default=[],
        metavar="LEVELS",
        help="critical,error,warning,info,verbose,audit_success,audit_failure",
    )
    query.add_argument(
        "--event-id",
        action="append",
        default=[],
        metavar="IDS",
        help="ids and ranges: 4624,4625,1000-1010",
    )
    query.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="NAME",
        help="provider / source name, case-insensitive (repeatable)",
    )
    query.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="NAME",
        help="log / channel (for win:// targets: the log to read)",
    )
    query.add_argument("--grep", metavar="REGEX", help="regular expression searched in the message")
    query.add_argument(
        "--limit", type=int, metavar="N", help="at most the newest N events per target"
    )
    query.add_argument(
        "--exact",
        action="store_true",
        help=".evtx: parse every chunk, so that records written long after their creation"
        " time are found by any window (slower: a full parse)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format", choices=sorted(FORMATS), help="default: table on a terminal, else jsonl"
    )
    output.add_argument(
        "-o", "--output", metavar="FILE", help="write events to FILE (default stdout)"
    )
    output.add_argument(
        "--group",
        choices=GROUPS,
        default="target",
        help="target: each target's events together (default); time: one merged timeline",
    )
    output.add_argument(
        "--outcomes", metavar="FILE", help="also write the outcomes as JSON Lines to FILE"
    )
    output.add_argument(
        "--no-progress", action="store_true", help="no progress display on a terminal"
    )
    engine = parser.add_argument_group("connections")
    engine.add_argument(
        "--concurrency", type=_positive(int), default=64, help="targets read at once (default 64)"
    )
    engine.add_argument(
        "--timeout",
        type=_positive(float),
        default=60.0,
        help="seconds a target may take in all (default 60)",
    )
    engine.add_argument(
        "--connect-timeout",
        type=_positive(float),
        default=10.0,
        help="seconds to connect (default 10)",
    )
    engine.add_argument(
        "--accept-unknown-hosts",
        action="store_true",
        help="ssh: accept host keys not in known_hosts (a changed key is still refused)",
    )
    engine.add_argument(
        "--known-hosts", metavar="FILE", help="ssh: known_hosts file to verify against"
    )
    engine.add_argument("--ssh-config", metavar="FILE", help="ssh: OpenSSH client config to honour")
    engine.add_argument("--credentials", metavar="FILE", help="win: per-target credentials file")
    engine.add_argument(
        "--kerberos", action="store_true", help="win: Kerberos from the ccache in KRB5CCNAME"
    )


def read_targets(arguments: argparse.Namespace) -> list[str]:
    """Positional targets, then each -i file's lines (comments and blank lines skipped)."""
    targets = list(arguments.targets)
    for name in arguments.input:
        try:
            with open(name, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except OSError as exc:
            raise UsageError(f"-i {name}: cannot read ({exc.strerror or exc})") from exc
        targets.extend(
            line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")
        )
    if not targets:
        raise UsageError(
            "no target given (name files, hosts or -i FILE; see eventsweep sweep --help)"
        )
    return targets


def query_of(arguments: argparse.Namespace) -> Query:
    return build_query(
        since=None if arguments.all else arguments.since,
        until=arguments.until,
        levels=arguments.level,
        event_ids=arguments.event_id,
        sources=arguments.source,
        logs=arguments.log,
        grep=arguments.grep,
        limit=arguments.limit,
    )


def settings_of(arguments: argparse.Namespace) -> Settings:
    """Each source's own options, from the flags that concern it."""
    from eventsweep.sources.evtx import EvtxOptions
    from eventsweep.sources.ssh import SshOptions
    from eventsweep.sources.winrpc.options import WinOptions

    return Settings.of(
        evtx=EvtxOptions(exact=arguments.exact),
        ssh=SshOptions(
            connect_timeout=arguments.connect_timeout,
            accept_unknown_hosts=arguments.accept_unknown_hosts,
            known_hosts=arguments.known_hosts,
            ssh_config=arguments.ssh_config,
        ),
        win=WinOptions(
            connect_timeout=arguments.connect_timeout,
            credentials_file=arguments.credentials,
            kerberos=arguments.kerberos,
            interactive=sys.stdin.isatty(),
        ),
    )


def run_sweep(arguments: argparse.Namespace) -> int:
    query, settings = query_of(arguments), settings_of(arguments)
    sources = plan(read_targets(arguments), settings)
    name = arguments.format or (
        "table" if sys.stdout.isatty() and not arguments.output else "jsonl"
    )
    if name in BINARY and not arguments.output:
        raise UsageError(f"--format {name}: give a file with -o FILE")
    sweep = Sweep(
        sources,
        query,
        concurrency=int(arguments.concurrency),
        timeout=arguments.timeout,
        group=arguments.group,
    )
    with _output(arguments.output, name in BINARY) as stream:
        sink = open_sink(name, stream, SinkOptions(group=arguments.group, color=stream.isatty()))
        try:
            asyncio.run(_drive(sweep, sink, show=not arguments.no_progress and sys.stderr.isatty()))
        finally:
            sink.close()
    return _report(sweep.finished(), arguments.outcomes)


@contextlib.contextmanager
def _output(path: str | None, binary: bool) -> Iterator[IO[Any]]:
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    try:
        file = open(path, "wb" if binary else "w", encoding=None if binary else "utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write ({exc.strerror or exc})") from exc
    with file:
        yield file


async def _drive(sweep: Sweep, sink: Any, show: bool) -> None:
    from eventsweep.progress import progress_display

    try:
        async with progress_display(sweep, show):
            if isinstance(sink, JsonlSink):
                async for chunk in sweep.chunks():
                    sink.write_chunk(chunk)
            else:
                async for batch in sweep.batches():
                    write_all(sink, batch)
    finally:
        concurrency.shutdown()


def _report(outcomes: Sequence[Outcome], path: str | None) -> int:
    for outcome in outcomes:
        print(outcome.line(), file=sys.stderr)
    if path:
        with open(path, "wb") as file:
            for outcome in outcomes:
                file.write(orjson.dumps(outcome.to_dict()) + b"\n")
    return EXIT_OK if all(o.status == "ok" for o in outcomes) else EXIT_FAILED


def run_demo(arguments: argparse.Namespace) -> int:
    demo = importlib.import_module("eventsweep.demo")
    written = demo.generate(arguments.directory, seed=arguments.seed, size=_size(arguments.size))
    for path in written:
        print(path)
    return EXIT_OK


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = (text[:-1], text[-1].upper()) if text[-1:].upper() in units else (text, "")
    try:
        return int(float(number) * units.get(unit, 1))
    except ValueError:
        raise UsageError(f"--size: {text!r} is not a size like 200M or 1G") from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        arguments = build_parser().parse_args(argv)
        code: int = arguments.run(arguments)
        return code
    except UsageError as exc:
        print(f"eventsweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the reader left: quietly
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("eventsweep: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (EventsweepError, OSError) as exc:
        if debug:
            raise
        print(f"eventsweep: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
