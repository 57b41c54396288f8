"""``eventsweep sweep``: read many targets at once, print the events, then the outcomes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import orjson

from eventsweep import concurrency
from eventsweep.cli import flags
from eventsweep.errors import UsageError
from eventsweep.inventory import read_inventory
from eventsweep.model import Outcome
from eventsweep.runner import OutputError, Planned, Request, plan_request, run
from eventsweep.sinks import BINARY, Output, SinkOptions, open_output
from eventsweep.sources import Source

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGNAL = 128  # + the signal's number, as shells report it: 130 SIGINT, 143 SIGTERM
EXIT_PIPE = EXIT_SIGNAL + signal.SIGPIPE  # 141: the reader of stdout left


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sweep",
        help="read events from many targets at once",
        description="Read events from files, Windows hosts and Linux hosts at once.",
    )
    flags.add_targets(parser)
    flags.add_query(parser)
    flags.add_exact(parser)
    flags.add_output(parser)
    flags.add_connections(parser)
    flags.add_store(parser)
    parser.add_argument(
        "--new",
        action="store_true",
        help="only what arrived since the last sweep of each target kept in the store"
        " (a target never swept reads the --since window)",
    )
    parser.set_defaults(run=run_sweep)


def read_targets(arguments: argparse.Namespace) -> list[str]:
    """Positional targets, then each -i file's lines (comments and blank lines skipped)."""
    targets = list(arguments.targets)
    for name in arguments.input:
        targets.extend(read_inventory(name))
    if not targets:
        raise UsageError(
            "no target given (name files, hosts or -i FILE; see eventsweep sweep --help)"
        )
    return targets


def request_of(arguments: argparse.Namespace) -> Request:
    return Request(
        targets=tuple(read_targets(arguments)),
        query=flags.query_of(arguments),
        settings=flags.settings_of(arguments),
        concurrency=int(arguments.concurrency),
        timeout=arguments.timeout,
        group=arguments.group,
    )


def run_sweep(arguments: argparse.Namespace) -> int:
    from eventsweep.cli import storing

    planned = plan_request(request_of(arguments))
    store = storing.store_output(arguments, planned)
    planned = storing.resumed(arguments, planned, store)
    with printed(arguments, planned) as place:
        output = open_output(place.format, place.stream, place.options)
        outputs = [output] if store is None else [output, store]
        return drive(planned, outputs, place.show, place.outcomes, arguments.output)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a sweeping command prints: the format, its stream and options, the outcomes file."""

    format: str
    stream: IO[Any]
    options: SinkOptions
    outcomes: IO[bytes] | None
    show: bool  # the progress line on a terminal


@contextlib.contextmanager
def printed(
    arguments: argparse.Namespace, planned: Planned, binary_ok: bool = True
) -> Iterator[Place]:
    """The output flags checked against the planned inputs (an output is never an input, a
    binary format needs -o), then the outputs opened, before anything runs."""
    name = arguments.format or (
        "table" if sys.stdout.isatty() and not arguments.output else "jsonl"
    )
    binary = name in BINARY and binary_ok
    if binary and not arguments.output:
        raise UsageError(f"--format {name}: give a file with -o FILE")
    refuse_inputs("-o", arguments.output, planned.sources)
    refuse_inputs("--outcomes", arguments.outcomes, planned.sources)
    with (
        opened("--outcomes", arguments.outcomes, True) as outcomes_file,
        opened("-o", arguments.output, binary) as file,
    ):
        stream = file or (sys.stdout.buffer if binary else sys.stdout)
        options = SinkOptions(group=arguments.group, color=stream.isatty())
        show = not arguments.no_progress and sys.stderr.isatty()
        yield Place(name, stream, options, outcomes_file, show)


def refuse_inputs(flag: str, path: str | None, sources: Sequence[Source]) -> None:
    """An output must never be one of the inputs: opening it would truncate the evidence."""
    if path is None or not os.path.exists(path):
        return
    for source in sources:
        given = getattr(source, "path", None)
        if isinstance(given, str) and os.path.exists(given) and os.path.samefile(given, path):
            raise UsageError(f"{flag} {path}: is one of the inputs; refusing to overwrite it")


@contextlib.contextmanager
def opened(flag: str, path: str | None, binary: bool) -> Iterator[IO[Any] | None]:
    """``path`` opened for writing (None for none), checked before the sweep starts."""
    if path is None:
        yield None
        return
    try:
        if binary:
            file: IO[Any] = open(path, "wb")  # noqa: SIM115
        else:
            file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write ({exc.strerror or exc})") from exc
    try:
        yield file
    finally:
        with contextlib.suppress(OSError):  # a failed write was reported by the output
            file.close()


def drive(
    planned: Planned,
    outputs: Sequence[Output],
    show: bool,
    outcomes_file: IO[bytes] | None,
    output_name: str | None,
) -> int:
    """Run the sweep under signal handling; report the outcomes; the exit status."""
    from eventsweep.cli.progress import Counters

    counters = Counters(total=len(planned.sources))
    caught: list[int] = []
    failure: str | None = None
    try:
        outcomes = asyncio.run(_sweep(planned, outputs, counters, show, caught))
    except OutputError as exc:
        outcomes = exc.outcomes
        if isinstance(exc.cause, BrokenPipeError):
            _quiet_stdout()
            caught.append(signal.SIGPIPE)
        else:
            failure = _output_failure(output_name, exc.cause, exc.output)
    except BaseException:
        report(_so_far(planned, counters), outcomes_file)
        raise
    report(outcomes, outcomes_file)
    if failure is not None:
        print(f"eventsweep: {failure}", file=sys.stderr)
        return EXIT_FAILED
    if caught:
        return EXIT_SIGNAL + caught[0]
    return EXIT_OK if all(o.status == "ok" for o in outcomes) else EXIT_FAILED


async def _sweep(
    planned: Planned,
    outputs: Sequence[Output],
    counters: Any,
    show: bool,
    caught: list[int],
) -> list[Outcome]:
    from eventsweep.cli.progress import progress_display

    with stopping(caught) as stop:
        async with progress_display(counters, show):
            return await run(planned, outputs, [counters], stop=stop)


@contextlib.contextmanager
def stopping(caught: list[int]) -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM (their numbers noted in ``caught``) while the body
    runs on the event loop; then the worker pools are released."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        caught.append(number)
        stop.set()

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal, number)
    try:
        yield stop
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        concurrency.shutdown()


def _so_far(planned: Planned, counters: Any) -> list[Outcome]:
    """Outcomes of the targets that ended, in the order given (after an internal error)."""
    ended = {outcome.target: outcome for outcome in counters.ended}
    return [ended[source.target] for source in planned.sources if source.target in ended]


def _output_failure(name: str | None, cause: BaseException, output: object = None) -> str:
    if getattr(output, "names_itself", False):  # the store: its error names the file
        return f"{cause}; the sweep was stopped"
    flag = f"-o {name}" if name else "stdout"
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
    return f"{flag}: cannot write ({reason}); the sweep was stopped"


def _quiet_stdout() -> None:
    """The reader of stdout left: further writes (and the flush at exit) go nowhere."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def report(outcomes: Sequence[Outcome], outcomes_file: IO[bytes] | None) -> None:
    for outcome in outcomes:
        print(outcome.line(), file=sys.stderr)
    if outcomes_file is not None:
        for outcome in outcomes:
            outcomes_file.write(orjson.dumps(outcome.to_dict()) + b"\n")
        outcomes_file.flush()
